// Package dns parses DNS queries and responses (RFC 1035) for the network observer: over UDP, where
// one datagram is one message, and over TCP, where each message follows a 2-byte big-endian
// length (RFC 1035 §4.2.2, RFC 7766).
//
// # Framing
//
// The caller does not say which transport a connection uses, so Parse decides from the bytes. The
// first two bytes are taken as a TCP length prefix when all of this holds:
//
//   - their value L is at least 12 (a header),
//   - the 12 bytes after them form a sane header for the expected message type (QR bit, opcode,
//     reserved Z bit clear, no rcode in a query, 0..16 questions, at least one in a query, and
//     section counts whose minimum sizes fit in L), and
//   - walking the questions and records from there ends exactly L bytes after the prefix.
//
// Otherwise the bytes are read as a bare UDP message whose length is where its last record ends.
//
// The rule is ambiguous only for bytes that are a valid message both ways. A UDP datagram whose
// transaction ID happens to equal its length minus 2 passes the first test, but the shifted
// "header" the second test reads is made of the real flags (as an ID), the question count (as
// flags), the answer count (as a question count), and so on: a response then has QR clear (the
// question count is below 0x8000), and a query has rcode 1 (its question count is 1) or, failing
// that, would need its section walk to end exactly at the datagram's end. Real datagrams therefore
// fall through to the UDP reading and parse correctly; the tests check this for every vector. The
// converse, a TCP message read bare, has the real flags as question count (0x0100 and up for a
// query with RD set, 0x8000 and up for any response), far beyond the bound. When both readings
// are complete (only constructed bytes do that) the framing that last succeeded on the connection
// wins, TCP first on a fresh one, because its exact length is the stronger check.
//
// While a TCP message has not fully arrived, Parse returns NeedMore as long as its beginning is
// plausible. A UDP message cut short (the kernel copies at most 16 KiB of a datagram) also returns
// NeedMore, because its length is not written anywhere: the stream buffer's gap machinery is what
// moves the caller past it.
//
// # Names
//
// Query names are reported as sent (case kept), labels joined by '.', without the trailing dot;
// the root is ".". Several questions are comma-joined. Label bytes are not escaped. Compression
// pointers must point strictly backwards and past the header; a name is at most 255 wire bytes
// and 63 bytes per label; at most 64 pointers are followed. Anything else is Invalid.
//
// # Messages
//
// A query fills Method (the first question's type name, as iLogtail names it), Resource and ID;
// a response fills ID, Status (the rcode, extended by an OPT record), Answers (ANCOUNT) and
// Success (rcode 0 with at least one answer), and, because a response echoes its question,
// Method and Resource as well: a caller that lost the query can still record the answer.
// Responses are matched to queries by ID (see Protocol).
//
// AppendAddrs and AddrReader extract the A and AAAA records of a response, which the observer
// needs to name remote addresses (remote_host).
package dns

import (
	"github.com/netobserver/netobserver/parser"
)

// Conn is the parsing state of one DNS connection: the framing last seen and scratch space for
// names, reused so that parsing allocates nothing once a name has been interned.
type Conn struct {
	in      *parser.Interner
	framing framing
	names   []byte
	addrs   AddrReader
}

// NewConn returns the parsing state of one connection; names are interned in in.
func NewConn(in *parser.Interner) *Conn {
	return &Conn{in: in, names: make([]byte, 0, 256)}
}

// Parse examines the message at the start of buf. See the package documentation for framing and
// for what it fills in msg.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if typ != parser.Request && typ != parser.Response {
		return parser.Result{Status: parser.Invalid}
	}
	var in info
	c.names = c.names[:0]
	f, _, n, o := locate(buf, typ, c.framing, &c.names, &in)
	switch o {
	case short:
		return parser.Result{Status: parser.NeedMore}
	case bad:
		return parser.Result{Status: parser.Invalid}
	}
	c.framing = f
	*msg = Message{
		Type: typ,
		Size: n,
		ID:   uint32(in.h.id),
	}
	if in.h.qd > 0 {
		msg.Method = TypeName(in.qtype)
		msg.Resource = c.intern(c.names)
	}
	if typ == parser.Response {
		rcode := int(in.extRcode)<<4 | int(in.h.rcode())
		msg.Status = rcode
		msg.Answers = int(in.h.an)
		msg.Success = rcode == 0 && in.h.an > 0
	}
	return parser.Result{Status: parser.Complete, Consumed: n}
}

// FindBoundary returns the first offset after 0 where a message may start, or -1: where, in either
// framing, the header (as far as present) is sane and the first question's name (if any, and as
// far as present) is well formed. It does not walk whole messages, so that scanning n bytes costs
// O(n) name reads rather than O(n²); Parse then decides, and a false start costs one more
// Invalid and scan. Within the last 5 bytes, too few to see the flags behind a TCP length, a
// start is plausible unless its framing is already wrong, so the caller keeps at most a few stray
// bytes and finds out with the next ones.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	if typ != parser.Request && typ != parser.Response {
		return -1
	}
	for i := 1; i < len(buf); i++ {
		if plausibleTCP(buf[i:], typ) || plausibleUDP(buf[i:], typ) {
			return i
		}
	}
	return -1
}

// TypeName is the record type name iLogtail reports in query_type for qtype, or "UnKnown" (sic,
// as iLogtail spells it) for the types it does not name.
func TypeName(qtype uint16) string {
	switch qtype {
	case 1:
		return "A"
	case 2:
		return "NS"
	case 5:
		return "CNAME"
	case 6:
		return "SOA"
	case 12:
		return "PTR"
	case 15:
		return "MX"
	case 16:
		return "TXT"
	case 28:
		return "AAAA"
	case 33:
		return "SRV"
	case 65:
		return "HTTPS"
	case 255:
		return "ANY"
	}
	return "UnKnown"
}

// intern returns b as a string from the Interner, or a fresh string if the Conn has none.
func (c *Conn) intern(b []byte) string {
	if c.in == nil {
		return string(b)
	}
	return c.in.Bytes(b)
}
