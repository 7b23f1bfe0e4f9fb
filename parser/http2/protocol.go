package http2

import (
	"strconv"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/http"
)

// Message is one side of an HTTP/2 stream: the request a client sent on it, or the response a
// server sent, from its first HEADERS frame to the frame with END_STREAM (or the RST_STREAM that
// ended it). Strings are interned.
type Message struct {
	Type parser.MessageType
	// Size is the bytes of the stream's frames in this direction, frame headers included.
	Size      int
	Truncated bool
	// Stream is the stream id: a response answers the request of the same id.
	Stream uint32
	// Requests: :method, :authority, and :path without its query (for gRPC, /service/method).
	Method, Authority, Path string
	// Responses: :status (0 when unknown or the stream was reset before any).
	Status int
	// GRPC: the content-type is application/grpc; GRPCStatus is grpc-status from the trailers
	// (or a trailers-only response), -1 when absent.
	GRPC       bool
	GRPCStatus int
	// Reset: the stream ended with RST_STREAM from this side, not with END_STREAM.
	Reset bool
	// Partial: some header fields could not be decoded, because they referenced HPACK table
	// entries sent before the connection was seen, or after bytes were lost. Fields that could not
	// be decoded are empty; Truncated is set too.
	Partial bool
	Success bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success, Partial: m.Partial}}
}

// Protocol is HTTP/2 over cleartext TCP (h2c, with prior knowledge or upgraded from HTTP/1.1),
// gRPC included. Responses
// answer the request of the same stream id, in any order.
var Protocol = parser.Define(parser.Spec[Message]{
	Kernel: abi.ProtoHTTP2,
	Records: parser.Records{
		Name: "http2", RemoteType: "server",
		Protocols: []string{"version", "host", "method", "url", "resp_code", "grpc_status"},
		L4L7:      parser.L7Req,
	},
	NewParser: func(in *parser.Interner) parser.Parser[Message] { return NewConn(in) },
	Matcher:   parser.ByID[Message](func(m *Message) uint64 { return uint64(m.Stream) }),
	FieldsProtocols: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{"2", req.Authority, req.Method, req.Path, http.StatusText(resp.Status), grpcStatusText(resp)}
	},
	FieldsL4L7: func(req, resp *Message, f *parser.Fields) {
		*f = parser.Fields{req.Method, req.Authority, req.Path, "2", grpcStatusText(resp), http.StatusText(resp.Status)}
	},
})

// grpcStatusTexts are the gRPC status codes as text (0 OK to 16 UNAUTHENTICATED).
var grpcStatusTexts = func() (t [17]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// grpcStatusText is a gRPC response's grpc-status as records show it; "-1" for anything else.
func grpcStatusText(m *Message) string {
	switch {
	case !m.GRPC || m.GRPCStatus < 0:
		return "-1"
	case m.GRPCStatus < len(grpcStatusTexts):
		return grpcStatusTexts[m.GRPCStatus]
	}
	return strconv.Itoa(m.GRPCStatus)
}
