package protocols_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replayRecords plays the captures named (client side) through calls and both schemas'
// aggregation, and returns each schema's records as "field=value …" lines of keys, sorted, and
// the protocol's counters.
func replayRecords(t *testing.T, proto abi.Protocol, port uint16, names []string, keysA, keysB []string) (a, b []string, cnt calls.Counters) {
	t.Helper()
	pl := newPipeline()
	ts := uint64(1000)
	for i, name := range names {
		cp := parsertest.Load(t, name)
		var pos [2]uint64
		for _, r := range cp.Reads {
			dir, d := abi.DirEgress, 0
			if r.Type == parser.Response {
				dir, d = abi.DirIngress, 1
			}
			pos[d] += uint64(len(r.Data))
			ts += 1000
			pl.data(int32(3+i), proto, port, dir, ts, pos[d], r.Data)
		}
		pl.tr.EndBatch(true)
	}
	recsA, recsB := pl.flush()
	render := func(recs []record.Record, keys []string) []string {
		var out []string
		for _, r := range recs {
			var f []string
			for _, k := range keys {
				v, _ := r.Get(k)
				f = append(f, k+"="+strings.TrimSpace(v))
			}
			out = append(out, strings.Join(f, " "))
		}
		sort.Strings(out)
		return out
	}
	return render(recsA, keysA), render(recsB, keysB), pl.tr.Counters(proto)
}

// TestMQTTRecords: mosquitto_pub's publishes (pub-1…5 of parser/mqtt/testdata) become records of
// both schemas: QoS 0 publishes and DISCONNECT one-way, QoS 1 and 2 answered, the v5 refusal an
// error with reason code 135.
func TestMQTTRecords(t *testing.T) {
	var names []string
	for i := 1; i <= 5; i++ {
		names = append(names, filepath.Join("..", "mqtt", "testdata", "captures", fmt.Sprintf("pub-%d", i)))
	}
	a, b, cnt := replayRecords(t, abi.ProtoMQTT, 1883, names,
		[]string{"protocol", "packet", "topic", "qos", "code", "success", "total_count"},
		[]string{"protocol", "req_type", "req_resource", "version", "resp_status", "resp_code", "count"})
	// CONNECT ×5, PUBLISH QoS 1 ×3 + 2 to denied/x, QoS 2 ×3, PUBREL ×3; one-way: 3 QoS 0 publishes
	// and 5 DISCONNECT.
	assert.EqualValues(t, 16, cnt.Calls)
	assert.EqualValues(t, 8, cnt.OneWay)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)
	assert.Equal(t, []string{
		"protocol=mqtt packet=CONNECT topic= qos=0 code=0 success=1 total_count=5",
		"protocol=mqtt packet=DISCONNECT topic= qos=0 code=-1 success=1 total_count=3",
		"protocol=mqtt packet=DISCONNECT topic= qos=0 code=0 success=1 total_count=2",
		"protocol=mqtt packet=PUBLISH topic=denied/x qos=1 code=0 success=1 total_count=1",
		"protocol=mqtt packet=PUBLISH topic=denied/x qos=1 code=135 success=0 total_count=1",
		"protocol=mqtt packet=PUBLISH topic=devices/?/state qos=1 code=0 success=1 total_count=3",
		"protocol=mqtt packet=PUBLISH topic=devices/lamp?/state qos=2 code=0 success=1 total_count=3",
		"protocol=mqtt packet=PUBLISH topic=sensors/?/temp qos=0 code=-1 success=1 total_count=3",
		"protocol=mqtt packet=PUBREL topic= qos=0 code=0 success=1 total_count=3",
	}, a)
	require.NotEmpty(t, b)
	assert.Contains(t, b, "protocol=mqtt req_type=PUBLISH req_resource=denied/x version=5 resp_status=0 resp_code=135 count=1")
	assert.Contains(t, b, "protocol=mqtt req_type=PUBLISH req_resource=sensors/?/temp version=3.1 resp_status=1 resp_code=-1 count=3")
}

// TestAMQPRecords: amqp-tools' connections (queue-1…7, consume-1…2 of parser/amqp/testdata)
// become records: publishes and deliveries one-way with their routing keys, the refused
// declare and the 404 close errors with their reply codes.
func TestAMQPRecords(t *testing.T) {
	var names []string
	for i := 1; i <= 7; i++ {
		names = append(names, filepath.Join("..", "amqp", "testdata", "captures", fmt.Sprintf("queue-%d", i)))
	}
	for i := 1; i <= 2; i++ {
		names = append(names, filepath.Join("..", "amqp", "testdata", "captures", fmt.Sprintf("consume-%d", i)))
	}
	a, _, cnt := replayRecords(t, abi.ProtoAMQP, 5672, names,
		[]string{"protocol", "method", "exchange", "key", "code", "success", "total_count"},
		[]string{"protocol", "req_type", "req_domain", "req_resource", "resp_status", "resp_code", "count"})
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.Invalid)
	// 3 publishes (queue-2, -3) + 1 (consume-2), 3 + 2 deliveries, 3 + 2 acks, the 404 close.
	assert.EqualValues(t, 15, cnt.OneWay)
	for _, want := range []string{
		"protocol=amqp method=basic.publish exchange= key=orders.eu.? code=-1 success=1 total_count=3",
		"protocol=amqp method=basic.deliver exchange= key=orders.eu.? code=-1 success=1 total_count=3",
		"protocol=amqp method=basic.deliver exchange=amq.topic key=sensor.?.temp code=-1 success=1 total_count=2",
		"protocol=amqp method=basic.ack exchange= key= code=-1 success=1 total_count=5",
		"protocol=amqp method=channel.close exchange= key= code=404 success=0 total_count=1",
		"protocol=amqp method=queue.declare exchange= key=orders.eu.? code=406 success=0 total_count=1",
		"protocol=amqp method=queue.bind exchange=amq.topic key=amq.gen-? code=-1 success=1 total_count=1",
		"protocol=amqp method=basic.get exchange= key=orders.eu.? code=-1 success=1 total_count=1",
		"protocol=amqp method=connection.open exchange= key= code=-1 success=1 total_count=9",
	} {
		assert.Contains(t, a, want)
	}
}
