package otlp

import (
	"fmt"
	"math"
	"slices"
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
			// Calls the kernel counted: in the histogram by their buckets' latencies.
			f.Calls(live.Call{Protocol: "http", Role: "server", Success: true}, 5, []live.Latencies{{Latency: 4 * time.Millisecond, N: 5}})
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
					assert.EqualValues(t, 15, p.Count)
					assert.InDelta(t, 0.075, p.Sum, 1e-12)
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

// BenchmarkCall is the live histogram's cost per call (the observer's hot path), in each form:
// one latency again and again, and latencies spread over 10 µs … 1 s.
func BenchmarkCall(b *testing.B) {
	spread := make([]time.Duration, 1024)
	for i := range spread {
		spread[i] = time.Duration(1e4 * math.Pow(1e5, float64(i*617%1024)/1024)) // 10 µs · 10^(5x), shuffled
	}
	for _, form := range []string{HistogramExplicit, HistogramExponential} {
		for _, latencies := range []string{"fixed", "spread"} {
			b.Run(form+"/"+latencies, func(b *testing.B) {
				f, err := New(record.Context{}, Config{Endpoint: "127.0.0.1:1", Insecure: true, Interval: time.Hour,
					CloseTimeout: time.Millisecond, Histogram: form})
				require.NoError(b, err)
				defer f.Close()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					lat := 300 * time.Microsecond
					if latencies == "spread" {
						lat = spread[i%len(spread)]
					}
					i++
					f.Call(live.Call{Protocol: "http", Role: "server", Success: true, Latency: lat})
				}
			})
		}
	}
}

// The live histogram as an exponential histogram, over gRPC and HTTP (plain and gzip): the
// receiver decodes exactly the buckets the spec's mapping gives the calls' latencies, cumulative
// across exports from one start time. The headers come from OTEL_EXPORTER_OTLP_HEADERS, on the
// records' requests and the histogram's alike.
func TestExportExponential(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=blue%20team")
	for _, c := range []struct{ name, protocol, compression string }{
		{"grpc", "grpc", "none"}, {"grpc-gzip", "grpc", "gzip"}, {"http", "http", "none"}, {"http-gzip", "http", "gzip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := otlptest.Start(t, c.protocol, "127.0.0.1:0")
			before := uint64(time.Now().UnixNano())
			f := newFlusher(t, c.protocol, r.Addr(), func(cfg *Config) {
				cfg.Histogram, cfg.Compression = HistogramExponential, c.compression
			})
			// Bucket i of scale s holds (2^(i/2^s), 2^((i+1)/2^s)]: i = ceil(log2(v)·2^s) − 1.
			// These span 2^(−13.3) … 2^(−4.3) s: 144 buckets at scale 4 (302 at scale 5, over 160).
			//   100 µs: log2 = −13.288, ·16 = −212.60 → bucket −213 (position 0)
			//   250 µs: −11.966, −191.45 → −192 (21)
			//   1 ms:   −9.966, −159.45 → −160 (53)
			//   2 ms:   −8.966, −143.45 → −144 (69)
			//   10 ms:  −6.644, −106.30 → −107 (106)
			//   50 ms:  −4.322, −69.15 → −70 (143)
			lat := []time.Duration{0, 100 * time.Microsecond, 250 * time.Microsecond, time.Millisecond, time.Millisecond,
				time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond}
			var sum float64
			for _, d := range lat {
				f.Call(live.Call{Protocol: "http", Role: "server", Success: true, Latency: d})
				sum += d.Seconds()
			}
			f.Call(live.Call{Protocol: "mqtt", Role: "client", Success: true, OneWay: true}) // no latency: not in the histogram
			f.Call(live.Call{Protocol: "redis", Role: "client", Latency: time.Millisecond})
			require.NoError(t, f.Flush(records()[:1]))
			f.exportLive()
			f.Call(live.Call{Protocol: "http", Role: "server", Success: true, Latency: time.Millisecond})
			require.NoError(t, f.Close()) // the second export
			assert.Equal(t, Stats{Written: 1}, f.Stats())

			want := make([]uint64, 144)
			want[0], want[21], want[53], want[69], want[106], want[143] = 1, 1, 3, 1, 1, 1
			var http []otlptest.Point
			for _, p := range r.Points("netobserver.l7.latency") {
				assert.Equal(t, "exponential_histogram", p.Kind)
				assert.Equal(t, "s", p.Unit)
				assert.False(t, p.Delta, "cumulative")
				assert.Equal(t, map[string]any{"host.name": f.conv.host, "service.name": "netobserver"}, p.Resource)
				switch p.Attrs["network.protocol.name"] {
				case "http":
					assert.Equal(t, map[string]any{"network.protocol.name": "http", "netobserver.role": "server"}, p.Attrs)
					http = append(http, p)
				case "redis":
					// One value: the finest scale, 8. log2(0.001)·256 = −2551.24 → bucket −2552.
					assert.Equal(t, int32(8), p.Scale)
					assert.Equal(t, int32(-2552), p.Offset)
					assert.Equal(t, []uint64{1}, p.BucketCounts)
					assert.Equal(t, uint64(1), p.Count)
				default:
					t.Errorf("unexpected series %v", p.Attrs)
				}
			}
			require.Len(t, http, 2)
			first, second := http[0], http[1]
			assert.Equal(t, otlptest.Point{Metric: "netobserver.l7.latency", Unit: "s", Kind: "exponential_histogram",
				Resource: first.Resource, Attrs: first.Attrs, Start: first.Start, Time: first.Time,
				Count: 9, Sum: sum, BucketCounts: want, Scale: 4, Offset: -213, ZeroCount: 1, Min: 0, Max: 0.05}, first)
			assert.GreaterOrEqual(t, first.Start, before)
			assert.Greater(t, first.Time, first.Start)
			want[53]++
			assert.Equal(t, first.Start, second.Start, "cumulative: one start")
			assert.GreaterOrEqual(t, second.Time, first.Time)
			assert.Equal(t, uint64(10), second.Count)
			assert.Equal(t, want, second.BucketCounts)
			assert.Equal(t, int32(4), second.Scale)

			assert.Equal(t, []string{"blue team"}, r.Header("x-tenant", "netobserver.l7.calls"))
			assert.Equal(t, []string{"blue team", "blue team"}, r.Header("x-tenant", "netobserver.l7.latency"))
		})
	}
}

// Every protocol of the registry reaches OTLP: the conventions' names where they have one
// (memcached's command, Kafka's API and topic, HTTP/2 as HTTP version 2, gRPC's status — a failed
// call whatever the HTTP status), netobserver.<protocol>.<field> for the rest, and
// one-way messages (a NATS delivery) counted as calls and bytes with netobserver.one_way, without a
// latency.
func TestExportEveryProtocol(t *testing.T) {
	host := []string{"_process_pid_", "77", "_process_cmd_", "/usr/bin/app", "_running_mode_", "host", "type", "protocols"}
	counts := func(n int, latency int) []string {
		return []string{"total_count", fmt.Sprint(n), "total_latency_ns", fmt.Sprint(latency), "total_req_bytes", "100", "total_resp_bytes", "10",
			"p50_latency_ns", "0", "p90_latency_ns", "0", "p99_latency_ns", "0"}
	}
	remote := []string{"role", "client", "remote_info", `{"remote_ip":"10.0.0.5","remote_port":"4222","remote_type":"mq"}` + "\n"}
	recs := []record.Record{
		rec(1700000015, slices.Concat(host, []string{"protocol", "memcached", "cmd", "get", "outcome", "miss", "success", "1"}, remote, counts(5, 5000))...),
		rec(1700000015, slices.Concat(host, []string{"protocol", "kafka", "api", "Produce", "topic", "orders", "error_code", "0", "success", "1"}, remote, counts(4, 8000))...),
		rec(1700000015, slices.Concat(host, []string{"protocol", "nats", "op", "MSG", "subject", "orders.?", "success", "1", "one_way", "1"}, remote, counts(9, 0))...),
		rec(1700000015, slices.Concat(host, []string{"protocol", "http2", "version", "2", "host", "api:50051", "method", "POST",
			"url", "/shop.Cart/Get", "resp_code", "200", "grpc_status", "5"}, remote, counts(3, 3000))...),
		rec(1700000015, slices.Concat(host, []string{"protocol", "http2", "version", "2", "host", "web", "method", "GET",
			"url", "/", "resp_code", "200", "grpc_status", "-1"}, remote, counts(6, 6000))...),
	}
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			r := otlptest.Start(t, protocol, "127.0.0.1:0")
			f := newFlusher(t, protocol, r.Addr(), nil)
			require.NoError(t, f.Flush(recs))
			require.NoError(t, f.Close())
			assert.Equal(t, Stats{Written: 5}, f.Stats())
			calls := r.Points("netobserver.l7.calls")
			require.Len(t, calls, 5)
			assert.EqualValues(t, 5, otlptest.Sum(calls, map[string]any{"network.protocol.name": "memcached", "db.system.name": "memcached",
				"db.operation.name": "get", "netobserver.memcached.outcome": "miss"}))
			assert.EqualValues(t, 4, otlptest.Sum(calls, map[string]any{"network.protocol.name": "kafka", "messaging.system": "kafka",
				"messaging.operation.name": "Produce", "messaging.destination.name": "orders", "netobserver.kafka.error_code": "0"}))
			nats := map[string]any{"network.protocol.name": "nats", "messaging.operation.name": "MSG",
				"messaging.destination.name": "orders.?", "netobserver.one_way": true}
			assert.EqualValues(t, 9, otlptest.Sum(calls, nats))
			assert.EqualValues(t, 100, otlptest.Sum(r.Points("netobserver.l7.request.size"), nats))
			grpc := map[string]any{"network.protocol.name": "http", "network.protocol.version": "2", "http.request.method": "POST",
				"url.path": "/shop.Cart/Get", "server.address": "api:50051", "http.response.status_code": int64(200),
				"rpc.system": "grpc", "rpc.grpc.status_code": int64(5), "error.type": "5"}
			assert.EqualValues(t, 3, otlptest.Sum(calls, grpc))
			h2 := map[string]any{"network.protocol.name": "http", "network.protocol.version": "2", "url.path": "/", "http.response.status_code": int64(200)}
			assert.EqualValues(t, 6, otlptest.Sum(calls, h2))
			errs := r.Points("netobserver.l7.errors")
			require.Len(t, errs, 1, "the gRPC call that failed under HTTP 200")
			assert.EqualValues(t, 3, otlptest.Sum(errs, grpc))
			dur := r.Points("netobserver.l7.duration")
			assert.Len(t, dur, 4, "one-way messages have no latency")
			for _, p := range dur {
				assert.False(t, otlptest.Matches(p, nats))
			}
		})
	}
}
