package calls

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"slices"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/observer/stream"
	"github.com/netobserver/netobserver/parser"
)

// Call is one request and its response on one connection, or one one-way message (OneWay).
type Call struct {
	Conn     abi.ConnID
	Protocol abi.Protocol
	// Role is the traced process's end of the connection.
	Role abi.Role
	// Remote is the peer's address as the kernel side reported it.
	Remote abi.SockAddr
	// RequestTS and ResponseTS are the CLOCK_MONOTONIC ns of the events that carried the first
	// byte of each message.
	RequestTS, ResponseTS uint64
	// Exchange is what the protocol says of the call: the two messages' frames, and the record
	// fields it renders on demand. Like the Call, it is valid while emit runs.
	*parser.Exchange
}

// Latency is the time from the request's first byte to the response's first byte, in ns; 0 for
// a one-way call (OneWay), which has no response.
func (c *Call) Latency() uint64 {
	if c.ResponseTS < c.RequestTS || c.OneWay() {
		return 0
	}
	return c.ResponseTS - c.RequestTS
}

// Counters count, per protocol, what became of the messages.
type Counters struct {
	// MatchCounts are the messages parsed, the calls emitted and the messages left unmatched
	// (pending at close, expiry or eviction, pushed out by MaxPending, or answered by a response
	// that was lost).
	parser.MatchCounts
	// Ignored: protocol units that are not calls (handshakes, pushes, interim responses).
	Ignored uint64
	// Invalid: times the parser found no message where one should start; InvalidBytes were
	// skipped to resynchronise.
	Invalid, InvalidBytes uint64
	// GapBytes: stream positions given up because their bytes were lost or truncated.
	GapBytes uint64
	// AbandonedBytes: bytes of incomplete messages given up because the rest will not come (lost
	// behind a hole, or the connection ended), and whatever else a connection held when dropped.
	AbandonedBytes uint64
	// Partial: calls emitted with a message the protocol could only partly decode
	// (parser.Outcome.Partial): recorded with the fields that were known, the others empty.
	Partial uint64
	// UnknownRole: data events of connections whose role could not be told, so neither stream
	// could be called the request stream.
	UnknownRole uint64
	// Panics: times the parser panicked. The connection's state was dropped (what it held
	// counts as unmatched) and its next data starts afresh.
	Panics uint64
	// Evicted: connections forgotten, least recently active first, to make room for new ones
	// past MaxConnections. What they held counts as unmatched.
	Evicted uint64
	// Stream sums the stream buffers' own accounting over closed and expired connections, and over
	// the buffers quiet connections dropped (Tracker: what a quiet connection keeps), under the
	// protocol the connection had then (an h2c upgrade moves it from HTTP to HTTP/2).
	Stream stream.Stats
}

// Config bounds a Tracker. Zero fields take the defaults.
type Config struct {
	// MaxConnections bounds the connections tracked; past it the least recently active one is
	// forgotten (Counters.Evicted). It also bounds the connects and closes remembered for
	// connections without data yet. Default 65536.
	MaxConnections int
	// MaxPending bounds the requests (and early responses) held per connection. Default 64.
	MaxPending int
	// StreamCap bounds the bytes each stream buffer holds. Default stream.DefaultCap.
	StreamCap int
	// IdleTimeout (ns) expires connections without events for that long. Default 5 min.
	IdleTimeout uint64
	// HoldTimeout (ns) is how long a response waits for its request, and a full queue of
	// requests for the responses that make room. Default 1 s.
	HoldTimeout uint64
	// Interned bounds the distinct strings the parsers keep. Default 65536.
	Interned int
	// HostName, when set, hears every name the traffic gives an address (the A and AAAA records
	// of DNS answers), with the process that received it. Records use it for remote_host.
	HostName func(tgid uint32, n parser.HostName)
	// Logger hears of parser panics and evictions (the 1st, 10th, 100th … of each). Default
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.MaxConnections <= 0 {
		c.MaxConnections = 65536
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 64
	}
	if c.StreamCap <= 0 {
		c.StreamCap = stream.DefaultCap
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 300e9
	}
	if c.HoldTimeout == 0 {
		c.HoldTimeout = 1e9
	}
	if c.Interned <= 0 {
		c.Interned = 65536
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Tracker pairs requests with responses across all connections. It is used by one goroutine.
//
// A connection is tracked from its first data event. Once it has been quiet for quietAfter, it
// keeps only what the next bytes need: its streams' positions instead of buffers that hold no byte,
// and no parser state when that is a new connection's (parser.Conn.Idle); both are made again
// when it speaks. Most tracked connections are idle keep-alive ones. Until a connection has called
// in a spell, each batch ends with it settled so (Tracker.settle), not only once it is quiet: most
// connections of a burst make one call.
type Tracker struct {
	cfg     Config
	kinds   map[abi.Protocol]*kind
	strings *parser.Interner
	emit    func(*Call)
	conns   map[abi.ConnID]*conn
	arrays  stream.Pool // the streams' backing arrays, held only while they hold bytes
	lru     conn        // sentinel of the list of tracked connections, least recently active first
	// quiet is the last connection in lru that releaseQuiet rested (&lru: none);
	// quietWalk the time of that walk.
	quiet     *conn
	quietWalk uint64
	closing   []*conn // closed, waiting out closeGrace
	// connects and closes remember control events of connections that have no data yet: the
	// role a connect gave, and closes that came before the data (control events are polled
	// first).
	connects, closes *notes
	touched          []*conn
	waiting          []*conn // stopped at a hole that may still be given up, or staged: parsed again each batch
	ending           []*conn // scratch of Expire and Close
	opened           uint64  // connections created so far; conn.seq
	now              uint64  // newest event ts seen
	// batch numbers the batch being visited (from 1); data of batches below settled have no
	// missing predecessors still to come (see stream.Buffer.Gap).
	batch, settled uint64
	call           Call   // reused for every emit
	parsing        []byte // what the parser was last given, for a panic's report
	evicted        uint64
	peak           int // the most connections tracked at once
	rested         uint64
	// Unsupported counts data events of protocols without a parser.
	Unsupported uint64
}

// New returns a Tracker that parses the protocols in parsers and hands every call to emit. The
// Call passed to emit is reused: copy what must outlive the call.
func New(cfg Config, parsers map[abi.Protocol]parser.Protocol, emit func(*Call)) *Tracker {
	cfg.defaults()
	t := &Tracker{
		cfg:      cfg,
		strings:  parser.NewInterner(cfg.Interned),
		emit:     emit,
		conns:    make(map[abi.ConnID]*conn),
		connects: newNotes(cfg.MaxConnections),
		closes:   newNotes(cfg.MaxConnections),
		kinds:    make(map[abi.Protocol]*kind, len(parsers)),
		batch:    1,
	}
	t.lru.prev, t.lru.next = &t.lru, &t.lru
	t.quiet = &t.lru
	for p, pp := range parsers {
		h := pp.Stream()
		t.kinds[p] = &kind{parser: pp, counters: &Counters{}, streams: stream.NewSettings(stream.Config{
			Cap: cfg.StreamCap, GlueLengthHeader: h.GlueLengthHeader, FillTruncated: h.FillTruncated, Pool: &t.arrays})}
	}
	return t
}

// kind is what the connections of one protocol share.
type kind struct {
	parser   parser.Protocol
	counters *Counters
	streams  *stream.Settings // the protocol's hints and the tracker's cap and pool
	// idle are parser states that connections of this protocol gave up (parser.Conn.Idle) when
	// settled after their first call or at rest (Tracker.settle), for the next ones that speak: a burst of new
	// connections then makes a parser state for each only while it is in the middle of a call.
	// Kept while a burst lasts (see Tracker.Rest).
	idle   []parser.Conn
	wanted bool // a state was asked for since the last trim
}

// maxIdleConns bounds kind.idle: what rests in one walk (quietAfter/4) of a burst of 10 000
// connections a second, both ends observed; HTTP's state is about 1 KiB.
const maxIdleConns = 4096

// trim empties idle when no state was asked for since the last trim: no connection speaks
// that could take one.
func (k *kind) trim() {
	if !k.wanted {
		clear(k.idle)
		k.idle = nil
	}
	k.wanted = false
}

// keep takes the parser state of a connection that rests or ends, when it is Idle.
func (k *kind) keep(l7 parser.Conn) bool {
	if !l7.Idle() {
		return false
	}
	if len(k.idle) < maxIdleConns {
		k.idle = append(k.idle, l7)
	}
	return true
}

// newConn returns a parser state for a connection that speaks, made again from an idle one when
// there is one.
func (k *kind) newConn(cfg parser.ConnConfig) parser.Conn {
	k.wanted = true
	for n := len(k.idle); n > 0; n-- {
		l7 := k.idle[n-1]
		k.idle[n-1] = nil
		k.idle = k.idle[:n-1]
		if l7.Reset(cfg) {
			return l7
		}
	}
	return k.parser.NewConn(cfg)
}

// Counters returns a copy of the counters of protocol p.
func (t *Tracker) Counters(p abi.Protocol) Counters {
	if k := t.kinds[p]; k != nil {
		return *k.counters
	}
	return Counters{}
}

// Connections is the number of connections tracked.
func (t *Tracker) Connections() int { return len(t.conns) }

// Peak is the most connections tracked at once.
func (t *Tracker) Peak() int { return t.peak }

// Rested counts the times a connection came to rest so far (Tracker.rest): what it held went to
// the garbage collector.
func (t *Tracker) Rested() uint64 { return t.rested }

// Notes is the number of connects and closes remembered for connections without data yet.
func (t *Tracker) Notes() int { return t.connects.len() + t.closes.len() }

// NotesEvicted counts connects and closes forgotten to stay within MaxConnections: those
// connections' data then come without the role or the close the control event gave.
func (t *Tracker) NotesEvicted() uint64 { return t.connects.Evicted + t.closes.Evicted }

type conn struct {
	t      *Tracker
	id     abi.ConnID
	proto  abi.Protocol
	role   abi.Role
	remote abi.SockAddr
	// l7 parses, holds the messages waiting for their other half, pairs them; nil until the
	// connection is parsed, and again while it rests (Tracker.rest).
	l7         parser.Conn
	handoverFn parser.HandoverFunc // c.handover, for l7Config
	kind       *kind
	counters   *Counters         // kind.counters
	streams    [2]*stream.Buffer // by parser.MessageType - 1; nil until bytes come, and while resting
	// rest is where each stream stood when its buffer was dropped, to resume it.
	rest       [2]stream.Rest
	seq        uint64 // creation order: connections ended together emit their calls in this order
	lastSeen   uint64
	prev, next *conn // in Tracker.lru
	// called: a call was emitted since the connection opened or last rested; until then, each
	// batch ends with it settled (Tracker.settle).
	called   bool
	touched  bool
	waiting  bool
	closing  bool
	gone     bool   // no longer tracked
	closedAt uint64 // ts of the close event
}

// Ctrl takes a connect (role and address) or a close (the connection ends at EndBatch).
func (t *Tracker) Ctrl(ev *abi.CtrlEvent) {
	t.advance(ev.TS)
	c := t.conns[ev.ConnID]
	switch ev.Type {
	case abi.EventConnect:
		if c != nil {
			c.setRole(ev.Role)
			c.remote = ev.Addr
		} else if ev.Role == abi.RoleClient || ev.Role == abi.RoleServer {
			t.connects.put(ev.ConnID, note{role: ev.Role})
		}
	case abi.EventClose:
		t.closed(ev.ConnID, ev.TS)
	}
}

// closed ends connection id at EndBatch, closeGrace after ts.
func (t *Tracker) closed(id abi.ConnID, ts uint64) {
	c := t.conns[id]
	if c == nil {
		// Its data may be in this batch, after the control events, or in the next one.
		n, _ := t.connects.get(id)
		t.connects.delete(id)
		t.closes.put(id, note{role: n.role, closedAt: ts})
	} else if !c.closing {
		t.close(c, ts)
	}
}

func (t *Tracker) close(c *conn, ts uint64) {
	c.closing = true
	c.closedAt = ts
	t.closing = append(t.closing, c)
}

// Data places a data event's bytes in its connection's stream.
func (t *Tracker) Data(ev *abi.DataEvent) {
	t.advance(ev.TS)
	c := t.conns[ev.ConnID]
	if c == nil {
		if c = t.open(ev); c == nil {
			return
		}
	} else if c.next != &t.lru {
		t.lruRemove(c)
		t.lruPush(c)
	} else if t.quiet == c {
		t.quiet = c.prev // active again: the walk must come back to it
	}
	c.lastSeen = ev.TS
	if ev.Addr.Family != abi.FamilyUnspec && ev.Addr.Family != abi.FamilyUnknown {
		c.remote = ev.Addr
	}
	c.setRole(ev.Role)
	if c.role == abi.RoleUnknown {
		c.inferRole(ev)
	}
	if c.role == abi.RoleUnknown {
		c.counters.UnknownRole++
		return
	}
	typ := c.messageType(ev.Direction)
	s := c.stream(typ)
	s.Add(stream.Chunk{
		Pos: ev.Pos, OrgSize: ev.OrgMsgSize, Payload: ev.Payload, TS: ev.TS,
		TryToPrepend: ev.TryToPrepend, LengthHeader: ev.LengthHeader, Vectored: vectored(ev.Syscall),
		Batch: t.batch,
	})
	t.touch(c)
}

// open starts tracking the connection of ev, making room if needed; nil when its protocol has
// no parser.
func (t *Tracker) open(ev *abi.DataEvent) *conn {
	k, ok := t.kinds[ev.Protocol]
	if !ok {
		t.Unsupported++
		return nil
	}
	for len(t.conns) >= t.cfg.MaxConnections {
		t.evict(t.lru.next)
	}
	c := &conn{t: t, id: ev.ConnID, proto: ev.Protocol, role: abi.RoleUnknown, remote: ev.Addr, kind: k, counters: k.counters}
	t.opened++
	c.seq = t.opened
	t.conns[ev.ConnID] = c
	t.peak = max(t.peak, len(t.conns))
	t.lruPush(c)
	if n, ok := t.closes.get(ev.ConnID); ok {
		c.setRole(n.role)
		t.closes.delete(ev.ConnID)
		t.close(c, n.closedAt)
	} else if n, ok := t.connects.get(ev.ConnID); ok {
		c.setRole(n.role)
		t.connects.delete(ev.ConnID)
	}
	return c
}

func (c *conn) l7Config() parser.ConnConfig {
	if c.handoverFn == nil {
		c.handoverFn = c.handover // a closure: made once, not each time the state is made again
	}
	return parser.ConnConfig{
		Strings: c.t.strings, MaxPending: c.t.cfg.MaxPending, Counts: &c.counters.MatchCounts,
		Sink: c, Names: c.t.cfg.HostName != nil, Handover: c.handoverFn,
	}
}

// handover implements parser.HandoverFunc: c's protocol agreed to hand the connection to
// protocol to (an HTTP/1.1 upgrade to h2c), whose parser takes it from the next bytes on, with
// u its first request. The kernel side keeps naming the protocol it detected (its later events
// still say HTTP); the connection is To's here until it ends. Its stream buffers, and the bytes
// they hold past the handover, stay: they were made with the old protocol's hints, which must
// then be the new one's (none, for HTTP/1 and HTTP/2); a stream that rests is made again with
// the new one's. Without a parser for to, it refuses.
func (c *conn) handover(to abi.Protocol, u *parser.Upgraded) bool {
	k, ok := c.t.kinds[to]
	if !ok {
		return false
	}
	c.proto, c.kind, c.counters = to, k, k.counters
	c.l7 = k.newConn(c.l7Config())
	c.l7.Adopt(u)
	return true
}

// evict forgets the least recently active connection to make room for a new one.
func (t *Tracker) evict(c *conn) {
	c.counters.Evicted++
	t.evicted++
	if worthLogging(t.evicted) {
		t.cfg.Logger.Warn("netobserver: more connections than MaxConnections carry data; the least recently active ones are forgotten",
			"max_connections", t.cfg.MaxConnections, "evicted", t.evicted)
	}
	t.forget(c)
}

// Stats takes the final L4 counters of a connection as its close too: they come on another ring
// than the close event, so a connection whose close was lost is still released.
func (t *Tracker) Stats(ev *abi.StatsEvent) {
	t.advance(ev.TS)
	if ev.ConnEvents == 1 {
		t.closed(ev.ConnID, ev.TS)
	}
}

// Lost is part of abi.Visitor; lost events show up as holes in the streams, given up by the
// rules of EndBatch.
func (t *Tracker) Lost(abi.LostNotice) {}

// closeGrace is how long (ns of event time) a closed connection still takes data events. The
// kernel side may deliver a close before the last data of the connection — control events are
// polled first, and a poll can end between the two.
const closeGrace = 100e6

// EndBatch parses and matches what the batch brought, then ends the connections closed at least
// closeGrace ago. drained says the poll that made the batch emptied every ring (it returned
// fewer events than it could): every event produced before the poll began has then been
// delivered, or lost, and a hole that an earlier batch's data lies behind is given up at once.
func (t *Tracker) EndBatch(drained bool) {
	if drained {
		t.settled = t.batch
	}
	for _, c := range t.waiting {
		c.waiting = false
		t.touch(c)
	}
	clear(t.waiting)
	t.waiting = t.waiting[:0]
	for _, c := range t.touched {
		c.touched = false
		if c.gone {
			continue // forgotten during the batch
		}
		busy := c.called
		if t.parse(c, false) {
			t.expireEarly(c)
			if !busy {
				t.settle(c)
			}
		}
	}
	clear(t.touched)
	t.touched = t.touched[:0]
	t.closes.expireClosed(t.now, closeGrace)
	kept := t.closing[:0]
	for _, c := range t.closing {
		if t.now >= c.closedAt && t.now-c.closedAt >= closeGrace {
			t.forget(c)
		} else {
			kept = append(kept, c)
		}
	}
	clear(t.closing[len(kept):])
	t.closing = kept
	if t.now >= t.quietWalk+quietAfter/4 {
		t.releaseQuiet(t.now)
	}
	t.batch++
}

// settle drops what c holds for nothing, as a connection that rests does (Tracker.rest): its
// streams' arrays (back to the pool); the streams themselves when they hold no byte, their
// positions kept and their accounting added to the protocol's; and its parser state when that is
// a new connection's. Both are made again when the connection speaks. EndBatch settles a
// connection that had not called since it opened or rested (conn.called) without waiting for it
// to rest: most connections of a burst make one call and go quiet, and all of them holding their
// state until they rested was most of the burst's heap. One that has called keeps its state
// between batches: settling it every batch cost a busy keep-alive connection's call 4 % (arrays
// only) to 23 % (with the parser state) of the tracker's time.
func (t *Tracker) settle(c *conn) {
	for i, s := range c.streams {
		if s == nil {
			continue
		}
		c.overflowed(parser.MessageType(i + 1)) // its Rest forgets a drop
		st := s.Stats()
		if r, ok := s.Rest(); ok {
			addStats(&c.counters.Stream, st)
			c.streams[i], c.rest[i] = nil, r
		} else {
			s.Release()
		}
	}
	if c.l7 != nil && c.kind.keep(c.l7) {
		c.l7 = nil
	}
}

// quietAfter (ns): a connection without events for this long rests (Tracker.rest). Busy
// connections keep their state: lending an array out and back per message cost 5 % of the
// tracker's time per call. Short enough that connections opened in a burst rest while it lasts:
// 10 000 opened in 2 s, each active for 1 s, held all their state at once (57 MB of heap).
const quietAfter = 250e6

// Rest rests the connections without events since quietAfter before now (CLOCK_MONOTONIC ns; 0:
// the newest event's time). EndBatch does it as events come; call it from time to time (every
// second) so that connections rest when none come. It also gives up the state kept for new
// connections (parser states and stream buffers of those that rested or ended) when none was
// taken since the previous call: a burst of connections is over. (Before this call's rests, so
// that what they give up waits a call for takers.)
func (t *Tracker) Rest(now uint64) {
	if now == 0 {
		now = t.now
	}
	t.arrays.Trim()
	for _, k := range t.kinds {
		k.trim()
	}
	t.releaseQuiet(now)
}

// releaseQuiet rests the connections that went quiet since the last walk. The walk goes on from
// where it stopped in the activity order, so each connection is visited once per quiet spell,
// however many stay idle.
func (t *Tracker) releaseQuiet(now uint64) {
	t.quietWalk = max(t.quietWalk, now)
	for c := t.quiet.next; c != &t.lru && now > c.lastSeen && now-c.lastSeen >= quietAfter; c = c.next {
		t.rest(c)
		t.quiet = c
	}
}

// rest settles a quiet connection.
func (t *Tracker) rest(c *conn) {
	t.rested++
	c.called = false
	t.settle(c)
}

// Expire ends connections idle for IdleTimeout before now (CLOCK_MONOTONIC ns; 0: the newest
// event's time). Call it from time to time.
func (t *Tracker) Expire(now uint64) {
	if now == 0 {
		now = t.now
	}
	for c := t.lru.next; c != &t.lru; c = c.next {
		if now <= c.lastSeen || now-c.lastSeen < t.cfg.IdleTimeout {
			break // the rest were active later
		}
		t.ending = append(t.ending, c)
	}
	t.forgetEnding()
}

// Close ends every connection, counting what was left unmatched.
func (t *Tracker) Close() {
	for _, c := range t.conns {
		t.ending = append(t.ending, c)
	}
	t.forgetEnding()
	clear(t.closing)
	t.closing = t.closing[:0]
}

// forgetEnding forgets the connections in t.ending in creation order, so that the calls they
// still hold come out in the same order whatever the map's iteration order.
func (t *Tracker) forgetEnding() {
	slices.SortFunc(t.ending, func(a, b *conn) int { return cmp.Compare(a.seq, b.seq) })
	for _, c := range t.ending {
		t.forget(c)
	}
	clear(t.ending)
	t.ending = t.ending[:0]
}

func (t *Tracker) advance(ts uint64) {
	if ts > t.now {
		t.now = ts
	}
}

func (t *Tracker) touch(c *conn) {
	if !c.touched {
		c.touched = true
		t.touched = append(t.touched, c)
	}
}

func (t *Tracker) lruPush(c *conn) {
	c.prev, c.next = t.lru.prev, &t.lru
	t.lru.prev.next = c
	t.lru.prev = c
}

func (t *Tracker) lruRemove(c *conn) {
	if t.quiet == c {
		t.quiet = c.prev
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
}

// forget ends a connection: what its streams still hold is parsed, and what stays unmatched is
// counted.
func (t *Tracker) forget(c *conn) {
	if c.gone {
		return // already forgotten: closed and expired, or closed twice
	}
	for i := range c.streams {
		if s := c.streams[i]; s != nil {
			s.Flush()
		}
	}
	if t.parse(c, true) {
		t.drop(c, true)
	}
}

// drop stops tracking c, counting the messages it still held as unmatched and the bytes its
// streams still held (an incomplete message when c ended, what a panic or maxSteps left) as
// abandoned. reuse says its parser state and streams are sound (no parser panicked on them): when
// they hold nothing they serve later connections.
func (t *Tracker) drop(c *conn, reuse bool) {
	if c.gone {
		return
	}
	c.gone = true
	if c.l7 != nil {
		c.l7.Abandon()
		if reuse {
			c.kind.keep(c.l7)
		}
		c.l7 = nil
	}
	for i, s := range c.streams {
		if s != nil {
			c.counters.AbandonedBytes += uint64(s.Len())
			addStats(&c.counters.Stream, s.Stats())
			if reuse {
				s.Rest()
			}
			c.streams[i] = nil
		}
	}
	delete(t.conns, c.id)
	t.lruRemove(c)
}

// maxSteps bounds one parse of a connection, whatever a parser does.
const maxSteps = 1 << 17

// parse parses and matches what c's streams hold, containing a parser's panic to c: its state is
// dropped, the panic counted and reported. It reports whether c is still tracked. final says c
// ends: nothing more will arrive, every hole is given up and nothing waits.
func (t *Tracker) parse(c *conn, final bool) (ok bool) {
	t.parsing = nil
	defer func() {
		if r := recover(); r != nil {
			t.contain(c, r)
			ok = false
		}
	}()
	t.parseInOrder(c, final)
	return true
}

func (t *Tracker) contain(c *conn, r any) {
	cnt := c.counters
	cnt.Panics++
	if worthLogging(cnt.Panics) {
		prefix := t.parsing[:min(len(t.parsing), 32)]
		t.cfg.Logger.Error("netobserver: a parser panicked; the connection's state is dropped",
			"protocol", c.proto.String(), "panics", cnt.Panics, "panic", fmt.Sprint(r), "bytes", hex.EncodeToString(prefix))
	}
	t.drop(c, false)
}

// worthLogging says whether the n-th occurrence of something is logged: the 1st, 10th, 100th …
func worthLogging(n uint64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// parseInOrder parses c's two streams a message at a time, the stream whose next message is older
// first, so that messages are matched in the order they were sent. It stops when neither stream
// can go on:
//
//   - a stream whose head is an incomplete message waits for more bytes;
//   - a stream stopped at missing bytes (a hole not given up yet) holds the other back at the ts
//     of the bytes behind the hole: what the hole held was sent no later, and may answer, or be
//     answered by, the other stream's next messages;
//   - a full queue of requests waits for the responses that will make room, unless the oldest
//     has waited HoldTimeout or its stream is half full.
func (t *Tracker) parseInOrder(c *conn, final bool) {
	settled := t.settled
	if final {
		settled = math.MaxUint64 // every hole behind which data lies is given up
	}
	var h [2]head
	for i := range h {
		t.look(c, i, settled, &h[i])
	}
	for range maxSteps {
		i, ok := t.next(c, &h, final)
		if !ok {
			break
		}
		// Parsing one stream changes nothing the other's head says.
		if !t.step(c, parser.MessageType(i+1), h[i].data, h[i].ts, settled) {
			h[i].stalled = true
		}
		t.look(c, i, settled, &h[i])
	}
	if !final && !c.waiting && (h[0].bound != math.MaxUint64 || h[1].bound != math.MaxUint64 || staged(c)) {
		c.waiting = true
		t.waiting = append(t.waiting, c)
	}
}

// staged says a stream of c holds a syscall whose start is not known yet: a later batch that
// settles it places it (stream.Buffer.Gap), so c is parsed again then.
func staged(c *conn) bool {
	return c.streams[0] != nil && c.streams[0].Staged() || c.streams[1] != nil && c.streams[1].Staged()
}

// head is what parseInOrder knows of the head of one stream.
type head struct {
	data    []byte // the bytes at the parse position
	ts      uint64 // of data
	bound   uint64 // no data: the ts of the bytes behind the hole at the parse position, or MaxUint64
	stalled bool   // data is an incomplete message whose rest may still come
}

func (h *head) ready() bool { return len(h.data) > 0 && !h.stalled }

// look gives up what holes it may at the head of stream i and describes the head in h.
func (t *Tracker) look(c *conn, i int, settled uint64, h *head) {
	h.data, h.ts, h.bound = nil, 0, math.MaxUint64
	s := c.streams[i]
	if s == nil {
		return
	}
	data, ts := s.Head()
	if len(data) == 0 {
		// Asking for gaps may also place a staged syscall that is now settled.
		t.skipGaps(c, i, settled)
		data, ts = s.Head()
	}
	if len(data) > 0 {
		h.data, h.ts = data, ts
	} else if nts, ok := s.NextTS(); ok {
		h.bound = nts
	}
}

// next picks the stream (0 requests, 1 responses) to parse a message from; see parseInOrder.
func (t *Tracker) next(c *conn, h *[2]head, final bool) (int, bool) {
	const rq, rs = 0, 1
	var i int
	switch {
	case h[rq].ready() && h[rs].ready():
		i = rq
		if h[rs].ts < h[rq].ts {
			i = rs
		}
	case h[rq].ready():
		i = rq
	case h[rs].ready():
		i = rs
	default:
		return 0, false
	}
	if final {
		return i, true
	}
	if i == rq {
		if n, oldest := c.parser().Requests(); n >= t.cfg.MaxPending {
			switch {
			case h[rs].ready():
				i = rs
			case t.now < oldest || t.now-oldest < t.cfg.HoldTimeout:
				if !crowded(c.streams[rq]) {
					return 0, false
				}
			}
		}
	}
	if h[i].ts > h[1-i].bound && !crowded(c.streams[i]) {
		return 0, false
	}
	return i, true
}

// crowded says a stream holds so much that it must be parsed on whatever waits.
func crowded(s *stream.Buffer) bool { return s.Len() >= s.Cap()/2 }

// skipGaps gives up the holes at the parse position of stream i that the stream's rules say will
// not fill (see stream.Buffer.Gap).
func (t *Tracker) skipGaps(c *conn, i int, settled uint64) {
	s := c.streams[i]
	for s.Gap(t.now, settled) > 0 {
		n := s.SkipGap()
		if n == 0 {
			return
		}
		c.counters.GapBytes += n
		c.parser().Lost(parser.MessageType(i + 1))
		if data, _ := s.Head(); len(data) > 0 {
			return
		}
	}
}

// step parses one message (or skips one unit) from data, the head of stream typ, and reports
// whether it did: false when the head is an incomplete message whose rest may still come.
func (t *Tracker) step(c *conn, typ parser.MessageType, data []byte, ts, settled uint64) bool {
	s := c.streams[typ-1]
	cnt := c.counters
	c.overflowed(typ)
	t.parsing = data
	// A Complete message is matched, and a pair emitted, within Parse.
	res := c.parser().Parse(data, typ, ts)
	switch res.Status {
	case parser.Complete, parser.Ignored: // Consumed may pass the buffered bytes
		if res.Status == parser.Ignored {
			cnt.Ignored++
		}
		s.Consume(res.Consumed)
	case parser.Invalid:
		skip := c.l7.FindBoundary(data, typ)
		if skip <= 0 {
			skip = len(data)
		}
		cnt.Invalid++
		cnt.InvalidBytes += uint64(skip)
		s.Consume(skip)
	default: // NeedMore
		// The rest of this message may sit behind a hole that will never fill.
		if s.GapAfterHead(t.now, settled) == 0 {
			return false
		}
		cnt.AbandonedBytes += uint64(len(data))
		s.Consume(len(data))
	}
	return true
}

// Call implements parser.Sink: a pair of c's goes out as a Call.
func (c *conn) Call(requestTS, responseTS uint64, x *parser.Exchange) {
	t := c.t
	// One field at a time, one statement each: a Call literal, or a tuple assignment, is made on
	// the stack a field at a time and then copied 16 bytes at a time, which waits for those
	// narrower stores (a store-forwarding stall, most of this function's time).
	k := &t.call
	k.Conn = c.id
	k.Protocol = c.proto
	k.Role = c.role
	k.Remote = c.remote
	k.RequestTS = requestTS
	k.ResponseTS = responseTS
	k.Exchange = x
	c.called = true
	if x.Request.Partial || x.Response.Partial {
		c.counters.Partial++
	}
	t.emit(k)
}

// HostName implements parser.Sink.
func (c *conn) HostName(n parser.HostName) { c.t.cfg.HostName(c.id.TGID, n) }

// expireEarly gives up responses that waited HoldTimeout for a request.
func (t *Tracker) expireEarly(c *conn) {
	if c.l7 != nil {
		c.l7.ExpireResponses(t.now, t.cfg.HoldTimeout)
	}
}

func (c *conn) setRole(r abi.Role) {
	if r == abi.RoleClient || r == abi.RoleServer {
		c.role = r
	}
}

// inferRole uses the kernel side's guess of the message type: a client writes requests and reads
// responses.
func (c *conn) inferRole(ev *abi.DataEvent) {
	egress := ev.Direction == abi.DirEgress
	switch {
	case ev.Type == abi.TypeRequest && egress, ev.Type == abi.TypeResponse && !egress:
		c.role = abi.RoleClient
	case ev.Type == abi.TypeRequest && !egress, ev.Type == abi.TypeResponse && egress:
		c.role = abi.RoleServer
	}
}

// messageType is what flows in direction d: a client sends requests, a server responses.
func (c *conn) messageType(d abi.Direction) parser.MessageType {
	if (d == abi.DirEgress) == (c.role == abi.RoleClient) {
		return parser.Request
	}
	return parser.Response
}

func (c *conn) stream(typ parser.MessageType) *stream.Buffer {
	if c.streams[typ-1] == nil {
		c.streams[typ-1] = c.kind.streams.Resume(c.rest[typ-1])
	}
	return c.streams[typ-1]
}

// overflowed tells c's parser when stream typ dropped bytes past its cap: they are lost to it as
// a hole given up is (skipGaps), so its state, and the requests an ordered protocol's lost
// responses answered, must not run on into the bytes after them. A state not made yet holds
// nothing they could mislead.
func (c *conn) overflowed(typ parser.MessageType) {
	if c.streams[typ-1].Overflowed() && c.l7 != nil {
		c.l7.Lost(typ)
	}
}

// parser returns c's L7 state, made when first needed.
func (c *conn) parser() parser.Conn {
	if c.l7 == nil {
		c.l7 = c.kind.newConn(c.l7Config())
	}
	return c.l7
}

// vectored reports the syscalls that give one event per iovec segment.
func vectored(s abi.Syscall) bool {
	switch s {
	case abi.SyscallReadV, abi.SyscallWriteV, abi.SyscallSendMsg, abi.SyscallRecvMsg,
		abi.SyscallSendMmsg, abi.SyscallRecvMmsg, abi.SyscallSecuritySendMsg, abi.SyscallSecurityRecvMsg:
		return true
	}
	return false
}

// Add adds o's counts to c's: the counts of a tracker that was replaced carried into its
// successor's.
func (c *Counters) Add(o Counters) {
	m := &c.MatchCounts
	m.Requests += o.Requests
	m.Responses += o.Responses
	m.Calls += o.Calls
	m.OneWay += o.OneWay
	m.HandedOver += o.HandedOver
	m.UnmatchedRequests += o.UnmatchedRequests
	m.UnmatchedResponses += o.UnmatchedResponses
	c.Ignored += o.Ignored
	c.Invalid += o.Invalid
	c.InvalidBytes += o.InvalidBytes
	c.GapBytes += o.GapBytes
	c.AbandonedBytes += o.AbandonedBytes
	c.Partial += o.Partial
	c.UnknownRole += o.UnknownRole
	c.Panics += o.Panics
	c.Evicted += o.Evicted
	addStats(&c.Stream, o.Stream)
}

func addStats(dst *stream.Stats, s stream.Stats) {
	dst.Chunks += s.Chunks
	dst.Received += s.Received
	dst.Prepended += s.Prepended
	dst.Consumed += s.Consumed
	dst.Skipped += s.Skipped
	dst.Duplicate += s.Duplicate
	dst.Stale += s.Stale
	dst.Truncated += s.Truncated
	dst.Filled += s.Filled
	dst.Overflow += s.Overflow
	dst.Gap += s.Gap
}
