package aggregate

import "math"

// Histogram is a latency distribution with bounded relative error: bucket i holds the values in
// [growth^i, growth^(i+1)) ns, so a percentile read from it is within growth-1 (5%) of the true
// value. Its size is fixed whatever it counts, so aggregation state stays bounded.
type Histogram struct {
	counts [histBuckets]uint32
	n      uint64
}

const (
	histGrowth = 1.05
	// 1 ns to about 2.7 hours.
	histBuckets = 512
)

var logGrowth = math.Log(histGrowth)

func bucketOf(ns uint64) int {
	if ns <= 1 {
		return 0
	}
	i := int(math.Log(float64(ns)) / logGrowth)
	return min(i, histBuckets-1)
}

// Add counts one value in ns.
func (h *Histogram) Add(ns uint64) {
	h.counts[bucketOf(ns)]++
	h.n++
}

// Count is the number of values added.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the value at quantile q (0..1) in ns: the geometric middle of the bucket that
// holds it, 0 when empty.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			lo := math.Pow(histGrowth, float64(i))
			return uint64(math.Round(lo * math.Sqrt(histGrowth)))
		}
	}
	return 0
}

// Reset empties the histogram for the next interval.
func (h *Histogram) Reset() { *h = Histogram{} }
