package observer

import (
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/aggregate"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/parser"
)

// aggregation is the aggregation stage: calls and L4 deltas summed per key and process group,
// flushed as records to the Sink every interval, and handed one by one to the Live sink. It is
// the observer's only use of package aggregate.
type aggregation struct {
	agg  aggregate.Aggregator
	sink Sink
	live live.Sink // nil: no live metrics
	// capDrops totals the aggregator's per-interval cap drops, per protocol.
	capDrops map[abi.Protocol]uint64
	// latencies: scratch of calls.
	latencies []live.Latencies
}

func newAggregation(cfg aggregate.Config, sink Sink, ls live.Sink) *aggregation {
	return &aggregation{agg: aggregate.New(cfg), sink: sink, live: ls, capDrops: make(map[abi.Protocol]uint64)}
}

// reset starts over with new settings; what was aggregated must have been flushed.
func (a *aggregation) reset(cfg aggregate.Config, ls live.Sink) {
	a.agg = aggregate.New(cfg)
	a.live = ls
}

// call counts one call of process p.
func (a *aggregation) call(p *aggregate.Process, c *calls.Call) {
	a.agg.AddCall(p, c)
	if a.live != nil {
		success := c.Response.Success
		if c.OneWay() {
			success = c.Request.Success
		}
		// Records.Name is Protocol.String (parser/protocols tests it), without a lookup per call.
		a.live.Call(live.Call{Protocol: c.Records.Name, Role: aggregate.RoleName(c.Role), Success: success,
			OneWay: c.OneWay(), Latency: time.Duration(c.Latency()), RequestBytes: c.Request.Size, ResponseBytes: c.Response.Size})
	}
}

// calls counts the calls s of process p with c's key (the kernel's aggregation).
func (a *aggregation) calls(p *aggregate.Process, c *calls.Call, s *aggregate.CallSums) {
	a.agg.AddCalls(p, c, s)
	if a.live != nil {
		a.latencies = a.latencies[:0]
		for _, b := range s.Buckets {
			a.latencies = append(a.latencies, live.Latencies{Latency: time.Duration(aggregate.BucketMiddle(b.Bucket)), N: b.N})
		}
		a.live.Calls(live.Call{Protocol: c.Records.Name, Role: aggregate.RoleName(c.Role), Success: c.Response.Success,
			RequestBytes: int(s.ReqBytes), ResponseBytes: int(s.RespBytes)}, s.N, a.latencies)
	}
}

// stats counts the L4 deltas of one statistics event of process p.
func (a *aggregation) stats(p *aggregate.Process, ev *abi.StatsEvent) {
	a.agg.AddStats(p, ev)
	if a.live != nil {
		a.live.L4(live.L4{Role: aggregate.RoleName(ev.Role), SocketType: aggregate.SocketType(ev.Addr),
			SendBytes: ev.WrBytes - ev.LastWrBytes, RecvBytes: ev.RdBytes - ev.LastRdBytes,
			SendPackets: int64(ev.WrPkts - ev.LastWrPkts), RecvPackets: int64(ev.RdPkts - ev.LastRdPkts)})
	}
}

// nameHost remembers, until the unix second expires, what a DNS answer named for a group.
func (a *aggregation) nameHost(group string, n parser.HostName, expires int64) {
	a.agg.NameHost(group, n.Addr, n.Host, uint32(expires))
}

func (a *aggregation) flushL4(now time.Time) {
	if recs := a.agg.FlushL4(uint32(now.Unix())); len(recs) > 0 {
		a.sink(recs)
	}
}

func (a *aggregation) flushL7(now time.Time) {
	for p := range calls.Parsers() {
		a.capDrops[p] += a.agg.Dropped(p)
	}
	if recs := a.agg.FlushL7(uint32(now.Unix())); len(recs) > 0 {
		a.sink(recs)
	}
}

// capDropped is how many calls of p the caps turned away since the start.
func (a *aggregation) capDropped(p abi.Protocol) uint64 { return a.capDrops[p] + a.agg.Dropped(p) }
