package amqp

import (
	"bytes"
	"encoding/binary"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/keymask"
)

// Frame types.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xce
)

const (
	// maxHead bounds the bytes of a method frame's arguments, or of a content header, read: the
	// names are within the first 770 bytes of every method's arguments.
	maxHead = 1024
	// maxFrame bounds a frame's size: RabbitMQ's largest frame_max is 128 MiB.
	maxFrame = 128 << 20
	// defaultFrameMax is RabbitMQ's frame_max, for connections whose tune-ok was not seen.
	defaultFrameMax = 131072
	// maxChannels bounds the channels whose waiting synchronous methods a Conn counts.
	maxChannels = 64
)

var protocolHeader = []byte("AMQP")

// Message is one method frame, with the content header that follows a basic.publish,
// basic.deliver, basic.return or basic.get-ok.
type Message struct {
	Type parser.MessageType
	// Size is the method frame's, plus the content header's and the body frames' (from the body
	// size the content header announces).
	Size      int
	Truncated bool
	// Method is class.method, as the specification names it.
	Method  string
	Channel uint16
	// Exchange and Key are what the method names, masked (keymask.Mask): the exchange, and the
	// routing key (basic.publish, deliver, return, get-ok; exchange.bind) or the queue (queue.*,
	// basic.get, basic.consume).
	Exchange, Key string
	// Code is the reply code of a channel.close, connection.close or basic.return, -1 for none.
	Code int
	// Success: a reply other than a close with an error code, a return or a negative confirm.
	Success bool
	// OneWay: nothing answers it (see the package documentation).
	OneWay bool
	// cm is the method; answer, the reply a synchronous method waits for.
	cm, answer uint32
}

// Frame implements parser.Message.
func (m *Message) Frame() parser.Frame {
	return parser.Frame{Type: m.Type, Size: m.Size, Outcome: parser.Outcome{Truncated: m.Truncated, Success: m.Success, OneWay: m.OneWay}}
}

// channelCount is the number of synchronous methods waiting on a channel.
type channelCount struct{ ch, n uint16 }

// Conn is the parsing state of one connection: the frame_max the client agreed to, and the
// synchronous methods waiting per channel, which tell a channel.close the server sends in answer
// to one (a refused queue.declare) from one it sends on its own (a publish to no exchange).
type Conn struct {
	in       *parser.Interner
	frameMax int
	pending  []channelCount
	scratch  []byte
}

// NewConn returns the state of a new connection.
func NewConn(in *parser.Interner) *Conn {
	return &Conn{in: in, frameMax: defaultFrameMax, pending: make([]channelCount, 0, maxChannels),
		scratch: make([]byte, 0, keymask.MaxLen+16)}
}

func from(typ parser.MessageType) uint8 {
	if typ == parser.Request {
		return client
	}
	return server
}

// frameHead reads a frame header: n is 0 when buf is too short, -1 when it is not a frame.
func frameHead(buf []byte) (ftype uint8, ch uint16, size, n int) {
	if len(buf) == 0 {
		return 0, 0, 0, 0
	}
	ftype = buf[0]
	if ftype != frameMethod && ftype != frameHeader && ftype != frameBody && ftype != frameHeartbeat {
		return 0, 0, 0, -1
	}
	if len(buf) < 7 {
		return ftype, 0, 0, 0
	}
	ch, size = binary.BigEndian.Uint16(buf[1:]), int(binary.BigEndian.Uint32(buf[3:]))
	if size > maxFrame || ftype == frameHeartbeat && (ch != 0 || size != 0) ||
		(ftype == frameHeader || ftype == frameBody) && ch == 0 || ftype == frameMethod && size < 4 ||
		ftype == frameHeader && size < 14 {
		return 0, 0, 0, -1
	}
	return ftype, ch, size, 7
}

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if typ != parser.Request && typ != parser.Response {
		return parser.Result{Status: parser.Invalid}
	}
	if len(buf) > 0 && buf[0] == 'A' {
		// The protocol header, which a client opens with and a server answers a wrong one with.
		n := min(len(buf), len(protocolHeader))
		switch {
		case !bytes.Equal(buf[:n], protocolHeader[:n]):
			return parser.Result{Status: parser.Invalid}
		case len(buf) < 8:
			return parser.Result{Status: parser.NeedMore}
		}
		return parser.Result{Status: parser.Ignored, Consumed: 8}
	}
	ftype, ch, size, n := frameHead(buf)
	switch {
	case n < 0:
		return parser.Result{Status: parser.Invalid}
	case n == 0:
		return parser.Result{Status: parser.NeedMore}
	}
	total := n + size + 1
	if ftype == frameBody || ftype == frameHeader && size > maxHead {
		return parser.Result{Status: parser.Ignored, Consumed: total}
	}
	// A frame is read whole, with its frame end, up to maxHead bytes of payload.
	head := min(size, maxHead)
	if size <= maxHead {
		if len(buf) < total {
			return parser.Result{Status: parser.NeedMore}
		}
		if buf[total-1] != frameEnd {
			return parser.Result{Status: parser.Invalid}
		}
	} else if len(buf) < n+head {
		return parser.Result{Status: parser.NeedMore}
	}
	if ftype != frameMethod {
		return parser.Result{Status: parser.Ignored, Consumed: total} // heartbeat, stray header
	}
	payload := buf[n : n+head]
	id := cm(binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:]))
	meth, ok := methods[id]
	if !ok || meth.from&from(typ) == 0 || ch == 0 && id>>16 != classConnection || ch != 0 && id>>16 == classConnection {
		return parser.Result{Status: parser.Invalid}
	}
	args := payload[4:]
	*msg = Message{Type: typ, Size: total, Truncated: total > len(buf), Method: meth.name, Channel: ch, Code: -1,
		Success: true, cm: id, answer: meth.answer}
	nowait, ok := c.args(meth.args, id, args, msg)
	if !ok {
		*msg = Message{}
		return parser.Result{Status: parser.Invalid}
	}
	// The content header is waited for before the state changes: a NeedMore is parsed again.
	consumed := total
	if id == basicPublish || id == basicDeliver || id == basicReturn || id == basicGetOK {
		var more bool
		if consumed, more = c.content(buf, total, ch, msg); more {
			*msg = Message{}
			return parser.Result{Status: parser.NeedMore}
		}
	}
	role := meth.role
	switch {
	case role == request && typ == parser.Response:
		// The server's requests: a close answers what waits on the channel, or stands alone;
		// the client's answer to a flow or cancel is Ignored.
		if (id == channelClose || id == connectionClose) && c.waiting(ch, id == connectionClose) {
			role = reply
			c.clear(ch, id == connectionClose)
		} else {
			role = oneWay
		}
	case role == request && nowait:
		role = oneWay
	case role == request && id != channelClose && id != connectionClose:
		// Closes are not counted: a close the server sends while the client's own close waits
		// (both closing at once) stands alone; the close-ok answers the client's.
		c.wait(ch)
	case role == reply && typ == parser.Request:
		role = ignored // the client's close-ok, flow-ok or cancel-ok
	case role == reply && id != channelClose+1 && id != connectionClose+1:
		c.answered(ch)
	}
	if msg.Code >= 0 && msg.Code != 200 {
		msg.Success = false
	}
	switch role {
	case ignored:
		*msg = Message{}
		return parser.Result{Status: parser.Ignored, Consumed: total}
	case oneWay:
		msg.OneWay = true
		msg.answer = 0
		if id == cm(classBasic, 120) && typ == parser.Response { // a negative publisher confirm
			msg.Success = false
		}
	}
	return parser.Result{Status: parser.Complete, Consumed: consumed}
}

// content adds to msg the content header that follows its method frame, which ends at off, and
// the body frames that header announces. It returns the bytes consumed (the method and the
// header), or more when the header has not arrived.
func (c *Conn) content(buf []byte, off int, ch uint16, msg *Message) (int, bool) {
	if msg.Size > n7(maxHead) {
		return off, false // an outsize method frame: its content is not looked for
	}
	ftype, hch, size, n := frameHead(buf[min(off, len(buf)):])
	switch {
	case n == 0:
		return 0, true
	case n < 0 || ftype != frameHeader || hch != ch || size > maxHead:
		return off, false
	}
	end := off + n + size + 1
	if len(buf) < end {
		return 0, true
	}
	if buf[end-1] != frameEnd {
		return off, false
	}
	body := int(min(binary.BigEndian.Uint64(buf[off+n+4:]), maxFrame*1024))
	perFrame := c.frameMax - 8
	msg.Size = end + body + (body+perFrame-1)/perFrame*8
	return end, false
}

// n7 is the size of a method frame with head bytes of payload.
func n7(head int) int { return 7 + head + 1 }

// args reads the names, reply code and no-wait flag of the method id from its arguments a.
func (c *Conn) args(layout args, id uint32, a []byte, msg *Message) (nowait, ok bool) {
	r := reader{b: a}
	switch layout {
	case argsQueue, argsConsume:
		r.skip(2)
		msg.Key = c.name(r.shortstr())
		if layout == argsConsume {
			r.shortstr()
		}
	case argsQueueBind:
		r.skip(2)
		msg.Key = c.name(r.shortstr())
		msg.Exchange = c.name(r.shortstr())
		r.shortstr()
	case argsExchange:
		r.skip(2)
		msg.Exchange = c.name(r.shortstr())
		if id == cm(classExchange, 10) {
			r.shortstr() // type
		}
	case argsExchangeBind:
		r.skip(2)
		msg.Exchange = c.name(r.shortstr())
		r.shortstr()
		msg.Key = c.name(r.shortstr())
	case argsPublish:
		r.skip(2)
		msg.Exchange = c.name(r.shortstr())
		msg.Key = c.name(r.shortstr())
	case argsReturn:
		msg.Code = int(r.short())
		r.shortstr()
		msg.Exchange = c.name(r.shortstr())
		msg.Key = c.name(r.shortstr())
	case argsDeliver:
		r.shortstr()
		r.skip(9)
		msg.Exchange = c.name(r.shortstr())
		msg.Key = c.name(r.shortstr())
	case argsGetOK:
		r.skip(9)
		msg.Exchange = c.name(r.shortstr())
		msg.Key = c.name(r.shortstr())
	case argsClose:
		msg.Code = int(r.short())
	case argsCancel:
		r.shortstr()
	case argsTune:
		r.skip(2)
		if fm := int(r.long()); fm >= 4096 && fm <= maxFrame && !r.bad {
			c.frameMax = fm
		} else if fm == 0 && !r.bad {
			c.frameMax = maxFrame // no limit
		}
	}
	if bit := nowaitBit(id); bit >= 0 {
		nowait = r.octet()>>bit&1 != 0
	}
	return nowait, !r.bad
}

// name masks a name; amq.gen-… names, which the server generates, become amq.gen-?.
func (c *Conn) name(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if bytes.HasPrefix(b, []byte("amq.gen-")) {
		return "amq.gen-?"
	}
	c.scratch = keymask.Mask(c.scratch[:0], b, '.')
	return c.in.Bytes(c.scratch)
}

// waiting says whether a synchronous method waits on channel ch (on any, when any).
func (c *Conn) waiting(ch uint16, any bool) bool {
	for _, p := range c.pending {
		if (any || p.ch == ch) && p.n > 0 {
			return true
		}
	}
	return false
}

func (c *Conn) wait(ch uint16) {
	for i := range c.pending {
		if c.pending[i].ch == ch {
			c.pending[i].n++
			return
		}
	}
	if len(c.pending) < maxChannels {
		c.pending = append(c.pending, channelCount{ch, 1})
	}
}

func (c *Conn) answered(ch uint16) {
	for i := range c.pending {
		if c.pending[i].ch == ch {
			if c.pending[i].n--; c.pending[i].n == 0 {
				c.pending = append(c.pending[:i], c.pending[i+1:]...)
			}
			return
		}
	}
}

// clear forgets what waited on channel ch (on every channel, when all): it closed.
func (c *Conn) clear(ch uint16, all bool) {
	if all {
		c.pending = c.pending[:0]
		return
	}
	for i := range c.pending {
		if c.pending[i].ch == ch {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
}

// FindBoundary implements parser.Parser: the next method frame of a known method that typ's
// side sends, or a protocol header.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	for i := 1; i < len(buf); i++ {
		if buf[i] == 'A' && i+8 <= len(buf) && bytes.Equal(buf[i:i+4], protocolHeader) {
			return i
		}
		if buf[i] != frameMethod || i+11 > len(buf) {
			continue
		}
		ftype, _, _, n := frameHead(buf[i:])
		if n <= 0 || ftype != frameMethod {
			continue
		}
		id := cm(binary.BigEndian.Uint16(buf[i+7:]), binary.BigEndian.Uint16(buf[i+9:]))
		if m, ok := methods[id]; ok && m.from&from(typ) != 0 {
			return i
		}
	}
	return -1
}

// reader reads AMQP fields; past the end of its bytes it reads zeros and sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) skip(n int) { r.take(n) }

func (r *reader) octet() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) short() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) long() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) shortstr() []byte { return r.take(int(r.octet())) }
