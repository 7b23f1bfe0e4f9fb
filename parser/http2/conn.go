package http2

import (
	"bytes"
	"encoding/binary"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/http"
)

// Frame types (RFC 9113 §6) and the extension frames a peer may send, which are skipped.
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
	frameAltSvc       = 0xa  // RFC 7838
	frameOrigin       = 0xc  // RFC 8336
	framePriorityUpd  = 0x10 // RFC 9218
)

// Flags.
const (
	flagEndStream  = 0x1 // DATA, HEADERS; ACK on SETTINGS and PING
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

const (
	headerLen = 9
	// defaultMaxFrame is SETTINGS_MAX_FRAME_SIZE's initial value; maxFrameLimit its largest.
	defaultMaxFrame = 16384
	maxFrameLimit   = 1<<24 - 1
	// maxBlock bounds a header block gathered from HEADERS and CONTINUATION frames. A larger one
	// is skipped, and the table reset, as if its bytes were lost.
	maxBlock = 64 << 10
	// maxStreams bounds the open streams a direction keeps. Servers allow 100 to 250 concurrent
	// streams; past this the oldest is forgotten (a stream whose end was lost stays open).
	maxStreams = 256
	// maxAuthority bounds :authority as records show it.
	maxAuthority = 255
)

// preface is the client connection preface (RFC 9113 §3.4).
var preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// Conn is the HTTP/2 state of one connection: per direction, the HPACK table and the streams
// open. A request stream's frames and a response stream's frames are parsed apart, one frame per
// Parse call; the frame that ends a stream's side completes its message.
type Conn struct {
	in  *parser.Interner
	dir [2]direction // indexed by MessageType-1
	// target is the message the header block being decoded fills; nil for PUSH_PROMISE's.
	target *Message
	emit   func(*field)
	// upgraded: the connection was upgraded from HTTP/1.1, whose HTTP2-Settings header (not
	// decoded) may have raised the server's frame size before any SETTINGS frame.
	upgraded bool
}

// direction is what one direction's frames need: the decoder's table, the frame size the
// receiver allows, the streams whose side is open, and a header block spread over CONTINUATION
// frames.
type direction struct {
	// started: a frame or the preface was parsed; fromStart: the direction was seen from its
	// first bytes (the preface, a server's first SETTINGS).
	started, fromStart bool
	table              table
	maxFrame           uint32 // 0: unknown (the receiver's SETTINGS were not seen), any legal size goes
	streams            []stream
	// A header block is being gathered for stream cont (0: none), from a PUSH_PROMISE when
	// promise is set; endStream was on its HEADERS; lost says it outgrew maxBlock.
	cont                     uint32
	promise, endStream, lost bool
	block                    []byte
}

// stream is one open stream's side: its bytes so far and what its header blocks said.
type stream struct {
	id   uint32
	size int
	msg  Message
}

// NewConn returns the state of a new connection; strings are interned in in.
func NewConn(in *parser.Interner) *Conn {
	c := &Conn{in: in}
	for i := range c.dir {
		c.dir[i].table = newTable()
	}
	c.emit = c.field
	return c
}

// header is a frame header.
type header struct {
	length   uint32
	typ      uint8
	flags    uint8
	reserved bool
	id       uint32
}

func readHeader(b []byte) header {
	id := binary.BigEndian.Uint32(b[5:9])
	return header{
		length: uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:    b[3], flags: b[4], reserved: id>>31 != 0, id: id & 0x7fffffff,
	}
}

func (h header) size() int { return headerLen + int(h.length) }

// valid says whether h may be a frame header of direction typ whose frames may be maxFrame long:
// the shape RFC 9113 §6 gives each frame type, client streams odd, no PUSH_PROMISE from clients.
func valid(h header, typ parser.MessageType, maxFrame uint32) bool {
	if maxFrame == 0 {
		maxFrame = maxFrameLimit
	}
	if h.reserved || h.length > maxFrame {
		return false
	}
	switch h.typ {
	case frameData, frameHeaders:
		return h.id != 0 && (typ == parser.Response || h.id&1 == 1)
	case framePriority:
		return h.id != 0 && h.length == 5
	case frameRSTStream:
		return h.id != 0 && h.length == 4
	case frameSettings:
		return h.id == 0 && h.length%6 == 0 && (h.flags&flagEndStream == 0 || h.length == 0)
	case framePushPromise:
		return h.id != 0 && typ == parser.Response && h.length >= 4
	case framePing:
		return h.id == 0 && h.length == 8
	case frameGoAway:
		return h.id == 0 && h.length >= 8
	case frameWindowUpdate:
		return h.length == 4
	case frameContinuation:
		return h.id != 0
	case frameAltSvc, frameOrigin, framePriorityUpd:
		return true
	}
	return false
}

// Parse implements parser.Parser: one frame (or the preface) per call.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if typ != parser.Request && typ != parser.Response {
		return parser.Result{Status: parser.Invalid}
	}
	if len(buf) == 0 {
		return parser.Result{Status: parser.NeedMore}
	}
	d := &c.dir[typ-1]
	if !d.started && typ == parser.Request {
		n := min(len(buf), len(preface))
		if bytes.Equal(buf[:n], preface[:n]) {
			if n < len(preface) {
				return parser.Result{Status: parser.NeedMore}
			}
			d.started, d.fromStart = true, true
			return parser.Result{Status: parser.Ignored, Consumed: len(preface)}
		}
	}
	if len(buf) < headerLen {
		return parser.Result{Status: parser.NeedMore}
	}
	h := readHeader(buf)
	if !valid(h, typ, d.maxFrame) || (d.cont != 0) != (h.typ == frameContinuation) || d.cont != 0 && h.id != d.cont {
		return parser.Result{Status: parser.Invalid}
	}
	if !d.started {
		// A server's first frame is SETTINGS; anything else means the connection was joined
		// late, and the encoder's table holds entries never seen.
		d.started = true
		if typ == parser.Request || h.typ != frameSettings || h.flags&flagEndStream != 0 {
			d.table.reset()
		} else {
			d.fromStart = true
		}
	}
	size := h.size()
	switch h.typ {
	case frameHeaders, frameContinuation, framePushPromise, frameSettings:
		if size > len(buf) && h.length <= maxBlock {
			return parser.Result{Status: parser.NeedMore}
		}
	}
	skip := parser.Result{Status: parser.Ignored, Consumed: size}
	var payload []byte
	if size <= len(buf) {
		payload = buf[headerLen:size]
	}
	switch h.typ {
	case frameData:
		s := c.open(d, h.id, true)
		s.size += size
		if h.flags&flagEndStream != 0 {
			return c.complete(d, typ, s, size, msg)
		}
	case frameHeaders:
		frag, ok := fragment(h, payload)
		if !ok {
			return parser.Result{Status: parser.Invalid}
		}
		s := c.open(d, h.id, false)
		s.size += size
		d.endStream = h.flags&flagEndStream != 0
		if c.block(d, h, s, frag) && d.endStream {
			return c.complete(d, typ, s, size, msg)
		}
	case frameContinuation:
		s := c.open(d, h.id, true)
		s.size += size
		if c.block(d, h, s, payload) && d.endStream && !d.promise {
			return c.complete(d, typ, s, size, msg)
		}
	case framePushPromise:
		frag, ok := fragment(h, payload)
		if !ok || payload != nil && len(frag) < 4 {
			return parser.Result{Status: parser.Invalid}
		}
		if payload != nil {
			frag = frag[4:] // the promised stream id
		}
		d.endStream = false
		c.block(d, h, nil, frag)
	case frameRSTStream:
		if s := c.find(d, h.id); s != nil {
			s.size += size
			s.msg.Reset = true
			return c.complete(d, typ, s, size, msg)
		}
	case frameSettings:
		if h.flags&flagEndStream == 0 && payload != nil {
			c.settings(typ, payload)
		}
	case framePriority, frameWindowUpdate:
		if s := c.find(d, h.id); s != nil && h.id != 0 {
			s.size += size
		}
	}
	return skip
}

// fragment returns the header block fragment of a HEADERS or PUSH_PROMISE frame: its payload
// without padding and priority. A nil payload (a frame too large to hold) gives a nil fragment.
func fragment(h header, p []byte) ([]byte, bool) {
	if p == nil {
		return nil, true
	}
	pad := 0
	if h.flags&flagPadded != 0 {
		if len(p) < 1 {
			return nil, false
		}
		pad, p = int(p[0]), p[1:]
	}
	if h.typ == frameHeaders && h.flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, false
		}
		p = p[5:]
	}
	if pad > len(p) {
		return nil, false
	}
	return p[:len(p)-pad], true
}

// block gathers a header block fragment for s (nil for a PUSH_PROMISE, whose fields only update
// the table) and decodes the block when h ends it, reporting whether it did. A nil fragment is
// one too large to hold: the block is lost.
func (c *Conn) block(d *direction, h header, s *stream, frag []byte) bool {
	if h.typ != frameContinuation {
		d.cont, d.promise, d.lost, d.block = h.id, h.typ == framePushPromise, false, d.block[:0]
	}
	if frag == nil && h.length > 0 || len(d.block)+len(frag) > maxBlock {
		d.lost = true
	}
	if h.flags&flagEndHeaders == 0 {
		if !d.lost {
			d.block = append(d.block, frag...)
		}
		return false
	}
	d.cont = 0
	c.target = nil
	if s != nil && !d.promise {
		c.target = &s.msg
	}
	switch {
	case d.lost:
		d.table.reset()
		c.partial()
	case len(d.block) == 0:
		c.decode(d, frag)
	default:
		c.decode(d, append(d.block, frag...))
	}
	c.target = nil
	return true
}

func (c *Conn) decode(d *direction, block []byte) {
	if d.table.decode(block, c.emit) != nil {
		c.partial()
	}
}

func (c *Conn) partial() {
	if c.target != nil {
		c.target.Partial = true
	}
}

// field records one decoded header field in the message being decoded.
func (c *Conn) field(f *field) {
	m := c.target
	if m == nil {
		return
	}
	if !f.known {
		// Any name: it may have been :path or :status.
		m.Partial = true
		return
	}
	switch string(f.name) {
	case ":method", ":path", ":authority", "host", ":status", "content-type", "grpc-status":
	default:
		return
	}
	if !f.valueKnown {
		m.Partial = true
		return
	}
	v := f.value
	switch string(f.name) {
	case ":method":
		m.Method = c.in.Bytes(v)
	case ":path":
		m.Path = c.in.Bytes(http.Path(v))
	case ":authority", "host":
		if m.Authority == "" || f.name[0] == ':' {
			m.Authority = c.in.Bytes(v[:min(len(v), maxAuthority)])
		}
	case ":status":
		m.Status = number(v)
	case "content-type":
		m.GRPC = bytes.HasPrefix(v, []byte("application/grpc"))
	case "grpc-status":
		m.GRPCStatus = number(v)
	}
}

// number parses a short decimal; -1 when v is not one.
func number(v []byte) int {
	if len(v) == 0 || len(v) > 6 {
		return -1
	}
	n := 0
	for _, b := range v {
		if b < '0' || b > '9' {
			return -1
		}
		n = n*10 + int(b-'0')
	}
	return n
}

// settings applies the parameters of a SETTINGS frame sent in direction typ to the other
// direction: they bound what the sender receives.
func (c *Conn) settings(typ parser.MessageType, p []byte) {
	other := &c.dir[2-typ]
	if other.maxFrame == 0 && c.dir[typ-1].fromStart && !c.upgraded {
		// The first SETTINGS: what it leaves out has its initial value. A later one (of a
		// connection joined late) may leave out what an earlier one raised.
		other.maxFrame = defaultMaxFrame
	}
	for ; len(p) >= 6; p = p[6:] {
		v := binary.BigEndian.Uint32(p[2:6])
		switch binary.BigEndian.Uint16(p[:2]) {
		case 0x1: // SETTINGS_HEADER_TABLE_SIZE
			other.table.setLimit(v)
		case 0x5: // SETTINGS_MAX_FRAME_SIZE
			if v >= defaultMaxFrame && v <= maxFrameLimit {
				other.maxFrame = v
			}
		}
	}
}

// find returns the open stream id of d, or nil.
func (c *Conn) find(d *direction, id uint32) *stream {
	for i := range d.streams {
		if d.streams[i].id == id {
			return &d.streams[i]
		}
	}
	return nil
}

// open returns the open stream id of d, opening it if needed. A stream opened by a frame other
// than HEADERS (missing says so) lost its headers: the connection was joined in its middle.
func (c *Conn) open(d *direction, id uint32, missing bool) *stream {
	if s := c.find(d, id); s != nil {
		return s
	}
	if len(d.streams) == maxStreams {
		// Its message is never parsed: its other half is counted unmatched.
		d.streams = append(d.streams[:0], d.streams[1:]...)
	}
	d.streams = append(d.streams, stream{id: id, msg: Message{GRPCStatus: -1, Partial: missing}})
	return &d.streams[len(d.streams)-1]
}

// complete ends s, the open stream of d, with its last frame of size bytes: its message goes to
// msg, except a pushed response (an even stream), which answers no request.
func (c *Conn) complete(d *direction, typ parser.MessageType, s *stream, size int, msg *Message) parser.Result {
	m := s.msg
	m.Type, m.Size, m.Stream, m.Truncated = typ, s.size, s.id, s.msg.Partial
	if typ == parser.Response {
		m.Success = !m.Reset && m.Status >= 100 && m.Status < 400 && (!m.GRPC || m.GRPCStatus == 0)
	}
	i := 0
	for d.streams[i].id != s.id {
		i++
	}
	d.streams = append(d.streams[:i], d.streams[i+1:]...)
	if typ == parser.Response && m.Stream&1 == 0 {
		return parser.Result{Status: parser.Ignored, Consumed: size}
	}
	*msg = m
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// Adopt implements parser.Adopter: the request of an HTTP/1.1 connection upgraded to h2c is
// stream 1, half closed by the client (RFC 7540 §3.2), answered by the server's stream 1.
func (c *Conn) Adopt(u *parser.Upgraded, msg *Message) {
	c.upgraded = true
	*msg = Message{Type: parser.Request, Size: u.Size, Truncated: u.Truncated, Stream: 1,
		Method: u.Method, Authority: u.Host, Path: u.Path, GRPCStatus: -1}
}

// FindBoundary implements parser.Parser: bytes of this direction are given up, so its table can
// no longer be trusted; the next frame is where a frame header valid for the direction starts
// and, if the buffer holds it, another valid one follows it.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	if typ != parser.Request && typ != parser.Response {
		return -1
	}
	d := &c.dir[typ-1]
	d.started = true
	d.table.reset()
	d.cont = 0
	for i := 1; i < len(buf); i++ {
		rest := buf[i:]
		if len(rest) < headerLen {
			return i
		}
		h := readHeader(rest)
		if !valid(h, typ, d.maxFrame) || h.typ == frameContinuation {
			continue
		}
		if next := rest[min(h.size(), len(rest)):]; len(next) >= headerLen && !valid(readHeader(next), typ, d.maxFrame) {
			continue
		}
		return i
	}
	return -1
}

// Lost is told that bytes of direction typ were lost: the HPACK table is reset, and a header
// block being gathered is given up.
func (c *Conn) Lost(typ parser.MessageType) {
	if typ == parser.Request || typ == parser.Response {
		d := &c.dir[typ-1]
		d.table.reset()
		d.cont = 0
	}
}
