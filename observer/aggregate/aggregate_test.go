package aggregate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/container"

	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/dns"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/mysql"
	"github.com/netobserver/netobserver/parser/redis"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var host = &Process{Group: "pid:4242", Meta: []record.Field{
	{Key: "_process_pid_", Value: "4242"}, {Key: "_process_cmd_", Value: "/usr/bin/curl"}, {Key: "_running_mode_", Value: "host"},
}}

func addr(s string) abi.SockAddr { return abi.SockAddrFrom(netip.MustParseAddrPort(s)) }

func httpCall(role abi.Role, remote string, path string, status int, latency uint64) *calls.Call {
	return &calls.Call{
		Protocol: abi.ProtoHTTP, Role: role, Remote: addr(remote), RequestTS: 1000, ResponseTS: 1000 + latency,
		Exchange: parser.Pair(http.Protocol,
			http.Message{Type: parser.Request, Size: 100, Method: "GET", Host: "shop.test", Resource: path, Version: "1.1"},
			http.Message{Type: parser.Response, Size: 250, Status: status, Success: status < 400}),
	}
}

func fields(pairs ...string) []record.Field {
	var out []record.Field
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, record.Field{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func TestProtocolsRecordsSchemaA(t *testing.T) {
	a := New(Config{Tags: map[string]string{"zone": "b", "cluster": "prod"}})
	a.NameHost(host.Group, netip.MustParseAddr("10.0.0.2"), "shop.test", 1700000300)
	for _, lat := range []uint64{1000, 2000, 3000, 4000, 100000} {
		a.AddCall(host, httpCall(abi.RoleClient, "10.0.0.2:80", "/items", 200, lat))
	}
	a.AddCall(host, httpCall(abi.RoleClient, "10.0.0.2:80", "/items", 404, 500))
	// Server side: clients from any port aggregate together; no remote_type.
	a.AddCall(host, httpCall(abi.RoleServer, "10.0.0.9:40001", "/", 200, 10))
	a.AddCall(host, httpCall(abi.RoleServer, "10.0.0.9:40002", "/", 200, 30))
	a.AddCall(host, &calls.Call{Protocol: abi.ProtoMySQL, Role: abi.RoleClient, Remote: addr("10.0.0.3:3306"),
		RequestTS: 0, ResponseTS: 700,
		Exchange: parser.Pair(mysql.Protocol,
			mysql.Message{Size: 40, Method: "SELECT", Resource: "SELECT * FROM t WHERE id = ?"},
			mysql.Message{Size: 90, Success: false})})
	a.AddCall(host, &calls.Call{Protocol: abi.ProtoDNS, Role: abi.RoleClient, Remote: addr("10.0.0.53:53"),
		RequestTS: 0, ResponseTS: 900,
		Exchange: parser.Pair(dns.Protocol,
			dns.Message{Size: 30, Method: "A", Resource: "shop.test"},
			dns.Message{Size: 46, Answers: 1, Success: true})})
	a.AddCall(host, &calls.Call{Protocol: abi.ProtoRedis, Role: abi.RoleClient, Remote: addr("[fd00::6]:6379"),
		RequestTS: 0, ResponseTS: 50,
		Exchange: parser.Pair(redis.Protocol,
			redis.Message{Size: 22, Method: "GET"},
			redis.Message{Size: 9, Success: true})})

	got := a.FlushL7(1700000000)
	tags := []string{"__tag__:cluster", "prod", "__tag__:zone", "b"}
	head := func(rest ...string) []record.Field {
		all := append([]string{"type", "protocols", "_process_pid_", "4242", "_process_cmd_", "/usr/bin/curl", "_running_mode_", "host"}, tags...)
		return fields(append(all, rest...)...)
	}
	want := []record.Record{
		{Time: 1700000000, Fields: head("protocol", "http", "version", "1", "host", "shop.test", "method", "GET", "url", "/items", "resp_code", "200",
			"role", "client", "remote_info", `{"remote_host":"shop.test","remote_ip":"10.0.0.2","remote_port":"80","remote_type":"server"}`+"\n",
			"total_count", "5", "total_latency_ns", "110000", "total_req_bytes", "500", "total_resp_bytes", "1250",
			"p50_latency_ns", "3000", "p90_latency_ns", "100000", "p99_latency_ns", "100000")},
		{Time: 1700000000, Fields: head("protocol", "http", "version", "1", "host", "shop.test", "method", "GET", "url", "/items", "resp_code", "404",
			"role", "client", "remote_info", `{"remote_host":"shop.test","remote_ip":"10.0.0.2","remote_port":"80","remote_type":"server"}`+"\n",
			"total_count", "1", "total_latency_ns", "500", "total_req_bytes", "100", "total_resp_bytes", "250",
			"p50_latency_ns", "500", "p90_latency_ns", "500", "p99_latency_ns", "500")},
		{Time: 1700000000, Fields: head("protocol", "http", "version", "1", "host", "shop.test", "method", "GET", "url", "/", "resp_code", "200",
			"role", "server", "remote_info", `{"remote_ip":"10.0.0.9","remote_port":"0"}`+"\n",
			"total_count", "2", "total_latency_ns", "40", "total_req_bytes", "200", "total_resp_bytes", "500",
			"p50_latency_ns", "10", "p90_latency_ns", "30", "p99_latency_ns", "30")},
		{Time: 1700000000, Fields: head("protocol", "mysql", "sql", "SELECT * FROM t WHERE id = ?", "success", "0",
			"role", "client", "remote_info", `{"remote_ip":"10.0.0.3","remote_port":"3306","remote_type":"database"}`+"\n",
			"total_count", "1", "total_latency_ns", "700", "total_req_bytes", "40", "total_resp_bytes", "90",
			"p50_latency_ns", "700", "p90_latency_ns", "700", "p99_latency_ns", "700")},
		{Time: 1700000000, Fields: head("protocol", "dns", "query_record", "shop.test", "query_type", "A", "success", "1",
			"role", "client", "remote_info", `{"remote_ip":"10.0.0.53","remote_port":"53","remote_type":"dns"}`+"\n",
			"total_count", "1", "total_latency_ns", "900", "total_req_bytes", "30", "total_resp_bytes", "46",
			"p50_latency_ns", "900", "p90_latency_ns", "900", "p99_latency_ns", "900")},
		{Time: 1700000000, Fields: head("protocol", "redis", "cmd", "GET", "success", "1",
			"role", "client", "remote_info", `{"remote_ip":"fd00::6","remote_port":"6379","remote_type":"database"}`+"\n",
			"total_count", "1", "total_latency_ns", "50", "total_req_bytes", "22", "total_resp_bytes", "9",
			"p50_latency_ns", "50", "p90_latency_ns", "50", "p99_latency_ns", "50")},
	}
	require.Len(t, got, len(want))
	for i := range want {
		wantRest, wantP := splitPercentiles(t, want[i])
		gotRest, gotP := splitPercentiles(t, got[i])
		assert.Equal(t, wantRest, gotRest, "record %d", i)
		for j := range wantP {
			assert.InEpsilon(t, wantP[j], gotP[j], 0.025, "record %d: percentile %d is within the histogram's error of the true one", i, j)
		}
	}
	assert.Empty(t, a.FlushL7(1700000015), "a new interval starts empty")
}

func TestCapsDropAndCount(t *testing.T) {
	a := New(Config{Caps: map[abi.Protocol]Cap{abi.ProtoHTTP: {ClientSize: 2, ServerSize: 1}}})
	for _, p := range []string{"/a", "/b", "/c", "/a", "/d"} {
		a.AddCall(host, httpCall(abi.RoleClient, "10.0.0.2:80", p, 200, 1))
	}
	a.AddCall(host, httpCall(abi.RoleServer, "10.0.0.9:1", "/x", 200, 1))
	a.AddCall(host, httpCall(abi.RoleServer, "10.0.0.9:1", "/y", 200, 1))
	assert.EqualValues(t, 3, a.Dropped(abi.ProtoHTTP), "/c, /d and the server's /y")
	recs := a.FlushL7(1)
	require.Len(t, recs, 3)
	count, _ := recs[0].Get("total_count")
	assert.Equal(t, "2", count, "/a twice: existing keys keep counting")
	assert.Zero(t, a.Dropped(abi.ProtoHTTP), "counters restart with the interval")
	// Another process group has caps of its own.
	other := &Process{Group: "pid:1", Meta: host.Meta}
	a.AddCall(other, httpCall(abi.RoleClient, "10.0.0.2:80", "/z", 200, 1))
	assert.Zero(t, a.Dropped(abi.ProtoHTTP))
}

func TestStatisticsRecords(t *testing.T) {
	a := New(Config{})
	a.AddStats(host, &abi.StatsEvent{Addr: addr("10.0.0.2:80"), Role: abi.RoleClient,
		WrBytes: 1000, RdBytes: 5000, WrPkts: 10, RdPkts: 20, LastWrBytes: 100, LastRdBytes: 1000, LastWrPkts: 1, LastRdPkts: 4})
	a.AddStats(host, &abi.StatsEvent{Addr: addr("10.0.0.2:80"), Role: abi.RoleClient,
		WrBytes: 1500, RdBytes: 5000, WrPkts: 12, RdPkts: 20, LastWrBytes: 1000, LastRdBytes: 5000, LastWrPkts: 10, LastRdPkts: 20, ConnEvents: 1})
	var unix abi.SockAddr
	unix.Family = abi.FamilyUnix
	a.AddStats(host, &abi.StatsEvent{Addr: unix, Role: abi.RoleServer, WrBytes: 7, RdBytes: 9, WrPkts: 1, RdPkts: 2})
	got := a.FlushL4(1700000060)
	base := []string{"type", "statistics", "_process_pid_", "4242", "_process_cmd_", "/usr/bin/curl", "_running_mode_", "host"}
	assert.Equal(t, []record.Record{
		{Time: 1700000060, Fields: fields(append(base, "remote_info", `{"remote_ip":"10.0.0.2","remote_port":"80","remote_type":"server"}`+"\n",
			"socket_type", "inet_socket", "role", "client", "send_bytes", "1400", "recv_bytes", "4000",
			"send_packets", "11", "recv_packets", "16", "send_total_latency", "0", "recv_total_latency", "0")...)},
		{Time: 1700000060, Fields: fields(append(base, "remote_info", `{"remote_ip":"","remote_port":"0"}`+"\n",
			"socket_type", "unix_socket", "role", "server", "send_bytes", "7", "recv_bytes", "9",
			"send_packets", "1", "recv_packets", "2", "send_total_latency", "0", "recv_total_latency", "0")...)},
	}, got)
}

func TestHostNamesExpire(t *testing.T) {
	a := New(Config{})
	ip := netip.MustParseAddr("10.0.0.2")
	a.NameHost(host.Group, ip, "old.test", 100)
	a.AddCall(host, httpCall(abi.RoleClient, "10.0.0.2:80", "/", 200, 1))
	r := a.FlushL7(101)
	info, _ := r[0].Get("remote_info")
	assert.NotContains(t, info, "old.test", "the answer's TTL ran out")
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	assert.Zero(t, h.Quantile(0.5))
	for v := uint64(1); v <= 1000; v++ {
		h.Add(v * 1000) // 1 µs .. 1 ms
	}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 500e3}, {0.9, 900e3}, {0.99, 990e3}, {1, 1000e3}} {
		got := float64(h.Quantile(tc.q))
		assert.InEpsilon(t, tc.want, got, 0.05, "q%.2f: %v", tc.q, got)
	}
	assert.EqualValues(t, 1000, h.Count())
}

// The last bucket holds everything from 1.05^511 ns (67.26 s) up: a call of an hour reads as the
// middle of that bucket, as the README says.
func TestHistogramRangeEnd(t *testing.T) {
	var h Histogram
	h.Add(uint64(time.Hour))
	h.Add(uint64(67 * time.Second))
	assert.EqualValues(t, 68917017487, h.Quantile(1))
	assert.EqualValues(t, 65635254749, h.Quantile(0.5), "67 s is still in the bucket below")
}

// splitPercentiles takes the three percentile fields off a record (they must be its last three,
// in order) and returns them as numbers.
func splitPercentiles(t *testing.T, r record.Record) (record.Record, [3]float64) {
	t.Helper()
	n := len(r.Fields)
	require.GreaterOrEqual(t, n, 3)
	var p [3]float64
	for i, name := range []string{"p50_latency_ns", "p90_latency_ns", "p99_latency_ns"} {
		f := r.Fields[n-3+i]
		require.Equal(t, name, f.Key)
		v, err := strconv.ParseFloat(f.Value, 64)
		require.NoError(t, err)
		p[i] = v
	}
	r.Fields = r.Fields[:n-3]
	return r, p
}

// The key of the last call per role is remembered to skip the map: what it counts must be what the
// map alone counted, across caps, process groups, roles and intervals.
func TestRepeatedKeysAcrossCapsAndIntervals(t *testing.T) {
	client, server := abi.RoleClient, abi.RoleServer
	a := New(Config{Caps: map[abi.Protocol]Cap{abi.ProtoHTTP: {ClientSize: 1, ServerSize: 1}}})
	other := &Process{Group: "pid:1", Meta: fields("_process_pid_", "1")}
	a.AddCall(host, httpCall(client, "10.0.0.2:80", "/a", 200, 1))
	a.AddCall(host, httpCall(client, "10.0.0.2:80", "/a", 200, 1))
	a.AddCall(host, httpCall(client, "10.0.0.2:80", "/b", 200, 1)) // over the cap
	a.AddCall(host, httpCall(client, "10.0.0.2:80", "/a", 200, 1))
	a.AddCall(host, httpCall(server, "10.0.0.9:1", "/s", 200, 1))
	a.AddCall(host, httpCall(client, "10.0.0.2:80", "/a", 404, 1)) // over the cap
	a.AddCall(host, httpCall(server, "10.0.0.9:2", "/s", 200, 1))  // another client port: same key
	a.AddCall(other, httpCall(client, "10.0.0.2:80", "/a", 200, 1))
	a.AddCall(host, httpCall(client, "10.0.0.2:80", "/a", 200, 1))
	assert.EqualValues(t, 2, a.Dropped(abi.ProtoHTTP))
	summary := func(recs []record.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, get(r, "_process_pid_")+" "+get(r, "role")+" "+get(r, "url")+" "+get(r, "resp_code")+" "+get(r, "total_count"))
		}
		return out
	}
	assert.Equal(t, []string{"4242 client /a 200 4", "4242 server /s 200 2", "1 client /a 200 1"}, summary(a.FlushL7(1)))

	// A new interval: the same keys count afresh, under the process of their first call.
	next := &Process{Group: host.Group, Meta: fields("_process_pid_", "4343")}
	a.AddCall(next, httpCall(client, "10.0.0.2:80", "/a", 200, 1))
	a.AddCall(host, httpCall(client, "10.0.0.2:80", "/a", 200, 1))
	a.AddCall(next, httpCall(server, "10.0.0.9:1", "/s", 200, 1))
	assert.Equal(t, []string{"4343 client /a 200 2", "4343 server /s 200 1"}, summary(a.FlushL7(2)))
	assert.Empty(t, a.FlushL7(3))
}

func get(r record.Record, key string) string {
	v, _ := r.Get(key)
	return v
}

func BenchmarkAddCallHTTP(b *testing.B) {
	a := New(Config{})
	cs := []*calls.Call{
		httpCall(abi.RoleClient, "10.0.0.2:80", "/api/v1/items", 200, 40000),
		httpCall(abi.RoleServer, "10.0.0.1:40000", "/api/v1/items", 200, 30000),
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a.AddCall(host, cs[i%2])
	}
}

// logBucketOf is bucketOf as it was first written, with a logarithm per value: the table lookup
// must give the same bucket for every value.
func logBucketOf(ns uint64) int {
	if ns <= 1 {
		return 0
	}
	return min(int(math.Log(float64(ns))/math.Log(1.05)), 511)
}

func TestBucketOf(t *testing.T) {
	for _, tc := range []struct {
		ns   uint64
		want int
	}{
		{0, 0}, {1, 0}, {2, 14}, {3, 22}, {20, 61}, {21, 62}, {22, 63}, {1000, 141}, {1001, 141},
		{65535, 227}, {65536, 227}, {999999, 283}, {1000000, 283}, {1000001, 283}, {12345678, 334},
		{64053449897, 509}, {64053449898, 510}, {67256122392, 510}, {67256122393, 511},
		{1 << 40, 511}, {math.MaxUint64, 511},
	} {
		assert.Equal(t, tc.want, bucketOf(tc.ns), "%d ns", tc.ns)
	}
	check := func(ns uint64) {
		if got, want := bucketOf(ns), logBucketOf(ns); got != want {
			t.Fatalf("bucketOf(%d) = %d, the logarithm says %d", ns, got, want)
		}
	}
	for ns := uint64(0); ns <= 1<<20; ns++ {
		check(ns)
	}
	for _, b := range histBounds {
		for d := uint64(0); d <= 16; d++ {
			check(b + d)
			check(b - min(b, d))
		}
	}
	for n := 0; n < 64; n++ {
		p := uint64(1) << n
		check(p - 1)
		check(p)
		check(p + 1)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		check(r.Uint64() >> r.IntN(64))
	}
}

func BenchmarkBucketOf(b *testing.B) {
	values := make([]uint64, 1024)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range values {
		values[i] = 1000 + r.Uint64N(10_000_000) // 1 µs .. 10 ms
	}
	n := 0
	for i := 0; i < b.N; i++ {
		n += bucketOf(values[i%len(values)])
	}
	sinkInt = n
}

var sinkInt int

// Records show a host process by pid and command, a container by name, a pod by its Kubernetes
// names, in schema A's order.
func TestProcessFieldsPerMode(t *testing.T) {
	host := &container.Identity{PID: 101, Cmd: "/usr/bin/app", Mode: container.ModeHost}
	assert.Equal(t, fields("_process_pid_", "101", "_process_cmd_", "/usr/bin/app", "_running_mode_", "host"), ProcessOf(host).Meta)

	ctr := &container.Identity{PID: 7, Mode: container.ModeContainer, Container: &container.Container{Name: "shop-api"}}
	assert.Equal(t, fields("_container_name_", "shop-api", "_running_mode_", "container"), ProcessOf(ctr).Meta)

	pod := &container.Identity{PID: 8, Mode: container.ModeKubernetes, Container: &container.Container{Name: "k8s_web_web-0",
		K8s: &container.K8sInfo{PodName: "web-0", Namespace: "prod", ContainerName: "web", Workload: "web"}}}
	assert.Equal(t, fields("_pod_name_", "web-0", "_namespace_", "prod", "_container_name_", "web", "_workload_name_", "web",
		"_running_mode_", "kubernetes"), ProcessOf(pod).Meta)

	assert.Equal(t, fields("_process_pid_", "9", "_process_cmd_", "", "_running_mode_", "host"), ProcessOf(container.UnknownProcess(9)).Meta)
}

// A name from a DNS answer can hold any bytes; remote_info and schema B's JSON fields stay valid
// JSON whatever they are, and say the name (invalid UTF-8 as U+FFFD).
func TestHostileHostNamesStayValidJSON(t *testing.T) {
	const name = "a\"b\\c\x00\x1f<>&\u2028\xff.test"
	ip := netip.MustParseAddr("10.0.0.2")
	for _, schema := range []Schema{SchemaProtocols, SchemaL4L7} {
		a := New(Config{Schema: schema, Host: "node-1"})
		a.NameHost(host.Group, ip, name, 1700000300)
		a.AddCall(host, httpCall(abi.RoleClient, "10.0.0.2:80", "/", 200, 1))
		recs := a.FlushL7(1700000000)
		require.NotEmpty(t, recs)
		for _, r := range recs {
			for _, f := range r.Fields {
				if !strings.HasSuffix(f.Key, "_info") {
					continue
				}
				require.True(t, json.Valid([]byte(f.Value)), "%s: %q", f.Key, f.Value)
				if f.Key != "remote_info" {
					continue
				}
				var got map[string]string
				require.NoError(t, json.Unmarshal([]byte(f.Value), &got))
				host := got["remote_host"] + got["_remote_host_"]
				assert.Equal(t, strings.ToValidUTF8(name, "\uFFFD"), host, "schema %v", schema)
			}
		}
	}
}

// Calls counted by their sums join the key's calls counted one by one, their latencies' buckets
// the key's histogram, in both schemas.
func TestAddCallsBySums(t *testing.T) {
	for _, schema := range []Schema{SchemaProtocols, SchemaL4L7} {
		a := New(Config{Schema: schema})
		p := host
		a.AddCall(p, httpCall(abi.RoleClient, "10.0.0.2:80", "/a", 200, 300))
		// 40 calls of 300 ns summed, in 300's bucket.
		a.AddCalls(p, httpCall(abi.RoleClient, "10.0.0.2:80", "/a", 200, 0), &CallSums{N: 40, Latency: 12000, ReqBytes: 4000, RespBytes: 10000,
			Buckets: []BucketCount{{Bucket: bucketOf(300), N: 40}}})
		a.AddCall(p, httpCall(abi.RoleClient, "10.0.0.2:80", "/b", 200, 500))
		recs := a.FlushL7(1700000000)
		require.Len(t, recs, 2)
		count, latency, req, resp, pct := "total_count", "total_latency_ns", "total_req_bytes", "total_resp_bytes", "p50_latency_ns"
		if schema == SchemaL4L7 {
			count, latency, req, resp, pct = "count", "latency_ns", "req_bytes", "resp_bytes", "tdigest_latency"
		}
		assert.Equal(t, []string{"41", "12300", "4100", "10250"},
			[]string{get(recs[0], count), get(recs[0], latency), get(recs[0], req), get(recs[0], resp)}, "schema %d", schema)
		var h Histogram
		for range 41 {
			h.Add(300)
		}
		want := strconv.FormatUint(h.Quantile(0.5), 10)
		if schema == SchemaL4L7 {
			want = EncodeSketch(&h)
		}
		assert.Equal(t, want, get(recs[0], pct), "schema %d: the 41 calls' percentiles", schema)
		assert.Equal(t, "1", get(recs[1], count))
		assert.NotEmpty(t, get(recs[1], pct))
	}
}
