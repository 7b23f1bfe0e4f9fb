package mqtt

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

const (
	req  = parser.Request
	resp = parser.Response
)

func newConn() *Conn { return NewConn(parser.NewInterner(1000)) }

// v5 returns a Conn that has seen a v5 CONNECT.
func v5() parser.Parser[Message] {
	c := newConn()
	var m Message
	c.Parse([]byte(connect5), req, &m)
	return c
}

func v311() parser.Parser[Message] { return newConn() }

// pkt is a packet of type-and-flags byte b with body.
func pkt(b byte, body string) string {
	n := len(body)
	var rl []byte
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		rl = append(rl, d)
		if n == 0 {
			break
		}
	}
	return string(append([]byte{b}, rl...)) + body
}

func str(s string) string { return string([]byte{byte(len(s) >> 8), byte(len(s))}) + s }

var (
	connect311 = pkt(0x10, str("MQTT")+"\x04\x02\x00\x3c"+str("client-1"))
	connect5   = pkt(0x10, str("MQTT")+"\x05\x02\x00\x3c\x00"+str("client-1"))
)

type sample struct {
	name string
	conn func() parser.Parser[Message]
	typ  parser.MessageType
	in   string
	want string // line of the Complete step, or "ignored N"
}

var samples = []sample{
	{"connect 3.1", v311, req, pkt(0x10, str("MQIsdp")+"\x03\x02\x00\x3c"+str("c")), `CONNECT 17 "" qos=0 id=0 v=3 code=-1 ok=false oneway=false`},
	{"connect 3.1.1", v311, req, connect311, `CONNECT 22 "" qos=0 id=0 v=4 code=-1 ok=false oneway=false`},
	{"connect 5", v311, req, connect5, `CONNECT 23 "" qos=0 id=0 v=5 code=-1 ok=false oneway=false`},
	{"connack ok", v311, resp, "\x20\x02\x00\x00", `CONNACK 4 "" qos=0 id=0 v=0 code=0 ok=true oneway=false`},
	{"connack refused", v311, resp, "\x20\x02\x00\x05", `CONNACK 4 "" qos=0 id=0 v=0 code=5 ok=false oneway=false`},
	{"connack 5 bad auth", v5, resp, "\x20\x03\x00\x86\x00", `CONNACK 5 "" qos=0 id=0 v=5 code=134 ok=false oneway=false`},
	{"publish qos 0", v311, req, pkt(0x30, str("a/17/b")+"payload"), `PUBLISH 17 "a/?/b" qos=0 id=0 v=0 code=-1 ok=true oneway=true`},
	{"publish qos 1", v311, req, pkt(0x32, str("a/b")+"\x00\x07"+"payload"), `PUBLISH 16 "a/b" qos=1 id=7 v=0 code=-1 ok=true oneway=false`},
	{"publish qos 2 dup retain", v311, req, pkt(0x3d, str("a")+"\x01\x00"), `PUBLISH 7 "a" qos=2 id=256 v=0 code=-1 ok=true oneway=false`},
	{"publish 5 properties", v5, req, pkt(0x32, str("t")+"\x00\x01\x02\x01\x01"+"x"), `PUBLISH 11 "t" qos=1 id=1 v=5 code=-1 ok=true oneway=false`},
	{"delivery", v311, resp, pkt(0x32, str("a/b")+"\x00\x09"+"p"), `DELIVERY 10 "a/b" qos=1 id=9 v=0 code=-1 ok=true oneway=true`},
	{"puback", v311, resp, "\x40\x02\x00\x07", `PUBACK 4 "" qos=0 id=7 v=0 code=0 ok=true oneway=false`},
	{"puback 5 not authorized", v5, resp, "\x40\x04\x00\x07\x87\x00", `PUBACK 6 "" qos=0 id=7 v=5 code=135 ok=false oneway=false`},
	{"pubrec", v311, resp, "\x50\x02\x01\x00", `PUBREC 4 "" qos=0 id=256 v=0 code=0 ok=true oneway=false`},
	{"pubrel", v311, req, "\x62\x02\x01\x00", `PUBREL 4 "" qos=0 id=256 v=0 code=-1 ok=true oneway=false`},
	{"pubcomp", v311, resp, "\x70\x02\x01\x00", `PUBCOMP 4 "" qos=0 id=256 v=0 code=0 ok=true oneway=false`},
	{"client puback of a delivery", v311, req, "\x40\x02\x00\x09", "ignored 4"},
	{"server pubrel of a delivery", v311, resp, "\x62\x02\x00\x09", "ignored 4"},
	{"subscribe", v311, req, pkt(0x82, "\x00\x02"+str("dev/+/42/#")+"\x01"+str("x")+"\x00"), `SUBSCRIBE 21 "dev/+/?/#" qos=0 id=2 v=0 code=-1 ok=false oneway=false`},
	{"subscribe 5", v5, req, pkt(0x82, "\x00\x02\x02\x0b\x05"+str("s/#")+"\x02"), `SUBSCRIBE 13 "s/#" qos=0 id=2 v=5 code=-1 ok=false oneway=false`},
	{"suback", v311, resp, pkt(0x90, "\x00\x02\x01\x00"), `SUBACK 6 "" qos=0 id=2 v=0 code=1 ok=true oneway=false`},
	{"suback failure", v311, resp, pkt(0x90, "\x00\x02\x01\x80"), `SUBACK 6 "" qos=0 id=2 v=0 code=128 ok=false oneway=false`},
	{"suback 5 properties", v5, resp, pkt(0x90, "\x00\x02\x03\x1f\x00\x00\x87"), `SUBACK 9 "" qos=0 id=2 v=5 code=135 ok=false oneway=false`},
	{"unsubscribe", v311, req, pkt(0xa2, "\x00\x03"+str("a/b")), `UNSUBSCRIBE 9 "a/b" qos=0 id=3 v=0 code=-1 ok=false oneway=false`},
	{"unsuback", v311, resp, "\xb0\x02\x00\x03", `UNSUBACK 4 "" qos=0 id=3 v=0 code=0 ok=true oneway=false`},
	{"unsuback 5 no subscription", v5, resp, "\xb0\x04\x00\x03\x00\x11", `UNSUBACK 6 "" qos=0 id=3 v=5 code=17 ok=true oneway=false`},
	{"pingreq", v311, req, "\xc0\x00", `PINGREQ 2 "" qos=0 id=0 v=0 code=-1 ok=false oneway=false`},
	{"pingresp", v311, resp, "\xd0\x00", `PINGRESP 2 "" qos=0 id=0 v=0 code=0 ok=true oneway=false`},
	{"disconnect", v311, req, "\xe0\x00", `DISCONNECT 2 "" qos=0 id=0 v=0 code=-1 ok=true oneway=true`},
	{"disconnect 5 by server", v5, resp, "\xe0\x01\x8b", `DISCONNECT 3 "" qos=0 id=0 v=5 code=139 ok=false oneway=true`},
	{"auth", v5, req, "\xf0\x02\x18\x00", "ignored 4"},
	{"publish of 200 bytes", v311, req, pkt(0x30, str("big")+strings.Repeat("x", 195)), `PUBLISH 203 "big" qos=0 id=0 v=0 code=-1 ok=true oneway=true`},
}

func TestSamples(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			var m Message
			r := s.conn().Parse([]byte(s.in), s.typ, &m)
			got := line(step{Status: r.Status, Consumed: r.Consumed, Msg: m})
			if got != s.want {
				t.Errorf("got  %s\nwant %s", got, s.want)
			}
			if r.Status == parser.Complete && (r.Consumed != len(s.in) || m.Type != s.typ || m.Truncated) {
				t.Errorf("%+v %+v", r, m)
			}
			parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{New: s.conn, Type: s.typ, In: []byte(s.in),
				Whole: func(r parser.Result) bool { return r.Consumed == len(s.in) }})
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		typ parser.MessageType
		in  string
	}{
		{req, "GET / HTTP/1.1\r\n"},
		{req, "\x00\x00"},                  // type 0
		{req, "\x20\x02\x00\x00"},          // CONNACK from the client
		{resp, connect311},                 // CONNECT from the server
		{req, "\x36\x05\x00\x01a\x00\x01"}, // QoS 3
		{req, "\x60\x02\x00\x01"},          // PUBREL without its flags
		{req, "\xc0\x01\x00"},              // PINGREQ with a body
		{req, "\x30\xff\xff\xff\xff\x7f"},  // five-byte length
		{req, "\x30\x80\x00"},              // length not in its shortest form
		{req, pkt(0x30, "\x00\x09abc")},    // topic past the packet
		{req, pkt(0x10, str("HTTP")+"\x04\x02\x00\x3c\x00\x00")},
		{req, pkt(0x10, str("MQTT")+"\x06\x02\x00\x3c\x00\x00")},
	} {
		var m Message
		if r := newConn().Parse([]byte(tc.in), tc.typ, &m); r.Status != parser.Invalid {
			t.Errorf("Parse(%q, %v) = %+v %+v", tc.in, tc.typ, r, m)
		}
	}
}

// TestTruncated: a PUBLISH whose payload has not arrived is complete from its header on.
func TestTruncated(t *testing.T) {
	in := pkt(0x32, str("a/b")+"\x00\x07"+strings.Repeat("p", 100000))
	var m Message
	r := newConn().Parse([]byte(in[:20]), req, &m)
	if r.Status != parser.Complete || r.Consumed != len(in) || m.Size != len(in) || !m.Truncated || m.ID != 7 || m.Topic != "a/b" {
		t.Fatalf("%+v %+v", r, m)
	}
}

func TestBoundaries(t *testing.T) {
	parsertest.CheckBoundaries(t, newConn, []parsertest.Boundary{
		{"xx\xc0\x00", req, 2},
		{"\xff\xff\x30\x05\x00\x01a", req, 2},
		{"\x00\x00\x00", req, -1},
		{"x\xd0\x00", resp, 1},
		{"x\xc0\x00", resp, -1},
	})
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "mqtt", abi.ProtoMQTT, parser.Parser[Message](newConn()))
	pub := Message{Type: req, Packet: "PUBLISH", Topic: "a/?", QoS: 1, ID: 3, Version: 4, Code: -1, Success: true}
	ack := Message{Type: resp, Packet: "PUBACK", ID: 3, Version: 4, Code: 0, Success: true}
	x := parser.Pair(Protocol, pub, ack)
	if got, want := parsertest.FieldsProtocols(x), (parser.Fields{"PUBLISH", "a/?", "1", "0", "1"}); got != want {
		t.Errorf("FieldsProtocols %q, want %q", got, want)
	}
	if got, want := parsertest.FieldsL4L7(x), (parser.Fields{"PUBLISH", "", "a/?", "3.1.1", "1", "0"}); got != want {
		t.Errorf("FieldsL4L7 %q, want %q", got, want)
	}
	disc := Message{Type: resp, Packet: "DISCONNECT", Version: 5, Code: 0x8b, OneWay: true}
	x = parser.Pair(Protocol, disc, Message{})
	if got, want := parsertest.FieldsProtocols(x), (parser.Fields{"DISCONNECT", "", "0", "139", "0"}); got != want {
		t.Errorf("one-way FieldsProtocols %q, want %q", got, want)
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	c := newConn()
	in := []byte(pkt(0x32, str("devices/42/state")+"\x00\x07"+"payload"))
	var m Message
	c.Parse(in, req, &m)
	if n := testing.AllocsPerRun(100, func() { m = Message{}; c.Parse(in, req, &m) }); n != 0 {
		t.Errorf("%v allocations per PUBLISH", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range samples {
		if s.typ == req {
			f.Add([]byte(connect5+s.in), []byte("\x20\x02\x00\x00"), uint8(5))
		} else {
			f.Add([]byte(connect311), []byte(s.in), uint8(3))
		}
	}
	parsertest.SeedCaptures(f, filepath.Join("testdata", "captures"), 400)
	f.Fuzz(func(t *testing.T, reqs, resps []byte, step uint8) {
		c := parsertest.FuzzStreams(t, newConn, checkResult, reqs, resps, step).Conn.(*Conn)
		if c.version != 0 && (c.version < 3 || c.version > 5) {
			t.Fatalf("version %d", c.version)
		}
	})
}

func checkResult(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{Beyond: maxRemaining + 5, ExactSize: true})
	if r.Status == parser.Complete && (len(m.Topic) > 3*200 || m.Packet == "") {
		t.Fatalf("%+v", m)
	}
}
