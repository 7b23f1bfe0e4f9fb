package dns

import "github.com/netobserver/netobserver/parser"

// Wire-format limits (RFC 1035 §2.3.4, §4.1) and the sanity bounds this parser adds to tell DNS
// from other bytes.
const (
	headerLen = 12
	// maxMsgLen is the largest DNS message: TCP's 2-byte length prefix and UDP's datagram size
	// both stop at 65535.
	maxMsgLen = 65535
	// maxNameWire is the longest name on the wire: length octets, labels and the root octet.
	maxNameWire = 255
	maxLabelLen = 63
	// maxHops bounds the compression pointers followed while decoding one name. Pointers must
	// already point strictly backwards (which alone guarantees termination); the bound keeps
	// the work per name small on hostile input. A 255-byte name has at most 127 labels; real
	// compressors emit one pointer per name.
	maxHops = 64
	// maxQuestions: real messages carry one question (most servers refuse more); a few are
	// allowed for completeness. A larger count means the bytes are not DNS.
	maxQuestions = 16
	// minQuestionLen is the root name plus QTYPE and QCLASS; minRRLen adds TTL and RDLENGTH.
	minQuestionLen = 5
	minRRLen       = 11

	typeA    = 1
	typeAAAA = 28
	typeOPT  = 41
)

// Header flag bits (RFC 1035 §4.1.1, RFC 2535 for AD/CD).
const (
	flagQR   = 0x8000
	flagZ    = 0x0040
	maskCode = 0x000f
)

// outcome is the result of examining bytes: a whole message, too few bytes to tell, or not DNS.
type outcome uint8

const (
	complete outcome = iota
	short
	bad
)

// header is the fixed 12-byte DNS header.
type header struct {
	id, flags      uint16
	qd, an, ns, ar uint16
}

func (h header) rcode() uint8 { return uint8(h.flags & maskCode) }

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func readHeader(b []byte) header {
	return header{
		id:    be16(b),
		flags: be16(b[2:]),
		qd:    be16(b[4:]),
		an:    be16(b[6:]),
		ns:    be16(b[8:]),
		ar:    be16(b[10:]),
	}
}

// saneFlags checks the parts of the header that do not depend on the section counts: the QR bit
// must say what the caller expects, the opcode must be assigned (QUERY 0, IQUERY 1, STATUS 2,
// NOTIFY 4, UPDATE 5), the reserved Z bit must be clear, and a query carries no rcode.
func saneFlags(f uint16, typ parser.MessageType) bool {
	response := f&flagQR != 0
	if response != (typ == parser.Response) {
		return false
	}
	switch uint8(f>>11) & 0xf {
	case 0, 1, 2, 4, 5:
	default:
		return false
	}
	if f&flagZ != 0 {
		return false
	}
	return response || f&maskCode == 0
}

// saneQD bounds the question count: a query asks at least one question; a response may echo
// none (some FORMERR/NOTIMP answers do).
func saneQD(qd uint16, typ parser.MessageType) bool {
	if qd > maxQuestions {
		return false
	}
	return qd > 0 || typ == parser.Response
}

// saneHeader checks a whole header, and that its counts can fit in room bytes after it.
func saneHeader(h header, typ parser.MessageType, room int) bool {
	if !saneFlags(h.flags, typ) || !saneQD(h.qd, typ) {
		return false
	}
	need := int(h.qd)*minQuestionLen + (int(h.an)+int(h.ns)+int(h.ar))*minRRLen
	return need <= room-headerLen
}

// saneHeaderPrefix checks what is available of a header shorter than 12 bytes, so that a few
// garbage bytes are Invalid at once rather than NeedMore forever.
func saneHeaderPrefix(b []byte, typ parser.MessageType) bool {
	if len(b) >= 4 && !saneFlags(be16(b[2:]), typ) {
		return false
	}
	if len(b) >= 6 && !saneQD(be16(b[4:]), typ) {
		return false
	}
	return true
}

// readName reads the name at off in msg. It returns the offset just after the name where it
// sits (after its first compression pointer, if any). If dst is non-nil the presentation form is
// appended to *dst. Names are bounded by maxNameWire bytes, labels by maxLabelLen; compression
// pointers must point strictly backwards, past the header, and are followed at most maxHops
// times.
//
// Running out of msg before the first pointer is short (more bytes may complete the name);
// anything wrong after following a pointer is bad, because a pointer's target lies entirely
// before the pointer, in bytes already seen.
func readName(msg []byte, off int, dst *[]byte) (int, outcome) {
	pos, limit := off, len(msg)
	next := -1  // offset after the name in place, fixed by the first pointer or the root
	wire := 0   // wire bytes of the name so far
	hops := 0   // pointers followed
	labels := 0 // labels appended
	for {
		if pos >= limit {
			return 0, outOfBytes(hops)
		}
		l := int(msg[pos])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if next < 0 {
					next = pos + 1
				}
				if dst != nil && labels == 0 {
					*dst = append(*dst, '.')
				}
				return next, complete
			}
			// +1 for this length octet, +1 for the root octet still to come.
			wire += 1 + l
			if wire+1 > maxNameWire {
				return 0, bad
			}
			if pos+1+l > limit {
				return 0, outOfBytes(hops)
			}
			if dst != nil {
				if labels > 0 {
					*dst = append(*dst, '.')
				}
				*dst = append(*dst, msg[pos+1:pos+1+l]...)
			}
			labels++
			pos += 1 + l
		case 0xc0:
			if pos+1 >= limit {
				return 0, outOfBytes(hops)
			}
			target := (l&0x3f)<<8 | int(msg[pos+1])
			if next < 0 {
				next = pos + 2
			}
			hops++
			if target >= pos || target < headerLen || hops > maxHops {
				return 0, bad
			}
			limit, pos = pos, target
		default:
			// 0x40 and 0x80 are the obsolete extended and binary label types (RFC 6891 §5).
			return 0, bad
		}
	}
}

func outOfBytes(hops int) outcome {
	if hops > 0 {
		return bad
	}
	return short
}

// info is what a walk learns about a message besides its length.
type info struct {
	h header
	// qtype is the type of the first question (0 when there is none).
	qtype uint16
	// extRcode holds the upper 8 bits of a 12-bit rcode, from an OPT record (RFC 6891 §6.1.3).
	extRcode uint8
}

// walk measures the message at the start of msg: header, questions and all resource records.
// If exact, msg is the whole message (DNS over TCP, whose length is known) and the records must
// end exactly at len(msg); otherwise msg holds at least the start of a message that may be
// followed by other bytes, and the message ends where its last record ends. Question names are
// appended to *names (comma-separated) when names is non-nil. The header has been checked.
func walk(msg []byte, exact bool, names *[]byte, in *info) (int, outcome) {
	miss := short
	if exact {
		miss = bad
	}
	if len(msg) < headerLen {
		return 0, miss
	}
	h := readHeader(msg)
	in.h = h
	off := headerLen
	for i := 0; i < int(h.qd); i++ {
		if names != nil && i > 0 {
			*names = append(*names, ',')
		}
		n, o := readName(msg, off, names)
		if o != complete {
			return 0, worst(o, miss)
		}
		if n+4 > len(msg) {
			return 0, miss
		}
		if i == 0 {
			in.qtype = be16(msg[n:])
		}
		off = n + 4
	}
	rrs := int(h.an) + int(h.ns) + int(h.ar)
	for i := 0; i < rrs; i++ {
		n, o := readName(msg, off, nil)
		if o != complete {
			return 0, worst(o, miss)
		}
		if n+10 > len(msg) {
			return 0, miss
		}
		rdlen := int(be16(msg[n+8:]))
		if be16(msg[n:]) == typeOPT && i >= int(h.an)+int(h.ns) {
			// OPT's TTL field: extended rcode, version, flags.
			in.extRcode = msg[n+4]
		}
		off = n + 10 + rdlen
		if off > maxMsgLen {
			return 0, bad
		}
		if off > len(msg) {
			return 0, miss
		}
	}
	if exact && off != len(msg) {
		return 0, bad
	}
	return off, complete
}

// worst turns a short name into miss (bad when the message length is known) and keeps bad.
func worst(o, miss outcome) outcome {
	if o == bad {
		return bad
	}
	return miss
}

// framing says how a message was found: on its own (UDP) or behind a 2-byte length (TCP).
type framing uint8

const (
	framingUnknown framing = iota
	framingUDP
	framingTCP
)

// asTCP examines buf as DNS over TCP: a big-endian 2-byte length, then exactly that many bytes
// of one message. It returns the total length including the prefix.
func asTCP(buf []byte, typ parser.MessageType, names *[]byte, in *info) (int, outcome) {
	if len(buf) < 2 {
		return 0, short
	}
	l := int(be16(buf))
	if l < headerLen {
		return 0, bad
	}
	body := buf[2:]
	if len(body) < headerLen {
		if !saneHeaderPrefix(body, typ) {
			return 0, bad
		}
		return 0, short
	}
	if !saneHeader(readHeader(body), typ, l) {
		return 0, bad
	}
	if len(body) < l {
		// Not all of it yet: what is there must be a plausible beginning.
		if _, o := walk(body, false, names, in); o != short {
			// complete means the records ended before the announced length: not this framing.
			return 0, bad
		}
		return 0, short
	}
	if _, o := walk(body[:l], true, names, in); o != complete {
		return 0, bad
	}
	return 2 + l, complete
}

// asUDP examines buf as a bare message (one UDP datagram; the caller may have concatenated
// several). Its length is where its last record ends.
func asUDP(buf []byte, typ parser.MessageType, names *[]byte, in *info) (int, outcome) {
	if len(buf) < headerLen {
		if !saneHeaderPrefix(buf, typ) {
			return 0, bad
		}
		return 0, short
	}
	if !saneHeader(readHeader(buf), typ, maxMsgLen) {
		return 0, bad
	}
	return walk(buf, false, names, in)
}

// locate finds the message at the start of buf, trying the framing in prefer first. It returns
// the framing, the offset of the DNS header in buf, the total length (prefix included), and the
// outcome. See the package documentation for the rule and its ambiguity.
func locate(buf []byte, typ parser.MessageType, prefer framing, names *[]byte, in *info) (framing, int, int, outcome) {
	first, second := framingTCP, framingUDP
	if prefer == framingUDP {
		first, second = second, first
	}
	mark := 0
	if names != nil {
		mark = len(*names)
	}
	n1, o1 := try(first, buf, typ, names, in)
	if o1 == complete {
		return first, headerOffset(first), n1, complete
	}
	if names != nil {
		*names = (*names)[:mark]
	}
	*in = info{}
	n2, o2 := try(second, buf, typ, names, in)
	if o2 == complete {
		return second, headerOffset(second), n2, complete
	}
	if o1 == short || o2 == short {
		return framingUnknown, 0, 0, short
	}
	return framingUnknown, 0, 0, bad
}

// try calls asTCP or asUDP directly rather than through a func value, which would make the
// caller's info and name scratch escape to the heap.
func try(f framing, buf []byte, typ parser.MessageType, names *[]byte, in *info) (int, outcome) {
	if f == framingTCP {
		return asTCP(buf, typ, names, in)
	}
	return asUDP(buf, typ, names, in)
}

func headerOffset(f framing) int {
	if f == framingTCP {
		return 2
	}
	return 0
}

// plausibleUDP reports whether a bare message may start at buf[0]: sane header and first name.
func plausibleUDP(buf []byte, typ parser.MessageType) bool {
	if len(buf) < headerLen {
		return saneHeaderPrefix(buf, typ)
	}
	h := readHeader(buf)
	return saneHeader(h, typ, maxMsgLen) && plausibleQuestion(buf, h)
}

// plausibleTCP reports whether a length-prefixed message may start at buf[0].
func plausibleTCP(buf []byte, typ parser.MessageType) bool {
	if len(buf) < 2 {
		return true
	}
	l := int(be16(buf))
	if l < headerLen {
		return false
	}
	body := buf[2:]
	if len(body) > l {
		body = body[:l]
	}
	if len(body) < headerLen {
		return saneHeaderPrefix(body, typ)
	}
	h := readHeader(body)
	return saneHeader(h, typ, l) && plausibleQuestion(body, h)
}

// plausibleQuestion reads the first question's name, if any; running out of bytes is plausible.
func plausibleQuestion(msg []byte, h header) bool {
	if h.qd == 0 {
		return true
	}
	_, o := readName(msg, headerLen, nil)
	return o != bad
}
