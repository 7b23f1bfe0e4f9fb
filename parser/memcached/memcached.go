package memcached

import (
	"bytes"
	"encoding/binary"

	"github.com/netobserver/netobserver/parser"
)

const (
	// maxLine bounds a request or response line: a longer one (a get of hundreds of keys) is
	// not parsed (Invalid, counted).
	maxLine = 8192
	// maxBlock bounds a data block or binary body: memcached items are at most 1 GiB.
	maxBlock = 1 << 30
	// maxPending bounds the requests remembered for placing the answers of quiet ones.
	maxPending = 64
	// bigBlock: a VALUE block past the end of the buffer that is not the last of its response
	// ends the message there when it is larger than this (the rest is skipped as it comes);
	// a smaller one waits for its bytes, so that the response is one message.
	bigBlock  = 256 << 10
	headerLen = 24
	reqMagic  = 0x80
	respMagic = 0x81
)

// kind is what a text or meta request line looks like.
type kind uint8

const (
	storage   kind = iota + 1 // <cmd> <key> <flags> <exptime> <bytes> [noreply], then a block
	cas                       // cas <key> <flags> <exptime> <bytes> <cas> [noreply], then a block
	retrieval                 // get/gets/gat/gats: answered by VALUE blocks and END
	noreply                   // may end with noreply
	plain                     // always answered
	quit                      // never answered
	meta                      // mg, md, ma, me: the q flag makes them quiet
	metaSet                   // ms <key> <datalen> <flags>*, then a block
)

type command struct {
	name string
	kind kind
}

var commands = map[string]command{}

func init() {
	for _, c := range []command{
		{"set", storage}, {"add", storage}, {"replace", storage}, {"append", storage}, {"prepend", storage},
		{"cas", cas},
		{"get", retrieval}, {"gets", retrieval}, {"gat", retrieval}, {"gats", retrieval},
		{"delete", noreply}, {"incr", noreply}, {"decr", noreply}, {"touch", noreply}, {"flush_all", noreply},
		{"verbosity", noreply},
		{"version", plain}, {"stats", plain}, {"shutdown", plain}, {"cache_memlimit", plain}, {"slabs", plain},
		{"lru_crawler", plain}, {"lru", plain}, {"misbehave", plain}, {"mn", plain},
		{"quit", quit},
		{"mg", meta}, {"md", meta}, {"ma", meta}, {"me", meta}, {"ms", metaSet},
	} {
		commands[c.name] = c
	}
	for op := range opNames {
		if opNames[op] == "" {
			opNames[op] = "op_" + string("0123456789abcdef"[op>>4]) + string("0123456789abcdef"[op&15])
		}
	}
}

// responses are the words a text or meta response line starts with, and their outcome.
var responses = map[string]string{
	"VALUE": "hit", "END": "miss", "STAT": "ok", "ITEM": "ok", "VA": "hit", "HD": "ok", "EN": "miss",
	"NF": "not_found", "NS": "not_stored", "EX": "exists", "MN": "ok", "ME": "ok",
	"STORED": "stored", "NOT_STORED": "not_stored", "EXISTS": "exists", "NOT_FOUND": "not_found",
	"DELETED": "deleted", "TOUCHED": "touched", "OK": "ok", "RESET": "ok", "VERSION": "ok",
	"ERROR": "error", "CLIENT_ERROR": "client_error", "SERVER_ERROR": "server_error",
}

// opNames names the binary opcodes; the others are op_xx.
var opNames = [256]string{
	0x00: "Get", 0x01: "Set", 0x02: "Add", 0x03: "Replace", 0x04: "Delete", 0x05: "Increment",
	0x06: "Decrement", 0x07: "Quit", 0x08: "Flush", 0x09: "GetQ", 0x0a: "Noop", 0x0b: "Version",
	0x0c: "GetK", 0x0d: "GetKQ", 0x0e: "Append", 0x0f: "Prepend", 0x10: "Stat", 0x11: "SetQ",
	0x12: "AddQ", 0x13: "ReplaceQ", 0x14: "DeleteQ", 0x15: "IncrementQ", 0x16: "DecrementQ",
	0x17: "QuitQ", 0x18: "FlushQ", 0x19: "AppendQ", 0x1a: "PrependQ", 0x1b: "Verbosity",
	0x1c: "Touch", 0x1d: "GAT", 0x1e: "GATQ", 0x20: "SASLListMechs", 0x21: "SASLAuth",
	0x22: "SASLStep", 0x23: "GATK", 0x24: "GATKQ",
}

// quietOps are the binary opcodes answered only when there is something to say; Quit and QuitQ
// are never answered once the connection closes, QuitQ not at all.
var quietOps = [256]bool{0x09: true, 0x0d: true, 0x11: true, 0x12: true, 0x13: true, 0x14: true, 0x15: true,
	0x16: true, 0x17: true, 0x18: true, 0x19: true, 0x1a: true, 0x1e: true, 0x24: true}

// pending is a request sent whose answer may still come.
type pending struct {
	cmd    string
	quiet  bool
	binary bool
	op     byte
	opaque uint32
}

// Conn is the parsing state of one connection.
type Conn struct {
	in *parser.Interner
	// ring holds the requests whose answers may come, oldest at head, n of them.
	ring    [maxPending]pending
	head, n int
	// values: a VALUE block ran past the buffer; the blocks after it and END belong to the
	// same response, already recorded.
	values  bool
	scratch []byte
}

// NewConn returns the parsing state of a new connection.
func NewConn(in *parser.Interner) *Conn { return &Conn{in: in} }

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if len(buf) == 0 {
		return parser.Result{Status: parser.NeedMore}
	}
	switch {
	case typ == parser.Request && buf[0] == reqMagic:
		return c.binaryRequest(buf, msg)
	case typ == parser.Response && buf[0] == respMagic:
		return c.binaryResponse(buf, msg)
	case typ == parser.Request:
		return c.textRequest(buf, msg)
	case typ == parser.Response:
		return c.textResponse(buf, msg)
	}
	return parser.Result{Status: parser.Invalid}
}

// line returns the length of the line buf starts with, its newline included, and its content
// without \r\n.
func line(buf []byte) (n int, text []byte, st parser.Status) {
	i := bytes.IndexByte(buf[:min(len(buf), maxLine)], '\n')
	if i < 0 {
		if len(buf) >= maxLine {
			return 0, nil, parser.Invalid
		}
		return 0, nil, parser.NeedMore
	}
	text = buf[:i]
	if len(text) > 0 && text[len(text)-1] == '\r' {
		text = text[:len(text)-1]
	}
	return i + 1, text, parser.Complete
}

// token returns the i-th space-separated token of line, or nil.
func token(line []byte, i int) []byte {
	for {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if len(line) == 0 {
			return nil
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		if i == 0 {
			return line[:end]
		}
		i--
		line = line[end:]
	}
}

// count returns the number of tokens of line and its last one.
func count(line []byte) (n int, last []byte) {
	for {
		for len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if len(line) == 0 {
			return n, last
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		n, last, line = n+1, line[:end], line[end:]
	}
}

// number parses a decimal of at most 10 digits (block sizes), or returns -1.
func number(b []byte) int {
	if len(b) == 0 || len(b) > 10 {
		return -1
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return -1
		}
		n = n*10 + int(d-'0')
	}
	return n
}

// block returns the size of a line of n bytes followed by a data block of size bytes and \r\n,
// checking the \r\n when it is in buf.
func block(buf []byte, n, size int) (int, bool) {
	if size < 0 || size > maxBlock {
		return 0, false
	}
	end := n + size + 2
	if end <= len(buf) && (buf[end-2] != '\r' || buf[end-1] != '\n') {
		return 0, false
	}
	return end, true
}

func (c *Conn) textRequest(buf []byte, msg *Message) parser.Result {
	n, text, st := line(buf)
	if st != parser.Complete {
		if st == parser.NeedMore && !mayStart(buf, parser.Request) {
			st = parser.Invalid
		}
		return parser.Result{Status: st}
	}
	cmd, ok := commands[string(token(text, 0))]
	if !ok {
		return parser.Result{Status: parser.Invalid}
	}
	tokens, last := count(text)
	size, oneWay, quiet, flavour := n, false, false, "text"
	switch cmd.kind {
	case storage, cas:
		want := 5
		if cmd.kind == cas {
			want = 6
		}
		if tokens < want || tokens > want+1 || tokens == want+1 && string(last) != "noreply" {
			return parser.Result{Status: parser.Invalid}
		}
		if size, ok = block(buf, n, number(token(text, 4))); !ok {
			return parser.Result{Status: parser.Invalid}
		}
		oneWay = tokens == want+1
	case noreply:
		oneWay = tokens > 1 && string(last) == "noreply"
	case quit:
		oneWay = true
	case meta, metaSet:
		flavour = "meta"
		first := 2 // flags follow the key
		if cmd.kind == metaSet {
			first = 3
			if size, ok = block(buf, n, number(token(text, 2))); !ok {
				return parser.Result{Status: parser.Invalid}
			}
		}
		for i := first; i < tokens; i++ {
			if t := token(text, i); len(t) == 1 && t[0] == 'q' {
				quiet = true
			}
		}
	case plain, retrieval:
		if cmd.name == "mn" {
			flavour = "meta"
		}
	}
	*msg = Message{Type: parser.Request, Size: size, Truncated: size > len(buf), Command: cmd.name, Flavour: flavour}
	switch {
	case oneWay:
		c.oneWay(msg, "noreply")
	case quiet:
		c.oneWay(msg, "quiet")
		c.push(pending{cmd: cmd.name, quiet: true})
	default:
		c.push(pending{cmd: cmd.name})
	}
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// oneWay makes msg a one-way request of outcome o.
func (c *Conn) oneWay(msg *Message, o string) {
	msg.OneWay, msg.Success, msg.Outcome = true, true, o
	msg.Query = c.query(msg.Command, o)
}

func (c *Conn) push(p pending) {
	if c.n == maxPending {
		c.pop()
	}
	c.ring[(c.head+c.n)%maxPending] = p
	c.n++
}

func (c *Conn) pop() pending {
	p := c.ring[c.head]
	c.head, c.n = (c.head+1)%maxPending, c.n-1
	return p
}

// query returns "cmd outcome", interned.
func (c *Conn) query(cmd, outcome string) string {
	if cmd == "" {
		return outcome
	}
	c.scratch = append(append(append(c.scratch[:0], cmd...), ' '), outcome...)
	return c.in.Bytes(c.scratch)
}

// mayAnswer says the quiet meta command cmd may answer with the response word w. Quiet mode
// suppresses mg's EN and the HD of ms, md and ma (memcached 1.6.18, checked by hand): what it
// still says is a hit (mg), a failure (NS, EX, NF) or an error.
func mayAnswer(cmd, w string) bool {
	switch w {
	case "ERROR", "CLIENT_ERROR", "SERVER_ERROR":
		return true
	case "VA":
		return cmd == "mg" || cmd == "ma"
	case "HD":
		return cmd == "mg"
	case "NS", "EX", "NF":
		return cmd != "mg"
	}
	return false
}

// answerText returns the text or meta command the response word w answers, and whether it was
// quiet; "" when the parser does not know.
func (c *Conn) answerText(w string) (string, bool) {
	for c.n > 0 {
		p := c.ring[c.head]
		switch {
		case p.binary:
			c.pop() // a binary request answered in text: its answer was lost
		case !p.quiet:
			c.pop()
			return p.cmd, false
		case !mayAnswer(p.cmd, w):
			c.pop() // the quiet command had nothing to say
		default:
			c.pop()
			return p.cmd, true
		}
	}
	return "", false
}

func (c *Conn) textResponse(buf []byte, msg *Message) parser.Result {
	n, text, st := line(buf)
	if st != parser.Complete {
		if st == parser.NeedMore && !mayStart(buf, parser.Response) {
			st = parser.Invalid
		}
		return parser.Result{Status: st}
	}
	w := token(text, 0)
	outcome, known := responses[string(w)]
	if !known && !digits(w) {
		c.values = false
		return parser.Result{Status: parser.Invalid}
	}
	word := string(w)
	if !known {
		word, outcome = "", "ok" // incr/decr's value
	}
	if c.values { // the rest of a response already recorded
		switch word {
		case "VALUE":
			size, ok := block(buf, n, number(token(text, 3)))
			if !ok {
				c.values = false
				return parser.Result{Status: parser.Invalid}
			}
			return parser.Result{Status: parser.Ignored, Consumed: size}
		case "END":
			c.values = false
			return parser.Result{Status: parser.Ignored, Consumed: n}
		}
		c.values = false
	}
	size := n
	switch word {
	case "VALUE":
		var st parser.Status
		if size, st = c.valueBlocks(buf); st != parser.Complete {
			return parser.Result{Status: st}
		}
	case "VA":
		var ok bool
		if size, ok = block(buf, n, number(token(text, 1))); !ok {
			return parser.Result{Status: parser.Invalid}
		}
	case "STAT", "ITEM":
		var st parser.Status
		if size, st = statLines(buf); st != parser.Complete {
			return parser.Result{Status: st}
		}
	}
	cmd, quiet := c.answerText(word)
	switch {
	case word == "HD" && cmd == "mg":
		outcome = "hit"
	case word == "HD" && cmd == "ms":
		outcome = "stored"
	case word == "HD" && cmd == "md":
		outcome = "deleted"
	case word == "END" && cmd == "stats":
		outcome = "ok"
	case word == "VA" && cmd == "ma":
		outcome = "ok"
	}
	flavour := "text"
	if len(word) == 2 {
		flavour = "meta"
	}
	*msg = Message{Type: parser.Response, Size: size, Truncated: size > len(buf), Command: cmd, Outcome: outcome,
		Query: c.query(cmd, outcome), Flavour: flavour, Success: outcome != "error" && outcome != "client_error" && outcome != "server_error",
		OneWay: quiet}
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// valueBlocks returns the size of a retrieval response: VALUE blocks, then END. A block past
// the end of buf ends the message there; the rest is skipped as it comes (c.values).
func (c *Conn) valueBlocks(buf []byte) (int, parser.Status) {
	pos := 0
	for {
		n, text, st := line(buf[pos:])
		if st != parser.Complete {
			return 0, st
		}
		switch string(token(text, 0)) {
		case "END":
			return pos + n, parser.Complete
		case "VALUE":
			size, ok := block(buf[pos:], n, number(token(text, 3)))
			if !ok {
				return 0, parser.Invalid
			}
			if pos += size; pos > len(buf) {
				if size <= bigBlock {
					return 0, parser.NeedMore
				}
				c.values = true
				return pos, parser.Complete
			}
		default:
			return 0, parser.Invalid
		}
	}
}

// statLines returns the size of a stats response: STAT (or ITEM) lines, then END.
func statLines(buf []byte) (int, parser.Status) {
	pos := 0
	for {
		n, text, st := line(buf[pos:])
		if st != parser.Complete {
			return 0, st
		}
		pos += n
		switch string(token(text, 0)) {
		case "END":
			return pos, parser.Complete
		case "STAT", "ITEM":
		default:
			return 0, parser.Invalid
		}
	}
}

// header is a binary header's fields that matter here.
type header struct {
	op             byte
	status         uint16
	keyLen, extLen int
	body           int
	opaque         uint32
}

// readHeader reads the binary header buf starts with.
func readHeader(buf []byte) (header, parser.Status) {
	if len(buf) < headerLen {
		return header{}, parser.NeedMore
	}
	h := header{op: buf[1], keyLen: int(binary.BigEndian.Uint16(buf[2:])), extLen: int(buf[4]),
		status: binary.BigEndian.Uint16(buf[6:]), body: int(binary.BigEndian.Uint32(buf[8:])),
		opaque: binary.BigEndian.Uint32(buf[12:])}
	if buf[5] != 0 || h.body > maxBlock || h.keyLen+h.extLen > h.body {
		return header{}, parser.Invalid
	}
	return h, parser.Complete
}

func (c *Conn) binaryRequest(buf []byte, msg *Message) parser.Result {
	h, st := readHeader(buf)
	if st != parser.Complete {
		return parser.Result{Status: st}
	}
	size := headerLen + h.body
	*msg = Message{Type: parser.Request, Size: size, Truncated: size > len(buf), Command: opNames[h.op], Flavour: "binary"}
	if quietOps[h.op] {
		c.oneWay(msg, "quiet")
	}
	if h.op != 0x17 { // QuitQ is never answered
		c.push(pending{cmd: msg.Command, quiet: quietOps[h.op], binary: true, op: h.op, opaque: h.opaque})
	}
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// answerBinary returns whether the binary response h answers a quiet request, taking the
// requests it answers, and those before it that had nothing to say, off the ring.
func (c *Conn) answerBinary(h header) bool {
	for i := 0; i < c.n; i++ {
		p := c.ring[(c.head+i)%maxPending]
		if p.binary && p.op == h.op && p.opaque == h.opaque {
			for range i + 1 {
				c.pop()
			}
			return p.quiet
		}
		if !p.quiet {
			return false // a request that must be answered first: h is out of place
		}
	}
	return false
}

func (c *Conn) binaryResponse(buf []byte, msg *Message) parser.Result {
	h, st := readHeader(buf)
	if st != parser.Complete {
		return parser.Result{Status: st}
	}
	size := headerLen + h.body
	if h.op == 0x10 && h.keyLen > 0 && h.status == 0 {
		return parser.Result{Status: parser.Ignored, Consumed: size} // one statistic; the last has no key
	}
	outcome := "ok"
	switch h.status {
	case 0:
		switch h.op {
		case 0x00, 0x09, 0x0c, 0x0d, 0x1d, 0x1e, 0x23, 0x24:
			outcome = "hit"
		case 0x01, 0x02, 0x03, 0x0e, 0x0f, 0x11, 0x12, 0x13, 0x19, 0x1a:
			outcome = "stored"
		case 0x04, 0x14:
			outcome = "deleted"
		case 0x1c:
			outcome = "touched"
		}
	case 1:
		outcome = "not_found"
		switch h.op {
		case 0x00, 0x09, 0x0c, 0x0d, 0x1d, 0x1e, 0x23, 0x24:
			outcome = "miss"
		}
	case 2:
		outcome = "exists"
	case 5:
		outcome = "not_stored"
	default:
		outcome = "error"
	}
	cmd := opNames[h.op]
	*msg = Message{Type: parser.Response, Size: size, Truncated: size > len(buf), Command: cmd, Outcome: outcome,
		Query: c.query(cmd, outcome), Flavour: "binary", Success: outcome != "error", OneWay: c.answerBinary(h)}
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// FindBoundary implements parser.Parser: a binary header of the direction's magic that reads
// well, or a line that starts with a command (requests) or a response word.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	magic := byte(reqMagic)
	if typ == parser.Response {
		magic = respMagic
	}
	for i := 1; i < len(buf); i++ {
		if buf[i] == magic {
			if _, st := readHeader(buf[i:]); st != parser.Invalid {
				return i
			}
		}
		if buf[i-1] == '\n' && mayStart(buf[i:], typ) {
			return i
		}
	}
	return -1
}

// mayStart says buf may start a text line of typ: its first word, or what buf holds of it, is a
// command (requests) or a response word.
func mayStart(buf []byte, typ parser.MessageType) bool {
	const longest = 21 // a 20-digit incr result and its delimiter
	end := bytes.IndexAny(buf[:min(len(buf), longest)], " \r\n")
	if end < 0 {
		if len(buf) >= longest {
			return false
		}
		return len(buf) > 0 // too short to tell
	}
	w := buf[:end]
	if typ == parser.Request {
		_, ok := commands[string(w)]
		return ok
	}
	_, ok := responses[string(w)]
	return ok || digits(w)
}

// digits says w is an incr or decr result: a 64-bit decimal.
func digits(w []byte) bool {
	if len(w) == 0 || len(w) > 20 {
		return false
	}
	for _, d := range w {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}
