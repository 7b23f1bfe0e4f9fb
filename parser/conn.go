package parser

import "github.com/netobserver/netobserver/abi"

// Conn is the L7 state of one connection, both directions: the protocol's parsing state and the
// messages waiting for their other half. The caller feeds it messages in the order they were
// sent (see observer/calls) and it pairs them; a pair goes to the Sink as an Exchange. A Conn is
// used by one goroutine.
type Conn interface {
	// Parse examines buf, which the caller believes starts a message of type typ whose first
	// byte came at ts, like Parser.Parse. A Complete message is matched at once: a pair goes to
	// the Sink; an unpaired message waits. It never retains buf.
	Parse(buf []byte, typ MessageType, ts uint64) Result
	// FindBoundary is the protocol's Parser.FindBoundary.
	FindBoundary(buf []byte, typ MessageType) int
	// Requests returns the number of requests waiting for their responses, and the ts of the
	// oldest.
	Requests() (n int, oldest uint64)
	// Lost says bytes of direction typ were given up. Response bytes: some waiting requests may
	// have lost their answers, which the next response tells (for an Ordered matcher). Either
	// direction: a Parser whose state follows the byte stream (HTTP/2's HPACK tables) is told
	// through LossListener.
	Lost(typ MessageType)
	// ExpireResponses gives up the responses that waited for a request hold ns or more by now.
	ExpireResponses(now, hold uint64)
	// Abandon gives up every waiting message, counting it unmatched: the connection ends.
	Abandon()
	// Idle says nothing waits and the parser's state is a new one's (its Parser is an Idler
	// and says so): the Conn may be dropped, and a new one made when the connection speaks
	// again, without a difference in what is parsed or counted.
	Idle() bool
	// Adopt takes u, a request made before the connection was handed to this Conn's protocol,
	// as its first request (see HandoverFunc). A protocol whose Parser is not an Adopter counts
	// it unmatched.
	Adopt(u *Upgraded)
	// Reset makes an Idle Conn a new connection's, with cfg, keeping its arrays: what Idle
	// allows to drop may serve another connection instead of the garbage collector. It reports
	// false, and changes nothing, when the Conn is not Idle.
	Reset(cfg ConnConfig) bool
}

// ConnConfig is what a Conn needs from the pipeline.
type ConnConfig struct {
	// Strings interns the strings of messages; shared by the connections of one goroutine.
	Strings *Interner
	// MaxPending bounds the requests, and the responses without a request, waiting.
	MaxPending int
	// Counts are the protocol's counters, shared by its connections.
	Counts *MatchCounts
	// Sink hears the pairs and, when Names is set, the names responses give addresses.
	Sink  Sink
	Names bool
	// Handover, when set, hears of a response that hands the connection to another protocol
	// (Switcher); nil: no handover, such a response is paired as any other.
	Handover HandoverFunc
}

// Sink hears what a connection's traffic produces.
type Sink interface {
	// Call hears a request paired with its response, or a one-way message (x.OneWay, both
	// times its own); x is valid during the call only.
	Call(requestTS, responseTS uint64, x *Exchange)
	NameSink
}

// MatchCounts count, per protocol, what became of the messages parsed.
type MatchCounts struct {
	Requests, Responses uint64 // messages parsed that expect their other half
	Calls               uint64 // pairs made
	// OneWay: one-way messages parsed (Frame.OneWay), either direction; each was a call of its
	// own, never a pair and never unmatched. Calls heard by the Sink are Calls + OneWay.
	OneWay uint64
	// HandedOver: requests answered in the protocol their connection was handed to (HTTP/1.1's
	// h2c upgrade, see HandoverFunc), each with the response that agreed: counted in Requests
	// and Responses, never a call or unmatched here; the new protocol counts the request again.
	HandedOver uint64
	// UnmatchedRequests: requests that never got a response (waiting at the end, pushed out by
	// MaxPending, or answered by a response that was lost). UnmatchedResponses: responses
	// without a request.
	UnmatchedRequests, UnmatchedResponses uint64
}

// Exchange is a request paired with its response, as the pipeline sees it whatever the protocol.
// A one-way message (Frame.OneWay) is an Exchange of its own: it is the Request, whichever its
// direction (Request.Type tells), and Response is zero.
type Exchange struct {
	Request, Response Frame
	// Records says how records show the protocol's calls.
	Records *Records
	pair    typedPair
}

// typedPair is the request and response an Exchange describes, in the protocol's message type.
type typedPair interface {
	fieldsProtocols(*Fields)
	fieldsL4L7(*Fields)
	messages() (request, response any)
}

// OneWay says the Exchange is one one-way message, with no response and no latency.
func (x *Exchange) OneWay() bool { return x.Request.OneWay }

// FieldsProtocols sets f to the call's protocol fields in the protocols schema (A), named by
// Records.Protocols. (Set rather than returned: the six strings returned through this call and
// the Spec's function, then copied into an aggregation key, cost a third of the aggregation of a
// call; see Spec.FieldsProtocols.)
func (x *Exchange) FieldsProtocols(f *Fields) { x.pair.fieldsProtocols(f) }

// FieldsL4L7 sets f to the call's protocol fields in the l4_l7 schema (B), named by
// Records.L4L7.Names.
func (x *Exchange) FieldsL4L7(f *Fields) { x.pair.fieldsL4L7(f) }

// Messages returns pointers to the request and the response in the protocol's message type
// (*http.Message, ...), for tests and tools that know the protocol. Like the Exchange they are
// valid during Sink.Call only.
func (x *Exchange) Messages() (request, response any) { return x.pair.messages() }

// Pair returns the Exchange of req and resp of protocol p, whose messages are M: for tests and
// tools that make calls without a connection.
func Pair[M any, P messagePtr[M]](p Protocol, req, resp M) *Exchange {
	spec := &p.(*protocol[M, P]).spec
	pr := &pair[M]{spec: spec, req: &req, resp: &resp}
	return &Exchange{Request: P(&req).Frame(), Response: P(&resp).Frame(), Records: &spec.Records, pair: pr}
}

// pair is the request and response of an Exchange, typed. A Conn's pair points into its queues,
// which stay put while the Sink hears the Exchange: no message is copied to describe a call.
type pair[M any] struct {
	spec      *Spec[M]
	req, resp *M
}

func (p *pair[M]) fieldsProtocols(f *Fields) { p.spec.FieldsProtocols(p.req, p.resp, f) }
func (p *pair[M]) fieldsL4L7(f *Fields)      { p.spec.FieldsL4L7(p.req, p.resp, f) }
func (p *pair[M]) messages() (any, any)      { return p.req, p.resp }

// conn is the Conn of a protocol whose messages are M. P is *M: the Frame of a message is read
// through a pointer, not by copying the message to call its method through the generic
// dictionary (a measurable cost per call).
type conn[M any, P messagePtr[M]] struct {
	spec   *Spec[M]
	cfg    ConnConfig
	parser Parser[M]
	namer  Namer[M] // the parser, when it names addresses and names are wanted
	// switcher is the parser when it may hand the connection over and the pipeline hears of it.
	switcher Switcher[M]
	// ordered is Matcher.Ordered, asked once; inOrder says the Matcher is InOrder, whose
	// Match is then called directly.
	ordered, inOrder bool
	// requests wait for their responses; early responses for requests not seen yet (polled from
	// another CPU later, or lost).
	requests, early []Waiting[M]
	// lostResponses: response bytes were given up since the last response.
	lostResponses bool
	// in is the message being parsed and delivered. It lives here rather than on the stack
	// because the Parser and the Matcher, behind interfaces, would make a local escape: one
	// allocation per message.
	in   Waiting[M]
	last pair[M] // the pair an Exchange describes
	x    Exchange
	// none is the response of a one-way call as FieldsProtocols and FieldsL4L7 see it: a zero
	// message, so they need not check for nil.
	none M
}

func newConn[M any, P messagePtr[M]](spec *Spec[M], cfg ConnConfig) *conn[M, P] {
	c := &conn[M, P]{spec: spec, parser: spec.NewParser(cfg.Strings), ordered: spec.Matcher.Ordered()}
	_, c.inOrder = spec.Matcher.(InOrder[M])
	c.configure(cfg)
	c.last.spec = spec
	c.x.Records, c.x.pair = &spec.Records, &c.last
	return c
}

// configure takes the pipeline's side of the connection.
func (c *conn[M, P]) configure(cfg ConnConfig) {
	c.cfg = cfg
	c.namer, c.switcher = nil, nil
	if n, ok := c.parser.(Namer[M]); ok && cfg.Names {
		c.namer = n
	}
	if sw, ok := c.parser.(Switcher[M]); ok && cfg.Handover != nil {
		c.switcher = sw
	}
}

// Reset keeps the Parser: Idle means its state is a new one's (Idler), and the queues are empty.
func (c *conn[M, P]) Reset(cfg ConnConfig) bool {
	if !c.Idle() {
		return false
	}
	c.configure(cfg)
	return true
}

func (c *conn[M, P]) FindBoundary(buf []byte, typ MessageType) int {
	return c.parser.FindBoundary(buf, typ)
}

func (c *conn[M, P]) Parse(buf []byte, typ MessageType, ts uint64) Result {
	c.in = Waiting[M]{TS: ts}
	res := c.parser.Parse(buf, typ, &c.in.Msg)
	if res.Status == Complete {
		if typ == Response && c.namer != nil {
			c.namer.Names(buf, &c.in.Msg, c.cfg.Sink)
		}
		c.deliver(typ)
	}
	return res
}

// deliver matches the message just parsed, c.in of type typ, or makes it wait.
func (c *conn[M, P]) deliver(typ MessageType) {
	cnt, ordered := c.cfg.Counts, c.ordered
	m, ts := &c.in, c.in.TS
	m.frame = P(&m.Msg).Frame()
	if m.frame.OneWay {
		c.oneWay(m.frame)
		return
	}
	if typ == Request {
		cnt.Requests++
		// Held responses older than this request answered requests that were lost.
		for ordered && len(c.early) > 0 && c.early[0].TS < ts {
			c.early = remove(c.early, 0)
			cnt.UnmatchedResponses++
		}
		if i := c.match(c.early, m, true); i >= 0 {
			c.pair(m, &c.early[i])
			c.early = remove(c.early, i)
			return
		}
		if len(c.requests) >= c.cfg.MaxPending {
			c.requests = remove(c.requests, 0)
			cnt.UnmatchedRequests++
		}
		c.requests = append(c.requests, *m)
		return
	}
	cnt.Responses++
	if c.lostResponses {
		c.lostResponses = false
		if ordered {
			c.dropAnswered(ts)
		}
	}
	if i := c.match(c.requests, m, false); i >= 0 {
		if c.switcher != nil && c.handover(&c.requests[i], m) {
			// The connection is another protocol's now: what else waits here is unmatched.
			c.requests = remove(c.requests, i)
			c.Abandon()
			return
		}
		c.pair(&c.requests[i], m)
		c.requests = remove(c.requests, i)
		return
	}
	// No request for it yet: it may have been polled from another CPU after this response, or
	// be lost. It waits for ExpireResponses.
	if len(c.early) >= c.cfg.MaxPending {
		c.early = remove(c.early, 0)
		cnt.UnmatchedResponses++
	}
	c.early = append(c.early, *m)
}

// match is the Matcher's Match.
func (c *conn[M, P]) match(others []Waiting[M], m *Waiting[M], isRequest bool) int {
	if c.inOrder {
		return matchInOrder(others, m, isRequest)
	}
	return c.spec.Matcher.Match(others, m, isRequest)
}

// dropAnswered gives up, after response bytes were lost, the waiting requests whose answers they
// held: in order, a response of time ts answers the newest request sent before it or one sent
// with it (a pipelined write), so requests older than that one were answered in the lost bytes.
// A loss inside the answers of one pipelined write cannot be told from its timestamps; the
// pairing then shifts until the queue empties.
func (c *conn[M, P]) dropAnswered(ts uint64) {
	newest := -1
	for i, q := range c.requests {
		if q.TS <= ts {
			newest = i
		}
	}
	if newest <= 0 {
		return
	}
	n := 0
	for n < newest && c.requests[n].TS < c.requests[newest].TS {
		n++
	}
	c.requests = append(c.requests[:0], c.requests[n:]...)
	c.cfg.Counts.UnmatchedRequests += uint64(n)
}

func (c *conn[M, P]) pair(req, resp *Waiting[M]) {
	c.cfg.Counts.Calls++
	c.last.req, c.last.resp = &req.Msg, &resp.Msg
	c.x.Request = req.frame // not as a tuple, which would copy through temporaries
	c.x.Response = resp.frame
	c.cfg.Sink.Call(req.TS, resp.TS, &c.x)
	c.last.req, c.last.resp = nil, nil // they point into the queues, which move on
}

// oneWay emits the one-way message just parsed, c.in with frame f, as a call of its own: it
// waits for nothing, so it neither takes nor moves a place in the queues.
func (c *conn[M, P]) oneWay(f Frame) {
	c.cfg.Counts.OneWay++
	c.none = *new(M)
	c.last.req, c.last.resp = &c.in.Msg, &c.none
	c.x.Request = f
	c.x.Response = Frame{}
	c.cfg.Sink.Call(c.in.TS, c.in.TS, &c.x)
	c.last.req, c.last.resp = nil, nil
}

// handover reports whether resp, answering req, handed the connection to another protocol.
func (c *conn[M, P]) handover(req, resp *Waiting[M]) bool {
	to, u, ok := c.switcher.Switch(&req.Msg, &resp.Msg)
	return ok && c.handOver(to, u, req.TS)
}

// handOver offers the connection to protocol to, u its first request, made at ts. Apart from
// handover so that only a switch moves u to the heap (it escapes through HandoverFunc), not every
// response of a protocol that may switch.
//
//go:noinline
func (c *conn[M, P]) handOver(to abi.Protocol, u Upgraded, ts uint64) bool {
	u.TS = ts
	if !c.cfg.Handover(to, &u) {
		return false
	}
	c.cfg.Counts.HandedOver++
	return true
}

func (c *conn[M, P]) Adopt(u *Upgraded) {
	a, ok := c.parser.(Adopter[M])
	if !ok {
		c.cfg.Counts.Requests++
		c.cfg.Counts.UnmatchedRequests++
		return
	}
	c.in = Waiting[M]{TS: u.TS}
	a.Adopt(u, &c.in.Msg)
	c.deliver(Request)
}

func (c *conn[M, P]) Requests() (int, uint64) {
	if len(c.requests) == 0 {
		return 0, 0
	}
	return len(c.requests), c.requests[0].TS
}

func (c *conn[M, P]) Lost(typ MessageType) {
	if typ == Response {
		c.lostResponses = true
	}
	if l, ok := c.parser.(LossListener); ok {
		l.Lost(typ)
	}
}

func (c *conn[M, P]) ExpireResponses(now, hold uint64) {
	for len(c.early) > 0 && now-c.early[0].TS >= hold {
		c.early = remove(c.early, 0)
		c.cfg.Counts.UnmatchedResponses++
	}
}

func (c *conn[M, P]) Idle() bool {
	if len(c.requests) != 0 || len(c.early) != 0 || c.lostResponses {
		return false
	}
	i, ok := c.parser.(Idler)
	return ok && i.Idle()
}

func (c *conn[M, P]) Abandon() {
	c.cfg.Counts.UnmatchedRequests += uint64(len(c.requests))
	c.cfg.Counts.UnmatchedResponses += uint64(len(c.early))
	c.requests, c.early = c.requests[:0], c.early[:0]
}

// remove deletes q[i] in place, so the queue's array is reused.
func remove[M any](q []Waiting[M], i int) []Waiting[M] {
	copy(q[i:], q[i+1:])
	return q[:len(q)-1]
}
