package stream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// src turns fuzz input into small decisions; past its end it yields zeros.
type src struct {
	b []byte
	i int
}

func (s *src) n(mod int) int {
	if mod <= 1 {
		return 0
	}
	var v int
	if s.i < len(s.b) {
		v = int(s.b[s.i])
		s.i++
	}
	return v % mod
}

// model is a reference stream cut into syscalls and the events the kernel would emit for them.
type model struct {
	base   uint64   // stream offset of ref[0]
	ref    []byte   // the stream's bytes
	ts     []uint64 // ts of the event that carries each byte (0: no event ever carries it)
	groups [][]Chunk
}

func (m *model) at(pos uint64) int { return int(pos - m.base) }

// buildModel makes syscalls of random sizes and kinds. A "header read" of 4 bytes is never
// emitted; the next syscall carries it in LengthHeader, with TryToPrepend (Kafka) or in the MySQL
// shape (3-byte little-endian length of the next syscall, then a sequence byte).
func buildModel(s *src, maxChunk int, mysql bool) *model {
	m := &model{base: uint64(s.n(256) * 37)}
	var ts uint64 = 1000
	hdrKind := 0 // 0: none pending; 1: Kafka; 2: MySQL
	var hdr [4]byte
	syscalls := 1 + s.n(24)
	for k := 0; k < syscalls; k++ {
		ts += 1 + uint64(s.n(20))
		if hdrKind == 0 && s.n(6) == 0 {
			hdrKind = 1
			if mysql && s.n(2) == 0 {
				hdrKind = 2
			}
			for i := range hdr {
				hdr[i] = byte(s.n(256))
			}
			m.ref = append(m.ref, hdr[:]...)
			m.ts = append(m.ts, 0, 0, 0, 0) // set when the next syscall is known
			continue
		}
		vectored := s.n(3) == 0
		var sizes []int // wire sizes of the events
		if vectored {
			for seg := 1 + s.n(4); seg > 0; seg-- {
				sizes = append(sizes, 1+s.n(2*maxChunk))
			}
		} else {
			n := 1 + s.n(5*maxChunk)
			if s.n(4) == 0 { // exact multiples are the ambiguous shape
				n = maxChunk * (1 + s.n(4))
			}
			for i := 0; i < 3 && n > maxChunk; i++ {
				sizes = append(sizes, maxChunk)
				n -= maxChunk
			}
			sizes = append(sizes, n)
		}
		total := 0
		for _, z := range sizes {
			total += z
		}
		start := len(m.ref)
		for i := 0; i < total; i++ {
			p := uint64(start+i) + m.base
			m.ref = append(m.ref, byte(p*2654435761>>13))
			m.ts = append(m.ts, 0)
		}
		var lenHdr uint32
		prepend := false
		if hdrKind != 0 {
			if hdrKind == 2 {
				hdr = [4]byte{byte(total), byte(total >> 8), byte(total >> 16), byte(s.n(256))}
				copy(m.ref[start-4:], hdr[:])
			} else {
				prepend = true
			}
			lenHdr = uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16 | uint32(hdr[3])<<24
			glued := prepend || !bytes.HasPrefix(m.ref[start:], hdr[:3])
			if glued {
				for i := start - 4; i < start; i++ {
					m.ts[i] = ts
				}
			}
			hdrKind = 0
		}
		end := m.base + uint64(len(m.ref))
		var g []Chunk
		off := start
		for _, z := range sizes {
			plen := min(z, maxChunk)
			if s.n(10) == 0 { // a failed copy: less than the kernel could have
				plen = s.n(plen + 1)
			}
			for i := off; i < off+plen; i++ {
				m.ts[i] = ts
			}
			g = append(g, Chunk{Pos: end, OrgSize: uint32(z), Payload: m.ref[off : off+plen], TS: ts,
				TryToPrepend: prepend, LengthHeader: lenHdr, Vectored: vectored})
			off += z
		}
		m.groups = append(m.groups, g)
	}
	return m
}

// checkBuffer compares the Buffer against the model and the accounting identities.
func checkBuffer(t *testing.T, b *Buffer, m *model, lastPos *uint64, step string) {
	t.Helper()
	data, ts := b.Head()
	pos := b.Pos()
	if pos < *lastPos {
		t.Fatalf("%s: parse position went back from %d to %d", step, *lastPos, pos)
	}
	*lastPos = pos
	if len(data) > 0 {
		i := m.at(pos)
		if pos < m.base || i+len(data) > len(m.ref) {
			t.Fatalf("%s: Head at %d+%d outside the stream [%d,%d)", step, pos, len(data), m.base, m.base+uint64(len(m.ref)))
		}
		if !bytes.Equal(data, m.ref[i:i+len(data)]) {
			t.Fatalf("%s: Head at %d:\n got % x\nwant % x", step, pos, data, m.ref[i:i+len(data)])
		}
		if ts != m.ts[i] {
			t.Fatalf("%s: Head ts at %d = %d, want %d", step, pos, ts, m.ts[i])
		}
	}
	if b.mem() > b.Cap() {
		t.Fatalf("%s: memory %d > Cap %d", step, b.mem(), b.Cap())
	}
	checkIdentities(t, b, step)
}

func checkIdentities(t testing.TB, b *Buffer, step string) {
	t.Helper()
	s := b.Stats()
	if got := s.Consumed + s.Duplicate + s.Stale + s.Truncated + s.Overflow + uint64(b.Len()); got != s.Received+s.Filled {
		t.Fatalf("%s: received+filled %d != consumed+duplicate+stale+truncated+overflow+len = %d (%+v len %d)", step, s.Received+s.Filled, got, s, b.Len())
	}
	if got := s.Consumed + s.Skipped + s.Gap + s.Overflow; got != b.Pos()-b.Origin() {
		t.Fatalf("%s: positions passed %d != consumed+skipped+gap+overflow = %d (%+v)", step, b.Pos()-b.Origin(), got, s)
	}
}

// FuzzBuffer delivers a model's events with losses, duplicates (back to back or later) and
// reorderings of whole syscalls, interleaved with Head/Consume/Gap/SkipGap/Flush, and checks that
// Head only ever returns the reference stream's bytes at their positions, with the right ts, and
// that the counters add up.
func FuzzBuffer(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x03\x10\x00\x05\x07\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add(bytes.Repeat([]byte{1, 2, 3, 250, 7, 0, 9, 130}, 40))
	f.Add(bytes.Repeat([]byte{0, 255, 17, 4, 3, 3, 1}, 60))
	f.Fuzz(func(t *testing.T, in []byte) { runModel(t, in, nil) })
}

// runModel is FuzzBuffer's body; trace, when set, receives every step.
func runModel(t *testing.T, in []byte, trace func(string, ...any)) {
	if trace == nil {
		trace = func(string, ...any) {}
	}
	{
		s := &src{b: in}
		maxChunk := 1 + s.n(8)
		cfg := Config{MaxChunk: maxChunk, GapTimeout: uint64(1 + s.n(100))}
		if s.n(2) == 0 {
			cfg.GlueLengthHeader = mysqlGlue
		}
		if s.n(3) == 0 {
			cfg.Cap = 4*maxChunk + s.n(64)
		} else {
			cfg.Cap = 1 << 16
		}
		if s.n(2) == 0 {
			cfg.GapBytes = 1 + s.n(32)
		}
		m := buildModel(s, maxChunk, cfg.GlueLengthHeader != nil)
		trace("cfg %+v base %d len %d", cfg, m.base, len(m.ref))
		for i, g := range m.groups {
			for _, c := range g {
				trace("  g%d pos %d org %d plen %d ts %d prep %v lh %08x vec %v", i, c.Pos, c.OrgSize, len(c.Payload), c.TS, c.TryToPrepend, c.LengthHeader, c.Vectored)
			}
		}
		cfg.Pool = &Pool{} // Release lends the arrays out and back
		b := New(cfg)
		// plain takes every step b takes, except that b is dropped for its Rest and resumed
		// whenever it holds nothing (op 7): the two must be indistinguishable.
		plain, rested := New(cfg), Stats{}
		same := func(step string) {
			t.Helper()
			d1, ts1 := b.Head()
			d2, ts2 := plain.Head()
			if b.Pos() != plain.Pos() || !bytes.Equal(d1, d2) || ts1 != ts2 || b.Len() != plain.Len() {
				t.Fatalf("%s: resumed buffer at %d head %d ts %d len %d, plain at %d head %d ts %d len %d", step,
					b.Pos(), len(d1), ts1, b.Len(), plain.Pos(), len(d2), ts2, plain.Len())
			}
			if sum := addStats(rested, b.Stats()); sum != plain.Stats() {
				t.Fatalf("%s: resumed buffer's stats %+v, plain %+v", step, sum, plain.Stats())
			}
		}
		var last uint64
		var now uint64
		type later struct {
			g     []Chunk
			after int
		}
		var dups []later
		deliver := func(g []Chunk) {
			for _, c := range g {
				trace("add pos %d org %d plen %d ts %d", c.Pos, c.OrgSize, len(c.Payload), c.TS)
				b.Add(c)
				plain.Add(c)
				now = max(now, c.TS)
			}
		}
		for gi := 0; gi < len(m.groups); gi++ {
			g := m.groups[gi]
			switch s.n(12) {
			case 0: // lost
				g = nil
			case 1: // delivered twice, back to back or a few syscalls later
				dups = append(dups, later{g, gi + s.n(3)})
			case 2: // the next syscall's events arrive first (another CPU)
				if gi+1 < len(m.groups) {
					deliver(m.groups[gi+1])
					checkBuffer(t, b, m, &last, fmt.Sprint("early group ", gi+1))
					m.groups[gi+1] = nil
				}
			}
			deliver(g)
			for i := 0; i < len(dups); i++ {
				if dups[i].after <= gi {
					deliver(dups[i].g)
					dups = append(dups[:i], dups[i+1:]...)
					i--
				}
			}
			checkBuffer(t, b, m, &last, fmt.Sprint("group ", gi))
			same(fmt.Sprint("group ", gi))
			for op := s.n(4); op > 0; op-- {
				switch s.n(9) {
				case 0:
					trace("flush")
					b.Flush()
					plain.Flush()
				case 1:
					data, _ := b.Head()
					n := s.n(len(data) + 2*maxChunk + 2)
					trace("consume %d at %d (head %d)", n, b.Pos(), len(data))
					b.Consume(n)
					plain.Consume(n)
				case 2:
					data, _ := b.Head()
					trace("consume head %d at %d", len(data), b.Pos())
					b.Consume(len(data))
					plain.Consume(len(data))
				case 3:
					at := now + uint64(s.n(200))
					g := b.Gap(at, 0)
					if g2 := plain.Gap(at, 0); g2 != g {
						t.Fatalf("gap(%d): resumed buffer %d, plain %d", at, g, g2)
					}
					if g > 0 {
						trace("gap(%d) %d at %d, skip", at, g, b.Pos())
						b.SkipGap()
						plain.SkipGap()
					}
				case 4:
					trace("skipgap at %d: %d", b.Pos(), b.SkipGap())
					plain.SkipGap()
				case 5:
					data, _ := b.Head()
					n := s.n(len(data) + 1)
					trace("consume %d at %d (head %d)", n, b.Pos(), len(data))
					b.Consume(n)
					plain.Consume(n)
				case 6:
					c := 4*maxChunk + s.n(64)
					trace("setcap %d", c)
					b.SetCap(c)
					plain.SetCap(c)
				case 7:
					st := b.Stats()
					if r, ok := b.Rest(); ok {
						trace("rest %+v", r)
						rested = addStats(rested, st)
						set := b.set
						b = set.Resume(r)
						last = b.Pos()
					} else {
						trace("release")
						b.Release()
					}
					plain.Release()
				case 8:
					at := now + uint64(s.n(200))
					g := b.GapAfterHead(at, 0)
					if g2 := plain.GapAfterHead(at, 0); g2 != g {
						t.Fatalf("gap after head(%d): resumed buffer %d, plain %d", at, g, g2)
					}
					if data, _ := b.Head(); g > 0 {
						trace("gap after head(%d) at %d: drop %d", at, b.Pos(), len(data))
						b.Consume(len(data))
						plain.Consume(len(data))
					}
				}
				checkBuffer(t, b, m, &last, fmt.Sprint("op after group ", gi))
				same(fmt.Sprint("op after group ", gi))
			}
		}
		for _, d := range dups {
			deliver(d.g)
		}
		b.Flush()
		plain.Flush()
		checkBuffer(t, b, m, &last, "flush")
		same("flush")
		// Drain: everything left is consumed or given up.
		for i := 0; i < 10000; i++ {
			data, _ := b.Head()
			if len(data) > 0 {
				b.Consume(len(data))
				plain.Consume(len(data))
			} else if b.Gap(^uint64(0), 0) == 0 || b.SkipGap() == 0 {
				break
			} else {
				plain.Gap(^uint64(0), 0)
				plain.SkipGap()
			}
			checkBuffer(t, b, m, &last, "drain")
			same("drain")
		}
		if b.Len() != 0 {
			t.Fatalf("drain left %d bytes", b.Len())
		}
	}
}

// TestModelRandom runs the fuzz body over deterministic pseudo-random inputs, so that plain `go
// test` covers what the fuzzer explores.
func TestModelRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		in := make([]byte, rng.IntN(400))
		for j := range in {
			in[j] = byte(rng.Uint32())
		}
		runModel(t, in, nil)
		if t.Failed() {
			t.Fatalf("input %q", in)
		}
	}
}

func addStats(a, b Stats) Stats {
	return Stats{Chunks: a.Chunks + b.Chunks, Received: a.Received + b.Received, Prepended: a.Prepended + b.Prepended,
		Consumed: a.Consumed + b.Consumed, Skipped: a.Skipped + b.Skipped, Duplicate: a.Duplicate + b.Duplicate,
		Stale: a.Stale + b.Stale, Truncated: a.Truncated + b.Truncated, Filled: a.Filled + b.Filled,
		Overflow: a.Overflow + b.Overflow, Gap: a.Gap + b.Gap}
}
