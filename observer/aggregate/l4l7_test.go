package aggregate

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/pgsql"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSchemaBRecords(t *testing.T) {
	a := New(Config{Schema: SchemaL4L7, Tags: map[string]string{"cluster": "prod"}, L4Interval: 60, L7Interval: 15, Host: "node-1"})
	conn := abi.ConnID{FD: 7, TGID: 70000, Start: 99} // a pid beyond 16 bits stays whole
	c := httpCall(abi.RoleClient, "10.0.0.2:80", "/items", 200, 3000)
	c.Conn = conn
	a.AddCall(host, c)
	a.AddCall(host, c)
	a.NameHost(host.Group, netip.MustParseAddr("10.0.0.3"), "db.test", 1700000100)
	a.AddCall(host, &calls.Call{Conn: abi.ConnID{FD: 8, TGID: 70000, Start: 100}, Protocol: abi.ProtoPGSQL,
		Role: abi.RoleClient, Remote: addr("10.0.0.3:5432"), RequestTS: 0, ResponseTS: 800,
		Exchange: parser.Pair(pgsql.Protocol,
			pgsql.Message{Size: 60, Method: "UPDATE", Resource: "UPDATE t SET v = ? WHERE id = ?"},
			pgsql.Message{Size: 20, Success: true})})

	recs := a.FlushL7(1700000000)
	require.Len(t, recs, 2)
	local := `{"_process_cmd_":"/usr/bin/curl","_process_pid_":"4242","_running_mode_":"host"}`
	httpID := recs[0].Fields[16].Value
	assert.Equal(t, []record.Field{
		{Key: "__tag__:cluster", Value: "prod"}, {Key: "local_info", Value: local}, {Key: "interval", Value: "15"},
		{Key: "req_type", Value: "GET"}, {Key: "req_domain", Value: "shop.test"}, {Key: "req_resource", Value: "/items"},
		{Key: "version", Value: "1.1"}, {Key: "resp_status", Value: "-1"}, {Key: "resp_code", Value: "200"},
		{Key: "protocol", Value: "http"}, {Key: "type", Value: "l7_req"}, {Key: "role", Value: "c"},
		{Key: "_remote_addr_", Value: "10.0.0.2"}, {Key: "_remote_port_", Value: "80"}, {Key: "_local_port_", Value: "0"},
		{Key: "_local_addr_", Value: ""}, {Key: "conn_id", Value: httpID}, {Key: "remote_info", Value: `{"_remote_host_":"10.0.0.2"}`},
		{Key: "count", Value: "2"}, {Key: "latency_ns", Value: "6000"}, {Key: "req_bytes", Value: "200"}, {Key: "resp_bytes", Value: "500"},
	}, recs[0].Fields[:22])
	assert.Equal(t, "tdigest_latency", recs[0].Fields[22].Key)
	cs, ok := DecodeSketch(recs[0].Fields[22].Value)
	require.True(t, ok)
	require.Len(t, cs, 1)
	assert.EqualValues(t, 2, cs[0].Weight)
	assert.InEpsilon(t, 3000, cs[0].Mean, 0.025)
	_, err := strconv.ParseUint(httpID, 10, 64)
	assert.NoError(t, err, "conn_id is a 64-bit number")

	db := recs[1]
	want := map[string]string{"version": "", "query_cmd": "update", "query": "UPDATE t SET v = ? WHERE id = ?",
		"status": "1", "protocol": "pgsql", "type": "l7_db", "remote_info": `{"_remote_host_":"db.test"}`, "count": "1", "latency_ns": "800"}
	for k, v := range want {
		got, ok := db.Get(k)
		assert.True(t, ok, k)
		assert.Equal(t, v, got, k)
	}
	id, _ := db.Get("conn_id")
	assert.NotEqual(t, httpID, id, "each connection its own id")

	a.AddStats(host, &abi.StatsEvent{ConnID: conn, Addr: addr("10.0.0.2:80"), Role: abi.RoleClient, WrBytes: 100, RdBytes: 300, WrPkts: 2, RdPkts: 3})
	a.AddStats(host, &abi.StatsEvent{ConnID: abi.ConnID{FD: 9, TGID: 70000}, Addr: addr("10.0.0.2:80"), Role: abi.RoleClient, WrBytes: 1, RdBytes: 1, WrPkts: 1, RdPkts: 1})
	l4 := a.FlushL4(1700000060)
	require.Len(t, l4, 1, "merged per pid, remote and role")
	l4ID := l4[0].Fields[9].Value
	assert.Equal(t, []record.Field{
		{Key: "__tag__:cluster", Value: "prod"}, {Key: "local_info", Value: local}, {Key: "interval", Value: "60"},
		{Key: "_local_addr_", Value: ""}, {Key: "_local_port_", Value: "0"}, {Key: "_remote_addr_", Value: "10.0.0.2"},
		{Key: "_remote_port_", Value: "80"}, {Key: "remote_info", Value: `{"_remote_host_":"10.0.0.2"}`}, {Key: "role", Value: "c"},
		{Key: "conn_id", Value: l4ID}, {Key: "conn_type", Value: "tcp"}, {Key: "type", Value: "l4"},
		{Key: "send_bytes", Value: "101"}, {Key: "recv_bytes", Value: "301"}, {Key: "send_packets", Value: "3"}, {Key: "recv_packets", Value: "4"},
	}, l4[0].Fields)
}

func TestSketchRoundTripAndRejects(t *testing.T) {
	var h Histogram
	for _, v := range []uint64{100, 100, 5000, 1e9} {
		h.Add(v)
	}
	cs, ok := DecodeSketch(EncodeSketch(&h))
	require.True(t, ok)
	require.Len(t, cs, 3)
	assert.EqualValues(t, []uint32{2, 1, 1}, []uint32{cs[0].Weight, cs[1].Weight, cs[2].Weight})
	assert.Less(t, cs[0].Mean, cs[1].Mean)
	for _, bad := range []string{"", "!!", "Tk9URAE=", EncodeSketch(&h)[:10]} {
		_, ok := DecodeSketch(bad)
		assert.False(t, ok, "%q", bad)
	}
}
