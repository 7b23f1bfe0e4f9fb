package protocols_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/http2"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// HTTP/2: nghttp's four GETs on one connection (parser/http2/testdata), paired by stream id,
// become records of protocol http2 with version 2, the :authority, the
// path without its query, the status, and grpc_status -1 (not gRPC).
func TestHTTP2Records(t *testing.T) {
	cp := parsertest.Load(t, filepath.Join("..", "http2", "testdata", "captures", "nghttp-1"))
	cnt, a, b := play(t, abi.ProtoHTTP2, 80, string(cp.Stream(parser.Request)), string(cp.Stream(parser.Response)))
	assert.EqualValues(t, 4, cnt.Calls)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)
	require.Len(t, a, 4)
	keys := []string{"protocol", "version", "host", "method", "url", "resp_code", "grpc_status", "remote_info", "total_count", "total_req_bytes", "total_resp_bytes"}
	info := `{"remote_ip":"10.0.0.9","remote_port":"80","remote_type":"server"}` + "\n"
	var got [][]string
	for _, r := range a {
		got = append(got, fields(r, keys...))
	}
	assert.ElementsMatch(t, [][]string{
		{"http2", "2", "127.0.0.1:28641", "GET", "/index.html", "200", "-1", info, "1", "48", "176"},
		{"http2", "2", "127.0.0.1:28641", "GET", "/a.txt", "200", "-1", info, "1", "42", "142"},
		{"http2", "2", "127.0.0.1:28641", "GET", "/missing", "404", "-1", info, "1", "28", "221"},
		{"http2", "2", "127.0.0.1:28641", "GET", "/big.txt", "200", "-1", info, "1", "28", "40164"},
	}, got)
	require.Len(t, b, 4)
	keys = []string{"type", "protocol", "req_type", "req_domain", "req_resource", "version", "resp_status", "resp_code", "count"}
	got = nil
	for _, r := range b {
		got = append(got, fields(r, keys...))
	}
	assert.Contains(t, got, []string{"l7_req", "http2", "GET", "127.0.0.1:28641", "/missing", "2", "-1", "404", "1"})
}

// gRPC: grpc-go's health service (parser/http2/testdata/captures/grpc-1): the service and method
// are the url, the grpc-status of the trailers is grpc_status (schema A) and resp_status (schema
// B). The Watch the client cancelled has no response: its request is counted unmatched.
func TestGRPCRecords(t *testing.T) {
	cp := parsertest.Load(t, filepath.Join("..", "http2", "testdata", "captures", "grpc-1"))
	cnt, a, b := play(t, abi.ProtoHTTP2, 50051, string(cp.Stream(parser.Request)), string(cp.Stream(parser.Response)))
	assert.EqualValues(t, 3, cnt.Calls)
	assert.EqualValues(t, 1, cnt.UnmatchedRequests)
	assert.Zero(t, cnt.UnmatchedResponses+cnt.Invalid)
	keys := []string{"protocol", "version", "method", "url", "resp_code", "grpc_status", "total_count"}
	var got [][]string
	for _, r := range a {
		got = append(got, fields(r, keys...))
	}
	assert.ElementsMatch(t, [][]string{
		{"http2", "2", "POST", "/grpc.health.v1.Health/Check", "200", "0", "2"},
		{"http2", "2", "POST", "/grpc.health.v1.Health/Check", "200", "5", "1"},
	}, got)
	keys = []string{"type", "protocol", "req_type", "req_resource", "version", "resp_status", "resp_code", "count"}
	got = nil
	for _, r := range b {
		got = append(got, fields(r, keys...))
	}
	assert.ElementsMatch(t, [][]string{
		{"l7_req", "http2", "POST", "/grpc.health.v1.Health/Check", "2", "0", "200", "2"},
		{"l7_req", "http2", "POST", "/grpc.health.v1.Health/Check", "2", "5", "200", "1"},
	}, got)
}

// An HTTP/1.1 connection upgraded to h2c (parser/http2/testdata/upgrade: curl --http2 and
// golang.org/x/net/http2/h2c; curl reported 200, 404, 200 over HTTP/2 on one connection, the
// server served GET /a, /status/404 and /b). The kernel side names the connection HTTP (it was
// detected from the upgrade request) all along; the 101 hands it to HTTP/2, where the upgraded
// request is stream 1: three http2 calls, the 101 none. Played as captured, and with every
// request byte before every response byte (the client's preface then comes before the 101).
func TestH2CUpgradeRecords(t *testing.T) {
	cp := parsertest.Load(t, filepath.Join("..", "http2", "testdata", "upgrade", "upgrade-1"))
	for _, order := range []string{"captured", "requests first"} {
		t.Run(order, func(t *testing.T) {
			pl := newPipeline()
			if order == "captured" {
				var pos [2]uint64
				for i, r := range cp.Reads {
					dir := abi.DirEgress
					if r.Type == parser.Response {
						dir = abi.DirIngress
					}
					pos[r.Type-1] += uint64(len(r.Data))
					pl.data(3, abi.ProtoHTTP, 8080, dir, uint64(1000+i*10), pos[r.Type-1], r.Data)
				}
			} else {
				reqs, resps := cp.Stream(parser.Request), cp.Stream(parser.Response)
				pl.data(3, abi.ProtoHTTP, 8080, abi.DirEgress, 1000, uint64(len(reqs)), reqs)
				pl.data(3, abi.ProtoHTTP, 8080, abi.DirIngress, 1500, uint64(len(resps)), resps)
			}
			a, b := pl.flush()
			h1, h2 := pl.tr.Counters(abi.ProtoHTTP), pl.tr.Counters(abi.ProtoHTTP2)
			assert.Equal(t, parser.MatchCounts{Requests: 1, Responses: 1, HandedOver: 1}, h1.MatchCounts)
			assert.Equal(t, parser.MatchCounts{Requests: 3, Responses: 3, Calls: 3}, h2.MatchCounts)
			assert.Zero(t, h1.Invalid+h2.Invalid+h1.AbandonedBytes+h2.AbandonedBytes)
			keys := []string{"protocol", "version", "host", "method", "url", "resp_code", "grpc_status", "total_count"}
			var got [][]string
			for _, r := range a {
				got = append(got, fields(r, keys...))
			}
			assert.ElementsMatch(t, [][]string{
				{"http2", "2", "127.0.0.1:28641", "GET", "/a", "200", "-1", "1"},
				{"http2", "2", "127.0.0.1:28641", "GET", "/status/404", "404", "-1", "1"},
				{"http2", "2", "127.0.0.1:28641", "GET", "/b", "200", "-1", "1"},
			}, got)
			keys = []string{"type", "protocol", "req_type", "req_resource", "version", "resp_status", "resp_code", "count"}
			got = nil
			for _, r := range b {
				got = append(got, fields(r, keys...))
			}
			assert.ElementsMatch(t, [][]string{
				{"l7_req", "http2", "GET", "/a", "2", "-1", "200", "1"},
				{"l7_req", "http2", "GET", "/status/404", "2", "-1", "404", "1"},
				{"l7_req", "http2", "GET", "/b", "2", "-1", "200", "1"},
			}, got)
		})
	}
}

// Without HTTP/2 among the protocols parsed, the upgrade is refused: the 101 is the upgraded
// request's call (protocol http) and the connection's HTTP/2 bytes are not parsed.
func TestH2CUpgradeWithoutHTTP2(t *testing.T) {
	cp := parsertest.Load(t, filepath.Join("..", "http2", "testdata", "upgrade", "upgrade-1"))
	parsers := calls.Parsers()
	delete(parsers, abi.ProtoHTTP2)
	var got []string
	tr := calls.New(calls.Config{}, parsers, func(c *calls.Call) {
		req, resp := c.Messages()
		got = append(got, fmt.Sprint(c.Protocol, " ", req.(*http.Message).Resource, " ", resp.(*http.Message).Status))
	})
	reqs, resps := cp.Stream(parser.Request), cp.Stream(parser.Response)
	id := abi.ConnID{FD: 3, TGID: 7, Start: 3}
	tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: 1000, ConnID: id, Protocol: abi.ProtoHTTP, Role: abi.RoleClient,
		Direction: abi.DirEgress, Pos: uint64(len(reqs)), OrgMsgSize: uint32(len(reqs)), MsgBufSize: uint32(len(reqs))}, Payload: reqs})
	tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: 1500, ConnID: id, Protocol: abi.ProtoHTTP, Role: abi.RoleClient,
		Direction: abi.DirIngress, Pos: uint64(len(resps)), OrgMsgSize: uint32(len(resps)), MsgBufSize: uint32(len(resps))}, Payload: resps})
	tr.EndBatch(true)
	tr.Close()
	assert.Equal(t, []string{"http /a 101"}, got)
	assert.Equal(t, parser.MatchCounts{Requests: 1, Responses: 1, Calls: 1}, tr.Counters(abi.ProtoHTTP).MatchCounts)
}

// A connection joined after its start (h2load's capture from its second read on: the preface,
// SETTINGS and the first eight requests, which filled the client's HPACK table, never seen): the
// later requests refer to table entries never seen (the authority), so their calls are recorded
// with the method and path (static entries) and an empty host, never a guessed one, and counted
// partial; the eight responses whose requests were not seen are unmatched.
func TestHTTP2JoinedLateIsPartial(t *testing.T) {
	cp := parsertest.Load(t, filepath.Join("..", "http2", "testdata", "captures", "h2load-1"))
	pl := newPipeline()
	var pos [2]uint64
	for i, r := range cp.Reads {
		dir := abi.DirEgress
		if r.Type == parser.Response {
			dir = abi.DirIngress
		}
		pos[r.Type-1] += uint64(len(r.Data))
		if i > 0 {
			pl.data(3, abi.ProtoHTTP2, 80, dir, uint64(1000+i*10), pos[r.Type-1], r.Data)
		}
	}
	a, _ := pl.flush()
	cnt := pl.tr.Counters(abi.ProtoHTTP2)
	assert.Equal(t, parser.MatchCounts{Requests: 32, Responses: 40, Calls: 32, UnmatchedResponses: 8}, cnt.MatchCounts)
	assert.EqualValues(t, 32, cnt.Partial)
	assert.Zero(t, cnt.Invalid)
	keys := []string{"protocol", "version", "host", "method", "url", "resp_code", "grpc_status", "total_count"}
	require.Len(t, a, 1)
	assert.Equal(t, []string{"http2", "2", "", "GET", "/index.html", "200", "-1", "32"}, fields(a[0], keys...))
}

// A gRPC connection joined in its middle (parser/http2/testdata/midstream: tools/grpcpair's
// client, 40 calls one at a time on one connection, call i on stream 2i+1 of kind i mod 5),
// played from three of its reads on. What is recorded of a call is what its stream said, never
// another call's: a path or grpc-status decoded is the one the client made and got, anything
// else is empty (or -1) and the call counted partial. grpc-go indexes :path, content-type and
// grpc-status in HPACK's dynamic table at their first use: joined at read 8 (inside the first
// calls), the Echo calls' paths and every grpc-status were inserted after the join and are known;
// at read 12 the statuses were not; at read 56 nothing was, and each call seen whole is a POST
// answered 200 with an empty path and grpc-status -1. A response whose request was not seen is
// unmatched.
func TestGRPCJoinedMidStream(t *testing.T) {
	cp := parsertest.Load(t, filepath.Join("..", "http2", "testdata", "midstream", "grpcpair-1"))
	kinds := []struct {
		path   string
		status int
	}{{"/grpc.health.v1.Health/Check", 0}, {"/grpc.health.v1.Health/Check", 5}, {"/netobserver.test.Echo/Unary", 0},
		{"/netobserver.test.Echo/Fail", 7}, {"/netobserver.test.Echo/Stream", 0}}
	for _, tc := range []struct {
		from                                   int
		calls, unmatched, withPath, withStatus int
	}{{8, 39, 1, 24, 39}, {12, 38, 1, 24, 0}, {56, 22, 0, 0, 0}} {
		t.Run(fmt.Sprint("from read ", tc.from), func(t *testing.T) {
			pl := newPipeline()
			partial, withPath, withStatus := 0, 0, 0
			pl.onCall = func(c *calls.Call) {
				req, resp := c.Messages()
				q, r := req.(*http2.Message), resp.(*http2.Message)
				require.Equal(t, q.Stream, r.Stream)
				want := kinds[(q.Stream-1)/2%5]
				if q.Partial || r.Partial {
					partial++
				}
				if q.Path != "" {
					withPath++
					assert.Equal(t, want.path, q.Path, "stream %d", q.Stream)
				}
				if r.GRPCStatus >= 0 {
					withStatus++
					assert.Equal(t, want.status, r.GRPCStatus, "stream %d", q.Stream)
				}
				assert.Equal(t, "POST", q.Method)
				assert.Equal(t, 200, r.Status, "stream %d", q.Stream)
			}
			var pos [2]uint64
			for i, r := range cp.Reads {
				dir := abi.DirEgress
				if r.Type == parser.Response {
					dir = abi.DirIngress
				}
				pos[r.Type-1] += uint64(len(r.Data))
				if i >= tc.from {
					pl.data(3, abi.ProtoHTTP2, 50051, dir, uint64(1000+i*10), pos[r.Type-1], r.Data)
				}
			}
			pl.flush()
			cnt := pl.tr.Counters(abi.ProtoHTTP2)
			n := uint64(tc.calls)
			assert.Equal(t, parser.MatchCounts{Requests: n, Responses: n + uint64(tc.unmatched), Calls: n,
				UnmatchedResponses: uint64(tc.unmatched)}, cnt.MatchCounts)
			assert.EqualValues(t, tc.calls, cnt.Partial, "every call refers to some entry never seen")
			assert.Equal(t, tc.calls, partial)
			assert.Equal(t, tc.withPath, withPath)
			assert.Equal(t, tc.withStatus, withStatus)
			assert.Zero(t, cnt.Invalid)
		})
	}
}
