package observer

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/aggregate"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/redis"
)

// kernelAggCapture is a Capture with the kernel aggregation extension (our libebpf.so).
type kernelAggCapture interface {
	KernelAggregation(mask uint32) error
	ReadAggregates(visit func(*abi.AggEntry)) ([]uint64, error)
	DeleteAggregates([]abi.AggKey) (int, error)
}

// maxAggConns bounds the open connections whose address the kernel aggregation keeps: a
// connection past it is not remembered, and its calls wait in the kernel until its close and
// final statistics bring the address.
const maxAggConns = 1 << 17

// KernelAggCounters count what became of the calls the kernel aggregated, and the kernel's own
// counters (abi.AggCounter: connections that fell back to capture per reason, calls lost).
type KernelAggCounters struct {
	// Calls: calls added to the records. Filtered: calls of processes or sockets the filters
	// drop. Unattributed: calls of connections that closed before their address was known.
	Calls, Filtered, Unattributed uint64
	// Deleted: kernel entries deleted after their connection closed. ReadErrors: failed reads.
	Deleted, ReadErrors uint64
	// Untracked: connections not remembered past maxAggConns. Swept: connections found gone
	// from the kernel's connection map without their close heard of.
	Untracked, Swept uint64
	Kernel           [abi.AggNumCounters]uint64
}

// aggSeen is what the last read added of an entry: its cumulative values, the histogram's
// non-zero buckets only (an entry's latencies span a few of its buckets).
type aggSeen struct {
	count, latency, reqBytes, respBytes uint64
	latencies                           []aggBucket
}

type aggBucket struct {
	bucket uint16
	n      uint32
}

// aggConn is what the events said of a connection whose calls the kernel may aggregate.
type aggConn struct {
	addr   abi.SockAddr // FamilyUnspec until a connect or stats event gives it
	closed bool
	// readAfterClose: a read came after the close. Its entries go at the next read: a syscall
	// that was running at the close may still add to them (bpf/README.md, Kernel aggregation),
	// and an entry deleted meanwhile would come back with no connection to name it.
	readAfterClose bool
}

// kernelAgg reads the kernel's cumulative aggregates at each L7 flush and adds what changed to
// the records as calls of their connections.
type kernelAgg struct {
	lib   kernelAggCapture // nil: off
	mask  uint32
	last  map[abi.AggKey]*aggSeen
	conns map[abi.ConnID]*aggConn
	// closing: entries of closed connections, deleted in the kernel once read.
	closing []abi.AggKey
	// sums and cells: scratch of the read.
	sums  aggregate.CallSums
	cells []aggBucket
	// detached: the library stopped, so no syscall adds to an entry any more.
	detached bool
	counts   KernelAggCounters
	// names interns Redis methods (a few hundred at most: the parser's tables).
	names *parser.Interner
}

// configure asks the library for the aggregation of ps (none: off); the library must have the
// extension when ps is not empty.
func (k *kernelAgg) configure(lib Capture, ps []abi.Protocol) error {
	mask := uint32(abi.ProtocolsOf(ps...))
	ext, ok := lib.(kernelAggCapture)
	if !ok {
		if mask != 0 {
			return errors.New("EBPF.KernelAggregation: the capture library has no kernel aggregation extension (Alibaba's libebpf.so, or an older build of ours): remove the key or use netobserver's libebpf.so")
		}
		return nil
	}
	if mask == 0 && k.lib == nil {
		return nil
	}
	if k.lib != nil && mask != k.mask {
		// Off, the kernel would forget the requests it holds pending: calls lost, uncounted.
		return errors.New("EBPF.KernelAggregation cannot change at a reload (turning it off would lose the calls the kernel holds pending): restart to change it")
	}
	if err := ext.KernelAggregation(mask); err != nil {
		if errors.Is(err, syscall.ENOSYS) {
			return fmt.Errorf("EBPF.KernelAggregation: the capture library has no kernel aggregation extension (Alibaba's libebpf.so): %w", err)
		}
		if errors.Is(err, syscall.EOPNOTSUPP) {
			return fmt.Errorf("EBPF.KernelAggregation: the library did not load the mode: it needs the tp_btf hook set with bpf_loop (Linux 5.17+; the library's log says which set loaded), and the key at start (a reload cannot turn it on; restart): %w", err)
		}
		return fmt.Errorf("EBPF.KernelAggregation: %w", err)
	}
	// Once on, it stays on until the end: its entries are read until then.
	if k.lib == nil {
		k.lib = ext
		k.last = make(map[abi.AggKey]*aggSeen)
		k.conns = make(map[abi.ConnID]*aggConn)
		k.names = parser.NewInterner(4096)
	}
	k.mask = mask
	return nil
}

// seen remembers the address of a connection, as its connect and stats events give it.
func (k *kernelAgg) seen(id abi.ConnID, addr *abi.SockAddr) {
	if k.lib == nil || addr.Family == abi.FamilyUnspec {
		return
	}
	if c := k.conn(id, false); c != nil {
		c.addr = *addr
	}
}

// closed marks a connection that ended: its entries are read twice more, then deleted.
func (k *kernelAgg) closed(id abi.ConnID) {
	if k.lib == nil {
		return
	}
	// Past the bound too: the next read forgets it, and its entries must not stay in the
	// kernel for good.
	k.conn(id, true).closed = true
}

// sweep marks closed the connections whose (process, fd) the kernel's connection map no longer
// holds (alive: its keys after the GC): their close was not heard of (a lost event, an LRU
// eviction), and their entries would otherwise stay in the kernel for good. The entries read
// so far are all of connections that existed before alive was listed.
func (k *kernelAgg) sweep(alive []abi.ConnKey) {
	if k.lib == nil {
		return
	}
	live := make(map[abi.ConnKey]struct{}, len(alive))
	for _, a := range alive {
		live[a] = struct{}{}
	}
	sweep := func(id abi.ConnID) {
		if _, ok := live[abi.ConnKey{TGID: id.TGID, FD: id.FD}]; ok {
			return
		}
		if c := k.conn(id, true); !c.closed {
			c.closed = true
			k.counts.Swept++
		}
	}
	for key := range k.last {
		sweep(key.Conn)
	}
	for id := range k.conns {
		sweep(id)
	}
}

// conn is id's state, added if new and within the bound (always when closing).
func (k *kernelAgg) conn(id abi.ConnID, closing bool) *aggConn {
	c := k.conns[id]
	if c == nil {
		if len(k.conns) >= maxAggConns && !closing {
			k.counts.Untracked++
			return nil
		}
		c = &aggConn{}
		k.conns[id] = c
	}
	return c
}

// readKernelAggregates adds what the kernel counted since the last read as calls; o supplies
// the filters and the aggregation. Entries of connections closed before the previous read are
// deleted once read (all closed ones once the library is detached); so are the connections.
func (o *Observer) readKernelAggregates() {
	k := &o.kagg
	if k.lib == nil {
		return
	}
	k.closing = k.closing[:0]
	counters, err := k.lib.ReadAggregates(o.addKernelEntry)
	if err != nil {
		// The entries visited before the error are added; the rest come with the next read.
		k.counts.ReadErrors++
		return
	}
	copy(k.counts.Kernel[:], counters)
	if len(k.closing) > 0 {
		if deleted, err := k.lib.DeleteAggregates(k.closing); err != nil {
			k.counts.ReadErrors++
		} else {
			k.counts.Deleted += uint64(deleted)
		}
		for i := range k.closing {
			delete(k.last, k.closing[i])
		}
	}
	for id, c := range k.conns {
		if c.closed && (c.readAfterClose || k.detached) {
			delete(k.conns, id)
		} else if c.closed {
			c.readAfterClose = true
		}
	}
}

// addKernelEntry adds what entry e counted since the last read, through the filters a captured
// call passes.
func (o *Observer) addKernelEntry(e *abi.AggEntry) {
	k := &o.kagg
	prev, seen := k.last[e.AggKey]
	if !seen {
		prev = &aggSeen{}
	}
	c := k.conns[e.Conn]
	closed := c != nil && c.closed
	if closed && (c.readAfterClose || k.detached) {
		k.closing = append(k.closing, e.AggKey)
	}
	n := e.Count - prev.count
	if n == 0 && e.ReqBytes == prev.reqBytes && e.RespBytes == prev.respBytes {
		return
	}
	// A response still being sent adds bytes to its call after the call was counted: they
	// wait for the key's next call or the connection's close, so that a record never has
	// bytes without calls that capture would have put in the next interval's.
	if n == 0 && !closed {
		return
	}
	// The filters a captured call passes: the process's, then the socket kind's (as
	// admission.socket, without its side effects: the connection may be closed).
	addressed := c != nil && c.addr.Family != abi.FamilyUnspec
	k.latencyGrowth(e, prev)
	switch {
	case !o.admit.process(e.Conn.TGID) || o.admit.isDropped(e.Conn):
		k.counts.Filtered += n
	case !closed && (!addressed || c.addr.Family == abi.FamilyUnknown):
		// The address (or netlink's answer for it) comes with a later event of the
		// connection, at the latest with its final statistics; sweep finds it if neither
		// comes.
		if c == nil {
			k.conn(e.Conn, false)
		}
		return
	case !addressed:
		k.counts.Unattributed += n
	case o.admit.kinds.drops(&c.addr):
		k.counts.Filtered += n
	default:
		k.sums = aggregate.CallSums{N: n, Latency: e.LatencyNs - prev.latency,
			ReqBytes: e.ReqBytes - prev.reqBytes, RespBytes: e.RespBytes - prev.respBytes, Buckets: k.sums.Buckets}
		o.addKernelCalls(e, c.addr, &k.sums)
	}
	if !seen {
		k.last[e.AggKey] = prev
	}
	prev.count, prev.latency, prev.reqBytes, prev.respBytes = e.Count, e.LatencyNs, e.ReqBytes, e.RespBytes
	// Kept sized to the buckets (append would round the array up).
	if cap(prev.latencies) < len(k.cells) {
		prev.latencies = make([]aggBucket, 0, len(k.cells))
	}
	prev.latencies = append(prev.latencies[:0], k.cells...)
}

// latencyGrowth puts in k.sums.Buckets how many latencies each of e's histogram buckets gained
// since prev (modulo 2^32: a bucket's count wraps), and in k.cells e's non-zero buckets: one pass.
func (k *kernelAgg) latencyGrowth(e *abi.AggEntry, prev *aggSeen) {
	k.sums.Buckets, k.cells = k.sums.Buckets[:0], k.cells[:0]
	p := prev.latencies
	for i, n := range e.Latencies {
		if n == 0 {
			continue
		}
		k.cells = append(k.cells, aggBucket{uint16(i), n})
		for len(p) > 0 && int(p[0].bucket) < i {
			p = p[1:]
		}
		if len(p) > 0 && int(p[0].bucket) == i {
			n -= p[0].n
		}
		if n != 0 {
			k.sums.Buckets = append(k.sums.Buckets, aggregate.BucketCount{Bucket: abi.AggHistFirst + i, N: n})
		}
	}
}

// httpMethods are the kernel's method numbers' names (netobserver_agg_key.method).
var httpMethods = [...]string{1: "GET", 2: "POST", 3: "PUT", 4: "HEAD", 5: "PATCH", 6: "DELETE", 7: "OPTIONS"}

// addKernelCalls adds the calls s of e's key, with the fields the protocol's parser would have
// given the same calls.
func (o *Observer) addKernelCalls(e *abi.AggEntry, remote abi.SockAddr, s *aggregate.CallSums) {
	c := calls.Call{Conn: e.Conn, Protocol: abi.ProtoHTTP, Role: e.Role, Remote: remote}
	if e.Protocol == abi.ProtoRedis {
		// The kernel's name and subcommand are unchecked: the parser's tables judge them.
		req := redis.Message{Type: parser.Request, Method: redis.KernelMethod(o.kagg.names, []byte(e.Path), []byte(e.Host))}
		resp := redis.Message{Type: parser.Response, Success: e.Status != '-' && e.Status != '!'}
		c.Protocol, c.Exchange = abi.ProtoRedis, parser.Pair(redis.Protocol, req, resp)
	} else {
		method := ""
		if e.Method > 0 && e.Method < len(httpMethods) {
			method = httpMethods[e.Method]
		}
		version := "1.1"
		if e.Version == 0 {
			version = "1.0"
		}
		req := http.Message{Type: parser.Request, Method: method, Host: e.Host, Resource: string(http.Path([]byte(e.Path))), Version: version}
		resp := http.Message{Type: parser.Response, Status: e.Status, Success: e.Status < 400}
		c.Exchange = parser.Pair(http.Protocol, req, resp)
	}
	o.agg.calls(o.procs.get(e.Conn.TGID, e.Conn.Start), &c, s)
	o.kagg.counts.Calls += s.N
}

// unanswered is how many requests of p the kernel aggregated were never answered: their
// connection ended first, or the stop came first.
func (k *kernelAgg) unanswered(p abi.Protocol) uint64 {
	switch p {
	case abi.ProtoHTTP:
		return k.counts.Kernel[abi.AggUnanswered] + k.counts.Kernel[abi.AggPendingAtStop]
	case abi.ProtoRedis:
		return k.counts.Kernel[abi.AggUnansweredRedis] + k.counts.Kernel[abi.AggPendingAtStopRedis]
	}
	return 0
}

// unansweredAll is unanswered of every protocol the kernel aggregates.
func (k *kernelAgg) unansweredAll() uint64 {
	return k.unanswered(abi.ProtoHTTP) + k.unanswered(abi.ProtoRedis)
}

// protocolCounters are protocol p's call counters, with the requests the kernel aggregated and
// no response answered counted unmatched, as capture counts them.
func (o *Observer) protocolCounters(p abi.Protocol) calls.Counters {
	c := o.l7.counters(p)
	c.UnmatchedRequests += o.kagg.unanswered(p)
	return c
}

// KernelAggCounters returns the kernel aggregation's counts (all zero when it was never on).
func (o *Observer) KernelAggCounters() KernelAggCounters { return o.kagg.counts }

func (o *Observer) kernelAggMetrics() []live.Metric {
	if o.kagg.lib == nil {
		return nil
	}
	c := &o.kagg.counts
	const pendingHelp = "Requests the kernel held pending that became no call it counted, by fate: exported (their connection fell back to capture: sent as the events capture would have sent, and recorded from them), lost (the same, but neither counted nor captured), unanswered (their connection ended, or the observer stopped, before a response: counted in unmatched_messages_total{protocol=\"http\" or \"redis\",message=\"request\"} too, as capture counts them)."
	const callsHelp = "Calls the kernel aggregated (EBPF.KernelAggregation), by fate: recorded; filtered (their process or socket kind is filtered out); unattributed (their connection closed with no address known: lost)."
	ms := []live.Metric{
		{Name: "kernel_aggregated_calls_total", Help: callsHelp, Labels: []string{"fate", "recorded"}, Value: c.Calls},
		{Name: "kernel_aggregated_calls_total", Help: callsHelp, Labels: []string{"fate", "filtered"}, Value: c.Filtered},
		{Name: "kernel_aggregated_calls_total", Help: callsHelp, Labels: []string{"fate", "unattributed"}, Value: c.Unattributed},
		{Name: "kernel_aggregation_pending_calls_total", Help: pendingHelp, Labels: []string{"fate", "exported"}, Value: c.Kernel[abi.AggPendingExported]},
		{Name: "kernel_aggregation_pending_calls_total", Help: pendingHelp, Labels: []string{"fate", "lost"}, Value: c.Kernel[abi.AggLostCalls]},
		{Name: "kernel_aggregation_pending_calls_total", Help: pendingHelp, Labels: []string{"fate", "unanswered"}, Value: o.kagg.unansweredAll()},
		{Name: "kernel_aggregation_deleted_entries_total", Help: "Kernel aggregate entries deleted after their connection closed and their last values were read.", Value: c.Deleted},
		{Name: "kernel_aggregation_read_errors_total", Help: "Failed reads or deletions of the kernel aggregate map (a failed read's calls come with the next read).", Value: c.ReadErrors},
		{Name: "kernel_aggregation_untracked_connections_total", Help: "Connections whose address was not remembered (past 131072 at once): their calls wait for their close.", Value: c.Untracked},
		{Name: "kernel_aggregation_swept_connections_total", Help: "Connections found gone from the kernel's connection map (by its GC) with no close heard of: their entries are read once more, then deleted.", Value: c.Swept},
	}
	for r := abi.AggCounter(0); r < abi.AggLostCalls; r++ {
		ms = append(ms, live.Metric{Name: "kernel_aggregation_fallbacks_total",
			Help:   "Connections that fell back from kernel aggregation to capture, by reason (bpf/README.md, Kernel aggregation).",
			Labels: []string{"reason", r.String()}, Value: c.Kernel[r]})
	}
	return ms
}

// kernelAggSummary is the stop log line's group of the kernel aggregation, when it was on.
func (o *Observer) kernelAggSummary() []any {
	if o.kagg.lib == nil {
		return nil
	}
	c := &o.kagg.counts
	group := []any{"calls", c.Calls, "filtered_calls", c.Filtered, "unattributed_calls", c.Unattributed,
		"lost_calls", c.Kernel[abi.AggLostCalls], "exported_pending_calls", c.Kernel[abi.AggPendingExported], "unanswered_calls", o.kagg.unansweredAll(), "deleted_entries", c.Deleted, "read_errors", c.ReadErrors, "untracked_connections", c.Untracked, "swept_connections", c.Swept}
	for r := abi.AggCounter(0); r < abi.AggLostCalls; r++ {
		group = append(group, "fallback_"+r.String(), c.Kernel[r])
	}
	return []any{slog.Group("kernel_aggregation", group...)}
}
