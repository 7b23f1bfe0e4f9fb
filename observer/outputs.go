package observer

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/live"
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
		pc := o.l7.counters(p)
		name := p.String()
		ms = append(ms,
			live.Metric{Name: "unmatched_messages_total", Help: "Requests without a response and responses without a request.",
				Labels: []string{"protocol", name, "message", "request"}, Value: pc.UnmatchedRequests},
			live.Metric{Name: "unmatched_messages_total", Help: "Requests without a response and responses without a request.",
				Labels: []string{"protocol", name, "message", "response"}, Value: pc.UnmatchedResponses},
			live.Metric{Name: "one_way_messages_total", Help: "One-way messages (no answer expected), each recorded as a call of its own.",
				Labels: []string{"protocol", name}, Value: pc.OneWay},
			live.Metric{Name: "parse_failures_total", Help: "Times a parser found no message where one should start.",
				Labels: []string{"protocol", name}, Value: pc.Invalid},
			live.Metric{Name: "lost_stream_bytes_total", Help: "Stream bytes given up because they were lost or truncated.",
				Labels: []string{"protocol", name}, Value: pc.GapBytes},
			live.Metric{Name: "cap_dropped_calls_total", Help: "Calls not aggregated because ProtocolAggCfg's cap was reached.",
				Labels: []string{"protocol", name}, Value: o.agg.capDropped(p)},
			live.Metric{Name: "parser_panics_total", Help: "Parser panics contained to their connection, whose state was dropped.",
				Labels: []string{"protocol", name}, Value: pc.Panics},
			live.Metric{Name: "evicted_connections_total", Help: "Connections forgotten, least recently active first, to stay within the connections tracked.",
				Labels: []string{"protocol", name}, Value: pc.Evicted},
			live.Metric{Name: "unknown_role_events_total", Help: "Data events not parsed because the connection's role could not be told.",
				Labels: []string{"protocol", name}, Value: pc.UnknownRole},
		)
	}
	ms = append(ms, o.tlsMetrics()...)
	slices.SortStableFunc(ms, func(a, b live.Metric) int { return strings.Compare(a.Name, b.Name) })
	return ms
}

// Summary is the accounting for a stop log line, as slog key-value pairs: the events the library
// lost, the connections the filters dropped, the most connections whose calls were tracked at
// once, and for each protocol that saw traffic, the calls recorded and every way a message was
// not (the same counters /metrics serves).
func (o *Observer) Summary() []any {
	c := o.counts
	attrs := []any{"lost_ctrl", c.Lost[abi.CtrlEvents], "lost_data", c.Lost[abi.DataEvents],
		"lost_stats", c.Lost[abi.StatsEvents], "lost_proc", c.Lost[abi.ProcessEvents], "dropped_connections", c.DroppedConnections,
		"connections_peak", o.l7.tracker.Peak()}
	attrs = append(attrs, o.tlsSummary()...)
	for _, p := range o.l7.protocols() {
		pc := o.l7.counters(p)
		capped := o.agg.capDropped(p)
		if o.l7.quiet(p) && capped == 0 {
			continue
		}
		attrs = append(attrs, slog.Group(p.String(), "calls", pc.Calls, "one_way", pc.OneWay, "unmatched_requests", pc.UnmatchedRequests,
			"unmatched_responses", pc.UnmatchedResponses, "parse_failures", pc.Invalid, "lost_stream_bytes", pc.GapBytes,
			"parser_panics", pc.Panics, "evicted_connections", pc.Evicted, "unknown_role_events", pc.UnknownRole,
			"cap_dropped_calls", capped))
	}
	return attrs
}
