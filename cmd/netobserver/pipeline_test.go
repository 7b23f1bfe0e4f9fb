package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/export/record"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The flushers' own counts reach the metrics endpoint, so lost records are visible.
func TestFlusherCountersPublished(t *testing.T) {
	p := &config.Pipeline{Name: "config#test.yaml", Flushers: []config.Flusher{
		{Type: config.FlusherStdout, Stdout: &config.StdoutConfig{KeyValuePairs: true}},
		{Type: config.FlusherPrometheusExporter, Prometheus: &config.PrometheusConfig{Listen: "127.0.0.1:0", Path: "/metrics"}},
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
	_, err = out.metrics.WriteTo(&metrics)
	require.NoError(t, err)
	assert.Contains(t, metrics.String(), `netobserver_flusher_records_total{flusher="0:flusher_stdout",outcome="written"} 2`+"\n")
	assert.Contains(t, metrics.String(), `netobserver_flusher_records_total{flusher="0:flusher_stdout",outcome="failed"} 0`+"\n")
	assert.Equal(t, 2, strings.Count(stdoutBuf.String(), `{"type":"protocols","__time__":"1"}`))
	require.NoError(t, out.close(slog.New(slog.NewTextHandler(io.Discard, nil))))
}
