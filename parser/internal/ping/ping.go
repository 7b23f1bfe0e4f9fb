// Package ping is a toy protocol, the worked example of parser/README.md: a client writes
// "PING <word>\n", the server answers "PONG <word>\n" or "FAIL <word>\n", in any order. Either
// side may write "NOTE <word>\n", which expects no answer: a one-way message. A test
// registers it (parser/protocols) and follows its calls into records; production does not.
package ping

import (
	"bytes"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Kernel is the number data events carry for ping; the kernel side has none, tests make them.
const Kernel abi.Protocol = 200

// maxLine bounds a message: a line this long without its newline is not ping.
const maxLine = 64

// Message is one ping line.
type Message struct {
	Type parser.MessageType
	Size int
	// Word is the argument, which pairs an answer with its request.
	Word string
	// Success is set on a PONG and a NOTE.
	Success bool
	// OneWay is set on a NOTE.
	OneWay bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Success: m.Success, OneWay: m.OneWay}}
}

// Protocol is ping.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: Kernel,
	Records: parser.Records{
		Name: "ping", RemoteType: "server",
		Protocols: []string{"word", "success"},
		L4L7:      parser.L7Req,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return &Conn{in: in} },
	// Answers come in any order: the word pairs them.
	Matcher: parser.ByID[Message](func(m *Message) uint64 { return hash(m.Word) }),
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Word, parser.Flag(success(req, resp))}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		verb := "PING"
		if req.OneWay {
			verb = "NOTE"
		}
		*f = parser.Fields{verb, "", req.Word, "", parser.Flag(success(req, resp)), "-1"}
	},
})

// success is the outcome of a call: a one-way message's own (resp is zero then).
func success(req, resp *Message) bool {
	if req.OneWay {
		return req.Success
	}
	return resp.Success
}

// Conn is the parsing state of one connection: only the strings' interner.
type Conn struct{ in *parser.Interner }

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	verb, ok := verbAt(buf, typ)
	if !ok {
		return parser.Result{Status: parser.Invalid}
	}
	n := bytes.IndexByte(buf[:min(len(buf), maxLine)], '\n')
	switch {
	case n < 0 && len(buf) >= maxLine:
		return parser.Result{Status: parser.Invalid}
	case n < 0:
		return parser.Result{Status: parser.NeedMore}
	}
	note := verb == "NOTE "
	*msg = Message{Type: typ, Size: n + 1, Word: c.in.Bytes(buf[len(verb):n]), Success: verb == "PONG " || note, OneWay: note}
	return parser.Result{Status: parser.Complete, Consumed: n + 1}
}

// FindBoundary implements parser.Parser: the next line that starts with a verb of typ.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	for i := 1; i < len(buf); i++ {
		if buf[i-1] == '\n' {
			if _, ok := verbAt(buf[i:], typ); ok {
				return i
			}
		}
	}
	return -1
}

// verbAt returns the verb buf starts with, or, when buf is shorter than one, ok if it may.
func verbAt(buf []byte, typ parser.MessageType) (string, bool) {
	verbs := []string{"PING ", "NOTE "}
	if typ == parser.Response {
		verbs = []string{"PONG ", "FAIL ", "NOTE "}
	} else if typ != parser.Request {
		return "", false
	}
	for _, v := range verbs {
		if n := min(len(buf), len(v)); string(buf[:n]) == v[:n] {
			return v, true
		}
	}
	return "", false
}

// hash is FNV-1a, the id of a word.
func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}
