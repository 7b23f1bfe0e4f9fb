package dns

import (
	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one DNS query or response (see the package documentation for what each fills).
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// ID is the transaction id, which pairs responses with queries.
	ID uint32
	// Method is the first question's type name (A, AAAA, ...), Resource the names asked,
	// comma-joined.
	Method, Resource string
	// Responses: Status is the rcode, Answers the number of answer records, Success rcode 0 with
	// at least one answer.
	Status  int
	Answers int
	Success bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success}}
}

// Protocol is DNS. Responses are paired with queries by transaction ID: resolvers pipeline
// queries over one socket and answers come back in any order. The A and AAAA records of
// responses name addresses (parser.HostName), which records use for remote_host.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoDNS,
	Records: parser.Records{
		Name: "dns", RemoteType: "dns",
		Protocols: []string{"query_record", "query_type", "success"},
		L4L7:      parser.L7Req,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.ByID[Message](func(m *Message) uint64 { return uint64(m.ID) }),
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Resource, req.Method, parser.Flag(resp.Answers > 0)}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Method, "", req.Resource, "", parser.Flag(resp.Success), "-1"}
	},
})

// Names implements parser.Namer: every A and AAAA record of the response names its address
// after the question (Message.Resource; a CNAME chain only renames it).
func (c *Conn) Names(buf []byte, msg *Message, to parser.NameSink) {
	c.addrs.Read(buf, func(r AddrRecord) bool {
		to.HostName(parser.HostName{Host: msg.Resource, Addr: r.Addr, TTL: r.TTL})
		return true
	})
}
