package mqtt

import (
	"strconv"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Protocol is MQTT. Responses pair with requests by packet type and packet id (CONNACK and
// PINGRESP, which have no id, pair with the oldest CONNECT and PINGREQ waiting).
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoMQTT,
	Records: parser.Records{
		Name: "mqtt", RemoteType: "mq",
		Protocols: []string{"packet", "topic", "qos", "code", "success"},
		L4L7:      parser.L7Req,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.ByID[Message](pairID),
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		resp = outcome(req, resp)
		*f = parser.Fields{req.Packet, req.Topic, qos[req.QoS&3], code(resp), parser.Flag(resp.Success)}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		resp = outcome(req, resp)
		*f = parser.Fields{req.Packet, "", req.Topic, version[req.Version&7], parser.Flag(resp.Success), code(resp)}
	},
})

var (
	qos     = [4]string{"0", "1", "2", "3"}
	version = [8]string{"", "", "", "3.1", "3.1.1", "5", "", ""}
	codes   [256]string
)

func init() {
	for i := range codes {
		codes[i] = strconv.Itoa(i)
	}
}

// outcome is the message that says how a call ended: the response, or a one-way message itself
// (a DISCONNECT's reason code).
func outcome(req, resp *Message) *Message {
	if req.OneWay || resp == nil {
		return req
	}
	return resp
}

// code is a response's code as records write it, "-1" for none.
func code(m *Message) string {
	if m.Code < 0 || m.Code > 255 {
		return "-1"
	}
	return codes[m.Code]
}
