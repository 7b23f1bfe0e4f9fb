package protocols_test

import (
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// play sends one client connection's two streams of protocol p through a Tracker into both
// schemas, and returns the counters and the records.
func play(t *testing.T, p abi.Protocol, port uint16, reqs, resps string) (calls.Counters, []record.Record, []record.Record) {
	t.Helper()
	pl := newPipeline()
	pl.data(3, p, port, abi.DirEgress, 1000, uint64(len(reqs)), []byte(reqs))
	pl.data(3, p, port, abi.DirIngress, 1500, uint64(len(resps)), []byte(resps))
	a, b := pl.flush()
	return pl.tr.Counters(p), a, b
}

// memcached: a hit, a miss, a noreply set (one-way), a quiet mg whose hit comes back (two
// one-way messages) and mn.
func TestMemcachedRecords(t *testing.T) {
	cnt, a, b := play(t, abi.ProtoMemcached, 11211,
		"get k\r\nget nope\r\nset k 0 0 1 noreply\r\nx\r\nmg k v q\r\nmn\r\n",
		"VALUE k 0 1\r\nx\r\nEND\r\nEND\r\nVA 1\r\nx\r\nMN\r\n")
	assert.EqualValues(t, 3, cnt.Calls)
	assert.EqualValues(t, 3, cnt.OneWay)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)
	require.Len(t, a, 6)
	keys := []string{"protocol", "cmd", "outcome", "success", "remote_info", "total_count", "total_latency_ns", "total_req_bytes", "total_resp_bytes", "one_way"}
	info := `{"remote_ip":"10.0.0.9","remote_port":"11211","remote_type":"database"}` + "\n"
	// One-way messages come out as they are parsed, pairs at their answers.
	assert.Equal(t, []string{"memcached", "set", "noreply", "1", info, "1", "0", "24", "0", "1"}, fields(a[0], keys...))
	assert.Equal(t, []string{"memcached", "mg", "quiet", "1", info, "1", "0", "10", "0", "1"}, fields(a[1], keys...))
	assert.Equal(t, []string{"memcached", "get", "hit", "1", info, "1", "500", "7", "21", "<none>"}, fields(a[2], keys...))
	assert.Equal(t, []string{"memcached", "get", "miss", "1", info, "1", "500", "10", "5", "<none>"}, fields(a[3], keys...))
	assert.Equal(t, []string{"memcached", "mg", "hit", "1", info, "1", "0", "9", "0", "1"}, fields(a[4], keys...))
	assert.Equal(t, []string{"memcached", "mn", "ok", "1", info, "1", "500", "4", "4", "<none>"}, fields(a[5], keys...))
	require.Len(t, b, 6)
	keys = []string{"type", "protocol", "version", "query_cmd", "query", "status", "count", "latency_ns", "one_way"}
	assert.Equal(t, []string{"l7_db", "memcached", "text", "set", "set noreply", "1", "1", "0", "1"}, fields(b[0], keys...))
	assert.Equal(t, []string{"l7_db", "memcached", "text", "get", "get hit", "1", "1", "500", "<none>"}, fields(b[2], keys...))
	assert.Equal(t, []string{"l7_db", "memcached", "meta", "mg", "mg hit", "1", "1", "0", "1"}, fields(b[4], keys...))
}

// NATS: CONNECT and PUB one-way, PING/PONG a call, a delivery one-way from the server.
func TestNATSRecords(t *testing.T) {
	cnt, a, b := play(t, abi.ProtoNATS, 4222,
		`CONNECT {"verbose":false}`+"\r\nPUB orders.42 2\r\nhi\r\nPING\r\n",
		`INFO {"server_id":"x"}`+"\r\nMSG orders.42 1 2\r\nhi\r\nPONG\r\n")
	assert.EqualValues(t, 1, cnt.Calls)
	assert.EqualValues(t, 3, cnt.OneWay)
	assert.EqualValues(t, 1, cnt.Ignored, "INFO")
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)
	require.Len(t, a, 4)
	keys := []string{"protocol", "op", "subject", "success", "remote_info", "total_count", "total_latency_ns", "total_req_bytes", "total_resp_bytes", "one_way"}
	info := `{"remote_ip":"10.0.0.9","remote_port":"4222","remote_type":"mq"}` + "\n"
	assert.Equal(t, []string{"nats", "CONNECT", "", "1", info, "1", "0", "27", "0", "1"}, fields(a[0], keys...))
	assert.Equal(t, []string{"nats", "PUB", "orders.?", "1", info, "1", "0", "21", "0", "1"}, fields(a[1], keys...))
	assert.Equal(t, []string{"nats", "MSG", "orders.?", "1", info, "1", "0", "23", "0", "1"}, fields(a[2], keys...))
	assert.Equal(t, []string{"nats", "PING", "", "1", info, "1", "500", "6", "6", "<none>"}, fields(a[3], keys...))
	require.Len(t, b, 4)
	keys = []string{"type", "protocol", "req_type", "req_resource", "resp_status", "count", "latency_ns", "one_way"}
	assert.Equal(t, []string{"l7_req", "nats", "PUB", "orders.?", "1", "1", "0", "1"}, fields(b[1], keys...))
	assert.Equal(t, []string{"l7_req", "nats", "PING", "", "1", "1", "500", "<none>"}, fields(b[3], keys...))
}
