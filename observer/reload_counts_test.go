package observer

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/replaytest"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metricValue is the value of the sample of ms named name with labels.
func metricValue(t *testing.T, ms []live.Metric, name string, labels ...string) uint64 {
	t.Helper()
	i := slices.IndexFunc(ms, func(m live.Metric) bool { return m.Name == name && slices.Equal(m.Labels, labels) })
	require.GreaterOrEqual(t, i, 0, "no sample %s%v", name, labels)
	return ms[i].Value
}

// The counters count since the observer started: a reload that changes the protocols replaces
// the tracker, and what the old one counted (what its connections held when it closed
// included) is kept.
func TestReloadKeepsCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	lib, _ := replaytest.Open(t, path, 0)
	o := New(lib, defaultOptions(), func([]record.Record) {})
	require.NoError(t, o.Start())
	event := func(ts uint64, fd int32, proto abi.Protocol, dir abi.Direction, pos uint64, payload string) *abi.DataEvent {
		return &abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: abi.ConnID{FD: fd, TGID: 1, Start: uint64(fd)},
			Addr: abi.SockAddrFrom(netip.MustParseAddrPort("10.0.0.2:80")), Protocol: proto, Role: abi.RoleClient,
			Direction: dir, Pos: pos, OrgMsgSize: uint32(len(payload)), MsgBufSize: uint32(len(payload))}, Payload: []byte(payload)}
	}
	const (
		req  = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
		resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	)
	// Each phase: a call after 5 bytes of garbage (a parse failure), and a data event of dubbo
	// (no parser). The first also leaves a request unanswered on a second connection, which
	// the reload closes: unmatched.
	phase := func(ts uint64, fd int32) {
		o.Data(event(ts, fd, abi.ProtoHTTP, abi.DirEgress, 5+28, "xyz\r\n"+req))
		o.Data(event(ts+1, fd, abi.ProtoHTTP, abi.DirIngress, 38, resp))
		o.Data(event(ts+2, fd+1, abi.ProtoDubbo, abi.DirEgress, 5, "dubbo"))
		o.l7.endBatch(true)
	}
	phase(1000, 5)
	o.Data(event(1100, 7, abi.ProtoHTTP, abi.DirEgress, 28, req))
	o.l7.endBatch(true)
	next := defaultOptions()
	next.Protocols = abi.ProtocolsOf(abi.ProtoHTTP, abi.ProtoDNS)
	require.NoError(t, o.Reload(next))
	phase(2000, 8)
	o.finish()

	// Peak: the two HTTP connections of the first phase, the most at once.
	assert.Equal(t, `level=INFO msg="netobserver: stopped" lost_ctrl=0 lost_data=0 lost_stats=0 lost_proc=0 dropped_connections=0 connections_peak=2 unsupported_protocol_events=2 `+
		`http.calls=2 http.one_way=0 http.ignored_units=0 http.unmatched_requests=1 http.unmatched_responses=0 http.handed_over=0 http.parse_failures=2 http.parse_failure_bytes=10 `+
		`http.abandoned_bytes=0 http.partial_calls=0 http.lost_stream_bytes=0 http.parser_panics=0 http.evicted_connections=0 http.unknown_role_events=0 http.cap_dropped_calls=0`+"\n", stopLine(o))
	ms := o.metrics()
	for _, c := range []struct {
		name   string
		labels []string
		want   uint64
	}{
		{"unsupported_protocol_events_total", nil, 2},
		{"unmatched_messages_total", []string{"protocol", "http", "message", "request"}, 1},
		{"parse_failures_total", []string{"protocol", "http"}, 2},
		{"parse_failure_bytes_total", []string{"protocol", "http"}, 10},
		{"stream_chunks_total", []string{"protocol", "http"}, 5},
		// 33 + 38 bytes a phase, and the unanswered request's 28.
		{"stream_bytes_total", []string{"protocol", "http", "fate", "received"}, 2*(33+38) + 28},
		{"stream_bytes_total", []string{"protocol", "http", "fate", "consumed"}, 2*(33+38) + 28},
	} {
		assert.Equal(t, c.want, metricValue(t, ms, c.name, c.labels...), "%s%v", c.name, c.labels)
	}
}
