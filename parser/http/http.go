package http

import (
	"bytes"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/cursor"
)

const (
	// MaxHeader bounds the start line and header section together. Servers refuse less (nginx
	// answers 400 past 8 KiB per line by default), so a buffer this long without the blank line
	// that ends the headers is not HTTP.
	MaxHeader = 16 << 10

	// MaxPending bounds how far a chunked body may extend before its end is in the buffer. Past
	// it the message is reported Complete and Truncated up to the last chunk known, and the rest
	// of its chunks are consumed as Ignored when they come, so the caller never has to buffer a
	// large streamed body whole. Chunked bodies within the bound are reported whole, with their
	// exact size.
	MaxPending = 256 << 10

	// maxBody bounds Content-Length and chunk sizes (1 TiB): larger values are garbage.
	maxBody = 1 << 40
	// maxChunkLine bounds a chunk-size line, extensions included.
	maxChunkLine = 4 << 10
	// pendingRequests is how many unanswered requests a Conn remembers the method of. Deeper
	// pipelines are counted but their methods forgotten: their replies are taken as non-HEAD.
	pendingRequests = 64
)

// Request method flags remembered for the response parser.
const (
	flagHEAD    = 1 << iota // the reply has no body
	flagCONNECT             // a 2xx reply turns the connection into a tunnel
	flagH2C                 // the request offers to upgrade to h2c
)

// Conn is the HTTP/1 state of one connection.
//
// It assumes the caller parses a request before its response, which causality gives whenever
// bytes are parsed in the order they were captured. A response parsed with no request pending is
// taken as a reply to a method other than HEAD.
type Conn struct {
	in *parser.Interner
	// host and resource are the last values interned for this connection's requests, which
	// mostly repeat them: comparing bytes to them is cheaper than a lookup in the shared table.
	// They do not change how bytes parse, so Idle ignores them.
	host, resource string

	// pending holds flags of requests parsed and not yet answered, oldest first, in a ring.
	pending      [pendingRequests]uint8
	pendingHead  int
	pendingLen   int
	pendingLost  int          // requests after those in pending whose flags were dropped: pending was full
	untilClose   bool         // the response stream is a body that ends when the connection closes
	tunnel       bool         // the connection left HTTP (101, or a 2xx to CONNECT)
	dir          [2]direction // indexed by MessageType-1
	chunkedScans int          // chunk lines read, for tests that check scanning resumes
}

// direction is the per-stream state of incomplete messages.
type direction struct {
	// cur marks a message seen incomplete and scanned up to cur.Pos, which is in its header
	// section or its chunked body as stage says; h holds the headers read so far.
	cur   cursor.Cursor
	stage uint8
	h     headers
	// cont marks a chunked message already reported (it outgrew MaxPending); the stream holds
	// the rest of its chunks, consumed as Ignored.
	cont bool
}

const (
	stageHeaders = iota
	stageChunks
)

// NewConn returns the state of a new connection; strings are interned in in.
func NewConn(in *parser.Interner) *Conn { return &Conn{in: in} }

// Idle implements parser.Idler: no request waits for its response's framing, no message was left
// half read, and the connection still speaks HTTP/1 with delimited bodies.
func (c *Conn) Idle() bool {
	return c.pendingLen == 0 && c.pendingLost == 0 && !c.untilClose && !c.tunnel &&
		!c.dir[0].cur.OK && !c.dir[1].cur.OK && !c.dir[0].cont && !c.dir[1].cont
}

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if typ != parser.Request && typ != parser.Response {
		return parser.Result{Status: parser.Invalid}
	}
	if len(buf) == 0 {
		return parser.Result{Status: parser.NeedMore}
	}
	if c.tunnel {
		// After 101 or a 2xx to CONNECT the bytes belong to another protocol.
		return parser.Result{Status: parser.Ignored, Consumed: len(buf)}
	}
	d := &c.dir[typ-1]
	if d.cont {
		if r, ok := c.continueChunks(d, buf); ok {
			return r
		}
		// Not chunk framing: the caller resynchronised past the body; parse afresh.
	}
	if typ == parser.Request {
		if c.awaitingUpgrade(buf) {
			// The client's HTTP/2 preface: it was sent after a 101 not parsed yet (polled later
			// from another CPU), which hands the connection over before these bytes are parsed.
			return parser.Result{Status: parser.NeedMore}
		}
		return c.parseRequest(d, buf, msg)
	}
	if c.untilClose {
		if r, ok := c.bodyUntilClose(buf); ok {
			return r
		}
	}
	return c.parseResponse(d, buf, msg)
}

func (c *Conn) parseRequest(d *direction, buf []byte, msg *Message) parser.Result {
	method, n := matchMethod(buf)
	if n <= 0 {
		return status(n)
	}
	end, st := lineEnd(buf, n)
	if end < 0 {
		if st == parser.NeedMore && !plausibleTarget(buf[n:]) {
			return parser.Result{Status: parser.Invalid}
		}
		return parser.Result{Status: st}
	}
	line := trimCR(buf[n:end])
	sp := bytes.IndexByte(line, ' ')
	// A whole line is checked by its shape, which the exact version word ends; bytes inside
	// the target are the server's business.
	if sp <= 0 || !targetStart(line[0]) {
		return parser.Result{Status: parser.Invalid}
	}
	version := httpVersion(line[sp+1:])
	if version == "" {
		return parser.Result{Status: parser.Invalid}
	}
	target := line[:sp]

	h, st := d.headers(buf, end+1)
	if st != parser.Complete {
		return parser.Result{Status: st}
	}
	flags := uint8(0)
	switch method {
	case "HEAD":
		flags = flagHEAD
	case "CONNECT":
		flags = flagCONNECT
	}
	if h.h2c {
		flags |= flagH2C
	}

	var m Message
	var res parser.Result
	switch {
	case h.te:
		if !h.chunked {
			// RFC 9112 §6.3: a request whose final coding is not chunked cannot be framed.
			return parser.Result{Status: parser.Invalid}
		}
		res = c.chunkedBody(d, buf, h.end, &m)
	case h.cl >= 0:
		res = fixedBody(buf, h.end, h.cl, &m)
	default:
		res = fixedBody(buf, h.end, 0, &m)
	}
	if res.Status == parser.Complete {
		// Strings are interned only now: a message still arriving is parsed again.
		m.Type, m.Method, m.Version, m.H2C = parser.Request, method, version, h.h2c
		m.Host = c.intern(&c.host, buf[h.hostStart:h.hostEnd])
		m.Resource = c.intern(&c.resource, resource(target, flags&flagCONNECT != 0))
		c.pushRequest(flags)
		*msg = m
	}
	return res
}

// intern returns b as a string: *last when equal, else from the shared table. Only a value the
// table holds is remembered, so the connection keeps no string alive that the table does not.
func (c *Conn) intern(last *string, b []byte) string {
	if string(b) == *last {
		return *last
	}
	misses := c.in.Misses
	s := c.in.Bytes(b)
	if c.in.Misses == misses {
		*last = s
	}
	return s
}

func (c *Conn) parseResponse(d *direction, buf []byte, msg *Message) parser.Result {
	code, version, n := statusLine(buf)
	if n <= 0 {
		return status(n)
	}
	h, st := d.headers(buf, n)
	if st != parser.Complete {
		return parser.Result{Status: st}
	}
	if code < 200 && code != 101 {
		// Interim (100 Continue, 102, 103): the final response to the same request follows.
		return parser.Result{Status: parser.Ignored, Consumed: h.end}
	}
	flags := c.peekRequest()
	m := Message{
		Type:    parser.Response,
		Version: version,
		Status:  code,
		Success: code < 400,
		H2C:     h.h2c,
	}
	var res parser.Result
	switch {
	case code == 101 || (flags&flagCONNECT != 0 && code < 300):
		// The connection now carries another protocol (WebSocket, h2c, a CONNECT tunnel).
		c.tunnel = true
		res = fixedBody(buf, h.end, 0, &m)
	case flags&flagHEAD != 0 || code == 204 || code == 304:
		res = fixedBody(buf, h.end, 0, &m)
	case h.te && h.chunked:
		res = c.chunkedBody(d, buf, h.end, &m)
	case !h.te && h.cl >= 0:
		res = fixedBody(buf, h.end, h.cl, &m)
	default:
		// RFC 9112 §6.3: no declared length; the body runs until the server closes.
		c.untilClose = true
		m.Size, m.Truncated = len(buf), true
		res = parser.Result{Status: parser.Complete, Consumed: len(buf)}
	}
	if res.Status == parser.Complete {
		c.dropRequest()
		*msg = m
	}
	return res
}

// headers reads the header section from pos, or from where the previous call on the same
// message stopped.
func (d *direction) headers(buf []byte, pos int) (headers, parser.Status) {
	h := headers{cl: -1}
	if d.cur.OK && d.stage == stageHeaders {
		if d.cur.Matches(buf) {
			h, pos = d.h, d.cur.Pos
		}
		d.cur.OK = false
	}
	st := h.parse(buf, pos)
	if st == parser.NeedMore && d.cur.Save(buf, h.end) {
		d.stage, d.h = stageHeaders, h
	}
	return h, st
}

// bodyUntilClose consumes the rest of a body delimited by the connection closing, unless the
// stream visibly holds a new response (a server that kept the connection open after all).
func (c *Conn) bodyUntilClose(buf []byte) (parser.Result, bool) {
	_, _, n := statusLine(buf)
	switch {
	case n > 0:
		c.untilClose = false
		return parser.Result{}, false
	case n == 0 && len(buf) < len("HTTP/1.1 200 "):
		return parser.Result{Status: parser.NeedMore}, true
	}
	return parser.Result{Status: parser.Ignored, Consumed: len(buf)}, true
}

// fixedBody completes a message whose body is n bytes after the headers ending at hdr.
func fixedBody(buf []byte, hdr int, n int64, m *Message) parser.Result {
	size := hdr + int(n)
	m.Size = size
	m.Truncated = size > len(buf)
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// status turns a non-positive length from the start-line matchers into a Result: 0 means the
// buffer may still become a message, -1 that it cannot.
func status(n int) parser.Result {
	if n == 0 {
		return parser.Result{Status: parser.NeedMore}
	}
	return parser.Result{Status: parser.Invalid}
}

// h2Preface is the HTTP/2 client preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// awaitingUpgrade says buf starts with the HTTP/2 preface (or a prefix of it) after a request
// offering h2c that is still unanswered: the client only sends it once the 101 came.
func (c *Conn) awaitingUpgrade(buf []byte) bool {
	if c.pendingLen == 0 || c.pending[(c.pendingHead+c.pendingLen-1)%pendingRequests]&flagH2C == 0 {
		return false
	}
	n := min(len(buf), len(h2Preface))
	return string(buf[:n]) == h2Preface[:n]
}

// Switch implements parser.Switcher: a 101 naming h2c, answering a request that offered it,
// hands the connection to HTTP/2 (RFC 7540 §3.2), where the request is stream 1.
func (c *Conn) Switch(req, resp *Message) (abi.Protocol, parser.Upgraded, bool) {
	if resp.Status != 101 || !req.H2C || !resp.H2C {
		return 0, parser.Upgraded{}, false
	}
	return abi.ProtoHTTP2, parser.Upgraded{Size: req.Size, Truncated: req.Truncated,
		Method: req.Method, Host: req.Host, Path: req.Resource}, true
}

func (c *Conn) pushRequest(flags uint8) {
	if c.pendingLost > 0 || c.pendingLen == pendingRequests {
		c.pendingLost++
		return
	}
	c.pending[(c.pendingHead+c.pendingLen)%pendingRequests] = flags
	c.pendingLen++
}

// peekRequest returns the flags of the oldest unanswered request; 0 when it is unknown.
func (c *Conn) peekRequest() uint8 {
	if c.pendingLen == 0 {
		return 0
	}
	return c.pending[c.pendingHead]
}

// dropRequest forgets the oldest unanswered request: its response was parsed.
func (c *Conn) dropRequest() {
	switch {
	case c.pendingLen > 0:
		c.pendingHead = (c.pendingHead + 1) % pendingRequests
		c.pendingLen--
	case c.pendingLost > 0:
		c.pendingLost--
	}
}

// FindBoundary implements parser.Parser: the next known method followed by a space (requests) or
// "HTTP/1." (responses), including a prefix of one at the end of buf.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	if typ == parser.Request || typ == parser.Response {
		// The caller abandons the message at the start of buf.
		c.dir[typ-1].cur.OK = false
		c.dir[typ-1].cont = false
		if typ == parser.Response {
			c.untilClose = false
		}
	}
	switch typ {
	case parser.Request:
		for i := 1; i < len(buf); i++ {
			if methodFirst[buf[i]] {
				if _, n := matchMethod(buf[i:]); n >= 0 {
					return i
				}
			}
		}
	case parser.Response:
		for i := 1; i < len(buf); {
			j := bytes.IndexByte(buf[i:], 'H')
			if j < 0 {
				break
			}
			i += j
			if rest := buf[i:]; bytes.HasPrefix(rest, []byte("HTTP/1.")) || bytes.HasPrefix([]byte("HTTP/1."), rest) {
				return i
			}
			i++
		}
	}
	return -1
}
