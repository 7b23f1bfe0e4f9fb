package live

import "time"

// Sink receives what live metrics are made of. Its methods are called from the observer's
// goroutine (SetCounters from others too); an implementation that serves them elsewhere locks.
type Sink interface {
	// Call is one call matched.
	Call(Call)
	// Calls is n calls of one key counted elsewhere (the kernel's aggregation): the sizes are
	// their sums, c.Latency is unset, and latencies says how many of them took about how long.
	Calls(c Call, n uint64, latencies []Latencies)
	// L4 is what one statistics event adds to its connection's totals.
	L4(L4)
	// SetCounters replaces the counters one group ("observer", "flushers") publishes.
	SetCounters(group string, ms []Metric)
}

// Call is one call, as live metrics see it: labels of a bounded set, sizes, latency.
type Call struct {
	Protocol, Role string
	Success        bool
	// OneWay: a one-way message, with no response and no latency to observe.
	OneWay                      bool
	Latency                     time.Duration
	RequestBytes, ResponseBytes int
}

// Latencies is N calls whose latency is Latency within 2.5 % (a histogram bucket's middle).
type Latencies struct {
	Latency time.Duration
	N       uint32
}

// L4 is the growth of one connection's totals since its previous statistics event.
type L4 struct {
	Role, SocketType         string
	SendBytes, RecvBytes     int64
	SendPackets, RecvPackets int64
}

// Metric is one sample of a counter the observer (or the binary, for its flushers) keeps.
type Metric struct {
	// Name is the metric name without the netobserver_ prefix, e.g. "events_total".
	Name, Help string
	// Labels are label name/value pairs.
	Labels []string
	Value  uint64
}
