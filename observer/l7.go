package observer

import (
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser"
	"golang.org/x/sys/unix"
)

// l7 is the L7 stage: the connections' streams parsed and their messages matched into calls
// (calls.Tracker). It is the observer's only use of package calls.
type l7 struct {
	tracker *calls.Tracker
	// protocols are those whose parsers the tracker runs.
	set abi.ProtocolSet
	// rested is the tracker's Rested at the last return of memory, and beat at the last rest;
	// returning is set while a return runs, returned when the last began.
	rested, beat uint64
	returning    atomic.Bool
	returned     time.Time
	// past are the counts of the trackers replaced by reloads: the counters are counts since the
	// observer started.
	past past
}

// past is what the trackers a reload replaced counted, once they were closed.
type past struct {
	counters     map[abi.Protocol]calls.Counters
	unsupported  uint64
	notesEvicted uint64
	peak         int
}

// configure makes the tracker for opts, emitting calls to emit and the names responses give addresses (DNS answers) to answer. Calls
// in flight survive a reload that keeps the protocols (the tracker's bounds are not reloaded):
// their requests were parsed under the old settings, their responses arrive under the new.
func (s *l7) configure(opts Options, emit func(*calls.Call), answer func(tgid uint32, n parser.HostName)) {
	if s.tracker != nil && s.set == opts.Protocols {
		return
	}
	parsers := calls.Parsers()
	for p := range parsers {
		if !opts.Protocols.Has(p) {
			delete(parsers, p)
		}
	}
	if s.tracker != nil {
		s.retire()
	}
	cfg := opts.Calls
	cfg.HostName = answer
	s.tracker = calls.New(cfg, parsers, emit)
	s.set = opts.Protocols
	s.rested, s.beat = 0, 0 // the new tracker's Rested starts again
}

// retire closes the tracker (what its connections held is counted) and keeps its counts.
func (s *l7) retire() {
	t := s.tracker
	t.Close()
	if s.past.counters == nil {
		s.past.counters = make(map[abi.Protocol]calls.Counters)
	}
	for p := range calls.Parsers() {
		c := s.past.counters[p]
		c.Add(t.Counters(p))
		s.past.counters[p] = c
	}
	s.past.unsupported += t.Unsupported
	s.past.notesEvicted += t.NotesEvicted()
	s.past.peak = max(s.past.peak, t.Peak())
}

func (s *l7) ctrl(ev *abi.CtrlEvent)   { s.tracker.Ctrl(ev) }
func (s *l7) data(ev *abi.DataEvent)   { s.tracker.Data(ev) }
func (s *l7) stats(ev *abi.StatsEvent) { s.tracker.Stats(ev) }

// endBatch tells the tracker a batch ended (drained: the kernel buffers were emptied).
func (s *l7) endBatch(drained bool) { s.tracker.EndBatch(drained) }

// rest lets the quiet connections drop what they hold for nothing (calls.Tracker.Rest), by the
// clock when events are live: no event may come to move the tracker's time. Once returnAfter
// connections came to rest since the memory was last returned, it is returned to the system.
func (s *l7) rest(recorded bool) {
	var now uint64
	var ts unix.Timespec
	if !recorded && unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		now = uint64(ts.Nano())
	}
	s.tracker.Rest(now)
	r := s.tracker.Rested()
	burst := r-s.beat >= returnAfter/4 // still resting in bulk: return when it ends, or returnEvery on
	s.beat = r
	if r-s.rested >= returnAfter && (!burst || time.Since(s.returned) >= returnEvery) &&
		s.returning.CompareAndSwap(false, true) {
		s.rested, s.returned = r, time.Now()
		go func() {
			debug.FreeOSMemory()
			s.returning.Store(false)
		}()
	}
}

// A burst of new connections grows the heap to what they held while active; once they rest, the
// Go runtime keeps that memory (it collects only when the heap grows again, and returns pages
// slowly): after returnAfter connections rested (about 5 MB of state), a collection in the
// background returns it when the burst is over (fewer than returnAfter/4 rested since the last
// beat), or every returnEvery while it lasts.
const (
	returnAfter = 2000
	returnEvery = 5 * time.Second
)

// expire forgets idle connections.
func (s *l7) expire() { s.tracker.Expire(0) }

// close ends every connection: their pending requests count as unmatched.
func (s *l7) close() { s.tracker.Close() }

// protocols are the protocols with a parser, in order: those the counters are kept for.
func (s *l7) protocols() []abi.Protocol {
	ps := make([]abi.Protocol, 0, 8)
	for p := range calls.Parsers() {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// counters are protocol p's counts since the observer started.
func (s *l7) counters(p abi.Protocol) calls.Counters {
	c := s.past.counters[p]
	c.Add(s.tracker.Counters(p))
	return c
}

// unsupported counts the data events of protocols without a parser since the observer started.
func (s *l7) unsupported() uint64 { return s.past.unsupported + s.tracker.Unsupported }

// notesEvicted counts the connects and closes forgotten since the observer started
// (calls.Tracker.NotesEvicted).
func (s *l7) notesEvicted() uint64 { return s.past.notesEvicted + s.tracker.NotesEvicted() }

// peak is the most connections tracked at once since the observer started.
func (s *l7) peak() int { return max(s.past.peak, s.tracker.Peak()) }
