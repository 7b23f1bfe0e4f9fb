package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/export"
	"github.com/netobserver/netobserver/export/kafka"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/export/stdout"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// The flushers' own counts reach the metrics endpoint, so lost records are visible.
func TestFlusherCountersPublished(t *testing.T) {
	p := &config.Pipeline{Name: "config#test.yaml", Flushers: []config.Flusher{
		{Type: stdout.TypeName, Config: &stdout.Config{KeyValuePairs: true}},
		{Type: prometheus.TypeName, Config: &prometheus.Config{Listen: "127.0.0.1:0", Path: "/metrics"}},
	}}
	var stdoutBuf bytes.Buffer
	out, err := openOutputs(p, &stdoutBuf)
	require.NoError(t, err)
	sink := out.flush(slog.New(slog.NewTextHandler(io.Discard, nil)))
	recs := []record.Record{{Time: 1, Fields: []record.Field{{Key: "type", Value: "protocols"}}}}
	sink(recs)
	sink(recs)
	out.publish()
	var metrics strings.Builder
	_, err = out.live[0].(*prometheus.Exporter).WriteTo(&metrics)
	require.NoError(t, err)
	assert.Contains(t, metrics.String(), `netobserver_flusher_records_total{flusher="0:flusher_stdout",outcome="written"} 2`+"\n")
	assert.Contains(t, metrics.String(), `netobserver_flusher_records_total{flusher="0:flusher_stdout",outcome="failed"} 0`+"\n")
	assert.Equal(t, 2, strings.Count(stdoutBuf.String(), `{"type":"protocols","__time__":"1"}`))
	require.NoError(t, out.close(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

// With the Kafka broker gone and a second flusher failing every write, each flusher accounts for
// every record it was handed — offered = written + failed + dropped (+ queued while running) —
// in /metrics and in the stop lines, and both failures are logged: the warning's rate limit is
// per flusher. (The stop line said records_lost=600 where Kafka had dropped 202 and queued 100,
// and only the first failing flusher was ever logged.)
func TestFlusherAccountingAddsUp(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "records"))
	require.NoError(t, err)
	defer cluster.Close()
	p := &config.Pipeline{Name: "config#test.yaml", Flushers: []config.Flusher{
		{Type: kafka.TypeName, Config: &kafka.Config{Brokers: cluster.ListenAddrs(), Topic: "records", RequiredACKs: 1,
			Compression: "none", ClientID: "netobserver-test", Timeout: time.Second, BrokerTimeout: kafka.DefaultBrokerTimeout,
			MaxMessageBytes: 1000000, QueueSize: 100, CloseTimeout: kafka.DefaultCloseTimeout}},
		// Every write to /dev/full fails (ENOSPC).
		{Type: stdout.TypeName, Config: &stdout.Config{KeyValuePairs: true, FileName: "/dev/full", MaxSize: 1 << 20, MaxRolls: 1}},
		{Type: prometheus.TypeName, Config: &prometheus.Config{Listen: "127.0.0.1:0", Path: "/metrics"}},
	}}
	out, err := openOutputs(p, io.Discard)
	require.NoError(t, err)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	sink := out.flush(logger)
	batch := func(n int) []record.Record {
		recs := make([]record.Record, n)
		for i := range recs {
			recs[i] = record.Record{Time: uint32(i), Fields: []record.Field{{Key: "type", Value: "protocols"}}}
		}
		return recs
	}

	sink(batch(50))
	kf := out.outs[0].(*kafka.Flusher)
	require.Eventually(t, func() bool { return kf.Stats().Produced == 50 }, 10*time.Second, 10*time.Millisecond, "delivered before the outage")
	cluster.Close()
	for range 3 {
		sink(batch(101)) // the first fills the queue of 100 and drops 1; the others drop all
	}

	out.publish()
	var metrics strings.Builder
	_, err = out.live[0].(*prometheus.Exporter).WriteTo(&metrics)
	require.NoError(t, err)
	for _, line := range []string{
		`netobserver_flusher_records_total{flusher="0:flusher_kafka",outcome="offered"} 353`,
		`netobserver_flusher_records_total{flusher="0:flusher_kafka",outcome="written"} 50`,
		`netobserver_flusher_records_total{flusher="0:flusher_kafka",outcome="failed"} 0`,
		`netobserver_flusher_records_total{flusher="0:flusher_kafka",outcome="dropped"} 203`,
		`netobserver_flusher_records_total{flusher="1:flusher_stdout",outcome="offered"} 353`,
		`netobserver_flusher_records_total{flusher="1:flusher_stdout",outcome="written"} 0`,
		`netobserver_flusher_records_total{flusher="1:flusher_stdout",outcome="failed"} 353`,
		`netobserver_flusher_records_total{flusher="1:flusher_stdout",outcome="dropped"} 0`,
	} {
		assert.Contains(t, metrics.String(), line+"\n")
	}
	assert.NotContains(t, metrics.String(), "flusher_prometheus_exporter", "the endpoint takes no records")
	t0, _ := out.totalsOf(0)
	assert.Equal(t, flusherTotals{Offered: 353, Totals: export.Totals{Written: 50, Dropped: 203, Queued: 100}}, t0, "the outage's queue, while running")

	assert.Error(t, out.close(logger), "Kafka's queue could not be delivered")
	t0, _ = out.totalsOf(0)
	assert.Equal(t, flusherTotals{Offered: 353, Totals: export.Totals{Written: 50, Failed: 100, Dropped: 203}}, t0, "the queue failed at the stop")
	t1, _ := out.totalsOf(1)
	assert.Equal(t, flusherTotals{Offered: 353, Totals: export.Totals{Failed: 353}}, t1)
	assert.Equal(t, uint64(100+203+353), out.totals().lost(), "records_lost of the stop line")

	out.logTotals(logger)
	log := logs.String()
	assert.Equal(t, 1, strings.Count(log, `msg="netobserver: flusher failed" flusher=0:flusher_kafka records=101`), "once a minute per flusher:\n%s", log)
	assert.Equal(t, 1, strings.Count(log, `msg="netobserver: flusher failed" flusher=1:flusher_stdout records=50`), log)
	assert.Contains(t, log, `level=WARN msg="netobserver: flusher records" flusher=0:flusher_kafka offered=353 written=50 failed=100 dropped=203 queued=0`)
	assert.Contains(t, log, `level=WARN msg="netobserver: flusher records" flusher=1:flusher_stdout offered=353 written=0 failed=353 dropped=0 queued=0`)
}
