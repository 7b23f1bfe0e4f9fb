package kafka

import (
	"strconv"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one Kafka request or response.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// ID is the correlation id, which pairs a response with its request.
	ID int32
	// Key and Version are the request's API key and version (a response's, from its request;
	// -1 when its request was not seen), API the key's name.
	Key, Version int16
	API          string
	// Requests: Topic is the first topic of a Produce or Fetch (masked, see the package
	// documentation) and " (+n)" when it names n more; Topics is how many it names.
	Topic  string
	Topics int
	// OneWay is set on a Produce with acks=0, which has no response.
	OneWay bool
	// Responses: ErrorCode is the error code read (ErrorKnown), Success that it is 0 or unread.
	ErrorCode  int16
	ErrorKnown bool
	Success    bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success, OneWay: m.OneWay}}
}

// Protocol is Kafka: name "kafka", responses paired with requests by correlation id.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoKafka,
	Records: parser.Records{
		Name: "kafka", RemoteType: "mq",
		Protocols: []string{"api", "topic", "error_code", "success"},
		L4L7:      parser.L7Req,
	},
	NewParser:       func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:         parser.ByID[Message](func(m *Message) uint64 { return uint64(uint32(m.ID)) }),
	FieldsProtocols: fieldsProtocols,
	FieldsL4L7:      fieldsL4L7,
	Stream:          parser.StreamHints{GlueLengthHeader: glueLengthHeader},
})

// glueLengthHeader is Kafka's stream hint: clients and brokers read a message's 4-byte size and
// then its body, so a syscall of exactly the size the last 4-byte read announced is that
// message's body. (The kernel side marks such bodies try_to_prepend when it detected Kafka from
// them; this rule covers connections detected otherwise.)
func glueLengthHeader(header uint32, size uint64, _ []byte) bool {
	h := uint64(header>>24 | header>>8&0xff00 | header<<8&0xff0000 | header<<24)
	return h == size && size >= 4
}

// fieldsProtocols are api, topic, error_code (empty when not read) and success. A one-way Produce
// (acks=0, resp is zero) succeeded as far as anyone knows: its error code is empty.
func fieldsProtocols(req, resp *Message, f *parser.Fields) {
	*f = parser.Fields{req.API, req.Topic, errorField(resp), parser.Flag(resp.Success || req.OneWay)}
}

// fieldsL4L7 are l7_req's req_type (the API), req_resource (the topic), version (the API version),
// resp_status (success) and resp_code (the error code).
func fieldsL4L7(req, resp *Message, f *parser.Fields) {
	*f = parser.Fields{req.API, "", req.Topic, versions[min(max(req.Version, 0), maxVersion)],
		parser.Flag(resp.Success || req.OneWay), errorField(resp)}
}

// errorField is a response's error code, or "" when it was not read.
func errorField(m *Message) string {
	if !m.ErrorKnown {
		return ""
	}
	return strconv.Itoa(int(m.ErrorCode)) // small codes come from strconv's table
}

// versions are the API versions as strings.
var versions = func() (s [maxVersion + 1]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()
