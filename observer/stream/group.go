package stream

// Syscall-group resolution: where the events of one syscall start, and the length header glued
// in front of them (see README.md).

import "sort"

// Chunk is one data event, decoded from conn_data_event_t.
type Chunk struct {
	// Pos is the stream offset in this direction after the whole syscall (attr.pos).
	Pos uint64
	// OrgSize is this chunk's length on the wire (attr.org_msg_size).
	OrgSize uint32
	// Payload is the bytes copied (attr.msg_buf_size of them); a prefix of the chunk when shorter
	// than OrgSize. It is read during Add only.
	Payload []byte
	// TS is the event's CLOCK_MONOTONIC timestamp in ns (attr.ts).
	TS uint64
	// TryToPrepend and LengthHeader are attr.try_to_prepend and attr.length_header.
	TryToPrepend bool
	LengthHeader uint32
	// Vectored is set for events of iovec syscalls (readv, writev, sendmsg, recvmsg, *mmsg, and
	// the security_socket_* hooks): one event per segment, so their group's end cannot be
	// inferred from sizes. Take it from attr.syscall_func.
	Vectored bool
	// Batch numbers the poll that delivered the event (from 1), for Gap's settled rule; 0 when
	// the caller does not track polls.
	Batch uint64
}

// noGroup is the pending group of every Buffer that never staged one: most streams place each
// syscall at once, and need not carry a group's state. Never written.
var noGroup pending

// pending is a group of chunks with the same Pos whose start is not known yet.
type pending struct {
	active   bool
	pos      uint64
	vectored bool
	sum      uint64 // Σ OrgSize
	ts       uint64 // of the first chunk
	batch    uint64 // of the first chunk
	suspect  bool   // a chunk repeats an earlier one: possibly a duplicate delivery
	copies   uint64 // payload bytes of chunks kept as references (copyOf >= 0)
	prepend  bool
	lenHdr   uint32
	chunks   []pendingChunk
	stage    []byte // the chunks' payloads, back to back
}

type pendingChunk struct {
	org, plen uint64
	ts        uint64
	off       uint64 // of its bytes in stage
	copyOf    int    // index of the chunk it repeats (its bytes are that chunk's), or -1
}

// orig follows copyOf to the chunk that holds the bytes.
func (g *pending) orig(i int) int {
	if c := g.chunks[i].copyOf; c >= 0 {
		return c
	}
	return i
}

// same reports whether chunk i has the given size, ts and bytes.
func (g *pending) same(i int, org, ts uint64, p []byte) bool {
	c := g.chunks[i]
	return c.org == org && c.ts == ts && c.plen == uint64(len(p)) && string(g.stage[c.off:c.off+c.plen]) == string(p)
}

// Add takes one data event. See README.md for how its position is resolved.
func (b *Buffer) Add(c Chunk) {
	b.stats.Chunks++
	org := uint64(c.OrgSize)
	p := c.Payload
	if uint64(len(p)) > org {
		// The kernel never copies more than the chunk; trust the wire size.
		p = p[:org]
	}
	b.stats.Received += org
	b.stats.Truncated += org - uint64(len(p))
	if org == 0 {
		return
	}
	g := b.g
	if g.active && (c.Pos != g.pos || c.Vectored != g.vectored) {
		b.resolve()
	}
	if !g.active {
		// Fast path: a chunk that is a whole syscall by itself is placed without staging.
		if org <= c.Pos && (b.isBoundary(c.Pos-org) || !c.Vectored && org != uint64(b.set.cfg.MaxChunk)) {
			b.placing = c.Batch
			b.placeGroup(c.Pos-org, org, c.TryToPrepend, c.LengthHeader, c.TS, p)
			b.placeChunk(c.Pos-org, org, p, c.TS)
			b.trim()
			return
		}
		if g == &noGroup {
			// The first syscall of this stream that needs staging.
			g = new(pending)
			b.g = g
		}
		*g = pending{
			active: true, pos: c.Pos, vectored: c.Vectored, ts: c.TS, batch: c.Batch,
			prepend: c.TryToPrepend, lenHdr: c.LengthHeader,
			chunks: g.chunks[:0], stage: g.stage[:0],
		}
	}
	// A chunk equal to an earlier one of the group (size, ts and bytes) may start a duplicate
	// delivery of the whole group. Summing the copies would misplace the group, so from then on
	// the group waits for its end (rules 3-5), and repeated chunks are kept as references to the
	// first chunk with their bytes; resolve keeps one copy of an exact repetition.
	pc := pendingChunk{org: org, plen: uint64(len(p)), ts: c.TS, copyOf: -1, off: uint64(len(g.stage))}
	for j, e := range g.chunks {
		if e.copyOf < 0 && g.same(j, org, c.TS, p) {
			pc.copyOf, pc.off = j, e.off
			g.suspect = true
			g.copies += pc.plen
			break
		}
	}
	if pc.copyOf < 0 {
		g.stage = append(g.stage, p...)
	}
	g.chunks = append(g.chunks, pc)
	g.sum += org
	switch {
	case len(g.stage) > b.set.cfg.Cap:
		b.resolve()
	case g.suspect:
		b.trim()
	case g.sum <= g.pos && b.isBoundary(g.pos-g.sum),
		!g.vectored && (len(g.chunks) >= 4 || org != uint64(b.set.cfg.MaxChunk)):
		b.resolve()
	default:
		b.trim()
	}
}

// Flush places the pending group, if any. Call it when a batch of events has been added: the
// events of one syscall are delivered together, so a group still pending then is complete.
func (b *Buffer) Flush() {
	if b.g.active {
		b.resolve()
	}
}

// resolve places the pending group at pos − Σ OrgSize.
func (b *Buffer) resolve() {
	g := b.g
	g.active = false
	if g.sum > g.pos {
		// A group longer than the stream before it: bogus positions. Drop it.
		b.stats.Stale += uint64(len(g.stage)) + g.copies
		g.copies = 0
		g.chunks, g.stage = g.chunks[:0], g.stage[:0]
		return
	}
	deduped := g.suspect && g.dedupe(&b.stats)
	start := g.pos - g.sum
	b.placing = g.batch
	if !deduped {
		// A deduplicated group's start is a judgement (an exactly periodic genuine syscall would
		// start earlier): its payload bytes are right wherever it starts, a glued header is not.
		c0 := g.chunks[0]
		b.placeGroup(start, g.sum, g.prepend, g.lenHdr, g.ts, g.stage[c0.off:c0.off+c0.plen])
	}
	g.copies = 0 // from here on they are placed like any bytes
	pos := start
	for _, c := range g.chunks {
		b.placeChunk(pos, c.org, g.stage[c.off:c.off+c.plen], c.ts)
		pos += c.org
	}
	g.chunks, g.stage = g.chunks[:0], g.stage[:0]
	b.trim()
}

// dedupe keeps one copy when the group is an exact repetition of its first p chunks (the
// smallest such p), which is what a duplicate delivery of a whole syscall looks like. The copies
// count as Duplicate (their truncated parts were counted as Truncated on arrival). A genuine
// syscall that is exactly periodic is misjudged the same way, but then the payload bytes kept are
// the right ones for the positions they are placed at.
func (g *pending) dedupe(st *Stats) bool {
	n := len(g.chunks)
	for p := 1; p <= n/2; p++ {
		if n%p != 0 {
			continue
		}
		periodic := true
		for i := p; i < n && periodic; i++ {
			periodic = g.orig(i) == g.orig(i-p)
		}
		if !periodic {
			continue
		}
		var sum, kept uint64
		for _, c := range g.chunks[:p] {
			sum += c.org
			if c.copyOf >= 0 {
				kept += c.plen
			}
		}
		// The references among the first p chunks stay; every chunk after them is a copy.
		st.Duplicate += g.copies - kept
		g.chunks, g.sum, g.copies = g.chunks[:p], sum, kept
		return true
	}
	return false
}

// placeGroup glues length_header in front of a group of size wire bytes starting at start, when
// the rules say so. first is the payload of the group's first chunk.
func (b *Buffer) placeGroup(start, size uint64, prepend bool, lenHdr uint32, ts uint64, first []byte) {
	if start < 4 {
		return
	}
	if !prepend && (b.set.cfg.GlueLengthHeader == nil || !b.set.cfg.GlueLengthHeader(lenHdr, size, first)) {
		return
	}
	hdr := [4]byte{byte(lenHdr), byte(lenHdr >> 8), byte(lenHdr >> 16), byte(lenHdr >> 24)}
	b.stats.Prepended += 4
	b.stats.Received += 4
	b.place(start-4, hdr[:], ts)
}

// isBoundary reports whether a group starting at pos provably starts right after data that was
// received (resolution rule 1).
func (b *Buffer) isBoundary(pos uint64) bool {
	if !b.started {
		return false
	}
	if pos == b.frontier || pos == b.head && b.headAtEnd {
		return true
	}
	i := sort.Search(len(b.runs), func(i int) bool { return b.runs[i].end() >= pos })
	return i < len(b.runs) && b.runs[i].end() == pos
}

// settle places the pending group when all of its events must have arrived.
func (b *Buffer) settle(now, settled uint64) {
	g := b.g
	if g.active && (g.batch < settled || now >= g.ts && now-g.ts >= b.set.cfg.GapTimeout) {
		b.resolve()
	}
}
