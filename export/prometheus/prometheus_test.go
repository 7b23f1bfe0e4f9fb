package prometheus

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/netobserver/netobserver/observer/live"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExposition(t *testing.T) {
	e := New()
	e.Call(live.Call{Protocol: "http", Role: "client", Success: true, Latency: 300 * time.Microsecond, RequestBytes: 100, ResponseBytes: 250})
	e.Call(live.Call{Protocol: "http", Role: "client", Success: false, Latency: 2 * time.Second, RequestBytes: 100, ResponseBytes: 50})
	e.Call(live.Call{Protocol: "http", Role: "client", Success: true, Latency: 30 * time.Second, RequestBytes: 1, ResponseBytes: 1}) // beyond the last bucket
	e.L4(live.L4{Role: "client", SocketType: "inet_socket", SendBytes: 1000, RecvBytes: 5000, SendPackets: 3, RecvPackets: 4})
	e.SetCounters("observer", []live.Metric{
		{Name: "events_total", Help: "Events from the capture library.", Labels: []string{"kind", "data"}, Value: 7},
		{Name: "events_total", Help: "Events from the capture library.", Labels: []string{"kind", "ctrl"}, Value: 2},
		{Name: "lost_events_total", Help: "Events the library lost.", Labels: []string{"stream", `da"ta`}, Value: 1},
	})
	var b bytes.Buffer
	n, err := e.WriteTo(&b)
	require.NoError(t, err)
	assert.EqualValues(t, b.Len(), n)
	lbl := `protocol="http",role="client"`
	// client_golang writes families in name order and a series' labels in name order; names,
	// labels, help texts and values are what they were with the hand-written exposition.
	want := []string{
		"# HELP netobserver_events_total Events from the capture library.",
		"# TYPE netobserver_events_total counter",
		`netobserver_events_total{kind="ctrl"} 2`,
		`netobserver_events_total{kind="data"} 7`,
		"# HELP netobserver_l4_bytes_total Bytes sent and received by observed sockets.",
		"# TYPE netobserver_l4_bytes_total counter",
		`netobserver_l4_bytes_total{direction="receive",role="client",socket_type="inet_socket"} 5000`,
		`netobserver_l4_bytes_total{direction="send",role="client",socket_type="inet_socket"} 1000`,
		"# HELP netobserver_l4_packets_total Send and receive syscalls on observed sockets.",
		"# TYPE netobserver_l4_packets_total counter",
		`netobserver_l4_packets_total{direction="receive",role="client",socket_type="inet_socket"} 4`,
		`netobserver_l4_packets_total{direction="send",role="client",socket_type="inet_socket"} 3`,
		"# HELP netobserver_l7_bytes_total Bytes of requests and responses.",
		"# TYPE netobserver_l7_bytes_total counter",
		`netobserver_l7_bytes_total{message="request",` + lbl + `} 201`,
		`netobserver_l7_bytes_total{message="response",` + lbl + `} 301`,
		"# HELP netobserver_l7_calls_total Calls (request and response pairs) by outcome.",
		"# TYPE netobserver_l7_calls_total counter",
		`netobserver_l7_calls_total{outcome="error",` + lbl + `} 1`,
		`netobserver_l7_calls_total{outcome="success",` + lbl + `} 2`,
		"# HELP netobserver_l7_latency_seconds Latency from a request's first byte to its response's first byte.",
		"# TYPE netobserver_l7_latency_seconds histogram",
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.0001"} 0`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.00025"} 0`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.0005"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.001"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.0025"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.005"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.01"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.025"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.05"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.1"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.25"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.5"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="1"} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="2.5"} 2`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="5"} 2`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="10"} 2`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="+Inf"} 3`,
		`netobserver_l7_latency_seconds_sum{` + lbl + `} 32.0003`,
		`netobserver_l7_latency_seconds_count{` + lbl + `} 3`,
		"# HELP netobserver_live_refused_total Calls and L4 deltas left out of the live metrics because their labels were past the series bound (64 call, 16 L4 series).",
		"# TYPE netobserver_live_refused_total counter",
		`netobserver_live_refused_total{kind="call"} 0`,
		`netobserver_live_refused_total{kind="l4"} 0`,
		"# HELP netobserver_lost_events_total Events the library lost.",
		"# TYPE netobserver_lost_events_total counter",
		`netobserver_lost_events_total{stream="da\"ta"} 1`,
	}
	var got []string
	families := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			families[strings.Fields(line)[2]] = true
		}
		if strings.Contains(line, "netobserver_") {
			got = append(got, line)
		}
	}
	assert.Equal(t, want, got)
	// The standard Go runtime and process collectors are there too.
	for _, f := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} {
		assert.True(t, families[f], f)
	}
}

func TestServesOverHTTP(t *testing.T) {
	e := New()
	e.Call(live.Call{Protocol: "redis", Role: "server", Success: true, Latency: time.Millisecond, RequestBytes: 10, ResponseBytes: 5})
	addr, err := e.Listen("127.0.0.1:0", "/metrics", "")
	require.NoError(t, err)
	defer e.Close()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(body), `netobserver_l7_latency_seconds_count{protocol="redis",role="server"} 1`)
	require.NoError(t, e.Close())

	busy := New()
	a2, err := busy.Listen("127.0.0.1:0", "/m", "")
	require.NoError(t, err)
	defer busy.Close()
	_, err = New().Listen(a2.String(), "/m", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flusher_prometheus_exporter: listen on "+a2.String())
}

// Each protocol and role is a series of its own, written in label order (outcome, protocol, role)
// whatever the order calls came in.
func TestCallSeries(t *testing.T) {
	e := New()
	for _, c := range []struct{ protocol, role string }{
		{"redis", "client"}, {"http", "server"}, {"http", "client"}, {"http", "server"}, {"redis", "client"}, {"http", "server"},
	} {
		e.Call(live.Call{Protocol: c.protocol, Role: c.role, Success: c.role == "server", Latency: time.Millisecond, RequestBytes: 10, ResponseBytes: 20})
	}
	var b bytes.Buffer
	_, err := e.WriteTo(&b)
	require.NoError(t, err)
	var got []string
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "netobserver_l7_calls_total{") {
			got = append(got, line)
		}
	}
	assert.Equal(t, []string{
		`netobserver_l7_calls_total{outcome="error",protocol="http",role="client"} 1`,
		`netobserver_l7_calls_total{outcome="error",protocol="http",role="server"} 0`,
		`netobserver_l7_calls_total{outcome="error",protocol="redis",role="client"} 2`,
		`netobserver_l7_calls_total{outcome="success",protocol="http",role="client"} 0`,
		`netobserver_l7_calls_total{outcome="success",protocol="http",role="server"} 3`,
		`netobserver_l7_calls_total{outcome="success",protocol="redis",role="client"} 0`,
	}, got)
}

// BenchmarkObserveCall counts the calls of one HTTP request seen from both ends, as the observer
// does for each call.
func BenchmarkObserveCall(b *testing.B) {
	e := New()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Call(live.Call{Protocol: "http", Role: "client", Success: true, Latency: 400 * time.Microsecond, RequestBytes: 90, ResponseBytes: 80})
		e.Call(live.Call{Protocol: "http", Role: "server", Success: true, Latency: 300 * time.Microsecond, RequestBytes: 90, ResponseBytes: 80})
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}
