// Package sqlnorm turns SQL statement text into the form netobserver records: literal values
// replaced by ?, comments removed, whitespace collapsed, bounded in length. It also extracts the
// statement verb. It is shared by the MySQL and PostgreSQL parsers (packages parser/mysql and
// parser/pgsql), which own the wire protocols; this package owns only the text.
//
// Values never leave the host: every string literal, number, placeholder ($1, ?) and dollar-quoted
// body becomes ?, and a list of them after IN, ARRAY[ or VALUES collapses so that statements that
// differ only in how many values they carry aggregate together:
//
//	SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x'  →  SELECT * FROM t WHERE id IN (?) AND name = ?
//	INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b')        →  INSERT INTO t (a, b) VALUES (?, ?)
//
// Where a literal ends can depend on a server setting the text does not show: a backslash escapes
// the next character in MySQL strings unless sql_mode has NO_BACKSLASH_ESCAPES, and in
// PostgreSQL strings only when standard_conforming_strings is off. A literal whose end differs
// between the two readings ('a\', 'x', 'z' is three strings to one server and one string then the
// word x to the other) is masked with everything after it: the output ends "?...", so no reading
// of the statement can put a literal's text in a record.
//
// Identifiers, keywords and operators are kept as written (their case too), so the result stays
// readable. The lexer is deliberately forgiving: it never fails, whatever the input, and input that
// is not SQL comes out as some string within the bound.
//
// Normalizing allocates nothing once a Normalizer's buffer exists: the result is a view into that
// buffer, valid until the next call, and meant to be interned (see parser.Interner).
package sqlnorm
