package jsonenc

import (
	"strconv"
	"unicode/utf8"

	"github.com/netobserver/netobserver/record"
)

// Escaping selects how AppendString escapes a string. iLogtail wrote its records through two
// different JSON encoders, and they disagree on HTML characters, invalid UTF-8 and U+2028/U+2029;
// a drop-in replacement has to reproduce whichever one a given output used.
type Escaping uint8

const (
	// EscapeJsoniter is what json-iterator's Stream.WriteString wrote: flusher_stdout's default
	// KeyValuePairs output. `"` and `\` get a backslash; \n, \r and \t their short forms; every other
	// byte below 0x20 becomes \u00XX (lower-case hex). Everything else is copied as it is: `<`, `>`
	// and `&`, DEL, U+2028/U+2029 and even invalid UTF-8 bytes, so the result is not always valid
	// JSON — exactly as iLogtail's was.
	EscapeJsoniter Escaping = iota
	// EscapeEncodingJSON is what encoding/json.Marshal of Go 1.18 (the toolchain of iLogtail 1.x)
	// wrote: flusher_stdout with KeyValuePairs false, and flusher_kafka. As EscapeJsoniter, plus
	// `<`, `>`, `&` as \u003c, \u003e, \u0026; each invalid UTF-8 byte as \ufffd; U+2028 and U+2029
	// as \u2028 and \u2029. \b and \f are \u0008 and \u000c: Go 1.22 changed encoding/json to
	// write \b and \f, iLogtail's binaries predate that.
	EscapeEncodingJSON
	// EscapeStrict always yields valid JSON that stays readable: as EscapeEncodingJSON but `<`, `>`
	// and `&` are left alone. Used by the JSON-lines flusher, which has no iLogtail original.
	EscapeStrict
)

// Byte classes of the escape tables.
const (
	clsRaw   = 0 // copy as it is
	clsEsc   = 1 // an ASCII byte that needs an escape
	clsMulti = 2 // first byte of a multi-byte (or invalid) UTF-8 sequence that needs a look
)

// escTables[e][b] is the class of byte b under escaping e; built once so the hot loop is one load
// and one compare per byte.
var escTables = func() (t [3][256]uint8) {
	for e := range t {
		for b := 0; b < 0x20; b++ {
			t[e][b] = clsEsc
		}
		t[e]['"'] = clsEsc
		t[e]['\\'] = clsEsc
		if Escaping(e) == EscapeJsoniter {
			continue // jsoniter's WriteString copies every byte >= 0x20 but '"' and '\\'
		}
		for b := utf8.RuneSelf; b < 256; b++ {
			t[e][b] = clsMulti
		}
		if Escaping(e) == EscapeEncodingJSON {
			t[e]['<'] = clsEsc
			t[e]['>'] = clsEsc
			t[e]['&'] = clsEsc
		}
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a quoted JSON string escaped as e, and returns the extended
// buffer. It allocates only when dst must grow.
func AppendString(dst []byte, s string, e Escaping) []byte {
	tab := &escTables[e]
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		switch tab[b] {
		case clsRaw:
			i++
			continue
		case clsEsc:
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control bytes, and <, >, & under EscapeEncodingJSON
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
		default: // clsMulti
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				// Valid JSON, but not valid JavaScript: encoding/json escapes them, so do we.
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			default:
				i += size
				continue
			}
			i += size
			start = i
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendKeyValues appends the record as one flat JSON object — its fields in order, then
// "__time__" with Time as a decimal string — and returns the extended buffer. With EscapeJsoniter
// the bytes are those of iLogtail's flusher_stdout with KeyValuePairs true, e.g.
// {"type":"protocols","role":"client","__time__":"1661417038"}. A repeated key is written twice,
// as iLogtail did.
func AppendKeyValues(dst []byte, r record.Record, e Escaping) []byte {
	dst = append(dst, '{')
	for _, f := range r.Fields {
		dst = AppendString(dst, f.Key, e)
		dst = append(dst, ':')
		dst = AppendString(dst, f.Value, e)
		dst = append(dst, ',')
	}
	dst = append(dst, `"__time__":"`...)
	dst = strconv.AppendUint(dst, uint64(r.Time), 10)
	return append(dst, '"', '}')
}

// AppendLog appends the record as encoding/json wrote iLogtail's protocol.Log and returns the
// extended buffer: {"Time":1661417038,"Contents":[{"Key":"type","Value":"protocols"},…]}, with
// EscapeEncodingJSON escaping. "Contents" is left out when there are no fields (its tag had
// omitempty). This is flusher_stdout's KeyValuePairs false output and flusher_kafka's message value.
func AppendLog(dst []byte, r record.Record) []byte {
	dst = append(dst, `{"Time":`...)
	dst = strconv.AppendUint(dst, uint64(r.Time), 10)
	if len(r.Fields) > 0 {
		dst = append(dst, `,"Contents":[`...)
		for i, f := range r.Fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"Key":`...)
			dst = AppendString(dst, f.Key, EscapeEncodingJSON)
			dst = append(dst, `,"Value":`...)
			dst = AppendString(dst, f.Value, EscapeEncodingJSON)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
