package stream

// The positional buffer: bytes and known-lost stretches by stream position, and the parse
// position that moves over them.

import "sort"

// MaxChunk is CONN_DATA_MAX_SIZE, the payload bytes one data event carries at most.
const MaxChunk = 16384

// Defaults for Config's zero fields.
const (
	DefaultCap        = 1 << 20
	DefaultGapTimeout = 500_000_000 // 500 ms in ns
)

// maxMarks bounds the per-event timestamps kept for unparsed bytes. Past it, the bytes of further
// events report the timestamp of the last recorded event before them.
const maxMarks = 4096

// Config tunes a Buffer. Zero fields take the defaults.
type Config struct {
	// Cap bounds the bytes held in memory. Default DefaultCap; at least 4*MaxChunk, the most a
	// plain syscall's events carry.
	Cap int
	// MaxChunk is the payload bytes per event (CONN_DATA_MAX_SIZE). Default MaxChunk; tests set
	// it small to exercise splitting with short vectors.
	MaxChunk int
	// GlueLengthHeader is the protocol's rule for gluing length_header in front of a syscall
	// without TryToPrepend (parser.StreamHints); nil glues only with TryToPrepend. See README.md.
	GlueLengthHeader func(header uint32, size uint64, first []byte) bool
	// FillTruncated places the bytes the kernel left out of a chunk that carries some of its
	// payload (a protocol's data block it sends as a size) as zeros, counted as Filled, instead of
	// a hole: the protocol's parser reads around such blocks and needs the message whole. A chunk
	// without payload (unreadable memory) or larger than a quarter of Cap stays a hole. The
	// protocol's hint (parser.StreamHints).
	FillTruncated bool
	// Pool, when set, lends the buffer its backing array and takes it back at Release.
	Pool *Pool
	// GapTimeout is how old (ns) the data after a hole must be before the hole is given up.
	// Default DefaultGapTimeout.
	GapTimeout uint64
	// GapBytes is how many bytes buffered after a hole make it given up regardless of time.
	// Default Cap/2.
	GapBytes int
}

// Stats counts bytes by what became of them. See README.md for the identities
// they satisfy.
type Stats struct {
	// Chunks is the number of events added.
	Chunks uint64
	// Received is the sum of OrgSize over the events added, plus Prepended.
	Received uint64
	// Prepended is the length_header bytes glued in front of groups.
	Prepended uint64
	// Consumed is the bytes present when Consume passed them.
	Consumed uint64
	// Skipped is the positions Consume passed that held no byte (not arrived, lost, truncated).
	Skipped uint64
	// Duplicate is the bytes received for positions already held.
	Duplicate uint64
	// Stale is the bytes received for positions before the parse position.
	Stale uint64
	// Truncated is the bytes the kernel did not copy (OrgSize beyond the payload).
	Truncated uint64
	// Filled is the truncated bytes placed as zeros (Config.FillTruncated).
	Filled uint64
	// Overflow is the unparsed bytes dropped to keep within Cap.
	Overflow uint64
	// Gap is the positions without bytes given up by SkipGap or passed by an overflow drop.
	Gap uint64
}

// run is a maximal stretch of positions that are present (bytes held) or known lost. Runs are
// sorted, disjoint, and adjacent present runs are always merged, so the first run is everything
// Head can return. Present bytes are stored in data in position order, without gaps.
type run struct {
	pos, n uint64
	off    int    // offset in data of the first byte (present runs)
	ts     uint64 // ts of the event that carried the first byte (present runs)
	batch  uint64 // the earliest Chunk.Batch among its bytes (present runs)
	lost   bool
}

func (r run) end() uint64 { return r.pos + r.n }

// mark records the ts of the event whose bytes start at pos.
type mark struct{ pos, ts uint64 }

// Buffer is the positional stream buffer of one direction of one connection.
type Buffer struct {
	set *Settings // shared by the Buffers of one protocol

	data []byte // present bytes in position order live in data[r:w]
	r, w int

	runs  []run
	marks []mark
	// runArr and markArr are the arrays runs and marks are windows of: advance drops what it
	// passed from their front by reslicing, and the space is taken back when the end is reached
	// (roomForRun, roomForMark). Moving the rest down at every Consume was quadratic in the
	// messages a batch brings a connection: ≈ 60 pipelined-or-not HTTP messages per connection
	// per batch at 5 000-20 000 req/s, each response two runs (its headers and its body the
	// kernel truncated).
	runArr  []run
	markArr []mark

	started  bool
	origin   uint64 // parse position when the first byte was placed
	head     uint64 // parse position
	frontier uint64 // end of the highest position ever placed
	// headAtEnd: the parse position was reached by consuming up to the end of a run, so it is
	// a boundary of real data (used by group resolution rule 1).
	headAtEnd bool
	// overflowed: unparsed bytes were dropped to keep within Cap since Overflowed last said so.
	overflowed bool

	g     *pending // &noGroup until a syscall needs staging
	stats Stats
	// placing is the Chunk.Batch of the bytes being placed.
	placing uint64
}

// New returns an empty Buffer of its own Settings.
func New(cfg Config) *Buffer { return NewSettings(cfg).New() }

// Settings are a Config with its defaults applied, made once and shared by the Buffers of many
// connections: a Buffer holds a pointer, not a copy (a tracker holds two Buffers a connection).
type Settings struct {
	user Config // as given, so that SetCap keeps zero fields following the cap
	cfg  Config
}

// NewSettings applies cfg's defaults.
func NewSettings(cfg Config) *Settings {
	s := &Settings{user: cfg}
	if cfg.MaxChunk <= 0 {
		cfg.MaxChunk = MaxChunk
	}
	if cfg.Cap <= 0 {
		cfg.Cap = DefaultCap
	}
	if cfg.Cap < 4*cfg.MaxChunk {
		// A plain syscall stages up to 4 chunks before it can be placed.
		cfg.Cap = 4 * cfg.MaxChunk
	}
	if cfg.GapTimeout == 0 {
		cfg.GapTimeout = DefaultGapTimeout
	}
	if cfg.GapBytes <= 0 {
		cfg.GapBytes = cfg.Cap / 2
	}
	s.cfg = cfg
	return s
}

// New returns an empty Buffer of these Settings.
func (s *Settings) New() *Buffer { return &Buffer{set: s, g: &noGroup} }

// Stats returns the counters.
func (b *Buffer) Stats() Stats { return b.stats }

// Pos is the parse position: the stream offset of the first byte Head returns.
func (b *Buffer) Pos() uint64 { return b.head }

// Origin is the parse position the stream started at: the position of the first byte placed.
func (b *Buffer) Origin() uint64 { return b.origin }

// Staged says a syscall's events are held until their start is known (README.md, rules 3-5):
// Flush places them, or Gap and GapAfterHead once they are settled or old.
func (b *Buffer) Staged() bool { return b.g.active }

// Len is the bytes held: buffered, staged in a pending group, and repeated chunks of a pending
// group awaiting judgement as duplicates (these occupy no memory: they are references to the
// chunks they repeat).
func (b *Buffer) Len() int { return b.mem() + int(b.g.copies) }

// mem is the bytes held in memory: buffered and staged.
func (b *Buffer) mem() int { return b.w - b.r + len(b.g.stage) }

// Cap is the bound on the bytes held in memory (Len without pending repeats). The backing array
// may briefly exceed it by one chunk during an Add.
func (b *Buffer) Cap() int { return b.set.cfg.Cap }

// SetCap changes the bound on the bytes held in memory, dropping the oldest unparsed bytes (Overflow) if needed. A
// caller enforcing a total bound over many buffers lowers the cap of the largest.
func (b *Buffer) SetCap(n int) {
	cfg := b.set.user
	cfg.Cap = n
	b.set = NewSettings(cfg)
	b.trim()
}

// Release gives the backing array of a Buffer that holds no byte back to the Pool (the Buffer
// gets one again when bytes come), or drops it when it grew past the pooled size or the pool is
// full. A connection between messages then holds no array: most tracked connections are idle.
func (b *Buffer) Release() {
	if b.data == nil || b.mem() != 0 || b.g.active {
		return
	}
	if b.set.cfg.Pool != nil && len(b.data) == pooledArray {
		b.set.cfg.Pool.put(b.data)
	}
	b.data, b.r, b.w = nil, 0, 0
}

// Rest is all a Buffer that holds nothing still knows: where the stream stands. A tracker keeps it
// instead of the Buffer for a connection that went quiet (Buffer.Rest, Settings.Resume).
type Rest struct {
	head, frontier     uint64
	started, headAtEnd bool
}

// Rest returns the Rest of a Buffer that holds nothing — no byte, no known-lost stretch, no pending
// group — and false for one that holds something. A Buffer made again from it by Resume behaves
// as this one would, except that its Stats start from zero: a caller that drops this Buffer takes
// its Stats first. Its backing array goes back to the Pool, and after a true return the Buffer
// itself (Resume reuses it): it must not be used again.
func (b *Buffer) Rest() (Rest, bool) {
	if len(b.runs) != 0 || b.mem() != 0 || b.g.active {
		return Rest{}, false
	}
	b.Release()
	r := Rest{head: b.head, frontier: b.frontier, started: b.started, headAtEnd: b.headAtEnd}
	if p := b.set.cfg.Pool; p != nil {
		p.keep(b)
	}
	return r, true
}

// Resume returns a Buffer of these Settings at rest r; the zero Rest gives New's empty Buffer.
// Its Origin is the parse position it resumes at.
func (s *Settings) Resume(r Rest) *Buffer {
	var b *Buffer
	if p := s.cfg.Pool; p != nil {
		b = p.reuse()
	}
	if b == nil {
		b = s.New()
	} else {
		b.reset(s)
	}
	b.started, b.headAtEnd = r.started, r.headAtEnd
	b.origin, b.head, b.frontier = r.head, r.head, r.frontier
	return b
}

// reset makes a Buffer given up for its Rest an empty one of Settings s, keeping its small
// arrays of runs and marks and its syscall group's state (inactive: its Rest had none pending).
func (b *Buffer) reset(s *Settings) {
	runs, marks, g := b.runArr[:0], b.markArr[:0], b.g
	if cap(runs) > 16 {
		runs = nil
	}
	if cap(marks) > 16 {
		marks = nil
	}
	if g != &noGroup && (cap(g.stage) > pooledArray || cap(g.chunks) > 8) {
		g = &noGroup
	}
	*b = Buffer{set: s, runs: runs, marks: marks, runArr: runs[:cap(runs)], markArr: marks[:cap(marks)], g: g}
}

// placeChunk places one chunk of org wire bytes at pos: its payload, then the truncated rest.
func (b *Buffer) placeChunk(pos, org uint64, p []byte, ts uint64) {
	b.place(pos, p, ts)
	n := uint64(len(p))
	if n == org {
		return
	}
	if !b.set.cfg.FillTruncated || n == 0 || org > uint64(b.set.cfg.Cap/4) {
		b.placeLost(pos+n, org-n)
		return
	}
	b.stats.Filled += org - n
	for n < org {
		k := min(org-n, uint64(len(zeros)))
		b.place(pos+n, zeros[:k], ts)
		n += k
	}
}

// zeros are the bytes FillTruncated places.
var zeros [4096]byte

// place stores present bytes p at pos: the part before the parse position is Stale, the parts
// already held are Duplicate, the rest is inserted as new runs.
func (b *Buffer) place(pos uint64, p []byte, ts uint64) {
	if len(p) == 0 {
		return
	}
	b.start(pos)
	end := pos + uint64(len(p))
	if pos < b.head {
		k := min(end, b.head) - pos
		b.stats.Stale += k
		p, pos = p[k:], pos+k
		if len(p) == 0 {
			return
		}
	}
	if end > b.frontier {
		b.frontier = end
	}
	// Fast path: past everything held.
	if len(b.runs) == 0 || pos >= b.runs[len(b.runs)-1].end() {
		b.insertPresent(len(b.runs), pos, p, ts)
		return
	}
	for i := b.firstEndingAfter(pos); len(p) > 0; {
		if i < len(b.runs) && b.runs[i].end() <= pos {
			i++
			continue
		}
		if i == len(b.runs) || b.runs[i].pos >= end {
			b.insertPresent(i, pos, p, ts)
			return
		}
		r := b.runs[i]
		if r.pos > pos {
			k := r.pos - pos
			i = b.insertPresent(i, pos, p[:k], ts)
			p, pos = p[k:], r.pos
			continue
		}
		// pos is inside run i: those positions are already held (or known lost).
		k := min(end, r.end()) - pos
		b.stats.Duplicate += k
		p, pos = p[k:], pos+k
		i++
	}
}

// placeLost records that positions [pos, pos+n) will never arrive (the kernel truncated them).
// Their bytes were counted as Truncated when received.
func (b *Buffer) placeLost(pos, n uint64) {
	b.start(pos)
	end := pos + n
	if pos < b.head {
		pos = min(end, b.head)
	}
	if end > b.frontier {
		b.frontier = end
	}
	for i := b.firstEndingAfter(pos); pos < end; {
		if i < len(b.runs) && b.runs[i].end() <= pos {
			i++
			continue
		}
		if i == len(b.runs) || b.runs[i].pos >= end {
			b.insertLost(i, pos, end-pos)
			return
		}
		r := b.runs[i]
		if r.pos > pos {
			i = b.insertLost(i, pos, r.pos-pos)
			pos = r.pos
			continue
		}
		pos = min(end, r.end())
		i++
	}
}

// start fixes the origin when the first byte of the stream is placed.
func (b *Buffer) start(pos uint64) {
	if !b.started {
		b.started = true
		b.origin, b.head, b.frontier = pos, pos, pos
	}
}

// firstEndingAfter returns the index of the first run ending after pos.
func (b *Buffer) firstEndingAfter(pos uint64) int {
	return sort.Search(len(b.runs), func(i int) bool { return b.runs[i].end() > pos })
}

// insertPresent inserts bytes p at pos as run index i (merging with present neighbours) and
// returns the index of the run that holds them.
func (b *Buffer) insertPresent(i int, pos uint64, p []byte, ts uint64) int {
	n := len(p)
	b.ensure(n)
	// Present bytes are stored in position order: the new ones go after the last present run
	// before index i.
	off := b.r
	for j := i - 1; j >= 0; j-- {
		if !b.runs[j].lost {
			off = b.runs[j].off + int(b.runs[j].n)
			break
		}
	}
	if off < b.w {
		copy(b.data[off+n:b.w+n], b.data[off:b.w])
		for j := i; j < len(b.runs); j++ {
			if !b.runs[j].lost {
				b.runs[j].off += n
			}
		}
	}
	copy(b.data[off:], p)
	b.w += n

	end := pos + uint64(n)
	mergePrev := i > 0 && !b.runs[i-1].lost && b.runs[i-1].end() == pos
	b.addMark(pos, ts, mergePrev && i == len(b.runs))
	mergeNext := i < len(b.runs) && !b.runs[i].lost && b.runs[i].pos == end
	batch := b.placing
	switch {
	case mergePrev && mergeNext:
		b.runs[i-1].n += uint64(n) + b.runs[i].n
		b.runs[i-1].batch = min(b.runs[i-1].batch, batch, b.runs[i].batch)
		b.runs = append(b.runs[:i], b.runs[i+1:]...)
		return i - 1
	case mergePrev:
		b.runs[i-1].n += uint64(n)
		b.runs[i-1].batch = min(b.runs[i-1].batch, batch)
		return i - 1
	case mergeNext:
		b.runs[i].pos, b.runs[i].n, b.runs[i].off, b.runs[i].ts = pos, b.runs[i].n+uint64(n), off, ts
		b.runs[i].batch = min(b.runs[i].batch, batch)
		return i
	}
	b.roomForRun()
	b.runs = append(b.runs, run{})
	copy(b.runs[i+1:], b.runs[i:])
	b.runs[i] = run{pos: pos, n: uint64(n), off: off, ts: ts, batch: batch}
	return i
}

// insertLost inserts a lost run as index i (merging with lost neighbours) and returns the index
// of the run that holds it.
func (b *Buffer) insertLost(i int, pos, n uint64) int {
	end := pos + n
	mergePrev := i > 0 && b.runs[i-1].lost && b.runs[i-1].end() == pos
	mergeNext := i < len(b.runs) && b.runs[i].lost && b.runs[i].pos == end
	switch {
	case mergePrev && mergeNext:
		b.runs[i-1].n += n + b.runs[i].n
		b.runs = append(b.runs[:i], b.runs[i+1:]...)
		return i - 1
	case mergePrev:
		b.runs[i-1].n += n
		return i - 1
	case mergeNext:
		b.runs[i].pos, b.runs[i].n = pos, b.runs[i].n+n
		return i
	}
	b.roomForRun()
	b.runs = append(b.runs, run{})
	copy(b.runs[i+1:], b.runs[i:])
	b.runs[i] = run{pos: pos, n: n, lost: true}
	return i
}

// addMark records that the bytes from pos on came with ts, keeping marks sorted. appended says
// the bytes extend the newest run: then a mark with the ts already in force is redundant, and past
// maxMarks one is dropped (those bytes report the previous event's ts).
func (b *Buffer) addMark(pos, ts uint64, appended bool) {
	k := len(b.marks)
	if k > 0 && b.marks[k-1].pos < pos {
		if appended && (b.marks[k-1].ts == ts || k >= maxMarks) {
			return
		}
		b.roomForMark()
		b.marks = append(b.marks, mark{pos, ts})
		return
	}
	i := sort.Search(k, func(i int) bool { return b.marks[i].pos >= pos })
	if i < k && b.marks[i].pos == pos {
		b.marks[i].ts = ts
		return
	}
	b.roomForMark()
	b.marks = append(b.marks, mark{})
	copy(b.marks[i+1:], b.marks[i:])
	b.marks[i] = mark{pos, ts}
}

// roomForRun makes room for one more run at the end of runs: the runs advance passed are taken
// back by moving the rest to the front of runArr once they are at least as many as the rest (each
// run moved then paid for by one passed: linear in all), else the array grows.
func (b *Buffer) roomForRun() {
	if len(b.runs) < cap(b.runs) {
		return
	}
	if passed := cap(b.runArr) - cap(b.runs); passed > 0 && passed >= len(b.runs) {
		b.runs = b.runArr[:copy(b.runArr, b.runs)]
		return
	}
	b.runs = append(b.runs, run{})[:len(b.runs)]
	b.runArr = b.runs[:cap(b.runs)]
}

// roomForMark is roomForRun for marks.
func (b *Buffer) roomForMark() {
	if len(b.marks) < cap(b.marks) {
		return
	}
	if passed := cap(b.markArr) - cap(b.marks); passed > 0 && passed >= len(b.marks) {
		b.marks = b.markArr[:copy(b.markArr, b.marks)]
		return
	}
	b.marks = append(b.marks, mark{})[:len(b.marks)]
	b.markArr = b.marks[:cap(b.marks)]
}

// ensure makes room for n more bytes at the end of data: compact (copy down), then grow.
func (b *Buffer) ensure(n int) {
	if b.w+n <= len(b.data) {
		return
	}
	if b.r > 0 {
		copy(b.data, b.data[b.r:b.w])
		for j := range b.runs {
			if !b.runs[j].lost {
				b.runs[j].off -= b.r
			}
		}
		b.w -= b.r
		b.r = 0
		if b.w+n <= len(b.data) {
			return
		}
	}
	// Start small: most connections carry small messages.
	size := max(2*len(b.data), pooledArray, b.w+n)
	// Between calls at most Cap bytes are held; one insertion may exceed it before trim.
	if limit := b.set.cfg.Cap + b.set.cfg.MaxChunk; size > limit {
		size = max(limit, b.w+n)
	}
	if size == pooledArray && b.w == 0 && b.set.cfg.Pool != nil {
		b.data = b.set.cfg.Pool.get()
		return
	}
	data := make([]byte, size)
	copy(data, b.data[:b.w])
	b.data = data
}

// trim drops the oldest unparsed bytes while more than Cap are held. Staged bytes count but are
// never dropped here: they are the newest.
func (b *Buffer) trim() {
	need := min(b.mem()-b.set.cfg.Cap, b.w-b.r)
	if need <= 0 {
		return
	}
	// Find the position after the first need present bytes.
	target := b.head
	for _, r := range b.runs {
		if r.lost {
			continue
		}
		if uint64(need) <= r.n {
			target = r.pos + uint64(need)
			break
		}
		need -= int(r.n)
	}
	b.advance(target, &b.stats.Overflow, &b.stats.Gap)
	b.overflowed = true
}

// Overflowed reports whether unparsed bytes were dropped to keep within Cap (Overflow) since it
// last did. Like after SkipGap, the caller's parser must then restart at the new position: the
// bytes before it are lost to it.
func (b *Buffer) Overflowed() bool {
	o := b.overflowed
	b.overflowed = false
	return o
}

// advance moves the parse position to target, counting present bytes passed in *present and
// positions without bytes in *absent, and forgets what lies before it.
func (b *Buffer) advance(target uint64, present, absent *uint64) {
	if target <= b.head {
		return
	}
	gone := 0 // runs wholly passed
	atEnd := false
	pos := b.head
	for _, r := range b.runs {
		if r.pos >= target {
			break
		}
		from := max(r.pos, pos)
		to := min(r.end(), target)
		if from > pos {
			*absent += from - pos
		}
		if r.lost {
			*absent += to - from
		} else {
			*present += to - from
		}
		pos = to
		if r.end() > target {
			break
		}
		atEnd = r.end() == target
		gone++
	}
	if target > pos {
		*absent += target - pos
	}
	b.runs = b.runs[gone:]
	if len(b.runs) == 0 {
		// Back to the front, whose memory the next run then reuses while it is still cached.
		b.runs = b.runArr[:0]
	}
	if len(b.runs) > 0 && b.runs[0].pos < target {
		r := &b.runs[0]
		cut := target - r.pos
		if !r.lost {
			r.off += int(cut)
		}
		r.pos, r.n = target, r.n-cut
	}
	// The first present byte held is where data starts.
	b.r = b.w
	for _, r := range b.runs {
		if !r.lost {
			b.r = r.off
			break
		}
	}
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	b.head = target
	b.headAtEnd = atEnd
	// Keep the last mark at or before the parse position: it dates the next byte.
	k := sort.Search(len(b.marks), func(i int) bool { return b.marks[i].pos > target })
	if k > 1 {
		b.marks = b.marks[k-1:]
	}
}

// Head returns the contiguous bytes at the parse position and the ts of the event that carried
// the first of them; nil when the byte at the parse position is missing. The slice is valid until
// the next call that changes the Buffer.
func (b *Buffer) Head() ([]byte, uint64) {
	if len(b.runs) == 0 {
		return nil, 0
	}
	r := b.runs[0]
	if r.lost || r.pos > b.head {
		return nil, 0
	}
	return b.data[r.off : r.off+int(r.n)], b.tsAt(b.head)
}

// tsAt is the ts of the last mark at or before pos.
func (b *Buffer) tsAt(pos uint64) uint64 {
	// Usually the parse position: the first mark dates it, unless the next one does.
	if m := b.marks; len(m) > 0 && m[0].pos <= pos && (len(m) == 1 || m[1].pos > pos) {
		return m[0].ts
	}
	i := sort.Search(len(b.marks), func(i int) bool { return b.marks[i].pos > pos })
	if i == 0 {
		return 0
	}
	return b.marks[i-1].ts
}

// Consume moves the parse position n bytes on. n may exceed what Head returned: the positions
// beyond are skipped as they come (their bytes will count as Stale). n <= 0 does nothing.
func (b *Buffer) Consume(n int) {
	if n <= 0 || !b.started {
		return
	}
	target := b.head + uint64(n)
	if target < b.head { // wrapped
		target = ^uint64(0)
	}
	b.advance(target, &b.stats.Consumed, &b.stats.Skipped)
}

// Gap reports the size of the missing stretch at the parse position when it should be given up:
// at once for bytes the kernel truncated (up to their end); otherwise, for bytes that have not
// arrived (up to the next byte present), when they provably never will or probably will not:
//
//   - settled: data after them came in a batch numbered below settled (Chunk.Batch). A caller
//     passes the number of a batch whose poll emptied every ring: the bytes of a syscall made
//     before data that an earlier poll brought were in a ring by then, so that poll brought them,
//     or the kernel lost them. 0 says nothing is settled;
//   - the data after them arrived with a ts at least GapTimeout before now (a CLOCK_MONOTONIC
//     reading in ns, e.g. the newest event's ts), or at least GapBytes are buffered after them.
//
// It returns 0 when there is nothing to give up: the parse position holds a byte, no later data
// exists yet, or it is too early to tell. A pending group from a settled batch, or older than
// GapTimeout, is placed first.
func (b *Buffer) Gap(now, settled uint64) uint64 {
	b.settle(now, settled)
	return b.missing(0, b.head, now, settled)
}

// GapAfterHead is Gap for the position just after the bytes Head returns: non-zero when the
// stretch there is given up, so that a message Head holds the beginning of can never be
// completed. A caller whose parser says NeedMore asks it, and if it is non-zero drops the partial
// message (Consume(len(data))) and then skips the gap. It returns 0 when Head is empty (ask Gap).
func (b *Buffer) GapAfterHead(now, settled uint64) uint64 {
	b.settle(now, settled)
	if len(b.runs) == 0 || b.runs[0].lost || b.runs[0].pos > b.head {
		return 0
	}
	return b.missing(1, b.runs[0].end(), now, settled)
}

// NextTS returns the ts of the first byte present at or after the parse position: of Head's bytes,
// or of the bytes behind the missing stretch at the parse position. Missing bytes were sent no
// later than the bytes after them, so a caller pairing two streams by time knows that nothing
// still to come at the parse position is newer than it.
func (b *Buffer) NextTS() (uint64, bool) {
	for _, r := range b.runs {
		if !r.lost {
			if r.pos <= b.head {
				return b.tsAt(b.head), true
			}
			return r.ts, true
		}
	}
	return 0, false
}

// missing applies Gap's rules to position from, which no run before index i covers.
func (b *Buffer) missing(i int, from, now, settled uint64) uint64 {
	if i >= len(b.runs) {
		return 0
	}
	if r := b.runs[i]; r.pos <= from {
		if r.lost {
			return r.end() - from
		}
		return 0
	}
	// A hole: given up when the data after it is settled, old enough or plentiful.
	after := b.w - b.r // present bytes from the hole on
	for _, r := range b.runs[:i] {
		if !r.lost {
			after -= int(r.n)
		}
	}
	next := uint64(0) // the first byte present after the hole
	for _, r := range b.runs[i:] {
		if r.lost {
			continue
		}
		if next == 0 {
			next = r.pos
			if now >= r.ts && now-r.ts >= b.set.cfg.GapTimeout || after >= b.set.cfg.GapBytes {
				return next - from
			}
		}
		if r.batch < settled {
			return next - from
		}
	}
	return 0
}

// SkipGap gives up the missing stretch at the parse position that Gap describes — truncated bytes
// up to their end, or bytes not arrived up to the next byte present — counting its positions as
// Gap, and returns how many it gave up. It does not check Gap's conditions: callers ask Gap first.
// The caller's parser must restart at the new position.
func (b *Buffer) SkipGap() uint64 {
	if len(b.runs) == 0 {
		return 0
	}
	r0 := b.runs[0]
	var target uint64
	switch {
	case r0.pos <= b.head && !r0.lost:
		return 0
	case r0.pos <= b.head:
		target = r0.end()
	default:
		next, ok := b.nextPresent()
		if !ok {
			return 0
		}
		target = next.pos
	}
	n := target - b.head
	b.advance(target, &b.stats.Gap, &b.stats.Gap)
	return n
}

// nextPresent returns the first present run.
func (b *Buffer) nextPresent() (run, bool) {
	for _, r := range b.runs {
		if !r.lost {
			return r, true
		}
	}
	return run{}, false
}
