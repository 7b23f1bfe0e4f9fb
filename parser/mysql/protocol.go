package mysql

import (
	"strings"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one MySQL request or response.
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

// Protocol is the MySQL protocol: name "mysql", requests and responses matched in order.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoMySQL,
	Records: parser.Records{
		Name: "mysql", RemoteType: "database",
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
	Stream: parser.StreamHints{GlueLengthHeader: glueLengthHeader},
})

// glueLengthHeader is MySQL's stream hint: clients read a packet's 4-byte header (3 bytes of
// length, a sequence id) and then its body, so a syscall of exactly the length the last 4-byte
// read announced is that packet's body, unless its own first 3 bytes are that length (it is a
// whole packet, header included). The kernel side compares the same sizes (org_msg_size).
func glueLengthHeader(header uint32, size uint64, first []byte) bool {
	if uint64(header&0xffffff) != size {
		return false
	}
	return len(first) < 3 || first[0] != byte(header) || first[1] != byte(header>>8) || first[2] != byte(header>>16)
}
