package protocols_test

import (
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The captures of kgo's producers become records of both schemas through the observer's
// pipeline (observer/calls, observer/aggregate): three acknowledged Produce calls with their
// topic and error code, and two acks=0 Produce calls as one-way records of their own.
func TestKafkaRecords(t *testing.T) {
	pl := newPipeline()
	ts := uint64(1000)
	for i, name := range []string{"kgo_producer_2", "kgo_noack_1"} {
		var pos [2]uint64
		for _, r := range parsertest.Load(t, "../kafka/testdata/"+name).Reads {
			dir := abi.DirEgress
			if r.Type == parser.Response {
				dir = abi.DirIngress
			}
			pos[r.Type-1] += uint64(len(r.Data))
			ts += 1000
			pl.data(int32(3+i), abi.ProtoKafka, 9092, dir, ts, pos[r.Type-1], r.Data)
			pl.tr.EndBatch(false)
		}
	}
	recsA, recsB := pl.flush()
	cnt := pl.tr.Counters(abi.ProtoKafka)
	assert.EqualValues(t, 4, cnt.Calls, "3 Produce and ApiVersions answered")
	assert.EqualValues(t, 2, cnt.OneWay)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)

	recs := recsA
	require.Len(t, recs, 3)
	keys := []string{"protocol", "api", "topic", "error_code", "success", "total_count", "total_req_bytes", "total_resp_bytes", "one_way"}
	info := `{"remote_ip":"10.0.0.9","remote_port":"9092","remote_type":"mq"}` + "\n"
	assert.Equal(t, info, fields(recs[0], "remote_info")[0])
	assert.Equal(t, []string{"kafka", "Produce", "J4C70wC9dqUmnW68u_qOkA", "0", "1", "3", "378", "198", "<none>"}, fields(recs[0], keys...))
	assert.Equal(t, []string{"kafka", "ApiVersions", "", "0", "1", "1", "31", "233", "<none>"}, fields(recs[1], keys...))
	assert.Equal(t, []string{"kafka", "Produce", "kmaeNGo9Mh_K_b_b4hdPLA", "", "1", "2", "252", "0", "1"}, fields(recs[2], keys...))

	recs = recsB
	require.Len(t, recs, 3)
	keys = []string{"type", "protocol", "req_type", "req_domain", "req_resource", "version", "resp_status", "resp_code", "count", "req_bytes", "resp_bytes", "one_way"}
	assert.Equal(t, []string{"l7_req", "kafka", "Produce", "", "J4C70wC9dqUmnW68u_qOkA", "13", "1", "0", "3", "378", "198", "<none>"}, fields(recs[0], keys...))
	assert.Equal(t, []string{"l7_req", "kafka", "ApiVersions", "", "", "4", "1", "0", "1", "31", "233", "<none>"}, fields(recs[1], keys...))
	assert.Equal(t, []string{"l7_req", "kafka", "Produce", "", "kmaeNGo9Mh_K_b_b4hdPLA", "13", "1", "", "2", "252", "0", "1"}, fields(recs[2], keys...))
}
