package abi

// AggCounter indexes the kernel aggregation's counters (include/libebpf.h,
// netobserver_agg_counter): connections that fell back to capture per reason, then the calls
// pending at a fallback, lost or exported.
type AggCounter int

const (
	AggFallbackNotPlain AggCounter = iota
	AggFallbackHead
	AggFallbackExtra
	AggFallbackPipelined
	AggFallbackStatus
	AggFallbackEarly
	AggFallbackUnsolicited
	AggFallbackFull
	AggFallbackLong
	AggFallbackUnfinished
	AggLostCalls
	AggPendingExported
	AggUnanswered
	// AggPendingAtStop: the requests the kernel held pending once the library was detached
	// (0 before), those the stop left unanswered.
	AggPendingAtStop
	AggNumCounters
)

// aggCounterNames name the counters in metrics and logs.
var aggCounterNames = [AggNumCounters]string{"not_plain", "head", "extra", "pipelined", "status", "early", "unsolicited", "full", "long", "unfinished", "lost_calls", "pending_exported", "unanswered", "pending_at_stop"}

func (c AggCounter) String() string {
	if c >= 0 && c < AggNumCounters {
		return aggCounterNames[c]
	}
	return "unknown"
}

// The kernel aggregation key's bounds (NETOBSERVER_AGG_HOST_MAX, NETOBSERVER_AGG_PATH_MAX).
const (
	AggHostMax = 32
	AggPathMax = 64
)

// The kernel aggregation's latency histogram (NETOBSERVER_AGG_HIST_FIRST, _BUCKETS): entry bucket
// i is the observer's histogram bucket AggHistFirst+i (observer/aggregate, whose bounds the kernel
// has from bpf/latency_bounds.h), the first also holding every latency below it (516 ns).
const (
	AggHistFirst   = 128
	AggHistBuckets = 384
)

// AggKey is the key of one entry of the kernel aggregate map: the calls of one connection with
// one key.
type AggKey struct {
	Conn    ConnID
	Role    Role
	Status  int
	Method  int // 1 GET, 2 POST, 3 PUT, 4 HEAD, 5 PATCH, 6 DELETE, 7 OPTIONS
	Version int // 0 HTTP/1.0, 1 HTTP/1.1
	// Host and Path (the target up to '?' or '#'), at most AggHostMax and AggPathMax bytes: the
	// kernel never cuts them, a longer one falls back (AggFallbackLong).
	Host, Path string
}

// AggEntry is one entry of the kernel aggregate map, cumulative since init. Its counts only grow
// (and wrap: a reader takes differences modulo their width).
type AggEntry struct {
	AggKey
	Count     uint64
	LatencyNs uint64
	ReqBytes  uint64
	RespBytes uint64
	// Latencies[i] counts the calls whose latency is in histogram bucket AggHistFirst+i.
	Latencies [AggHistBuckets]uint32
}
