package observer

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/observer/tlsprobe"
	"github.com/netobserver/netobserver/parser"
)

// reenableAll is how often every disabled process is switched back on, so that one whose
// metadata changed is judged again, as iLogtail did.
const reenableAll = 30 * time.Minute

// Observer runs one pipeline's input: the library's events through the stages (admission,
// enrichment, L7, aggregation, control), records to the Sink. It is driven by one goroutine (Run).
type Observer struct {
	lib  Capture
	opts Options

	admit   admission
	procs   *processes
	sockets sockets
	l7      l7
	agg     *aggregation
	control control
	// kernel is the process table fed by the library's process events; nil when the library
	// has no process extension (then processes are read from /proc).
	kernel *kernelProcesses
	// tls attaches the TLS libraries' uprobes; nil when off or impossible.
	tls *tlsprobe.Manager
	// kagg reads the kernel's aggregates (EBPF.KernelAggregation).
	kagg kernelAgg

	counts    Counters
	published time.Time
	now       func() time.Time
}

// New returns an Observer of lib that writes records to sink. lib must be open and not started.
func New(lib Capture, opts Options, sink Sink) *Observer {
	o := &Observer{
		lib: lib,
		admit: admission{
			disabled: make(map[uint32]uint64),
			dropped:  make(map[abi.ConnID]struct{}),
		},
		sockets: sockets{asked: make(map[abi.ConnID]struct{})},
		now:     time.Now,
	}
	o.control = control{lib: lib, counts: &o.counts}
	o.admit.control, o.admit.counts = &o.control, &o.counts
	o.agg = newAggregation(opts.Aggregate, sink, opts.Live)
	if events := lib != nil && lib.ProcessEvents(); events || !opts.Recorded {
		o.kernel = newKernelProcesses(opts, events)
	}
	o.setOptions(opts)
	return o
}

func (o *Observer) setOptions(opts Options) {
	previous := o.opts
	if opts.Identities == nil {
		fs := container.Procfs{Root: opts.ProcRoot, KeepCmdSecrets: opts.KeepCmdSecrets}
		if opts.Recorded {
			fs.Root = container.NoProcfs.Root
		}
		opts.Identities = container.NewIdentities(fs, nil)
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
		opts.Identities.SetProcTable(o.kernel.table)
	}
	if o.procs == nil || previous.Identities != opts.Identities {
		o.procs = newProcesses(opts.Identities)
	}
	o.admit.filter, o.admit.procs = opts.Filter, o.procs
	o.admit.kinds = socketKinds{unix: opts.DropUnixSocket, local: opts.DropLocalConnections, unknown: opts.DropUnknownSocket}
	o.sockets.netlink = opts.Netlink
	o.control.procRoot = opts.ProcRoot
	o.l7.configure(opts, o.addCall, o.nameHost)
}

// configure sends the settings to the library, as iLogtail did before each ebpf_start.
func (o *Observer) configure() error {
	return errors.Join(
		o.lib.SetProtocolFilter(o.opts.Protocols),
		o.lib.SetProcessFilter(o.opts.PID),
		o.lib.SetSampling(o.opts.Sampling),
		o.kagg.configure(o.lib, o.opts.KernelAggregation),
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
	if err := o.lib.Start(); err != nil {
		return err
	}
	// The second read of /proc runs beside the TLS probes' scan: it calls nothing of the
	// library, which a poll in progress holds.
	reseeded := make(chan struct{})
	go func() {
		defer close(reseeded)
		if o.kernel != nil {
			o.kernel.seedAttached(o.opts.ProcRoot, o.opts.Recorded)
		}
	}()
	o.startTLS()
	<-reseeded
	// What the start parsed (the process table from /proc, every running executable's symbols
	// for the TLS probes) is garbage now: returned at once, not by the runtime's background
	// scavenger over the first minutes, where it was 11 % of an idle observer's CPU samples.
	debug.FreeOSMemory()
	return nil
}

// Reload applies new options: the aggregation state flushes first, then the library is
// reconfigured and started again, as iLogtail did on a config reload. Unlike iLogtail, Sampling
// and PID take effect.
func (o *Observer) Reload(opts Options) error {
	o.flushL7()
	o.flushL4()
	o.admit.enableAll() // the new filter judges every process afresh
	o.control.perform()
	o.agg.reset(opts.Aggregate, opts.Live)
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
	// beat publishes the counters even when no batch comes: the health endpoints take them as
	// the sign that this loop runs.
	beat := time.NewTicker(time.Second)
	defer func() {
		l4.Stop()
		l7.Stop()
		expire.Stop()
		meta.Stop()
		nl.Stop()
		gc.Stop()
		reenable.Stop()
		beat.Stop()
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
			o.catchUp()
			o.flushL4()
		case <-l7.C:
			o.catchUp()
			o.flushL7()
		case <-expire.C:
			o.l7.expire()
		case <-meta.C:
			o.pruneProcesses()
		case <-nl.C:
			o.sockets.expire()
		case <-gc.C:
			o.collect()
		case <-reenable.C:
			o.admit.enableAll()
			o.control.perform()
		case <-beat.C:
			o.catchUp()
			o.l7.rest(o.opts.Recorded)
			if o.opts.Live != nil {
				o.publish()
			}
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

// catchUp consumes what the kernel buffers hold now: on a quiet host the poller sleeps up to a
// second (libebpf's IdleInterval), and what came meanwhile belongs in this flush and these
// counters.
func (o *Observer) catchUp() {
	o.drain()
	o.lib.PollNow()
	o.drain()
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
	o.stopTLS()
	o.l7.close()
	o.kagg.detached = true // finish runs once the library stopped
	o.flushL7()
	o.flushL4()
	if o.opts.Live != nil {
		o.publish()
	}
}

// consume runs one batch through the stages, then tells the kernel side what they decided.
func (o *Observer) consume(b *abi.Batch) {
	b.Visit(o)
	o.l7.endBatch(b.Drained)
	o.lib.Release(b)
	o.control.perform()
	if o.opts.Live != nil && o.now().Sub(o.published) >= time.Second {
		o.publish()
	}
}

func (o *Observer) flushL4() { o.agg.flushL4(o.now()) }

// collect runs the kernel connection map's GC; the kernel aggregation then forgets the
// connections no longer in the map, whose close it may never hear of (a lost event).
func (o *Observer) collect() {
	if alive, ok := o.control.collect(); ok {
		o.kagg.sweep(alive)
	}
}

// flushL7 first adds the calls the kernel aggregated since the last flush.
func (o *Observer) flushL7() {
	o.readKernelAggregates()
	o.agg.flushL7(o.now())
}

// pruneProcesses forgets processes not seen lately and switches back on the disabled pids that
// now belong to new processes.
func (o *Observer) pruneProcesses() {
	if o.kernel != nil && !o.opts.Recorded {
		o.kernel.table.Sweep(container.Procfs{Root: o.opts.ProcRoot})
	}
	o.procs.forget(o.opts.Identities.Prune())
	o.admit.reenableRestarted(o.opts.Identities)
	o.control.perform()
}

// Ctrl implements abi.Visitor.
func (o *Observer) Ctrl(ev *abi.CtrlEvent) {
	if ev.Type == abi.EventClose {
		o.kagg.closed(ev.ConnID) // whatever the filters say: its kernel entries must go
	}
	if !o.admit.process(ev.ConnID.TGID) {
		return
	}
	if ev.Type == abi.EventConnect {
		observed := o.socketObserved(ev.ConnID, &ev.Addr, ev.Role)
		o.kagg.seen(ev.ConnID, &ev.Addr)
		if !observed {
			return
		}
		// Read the process while it most likely still runs: short-lived clients are often gone
		// by the time their first call is matched (without the kernel's process events).
		o.procs.get(ev.ConnID.TGID, ev.TS)
	}
	if ev.Type == abi.EventClose {
		o.admit.closed(ev.ConnID)
		o.sockets.closed(ev.ConnID)
	}
	o.l7.ctrl(ev)
}

// Data implements abi.Visitor.
func (o *Observer) Data(ev *abi.DataEvent) {
	if !o.admit.process(ev.ConnID.TGID) || !o.socketObserved(ev.ConnID, &ev.Addr, ev.Role) {
		return
	}
	o.l7.data(ev)
}

// Stats implements abi.Visitor.
func (o *Observer) Stats(ev *abi.StatsEvent) {
	if ev.ConnEvents == 1 {
		o.kagg.closed(ev.ConnID)
	}
	if !o.admit.process(ev.ConnID.TGID) {
		return
	}
	o.l7.stats(ev)
	observed := o.socketObserved(ev.ConnID, &ev.Addr, ev.Role)
	o.kagg.seen(ev.ConnID, &ev.Addr)
	if ev.ConnEvents == 1 {
		o.admit.closed(ev.ConnID)
	}
	if !observed {
		return
	}
	// The connection's start, not the event's time: the final statistics of a connection whose
	// process exited come when the map's collection finds it, maybe after the pid was reused.
	o.agg.stats(o.procs.get(ev.ConnID.TGID, ev.ConnID.Start), ev)
}

// Lost implements abi.Visitor.
func (o *Observer) Lost(n abi.LostNotice) {
	if int(n.Which) < len(o.counts.Lost) {
		o.counts.Lost[n.Which] += n.Count
	}
}

// socketObserved fixes up, through netlink, a connection whose family or role the kernel side did
// not learn (the answer goes back to the kernel side, with drop set when the socket is one the
// filters drop), then applies the socket-kind filters.
func (o *Observer) socketObserved(id abi.ConnID, addr *abi.SockAddr, role abi.Role) bool {
	if o.sockets.netlink != nil && (addr.Family == abi.FamilyUnknown || role == abi.RoleUnknown) && !o.fixSocket(id, addr, role) {
		return false
	}
	return o.admit.socket(id, addr)
}

// fixSocket is socketObserved's netlink part, apart so that the events that need none (nearly
// all) do not pay for a netlink.Socket on the stack: false when the socket is one the filters
// drop.
func (o *Observer) fixSocket(id abi.ConnID, addr *abi.SockAddr, role abi.Role) bool {
	if sock, ok := o.sockets.lookup(id, addr, role); ok {
		if addr.Family != abi.FamilyUnknown {
			// The kernel side knows the address — for an unconnected UDP socket, each datagram's
			// peer, where sock_diag only says 0.0.0.0:0 — so netlink only brings the role.
			if sock.Role != abi.RoleUnknown {
				o.control.pushRole(id, sock.Role)
			}
		} else {
			remote := sock.SockAddr()
			drop := !noPeer(remote) && o.admit.kinds.drops(&remote)
			o.control.pushSocket(id, sock, drop)
			if drop {
				o.admit.markDropped(id)
				return false
			}
		}
	}
	return true
}

// nameHost remembers what a DNS answer named, for remote_host, for as long as its TTL.
func (o *Observer) nameHost(tgid uint32, n parser.HostName) {
	expires := o.now().Add(time.Duration(n.TTL) * time.Second).Unix()
	o.agg.nameHost(o.procs.get(tgid, 0).Group, n, expires)
}

// addCall takes a call from the L7 stage to the aggregation stage.
func (o *Observer) addCall(c *calls.Call) {
	o.agg.call(o.procs.get(c.Conn.TGID, c.RequestTS), c)
}
