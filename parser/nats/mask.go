package nats

// Mask returns subject with what looks like an id masked, bounded: a reply inbox
// (_INBOX.<anything>) is "_INBOX.*"; a token with a digit in it that is long (8 bytes or more) or
// mostly digits (a number, a uuid, a nuid) is "?"; past maxTokens tokens or maxSubject bytes the
// subject ends with ">". Wildcards stay. dst is reused.
func Mask(dst, subject []byte) []byte {
	dst = dst[:0]
	if len(subject) >= 7 && string(subject[:7]) == "_INBOX." {
		return append(dst, "_INBOX.*"...)
	}
	tokens := 0
	for len(subject) > 0 {
		end := 0
		for end < len(subject) && subject[end] != '.' {
			end++
		}
		tok := subject[:end]
		if tokens > 0 {
			dst = append(dst, '.')
		}
		next := tok
		if idLike(tok) {
			next = masked
		}
		if tokens == maxTokens || len(dst)+len(next) > maxSubject {
			return append(dst, '>')
		}
		dst = append(dst, next...)
		tokens++
		if end == len(subject) {
			break
		}
		subject = subject[end+1:]
		if len(subject) == 0 {
			dst = append(dst, '.') // a trailing dot, as sent (servers reject it)
		}
	}
	return dst
}

var masked = []byte{'?'}

// idLike says a subject token looks like an id: it has a digit, and is long or mostly digits
// ("12" is an id, "v2" is not).
func idLike(tok []byte) bool {
	digits := 0
	for _, b := range tok {
		if b >= '0' && b <= '9' {
			digits++
		}
	}
	return digits > 0 && (len(tok) >= 8 || 2*digits > len(tok))
}

// mask returns subject masked, interned.
func (c *Conn) mask(subject []byte) string {
	c.scratch = Mask(c.scratch, subject)
	return c.in.Bytes(c.scratch)
}
