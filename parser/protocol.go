package parser

import (
	"net/netip"

	"github.com/netobserver/netobserver/abi"
)

// Protocol is one protocol's vertical as the pipeline sees it, whatever its message type. A
// protocol package makes one with Define.
type Protocol interface {
	// Kernel is the kernel side's name of the protocol: data events carry it.
	Kernel() abi.Protocol
	// Records says how records show the protocol's calls; its Name is the protocol's name.
	Records() *Records
	// Stream is what the stream buffers of the protocol's connections need to know.
	Stream() StreamHints
	// NewConn returns the L7 state of one new connection.
	NewConn(cfg ConnConfig) Conn
}

// Spec declares a protocol whose messages are M: everything the pipeline does that depends on
// the protocol. Define turns it into a Protocol.
type Spec[M any] struct {
	Kernel  abi.Protocol
	Records Records
	// NewParser returns the parsing state of one connection; strings come from in.
	NewParser func(in *Interner) Parser[M]
	// Matcher pairs requests with responses.
	Matcher Matcher[M]
	// FieldsProtocols and FieldsL4L7 render a call's protocol fields for the protocols schema
	// (A) and the l4_l7 schema (B) into f, in the order of Records.Protocols and
	// Records.L4L7.Names. They are part of the aggregation key, so they hold only what is meant
	// to be aggregated over (a path without its query, a normalised statement). They run once
	// per call of the schema configured, and should not allocate. (The l4_l7 schema of redis,
	// mysql and pgsql lower-cases the verb with strings.ToLower, one small allocation per call,
	// as before the verticals.) For a one-way call (Frame.OneWay) req is the one-way message,
	// whatever its direction, and resp a zero M. (f rather than a result: six strings returned
	// through a call are copied from the stack 16 bytes at a time, which waits for the stores
	// that wrote them, a store-forwarding stall per call.)
	FieldsProtocols, FieldsL4L7 func(req, resp *M, f *Fields)
	Stream                      StreamHints
}

// Records says how records show a protocol's calls.
type Records struct {
	// Name is the protocol field of records: http, redis, mysql, pgsql, dns.
	Name string
	// RemoteType is the remote_type of a client's calls in schema A: what it talks to (server,
	// database, dns, mq).
	RemoteType string
	// Protocols names the protocol fields of the protocols schema's records (schema A).
	Protocols []string
	// L4L7 is the l4_l7 schema's record the calls go to (schema B).
	L4L7 L7Record
}

// L7Record is one of the l4_l7 schema's two L7 records: its type and the names of its protocol
// fields.
type L7Record struct {
	Type  string
	Names []string
}

// The two L7 records of the l4_l7 schema: requests to servers, and queries to databases.
var (
	L7Req = L7Record{Type: "l7_req", Names: []string{"req_type", "req_domain", "req_resource", "version", "resp_status", "resp_code"}}
	L7DB  = L7Record{Type: "l7_db", Names: []string{"version", "query_cmd", "query", "status"}}
)

// MaxFields bounds the protocol fields of a record.
const MaxFields = 6

// Fields are a call's protocol field values, in the order the protocol's Records names them.
type Fields [MaxFields]string

// StreamHints are what a protocol tells the stream buffers of its connections.
type StreamHints struct {
	// GlueLengthHeader, when set, says whether a syscall of size wire bytes, whose first chunk's
	// payload is first, is the body of a packet whose 4-byte length header the client read just
	// before (header: the kernel side's length_header, as it was on the wire). The buffer then
	// places the header in front of it. MySQL clients read a packet's header and body apart.
	GlueLengthHeader func(header uint32, size uint64, first []byte) bool
	// FillTruncated: the kernel side sends this protocol's data blocks (values) as sizes, and the
	// parser, which never reads them but needs what follows them, gets them as zeros
	// (stream.Config.FillTruncated).
	FillTruncated bool
}

// HostName is a side output of the traffic: an answer that named an address (a DNS A or AAAA
// record), valid for TTL seconds. Records use it for remote_host.
type HostName struct {
	// Host is the name asked for.
	Host string
	Addr netip.Addr
	TTL  uint32
}

// Namer is implemented by the parsers of protocols whose responses name addresses (DNS).
type Namer[M any] interface {
	// Names tells to the names the complete response buf, parsed as msg, gives addresses.
	Names(buf []byte, msg *M, to NameSink)
}

// NameSink hears HostNames.
type NameSink interface {
	HostName(HostName)
}

// Define returns the Protocol that spec declares.
func Define[M any, P messagePtr[M]](spec Spec[M]) Protocol {
	if spec.NewParser == nil || spec.Matcher == nil || spec.FieldsProtocols == nil || spec.FieldsL4L7 == nil ||
		spec.Records.Name == "" || len(spec.Records.Protocols) > MaxFields || len(spec.Records.L4L7.Names) > MaxFields {
		panic("parser: incomplete Spec of protocol " + spec.Records.Name)
	}
	return &protocol[M, P]{spec}
}

// protocol is a Spec behind the Protocol interface.
type protocol[M any, P messagePtr[M]] struct{ spec Spec[M] }

// messagePtr is *M, whose Frame the pipeline calls: a message is not copied to tell its Frame.
type messagePtr[M any] interface {
	*M
	Message
}

func (p *protocol[M, P]) Kernel() abi.Protocol        { return p.spec.Kernel }
func (p *protocol[M, P]) Records() *Records           { return &p.spec.Records }
func (p *protocol[M, P]) Stream() StreamHints         { return p.spec.Stream }
func (p *protocol[M, P]) NewConn(cfg ConnConfig) Conn { return newConn[M, P](&p.spec, cfg) }

// Flag is a boolean as records write it: "1" or "0".
func Flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
