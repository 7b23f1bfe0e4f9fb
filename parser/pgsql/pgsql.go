package pgsql

import (
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/sqlnorm"
)

// Limits that bound the state one connection holds and the bytes a Parse waits for.
const (
	// MaxStatement bounds a recorded statement (see sqlnorm).
	MaxStatement = sqlnorm.DefaultMax
	// waitLimit: a message longer than this is handled from its beginning, without waiting for
	// its end (the kernel side hands over at most 16 KiB per event).
	waitLimit = 16 << 10
	// maxMessage is the server's own limit on one message (MaxAllocSize).
	maxMessage = 1 << 30
	// maxPending bounds the count of requests awaiting a response (a client that never reads).
	maxPending = 64
	// maxStatements and maxPortals bound the names remembered per connection.
	maxStatements = 1024
	maxPortals    = 64
)

// Request codes of the untyped messages sent before or instead of a StartupMessage.
const (
	codeCancel  = 80877102
	codeSSL     = 80877103
	codeGSSENC  = 80877104
	protocolV3  = 3 << 16
	maxStartup  = 10000 // the server rejects longer start-up packets
	minStartup  = 8
	cancelBytes = 16
)

// stmt is a statement as recorded: its verb and normalised text, both interned.
type stmt struct {
	verb, text string
	truncated  bool
}

// group is the extended-protocol request being read: messages since the last Sync.
type group struct {
	active    bool
	size      int
	first     byte // type of its first message
	executed  bool // an Execute was seen; exec is its statement when execKnown
	execKnown bool
	exec      stmt
	parsed    bool // a Parse was seen; prep is its statement
	prep      stmt
	truncated bool // a message of the group was not seen whole
}

// response is the response being read.
type response struct {
	active    bool
	size      int
	failed    bool
	truncated bool
}

// Conn is the parsing state of one PostgreSQL connection: the connection phase, the request and
// response being read, requests awaiting a response, and prepared statements and portals by name.
type Conn struct {
	in   *parser.Interner
	norm *sqlnorm.Normalizer

	// opaque: the connection switched to TLS or GSSAPI encryption; nothing more can be parsed.
	opaque bool
	// encryptRequested: an SSLRequest or GSSENCRequest awaits its one-byte answer.
	encryptRequested bool
	// authenticating: from the first Authentication message to the first ReadyForQuery.
	authenticating bool
	// backendSeen: the server has sent something; its one-byte answer to an SSLRequest comes
	// first or not at all.
	backendSeen bool
	// copyDone: the last client message was CopyDone or CopyFail, so a Sync right after it
	// belongs to the COPY, which libpq ends that way in the extended protocol.
	copyDone bool

	group group
	resp  response
	// waiting counts requests awaiting a response (at most maxPending). Unlike MySQL, nothing
	// about a request shapes its response, so a count is all the pairing needs: it tells an
	// asynchronous message between responses from the start of the next one.
	waiting int

	stmts   map[string]stmt
	portals map[string]stmt

	verbBuf [32]byte
}

// NewConn returns the state of a new connection; strings come from in.
func NewConn(in *parser.Interner) *Conn {
	return &Conn{
		in:      in,
		norm:    sqlnorm.New(sqlnorm.PostgreSQL, MaxStatement),
		stmts:   make(map[string]stmt),
		portals: make(map[string]stmt),
	}
}

// Parse implements parser.Parser.
func (c *Conn) Parse(buf []byte, typ parser.MessageType, msg *Message) parser.Result {
	if len(buf) == 0 {
		return parser.Result{Status: parser.NeedMore}
	}
	if c.opaque {
		return parser.Result{Status: parser.Ignored, Consumed: len(buf)}
	}
	switch typ {
	case parser.Request:
		return c.parseRequest(buf, msg)
	case parser.Response:
		return c.parseResponse(buf, msg)
	}
	return parser.Result{Status: parser.Invalid}
}

func be32(b []byte) int {
	return int(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
}

// frontendLen reports whether n (the length field, which counts itself) fits a client message
// of type t.
func frontendLen(t byte, n int) bool {
	switch t {
	case 'S', 'H', 'X', 'c':
		return n == 4
	case 'Q':
		return n >= 5 && n <= maxMessage
	case 'P':
		return n >= 8 && n <= maxMessage
	case 'B':
		return n >= 12 && n <= maxMessage
	case 'E':
		return n >= 9 && n <= maxMessage
	case 'D', 'C':
		return n >= 6 && n <= maxMessage
	case 'F':
		return n >= 12 && n <= maxMessage
	case 'd':
		return n >= 4 && n <= maxMessage
	case 'f':
		return n >= 5 && n <= maxMessage
	case 'p':
		return n >= 5 && n <= 1<<20
	}
	return false
}

// backendLen reports whether n fits a server message of type t.
func backendLen(t byte, n int) bool {
	switch t {
	case 'Z':
		return n == 5
	case 'I', '1', '2', '3', 'n', 's', 'c':
		return n == 4
	case 'K':
		return n >= 12 && n <= 512
	case 'R':
		return n >= 8 && n <= 1<<16
	case 'S':
		return n >= 6 && n <= 1<<16
	case 'E', 'N':
		return n >= 5 && n <= 1<<20
	case 'C':
		return n >= 5 && n <= 1<<16
	case 'A':
		return n >= 10 && n <= 1<<20
	case 'T', 't':
		return n >= 6 && n <= 1<<24
	case 'G', 'H', 'W':
		return n >= 7 && n <= 1<<20
	case 'v':
		return n >= 12 && n <= 1<<20
	case 'D', 'd', 'V':
		return n >= 4 && n <= maxMessage
	}
	return false
}

// cstring returns the NUL-terminated string at the start of b and the bytes after it; ok false
// when no NUL is in b.
func cstring(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// parseRequest consumes the client messages found in buf, up to the end of a request.
func (c *Conn) parseRequest(buf []byte, msg *Message) parser.Result {
	if buf[0] == 0 {
		// No type byte: a start-up phase message (its length's high byte is 0).
		return c.untyped(buf)
	}
	consumed := 0
	// skipped: messages that are no part of a group were consumed in this call; a Complete must
	// span only its own request, so they are reported on their own first.
	skipped := false
	for consumed+5 <= len(buf) {
		p := buf[consumed:]
		t, n := p[0], be32(p[1:])
		size := 1 + n
		if !frontendLen(t, n) {
			if consumed > 0 {
				break
			}
			c.group = group{}
			return parser.Result{Status: parser.Invalid}
		}
		whole := size <= len(p)
		if !whole && (n <= waitLimit || t != 'Q' && t != 'P' && t != 'd' && t != 'B' && t != 'F') {
			break
		}
		body := p[5:min(size, len(p))]
		switch t {
		case 'Q', 'F':
			if consumed > 0 {
				// Report what came before on its own; the query is the next call's.
				return parser.Result{Status: parser.Ignored, Consumed: consumed}
			}
			c.copyDone = false
			*msg = Message{Type: parser.Request, Size: size, Truncated: !whole}
			if t == 'F' {
				msg.Method = "FUNCTION_CALL"
			} else {
				text, _, _ := cstring(body)
				s := c.statement(text, !whole)
				msg.Method, msg.Resource, msg.Truncated = s.verb, s.text, s.truncated
			}
			c.push()
			return parser.Result{Status: parser.Complete, Consumed: size}

		case 'S':
			if !c.group.active && c.copyDone {
				// The Sync that ends an extended-protocol COPY: answered by the COPY's 'Z'.
				c.copyDone = false
				consumed += size
				skipped = true
				continue
			}
			if skipped {
				return parser.Result{Status: parser.Ignored, Consumed: consumed}
			}
			c.copyDone = false
			c.add(t, size)
			g := c.group
			c.group = group{}
			*msg = Message{Type: parser.Request, Size: g.size}
			switch {
			case g.executed && g.execKnown:
				msg.Method, msg.Resource, msg.Truncated = g.exec.verb, g.exec.text, g.exec.truncated
			case g.executed:
				msg.Method = "EXECUTE"
			case g.parsed:
				msg.Method, msg.Resource, msg.Truncated = "PREPARE", g.prep.text, g.prep.truncated
			default:
				msg.Method = groupNames[g.first]
			}
			msg.Truncated = msg.Truncated || g.truncated
			c.push()
			return parser.Result{Status: parser.Complete, Consumed: consumed + size}

		case 'd', 'c', 'f':
			// COPY data from the client: part of the COPY request already recorded.
			c.copyDone = t != 'd'
			consumed += size
			skipped = true
			if !whole {
				return parser.Result{Status: parser.Ignored, Consumed: consumed}
			}
			continue

		case 'p', 'X':
			// Password, SASL or GSSAPI response; Terminate.
			c.copyDone = false
			consumed += size
			skipped = true
			continue
		}

		// Parse, Bind, Describe, Execute, Close, Flush: part of the group up to the next Sync.
		c.copyDone = false
		c.add(t, size)
		if !whole {
			c.group.truncated = true
		}
		switch t {
		case 'P':
			name, rest, ok := cstring(body)
			if !ok {
				break
			}
			text, _, _ := cstring(rest)
			s := c.statement(text, !whole)
			c.remember(c.stmts, maxStatements, name, s)
			if !c.group.parsed {
				c.group.parsed, c.group.prep = true, s
			}
		case 'B':
			portal, rest, ok := cstring(body)
			if !ok {
				break
			}
			name, _, ok := cstring(rest)
			if !ok {
				break
			}
			if s, ok := c.stmts[string(name)]; ok {
				c.remember(c.portals, maxPortals, portal, s)
			} else {
				delete(c.portals, string(portal))
			}
		case 'E':
			portal, _, ok := cstring(body)
			if !ok || c.group.executed {
				break
			}
			c.group.executed = true
			c.group.exec, c.group.execKnown = c.portals[string(portal)]
		case 'C':
			if len(body) < 2 {
				break
			}
			name, _, ok := cstring(body[1:])
			if !ok {
				break
			}
			if body[0] == 'S' {
				delete(c.stmts, string(name))
			} else {
				delete(c.portals, string(name))
			}
		}
		consumed += size
		if !whole {
			return parser.Result{Status: parser.Ignored, Consumed: consumed}
		}
	}
	if consumed > 0 {
		return parser.Result{Status: parser.Ignored, Consumed: consumed}
	}
	return parser.Result{Status: parser.NeedMore}
}

// groupNames names a group that neither executed nor prepared, by its first message.
var groupNames = [256]string{
	'B': "BIND", 'D': "DESCRIBE", 'C': "CLOSE", 'H': "FLUSH", 'S': "SYNC", 'E': "EXECUTE", 'P': "PREPARE",
}

// add counts a message into the current group.
func (c *Conn) add(t byte, size int) {
	if !c.group.active {
		c.group = group{active: true, first: t}
	}
	c.group.size += size
}

// untyped handles the messages that have no type byte: StartupMessage, SSLRequest,
// GSSENCRequest and CancelRequest. All are Ignored.
func (c *Conn) untyped(buf []byte) parser.Result {
	if len(buf) < 8 {
		return parser.Result{Status: parser.NeedMore}
	}
	n, code := be32(buf), be32(buf[4:])
	switch {
	case n == 8 && (code == codeSSL || code == codeGSSENC):
		c.encryptRequested = true
	case n == cancelBytes && code == codeCancel:
	case n > minStartup && n <= maxStartup && code>>16 == 3:
		c.authenticating = true
	default:
		return parser.Result{Status: parser.Invalid}
	}
	if n > len(buf) {
		return parser.Result{Status: parser.NeedMore}
	}
	return parser.Result{Status: parser.Ignored, Consumed: n}
}

// statement normalises text and interns the result.
func (c *Conn) statement(text []byte, partial bool) stmt {
	norm, truncated := c.norm.Normalize(text, partial)
	return stmt{
		verb:      c.in.Bytes(sqlnorm.AppendVerb(c.verbBuf[:0], text, sqlnorm.PostgreSQL)),
		text:      c.in.Bytes(norm),
		truncated: truncated || partial,
	}
}

// remember stores s under name in m, forgetting an arbitrary entry when m holds limit entries.
// The name is interned, so storing a statement again under a name seen before allocates nothing.
func (c *Conn) remember(m map[string]stmt, limit int, name []byte, s stmt) {
	if _, ok := m[string(name)]; !ok && len(m) >= limit {
		for k := range m {
			delete(m, k)
			break
		}
	}
	m[c.in.Bytes(name)] = s
}

// push counts a request awaiting its response.
func (c *Conn) push() {
	if c.waiting < maxPending {
		c.waiting++
	}
}

// parseResponse consumes the server messages found in buf, up to the end of a response.
func (c *Conn) parseResponse(buf []byte, msg *Message) parser.Result {
	if !c.resp.active && (c.encryptRequested || !c.backendSeen && c.waiting == 0) && encryptAnswer(buf) {
		// The one-byte answer to SSLRequest or GSSENCRequest.
		c.encryptRequested = false
		c.opaque = buf[0] != 'N'
		return parser.Result{Status: parser.Ignored, Consumed: 1}
	}
	consumed := 0
	for consumed+5 <= len(buf) {
		p := buf[consumed:]
		t, n := p[0], be32(p[1:])
		size := 1 + n
		if !backendLen(t, n) {
			if consumed > 0 {
				break
			}
			c.resp = response{}
			return parser.Result{Status: parser.Invalid}
		}
		whole := size <= len(p)
		if !whole && (n <= waitLimit || t != 'D' && t != 'd' && t != 'T' && t != 'V' && t != 'A' && t != 'E' && t != 'N') {
			break
		}
		if t == 'Z' && p[5] != 'I' && p[5] != 'T' && p[5] != 'E' {
			if consumed > 0 {
				break
			}
			c.resp = response{}
			return parser.Result{Status: parser.Invalid}
		}
		c.backendSeen = true

		if !c.resp.active {
			ignore := false
			switch {
			case t == 'R' || t == 'K' || t == 'v':
				// Authentication, BackendKeyData, NegotiateProtocolVersion: the start-up phase,
				// which runs until the first ReadyForQuery.
				c.authenticating = true
				ignore = true
			case c.authenticating:
				ignore = true
				if t == 'Z' || t == 'E' {
					// Ready, or authentication failed and the server closes the connection.
					c.authenticating = false
				}
			case c.waiting == 0 && (t == 'S' || t == 'N' || t == 'A'):
				// Asynchronous, between responses.
				ignore = true
			}
			if ignore {
				consumed += size
				if !whole {
					break
				}
				continue
			}
			if consumed > 0 {
				break
			}
			c.resp = response{active: true}
			if c.waiting > 0 {
				c.waiting--
			}
		}

		consumed += size
		c.resp.size += size
		if !whole {
			c.resp.truncated = true
		}
		if t == 'E' {
			c.resp.failed = true
		}
		if t == 'Z' {
			*msg = Message{Type: parser.Response, Size: c.resp.size, Truncated: c.resp.truncated, Success: !c.resp.failed}
			c.resp = response{}
			return parser.Result{Status: parser.Complete, Consumed: consumed}
		}
		if !whole {
			break
		}
	}
	if consumed > 0 {
		return parser.Result{Status: parser.Ignored, Consumed: consumed}
	}
	return parser.Result{Status: parser.NeedMore}
}

// encryptAnswer reports whether buf starts with the one-byte answer to an SSLRequest ('S' yes,
// 'N' no) or a GSSENCRequest ('G' yes, 'N' no), rather than with a message: the answer is alone
// until the client speaks again, and a message's length starts with a zero byte. It is only asked
// when such a request was seen, or when the server has not spoken yet and no query is waiting
// (the request may have been missed, but then no query can have been sent).
func encryptAnswer(buf []byte) bool {
	switch buf[0] {
	case 'S', 'N', 'G':
		return len(buf) == 1 || buf[1] != 0
	}
	return false
}

// FindBoundary implements parser.Parser: the first offset where a message header fits the stream's
// direction (a known type with a length it can have) and, when the whole message is in buf, the
// header after it fits too.
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	valid := backendLen
	if typ == parser.Request {
		valid = frontendLen
	}
	for i := 1; i+5 <= len(buf); i++ {
		t, n := buf[i], be32(buf[i+1:])
		if !valid(t, n) {
			continue
		}
		if t == 'Z' && (i+5 >= len(buf) || buf[i+5] != 'I' && buf[i+5] != 'T' && buf[i+5] != 'E') {
			continue
		}
		if j := i + 1 + n; j+5 <= len(buf) && !valid(buf[j], be32(buf[j+1:])) {
			continue
		}
		return i
	}
	return -1
}
