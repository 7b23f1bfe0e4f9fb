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
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/export/record"
	"github.com/netobserver/netobserver/observer/aggregate"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser/dns"
)

// Options are the pipeline settings the observer applies (Common.* and EBPF.* of the config).
type Options struct {
	L4Interval, L7Interval time.Duration
	// Protocols are those whose data the kernel sends and whose calls are recorded:
	// libebpf.NoProtocols turns L7 off (Common.ProtocolProcess false), L4 only.
	Protocols libebpf.ProtocolSet
	// Sampling is the percentage of connections whose data is captured.
	Sampling int32
	// PID limits capture to one process; -1 for all.
	PID int32
	// The socket kinds whose traffic is dropped, in the kernel (ebpf_update_conn_addr with drop)
	// and from L4 records.
	DropUnixSocket, DropLocalConnections, DropUnknownSocket bool
	Aggregate                                               aggregate.Config
	Calls                                                   calls.Config
	// Metrics, when set, also receives every call and L4 delta, and the observer's counters.
	Metrics *prometheus.Exporter
}

// Sink receives the records of each interval.
type Sink func([]record.Record)

// Counters are the observer's own counts since it started.
type Counters struct {
	// DroppedConnections: connections dropped by the socket-kind filters.
	DroppedConnections uint64
	// Lost: events the library reported lost, per stream.
	Lost [3]uint64
}

// Observer runs one pipeline's input. It is driven by one goroutine (Run).
type Observer struct {
	lib     *libebpf.Library
	opts    Options
	sink    Sink
	tracker *calls.Tracker
	agg     aggregate.Aggregator
	procs   *processes
	dropped map[libebpf.ConnID]struct{}
	counts  Counters
	// capDrops totals the aggregator's per-interval cap drops, per protocol.
	capDrops  map[libebpf.Protocol]uint64
	published time.Time
	now       func() time.Time
}

// New returns an Observer of lib that writes records to sink. lib must be open and not started.
func New(lib *libebpf.Library, opts Options, sink Sink) *Observer {
	o := &Observer{
		lib:      lib,
		sink:     sink,
		procs:    newProcesses(container.Procfs{}),
		dropped:  make(map[libebpf.ConnID]struct{}),
		capDrops: make(map[libebpf.Protocol]uint64),
		now:      time.Now,
	}
	o.setOptions(opts)
	return o
}

func (o *Observer) setOptions(opts Options) {
	o.opts = opts
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
	callsCfg.DNSAnswer = o.nameHost
	o.tracker = calls.New(callsCfg, parsers, o.addCall)
	if o.agg == nil {
		o.agg = aggregate.New(opts.Aggregate)
	}
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
	if err := errors.Join(o.configure(), o.lib.SetBufferPages(libebpf.DataEvents, 512)); err != nil {
		return err
	}
	return o.lib.Start()
}

// Reload applies new options: the aggregation state flushes first, then the library is
// reconfigured and started again, as iLogtail did on a config reload. Unlike iLogtail, Sampling
// and PID take effect.
func (o *Observer) Reload(opts Options) error {
	o.flushL7()
	o.flushL4()
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
	defer func() { l4.Stop(); l7.Stop(); expire.Stop() }()
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
			o.procs.prune()
		case opts, ok := <-reload:
			if !ok {
				reload = nil
				continue
			}
			if err := o.Reload(opts); err != nil {
				return err
			}
			l4.Reset(opts.L4Interval)
			l7.Reset(opts.L7Interval)
		case <-ctx.Done():
			err := o.lib.Stop()
			o.drain()
			o.finish()
			return err
		}
	}
}

// drain consumes the batches polled before the library stopped.
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
	o.tracker.Close()
	o.flushL7()
	o.flushL4()
	if o.opts.Metrics != nil {
		o.publish()
	}
}

func (o *Observer) consume(b *libebpf.Batch) {
	b.Visit(o)
	o.tracker.EndBatch()
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
	}
	for i, name := range []string{"ctrl", "data", "stats"} {
		cs = append(cs, prometheus.Counter{Name: "lost_events_total", Help: "Events the capture library could not deliver.",
			Labels: []string{"stream", name}, Value: lc.Lost[i]})
	}
	protocols := make([]libebpf.Protocol, 0, 5)
	for p := range calls.Parsers() {
		protocols = append(protocols, p)
	}
	slices.Sort(protocols)
	for _, p := range protocols {
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
		)
	}
	// One family's samples together, as the exposition format wants.
	slices.SortStableFunc(cs, func(a, b prometheus.Counter) int { return strings.Compare(a.Name, b.Name) })
	o.opts.Metrics.SetCounters("observer", cs)
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

// Ctrl implements libebpf.Visitor.
func (o *Observer) Ctrl(ev *libebpf.CtrlEvent) {
	if ev.Type == libebpf.EventConnect {
		if o.drop(ev.ConnID, ev.Addr) {
			return
		}
		// Read the process while it most likely still runs: short-lived clients are often gone
		// by the time their first call is matched.
		o.procs.get(ev.ConnID.TGID)
	}
	if ev.Type == libebpf.EventClose {
		delete(o.dropped, ev.ConnID)
	}
	o.tracker.Ctrl(ev)
}

// Data implements libebpf.Visitor.
func (o *Observer) Data(ev *libebpf.DataEvent) {
	if o.drop(ev.ConnID, ev.Addr) {
		return
	}
	o.tracker.Data(ev)
}

// Stats implements libebpf.Visitor.
func (o *Observer) Stats(ev *libebpf.StatsEvent) {
	dropped := o.drop(ev.ConnID, ev.Addr)
	if ev.ConnEvents == 1 {
		delete(o.dropped, ev.ConnID)
	}
	if dropped {
		return
	}
	o.agg.AddStats(o.procs.get(ev.ConnID.TGID), ev)
	if m := o.opts.Metrics; m != nil {
		m.AddL4(aggregate.RoleName(ev.Role), aggregate.SocketType(ev.Addr), ev.WrBytes-ev.LastWrBytes, ev.RdBytes-ev.LastRdBytes,
			int64(ev.WrPkts-ev.LastWrPkts), int64(ev.RdPkts-ev.LastRdPkts))
	}
}

// Lost implements libebpf.Visitor.
func (o *Observer) Lost(n libebpf.LostNotice) {
	if int(n.Which) < len(o.counts.Lost) {
		o.counts.Lost[n.Which] += n.Count
	}
}

// nameHost remembers what a DNS answer named, for remote_host, for as long as its TTL.
func (o *Observer) nameHost(tgid uint32, question string, r dns.AddrRecord) {
	expires := o.now().Add(time.Duration(r.TTL) * time.Second).Unix()
	o.agg.NameHost(o.procs.get(tgid).Group, r.Addr, question, uint32(expires))
}

func (o *Observer) addCall(c *calls.Call) {
	o.agg.AddCall(o.procs.get(c.Conn.TGID), c)
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
func (o *Observer) drop(id libebpf.ConnID, addr libebpf.SockAddr) bool {
	if _, done := o.dropped[id]; done {
		return true
	}
	drop := false
	switch addr.Family {
	case libebpf.FamilyUnix:
		drop = o.opts.DropUnixSocket
	case libebpf.FamilyInet, libebpf.FamilyInet6:
		if o.opts.DropLocalConnections {
			for _, l := range localAddrs {
				if addr.Addr() == l {
					drop = true
				}
			}
		}
	case libebpf.FamilyUnknown:
		drop = o.opts.DropUnknownSocket
	} // FamilyUnspec: this event says nothing of the address, so nothing is decided
	if !drop {
		return false
	}
	if len(o.dropped) >= maxDropped {
		clear(o.dropped) // connections that never closed; the kernel keeps dropping them anyway
	}
	o.dropped[id] = struct{}{}
	o.counts.DroppedConnections++
	o.lib.UpdateConnAddr(id, addr, 0, true) // only fails once the library is closed
	return true
}

// processes caches the records' view of each process.
type processes struct {
	fs   container.Procfs
	byID map[uint32]*processEntry
}

type processEntry struct {
	proc *aggregate.Process
	used bool
}

func newProcesses(fs container.Procfs) *processes {
	return &processes{fs: fs, byID: make(map[uint32]*processEntry)}
}

func (p *processes) get(pid uint32) *aggregate.Process {
	if e := p.byID[pid]; e != nil {
		e.used = true
		return e.proc
	}
	id := strconv.FormatUint(uint64(pid), 10)
	cmd := ""
	if proc, err := p.fs.Process(pid); err == nil {
		cmd = proc.Cmd
	}
	e := &processEntry{used: true, proc: &aggregate.Process{Group: "pid:" + id, Meta: []record.Field{
		{Key: "_process_pid_", Value: id}, {Key: "_process_cmd_", Value: cmd}, {Key: "_running_mode_", Value: "host"},
	}}}
	p.byID[pid] = e
	return e.proc
}

// prune forgets processes not seen since the previous prune (pids get reused).
func (p *processes) prune() {
	for pid, e := range p.byID {
		if !e.used {
			delete(p.byID, pid)
		}
		e.used = false
	}
}
