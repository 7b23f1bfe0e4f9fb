// Package sqlcall is what the SQL protocols (parser/mysql, parser/pgsql) share above the wire: the
// message of a statement and its answer, and how records show it.
package sqlcall

import (
	"strings"

	"github.com/netobserver/netobserver/parser"
)

// Message is one request or response of a SQL protocol.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// Requests: Method is the statement's verb or the command's name, Resource the normalised
	// statement (package sqlnorm).
	Method, Resource string
	// Success is set on a response that is not an error.
	Success bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success}}
}

// Records is how records show the calls of the SQL protocol name.
func Records(name string) parser.Records {
	return parser.Records{Name: name, RemoteType: "database", Protocols: []string{"sql", "success"}, L4L7: parser.L7DB}
}

// FieldsProtocols renders a call for schema A: the normalised statement and its success.
func FieldsProtocols(req, resp *Message, f *parser.Fields) {
	*f = parser.Fields{req.Resource, parser.Flag(resp.Success)}
}

// FieldsL4L7 renders a call for schema B's l7_db record.
func FieldsL4L7(req, resp *Message, f *parser.Fields) {
	*f = parser.Fields{"", strings.ToLower(req.Method), req.Resource, parser.Flag(resp.Success)}
}
