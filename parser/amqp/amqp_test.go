package amqp

import (
	"encoding/binary"
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

// frame is a frame of type typ on channel ch with payload p.
func frame(typ byte, ch uint16, p string) string {
	b := []byte{typ, byte(ch >> 8), byte(ch), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[3:], uint32(len(p)))
	return string(b) + p + "\xce"
}

// methodFrame is a method frame of class c, method m on channel ch with arguments a.
func methodFrame(ch, c, m uint16, a string) string {
	return frame(1, ch, string([]byte{byte(c >> 8), byte(c), byte(m >> 8), byte(m)})+a)
}

// header is a content header frame for class basic announcing a body of n bytes.
func header(ch uint16, n uint64) string {
	b := make([]byte, 14)
	binary.BigEndian.PutUint16(b, 60)
	binary.BigEndian.PutUint64(b[4:], n)
	return frame(2, ch, string(b))
}

func sstr(s string) string { return string([]byte{byte(len(s))}) + s }

var (
	publish = methodFrame(1, 60, 40, "\x00\x00"+sstr("amq.topic")+sstr("sensor.42.temp")+"\x00")
	declare = methodFrame(1, 50, 10, "\x00\x00"+sstr("orders.eu.1234")+"\x02\x00\x00\x00\x00")
)

// withDeclare returns a Conn that has seen a queue.declare on channel 1.
func withDeclare() parser.Parser[Message] {
	c := newConn()
	var m Message
	c.Parse([]byte(declare), req, &m)
	return c
}

func fresh() parser.Parser[Message] { return newConn() }

type sample struct {
	name string
	conn func() parser.Parser[Message]
	typ  parser.MessageType
	in   string
	want string
}

var samples = []sample{
	{"protocol header", fresh, req, "AMQP\x00\x00\x09\x01", "ignored 8"},
	{"heartbeat", fresh, req, "\x08\x00\x00\x00\x00\x00\x00\xce", "ignored 8"},
	{"connection.tune-ok", fresh, req, methodFrame(0, 10, 31, "\x07\xff\x00\x02\x00\x00\x00\x3c"), "ignored 20"},
	{"queue.declare", fresh, req, declare, `1 queue.declare 34 ex="" key="orders.eu.?" code=-1 ok=true oneway=false`},
	{"queue.declare no-wait", fresh, req, methodFrame(1, 50, 10, "\x00\x00"+sstr("q")+"\x10\x00\x00\x00\x00"),
		`1 queue.declare 21 ex="" key="q" code=-1 ok=true oneway=true`},
	{"queue.declare-ok", withDeclare, resp, methodFrame(1, 50, 11, sstr("orders.eu.1234")+"\x00\x00\x00\x00\x00\x00\x00\x00"),
		`1 queue.declare-ok 35 ex="" key="" code=-1 ok=true oneway=false`},
	{"queue.bind", fresh, req, methodFrame(1, 50, 20, "\x00\x00"+sstr("amq.gen-AbC12x")+sstr("amq.topic")+sstr("k.#")+"\x00\x00\x00\x00\x00"),
		`1 queue.bind 48 ex="amq.topic" key="amq.gen-?" code=-1 ok=true oneway=false`},
	{"basic.publish with content", fresh, req, publish + header(1, 5),
		`1 basic.publish 75 ex="amq.topic" key="sensor.?.temp" code=-1 ok=true oneway=true`},
	{"basic.publish of 300000 bytes", fresh, req, publish + header(1, 300000),
		`1 basic.publish 300086 ex="amq.topic" key="sensor.?.temp" code=-1 ok=true oneway=true`},
	{"basic.deliver", fresh, resp, methodFrame(1, 60, 60, sstr("ctag")+"\x00\x00\x00\x00\x00\x00\x00\x01\x00"+sstr("")+sstr("q.1")) + header(1, 0),
		`1 basic.deliver 53 ex="" key="q.?" code=-1 ok=true oneway=true`},
	{"basic.return", fresh, resp, methodFrame(1, 60, 50, "\x01\x38"+sstr("NO_ROUTE")+sstr("ex")+sstr("k")) + header(1, 1),
		`1 basic.return 59 ex="ex" key="k" code=312 ok=false oneway=true`},
	{"basic.get-empty", withDeclare, resp, methodFrame(1, 60, 72, sstr("")), `1 basic.get-empty 13 ex="" key="" code=-1 ok=true oneway=false`},
	{"basic.ack", fresh, req, methodFrame(1, 60, 80, "\x00\x00\x00\x00\x00\x00\x00\x01\x00"), `1 basic.ack 21 ex="" key="" code=-1 ok=true oneway=true`},
	{"basic.nack confirm", fresh, resp, methodFrame(1, 60, 120, "\x00\x00\x00\x00\x00\x00\x00\x01\x00"), `1 basic.nack 21 ex="" key="" code=-1 ok=false oneway=true`},
	{"channel.close answering", withDeclare, resp, methodFrame(1, 20, 40, "\x01\x96"+sstr("PRECONDITION_FAILED")+"\x00\x32\x00\x0a"),
		`1 channel.close 38 ex="" key="" code=406 ok=false oneway=false`},
	{"channel.close alone", fresh, resp, methodFrame(1, 20, 40, "\x01\x94"+sstr("NOT_FOUND")+"\x00\x3c\x00\x28"),
		`1 channel.close 28 ex="" key="" code=404 ok=false oneway=true`},
	{"client channel.close", fresh, req, methodFrame(1, 20, 40, "\x00\xc8"+sstr("bye")+"\x00\x00\x00\x00"),
		`1 channel.close 22 ex="" key="" code=200 ok=true oneway=false`},
	{"client close-ok", fresh, req, methodFrame(1, 20, 41, ""), "ignored 12"},
}

func TestSamples(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			var m Message
			r := s.conn().Parse([]byte(s.in), s.typ, &m)
			if got := line(step{Status: r.Status, Consumed: r.Consumed, Msg: m}); got != s.want {
				t.Errorf("got  %s\nwant %s", got, s.want)
			}
			if r.Consumed != len(s.in) {
				t.Errorf("consumed %d of %d", r.Consumed, len(s.in))
			}
			parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{New: s.conn, Type: s.typ, In: []byte(s.in),
				Whole: func(r parser.Result) bool { return r.Consumed == len(s.in) }})
		})
	}
}

func TestBodyFramesIgnored(t *testing.T) {
	body := frame(3, 1, strings.Repeat("x", 100))
	var m Message
	if r := newConn().Parse([]byte(body[:10]), req, &m); r != (parser.Result{Status: parser.Ignored, Consumed: len(body)}) {
		t.Fatalf("%+v", r)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		typ parser.MessageType
		in  string
	}{
		{req, "GET / HTTP/1.1\r\n"},
		{req, "AMQX\x00\x00\x09\x01"},
		{req, methodFrame(1, 60, 99, "")},                 // no such method
		{req, methodFrame(1, 60, 60, "")},                 // basic.deliver from the client
		{resp, publish},                                   // basic.publish from the server
		{req, methodFrame(0, 50, 10, "\x00\x00\x00\x00")}, // queue.declare on channel 0
		{req, methodFrame(1, 10, 40, "\x00\x00\x00")},     // connection.open on channel 1
		{req, strings.TrimSuffix(declare, "\xce") + "x"},  // frame end
		{req, "\x08\x00\x01\x00\x00\x00\x00\xce"},         // heartbeat on a channel
		{req, "\x01\x00\x01\x7f\xff\xff\xff"},             // 2 GiB frame
		{req, methodFrame(1, 50, 10, "\x00\x00\x09q")},    // queue name past the frame
	} {
		var m Message
		if r := newConn().Parse([]byte(tc.in), tc.typ, &m); r.Status != parser.Invalid {
			t.Errorf("Parse(%q, %v) = %+v %+v", tc.in, tc.typ, r, m)
		}
	}
}

func TestBoundaries(t *testing.T) {
	parsertest.CheckBoundaries(t, newConn, []parsertest.Boundary{
		{"xx" + declare, req, 2},
		{"x" + declare, resp, -1},
		{"xAMQP\x00\x00\x09\x01", req, 1},
		{"\x01\x01\x01", req, -1},
	})
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "amqp", abi.ProtoAMQP, parser.Parser[Message](newConn()))
	c := newConn()
	var q, ok, pub Message
	c.Parse([]byte(declare), req, &q)
	c.Parse([]byte(methodFrame(1, 20, 40, "\x01\x96"+sstr("PRECONDITION_FAILED")+"\x00\x32\x00\x0a")), resp, &ok)
	x := parser.Pair(Protocol, q, ok)
	if got, want := parsertest.FieldsProtocols(x), (parser.Fields{"queue.declare", "", "orders.eu.?", "406", "0"}); got != want {
		t.Errorf("FieldsProtocols %q, want %q", got, want)
	}
	if got, want := parsertest.FieldsL4L7(x), (parser.Fields{"queue.declare", "", "orders.eu.?", "0-9-1", "0", "406"}); got != want {
		t.Errorf("FieldsL4L7 %q, want %q", got, want)
	}
	c.Parse([]byte(publish+header(1, 5)), req, &pub)
	x = parser.Pair(Protocol, pub, Message{})
	if got, want := parsertest.FieldsProtocols(x), (parser.Fields{"basic.publish", "amq.topic", "sensor.?.temp", "-1", "1"}); got != want {
		t.Errorf("one-way FieldsProtocols %q, want %q", got, want)
	}
}

func TestMatcher(t *testing.T) {
	w := func(ch uint16, id uint32, answer uint32) parser.Waiting[Message] {
		return parser.Waiting[Message]{Msg: Message{Channel: ch, cm: id, answer: answer}}
	}
	waiting := []parser.Waiting[Message]{w(1, cm(50, 10), cm(50, 11)), w(2, cm(60, 70), cm(60, 71)), w(2, channelClose, channelClose+1)}
	for _, tc := range []struct {
		m    parser.Waiting[Message]
		want int
	}{
		{w(1, cm(50, 11), 0), 0},
		{w(2, basicGetEmpty, 0), 1},
		{w(2, channelClose+1, 0), 2},
		{w(2, channelClose, 0), 1}, // answers the get, not the client's own close
		{w(3, cm(50, 11), 0), -1},
		{w(0, connectionClose, 0), 0},
	} {
		if got := (matcher{}).Match(waiting, &tc.m, false); got != tc.want {
			t.Errorf("Match(%+v) = %d, want %d", tc.m.Msg, got, tc.want)
		}
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	c := newConn()
	in := []byte(publish + header(1, 5))
	var m Message
	c.Parse(in, req, &m)
	if n := testing.AllocsPerRun(100, func() { m = Message{}; c.Parse(in, req, &m) }); n != 0 {
		t.Errorf("%v allocations per publish", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range samples {
		if s.typ == req {
			f.Add([]byte("AMQP\x00\x00\x09\x01"+s.in), []byte(methodFrame(1, 50, 11, sstr("q")+"\x00\x00\x00\x00\x00\x00\x00\x00")), uint8(5))
		} else {
			f.Add([]byte(declare), []byte(s.in), uint8(3))
		}
	}
	parsertest.SeedCaptures(f, filepath.Join("testdata", "captures"), 400)
	f.Fuzz(func(t *testing.T, reqs, resps []byte, step uint8) {
		c := parsertest.FuzzStreams(t, newConn, checkResult, reqs, resps, step).Conn.(*Conn)
		if len(c.pending) > maxChannels || c.frameMax < 4096-8 || c.frameMax > maxFrame {
			t.Fatalf("state %d channels, frame_max %d", len(c.pending), c.frameMax)
		}
	})
}

func checkResult(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{Beyond: maxFrame + 8})
	if r.Status == parser.Complete && (m.Method == "" || len(m.Key) > 200 || len(m.Exchange) > 200) {
		t.Fatalf("%+v", m)
	}
}
