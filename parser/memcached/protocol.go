package memcached

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one memcached request or response.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// Command is a request's command (get, ms, GetQ, …); on a response, the command it answers
	// when the parser knows it. Keys and values are never read into a message.
	Command string
	// Outcome is a response's (hit, miss, stored, not_stored, exists, not_found, deleted,
	// touched, ok, error, client_error, server_error), or a one-way request's (noreply, quiet).
	Outcome string
	// Query is "<command> <outcome>", when both are known: schema B's query.
	Query string
	// Flavour is text, meta or binary.
	Flavour string
	// Success: not an error.
	Success bool
	// OneWay: a request that expects no answer, or the answer a quiet command drew.
	OneWay bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success, OneWay: m.OneWay}}
}

// Protocol is memcached: text, meta and binary. Responses come in the order of their requests;
// the parser keeps the quiet ones apart (see the package documentation).
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoMemcached,
	Records: parser.Records{
		Name: "memcached", RemoteType: "database",
		Protocols: []string{"cmd", "outcome", "success"},
		L4L7:      parser.L7DB,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.InOrder[Message]{},
	// Our libebpf.so sends values as sizes (memc_head_body); the parser skips them by length.
	Stream: parser.StreamHints{FillTruncated: true},
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		o := outcomeOf(req, resp)
		*f = parser.Fields{req.Command, o.Outcome, parser.Flag(o.Success)}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		o := outcomeOf(req, resp)
		query := o.Query
		if o.Command != req.Command {
			query = req.Command // an answer the parser could not place: the outcome is unsure
		}
		*f = parser.Fields{req.Flavour, req.Command, query, parser.Flag(o.Success)}
	},
})

// outcomeOf is the message that says how a call went: a one-way message itself, else the
// response.
func outcomeOf(req, resp *Message) *Message {
	if req.OneWay {
		return req
	}
	return resp
}
