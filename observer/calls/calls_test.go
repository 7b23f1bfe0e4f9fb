package calls

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/internal/replaytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorded is what a test keeps of a call.
type recorded struct {
	method, resource string
	status           int
	success          bool
	latency          uint64
	reqSize          int
}

type harness struct {
	*Tracker
	calls []recorded
}

func newHarness() *harness {
	h := &harness{}
	h.Tracker = New(Config{}, Parsers(), func(c *Call) {
		method, resource, status := describe(c)
		h.calls = append(h.calls, recorded{method, resource, status, c.Response.Success, c.Latency(), c.Request.Size})
	})
	return h
}

// run replays trace through the cgo layer into a Tracker and ends every connection.
func run(t *testing.T, trace string, maxEvents int) *harness {
	t.Helper()
	h := newHarness()
	replaytest.Run(t, trace, maxEvents, h)
	h.Close()
	return h
}

func quote(s string) string {
	return `"` + strings.NewReplacer("\r", `\r`, "\n", `\n`, `"`, `\"`).Replace(s) + `"`
}

const client = "conn=5:100:1 role=client"

func TestHTTPPipelineOfTen(t *testing.T) {
	var reqs strings.Builder
	for i := range 10 {
		fmt.Fprintf(&reqs, "GET /r%d?secret=%d HTTP/1.1\r\nHost: shop.test\r\n\r\n", i, i)
	}
	trace := fmt.Sprintf("ctrl ts=1000 %s event=connect addr=10.0.0.2:80\n", client)
	trace += fmt.Sprintf("data ts=2000 %s dir=egress proto=http %s\n", client, quote(reqs.String()))
	// Statuses that carry a body (204 and 304 never do).
	statuses := []int{200, 201, 202, 203, 206, 400, 401, 403, 404, 500}
	for i, status := range statuses {
		body := fmt.Sprintf("body-%d", i)
		trace += fmt.Sprintf("data ts=%d %s dir=ingress proto=http %s\n", 3000+i*100, client,
			quote(fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)))
	}
	trace += fmt.Sprintf("ctrl ts=9000 %s event=close\n", client)

	for _, maxEvents := range []int{1, 3, 1024} { // wherever the batches end
		t.Run(fmt.Sprintf("poll %d", maxEvents), func(t *testing.T) {
			h := run(t, trace, maxEvents)
			require.Len(t, h.calls, 10)
			for i, c := range h.calls {
				size := len(fmt.Sprintf("GET /r%d?secret=%d HTTP/1.1\r\nHost: shop.test\r\n\r\n", i, i))
				assert.Equal(t, recorded{"GET", fmt.Sprintf("/r%d", i), statuses[i], statuses[i] < 400, uint64(1000 + i*100), size}, c, "call %d", i)
			}
			cnt := h.Counters(abi.ProtoHTTP)
			assert.EqualValues(t, 10, cnt.Calls)
			assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid+cnt.GapBytes, "%+v", cnt)
			assert.Zero(t, h.Connections())
		})
	}
}

func TestRedisPipelineOfTen(t *testing.T) {
	var trace, replies strings.Builder
	fmt.Fprintf(&trace, "ctrl ts=1000 %s event=connect addr=10.0.0.3:6379\n", client)
	for i := range 10 {
		fmt.Fprintf(&trace, "data ts=%d %s dir=egress proto=redis %s\n", 2000+i*10, client,
			quote(fmt.Sprintf("*2\r\n$3\r\nGET\r\n$2\r\nk%d\r\n", i)))
		if i == 4 {
			replies.WriteString("-ERR wrong kind\r\n")
		} else {
			fmt.Fprintf(&replies, "$2\r\nv%d\r\n", i)
		}
	}
	fmt.Fprintf(&trace, "data ts=5000 %s dir=ingress proto=redis %s\n", client, quote(replies.String()))
	h := run(t, trace.String(), 0)
	require.Len(t, h.calls, 10)
	for i, c := range h.calls {
		size := len(fmt.Sprintf("*2\r\n$3\r\nGET\r\n$2\r\nk%d\r\n", i))
		assert.Equal(t, recorded{"GET", "", 0, i != 4, uint64(5000 - 2000 - i*10), size}, c, "call %d", i)
	}
}

func TestHTTPResponseSplitOverThreeEvents(t *testing.T) {
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }
	trace := fmt.Sprintf(`data ts=100 %[1]s dir=egress proto=http %[2]s
data ts=200 %[1]s dir=ingress proto=http "HTTP/1.1 200 OK\r\nCont"
data ts=300 %[1]s dir=ingress proto=http "ent-Length: 10\r\n\r\n01234"
data ts=400 %[1]s dir=ingress proto=http "56789"
data ts=500 %[1]s dir=egress proto=http %[3]s
data ts=650 %[1]s dir=ingress proto=http "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
`, client, quote(get("/a")), quote(get("/b")))
	for _, maxEvents := range []int{1, 1024} {
		h := run(t, trace, maxEvents)
		require.Len(t, h.calls, 2)
		assert.Equal(t, recorded{"GET", "/a", 200, true, 100, len(get("/a"))}, h.calls[0])
		assert.Equal(t, recorded{"GET", "/b", 404, false, 150, len(get("/b"))}, h.calls[1])
	}
}

// A 70000-byte POST in one write: the kernel side sends four events with the syscall's pos, the
// last truncated to 16384 of its 20848+header bytes. The request is counted with its real size,
// and the next request on the connection is found where it starts.
func TestHTTPRequestOver64KiB(t *testing.T) {
	head := "POST /upload?token=1 HTTP/1.1\r\nHost: files.test\r\nContent-Length: 70000\r\n\r\n"
	total := len(head) + 70000
	next := "GET /after HTTP/1.1\r\nHost: files.test\r\n\r\n"
	trace := fmt.Sprintf(`data ts=100 %[1]s dir=egress proto=http pos=%[2]d org=16384 %[3]s fill=%[4]d:61
data ts=100 %[1]s dir=egress proto=http pos=%[2]d org=16384 fill=16384:62
data ts=100 %[1]s dir=egress proto=http pos=%[2]d org=16384 fill=16384:63
data ts=100 %[1]s dir=egress proto=http pos=%[2]d org=%[5]d fill=16384:64
data ts=900 %[1]s dir=ingress proto=http "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
data ts=1000 %[1]s dir=egress proto=http pos=%[6]d %[7]s
data ts=1100 %[1]s dir=ingress proto=http "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
`, client, total, quote(head), 16384-len(head), total-3*16384, total+len(next), quote(next))
	h := run(t, trace, 0)
	require.Len(t, h.calls, 2)
	assert.Equal(t, recorded{"POST", "/upload", 201, true, 800, total}, h.calls[0])
	assert.Equal(t, recorded{"GET", "/after", 200, true, 100, len(next)}, h.calls[1])
	cnt := h.Counters(abi.ProtoHTTP)
	assert.EqualValues(t, total-4*16384, cnt.Stream.Truncated, "the bytes the kernel did not copy")
	assert.Zero(t, cnt.Invalid)
}

// The second request's event is lost. The stream gives up the hole once later data is old
// enough, resynchronises on the third request, and the orphaned second response pairs with
// nothing rather than with the wrong request.
func TestLostEventResynchronises(t *testing.T) {
	r := func(i int) string { return fmt.Sprintf("GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n", i) }
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	n := len(r(1))
	trace := fmt.Sprintf(`data ts=1000000000 %[1]s dir=egress proto=http pos=%[2]d %[3]s
data ts=1001000000 %[1]s dir=ingress proto=http %[6]s
lost which=data count=1
data ts=2001000000 %[1]s dir=ingress proto=http %[6]s
data ts=3000000000 %[1]s dir=egress proto=http pos=%[4]d %[5]s
data ts=3001000000 %[1]s dir=ingress proto=http %[6]s
data ts=9000000000 conn=9:100:1 role=client dir=egress proto=http "GET /later HTTP/1.1\r\n\r\n"
`, client, n, quote(r(1)), 3*n, quote(r(3)), quote(ok))
	h := run(t, trace, 0)
	require.Len(t, h.calls, 2)
	assert.Equal(t, "/r1", h.calls[0].resource)
	assert.Equal(t, "/r3", h.calls[1].resource)
	assert.EqualValues(t, 1000000, h.calls[1].latency)
	cnt := h.Counters(abi.ProtoHTTP)
	assert.EqualValues(t, n, cnt.GapBytes, "the lost request's bytes")
	assert.EqualValues(t, 1, cnt.UnmatchedResponses)
	assert.EqualValues(t, 1, cnt.UnmatchedRequests, "GET /later never got its response")
	assert.Zero(t, cnt.Invalid)
}

// dnsMessage builds a DNS message for name with the given id; answers > 0 makes it a NOERROR
// response with that many A records of 10.0.0.<n>.
func dnsMessage(id uint16, name string, response bool, rcode, answers int) string {
	var b []byte
	flags := uint16(0x0100)
	if response {
		flags = 0x8180 | uint16(rcode)
	}
	b = append(b, byte(id>>8), byte(id), byte(flags>>8), byte(flags), 0, 1, 0, byte(answers), 0, 0, 0, 0)
	for _, label := range strings.Split(name, ".") {
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0, 0, 1, 0, 1)
	for i := range answers {
		b = append(b, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, byte(i+1))
	}
	return fmt.Sprintf("hex=%x", b)
}

// A resolver's socket carries interleaved queries; answers come back out of order and are paired
// by transaction id. Each datagram is one message in the stream.
func TestDNSMatchedByID(t *testing.T) {
	c := "conn=7:300:1 role=client"
	trace := fmt.Sprintf(`data ts=1000 %[1]s dir=egress proto=dns syscall=sendto addr=10.0.0.53:53 %[2]s
data ts=1100 %[1]s dir=egress proto=dns syscall=sendto addr=10.0.0.53:53 %[3]s
data ts=1500 %[1]s dir=ingress proto=dns syscall=recvfrom addr=10.0.0.53:53 %[4]s
data ts=1900 %[1]s dir=ingress proto=dns syscall=recvfrom addr=10.0.0.53:53 %[5]s
`, c, dnsMessage(0x1111, "a.example.test", false, 0, 0), dnsMessage(0x2222, "nx.example.test", false, 0, 0),
		dnsMessage(0x2222, "nx.example.test", true, 3, 0), dnsMessage(0x1111, "a.example.test", true, 0, 2))
	h := run(t, trace, 0)
	require.Len(t, h.calls, 2)
	assert.Equal(t, recorded{"A", "nx.example.test", 3, false, 400, 33}, h.calls[0])
	assert.Equal(t, recorded{"A", "a.example.test", 0, true, 900, 32}, h.calls[1])
}

// Control events are polled before data events, so a close can arrive — even in an earlier batch —
// before the connection's last data. The connection takes data for closeGrace after its close.
func TestCloseBeforeLastData(t *testing.T) {
	trace := fmt.Sprintf(`data ts=1000 %[1]s dir=egress proto=http "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
data ts=2000 %[1]s dir=ingress proto=http "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
ctrl ts=5000 %[1]s event=close
data ts=3000 %[1]s dir=egress proto=http pos=56 "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
data ts=4000 %[1]s dir=ingress proto=http pos=76 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
data ts=900000000 conn=9:100:1 role=client dir=egress proto=http "GET /later HTTP/1.1\r\n\r\n"
`, client)
	// pos is explicit after the close: the replay library forgets a closed connection's offsets,
	// the kernel does not.
	h := run(t, trace, 1) // one event per batch
	require.Len(t, h.calls, 2)
	assert.Equal(t, "/2", h.calls[1].resource)
	assert.EqualValues(t, 1000, h.calls[1].latency)
	assert.Zero(t, h.Counters(abi.ProtoHTTP).UnmatchedResponses)
}

// An idle keep-alive connection costs little: the connection alone, from the end of the batch of
// its first call (Tracker.settle) as once it rests (the observer's RSS target is 64 MiB with
// 10 000 connections observed at both ends). Before settle, 2 919 bytes while active (888 with
// only the streams' arrays settled).
func TestIdleConnectionsAreSmall(t *testing.T) {
	tr := New(Config{}, Parsers(), func(*Call) {})
	addr := abi.SockAddrFrom(netip.MustParseAddrPort("10.0.0.2:80"))
	req := []byte("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	event := func(fd int32, dir abi.Direction, p []byte) *abi.DataEvent {
		return &abi.DataEvent{DataAttr: abi.DataAttr{TS: 1, ConnID: abi.ConnID{FD: fd, TGID: 1, Start: 1}, Addr: addr,
			Protocol: abi.ProtoHTTP, Role: abi.RoleClient, Direction: dir, Pos: uint64(len(p)),
			OrgMsgSize: uint32(len(p)), MsgBufSize: uint32(len(p))}, Payload: p}
	}
	const n = 10000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		tr.Data(event(int32(i), abi.DirEgress, req))
		tr.Data(event(int32(i), abi.DirIngress, resp))
		tr.EndBatch(true)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Equal(t, n, tr.Connections())
	perConn := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per connection active in the last second", perConn)
	assert.Less(t, perConn, int64(384), "the connection and its map entry")
	tr.Rest(2e9)
	tr.Rest(3e9) // the clock's next call: no new connection took what the rested ones gave up
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn = (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per resting connection", perConn)
	assert.Less(t, perConn, int64(384), "the connection and its map entry")
	runtime.KeepAlive(tr)
}
