package calls

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
)

// BenchmarkTrackerHTTP measures one keep-alive HTTP call per op through the Tracker: two data
// events placed in their streams, parsed, matched and emitted.
func BenchmarkTrackerHTTP(b *testing.B) {
	benchClient(b, abi.ProtoHTTP, "10.0.0.2:80",
		[]byte("GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"),
		[]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"), 1)
}

// BenchmarkTrackerHTTPQuiet is BenchmarkTrackerHTTP on a connection that makes a call every
// 500 ms, resting in between (the clock's walk at 400 ms): each call makes its streams and parser
// state again.
func BenchmarkTrackerHTTPQuiet(b *testing.B) {
	req := []byte("GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	tr := New(Config{}, Parsers(), func(*Call) {})
	out := abi.DataEvent{DataAttr: abi.DataAttr{ConnID: abi.ConnID{FD: 5, TGID: 100, Start: 1},
		Addr: abi.SockAddrFrom(netip.MustParseAddrPort("10.0.0.2:80")), Protocol: abi.ProtoHTTP,
		Role: abi.RoleClient, Direction: abi.DirEgress, Syscall: abi.SyscallWrite,
		OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: req}
	in := out
	in.Direction, in.Syscall, in.OrgMsgSize, in.MsgBufSize, in.Payload = abi.DirIngress, abi.SyscallRead, uint32(len(resp)), uint32(len(resp)), resp
	b.ReportAllocs()
	for i := range uint64(b.N) {
		out.TS, in.TS = i*500e6+1, i*500e6+500
		out.Pos += uint64(len(req))
		in.Pos += uint64(len(resp))
		tr.Data(&out)
		tr.Data(&in)
		tr.EndBatch(true)
		tr.Rest(i*500e6 + 400e6)
	}
	if tr.Rested() != uint64(b.N) || tr.Counters(abi.ProtoHTTP).Calls != uint64(b.N) {
		b.Fatalf("%d rests, %d calls for %d", tr.Rested(), tr.Counters(abi.ProtoHTTP).Calls, b.N)
	}
}

// BenchmarkTrackerRedisPipeline measures one call per op of a 16-deep Redis pipeline: 16 GETs
// in one write, their 16 replies in one read, one batch per pipeline.
func BenchmarkTrackerRedisPipeline(b *testing.B) {
	const depth = 16
	var req, resp []byte
	for range depth {
		req = append(req, "*2\r\n$3\r\nGET\r\n$7\r\nkey:001\r\n"...)
		resp = append(resp, "$3\r\nxxx\r\n"...)
	}
	benchClient(b, abi.ProtoRedis, "10.0.0.3:6379", req, resp, depth)
}

// benchClient runs a client connection to server through the Tracker: per batch, the calls
// requests in one write and their responses in one read. b.N counts calls; every one must be
// emitted.
func benchClient(b *testing.B, proto abi.Protocol, server string, req, resp []byte, calls int) {
	emitted := 0
	tr := New(Config{}, Parsers(), func(*Call) { emitted++ })
	id := abi.ConnID{FD: 5, TGID: 100, Start: 1}
	addr := abi.SockAddrFrom(netip.MustParseAddrPort(server))
	out := abi.DataEvent{DataAttr: abi.DataAttr{ConnID: id, Addr: addr, Protocol: proto,
		Role: abi.RoleClient, Direction: abi.DirEgress, Syscall: abi.SyscallWrite,
		OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: req}
	in := out
	in.Direction, in.Syscall, in.OrgMsgSize, in.MsgBufSize, in.Payload = abi.DirIngress, abi.SyscallRead, uint32(len(resp)), uint32(len(resp)), resp
	b.SetBytes(int64(len(req)+len(resp)) / int64(calls))
	b.ReportAllocs()
	made := 0
	for ; made < b.N; made += calls {
		out.TS, in.TS = uint64(made)*1000+1, uint64(made)*1000+500
		out.Pos += uint64(len(req))
		in.Pos += uint64(len(resp))
		tr.Data(&out)
		tr.Data(&in)
		tr.EndBatch(true)
	}
	if emitted != made {
		b.Fatalf("%d calls emitted for %d made", emitted, made)
	}
}

// BenchmarkConnectionBurst opens 10 000 keep-alive connections in 2 s of event time, both ends
// observed (a client's write and read, a server's read and writev), one HTTP call each, in polls
// of 250 connections, as tools/connhold does to a live observer; then they stay idle. It reports
// the most heap in use while they opened (peak-MiB: garbage not collected yet included, what the
// runtime grows to and VmRSS keeps after such a burst) and once they rested and a collection ran
// (rested-MiB); and per connection end (20 000 of them) the tracker's time (ns/conn: the polls'
// work, without the heap readings between them), its allocations and the bytes they took.
func BenchmarkConnectionBurst(b *testing.B) {
	const n, open = 10000, 2e9
	req := []byte("GET / HTTP/1.1\r\nHost: 10.253.0.1:9080\r\nUser-Agent: Go-http-client/1.1\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 04:36:51 GMT\r\n" +
		"Content-Type: text/plain\r\nContent-Length: 17\r\nConnection: keep-alive\r\n\r\nhello, benchmark\n")
	addr := abi.SockAddrFrom(netip.MustParseAddrPort("10.0.0.2:80"))
	var peak, rested float64
	var work time.Duration
	var mallocs, bytes uint64
	for range b.N {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base, baseMallocs, baseBytes := ms.HeapInuse, ms.Mallocs, ms.TotalAlloc
		tr := New(Config{}, Parsers(), func(*Call) {})
		held := uint64(0)
		for i := 0; i < n; i += 250 {
			began := time.Now()
			for j := i; j < i+250; j++ {
				ts := 1e12 + uint64(j)*open/n
				for side, role := range []abi.Role{abi.RoleClient, abi.RoleServer} {
					id := abi.ConnID{FD: int32(j), TGID: uint32(100 + side), Start: 1}
					tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: ts, ConnID: id, Addr: addr, Role: role})
					ev := abi.DataEvent{DataAttr: abi.DataAttr{TS: ts + 1000, ConnID: id, Addr: addr, Protocol: abi.ProtoHTTP,
						Role: role, Direction: abi.DirEgress, Syscall: abi.SyscallWrite,
						Pos: uint64(len(req)), OrgMsgSize: uint32(len(req)), MsgBufSize: uint32(len(req))}, Payload: req}
					if role == abi.RoleServer {
						ev.Direction, ev.Syscall = abi.DirIngress, abi.SyscallRead
					}
					tr.Data(&ev)
					ev.TS, ev.Direction, ev.Syscall = ts+50_000, abi.DirIngress, abi.SyscallRead
					if role == abi.RoleServer {
						ev.Direction, ev.Syscall = abi.DirEgress, abi.SyscallWriteV
					}
					ev.Pos, ev.OrgMsgSize, ev.MsgBufSize, ev.Payload = uint64(len(resp)), uint32(len(resp)), uint32(len(resp)), resp
					tr.Data(&ev)
				}
			}
			tr.EndBatch(true)
			work += time.Since(began)
			runtime.ReadMemStats(&ms)
			held = max(held, ms.HeapInuse)
		}
		began := time.Now()
		tr.EndBatch(true) // a later poll: it settles the last batch's staged responses
		tr.Rest(1e12 + open + 1e9)
		tr.Rest(1e12 + open + 2e9) // the clock's next call: the burst is over
		work += time.Since(began)
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - baseMallocs
		bytes += ms.TotalAlloc - baseBytes
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if tr.Connections() != 2*n || tr.Counters(abi.ProtoHTTP).Calls != 2*n {
			b.Fatalf("%d connections, %d calls", tr.Connections(), tr.Counters(abi.ProtoHTTP).Calls)
		}
		peak += float64(held-base) / (1 << 20)
		rested += float64(ms.HeapInuse-base) / (1 << 20)
		runtime.KeepAlive(tr)
	}
	ends := float64(2 * n * b.N)
	b.ReportMetric(peak/float64(b.N), "peak-MiB")
	b.ReportMetric(rested/float64(b.N), "rested-MiB")
	b.ReportMetric(float64(work.Nanoseconds())/ends, "ns/conn")
	b.ReportMetric(float64(mallocs)/ends, "allocs/conn")
	b.ReportMetric(float64(bytes)/ends, "B/conn")
}
