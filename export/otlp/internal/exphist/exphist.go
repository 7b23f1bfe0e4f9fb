// Package exphist is a base-2 exponential histogram of positive values, bounded to MaxSize
// buckets: the OpenTelemetry metrics SDK's "base2 exponential bucket histogram aggregation", kept
// here because the SDK version flusher_otlp can build with has none. Bucket i of scale s holds
// the values in (2^(i/2^s), 2^((i+1)/2^s)] (upper bounds inclusive, as the data model and
// Prometheus native histograms have it); the scale starts at MaxScale and drops as the values'
// range grows, merging buckets exactly (every bucket of a scale is a union of buckets of the
// scale above).
package exphist

import (
	"math"
	"math/big"
	"sync"
)

const (
	// MaxSize bounds the positive buckets held (the SDK's default max_size).
	MaxSize = 160
	// MaxScale is the finest scale, 256 buckets an octave (each 0.27 % wide): finer than a
	// latency measured from syscall timestamps means, and small enough for the exact mapping's
	// table (2^MaxScale entries).
	MaxScale = 8
)

// Histogram is one series' cumulative state. It allocates nothing after New; it is not safe
// for concurrent use.
type Histogram struct {
	scale         int32
	count, zero   uint64
	sum, min, max float64
	base          int32 // the bucket index of counts[0]
	lo, hi        int32 // the lowest and highest buckets counted, when count > zero
	counts        [MaxSize]uint64
}

// New returns an empty histogram at MaxScale.
func New() *Histogram {
	bounds() // made here rather than under the caller's lock at the first Record
	return &Histogram{scale: MaxScale}
}

// Record adds v. Values that are not above zero (latencies of 0) go to the zero count.
func (h *Histogram) Record(v float64) {
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if h.count == 0 || v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
	if !(v > 0) {
		h.zero++
		return
	}
	k := indexMax(v) >> (MaxScale - h.scale)
	if h.count-h.zero == 1 {
		// The first positive value: keep room on both sides.
		h.lo, h.hi, h.base = k, k, k-MaxSize/2
		h.counts[k-h.base]++
		return
	}
	lo, hi := min(h.lo, k), max(h.hi, k)
	if hi-lo >= MaxSize {
		var c int32
		for (hi>>c)-(lo>>c) >= MaxSize {
			c++
		}
		h.downscale(c)
		k, lo, hi = k>>c, lo>>c, hi>>c
	}
	if lo < h.base || hi >= h.base+MaxSize {
		h.rebase(lo, hi)
	}
	h.lo, h.hi = lo, hi
	h.counts[k-h.base]++
}

// downscale lowers the scale by c, merging each 2^c buckets into one. Bucket i goes to i>>c,
// never to a higher position in counts, so the merge runs in place in increasing order.
func (h *Histogram) downscale(c int32) {
	base := h.lo >> c
	for i := h.lo; i <= h.hi; i++ {
		n := h.counts[i-h.base]
		h.counts[i-h.base] = 0
		h.counts[(i>>c)-base] += n
	}
	h.base, h.lo, h.hi = base, h.lo>>c, h.hi>>c
	h.scale -= c
}

// rebase moves the window of counts so that it holds buckets lo..hi (at most MaxSize), centred.
func (h *Histogram) rebase(lo, hi int32) {
	base := lo - (MaxSize-(hi-lo+1))/2
	switch d := int(h.base - base); {
	case d > 0:
		copy(h.counts[d:], h.counts[:MaxSize-d])
		clear(h.counts[:d])
	case d < 0:
		copy(h.counts[:], h.counts[-d:])
		clear(h.counts[MaxSize+d:])
	}
	h.base = base
}

// Snapshot is a histogram's state, as an OTLP data point carries it.
type Snapshot struct {
	Scale         int32
	Count, Zero   uint64
	Sum, Min, Max float64
	Offset        int32    // the index of Counts[0]
	Counts        []uint64 // the positive buckets from Offset, the lowest and highest non-empty
}

// Snapshot copies the state out.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Scale: h.scale, Count: h.count, Zero: h.zero, Sum: h.sum, Min: h.min, Max: h.max}
	if h.count > h.zero {
		s.Offset = h.lo
		s.Counts = append([]uint64(nil), h.counts[h.lo-h.base:h.hi-h.base+1]...)
	}
	return s
}

// Index is the bucket of v (> 0, finite) at scale (at most MaxScale): ceil(log2(v)·2^scale) − 1,
// exactly. Subnormal values count as the smallest normal one, as the data model permits.
func Index(v float64, scale int32) int32 {
	return indexMax(v) >> (MaxScale - scale)
}

const (
	significandBits = 52
	significandMask = 1<<significandBits - 1
	exponentBias    = 1023
)

// indexMax is Index at MaxScale. v = 2^e · (1 + f/2^52). A power of two (f = 0) is the upper
// bound of the bucket below it: e·2^MaxScale − 1. Otherwise v lies in octave e, in the
// sub-bucket after every boundary 2^(j/2^MaxScale) below it; those boundaries are irrational
// (0 < j < 2^MaxScale), so v never equals one, and comparing f with each boundary rounded down
// to a float64 (bounds) is exact.
func indexMax(v float64) int32 {
	b := math.Float64bits(v)
	e := int32(b>>significandBits&0x7ff) - exponentBias
	f := b & significandMask
	if e == -exponentBias { // subnormal
		e, f = 1-exponentBias, 0
	}
	if f == 0 {
		return e<<MaxScale - 1
	}
	t := bounds()
	lo, hi := 0, len(t) // the number of bounds below f, by bisection
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t[m] < f {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return e<<MaxScale + int32(lo)
}

// bounds are the significand bits of 2^(j/2^MaxScale), j = 1 … 2^MaxScale−1, each rounded down
// to a float64: computed once, exactly.
var bounds = sync.OnceValue(func() []uint64 {
	const n = 1 << MaxScale
	t := make([]uint64, n-1)
	for j := 1; j < n; j++ {
		f := math.Float64bits(math.Exp2(float64(j)/n)) & significandMask // within an ulp
		for f > 0 && !atMost(f, j) {
			f--
		}
		for f < significandMask && atMost(f+1, j) {
			f++
		}
		t[j-1] = f
	}
	return t
})

// atMost says whether 1 + f/2^52 ≤ 2^(j/2^MaxScale), that is (2^52 + f)^(2^MaxScale) ≤
// 2^(j + 52·2^MaxScale), in integers.
func atMost(f uint64, j int) bool {
	x := new(big.Int).SetUint64(1<<significandBits + f)
	for range MaxScale {
		x.Mul(x, x)
	}
	limit := new(big.Int).Lsh(big.NewInt(1), uint(j+significandBits<<MaxScale))
	return x.Cmp(limit) <= 0
}
