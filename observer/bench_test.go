package observer

import (
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/internal/benchcpu"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/record"
)

// BenchmarkObserverHTTP measures one keep-alive HTTP request per op as the live observer sees it
// with the default socket filters and a metrics exporter: four data events (client write, server
// read, server write, client read) through the filters, the Tracker, the aggregator and the
// exporter, and the two calls (client and server side) they make.
func BenchmarkObserverHTTP(b *testing.B) { benchObserverHTTP(b, prometheus.New()) }

// BenchmarkObserverHTTPRecordsOnly is BenchmarkObserverHTTP without a live sink: records only, as
// make bench-compare and bench-observer run the observer (flusher_jsonl).
func BenchmarkObserverHTTPRecordsOnly(b *testing.B) { benchObserverHTTP(b, nil) }

func benchObserverHTTP(b *testing.B, ls live.Sink) {
	req := []byte("GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	opts := defaultOptions()
	if ls != nil {
		opts.Live = ls
	}
	o := New(nil, opts, func([]record.Record) {})
	o.now = func() time.Time { return time.Unix(1700000000, 0) }
	pid := uint32(os.Getpid()) // a process the resolver can read

	event := func(fd int32, remote string, role abi.Role, dir abi.Direction, payload []byte) *abi.DataEvent {
		sys := abi.SyscallRead
		if dir == abi.DirEgress {
			sys = abi.SyscallWrite
		}
		return &abi.DataEvent{DataAttr: abi.DataAttr{ConnID: abi.ConnID{FD: fd, TGID: pid, Start: 1},
			Addr: abi.SockAddrFrom(netip.MustParseAddrPort(remote)), Protocol: abi.ProtoHTTP, Role: role,
			Direction: dir, Syscall: sys, OrgMsgSize: uint32(len(payload)), MsgBufSize: uint32(len(payload))}, Payload: payload}
	}
	clientOut := event(5, "10.0.0.2:80", abi.RoleClient, abi.DirEgress, req)
	serverIn := event(6, "10.0.0.1:40000", abi.RoleServer, abi.DirIngress, req)
	serverOut := event(6, "10.0.0.1:40000", abi.RoleServer, abi.DirEgress, resp)
	clientIn := event(5, "10.0.0.2:80", abi.RoleClient, abi.DirIngress, resp)

	b.ReportAllocs()
	reportCPU := benchcpu.Report(b, 0)
	for i := 0; i < b.N; i++ {
		ts := uint64(i) * 1000
		clientOut.TS, serverIn.TS, serverOut.TS, clientIn.TS = ts+1, ts+100, ts+400, ts+500
		clientOut.Pos += uint64(len(req))
		serverIn.Pos += uint64(len(req))
		serverOut.Pos += uint64(len(resp))
		clientIn.Pos += uint64(len(resp))
		o.Data(clientOut)
		o.Data(serverIn)
		o.Data(serverOut)
		o.Data(clientIn)
		o.l7.endBatch(true)
	}
	reportCPU()
	b.StopTimer()
	recs := o.agg.agg.FlushL7(0)
	if len(recs) != 2 || get(recs[0], "total_count") != get(recs[1], "total_count") || get(recs[0], "total_count") != strconv.Itoa(b.N) {
		b.Fatalf("%d ops made %v", b.N, recs)
	}
}
