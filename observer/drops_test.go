package observer

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stopLine is the stop log line of o, without its time.
func stopLine(o *Observer) string {
	var line strings.Builder
	slog.New(slog.NewTextHandler(&line, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})).Info("netobserver: stopped", o.Summary()...)
	return line.String()
}

// runForDrops plays trace into an observer serving /metrics, at most maxEvents events a poll, and
// returns its stop line and metrics.
func runForDrops(t *testing.T, trace string, opts Options, maxEvents int) (string, string) {
	t.Helper()
	metrics := prometheus.New()
	opts.Live = metrics
	o, _, _ := runObserverPolled(t, trace, opts, maxEvents)
	var b strings.Builder
	_, err := metrics.WriteTo(&b)
	require.NoError(t, err)
	return stopLine(o), b.String()
}

// Every way bytes or events are not turned into calls shows on the stop line and /metrics, with
// its exact count. One event a poll, so that the parser has passed the first request when its
// copy comes.
func TestEveryDropIsShown(t *testing.T) {
	const c = "conn=5:1:1"
	trace := fmt.Sprintf(`ctrl ts=1000 %[1]s event=connect addr=10.200.0.2:80 role=client
data ts=2000 %[1]s dir=egress proto=http pos=28 "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=3000 %[1]s dir=ingress proto=http "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
data ts=3100 %[1]s dir=egress proto=http pos=28 "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=4000 %[1]s dir=egress proto=http pos=61 "xyz\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=5000 %[1]s dir=ingress proto=http "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
data ts=6000 %[1]s dir=egress proto=http pos=80 "GET /c HTTP/1.1\r\nHo"
data ts=6100 %[1]s dir=egress proto=http pos=80 "GET /c HTTP/1.1\r\nHo"
data ts=6200 conn=7:1:3 dir=egress proto=http role=client addr=10.200.0.4:80 org=28 "GET /t HTTP/1.1\r\nHost: a\r\n"
data ts=7000 conn=6:1:2 dir=egress proto=dubbo role=client addr=10.200.0.3:20880 "dubbo"
`, c)
	line, metrics := runForDrops(t, trace, defaultOptions(), 1)
	// The 100 Continue is an ignored unit; "xyz\r\n" a parse failure of 5 bytes; the copy of
	// /a, 28 bytes, comes after /a was parsed (stale); the copy of /c, 19 bytes, while /c
	// waits for its end (duplicate); /c's 19 bytes, never completed, and /t's 26, whose last 2
	// the kernel did not copy (truncated, a lost stretch of 2), are abandoned; dubbo has no
	// parser.
	assert.Equal(t, `level=INFO msg="netobserver: stopped" lost_ctrl=0 lost_data=0 lost_stats=0 lost_proc=0 dropped_connections=0 connections_peak=2 unsupported_protocol_events=1 `+
		`http.calls=2 http.one_way=0 http.ignored_units=1 http.unmatched_requests=0 http.unmatched_responses=0 http.handed_over=0 http.parse_failures=1 http.parse_failure_bytes=5 `+
		`http.abandoned_bytes=45 http.partial_calls=0 http.lost_stream_bytes=2 http.parser_panics=0 http.evicted_connections=0 http.unknown_role_events=0 http.cap_dropped_calls=0 `+
		`http.stale_stream_bytes=28 http.duplicate_stream_bytes=19 http.truncated_stream_bytes=2`+"\n", line)
	for _, want := range []string{
		`netobserver_unsupported_protocol_events_total 1`,
		`netobserver_ignored_units_total{protocol="http"} 1`,
		`netobserver_parse_failures_total{protocol="http"} 1`,
		`netobserver_parse_failure_bytes_total{protocol="http"} 5`,
		`netobserver_abandoned_bytes_total{protocol="http"} 45`,
		`netobserver_lost_stream_bytes_total{protocol="http"} 2`,
		`netobserver_stream_chunks_total{protocol="http"} 8`,
		// 127 bytes out and 101 in on the first connection, 28 (2 not copied) on the second.
		`netobserver_stream_bytes_total{fate="received",protocol="http"} 256`,
		// The two requests and three responses, and /t's 26 bytes given up.
		`netobserver_stream_bytes_total{fate="consumed",protocol="http"} 188`,
		`netobserver_stream_bytes_total{fate="stale",protocol="http"} 28`,
		`netobserver_stream_bytes_total{fate="duplicate",protocol="http"} 19`,
		`netobserver_stream_bytes_total{fate="truncated",protocol="http"} 2`,
		`netobserver_stream_bytes_total{fate="gap",protocol="http"} 2`,
		`netobserver_stream_bytes_total{fate="overflow",protocol="http"} 0`,
		`netobserver_stream_bytes_total{fate="filled",protocol="http"} 0`,
		`netobserver_stream_bytes_total{fate="prepended",protocol="http"} 0`,
		`netobserver_stream_bytes_total{fate="skipped",protocol="http"} 0`,
	} {
		assert.Contains(t, metrics, "\n"+want+"\n")
	}
}

// Bytes past the stream cap before the parser could take them are dropped as overflow, and
// shown: five chunks of 16 KiB in one poll to a 64 KiB stream.
func TestStreamOverflowIsShown(t *testing.T) {
	opts := defaultOptions()
	opts.Calls.StreamCap = 65536
	line, metrics := runForDrops(t, "data ts=1000 conn=8:1:4 dir=egress proto=http role=client addr=10.200.0.5:80 fill=16384:61 repeat=5\n", opts, 0)
	// What stayed is no request: a parse failure skips it all. The parser is told the 16384
	// bytes dropped are lost (TestStreamOverflowTellsTheParser), as after a hole given up, but
	// that changes nothing here: they are request bytes, HTTP keeps no state between requests,
	// and the stream's head, 'a's, is mid-message either way.
	assert.Equal(t, `level=INFO msg="netobserver: stopped" lost_ctrl=0 lost_data=0 lost_stats=0 lost_proc=0 dropped_connections=0 connections_peak=1 unsupported_protocol_events=0 `+
		`http.calls=0 http.one_way=0 http.ignored_units=0 http.unmatched_requests=0 http.unmatched_responses=0 http.handed_over=0 http.parse_failures=1 http.parse_failure_bytes=65536 `+
		`http.abandoned_bytes=0 http.partial_calls=0 http.lost_stream_bytes=0 http.parser_panics=0 http.evicted_connections=0 http.unknown_role_events=0 http.cap_dropped_calls=0 `+
		`http.overflow_stream_bytes=16384`+"\n", line)
	assert.Contains(t, metrics, "\n"+`netobserver_stream_bytes_total{fate="overflow",protocol="http"} 16384`+"\n")
	assert.Contains(t, metrics, "\n"+`netobserver_stream_bytes_total{fate="received",protocol="http"} 81920`+"\n")
}

// Connects of connections without data yet are remembered up to MaxConnections: past it the
// oldest are forgotten, counted on the stop line and /metrics. The first connection's data then
// come without the role its connect gave.
func TestEvictedCtrlEventsAreShown(t *testing.T) {
	opts := defaultOptions()
	opts.Calls.MaxConnections = 2
	var trace strings.Builder
	for i := range 5 {
		fmt.Fprintf(&trace, "ctrl ts=%d conn=%d:1:%d event=connect addr=10.200.0.2:8080 role=client\n", 1000+i, 5+i, 1+i)
	}
	trace.WriteString(`data ts=2000 conn=5:1:1 dir=egress proto=http "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"` + "\n")
	line, metrics := runForDrops(t, trace.String(), opts, 0)
	// Five connects, the last two remembered: three forgotten, the first connection's among them,
	// so its request is not parsed (unknown role) rather than left unmatched.
	assert.Equal(t, `level=INFO msg="netobserver: stopped" lost_ctrl=0 lost_data=0 lost_stats=0 lost_proc=0 dropped_connections=0 connections_peak=1 unsupported_protocol_events=0 evicted_ctrl_events=3 `+
		`http.calls=0 http.one_way=0 http.ignored_units=0 http.unmatched_requests=0 http.unmatched_responses=0 http.handed_over=0 http.parse_failures=0 http.parse_failure_bytes=0 `+
		`http.abandoned_bytes=0 http.partial_calls=0 http.lost_stream_bytes=0 http.parser_panics=0 http.evicted_connections=0 http.unknown_role_events=1 http.cap_dropped_calls=0`+"\n", line)
	assert.Contains(t, metrics, "\n"+`netobserver_evicted_ctrl_events_total 3`+"\n")
}

// Response bytes dropped past the stream cap are lost to the parser like a hole given up: the
// answer to /1 (its header and the first 16 KiB of its body) overflows a 64 KiB stream, so the
// 404 after it answers /2, the newest request sent before it, and /1 is unmatched. Were the
// parser not told, the 404 would pair with /1, the oldest waiting request: a wrong call.
func TestStreamOverflowTellsTheParser(t *testing.T) {
	opts := defaultOptions()
	opts.Calls.StreamCap = 65536
	metrics := prometheus.New()
	opts.Live = metrics
	const c = "conn=8:1:4"
	trace := fmt.Sprintf(`data ts=1000 %[1]s dir=egress proto=http role=client addr=10.200.0.5:80 "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=1100 %[1]s dir=egress proto=http "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=2000 %[1]s dir=ingress proto=http "HTTP/1.1 200 OK\r\nContent-Length: 81920\r\n\r\n"
data ts=2001 %[1]s dir=ingress proto=http fill=16384:61 repeat=5
data ts=3000 %[1]s dir=ingress proto=http "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
`, c)
	o, recs, _ := runObserverPolled(t, trace, opts, 0)
	var calls []string
	for _, r := range recs {
		if get(r, "type") == "protocols" {
			calls = append(calls, get(r, "url")+" "+get(r, "resp_code")+" "+get(r, "total_count"))
		}
	}
	assert.Equal(t, []string{"/2 404 1"}, calls)
	// The 42-byte header and 81920-byte body, then the 45-byte 404: 82007 bytes, 16471 of them
	// dropped to keep 65536 (the header and the oldest 16429 body bytes). The 65491 body bytes
	// left are skipped as a parse failure up to the 404.
	assert.Equal(t, `level=INFO msg="netobserver: stopped" lost_ctrl=0 lost_data=0 lost_stats=0 lost_proc=0 dropped_connections=0 connections_peak=1 unsupported_protocol_events=0 `+
		`http.calls=1 http.one_way=0 http.ignored_units=0 http.unmatched_requests=1 http.unmatched_responses=0 http.handed_over=0 http.parse_failures=1 http.parse_failure_bytes=65491 `+
		`http.abandoned_bytes=0 http.partial_calls=0 http.lost_stream_bytes=0 http.parser_panics=0 http.evicted_connections=0 http.unknown_role_events=0 http.cap_dropped_calls=0 `+
		`http.overflow_stream_bytes=16471`+"\n", stopLine(o))
}
