package exphist

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oracle is the index of v at scale by the definition, in exact arithmetic: v is in bucket i
// when 2^(i/2^s) < v ≤ 2^((i+1)/2^s), that is 2^i < v^(2^s) ≤ 2^(i+1), for s ≥ 0. v^(2^s) is
// computed exactly (53·2^s bits); written m·2^e with m in [0.5, 1), it is a power of two when
// m = 0.5 (index e−2), else its index is e−1. Below scale 0 a bucket is 2^−s buckets of scale 0:
// floor division.
func oracle(v float64, scale int32) int32 {
	if scale < 0 {
		a, n := oracle(v, 0), int32(1)<<-scale
		q := a / n
		if a%n != 0 && a < 0 {
			q--
		}
		return q
	}
	x := new(big.Float).SetPrec(uint(53<<scale + 64)).SetFloat64(v)
	for range scale {
		x.Mul(x, x)
	}
	m := new(big.Float)
	e := x.MantExp(m)
	if m.Cmp(big.NewFloat(0.5)) == 0 {
		return int32(e - 2)
	}
	return int32(e - 1)
}

func TestIndexLiterals(t *testing.T) {
	for _, c := range []struct {
		v     float64
		scale int32
		want  int32
	}{
		{1, 8, -1}, {1, 0, -1}, {1, -2, -1}, // 1 = 2^0 closes the bucket below
		{math.Nextafter(1, 2), 8, 0}, {math.Nextafter(1, 2), 0, 0}, {math.Nextafter(1, 0), 8, -1},
		{2, 8, 255}, {2, 0, 0}, {math.Nextafter(2, 3), 0, 1},
		{1.5, 8, 149},     // log2 1.5 · 256 = 149.75
		{1.5, 4, 9},       // 9.36
		{1000, 4, 159},    // 159.45
		{0.001, 8, -2552}, // −2551.24
		{1e-9, 8, -7654},  // −7653.7
		{1e-9, -3, -4},    // ceil(−29.9) − 1 = −30, floor(−30/8)
		{math.MaxFloat64, 8, 1023<<8 + 255},
		{math.MaxFloat64, -3, 127},
		{0x1p-1022, 8, -1022<<8 - 1}, // the smallest normal value, a power of two
		{0x1p-1074, 8, -1022<<8 - 1}, // subnormal: counted as the smallest normal
		{math.Ldexp(1, 1023), 8, 1023<<8 - 1},
	} {
		assert.Equal(t, c.want, Index(c.v, c.scale), "Index(%v, %d)", c.v, c.scale)
		if c.v >= 0x1p-1022 {
			assert.Equal(t, c.want, oracle(c.v, c.scale), "oracle(%v, %d)", c.v, c.scale)
		}
	}
}

// Powers of two close their bucket; the next float opens the next one, at every scale.
func TestIndexPowersOfTwo(t *testing.T) {
	for scale := int32(-4); scale <= MaxScale; scale++ {
		for _, k := range []int{-1022, -300, -30, -10, -1, 0, 1, 10, 30, 300, 1023} {
			v := math.Ldexp(1, k)
			up, down := math.Nextafter(v, math.Inf(1)), math.Nextafter(v, 0)
			var atV, above int32
			if scale >= 0 {
				atV, above = int32(k)<<scale-1, int32(k)<<scale
			} else {
				atV, above = oracle(v, scale), oracle(up, scale)
			}
			assert.Equal(t, atV, Index(v, scale), "2^%d scale %d", k, scale)
			assert.Equal(t, atV, oracle(v, scale), "2^%d scale %d", k, scale)
			assert.Equal(t, above, Index(up, scale), "just above 2^%d scale %d", k, scale)
			if k > -1022 {
				assert.Equal(t, atV, Index(down, scale), "just below 2^%d scale %d", k, scale)
				assert.Equal(t, oracle(down, scale), Index(down, scale), "just below 2^%d scale %d", k, scale)
			}
		}
	}
}

// Every boundary between powers of two, at every positive scale, in three octaves: the floats
// nearest to it on both sides map as exact arithmetic says (this also proves the table).
func TestIndexNearBoundaries(t *testing.T) {
	for scale := int32(1); scale <= MaxScale; scale++ {
		n := 1 << scale
		for _, k := range []int{-20, 0, 7} {
			for j := 1; j < n; j++ {
				v := math.Exp2(float64(k) + float64(j)/float64(n))
				for range 2 {
					v = math.Nextafter(v, 0)
				}
				for range 5 {
					require.Equal(t, oracle(v, scale), Index(v, scale), "%v (2^(%d+%d/%d)) scale %d", v, k, j, n, scale)
					v = math.Nextafter(v, math.Inf(1))
				}
			}
		}
	}
}

func TestIndexRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		v := math.Ldexp(1+r.Float64(), r.IntN(200)-100)
		scale := int32(r.IntN(13)) - 4
		require.Equal(t, oracle(v, scale), Index(v, scale), "%v scale %d", v, scale)
	}
}

func TestRecordOne(t *testing.T) {
	h := New()
	h.Record(0.001)
	assert.Equal(t, Snapshot{Scale: 8, Count: 1, Sum: 0.001, Min: 0.001, Max: 0.001, Offset: -2552, Counts: []uint64{1}}, h.Snapshot())
	h = New()
	h.Record(0)
	assert.Equal(t, Snapshot{Scale: 8, Count: 1, Zero: 1}, h.Snapshot())
}

// Two values 2 403 buckets apart at scale 8: scale 4 is the finest that holds them in 160.
func TestRecordDownscale(t *testing.T) {
	h := New()
	h.Record(1.5)  // scale 8: 149; scale 4: 9
	h.Record(1000) // scale 8: 2551; scale 4: 159 (scale 5: 319 − 18 + 1 = 302 buckets)
	h.Record(0)
	s := h.Snapshot()
	want := make([]uint64, 151)
	want[0], want[150] = 1, 1
	assert.Equal(t, Snapshot{Scale: 4, Count: 3, Zero: 1, Sum: 1001.5, Min: 0, Max: 1000, Offset: 9, Counts: want}, s)
}

// A huge value forces the scale below zero.
func TestRecordHuge(t *testing.T) {
	h := New()
	h.Record(1e-9)
	h.Record(math.MaxFloat64)
	s := h.Snapshot()
	assert.Equal(t, int32(-3), s.Scale) // scale −2: 255 − (−8) + 1 = 264 buckets
	assert.Equal(t, int32(-4), s.Offset)
	require.Len(t, s.Counts, 132)
	assert.Equal(t, uint64(1), s.Counts[0])
	assert.Equal(t, uint64(1), s.Counts[131])
}

// check recounts values at the snapshot's scale: the buckets must be exactly theirs, the zero
// count and count exact, and the scale the finest that fits MaxSize.
func check(t *testing.T, values []float64, s Snapshot) {
	t.Helper()
	var zero uint64
	var pos []float64
	lo, hi := math.Inf(1), 0.0
	for _, v := range values {
		if v > 0 {
			pos = append(pos, v)
			lo, hi = min(lo, v), max(hi, v)
		} else {
			zero++
		}
	}
	require.Equal(t, uint64(len(values)), s.Count)
	require.Equal(t, zero, s.Zero)
	if len(pos) == 0 {
		require.Nil(t, s.Counts)
		return
	}
	want := make([]uint64, Index(hi, s.Scale)-Index(lo, s.Scale)+1)
	for _, v := range pos {
		want[Index(v, s.Scale)-Index(lo, s.Scale)]++
	}
	require.Equal(t, Index(lo, s.Scale), s.Offset)
	require.Equal(t, want, s.Counts)
	require.LessOrEqual(t, len(s.Counts), MaxSize)
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	require.Equal(t, s.Count, n+s.Zero)
	if s.Scale < MaxScale {
		require.Greater(t, Index(hi, s.Scale+1)-Index(lo, s.Scale+1)+1, int32(MaxSize), "scale %d is not the finest", s.Scale)
	}
}

// Random values over ranges from a fraction of an octave to hundreds, in random order: after
// every 100, the buckets are exactly those of the values at the scale reached.
func TestRecordRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 60 {
		octaves := []float64{0.05, 0.3, 1, 4, 12, 40, 300}[trial%7]
		center := float64(r.IntN(60) - 40)
		h := New()
		var values []float64
		for i := range 2000 {
			v := math.Exp2(center + octaves*(r.Float64()-0.5))
			if r.IntN(50) == 0 {
				v = 0
			}
			values = append(values, v)
			h.Record(v)
			if i%100 == 99 {
				check(t, values, h.Snapshot())
			}
		}
	}
}

// Values drifting down then up move the window of counts without a change of scale.
func TestRecordDrift(t *testing.T) {
	h := New()
	var values []float64
	for i := range 90 { // buckets −1 … −91: below the window's first base (−81)
		values = append(values, math.Exp2(-float64(i)/256-0.001))
	}
	for i := range 120 { // then up to bucket 59: 151 buckets in all
		values = append(values, math.Exp2(float64(i)/512))
	}
	for _, v := range values {
		h.Record(v)
	}
	s := h.Snapshot()
	assert.Equal(t, int32(MaxScale), s.Scale)
	check(t, values, s)
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	b.ReportAllocs()
	v := 0.0003
	for b.Loop() {
		h.Record(v)
	}
}
