package observer

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aggLib is a Capture with the kernel aggregation extension whose map the test sets.
type aggLib struct {
	Capture // nil: the calls the readout makes are the extension's
	mask    uint32
	entries []abi.AggEntry
	deleted []abi.AggKey
	atStop  uint64 // the library's AggPendingAtStop
}

func (l *aggLib) ProcessEvents() bool                 { return false }
func (l *aggLib) KernelAggregation(mask uint32) error { l.mask = mask; return nil }
func (l *aggLib) ReadAggregates(visit func(*abi.AggEntry)) ([]uint64, error) {
	counters := make([]uint64, abi.AggNumCounters)
	counters[abi.AggLostCalls], counters[abi.AggFallbackPipelined], counters[abi.AggUnanswered], counters[abi.AggPendingAtStop] = 7, 2, 3, l.atStop
	for _, e := range l.entries {
		visit(&e)
	}
	return counters, nil
}
func (l *aggLib) DeleteAggregates(ks []abi.AggKey) (int, error) {
	l.deleted = append(l.deleted, ks...)
	return len(ks), nil
}

func keysOf(es []abi.AggEntry) []abi.AggKey {
	var ks []abi.AggKey
	for _, e := range es {
		ks = append(ks, e.AggKey)
	}
	return ks
}

// bucketMiddle is a percentile read from histogram bucket i (aggregate.Histogram.Quantile: the
// geometric middle of a bucket 5 % wide), as text.
func bucketMiddle(i int) string {
	return fmt.Sprint(uint64(math.Round(math.Pow(1.05, float64(i)) * math.Sqrt(1.05))))
}

// The readout adds each entry's growth since the last read as calls of its connection: bytes
// that come after a call's count wait for the next call or the close; closed connections'
// entries are read twice more (a syscall running at the close may still add), then deleted; the socket filters drop a local connection's calls
// and a connection closed with no address known is counted unattributed.
func TestKernelAggregatesReadout(t *testing.T) {
	pid := uint32(os.Getpid())
	lib := &aggLib{}
	o := New(lib, defaultOptions(), nil)
	o.opts.KernelAggregation = []abi.Protocol{abi.ProtoHTTP}
	require.NoError(t, o.kagg.configure(lib, o.opts.KernelAggregation))
	assert.Equal(t, uint32(1), lib.mask)

	web, local, silent := abi.ConnID{FD: 5, TGID: pid, Start: 1}, abi.ConnID{FD: 6, TGID: pid, Start: 2}, abi.ConnID{FD: 7, TGID: pid, Start: 3}
	connect := func(id abi.ConnID, addr string) {
		o.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, ConnID: id, Role: abi.RoleClient, Addr: abi.SockAddrFrom(netip.MustParseAddrPort(addr))})
	}
	connect(web, "10.200.0.2:80")
	connect(local, "127.0.0.1:80")
	// The calls' latencies are 100 ns: in the kernel's first bucket.
	entry := func(id abi.ConnID, count, latency, req, resp uint64) abi.AggEntry {
		e := abi.AggEntry{AggKey: abi.AggKey{Conn: id, Role: abi.RoleClient, Status: 200, Method: 1, Version: 1, Host: "web.test", Path: "/items"},
			Count: count, LatencyNs: latency, ReqBytes: req, RespBytes: resp}
		e.Latencies[0] = uint32(count)
		return e
	}
	flush := func() []record.Record {
		o.readKernelAggregates()
		return o.agg.agg.FlushL7(1700000000)
	}

	lib.entries = []abi.AggEntry{entry(web, 3, 300, 30, 60), entry(local, 2, 20, 20, 20), entry(silent, 1, 10, 10, 10)}
	recs := flush()
	require.Len(t, recs, 1, "%v", recs)
	assert.Equal(t, []string{"1", "web.test", "GET", "/items", "200", "client", "3", "300", "30", "60", bucketMiddle(abi.AggHistFirst)},
		[]string{get(recs[0], "version"), get(recs[0], "host"), get(recs[0], "method"), get(recs[0], "url"), get(recs[0], "resp_code"),
			get(recs[0], "role"), get(recs[0], "total_count"), get(recs[0], "total_latency_ns"), get(recs[0], "total_req_bytes"),
			get(recs[0], "total_resp_bytes"), get(recs[0], "p50_latency_ns")})

	// The last response's end: it waits for the next call.
	lib.entries[0] = entry(web, 3, 300, 30, 80)
	assert.Empty(t, flush())
	lib.entries[0] = entry(web, 5, 500, 50, 130)
	recs = flush()
	require.Len(t, recs, 1)
	assert.Equal(t, []string{"2", "200", "20", "70"}, []string{get(recs[0], "total_count"), get(recs[0], "total_latency_ns"),
		get(recs[0], "total_req_bytes"), get(recs[0], "total_resp_bytes")})
	assert.Empty(t, lib.deleted)

	// Closes: the web connection's last bytes are read, then its entry goes with the others.
	lib.entries[0] = entry(web, 5, 500, 50, 150)
	for _, id := range []abi.ConnID{web, local, silent} {
		o.Ctrl(&abi.CtrlEvent{Type: abi.EventClose, ConnID: id})
	}
	recs = flush()
	require.Len(t, recs, 1)
	assert.Equal(t, []string{"0", "0", "0", "20"}, []string{get(recs[0], "total_count"), get(recs[0], "total_latency_ns"),
		get(recs[0], "total_req_bytes"), get(recs[0], "total_resp_bytes")})
	assert.Empty(t, lib.deleted, "deleted at the read after")
	// A syscall running at the close adds to its entry: still counted, then deleted.
	lib.entries[0] = entry(web, 6, 600, 60, 170)
	recs = flush()
	require.Len(t, recs, 1)
	assert.Equal(t, []string{"1", "100", "10", "20"}, []string{get(recs[0], "total_count"), get(recs[0], "total_latency_ns"),
		get(recs[0], "total_req_bytes"), get(recs[0], "total_resp_bytes")})
	assert.Equal(t, keysOf(lib.entries), lib.deleted)
	assert.Empty(t, o.kagg.last)
	assert.Empty(t, o.kagg.conns)
	assert.Equal(t, uint64(3), o.protocolCounters(abi.ProtoHTTP).UnmatchedRequests, "the requests whose connection ended unanswered")

	// Once the library stopped, a read is the last: closed connections' entries go at once.
	late := abi.ConnID{FD: 8, TGID: pid, Start: 4}
	connect(late, "10.200.0.3:80")
	lib.entries, lib.deleted = []abi.AggEntry{entry(late, 1, 10, 10, 10)}, nil
	o.Ctrl(&abi.CtrlEvent{Type: abi.EventClose, ConnID: late})
	o.kagg.detached = true
	lib.atStop = 2
	require.Len(t, flush(), 1)
	assert.Equal(t, keysOf(lib.entries), lib.deleted)
	assert.Empty(t, o.kagg.conns)
	assert.Equal(t, KernelAggCounters{Calls: 7, Filtered: 2, Unattributed: 1, Deleted: 4,
		Kernel: [abi.AggNumCounters]uint64{abi.AggLostCalls: 7, abi.AggFallbackPipelined: 2, abi.AggUnanswered: 3, abi.AggPendingAtStop: 2}},
		o.KernelAggCounters())
	assert.Equal(t, uint64(5), o.protocolCounters(abi.ProtoHTTP).UnmatchedRequests, "and, detached, those pending at the stop")
	values := map[string]uint64{}
	for _, m := range o.kernelAggMetrics() {
		values[m.Name+fmt.Sprint(m.Labels)] = m.Value
	}
	assert.Equal(t, map[string]uint64{
		"kernel_aggregated_calls_total[fate recorded]": 7, "kernel_aggregated_calls_total[fate filtered]": 2,
		"kernel_aggregated_calls_total[fate unattributed]": 1, "kernel_aggregation_pending_calls_total[fate lost]": 7, "kernel_aggregation_pending_calls_total[fate exported]": 0,
		"kernel_aggregation_pending_calls_total[fate unanswered]": 5,
		"kernel_aggregation_deleted_entries_total[]":              4, "kernel_aggregation_read_errors_total[]": 0,
		"kernel_aggregation_untracked_connections_total[]":     0,
		"kernel_aggregation_swept_connections_total[]":         0,
		"kernel_aggregation_fallbacks_total[reason not_plain]": 0, "kernel_aggregation_fallbacks_total[reason head]": 0, "kernel_aggregation_fallbacks_total[reason long]": 0, "kernel_aggregation_fallbacks_total[reason unfinished]": 0,
		"kernel_aggregation_fallbacks_total[reason extra]": 0, "kernel_aggregation_fallbacks_total[reason pipelined]": 2, "kernel_aggregation_fallbacks_total[reason push]": 0, "kernel_aggregation_fallbacks_total[reason reply_end]": 0,
		"kernel_aggregation_fallbacks_total[reason status]": 0, "kernel_aggregation_fallbacks_total[reason early]": 0,
		"kernel_aggregation_fallbacks_total[reason unsolicited]": 0, "kernel_aggregation_fallbacks_total[reason full]": 0,
	}, values)
}

// The kernel's latency histogram reaches the records: each read adds what each bucket gained
// since the last (modulo 2^32, a bucket's count wraps), so the percentiles are of the calls of
// the interval.
func TestKernelAggregatesLatencies(t *testing.T) {
	pid := uint32(os.Getpid())
	lib := &aggLib{}
	o := New(lib, defaultOptions(), nil)
	require.NoError(t, o.kagg.configure(lib, []abi.Protocol{abi.ProtoHTTP}))
	id := abi.ConnID{FD: 5, TGID: pid, Start: 1}
	o.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, ConnID: id, Role: abi.RoleClient, Addr: abi.SockAddrFrom(netip.MustParseAddrPort("10.200.0.2:80"))})
	e := abi.AggEntry{AggKey: abi.AggKey{Conn: id, Role: abi.RoleClient, Status: 200, Method: 1, Version: 1, Host: "web.test", Path: "/"}}
	percentiles := func(count uint64) []string {
		t.Helper()
		lib.entries = []abi.AggEntry{e}
		o.readKernelAggregates()
		recs := o.agg.agg.FlushL7(1700000000)
		require.Len(t, recs, 1)
		assert.Equal(t, fmt.Sprint(count), get(recs[0], "total_count"))
		return []string{get(recs[0], "p50_latency_ns"), get(recs[0], "p90_latency_ns"), get(recs[0], "p99_latency_ns")}
	}
	// 9 calls in bucket 100 of the kernel's, one in bucket 200, and 2^32 - 2 in bucket 50,
	// a count about to wrap.
	e.Latencies[100], e.Latencies[200], e.Latencies[50] = 9, 1, 1<<32-2
	e.Count = 10 + 1<<32 - 2
	assert.Equal(t, []string{bucketMiddle(abi.AggHistFirst + 50), bucketMiddle(abi.AggHistFirst + 50), bucketMiddle(abi.AggHistFirst + 50)}, percentiles(e.Count))
	// Then: bucket 50 gains 3 (its count wraps to 1), bucket 300 gains 4; 100 and 200 none.
	e.Latencies[50], e.Latencies[300] = 1, 4
	e.Count += 7
	assert.Equal(t, []string{bucketMiddle(abi.AggHistFirst + 300), bucketMiddle(abi.AggHistFirst + 300), bucketMiddle(abi.AggHistFirst + 300)}, percentiles(7))
	// Then 10 calls: 9 in bucket 100, 1 in bucket 200: p50 and p90 in the first, p99 the last.
	e.Latencies[100], e.Latencies[200] = 18, 2
	e.Count += 10
	assert.Equal(t, []string{bucketMiddle(abi.AggHistFirst + 100), bucketMiddle(abi.AggHistFirst + 100), bucketMiddle(abi.AggHistFirst + 200)}, percentiles(10))
	assert.Equal(t, []aggBucket{{50, 1}, {100, 18}, {200, 2}, {300, 4}}, o.kagg.last[e.AggKey].latencies, "only the buckets counted in are kept")
}

// A connection whose close was never heard of (a lost event) is found gone by the connection
// map's GC: its entry is read once more, then deleted; one still in the map stays.
func TestKernelAggregatesSweep(t *testing.T) {
	pid := uint32(os.Getpid())
	lib := &aggLib{}
	o := New(lib, defaultOptions(), nil)
	require.NoError(t, o.kagg.configure(lib, []abi.Protocol{abi.ProtoHTTP}))
	lost, open := abi.ConnID{FD: 5, TGID: pid, Start: 1}, abi.ConnID{FD: 6, TGID: pid, Start: 2}
	for _, id := range []abi.ConnID{lost, open} {
		o.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, ConnID: id, Role: abi.RoleServer, Addr: abi.SockAddrFrom(netip.MustParseAddrPort("10.200.0.9:40000"))})
	}
	entry := func(id abi.ConnID, count uint64) abi.AggEntry {
		return abi.AggEntry{AggKey: abi.AggKey{Conn: id, Role: abi.RoleServer, Status: 200, Method: 1, Version: 1, Host: "web.test", Path: "/"}, Count: count}
	}
	lib.entries = []abi.AggEntry{entry(lost, 1), entry(open, 1)}
	o.readKernelAggregates()
	o.kagg.sweep([]abi.ConnKey{{TGID: pid, FD: 6}})
	lib.entries[0] = entry(lost, 2)
	o.readKernelAggregates()
	assert.Empty(t, lib.deleted, "read once more first")
	o.readKernelAggregates()
	assert.Equal(t, []abi.AggKey{entry(lost, 2).AggKey}, lib.deleted)
	recs := o.agg.agg.FlushL7(1700000000)
	require.Len(t, recs, 1)
	assert.Equal(t, "3", get(recs[0], "total_count"))
	assert.Equal(t, KernelAggCounters{Calls: 3, Deleted: 1, Swept: 1,
		Kernel: [abi.AggNumCounters]uint64{abi.AggLostCalls: 7, abi.AggFallbackPipelined: 2, abi.AggUnanswered: 3}}, o.KernelAggCounters())
	assert.Len(t, o.kagg.conns, 1)
}

// The mode is read at start: a reload that turns it off (the kernel would forget the calls it
// holds pending) or changes it is refused; one that keeps it passes.
func TestKernelAggregationFixedAtReload(t *testing.T) {
	lib := &aggLib{}
	o := New(lib, defaultOptions(), nil)
	require.NoError(t, o.kagg.configure(lib, []abi.Protocol{abi.ProtoHTTP}))
	require.ErrorContains(t, o.kagg.configure(lib, nil), "cannot change at a reload")
	assert.Equal(t, uint32(abi.ProtocolsOf(abi.ProtoHTTP)), lib.mask, "the library was not told to stop")
	require.NoError(t, o.kagg.configure(lib, []abi.Protocol{abi.ProtoHTTP}))
}

// Redis entries become the records the Redis parser's calls would: the kernel's unchecked words
// are named by its tables (a known subcommand kept, an unknown one left out, a name Redis does
// not have UNKNOWN), an error reply ('-', '!') is no success; Redis requests left unanswered
// count as unmatched Redis requests, HTTP's as HTTP's.
func TestKernelAggregatesRedis(t *testing.T) {
	pid := uint32(os.Getpid())
	lib := &aggLib{}
	o := New(lib, defaultOptions(), nil)
	require.NoError(t, o.kagg.configure(lib, []abi.Protocol{abi.ProtoRedis}))
	assert.Equal(t, uint32(1<<(abi.ProtoRedis-1)), lib.mask)
	id := abi.ConnID{FD: 5, TGID: pid, Start: 1}
	o.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, ConnID: id, Role: abi.RoleClient, Addr: abi.SockAddrFrom(netip.MustParseAddrPort("10.200.0.2:6379"))})
	entry := func(name, sub string, reply byte, count uint64) abi.AggEntry {
		return abi.AggEntry{AggKey: abi.AggKey{Conn: id, Role: abi.RoleClient, Protocol: abi.ProtoRedis, Status: int(reply), Path: name, Host: sub},
			Count: count, LatencyNs: 1000 * count, ReqBytes: 20 * count, RespBytes: 5 * count}
	}
	lib.entries = []abi.AggEntry{entry("GET", "", '$', 3), entry("CONFIG", "GET", '*', 2), entry("CONFIG", "NOSUCH", '-', 1),
		entry("FT.SEARCH", "", '-', 4), entry("INCR", "", '!', 5), entry("LRANGE", "", '*', 6)}
	o.readKernelAggregates()
	got := map[string]string{}
	for _, r := range o.agg.agg.FlushL7(1700000000) {
		require.Equal(t, "redis", get(r, "protocol"))
		got[get(r, "cmd")+" "+get(r, "success")] = get(r, "total_count") + " " + get(r, "total_req_bytes") + " " + get(r, "total_resp_bytes")
	}
	assert.Equal(t, map[string]string{"GET 1": "3 60 15", "CONFIG GET 1": "2 40 10", "CONFIG 0": "1 20 5",
		"UNKNOWN 0": "4 80 20", "INCR 0": "5 100 25", "LRANGE 1": "6 120 30"}, got)
	o.kagg.counts.Kernel[abi.AggUnansweredRedis], o.kagg.counts.Kernel[abi.AggPendingAtStopRedis] = 2, 1
	assert.Equal(t, uint64(3), o.protocolCounters(abi.ProtoRedis).UnmatchedRequests-o.l7.counters(abi.ProtoRedis).UnmatchedRequests)
	assert.Equal(t, uint64(3), o.protocolCounters(abi.ProtoHTTP).UnmatchedRequests-o.l7.counters(abi.ProtoHTTP).UnmatchedRequests, "HTTP's: the test library's 3")
}
