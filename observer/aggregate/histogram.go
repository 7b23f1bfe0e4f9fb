package aggregate

import (
	"math"
	"math/bits"
)

// Histogram is a latency distribution with bounded relative error: bucket i holds the values in
// [growth^i, growth^(i+1)) ns, so a percentile read from it is within growth-1 (5%) of the true
// value. Its size is fixed whatever it counts, so aggregation state stays bounded.
type Histogram struct {
	counts [histBuckets]uint32
	n      uint64
}

const (
	histGrowth = 1.05
	// 1 ns to about 67 s (1.05^511 ns); longer latencies count in the last bucket.
	histBuckets = 512
)

var logGrowth = math.Log(histGrowth)

// logBucket defines the bucket of ns > 1 (before the last bucket takes all above it). It takes a
// logarithm, so bucketOf looks the answer up in the bounds it leads to instead.
func logBucket(ns uint64) int { return int(math.Log(float64(ns)) / logGrowth) }

var (
	// histBounds[i] is the least ns > 1 that logBucket puts in bucket i or above; several buckets
	// of the first nanoseconds are empty and share their bound with the next.
	histBounds [histBuckets]uint64
	// octaveStart[n] is the bucket of the least value n bits long, 1<<(n-1): a value's bucket is
	// at most 15 buckets above that of its octave (log 2 / log 1.05 < 15).
	octaveStart [65]int
)

func init() {
	for i := 1; i < histBuckets; i++ {
		// growth^i rounded up, corrected to where the logarithm really crosses i.
		b := uint64(math.Ceil(math.Pow(histGrowth, float64(i))))
		for b > 2 && logBucket(b-1) >= i {
			b--
		}
		for logBucket(b) < i {
			b++
		}
		histBounds[i] = b
	}
	for n := 2; n < len(octaveStart); n++ {
		octaveStart[n] = bucketOf(1 << (n - 1)) // octaveStart[n] is still 0: bucketOf scans from 0
	}
}

// bucketOf returns the bucket of ns: min(logBucket(ns), histBuckets-1), 0 for ns <= 1.
func bucketOf(ns uint64) int {
	if ns <= 1 {
		return 0
	}
	i := octaveStart[bits.Len64(ns)]
	for i+1 < histBuckets && histBounds[i+1] <= ns {
		i++
	}
	return i
}

// Add counts one value in ns.
func (h *Histogram) Add(ns uint64) {
	h.counts[bucketOf(ns)]++
	h.n++
}

// AddBuckets counts values counted elsewhere in the same buckets (a bucket out of range counts
// in the nearest one).
func (h *Histogram) AddBuckets(bs []BucketCount) {
	for _, b := range bs {
		h.counts[min(max(b.Bucket, 0), histBuckets-1)] += b.N
		h.n += uint64(b.N)
	}
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
			return uint64(math.Round(BucketMiddle(i)))
		}
	}
	return 0
}

// BucketMiddle is the value (ns) that stands for the values of bucket i: its geometric middle,
// within 2.5 % of each.
func BucketMiddle(i int) float64 { return math.Pow(histGrowth, float64(i)) * math.Sqrt(histGrowth) }

// Reset empties the histogram for the next interval.
func (h *Histogram) Reset() { *h = Histogram{} }
