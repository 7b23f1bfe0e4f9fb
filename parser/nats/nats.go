package nats

import (
	"bytes"

	"github.com/netobserver/netobserver/parser"
)

const (
	// maxLine bounds a protocol line; INFO and CONNECT carry JSON that may be long.
	maxLine = 32 << 10
	// maxPayload bounds a payload: nats-server's max_payload is at most 64 MiB.
	maxPayload = 64 << 20
	// maxSubject bounds a masked subject in bytes, maxTokens its tokens: past them the subject
	// ends with ">".
	maxSubject = 128
	maxTokens  = 8
)

// Conn is the parsing state of one connection.
type Conn struct {
	in *parser.Interner
	// verbose: the client's CONNECT asked for +OK after each message.
	verbose bool
	// waiting counts the client messages sent that expect an answer (PING; in verbose mode
	// CONNECT, PUB, HPUB, SUB, UNSUB) and have not had one.
	waiting int
	scratch []byte
}

// NewConn returns the parsing state of a new connection.
func NewConn(in *parser.Interner) *Conn { return &Conn{in: in} }

// op reads the operation a line starts with, upper-cased, into a fixed array.
func op(line []byte) (name string, rest []byte) {
	var up [8]byte
	n := 0
	for n < len(line) && line[n] != ' ' && line[n] != '\t' {
		if n == len(up) {
			return "", nil
		}
		b := line[n]
		if b >= 'a' && b <= 'z' {
			b -= 'a' - 'A'
		}
		up[n] = b
		n++
	}
	switch string(up[:n]) { // constant strings: no allocation
	case "PUB":
		return "PUB", line[n:]
	case "HPUB":
		return "HPUB", line[n:]
	case "SUB":
		return "SUB", line[n:]
	case "UNSUB":
		return "UNSUB", line[n:]
	case "CONNECT":
		return "CONNECT", line[n:]
	case "INFO":
		return "INFO", line[n:]
	case "MSG":
		return "MSG", line[n:]
	case "HMSG":
		return "HMSG", line[n:]
	case "PING":
		return "PING", line[n:]
	case "PONG":
		return "PONG", line[n:]
	case "+OK":
		return "+OK", line[n:]
	case "-ERR":
		return "-ERR", line[n:]
	}
	return "", nil
}

// fromClient says op is sent by clients; fromServer, by servers.
func fromClient(op string) bool {
	switch op {
	case "PUB", "HPUB", "SUB", "UNSUB", "CONNECT", "PING", "PONG":
		return true
	}
	return false
}

func fromServer(op string) bool {
	switch op {
	case "INFO", "MSG", "HMSG", "PING", "PONG", "+OK", "-ERR":
		return true
	}
	return false
}

// args splits the arguments of a line into at most len(out) tokens, returning how many there
// were (more than len(out) reads as len(out)+1).
func args(rest []byte, out *[6][]byte) int {
	n := 0
	for {
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return n
		}
		end := bytes.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		if n == len(out) {
			return n + 1
		}
		out[n], rest, n = rest[:end], rest[end:], n+1
	}
}

// size parses a payload size, or returns -1.
func size(b []byte) int {
	if len(b) == 0 || len(b) > 9 {
		return -1
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return -1
		}
		n = n*10 + int(d-'0')
	}
	if n > maxPayload {
		return -1
	}
	return n
}

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if typ != parser.Request && typ != parser.Response {
		return parser.Result{Status: parser.Invalid}
	}
	if len(buf) == 0 {
		return parser.Result{Status: parser.NeedMore}
	}
	i := bytes.IndexByte(buf[:min(len(buf), maxLine)], '\n')
	if i < 0 {
		if len(buf) >= maxLine || !mayStart(buf, typ) {
			return parser.Result{Status: parser.Invalid}
		}
		return parser.Result{Status: parser.NeedMore}
	}
	line := buf[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	name, rest := op(line)
	if name == "" || typ == parser.Request && !fromClient(name) || typ == parser.Response && !fromServer(name) {
		return parser.Result{Status: parser.Invalid}
	}
	var a [6][]byte
	n := args(rest, &a)
	total := i + 1
	var subject []byte
	// payload is the size of the payload after the line; -1 for none.
	payload := -1
	switch name {
	case "PUB": // PUB <subject> [reply-to] <#bytes>
		if n < 2 || n > 3 {
			return parser.Result{Status: parser.Invalid}
		}
		subject, payload = a[0], size(a[n-1])
	case "HPUB": // HPUB <subject> [reply-to] <#header bytes> <#total bytes>
		if n < 3 || n > 4 || size(a[n-2]) > size(a[n-1]) {
			return parser.Result{Status: parser.Invalid}
		}
		subject, payload = a[0], size(a[n-1])
	case "MSG": // MSG <subject> <sid> [reply-to] <#bytes>
		if n < 3 || n > 4 {
			return parser.Result{Status: parser.Invalid}
		}
		subject, payload = a[0], size(a[n-1])
	case "HMSG": // HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>
		if n < 4 || n > 5 || size(a[n-2]) > size(a[n-1]) {
			return parser.Result{Status: parser.Invalid}
		}
		subject, payload = a[0], size(a[n-1])
	case "SUB": // SUB <subject> [queue group] <sid>
		if n < 2 || n > 3 {
			return parser.Result{Status: parser.Invalid}
		}
		subject = a[0]
	case "UNSUB": // UNSUB <sid> [max_msgs]
		if n < 1 || n > 2 {
			return parser.Result{Status: parser.Invalid}
		}
	}
	if name == "PUB" || name == "HPUB" || name == "MSG" || name == "HMSG" {
		if payload < 0 {
			return parser.Result{Status: parser.Invalid}
		}
		end := total + payload + 2
		if end <= len(buf) && (buf[end-2] != '\r' || buf[end-1] != '\n') {
			return parser.Result{Status: parser.Invalid}
		}
		total = end
	}
	*msg = Message{Type: typ, Size: total, Truncated: total > len(buf), Op: name, Success: name != "-ERR"}
	if subject != nil {
		msg.Subject = c.mask(subject)
	}
	res := parser.Result{Status: parser.Complete, Consumed: total}
	switch name {
	case "INFO":
		return parser.Result{Status: parser.Ignored, Consumed: total}
	case "PONG":
		if typ == parser.Request {
			return parser.Result{Status: parser.Ignored, Consumed: total} // answers a keepalive
		}
		c.answered(msg)
	case "PING":
		if typ == parser.Response {
			return parser.Result{Status: parser.Ignored, Consumed: total} // the server's keepalive
		}
		c.wait()
	case "CONNECT":
		c.verbose = verbose(rest)
		c.request(msg)
	case "PUB", "HPUB", "SUB", "UNSUB":
		c.request(msg)
	case "MSG", "HMSG":
		msg.OneWay = true
	case "+OK", "-ERR":
		c.answered(msg)
	}
	return res
}

// request makes msg one-way unless the connection is verbose, where it waits for +OK.
func (c *Conn) request(msg *Message) {
	if c.verbose {
		c.wait()
		return
	}
	msg.OneWay = true
}

func (c *Conn) wait() {
	if c.waiting < 1<<20 {
		c.waiting++
	}
}

// answered takes the answer msg off the waiting count, or, when nothing waits, makes it a
// one-way message of its own.
func (c *Conn) answered(msg *Message) {
	if c.waiting == 0 {
		msg.OneWay = true
		return
	}
	c.waiting--
}

// verbose reads "verbose":true from CONNECT's JSON.
func verbose(js []byte) bool {
	i := bytes.Index(js, []byte(`"verbose"`))
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(js[i+len(`"verbose"`):], " \t")
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(rest[1:], " \t"), []byte("true"))
}

// FindBoundary implements parser.Parser: the next line that starts with an operation of typ.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	for i := 1; i < len(buf); i++ {
		if buf[i-1] == '\n' && mayStart(buf[i:], typ) {
			return i
		}
	}
	return -1
}

// mayStart says buf may start a message of typ: its operation, or what buf holds of it.
func mayStart(buf []byte, typ parser.MessageType) bool {
	end := bytes.IndexAny(buf[:min(len(buf), 9)], " \t\r\n")
	if end < 0 {
		if len(buf) >= 9 {
			return false
		}
		return len(buf) > 0
	}
	name, _ := op(buf[:end])
	if typ == parser.Request {
		return fromClient(name)
	}
	return fromServer(name)
}
