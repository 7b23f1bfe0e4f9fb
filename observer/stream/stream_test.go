package stream

import (
	"bytes"
	"testing"

	"github.com/netobserver/netobserver/parser/mysql"
)

// mysqlGlue is the stream hint of MySQL connections, the one protocol rule for length_header.
var mysqlGlue = mysql.Protocol.Stream().GlueLengthHeader

// ch is a plain event: pos after the syscall, wire size, payload, ts.
func ch(pos uint64, org uint32, payload string, ts uint64) Chunk {
	return Chunk{Pos: pos, OrgSize: org, Payload: []byte(payload), TS: ts}
}

// vec is an iovec segment event.
func vec(pos uint64, org uint32, payload string, ts uint64) Chunk {
	c := ch(pos, org, payload, ts)
	c.Vectored = true
	return c
}

// step is one action on a Buffer and what must hold after it. Expectations left zero are not
// checked, except head, which is always compared (nil and "" both mean no byte at the parse
// position).
type step struct {
	name    string
	add     []Chunk
	flush   bool
	consume int
	gapNow  uint64 // call Gap(gapNow, 0) and compare with gap
	gap     uint64
	skip    bool // call SkipGap, expect skipped
	skipped uint64

	head string
	pos  uint64
	ts   uint64
}

func play(t *testing.T, cfg Config, steps []step, want Stats) *Buffer {
	t.Helper()
	b := New(cfg)
	for i, s := range steps {
		for _, c := range s.add {
			b.Add(c)
		}
		if s.flush {
			b.Flush()
		}
		if s.consume != 0 {
			b.Consume(s.consume)
		}
		if s.gapNow != 0 {
			if g := b.Gap(s.gapNow, 0); g != s.gap {
				t.Fatalf("step %d %s: Gap(%d, 0) = %d, want %d", i, s.name, s.gapNow, g, s.gap)
			}
		}
		if s.skip {
			if n := b.SkipGap(); n != s.skipped {
				t.Fatalf("step %d %s: SkipGap = %d, want %d", i, s.name, n, s.skipped)
			}
		}
		data, ts := b.Head()
		if string(data) != s.head {
			t.Fatalf("step %d %s: Head = %q, want %q", i, s.name, data, s.head)
		}
		if b.Pos() != s.pos {
			t.Fatalf("step %d %s: Pos = %d, want %d", i, s.name, b.Pos(), s.pos)
		}
		if s.ts != 0 && ts != s.ts {
			t.Fatalf("step %d %s: ts = %d, want %d", i, s.name, ts, s.ts)
		}
		checkIdentities(t, b, s.name)
	}
	if got := b.Stats(); got != want {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
	return b
}

// small is the configuration of the byte-vector tests: 4-byte chunks, so that splitting shows in
// short strings.
var small = Config{MaxChunk: 4, GapTimeout: 100}

func TestInOrder(t *testing.T) {
	play(t, small, []step{
		{name: "first", add: []Chunk{ch(3, 3, "GET", 10)}, head: "GET", pos: 0, ts: 10},
		{name: "second", add: []Chunk{ch(5, 2, " /", 20)}, head: "GET /", pos: 0, ts: 10},
		{name: "consume into the second event", consume: 4, head: "/", pos: 4, ts: 20},
		{name: "consume all", consume: 1, head: "", pos: 5},
		{name: "third", add: []Chunk{ch(8, 3, "\r\n\r", 30)}, head: "\r\n\r", pos: 5, ts: 30},
	}, Stats{Chunks: 3, Received: 8, Consumed: 5})
}

func TestFillTruncated(t *testing.T) {
	// memcached's "set k 0 0 5\r\nvalue\r\n" with the value sent as a size: a plain syscall in
	// two events, each placed by its own pos (the line and the cut value, then the CRLF), and the
	// VALUE reply of an iovec syscall (line + cut value, then "\r\nEND\r\n") as one group.
	fill := Config{MaxChunk: 64, Cap: 256, FillTruncated: true}
	play(t, fill, []step{
		{name: "the line, the value cut", add: []Chunk{ch(18, 18, "set k 0 0 5\r\n", 1)}, head: "set k 0 0 5\r\n\x00\x00\x00\x00\x00", pos: 0, ts: 1},
		{name: "the CRLF", add: []Chunk{ch(20, 2, "\r\n", 1)}, head: "set k 0 0 5\r\n\x00\x00\x00\x00\x00\r\n", pos: 0, ts: 1},
		{name: "consumed", consume: 20, head: "", pos: 20},
		{name: "unreadable memory stays a hole", add: []Chunk{ch(24, 4, "", 2)}, head: "", pos: 20},
		{name: "given up", gapNow: 3, gap: 4, skip: true, skipped: 4, head: "", pos: 24},
		{name: "reply: line and cut value", add: []Chunk{vec(49, 18, "VALUE k 0 5\r\n", 3)}, head: "", pos: 24},
		{name: "reply: CRLF END", add: []Chunk{vec(49, 7, "\r\nEND\r\n", 3)}, flush: true, head: "VALUE k 0 5\r\n\x00\x00\x00\x00\x00\r\nEND\r\n", pos: 24, ts: 3},
	}, Stats{Chunks: 5, Received: 49, Truncated: 14, Filled: 10, Consumed: 20, Gap: 4})
	// Larger than a quarter of Cap: a hole, as without the hint.
	play(t, fill, []step{
		{name: "too large to fill", add: []Chunk{ch(100, 100, "set k 0 0 80\r\n", 1)}, head: "set k 0 0 80\r\n", pos: 0, ts: 1},
	}, Stats{Chunks: 1, Received: 100, Truncated: 86})
}

func TestFourChunksTruncated(t *testing.T) {
	// write() of 18 bytes with 4-byte chunks: three full chunks, then the 4th carries the
	// remainder's size (6) but only 4 bytes. The kernel says nothing about how many events a
	// syscall makes; the 4th closes the group.
	const s = "abcdefghijklmnopqr"
	play(t, small, []step{
		{name: "chunk 1", add: []Chunk{ch(18, 4, s[0:4], 7)}, head: "", pos: 0},
		{name: "chunks 2-3", add: []Chunk{ch(18, 4, s[4:8], 7), ch(18, 4, s[8:12], 7)}, head: "", pos: 0},
		{name: "chunk 4 places the group at 18-18", add: []Chunk{ch(18, 6, s[12:16], 7)}, head: s[:16], pos: 0, ts: 7},
		{name: "the truncated tail is a gap at once", consume: 16, gapNow: 1, gap: 2, head: "", pos: 16},
		{name: "skip it", skip: true, skipped: 2, head: "", pos: 18},
		{name: "next syscall", add: []Chunk{ch(21, 3, "xyz", 8)}, head: "xyz", pos: 18, ts: 8},
	}, Stats{Chunks: 5, Received: 21, Truncated: 2, Consumed: 16, Gap: 2})
}

func TestFourChunksRealSizes(t *testing.T) {
	// 70000 bytes at the real CONN_DATA_MAX_SIZE: 16384 × 3, then org 20848 with 16384 copied.
	payload := make([]byte, 70000)
	for i := range payload {
		payload[i] = byte(i*7 + i/251)
	}
	b := New(Config{})
	add := func() {
		for i := 0; i < 4; i++ {
			if data, _ := b.Head(); data != nil {
				t.Fatalf("chunk %d placed before the group is complete", i)
			}
			org := uint32(MaxChunk)
			if i == 3 {
				org = 70000 - 3*MaxChunk
			}
			b.Add(Chunk{Pos: 70000, OrgSize: org, Payload: payload[i*MaxChunk : (i+1)*MaxChunk], TS: 1})
		}
	}
	add()
	data, _ := b.Head()
	if !bytes.Equal(data, payload[:4*MaxChunk]) || b.Pos() != 0 {
		t.Fatalf("Head = %d bytes at %d", len(data), b.Pos())
	}
	if s := b.Stats(); s.Truncated != 70000-4*MaxChunk || s.Received != 70000 {
		t.Fatalf("stats %+v", s)
	}
	// A message announced across the lost tail: Consume past it, the next syscall continues.
	b.Consume(70000)
	b.Add(Chunk{Pos: 70005, OrgSize: 5, Payload: []byte("after"), TS: 2})
	if data, ts := b.Head(); string(data) != "after" || ts != 2 || b.Pos() != 70000 {
		t.Fatalf("Head = %q ts %d at %d", data, ts, b.Pos())
	}
	checkIdentities(t, b, "real sizes")

	// Zeros: the chunks are identical, which is also what a duplicate delivery looks like, so
	// the group waits for the end of the batch, then is placed whole (it is not a repetition:
	// its 4th chunk differs in size).
	clear(payload)
	b = New(Config{})
	for i := 0; i < 4; i++ {
		org := uint32(MaxChunk)
		if i == 3 {
			org = 70000 - 3*MaxChunk
		}
		b.Add(Chunk{Pos: 70000, OrgSize: org, Payload: payload[:MaxChunk], TS: 1})
	}
	if data, _ := b.Head(); data != nil {
		t.Fatal("identical chunks placed before Flush")
	}
	b.Flush()
	if data, _ := b.Head(); len(data) != 4*MaxChunk || b.Pos() != 0 {
		t.Fatalf("Head = %d bytes at %d", len(data), b.Pos())
	}
	checkIdentities(t, b, "zeros")
}

func TestExactMultipleAfterHole(t *testing.T) {
	// A plain syscall of exactly 2 × MaxChunk after a hole: its size alone cannot say it is
	// complete and it meets no boundary, so it waits for the next event (or Flush).
	play(t, small, []step{
		{name: "first", add: []Chunk{ch(2, 2, "ab", 1)}, head: "ab", pos: 0},
		{name: "after a lost event", add: []Chunk{ch(13, 4, "ghij", 3), ch(13, 4, "klmn", 3)}, head: "ab", pos: 0},
		{name: "next pos resolves it", add: []Chunk{ch(14, 1, "o", 4)}, head: "ab", pos: 0},
		{name: "hole", consume: 2, gapNow: 3 + 100, gap: 3, head: "", pos: 2},
		{name: "skip", skip: true, skipped: 3, head: "ghijklmno", pos: 5, ts: 3},
		{name: "last byte's ts", consume: 8, head: "o", pos: 13, ts: 4},
	}, Stats{Chunks: 4, Received: 11, Consumed: 10, Gap: 3})
}

func TestIovec(t *testing.T) {
	// writev of "ab" + "cdefgh" (6 bytes, truncated to 4) + "ij" after "xyz": the segments'
	// sizes sum to 10 and the group starts at 3, where "xyz" ended: placed at the 3rd segment.
	play(t, small, []step{
		{name: "before", add: []Chunk{ch(3, 3, "xyz", 1)}, head: "xyz", pos: 0},
		{name: "segments 1-2", add: []Chunk{vec(13, 2, "ab", 2), vec(13, 6, "cdef", 2)}, head: "xyz", pos: 0},
		{name: "segment 3", add: []Chunk{vec(13, 2, "ij", 2)}, head: "xyzabcdef", pos: 0},
		{name: "truncated segment tail", consume: 9, gapNow: 1, gap: 2, head: "", pos: 9},
		{name: "skip", skip: true, skipped: 2, head: "ij", pos: 11, ts: 2},
	}, Stats{Chunks: 4, Received: 13, Truncated: 2, Consumed: 9, Gap: 2})

	// The same segments first on a connection: nothing says the group ended until Flush.
	play(t, small, []step{
		{name: "segments", add: []Chunk{vec(10, 2, "ab", 2), vec(10, 6, "cdef", 2), vec(10, 2, "ij", 2)}, head: "", pos: 0},
		{name: "flush", flush: true, head: "abcdef", pos: 0, ts: 2},
	}, Stats{Chunks: 3, Received: 10, Truncated: 2})

	// Or until a pending group is older than GapTimeout when Gap is asked.
	play(t, small, []step{
		{name: "segments", add: []Chunk{vec(10, 2, "ab", 2), vec(10, 8, "cdef", 2)}, gapNow: 50, head: "", pos: 0},
		{name: "old", gapNow: 102, head: "abcdef", pos: 0},
	}, Stats{Chunks: 2, Received: 10, Truncated: 4})
}

func TestDuplicate(t *testing.T) {
	play(t, small, []step{
		{name: "original", add: []Chunk{ch(3, 3, "abc", 1)}, head: "abc", pos: 0},
		{name: "copy while held", add: []Chunk{ch(3, 3, "abc", 1)}, head: "abc", pos: 0},
		{name: "consume", consume: 3, head: "", pos: 3},
		{name: "copy after consumed", add: []Chunk{ch(3, 3, "abc", 1)}, head: "", pos: 3},
		{name: "overlapping", add: []Chunk{ch(5, 2, "de", 2), ch(5, 2, "de", 2), ch(6, 1, "f", 3)}, head: "def", pos: 3},
	}, Stats{Chunks: 6, Received: 14, Duplicate: 5, Stale: 3, Consumed: 3})

	// An iovec group delivered twice back to back, after a hole, so that no boundary places it
	// early: its copies are recognised (same sizes, ts and bytes) instead of being summed, which
	// would put it 4 bytes too early.
	play(t, small, []step{
		{name: "before", add: []Chunk{ch(2, 2, "xy", 1)}, head: "xy", pos: 0},
		{name: "twice", add: []Chunk{vec(9, 2, "ab", 5), vec(9, 2, "cd", 5), vec(9, 2, "ab", 5), vec(9, 2, "cd", 5)}, head: "xy", pos: 0},
		{name: "flush", flush: true, consume: 2, gapNow: 5 + 100, gap: 3, head: "", pos: 2},
		{name: "skip", skip: true, skipped: 3, head: "abcd", pos: 5, ts: 5},
	}, Stats{Chunks: 5, Received: 10, Duplicate: 4, Consumed: 2, Gap: 3})
}

func TestOutOfOrder(t *testing.T) {
	// Three syscalls from threads on different CPUs; the middle one is delivered last.
	play(t, small, []step{
		{name: "first", add: []Chunk{ch(3, 3, "abc", 1)}, head: "abc", pos: 0},
		{name: "third", add: []Chunk{ch(9, 3, "ghi", 3)}, head: "abc", pos: 0},
		{name: "not a gap yet", consume: 3, gapNow: 50, gap: 0, head: "", pos: 3},
		{name: "second fills the hole", add: []Chunk{ch(6, 3, "def", 2)}, head: "defghi", pos: 3, ts: 2},
		{name: "ts of the third", consume: 3, head: "ghi", pos: 6, ts: 3},
	}, Stats{Chunks: 3, Received: 9, Consumed: 6})

	// A later iovec group arrives before an earlier one: the earlier one's different pos closes
	// it, and the earlier one meets the boundary at the hole's start.
	play(t, small, []step{
		{name: "first", add: []Chunk{ch(2, 2, "ab", 1)}, head: "ab", pos: 0},
		{name: "later iovec", add: []Chunk{vec(8, 2, "ef", 3), vec(8, 2, "gh", 3)}, head: "ab", pos: 0},
		{name: "earlier", add: []Chunk{vec(4, 2, "cd", 2)}, head: "abcdefgh", pos: 0},
	}, Stats{Chunks: 4, Received: 8})
}

func TestLostEvent(t *testing.T) {
	play(t, small, []step{
		{name: "first", add: []Chunk{ch(3, 3, "abc", 100)}, head: "abc", pos: 0},
		// ch(6, 3, "def", 200) is lost.
		{name: "third", add: []Chunk{ch(9, 3, "ghi", 300)}, consume: 3, head: "", pos: 3},
		{name: "too early", gapNow: 399, gap: 0, head: "", pos: 3},
		{name: "old enough", gapNow: 400, gap: 3, head: "", pos: 3},
		{name: "skip", skip: true, skipped: 3, head: "ghi", pos: 6, ts: 300},
		{name: "late copy of the lost event", add: []Chunk{ch(6, 3, "def", 200)}, head: "ghi", pos: 6},
		{name: "resume", consume: 3, add: []Chunk{ch(12, 3, "jkl", 400)}, head: "jkl", pos: 9, ts: 400},
	}, Stats{Chunks: 4, Received: 12, Consumed: 6, Stale: 3, Gap: 3, Skipped: 0})

	// Truncated bytes are given up at once, a hole after them only when it is old enough.
	play(t, small, []step{
		{name: "truncated segment", add: []Chunk{vec(6, 6, "abcd", 10)}, flush: true, head: "abcd", pos: 0},
		// ch(9, 3, "efg", 20) is lost.
		{name: "later", add: []Chunk{ch(12, 3, "hij", 30)}, consume: 4, gapNow: 31, gap: 2, head: "", pos: 4},
		{name: "skip the truncated bytes", skip: true, skipped: 2, head: "", pos: 6},
		{name: "the hole after them is recent", gapNow: 31, gap: 0, head: "", pos: 6},
		{name: "the hole is old", gapNow: 130, gap: 3, skip: true, skipped: 3, head: "hij", pos: 9, ts: 30},
	}, Stats{Chunks: 2, Received: 9, Truncated: 2, Consumed: 4, Gap: 5})

	// Enough bytes after a hole give it up without waiting.
	cfg := small
	cfg.GapBytes = 4
	play(t, cfg, []step{
		{name: "first", add: []Chunk{ch(1, 1, "a", 1)}, consume: 1, head: "", pos: 1},
		{name: "3 bytes after a hole", add: []Chunk{ch(6, 3, "def", 2)}, gapNow: 2, gap: 0, head: "", pos: 1},
		{name: "4 bytes", add: []Chunk{ch(7, 1, "g", 3)}, gapNow: 3, gap: 2, head: "", pos: 1},
	}, Stats{Chunks: 3, Received: 5, Consumed: 1})
}

func TestGapAfterHead(t *testing.T) {
	// A UDP datagram truncated by the kernel: the parser holds its beginning and says NeedMore;
	// the truncated rest is given up at once, the caller drops the partial message and goes on.
	b := New(small)
	b.Add(vec(20, 20, "abcd", 1))
	b.Add(vec(30, 10, "next", 2))
	if data, _ := b.Head(); string(data) != "abcd" || b.GapAfterHead(1, 0) != 16 {
		t.Fatalf("Head %q GapAfterHead %d", data, b.GapAfterHead(1, 0))
	}
	b.Consume(4)
	if n := b.Gap(1, 0); n != 16 || b.SkipGap() != 16 {
		t.Fatalf("Gap %d", n)
	}
	if data, _ := b.Head(); string(data) != "next" || b.Pos() != 20 || b.GapAfterHead(1, 0) != 6 {
		t.Fatalf("Head %q at %d", data, b.Pos())
	}
	checkIdentities(t, b, "truncated datagram")

	// A lost event after the bytes Head holds: given up only once later data is old enough.
	b = New(small)
	b.Add(ch(3, 3, "abc", 1))
	b.Add(ch(9, 3, "ghi", 300))
	if b.GapAfterHead(399, 0) != 0 || b.GapAfterHead(400, 0) != 3 {
		t.Fatalf("GapAfterHead %d %d", b.GapAfterHead(399, 0), b.GapAfterHead(400, 0))
	}
	// Nothing after Head, or nothing in Head: 0.
	b.Consume(3)
	if b.GapAfterHead(1000, 0) != 0 || b.Gap(1000, 0) != 3 {
		t.Fatalf("GapAfterHead %d Gap %d", b.GapAfterHead(1000, 0), b.Gap(1000, 0))
	}
	b.SkipGap()
	if b.GapAfterHead(1000, 0) != 0 {
		t.Fatal("GapAfterHead with nothing after Head")
	}
}

// A hole is given up at once when the data behind it came in a settled batch — a later poll
// emptied every ring without filling it — and not while that data's own batch is the newest.
func TestGapSettled(t *testing.T) {
	b := New(small)
	in := func(pos uint64, payload string, ts, batch uint64) {
		c := ch(pos, uint32(len(payload)), payload, ts)
		c.Batch = batch
		b.Add(c)
	}
	in(3, "abc", 10, 1)
	b.Consume(3)
	in(9, "ghi", 30, 2) // "def" missing
	if ts, ok := b.NextTS(); !ok || ts != 30 {
		t.Fatalf("NextTS %d %v, want the bytes behind the hole", ts, ok)
	}
	for _, settled := range []uint64{0, 1, 2} {
		if g := b.Gap(31, settled); g != 0 {
			t.Fatalf("Gap(settled %d) = %d before a later batch settled", settled, g)
		}
	}
	in(12, "jkl", 40, 3)
	if g := b.Gap(41, 3); g != 3 || b.SkipGap() != 3 {
		t.Fatalf("Gap(settled 3) = %d", g)
	}
	if data, ts := b.Head(); string(data) != "ghijkl" || ts != 30 {
		t.Fatalf("Head %q %d", data, ts)
	}
	if ts, ok := b.NextTS(); !ok || ts != 30 {
		t.Fatalf("NextTS %d %v, want Head's", ts, ok)
	}

	// After Head's bytes too: the rest of a message behind a settled hole will not come.
	b.Consume(3)
	in(18, "pqr", 50, 4) // "mno" missing
	if b.GapAfterHead(51, 4) != 0 || b.GapAfterHead(51, 5) != 3 {
		t.Fatalf("GapAfterHead %d %d", b.GapAfterHead(51, 4), b.GapAfterHead(51, 5))
	}
	checkIdentities(t, b, "settled")
}

func TestConsumePastEnd(t *testing.T) {
	// A header announces a 6-byte body; only the header has arrived. The caller consumes header
	// and body by position; body bytes that arrive later are dropped, what follows is kept.
	play(t, small, []step{
		{name: "header", add: []Chunk{ch(4, 4, "HDR:", 1)}, flush: true, head: "HDR:", pos: 0},
		{name: "consume header and body", consume: 10, head: "", pos: 10},
		{name: "body, inside the skipped range", add: []Chunk{ch(8, 4, "body", 2)}, head: "", pos: 10},
		{name: "straddling", add: []Chunk{ch(13, 5, "dyNEX", 3)}, head: "NEX", pos: 10, ts: 3},
		{name: "beyond", add: []Chunk{ch(14, 1, "T", 4)}, head: "NEXT", pos: 10, ts: 3},
	}, Stats{Chunks: 4, Received: 14, Consumed: 4, Skipped: 6, Stale: 6})
}

func TestOverflow(t *testing.T) {
	cfg := small
	cfg.Cap = 16 // the minimum for 4-byte chunks
	b := play(t, cfg, []step{
		{name: "fill", add: []Chunk{ch(4, 4, "aaaa", 1), ch(8, 4, "bbbb", 2), ch(12, 4, "cccc", 3), ch(16, 4, "dddd", 4)},
			head: "aaaabbbbccccdddd", pos: 0, ts: 1},
		{name: "one more drops the oldest", add: []Chunk{ch(18, 2, "ee", 5)}, head: "aabbbbccccddddee", pos: 2, ts: 1},
		{name: "and again", add: []Chunk{ch(22, 4, "ffff", 6)}, head: "bbccccddddeeffff", pos: 6, ts: 2},
	}, Stats{Chunks: 6, Received: 22, Overflow: 6})
	if b.Len() != 16 || b.Cap() != 16 {
		t.Fatalf("Len %d Cap %d", b.Len(), b.Cap())
	}
	// Overflowed says a drop happened, once.
	if !b.Overflowed() || b.Overflowed() {
		t.Fatal("Overflowed after the drops: want true, then false")
	}
	// Raising the cap keeps more; lowering it drops the oldest; holes passed on the way count as
	// Gap.
	b.SetCap(24)
	b.Add(ch(30, 4, "hhhh", 7)) // [26,30), after a hole at [22,26)
	expect := func(head string, pos, overflow, gap uint64, dropped bool) {
		t.Helper()
		if b.Overflowed() != dropped {
			t.Fatalf("Overflowed %v, want %v", !dropped, dropped)
		}
		if data, _ := b.Head(); string(data) != head || b.Pos() != pos {
			t.Fatalf("Head %q at %d, want %q at %d", data, b.Pos(), head, pos)
		}
		if s := b.Stats(); s.Overflow != overflow || s.Gap != gap {
			t.Fatalf("stats %+v, want overflow %d gap %d", s, overflow, gap)
		}
		checkIdentities(t, b, head)
	}
	expect("bbccccddddeeffff", 6, 6, 0, false)
	b.SetCap(1) // clamped to 4 × MaxChunk: 16
	expect("ccddddeeffff", 10, 10, 0, true)
	b.Add(ch(38, 8, "iiiiiiii", 8)) // 8 too many: "ccdddd" and "ee" go
	expect("ffff", 18, 18, 0, true)
	b.Add(ch(42, 4, "jjjj", 9)) // "ffff" goes; the parse position is at the hole
	expect("", 22, 22, 0, true)
	b.Add(ch(44, 2, "kk", 10)) // the hole is passed (Gap), then "hh" goes
	expect("hhiiiiiiiijjjjkk", 28, 24, 4, true)
}

// le is the length_header of the 4 wire bytes w, as the kernel stores it (a little-endian u32).
func le(w string) uint32 {
	return uint32(w[0]) | uint32(w[1])<<8 | uint32(w[2])<<16 | uint32(w[3])<<24
}

func TestTryToPrepend(t *testing.T) {
	// Kafka: the client read the 4-byte size (00 00 00 06) on its own; that read was not
	// emitted, the body's event carries it with try_to_prepend.
	c := ch(10, 6, "kafka!", 5)
	c.TryToPrepend, c.LengthHeader = true, le("\x00\x00\x00\x06")
	play(t, small, []step{
		{name: "glued", add: []Chunk{c}, head: "\x00\x00\x00\x06kafka!", pos: 0, ts: 5},
	}, Stats{Chunks: 1, Received: 10, Prepended: 4})

	// When the 4-byte read was emitted too, the glued copy is a duplicate. (The header event is
	// exactly MaxChunk long here, so it waits for Flush like any exact multiple first on a
	// connection.)
	play(t, small, []step{
		{name: "header event", add: []Chunk{ch(4, 4, "\x00\x00\x00\x06", 4)}, flush: true, head: "\x00\x00\x00\x06", pos: 0},
		{name: "body", add: []Chunk{c}, head: "\x00\x00\x00\x06kafka!", pos: 0, ts: 4},
	}, Stats{Chunks: 2, Received: 14, Prepended: 4, Duplicate: 4})
}

func TestMySQLGlue(t *testing.T) {
	glue := small
	glue.GlueLengthHeader = mysqlGlue
	body := func(payload string, lh string) Chunk {
		c := ch(4+uint64(len(payload)), uint32(len(payload)), payload, 9)
		c.LengthHeader = le(lh)
		return c
	}
	// A 5-byte packet body read after its header (05 00 00, sequence 01).
	play(t, glue, []step{
		{name: "glued", add: []Chunk{body("hello", "\x05\x00\x00\x01")}, head: "\x05\x00\x00\x01hello", pos: 0, ts: 9},
	}, Stats{Chunks: 1, Received: 9, Prepended: 4})
	// The length does not match the body: not glued.
	play(t, glue, []step{
		{name: "other length", add: []Chunk{body("hello", "\x06\x00\x00\x01")}, head: "hello", pos: 4},
	}, Stats{Chunks: 1, Received: 5})
	// The payload already starts with that length: it is a whole packet, not glued.
	play(t, glue, []step{
		{name: "starts with the length", add: []Chunk{body("\x09\x00\x00\x02abcde", "\x09\x00\x00\x01")}, head: "\x09\x00\x00\x02abcde", pos: 4},
	}, Stats{Chunks: 1, Received: 9})
	// Not a MySQL connection: the rule does not apply.
	play(t, small, []step{
		{name: "not mysql", add: []Chunk{body("hello", "\x05\x00\x00\x01")}, head: "hello", pos: 4},
	}, Stats{Chunks: 1, Received: 5})
	// A body longer than one chunk: the rule compares the group's total size.
	big := "0123456789"
	play(t, glue, []step{
		{name: "multi-chunk body", add: []Chunk{
			{Pos: 14, OrgSize: 4, Payload: []byte(big[:4]), TS: 9, LengthHeader: le("\x0a\x00\x00\x03")},
			{Pos: 14, OrgSize: 4, Payload: []byte(big[4:8]), TS: 9, LengthHeader: le("\x0a\x00\x00\x03")},
			{Pos: 14, OrgSize: 2, Payload: []byte(big[8:]), TS: 9, LengthHeader: le("\x0a\x00\x00\x03")},
		}, head: "\x0a\x00\x00\x03" + big, pos: 0},
	}, Stats{Chunks: 3, Received: 14, Prepended: 4})
}

func TestEdgeInputs(t *testing.T) {
	b := New(small)
	// Nothing yet: every call is harmless.
	if data, _ := b.Head(); data != nil || b.Gap(1<<60, 0) != 0 || b.SkipGap() != 0 || b.Len() != 0 {
		t.Fatal("empty buffer")
	}
	b.Consume(5)
	b.Consume(-1)
	b.Flush()
	b.Add(Chunk{Pos: 3, OrgSize: 0, Payload: []byte("abc")})     // zero size: nothing on the wire
	b.Add(Chunk{Pos: 2, OrgSize: 5, Payload: []byte("abcde")})   // longer than its position: bogus
	b.Add(Chunk{Pos: 10, OrgSize: 2, Payload: []byte("abcdef")}) // payload longer than the chunk
	if data, _ := b.Head(); string(data) != "ab" || b.Pos() != 8 {
		t.Fatalf("Head %q at %d", data, b.Pos())
	}
	b.Consume(1 << 62)
	b.Consume(1 << 62)
	b.Consume(1 << 62)
	b.Consume(1 << 62)
	if b.Pos() != ^uint64(0) {
		t.Fatalf("Pos %d after consuming everything", b.Pos())
	}
	checkIdentities(t, b, "edge")
	b.Release()
	if b.data != nil {
		t.Fatal("Release kept the backing array")
	}
}

func TestZeroAllocs(t *testing.T) {
	b := New(Config{})
	payload := bytes.Repeat([]byte("x"), 1000)
	var pos uint64
	step := func() {
		// A plain event, an iovec pair, and an out-of-order pair, all consumed.
		pos += 1000
		b.Add(Chunk{Pos: pos, OrgSize: 1000, Payload: payload, TS: pos})
		pos += 300
		b.Add(Chunk{Pos: pos, OrgSize: 100, Payload: payload[:100], TS: pos, Vectored: true})
		b.Add(Chunk{Pos: pos, OrgSize: 200, Payload: payload[:200], TS: pos, Vectored: true})
		b.Add(Chunk{Pos: pos + 200, OrgSize: 100, Payload: payload[:100], TS: pos})
		b.Add(Chunk{Pos: pos + 100, OrgSize: 100, Payload: payload[:100], TS: pos})
		pos += 200
		for {
			data, _ := b.Head()
			if len(data) == 0 {
				break
			}
			b.Consume(len(data))
		}
		b.Gap(pos, 0)
	}
	for i := 0; i < 10; i++ {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Fatalf("%.1f allocations per round", a)
	}
	if b.Len() != 0 || b.Pos() != pos {
		t.Fatalf("Len %d Pos %d, want 0 %d", b.Len(), b.Pos(), pos)
	}
}
