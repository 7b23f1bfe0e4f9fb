package redis

import (
	"strings"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one Redis request or reply.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// Method is a request's command (see the package documentation); arguments are never read.
	Method string
	// Success is set on a reply that is not an error.
	Success bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success}}
}

// Protocol is Redis over RESP2/RESP3. Replies answer requests in order, pipelined or not.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoRedis,
	Records: parser.Records{
		Name: "redis", RemoteType: "database",
		Protocols: []string{"cmd", "success"},
		L4L7:      parser.L7DB,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.InOrder[Message]{},
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Method, parser.Flag(resp.Success)}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		// Keys and values are never captured: the command is the whole query.
		*f = parser.Fields{"", strings.ToLower(req.Method), req.Method, parser.Flag(resp.Success)}
	},
})
