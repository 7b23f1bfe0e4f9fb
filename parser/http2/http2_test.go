package http2

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	req  = parser.Request
	resp = parser.Response
)

func newConn() *Conn { return NewConn(parser.NewInterner(100)) }

// wire writes one direction of a connection with x/net's framer and HPACK encoder, which keeps
// its dynamic table across the header blocks it encodes, as a peer's does.
type wire struct {
	buf bytes.Buffer
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder
}

func newWire(client bool) *wire {
	w := &wire{}
	if client {
		w.buf.WriteString(http2.ClientPreface)
	}
	w.fr = http2.NewFramer(&w.buf, nil)
	w.fr.AllowIllegalWrites = true
	w.enc = hpack.NewEncoder(&w.hb)
	return w
}

// block encodes header fields given as name, value pairs.
func (w *wire) block(kv ...string) []byte {
	w.hb.Reset()
	for i := 0; i < len(kv); i += 2 {
		_ = w.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(w.hb.Bytes())
}

func (w *wire) headers(id uint32, end bool, kv ...string) *wire {
	_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: w.block(kv...), EndStream: end, EndHeaders: true})
	return w
}

func (w *wire) data(id uint32, end bool, n int) *wire {
	_ = w.fr.WriteData(id, end, bytes.Repeat([]byte("d"), n))
	return w
}

func (w *wire) settings(s ...http2.Setting) *wire { _ = w.fr.WriteSettings(s...); return w }

func (w *wire) bytes() []byte { return bytes.Clone(w.buf.Bytes()) }

func get(path string) []string {
	return []string{":method", "GET", ":scheme", "http", ":authority", "example.com:8080", ":path", path, "user-agent", "test/1.0", "x-tenant", "acme"}
}

func completes(t *testing.T, c *Conn, typ parser.MessageType, b []byte) []Message {
	t.Helper()
	var out []Message
	for _, s := range parsertest.ParseAll[Message](c, b, typ) {
		switch s.Status {
		case parser.Complete:
			out = append(out, s.Msg)
		case parser.Ignored:
		default:
			if s.Status != parser.NeedMore || s.Consumed != 0 {
				t.Fatalf("step %v", s)
			}
		}
	}
	return out
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol[Message](t, Protocol, "http2", abi.ProtoHTTP2, newConn())
}

// Three requests on one connection: the second and third refer to the dynamic table entries the
// first inserted (authority, user-agent, x-tenant), and are decoded as the first.
func TestDynamicTableAcrossRequests(t *testing.T) {
	w := newWire(true).settings()
	w.headers(1, true, get("/a?q=1")...)
	first := w.buf.Len()
	w.headers(3, true, get("/b/c#frag")...)
	second := w.buf.Len() - first
	w.headers(5, true, get("/a?q=2")...)
	b := w.bytes()
	// The later HEADERS are small: most of their fields are table references.
	assert.Less(t, second, 30)
	got := completes(t, newConn(), req, b)
	require.Len(t, got, 3)
	for i, want := range []struct {
		id   uint32
		path string
	}{{1, "/a"}, {3, "/b/c"}, {5, "/a"}} {
		m := got[i]
		assert.Equal(t, want.id, m.Stream)
		assert.Equal(t, "GET", m.Method)
		assert.Equal(t, want.path, m.Path)
		assert.Equal(t, "example.com:8080", m.Authority)
		assert.False(t, m.Partial)
	}
	assert.Equal(t, second, got[1].Size)
}

// The table follows size updates and evicts: a decoder limited by SETTINGS_HEADER_TABLE_SIZE
// keeps only what fits, like the encoder.
func TestDynamicTableEviction(t *testing.T) {
	c := newConn()
	// The server allows the client's encoder 100 bytes of table.
	server := newWire(false).settings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 100})
	completes(t, c, resp, server.bytes())
	assert.Equal(t, 100, c.dir[0].table.limit)

	w := newWire(true).settings()
	w.enc.SetMaxDynamicTableSizeLimit(100)
	w.enc.SetMaxDynamicTableSize(100)
	for i, p := range []string{"/one", "/two", "/three", "/one"} {
		w.headers(uint32(2*i+1), true, ":method", "POST", ":path", p, ":authority", "h", "x-long-header-name", p+"-value")
	}
	got := completes(t, c, req, w.bytes())
	require.Len(t, got, 4)
	for i, p := range []string{"/one", "/two", "/three", "/one"} {
		assert.Equal(t, p, got[i].Path)
		assert.Equal(t, "POST", got[i].Method)
		assert.Equal(t, "h", got[i].Authority)
		assert.False(t, got[i].Partial)
	}
	tb := &c.dir[0].table
	assert.LessOrEqual(t, tb.size, 100)
	assert.Equal(t, 100, tb.max)
}

// Streams interleave: requests 1, 3, 5 go out together, responses come back 5, 1, 3 with their
// DATA frames mixed, and each response carries its own stream id and size.
func TestInterleavedStreams(t *testing.T) {
	c := newConn()
	w := newWire(true).settings()
	for _, id := range []uint32{1, 3, 5} {
		w.headers(id, true, get("/s")...)
	}
	reqs := completes(t, c, req, w.bytes())
	require.Len(t, reqs, 3)

	s := newWire(false).settings()
	s.headers(3, false, ":status", "200", "content-type", "text/plain")
	s.headers(5, false, ":status", "404")
	s.headers(1, false, ":status", "500")
	s.data(3, false, 10).data(5, true, 7).data(1, false, 100).data(3, true, 20).data(1, true, 0)
	got := completes(t, c, resp, s.bytes())
	require.Len(t, got, 3)
	assert.Equal(t, []uint32{5, 3, 1}, []uint32{got[0].Stream, got[1].Stream, got[2].Stream})
	assert.Equal(t, []int{404, 200, 500}, []int{got[0].Status, got[1].Status, got[2].Status})
	assert.Equal(t, []bool{false, true, false}, []bool{got[0].Success, got[1].Success, got[2].Success})
	// HEADERS (9 + a block of one static reference) + DATA frames (9 + payload each).
	assert.Equal(t, 9+1+9+7, got[0].Size)
	assert.Equal(t, 9+1+9+100+9+0, got[2].Size)
	assert.Empty(t, c.dir[0].streams)
	assert.Empty(t, c.dir[1].streams)
}

// The pairs go by stream id through parser.Conn, whatever the order of the responses.
func TestMatchByStream(t *testing.T) {
	w := newWire(true).settings()
	w.headers(1, true, get("/first")...)
	w.headers(3, true, get("/second")...)
	s := newWire(false).settings()
	s.headers(3, true, ":status", "204")
	s.headers(1, true, ":status", "200")
	sink := &pairs{}
	conn := Protocol.NewConn(parser.ConnConfig{Strings: parser.NewInterner(10), MaxPending: 8, Counts: &parser.MatchCounts{}, Sink: sink})
	play(conn, req, w.bytes(), 100)
	play(conn, resp, s.bytes(), 200)
	assert.Equal(t, []string{`/second "example.com:8080" 204 2 partial=false`, `/first "example.com:8080" 200 2 partial=false`}, sink.got)
}

type pairs struct {
	got   []string
	hosts []parser.HostName
}

func (p *pairs) Call(_, _ uint64, x *parser.Exchange) {
	var a parser.Fields
	x.FieldsProtocols(&a)
	q, r := x.Messages()
	p.got = append(p.got, fmt.Sprintf("%s %q %s %s partial=%v", q.(*Message).Path, a[1], a[4], a[0], r.(*Message).Partial || q.(*Message).Partial))
}
func (p *pairs) HostName(h parser.HostName) { p.hosts = append(p.hosts, h) }

func play(c parser.Conn, typ parser.MessageType, b []byte, ts uint64) {
	for len(b) > 0 {
		r := c.Parse(b, typ, ts)
		if r.Status == parser.NeedMore || r.Status == parser.Invalid {
			return
		}
		b = b[min(r.Consumed, len(b)):]
	}
}

// gRPC: the status is in the trailers (HEADERS with END_STREAM after DATA) or, when the call
// fails at once, in a trailers-only response; the path names the service and method.
func TestGRPC(t *testing.T) {
	c := newConn()
	w := newWire(true).settings()
	call := []string{":method", "POST", ":scheme", "http", ":path", "/helloworld.Greeter/SayHello", ":authority", "localhost:50051", "content-type", "application/grpc", "te", "trailers"}
	w.headers(1, false, call...).data(1, true, 12)
	w.headers(3, false, call...).data(3, true, 12)
	reqs := completes(t, c, req, w.bytes())
	require.Len(t, reqs, 2)
	assert.Equal(t, "/helloworld.Greeter/SayHello", reqs[0].Path)
	assert.True(t, reqs[0].GRPC)

	s := newWire(false).settings()
	s.headers(1, false, ":status", "200", "content-type", "application/grpc")
	s.data(1, false, 17)
	s.headers(1, true, "grpc-status", "0", "grpc-message", "")
	s.headers(3, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "5", "grpc-message", "not found")
	got := completes(t, c, resp, s.bytes())
	require.Len(t, got, 2)
	assert.Equal(t, Message{Type: resp, Size: got[0].Size, Stream: 1, Status: 200, GRPC: true, GRPCStatus: 0, Success: true}, got[0])
	assert.Equal(t, Message{Type: resp, Size: got[1].Size, Stream: 3, Status: 200, GRPC: true, GRPCStatus: 5}, got[1])

	x := parser.Pair[Message](Protocol, reqs[1], got[1])
	assert.Equal(t, parser.Fields{"2", "localhost:50051", "POST", "/helloworld.Greeter/SayHello", "200", "5"}, parsertest.FieldsProtocols(x))
	assert.Equal(t, parser.Fields{"POST", "localhost:50051", "/helloworld.Greeter/SayHello", "2", "5", "200"}, parsertest.FieldsL4L7(x))
	x = parser.Pair[Message](Protocol, Message{Method: "GET", Path: "/"}, Message{Status: 301})
	assert.Equal(t, parser.Fields{"2", "", "GET", "/", "301", "-1"}, parsertest.FieldsProtocols(x))
}

// A stream the server resets ends its response, which fails; a CONTINUATION carries the rest of
// a header block; padding and priority are skipped.
func TestResetContinuationPadding(t *testing.T) {
	c := newConn()
	w := newWire(true).settings()
	blk := w.block(get("/long")...)
	_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:5], EndStream: true, PadLength: 3,
		Priority: http2.PriorityParam{StreamDep: 0, Weight: 20}})
	_ = w.fr.WriteContinuation(1, false, blk[5:9])
	_ = w.fr.WriteContinuation(1, true, blk[9:])
	w.headers(3, true, get("/next")...)
	got := completes(t, c, req, w.bytes())
	require.Len(t, got, 2)
	assert.Equal(t, "/long", got[0].Path)
	assert.Equal(t, 9+1+5+5+3+9+4+9+len(blk)-9, got[0].Size)
	assert.Equal(t, "/next", got[1].Path)
	assert.False(t, got[1].Partial)

	s := newWire(false).settings()
	s.headers(1, false, ":status", "200")
	_ = s.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	_ = s.fr.WriteRSTStream(3, http2.ErrCodeRefusedStream) // nothing open on 3: skipped
	_ = s.fr.WritePing(false, [8]byte{})
	_ = s.fr.WriteGoAway(3, http2.ErrCodeNo, []byte("bye"))
	r := completes(t, c, resp, s.bytes())
	require.Len(t, r, 1)
	assert.True(t, r[0].Reset)
	assert.False(t, r[0].Success)
	assert.Equal(t, 200, r[0].Status)
}

// A connection joined late: fields that refer to table entries sent before are unresolved, and
// their messages partial, never filled with another entry's value; what the blocks say in full
// is recorded.
func TestJoinedLate(t *testing.T) {
	w := newWire(true).settings()
	w.headers(1, true, get("/before")...)
	skip := w.buf.Len()
	w.headers(3, true, get("/after")...)
	w.headers(5, true, ":method", "DELETE", ":path", "/fresh", ":authority", "other")
	w.headers(7, true, ":method", "DELETE", ":path", "/fresh", ":authority", "other")
	c := newConn()
	got := completes(t, c, req, w.bytes()[skip:])
	require.Len(t, got, 3)
	// Stream 3: :method GET and :path are in the static table or literal; the authority and
	// the others were indexed by stream 1.
	assert.True(t, got[0].Partial)
	assert.True(t, got[0].Truncated)
	assert.Equal(t, "", got[0].Authority)
	assert.Equal(t, "GET", got[0].Method)
	assert.Equal(t, "/after", got[0].Path)
	for _, m := range got[1:] {
		assert.Equal(t, Message{Type: req, Size: m.Size, Stream: m.Stream, Method: "DELETE", Path: "/fresh", Authority: "other", GRPCStatus: -1}, m)
	}

	// A SETTINGS seen late says nothing of the frame size the peer allowed before.
	late := newConn()
	completes(t, late, req, newWire(true).settings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}).bytes()[len(preface):])
	assert.Zero(t, late.dir[1].maxFrame)
	fresh := newConn()
	completes(t, fresh, req, newWire(true).settings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}).bytes())
	assert.EqualValues(t, defaultMaxFrame, fresh.dir[1].maxFrame)

	// DATA of a stream whose HEADERS came before: a partial response with what is known.
	s := newWire(false).data(9, true, 5).bytes()
	r := completes(t, newConn(), resp, s)
	require.Len(t, r, 1)
	assert.Equal(t, Message{Type: resp, Size: 14, Truncated: true, Stream: 9, GRPCStatus: -1, Partial: true}, r[0])
}

// Bytes lost (a gap, or a resynchronisation) make the table unknown from there on.
func TestLost(t *testing.T) {
	w := newWire(true).settings()
	w.headers(1, true, get("/a")...)
	cut := w.buf.Len()
	w.headers(3, true, get("/b")...)
	b := w.bytes()
	c := newConn()
	require.Len(t, completes(t, c, req, b[:cut]), 1)
	c.Lost(req)
	got := completes(t, c, req, b[cut:])
	require.Len(t, got, 1)
	assert.True(t, got[0].Partial)
	assert.Equal(t, "", got[0].Authority)
	assert.Equal(t, "/b", got[0].Path)

	// The same through parser.Conn, as the Tracker tells it of a gap.
	sink := &pairs{}
	conn := Protocol.NewConn(parser.ConnConfig{Strings: parser.NewInterner(10), MaxPending: 8, Counts: &parser.MatchCounts{}, Sink: sink})
	play(conn, req, b[:cut], 1)
	conn.Lost(req)
	play(conn, req, b[cut:], 2)
	play(conn, resp, newWire(false).settings().headers(1, true, ":status", "200").headers(3, true, ":status", "200").bytes(), 3)
	assert.Equal(t, []string{`/a "example.com:8080" 200 2 partial=false`, `/b "" 200 2 partial=true`}, sink.got)
	assert.Empty(t, sink.hosts)

	// A table larger than MaxTable is held up to MaxTable: a size update within what the
	// decoder side allowed is no error.
	c = newConn()
	completes(t, c, resp, newWire(false).settings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 1 << 20}).bytes())
	w = newWire(true).settings()
	w.enc.SetMaxDynamicTableSizeLimit(1 << 20)
	w.enc.SetMaxDynamicTableSize(1 << 20)
	w.headers(1, true, get("/big")...)
	w.headers(3, true, get("/big")...)
	got = completes(t, c, req, w.bytes())
	require.Len(t, got, 2)
	assert.False(t, got[1].Partial)
	assert.Equal(t, "example.com:8080", got[1].Authority)
	assert.Equal(t, MaxTable, c.dir[0].table.max)

	// An index past a complete table is a malformed block: partial too, and the table reset.
	c = newConn()
	bad := append(newWire(true).settings().bytes(), 0, 0, 1, frameHeaders, flagEndStream|flagEndHeaders, 0, 0, 0, 1, 0x80|70)
	got = completes(t, c, req, bad)
	require.Len(t, got, 1)
	assert.True(t, got[0].Partial)
	assert.True(t, c.dir[0].table.incomplete)
}

// Every cut of a connection's two streams gives, once the rest arrives, the same steps.
func TestEveryTruncation(t *testing.T) {
	w := newWire(true).settings()
	w.headers(1, false, ":method", "POST", ":path", "/upload?id=7", ":authority", "h", "content-type", "application/grpc+proto").data(1, true, 30)
	w.headers(3, true, get("/x")...)
	s := newWire(false).settings()
	s.headers(1, false, ":status", "200", "content-type", "application/grpc").data(1, false, 5)
	s.headers(1, true, "grpc-status", "14")
	s.headers(3, true, ":status", "304")
	for _, tc := range []struct {
		typ parser.MessageType
		b   []byte
	}{{req, w.bytes()}, {resp, s.bytes()}} {
		whole := parsertest.ParseAll[Message](newConn(), tc.b, tc.typ)
		require.Len(t, whole, map[parser.MessageType]int{req: 5, resp: 5}[tc.typ])
		for n := 0; n < len(tc.b); n++ {
			d := parsertest.NewDriver[Message](t, newConn())
			d.Check = checkResult
			d.Feed(tc.typ, tc.b[:n])
			d.Feed(tc.typ, tc.b[n:])
			parsertest.AssertSteps(t, d.Steps(tc.typ), whole)
		}
		// A message cut short completes nothing.
		for n := 0; n < len(tc.b); n++ {
			var m Message
			c := newConn()
			r := c.Parse(tc.b[:n], tc.typ, &m)
			checkResult(t, tc.b[:n], tc.typ, r, &m)
			assert.NotEqual(t, parser.Invalid, r.Status, "cut at %d", n)
		}
	}
	msgs, _, _ := parsertest.Messages(parsertest.ParseAll[Message](newConn(), s.bytes(), resp))
	assert.Equal(t, 14, msgs[0].GRPCStatus)
	assert.False(t, msgs[0].Success)
	assert.Equal(t, 304, msgs[1].Status)
	assert.True(t, msgs[1].Success)
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		typ parser.MessageType
		in  []byte
	}{
		{req, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{resp, []byte("HTTP/1.1 200 OK\r\n\r\n")},
		{req, []byte{0, 0, 0, frameHeaders, 4, 0, 0, 0, 2}},                 // a client's even stream
		{req, []byte{0, 0, 4, framePushPromise, 4, 0, 0, 0, 1, 0, 0, 0, 2}}, // PUSH_PROMISE from a client
		{resp, []byte{0, 0, 5, frameSettings, 0, 0, 0, 0, 0}},               // not a multiple of 6
		{resp, []byte{0, 0, 8, framePing, 0, 0, 0, 0, 1}},                   // on a stream
		{resp, []byte{0, 0, 0, frameContinuation, 4, 0, 0, 0, 1}},           // no header block open
		{resp, []byte{0, 0, 0, 0x42, 0, 0, 0, 0, 0}},                        // unknown type
		{resp, []byte{0x01, 0, 0, frameData, 0, 0, 0, 0, 1}},                // over 16384 once SETTINGS said so
	} {
		c := newConn()
		c.dir[1].maxFrame = defaultMaxFrame
		var m Message
		assert.Equal(t, parser.Result{Status: parser.Invalid}, c.Parse(tc.in, tc.typ, &m), "%q", tc.in)
	}
	parsertest.CheckBoundaries(t, newConn, []parsertest.Boundary{
		{"xx\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x04\x01\x00\x00\x00\x00", resp, 2},
		{"xxxxxxxxxxxxxxxxxxxx", resp, 12},
		{"x", req, -1},
	})
}

// At most maxStreams streams stay open per direction: the oldest is forgotten, so a peer that
// never ends its streams cannot grow the state.
func TestOpenStreamsBounded(t *testing.T) {
	c := newConn()
	w := newWire(true).settings()
	for i := range maxStreams + 1 {
		w.headers(uint32(2*i+1), false, get("/open")...)
	}
	assert.Empty(t, completes(t, c, req, w.bytes()))
	require.Len(t, c.dir[0].streams, maxStreams)
	assert.EqualValues(t, 3, c.dir[0].streams[0].id)
	// Stream 1's end finds no state: a partial message with what its last frame says.
	got := completes(t, c, req, newWire(false).data(1, true, 1).bytes())
	require.Len(t, got, 1)
	assert.True(t, got[0].Partial)
	assert.Equal(t, "", got[0].Path)
}
