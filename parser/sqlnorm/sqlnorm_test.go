package sqlnorm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type normCase struct {
	in, want string
}

var mysqlCases = []normCase{
	// Strings: doubled quotes, backslash escapes, "…" as a string, prefixes and introducers.
	{`SELECT 'abc'`, `SELECT ?`},
	{`SELECT 'it''s', 'c\\', 'd\n'`, `SELECT ?, ?, ?`},  // backslashes that end the string alike under either sql_mode
	{`SELECT 'it''s', 'a\'b', 'c\\'`, `SELECT ?, ?...`}, // 'a\'b' ends elsewhere under NO_BACKSLASH_ESCAPES
	{`SELECT "abc", "a\"b", "x""y"`, `SELECT ?, ?...`},
	{`SELECT N'abc', X'0aff', x'00', B'0101', b'1'`, `SELECT ?, ?, ?, ?, ?`},
	{`SELECT _utf8mb4'abc' COLLATE utf8mb4_bin`, `SELECT _utf8mb4? COLLATE utf8mb4_bin`},
	{`SELECT 'unterminated`, `SELECT ?`},
	{`SELECT 'a' 'b'`, `SELECT ? ?`},
	{`SELECT e'x'`, `SELECT e?`},
	// "…" that can only be an identifier (ANSI_QUOTES).
	{`SELECT "t"."c" FROM "t" JOIN "u" AS "v" WHERE "c" = "x"`, `SELECT "t"."c" FROM "t" JOIN "u" AS "v" WHERE ? = ?`},
	{"SELECT `we'ird`, `a``b` FROM `db`.`t`", "SELECT `we'ird`, `a``b` FROM `db`.`t`"},
	// Numbers.
	{`SELECT 1, 12.5, .5, 1., 1e10, 1.5E-3, 2e+7, 0x1F, 0b101`, `SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?`},
	{`SELECT 1abc, 0x1g, t1.c2, 1e5x`, `SELECT 1abc, 0x1g, t1.c2, ?x`},
	{`SELECT 1_000`, `SELECT 1_000`},
	// Signs: a minus that belongs to the number only where it cannot be a subtraction.
	{`SELECT -1, - 1, a-1, a -1, a - 1, (-2), f(1,-3)`, `SELECT ?, - ?, a-?, a -?, a - ?, (?), f(?, ?)`},
	{`SELECT * FROM t WHERE a=-5 AND b<-6 OR c BETWEEN -1 AND -2 LIMIT 10`, `SELECT * FROM t WHERE a=? AND b<? OR c BETWEEN ? AND ? LIMIT ?`},
	{`UPDATE a SET b = b + -1234 WHERE c = 5678;`, `UPDATE a SET b = b + ? WHERE c = ?;`},
	{`SELECT 1--1`, `SELECT ?-?`},
	{`SELECT x - -1.5e3`, `SELECT x - ?`},
	{`SELECT --#c`, `SELECT - -`}, // -- without a blank is no comment in MySQL; keep it from becoming one
	// Comments.
	{"SELECT 1 -- trailing\n, 2", `SELECT ?, ?`},
	{"SELECT 1 # hash\nFROM t", `SELECT ? FROM t`},
	{"/* lead */ SELECT /* mid */ a/**/b", `SELECT a b`},
	{"SELECT /*+ MAX_EXECUTION_TIME(1000) */ a FROM t", `SELECT a FROM t`},
	{"/*!40101 SET NAMES utf8mb4 */", `SET NAMES utf8mb4`},
	{"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ TRIGGER x", "CREATE DEFINER=`root`@`%` TRIGGER x"},
	{"/*M!100100 SET @x=1 */", `SET @x=?`},
	{"SELECT 1 /* unterminated", `SELECT ?`},
	{"SELECT '/* not a comment */', '-- nor this'", `SELECT ?, ?`},
	// Whitespace.
	{"  SELECT\n\t a ,b\r\n FROM  t  ", `SELECT a, b FROM t`},
	{"SELECT\x00 1", `SELECT ?`},
	{"SELECT f( a , b )", `SELECT f(a, b)`},
	// Lists.
	{`SELECT * FROM t WHERE id IN (1, 2, 3)`, `SELECT * FROM t WHERE id IN (?)`},
	{`SELECT * FROM t WHERE id IN(1)`, `SELECT * FROM t WHERE id IN(?)`},
	{`SELECT * FROM t WHERE id NOT IN ( 'a' , 'b' )`, `SELECT * FROM t WHERE id NOT IN (?)`},
	{`SELECT * FROM t WHERE id in (?, ?, ?)`, `SELECT * FROM t WHERE id in (?)`},
	{`SELECT * FROM t WHERE id IN (-1, 2.5, 'x', 0x1)`, `SELECT * FROM t WHERE id IN (?)`},
	{`SELECT * FROM t WHERE id IN (1, 2, f(x))`, `SELECT * FROM t WHERE id IN (?, ?, f(x))`},
	{`SELECT * FROM t WHERE id IN (1,2 ,NULL)`, `SELECT * FROM t WHERE id IN (?, ?, NULL)`},
	{`SELECT * FROM t WHERE id IN (SELECT a FROM b WHERE c IN (1,2))`, `SELECT * FROM t WHERE id IN (SELECT a FROM b WHERE c IN (?))`},
	{`SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))`, `SELECT * FROM t WHERE (a, b) IN ((?, ?), (?, ?))`},
	{`SELECT * FROM t WHERE id IN (1, 2,)`, `SELECT * FROM t WHERE id IN (?, ?,)`},
	{`SELECT * FROM t WHERE id IN ()`, `SELECT * FROM t WHERE id IN ()`},
	{`SELECT * FROM t WHERE id IN (1, 2`, `SELECT * FROM t WHERE id IN (?`},
	{`INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b'), (3, 'c')`, `INSERT INTO t (a, b) VALUES (?, ?)`},
	{`insert into t values(1,'a'),(2,'b')`, `insert into t values(?, ?)`},
	{`INSERT INTO t VALUE (1), (2)`, `INSERT INTO t VALUE (?)`},
	{`INSERT INTO t VALUES (1, 2), (3, NOW()), (4, 5)`, `INSERT INTO t VALUES (?, ?), (?, NOW()), (?, ?)`},
	{`SELECT (1), (2)`, `SELECT (?), (?)`},
	// Odd input stays readable and never fails.
	{``, ``},
	{`   `, ``},
	{`)))`, `)))`},
	{`((((`, `((((`},
	{`SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = ? AND b = ?`},
	{`SELECT @@version, @a := 1`, `SELECT @@version, @a := ?`},
	{`SELECT $1, a$b`, `SELECT $1, a$b`},
	{"SELECT 'é', `é1`, é2", "SELECT ?, `é1`, é2"},
}

var pgCases = []normCase{
	{`SELECT 'abc', 'it''s', 'back\slash'`, `SELECT ?, ?, ?`},
	{`SELECT 'a\'b'`, `SELECT ?...`}, // 'a\' then b'… if standard_conforming_strings, else one string
	{`SELECT 'a\' c`, `SELECT ?...`},
	{`SELECT E'a\'b', e'\\', U&'d\0061t', B'0101', X'1F', N'x'`, `SELECT ?, ?, ?, ?, ?, ?`},
	{`SELECT $$it's$$, $tag$a $$ b$tag$, $x$unterminated`, `SELECT ?, ?, ?`},
	{`SELECT "Col", "a""b", U&"d\0061t" FROM "T"`, `SELECT "Col", "a""b", U&"d\0061t" FROM "T"`},
	{`SELECT * FROM t WHERE a = $1 AND b = $2::int AND c = a$1`, `SELECT * FROM t WHERE a = ? AND b = ?::int AND c = a$1`},
	{`SELECT 1::text, '2'::int, 1_000, 0x1F, 0o17, 0b1`, `SELECT ?::text, ?::int, ?, ?, ?, ?`},
	{`SELECT 123abc`, `SELECT ?abc`},
	{`SELECT 1--1`, `SELECT ?`},
	{"SELECT 1 # 2", `SELECT ? # ?`},
	{"/* a /* nested */ still comment */ SELECT 1", `SELECT ?`},
	{"/*!40101 SET x=1 */ SELECT 2", `SELECT ?`},
	{`SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3]) AND x IN ($1, $2, $3)`, `SELECT * FROM t WHERE id = ANY(ARRAY[?]) AND x IN (?)`},
	{`SELECT ARRAY[[1,2],[3,4]]`, `SELECT ARRAY[[?, ?], [?, ?]]`},
	{`SELECT data ? 'key', data ?| array['a']`, `SELECT data ? ?, data ?| array[?]`},
	{`INSERT INTO t VALUES ($1, $2), ($3, $4)`, `INSERT INTO t VALUES (?, ?)`},
	{`BEGIN; SELECT 1; COMMIT;`, `BEGIN; SELECT ?; COMMIT;`},
	{`UPDATE pgbench_accounts SET abalance = abalance + -4212 WHERE aid = 84373;`, `UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;`},
	{"SELECT `a`", "SELECT `a`"},
	{`SELECT interval '1 day', -interval '2h'`, `SELECT interval ?, -interval ?`},
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		d     Dialect
		cases []normCase
	}{{MySQL, mysqlCases}, {PostgreSQL, pgCases}} {
		n := New(tc.d, 0)
		for _, c := range tc.cases {
			got, truncated := n.Normalize([]byte(c.in), false)
			assert.Equal(t, c.want, string(got), "dialect %d input %q", tc.d, c.in)
			assert.False(t, truncated, "input %q", c.in)
			// Every expected output is a fixed point and leaks nothing.
			again, _ := n.Normalize([]byte(c.want), false)
			assert.Equal(t, c.want, string(again), "not idempotent: %q", c.want)
			assert.NoError(t, checkNoLiterals([]byte(c.want), tc.d))
		}
	}
}

func TestNormalizeBound(t *testing.T) {
	n := New(MySQL, 64)
	assert.Equal(t, 64, n.Max())

	long := "SELECT " + strings.Repeat("column_name, ", 20) + "x FROM t"
	got, truncated := n.Normalize([]byte(long), false)
	assert.True(t, truncated)
	assert.Len(t, got, 64)
	assert.Equal(t, "SELECT column_name, column_name, column_name, column_name, co...", string(got))

	// A list of thousands of values collapses without ever hitting the bound.
	var b strings.Builder
	b.WriteString("SELECT * FROM t WHERE id IN (")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "%d, ", i)
	}
	b.WriteString("0) AND x = 'y'")
	got, truncated = n.Normalize([]byte(b.String()), false)
	assert.False(t, truncated)
	assert.Equal(t, "SELECT * FROM t WHERE id IN (?) AND x = ?", string(got))

	// So does a multi-row INSERT, one repeated tuple at a time.
	b.Reset()
	b.WriteString("INSERT INTO t (a, b, c) VALUES ")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "(%d, 'v%d', %d.5),", i, i, i)
	}
	b.WriteString("(1, 2, 3)")
	got, truncated = n.Normalize([]byte(b.String()), false)
	assert.False(t, truncated)
	assert.Equal(t, "INSERT INTO t (a, b, c) VALUES (?, ?, ?)", string(got))

	// A list that turns out not to be one of values is written out in full, up to the bound.
	b.Reset()
	b.WriteString("SELECT * FROM t WHERE id IN (")
	for i := 0; i < 100; i++ {
		b.WriteString("1, ")
	}
	b.WriteString("f(x))")
	got, truncated = n.Normalize([]byte(b.String()), false)
	assert.True(t, truncated)
	assert.Equal(t, "SELECT * FROM t WHERE id IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,...", string(got))

	// Cuts fall on character boundaries.
	got, truncated = New(MySQL, 16).Normalize([]byte("SELECT ééééééééé"), false)
	assert.True(t, truncated)
	assert.Equal(t, "SELECT ééé...", string(got))

	// The bound has a floor.
	assert.Equal(t, minMax, New(MySQL, 3).Max())
	assert.Equal(t, DefaultMax, New(MySQL, -1).Max())
}

func TestNormalizePartial(t *testing.T) {
	n := New(PostgreSQL, 32)
	got, truncated := n.Normalize([]byte("SELECT a FROM t WHERE b = 'abc"), true)
	assert.False(t, truncated)
	assert.Equal(t, "SELECT a FROM t WHERE b = ?...", string(got))
	// Short of the bound, but no room left for the mark: the mark wins.
	got, truncated = n.Normalize([]byte("SELECT abcdef FROM tablename t"), true)
	assert.False(t, truncated)
	assert.Equal(t, "SELECT abcdef FROM tablename...", string(got))
	// Past the bound: cut, and a trailing blank dropped.
	got, truncated = n.Normalize([]byte("SELECT abcdef FROM tablename WHERE"), true)
	assert.True(t, truncated)
	assert.Equal(t, "SELECT abcdef FROM tablename...", string(got))
	got, _ = n.Normalize(nil, true)
	assert.Equal(t, "", string(got))
}

func TestVerb(t *testing.T) {
	for _, c := range []struct {
		d        Dialect
		in, want string
	}{
		{MySQL, "select 1", "SELECT"},
		{MySQL, "  \n\tInsert into t", "INSERT"},
		{MySQL, "((SELECT 1) UNION (SELECT 2))", "SELECT"},
		{MySQL, "/* c */ -- d\n# e\nupdate t", "UPDATE"},
		{MySQL, "/*!40101 SET NAMES utf8 */", "SET"},
		{MySQL, "/*M!100100 set x=1 */", "SET"},
		{MySQL, "--1", ""},
		{MySQL, "-- comment\nDELETE FROM t", "DELETE"},
		{MySQL, "WITH x AS (SELECT 1) SELECT * FROM x", "WITH"},
		{MySQL, "SELECT", "SELECT"},
		{MySQL, "show_tables", "SHOW_TABLES"},
		{MySQL, "SELECT1", "SELECT"},
		{MySQL, "1 + 1", ""},
		{MySQL, "", ""},
		{MySQL, "/* unterminated", ""},
		{MySQL, strings.Repeat("a", 100), strings.Repeat("A", maxVerb)},
		{PostgreSQL, "/* a /* b */ c */ begin;", "BEGIN"},
		{PostgreSQL, "# x\nSELECT", ""},
		{PostgreSQL, "--1\nSELECT", "SELECT"},
	} {
		assert.Equal(t, c.want, string(AppendVerb(nil, []byte(c.in), c.d)), "%q", c.in)
		assert.Equal(t, c.want, string(New(c.d, 0).Verb([]byte(c.in))), "%q", c.in)
	}
}

func TestNormalizeAllocs(t *testing.T) {
	n := New(MySQL, 0)
	q := []byte("SELECT a, b FROM t WHERE id IN (1, 2, 3) AND name = 'x' /* c */ LIMIT 10")
	allocs := testing.AllocsPerRun(100, func() {
		n.Normalize(q, false)
		n.Verb(q)
	})
	assert.Zero(t, allocs)
}

// checkNoLiterals fails when out, a normaliser output, holds a quote character outside a quoted
// identifier or a digit that does not belong to a word. Every string literal and number of the
// input must have become ?, so either would be a value that leaked. Quoted identifiers are the
// only quoted tokens the normaliser keeps: `…` in MySQL, "…" in both dialects (in MySQL only
// where it names something, the others became ?).
func checkNoLiterals(out []byte, d Dialect) error {
	for i := 0; i < len(out); {
		c := out[i]
		switch {
		case c == '"' || c == '`' && d == MySQL:
			i, _ = skipString(out, i, c, false)
			continue
		case c == '\'':
			return fmt.Errorf("quote at %d in %q", i, out)
		case isDigit(c):
			if i > 0 && isWord(out[i-1]) {
				break
			}
			j := i
			for j < len(out) && isDigit(out[j]) {
				j++
			}
			// In MySQL a word may start with digits (1abc), and the bound may cut it just there;
			// in PostgreSQL a word never starts with a digit.
			if d == MySQL && (j < len(out) && isWord(out[j]) || string(out[j:]) == ellipsis) {
				i = j
				continue
			}
			return fmt.Errorf("number at %d in %q", i, out)
		}
		i++
	}
	return nil
}

func FuzzNormalize(f *testing.F) {
	for _, c := range mysqlCases {
		f.Add([]byte(c.in), false, uint16(0))
	}
	for _, c := range pgCases {
		f.Add([]byte(c.in), true, uint16(0))
	}
	f.Add([]byte("SELECT * FROM t WHERE a IN (1,2,3) AND b = 'x'"), false, uint16(20))
	f.Add([]byte("INSERT INTO t VALUES (1,2),(1,2),(3,f(4))"), true, uint16(30))
	norms := map[bool]map[uint16]*Normalizer{false: {}, true: {}}
	f.Fuzz(func(t *testing.T, sql []byte, pg bool, max uint16) {
		d := MySQL
		if pg {
			d = PostgreSQL
		}
		bound := int(max % 2048)
		n := norms[pg][uint16(bound)]
		if n == nil {
			n = New(d, bound)
			norms[pg][uint16(bound)] = n
		}
		in := bytes.Clone(sql)
		out, truncated := n.Normalize(sql, false)
		require.Equal(t, in, sql, "input modified")
		require.LessOrEqual(t, len(out), n.Max())
		if truncated {
			require.True(t, bytes.HasSuffix(out, []byte(ellipsis)))
		}
		require.NoError(t, checkNoLiterals(out, d))
		first := string(out)
		verb := string(n.Verb(sql))
		require.LessOrEqual(t, len(verb), maxVerb)
		for _, c := range []byte(verb) {
			require.True(t, c >= 'A' && c <= 'Z' || c == '_', "verb %q", verb)
		}
		// A cut output (at the bound, or where a literal of uncertain end masked the rest) ends in
		// "..." glued to whatever token it cut, which need not read back the same.
		if !truncated && !bytes.HasSuffix(out, []byte(ellipsis)) {
			again, truncated2 := n.Normalize([]byte(first), false)
			require.False(t, truncated2)
			require.Equal(t, first, string(again), "not idempotent, input %q", sql)
		}
		partial, _ := n.Normalize(sql, true)
		require.LessOrEqual(t, len(partial), n.Max())
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct {
		name string
		d    Dialect
		sql  string
	}{
		{"pgbench-update", PostgreSQL, "UPDATE pgbench_accounts SET abalance = abalance + -4212 WHERE aid = 84373;"},
		{"select-in-list", MySQL, "SELECT id, name, price FROM items WHERE price > 0.6 AND name <> 'x' OR id IN (1, 3, 5, 7, 9, 11) ORDER BY id /* page 1 */ LIMIT 20"},
		{"insert-1000-rows", MySQL, "INSERT INTO t (a, b, c) VALUES " + strings.Repeat("(12345, 'some text', 3.25), ", 999) + "(1, 'x', 2)"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := New(bc.d, 0)
			q := []byte(bc.sql)
			b.SetBytes(int64(len(q)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				n.Normalize(q, false)
				n.Verb(q)
			}
		})
	}
}

// A backslash in a string literal escapes the next character or not depending on a server
// setting the text does not show (MySQL's NO_BACKSLASH_ESCAPES, PostgreSQL's
// standard_conforming_strings). Each statement here is read differently by the two settings;
// under at least one of them SECRET is inside a literal, and it must not be in the output, whose
// end is masked.
func TestAmbiguousBackslashesMaskTheRest(t *testing.T) {
	for _, tc := range []struct {
		d       Dialect
		in      string
		want    string
		comment string
	}{
		// MySQL with NO_BACKSLASH_ESCAPES: three strings; by default: one string, SECRET, …
		{MySQL, `SELECT 'a\','NOBSE_SECRET_37','z'`, `SELECT ?...`, "NO_BACKSLASH_ESCAPES reads three strings"},
		{MySQL, `SELECT * FROM t WHERE a = 'x\' AND b = 'NOBSE_SECRET_38' -- '`, `SELECT * FROM t WHERE a = ?...`, "NO_BACKSLASH_ESCAPES: b is compared to the secret"},
		// By default: one string holding the secret; with NO_BACKSLASH_ESCAPES 'a\' then words.
		{MySQL, `SELECT 'a\' NOBSE_SECRET_39 '`, `SELECT ?...`, "default sql_mode reads one string"},
		{MySQL, `SELECT "a\",NOBSE_SECRET_40,"z"`, `SELECT ?...`, "double-quoted strings likewise"},
		{MySQL, `SELECT 1 FROM "t\" WHERE "NOBSE_SECRET_41"`, `SELECT ? FROM ?...`, "a double-quoted name outside ANSI_QUOTES is a string"},
		{MySQL, `SELECT N'a\',N'NOBSE_SECRET_42'`, `SELECT ?...`, "prefixed strings likewise"},
		// PostgreSQL with standard_conforming_strings=off: 'a\'' is a', then a string holding the
		// secret; on (the default): 'a\'', ' is one string, then the word.
		{PostgreSQL, `SELECT 'a\'', 'SCS_SECRET_43', 'z'`, `SELECT ?...`, "standard_conforming_strings on reads SCS_SECRET_43 as a word"},
		{PostgreSQL, `SELECT 'a\', 'SCS_SECRET_44'`, `SELECT ?...`, "standard_conforming_strings off reads one string"},
		{PostgreSQL, `SELECT * FROM t WHERE a = 'x\' AND b = 'SCS_SECRET_45'`, `SELECT * FROM t WHERE a = ?...`, "either"},
	} {
		n := New(tc.d, 0)
		got, truncated := n.Normalize([]byte(tc.in), false)
		assert.Equal(t, tc.want, string(got), "%q: %s", tc.in, tc.comment)
		assert.NotContains(t, string(got), "SECRET", "%q", tc.in)
		assert.False(t, truncated, "masking is not the bound's cut")
	}
	// E'…' escapes and U&'…' does not, whatever the setting: no doubt, nothing masked.
	n := New(PostgreSQL, 0)
	got, _ := n.Normalize([]byte(`SELECT E'a\'', U&'d\0061t', x FROM t`), false)
	assert.Equal(t, `SELECT ?, ?, x FROM t`, string(got))
}
