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
	// AggFallbackPush: Redis, a request after which replies may come unasked (SUBSCRIBE …,
	// MONITOR, HELLO) or a push reply.
	AggFallbackPush
	// AggFallbackReplyEnd: Redis, a request while the previous reply was under way and not known
	// to have ended (its length unknown, or bytes of it still to come).
	AggFallbackReplyEnd
	AggLostCalls
	AggPendingExported
	AggUnanswered
	// AggPendingAtStop: the requests the kernel held pending once the library was detached
	// (0 before), those the stop left unanswered.
	AggPendingAtStop
	// The same two of Redis requests (AggUnanswered and AggPendingAtStop are HTTP's).
	AggUnansweredRedis
	AggPendingAtStopRedis
	AggNumCounters
)

// aggCounterNames name the counters in metrics and logs.
var aggCounterNames = [AggNumCounters]string{"not_plain", "head", "extra", "pipelined", "status", "early", "unsolicited", "full", "long", "unfinished", "push", "reply_end", "lost_calls", "pending_exported", "unanswered", "pending_at_stop", "unanswered_redis", "pending_at_stop_redis"}

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
	Conn     ConnID
	Role     Role
	Protocol Protocol // ProtoHTTP or ProtoRedis: what the fields below mean
	// HTTP: the status code. Redis: the reply's first byte, its RESP type ('-' and '!': errors).
	Status  int
	Method  int // HTTP: 1 GET, 2 POST, 3 PUT, 4 HEAD, 5 PATCH, 6 DELETE, 7 OPTIONS
	Version int // HTTP: 0 HTTP/1.0, 1 HTTP/1.1
	// HTTP: Host and Path (the target up to '?' or '#'). Redis: Path is the command name and
	// Host a container command's second argument, both upper-cased and unchecked (the observer
	// maps them as parser/redis does). At most AggHostMax and AggPathMax bytes: the kernel never
	// cuts them, a longer one falls back (AggFallbackLong).
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
