package sqlnorm

import "unicode/utf8"

// Dialect selects the lexical rules that differ between MySQL and PostgreSQL.
type Dialect uint8

const (
	// MySQL: '…' and "…" are strings with backslash escapes (a "…" that clearly names something —
	// next to a dot, or after FROM, JOIN, INTO, UPDATE, TABLE or AS — is kept as an identifier, for
	// servers in ANSI_QUOTES mode), `…` is an identifier, # starts a comment, -- starts one only
	// when followed by a space or control character, /*! … */ is executable text, not a comment.
	MySQL Dialect = iota + 1
	// PostgreSQL: '…' is a string without backslash escapes, E'…' one with them, $tag$…$tag$ a
	// string, "…" an identifier, $1 a parameter, block comments nest, # is an operator.
	PostgreSQL
)

// DefaultMax is the output bound used when New is given none: long enough for nearly every
// statement written by hand or by an ORM, short enough to keep record keys cheap.
const DefaultMax = 1024

// minMax is the smallest bound New accepts; smaller bounds leave no room for a readable prefix.
const minMax = 16

// ellipsis marks output cut at the bound.
const ellipsis = "..."

// maxVerb bounds the verb: the longest SQL keyword is far shorter.
const maxVerb = 32

// maxDepth bounds the parenthesis groups tracked for list collapsing; deeper nesting is still
// normalised, only not collapsed.
const maxDepth = 32

// Normalizer normalises statements of one dialect into a buffer it owns. The zero value is not
// usable; call New. A Normalizer is used by one goroutine.
type Normalizer struct {
	dialect Dialect
	max     int
	// buf is the working output. It is twice the bound so that a VALUES tuple written before it is
	// found to repeat the previous one never forces a spurious truncation (see close).
	buf []byte
	// verb is the buffer behind Verb.
	verb [maxVerb]byte

	// Lexer state, reset by every Normalize call.
	out      []byte
	overflow bool
	masked   bool // a literal of uncertain end masked the rest of the statement
	space    bool // whitespace or a comment was skipped since the last token
	prev     kind // the last token written
	wordAt   int  // out[wordAt:wordEnd] is the last token when prev == kWord
	wordEnd  int
	inExec   bool // inside a MySQL /*! … */ executable comment
	depth    int  // open groups, including untracked ones past maxDepth
	groups   [maxDepth]group
}

// kind classifies tokens for spacing and for deciding what a - or a " means.
type kind uint8

const (
	kNone  kind = iota // start of the statement
	kWord              // identifier or keyword
	kIdent             // quoted identifier
	kValue             // ?, standing for a literal or a placeholder
	kOpen              // ( or [
	kClose             // ) or ]
	kComma             // ,
	kDot               // .
	kOp                // any other punctuation or operator
)

// group is an open ( or [ whose contents may collapse.
type group struct {
	open byte // '(' or '['
	at   int  // position of the opening bracket in out
	// list: the group follows IN or ARRAY, so a list of values collapses to one ?.
	list bool
	// values: only values and commas were seen so far.
	values bool
	n      int // values seen
	// In a list, values after the first are not written: elided counts them and comma says a
	// comma was read but not written, so that both can be written if the list turns out not to
	// be one of values after all (IN (1, 2, f(x))).
	elided int
	comma  bool
}

// New returns a Normalizer for dialect d whose output is at most max bytes (DefaultMax when max
// is 0 or less; at least 16).
func New(d Dialect, max int) *Normalizer {
	if max <= 0 {
		max = DefaultMax
	}
	if max < minMax {
		max = minMax
	}
	return &Normalizer{dialect: d, max: max, buf: make([]byte, 0, 2*max)}
}

// Max is the output bound.
func (n *Normalizer) Max() int { return n.max }

// Normalize returns the normalised form of sql, at most Max bytes. truncated is set when the
// output was cut at the bound, in which case it ends with "...". Pass partial when sql is only the
// beginning of a statement (the rest was not captured): the output then also ends with "..." but
// truncated reports only the normaliser's own cut. The result aliases the Normalizer's buffer and
// is valid until the next call.
func (n *Normalizer) Normalize(sql []byte, partial bool) (out []byte, truncated bool) {
	n.out = n.buf[:0]
	n.overflow = false
	n.masked = false
	n.space = false
	n.prev = kNone
	n.inExec = false
	n.depth = 0
	n.lex(sql)
	out = n.out
	if n.overflow || len(out) > n.max {
		cut := n.max - len(ellipsis)
		if cut > len(out) {
			cut = len(out)
		}
		// Cut on a character boundary so the result stays valid UTF-8 where the input was.
		for i := 0; i < utf8.UTFMax && cut > 0 && cut < len(out) && !utf8.RuneStart(out[cut]); i++ {
			cut--
		}
		out = append(trimSpaceRight(out[:cut]), ellipsis...)
		truncated = true
	} else if (partial || n.masked) && len(out) > 0 {
		if len(out)+len(ellipsis) > n.max {
			out = out[:n.max-len(ellipsis)]
			// Drop a character cut in two.
			for i := len(out) - 1; i >= 0 && i >= len(out)-utf8.UTFMax; i-- {
				if utf8.RuneStart(out[i]) {
					if !utf8.FullRune(out[i:]) {
						out = out[:i]
					}
					break
				}
			}
		}
		out = append(trimSpaceRight(out), ellipsis...)
	}
	n.buf = out[:0]
	return out, truncated
}

// Verb returns the statement's first keyword, upper-cased (SELECT, INSERT, WITH, …), skipping
// leading whitespace, comments and opening parentheses; nil when the statement does not start with
// a word. The result aliases the Normalizer and is valid until the next call.
func (n *Normalizer) Verb(sql []byte) []byte {
	return AppendVerb(n.verb[:0], sql, n.dialect)
}

// AppendVerb appends the statement's first keyword, upper-cased and at most 32 bytes, to dst (see
// Normalizer.Verb). It works on the raw statement, so it sees the verb even when the normalised
// text was truncated.
func AppendVerb(dst, sql []byte, d Dialect) []byte {
	i := 0
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == '(' || isSpace(c):
			i++
			continue
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-' && (d != MySQL || i+2 >= len(sql) || sql[i+2] <= ' '):
			i = skipLine(sql, i)
			continue
		case c == '#' && d == MySQL:
			i = skipLine(sql, i)
			continue
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			if d == MySQL && i+2 < len(sql) && (sql[i+2] == '!' || sql[i+2] == 'M' && i+3 < len(sql) && sql[i+3] == '!') {
				// Executable comment: its text is the statement.
				i = skipExecMarker(sql, i)
				continue
			}
			i = skipBlock(sql, i, d)
			continue
		}
		break
	}
	for j := i; j < len(sql) && j-i < maxVerb; j++ {
		c := sql[j]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		} else if (c < 'A' || c > 'Z') && c != '_' {
			break
		}
		dst = append(dst, c)
	}
	return dst
}

// Character classes.
const (
	cWord  = 1 << iota // may continue an identifier
	cStart             // may start an identifier
	cDigit
	cSpace
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
			t[c] = cWord | cStart
		case c >= '0' && c <= '9':
			t[c] = cWord | cDigit
		case c == '$':
			t[c] = cWord
		case c <= ' ' || c == 0x7f:
			// Control characters are not SQL; treating them as blanks keeps garbage readable.
			t[c] = cSpace
		}
	}
	return t
}()

func isSpace(c byte) bool { return class[c]&cSpace != 0 }
func isDigit(c byte) bool { return class[c]&cDigit != 0 }
func isWord(c byte) bool  { return class[c]&cWord != 0 }

// skipLine returns the index after the line comment starting at i.
func skipLine(s []byte, i int) int {
	for i < len(s) && s[i] != '\n' {
		i++
	}
	return i
}

// skipBlock returns the index after the block comment starting at i (/*), nesting in PostgreSQL.
func skipBlock(s []byte, i int, d Dialect) int {
	depth := 0
	for i+1 < len(s) {
		switch {
		case s[i] == '/' && s[i+1] == '*':
			depth++
			i += 2
			if d != PostgreSQL && depth > 1 {
				depth = 1
			}
		case s[i] == '*' && s[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(s)
}

// skipExecMarker returns the index after a MySQL executable comment opener: /*! or /*M!, then an
// optional version number.
func skipExecMarker(s []byte, i int) int {
	i += 2
	if s[i] == 'M' {
		i++
	}
	i++
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// lex is the main loop: one token per iteration, written (or not) to out.
func (n *Normalizer) lex(s []byte) {
	my := n.dialect == MySQL
	for i := 0; i < len(s) && !n.overflow && !n.masked; {
		c := s[i]
		switch {
		case isSpace(c):
			n.space = true
			i++

		case c == '-' && i+1 < len(s) && s[i+1] == '-' && (!my || i+2 >= len(s) || s[i+2] <= ' '):
			n.space = true
			i = skipLine(s, i)

		case c == '#' && my:
			n.space = true
			i = skipLine(s, i)

		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if my && i+2 < len(s) && (s[i+2] == '!' || s[i+2] == 'M' && i+3 < len(s) && s[i+3] == '!') {
				n.inExec = true
				i = skipExecMarker(s, i)
			} else {
				i = skipBlock(s, i, n.dialect)
			}
			n.space = true

		case c == '*' && n.inExec && i+1 < len(s) && s[i+1] == '/':
			n.inExec = false
			n.space = true
			i += 2

		case c == '\'':
			i = n.literal(s, i, '\'')

		case c == '"':
			if my && !n.identContext(s, i) {
				i = n.literal(s, i, '"')
			} else {
				// An identifier in both dialects; but a MySQL server outside ANSI_QUOTES reads
				// a string, with escapes.
				j, backslash := skipString(s, i, '"', false)
				if backslash && my {
					if k, _ := skipString(s, i, '"', true); k != j {
						n.maskRest()
						break
					}
				}
				n.token(kIdent, s[i:j])
				i = j
			}

		case c == '`' && my:
			j, _ := skipString(s, i, '`', false)
			n.token(kIdent, s[i:j])
			i = j

		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]) && n.prev != kWord && n.prev != kIdent && n.prev != kClose:
			j, word := n.number(s, i)
			if word {
				n.token(kWord, s[i:j])
			} else {
				n.value()
			}
			i = j

		case c == '-' && i+1 < len(s) && (isDigit(s[i+1]) || s[i+1] == '.' && i+2 < len(s) && isDigit(s[i+2])) && n.unary():
			j, word := n.number(s, i+1)
			if word {
				// -1abc in MySQL: minus, then an identifier.
				n.token(kOp, s[i:i+1])
				n.token(kWord, s[i+1:j])
			} else {
				n.value()
			}
			i = j

		case c == '?':
			n.value()
			i++

		case c == '$' && !my && i+1 < len(s) && isDigit(s[i+1]):
			// $1: a parameter of the extended query protocol; recorded like a literal so that a
			// statement reads the same whichever protocol carried it.
			i++
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			n.value()

		case c == '$' && !my:
			if j, ok := dollarString(s, i); ok {
				n.value()
				i = j
			} else {
				n.token(kOp, s[i:i+1])
				i++
			}

		case class[c]&cStart != 0 || c == '$':
			j := i + 1
			for j < len(s) && isWord(s[j]) {
				j++
			}
			if j < len(s) && n.prefixedString(s[i:j], s[j:]) {
				// N'…', X'…', B'…', E'…', U&'…': one literal.
				switch {
				case s[j] == '&':
					// U&'…': no backslash escapes whatever the setting (\ starts a Unicode escape).
					i, _ = skipString(s, j+1, '\'', false)
					n.value()
				case s[i]|0x20 == 'e':
					// E'…': escapes whatever the setting.
					i, _ = skipString(s, j, '\'', true)
					n.value()
				default:
					i = n.literal(s, j, '\'')
				}
				continue
			}
			n.token(kWord, s[i:j])
			i = j

		case c == '(' || c == '[':
			n.openGroup(c, s[i:i+1])
			i++

		case c == ')' || c == ']':
			n.closeGroup(c, s[i:i+1])
			i++

		case c == ',':
			n.comma()
			i++

		case c == '.':
			n.token(kDot, s[i:i+1])
			i++

		default:
			n.token(kOp, s[i:i+1])
			i++
		}
	}
}

// prefixedString reports whether word followed by rest starts a prefixed string literal.
func (n *Normalizer) prefixedString(word, rest []byte) bool {
	if len(word) != 1 {
		return false
	}
	switch word[0] | 0x20 {
	case 'n', 'x', 'b':
		return rest[0] == '\''
	case 'e':
		return n.dialect == PostgreSQL && rest[0] == '\''
	case 'u':
		return n.dialect == PostgreSQL && len(rest) > 1 && rest[0] == '&' && rest[1] == '\''
	}
	return false
}

// literal writes the string literal quoted by q at i as a value and returns the index after it.
// Whether its backslashes escape depends on the server's settings (see the package doc): when
// the two readings end it at different places, the rest of the statement is masked.
func (n *Normalizer) literal(s []byte, i int, q byte) int {
	j, backslash := skipString(s, i, q, true)
	if backslash {
		if k, _ := skipString(s, i, q, false); k != j {
			n.maskRest()
			return len(s)
		}
	}
	n.value()
	return j
}

// maskRest writes a value standing for the rest of the statement and ends the lexing.
func (n *Normalizer) maskRest() {
	n.value()
	n.masked = true
}

// skipString returns the index after the quoted token starting at i: a doubled quote stands for
// itself, a backslash escapes the next byte when escapes is set. An unterminated token runs to the
// end of the input. backslash says whether the token holds one.
func skipString(s []byte, i int, q byte, escapes bool) (end int, backslash bool) {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			backslash = true
			if escapes {
				i++
			}
		case q:
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1, backslash
		}
	}
	return len(s), backslash
}

// dollarString returns the index after the PostgreSQL dollar-quoted string at i ($$…$$ or
// $tag$…$tag$), ok false when s[i:] does not open one.
func dollarString(s []byte, i int) (int, bool) {
	j := i + 1
	if j < len(s) && class[s[j]]&cStart != 0 {
		for j < len(s) && isWord(s[j]) && s[j] != '$' {
			j++
		}
	}
	if j >= len(s) || s[j] != '$' {
		return 0, false
	}
	tag := s[i : j+1]
	for k := j + 1; k+len(tag) <= len(s); k++ {
		if s[k] == '$' && string(s[k:k+len(tag)]) == string(tag) {
			return k + len(tag), true
		}
	}
	return len(s), true
}

// number returns the index after the numeric literal at i and whether it is in fact a MySQL
// identifier that starts with digits (1abc, 0x1g).
func (n *Normalizer) number(s []byte, i int) (int, bool) {
	start := i
	if s[i] == '0' && i+2 < len(s) && (s[i+1]|0x20 == 'x' || s[i+1]|0x20 == 'b' || s[i+1]|0x20 == 'o') {
		j := i + 2
		for j < len(s) && (isHex(s[j]) || s[j] == '_') {
			j++
		}
		if j > i+2 {
			return n.numberEnd(s, j, false)
		}
	}
	// PostgreSQL 16 accepts 1_000; in MySQL that is an identifier.
	pg := n.dialect == PostgreSQL
	for i < len(s) && (isDigit(s[i]) || pg && s[i] == '_' && i > start && i+1 < len(s) && isDigit(s[i+1])) {
		i++
	}
	frac := false
	if i < len(s) && s[i] == '.' {
		frac = true
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i+1 < len(s) && s[i]|0x20 == 'e' {
		j := i + 1
		if s[j] == '+' || s[j] == '-' {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			return j, false
		}
	}
	return n.numberEnd(s, i, frac)
}

// numberEnd decides what digits directly followed by identifier characters are: in MySQL an
// identifier (1abc is a valid table name), elsewhere a number followed by a word.
func (n *Normalizer) numberEnd(s []byte, i int, frac bool) (int, bool) {
	if n.dialect == MySQL && !frac && i < len(s) && isWord(s[i]) {
		for i < len(s) && isWord(s[i]) {
			i++
		}
		return i, true
	}
	return i, false
}

func isHex(c byte) bool {
	return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f'
}

// unary reports whether a - read now is a sign rather than a subtraction: at the start, after an
// operator, an opening bracket or a comma, or after a keyword that cannot end an operand.
func (n *Normalizer) unary() bool {
	switch n.prev {
	case kNone, kOp, kOpen, kComma:
		return true
	case kWord:
		w := n.out[n.wordAt:n.wordEnd]
		for _, k := range unaryAfter {
			if equalFold(w, k) {
				return true
			}
		}
	}
	return false
}

// unaryAfter lists keywords after which a minus sign belongs to the number that follows.
var unaryAfter = []string{
	"SELECT", "WHERE", "AND", "OR", "NOT", "SET", "VALUES", "VALUE", "IN", "BY", "THEN", "ELSE",
	"WHEN", "CASE", "RETURN", "RETURNING", "LIMIT", "OFFSET", "LIKE", "BETWEEN", "HAVING", "ON",
	"DEFAULT", "INTERVAL", "ESCAPE", "DIV", "MOD", "XOR", "IS", "ANY", "ALL", "SOME",
}

// identContext reports whether the MySQL "…" at i names something rather than being a string:
// next to a dot, or right after a keyword that takes a name. Under the default sql_mode these
// places do not accept a string, so such a "…" can only be an ANSI_QUOTES identifier.
func (n *Normalizer) identContext(s []byte, i int) bool {
	if n.prev == kDot && !n.space {
		return true
	}
	if j, _ := skipString(s, i, '"', false); j < len(s) && s[j] == '.' {
		return true
	}
	if n.prev == kWord {
		w := n.out[n.wordAt:n.wordEnd]
		for _, k := range nameAfter {
			if equalFold(w, k) {
				return true
			}
		}
	}
	return false
}

// nameAfter lists keywords followed by a table or alias name.
var nameAfter = []string{"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "AS"}

func equalFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// write appends b; what does not fit in the working buffer is dropped and overflow set.
func (n *Normalizer) write(b []byte) {
	if room := cap(n.out) - len(n.out); len(b) > room {
		b = b[:room]
		n.overflow = true
	}
	n.out = append(n.out, b...)
}

func (n *Normalizer) writeString(s string) {
	if room := cap(n.out) - len(n.out); len(s) > room {
		s = s[:room]
		n.overflow = true
	}
	n.out = append(n.out, s...)
}

// emit writes one token with a single space before it where the input had blanks or comments,
// except just inside brackets and before a closing bracket or a comma.
func (n *Normalizer) emit(k kind, b []byte) {
	if n.space && n.prev != kNone && n.prev != kOpen && k != kClose && k != kComma ||
		len(n.out) > 0 && len(b) > 0 && opensComment(n.out[len(n.out)-1], b[0]) {
		n.writeString(" ")
	}
	n.space = false
	at := len(n.out)
	n.write(b)
	n.prev = k
	if k == kWord {
		n.wordAt, n.wordEnd = at, len(n.out)
	}
}

// opensComment reports whether writing b right after a would make the output read differently
// (- then - from "--#"), which would make normalising the output change it again.
func opensComment(a, b byte) bool {
	return a == '-' && b == '-' || a == '/' && b == '*'
}

// top returns the innermost tracked group, nil when there is none or nesting is too deep.
func (n *Normalizer) top() *group {
	if n.depth == 0 || n.depth > maxDepth {
		return nil
	}
	return &n.groups[n.depth-1]
}

// breakList records that the innermost group holds more than values, writing out whatever a
// collapsing list had held back.
func (n *Normalizer) breakList() {
	g := n.top()
	if g == nil || !g.values {
		return
	}
	g.values = false
	if !g.list {
		return
	}
	for ; g.elided > 0 && !n.overflow; g.elided-- {
		n.writeString(", ?")
	}
	if g.comma {
		g.comma = false
		n.writeString(",")
		n.prev = kComma
		n.space = true
	}
}

// token writes a token that is not a value, a comma or a bracket.
func (n *Normalizer) token(k kind, b []byte) {
	n.breakList()
	n.emit(k, b)
}

// value writes the ? standing for a literal, unless a collapsing list absorbs it.
func (n *Normalizer) value() {
	if g := n.top(); g != nil && g.values {
		if g.list && (g.n > 0 || g.comma) {
			if g.comma {
				g.elided++
				g.comma = false
			}
			g.n++
			n.space = false
			return
		}
		g.n++
	}
	n.emit(kValue, question)
}

var question = []byte{'?'}

func (n *Normalizer) comma() {
	if g := n.top(); g != nil && g.values && g.list {
		if g.n > 0 && !g.comma {
			g.comma = true
			n.space = false
			return
		}
		n.breakList()
	}
	n.emit(kComma, []byte{','})
	n.space = true
}

func (n *Normalizer) openGroup(c byte, b []byte) {
	list := c == '(' && n.prev == kWord && equalFold(n.out[n.wordAt:n.wordEnd], "IN") ||
		c == '[' && n.prev == kWord && equalFold(n.out[n.wordAt:n.wordEnd], "ARRAY")
	n.breakList()
	n.emit(kOpen, b)
	n.depth++
	if g := n.top(); g != nil {
		*g = group{open: c, at: len(n.out) - 1, list: list, values: true}
	}
}

func (n *Normalizer) closeGroup(c byte, b []byte) {
	g := n.top()
	if n.depth == 0 || g != nil && c != closer(g.open) {
		// Unbalanced: write it and carry on.
		n.token(kClose, b)
		return
	}
	if g != nil && g.values && g.list && g.comma {
		n.breakList() // IN (1, 2,): keep the odd trailing comma visible
	}
	n.emit(kClose, b)
	n.depth--
	if g == nil || !g.values || g.list || g.n == 0 || n.overflow {
		return
	}
	// A tuple of values directly after VALUES and a copy of it: keep one.
	t := n.out[g.at:]
	p := g.at - len(t) - 2
	if p < 0 || string(n.out[p+len(t):g.at]) != ", " || string(n.out[p:p+len(t)]) != string(t) {
		return
	}
	w := trimSpaceRight(n.out[:p])
	if !hasWordSuffix(w, "VALUES") && !hasWordSuffix(w, "VALUE") {
		return
	}
	n.out = n.out[:p+len(t)]
}

func closer(open byte) byte {
	if open == '[' {
		return ']'
	}
	return ')'
}

func trimSpaceRight(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == ' ' {
		return b[:len(b)-1]
	}
	return b
}

// hasWordSuffix reports whether b ends with the whole word upper, in any case.
func hasWordSuffix(b []byte, upper string) bool {
	if len(b) < len(upper) || !equalFold(b[len(b)-len(upper):], upper) {
		return false
	}
	return len(b) == len(upper) || !isWord(b[len(b)-len(upper)-1])
}
