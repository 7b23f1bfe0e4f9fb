package pgsql

import (
	"strconv"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// m builds a typed message: type byte, length (counting itself), body.
func m(t byte, body string) string {
	n := len(body) + 4
	return string([]byte{t, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + body
}

// untypedMsg builds a start-up phase message: length, then body (which starts with the code).
func untypedMsg(body string) string {
	n := len(body) + 4
	return string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + body
}

func cat(msgs ...string) string { return strings.Join(msgs, "") }

// req and resp make a read of the request and of the response stream.
var req, resp = parsertest.Req, parsertest.Resp

// newDriver plays the observer for a fresh PostgreSQL connection; every Parse and FindBoundary
// result is checked against the contract, and statements against MaxStatement.
func newDriver(t testing.TB) *parsertest.Driver[Message] {
	d := parsertest.NewDriver(t, NewConn(parser.NewInterner(1000)))
	d.Check = check
	d.Line = line
	return d
}

// check is the contract, with statements within MaxStatement and verbs within 32 bytes.
func check(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{})
	if r.Status == parser.Complete && (len(m.Resource) > MaxStatement || len(m.Method) > 32) {
		t.Fatalf("method %q, resource %q: too long", m.Method, m.Resource)
	}
}

// line renders a message for Driver.Lines.
func line(m Message) string { return parsertest.Line(m.Frame(), m.Method, m.Resource) }

// Literal messages used across tests.
var (
	sslRequest    = untypedMsg("\x04\xd2\x16\x2f")
	gssencRequest = untypedMsg("\x04\xd2\x16\x30")
	cancelRequest = untypedMsg("\x04\xd2\x16\x2e\x00\x00\x30\x39\x12\x34\x56\x78")
	startup       = untypedMsg("\x00\x03\x00\x00user\x00postgres\x00database\x00shop\x00\x00")

	authSASL      = m('R', "\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00")
	saslInitial   = m('p', "SCRAM-SHA-256\x00\x00\x00\x00\x20n,,n=,r=abcdefghijklmnopqrstuvwx")
	authContinue  = m('R', "\x00\x00\x00\x0br=abcdefghijklmnopqrstuvwxyz,s=c2FsdA==,i=4096")
	saslResponse  = m('p', "c=biws,r=abcdefghijklmnopqrstuvwxyz,p=cHJvb2Y=")
	authFinal     = m('R', "\x00\x00\x00\x0cv=c2lnbmF0dXJl")
	authOK        = m('R', "\x00\x00\x00\x00")
	paramStatus   = m('S', "server_version\x0015.18\x00")
	backendKey    = m('K', "\x00\x00\x30\x39\x12\x34\x56\x78")
	readyIdle     = m('Z', "I")
	readyInTx     = m('Z', "T")
	readyFailedTx = m('Z', "E")

	rowDesc1  = m('T', "\x00\x01id\x00\x00\x00\x40\x01\x00\x01\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00")
	dataRow1  = m('D', "\x00\x01\x00\x00\x00\x011")
	dataRow2  = m('D', "\x00\x01\x00\x00\x00\x012")
	select2   = m('C', "SELECT 2\x00")
	errorResp = m('E', "SERROR\x00VERROR\x00C42P01\x00Mrelation \"x\" does not exist\x00\x00")
	notice    = m('N', "SNOTICE\x00VNOTICE\x00C00000\x00Mhello\x00\x00")
	notify    = m('A', "\x00\x00\x30\x39chan\x00payload\x00")

	parseComplete = m('1', "")
	bindComplete  = m('2', "")
	closeComplete = m('3', "")
	noData        = m('n', "")
	syncMsg       = m('S', "")
	flush         = m('H', "")
)

func q(sql string) string { return m('Q', sql+"\x00") }

// parse, bind, describePortal, execute and closeStmt build extended-protocol messages.
func parse(name, sql string) string { return m('P', name+"\x00"+sql+"\x00\x00\x00") }
func bind(portal, stmt string) string {
	return m('B', portal+"\x00"+stmt+"\x00\x00\x00\x00\x01\x00\x00\x00\x0242\x00\x00")
}
func describePortal(portal string) string { return m('D', "P"+portal+"\x00") }
func execute(portal string) string        { return m('E', portal+"\x00\x00\x00\x00\x00") }
func closeStmt(name string) string        { return m('C', "S"+name+"\x00") }

var selectResult = cat(rowDesc1, dataRow1, dataRow2, select2, readyIdle)

func itoa(n int) string { return strconv.Itoa(n) }

func TestStartupIgnored(t *testing.T) {
	chunks := []parsertest.Read{
		req(sslRequest), resp("N"),
		req(startup), resp(authSASL),
		req(saslInitial), resp(authContinue),
		req(saslResponse), resp(cat(authFinal, authOK, paramStatus, paramStatus, backendKey, readyIdle)),
		req(q("SELECT id FROM items LIMIT 2")), resp(selectResult),
		req(m('X', "")),
	}
	d := newDriver(t).Play(chunks)
	assert.Equal(t, []string{
		`> SELECT "SELECT id FROM items LIMIT ?" size=34`,
		`< ok=true size=` + itoa(len(selectResult)),
	}, d.Lines())
	assert.Equal(t, 5, d.Count(parser.Request, parser.Ignored), "SSLRequest, StartupMessage, 2 SASL, Terminate")
	assert.Zero(t, d.Invalid)
	c := d.Conn.(*Conn)
	assert.False(t, c.opaque)
	assert.False(t, c.authenticating)
	assert.Equal(t, 0, c.waiting)
	for at := 1; at < 60; at++ {
		assert.Equal(t, d.Lines(), newDriver(t).Play(parsertest.SplitAt(chunks, at)).Lines(), "cut at %d", at)
	}
	assert.Equal(t, d.Lines(), newDriver(t).Play(parsertest.Recut(chunks, 1)).Lines())

	// Authentication failure: the ErrorResponse ends the start-up phase, nothing is recorded.
	d = newDriver(t).Play([]parsertest.Read{req(startup), resp(authSASL), req(saslInitial), resp(errorResp)})
	assert.Empty(t, d.Lines())
	assert.Zero(t, d.Invalid)
	assert.False(t, d.Conn.(*Conn).authenticating)

	// A CancelRequest is all its connection carries.
	d = newDriver(t).Play([]parsertest.Read{req(cancelRequest)})
	assert.Equal(t, 1, d.Count(parser.Request, parser.Ignored))
}

func TestEncryptedConnections(t *testing.T) {
	for _, tc := range []struct {
		request, answer string
	}{{sslRequest, "S"}, {gssencRequest, "G"}} {
		d := newDriver(t).Play([]parsertest.Read{
			req(tc.request), resp(tc.answer),
			req("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), resp("\x16\x03\x03\x00\x7a\x02\x00"),
		})
		assert.True(t, d.Conn.(*Conn).opaque)
		assert.Zero(t, d.Invalid)
		assert.Empty(t, d.Lines())
		var msg Message
		assert.Equal(t, parser.Result{Status: parser.Ignored, Consumed: 3}, d.Conn.Parse([]byte("abc"), parser.Response, &msg))
	}
	// GSSENCRequest refused, then SSLRequest refused, then a plain start-up.
	d := newDriver(t).Play([]parsertest.Read{req(gssencRequest), resp("N"), req(sslRequest), resp("N"), req(startup), resp(cat(authOK, readyIdle))})
	assert.False(t, d.Conn.(*Conn).opaque)
	assert.Equal(t, 3, d.Count(parser.Response, parser.Ignored))
	assert.Zero(t, d.Invalid)
}

func TestSimpleQueryResponses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reqs     []string // request reads
		resp     string
		method   string
		resource string
		ok       bool
	}{
		{"rows", []string{q("SELECT id FROM items LIMIT 2")}, selectResult, "SELECT", "SELECT id FROM items LIMIT ?", true},
		{"error", []string{q("SELECT * FROM x")}, cat(errorResp, readyIdle), "SELECT", "SELECT * FROM x", false},
		{"command without rows", []string{q("UPDATE items SET price = 1 WHERE id = 7")},
			cat(m('C', "UPDATE 1\x00"), readyIdle), "UPDATE", "UPDATE items SET price = ? WHERE id = ?", true},
		{"several statements, one ReadyForQuery", []string{q("BEGIN; SELECT 1; SELECT 2; COMMIT")},
			cat(m('C', "BEGIN\x00"), rowDesc1, dataRow1, m('C', "SELECT 1\x00"), rowDesc1, dataRow2, m('C', "SELECT 1\x00"), m('C', "COMMIT\x00"), readyIdle),
			"BEGIN", "BEGIN; SELECT ?; SELECT ?; COMMIT", true},
		{"error in the second statement", []string{q("SELECT 1; SELECT * FROM x")},
			cat(rowDesc1, dataRow1, m('C', "SELECT 1\x00"), errorResp, readyIdle), "SELECT", "SELECT ?; SELECT * FROM x", false},
		{"error inside a transaction", []string{q("INSERT INTO x VALUES (1)")}, cat(errorResp, readyFailedTx), "INSERT", "INSERT INTO x VALUES (?)", false},
		{"empty query", []string{q("")}, cat(m('I', ""), readyIdle), "", "", true},
		{"notice, parameter status and notification inside", []string{q("SET application_name = 'x'; NOTIFY chan")},
			cat(notice, m('C', "SET\x00"), m('S', "application_name\x00x\x00"), m('C', "NOTIFY\x00"), notify, readyInTx),
			"SET", "SET application_name = ?; NOTIFY chan", true},
		{"COPY TO STDOUT", []string{q("COPY items TO STDOUT")},
			cat(m('H', "\x00\x00\x01\x00\x00"), m('d', "1\tapple\n"), m('d', "2\tpear\n"), m('c', ""), m('C', "COPY 2\x00"), readyIdle),
			"COPY", "COPY items TO STDOUT", true},
		{"COPY FROM STDIN", []string{q("COPY items FROM STDIN"), m('d', "1\tapple\n"), m('d', "2\tpear\n") + m('c', "")},
			cat(m('G', "\x00\x00\x01\x00\x00"), m('C', "COPY 2\x00"), readyIdle), "COPY", "COPY items FROM STDIN", true},
		{"COPY FROM STDIN failed by the client", []string{q("COPY items FROM STDIN"), m('f', "no file\x00")},
			cat(m('G', "\x00\x00\x01\x00\x00"), errorResp, readyIdle), "COPY", "COPY items FROM STDIN", false},
		{"function call", []string{m('F', "\x00\x00\x04\xd2\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00")},
			cat(m('V', "\x00\x00\x00\x04\x00\x00\x00\x02"), readyIdle), "FUNCTION_CALL", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var chunks []parsertest.Read
			for _, r := range tc.reqs {
				chunks = append(chunks, req(r))
			}
			chunks = append(chunks, resp(tc.resp))
			lines := []string{
				line(Message{Type: parser.Request, Size: len(tc.reqs[0]), Method: tc.method, Resource: tc.resource}),
				line(Message{Type: parser.Response, Size: len(tc.resp), Success: tc.ok}),
			}
			d := newDriver(t).Play(chunks)
			assert.Equal(t, lines, d.Lines())
			assert.Zero(t, d.Invalid)
			assert.Equal(t, len(tc.resp), d.Total(parser.Response))
			assert.Zero(t, d.Count(parser.Response, parser.Ignored), "response parsed in one call")
			for at := 1; at < len(tc.resp); at++ {
				d := newDriver(t).Play(append(chunks[:len(chunks)-1:len(chunks)-1], resp(tc.resp[:at])))
				require.Len(t, d.Completes(), 1, "prefix %d", at)
				d.Play([]parsertest.Read{resp(tc.resp[at:])})
				require.Equal(t, lines, d.Lines(), "cut at %d", at)
			}
			assert.Equal(t, lines, newDriver(t).Play(parsertest.Recut(chunks, 1)).Lines())
		})
	}
}

func TestEveryPrefixOfARequestNeedsMore(t *testing.T) {
	for _, r := range []string{q("SELECT 1"), syncMsg, m('F', "\x00\x00\x04\xd2\x00\x00\x00\x00\x00\x00"), startup, sslRequest} {
		for at := 0; at < len(r); at++ {
			var msg Message
			res := NewConn(parser.NewInterner(10)).Parse([]byte(r[:at]), parser.Request, &msg)
			assert.Equal(t, parser.Result{Status: parser.NeedMore}, res, "%q cut at %d", r, at)
		}
	}
	// A group is consumed message by message as it comes, and Complete only at its Sync.
	g := cat(parse("", "SELECT 1"), bind("", ""), execute(""), syncMsg)
	for at := 0; at < len(g); at++ {
		var msg Message
		res := NewConn(parser.NewInterner(10)).Parse([]byte(g[:at]), parser.Request, &msg)
		assert.NotEqual(t, parser.Complete, res.Status, "cut at %d", at)
		assert.NotEqual(t, parser.Invalid, res.Status, "cut at %d", at)
	}
}

func TestExtendedProtocol(t *testing.T) {
	unnamed := cat(parse("", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"), bind("", ""), describePortal(""), execute(""), syncMsg)
	unnamedResp := cat(parseComplete, bindComplete, rowDesc1, dataRow1, m('C', "SELECT 1\x00"), readyIdle)
	prepare := cat(parse("P0_1", "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2"), syncMsg)
	prepareResp := cat(parseComplete, readyIdle)
	run := cat(bind("", "P0_1"), describePortal(""), execute(""), syncMsg)
	runResp := cat(bindComplete, noData, m('C', "UPDATE 1\x00"), readyIdle)
	closeGroup := cat(closeStmt("P0_1"), syncMsg)
	closeResp := cat(closeComplete, readyIdle)
	runClosed := cat(bind("", "P0_1"), execute(""), syncMsg)
	runClosedResp := cat(m('E', "SERROR\x00C26000\x00Mprepared statement \"P0_1\" does not exist\x00\x00"), readyIdle)
	// JDBC batching: several Bind/Execute pairs, one Sync.
	batch := cat(parse("S_1", "INSERT INTO t VALUES ($1, $2)"), bind("", "S_1"), execute(""), bind("", "S_1"), execute(""), syncMsg)
	batchResp := cat(parseComplete, bindComplete, m('C', "INSERT 0 1\x00"), bindComplete, m('C', "INSERT 0 1\x00"), readyIdle)
	// An error in the middle of a group: the server skips to the Sync.
	failing := cat(parse("", "SELECT * FROM x WHERE a = $1"), bind("", ""), execute(""), syncMsg)
	failingResp := cat(errorResp, readyIdle)
	// Parse and Describe with Flush (no Sync) first, then Bind/Execute/Sync: one request.
	flushed := cat(parse("s1", "SELECT $1::int"), m('D', "Ss1\x00"), flush)
	flushedResp := cat(parseComplete, m('t', "\x00\x01\x00\x00\x00\x17"), rowDesc1)
	rest := cat(bind("p1", "s1"), execute("p1"), syncMsg)
	restResp := cat(bindComplete, dataRow1, m('C', "SELECT 1\x00"), readyIdle)
	// A lone Sync.
	chunks := []parsertest.Read{
		req(unnamed), resp(unnamedResp),
		req(prepare), resp(prepareResp),
		req(run), resp(runResp),
		req(closeGroup), resp(closeResp),
		req(runClosed), resp(runClosedResp),
		req(batch), resp(batchResp),
		req(failing), resp(failingResp),
		req(flushed), resp(flushedResp), req(rest), resp(restResp),
		req(syncMsg), resp(readyIdle),
	}
	const upd = `"UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?"`
	lines := []string{
		`> SELECT "SELECT abalance FROM pgbench_accounts WHERE aid = ?" size=` + itoa(len(unnamed)),
		`< ok=true size=` + itoa(len(unnamedResp)),
		`> PREPARE ` + upd + ` size=` + itoa(len(prepare)),
		`< ok=true size=` + itoa(len(prepareResp)),
		`> UPDATE ` + upd + ` size=` + itoa(len(run)),
		`< ok=true size=` + itoa(len(runResp)),
		`> CLOSE "" size=` + itoa(len(closeGroup)),
		`< ok=true size=` + itoa(len(closeResp)),
		`> EXECUTE "" size=` + itoa(len(runClosed)),
		`< ok=false size=` + itoa(len(runClosedResp)),
		`> INSERT "INSERT INTO t VALUES (?, ?)" size=` + itoa(len(batch)),
		`< ok=true size=` + itoa(len(batchResp)),
		`> SELECT "SELECT * FROM x WHERE a = ?" size=` + itoa(len(failing)),
		`< ok=false size=` + itoa(len(failingResp)),
		`> SELECT "SELECT ?::int" size=` + itoa(len(flushed)+len(rest)),
		`< ok=true size=` + itoa(len(flushedResp)+len(restResp)),
		`> SYNC "" size=5`,
		`< ok=true size=6`,
	}
	d := newDriver(t).Play(chunks)
	assert.Equal(t, lines, d.Lines())
	assert.Zero(t, d.Invalid)
	for at := 1; at < 120; at += 5 {
		assert.Equal(t, lines, newDriver(t).Play(parsertest.SplitAt(chunks, at)).Lines(), "cut at %d", at)
	}
	assert.Equal(t, lines, newDriver(t).Play(parsertest.Recut(chunks, 1)).Lines())

	// Pipelined: all requests first, then all responses.
	var reqs, resps string
	for i, c := range chunks {
		if i%2 == 0 {
			reqs += string(c.Data)
		} else {
			resps += string(c.Data)
		}
	}
	d = newDriver(t).Play([]parsertest.Read{req(reqs), resp(resps)})
	var want []string
	for i := 0; i < len(lines); i += 2 {
		want = append(want, lines[i])
	}
	for i := 1; i < len(lines); i += 2 {
		want = append(want, lines[i])
	}
	// The Flush split one request's response in two reads above; here it is one, same size.
	assert.Equal(t, want, d.Lines())
}

func TestExtendedCopyFromStdin(t *testing.T) {
	// libpq in the extended protocol: Parse/Bind/Describe/Execute/Sync, the server asks for the
	// data, the client sends it, CopyDone, and a Sync that the COPY's ReadyForQuery answers.
	group := cat(parse("", "COPY items FROM STDIN"), bind("", ""), describePortal(""), execute(""), syncMsg)
	chunks := []parsertest.Read{
		req(group), resp(cat(parseComplete, bindComplete, noData, m('G', "\x00\x00\x01\x00\x00"))),
		req(cat(m('d', "1\tapple\n"), m('c', ""), syncMsg)), resp(cat(m('C', "COPY 1\x00"), readyIdle)),
		req(q("SELECT 1")), resp(selectResult),
	}
	d := newDriver(t).Play(chunks)
	assert.Equal(t, []string{
		`> COPY "COPY items FROM STDIN" size=` + itoa(len(group)),
		`< ok=true size=` + itoa(len(chunks[1].Data)+len(chunks[3].Data)),
		`> SELECT "SELECT ?" size=14`,
		`< ok=true size=` + itoa(len(selectResult)),
	}, d.Lines())
	assert.Zero(t, d.Invalid)
}

func TestAsynchronousMessagesBetweenResponses(t *testing.T) {
	d := newDriver(t).Play([]parsertest.Read{
		req(q("LISTEN chan")), resp(cat(m('C', "LISTEN\x00"), readyIdle)),
		resp(notify), resp(notice), resp(m('S', "TimeZone\x00UTC\x00")),
		req(q("SELECT 1")), resp(selectResult),
	})
	assert.Equal(t, []string{
		`> LISTEN "LISTEN chan" size=17`, `< ok=true size=18`,
		`> SELECT "SELECT ?" size=14`, `< ok=true size=` + itoa(len(selectResult)),
	}, d.Lines())
	assert.Equal(t, 3, d.Count(parser.Response, parser.Ignored))
	assert.Zero(t, d.Invalid)
}

func TestLongMessages(t *testing.T) {
	// A query longer than the wait limit, seen in part: recorded from what arrived.
	long := "SELECT '" + strings.Repeat("x", 40000) + "'"
	full := q(long)
	c := NewConn(parser.NewInterner(10))
	var msg Message
	r := c.Parse([]byte(full[:20000]), parser.Request, &msg)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(full)}, r)
	assert.Equal(t, Message{Type: parser.Request, Size: len(full), Truncated: true, Method: "SELECT", Resource: "SELECT ?..."}, msg)

	// A long DataRow: the header is enough; the rest is skipped by position.
	big := m('D', "\x00\x01\x00\x01\x00\x00"+strings.Repeat("r", 0x10000))
	head := cat(rowDesc1, dataRow1)
	d := newDriver(t)
	d.Feed(parser.Request, []byte(q("SELECT blob FROM t")))
	d.Feed(parser.Response, []byte(head+big[:100]))
	assert.Equal(t, len(big)-100, d.Skip[parser.Response])
	d.Feed(parser.Response, []byte(big[100:]+select2+readyIdle))
	assert.Equal(t, []string{`> SELECT "SELECT blob FROM t" size=24`,
		`< ok=true size=` + itoa(len(head)+len(big)+len(select2)+len(readyIdle)) + ` truncated`}, d.Lines())

	// A statement longer than the normaliser's bound is marked truncated.
	d = newDriver(t).Play([]parsertest.Read{req(q("SELECT " + strings.Repeat("a, ", 500) + "b")), resp(selectResult)})
	require.Len(t, d.Completes(), 2)
	assert.True(t, d.Completes()[0].Truncated)
	assert.LessOrEqual(t, len(d.Completes()[0].Resource), MaxStatement)
	assert.Greater(t, len(d.Completes()[0].Resource), MaxStatement-8)
	assert.True(t, strings.HasSuffix(d.Completes()[0].Resource, "..."))
}

func TestInvalidAndResync(t *testing.T) {
	garbage := "\x13\x37hello"
	d := newDriver(t).Play([]parsertest.Read{req(garbage + q("SELECT 1")), resp("\xee\xee\xee" + selectResult)})
	assert.Equal(t, len(garbage)+3, d.Invalid)
	assert.Equal(t, []string{`> SELECT "SELECT ?" size=14`, `< ok=true size=` + itoa(len(selectResult))}, d.Lines())

	for _, bad := range []string{
		m('S', "x"),                         // Sync with a body
		m('Z', "I"),                         // a server message
		"Q\x00\x00\x00\x03",                 // length below its own size
		"Q\x7f\x00\x00\x00",                 // longer than the server accepts
		untypedMsg("\x00\x02\x00\x00x\x00"), // protocol 2
		untypedMsg("\x04\xd2\x16\x2f\x00"),  // SSLRequest with a body
	} {
		var msg Message
		r := NewConn(parser.NewInterner(10)).Parse([]byte(bad), parser.Request, &msg)
		assert.Equal(t, parser.Invalid, r.Status, "%q", bad)
	}
	for _, bad := range []string{
		m('Z', "X"),          // not a transaction status
		m('Q', "SELECT\x00"), // a client message
		m('1', "x"),          // ParseComplete with a body
		m('K', "\x00"),       // BackendKeyData too short
	} {
		var msg Message
		c := NewConn(parser.NewInterner(10))
		c.backendSeen = true
		r := c.Parse([]byte(bad), parser.Response, &msg)
		assert.Equal(t, parser.Invalid, r.Status, "%q", bad)
	}
}

func TestFindBoundary(t *testing.T) {
	c := NewConn(parser.NewInterner(10))
	for _, tc := range []struct {
		typ  parser.MessageType
		buf  string
		want int
	}{
		{parser.Request, "xx" + q("SELECT 1"), 2},
		{parser.Request, "Q\x00\x00" + syncMsg + q("x"), 3},
		{parser.Request, "S\x00\x00\x00\x04Q", -1}, // offset 0 is not a candidate
		{parser.Request, "zz" + cat(parse("", "x"), bind("", "")), 2},
		{parser.Request, "z" + m('S', "") + "\xff\xff\xff\xff\xff", -1}, // a Sync followed by garbage is no boundary
		{parser.Response, "zz" + selectResult, 2},
		{parser.Response, "zzZ\x00\x00\x00\x05X" + readyIdle, 8},
		{parser.Response, "zz" + readyIdle, 2},
		{parser.Response, "zzzz", -1},
	} {
		assert.Equal(t, tc.want, c.FindBoundary([]byte(tc.buf), tc.typ), "%v %q", tc.typ, tc.buf)
	}
}

func pgbenchLines(prepared bool, sizes ...int) []string {
	stmts := []struct{ verb, text string }{
		{"BEGIN", "BEGIN;"},
		{"UPDATE", "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;"},
		{"SELECT", "SELECT abalance FROM pgbench_accounts WHERE aid = ?;"},
		{"UPDATE", "UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?;"},
		{"UPDATE", "UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?;"},
		{"INSERT", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP);"},
		{"END", "END;"},
	}
	var out []string
	i := 0
	next := func() int { i++; return sizes[i-1] }
	for tx := 0; tx < 3; tx++ {
		for _, s := range stmts {
			if prepared && tx == 0 {
				out = append(out, `> PREPARE "`+s.text+`" size=`+itoa(next()), `< ok=true size=`+itoa(next()))
			}
			out = append(out, `> `+s.verb+` "`+s.text+`" size=`+itoa(next()), `< ok=true size=`+itoa(next()))
		}
	}
	return out
}

// captureCases are the captures in testdata (see its README.md) with the messages they must
// produce; From skips the start-up phase.
var captureCases = []parsertest.CaptureCase{
	{Name: "psql", IgnoredReq: 5, IgnoredResp: 5, Lines: []string{
		`> SELECT "SELECT id, name FROM items WHERE price > ? OR id IN (?) ORDER BY id" size=78`, `< ok=true size=132`,
		`> SELECT "SELECT nosuchcolumn FROM items" size=36`, `< ok=false size=118`,
		`> SELECT "SELECT ?; SELECT ?, ?; UPDATE items SET price = price WHERE id = ?" size=78`, `< ok=true size=176`,
		`>  ";" size=7`, `< ok=true size=11`,
		`> SET "SET application_name = ?" size=42`, `< ok=true size=49`,
		`> DO "DO ?" size=50`, `< ok=true size=140`,
		`> LISTEN "LISTEN chan; NOTIFY chan, ?" size=41`, `< ok=true size=52`,
	}, From: 8},
	{Name: "psql_copy", IgnoredReq: 6, IgnoredResp: 5, Lines: []string{
		`> COPY "COPY items FROM STDIN" size=27`, `< ok=true size=32`,
		`> COPY "COPY (SELECT * FROM items ORDER BY id) TO STDOUT" size=54`, `< ok=true size=121`,
		`> DELETE "DELETE FROM items WHERE id > ?" size=36`, `< ok=true size=20`,
	}, From: 8},
	{Name: "pgbench_simple", IgnoredReq: 5, IgnoredResp: 4, Lines: pgbenchLines(false,
		12, 17, 78, 20, 62, 68, 73, 20, 74, 20, 109, 22, 10, 18,
		12, 17, 79, 20, 62, 69, 74, 20, 75, 20, 110, 22, 10, 18,
		12, 17, 79, 20, 62, 69, 74, 20, 75, 20, 110, 22, 10, 18), From: 8},
	{Name: "pgbench_extended", IgnoredReq: 5, IgnoredResp: 4, Lines: pgbenchLines(false,
		52, 32, 130, 35, 107, 79, 126, 35, 127, 35, 173, 37, 50, 33,
		52, 32, 131, 35, 108, 79, 126, 35, 127, 35, 174, 37, 50, 33,
		52, 32, 131, 35, 108, 79, 126, 35, 127, 35, 174, 37, 50, 33), From: 8},
	{Name: "pgbench_prepared", IgnoredReq: 5, IgnoredResp: 4, Lines: pgbenchLines(true,
		23, 11, 40, 27, 85, 11, 57, 30, 70, 11, 49, 74, 84, 11, 53, 30, 85, 11, 53, 30, 118, 11, 67, 32, 21, 11, 40, 28,
		40, 27, 57, 30, 49, 74, 53, 30, 53, 30, 67, 32, 40, 28,
		40, 27, 58, 30, 49, 75, 54, 30, 54, 30, 68, 32, 40, 28), From: 8},
}

func TestCaptures(t *testing.T) {
	parsertest.CheckCaptures(t, "testdata", newDriver, captureCases, func(t *testing.T, d *parsertest.Driver[Message]) {
		assert.Zero(t, d.Conn.(*Conn).waiting)
	})
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "pgsql", abi.ProtoPGSQL, parser.Parser[Message](NewConn(parser.NewInterner(1))))
}

func TestBoundedState(t *testing.T) {
	d := newDriver(t)
	for i := 0; i < 2*maxStatements; i++ {
		d.Feed(parser.Request, []byte(cat(parse("s"+itoa(i), "SELECT 1"), bind("p"+itoa(i), "s"+itoa(i)), syncMsg)))
	}
	c := d.Conn.(*Conn)
	assert.Len(t, c.stmts, maxStatements)
	assert.Len(t, c.portals, maxPortals)
	assert.Equal(t, maxPending, c.waiting)
}

func TestSteadyStateAllocs(t *testing.T) {
	c := NewConn(parser.NewInterner(100))
	var msg Message
	simple := []byte(q("SELECT abalance FROM pgbench_accounts WHERE aid = 42"))
	prep := []byte(cat(parse("P0_2", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"), syncMsg))
	run := []byte(cat(bind("", "P0_2"), describePortal(""), execute(""), syncMsg))
	unnamed := []byte(cat(parse("", "UPDATE t SET a = $1"), bind("", ""), execute(""), syncMsg))
	r1 := []byte(selectResult)
	r2 := []byte(cat(parseComplete, readyIdle))
	r3 := []byte(cat(bindComplete, rowDesc1, dataRow1, select2, readyIdle))
	r4 := []byte(cat(parseComplete, bindComplete, m('C', "UPDATE 1\x00"), readyIdle))
	c.Parse(prep, parser.Request, &msg)
	c.Parse(r2, parser.Response, &msg)
	cycle := func() {
		c.Parse(simple, parser.Request, &msg)
		c.Parse(r1, parser.Response, &msg)
		c.Parse(run, parser.Request, &msg)
		c.Parse(r3, parser.Response, &msg)
		c.Parse(unnamed, parser.Request, &msg)
		c.Parse(r4, parser.Response, &msg)
		c.Parse(prep, parser.Request, &msg) // re-preparing a known name
		c.Parse(r2, parser.Response, &msg)
	}
	cycle()
	assert.Zero(t, testing.AllocsPerRun(100, cycle))
}

func TestMessageFields(t *testing.T) {
	c := NewConn(parser.NewInterner(100))
	var msg Message
	query := q("select * from t where a = 'x' and b in (1,2,3)")
	r := c.Parse([]byte(query), parser.Request, &msg)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(query)}, r)
	assert.Equal(t, Message{
		Type:     parser.Request,
		Size:     len(query),
		Method:   "SELECT",
		Resource: "select * from t where a = ? and b in (?)",
	}, msg)
	failed := cat(errorResp, readyIdle)
	r = c.Parse([]byte(failed), parser.Response, &msg)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(failed)}, r)
	assert.Equal(t, Message{Type: parser.Response, Size: len(failed)}, msg)

	group := cat(parse("", "DELETE FROM t WHERE id = $1"), bind("", ""), execute(""), syncMsg)
	r = c.Parse([]byte(group), parser.Request, &msg)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(group)}, r)
	assert.Equal(t, Message{Type: parser.Request, Size: len(group), Method: "DELETE", Resource: "DELETE FROM t WHERE id = ?"}, msg)
	done := cat(parseComplete, bindComplete, m('C', "DELETE 1\x00"), readyIdle)
	r = c.Parse([]byte(done), parser.Response, &msg)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(done)}, r)
	assert.Equal(t, Message{Type: parser.Response, Size: len(done), Success: true}, msg)
}

func TestSkippedMessagesAreNotPartOfARequest(t *testing.T) {
	// Found by FuzzParse: a CopyFail, then a Close group, in one read. The Complete request must
	// span the group only; the CopyFail is reported Ignored before it.
	closeGroup := cat(closeStmt("x"), syncMsg)
	d := newDriver(t).Play([]parsertest.Read{req(m('f', "x\x00") + closeGroup), resp(cat(closeComplete, readyIdle))})
	assert.Equal(t, []string{`> CLOSE "" size=` + itoa(len(closeGroup)), `< ok=true size=11`}, d.Lines())
	assert.Equal(t, 1, d.Count(parser.Request, parser.Ignored))
	// The CopyFail and the Close went first, Ignored; the Sync completed the request.
	assert.Equal(t, parser.Ignored, d.Events[0].Status)
	assert.Equal(t, 7+len(closeStmt("x")), d.Events[0].Consumed)
	assert.Equal(t, parser.Complete, d.Events[1].Status)
	assert.Equal(t, 5, d.Events[1].Consumed)
}
