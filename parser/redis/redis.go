package redis

import (
	"bytes"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/cursor"
)

const (
	// MaxPending bounds how much of an incomplete message the caller is asked to buffer; see
	// the package documentation.
	MaxPending = 256 << 10
	// maxInline bounds an inline command line, as Redis does (PROTO_INLINE_MAX_SIZE).
	maxInline = 64 << 10
	// maxMarkers bounds the unanswered pub/sub requests remembered.
	maxMarkers = 16
)

// Conn is the Redis state of one connection.
type Conn struct {
	in *parser.Interner

	req  requestState
	resp responseState

	// markers are the unanswered pub/sub and MONITOR requests, oldest first, in a ring.
	markers [maxMarkers]marker
	mHead   int
	mLen    int
	// tail counts unanswered plain requests after the last marker (all of them without one).
	tail uint32
	// absorb counts confirmations still due to the pub/sub request answered last.
	absorb int64
	// Subscription counts as the server last reported them.
	chans, pats, shards int64
	resp3               bool
	monitor             bool
}

// marker is an unanswered request whose reply is not one frame.
type marker struct {
	ahead uint32 // unanswered plain requests before it
	kind  cmdKind
	n     int64 // channels or patterns named; 0 for an UNSUBSCRIBE of all
}

type requestState struct {
	cur    cursor.Cursor
	n, i   int64 // elements announced and read, when resuming
	method string
	// cont: the request was reported; left of its elements still follow in the stream.
	cont bool
	left int64
}

type responseState struct {
	cur  cursor.Cursor
	rd   reader // the value being read, when resuming or continuing
	sh   shape
	cont bool
}

// NewConn returns the state of a new connection; strings are interned in in.
func NewConn(in *parser.Interner) *Conn { return &Conn{in: in} }

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if len(buf) == 0 {
		if typ != parser.Request && typ != parser.Response {
			return parser.Result{Status: parser.Invalid}
		}
		return parser.Result{Status: parser.NeedMore}
	}
	switch typ {
	case parser.Request:
		return c.parseRequest(buf, msg)
	case parser.Response:
		return c.parseResponse(buf, msg)
	}
	return parser.Result{Status: parser.Invalid}
}

func (c *Conn) parseRequest(buf []byte, msg *Message) parser.Result {
	if c.req.cont {
		if r, ok := c.continueRequest(buf); ok {
			return r
		}
	}
	switch b := buf[0]; {
	case b == '*':
		return c.parseArray(buf, msg)
	case b == '\n':
		return parser.Result{Status: parser.Ignored, Consumed: 1} // Redis skips empty lines
	case b == '\r':
		if len(buf) == 1 {
			return parser.Result{Status: parser.NeedMore}
		}
		if buf[1] == '\n' {
			return parser.Result{Status: parser.Ignored, Consumed: 2}
		}
	case b|0x20 >= 'a' && b|0x20 <= 'z':
		return c.parseInline(buf, msg)
	}
	return parser.Result{Status: parser.Invalid}
}

// parseArray parses a request in the RESP form: an array of bulk strings.
func (c *Conn) parseArray(buf []byte, msg *Message) parser.Result {
	s := &c.req
	var n, i int64
	var pos int
	method := ""
	if s.cur.OK && s.cur.Matches(buf) {
		n, i, pos, method = s.n, s.i, s.cur.Pos, s.method
	} else {
		var end int
		var st parser.Status
		n, end, st = header(buf, 0, maxCount)
		if st != parser.Complete {
			return parser.Result{Status: st}
		}
		if n <= 0 {
			// Redis reads "*0" and "*-1" as nothing.
			return parser.Result{Status: parser.Ignored, Consumed: end}
		}
		pos = end
	}
	s.cur.OK = false
	var name []byte
	for ; i < n; i++ {
		if pos < len(buf) && buf[pos] != '$' {
			return parser.Result{Status: parser.Invalid}
		}
		l, data, st := header(buf, pos, maxBlob)
		switch {
		case st == parser.NeedMore:
			return c.requestNeedsMore(buf, pos, n, i, method, msg)
		case st == parser.Invalid || l < 0:
			return parser.Result{Status: parser.Invalid}
		}
		end := data + int(l) + 2
		if method == "" {
			// The name, then the subcommand when the name has one, are read before moving on.
			switch {
			case i == 0 && l > maxName:
				method = unknownCommand
			case i == 1 && l > maxSub:
				method = orUnknown(commandName(c.in, name, nil))
			case end > len(buf):
				return parser.Result{Status: parser.NeedMore}
			case i == 0:
				name = buf[data : end-2]
				if n == 1 || len(name) > 8 || !hasSubcommandFold(name) {
					method = orUnknown(commandName(c.in, name, nil))
				}
			default:
				method = orUnknown(commandName(c.in, name, buf[data:end-2]))
			}
		}
		if end > len(buf) {
			if i == n-1 {
				return c.completeRequest(end, true, method, n, msg)
			}
			if end > MaxPending {
				s.cont, s.left = true, n-1-i
				return c.completeRequest(end, true, method, n, msg)
			}
			return c.requestNeedsMore(buf, pos, n, i, method, msg)
		}
		if buf[end-2] != '\r' || buf[end-1] != '\n' {
			return parser.Result{Status: parser.Invalid}
		}
		pos = end
	}
	return c.completeRequest(pos, false, method, n, msg)
}

func orUnknown(m string) string {
	if m == "" {
		return unknownCommand
	}
	return m
}

// hasSubcommandFold is hasSubcommand on a name in any case.
func hasSubcommandFold(name []byte) bool {
	var up [8]byte
	n, ok := upper(up[:], name)
	return ok && hasSubcommand(string(up[:n]))
}

// requestNeedsMore handles a request whose element at pos is incomplete: past MaxPending the
// request is reported up to pos and its other elements continued; below, the scan is saved.
func (c *Conn) requestNeedsMore(buf []byte, pos int, n, i int64, method string, msg *Message) parser.Result {
	s := &c.req
	if method == "" {
		return parser.Result{Status: parser.NeedMore}
	}
	if pos > MaxPending {
		s.cont, s.left = true, n-i
		return c.completeRequest(pos, true, method, n, msg)
	}
	if s.cur.Save(buf, pos) {
		s.n, s.i, s.method = n, i, method
	}
	return parser.Result{Status: parser.NeedMore}
}

func (c *Conn) completeRequest(size int, truncated bool, method string, n int64, msg *Message) parser.Result {
	*msg = Message{Type: parser.Request, Size: size, Truncated: truncated, Method: method}
	c.onRequest(kindOf(method), n-1)
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// continueRequest consumes the remaining bulk strings of a request already reported.
func (c *Conn) continueRequest(buf []byte) (parser.Result, bool) {
	s := &c.req
	pos := 0
	for s.left > 0 {
		l, data, st := header(buf, pos, maxBlob)
		if pos < len(buf) && buf[pos] != '$' || st == parser.Invalid || st == parser.Complete && l < 0 {
			s.cont = false
			if pos == 0 {
				return parser.Result{}, false
			}
			return parser.Result{Status: parser.Ignored, Consumed: pos}, true
		}
		if st == parser.NeedMore {
			if pos == 0 {
				return parser.Result{Status: parser.NeedMore}, true
			}
			return parser.Result{Status: parser.Ignored, Consumed: pos}, true
		}
		end := data + int(l) + 2
		s.left--
		if end > len(buf) {
			s.cont = s.left > 0
			return parser.Result{Status: parser.Ignored, Consumed: end}, true
		}
		pos = end
	}
	s.cont = false
	return parser.Result{Status: parser.Ignored, Consumed: pos}, true
}

// parseInline parses a request in the inline form, "PING\r\n": words separated by spaces.
func (c *Conn) parseInline(buf []byte, msg *Message) parser.Result {
	limit := min(len(buf), maxInline)
	nl := bytes.IndexByte(buf[:limit], '\n')
	if nl < 0 {
		if len(buf) >= maxInline || !plausibleInline(buf) {
			return parser.Result{Status: parser.Invalid}
		}
		return parser.Result{Status: parser.NeedMore}
	}
	line := buf[:nl]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	var words [2][]byte
	n := int64(0)
	for f := line; len(f) > 0; {
		for len(f) > 0 && (f[0] == ' ' || f[0] == '\t') {
			f = f[1:]
		}
		if len(f) == 0 {
			break
		}
		w := f
		if j := bytes.IndexAny(f, " \t"); j >= 0 {
			w, f = f[:j], f[j:]
		} else {
			f = nil
		}
		if n < 2 {
			words[n] = w
		}
		n++
	}
	m := commandName(c.in, words[0], words[1])
	if m == "" {
		return parser.Result{Status: parser.Invalid}
	}
	return c.completeRequest(nl+1, false, m, n, msg)
}

// plausibleInline says whether an incomplete line can still be an inline command.
func plausibleInline(b []byte) bool {
	name := true
	for _, c := range b {
		switch {
		case c == ' ' || c == '\t':
			name = false
		case c == '\r':
		case c < 0x20 || c == 0x7f:
			return false
		case name && !isNameByte[c]:
			return false
		}
	}
	return true
}

func (c *Conn) parseResponse(buf []byte, msg *Message) parser.Result {
	s := &c.resp
	if s.cont {
		if r, ok := c.continueResponse(buf); ok {
			return r
		}
	}
	pos := 0
	if s.cur.OK && s.cur.Matches(buf) {
		pos = s.cur.Pos
	} else {
		s.rd.start()
		s.sh = shape{}
	}
	s.cur.OK = false
	st := s.rd.read(buf, pos, &s.sh)
	end, truncated := st.pos, false
	switch st.st {
	case parser.Invalid:
		return parser.Result{Status: parser.Invalid}
	case parser.NeedMore:
		switch {
		case st.blobEnd > 0 && s.rd.lastItem():
			end, truncated = st.blobEnd, true
		case st.blobEnd > MaxPending:
			s.rd.done()
			end, truncated, s.cont = st.blobEnd, true, true
		case st.blobEnd == 0 && st.pos > MaxPending:
			truncated, s.cont = true, true
		default:
			s.cur.Save(buf, st.pos)
			return parser.Result{Status: parser.NeedMore}
		}
	}
	status := c.classify(&s.sh)
	if status == parser.Complete {
		*msg = Message{
			Type:      parser.Response,
			Size:      end,
			Truncated: truncated,
			Success:   s.sh.kind != '-' && s.sh.kind != '!',
		}
	}
	return parser.Result{Status: status, Consumed: end}
}

// continueResponse consumes the rest of a reply already reported.
func (c *Conn) continueResponse(buf []byte) (parser.Result, bool) {
	s := &c.resp
	var sh shape
	st := s.rd.read(buf, 0, &sh)
	switch {
	case st.st == parser.Complete:
		s.cont = false
		return parser.Result{Status: parser.Ignored, Consumed: st.pos}, true
	case st.st == parser.Invalid:
		s.cont = false
		if st.pos == 0 {
			return parser.Result{}, false
		}
		return parser.Result{Status: parser.Ignored, Consumed: st.pos}, true
	case st.blobEnd > 0:
		s.rd.done()
		s.cont = s.rd.depth > 0
		return parser.Result{Status: parser.Ignored, Consumed: st.blobEnd}, true
	case st.pos > 0:
		return parser.Result{Status: parser.Ignored, Consumed: st.pos}, true
	}
	return parser.Result{Status: parser.NeedMore}, true
}

// classify decides whether a whole reply answers a request (Complete) or not (Ignored), and
// keeps the pub/sub state; see the package documentation.
func (c *Conn) classify(sh *shape) parser.Status {
	if c.monitor {
		if sh.kind == '+' && sh.isStr("RESET") {
			c.onReply(sh)
			return parser.Complete
		}
		return parser.Ignored
	}
	switch sh.kind {
	case '*', '>':
		if sh.n == 3 && sh.int3OK {
			if k := sh.confirmation(); k != cmdOther {
				return c.onConfirm(k, sh.int3)
			}
		}
		if sh.kind == '>' {
			c.resp3 = true
			return parser.Ignored
		}
		if !c.resp3 && sh.isMessage() && (c.subscribed() || !c.outstanding()) {
			return parser.Ignored
		}
	case '_', ',', '#', '!', '=', '(', '%', '~':
		c.resp3 = true
	}
	c.onReply(sh)
	return parser.Complete
}

func (s *shape) confirmation() cmdKind {
	if !s.strOK {
		return cmdOther
	}
	return confirmation(string(s.str[:s.strLen]))
}

func (s *shape) isMessage() bool {
	switch {
	case s.n == 3:
		return s.isStr("message") || s.isStr("smessage")
	case s.n == 4:
		return s.isStr("pmessage")
	}
	return false
}

func (c *Conn) subscribed() bool  { return c.chans > 0 || c.pats > 0 || c.shards > 0 }
func (c *Conn) outstanding() bool { return c.tail > 0 || c.mLen > 0 }

// onRequest records a request parsed.
func (c *Conn) onRequest(kind cmdKind, args int64) {
	if kind == cmdOther || c.mLen == maxMarkers {
		// A pub/sub request past maxMarkers is counted as plain: its confirmations will look
		// unexpected and be Ignored.
		if c.tail < 1<<32-1 {
			c.tail++
		}
		return
	}
	c.markers[(c.mHead+c.mLen)%maxMarkers] = marker{ahead: c.tail, kind: kind, n: args}
	c.mLen++
	c.tail = 0
}

// onReply records a reply that answers a request.
func (c *Conn) onReply(sh *shape) {
	c.absorb = 0
	if sh.kind == '+' && sh.isStr("RESET") {
		// RESET leaves subscribed and MONITOR modes and returns to RESP2.
		c.chans, c.pats, c.shards = 0, 0, 0
		c.resp3, c.monitor = false, false
	}
	if c.mLen == 0 {
		if c.tail > 0 {
			c.tail--
		}
		return
	}
	h := &c.markers[c.mHead]
	if h.ahead > 0 {
		h.ahead--
		return
	}
	// The marked request got an ordinary reply: an error, +QUEUED inside MULTI, or MONITOR's +OK.
	c.popMarker()
	if h.kind == cmdMonitor && sh.kind == '+' && sh.isStr("OK") {
		c.monitor = true
	}
}

// onConfirm handles a subscription confirmation of kind k reporting count subscriptions.
func (c *Conn) onConfirm(k cmdKind, count int64) parser.Status {
	count = max(count, 0)
	var left *int64 // the count of k's family, which an UNSUBSCRIBE of all drains
	switch k {
	case cmdSubscribe, cmdUnsubscribe:
		// Channel and pattern confirmations report the sum of both.
		c.chans = max(count-c.pats, 0)
		left = &c.chans
	case cmdPSubscribe, cmdPUnsubscribe:
		c.pats = max(count-c.chans, 0)
		left = &c.pats
	default:
		c.shards = count
		left = &c.shards
	}
	if c.absorb > 0 {
		c.absorb--
		return parser.Ignored
	}
	if c.mLen == 0 {
		return parser.Ignored
	}
	h := c.markers[c.mHead]
	if h.ahead > 0 || h.kind != k {
		return parser.Ignored
	}
	c.popMarker()
	if h.n > 0 {
		c.absorb = h.n - 1
	} else {
		c.absorb = *left
	}
	return parser.Complete
}

func (c *Conn) popMarker() {
	c.mHead = (c.mHead + 1) % maxMarkers
	c.mLen--
}

// FindBoundary implements parser.Parser: the next line start holding an array header (requests)
// or any RESP type with a well-formed header line (responses).
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	switch typ {
	case parser.Request:
		c.req.cur.OK, c.req.cont = false, false
	case parser.Response:
		c.resp.cur.OK, c.resp.cont = false, false
	default:
		return -1
	}
	// Every RESP message ends with "\r\n", so the next one starts after a '\n'.
	for i := 0; i < len(buf); {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(buf) && plausibleStart(buf[i:], typ) {
			return i
		}
	}
	return -1
}

// plausibleStart says whether a message of type typ may start at b[0].
func plausibleStart(b []byte, typ parser.MessageType) bool {
	t := b[0]
	if typ == parser.Request && t != '*' || !isType[t] || t == '.' {
		return false
	}
	nl := bytes.IndexByte(b[1:min(len(b), 1+maxLine)], '\n')
	if nl < 0 {
		return true // cannot tell yet
	}
	line := b[1 : 1+nl]
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return false
	}
	line = line[:len(line)-1]
	switch t {
	case '+', '-', ',':
		return t != ',' || len(line) > 0
	case ':', '(':
		_, ok := integer(line, t == '(')
		return ok
	case '#':
		return len(line) == 1 && (line[0] == 't' || line[0] == 'f')
	case '_':
		return len(line) == 0
	}
	if len(line) == 1 && line[0] == '?' {
		return typ == parser.Response
	}
	n, ok := length(line, maxBlob)
	if typ == parser.Request {
		return ok && n > 0 && (2+nl >= len(b) || b[2+nl] == '$')
	}
	return ok
}

// header reads a length header line ("$12\r\n", "*3\r\n") at buf[pos]: its number, the offset
// after it, and whether it is whole.
func header(buf []byte, pos int, max int64) (int64, int, parser.Status) {
	const maxHeader = 13 // type, 10 digits, CR LF
	if pos >= len(buf) {
		return 0, 0, parser.NeedMore
	}
	limit := min(len(buf), pos+maxHeader)
	nl := bytes.IndexByte(buf[pos:limit], '\n')
	if nl < 0 {
		if limit-pos >= maxHeader {
			return 0, 0, parser.Invalid
		}
		for _, b := range buf[pos+1 : limit] {
			if (b < '0' || b > '9') && b != '-' && b != '\r' {
				return 0, 0, parser.Invalid
			}
		}
		return 0, 0, parser.NeedMore
	}
	line := buf[pos+1 : pos+nl]
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return 0, 0, parser.Invalid
	}
	n, ok := length(line[:len(line)-1], max)
	if !ok {
		return 0, 0, parser.Invalid
	}
	return n, pos + nl + 1, parser.Complete
}
