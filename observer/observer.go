// Package observer is the input of a pipeline: it drives the capture library through the
// pipeline's life — configure, start, poll, flush records on their intervals, reconfigure, stop
// with a final flush — and decides which sockets and processes are observed.
//
// Events flow from the library's batches into calls.Tracker (L7) and aggregate.Aggregator (L4 and
// L7 records); every L4Interval and L7Interval the aggregated records go to the Sink.
package observer

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/container/netlink"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/observer/aggregate"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/record"
)

// Options are the pipeline settings the observer applies (Common.* and EBPF.* of the config).
type Options struct {
	L4Interval, L7Interval time.Duration
	// Protocols are those whose data the kernel sends and whose calls are recorded:
	// abi.NoProtocols turns L7 off (Common.ProtocolProcess false), L4 only.
	Protocols abi.ProtocolSet
	// Sampling is the percentage of connections whose data is captured.
	Sampling int32
	// PID limits capture to one process; -1 for all.
	PID int32
	// DataBufferPages is each CPU's data event buffer, in pages (a power of two); 0 is 512,
	// iLogtail's size.
	DataBufferPages int32
	// The socket kinds whose traffic is dropped, in the kernel (ebpf_update_conn_addr with drop)
	// and from L4 records.
	DropUnixSocket, DropLocalConnections, DropUnknownSocket bool
	Aggregate                                               aggregate.Config
	Calls                                                   calls.Config
	// Metrics, when set, also receives every call and L4 delta, and the observer's counters.
	Metrics *prometheus.Exporter
	// Resolver names processes and their containers; nil resolves host processes from /proc.
	Resolver *container.Resolver
	// KeepCmdSecrets makes the Resolver made for a nil Resolver show commands unmasked
	// (Common.MaskCmdSecrets: false).
	KeepCmdSecrets bool
	// Filter decides which processes are observed; nil observes all. A process it refuses is
	// switched off in the kernel (ebpf_disable_process) and back on when its pid is reused.
	Filter *container.Filter
	// MetaInterval is how often process and container metadata is pruned and disabled
	// processes are checked for restarts (Common.FlushMetaInterval). Default 30 s.
	MetaInterval time.Duration
	// Netlink, when set, resolves the address and role of connections the kernel side did not
	// learn (family 0xff, role unknown), and pushes them back through the control stubs.
	Netlink *netlink.Resolver
	// NetlinkInterval is how long a connection netlink could not resolve waits before it is
	// asked about again (Common.FlushNetlinkInterval). Default 10 s.
	NetlinkInterval time.Duration
	// GCInterval is how often the kernel connection map is walked for entries whose process or
	// fd is gone (iLogtail: 300 s). Default 300 s.
	GCInterval time.Duration
	// ProcRoot is where /proc is, for the map GC and process names; default "/proc".
	ProcRoot string
	// Recorded: the events come from a recording (replay). Processes are named only from its
	// process events: this host's /proc knows nothing of them.
	Recorded bool
}

// reenableAll is how often every disabled process is switched back on, so that one whose
// metadata changed is judged again, as iLogtail did.
const reenableAll = 30 * time.Minute

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

// Observer runs one pipeline's input. It is driven by one goroutine (Run).
type Observer struct {
	lib     Capture
	opts    Options
	sink    Sink
	tracker *calls.Tracker
	agg     aggregate.Aggregator
	procs   *processes
	// kernel is the process table fed by the library's process events; nil when the library
	// has no process extension (then processes are read from /proc).
	kernel *kernelProcesses
	// disabled maps the processes switched off in the kernel to their start times.
	disabled map[uint32]uint64
	// asked holds the connections netlink was asked about this netlink interval.
	asked   map[abi.ConnID]struct{}
	dropped map[abi.ConnID]struct{}
	counts  Counters
	// capDrops totals the aggregator's per-interval cap drops, per protocol.
	capDrops  map[abi.Protocol]uint64
	published time.Time
	now       func() time.Time
}

// New returns an Observer of lib that writes records to sink. lib must be open and not started.
func New(lib Capture, opts Options, sink Sink) *Observer {
	o := &Observer{
		lib:      lib,
		sink:     sink,
		disabled: make(map[uint32]uint64),
		asked:    make(map[abi.ConnID]struct{}),
		dropped:  make(map[abi.ConnID]struct{}),
		capDrops: make(map[abi.Protocol]uint64),
		now:      time.Now,
	}
	o.agg = aggregate.New(opts.Aggregate)
	if events := lib != nil && lib.ProcessEvents(); events || !opts.Recorded {
		o.kernel = newKernelProcesses(opts, events)
	}
	o.setOptions(opts)
	return o
}

func (o *Observer) setOptions(opts Options) {
	previous := o.opts
	if opts.Resolver == nil {
		fs := container.Procfs{Root: opts.ProcRoot, KeepCmdSecrets: opts.KeepCmdSecrets}
		if opts.Recorded {
			fs.Root = container.NoProcfs.Root
		}
		opts.Resolver = container.NewResolver(fs, nil)
	}
	if opts.MetaInterval <= 0 {
		opts.MetaInterval = 30 * time.Second
	}
	if opts.NetlinkInterval <= 0 {
		opts.NetlinkInterval = 10 * time.Second
	}
	if opts.GCInterval <= 0 {
		opts.GCInterval = 300 * time.Second
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	o.opts = opts
	if o.kernel != nil {
		opts.Resolver.SetProcTable(o.kernel.table)
	}
	if o.procs == nil || previous.Resolver != opts.Resolver {
		o.procs = newProcesses(opts.Resolver)
	}
	// Calls in flight survive a reload that keeps the protocols (the tracker's bounds are not
	// reloaded): their requests were parsed under the old settings, their responses arrive under
	// the new.
	if o.tracker != nil && previous.Protocols == opts.Protocols {
		return
	}
	parsers := calls.Parsers()
	for p := range parsers {
		if !opts.Protocols.Has(p) {
			delete(parsers, p)
		}
	}
	if o.tracker != nil {
		o.tracker.Close()
	}
	callsCfg := opts.Calls
	callsCfg.HostName = o.nameHost
	o.tracker = calls.New(callsCfg, parsers, o.addCall)
}

// configure sends the settings to the library, as iLogtail did before each ebpf_start.
func (o *Observer) configure() error {
	return errors.Join(
		o.lib.SetProtocolFilter(o.opts.Protocols),
		o.lib.SetProcessFilter(o.opts.PID),
		o.lib.SetSampling(o.opts.Sampling),
	)
}

// Start configures the library and starts capture.
func (o *Observer) Start() error {
	pages := o.opts.DataBufferPages
	if pages == 0 {
		pages = 512
	}
	if err := errors.Join(o.configure(), o.lib.SetBufferPages(abi.DataEvents, pages)); err != nil {
		return err
	}
	if o.kernel != nil {
		// What runs now comes from /proc; what starts later, from the events (or the process
		// connector).
		o.counts.ProcessConnectorErr = o.kernel.start(o.opts.ProcRoot, o.opts.Recorded)
	}
	return o.lib.Start()
}

// Reload applies new options: the aggregation state flushes first, then the library is
// reconfigured and started again, as iLogtail did on a config reload. Unlike iLogtail, Sampling
// and PID take effect.
func (o *Observer) Reload(opts Options) error {
	o.flushL7()
	o.flushL4()
	o.enableAll() // the new filter judges every process afresh
	o.agg = aggregate.New(opts.Aggregate)
	o.setOptions(opts)
	if err := o.configure(); err != nil {
		return err
	}
	return o.lib.Start()
}

// Run consumes events and flushes records on the intervals until ctx ends or reload is closed;
// each value received on reload is applied with Reload. On return everything pending has been
// flushed to the sink; the library is stopped.
func (o *Observer) Run(ctx context.Context, reload <-chan Options) error {
	l4 := time.NewTicker(o.opts.L4Interval)
	l7 := time.NewTicker(o.opts.L7Interval)
	expire := time.NewTicker(time.Minute)
	meta := time.NewTicker(o.opts.MetaInterval)
	nl := time.NewTicker(o.opts.NetlinkInterval)
	gc := time.NewTicker(o.opts.GCInterval)
	reenable := time.NewTicker(reenableAll)
	defer func() {
		l4.Stop()
		l7.Stop()
		expire.Stop()
		meta.Stop()
		nl.Stop()
		gc.Stop()
		reenable.Stop()
	}()
	for {
		select {
		case b, ok := <-o.lib.Events():
			if !ok {
				o.finish()
				return nil
			}
			o.consume(b)
		case <-l4.C:
			o.flushL4()
		case <-l7.C:
			o.flushL7()
		case <-expire.C:
			o.tracker.Expire(0)
		case <-meta.C:
			o.pruneProcesses()
		case <-nl.C:
			clear(o.asked) // what netlink could not find may be there now
		case <-gc.C:
			o.collect()
		case <-reenable.C:
			o.enableAll()
		case opts, ok := <-reload:
			if !ok {
				reload = nil
				continue
			}
			// What was captured before the reload belongs to the old settings' intervals:
			// select picks among ready cases at random, so batches may still be waiting.
			o.drain()
			if err := o.Reload(opts); err != nil {
				return err
			}
			l4.Reset(opts.L4Interval)
			l7.Reset(opts.L7Interval)
			meta.Reset(o.opts.MetaInterval)
			nl.Reset(o.opts.NetlinkInterval)
			gc.Reset(o.opts.GCInterval)
		case <-ctx.Done():
			// Connections whose process exited without closing them are reported by the
			// library when deleted from its map: collect them now so that the library's
			// last polls bring their totals into the final records.
			o.collect()
			err := o.stopLibrary()
			o.finish()
			return err
		}
	}
}

// stopLibrary stops the library while consuming the batches its stop drains from the kernel
// buffers (Stop waits for them to be released), then those already polled.
func (o *Observer) stopLibrary() error {
	stopped := make(chan error, 1)
	go func() { stopped <- o.lib.Stop() }()
	events := o.lib.Events()
	for {
		select {
		case b, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			o.consume(b)
		case err := <-stopped:
			o.drain()
			return err
		}
	}
}

// drain consumes the batches already polled.
func (o *Observer) drain() {
	for {
		select {
		case b, ok := <-o.lib.Events():
			if !ok {
				return
			}
			o.consume(b)
		default:
			return
		}
	}
}

func (o *Observer) finish() {
	if o.kernel != nil {
		o.kernel.stop()
	}
	o.tracker.Close()
	o.flushL7()
	o.flushL4()
	if o.opts.Metrics != nil {
		o.publish()
	}
}

func (o *Observer) consume(b *abi.Batch) {
	b.Visit(o)
	o.tracker.EndBatch(b.Drained)
	o.lib.Release(b)
	if o.opts.Metrics != nil && o.now().Sub(o.published) >= time.Second {
		o.publish()
	}
}

// publish hands the observer's counters to the metrics exporter.
func (o *Observer) publish() {
	o.published = o.now()
	lc := o.lib.Counters()
	cs := []prometheus.Counter{
		{Name: "events_total", Help: "Events delivered by the capture library.", Labels: []string{"kind", "ctrl"}, Value: lc.Ctrl},
		{Name: "events_total", Help: "Events delivered by the capture library.", Labels: []string{"kind", "data"}, Value: lc.Data},
		{Name: "events_total", Help: "Events delivered by the capture library.", Labels: []string{"kind", "stats"}, Value: lc.Stats},
		{Name: "dropped_connections_total", Help: "Connections dropped by the socket-kind filters.", Value: o.counts.DroppedConnections},
		{Name: "disabled_processes_total", Help: "Processes switched off in the kernel because the process filters refused them.", Value: o.counts.DisabledProcesses},
		{Name: "netlink_resolved_connections_total", Help: "Connections whose address or role netlink found.", Value: o.counts.Resolved},
		{Name: "collected_map_entries_total", Help: "Kernel map entries deleted because their process or fd was gone.", Value: o.counts.Collected},
	}
	for i, name := range []string{"ctrl", "data", "stats", "proc"} {
		cs = append(cs, prometheus.Counter{Name: "lost_events_total", Help: "Events the capture library could not deliver.",
			Labels: []string{"stream", name}, Value: lc.Lost[i]})
	}
	if o.kernel != nil {
		pc := o.kernel.table.Counters()
		const help = "Processes the process table learned of (exec, fork, exit), or forgot early (evicted: past 65536 exited; refused: past its pid bound)."
		for _, c := range []struct {
			name  string
			value uint64
		}{{"exec", pc.Execs}, {"fork", pc.Forks}, {"exit", pc.Exits}, {"evicted", pc.Evicted}, {"refused", pc.Refused}} {
			cs = append(cs, prometheus.Counter{Name: "process_events_total", Help: help, Labels: []string{"event", c.name}, Value: c.value})
		}
	}
	for _, p := range protocols() {
		pc := o.tracker.Counters(p)
		name := p.String()
		cs = append(cs,
			prometheus.Counter{Name: "unmatched_messages_total", Help: "Requests without a response and responses without a request.",
				Labels: []string{"protocol", name, "message", "request"}, Value: pc.UnmatchedRequests},
			prometheus.Counter{Name: "unmatched_messages_total", Help: "Requests without a response and responses without a request.",
				Labels: []string{"protocol", name, "message", "response"}, Value: pc.UnmatchedResponses},
			prometheus.Counter{Name: "parse_failures_total", Help: "Times a parser found no message where one should start.",
				Labels: []string{"protocol", name}, Value: pc.Invalid},
			prometheus.Counter{Name: "lost_stream_bytes_total", Help: "Stream bytes given up because they were lost or truncated.",
				Labels: []string{"protocol", name}, Value: pc.GapBytes},
			prometheus.Counter{Name: "cap_dropped_calls_total", Help: "Calls not aggregated because ProtocolAggCfg's cap was reached.",
				Labels: []string{"protocol", name}, Value: o.capDrops[p] + o.agg.Dropped(p)},
			prometheus.Counter{Name: "parser_panics_total", Help: "Parser panics contained to their connection, whose state was dropped.",
				Labels: []string{"protocol", name}, Value: pc.Panics},
			prometheus.Counter{Name: "evicted_connections_total", Help: "Connections forgotten, least recently active first, to stay within the connections tracked.",
				Labels: []string{"protocol", name}, Value: pc.Evicted},
			prometheus.Counter{Name: "unknown_role_events_total", Help: "Data events not parsed because the connection's role could not be told.",
				Labels: []string{"protocol", name}, Value: pc.UnknownRole},
		)
	}
	// One family's samples together, as the exposition format wants.
	slices.SortStableFunc(cs, func(a, b prometheus.Counter) int { return strings.Compare(a.Name, b.Name) })
	o.opts.Metrics.SetCounters("observer", cs)
}

// protocols are the protocols with a parser, in order.
func protocols() []abi.Protocol {
	ps := make([]abi.Protocol, 0, 5)
	for p := range calls.Parsers() {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Summary is the accounting for a stop log line, as slog key-value pairs: the events the library
// lost, the connections the filters dropped, the most connections whose calls were tracked at
// once, and for each protocol that saw traffic, the calls recorded and every way a message was
// not (the same counters /metrics serves).
func (o *Observer) Summary() []any {
	c := o.counts
	attrs := []any{"lost_ctrl", c.Lost[abi.CtrlEvents], "lost_data", c.Lost[abi.DataEvents],
		"lost_stats", c.Lost[abi.StatsEvents], "lost_proc", c.Lost[abi.ProcessEvents], "dropped_connections", c.DroppedConnections,
		"connections_peak", o.tracker.Peak()}
	for _, p := range protocols() {
		pc := o.tracker.Counters(p)
		capped := o.capDrops[p] + o.agg.Dropped(p)
		if pc == (calls.Counters{}) && capped == 0 {
			continue
		}
		attrs = append(attrs, slog.Group(p.String(), "calls", pc.Calls, "unmatched_requests", pc.UnmatchedRequests,
			"unmatched_responses", pc.UnmatchedResponses, "parse_failures", pc.Invalid, "lost_stream_bytes", pc.GapBytes,
			"parser_panics", pc.Panics, "evicted_connections", pc.Evicted, "unknown_role_events", pc.UnknownRole,
			"cap_dropped_calls", capped))
	}
	return attrs
}

func (o *Observer) flushL4() {
	if recs := o.agg.FlushL4(uint32(o.now().Unix())); len(recs) > 0 {
		o.sink(recs)
	}
}

func (o *Observer) flushL7() {
	for p := range calls.Parsers() {
		o.capDrops[p] += o.agg.Dropped(p)
	}
	if recs := o.agg.FlushL7(uint32(o.now().Unix())); len(recs) > 0 {
		o.sink(recs)
	}
}

// Counters returns the observer's counts.
func (o *Observer) Counters() Counters { return o.counts }

// Tracker is the L7 state, for its counters.
func (o *Observer) Tracker() *calls.Tracker { return o.tracker }

// Ctrl implements abi.Visitor.
func (o *Observer) Ctrl(ev *abi.CtrlEvent) {
	if !o.allowed(ev.ConnID.TGID) {
		return
	}
	if ev.Type == abi.EventConnect {
		if o.resolve(ev.ConnID, &ev.Addr, ev.Role) || o.drop(ev.ConnID, &ev.Addr) {
			return
		}
		// Read the process while it most likely still runs: short-lived clients are often gone
		// by the time their first call is matched (without the kernel's process events).
		o.procs.get(ev.ConnID.TGID, ev.TS)
	}
	if ev.Type == abi.EventClose {
		delete(o.dropped, ev.ConnID)
		delete(o.asked, ev.ConnID)
	}
	o.tracker.Ctrl(ev)
}

// Data implements abi.Visitor.
func (o *Observer) Data(ev *abi.DataEvent) {
	if !o.allowed(ev.ConnID.TGID) || o.resolve(ev.ConnID, &ev.Addr, ev.Role) || o.drop(ev.ConnID, &ev.Addr) {
		return
	}
	o.tracker.Data(ev)
}

// Stats implements abi.Visitor.
func (o *Observer) Stats(ev *abi.StatsEvent) {
	if !o.allowed(ev.ConnID.TGID) {
		return
	}
	o.tracker.Stats(ev)
	dropped := o.resolve(ev.ConnID, &ev.Addr, ev.Role) || o.drop(ev.ConnID, &ev.Addr)
	if ev.ConnEvents == 1 {
		delete(o.dropped, ev.ConnID)
	}
	if dropped {
		return
	}
	// The connection's start, not the event's time: the final statistics of a connection whose
	// process exited come when the map's collection finds it, maybe after the pid was reused.
	o.agg.AddStats(o.procs.get(ev.ConnID.TGID, ev.ConnID.Start), ev)
	if m := o.opts.Metrics; m != nil {
		m.AddL4(aggregate.RoleName(ev.Role), aggregate.SocketType(ev.Addr), ev.WrBytes-ev.LastWrBytes, ev.RdBytes-ev.LastRdBytes,
			int64(ev.WrPkts-ev.LastWrPkts), int64(ev.RdPkts-ev.LastRdPkts))
	}
}

// Lost implements abi.Visitor.
func (o *Observer) Lost(n abi.LostNotice) {
	if int(n.Which) < len(o.counts.Lost) {
		o.counts.Lost[n.Which] += n.Count
	}
}

// nameHost remembers what a DNS answer named, for remote_host, for as long as its TTL.
func (o *Observer) nameHost(tgid uint32, n parser.HostName) {
	expires := o.now().Add(time.Duration(n.TTL) * time.Second).Unix()
	o.agg.NameHost(o.procs.get(tgid, 0).Group, n.Addr, n.Host, uint32(expires))
}

func (o *Observer) addCall(c *calls.Call) {
	o.agg.AddCall(o.procs.get(c.Conn.TGID, c.RequestTS), c)
	if m := o.opts.Metrics; m != nil {
		m.ObserveCall(c.Protocol.String(), aggregate.RoleName(c.Role), c.Response.Success, time.Duration(c.Latency()), c.Request.Size, c.Response.Size)
	}
}

// maxDropped bounds the dropped connections remembered between their first event and their close.
const maxDropped = 1 << 16

var localAddrs = []netip.Addr{
	netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("127.0.0.1"),
	netip.MustParseAddr("::"), netip.MustParseAddr("::1"), netip.MustParseAddr("::ffff:127.0.0.1"),
}

// drop reports whether a connection's traffic is filtered out by the socket-kind options. The
// first time, it asks the kernel side to stop sending its data and ctrl events, as iLogtail did.
func (o *Observer) drop(id abi.ConnID, addr *abi.SockAddr) bool {
	if _, done := o.dropped[id]; done {
		return true
	}
	if !o.dropsKind(addr) {
		return false
	}
	o.markDropped(id)
	o.lib.UpdateConnAddr(id, *addr, 0, true) // only fails once the library is closed
	return true
}

// dropsKind applies DropUnixSocket, DropLocalConnections and DropUnknownSocket to an address.
func (o *Observer) dropsKind(addr *abi.SockAddr) bool {
	switch addr.Family {
	case abi.FamilyUnix:
		return o.opts.DropUnixSocket
	case abi.FamilyInet, abi.FamilyInet6:
		return o.opts.DropLocalConnections && slices.Contains(localAddrs, addr.Addr())
	case abi.FamilyUnknown:
		return o.opts.DropUnknownSocket
	}
	return false // FamilyUnspec: this event says nothing of the address, so nothing is decided
}

func (o *Observer) markDropped(id abi.ConnID) {
	if len(o.dropped) >= maxDropped {
		clear(o.dropped) // connections that never closed; the kernel keeps dropping them anyway
	}
	o.dropped[id] = struct{}{}
	o.counts.DroppedConnections++
}

// allowed reports whether the filter lets process pid be observed. The first time it refuses a
// process, the kernel side is told to drop all of its events.
func (o *Observer) allowed(pid uint32) bool {
	f := o.opts.Filter
	if f == nil || f.Empty() {
		return true
	}
	if _, off := o.disabled[pid]; off {
		return false // events the kernel sent before it heard
	}
	id, _, err := o.opts.Resolver.LookupAt(pid, 0)
	if err != nil || id.Pending || f.Allows(id) {
		return true // a process gone or not yet known cannot be judged; its events are kept
	}
	o.disabled[pid] = id.StartTime
	o.counts.DisabledProcesses++
	o.lib.DisableProcess(pid) // only fails once the library is closed
	return false
}

// pruneProcesses forgets processes not seen lately and switches back on the disabled pids that
// now belong to new processes.
func (o *Observer) pruneProcesses() {
	if o.kernel != nil && !o.opts.Recorded {
		o.kernel.table.Sweep(container.Procfs{Root: o.opts.ProcRoot})
	}
	for _, pid := range o.opts.Resolver.Prune() {
		delete(o.procs.byID, pid)
	}
	for pid, start := range o.disabled {
		if o.opts.Resolver.Restarted(pid, start) {
			delete(o.disabled, pid)
			o.lib.EnableProcess(pid)
		}
	}
}

// enableAll switches every disabled process back on.
func (o *Observer) enableAll() {
	for pid := range o.disabled {
		o.lib.EnableProcess(pid)
	}
	clear(o.disabled)
}

// maxAsked bounds the connections remembered as asked about within one netlink interval.
const maxAsked = 1 << 16

// resolve asks netlink, once per connection and netlink interval, about a connection whose
// family or role the kernel side did not learn, and pushes the answer back through the control
// stubs, with drop set when the resolved socket is one the filters drop. It reports whether the
// connection is now dropped.
func (o *Observer) resolve(id abi.ConnID, addr *abi.SockAddr, role abi.Role) bool {
	nl := o.opts.Netlink
	if nl == nil || (addr.Family != abi.FamilyUnknown && role != abi.RoleUnknown) {
		return false
	}
	if _, done := o.asked[id]; done {
		return false
	}
	if len(o.asked) >= maxAsked {
		clear(o.asked)
	}
	o.asked[id] = struct{}{}
	sock, err := nl.Lookup(id.TGID, id.FD, addr.Family)
	if err != nil {
		return false // not found: the family stays unknown, DropUnknownSocket decides
	}
	if addr.Family != abi.FamilyUnknown {
		// The kernel side knows the address — for an unconnected UDP socket, each datagram's
		// peer, where sock_diag only says 0.0.0.0:0 — so netlink only brings the role.
		if sock.Role != abi.RoleUnknown && o.lib.UpdateConnRole(id, sock.Role) == nil {
			o.counts.Resolved++
		}
		return false
	}
	remote := sock.SockAddr()
	drop := !noPeer(remote) && o.dropsKind(&remote)
	if sock.Push(o.lib, id, drop) == nil {
		o.counts.Resolved++
	}
	if drop {
		o.markDropped(id)
	}
	return drop
}

// noPeer reports an inet address that names no peer (an unconnected socket's 0.0.0.0:0 or
// [::]:0): not a local connection, only an unknown one.
func noPeer(a abi.SockAddr) bool {
	return (a.Family == abi.FamilyInet || a.Family == abi.FamilyInet6) && a.Port() == 0 && a.Addr().IsUnspecified()
}

// collect deletes the kernel map's entries whose process or fd is gone, as iLogtail did every
// 300 s, DeleteBatch at a time, and returns how many.
func (o *Observer) collect() int {
	keys, err := o.lib.ConnectionKeys()
	if err != nil {
		return 0
	}
	var gone []abi.ConnID
	for _, k := range keys {
		fd := filepath.Join(o.opts.ProcRoot, strconv.FormatUint(uint64(k.TGID), 10), "fd", strconv.FormatInt(int64(k.FD), 10))
		if _, err := os.Lstat(fd); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, abi.ConnID{FD: k.FD, TGID: k.TGID})
		}
	}
	if o.lib.DeleteConnections(gone) != nil {
		return 0
	}
	o.counts.Collected += uint64(len(gone))
	return len(gone)
}

// processes caches the records' view of each process: one aggregate.Process per identity, so a
// container's processes share theirs.
type processes struct {
	resolver *container.Resolver
	byID     map[uint32]processView
}

type processView struct {
	id   *container.Identity
	proc *aggregate.Process
	// epoch is the resolver's Epoch read before the Lookup that returned id.
	epoch uint64
	// until: id names the pid's process from id.Since until this time (0: no end known).
	until uint64
}

func newProcesses(r *container.Resolver) *processes {
	return &processes{resolver: r, byID: make(map[uint32]processView)}
}

// get returns the records' view of the process pid that ran at ts (monotonic ns; 0: the newest).
func (p *processes) get(pid uint32, ts uint64) *aggregate.Process {
	// Every call and stats event asks: an answer is reused until the resolver's epoch moves,
	// without Lookup's lock (a pending one is asked for again: its metadata is on the way), for
	// the times its generation of the pid covers.
	epoch := p.resolver.Epoch()
	v, ok := p.byID[pid]
	if ok && v.id != nil && v.epoch == epoch && !v.id.Pending && (ts == 0 || ts >= v.id.Since) && (v.until == 0 || ts < v.until) {
		return v.proc
	}
	id, until, err := p.resolver.LookupAt(pid, ts)
	if err != nil {
		// Gone before it could be read: a host process known only by its pid.
		if ok {
			return v.proc
		}
		v = processView{proc: aggregate.ProcessOf(container.UnknownProcess(pid))}
		p.byID[pid] = v
		return v.proc
	}
	if ok && v.id == id {
		if v.epoch != epoch || v.until != until {
			v.epoch, v.until = epoch, until
			p.byID[pid] = v
		}
		return v.proc
	}
	v = processView{id: id, proc: aggregate.ProcessOf(id), epoch: epoch, until: until}
	p.byID[pid] = v
	return v.proc
}
