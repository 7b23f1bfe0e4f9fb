package pgsql

import (
	"strings"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one PostgreSQL request or response.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// Requests: Method is the statement's verb or the command's name, Resource the normalised
	// statement (see the package documentation).
	Method, Resource string
	// Success is set on a response that is not an error.
	Success bool
}

// Frame implements parser.Message.
func (m Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Truncated: m.Truncated, Success: m.Success}
}

// Protocol is the PostgreSQL protocol: name "pgsql", requests and responses matched in order.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoPGSQL,
	Records: parser.Records{
		Name: "pgsql", RemoteType: "database",
		A: []string{"sql", "success"},
		B: parser.L7DB,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.InOrder[Message]{},
	FieldsA: func(req, resp *Message) parser.Fields {
		return parser.Fields{req.Resource, parser.Flag(resp.Success)}
	},
	FieldsB: func(req, resp *Message) parser.Fields {
		return parser.Fields{"", strings.ToLower(req.Method), req.Resource, parser.Flag(resp.Success)}
	},
})
