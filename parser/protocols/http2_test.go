package protocols_test

import (
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
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
