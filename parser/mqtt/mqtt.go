package mqtt

import (
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/keymask"
)

// Packet types, the high nibble of a fixed header.
const (
	connect     = 1
	connack     = 2
	publish     = 3
	puback      = 4
	pubrec      = 5
	pubrel      = 6
	pubcomp     = 7
	subscribe   = 8
	suback      = 9
	unsubscribe = 10
	unsuback    = 11
	pingreq     = 12
	pingresp    = 13
	disconnect  = 14
	auth        = 15
)

var packetNames = [16]string{"", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// maxHead bounds the bytes of a packet, after its fixed header, read for its fields (the first
// topic filter of a SUBSCRIBE, the reason codes of a SUBACK); a PUBLISH's topic and packet id are
// read whatever their length (a topic is at most 65535 bytes).
const maxHead = 1024

// maxRemaining is the largest remaining length the 4-byte encoding holds.
const maxRemaining = 268435455

// Message is one MQTT control packet.
type Message struct {
	Type      parser.MessageType
	Size      int
	Truncated bool
	// Packet is the packet type's name (PUBLISH, SUBACK, …), DELIVERY for a PUBLISH the server
	// sends (a delivery to a subscriber).
	Packet string
	// Topic is a PUBLISH's topic, or a SUBSCRIBE's or UNSUBSCRIBE's first topic filter, masked
	// (keymask.Mask).
	Topic string
	// ID is the packet identifier of the packets that have one.
	ID   uint16
	kind uint8
	QoS  uint8
	// Version is the protocol level of the connection's CONNECT (3: 3.1, 4: 3.1.1, 5), 0 before
	// one was seen.
	Version uint8
	// Code is a response's return or reason code (the first failing one of a SUBACK or
	// UNSUBACK), or a v5 DISCONNECT's; -1 when the packet carries none.
	Code int
	// Success: a response without an error code (below 0x80; a 3.1.1 CONNACK's 0).
	Success bool
	// OneWay: nothing answers it (PUBLISH QoS 0, a delivery, DISCONNECT).
	OneWay bool
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success, OneWay: m.OneWay}}
}

// pairID is what pairs a response with its request: the request's packet type and packet id.
func pairID(m *Message) uint64 {
	k := m.kind
	switch k {
	case connack, suback, unsuback, pingresp:
		k--
	case puback, pubrec:
		k = publish
	case pubcomp:
		k = pubrel
	}
	return uint64(k)<<16 | uint64(m.ID)
}

// Conn is the parsing state of one connection: the protocol level its CONNECT announced, which
// decides whether packets carry v5 properties.
type Conn struct {
	in      *parser.Interner
	version uint8
	scratch []byte
}

// NewConn returns the state of a new connection.
func NewConn(in *parser.Interner) *Conn {
	return &Conn{in: in, scratch: make([]byte, 0, keymask.MaxLen+8)}
}

// header reads a fixed header: the type and flags byte and the remaining length. n is the
// header's length, 0 when buf is too short to tell, -1 when it is not a header.
func header(buf []byte) (kind, flags uint8, rem, n int) {
	if len(buf) == 0 {
		return 0, 0, 0, 0
	}
	kind, flags = buf[0]>>4, buf[0]&0x0f
	mult := 1
	for i := 1; i <= 4; i++ {
		if i >= len(buf) {
			return kind, flags, 0, 0
		}
		rem += int(buf[i]&0x7f) * mult
		if buf[i]&0x80 == 0 {
			if i > 1 && buf[i] == 0 { // not the shortest encoding
				return kind, flags, 0, -1
			}
			return kind, flags, rem, i + 1
		}
		mult <<= 7
	}
	return kind, flags, 0, -1
}

// valid says whether a packet of kind with flags and rem may travel in the stream typ.
func valid(kind, flags uint8, rem int, typ parser.MessageType) bool {
	switch kind {
	case publish:
		return flags&0x06 != 0x06 && rem >= 2
	case pubrel, subscribe, unsubscribe:
		if flags != 0x02 {
			return false
		}
	default:
		if flags != 0 {
			return false
		}
	}
	switch kind {
	case connect:
		return typ == parser.Request && rem >= 10
	case connack:
		return typ == parser.Response && rem >= 2
	case puback, pubrec, pubrel, pubcomp:
		return rem >= 2
	case subscribe, unsubscribe:
		return typ == parser.Request && rem >= 5
	case suback:
		return typ == parser.Response && rem >= 3
	case unsuback:
		return typ == parser.Response && rem >= 2
	case pingreq:
		return typ == parser.Request && rem == 0
	case pingresp:
		return typ == parser.Response && rem == 0
	case disconnect, auth:
		return true
	}
	return false
}

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if typ != parser.Request && typ != parser.Response {
		return parser.Result{Status: parser.Invalid}
	}
	kind, flags, rem, n := header(buf)
	switch {
	case n < 0:
		return parser.Result{Status: parser.Invalid}
	case len(buf) > 0 && !valid(kind, flags, maxRemaining, typ) && !valid(kind, flags, 0, typ) && !valid(kind, flags, 2, typ):
		return parser.Result{Status: parser.Invalid} // wrong type or flags, known from the first byte
	case n == 0:
		return parser.Result{Status: parser.NeedMore}
	case !valid(kind, flags, rem, typ):
		return parser.Result{Status: parser.Invalid}
	}
	total := n + rem
	need := n + min(rem, maxHead)
	if kind == publish {
		if len(buf) < n+2 {
			return parser.Result{Status: parser.NeedMore}
		}
		need = n + 2 + (int(buf[n])<<8 | int(buf[n+1]))
		if flags&0x06 != 0 {
			need += 2
		}
		if need > total {
			return parser.Result{Status: parser.Invalid}
		}
	}
	if len(buf) < need {
		return parser.Result{Status: parser.NeedMore}
	}
	// The acknowledgements of deliveries (the client's PUBACK, PUBREC and PUBCOMP, the server's
	// PUBREL) belong to the delivery, a one-way call; AUTH is the v5 authentication exchange.
	if kind == auth || typ == parser.Request && (kind == puback || kind == pubrec || kind == pubcomp) ||
		typ == parser.Response && kind == pubrel {
		return parser.Result{Status: parser.Ignored, Consumed: total}
	}
	body := buf[n:need]
	*msg = Message{Type: typ, Size: total, Truncated: total > len(buf), Packet: packetNames[kind], kind: kind,
		Code: -1, Version: c.version}
	ok := true
	switch kind {
	case connect:
		ok = c.connect(body, msg)
	case connack:
		msg.Code = int(body[1])
		msg.Success = body[1] == 0 || c.version == 5 && body[1] < 0x80
	case publish:
		msg.QoS = flags >> 1 & 3
		tl := int(body[0])<<8 | int(body[1])
		msg.Topic = c.mask(body[2 : 2+tl])
		if msg.QoS > 0 {
			msg.ID = uint16(body[2+tl])<<8 | uint16(body[3+tl])
		}
		// A delivery is answered by the client, which this records as part of it. Records name
		// it DELIVERY, apart from the client's own publishes.
		msg.OneWay = msg.QoS == 0 || typ == parser.Response
		if typ == parser.Response {
			msg.Packet = "DELIVERY"
		}
		msg.Success = true
	case puback, pubrec, pubrel, pubcomp, unsuback:
		msg.ID = uint16(body[0])<<8 | uint16(body[1])
		msg.Success = true
		if kind == unsuback && c.version == 5 {
			ok = c.codes(body[2:], rem-2, msg)
		} else if len(body) > 2 {
			msg.Code = int(body[2])
			msg.Success = body[2] < 0x80
		} else if typ == parser.Response {
			msg.Code = 0
		}
	case suback:
		msg.ID = uint16(body[0])<<8 | uint16(body[1])
		ok = c.codes(body[2:], rem-2, msg)
	case subscribe, unsubscribe:
		msg.ID = uint16(body[0])<<8 | uint16(body[1])
		ok = c.firstFilter(body[2:], msg)
	case pingresp:
		msg.Success, msg.Code = true, 0
	case disconnect:
		msg.OneWay = true
		if len(body) > 0 {
			msg.Code = int(body[0])
		} else if c.version == 5 || typ == parser.Response {
			msg.Code = 0
		}
		msg.Success = msg.Code < 0x80
	}
	if !ok {
		*msg = Message{}
		return parser.Result{Status: parser.Invalid}
	}
	return parser.Result{Status: parser.Complete, Consumed: total}
}

// connect reads the protocol name and level, and remembers the level.
func (c *Conn) connect(body []byte, msg *Message) bool {
	nl := int(body[0])<<8 | int(body[1])
	if nl != 4 && nl != 6 || len(body) < 2+nl+1 {
		return false
	}
	name, level := string(body[2:2+nl]), body[2+nl]
	if !(name == "MQTT" && (level == 4 || level == 5) || name == "MQIsdp" && level == 3) {
		return false
	}
	c.version, msg.Version = level, level
	return true
}

// props skips the v5 properties at the start of b, returning what follows; ok is false when the
// length does not fit in b.
func props(b []byte) ([]byte, bool) {
	n, l := 0, 0
	for i, mult := 0, 1; ; i, mult = i+1, mult<<7 {
		if i == 4 || i >= len(b) {
			return nil, false
		}
		n += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			l = i + 1
			break
		}
	}
	if n > len(b)-l {
		return nil, false
	}
	return b[l+n:], true
}

// codes reads the reason codes of a SUBACK or UNSUBACK (v5: after properties). b is what was
// read of the rem bytes after the packet id; codes past it are not examined.
func (c *Conn) codes(b []byte, rem int, msg *Message) bool {
	if c.version == 5 {
		var ok bool
		if b, ok = props(b); !ok {
			msg.Truncated = len(b) < rem
			msg.Success = true
			return len(b) < rem
		}
	}
	msg.Success = true
	for i, code := range b {
		if i == 0 || msg.Success && code >= 0x80 {
			msg.Code = int(code)
		}
		if code >= 0x80 {
			msg.Success = false
		}
	}
	return true
}

// firstFilter reads the first topic filter of a SUBSCRIBE or UNSUBSCRIBE (v5: after properties).
func (c *Conn) firstFilter(b []byte, msg *Message) bool {
	if c.version == 5 {
		var ok bool
		if b, ok = props(b); !ok {
			return false
		}
	}
	if len(b) < 2 {
		return false
	}
	fl := int(b[0])<<8 | int(b[1])
	f := b[2:]
	if fl <= len(f) {
		f = f[:fl]
	} else {
		msg.Truncated = true // the filter goes past maxHead: its beginning is recorded
	}
	msg.Topic = c.mask(f)
	return true
}

func (c *Conn) mask(topic []byte) string {
	c.scratch = keymask.Mask(c.scratch[:0], topic, '/')
	return c.in.Bytes(c.scratch)
}

// FindBoundary implements parser.Parser: the next offset where a valid fixed header of a packet
// whose whole header fits in buf may start. MQTT has no sync marker, so this is a guess; the
// next Parse validates the packet's fields.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	for i := 1; i < len(buf); i++ {
		kind, flags, rem, n := header(buf[i:])
		if n > 0 && valid(kind, flags, rem, typ) && (kind != publish || rem >= 3) {
			return i
		}
	}
	return -1
}
