package protocols_test

import (
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser/internal/ping"
	"github.com/netobserver/netobserver/parser/protocols"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A new protocol is one package (parser/internal/ping, a toy) plus one registry line: with that
// line, its traffic becomes calls and records of both schemas with nothing else touched. The
// registry line is the append below, the same list production protocols are in.
func TestNewProtocolIsOnePackageAndOneLine(t *testing.T) {
	all := protocols.All
	t.Cleanup(func() { protocols.All = all })
	protocols.All = append(protocols.All, ping.Protocol) // the one registry line

	// One client connection: two requests in one write, answered out of order in one read.
	pl := newPipeline()
	pl.data(3, ping.Kernel, 7000, abi.DirEgress, 1000, 14, []byte("PING a\nPING b\n"))
	pl.data(3, ping.Kernel, 7000, abi.DirIngress, 1500, 14, []byte("FAIL b\nPONG a\n"))
	recsA, recsB := pl.flush()
	cnt := pl.tr.Counters(ping.Kernel)
	assert.EqualValues(t, 2, cnt.Calls)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)

	get := func(r record.Record, keys ...string) []string {
		var out []string
		for _, k := range keys {
			v, _ := r.Get(k)
			out = append(out, v)
		}
		return out
	}
	recs := recsA
	require.Len(t, recs, 2)
	keys := []string{"type", "protocol", "word", "success", "role", "remote_info", "total_count", "total_latency_ns", "total_req_bytes", "total_resp_bytes"}
	info := `{"remote_ip":"10.0.0.9","remote_port":"7000","remote_type":"server"}` + "\n"
	// In the order the keys first appeared: b's answer came first.
	assert.Equal(t, []string{"protocols", "ping", "b", "0", "client", info, "1", "500", "7", "7"}, get(recs[0], keys...))
	assert.Equal(t, []string{"protocols", "ping", "a", "1", "client", info, "1", "500", "7", "7"}, get(recs[1], keys...))

	recs = recsB
	require.Len(t, recs, 2)
	keys = []string{"type", "protocol", "req_type", "req_domain", "req_resource", "version", "resp_status", "resp_code", "role", "count", "latency_ns", "req_bytes", "resp_bytes"}
	assert.Equal(t, []string{"l7_req", "ping", "PING", "", "b", "", "0", "-1", "c", "1", "500", "7", "7"}, get(recs[0], keys...))
	assert.Equal(t, []string{"l7_req", "ping", "PING", "", "a", "", "1", "-1", "c", "1", "500", "7", "7"}, get(recs[1], keys...))
}

// A one-way message, in either direction, is a call of its own: counted apart from pairs and
// never unmatched, no latency, its own record marked one_way so that it does not dilute the
// latency of the answered calls with the same fields.
func TestOneWayCalls(t *testing.T) {
	all := protocols.All
	t.Cleanup(func() { protocols.All = all })
	protocols.All = append(protocols.All, ping.Protocol)

	pl := newPipeline()
	var oneWay, answered int
	pl.onCall = func(c *calls.Call) {
		if c.OneWay() {
			oneWay++
			assert.Zero(t, c.Latency())
			assert.Zero(t, c.Response)
		} else {
			answered++
		}
	}
	// The client's NOTE sits between two requests; the server's NOTE comes before their answers.
	pl.data(3, ping.Kernel, 7000, abi.DirEgress, 1000, 21, []byte("PING a\nNOTE a\nPING b\n"))
	pl.data(3, ping.Kernel, 7000, abi.DirIngress, 1500, 22, []byte("NOTE zz\nPONG a\nPONG b\n"))
	recsA, recsB := pl.flush()
	cnt := pl.tr.Counters(ping.Kernel)
	assert.EqualValues(t, 2, cnt.Calls)
	assert.EqualValues(t, 2, cnt.OneWay)
	assert.EqualValues(t, 2, cnt.Requests, "one-way messages are not requests waiting for an answer")
	assert.EqualValues(t, 2, cnt.Responses)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)
	assert.Equal(t, 2, oneWay)
	assert.Equal(t, 2, answered)

	get := func(r record.Record, keys ...string) []string {
		var out []string
		for _, k := range keys {
			v, ok := r.Get(k)
			if !ok {
				v = "<none>"
			}
			out = append(out, v)
		}
		return out
	}
	recs := recsA
	require.Len(t, recs, 4)
	keys := []string{"word", "success", "total_count", "total_latency_ns", "total_req_bytes", "total_resp_bytes", "p99_latency_ns", "one_way"}
	// In the order the keys first appeared: the NOTEs were delivered at once, the pairs at their
	// answers. PONG a and NOTE a have the same fields, yet two records: the NOTE adds no
	// latency to a's.
	assert.Equal(t, []string{"a", "1", "1", "0", "7", "0", "0", "1"}, get(recs[0], keys...))
	assert.Equal(t, []string{"zz", "1", "1", "0", "8", "0", "0", "1"}, get(recs[1], keys...))
	assert.Equal(t, []string{"a", "1", "1", "500", "7", "7", "503", "<none>"}, get(recs[2], keys...))
	assert.Equal(t, []string{"b", "1", "1", "500", "7", "7", "503", "<none>"}, get(recs[3], keys...))

	recs = recsB
	require.Len(t, recs, 4)
	keys = []string{"req_type", "req_resource", "count", "latency_ns", "req_bytes", "resp_bytes", "one_way"}
	assert.Equal(t, []string{"NOTE", "a", "1", "0", "7", "0", "1"}, get(recs[0], keys...))
	assert.Equal(t, []string{"NOTE", "zz", "1", "0", "8", "0", "1"}, get(recs[1], keys...))
	assert.Equal(t, []string{"PING", "a", "1", "500", "7", "7", "<none>"}, get(recs[2], keys...))
	assert.Equal(t, []string{"PING", "b", "1", "500", "7", "7", "<none>"}, get(recs[3], keys...))
}

// Every protocol registered has its own kernel number, and its name in records is the kernel
// side's name of it (the protocol filter and /metrics use that one).
func TestRegistry(t *testing.T) {
	seen := map[abi.Protocol]bool{}
	for _, p := range protocols.All {
		assert.False(t, seen[p.Kernel()], "%v registered twice", p.Kernel())
		seen[p.Kernel()] = true
		assert.Equal(t, p.Kernel().String(), p.Records().Name)
	}
	assert.Len(t, protocols.ByKernel(), len(protocols.All))
}
