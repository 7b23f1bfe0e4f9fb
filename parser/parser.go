// Package parser defines the contract between stream reassembly (package observer) and the
// per-protocol parsers in its subpackages (parser/http, parser/redis, parser/mysql, parser/pgsql,
// parser/dns), after the parse/stitch split of Pixie's socket tracer.
//
// Reassembly hands a parser the contiguous bytes of one direction of one connection, starting where
// it believes a message starts. The parser says what it found there (a Result) and fills a Message.
// Matching requests with responses is the caller's job, in the order Matching names.
//
// Parsers are pure functions of their input and the per-connection Conn state: no I/O, no clocks,
// no goroutines, no panics on any input, no allocation per byte and, in steady state, none per
// message (strings come from an Interner).
package parser

// MessageType says which side of an exchange a byte stream carries.
type MessageType uint8

const (
	// Request is the stream a client writes and a server reads.
	Request MessageType = 1
	// Response is the stream a server writes and a client reads.
	Response MessageType = 2
)

func (t MessageType) String() string {
	switch t {
	case Request:
		return "request"
	case Response:
		return "response"
	}
	return "unknown"
}

// Status is the outcome of one Parse call.
type Status uint8

const (
	// NeedMore: the buffer holds the beginning of a message but not enough of it to know its size.
	// Call again when more bytes arrived; Consumed is 0.
	NeedMore Status = iota
	// Complete: one message was parsed into the Message; it spans Consumed bytes. Consumed may
	// exceed len(buf): the header announced a body that has not arrived, or was lost or truncated
	// by the kernel; the caller skips those bytes by stream position as they come.
	Complete
	// Ignored: a whole protocol unit that is not a request or response to record (handshake,
	// authentication, a pub/sub push, an interim 1xx response). Skip Consumed bytes.
	Ignored
	// Invalid: the buffer does not start with a message. The caller resynchronises at
	// FindBoundary and counts the bytes it skipped.
	Invalid
)

func (s Status) String() string {
	switch s {
	case NeedMore:
		return "need-more"
	case Complete:
		return "complete"
	case Ignored:
		return "ignored"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// Result is what Parse found at the start of a buffer.
type Result struct {
	Status   Status
	Consumed int
}

// Message is one parsed request or response. The meaning of each field per protocol:
//
//	         Method             Host   Resource                   Version  Status       Success
//	http     GET, POST, ...     Host   path without query         1.1/1.0  status code  status < 400
//	redis    GET, CLIENT SETINFO -     -                          -        -            not an error reply
//	mysql    SELECT, ... (verb) -      normalised statement       -        -            not ERR
//	pgsql    SELECT, ... (verb) -      normalised statement       -        -            no ErrorResponse
//	dns      A, AAAA, ... qtype -      query names, comma-joined  -        rcode        NOERROR with answers
//
// Request fields are set on requests, response fields on responses. Strings are interned: they
// stay valid forever and cost no allocation when seen before.
type Message struct {
	Type MessageType
	// Size is the message's length on the wire, including bytes the caller never saw.
	Size int
	// Truncated is set when the message's size is known but some of its bytes were not parsed
	// (a body past the end of the buffer, a statement longer than the normaliser's bound).
	Truncated bool
	// ID pairs DNS queries with answers (the transaction id); zero elsewhere.
	ID uint32

	Method   string
	Host     string
	Resource string
	Version  string

	Status  int
	Success bool
	// Answers is the number of DNS answer records; zero elsewhere.
	Answers int
}

// Matching is how a protocol pairs requests with responses on one connection.
type Matching uint8

const (
	// MatchInOrder pairs the n-th response with the n-th request (HTTP/1, Redis, MySQL, PgSQL).
	MatchInOrder Matching = iota
	// MatchByID pairs a response with the pending request of the same Message.ID (DNS).
	MatchByID
)

// Conn is the parsing state of one connection, both directions. Some protocols need it: an HTTP
// response to HEAD has no body, a MySQL response's shape depends on the command, prepared
// statements are remembered by id. A Conn is used by one goroutine.
type Conn interface {
	// Parse examines buf, which the caller believes starts a message of type typ, and fills msg
	// when it returns Complete. It never retains buf.
	Parse(buf []byte, typ MessageType, msg *Message) Result
	// FindBoundary returns the smallest offset > 0 in buf where a message of type typ may start,
	// or -1 when there is none.
	FindBoundary(buf []byte, typ MessageType) int
}

// Protocol creates per-connection parsing state and says how its messages are matched.
type Protocol interface {
	// Name is the protocol's name in records: http, redis, mysql, pgsql, dns.
	Name() string
	Matching() Matching
	// NewConn returns fresh state for one connection; strings come from in.
	NewConn(in *Interner) Conn
}
