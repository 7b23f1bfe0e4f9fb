package memcached

import (
	"encoding/binary"
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

// bin is a binary message: magic, opcode, key and extras lengths, status, body, opaque.
func bin(magic, op byte, key, extras, status int, body []byte, opaque uint32) string {
	h := make([]byte, headerLen)
	h[0], h[1] = magic, op
	binary.BigEndian.PutUint16(h[2:], uint16(key))
	h[4] = byte(extras)
	binary.BigEndian.PutUint16(h[6:], uint16(status))
	binary.BigEndian.PutUint32(h[8:], uint32(len(body)))
	binary.BigEndian.PutUint32(h[12:], opaque)
	return string(h) + string(body)
}

// msg is the line a Complete message reads as: command, outcome, flavour, success, one-way.
type msg struct {
	cmd, outcome, flavour string
	success, oneWay       bool
}

func of(m Message) msg { return msg{m.Command, m.Outcome, m.Flavour, m.Success, m.OneWay} }

func TestRequests(t *testing.T) {
	tests := []struct {
		name, in string
		want     msg
	}{
		{"get", "get user:1\r\n", msg{"get", "", "text", false, false}},
		{"multi get", "gets a b c\r\n", msg{"gets", "", "text", false, false}},
		{"set", "set k 0 0 5\r\nhello\r\n", msg{"set", "", "text", false, false}},
		{"set noreply", "set k 0 0 5 noreply\r\nhello\r\n", msg{"set", "noreply", "text", true, true}},
		{"cas", "cas k 0 0 2 77\r\nhi\r\n", msg{"cas", "", "text", false, false}},
		{"delete noreply", "delete k noreply\r\n", msg{"delete", "noreply", "text", true, true}},
		{"incr", "incr n 5\r\n", msg{"incr", "", "text", false, false}},
		{"touch", "touch k 10\r\n", msg{"touch", "", "text", false, false}},
		{"flush_all", "flush_all\r\n", msg{"flush_all", "", "text", false, false}},
		{"stats", "stats slabs\r\n", msg{"stats", "", "text", false, false}},
		{"version", "version\n", msg{"version", "", "text", false, false}},
		{"quit", "quit\r\n", msg{"quit", "noreply", "text", true, true}},
		{"mg", "mg k v t\r\n", msg{"mg", "", "meta", false, false}},
		{"mg quiet", "mg k v q O1\r\n", msg{"mg", "quiet", "meta", true, true}},
		{"ms", "ms k 2 T90 F1\r\nhi\r\n", msg{"ms", "", "meta", false, false}},
		{"ms quiet", "ms k 2 q\r\nhi\r\n", msg{"ms", "quiet", "meta", true, true}},
		{"md", "md k\r\n", msg{"md", "", "meta", false, false}},
		{"mn", "mn\r\n", msg{"mn", "", "meta", false, false}},
		{"binary get", bin(reqMagic, 0x00, 1, 0, 0, []byte("k"), 7), msg{"Get", "", "binary", false, false}},
		{"binary setq", bin(reqMagic, 0x11, 1, 8, 0, []byte("\x00\x00\x00\x00\x00\x00\x00\x00kvv"), 7), msg{"SetQ", "quiet", "binary", true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			r := newConn().Parse([]byte(tt.in), req, &m)
			require.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(tt.in)}, r)
			assert.Equal(t, tt.want, of(m))
			assert.Equal(t, len(tt.in), m.Size)
			parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{
				New: func() parser.Parser[Message] { return newConn() }, Type: req, In: []byte(tt.in),
				Whole: func(r parser.Result) bool { return r.Status == parser.Complete && r.Consumed == len(tt.in) },
			})
		})
	}
}

// Each response is parsed after its request, as the observer feeds them.
func TestResponses(t *testing.T) {
	tests := []struct {
		name, request, in string
		want              msg
	}{
		{"get hit", "get k\r\n", "VALUE k 0 5\r\nhello\r\nEND\r\n", msg{"get", "hit", "text", true, false}},
		{"get miss", "get k\r\n", "END\r\n", msg{"get", "miss", "text", true, false}},
		{"multi get", "gets a b\r\n", "VALUE a 0 1 5\r\nx\r\nVALUE b 0 2 6\r\nyy\r\nEND\r\n", msg{"gets", "hit", "text", true, false}},
		{"stored", "set k 0 0 1\r\nx\r\n", "STORED\r\n", msg{"set", "stored", "text", true, false}},
		{"not stored", "add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n", msg{"add", "not_stored", "text", true, false}},
		{"exists", "cas k 0 0 1 1\r\nx\r\n", "EXISTS\r\n", msg{"cas", "exists", "text", true, false}},
		{"deleted", "delete k\r\n", "DELETED\r\n", msg{"delete", "deleted", "text", true, false}},
		{"incr", "incr n 1\r\n", "18446744073709551615\r\n", msg{"incr", "ok", "text", true, false}},
		{"stats", "stats\r\n", "STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n", msg{"stats", "ok", "text", true, false}},
		{"empty stats", "stats detail\r\n", "END\r\n", msg{"stats", "ok", "text", true, false}},
		{"version", "version\r\n", "VERSION 1.6.18\r\n", msg{"version", "ok", "text", true, false}},
		{"error", "bogus\r\n", "ERROR\r\n", msg{"", "error", "text", false, false}},
		{"client error", "set k 0 0 1\r\nx\r\n", "CLIENT_ERROR bad data chunk\r\n", msg{"set", "client_error", "text", false, false}},
		{"mg hit", "mg k v\r\n", "VA 2 t-1\r\nhi\r\n", msg{"mg", "hit", "meta", true, false}},
		{"mg hit without value", "mg k t\r\n", "HD t-1\r\n", msg{"mg", "hit", "meta", true, false}},
		{"mg miss", "mg k v\r\n", "EN\r\n", msg{"mg", "miss", "meta", true, false}},
		{"ms", "ms k 1\r\nx\r\n", "HD\r\n", msg{"ms", "stored", "meta", true, false}},
		{"md", "md k\r\n", "NF\r\n", msg{"md", "not_found", "meta", true, false}},
		{"binary hit", bin(reqMagic, 0, 1, 0, 0, []byte("k"), 9), bin(respMagic, 0, 0, 4, 0, []byte("\x00\x00\x00\x00v"), 9), msg{"Get", "hit", "binary", true, false}},
		{"binary miss", bin(reqMagic, 0, 1, 0, 0, []byte("k"), 9), bin(respMagic, 0, 0, 0, 1, []byte("Not found"), 9), msg{"Get", "miss", "binary", true, false}},
		{"binary error", bin(reqMagic, 5, 1, 20, 0, make([]byte, 21), 9), bin(respMagic, 5, 0, 0, 6, []byte("Non-numeric"), 9), msg{"Increment", "error", "binary", false, false}},
		{"binary stats end", bin(reqMagic, 0x10, 0, 0, 0, nil, 0), bin(respMagic, 0x10, 0, 0, 0, nil, 0), msg{"Stat", "ok", "binary", true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newC := func() parser.Parser[Message] {
				c := newConn()
				var m Message
				if r := c.Parse([]byte(tt.request), req, &m); r.Status != parser.Complete && tt.name != "error" {
					t.Fatalf("request: %+v", r)
				}
				return c
			}
			var m Message
			r := newC().Parse([]byte(tt.in), resp, &m)
			require.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(tt.in)}, r)
			assert.Equal(t, tt.want, of(m))
			parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{
				New: newC, Type: resp, In: []byte(tt.in),
				Whole: func(r parser.Result) bool { return r.Status == parser.Complete && r.Consumed == len(tt.in) },
			})
		})
	}
}

// steps parses a whole request stream, then a whole response stream, on one Conn.
func steps(reqs, resps string) (rq, rs []Message) {
	c := newConn()
	for _, s := range parsertest.ParseAll(c, []byte(reqs), req) {
		if s.Status == parser.Complete {
			rq = append(rq, s.Msg)
		}
	}
	for _, s := range parsertest.ParseAll(c, []byte(resps), resp) {
		if s.Status == parser.Complete {
			rs = append(rs, s.Msg)
		}
	}
	return rq, rs
}

// Quiet meta commands are one-way; the answers they draw are one-way too, told from the
// answers of the commands after them.
func TestQuietMeta(t *testing.T) {
	// What memcached 1.6.18 answered: mg a q (hit), mg b q (miss: nothing), ms c q (stored:
	// nothing), md d q (deleted: nothing), ms e q (not stored), mg f (miss), mn.
	rq, rs := steps("mg a v q\r\nmg b v q\r\nms c 1 q\r\nx\r\nmd d q\r\nms e 1 q MA\r\nx\r\nmg f v\r\nmn\r\n",
		"VA 1\r\nx\r\nNS\r\nEN\r\nMN\r\n")
	var got []msg
	for _, m := range rq {
		got = append(got, of(m))
	}
	assert.Equal(t, []msg{{"mg", "quiet", "meta", true, true}, {"mg", "quiet", "meta", true, true},
		{"ms", "quiet", "meta", true, true}, {"md", "quiet", "meta", true, true}, {"ms", "quiet", "meta", true, true},
		{"mg", "", "meta", false, false}, {"mn", "", "meta", false, false}}, got)
	got = nil
	for _, m := range rs {
		got = append(got, of(m))
	}
	assert.Equal(t, []msg{{"mg", "hit", "meta", true, true}, {"ms", "not_stored", "meta", true, true},
		{"mg", "miss", "meta", true, false}, {"mn", "ok", "meta", true, false}}, got)
}

// Binary quiet answers are placed by opcode and opaque.
func TestQuietBinary(t *testing.T) {
	reqs := bin(reqMagic, 0x09, 1, 0, 0, []byte("a"), 1) + // GetQ a: hit
		bin(reqMagic, 0x09, 1, 0, 0, []byte("b"), 2) + // GetQ b: miss, nothing
		bin(reqMagic, 0x14, 1, 0, 0, []byte("c"), 3) + // DeleteQ c: not found
		bin(reqMagic, 0x0a, 0, 0, 0, nil, 4) // Noop
	resps := bin(respMagic, 0x09, 0, 4, 0, []byte("\x00\x00\x00\x00x"), 1) +
		bin(respMagic, 0x14, 0, 0, 1, []byte("Not found"), 3) +
		bin(respMagic, 0x0a, 0, 0, 0, nil, 4)
	rq, rs := steps(reqs, resps)
	require.Len(t, rq, 4)
	assert.True(t, rq[0].OneWay && rq[1].OneWay && rq[2].OneWay && !rq[3].OneWay)
	var got []msg
	for _, m := range rs {
		got = append(got, of(m))
	}
	assert.Equal(t, []msg{{"GetQ", "hit", "binary", true, true}, {"DeleteQ", "not_found", "binary", true, true},
		{"Noop", "ok", "binary", true, false}}, got)
}

// A VALUE block larger than bigBlock past the end of the buffer ends the message; the blocks
// after it and END are ignored as they come.
func TestLargeValue(t *testing.T) {
	c := newConn()
	var m Message
	c.Parse([]byte("get a b\r\n"), req, &m)
	head := "VALUE a 0 300000\r\n"
	r := c.Parse([]byte(head+"xxxx"), resp, &m)
	require.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(head) + 300000 + 2}, r)
	assert.Equal(t, msg{"get", "hit", "text", true, false}, of(m))
	assert.True(t, m.Truncated)
	rest := "VALUE b 0 1\r\nx\r\nEND\r\n"
	assert.Equal(t, parser.Result{Status: parser.Ignored, Consumed: 16}, c.Parse([]byte(rest), resp, &m))
	assert.Equal(t, parser.Result{Status: parser.Ignored, Consumed: 5}, c.Parse([]byte(rest[16:]), resp, &m))
}

func TestInvalid(t *testing.T) {
	for _, in := range []string{"GET k\r\n", "hello world\r\n", "set k 0 0 x\r\n", "set k 0 0 1\r\nxyz\r\n", "set k 0 0 1 maybe\r\nx\r\n",
		"\x80\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x01" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"} {
		var m Message
		assert.Equal(t, parser.Invalid, newConn().Parse([]byte(in), req, &m).Status, "%q", in)
	}
	for _, in := range []string{"OKAY\r\n", "VALUE k 0 1\r\nx\r\nFOO\r\n", "-1\r\n"} {
		var m Message
		assert.Equal(t, parser.Invalid, newConn().Parse([]byte(in), resp, &m).Status, "%q", in)
	}
}

func TestBoundaries(t *testing.T) {
	c := newConn()
	assert.Equal(t, 7, c.FindBoundary([]byte("garbag\nget k\r\n"), req))
	assert.Equal(t, 4, c.FindBoundary([]byte("xyz\nEND\r\n"), resp))
	assert.Equal(t, 2, c.FindBoundary([]byte("zz"+bin(reqMagic, 0, 1, 0, 0, []byte("k"), 1)), req))
	assert.Equal(t, -1, c.FindBoundary([]byte("zz\nnothing here\r\n"), req))
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol[Message](t, Protocol, "memcached", abi.ProtoMemcached, newConn())
	rq, rs := steps("get k\r\nmg k q\r\n", "END\r\n")
	f := Protocol.Records()
	assert.Equal(t, []string{"cmd", "outcome", "success"}, f.Protocols)
	pairA := parser.Pair(Protocol, rq[0], rs[0])
	assert.Equal(t, parser.Fields{"get", "miss", "1"}, parsertest.FieldsProtocols(pairA))
	assert.Equal(t, parser.Fields{"text", "get", "get miss", "1"}, parsertest.FieldsL4L7(pairA))
	one := parser.Pair(Protocol, rq[1], Message{})
	assert.Equal(t, parser.Fields{"mg", "quiet", "1"}, parsertest.FieldsProtocols(one))
	assert.Equal(t, parser.Fields{"meta", "mg", "mg quiet", "1"}, parsertest.FieldsL4L7(one))
}
