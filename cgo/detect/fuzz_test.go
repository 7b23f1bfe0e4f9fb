package detect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/dns"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/kafka"
	"github.com/netobserver/netobserver/parser/memcached"
	"github.com/netobserver/netobserver/parser/mqtt"
	"github.com/netobserver/netobserver/parser/mysql"
	"github.com/netobserver/netobserver/parser/nats"
	"github.com/netobserver/netobserver/parser/pgsql"
	"github.com/netobserver/netobserver/parser/redis"
)

// FuzzDetect checks detect() on any buffer: it reads nothing past the buffer or the 16-byte head
// (both end at an unmapped page), gives the same answer twice, and never looks at the head's
// bytes after the buffer (zero in the kernel). Then it builds a message of one protocol from
// the same bytes, in the fields a client or server fills freely (IDs, names, keys, arguments),
// checks with the protocol's own parser that it is one, and requires detect() to say so: a
// message our parser takes for protocol P must not be classified as anything else.
func FuzzDetect(f *testing.F) {
	for _, prefix := range allCaptures(f) {
		for i, r := range readSeq(f, prefix) {
			if i < 4 && len(r.b) <= 4096 {
				f.Add(r.b, uint8(i), uint32(0), uint16(0))
			}
		}
	}
	for _, m := range dnsMessages(f) {
		f.Add(m.b, uint8(4), uint32(0), uint16(len(m.b)))
	}
	for _, path := range tlsFiles(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(8), uint32(0), uint16(0))
	}
	for _, o := range others {
		f.Add([]byte(o.buf), uint8(0), uint32(0), uint16(0))
	}
	in := parser.NewInterner(1 << 10)
	f.Fuzz(func(t *testing.T, buf []byte, sel uint8, lh uint32, len2 uint16) {
		if len(buf) >= 1 && len(buf) <= MaxBuf {
			checkRaw(t, buf, sel, lh, len2)
		}
		checkBuilt(t, in, buf, sel)
	})
}

func checkRaw(t *testing.T, buf []byte, sel uint8, lh uint32, len2 uint16) {
	input := Input{LengthHeader: lh, LHPending: sel&1 != 0, Dgram: sel&4 != 0, First: sel&8 != 0, Pad: -1}
	if sel&2 != 0 {
		input.Len2 = len2
	}
	want := Classify(buf, input)
	if again := Classify(buf, input); again != want {
		t.Fatalf("%x %+v: %v, then %v", buf, input, want, again)
	}
	for _, pad := range []int{0xff, 0x0a, 0x80} {
		input.Pad = pad
		if got := Classify(buf, input); got != want {
			t.Fatalf("%x %+v: %v with the head zero after the buffer, %v with it %#x", buf, input, want, got, pad)
		}
	}
}

// fields hands out a fuzz input's bytes as the free fields of a message.
type fields struct{ b []byte }

func (f *fields) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fields) u16() uint16 { return uint16(f.byte())<<8 | uint16(f.byte()) }
func (f *fields) u32() uint32 { return uint32(f.u16())<<16 | uint32(f.u16()) }

// text returns 1 to max bytes from the alphabet.
func (f *fields) text(max int, alphabet string) []byte {
	n := 1 + int(f.byte())%max
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[int(f.byte())%len(alphabet)]
	}
	return out
}

const (
	lower    = "abcdefghijklmnopqrstuvwxyz0123456789-"
	printing = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/*?=&%$#@!+,;'()[]{}<>|~^` "
)

type built struct {
	what  string
	buf   []byte
	proto abi.Protocol
	typ   abi.MessageType
	dgram bool
	// split4: also read as its 4-byte size, then the rest (MySQL, Kafka).
	split4 bool
	// parse says whether our parser takes buf as one message of the type.
	parse func([]byte) parser.Status
}

func status[M any](p interface {
	Parse([]byte, parser.MessageType, *M) parser.Result
}, buf []byte, typ abi.MessageType) parser.Status {
	var m M
	return p.Parse(buf, parser.MessageType(typ), &m).Status
}

// checkBuilt returns false when our parser does not take the built message as one whole unit
// of the protocol, a call's message or a handshake (a Kafka API key it does not know, say): then
// there is nothing to check.
func checkBuilt(t *testing.T, in *parser.Interner, buf []byte, sel uint8) bool {
	f := &fields{b: buf}
	m := build(in, f, sel)
	if st := m.parse(m.buf); st != parser.Complete && st != parser.Ignored {
		return false
	}
	got := Classify(m.buf, Input{Dgram: m.dgram, First: true, Pad: -1})
	if got.TLS || got.Proto != m.proto || got.Type != m.typ {
		t.Fatalf("%s %q (%x): %v, want %v/%v", m.what, m.buf, m.buf, got, m.proto, m.typ)
	}
	if m.split4 {
		// MySQL and Kafka servers read the 4-byte size alone, then the rest.
		in := Input{LengthHeader: binary.LittleEndian.Uint32(m.buf), LHPending: true, Pad: -1}
		if got := Classify(m.buf[4:], in); got.TLS || got.Proto != m.proto || got.Type != m.typ {
			t.Fatalf("%s read as 4+%d bytes %x: %v, want %v/%v", m.what, len(m.buf)-4, m.buf, got, m.proto, m.typ)
		}
	}
	if m.proto == abi.ProtoDNS && !m.dgram {
		// dnsmasq's way: the length in two 1-byte reads, then the message.
		c := NewConn(false)
		c.Syscall(false, m.buf[:1])
		c.Syscall(false, m.buf[1:2])
		want := abi.TypeRequest
		if m.typ == abi.TypeResponse {
			want = abi.TypeUnknown // a server's read of a response: the role says request, no match
		}
		if got := c.Syscall(false, m.buf[2:]); c.Proto != abi.ProtoDNS || (want != abi.TypeUnknown && got != want) {
			t.Fatalf("%s read as 1+1+%d bytes %x: %v/%v", m.what, len(m.buf)-2, m.buf, c.Proto, got)
		}
	}
	return true
}

// Every builder makes messages our parsers take, from plain inputs and the fuzz seeds alike.
func TestBuilders(t *testing.T) {
	in := parser.NewInterner(1 << 10)
	inputs := [][]byte{nil, []byte("abc"), bytes.Repeat([]byte{7}, 64), bytes.Repeat([]byte{0xff}, 300)}
	for sel := uint8(0); sel < 15; sel++ {
		for _, b := range inputs {
			if !checkBuilt(t, in, b, sel) {
				m := build(in, &fields{b: b}, sel)
				t.Errorf("%s from %x: %q is not one for our parser", m.what, b, m.buf)
			}
		}
	}
}

func build(in *parser.Interner, f *fields, sel uint8) built {
	switch sel % 15 {
	case 0, 1:
		return buildDNS(in, f, sel%10 == 1)
	case 2:
		args := 1 + int(f.byte())%4
		var b bytes.Buffer
		fmt.Fprintf(&b, "*%d\r\n", args)
		for i := 0; i < args; i++ {
			a := f.text(40, printing+"\r\n\x00\xff")
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		return built{"redis command", b.Bytes(), abi.ProtoRedis, abi.TypeRequest, false, false,
			func(x []byte) parser.Status { return status[redis.Message](redis.NewConn(in), x, abi.TypeRequest) }}
	case 3:
		methods := []string{"GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS"}
		b := fmt.Appendf(nil, "%s /%s HTTP/1.1\r\nHost: %s\r\n\r\n", methods[int(f.byte())%len(methods)],
			f.text(60, lower+"/?=&%."), f.text(30, lower+"."))
		return built{"http request", b, abi.ProtoHTTP, abi.TypeRequest, false, false,
			func(x []byte) parser.Status { return status[http.Message](http.NewConn(in), x, abi.TypeRequest) }}
	case 4:
		// A request header v1 or v2 (api key, version, correlation ID, client ID), the body bytes.
		key, version := f.u16()%68, f.u16()%13
		corr := f.u32() &^ (1 << 31)
		client := f.text(30, lower+"_.")
		// A first 0: the empty tagged fields of a flexible header version (ignored by the others).
		body := append([]byte{0}, f.text(64, printing)...)
		b := binary.BigEndian.AppendUint32(nil, uint32(10+len(client)+len(body)))
		b = binary.BigEndian.AppendUint16(b, key)
		b = binary.BigEndian.AppendUint16(b, version)
		b = binary.BigEndian.AppendUint32(b, corr)
		b = binary.BigEndian.AppendUint16(b, uint16(len(client)))
		b = append(append(b, client...), body...)
		return built{"kafka request", b, abi.ProtoKafka, abi.TypeRequest, false, true,
			func(x []byte) parser.Status { return status[kafka.Message](kafka.NewConn(in), x, abi.TypeRequest) }}
	case 5:
		q := append([]byte{0x03}, f.text(200, printing)...)
		b := append([]byte{byte(len(q)), byte(len(q) >> 8), 0, 0}, q...)
		return built{"mysql query", b, abi.ProtoMySQL, abi.TypeRequest, false, true,
			func(x []byte) parser.Status { return status[mysql.Message](mysql.NewConn(in), x, abi.TypeRequest) }}
	case 6:
		q := append(f.text(200, printing), 0)
		b := append(binary.BigEndian.AppendUint32([]byte{'Q'}, uint32(4+len(q))), q...)
		return built{"pgsql query", b, abi.ProtoPGSQL, abi.TypeRequest, false, false,
			func(x []byte) parser.Status { return status[pgsql.Message](pgsql.NewConn(in), x, abi.TypeRequest) }}
	case 7:
		cmds := []string{"get", "gets", "delete", "incr", "decr", "touch", "mg", "md", "ma"}
		cmd := cmds[int(f.byte())%len(cmds)]
		b := fmt.Appendf(nil, "%s %s", cmd, f.text(100, printing[:len(printing)-1]))
		switch cmd {
		case "incr", "decr":
			b = fmt.Appendf(b, " %d", f.byte())
		case "touch":
			b = fmt.Appendf(b, " %d", f.u16())
		}
		b = append(b, "\r\n"...)
		return built{"memcached " + cmd, b, abi.ProtoMemcached, abi.TypeRequest, false, false,
			func(x []byte) parser.Status {
				return status[memcached.Message](memcached.NewConn(in), x, abi.TypeRequest)
			}}
	case 8:
		payload := f.text(100, printing+"\r\n")
		b := fmt.Appendf(nil, "PUB %s %d\r\n%s\r\n", f.text(30, lower+"."), len(payload), payload)
		return built{"nats publish", b, abi.ProtoNATS, abi.TypeRequest, false, false,
			func(x []byte) parser.Status { return status[nats.Message](nats.NewConn(in), x, abi.TypeRequest) }}
	case 10:
		// Replies that cannot be a command: simple strings, errors, integers, bulk strings.
		var b []byte
		switch v := f.byte(); v % 4 {
		case 0:
			b = fmt.Appendf(nil, "+%s\r\n", f.text(40, printing))
		case 1:
			b = fmt.Appendf(nil, "-%s %s\r\n", []string{"ERR", "WRONGTYPE", "NOAUTH", "MOVED"}[v>>6], f.text(40, printing))
		case 2:
			b = fmt.Appendf(nil, ":%d\r\n", int32(f.u32()))
		default:
			x := f.text(60, printing+"\r\n\x00")
			b = fmt.Appendf(nil, "$%d\r\n%s\r\n", len(x), x)
		}
		return built{"redis reply", b, abi.ProtoRedis, abi.TypeResponse, false, false,
			func(x []byte) parser.Status { return status[redis.Message](redis.NewConn(in), x, abi.TypeResponse) }}
	case 11:
		b := fmt.Appendf(nil, "HTTP/1.%d %d %s\r\nContent-Length: 0\r\n\r\n", f.byte()%2, 100+int(f.u16())%500,
			f.text(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz"))
		return built{"http response", b, abi.ProtoHTTP, abi.TypeResponse, false, false,
			func(x []byte) parser.Status {
				c := http.NewConn(in)
				status[http.Message](c, []byte("GET / HTTP/1.1\r\n\r\n"), abi.TypeRequest)
				return status[http.Message](c, x, abi.TypeResponse)
			}}
	case 12:
		// A startup message: protocol 3.0, user, database, any other parameters.
		var params []byte
		params = fmt.Appendf(params, "user\x00%s\x00database\x00%s\x00", f.text(30, lower), f.text(30, lower))
		if f.byte()%2 == 1 {
			params = fmt.Appendf(params, "application_name\x00%s\x00", f.text(30, printing))
		}
		params = append(params, 0)
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(params)))
		b = append(binary.BigEndian.AppendUint32(b, 196608), params...)
		return built{"pgsql startup", b, abi.ProtoPGSQL, abi.TypeRequest, false, false,
			func(x []byte) parser.Status { return status[pgsql.Message](pgsql.NewConn(in), x, abi.TypeRequest) }}
	case 13:
		// CONNECT, 3.1.1 or 5: clean session, a keep-alive, a client ID.
		level := byte(4 + f.byte()%2)
		id := f.text(60, lower+"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
		v := []byte{0, 4, 'M', 'Q', 'T', 'T', level, 0x02, f.byte(), f.byte()}
		if level == 5 {
			v = append(v, 0) // no properties
		}
		v = append(binary.BigEndian.AppendUint16(v, uint16(len(id))), id...)
		b := []byte{0x10}
		if len(v) < 128 {
			b = append(b, byte(len(v)))
		} else {
			b = append(b, byte(len(v)&0x7f|0x80), byte(len(v)>>7))
		}
		b = append(b, v...)
		return built{"mqtt connect", b, abi.ProtoMQTT, abi.TypeRequest, false, false,
			func(x []byte) parser.Status { return status[mqtt.Message](mqtt.NewConn(in), x, abi.TypeRequest) }}
	case 14:
		// The binary protocol's get: magic 0x80, opcode 0, the key, any opaque.
		key := f.text(60, printing)
		b := []byte{0x80, 0, 0, byte(len(key)), 0, 0, 0, 0}
		b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
		b = binary.BigEndian.AppendUint32(b, f.u32())
		b = append(append(b, 0, 0, 0, 0, 0, 0, 0, 0), key...)
		return built{"memcached binary get", b, abi.ProtoMemcached, abi.TypeRequest, false, false,
			func(x []byte) parser.Status {
				return status[memcached.Message](memcached.NewConn(in), x, abi.TypeRequest)
			}}
	default:
		b := fmt.Appendf(nil, "set %s %d %d ", f.text(60, printing[:len(printing)-1]), f.u16(), f.u16())
		value := f.text(100, printing+"\r\n\x00")
		b = append(strconv.AppendInt(b, int64(len(value)), 10), "\r\n"...)
		b = append(append(b, value...), "\r\n"...)
		return built{"memcached set", b, abi.ProtoMemcached, abi.TypeRequest, false, false,
			func(x []byte) parser.Status {
				return status[memcached.Message](memcached.NewConn(in), x, abi.TypeRequest)
			}}
	}
}

// buildDNS is a query as resolvers send it (any ID; RD, AD, CD as they choose; one question;
// maybe an EDNS OPT record with a client cookie), or an answer to one (no records, any rcode a
// server sends), over UDP or TCP (with its length).
func buildDNS(in *parser.Interner, f *fields, tcp bool) built {
	id, bits := f.u16(), f.byte()
	resp := bits&1 != 0
	flags := uint16(bits) & 0x0130 // RD, AD, CD
	if resp {
		flags |= 0x8080 | uint16(bits>>6)%6 // QR, RA, rcode 0..5
	}
	var b []byte
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	edns := bits&2 != 0
	b = append(b, 0, 1, 0, 0, 0, 0, 0, byte(map[bool]int{true: 1}[edns]))
	for labels := 1 + int(f.byte())%3; labels > 0; labels-- {
		l := f.text(20, lower)
		b = append(append(b, byte(len(l))), l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, 1+f.u16()%255) // QTYPE
	b = append(b, 0, 1)                                 // IN
	if edns {
		b = append(b, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8)
		for i := 0; i < 8; i++ {
			b = append(b, f.byte())
		}
	}
	typ := abi.TypeRequest
	if resp {
		typ = abi.TypeResponse
	}
	what := "dns over udp"
	if tcp {
		b = append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
		what = "dns over tcp"
	}
	return built{what, b, abi.ProtoDNS, typ, !tcp, false, func(x []byte) parser.Status {
		return status[dns.Message](dns.NewConn(in), x, typ)
	}}
}
