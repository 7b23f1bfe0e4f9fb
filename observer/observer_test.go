package observer

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/internal/replaytest"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func defaultOptions() Options {
	return Options{
		L4Interval: time.Hour, L7Interval: time.Hour, Protocols: abi.AllProtocols, Sampling: 100, PID: -1,
		DropUnixSocket: true, DropLocalConnections: true, DropUnknownSocket: true,
	}
}

// runTrace plays trace through the replay library into an Observer until the trace ends, then
// stops it, and returns every record the sink got and the calls the library received.
func runTrace(t *testing.T, trace string, opts Options) ([]record.Record, []string) {
	t.Helper()
	_, recs, stubs := runObserver(t, trace, opts)
	return recs, stubs
}

// runObserver is runTrace that also returns the stopped Observer, for its counters.
func runObserver(t *testing.T, trace string, opts Options) (*Observer, []record.Record, []string) {
	t.Helper()
	return runObserverPolled(t, trace, opts, 0)
}

// runObserverPolled is runObserver with at most maxEvents events a poll (0: the cgo layer's
// default), so a test chooses where batches end.
func runObserverPolled(t *testing.T, trace string, opts Options, maxEvents int) (*Observer, []record.Record, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, []byte(trace), 0o644))
	lib, stubs := replaytest.Open(t, path, maxEvents)
	var got []record.Record
	o := New(lib, opts, func(rs []record.Record) { got = append(got, rs...) })
	o.now = func() time.Time { return time.Unix(1700000000, 0) }
	require.NoError(t, o.Start())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- o.Run(ctx, nil) }()
	for deadline := time.Now().Add(10 * time.Second); !lib.Finished(); time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "replay did not finish")
	}
	stop()
	require.NoError(t, <-done)
	require.NoError(t, lib.Close())
	b, err := os.ReadFile(stubs)
	require.NoError(t, err)
	return o, got, strings.Split(strings.TrimSpace(string(b)), "\n")
}

func get(r record.Record, key string) string {
	v, _ := r.Get(key)
	return v
}

func TestRecordsAndSocketFilters(t *testing.T) {
	pid := os.Getpid()
	exe, err := os.Executable()
	require.NoError(t, err)
	trace := fmt.Sprintf(`ctrl ts=1000 conn=5:%[1]d:1 event=connect addr=10.200.0.2:80 role=client
data ts=2000 conn=5:%[1]d:1 dir=egress proto=http addr=10.200.0.2:80 "GET /index.html?q=secret HTTP/1.1\r\nHost: web.test\r\n\r\n"
data ts=5000 conn=5:%[1]d:1 dir=ingress proto=http addr=10.200.0.2:80 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
stats ts=6000 conn=5:%[1]d:1 addr=10.200.0.2:80 role=client wr=53 rd=43 wr_pkts=1 rd_pkts=1 events=1
ctrl ts=6000 conn=5:%[1]d:1 event=close wr=53 rd=43
ctrl ts=1000 conn=6:%[1]d:2 event=connect addr=127.0.0.1:6379 role=client
data ts=2000 conn=6:%[1]d:2 dir=egress proto=redis addr=127.0.0.1:6379 "*1\r\n$4\r\nPING\r\n"
stats ts=6000 conn=6:%[1]d:2 addr=127.0.0.1:6379 role=client wr=14 wr_pkts=1 events=1
ctrl ts=1000 conn=7:%[1]d:3 event=connect addr=unix role=client
stats ts=6000 conn=7:%[1]d:3 addr=unix role=client wr=10 wr_pkts=1 events=1
stats ts=6000 conn=8:%[1]d:4 addr=unknown role=unknown wr=10 wr_pkts=1 events=1
`, pid)
	recs, calls := runTrace(t, trace, defaultOptions())
	require.Len(t, recs, 2, "%v", recs)
	proto, stats := recs[0], recs[1]
	assert.Equal(t, []record.Field{
		{Key: "type", Value: "protocols"}, {Key: "_process_pid_", Value: fmt.Sprint(pid)}, {Key: "_process_cmd_", Value: exe},
		{Key: "_running_mode_", Value: "host"}, {Key: "protocol", Value: "http"}, {Key: "version", Value: "1"},
		{Key: "host", Value: "web.test"}, {Key: "method", Value: "GET"}, {Key: "url", Value: "/index.html"},
		{Key: "resp_code", Value: "200"}, {Key: "role", Value: "client"},
		{Key: "remote_info", Value: `{"remote_ip":"10.200.0.2","remote_port":"80","remote_type":"server"}` + "\n"},
		{Key: "total_count", Value: "1"}, {Key: "total_latency_ns", Value: "3000"}, {Key: "total_req_bytes", Value: "53"},
		{Key: "total_resp_bytes", Value: "43"},
	}, proto.Fields[:16])
	assert.EqualValues(t, 1700000000, proto.Time)
	assert.Equal(t, "statistics", get(stats, "type"))
	assert.Equal(t, "53", get(stats, "send_bytes"))
	assert.Equal(t, "43", get(stats, "recv_bytes"))
	assert.Equal(t, "1", get(stats, "recv_packets"))
	assert.Equal(t, "inet_socket", get(stats, "socket_type"))

	var drops []string
	for _, c := range calls {
		if strings.HasPrefix(c, "update_conn_addr") {
			drops = append(drops, c)
		}
	}
	require.Len(t, drops, 3, "local, unix and unknown sockets are dropped in the kernel: %v", calls)
	assert.Contains(t, drops[0], fmt.Sprintf("conn=6:%d:2", pid))
	assert.Contains(t, drops[0], "drop=1")
	assert.Contains(t, drops[1], fmt.Sprintf("conn=7:%d:3", pid))
	assert.Contains(t, drops[2], fmt.Sprintf("conn=8:%d:4", pid))
}

func TestFiltersOffKeepEverySocket(t *testing.T) {
	opts := defaultOptions()
	opts.DropUnixSocket, opts.DropLocalConnections, opts.DropUnknownSocket = false, false, false
	recs, calls := runTrace(t, `stats ts=6000 conn=6:1:2 addr=127.0.0.1:6379 role=client wr=14 wr_pkts=1 events=1
stats ts=6000 conn=7:1:3 addr=unix role=server wr=10 wr_pkts=1 events=1
stats ts=6000 conn=8:1:4 addr=unknown role=unknown wr=10 wr_pkts=1 events=1
`, opts)
	require.Len(t, recs, 3)
	assert.Equal(t, "inet_socket", get(recs[0], "socket_type"))
	assert.Equal(t, "unix_socket", get(recs[1], "socket_type"))
	assert.Equal(t, "unknown_socket", get(recs[2], "socket_type"))
	for _, c := range calls {
		assert.NotContains(t, c, "update_conn_addr")
	}
}

func TestLibrarySettings(t *testing.T) {
	opts := defaultOptions()
	opts.Protocols = abi.ProtocolsOf(abi.ProtoHTTP, abi.ProtoDNS)
	opts.Sampling, opts.PID = 30, 4242
	_, calls := runTrace(t, "", opts)
	assert.Contains(t, calls, "config opt=0 opt2=0 value=5 len=4", "http (bit 0) and dns (bit 2)")
	assert.Contains(t, calls, "config opt=1 opt2=0 value=4242 len=4")
	assert.Contains(t, calls, "config opt=4 opt2=0 value=30 len=4")
	assert.Contains(t, calls, "config opt=5 opt2=1 value=512 len=4", "iLogtail's data buffer size by default")

	opts.DataBufferPages = 4
	_, calls = runTrace(t, "", opts)
	assert.Contains(t, calls, "config opt=5 opt2=1 value=4 len=4", "EBPF.DataBufferPages")

	opts.Protocols = abi.NoProtocols
	_, calls = runTrace(t, "", opts)
	assert.Contains(t, calls, "config opt=0 opt2=0 value=0 len=4", "no L7: no data events")
}

// The live sink (here the metrics exporter) gets every call, every L4 delta and the observer's
// counters.
func TestLiveSinkGetsCallsStatsAndCounters(t *testing.T) {
	opts := defaultOptions()
	metrics := prometheus.New()
	opts.Live = metrics
	_, _ = runTrace(t, `ctrl ts=1000 conn=5:1:1 event=connect addr=10.200.0.2:80 role=client
data ts=2000 conn=5:1:1 dir=egress proto=http "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=2002000 conn=5:1:1 dir=ingress proto=http "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
stats ts=3000000 conn=5:1:1 addr=10.200.0.2:80 role=client wr=27 rd=38 wr_pkts=1 rd_pkts=1 events=1
stats ts=3000000 conn=6:1:2 addr=127.0.0.1:1 role=client wr=1 wr_pkts=1 events=1
`, opts)
	var b strings.Builder
	_, err := metrics.WriteTo(&b)
	require.NoError(t, err)
	out := b.String()
	for _, want := range []string{
		`netobserver_l7_latency_seconds_bucket{protocol="http",role="client",le="0.0025"} 1`,
		`netobserver_l7_latency_seconds_bucket{protocol="http",role="client",le="0.001"} 0`,
		`netobserver_l7_calls_total{outcome="error",protocol="http",role="client"} 1`,
		`netobserver_l4_bytes_total{direction="send",role="client",socket_type="inet_socket"} 27`,
		`netobserver_events_total{kind="data"} 2`,
		`netobserver_events_total{kind="stats"} 2`,
		`netobserver_dropped_connections_total 1`,
		`netobserver_unmatched_messages_total{message="request",protocol="http"} 0`,
		`netobserver_parser_panics_total{protocol="http"} 0`,
		`netobserver_evicted_connections_total{protocol="http"} 0`,
		`netobserver_unknown_role_events_total{protocol="http"} 0`,
		`netobserver_partial_calls_total{protocol="http"} 0`,
		`netobserver_handed_over_requests_total{protocol="http"} 0`,
	} {
		assert.Contains(t, out, want+"\n")
	}
}

// The stop line accounts, per protocol with traffic, for every message not recorded: here a
// request whose event was lost (its response unmatched, its bytes a lost stretch) and a request
// never answered, beside the call recorded and the lost-events notice.
func TestSummaryAccountsForEveryMessage(t *testing.T) {
	o, _, _ := runObserver(t, `ctrl ts=1000 conn=5:1:1 event=connect addr=10.200.0.2:80 role=client
data ts=2000 conn=5:1:1 dir=egress proto=http "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=3000 conn=5:1:1 dir=ingress proto=http "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
lost which=data count=1
data ts=5000 conn=5:1:1 dir=ingress proto=http "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
data ts=6000 conn=5:1:1 dir=egress proto=http pos=84 "GET /c HTTP/1.1\r\nHost: a\r\n\r\n"
`, defaultOptions())
	assert.Equal(t, `level=INFO msg="netobserver: stopped" lost_ctrl=0 lost_data=1 lost_stats=0 lost_proc=0 dropped_connections=0 connections_peak=1 unsupported_protocol_events=0 `+
		`http.calls=1 http.one_way=0 http.ignored_units=0 http.unmatched_requests=1 http.unmatched_responses=1 http.handed_over=0 http.parse_failures=0 `+
		`http.parse_failure_bytes=0 http.abandoned_bytes=0 http.partial_calls=0 http.lost_stream_bytes=28 `+
		`http.parser_panics=0 http.evicted_connections=0 http.unknown_role_events=0 http.cap_dropped_calls=0`+"\n", stopLine(o))
}

// Unlike iLogtail, a reload applies Sampling and the process filter to the running library.
func TestReloadAppliesSamplingAndPID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, []byte("data repeat=1000000 conn=5:1:1 dir=egress proto=http role=client addr=10.0.0.2:80 \"x\"\n"), 0o644))
	lib, stubs := replaytest.Open(t, path, 0)
	o := New(lib, defaultOptions(), func([]record.Record) {})
	require.NoError(t, o.Start())
	ctx, stop := context.WithCancel(context.Background())
	reload := make(chan Options)
	done := make(chan error)
	go func() { done <- o.Run(ctx, reload) }()
	next := defaultOptions()
	next.Sampling, next.PID = 25, 777
	reload <- next
	reload <- next // the second send returns once the first reload was applied
	stop()
	require.NoError(t, <-done)
	b, err := os.ReadFile(stubs)
	require.NoError(t, err)
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	assert.Contains(t, calls, "config opt=4 opt2=0 value=25 len=4")
	assert.Contains(t, calls, "config opt=1 opt2=0 value=777 len=4")
	starts := 0
	for _, c := range calls {
		if c == "start" {
			starts++
		}
	}
	assert.Equal(t, 3, starts, "ebpf_start again on each reload, as iLogtail did")
}

// The map GC deletes the entries whose process or fd is gone, and keeps the others.
func TestMapGCDeletesGoneConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace")
	trace := fmt.Sprintf("ctrl conn=3:4000001:1 event=connect addr=10.0.0.2:80 role=client\nctrl conn=0:%d:2 event=connect addr=10.0.0.3:80 role=client\n", os.Getpid())
	require.NoError(t, os.WriteFile(path, []byte(trace), 0o644))
	lib, stubs := replaytest.Open(t, path, 0)
	o := New(lib, defaultOptions(), func([]record.Record) {})
	require.NoError(t, o.Start())
	for deadline := time.Now().Add(5 * time.Second); !lib.Finished(); time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline))
	}
	o.control.collect()
	assert.EqualValues(t, 1, o.Counters().Collected)
	b, err := os.ReadFile(stubs)
	require.NoError(t, err)
	assert.Contains(t, string(b), "delete_map_value count=1\ncleanup_dog count=1 ids=3:4000001:0\n", "pid 4000001 does not exist; our fd 0 does")
	keys, err := lib.ConnectionKeys()
	require.NoError(t, err)
	assert.Equal(t, []abi.ConnKey{{TGID: uint32(os.Getpid()), FD: 0}}, keys)
}

// A reload that keeps the protocols keeps the calls in flight: a request parsed before it is
// paired with its response after it.
func TestReloadKeepsCallsInFlight(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	lib, _ := replaytest.Open(t, path, 0)
	var recs []record.Record
	o := New(lib, defaultOptions(), func(rs []record.Record) { recs = append(recs, rs...) })
	require.NoError(t, o.Start())
	id := abi.ConnID{FD: 5, TGID: 1, Start: 1}
	addr := abi.SockAddrFrom(netip.MustParseAddrPort("10.0.0.2:80"))
	req := []byte("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	event := func(ts uint64, dir abi.Direction, payload []byte) *abi.DataEvent {
		return &abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: id, Addr: addr, Protocol: abi.ProtoHTTP,
			Role: abi.RoleClient, Direction: dir, Pos: uint64(len(payload)), OrgMsgSize: uint32(len(payload)),
			MsgBufSize: uint32(len(payload))}, Payload: payload}
	}
	o.Data(event(1000, abi.DirEgress, req))
	o.l7.endBatch(true)
	next := defaultOptions()
	next.Sampling = 50
	require.NoError(t, o.Reload(next))
	o.Data(event(9000, abi.DirIngress, resp))
	o.l7.endBatch(true)
	o.finish()
	var calls []string
	for _, r := range recs {
		if get(r, "type") == "protocols" {
			calls = append(calls, get(r, "url")+" "+get(r, "total_count")+" "+get(r, "total_latency_ns"))
		}
	}
	assert.Equal(t, []string{"/slow 1 8000"}, calls)
}
