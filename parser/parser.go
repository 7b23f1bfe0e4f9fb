package parser

//go:generate stringer -type MessageType,Status -linecomment -output parser_string.go

// MessageType says which side of an exchange a byte stream carries.
type MessageType uint8

const (
	// Request is the stream a client writes and a server reads.
	Request MessageType = 1 // request
	// Response is the stream a server writes and a client reads.
	Response MessageType = 2 // response
)

// Status is the outcome of one Parse call.
type Status uint8

const (
	// NeedMore: the buffer holds the beginning of a message but not enough of it to know its size.
	// Call again when more bytes arrived; Consumed is 0.
	NeedMore Status = iota // need-more
	// Complete: one message was parsed into the message; it spans Consumed bytes. Consumed may
	// exceed len(buf): the header announced a body that has not arrived, or was lost or truncated
	// by the kernel; the caller skips those bytes by stream position as they come.
	Complete // complete
	// Ignored: a whole protocol unit that is not a request or response to record (handshake,
	// authentication, a pub/sub push, an interim 1xx response). Skip Consumed bytes.
	Ignored // ignored
	// Invalid: the buffer does not start with a message. The caller resynchronises at
	// FindBoundary and counts the bytes it skipped.
	Invalid // invalid
)

// Result is what Parse found at the start of a buffer.
type Result struct {
	Status   Status
	Consumed int
}

// Frame is what every message says of itself, whatever its protocol: the part of a message the
// pipeline reads without knowing the protocol (sizes for records and metrics, success for
// metrics).
type Frame struct {
	Type MessageType
	// Size is the message's length on the wire, including bytes the caller never saw.
	Size int
	// Outcome is embedded, not three fields of Frame's own, so that a Frame has four fields: the
	// compiler keeps such structs in registers, and copies one of five through the stack, where
	// copying it again right after stalls on the narrower stores just made (store forwarding);
	// a few ns per message.
	Outcome
}

// Outcome is the part of a Frame that says how a message went.
type Outcome struct {
	// Truncated is set when the message's size is known but some of its bytes were not parsed
	// (a body past the end of the buffer, a statement longer than the normaliser's bound).
	Truncated bool
	// Success is the protocol's verdict on a response: the call succeeded.
	Success bool
	// OneWay marks a message that expects no answer (a publish without acknowledgement, a
	// delivery, a quiet command), in either direction: Conn emits it at once as a call of its
	// own (Exchange.OneWay), with no response and no latency, counted in MatchCounts.OneWay and
	// never unmatched. Success is then the message's own verdict (true unless it says error).
	OneWay bool
	// Partial: fields the message carries could not be decoded, because the state they depend on
	// was never seen (HTTP/2 header fields referring to HPACK entries sent before the connection
	// was joined, or in bytes lost). Those fields are empty, never guessed; calls with a partial
	// message are counted (calls.Counters.Partial). Truncated is set too.
	Partial bool
}

// Message is what a pointer to a protocol's message type implements: it tells its Frame. The
// pointer, so that the pipeline asks without copying the message.
type Message interface {
	Frame() Frame
}

// Parser is the parsing state of one connection, both directions, for a protocol whose messages
// are M. Some protocols need state: an HTTP response to HEAD has no body, a MySQL response's shape
// depends on the command, prepared statements are remembered by id. A Parser is used by one
// goroutine.
type Parser[M any] interface {
	// Parse examines buf, which the caller believes starts a message of type typ, and fills msg
	// (zeroed by the caller) when it returns Complete. It never retains buf.
	Parse(buf []byte, typ MessageType, msg *M) Result
	// FindBoundary returns the smallest offset > 0 in buf where a message of type typ may start,
	// or -1 when there is none.
	FindBoundary(buf []byte, typ MessageType) int
}

// LossListener is implemented by Parsers whose state depends on every byte of a direction having
// been parsed (HTTP/2's HPACK dynamic tables): Lost says bytes of direction typ were given up
// before the next buffer.
type LossListener interface {
	Lost(typ MessageType)
}

// Idler is implemented by Parsers whose state can come back to a new Parser's: Idle says it has,
// so that the Conn of a quiet connection can be dropped and made anew when the connection speaks
// again (Conn.Idle). A Parser that keeps what a connection negotiated (capabilities, a protocol
// version, compression tables) is never idle, and need not implement it.
type Idler interface {
	Idle() bool
}
