package observer

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/record"
)

// BenchmarkObserverHTTPBatch measures one HTTP request per op as a paced nginx run hands them to
// the observer (scripts/bench-compare.sh with RATE=): 8 keep-alive connections, both ends
// observed, nginx's responses captured without their bodies (head only, as the kernel side sends
// them), in batches of k requests (4k data events) built as the library builds them, visited and
// ended. cold=true evicts the caches (a 64 MiB sweep, outside the timer) before each batch, as
// the neighbours that run between two polls do on a shared host: the most the batch's working set
// being cold can cost.
func BenchmarkObserverHTTPBatch(b *testing.B) {
	for _, cold := range []bool{false, true} {
		for _, k := range []int{16, 256, 512} {
			b.Run(fmt.Sprint(k, "/cold=", cold), func(b *testing.B) { benchBatch(b, k, cold) })
		}
	}
}

func benchBatch(b *testing.B, perBatch int, cold bool) {
	var sweep []byte
	if cold {
		sweep = make([]byte, 64<<20)
	}
	req := []byte("GET / HTTP/1.1\r\nHost: 10.253.9.1:8080\r\n\r\n")
	// As the kernel side captures nginx's: the head only, the body's 17 bytes truncated.
	resp := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 04:36:51 GMT\r\n" +
		"Content-Type: text/plain\r\nContent-Length: 17\r\nConnection: keep-alive\r\n\r\n")
	const body = 17
	o := New(nil, defaultOptions(), func([]record.Record) {})
	o.now = func() time.Time { return time.Unix(1700000000, 0) }
	pid := uint32(os.Getpid())
	const conns = 8
	type end struct{ out, in abi.DataAttr }
	mk := func(fd int32, remote string, role abi.Role, dir abi.Direction, n int) abi.DataAttr {
		sys := abi.SyscallRead
		org := n
		switch {
		case dir == abi.DirEgress && role == abi.RoleServer:
			sys, org = abi.SyscallWriteV, n+body
		case dir == abi.DirEgress:
			sys = abi.SyscallWrite
		case role == abi.RoleServer:
			sys = abi.SyscallRecv
		default:
			org = n + body
		}
		return abi.DataAttr{ConnID: abi.ConnID{FD: fd, TGID: pid, Start: 1},
			Addr: abi.SockAddrFrom(netip.MustParseAddrPort(remote)), Protocol: abi.ProtoHTTP, Role: role,
			Direction: dir, Syscall: sys, OrgMsgSize: uint32(org), MsgBufSize: uint32(n)}
	}
	var cl, sv [conns]end
	for i := range conns {
		cl[i] = end{mk(int32(10+i), "10.0.0.2:80", abi.RoleClient, abi.DirEgress, len(req)), mk(int32(10+i), "10.0.0.2:80", abi.RoleClient, abi.DirIngress, len(resp))}
		sv[i] = end{mk(int32(100+i), fmt.Sprintf("10.0.0.1:%d", 40000+i), abi.RoleServer, abi.DirEgress, len(resp)), mk(int32(100+i), fmt.Sprintf("10.0.0.1:%d", 40000+i), abi.RoleServer, abi.DirIngress, len(req))}
	}
	var batch abi.Batch
	ts := uint64(1e9)
	b.ReportAllocs()
	b.ResetTimer()
	made := 0
	for made < b.N {
		b.StopTimer()
		batch.Reset(0, 4*perBatch, 0, 0, 0, perBatch*2*(len(req)+len(resp)))
		for r := range perBatch {
			c := r % conns
			ts += 100_000
			cl[c].out.TS, sv[c].in.TS, sv[c].out.TS, cl[c].in.TS = ts, ts+10_000, ts+30_000, ts+40_000
			cl[c].out.Pos += uint64(len(req))
			sv[c].in.Pos += uint64(len(req))
			sv[c].out.Pos += uint64(len(resp) + body)
			cl[c].in.Pos += uint64(len(resp) + body)
			batch.AddData(&cl[c].out, req)
			batch.AddData(&sv[c].in, req)
			batch.AddData(&sv[c].out, resp)
			batch.AddData(&cl[c].in, resp)
		}
		for i := 0; i < len(sweep); i += 64 {
			sweep[i]++
		}
		b.StartTimer()
		batch.Visit(o)
		o.l7.endBatch(true)
		made += perBatch
	}
	b.StopTimer()
	calls := 0
	for _, r := range o.agg.agg.FlushL7(0) {
		n, _ := strconv.Atoi(get(r, "total_count"))
		calls += n
	}
	if calls != 2*made {
		b.Fatalf("%d requests made %d calls", made, calls)
	}
}
