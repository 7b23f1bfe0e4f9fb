package nats

import (
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	req  = parser.Request
	resp = parser.Response
)

func newConn() *Conn { return NewConn(parser.NewInterner(1024)) }

type msg struct {
	op, subject     string
	success, oneWay bool
}

func of(m Message) msg { return msg{m.Op, m.Subject, m.Success, m.OneWay} }

func TestMessages(t *testing.T) {
	verbose := func() parser.Parser[Message] {
		c := newConn()
		var m Message
		c.Parse([]byte(`CONNECT {"verbose":true,"pedantic":false}`+"\r\n"), req, &m)
		return c
	}
	pinged := func() parser.Parser[Message] {
		c := newConn()
		var m Message
		c.Parse([]byte("PING\r\n"), req, &m)
		return c
	}
	plain := func() parser.Parser[Message] { return newConn() }
	tests := []struct {
		name string
		conn func() parser.Parser[Message]
		typ  parser.MessageType
		in   string
		want msg
	}{
		{"pub", plain, req, "PUB orders.created 5\r\nhello\r\n", msg{"PUB", "orders.created", true, true}},
		{"pub lower case, reply", plain, req, "pub orders.created _INBOX.x 0\r\n\r\n", msg{"PUB", "orders.created", true, true}},
		{"pub verbose", verbose, req, "PUB a.b 1\r\nx\r\n", msg{"PUB", "a.b", true, false}},
		{"hpub", plain, req, "HPUB a.b 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", msg{"HPUB", "a.b", true, true}},
		{"sub", plain, req, "SUB orders.* 1\r\n", msg{"SUB", "orders.*", true, true}},
		{"sub queue", plain, req, "SUB orders.> workers 2\r\n", msg{"SUB", "orders.>", true, true}},
		{"unsub", plain, req, "UNSUB 1 10\r\n", msg{"UNSUB", "", true, true}},
		{"connect", plain, req, `CONNECT {"verbose":false,"lang":"go"}` + "\r\n", msg{"CONNECT", "", true, true}},
		{"connect verbose", plain, req, `CONNECT {"verbose": true}` + "\r\n", msg{"CONNECT", "", true, false}},
		{"ping", plain, req, "PING\r\n", msg{"PING", "", true, false}},
		{"msg", plain, resp, "MSG user.12345.events 9 3\r\nabc\r\n", msg{"MSG", "user.?.events", true, true}},
		{"hmsg", plain, resp, "HMSG a 9 _INBOX.abc 12 12\r\nNATS/1.0\r\n\r\n\r\n", msg{"HMSG", "a", true, true}},
		{"pong", pinged, resp, "PONG\r\n", msg{"PONG", "", true, false}},
		{"+OK", verbose, resp, "+OK\r\n", msg{"+OK", "", true, false}},
		{"-ERR alone", plain, resp, "-ERR 'Permissions Violation for Publish to \"x\"'\r\n", msg{"-ERR", "", false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			r := tt.conn().Parse([]byte(tt.in), tt.typ, &m)
			require.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(tt.in)}, r)
			assert.Equal(t, tt.want, of(m))
			parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{New: tt.conn, Type: tt.typ, In: []byte(tt.in),
				Whole: func(r parser.Result) bool { return r.Status == parser.Complete && r.Consumed == len(tt.in) }})
		})
	}
}

func TestIgnored(t *testing.T) {
	for _, tt := range []struct {
		typ parser.MessageType
		in  string
	}{{resp, `INFO {"server_id":"x","max_payload":1048576}` + "\r\n"}, {resp, "PING\r\n"}, {req, "PONG\r\n"}} {
		var m Message
		assert.Equal(t, parser.Result{Status: parser.Ignored, Consumed: len(tt.in)}, newConn().Parse([]byte(tt.in), tt.typ, &m))
	}
}

func TestInvalid(t *testing.T) {
	for _, tt := range []struct {
		typ parser.MessageType
		in  string
	}{{req, "MSG a 1 3\r\nabc\r\n"}, {resp, "PUB a 1\r\nx\r\n"}, {req, "PUB a x\r\n"}, {req, "PUB a 1\r\nxyz\r\n"},
		{req, "PUBLISH a 1\r\n"}, {req, "HPUB a 5 3\r\n"}, {req, "SUB\r\n"}, {req, "GET / HTTP/1.1\r\n"}} {
		var m Message
		assert.Equal(t, parser.Invalid, newConn().Parse([]byte(tt.in), tt.typ, &m).Status, "%q", tt.in)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"orders.created":    "orders.created",
		"user.12345.events": "user.?.events",
		"v2.api":            "v2.api",
		"svc.a1b2c3d4e5":    "svc.?",
		"_INBOX.abcdef.1":   "_INBOX.*",
		"job.550e8400-e29b-41d4-a716-446655440000": "job.?",
		"a.b.c.d.e.f.g.h.i.j":                      "a.b.c.d.e.f.g.h.>",
		"$JS.API.STREAM.INFO.s":                    "$JS.API.STREAM.INFO.s",
	} {
		assert.Equal(t, want, string(Mask(nil, []byte(in))), in)
	}
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'x'
	}
	assert.Equal(t, ">", string(Mask(nil, long)))
}

// A verbose connection's answers pair in order; a PING's PONG among them.
func TestVerboseStream(t *testing.T) {
	c := newConn()
	steps := parsertest.ParseAll(c, []byte(`CONNECT {"verbose":true}`+"\r\nPUB a 1\r\nx\r\nPING\r\nSUB b 1\r\n"), req)
	rs := parsertest.ParseAll(c, []byte("+OK\r\n+OK\r\nPONG\r\n+OK\r\nMSG b 1 1\r\ny\r\n"), resp)
	var got []msg
	for _, s := range append(steps, rs...) {
		got = append(got, of(s.Msg))
	}
	assert.Equal(t, []msg{{"CONNECT", "", true, false}, {"PUB", "a", true, false}, {"PING", "", true, false}, {"SUB", "b", true, false},
		{"+OK", "", true, false}, {"+OK", "", true, false}, {"PONG", "", true, false}, {"+OK", "", true, false}, {"MSG", "b", true, true}}, got)
}

func TestBoundary(t *testing.T) {
	assert.Equal(t, 4, newConn().FindBoundary([]byte("xyz\nPUB a 1\r\n"), req))
	assert.Equal(t, -1, newConn().FindBoundary([]byte("xyz\nPUB a 1\r\n"), resp))
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol[Message](t, Protocol, "nats", abi.ProtoNATS, newConn())
	pub := Message{Type: req, Op: "PUB", Subject: "a.?", Success: true, OneWay: true}
	x := parser.Pair(Protocol, pub, Message{})
	assert.Equal(t, parser.Fields{"PUB", "a.?", "1"}, parsertest.FieldsProtocols(x))
	assert.Equal(t, parser.Fields{"PUB", "", "a.?", "", "1", "-1"}, parsertest.FieldsL4L7(x))
}
