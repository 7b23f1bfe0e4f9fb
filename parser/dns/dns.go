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
