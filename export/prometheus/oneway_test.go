package prometheus

import (
	"bytes"
	"testing"
	"time"

	"github.com/netobserver/netobserver/observer/live"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A one-way call counts as calls_total{outcome="one_way"} and in the request bytes, never in
// the latency histogram.
func TestOneWayCalls(t *testing.T) {
	e := New()
	e.Call(live.Call{Protocol: "nats", Role: "client", Success: true, Latency: time.Millisecond, RequestBytes: 10, ResponseBytes: 6})
	e.Call(live.Call{Protocol: "nats", Role: "client", Success: true, OneWay: true, RequestBytes: 21})
	e.Call(live.Call{Protocol: "nats", Role: "client", Success: true, OneWay: true, RequestBytes: 23})
	var b bytes.Buffer
	_, err := e.WriteTo(&b)
	require.NoError(t, err)
	lbl := `protocol="nats",role="client"`
	for _, line := range []string{
		`netobserver_l7_latency_seconds_count{` + lbl + `} 1`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="+Inf"} 1`,
		`netobserver_l7_calls_total{outcome="success",` + lbl + `} 1`,
		`netobserver_l7_calls_total{outcome="one_way",` + lbl + `} 2`,
		`netobserver_l7_bytes_total{message="request",` + lbl + `} 54`,
		`netobserver_l7_bytes_total{message="response",` + lbl + `} 6`,
	} {
		assert.Contains(t, b.String(), line+"\n")
	}
}

// Calls counted elsewhere (the kernel's aggregation) count in calls_total and the bytes by their
// sums, and in the latency histogram by their buckets' latencies.
func TestCallsBySums(t *testing.T) {
	e := New()
	e.Call(live.Call{Protocol: "http", Role: "server", Success: true, Latency: time.Millisecond, RequestBytes: 10, ResponseBytes: 6})
	e.Calls(live.Call{Protocol: "http", Role: "server", Success: true, RequestBytes: 4000, ResponseBytes: 9000}, 400,
		[]live.Latencies{{Latency: 800 * time.Microsecond, N: 300}, {Latency: 20 * time.Millisecond, N: 100}})
	e.Calls(live.Call{Protocol: "http", Role: "server", Success: false, RequestBytes: 30, ResponseBytes: 20}, 3,
		[]live.Latencies{{Latency: 3 * time.Second, N: 3}})
	var b bytes.Buffer
	_, err := e.WriteTo(&b)
	require.NoError(t, err)
	lbl := `protocol="http",role="server"`
	for _, line := range []string{
		`netobserver_l7_latency_seconds_count{` + lbl + `} 404`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.0005"} 0`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.001"} 301`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="0.025"} 401`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="2.5"} 401`,
		`netobserver_l7_latency_seconds_bucket{` + lbl + `,le="5"} 404`,
		`netobserver_l7_calls_total{outcome="success",` + lbl + `} 401`,
		`netobserver_l7_calls_total{outcome="error",` + lbl + `} 3`,
		`netobserver_l7_bytes_total{message="request",` + lbl + `} 4040`,
		`netobserver_l7_bytes_total{message="response",` + lbl + `} 9026`,
	} {
		assert.Contains(t, b.String(), line+"\n")
	}
}
