package calls

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/observer/stream"
	"github.com/netobserver/netobserver/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shortConn is one short-lived HTTP connection as the kernel reports it.
type shortConn struct {
	id             abi.ConnID
	connectTS, end uint64
}

func (s shortConn) ctrl(tr *Tracker) {
	tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: s.connectTS, ConnID: s.id, Addr: wireAddr, Role: abi.RoleClient})
	tr.Ctrl(&abi.CtrlEvent{Type: abi.EventClose, TS: s.end, ConnID: s.id, Addr: wireAddr})
}

func (s shortConn) data(tr *Tracker, req, resp []byte) { s.call(tr, 1, s.connectTS, req, resp) }

// call sends the connection's k-th request (from 1) at ts+10 µs and its response at ts+20 µs, all
// of the same sizes.
func (s shortConn) call(tr *Tracker, k, ts uint64, req, resp []byte) {
	ev := abi.DataEvent{DataAttr: abi.DataAttr{TS: ts + 10_000, ConnID: s.id, Addr: wireAddr,
		Protocol: abi.ProtoHTTP, Direction: abi.DirEgress, Syscall: abi.SyscallWrite,
		Pos: k * uint64(len(req)), OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: req}
	tr.Data(&ev)
	ev.TS, ev.Direction, ev.Syscall = ts+20_000, abi.DirIngress, abi.SyscallRead
	ev.Pos, ev.OrgMsgSize, ev.MsgBufSize, ev.Payload = k*uint64(len(resp)), uint32(len(resp)), uint32(len(resp)), resp
	tr.Data(&ev)
}

// 200 000 short connections (connect, request, response, close), 20 000 a second of event time,
// polled as the kernel side delivers them: a batch's control events before its data, so each
// close comes before the connection's data — and for some, the data only in the next poll. Every
// call is recorded, and a closed connection is released closeGrace after its close: the state
// tracked stays bounded and returns to nothing.
func TestConnectionChurn(t *testing.T) {
	req := []byte("GET /health HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	calls := 0
	tr := New(Config{}, Parsers(), func(c *Call) {
		if _, resource, status := describe(c); resource == "/health" && status == 200 && c.Latency() == 10_000 {
			calls++
		}
	})
	const n, perBatch = 200_000, 100
	const spacing = 50_000 // ns between connections
	conns := make([]shortConn, n)
	for i := range conns {
		ts := uint64(1e9 + i*spacing)
		// Ten client sockets reused in turn, as ab -c 10 does; start tells their lives apart.
		conns[i] = shortConn{id: abi.ConnID{FD: int32(3 + i%10), TGID: 4242, Start: ts}, connectTS: ts, end: ts + 30_000}
	}
	maxTracked, maxNotes, maxOrder := 0, 0, 0
	var late []shortConn // connections whose data the next poll brings
	for b := 0; b < n; b += perBatch {
		batch := conns[b : b+perBatch]
		for _, c := range batch {
			c.ctrl(tr)
		}
		for _, c := range late {
			c.data(tr, req, resp)
		}
		late = late[:0]
		for i, c := range batch {
			if i%7 == 3 {
				late = append(late, c)
				continue
			}
			c.data(tr, req, resp)
		}
		tr.EndBatch(true)
		maxTracked = max(maxTracked, tr.Connections())
		maxNotes = max(maxNotes, tr.Notes())
		maxOrder = max(maxOrder, len(tr.connects.order)+len(tr.closes.order))
	}
	for _, c := range late {
		c.data(tr, req, resp)
	}
	tr.EndBatch(true)
	assert.Equal(t, n, calls)
	// closeGrace (100 ms) of connections at 20 000 a second, and a batch.
	assert.LessOrEqual(t, maxTracked, 2000+2*perBatch)
	assert.LessOrEqual(t, tr.Peak(), 2000+2*perBatch, "within batches too")
	assert.LessOrEqual(t, maxNotes, 2000+2*perBatch)
	assert.LessOrEqual(t, maxOrder, 4*(2000+2*perBatch), "the notes' order")

	// Time goes on (another connection's event): everything closed is released.
	other := shortConn{id: abi.ConnID{FD: 99, TGID: 1, Start: 1}, connectTS: 1e9 + n*spacing + 200e6}
	tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: other.connectTS, ConnID: other.id, Addr: wireAddr, Role: abi.RoleClient})
	other.data(tr, req, resp)
	tr.EndBatch(true)
	assert.Equal(t, 1, tr.Connections(), "only the open one")
	assert.Zero(t, tr.Notes())
	cnt := tr.Counters(abi.ProtoHTTP)
	assert.EqualValues(t, n+1, cnt.Calls)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Evicted+cnt.UnknownRole)
	assert.Zero(t, tr.NotesEvicted())
}

// Past MaxConnections the least recently active connection is forgotten — counted, logged, what it
// held counted as unmatched — and new connections keep being recorded.
func TestEvictLeastRecentlyActive(t *testing.T) {
	var log bytes.Buffer
	calls := 0
	tr := New(Config{MaxConnections: 100, Logger: slog.New(slog.NewTextHandler(&log, nil))}, Parsers(), func(*Call) { calls++ })
	req := []byte("GET /slow HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	pos := map[wireKey]uint64{}
	event := func(fd int32, ts uint64, dir abi.Direction, p []byte) *abi.DataEvent {
		pos[wireKey{fd, dir}] += uint64(len(p))
		return &abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: abi.ConnID{FD: fd, TGID: 7, Start: 1}, Addr: wireAddr,
			Protocol: abi.ProtoHTTP, Role: abi.RoleClient, Direction: dir, Pos: pos[wireKey{fd, dir}],
			OrgMsgSize: uint32(len(p)), MsgBufSize: uint32(len(p))}, Payload: p}
	}
	// Connection 0 stays active; 1000 others each send a request that is never answered.
	for i := range 1000 {
		ts := uint64(1000 + 10*i)
		tr.Data(event(int32(i+1), ts, abi.DirEgress, req))
		if i%50 == 0 {
			tr.Data(event(0, ts, abi.DirEgress, req))
			tr.Data(event(0, ts+5, abi.DirIngress, resp))
		}
		tr.EndBatch(true)
		require.LessOrEqual(t, tr.Connections(), 100)
	}
	cnt := tr.Counters(abi.ProtoHTTP)
	assert.EqualValues(t, 1000+1-100, cnt.Evicted)
	assert.EqualValues(t, 1000+1-100, cnt.UnmatchedRequests, "each evicted connection's request")
	assert.Equal(t, 20, calls, "connection 0 was never the least recently active")
	// Logged the 1st, 10th and 100th time, not 901 times.
	assert.Equal(t, 3, strings.Count(log.String(), "least recently active"), log.String())
	assert.Contains(t, log.String(), "evicted=100\n")
}

// panicky is a line protocol whose parser panics on a request starting with "boom".
var panicky = parser.Define(parser.Spec[line]{
	Kernel:          abi.ProtoKafka, // a protocol number the tests can spare
	Records:         parser.Records{Name: "panicky", Protocols: []string{}, L4L7: parser.L7Req},
	NewParser:       func(*parser.Interner) parser.Parser[line] { return panickyParser{} },
	Matcher:         parser.InOrder[line]{},
	FieldsProtocols: func(_, _ *line, f *parser.Fields) { *f = parser.Fields{} },
	FieldsL4L7:      func(_, _ *line, f *parser.Fields) { *f = parser.Fields{} },
})

// line is a message of panicky.
type line struct {
	typ  parser.MessageType
	size int
}

func (l line) Frame() parser.Frame { return parser.Frame{Type: l.typ, Size: l.size} }

type panickyParser struct{}

func (panickyParser) Parse(buf []byte, typ parser.MessageType, msg *line) parser.Result {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return parser.Result{Status: parser.NeedMore}
	}
	if bytes.HasPrefix(buf, []byte("boom")) {
		var table []int
		_ = table[len(buf)] // index out of range, as parser/mysql's le32 on a short body did
	}
	msg.typ, msg.size = typ, i+1
	return parser.Result{Status: parser.Complete, Consumed: i + 1}
}

func (panickyParser) FindBoundary([]byte, parser.MessageType) int { return -1 }

// A parser that panics takes down its connection's state, never the process: the panic is
// counted and logged with the protocol and the bytes, other connections go on, and the
// connection's next data starts afresh.
func TestParserPanicIsContained(t *testing.T) {
	var log bytes.Buffer
	calls := 0
	parsers := Parsers()
	parsers[panicky.Kernel()] = panicky
	tr := New(Config{Logger: slog.New(slog.NewTextHandler(&log, nil))}, parsers, func(*Call) { calls++ })
	pos := map[wireKey]uint64{}
	send := func(fd int32, dir abi.Direction, ts uint64, p string) {
		k := wireKey{fd, dir}
		pos[k] += uint64(len(p))
		tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: abi.ConnID{FD: fd, TGID: 9, Start: 1}, Addr: wireAddr,
			Protocol: abi.ProtoKafka, Role: abi.RoleClient, Direction: dir, Pos: pos[k],
			OrgMsgSize: uint32(len(p)), MsgBufSize: uint32(len(p))}, Payload: []byte(p)})
	}
	for i := range 12 {
		ts := uint64(1000 * (i + 1))
		send(1, abi.DirEgress, ts, "ping\n")
		send(1, abi.DirIngress, ts+10, "pong\n")
		send(2, abi.DirEgress, ts, "ping\n") // a request left waiting, dropped with the state
		send(2, abi.DirEgress, ts+1, "boom\n")
		tr.EndBatch(true)
	}
	assert.Equal(t, 12, calls, "connection 1's calls")
	cnt := tr.Counters(abi.ProtoKafka)
	assert.EqualValues(t, 12, cnt.Panics)
	assert.EqualValues(t, 12, cnt.UnmatchedRequests, "connection 2's pings")
	assert.Equal(t, 1, tr.Connections(), "connection 2's state is gone")
	// Logged the 1st and the 10th time.
	assert.Equal(t, 2, strings.Count(log.String(), "a parser panicked"), log.String())
	assert.Contains(t, log.String(), "protocol=kafka panics=1 ")
	assert.Contains(t, log.String(), "bytes=626f6f6d0a") // "boom\n"
	assert.Contains(t, log.String(), "index out of range")

	// A panic while a connection ends is contained too.
	send(3, abi.DirEgress, 20_000, "boo")
	tr.EndBatch(true)
	send(3, abi.DirEgress, 20_001, "m\n")
	tr.Close()
	assert.EqualValues(t, 13, tr.Counters(abi.ProtoKafka).Panics)
	assert.Zero(t, tr.Connections())
}

// Closes of connections that never carry data (most of a host's) expire from the notes: what
// the notes hold, and their bookkeeping, stay bounded.
func TestNotesOfClosesExpire(t *testing.T) {
	n := newNotes(1 << 16)
	for i := range 100_000 {
		ts := uint64(i) * 1e6 // a close every ms: 100 within closeGrace
		n.put(abi.ConnID{FD: int32(i), TGID: 1, Start: ts}, note{closedAt: ts})
		n.expireClosed(ts, closeGrace)
		require.LessOrEqual(t, n.len(), 101)
		require.LessOrEqual(t, len(n.order), 4*101)
	}
	assert.Zero(t, n.Evicted)
}

// A connection whose close event was lost is released by its final stats event, which comes on
// another ring.
func TestFinalStatsCloseAConnection(t *testing.T) {
	req := []byte("GET /health HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	calls := 0
	tr := New(Config{}, Parsers(), func(*Call) { calls++ })
	for i := range 1000 {
		ts := uint64(1e9 + i*1e6)
		c := shortConn{id: abi.ConnID{FD: 3, TGID: 4242, Start: ts}, connectTS: ts, end: ts + 30_000}
		tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: c.connectTS, ConnID: c.id, Addr: wireAddr, Role: abi.RoleClient})
		c.data(tr, req, resp)
		tr.Stats(&abi.StatsEvent{TS: c.end, ConnID: c.id, Addr: wireAddr, Role: abi.RoleClient, ConnEvents: 0})
		tr.Stats(&abi.StatsEvent{TS: c.end, ConnID: c.id, Addr: wireAddr, Role: abi.RoleClient, ConnEvents: 1})
		tr.EndBatch(true)
		require.LessOrEqual(t, tr.Connections(), 101)
	}
	assert.Equal(t, 1000, calls)
}

// Connections quiet for quietAfter give their streams' arrays back to the pool, once each, and take
// one again when bytes come; busy ones (that called before this batch) keep theirs, and a first
// call gives them back at once (Tracker.settle). A quiet HTTP connection between calls keeps
// neither stream buffers nor parser state.
func TestQuietConnectionsReleaseArrays(t *testing.T) {
	req := []byte("GET /health HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	calls := 0
	tr := New(Config{}, Parsers(), func(*Call) { calls++ })
	conn := func(i int, ts uint64) shortConn {
		s := shortConn{id: abi.ConnID{FD: int32(3 + i), TGID: 4242, Start: 1}, connectTS: ts}
		if tr.conns[s.id] == nil {
			tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: ts, ConnID: s.id, Addr: wireAddr, Role: abi.RoleClient})
		}
		return s
	}
	const n = 300
	for i := range n {
		conn(i, 1e9+uint64(i)*1000).data(tr, req, resp)
		tr.EndBatch(true)
	}
	require.Equal(t, 2, tr.arrays.Len(), "each first call gave its two arrays back, the next connection took them")
	for i := range n {
		conn(i, 0).call(tr, 2, 1e9+1e6+uint64(i)*1000, req, resp)
		tr.EndBatch(true)
	}
	require.Equal(t, 2*n, calls)
	require.Zero(t, tr.arrays.Len(), "busy: every connection holds its arrays")
	// Half of quietAfter later only a new connection is active: nothing is quiet yet.
	conn(n, 1e9+quietAfter/2).data(tr, req, resp)
	tr.EndBatch(true)
	require.Equal(t, 2, tr.arrays.Len(), "the new one's first call")
	// Later the first n are quiet (not the one of quietAfter/2): both streams of each give their
	// arrays back.
	conn(n+1, 1e9+quietAfter*5/4).data(tr, req, resp)
	tr.EndBatch(true)
	require.Equal(t, 2*n+2, tr.arrays.Len())
	require.EqualValues(t, n, tr.Rested())
	for _, c := range tr.conns {
		require.Nil(t, c.l7)
		require.Equal(t, [2]*stream.Buffer{}, c.streams, "rested, or settled after a first call")
	}
	// A quiet connection that speaks again takes arrays back (its request and response
	// streams) and, once it has called, keeps them; the walk does not visit the still-quiet
	// ones again.
	conn(0, 0).call(tr, 3, 1e9+quietAfter*11/8, req, resp)
	tr.EndBatch(true)
	require.Equal(t, 2*n+2, tr.arrays.Len())
	conn(0, 0).call(tr, 4, 1e9+quietAfter*11/8+1e6, req, resp)
	tr.EndBatch(true)
	require.Equal(t, 2*n, tr.arrays.Len())
	require.EqualValues(t, n, tr.Rested())
	require.Equal(t, 2*n+4, calls)
}

// A server's first response written with writev is staged (its start is not known from one
// vectored event): it is placed, and the call emitted, when a later drained batch settles it —
// whatever connection that batch's events belong to — not when the connection closes.
func TestStagedResponseSettlesInALaterBatch(t *testing.T) {
	req := []byte("GET /ws HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	calls := 0
	tr := New(Config{}, Parsers(), func(*Call) { calls++ })
	id := abi.ConnID{FD: 5, TGID: 80, Start: 1}
	ev := abi.DataEvent{DataAttr: abi.DataAttr{TS: 1e9, ConnID: id, Addr: wireAddr, Protocol: abi.ProtoHTTP,
		Role: abi.RoleServer, Direction: abi.DirIngress, Syscall: abi.SyscallRead,
		Pos: uint64(len(req)), OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: req}
	tr.Data(&ev)
	ev.TS, ev.Direction, ev.Syscall = 1e9+10_000, abi.DirEgress, abi.SyscallWriteV
	ev.Pos, ev.OrgMsgSize, ev.MsgBufSize, ev.Payload = uint64(len(resp)), uint32(len(resp)), uint32(len(resp)), resp
	tr.Data(&ev)
	tr.EndBatch(true)
	require.Zero(t, calls, "the response waits for a later poll: more of its syscall may come")
	other := shortConn{id: abi.ConnID{FD: 6, TGID: 81, Start: 1}, connectTS: 1e9 + 20_000}
	tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: other.connectTS, ConnID: other.id, Addr: wireAddr, Role: abi.RoleClient})
	tr.EndBatch(true)
	require.Equal(t, 1, calls)
	tr.Rest(3e9)
	c := tr.conns[id]
	require.Nil(t, c.l7, "answered and quiet: it rests")
	require.Equal(t, [2]*stream.Buffer{}, c.streams)
}

// A connection rests in every quiet spell, also when it is the most recently active one (the end
// of the walk) each time it speaks again.
func TestRestsAgainAfterSpeaking(t *testing.T) {
	req := []byte("GET /poll HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	calls := 0
	tr := New(Config{}, Parsers(), func(*Call) { calls++ })
	id := abi.ConnID{FD: 7, TGID: 42, Start: 1}
	for i := range uint64(3) {
		ts := 1e9 + i*4*quietAfter
		out := abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: id, Addr: wireAddr, Protocol: abi.ProtoHTTP,
			Role: abi.RoleClient, Direction: abi.DirEgress, Syscall: abi.SyscallWrite,
			Pos: (2*i + 1) * uint64(len(req)), OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: req}
		tr.Data(&out)
		in := out
		in.TS, in.Direction, in.Syscall, in.Pos = ts+1000, abi.DirIngress, abi.SyscallRead, (2*i+1)*uint64(len(resp))
		in.OrgMsgSize, in.MsgBufSize, in.Payload = uint32(len(resp)), uint32(len(resp)), resp
		tr.Data(&in)
		tr.EndBatch(true)
		require.Nil(t, tr.conns[id].l7, "its first call of the spell settled it")
		out.TS, out.Pos = ts+2000, out.Pos+uint64(len(req))
		in.TS, in.Pos = ts+3000, in.Pos+uint64(len(resp))
		tr.Data(&out)
		tr.Data(&in)
		tr.EndBatch(true)
		require.NotNil(t, tr.conns[id].l7, "speaking")
		tr.Rest(ts + 2*quietAfter)
		require.Nil(t, tr.conns[id].l7, "quiet spell %d", i)
		require.EqualValues(t, i+1, tr.Rested())
	}
	require.Equal(t, 6, calls)
}

// Connections that open after others rested take the parser states and stream buffers those gave
// up, and record their calls as with new ones; a connection that rests with a request unanswered
// keeps its state. Once a second of the clock passes without new connections taking any, what
// was kept for them goes.
func TestNewConnectionsReuseRestedState(t *testing.T) {
	req := []byte("GET /reuse HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 204 No Content\r\n\r\n")
	calls := 0
	tr := New(Config{}, Parsers(), func(c *Call) {
		if _, resource, status := describe(c); resource == "/reuse" && status == 204 && c.Latency() == 10_000 {
			calls++
		}
	})
	open := func(i int, ts uint64) shortConn {
		s := shortConn{id: abi.ConnID{FD: int32(3 + i), TGID: 4242, Start: 1}, connectTS: ts}
		if tr.conns[s.id] == nil {
			tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: ts, ConnID: s.id, Addr: wireAddr, Role: abi.RoleClient})
		}
		return s
	}
	const n = 100
	for i := range n {
		open(i, 1e9+uint64(i)*1000).data(tr, req, resp)
	}
	// One more whose request is unanswered when it rests.
	waiting := open(n, 1e9+n*1000)
	tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: waiting.connectTS + 10_000, ConnID: waiting.id, Addr: wireAddr,
		Protocol: abi.ProtoHTTP, Direction: abi.DirEgress, Syscall: abi.SyscallWrite,
		Pos: uint64(len(req)), OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: req})
	tr.EndBatch(true)
	require.Equal(t, n, calls)
	// A second call each: having called, each keeps a parser state of its own.
	for i := range n {
		open(i, 0).call(tr, 2, 1e9+1e6+uint64(i)*1000, req, resp)
	}
	tr.EndBatch(true)
	require.Equal(t, 2*n, calls)
	rested := map[parser.Conn]bool{}
	for _, c := range tr.conns {
		rested[c.l7] = true
	}
	tr.Rest(1e9 + 2*quietAfter)
	http := tr.kinds[abi.ProtoHTTP]
	require.Len(t, http.idle, n, "the answered connections' parser states")
	require.NotNil(t, tr.conns[waiting.id].l7, "a request waits: its state stays")

	for i := n + 1; i < 2*n+1; i++ {
		open(i, 2e9+uint64(i)*1000).data(tr, req, resp)
	}
	tr.EndBatch(true)
	require.Equal(t, 3*n, calls)
	require.Len(t, http.idle, n, "their first calls settled them: each gave back the state it took")
	for i := n + 1; i < 2*n+1; i++ {
		open(i, 0).call(tr, 2, 2e9+1e6+uint64(i)*1000, req, resp)
	}
	tr.EndBatch(true)
	require.Equal(t, 4*n, calls)
	require.Empty(t, http.idle)
	for _, c := range tr.conns {
		if c.seq > n+1 {
			require.True(t, rested[c.l7], "connection %d made a parser state of its own", c.seq)
		}
	}
	cnt := tr.Counters(abi.ProtoHTTP)
	require.EqualValues(t, 4*n+1, cnt.Requests)
	require.EqualValues(t, 4*n, cnt.Responses)

	tr.Rest(2e9 + 2*quietAfter)
	require.Len(t, http.idle, n, "the second hundred rested")
	require.Positive(t, tr.arrays.Len())
	tr.Rest(3e9 + 2*quietAfter)
	require.Empty(t, http.idle, "a second without new connections: the burst is over")
	require.Zero(t, tr.arrays.Len())
}

// A connection that makes its first call gives up its streams (their arrays back to the pool)
// and its parser state once parsed, without waiting to rest: 1 000 connections that each made one
// call in a batch hold none after it, and the next call on each is parsed exactly. A connection
// that has called keeps them between batches.
func TestFirstCallSettlesState(t *testing.T) {
	type got struct {
		resource string
		status   int
		latency  uint64
	}
	calls := map[int32][]got{}
	tr := New(Config{}, Parsers(), func(c *Call) {
		_, resource, status := describe(c)
		calls[c.Conn.FD] = append(calls[c.Conn.FD], got{resource, status, c.Latency()})
	})
	const n = 1000
	id := func(i int) abi.ConnID { return abi.ConnID{FD: int32(3 + i), TGID: 4242, Start: 1} }
	// call sends connection i's k-th request and its response (each stream at pos ends at the
	// sum of what it carried so far).
	reqPos, respPos := make([]uint64, n), make([]uint64, n)
	call := func(i int, ts uint64, req, resp string) {
		reqPos[i] += uint64(len(req))
		respPos[i] += uint64(len(resp))
		ev := abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: id(i), Addr: wireAddr,
			Protocol: abi.ProtoHTTP, Role: abi.RoleClient, Direction: abi.DirEgress, Syscall: abi.SyscallWrite,
			Pos: reqPos[i], OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: []byte(req)}
		tr.Data(&ev)
		ev.TS, ev.Direction, ev.Syscall = ts+20_000, abi.DirIngress, abi.SyscallRead
		ev.Pos, ev.OrgMsgSize, ev.MsgBufSize, ev.Payload = respPos[i], uint32(len(resp)), uint32(len(resp)), []byte(resp)
		tr.Data(&ev)
	}
	http := tr.kinds[abi.ProtoHTTP]
	for i := range n {
		call(i, 1e9+uint64(i)*1000, fmt.Sprintf("GET /first/%d HTTP/1.1\r\nHost: svc\r\n\r\n", i),
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
	tr.EndBatch(true)
	require.Len(t, calls, n)
	require.Equal(t, 2*n, tr.arrays.Len(), "every stream gave its array back")
	// Each connection gave its parser state up after its call, for the next one to parse with:
	// one state served the batch.
	require.Len(t, http.idle, 1)
	for _, c := range tr.conns {
		require.Nil(t, c.l7)
		require.Equal(t, [2]*stream.Buffer{}, c.streams, "only where the streams stand is kept")
	}
	require.Zero(t, tr.Rested(), "none rested: 1 ms of event time passed")

	// 10 ms later each calls again (none rested), and is answered 404.
	for i := range n {
		call(i, 1e9+10e6+uint64(i)*1000, fmt.Sprintf("GET /second/%d HTTP/1.1\r\nHost: svc\r\n\r\n", i),
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	}
	tr.EndBatch(true)
	require.Zero(t, tr.arrays.Len(), "having called, every connection keeps its arrays")
	require.Empty(t, http.idle, "and its parser state")
	for i := range n {
		require.Equal(t, []got{{fmt.Sprintf("/first/%d", i), 200, 20_000}, {fmt.Sprintf("/second/%d", i), 404, 20_000}},
			calls[id(i).FD], "connection %d", i)
	}
	cnt := tr.Counters(abi.ProtoHTTP)
	require.EqualValues(t, 2*n, cnt.Calls)
	require.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid+cnt.AbandonedBytes)
}
