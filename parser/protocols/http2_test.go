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
