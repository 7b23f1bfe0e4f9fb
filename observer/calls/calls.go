// Package calls turns the data events of connections into calls: a request paired with its
// response, with the latency between them. It owns the per-connection L7 state — the stream
// buffer of each direction, the protocol parser's state, the requests waiting for their
// responses — and the counters of everything it could not pair or parse.
//
// A Tracker is a libebpf.Visitor: feed it each batch with Batch.Visit, then call EndBatch. Data
// events only place bytes; parsing and matching happen in EndBatch, request streams before
// response streams, so that a response polled from one CPU before its request from another is
// still paired. Responses that arrive before any request are held briefly for the same reason.
package calls

import (
	"cmp"
	"slices"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/observer/stream"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/dns"
)

// Call is one request and its response on one connection.
type Call struct {
	Conn     libebpf.ConnID
	Protocol libebpf.Protocol
	// Role is the traced process's end of the connection.
	Role libebpf.Role
	// Remote is the peer's address as the kernel side reported it.
	Remote libebpf.SockAddr
	// RequestTS and ResponseTS are the CLOCK_MONOTONIC ns of the events that carried the first
	// byte of each message.
	RequestTS, ResponseTS uint64
	Request, Response     parser.Message
}

// Latency is the time from the request's first byte to the response's first byte, in ns.
func (c *Call) Latency() uint64 {
	if c.ResponseTS < c.RequestTS {
		return 0
	}
	return c.ResponseTS - c.RequestTS
}

// Counters count, per protocol, what became of the messages.
type Counters struct {
	Requests, Responses uint64 // messages parsed
	Calls               uint64 // pairs emitted
	// UnmatchedRequests: requests that never got a response (pending at close or expiry, or
	// pushed out by MaxPending). UnmatchedResponses: responses without a request.
	UnmatchedRequests, UnmatchedResponses uint64
	// Ignored: protocol units that are not calls (handshakes, pushes, interim responses).
	Ignored uint64
	// Invalid: times the parser found no message where one should start; InvalidBytes were
	// skipped to resynchronise.
	Invalid, InvalidBytes uint64
	// GapBytes: stream positions given up because their bytes were lost or truncated.
	GapBytes uint64
	// AbandonedBytes: bytes of incomplete messages given up because the rest will not come.
	AbandonedBytes uint64
	// UnknownRole: data events of connections whose role could not be told, so neither stream
	// could be called the request stream.
	UnknownRole uint64
	// Stream sums the stream buffers' own accounting over closed and expired connections.
	Stream stream.Stats
}

// Config bounds a Tracker. Zero fields take the defaults.
type Config struct {
	// MaxConnections bounds the connections tracked; data of further ones is counted in
	// Dropped and ignored. Default 65536.
	MaxConnections int
	// MaxPending bounds the requests (and early responses) held per connection. Default 64.
	MaxPending int
	// StreamCap bounds the bytes each stream buffer holds. Default stream.DefaultCap.
	StreamCap int
	// IdleTimeout (ns) expires connections without events for that long. Default 5 min.
	IdleTimeout uint64
	// HoldTimeout (ns) is how long a response waits for its request. Default 1 s.
	HoldTimeout uint64
	// Interned bounds the distinct strings the parsers keep. Default 65536.
	Interned int
	// DNSAnswer, when set, hears every A and AAAA record of the DNS responses parsed: the
	// process that received it, the name it asked for, and the record. Records use it for
	// remote_host.
	DNSAnswer func(tgid uint32, question string, rec dns.AddrRecord)
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
}

// Tracker pairs requests with responses across all connections. It is used by one goroutine.
type Tracker struct {
	cfg     Config
	parsers map[libebpf.Protocol]parser.Protocol
	strings *parser.Interner
	emit    func(*Call)
	conns   map[libebpf.ConnID]*conn
	closing []*conn // closed, waiting out closeGrace
	// roles holds the roles connect events gave connections that have no data yet, for data
	// events that come without one.
	roles    map[libebpf.ConnID]libebpf.Role
	touched  []*conn
	ending   []*conn // scratch of Expire and Close
	opened   uint64  // connections created so far; conn.seq
	counters map[libebpf.Protocol]*Counters
	now      uint64 // newest event ts seen
	call     Call   // reused for every emit
	scratch  parser.Message
	addrs    dns.AddrReader
	// Dropped counts data events of connections beyond MaxConnections; Unsupported those of
	// protocols without a parser.
	Dropped, Unsupported uint64
}

// New returns a Tracker that parses the protocols in parsers and hands every call to emit. The
// Call passed to emit is reused: copy what must outlive the call.
func New(cfg Config, parsers map[libebpf.Protocol]parser.Protocol, emit func(*Call)) *Tracker {
	cfg.defaults()
	t := &Tracker{
		cfg:      cfg,
		parsers:  parsers,
		strings:  parser.NewInterner(cfg.Interned),
		emit:     emit,
		conns:    make(map[libebpf.ConnID]*conn),
		roles:    make(map[libebpf.ConnID]libebpf.Role),
		counters: make(map[libebpf.Protocol]*Counters),
	}
	for p := range parsers {
		t.counters[p] = &Counters{}
	}
	return t
}

// Counters returns a copy of the counters of protocol p.
func (t *Tracker) Counters(p libebpf.Protocol) Counters {
	if c := t.counters[p]; c != nil {
		return *c
	}
	return Counters{}
}

// Connections is the number of connections tracked.
func (t *Tracker) Connections() int { return len(t.conns) }

// pendingMsg is a parsed message waiting for its other half.
type pendingMsg struct {
	ts  uint64
	msg parser.Message
}

type conn struct {
	id       libebpf.ConnID
	proto    libebpf.Protocol
	role     libebpf.Role
	remote   libebpf.SockAddr
	parser   parser.Conn
	matching parser.Matching
	counters *Counters
	streams  [2]*stream.Buffer // by parser.MessageType - 1
	newest   [2]uint64         // ts of the newest event per stream
	requests []pendingMsg
	early    []pendingMsg // responses that came before any request
	seq      uint64       // creation order: connections ended together emit their calls in this order
	lastSeen uint64
	touched  bool
	closing  bool
	closedAt uint64 // ts of the close event
}

// Ctrl takes a connect (role and address) or a close (the connection ends at EndBatch).
func (t *Tracker) Ctrl(ev *libebpf.CtrlEvent) {
	t.advance(ev.TS)
	c := t.conns[ev.ConnID]
	switch ev.Type {
	case libebpf.EventConnect:
		if c != nil {
			c.setRole(ev.Role)
			c.remote = ev.Addr
		} else if ev.Role == libebpf.RoleClient || ev.Role == libebpf.RoleServer {
			if len(t.roles) >= t.cfg.MaxConnections {
				clear(t.roles) // connections that never sent data nor closed
			}
			t.roles[ev.ConnID] = ev.Role
		}
	case libebpf.EventClose:
		delete(t.roles, ev.ConnID)
		if c != nil && !c.closing {
			c.closing = true
			c.closedAt = ev.TS
			t.closing = append(t.closing, c)
		}
	}
}

// Data places a data event's bytes in its connection's stream.
func (t *Tracker) Data(ev *libebpf.DataEvent) {
	t.advance(ev.TS)
	c := t.conns[ev.ConnID]
	if c == nil {
		p, ok := t.parsers[ev.Protocol]
		if !ok {
			t.Unsupported++
			return
		}
		if len(t.conns) >= t.cfg.MaxConnections {
			t.Dropped++
			return
		}
		c = &conn{
			id: ev.ConnID, proto: ev.Protocol, role: libebpf.RoleUnknown, remote: ev.Addr,
			parser: p.NewConn(t.strings), matching: p.Matching(), counters: t.counters[ev.Protocol],
		}
		t.opened++
		c.seq = t.opened
		if r, ok := t.roles[ev.ConnID]; ok {
			c.role = r
			delete(t.roles, ev.ConnID)
		}
		t.conns[ev.ConnID] = c
	}
	c.lastSeen = ev.TS
	if ev.Addr.Family != libebpf.FamilyUnspec && ev.Addr.Family != libebpf.FamilyUnknown {
		c.remote = ev.Addr
	}
	c.setRole(ev.Role)
	if c.role == libebpf.RoleUnknown {
		c.inferRole(ev)
	}
	if c.role == libebpf.RoleUnknown {
		c.counters.UnknownRole++
		return
	}
	typ := c.messageType(ev.Direction)
	s := c.stream(typ, t.cfg.StreamCap)
	s.Add(stream.Chunk{
		Pos: ev.Pos, OrgSize: ev.OrgMsgSize, Payload: ev.Payload, TS: ev.TS,
		TryToPrepend: ev.TryToPrepend, LengthHeader: ev.LengthHeader, Vectored: vectored(ev.Syscall),
	})
	c.newest[typ-1] = ev.TS
	t.touch(c)
}

// Stats is part of libebpf.Visitor; L4 counters are not this package's business.
func (t *Tracker) Stats(*libebpf.StatsEvent) {}

// Lost is part of libebpf.Visitor; lost events show up as gaps in the streams.
func (t *Tracker) Lost(libebpf.LostNotice) {}

// closeGrace is how long (ns of event time) a closed connection still takes data events. The
// kernel side may deliver a close before the last data of the connection — control events are
// polled first, and a poll can end between the two.
const closeGrace = 100e6

// EndBatch parses and matches what the batch brought, then ends the connections closed at least
// closeGrace ago.
func (t *Tracker) EndBatch() {
	for _, c := range t.touched {
		c.touched = false
		t.parse(c, parser.Request)
		t.parse(c, parser.Response)
		t.expireEarly(c)
	}
	t.touched = t.touched[:0]
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
}

// Expire ends connections idle for IdleTimeout before now (CLOCK_MONOTONIC ns; 0: the newest
// event's time). Call it from time to time.
func (t *Tracker) Expire(now uint64) {
	if now == 0 {
		now = t.now
	}
	for _, c := range t.conns {
		if now > c.lastSeen && now-c.lastSeen >= t.cfg.IdleTimeout {
			t.ending = append(t.ending, c)
		}
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

func (t *Tracker) forget(c *conn) {
	if t.conns[c.id] != c {
		return // already forgotten: closed and expired, or closed twice
	}
	for i := range c.streams {
		if s := c.streams[i]; s != nil {
			s.Flush()
		}
	}
	t.parse(c, parser.Request)
	t.parse(c, parser.Response)
	c.counters.UnmatchedRequests += uint64(len(c.requests))
	c.counters.UnmatchedResponses += uint64(len(c.early))
	for _, s := range c.streams {
		if s != nil {
			addStats(&c.counters.Stream, s.Stats())
		}
	}
	delete(t.conns, c.id)
}

// maxParsesPerStream bounds one EndBatch's work on a stream, whatever a parser does.
const maxParsesPerStream = 1 << 16

func (t *Tracker) parse(c *conn, typ parser.MessageType) {
	s := c.streams[typ-1]
	if s == nil {
		return
	}
	// No Flush here: a poll may end in the middle of a syscall's events. Groups left pending are
	// placed by Gap once they are old, and by forget.
	cnt := c.counters
	for range maxParsesPerStream {
		data, ts := s.Head()
		if len(data) == 0 {
			gap := s.Gap(t.now)
			if gap == 0 {
				return
			}
			cnt.GapBytes += s.SkipGap()
			continue
		}
		msg := &t.scratch
		*msg = parser.Message{}
		res := c.parser.Parse(data, typ, msg)
		switch res.Status {
		case parser.Complete:
			msg.Type = typ
			if typ == parser.Response && c.proto == libebpf.ProtoDNS && t.cfg.DNSAnswer != nil {
				t.answers(c, data, msg.Resource)
			}
			s.Consume(res.Consumed)
			t.deliver(c, typ, ts, msg)
		case parser.Ignored: // Consumed may pass the buffered bytes, as for Complete
			cnt.Ignored++
			s.Consume(res.Consumed)
		case parser.Invalid:
			skip := c.parser.FindBoundary(data, typ)
			if skip <= 0 {
				skip = len(data)
			}
			cnt.Invalid++
			cnt.InvalidBytes += uint64(skip)
			s.Consume(skip)
		default: // NeedMore
			// The rest of this message may sit behind a hole that will never fill.
			if s.GapAfterHead(t.now) > 0 {
				cnt.AbandonedBytes += uint64(len(data))
				s.Consume(len(data))
				continue
			}
			return
		}
	}
}

func (t *Tracker) answers(c *conn, response []byte, question string) {
	t.addrs.Read(response, func(r dns.AddrRecord) bool {
		t.cfg.DNSAnswer(c.id.TGID, question, r)
		return true
	})
}

func (t *Tracker) deliver(c *conn, typ parser.MessageType, ts uint64, msg *parser.Message) {
	cnt := c.counters
	m := pendingMsg{ts, *msg}
	if typ == parser.Request {
		cnt.Requests++
		// Held responses older than this request answered requests that were lost.
		for c.matching == parser.MatchInOrder && len(c.early) > 0 && c.early[0].ts < ts {
			c.early = remove(c.early, 0)
			cnt.UnmatchedResponses++
		}
		if i := c.match(c.early, &m, true); i >= 0 {
			resp := c.early[i]
			c.early = remove(c.early, i)
			t.pair(c, m, resp)
			return
		}
		if len(c.requests) >= t.cfg.MaxPending {
			c.requests = remove(c.requests, 0)
			cnt.UnmatchedRequests++
		}
		c.requests = append(c.requests, m)
		return
	}
	cnt.Responses++
	if i := c.match(c.requests, &m, false); i >= 0 {
		req := c.requests[i]
		c.requests = remove(c.requests, i)
		t.pair(c, req, m)
		return
	}
	// No request for it yet: it may have been polled from another CPU after this response, or
	// be lost. Hold the response for HoldTimeout.
	if len(c.early) >= t.cfg.MaxPending {
		c.early = remove(c.early, 0)
		cnt.UnmatchedResponses++
	}
	c.early = append(c.early, m)
}

// match returns the index in q of the other half of m, or -1. In order, a response pairs with
// the oldest waiting request, and a request with the oldest held response, provided the request
// is not newer than the response: a request newer than a response cannot be what it answers (that
// request was lost). By ID, the halves share Message.ID.
func (c *conn) match(q []pendingMsg, m *pendingMsg, mIsRequest bool) int {
	if c.matching == parser.MatchByID {
		for i := range q {
			if q[i].msg.ID == m.msg.ID {
				return i
			}
		}
		return -1
	}
	if len(q) == 0 {
		return -1
	}
	req, resp := q[0].ts, m.ts
	if mIsRequest {
		req, resp = m.ts, q[0].ts
	}
	if req > resp {
		return -1
	}
	return 0
}

// remove deletes q[i] in place, so the queue's array is reused.
func remove(q []pendingMsg, i int) []pendingMsg {
	copy(q[i:], q[i+1:])
	return q[:len(q)-1]
}

func (t *Tracker) pair(c *conn, req, resp pendingMsg) {
	c.counters.Calls++
	t.call = Call{
		Conn: c.id, Protocol: c.proto, Role: c.role, Remote: c.remote,
		RequestTS: req.ts, ResponseTS: resp.ts, Request: req.msg, Response: resp.msg,
	}
	t.emit(&t.call)
}

// expireEarly gives up responses that waited HoldTimeout for a request.
func (t *Tracker) expireEarly(c *conn) {
	for len(c.early) > 0 && t.now-c.early[0].ts >= t.cfg.HoldTimeout {
		c.early = remove(c.early, 0)
		c.counters.UnmatchedResponses++
	}
}

func (c *conn) setRole(r libebpf.Role) {
	if r == libebpf.RoleClient || r == libebpf.RoleServer {
		c.role = r
	}
}

// inferRole uses the kernel side's guess of the message type: a client writes requests and reads
// responses.
func (c *conn) inferRole(ev *libebpf.DataEvent) {
	egress := ev.Direction == libebpf.DirEgress
	switch {
	case ev.Type == libebpf.TypeRequest && egress, ev.Type == libebpf.TypeResponse && !egress:
		c.role = libebpf.RoleClient
	case ev.Type == libebpf.TypeRequest && !egress, ev.Type == libebpf.TypeResponse && egress:
		c.role = libebpf.RoleServer
	}
}

// messageType is what flows in direction d: a client sends requests, a server responses.
func (c *conn) messageType(d libebpf.Direction) parser.MessageType {
	if (d == libebpf.DirEgress) == (c.role == libebpf.RoleClient) {
		return parser.Request
	}
	return parser.Response
}

func (c *conn) stream(typ parser.MessageType, capacity int) *stream.Buffer {
	if c.streams[typ-1] == nil {
		c.streams[typ-1] = stream.New(stream.Config{Cap: capacity, MySQL: c.proto == libebpf.ProtoMySQL})
	}
	return c.streams[typ-1]
}

// vectored reports the syscalls that give one event per iovec segment.
func vectored(s libebpf.Syscall) bool {
	switch s {
	case libebpf.SyscallReadV, libebpf.SyscallWriteV, libebpf.SyscallSendMsg, libebpf.SyscallRecvMsg,
		libebpf.SyscallSendMmsg, libebpf.SyscallRecvMmsg, libebpf.SyscallSecuritySendMsg, libebpf.SyscallSecurityRecvMsg:
		return true
	}
	return false
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
	dst.Overflow += s.Overflow
	dst.Gap += s.Gap
}
