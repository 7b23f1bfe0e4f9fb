package prometheus_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/internal/replaytest"
	"github.com/netobserver/netobserver/observer"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exporter, as the observer's live sink, gets every call, every L4 delta and the observer's
// counters.
func TestLiveSinkGetsCallsStatsAndCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, []byte(`ctrl ts=1000 conn=5:1:1 event=connect addr=10.200.0.2:80 role=client
data ts=2000 conn=5:1:1 dir=egress proto=http "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=2002000 conn=5:1:1 dir=ingress proto=http "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
stats ts=3000000 conn=5:1:1 addr=10.200.0.2:80 role=client wr=27 rd=38 wr_pkts=1 rd_pkts=1 events=1
stats ts=3000000 conn=6:1:2 addr=127.0.0.1:1 role=client wr=1 wr_pkts=1 events=1
`), 0o644))
	lib, _ := replaytest.Open(t, path, 0)
	e := prometheus.New()
	o := observer.New(lib, observer.Options{
		L4Interval: time.Hour, L7Interval: time.Hour, Protocols: abi.AllProtocols, Sampling: 100, PID: -1,
		DropUnixSocket: true, DropLocalConnections: true, DropUnknownSocket: true, Live: e,
	}, func([]record.Record) {})
	require.NoError(t, o.Start())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- o.Run(ctx, nil) }()
	for deadline := time.Now().Add(10 * time.Second); !lib.Finished(); time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "replay did not finish")
	}
	stop()
	require.NoError(t, <-done)
	require.NoError(t, lib.Close())

	var b strings.Builder
	_, err := e.WriteTo(&b)
	require.NoError(t, err)
	out := b.String()
	for _, want := range []string{
		`netobserver_l7_latency_seconds_bucket{protocol="http",role="client",le="0.0025"} 1`,
		`netobserver_l7_latency_seconds_bucket{protocol="http",role="client",le="0.001"} 0`,
		`netobserver_l7_calls_total{protocol="http",role="client",outcome="error"} 1`,
		`netobserver_l4_bytes_total{role="client",socket_type="inet_socket",direction="send"} 27`,
		`netobserver_events_total{kind="data"} 2`,
		`netobserver_events_total{kind="stats"} 2`,
		`netobserver_dropped_connections_total 1`,
		`netobserver_unmatched_messages_total{protocol="http",message="request"} 0`,
		`netobserver_parser_panics_total{protocol="http"} 0`,
		`netobserver_evicted_connections_total{protocol="http"} 0`,
		`netobserver_unknown_role_events_total{protocol="http"} 0`,
	} {
		assert.Contains(t, out, want+"\n")
	}
}
