package http

import (
	"strconv"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
)

// Message is one HTTP/1 request or response. Request fields are set on requests, response
// fields on responses; strings are interned.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// Requests: the method, the Host header, the path without its query, and the version
	// ("1.1" or "1.0").
	Method, Host, Resource, Version string
	// Responses: the status code, and whether it is below 400.
	Status  int
	Success bool
	// H2C: an Upgrade field names h2c. A request offering it answered by a 101 naming it hands
	// the connection to HTTP/2 (Conn.Switch).
	H2C bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success}}
}

// Protocol is HTTP/1.x. Responses answer requests in order, pipelined or not.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoHTTP,
	Records: parser.Records{
		Name: "http", RemoteType: "server",
		Protocols: []string{"version", "host", "method", "url", "resp_code"},
		L4L7:      parser.L7Req,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.InOrder[Message]{},
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		version := "1"
		if req.Version == "1.0" {
			version = "0"
		}
		*f = parser.Fields{version, req.Host, req.Method, req.Resource, StatusText(resp.Status)}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Method, req.Host, req.Resource, req.Version, "-1", StatusText(resp.Status)}
	},
})

// statusTexts are the texts of the status codes 100 to 599, made once: each call's key holds its
// status as text, and strconv.Itoa allocates for numbers past 99.
var statusTexts = func() (t [500]string) {
	for i := range t {
		t[i] = strconv.Itoa(100 + i)
	}
	return t
}()

// StatusText is strconv.Itoa(code) without allocating for the usual codes (100 to 599).
func StatusText(code int) string {
	if code >= 100 && code < 100+len(statusTexts) {
		return statusTexts[code-100]
	}
	return strconv.Itoa(code)
}
