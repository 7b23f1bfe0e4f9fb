// Package keymask bounds and masks the names messaging protocols route by (MQTT topics, AMQP
// routing keys and queues, NATS subjects) before they become aggregation keys: ids become "?",
// and length and depth are bounded, so a stream of distinct names cannot grow the records.
package keymask

// MaxLen bounds a masked name, in bytes, and MaxLevels its levels: what lies beyond is
// replaced by sep and "…", so that a stream of distinct long topics cannot grow the aggregation keys.
const (
	MaxLen    = 96
	MaxLevels = 6
)

// Mask appends to dst the name t, whose levels sep separates ('/' in MQTT, '.' in AMQP), as
// records show it: each level that looks
// like an id — only digits, hex digits, '-', '_', '.' or ':' with at least one digit, as numbers,
// UUIDs and hashes are, or of 16 bytes or more with a digit — becomes "?"; in other levels each run of digits becomes "?"
// ("sensor42" → "sensor?"). Wildcards ('+', '#', '*') stay. At most MaxLevels levels and
// MaxLen bytes are kept. Bytes outside printable ASCII become '.'.
func Mask(dst, t []byte, sep byte) []byte {
	start := len(dst)
	levels := 0
	for len(t) > 0 || levels == 0 {
		end := 0
		for end < len(t) && t[end] != sep {
			end++
		}
		level := t[:end]
		if levels == MaxLevels || len(dst)-start+min(len(level), 1) > MaxLen {
			return append(append(dst, sep), "…"...)
		}
		if levels > 0 {
			dst = append(dst, sep)
		}
		dst = maskLevel(dst, level, start)
		levels++
		if end == len(t) {
			break
		}
		t = t[end+1:]
		if len(t) == 0 { // a trailing separator is an empty last level
			dst = append(dst, sep)
			break
		}
	}
	return dst
}

func maskLevel(dst, level []byte, start int) []byte {
	if idLike(level) {
		return append(dst, '?')
	}
	for i := 0; i < len(level); i++ {
		if len(dst)-start >= MaxLen {
			return append(dst, "…"...)
		}
		b := level[i]
		switch {
		case b >= '0' && b <= '9':
			for i+1 < len(level) && level[i+1] >= '0' && level[i+1] <= '9' {
				i++
			}
			dst = append(dst, '?')
		case b < 0x20 || b >= 0x7f:
			dst = append(dst, '.')
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// longID is the length from which a level holding a digit is an id whatever its other bytes
// (base64 tokens, generated names).
const longID = 16

func idLike(level []byte) bool {
	digit, other := false, false
	for _, b := range level {
		switch {
		case b >= '0' && b <= '9':
			digit = true
		case b >= 'a' && b <= 'f', b >= 'A' && b <= 'F', b == '-', b == '_', b == '.', b == ':':
		default:
			other = true
		}
	}
	return digit && (!other || len(level) >= longID)
}
