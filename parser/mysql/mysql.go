package mysql

import (
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/sqlnorm"
)

// Limits that bound the state one connection holds and the bytes a Parse waits for.
const (
	// MaxStatement bounds a recorded statement (see sqlnorm).
	MaxStatement = sqlnorm.DefaultMax
	// waitLimit: a packet longer than this is handled from its beginning, without waiting for its
	// end (the kernel side hands over at most 16 KiB per event).
	waitLimit = 16 << 10
	// maxPending bounds the commands awaiting a response; past it the oldest are forgotten.
	maxPending = 64
	// maxStatements bounds the prepared statements remembered per connection.
	maxStatements = 1024
	// maxAuth bounds the client's packets in the login exchange: the login request and auth
	// plugin data (an RSA-encrypted password is the longest, 512 bytes for a 4096-bit key).
	maxAuth = 8 << 10
	// maxColumns is the server's own limit on columns in a table or result.
	maxColumns = 4096
	// maxPacket is the largest payload one packet carries; a payload this long continues in the
	// next packet.
	maxPacket = 1<<24 - 1
)

// Command bytes.
const (
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comStatistics       = 0x09
	comChangeUser       = 0x11
	comBinlogDump       = 0x12
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comStmtFetch        = 0x1c
	comBinlogDumpGTID   = 0x1e
	comStmtBulkExecute  = 0xfa // MariaDB
	comUnknown          = 0xff // a response arrived with no command pending
)

// commandNames names commands for Method; an empty name means the byte is no client command.
var commandNames = [256]string{
	0x01: "QUIT", 0x02: "INIT_DB", 0x03: "QUERY", 0x04: "FIELD_LIST", 0x05: "CREATE_DB",
	0x06: "DROP_DB", 0x07: "REFRESH", 0x08: "SHUTDOWN", 0x09: "STATISTICS", 0x0a: "PROCESS_INFO",
	0x0c: "PROCESS_KILL", 0x0d: "DEBUG", 0x0e: "PING", 0x0f: "TIME", 0x10: "DELAYED_INSERT",
	0x11: "CHANGE_USER", 0x12: "BINLOG_DUMP", 0x13: "TABLE_DUMP", 0x15: "REGISTER_SLAVE",
	0x16: "PREPARE", 0x17: "EXECUTE", 0x18: "STMT_SEND_LONG_DATA", 0x19: "STMT_CLOSE",
	0x1a: "STMT_RESET", 0x1b: "SET_OPTION", 0x1c: "STMT_FETCH", 0x1d: "DAEMON",
	0x1e: "BINLOG_DUMP_GTID", 0x1f: "RESET_CONNECTION", 0x20: "CLONE",
	0xfa: "STMT_BULK_EXECUTE",
}

// Capability flags used here.
const (
	capProtocol41      = 1 << 9
	capSSL             = 1 << 11
	capCompress        = 1 << 5
	capZstd            = 1 << 26
	capDeprecateEOF    = 1 << 24
	capQueryAttributes = 1 << 27
)

// Server status flags used here.
const (
	statusMoreResults  = 0x0008
	statusCursorExists = 0x0040
)

// eofMode says whether result metadata ends with an EOF packet (CLIENT_DEPRECATE_EOF unset).
type eofMode uint8

const (
	eofUnknown eofMode = iota
	eofSent
	eofDeprecated
)

// stmt is a statement as recorded: its verb and normalised text, both interned.
type stmt struct {
	verb, text string
	truncated  bool
}

// pending is a command awaiting its response.
type pending struct {
	cmd byte
	// seq is the sequence id of the response's first packet: 1, or more when the command's
	// payload went on in continuation packets.
	seq  byte
	stmt stmt // COM_STMT_PREPARE: the statement the response's id will name
}

// Conn is the parsing state of one MySQL connection: capabilities learnt from the handshake,
// commands awaiting a response, the response being parsed, and prepared statements by id.
type Conn struct {
	in   *parser.Interner
	norm *sqlnorm.Normalizer

	serverCaps, clientCaps uint32
	greeted, loggedIn      bool
	eof                    eofMode
	// opaque: TLS or compression was negotiated; nothing more can be parsed.
	opaque bool
	// commands counts command packets; before the first, packets with other sequence ids on the
	// request stream are the login exchange.
	commands uint64
	// contSeq is the sequence id the next request packet has when it continues a payload of
	// maxPacket bytes; -1 when none is expected.
	contSeq int

	queue      [maxPending]pending
	head, size int

	resp response
	// trailSeq is the sequence id of an EOF that may still follow a COM_STMT_PREPARE response
	// completed before the EOF mode was known; -1 when none.
	trailSeq int

	stmts map[uint32]stmt
	// lastPrepare is the statement of the latest COM_STMT_PREPARE, which MariaDB clients execute
	// with id 0xffffffff before the server has answered the prepare.
	lastPrepare stmt

	verbBuf [32]byte
}

// NewConn returns the state of a new connection; strings come from in.
func NewConn(in *parser.Interner) *Conn {
	return &Conn{
		in:       in,
		norm:     sqlnorm.New(sqlnorm.MySQL, MaxStatement),
		contSeq:  -1,
		trailSeq: -1,
		stmts:    make(map[uint32]stmt),
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

// header decodes a packet header: payload length and sequence id.
func header(b []byte) (n int, seq byte) {
	return int(b[0]) | int(b[1])<<8 | int(b[2])<<16, b[3]
}

func le16(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// stmtID reads the statement id that starts the body of the COM_STMT_* commands; ok is false
// when it has not all arrived.
func stmtID(body []byte) (id uint32, ok bool) {
	if len(body) < 4 {
		return 0, false
	}
	return le32(body), true
}

// lenenc decodes a length-encoded integer: value, bytes used; ok false when b is too short or
// does not hold one (0xfb is NULL, 0xff is no integer).
func lenenc(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1, true
	case c == 0xfc:
		n = 3
	case c == 0xfd:
		n = 4
	case c == 0xfe:
		n = 9
	default:
		return 0, 0, false
	}
	if len(b) < n {
		return 0, 0, false
	}
	for i := n - 1; i >= 1; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, n, true
}

// parseRequest parses one client packet.
func (c *Conn) parseRequest(buf []byte, msg *Message) parser.Result {
	if len(buf) < 4 {
		return parser.Result{Status: parser.NeedMore}
	}
	n, seq := header(buf)
	size := 4 + n
	if seq != 0 {
		return c.requestContinuation(buf, n, seq)
	}
	if n == 0 {
		return parser.Result{Status: parser.Invalid}
	}
	if len(buf) < 5 {
		return parser.Result{Status: parser.NeedMore}
	}
	cmd := buf[4]
	if !validCommand(cmd, n) {
		return parser.Result{Status: parser.Invalid}
	}
	// The body is needed whole unless it is too long to wait for; then what arrived is used.
	partial := size > len(buf)
	if partial && n <= waitLimit {
		return parser.Result{Status: parser.NeedMore}
	}
	body := buf[5:min(size, len(buf))]
	// The statement id of COM_STMT_EXECUTE is needed even when its body is not waited for: a long
	// execution whose first bytes went out in their own write has not brought it yet.
	id, idOK := stmtID(body)
	if cmd == comStmtExecute && !idOK {
		return parser.Result{Status: parser.NeedMore}
	}
	c.commands++
	c.contSeq = -1
	if n == maxPacket {
		c.contSeq = 1
	}
	*msg = Message{Type: parser.Request, Size: size, Truncated: partial}
	p := pending{cmd: cmd, seq: 1}
	switch cmd {
	case comQuery:
		text := body
		if c.queryAttributes(body) {
			text = skipQueryAttributes(body)
		}
		s := c.statement(text, partial)
		msg.Method, msg.Resource, msg.Truncated = s.verb, s.text, s.truncated
	case comStmtPrepare:
		s := c.statement(body, partial)
		c.lastPrepare = s
		p.stmt = s
		msg.Method, msg.Resource, msg.Truncated = commandNames[cmd], s.text, s.truncated
	case comStmtExecute:
		if s, ok := c.lookup(id); ok {
			msg.Method, msg.Resource, msg.Truncated = s.verb, s.text, s.truncated || partial
		} else {
			msg.Method = commandNames[cmd]
		}
	case comStmtReset, comStmtFetch, comStmtBulkExecute:
		msg.Method = commandNames[cmd]
		if s, ok := c.lookup(id); ok && idOK {
			msg.Resource = s.text
		}
	case comStmtClose:
		if idOK {
			delete(c.stmts, id)
		}
		return parser.Result{Status: parser.Ignored, Consumed: size}
	case comQuit, comStmtSendLongData:
		// No response will come.
		return parser.Result{Status: parser.Ignored, Consumed: size}
	case comBinlogDump, comBinlogDumpGTID:
		// The response is a replication stream that never ends: skip both sides.
		c.push(p)
		return parser.Result{Status: parser.Ignored, Consumed: size}
	default:
		msg.Method = commandNames[cmd]
	}
	c.push(p)
	return parser.Result{Status: parser.Complete, Consumed: size}
}

// requestContinuation handles a client packet with a non-zero sequence id: part of the login
// exchange, data for LOAD DATA LOCAL INFILE, an answer to COM_CHANGE_USER's authentication, or
// the continuation of a payload of maxPacket bytes. Anything else is not where a packet starts.
func (c *Conn) requestContinuation(buf []byte, n int, seq byte) parser.Result {
	size := 4 + n
	switch {
	case c.contSeq >= 0 && int(seq) == c.contSeq:
		c.contSeq = -1
		if n == maxPacket {
			c.contSeq = int(seq+1) & 0xff
		}
		if c.size > 0 {
			// The server answers with the sequence id after the last packet of the command.
			c.queue[(c.head+c.size-1)%maxPending].seq = seq + 1
		}
	case c.resp.active && (c.resp.phase == phInfile || c.resp.phase == phAuth):
	case c.commands == 0 && n <= maxAuth:
		if seq == 1 {
			// The login request: learn the client's capabilities.
			if len(buf) < min(size, 4+32) {
				return parser.Result{Status: parser.NeedMore}
			}
			if n < 32 {
				// HandshakeResponse320 or garbage: no 4.1 capabilities to learn.
				break
			}
			c.clientCaps = le32(buf[4:])
			c.loggedIn = true
			if c.clientCaps&capProtocol41 == 0 {
				break
			}
			both := c.clientCaps
			if c.greeted {
				both &= c.serverCaps
			}
			if n == 32 && both&capSSL != 0 || both&(capCompress|capZstd) != 0 && c.greeted {
				c.opaque = true
			}
			if c.greeted || c.clientCaps&capDeprecateEOF == 0 {
				c.eof = eofSent
				if both&capDeprecateEOF != 0 {
					c.eof = eofDeprecated
				}
			}
		}
	default:
		return parser.Result{Status: parser.Invalid}
	}
	if size > len(buf) && n <= waitLimit {
		return parser.Result{Status: parser.NeedMore}
	}
	return parser.Result{Status: parser.Ignored, Consumed: size}
}

// validCommand reports whether cmd is a client command and n a payload length it can have.
func validCommand(cmd byte, n int) bool {
	if commandNames[cmd] == "" {
		return false
	}
	switch cmd {
	case 0x01, 0x09, 0x0a, 0x0d, 0x0e, 0x0f, 0x1d, 0x1f:
		// QUIT, STATISTICS, PROCESS_INFO, DEBUG, PING, TIME, DAEMON, RESET_CONNECTION.
		return n == 1
	case comStmtClose, comStmtReset, 0x0c:
		return n == 5
	case comStmtFetch:
		return n == 9
	case 0x1b:
		return n == 3
	case comStmtExecute:
		return n >= 10
	case comStmtSendLongData:
		return n >= 7
	case 0x07:
		return n == 2
	case comInitDB, comFieldList, 0x05, 0x06:
		return n >= 2 && n <= 64<<10
	}
	return true
}

// queryAttributes reports whether a COM_QUERY payload starts with query attributes (MySQL 8.0.23+
// with CLIENT_QUERY_ATTRIBUTES). When the handshake was not seen, a payload starting with a
// control byte other than a blank is taken to carry them: statement text never does.
func (c *Conn) queryAttributes(body []byte) bool {
	if c.greeted && c.loggedIn {
		return c.serverCaps&c.clientCaps&capQueryAttributes != 0
	}
	return len(body) >= 2 && body[0] < 0x09
}

// skipQueryAttributes returns the statement after a query-attributes block, or body unchanged if
// the block does not parse.
func skipQueryAttributes(body []byte) []byte {
	count, k, ok := lenenc(body)
	if !ok || count > 0xffff {
		return body
	}
	p := k
	if _, k, ok = lenenc(body[p:]); !ok { // parameter_set_count, always 1
		return body
	}
	p += k
	if count == 0 {
		return body[p:]
	}
	nulls := p
	p += int(count+7) / 8
	if p >= len(body) || body[p] != 1 { // new_params_bind_flag
		return body
	}
	p++
	types := p
	for i := uint64(0); i < count; i++ {
		if p+2 > len(body) {
			return body
		}
		p += 2
		l, k, ok := lenenc(body[p:])
		if !ok || l > uint64(len(body)) {
			return body
		}
		p += k + int(l)
	}
	// Values, in the binary protocol's encoding; NULLs (in the bitmap) have none.
	t := types
	for i := uint64(0); i < count; i++ {
		typ := body[t]
		l, k, ok := lenenc(body[t+2:])
		if !ok {
			return body
		}
		t += 2 + k + int(l)
		if body[nulls+int(i/8)]&(1<<(i%8)) != 0 {
			continue
		}
		w, ok := binaryWidth(typ, body[min(p, len(body)):])
		if !ok {
			return body
		}
		p += w
	}
	if p > len(body) {
		return body
	}
	return body[p:]
}

// binaryWidth returns the size of one value of column type typ in the binary protocol.
func binaryWidth(typ byte, b []byte) (int, bool) {
	switch typ {
	case 0x01: // TINY
		return 1, true
	case 0x02, 0x0d: // SHORT, YEAR
		return 2, true
	case 0x03, 0x09, 0x04: // LONG, INT24, FLOAT
		return 4, true
	case 0x08, 0x05: // LONGLONG, DOUBLE
		return 8, true
	case 0x06: // NULL
		return 0, true
	case 0x07, 0x0a, 0x0b, 0x0c: // TIMESTAMP, DATE, TIME, DATETIME: a length byte, then that many
		if len(b) == 0 {
			return 0, false
		}
		return 1 + int(b[0]), true
	}
	// Strings, decimals, blobs, JSON, enums, sets, geometry, bits: length-encoded.
	l, k, ok := lenenc(b)
	if !ok || l > uint64(len(b)) {
		return 0, false
	}
	return k + int(l), true
}

// statement normalises text and interns the result.
func (c *Conn) statement(text []byte, partial bool) stmt {
	norm, truncated := c.norm.Normalize(text, partial)
	resource := c.in.Bytes(norm)
	verb := c.in.Bytes(sqlnorm.AppendVerb(c.verbBuf[:0], text, sqlnorm.MySQL))
	return stmt{verb: verb, text: resource, truncated: truncated || partial}
}

// lookup returns the prepared statement with id; 0xffffffff is MariaDB's "the statement just
// prepared".
func (c *Conn) lookup(id uint32) (stmt, bool) {
	if id == 0xffffffff {
		return c.lastPrepare, c.lastPrepare.text != ""
	}
	s, ok := c.stmts[id]
	return s, ok
}

// remember records a prepared statement, forgetting an arbitrary one when the table is full.
func (c *Conn) remember(id uint32, s stmt) {
	if _, ok := c.stmts[id]; !ok && len(c.stmts) >= maxStatements {
		for k := range c.stmts {
			delete(c.stmts, k)
			break
		}
	}
	c.stmts[id] = s
}

// push queues a command awaiting its response, forgetting the oldest when the queue is full.
func (c *Conn) push(p pending) {
	if c.size == maxPending {
		c.head = (c.head + 1) % maxPending
		c.size--
	}
	c.queue[(c.head+c.size)%maxPending] = p
	c.size++
}

// peek returns the oldest command awaiting a response, without taking it.
func (c *Conn) peek() pending {
	if c.size == 0 {
		return pending{cmd: comUnknown, seq: 1}
	}
	return c.queue[c.head]
}

// pop returns the oldest command awaiting a response.
func (c *Conn) pop() (pending, bool) {
	if c.size == 0 {
		return pending{cmd: comUnknown, seq: 1}, false
	}
	p := c.queue[c.head]
	c.queue[c.head] = pending{}
	c.head = (c.head + 1) % maxPending
	c.size--
	return p, true
}

// FindBoundary implements parser.Parser: the first offset where a plausible packet header starts —
// for requests a command packet (sequence id 0, a known command with a length it can have), for
// responses the first packet of a response (sequence id 1, a plausible first byte and length).
func (c *Conn) FindBoundary(buf []byte, typ parser.MessageType) int {
	for i := 1; i+5 <= len(buf); i++ {
		n, seq := header(buf[i:])
		if n == 0 {
			continue
		}
		b := buf[i+4]
		switch typ {
		case parser.Request:
			if seq != 0 || !validCommand(b, n) {
				continue
			}
			if (b == comQuery || b == comStmtPrepare) && i+5 < len(buf) && n > 1 && !statementStart(buf[i+5]) {
				continue
			}
			return i
		case parser.Response:
			if seq != 1 || !plausibleFirst(buf[i+4:min(len(buf), i+4+n)], n) {
				continue
			}
			return i
		}
	}
	return -1
}

// statementStart reports whether c can begin statement text (or a query-attributes block).
func statementStart(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '(' || c == '/' || c == '-' ||
		c == '#' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c < 0x09
}

// plausibleFirst reports whether p, the start of a payload of n bytes, can be the first packet of
// a response.
func plausibleFirst(p []byte, n int) bool {
	switch p[0] {
	case 0x00:
		return n >= 7
	case 0xff:
		return n >= 3 && n < waitLimit && (len(p) < 4 || p[3] == '#')
	case 0xfe:
		// EOF, or OK with a 0xfe header (CLIENT_DEPRECATE_EOF), which is at least 7 bytes.
		return n == 5 || n >= 7 && n < waitLimit
	case 0xfb:
		return n >= 1 && n < waitLimit
	}
	count, k, ok := lenenc(p)
	if len(p) < n {
		return n <= 4
	}
	return ok && count > 0 && count <= maxColumns && (n == k || n == k+1)
}
