package otlp

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/netobserver/netobserver/export/otlp/otlptest"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/record"
)

func rec(t uint32, kv ...string) record.Record {
	r := record.Record{Time: t}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
	return r
}

var pod = []string{"_pod_name_", "web-7d9f8-abcde", "_namespace_", "shop", "_container_name_", "nginx", "_workload_name_", "web", "_running_mode_", "kubernetes", "__tag__:cluster", "c1"}

func httpRecord(code string, count int) record.Record {
	return rec(1700000015, append(append([]string{"type", "protocols"}, pod...),
		"protocol", "http", "version", "1", "host", "shop.local", "method", "GET", "url", "/cart", "resp_code", code,
		"role", "server", "remote_info", `{"remote_ip":"10.0.0.9","remote_port":"0"}`+"\n",
		"total_count", fmt.Sprint(count), "total_latency_ns", fmt.Sprint(count*2000000), "total_req_bytes", "700", "total_resp_bytes", "1400",
		"p50_latency_ns", "1900000", "p90_latency_ns", "2500000", "p99_latency_ns", "2900000")...)
}

func records() []record.Record {
	host := []string{"_process_pid_", "4242", "_process_cmd_", "/usr/bin/redis-cli", "_running_mode_", "host"}
	return []record.Record{
		httpRecord("200", 7),
		httpRecord("404", 3),
		rec(1700000015, append(append([]string{"type", "protocols"}, host...),
			"protocol", "redis", "cmd", "GET", "success", "0", "role", "client",
			"remote_info", `{"remote_host":"cache.local","remote_ip":"10.0.0.7","remote_port":"6379","remote_type":"database"}`+"\n",
			"total_count", "2", "total_latency_ns", "500000", "total_req_bytes", "40", "total_resp_bytes", "20",
			"p50_latency_ns", "250000", "p90_latency_ns", "250000", "p99_latency_ns", "250000")...),
		rec(1700000015, append(append([]string{"type", "statistics"}, host...),
			"remote_info", `{"remote_ip":"10.0.0.7","remote_port":"6379","remote_type":"database"}`+"\n",
			"socket_type", "inet_socket", "role", "client", "send_bytes", "40", "recv_bytes", "20", "send_packets", "2", "recv_packets", "3",
			"send_total_latency", "0", "recv_total_latency", "0")...),
	}
}

func newFlusher(t *testing.T, protocol, endpoint string, change func(*Config)) *Flusher {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.Protocol, cfg.Insecure, cfg.Interval = endpoint, protocol, true, time.Hour
	if change != nil {
		change(&cfg)
	}
	f, err := New(record.Context{}, cfg)
	require.NoError(t, err)
	return f
}

// Records and live calls reach a real OTLP receiver, over gRPC and over HTTP, with their exact
// values and attributes.
func TestExport(t *testing.T) {
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			r := otlptest.Start(t, protocol, "127.0.0.1:0")
			f := newFlusher(t, protocol, r.Addr(), nil)
			require.NoError(t, f.Flush(records()))
			for i := range 10 {
				f.Call(live.Call{Protocol: "http", Role: "server", Success: true, Latency: time.Duration(i+1) * time.Millisecond})
			}
			f.Call(live.Call{Protocol: "redis", Role: "client", Success: false, Latency: time.Millisecond})
			require.NoError(t, f.Close()) // sends the live histogram
			assert.Equal(t, Stats{Written: 4}, f.Stats())

			calls := r.Points("netobserver.l7.calls")
			require.Len(t, calls, 3)
			web := map[string]any{"k8s.pod.name": "web-7d9f8-abcde", "k8s.namespace.name": "shop", "k8s.container.name": "nginx",
				"service.name": "web", "netobserver.k8s.workload.name": "web", "cluster": "c1", "netobserver.running_mode": "kubernetes",
				"network.protocol.name": "http", "network.protocol.version": "1.1", "http.request.method": "GET", "url.path": "/cart",
				"server.address": "shop.local", "netobserver.role": "server", "network.peer.address": "10.0.0.9"}
			ok := map[string]any{"http.response.status_code": int64(200)}
			notFound := map[string]any{"http.response.status_code": int64(404), "error.type": "404"}
			for k, v := range web {
				ok[k], notFound[k] = v, v
			}
			assert.EqualValues(t, 7, otlptest.Sum(calls, ok))
			assert.EqualValues(t, 3, otlptest.Sum(calls, notFound))
			assert.True(t, calls[0].Monotonic && calls[0].Delta && calls[0].Unit == "{call}")
			redis := map[string]any{"process.pid": int64(4242), "process.command": "/usr/bin/redis-cli", "service.name": "redis-cli",
				"db.system.name": "redis", "db.operation.name": "GET", "network.peer.address": "10.0.0.7", "network.peer.port": int64(6379),
				"netobserver.remote.host": "cache.local", "netobserver.remote.type": "database", "error.type": "_OTHER"}
			assert.EqualValues(t, 2, otlptest.Sum(calls, redis))
			errs := r.Points("netobserver.l7.errors")
			assert.EqualValues(t, 3, otlptest.Sum(errs, map[string]any{"http.response.status_code": int64(404)}))
			assert.EqualValues(t, 2, otlptest.Sum(errs, map[string]any{"db.system.name": "redis"}))
			assert.Len(t, errs, 2)

			var okDur otlptest.Point
			for _, p := range r.Points("netobserver.l7.duration") {
				if otlptest.Matches(p, ok) {
					okDur = p
				}
			}
			assert.Equal(t, "histogram", okDur.Kind)
			assert.EqualValues(t, 7, okDur.Count)
			assert.Equal(t, []uint64{7}, okDur.BucketCounts)
			assert.InDelta(t, 0.014, okDur.Sum, 1e-12)
			quantiles := map[string]float64{}
			for _, p := range r.Points("netobserver.l7.duration.quantile") {
				if otlptest.Matches(p, ok) {
					quantiles[p.Attrs["quantile"].(string)] = p.Float
				}
			}
			assert.Equal(t, map[string]float64{"0.5": 0.0019, "0.9": 0.0025, "0.99": 0.0029}, quantiles)
			assert.EqualValues(t, 1400, otlptest.Sum(r.Points("netobserver.l7.response.size"), ok))

			l4 := map[string]any{"netobserver.socket.type": "inet_socket", "netobserver.role": "client", "process.pid": int64(4242)}
			bytes, pkts := r.Points("netobserver.l4.bytes"), r.Points("netobserver.l4.packets")
			assert.EqualValues(t, 40, otlptest.Sum(bytes, with(l4, "network.io.direction", "transmit")))
			assert.EqualValues(t, 20, otlptest.Sum(bytes, with(l4, "network.io.direction", "receive")))
			assert.EqualValues(t, 2, otlptest.Sum(pkts, with(l4, "network.io.direction", "transmit")))
			assert.EqualValues(t, 3, otlptest.Sum(pkts, with(l4, "network.io.direction", "receive")))

			lat := r.Points("netobserver.l7.latency")
			require.Len(t, lat, 2)
			for _, p := range lat {
				assert.Equal(t, "histogram", p.Kind)
				assert.Len(t, p.BucketCounts, len(LatencyBuckets)+1)
				assert.Equal(t, "netobserver", p.Resource["service.name"])
				switch p.Attrs["network.protocol.name"] {
				case "http":
					assert.EqualValues(t, 10, p.Count)
					assert.InDelta(t, 0.055, p.Sum, 1e-12)
					assert.Equal(t, "server", p.Attrs["netobserver.role"])
				case "redis":
					assert.EqualValues(t, 1, p.Count)
				}
			}
		})
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// With the receiver down, records wait in the queue up to QueueSize and the rest are dropped and
// counted; when it is back, every queued record arrives, once.
func TestReceiverDownAndBack(t *testing.T) {
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			r := otlptest.Start(t, protocol, "127.0.0.1:0")
			r.Stop()
			f := newFlusher(t, protocol, r.Addr(), func(c *Config) { c.QueueSize = 5 })
			defer f.Close()
			// Seven records, counts 1..7: the first five fit.
			var batch []record.Record
			for i := 1; i <= 7; i++ {
				batch = append(batch, httpRecord(fmt.Sprint(200+i), i))
			}
			require.NoError(t, f.Flush(batch[:3]))
			err := f.Flush(batch[3:])
			require.ErrorIs(t, err, ErrQueueFull)
			assert.ErrorContains(t, err, "2 of 4 records dropped (queue holds 5)")
			assert.Equal(t, Stats{Dropped: 2, Queued: 5}, f.Stats())
			time.Sleep(300 * time.Millisecond) // a few failed attempts
			assert.Equal(t, Stats{Dropped: 2, Queued: 5}, f.Stats())

			r.Restart(t)
			require.NoError(t, r.Wait(30*time.Second, func(*otlptest.Receiver) bool { return f.Stats().Written == 5 }))
			assert.Equal(t, Stats{Written: 5, Dropped: 2}, f.Stats())
			calls := r.Points("netobserver.l7.calls")
			assert.Len(t, calls, 5)
			assert.EqualValues(t, 1+2+3+4+5, otlptest.Sum(calls, nil))
		})
	}
}

// A receiver that refuses an export for good (a non-retryable OTLP status) fails its records,
// counted; the next records go through once it accepts again.
func TestRejectedForGood(t *testing.T) {
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			r := otlptest.Start(t, protocol, "127.0.0.1:0")
			r.Reject(codes.InvalidArgument)
			f := newFlusher(t, protocol, r.Addr(), nil)
			defer f.Close()
			require.NoError(t, f.Flush(records()[:2]))
			require.NoError(t, r.Wait(10*time.Second, func(*otlptest.Receiver) bool { return f.Stats().Failed == 2 }))
			r.Reject(codes.OK)
			require.NoError(t, f.Flush(records()[2:]))
			require.NoError(t, r.Wait(10*time.Second, func(*otlptest.Receiver) bool { return f.Stats().Written == 2 }))
			assert.Equal(t, Stats{Written: 2, Failed: 2}, f.Stats())
			assert.Contains(t, f.LastError().Error(), map[string]string{"grpc": "InvalidArgument desc = rejected by the test", "http": "400 Bad Request"}[protocol])
		})
	}
}

// Close gives up on what the receiver does not take within CloseTimeout: those records are failed.
func TestCloseCountsUndelivered(t *testing.T) {
	r := otlptest.Start(t, "grpc", "127.0.0.1:0")
	r.Stop()
	f := newFlusher(t, "grpc", r.Addr(), func(c *Config) { c.CloseTimeout = 300 * time.Millisecond })
	require.NoError(t, f.Flush(records()))
	err := f.Close()
	require.ErrorIs(t, err, ErrUndelivered)
	assert.Equal(t, Stats{Failed: 4}, f.Stats())
	err = f.Flush(records())
	require.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, Stats{Failed: 4, Dropped: 4}, f.Stats())
}

// Records the flusher cannot read are failed and named; the others are sent.
func TestUnreadableRecords(t *testing.T) {
	r := otlptest.Start(t, "grpc", "127.0.0.1:0")
	f := newFlusher(t, "grpc", r.Addr(), nil)
	bad := httpRecord("200", 1)
	bad.Fields[len(bad.Fields)-7].Value = "many" // total_count
	err := f.Flush([]record.Record{bad, rec(1, "type", "l4"), httpRecord("200", 2)})
	assert.ErrorContains(t, err, `flusher_otlp: 2 records not converted: total_count "many" is not a count; record type "l4" is not exported`)
	require.NoError(t, f.Close())
	assert.Equal(t, Stats{Written: 1, Failed: 2}, f.Stats())
}

// BenchmarkCall is the live histogram's cost per call (the observer's hot path).
func BenchmarkCall(b *testing.B) {
	f, err := New(record.Context{}, Config{Endpoint: "127.0.0.1:1", Insecure: true, Interval: time.Hour, CloseTimeout: time.Millisecond})
	require.NoError(b, err)
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		f.Call(live.Call{Protocol: "http", Role: "server", Success: true, Latency: 300 * time.Microsecond})
	}
}
