package nats

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one NATS protocol message.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// Op is the operation, upper case: PUB, HPUB, SUB, UNSUB, CONNECT, PING, MSG, HMSG, PONG,
	// +OK, -ERR.
	Op string
	// Subject is the subject of PUB, HPUB, SUB, MSG and HMSG, masked (Mask).
	Subject string
	// Success: not a -ERR.
	Success bool
	OneWay  bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success, OneWay: m.OneWay}}
}

// Protocol is NATS. Answers (+OK, -ERR, PONG) come in the order of what they answer.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoNATS,
	Records: parser.Records{
		Name: "nats", RemoteType: "mq",
		Protocols: []string{"op", "subject", "success"},
		L4L7:      parser.L7Req,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.InOrder[Message]{},
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Op, req.Subject, parser.Flag(success(req, resp))}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Op, "", req.Subject, "", parser.Flag(success(req, resp)), "-1"}
	},
})

// success is a call's outcome: a one-way message's own, else its answer's.
func success(req, resp *Message) bool {
	if req.OneWay {
		return req.Success
	}
	return resp.Success
}
