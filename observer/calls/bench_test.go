package calls

import (
	"net/netip"
	"testing"

	"github.com/netobserver/netobserver/abi"
)

// BenchmarkTrackerHTTP measures one keep-alive HTTP call per op through the Tracker: two data
// events placed in their streams, parsed, matched and emitted.
func BenchmarkTrackerHTTP(b *testing.B) {
	benchClient(b, abi.ProtoHTTP, "10.0.0.2:80",
		[]byte("GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"),
		[]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"), 1)
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
