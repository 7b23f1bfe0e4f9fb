package mysql

import "github.com/netobserver/netobserver/parser"

// phase is where in a response the next packet falls.
type phase uint8

const (
	phStart       phase = iota // the first packet of a result: OK, ERR, EOF, LOCAL INFILE or a column count
	phColumns                  // column definitions, remaining left
	phColumnsEOF               // after the column definitions: an EOF, or (CLIENT_DEPRECATE_EOF) the rows
	phRows                     // rows until EOF, OK (0xfe) or ERR
	phPrepareOK                // COM_STMT_PREPARE: COM_STMT_PREPARE_OK or ERR
	phParams                   // COM_STMT_PREPARE: parameter definitions, remaining left
	phParamsEOF                // COM_STMT_PREPARE: the EOF after the parameters
	phParamsMaybe              // COM_STMT_PREPARE: an EOF or the first column, EOF mode unknown
	phPrepCols                 // COM_STMT_PREPARE: column definitions, remaining left
	phPrepColsEOF              // COM_STMT_PREPARE: the EOF after the columns
	phInfile                   // LOCAL INFILE sent: the OK or ERR after the client's data, any sequence id
	phAuth                     // COM_CHANGE_USER: authentication packets until OK or ERR, any sequence id
	phFieldList                // COM_FIELD_LIST: column definitions until EOF or ERR
	phSingle                   // COM_STATISTICS: one packet of text
	phStream                   // COM_BINLOG_DUMP: packets forever, all Ignored
)

// response is the response being parsed.
type response struct {
	active    bool
	phase     phase
	cmd       byte
	seq       byte // sequence id the next packet must have
	size      int  // bytes of the response consumed so far
	remaining int  // definitions left in the current phase
	columns   int  // COM_STMT_PREPARE: column definitions after the parameters
	failed    bool
	truncated bool
	cont      bool // the next packet continues this one's payload
	prepared  stmt
}

// step is what one packet does to a response.
type step uint8

const (
	stepNext    step = iota // part of the response; more follows
	stepEnd                 // the last packet of the response
	stepWait                // more bytes of this packet are needed to decide
	stepInvalid             // not a packet this response can have
)

// parseResponse consumes the whole packets of one response found in buf.
func (c *Conn) parseResponse(buf []byte, msg *Message) parser.Result {
	if len(buf) < 4 {
		return parser.Result{Status: parser.NeedMore}
	}
	if !c.resp.active {
		if r, done := c.startResponse(buf); done {
			return r
		}
	}
	r := &c.resp
	consumed := 0
	for consumed+4 <= len(buf) {
		p := buf[consumed:]
		n, seq := header(p)
		size := 4 + n
		if r.phase == phInfile || r.phase == phAuth {
			// The client's packets came in between; the server's follow on from them.
			r.seq = seq
		}
		if seq != r.seq || n == 0 && r.phase != phStream && !r.cont {
			if consumed > 0 {
				break
			}
			c.resp = response{}
			return parser.Result{Status: parser.Invalid}
		}
		whole := size <= len(p)
		// What the packet is can be told from its first bytes; only long packets are decided
		// without their end.
		payload := p[4:min(size, len(p))]
		if !whole && n <= waitLimit || len(payload) == 0 && n > 0 {
			break
		}
		st := stepNext
		if !r.cont && n > 0 {
			st = c.step(payload, n, buf[consumed+min(size, len(p)):])
		}
		switch st {
		case stepWait:
			if whole {
				st = stepInvalid
				break
			}
			if consumed > 0 {
				return parser.Result{Status: parser.Ignored, Consumed: consumed}
			}
			return parser.Result{Status: parser.NeedMore}
		}
		if st == stepInvalid {
			if consumed > 0 {
				break
			}
			c.resp = response{}
			return parser.Result{Status: parser.Invalid}
		}
		consumed += size
		r.size += size
		r.seq++
		// A payload of maxPacket bytes goes on in the next packet, whatever that starts with.
		r.cont = n == maxPacket && st == stepNext
		if !whole {
			r.truncated = true
		}
		if st == stepEnd {
			*msg = Message{Type: parser.Response, Size: r.size, Truncated: r.truncated, Success: !r.failed}
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

// startResponse looks at the first packet of what should be a new response. Packets that are not
// a response to a command are dealt with here (done true): the greeting and the rest of the
// handshake, and an EOF left over from a COM_STMT_PREPARE response. Otherwise the oldest pending
// command is taken and c.resp set up for its response.
func (c *Conn) startResponse(buf []byte) (r parser.Result, done bool) {
	n, seq := header(buf)
	size := 4 + n
	if len(buf) < 5 {
		return parser.Result{Status: parser.NeedMore}, true
	}
	first := buf[4]
	trail := c.trailSeq
	c.trailSeq = -1
	switch {
	case seq == 0:
		// The server speaks first: its greeting, or an ERR refusing the connection.
		if first != 0x0a && first != 0xff || n < 3 {
			return parser.Result{Status: parser.Invalid}, true
		}
		if size > len(buf) {
			if n <= waitLimit {
				c.trailSeq = trail
				return parser.Result{Status: parser.NeedMore}, true
			}
		} else if first == 0x0a {
			c.greeting(buf[5:size])
		}
		return parser.Result{Status: parser.Ignored, Consumed: size}, true
	case trail >= 0 && int(seq) == trail && first == 0xfe && n == 5:
		// The EOF after a COM_STMT_PREPARE's definitions: CLIENT_DEPRECATE_EOF is off.
		if size > len(buf) {
			c.trailSeq = trail
			return parser.Result{Status: parser.NeedMore}, true
		}
		c.eof = eofSent
		return parser.Result{Status: parser.Ignored, Consumed: size}, true
	case seq != c.peek().seq:
		// The server's side of the login exchange: OK, ERR, auth switch (0xfe), more data (0x01).
		if n == 0 || n > waitLimit || first != 0x00 && first != 0xff && first != 0xfe && first != 0x01 {
			return parser.Result{Status: parser.Invalid}, true
		}
		if size > len(buf) {
			return parser.Result{Status: parser.NeedMore}, true
		}
		return parser.Result{Status: parser.Ignored, Consumed: size}, true
	}
	p, _ := c.pop()
	c.resp = response{active: true, cmd: p.cmd, seq: p.seq, prepared: p.stmt}
	switch p.cmd {
	case comStmtPrepare:
		c.resp.phase = phPrepareOK
	case comChangeUser:
		c.resp.phase = phAuth
	case comFieldList:
		c.resp.phase = phFieldList
	case comStatistics:
		c.resp.phase = phSingle
	case comStmtFetch:
		c.resp.phase = phRows
	case comBinlogDump, comBinlogDumpGTID:
		c.resp.phase = phStream
	}
	return parser.Result{}, false
}

// greeting learns the server's capabilities from its HandshakeV10 payload.
func (c *Conn) greeting(p []byte) {
	i := 1
	for i < len(p) && p[i] != 0 {
		i++
	}
	i++            // server version and its NUL
	i += 4 + 8 + 1 // thread id, scramble part 1, filler
	if i+2 > len(p) {
		return
	}
	c.serverCaps = le16(p[i:])
	if i+7 <= len(p) {
		c.serverCaps |= le16(p[i+5:]) << 16
	}
	c.greeted = true
}

// step classifies one packet of the current response: payload holds its first bytes (all of them
// unless the packet is long), n is its length, next the bytes after it in the buffer.
func (c *Conn) step(payload []byte, n int, next []byte) step {
	r := &c.resp
	b := payload[0]
	if b == 0xff && r.phase != phStream && len(payload) >= 3 && payload[1] == 0xff && payload[2] == 0xff {
		// MariaDB progress report (an ERR with code 0xffff, MARIADB_CLIENT_PROGRESS): the
		// command is still running.
		return stepNext
	}
	switch r.phase {
	case phStart:
		switch {
		case b == 0x00 && n >= 7, b == 0xfe && n < 9:
			return c.terminator(payload, n)
		case b == 0xff:
			r.failed = true
			return stepEnd
		case b == 0xfb && (r.cmd == comQuery || r.cmd == comUnknown):
			r.phase = phInfile
			return stepNext
		}
		count, meta, ok := columnCount(payload, n)
		switch {
		case !ok:
			return stepInvalid
		case meta:
			r.phase, r.remaining = phColumns, count
		default:
			r.phase = phColumnsEOF
		}
		return stepNext

	case phColumns, phFieldList:
		if b == 0xff {
			r.failed = true
			return stepEnd
		}
		if r.phase == phFieldList && b == 0xfe && n < 9 {
			return stepEnd
		}
		if !columnDef(payload) {
			return stepInvalid
		}
		if r.phase == phColumns {
			if r.remaining--; r.remaining == 0 {
				r.phase = phColumnsEOF
			}
		}
		return stepNext

	case phColumnsEOF:
		if b == 0xfe && n == 5 {
			// The EOF after the metadata: the rows follow, unless COM_STMT_EXECUTE opened a cursor
			// (they then come with COM_STMT_FETCH).
			// (Five bytes: never decided before it is whole.)
			c.eof = eofSent
			r.phase = phRows
			if le16(payload[3:])&statusCursorExists != 0 {
				return stepEnd
			}
			return stepNext
		}
		c.eof = eofDeprecated
		r.phase = phRows
		return c.step(payload, n, next)

	case phRows:
		switch {
		case b == 0xfe && n < maxPacket:
			return c.terminator(payload, n)
		case b == 0xff:
			r.failed = true
			return stepEnd
		}
		return stepNext

	case phPrepareOK:
		if b == 0xff {
			r.failed = true
			return stepEnd
		}
		if b != 0x00 || n < 12 {
			return stepInvalid
		}
		if len(payload) < 12 {
			return stepWait
		}
		c.remember(le32(payload[1:]), r.prepared)
		columns, params := int(le16(payload[5:])), int(le16(payload[7:]))
		if n >= 13 && len(payload) >= 13 && payload[12] == 0 {
			// CLIENT_OPTIONAL_RESULTSET_METADATA and no metadata: nothing follows.
			return stepEnd
		}
		r.columns = columns
		switch {
		case params > 0:
			r.phase, r.remaining = phParams, params
		case columns > 0:
			r.phase, r.remaining = phPrepCols, columns
		default:
			return stepEnd
		}
		return stepNext

	case phParams, phPrepCols:
		if !columnDef(payload) {
			return stepInvalid
		}
		if r.remaining--; r.remaining > 0 {
			return stepNext
		}
		return c.afterDefinitions(next)

	case phParamsMaybe:
		r.phase, r.remaining = phPrepCols, r.columns
		if b == 0xfe && n == 5 {
			c.eof = eofSent
			return stepNext
		}
		c.eof = eofDeprecated
		return c.step(payload, n, next)

	case phParamsEOF, phPrepColsEOF:
		if b != 0xfe || n != 5 {
			return stepInvalid
		}
		if r.phase == phParamsEOF && r.columns > 0 {
			r.phase, r.remaining = phPrepCols, r.columns
			return stepNext
		}
		return stepEnd

	case phInfile:
		switch {
		case b == 0xff:
			r.failed = true
			return stepEnd
		case b == 0x00 && n >= 7:
			return c.terminator(payload, n)
		}
		return stepInvalid

	case phAuth:
		switch {
		case b == 0xff:
			r.failed = true
			return stepEnd
		case b == 0x00 && n >= 7:
			return stepEnd
		case b == 0xfe || b == 0x01:
			return stepNext
		}
		return stepInvalid

	case phSingle:
		return stepEnd

	case phStream:
		return stepNext
	}
	return stepInvalid
}

// afterDefinitions moves a COM_STMT_PREPARE response past a block of definitions (parameters or
// columns; r.phase says which), deciding whether an EOF follows (CLIENT_DEPRECATE_EOF off). When
// the handshake did not tell, the next packet does: an EOF with the next sequence id, or not. When
// it has not arrived and nothing else is expected, the response is taken to be over and a late
// EOF is skipped when it comes (trailSeq).
func (c *Conn) afterDefinitions(next []byte) step {
	r := &c.resp
	params := r.phase == phParams
	more := params && r.columns > 0
	if c.eof == eofUnknown && len(next) >= 5 {
		n, seq := header(next)
		if seq == r.seq+1 && n == 5 && next[4] == 0xfe {
			c.eof = eofSent
		} else {
			c.eof = eofDeprecated
		}
	}
	switch {
	case c.eof == eofSent && params:
		r.phase = phParamsEOF
		return stepNext
	case c.eof == eofSent:
		r.phase = phPrepColsEOF
		return stepNext
	case c.eof == eofDeprecated && more:
		r.phase, r.remaining = phPrepCols, r.columns
		return stepNext
	case c.eof == eofDeprecated:
		return stepEnd
	case more:
		r.phase = phParamsMaybe
		return stepNext
	}
	c.trailSeq = int(r.seq+1) & 0xff
	return stepEnd
}

// terminator handles an OK or EOF that ends a result: the response goes on when the server says
// more results exist.
func (c *Conn) terminator(payload []byte, n int) step {
	r := &c.resp
	var status uint32
	if n == 5 && payload[0] == 0xfe {
		// An EOF; five bytes, so whole.
		status = le16(payload[3:])
	} else {
		_, k1, ok1 := lenenc(payload[1:])
		if !ok1 {
			return c.waitOr(payload, n)
		}
		_, k2, ok2 := lenenc(payload[1+k1:])
		if !ok2 || len(payload) < 1+k1+k2+2 {
			return c.waitOr(payload, n)
		}
		status = le16(payload[1+k1+k2:])
	}
	if status&statusMoreResults != 0 {
		r.phase = phStart
		return stepNext
	}
	return stepEnd
}

// waitOr asks for more bytes when the packet has more, else rejects it.
func (c *Conn) waitOr(payload []byte, n int) step {
	if len(payload) < n {
		return stepWait
	}
	return stepInvalid
}

// columnCount decodes a column count packet: the count, whether column definitions follow, ok
// false when the payload is no column count. MySQL with CLIENT_OPTIONAL_RESULTSET_METADATA puts a
// metadata flag byte before the count, MariaDB with MARIADB_CLIENT_CACHE_METADATA after it; the
// length and values tell which.
func columnCount(p []byte, n int) (count int, meta, ok bool) {
	if len(p) < n {
		return 0, false, false
	}
	v, k, okv := lenenc(p)
	if okv && k == n && v > 0 && v <= maxColumns {
		return int(v), true, true
	}
	if okv && k+1 == n && v > 0 && v <= maxColumns && p[k] <= 1 {
		return int(v), p[k] == 1, true
	}
	if n >= 2 && p[0] <= 1 {
		if v, k, okv := lenenc(p[1:]); okv && 1+k == n && v > 0 && v <= maxColumns {
			return int(v), p[0] == 1, true
		}
	}
	return 0, false, false
}

// columnDef reports whether p starts a column definition: its catalog is always "def".
func columnDef(p []byte) bool {
	const def = "\x03def"
	for i := 0; i < len(p) && i < len(def); i++ {
		if p[i] != def[i] {
			return false
		}
	}
	return true
}
