package observer

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/observer/stream"
	"github.com/netobserver/netobserver/record"
)

// Sink receives the records of each interval.
type Sink func([]record.Record)

// Counters are the observer's own counts since it started.
type Counters struct {
	// DroppedConnections: connections dropped by the socket-kind filters.
	DroppedConnections uint64
	// DisabledProcesses: processes switched off in the kernel because the filter refused them.
	DisabledProcesses uint64
	// Resolved: connections whose address or role netlink found and pushed to the kernel side.
	Resolved uint64
	// Collected: kernel map entries deleted because their process or fd was gone.
	Collected uint64
	// Lost: events the library reported lost, per stream (process events included).
	Lost [4]uint64
	// ProcessConnectorErr is why the process connector could not be used (a library without
	// process events only; nil otherwise): processes are then read from /proc at their first
	// event.
	ProcessConnectorErr error
}

// Counters returns the observer's counts.
func (o *Observer) Counters() Counters { return o.counts }

// publish hands the observer's counters to the live sink.
func (o *Observer) publish() {
	o.published = o.now()
	o.opts.Live.SetCounters("observer", o.metrics())
}

// metrics are the observer's counters as metric samples, one family's samples together, as the
// exposition format wants.
func (o *Observer) metrics() []live.Metric {
	lc := o.lib.Counters()
	ms := []live.Metric{
		{Name: "events_total", Help: "Events delivered by the capture library.", Labels: []string{"kind", "ctrl"}, Value: lc.Ctrl},
		{Name: "events_total", Help: "Events delivered by the capture library.", Labels: []string{"kind", "data"}, Value: lc.Data},
		{Name: "events_total", Help: "Events delivered by the capture library.", Labels: []string{"kind", "stats"}, Value: lc.Stats},
		{Name: "polls_total", Help: "Polls of the capture library's buffers (the health endpoints' sign that capture runs).", Value: lc.Polls},
		{Name: "dropped_connections_total", Help: "Connections dropped by the socket-kind filters.", Value: o.counts.DroppedConnections},
		{Name: "disabled_processes_total", Help: "Processes switched off in the kernel because the process filters refused them.", Value: o.counts.DisabledProcesses},
		{Name: "netlink_resolved_connections_total", Help: "Connections whose address or role netlink found.", Value: o.counts.Resolved},
		{Name: "collected_map_entries_total", Help: "Kernel map entries deleted because their process or fd was gone.", Value: o.counts.Collected},
	}
	for i, name := range []string{"ctrl", "data", "stats", "proc"} {
		ms = append(ms, live.Metric{Name: "lost_events_total", Help: "Events the capture library could not deliver.",
			Labels: []string{"stream", name}, Value: lc.Lost[i]})
	}
	if o.kernel != nil {
		pc := o.kernel.table.Counters()
		const help = "Processes the process table learned of (exec, fork, exit), or forgot early (evicted: past 65536 exited; refused: past its pid bound)."
		for _, c := range []struct {
			name  string
			value uint64
		}{{"exec", pc.Execs}, {"fork", pc.Forks}, {"exit", pc.Exits}, {"evicted", pc.Evicted}, {"refused", pc.Refused}} {
			ms = append(ms, live.Metric{Name: "process_events_total", Help: help, Labels: []string{"event", c.name}, Value: c.value})
		}
	}
	for _, p := range o.l7.protocols() {
		pc := o.protocolCounters(p)
		name := p.String()
		// m is one of protocol p's samples; labels follow the protocol label.
		m := func(metric, help string, value uint64, labels ...string) live.Metric {
			return live.Metric{Name: metric, Help: help, Labels: append([]string{"protocol", name}, labels...), Value: value}
		}
		ms = append(ms,
			m("unmatched_messages_total", unmatchedHelp, pc.UnmatchedRequests, "message", "request"),
			m("unmatched_messages_total", unmatchedHelp, pc.UnmatchedResponses, "message", "response"),
			m("one_way_messages_total", "One-way messages (no answer expected), each recorded as a call of its own.", pc.OneWay),
			m("parse_failures_total", "Times a parser found no message where one should start.", pc.Invalid),
			m("handed_over_requests_total", "Requests answered in the protocol their connection was handed to (HTTP/1.1 upgraded to h2c: the upgraded request, recorded as HTTP/2's), each with the response that agreed (the 101).", pc.HandedOver),
			m("partial_calls_total", "Calls recorded with fields that could not be decoded (left empty): HTTP/2 header fields of connections joined after their start, or after lost bytes.", pc.Partial),
			m("lost_stream_bytes_total", "Stream bytes given up because they were lost or truncated.", pc.GapBytes),
			m("cap_dropped_calls_total", "Calls not aggregated because ProtocolAggCfg's cap was reached.", o.agg.capDropped(p)),
			m("parser_panics_total", "Parser panics contained to their connection, whose state was dropped.", pc.Panics),
			m("evicted_connections_total", "Connections forgotten, least recently active first, to stay within the connections tracked.", pc.Evicted),
			m("unknown_role_events_total", "Data events not parsed because the connection's role could not be told.", pc.UnknownRole),
			m("parse_failure_bytes_total", "Bytes skipped to resynchronise after parse failures: traffic whose messages were not recorded.", pc.InvalidBytes),
			m("abandoned_bytes_total", "Bytes of incomplete messages given up (the rest lost behind a hole, or the connection ended first): their messages were not recorded.", pc.AbandonedBytes),
			m("ignored_units_total", "Protocol units that are not calls (handshakes, pushes, interim responses), skipped by design: not a loss.", pc.Ignored),
			m("stream_chunks_total", streamHelp, pc.Stream.Chunks),
		)
		for _, f := range streamFates(pc.Stream) {
			ms = append(ms, m("stream_bytes_total", streamBytesHelp, f.value, "fate", f.name))
		}
	}
	ms = append(ms, live.Metric{Name: "unsupported_protocol_events_total", Help: "Data events of protocols without a parser: their bytes are not parsed into calls.",
		Value: o.l7.unsupported()},
		live.Metric{Name: "evicted_ctrl_events_total", Help: "Connects and closes of connections without data yet, forgotten oldest first to stay within the connections tracked: " +
			"those connections' data then come without the role (unknown_role_events_total when the address cannot tell it) or the close the event gave.",
			Value: o.l7.notesEvicted()})
	ms = append(ms, o.tlsMetrics()...)
	ms = append(ms, o.kernelAggMetrics()...)
	slices.SortStableFunc(ms, func(a, b live.Metric) int { return strings.Compare(a.Name, b.Name) })
	return ms
}

const (
	unmatchedHelp = "Requests without a response and responses without a request."
	streamHelp    = "Data events placed in the streams of connections that ended or rested (the stream_bytes_total accounting is theirs)."
	// streamBytesHelp says what each fate means for the numbers.
	streamBytesHelp = "Stream bytes of connections that ended or rested, by fate: received (prepended included); prepended (length headers glued in front of split messages); " +
		"consumed (parsed); duplicate (already held: repeated events, no loss); stale (arrived behind the parse position, e.g. several threads on one socket at a stream's start: lost to the parser); " +
		"truncated (not copied by the kernel); filled (truncated bytes placed as zeros); overflow (dropped unparsed to stay within the stream cap: lost); " +
		"skipped and gap (positions without bytes passed by the parser, or given up at a hole or overflow; lost_stream_bytes_total counts the holes)."
)

type fate struct {
	name  string
	value uint64
}

// streamFates are the stream accounting's counters by fate, as stream_bytes_total labels them.
func streamFates(s stream.Stats) []fate {
	return []fate{{"received", s.Received}, {"prepended", s.Prepended}, {"consumed", s.Consumed}, {"duplicate", s.Duplicate},
		{"stale", s.Stale}, {"truncated", s.Truncated}, {"filled", s.Filled}, {"overflow", s.Overflow}, {"skipped", s.Skipped}, {"gap", s.Gap}}
}

// Summary is the accounting for a stop log line, as slog key-value pairs: the events the library
// lost, the connections the filters dropped, the most connections whose calls were tracked at
// once, the data events of protocols without a parser, the connects and closes forgotten when
// there are any, and for each protocol that saw traffic, the calls recorded and every way a
// message was not (the same counters /metrics serves), with its streams' stale, duplicate,
// overflow and truncated bytes when there are any.
func (o *Observer) Summary() []any {
	c := o.counts
	attrs := []any{"lost_ctrl", c.Lost[abi.CtrlEvents], "lost_data", c.Lost[abi.DataEvents],
		"lost_stats", c.Lost[abi.StatsEvents], "lost_proc", c.Lost[abi.ProcessEvents], "dropped_connections", c.DroppedConnections,
		"connections_peak", o.l7.peak(), "unsupported_protocol_events", o.l7.unsupported()}
	if n := o.l7.notesEvicted(); n != 0 {
		attrs = append(attrs, "evicted_ctrl_events", n)
	}
	attrs = append(attrs, o.tlsSummary()...)
	attrs = append(attrs, o.kernelAggSummary()...)
	for _, p := range o.l7.protocols() {
		pc := o.protocolCounters(p)
		capped := o.agg.capDropped(p)
		if pc == (calls.Counters{}) && capped == 0 {
			continue
		}
		group := []any{"calls", pc.Calls, "one_way", pc.OneWay, "ignored_units", pc.Ignored, "unmatched_requests", pc.UnmatchedRequests,
			"unmatched_responses", pc.UnmatchedResponses, "handed_over", pc.HandedOver, "parse_failures", pc.Invalid,
			"parse_failure_bytes", pc.InvalidBytes, "abandoned_bytes", pc.AbandonedBytes, "partial_calls", pc.Partial,
			"lost_stream_bytes", pc.GapBytes, "parser_panics", pc.Panics, "evicted_connections", pc.Evicted, "unknown_role_events", pc.UnknownRole,
			"cap_dropped_calls", capped}
		// The stream accounting's anomalies, when there are any: the rest of it is on /metrics.
		for _, f := range []fate{{"stale_stream_bytes", pc.Stream.Stale}, {"duplicate_stream_bytes", pc.Stream.Duplicate},
			{"overflow_stream_bytes", pc.Stream.Overflow}, {"truncated_stream_bytes", pc.Stream.Truncated}} {
			if f.value != 0 {
				group = append(group, f.name, f.value)
			}
		}
		attrs = append(attrs, slog.Group(p.String(), group...))
	}
	return attrs
}
