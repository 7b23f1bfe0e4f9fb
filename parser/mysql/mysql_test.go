package mysql

import (
	"bytes"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Literal packets used across tests. Payloads are written out byte by byte; pkt adds the header.
var (
	// HandshakeV10 of a MySQL 8 server: capabilities 0xdfffffff (CLIENT_SSL, CLIENT_COMPRESS,
	// CLIENT_DEPRECATE_EOF and CLIENT_QUERY_ATTRIBUTES among them).
	greeting = pkt(0, "\x0a8.0.36\x00\x2a\x00\x00\x00abcdefgh\x00\xff\xff\xff\x02\x00\xff\xdf\x15"+
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00ijklmnopqrst\x00caching_sha2_password\x00")
	// HandshakeResponse41 with capabilities 0x00a6a685 (PROTOCOL_41, no DEPRECATE_EOF, no SSL).
	login = pkt(1, "\x85\xa6\xa6\x00\x00\x00\x00\x01\x2d"+strings.Repeat("\x00", 23)+"app\x00"+
		"\x14"+strings.Repeat("\x11", 20)+"shop\x00caching_sha2_password\x00")
	// caching_sha2_password fast authentication succeeded, then OK.
	authMore = pkt(2, "\x01\x03")
	authOK   = pkt(3, "\x00\x00\x00\x02\x00\x00\x00")

	okPacket  = "\x00\x00\x00\x02\x00\x00\x00" // OK: 0 rows, 0 insert id, autocommit
	okMore    = "\x00\x00\x00\x0a\x00\x00\x00" // OK, SERVER_MORE_RESULTS_EXISTS
	okRows    = "\x00\x03\x00\x02\x00\x00\x00" // OK: 3 affected rows
	eofPacket = "\xfe\x00\x00\x02\x00"         // EOF: 0 warnings, autocommit
	eofMore   = "\xfe\x00\x00\x0a\x00"         // EOF, SERVER_MORE_RESULTS_EXISTS
	eofOK     = "\xfe\x00\x00\x02\x00\x00\x00" // OK with a 0xfe header (CLIENT_DEPRECATE_EOF)
	errPacket = "\xff\x7a\x04#42S02Table 'x' doesn't exist"
)

// colDef is a column definition packet payload for a column of table shop.items.
func colDef(name string) string {
	return "\x03def\x04shop\x05items\x05items" + string(rune(len(name))) + name + string(rune(len(name))) + name +
		"\x0c\x3f\x00\x0b\x00\x00\x00\x03\x03\x50\x00\x00\x00"
}

// paramDef is the definition COM_STMT_PREPARE_OK sends for a ? parameter.
const paramDef = "\x03def\x00\x00\x00\x01?\x00\x0c\x3f\x00\x00\x00\x00\x00\xfd\x80\x00\x00\x00\x00"

func query(sql string) string { return pkt(0, "\x03"+sql) }

// textResult is a one-column result set with rows "1" and "2", ended by EOF packets, starting at
// sequence id 1.
var textResult = pkts(1, "\x01", colDef("id"), eofPacket, "\x011", "\x012", eofPacket)

func TestHandshakeIgnored(t *testing.T) {
	d := newDriver(t).Play([]parsertest.Read{resp(greeting), req(login), resp(authMore), resp(authOK)})
	assert.Equal(t, 1, d.Count(parser.Request, parser.Ignored))
	assert.Equal(t, 3, d.Count(parser.Response, parser.Ignored))
	assert.Empty(t, d.Completes())
	c := d.Conn.(*Conn)
	assert.True(t, c.greeted)
	assert.True(t, c.loggedIn)
	assert.Equal(t, eofSent, c.eof, "the client did not ask for CLIENT_DEPRECATE_EOF")
	assert.False(t, c.opaque)

	// After the handshake, commands and their responses.
	d.Play([]parsertest.Read{req(query("SELECT id FROM items WHERE id < 3")), resp(textResult)})
	assert.Equal(t, []string{
		`> SELECT "SELECT id FROM items WHERE id < ?" size=38`,
		`< ok=true size=` + itoa(len(textResult)),
	}, d.Lines())
}

func TestHandshakeTLSAndCompression(t *testing.T) {
	// An SSLRequest is a login request cut after 32 bytes, with CLIENT_SSL.
	ssl := pkt(1, "\x85\xae\xa6\x00\x00\x00\x00\x01\x2d"+strings.Repeat("\x00", 23))
	d := newDriver(t).Play([]parsertest.Read{resp(greeting), req(ssl), req("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), resp("\x16\x03\x03\x00\x7a\x02")})
	assert.True(t, d.Conn.(*Conn).opaque)
	assert.Zero(t, d.Invalid)
	assert.Empty(t, d.Completes())

	// CLIENT_COMPRESS: the packets that follow are compressed.
	compress := pkt(1, "\xa5\xa6\xa6\x00\x00\x00\x00\x01\x2d"+strings.Repeat("\x00", 23)+"app\x00\x00")
	d = newDriver(t).Play([]parsertest.Read{resp(greeting), req(compress), resp("\x0b\x00\x00\x02\x00\x00\x00\x78\x9c")})
	assert.True(t, d.Conn.(*Conn).opaque)
	assert.Empty(t, d.Completes())
}

func TestQueryMessageFields(t *testing.T) {
	c := NewConn(parser.NewInterner(100))
	var m Message
	q := query("select * from t where a = 'x' and b in (1,2,3)")
	r := c.Parse([]byte(q), parser.Request, &m)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: 51}, r)
	assert.Equal(t, 51, len(q))
	assert.Equal(t, Message{
		Type:     parser.Request,
		Size:     51,
		Method:   "SELECT",
		Resource: "select * from t where a = ? and b in (?)",
	}, m)

	r = c.Parse([]byte(pkt(1, errPacket)), parser.Response, &m)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: 4 + len(errPacket)}, r)
	assert.Equal(t, Message{Type: parser.Response, Size: 4 + len(errPacket), Success: false}, m)

	c.Parse([]byte(pkt(0, "\x0e")), parser.Request, &m)
	assert.Equal(t, Message{Type: parser.Request, Size: 5, Method: "PING"}, m)
	r = c.Parse([]byte(pkt(1, okPacket)), parser.Response, &m)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: 11}, r)
	assert.Equal(t, Message{Type: parser.Response, Size: 11, Success: true}, m)
}

func TestResponses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cmd      string
		resp     string
		method   string
		resource string
		ok       bool
	}{
		{"ok", query("UPDATE items SET price = 1"), pkt(1, okRows),
			"UPDATE", `UPDATE items SET price = ?`, true},
		{"err", query("SELECT * FROM x"), pkt(1, errPacket),
			"SELECT", `SELECT * FROM x`, false},
		{"result set with EOF", query("SELECT id FROM items"), textResult,
			"SELECT", `SELECT id FROM items`, true},
		{"result set, CLIENT_DEPRECATE_EOF", query("SELECT id FROM items"),
			pkts(1, "\x01", colDef("id"), "\x011", "\x012", eofOK),
			"SELECT", `SELECT id FROM items`, true},
		{"empty result set, CLIENT_DEPRECATE_EOF", query("SELECT id FROM items WHERE 0"),
			pkts(1, "\x01", colDef("id"), eofOK),
			"SELECT", `SELECT id FROM items WHERE ?`, true},
		{"empty result set, EOF", query("SELECT id FROM items WHERE 0"),
			pkts(1, "\x01", colDef("id"), eofPacket, eofPacket),
			"SELECT", `SELECT id FROM items WHERE ?`, true},
		{"error in the rows", query("SELECT id FROM items"),
			pkts(1, "\x01", colDef("id"), eofPacket, "\x011", errPacket),
			"SELECT", `SELECT id FROM items`, false},
		{"multi-result: two result sets and the CALL's OK", query("CALL two()"),
			pkts(1, "\x01", colDef("id"), eofPacket, "\x011", eofMore,
				"\x01", colDef("n"), eofPacket, "\x013", eofMore, okPacket),
			"CALL", `CALL two()`, true},
		{"multi-statement: OK, then a result set", query("UPDATE a SET b = 1; SELECT 2"),
			pkts(1, okMore, "\x01", colDef("id"), eofOK),
			"UPDATE", `UPDATE a SET b = ?; SELECT ?`, true},
		{"multi-statement: OK, then an error", query("DELETE FROM a; DELETE FROM x"),
			pkts(1, okMore, errPacket),
			"DELETE", `DELETE FROM a; DELETE FROM x`, false},
		{"MySQL optional metadata: none", query("SELECT 1"),
			pkts(1, "\x00\x01", "\x011", eofOK),
			"SELECT", `SELECT ?`, true},
		{"MariaDB cached metadata: none", query("SELECT 1"),
			pkts(1, "\x01\x00", eofPacket, "\x011", eofPacket),
			"SELECT", `SELECT ?`, true},
		{"MariaDB cached metadata: sent", query("SELECT 1"),
			pkts(1, "\x01\x01", colDef("id"), eofPacket, "\x011", eofPacket),
			"SELECT", `SELECT ?`, true},
		{"251 columns", query("SELECT *"),
			pkts(1, append([]string{"\xfc\xfb\x00"}, append(repeat(colDef("c"), 251), eofOK)...)...),
			"SELECT", `SELECT *`, true},
		{"binary rows start with 0x00", pkt(0, "\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00"),
			pkts(1, "\x01", colDef("id"), eofPacket, "\x00\x00\x01\x00\x00\x00", eofPacket),
			"EXECUTE", ``, true},
		{"COM_STMT_EXECUTE opening a cursor: no rows", pkt(0, "\x17\x01\x00\x00\x00\x01\x01\x00\x00\x00"),
			pkts(1, "\x01", colDef("id"), "\xfe\x00\x00\x42\x00"),
			"EXECUTE", ``, true},
		{"COM_STMT_FETCH: rows only", pkt(0, "\x1c\x01\x00\x00\x00\x0a\x00\x00\x00"),
			pkts(1, "\x00\x00\x01\x00\x00\x00", "\x00\x00\x02\x00\x00\x00", "\xfe\x00\x00\x42\x00"),
			"STMT_FETCH", ``, true},
		{"COM_FIELD_LIST", pkt(0, "\x04items\x00"),
			pkts(1, colDef("id"), colDef("name"), eofPacket),
			"FIELD_LIST", ``, true},
		{"COM_STATISTICS: a bare string", pkt(0, "\x09"),
			pkt(1, "Uptime: 5  Threads: 1  Questions: 2"),
			"STATISTICS", ``, true},
		{"COM_SET_OPTION answered by EOF", pkt(0, "\x1b\x00\x00"), pkt(1, eofPacket),
			"SET_OPTION", ``, true},
		{"COM_INIT_DB", pkt(0, "\x02shop"), pkt(1, okPacket),
			"INIT_DB", ``, true},
		{"COM_RESET_CONNECTION", pkt(0, "\x1f"), pkt(1, okPacket),
			"RESET_CONNECTION", ``, true},
		{"COM_CHANGE_USER with an auth switch", pkt(0, "\x11bob\x00\x00shop\x00"),
			pkt(1, "\xfemysql_native_password\x00abcdefghijklmnopqrst\x00") + pkt(3, okPacket),
			"CHANGE_USER", ``, true},
		{"LOCAL INFILE", query("LOAD DATA LOCAL INFILE 'f' INTO TABLE t"),
			pkt(1, "\xfbf") + pkt(4, "\x00\x02\x00\x02\x00\x00\x00"),
			"LOAD", `LOAD DATA LOCAL INFILE ? INTO TABLE t`, true},
		{"MariaDB progress reports before the OK", query("ALTER TABLE t ADD c INT"),
			pkts(1, "\xff\xff\xff\x01\x02\x02\x00\x00\x00\x05stage", "\xff\xff\xff\x02\x02\x02\x00\x00\x00\x05stage", okPacket),
			"ALTER", `ALTER TABLE t ADD c INT`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := []parsertest.Read{req(tc.cmd), resp(tc.resp)}
			d := newDriver(t).Play(chunks)
			lines := []string{
				line(Message{Type: parser.Request, Size: len(tc.cmd), Method: tc.method, Resource: tc.resource}),
				line(Message{Type: parser.Response, Size: len(tc.resp), Success: tc.ok}),
			}
			assert.Equal(t, lines, d.Lines())
			assert.Zero(t, d.Invalid)
			assert.Zero(t, d.Count(parser.Response, parser.Ignored), "response parsed in one call")
			assert.Equal(t, len(tc.resp), d.Total(parser.Response))
			// Every way of cutting the response gives the same messages, and no prefix of it is
			// taken for a whole response.
			for at := 1; at < len(tc.resp); at++ {
				d := newDriver(t).Play([]parsertest.Read{req(tc.cmd), resp(tc.resp[:at])})
				require.Len(t, d.Completes(), 1, "prefix %d", at)
				d.Play([]parsertest.Read{resp(tc.resp[at:])})
				require.Equal(t, lines, d.Lines(), "cut at %d", at)
			}
			assert.Equal(t, lines, newDriver(t).Play(parsertest.Recut(chunks, 1)).Lines())
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestEveryPrefixOfARequestNeedsMore(t *testing.T) {
	for _, r := range []string{
		query("SELECT 1"),
		pkt(0, "\x16SELECT ?"),
		pkt(0, "\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00"),
		pkt(0, "\x0e"),
	} {
		for at := 0; at < len(r); at++ {
			var m Message
			res := NewConn(parser.NewInterner(10)).Parse([]byte(r[:at]), parser.Request, &m)
			assert.Equal(t, parser.Result{Status: parser.NeedMore}, res, "%q cut at %d", r, at)
		}
	}
}

func TestPreparedStatements(t *testing.T) {
	prepare := pkt(0, "\x16SELECT name FROM items WHERE id = ? AND price > ?")
	// COM_STMT_PREPARE_OK: statement 7, 1 column, 2 parameters, 0 warnings.
	prepareOK := "\x00\x07\x00\x00\x00\x01\x00\x02\x00\x00\x00\x00"
	execute := pkt(0, "\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x08\x00"+
		"\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00")
	rows := pkts(1, "\x01", colDef("name"), eofPacket, "\x00\x00\x04pear", eofPacket)
	reset := pkt(0, "\x1a\x07\x00\x00\x00")
	unknown := pkt(1, "\xff\x13\x04#HY000Unknown prepared statement handler")
	deprecating := strings.Replace(login, "\x85\xa6\xa6\x00", "\x85\xa6\xa6\x01", 1)
	for _, tc := range []struct {
		name      string
		handshake []parsertest.Read
		prepResp  string
	}{
		{"EOF mode from the handshake", []parsertest.Read{resp(greeting), req(login), resp(authOK)},
			pkts(1, prepareOK, paramDef, paramDef, eofPacket, colDef("name"), eofPacket)},
		{"CLIENT_DEPRECATE_EOF from the handshake", []parsertest.Read{resp(greeting), req(deprecating), resp(authOK)},
			pkts(1, prepareOK, paramDef, paramDef, colDef("name"))},
		{"no handshake seen, EOF", nil,
			pkts(1, prepareOK, paramDef, paramDef, eofPacket, colDef("name"), eofPacket)},
		{"no handshake seen, CLIENT_DEPRECATE_EOF", nil,
			pkts(1, prepareOK, paramDef, paramDef, colDef("name"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := append(tc.handshake, req(prepare), resp(tc.prepResp), req(execute), resp(rows),
				req(reset), resp(pkt(1, okPacket)),
				req(pkt(0, "\x19\x07\x00\x00\x00")), // COM_STMT_CLOSE: no response
				req(execute), resp(unknown))
			const sel = `"SELECT name FROM items WHERE id = ? AND price > ?"`
			lines := []string{
				`> PREPARE ` + sel + ` size=` + itoa(len(prepare)),
				`< ok=true size=` + itoa(len(tc.prepResp)),
				`> SELECT ` + sel + ` size=` + itoa(len(execute)),
				`< ok=true size=` + itoa(len(rows)),
				`> STMT_RESET ` + sel + ` size=` + itoa(len(reset)),
				`< ok=true size=11`,
				`> EXECUTE "" size=` + itoa(len(execute)), // the statement was closed
				`< ok=false size=` + itoa(len(unknown)),
			}
			d := newDriver(t).Play(chunks)
			assert.Equal(t, lines, d.Lines())
			assert.Zero(t, d.Invalid)
			ignored := 1 // COM_STMT_CLOSE
			if tc.handshake != nil {
				ignored++ // the login request
			}
			assert.Equal(t, ignored, d.Count(parser.Request, parser.Ignored))
			for at := 1; at < 200; at += 7 {
				assert.Equal(t, lines, newDriver(t).Play(parsertest.SplitAt(chunks, at)).Lines(), "cut at %d", at)
			}
			assert.Equal(t, lines, newDriver(t).Play(parsertest.Recut(chunks, 1)).Lines())
		})
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestPrepareEndUnknownThenLateEOF(t *testing.T) {
	// EOF mode unknown and the response ends with its last definition in the buffer: it is
	// complete there, and the EOF arriving later is recognised and Ignored.
	prepare := pkt(0, "\x16SELECT ?")
	prepared := pkts(1, "\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef)
	d := newDriver(t).Play([]parsertest.Read{req(prepare), resp(prepared)})
	want := []string{`> PREPARE "SELECT ?" size=13`, `< ok=true size=` + itoa(len(prepared))}
	assert.Equal(t, want, d.Lines())
	d.Play([]parsertest.Read{resp(pkt(3, eofPacket))})
	assert.Equal(t, 1, d.Count(parser.Response, parser.Ignored))
	assert.Equal(t, eofSent, d.Conn.(*Conn).eof)
	execute := pkt(0, "\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x00\x05\x00\x00\x00")
	d.Play([]parsertest.Read{req(execute), resp(pkt(1, okPacket))})
	want = append(want, `> SELECT "SELECT ?" size=`+itoa(len(execute)), `< ok=true size=11`)
	assert.Equal(t, want, d.Lines())
	assert.Zero(t, d.Invalid)

	// An INSERT prepared with no parameters and no columns is just the OK.
	prepare = pkt(0, "\x16INSERT INTO t VALUES (1)")
	d = newDriver(t).Play([]parsertest.Read{req(prepare), resp(pkt(1, "\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))})
	assert.Equal(t, []string{`> PREPARE "INSERT INTO t VALUES (?)" size=` + itoa(len(prepare)), `< ok=true size=16`}, d.Lines())

	// MySQL with CLIENT_OPTIONAL_RESULTSET_METADATA and resultset_metadata=NONE: no definitions.
	d = newDriver(t).Play([]parsertest.Read{req(pkt(0, "\x16SELECT ?")), resp(pkt(1, "\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00"))})
	assert.Equal(t, []string{`> PREPARE "SELECT ?" size=13`, `< ok=true size=17`}, d.Lines())
}

func TestMariaDBExecuteLastPrepared(t *testing.T) {
	// MariaDB clients may send COM_STMT_EXECUTE with id 0xffffffff right behind the prepare.
	prepare := pkt(0, "\x16DELETE FROM t WHERE id = ?")
	execute := pkt(0, "\x17\xff\xff\xff\xff\x00\x01\x00\x00\x00\x00\x01\x03\x00\x05\x00\x00\x00")
	prepared := pkts(1, "\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef, eofPacket)
	d := newDriver(t).Play([]parsertest.Read{req(prepare + execute), resp(prepared + pkt(1, okRows))})
	assert.Equal(t, []string{
		`> PREPARE "DELETE FROM t WHERE id = ?" size=` + itoa(len(prepare)),
		`> DELETE "DELETE FROM t WHERE id = ?" size=` + itoa(len(execute)),
		`< ok=true size=` + itoa(len(prepared)),
		`< ok=true size=11`,
	}, d.Lines())
}

func TestQueryAttributes(t *testing.T) {
	// MySQL 8.0.23+ with CLIENT_QUERY_ATTRIBUTES: parameter count, parameter set count, and for
	// attributes a NULL bitmap, the bind flag, types and names, values.
	none := pkt(0, "\x03\x00\x01SELECT 1")
	// One VARCHAR attribute "id" = "abc".
	one := pkt(0, "\x03\x01\x01\x00\x01\xfe\x00\x02id\x03abcSELECT 2")
	// A LONGLONG "a" = 5 and a NULL LONG "b" (bit 1 of the bitmap), which has no value.
	two := pkt(0, "\x03\x02\x01\x02\x01\x08\x00\x01a\x03\x00\x01b\x05\x00\x00\x00\x00\x00\x00\x00SELECT 3")
	// A DATETIME: a length byte, then that many bytes.
	three := pkt(0, "\x03\x01\x01\x00\x01\x0c\x00\x01t\x04\xe8\x07\x01\x02SELECT 4")
	attrs := strings.Replace(login, "\x85\xa6\xa6\x00", "\x85\xa6\xa6\x08", 1)
	for _, handshake := range [][]parsertest.Read{nil, {resp(greeting), req(attrs), resp(authOK)}} {
		var chunks []parsertest.Read
		var want []string
		for _, q := range []string{none, one, two, three} {
			chunks = append(chunks, req(q), resp(pkt(1, okPacket)))
			want = append(want, `> SELECT "SELECT ?" size=`+itoa(len(q)), `< ok=true size=11`)
		}
		d := newDriver(t).Play(append(handshake, chunks...))
		assert.Equal(t, want, d.Lines())
	}
	// Without the capability the bytes are the statement.
	d := newDriver(t).Play([]parsertest.Read{resp(greeting), req(login), resp(authOK), req(query("SELECT 4"))})
	assert.Equal(t, []string{`> SELECT "SELECT ?" size=13`}, d.Lines())
	// Attributes that do not parse leave the payload as it is.
	assert.Equal(t, []byte("\x01\x01\x00\x07"), skipQueryAttributes([]byte("\x01\x01\x00\x07")))
}

func TestNoResponseCommands(t *testing.T) {
	d := newDriver(t).Play([]parsertest.Read{
		req(pkt(0, "\x18\x01\x00\x00\x00\x00\x00abc")), // COM_STMT_SEND_LONG_DATA
		req(pkt(0, "\x19\x01\x00\x00\x00")),            // COM_STMT_CLOSE
		req(query("SELECT 1")),
		resp(textResult),
		req(pkt(0, "\x01")), // COM_QUIT
	})
	assert.Equal(t, 3, d.Count(parser.Request, parser.Ignored))
	assert.Equal(t, []string{`> SELECT "SELECT ?" size=13`, `< ok=true size=` + itoa(len(textResult))}, d.Lines())
}

func TestPipelinedCommands(t *testing.T) {
	d := newDriver(t).Play([]parsertest.Read{
		req(query("SELECT 1") + pkt(0, "\x0e") + query("SELECT x")),
		resp(textResult + pkt(1, okPacket) + pkt(1, errPacket)),
	})
	assert.Equal(t, []string{
		`> SELECT "SELECT ?" size=13`, `> PING "" size=5`, `> SELECT "SELECT x" size=13`,
		`< ok=true size=` + itoa(len(textResult)), `< ok=true size=11`, `< ok=false size=` + itoa(4+len(errPacket)),
	}, d.Lines())
}

func TestLongPackets(t *testing.T) {
	// A statement of maxPacket bytes: the first event carries its start. It is recorded from
	// that start; the rest, and the continuation packet, are skipped.
	head := pkt(0, "")[:0] + "\xff\xff\xff\x00\x03INSERT INTO t VALUES ('" + strings.Repeat("x", 1000)
	c := NewConn(parser.NewInterner(10))
	var m Message
	r := c.Parse([]byte(head), parser.Request, &m)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: 4 + maxPacket}, r)
	assert.Equal(t, Message{Type: parser.Request, Size: 4 + maxPacket, Truncated: true,
		Method: "INSERT", Resource: "INSERT INTO t VALUES (?..."}, m)
	r = c.Parse([]byte("\x05\x00\x00\x01xx');"), parser.Request, &m)
	assert.Equal(t, parser.Result{Status: parser.Ignored, Consumed: 9}, r)
	// The answer follows on from the continuation's sequence id.
	r = c.Parse([]byte(pkt(2, okPacket)), parser.Response, &m)
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: 11}, r)
	assert.Equal(t, Message{Type: parser.Response, Size: 11, Success: true}, m)

	// A long row: the header is enough, the body is skipped by position.
	d := newDriver(t)
	d.Feed(parser.Request, []byte(query("SELECT blob")))
	row := pkt(4, "\xfc\x00\x00"+strings.Repeat("r", 0xfffd))
	start := pkts(1, "\x01", colDef("b"), eofPacket)
	d.Feed(parser.Response, []byte(start+row[:100]))
	assert.Equal(t, 1, d.Count(parser.Response, parser.Ignored))
	assert.Equal(t, len(row)-100, d.Skip[parser.Response])
	d.Feed(parser.Response, []byte(row[100:]+pkt(5, eofPacket)))
	assert.Equal(t, []string{`> SELECT "SELECT blob" size=16`, `< ok=true size=` + itoa(len(start)+len(row)+9) + ` truncated`}, d.Lines())

	// A row of maxPacket bytes goes on in the next packet, whatever that starts with.
	d = newDriver(t)
	d.Feed(parser.Request, []byte(query("SELECT huge")))
	d.Feed(parser.Response, []byte(start+"\xff\xff\xff\x04\xfe"))
	d.Feed(parser.Response, bytes.Repeat([]byte{'h'}, maxPacket-1))
	d.Feed(parser.Response, []byte(pkt(5, eofPacket)+pkt(6, eofPacket)))
	assert.Equal(t, []string{`> SELECT "SELECT huge" size=16`, `< ok=true size=` + itoa(len(start)+4+maxPacket+18) + ` truncated`}, d.Lines())
}

func TestInvalidAndResync(t *testing.T) {
	// Garbage on the request stream, then a real command.
	garbage := "\x13\x37\x00\x05hello world"
	d := newDriver(t).Play([]parsertest.Read{req(garbage + query("SELECT 1")), resp(pkt(1, okPacket))})
	assert.Equal(t, len(garbage), d.Invalid)
	assert.Equal(t, []string{`> SELECT "SELECT ?" size=13`, `< ok=true size=11`}, d.Lines())

	c := NewConn(parser.NewInterner(10))
	var m Message
	for _, bad := range []string{
		"\x00\x00\x00\x00",                         // empty command packet
		pkt(0, "\x00"),                             // COM_SLEEP is the server's
		pkt(0, "\x0eX"),                            // COM_PING has no body
		pkt(0, "\x17\x01\x00"),                     // COM_STMT_EXECUTE too short
		pkt(0, "\x60SELECT"),                       // no such command
		pkt(5, "\x03SELECT 1"),                     // sequence id 5 out of nowhere (after a command)
		"\x06\x00\x00\x00\x19\x01\x00\x00\x00\x00", // COM_STMT_CLOSE one byte too long
	} {
		c.commands = 1
		r := c.Parse([]byte(bad), parser.Request, &m)
		assert.Equal(t, parser.Invalid, r.Status, "%q", bad)
	}
	for _, bad := range []string{
		pkt(0, "\x05hello"),        // sequence 0 but not a greeting
		pkt(2, "\x42"),             // handshake packet of an unknown kind
		pkt(1, "\xfd\xff\xff\xff"), // column count too large
		pkt(1, "\x01\x02\x03\x04"), // neither OK, ERR, EOF nor a column count
	} {
		c := NewConn(parser.NewInterner(10))
		r := c.Parse([]byte(bad), parser.Response, &m)
		assert.Equal(t, parser.Invalid, r.Status, "%q", bad)
	}

	// A sequence id out of order inside a response: the response is abandoned.
	d = newDriver(t).Play([]parsertest.Read{req(query("SELECT 1")), resp(pkts(1, "\x01", colDef("id")) + pkt(7, "\x011") + pkt(1, okPacket))})
	assert.Equal(t, 1, d.Count(parser.Response, parser.Invalid))
	assert.Equal(t, []string{`> SELECT "SELECT ?" size=13`, `< ok=true size=11`}, d.Lines())

	// A column definition that is not one.
	d = newDriver(t).Play([]parsertest.Read{req(query("SELECT 1")), resp(pkts(1, "\x01", "\x05abcdef"))})
	assert.Equal(t, 1, d.Count(parser.Response, parser.Invalid))
}

func TestFindBoundary(t *testing.T) {
	c := NewConn(parser.NewInterner(10))
	q := query("SELECT 1")
	for _, tc := range []struct {
		typ  parser.MessageType
		buf  string
		want int
	}{
		{parser.Request, "xx" + q, 2},
		{parser.Request, "\x00\x00\x00" + q, 3},
		{parser.Request, "\x09\x00\x00\x00\x03\x01\x02" + q, 7}, // a COM_QUERY whose text cannot start SQL
		{parser.Request, "garbage", -1},
		{parser.Request, q, -1}, // offset 0 is not a candidate
		{parser.Request, "x" + pkt(1, "\x03SELECT"), -1},
		{parser.Response, "zz" + pkt(1, okPacket), 2},
		{parser.Response, "zz" + pkt(1, errPacket), 2},
		{parser.Response, "zz" + pkt(1, "\x03") + pkt(2, colDef("a")), 2},
		{parser.Response, "z" + pkt(2, okPacket) + pkt(1, eofPacket), 12},
		{parser.Response, "z" + pkt(1, "\x00\x01"), -1}, // OK too short
		{parser.Response, "zzz", -1},
	} {
		assert.Equal(t, tc.want, c.FindBoundary([]byte(tc.buf), tc.typ), "%v %q", tc.typ, tc.buf)
	}
}

// captureCases are the captures in testdata (see its README.md) with the messages they must
// produce; From skips the handshake.
var captureCases = []parsertest.CaptureCase{
	{Name: "mariadb_client", IgnoredReq: 2, IgnoredResp: 4, Lines: []string{
		`> SELECT "SELECT id, name, price FROM items WHERE price > ? OR id IN (?) ORDER BY id" size=84`,
		`< ok=true size=214`,
		`> SELECT "SELECT nosuchcolumn FROM items" size=35`,
		`< ok=false size=54`,
		`> CALL "CALL two()" size=15`,
		`< ok=true size=156`,
		`> INSERT "INSERT INTO items (id, name, price) VALUES (?, ?, ?)" size=83`,
		`< ok=true size=50`,
		`> DELETE "DELETE FROM items WHERE id >= ?" size=37`,
		`< ok=true size=11`,
	}, From: 3},
	{Name: "mariadb_infile", IgnoredReq: 4, IgnoredResp: 4, Lines: []string{
		`> LOAD "LOAD DATA LOCAL INFILE ? INTO TABLE items FIELDS TERMINATED BY ?" size=119`,
		`< ok=true size=140`,
		`> DELETE "DELETE FROM items WHERE id >= ?" size=37`,
		`< ok=true size=11`,
	}, From: 3},
	{Name: "stmt_eof", IgnoredReq: 3, IgnoredResp: 2, Lines: stmtLines(180, 146, 145, 79, 59, 71), From: 3},
	{Name: "stmt_deprecate_eof", IgnoredReq: 3, IgnoredResp: 2, Lines: stmtLines(162, 139, 138, 70, 50, 64), From: 3},
}

// stmtLines is what the binary-protocol sessions produce; only the sizes of responses that carry
// EOF packets differ between the two.
func stmtLines(prepSel, exec1, exec2, prepIns, prepCount, execCount int) []string {
	const sel = `"SELECT id, name FROM items WHERE id > ? AND name <> ? ORDER BY id"`
	const ins = `"INSERT INTO items (id, name, price) VALUES (?, ?, NULL)"`
	return []string{
		`> PREPARE ` + sel + ` size=70`, `< ok=true size=` + itoa(prepSel),
		`> SELECT ` + sel + ` size=33`, `< ok=true size=` + itoa(exec1),
		`> SELECT ` + sel + ` size=30`, `< ok=true size=` + itoa(exec2),
		`> PREPARE ` + ins + ` size=60`, `< ok=true size=` + itoa(prepIns),
		`> INSERT ` + ins + ` size=33`, `< ok=true size=11`,
		`> PREPARE "SELECT COUNT(*) FROM items" size=31`, `< ok=true size=` + itoa(prepCount),
		`> SELECT "SELECT COUNT(*) FROM items" size=14`, `< ok=true size=` + itoa(execCount),
		`> PREPARE "SELECT * FROM nosuchtable WHERE id = ?" size=43`, `< ok=false size=51`,
		`> STMT_RESET ` + sel + ` size=9`, `< ok=true size=11`,
		`> EXECUTE "" size=33`, `< ok=false size=80`, // executed after COM_STMT_CLOSE
		`> DELETE "DELETE FROM items WHERE id = ?" size=36`, `< ok=true size=11`,
		`> PING "" size=5`, `< ok=true size=11`,
		`> STATISTICS "" size=5`, `< ok=true size=116`,
		`> INIT_DB "" size=10`, `< ok=true size=11`,
	}
}

func TestCaptures(t *testing.T) {
	parsertest.CheckCaptures(t, "testdata", newDriver, captureCases, nil)
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "mysql", abi.ProtoMySQL, parser.Parser[Message](NewConn(parser.NewInterner(1))))
}

func TestBoundedState(t *testing.T) {
	c := NewConn(parser.NewInterner(10))
	var m Message
	for i := 0; i < 3*maxPending; i++ {
		c.Parse([]byte(pkt(0, "\x0e")), parser.Request, &m)
	}
	assert.Equal(t, maxPending, c.size)
	for i := uint32(0); i < 2*maxStatements; i++ {
		c.remember(i, stmt{verb: "SELECT"})
	}
	assert.Len(t, c.stmts, maxStatements)
}

func TestSteadyStateAllocs(t *testing.T) {
	c := NewConn(parser.NewInterner(100))
	q := []byte(query("SELECT name FROM items WHERE id = 42 AND price > 1.5"))
	r := []byte(textResult)
	exec := []byte(pkt(0, "\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00"))
	var m Message
	c.Parse([]byte(pkt(0, "\x16SELECT ?")), parser.Request, &m)
	c.Parse([]byte(pkts(1, "\x00\x07\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef, eofPacket)), parser.Response, &m)
	cycle := func() {
		c.Parse(q, parser.Request, &m)
		c.Parse(r, parser.Response, &m)
		c.Parse(exec, parser.Request, &m)
		c.Parse([]byte(okPacketFull), parser.Response, &m)
	}
	cycle()
	assert.Zero(t, testing.AllocsPerRun(100, cycle))
}

var okPacketFull = pkt(1, okPacket)

func TestLenenc(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v    uint64
		n    int
		okay bool
	}{
		{"\x00", 0, 1, true},
		{"\xfa", 250, 1, true},
		{"\xfb", 0, 0, false}, // NULL
		{"\xfc\x01\x02", 0x0201, 3, true},
		{"\xfc\x01", 0, 0, false},
		{"\xfd\x01\x02\x03", 0x030201, 4, true},
		{"\xfe\x01\x02\x03\x04\x05\x06\x07\x08", 0x0807060504030201, 9, true},
		{"\xfe\x01\x02", 0, 0, false},
		{"\xff", 0, 0, false},
		{"", 0, 0, false},
	} {
		v, n, ok := lenenc([]byte(tc.in))
		assert.Equal(t, []any{tc.v, tc.n, tc.okay}, []any{v, n, ok}, "%q", tc.in)
	}
}

func TestBinaryWidth(t *testing.T) {
	for _, tc := range []struct {
		typ  byte
		in   string
		n    int
		okay bool
	}{
		{0x01, "", 1, true}, {0x02, "", 2, true}, {0x0d, "", 2, true}, {0x03, "", 4, true},
		{0x09, "", 4, true}, {0x04, "", 4, true}, {0x08, "", 8, true}, {0x05, "", 8, true},
		{0x06, "", 0, true},
		{0x0c, "\x07\xe8\x07\x01\x02\x03\x04\x05", 8, true}, {0x0a, "\x00", 1, true}, {0x0b, "", 0, false},
		{0xfd, "\x03abc", 4, true}, {0xfc, "\xfc\x02\x00ab", 5, true}, {0xf6, "\x05ab", 0, false}, {0xfe, "", 0, false},
	} {
		n, ok := binaryWidth(tc.typ, []byte(tc.in))
		assert.Equal(t, []any{tc.n, tc.okay}, []any{n, ok}, "type %#x %q", tc.typ, tc.in)
	}
}

func TestOKPackets(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp string
		st   parser.Status
	}{
		// 300 affected rows (0xfc), insert id 70000 (0xfd), then the status flags.
		{"long integers", pkt(1, "\x00\xfc\x2c\x01\xfd\x70\x11\x01\x02\x00\x00\x00"), parser.Complete},
		{"with an info string", pkt(1, "\x00\x01\x00\x02\x00\x00\x00&Records: 2  Duplicates: 0  Warnings: 0"), parser.Complete},
		{"too short for its status", pkt(1, "\x00\xfc\x2c\x01\xfd\x70\x11"), parser.Invalid},
		{"more results, then nothing yet", pkt(1, "\x00\xfc\x2c\x01\x00\x0a\x00\x00\x00"), parser.Ignored},
	} {
		c := NewConn(parser.NewInterner(10))
		var m Message
		c.Parse([]byte(query("UPDATE t SET a = 1")), parser.Request, &m)
		r := c.Parse([]byte(tc.resp), parser.Response, &m)
		assert.Equal(t, tc.st, r.Status, tc.name)
	}
}

// A COM_STMT_EXECUTE too long to wait for whose first bytes arrive alone — libmariadb writes the
// header and command byte of a long execution in a write of their own — waits for its statement
// id instead of reading it from an empty body (this panicked: index out of range).
func TestLongExecuteBeforeItsStatementID(t *testing.T) {
	prepare := pkt(0, "\x16INSERT INTO blobs (data) VALUES (?)")
	prepared := pkts(1, "\x00\x05\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef, eofPacket)
	// Statement 5, no cursor, 1 iteration, no NULLs, new types: one VAR_STRING of 20 000 bytes.
	param := strings.Repeat("x", 20000)
	execute := pkt(0, "\x17\x05\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\xfd\x00\xfc\x20\x4e"+param)
	for first := 4; first < 9; first++ {
		d := newDriver(t).Play([]parsertest.Read{req(prepare), resp(prepared)})
		d.Play([]parsertest.Read{req(execute[:first])})
		assert.Len(t, d.Completes(), 2, "first %d bytes: waits for the statement id", first)
		d.Play([]parsertest.Read{req(execute[first:]), resp(pkt(1, okRows))})
		assert.Equal(t, []string{
			`> PREPARE "INSERT INTO blobs (data) VALUES (?)" size=` + itoa(len(prepare)),
			`< ok=true size=` + itoa(len(prepared)),
			`> INSERT "INSERT INTO blobs (data) VALUES (?)" size=` + itoa(len(execute)),
			`< ok=true size=11`,
		}, d.Lines(), "first %d bytes", first)
		assert.Zero(t, d.Invalid)
	}

	// The 11 bytes that took the observer down when sent to nginx: a query the kernel side
	// classifies as MySQL, then the first 5 bytes of a 20 KiB execution that never comes.
	d := newDriver(t).Play([]parsertest.Read{req("\x02\x00\x00\x00\x03x"), req("\x00\x50\x00\x00\x17")})
	assert.Equal(t, []string{`> X "x" size=6`}, d.Lines())
	for n := 5; n < 9; n++ {
		var m Message
		r := NewConn(parser.NewInterner(10)).Parse([]byte("\x00\x50\x00\x00\x17\x01\x00\x00")[:n], parser.Request, &m)
		assert.Equal(t, parser.Result{Status: parser.NeedMore}, r, "%d bytes", n)
	}
}
