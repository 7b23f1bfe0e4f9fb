package amqp

import (
	"strconv"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Protocol is AMQP 0-9-1.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoAMQP,
	Records: parser.Records{
		Name: "amqp", RemoteType: "mq",
		Protocols: []string{"method", "exchange", "key", "code", "success"},
		L4L7:      parser.L7Req,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   matcher{},
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		resp = outcome(req, resp)
		*f = parser.Fields{req.Method, req.Exchange, req.Key, code(resp.Code), parser.Flag(resp.Success)}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		resp = outcome(req, resp)
		*f = parser.Fields{req.Method, req.Exchange, req.Key, "0-9-1", parser.Flag(resp.Success), code(resp.Code)}
	},
})

// outcome is the message that says how a call ended: the reply, or a one-way message itself.
func outcome(req, resp *Message) *Message {
	if req.OneWay || resp == nil {
		return req
	}
	return resp
}

func code(c int) string {
	if c < 0 {
		return "-1"
	}
	if c == 200 {
		return "200"
	}
	return strconv.Itoa(c) // an error: rare
}

// matcher pairs a reply with the oldest method waiting on its channel that it answers: its -ok,
// get-empty for a basic.get, or a close the server sends instead.
type matcher struct{}

func (matcher) Match(others []parser.Waiting[Message], m *parser.Waiting[Message], isRequest bool) int {
	for i := range others {
		req, resp := &others[i].Msg, &m.Msg
		if isRequest {
			req, resp = resp, req
		}
		if answers(req, resp) {
			return i
		}
	}
	return -1
}

func (matcher) Ordered() bool { return false }

func answers(req, resp *Message) bool {
	closing := req.cm == channelClose || req.cm == connectionClose
	if resp.cm == connectionClose {
		return !closing
	}
	if req.Channel != resp.Channel {
		return false
	}
	return resp.cm == req.answer || resp.cm == channelClose && !closing || req.cm == basicGet && resp.cm == basicGetEmpty
}
