package http

import (
	"bytes"

	"github.com/netobserver/netobserver/parser"
)

// methods are the request methods recognised: RFC 9110's, PATCH, the WebDAV ones seen in the
// wild and PURGE (caches). Unknown tokens are not accepted as methods, so that random bytes
// resemble a request less often and records never carry an arbitrary method string.
var methods = [...]string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "PURGE",
}

// methodFirst marks the first bytes of methods, for FindBoundary's scan.
var methodFirst [256]bool

func init() {
	for _, m := range methods {
		methodFirst[m[0]] = true
	}
}

// matchMethod matches a method and the space after it at the start of buf. It returns the method
// and the length matched; 0 when buf is a strict prefix of a method and its space, -1 when buf
// cannot start a request.
func matchMethod(buf []byte) (string, int) {
	if len(buf) >= 4 && buf[0] == 'G' && buf[1] == 'E' && buf[2] == 'T' && buf[3] == ' ' {
		return "GET", 4
	}
	if len(buf) == 0 || !methodFirst[buf[0]] {
		return "", -1
	}
	for _, m := range methods {
		if len(buf) > len(m) {
			if buf[len(m)] == ' ' && string(buf[:len(m)]) == m {
				return m, len(m) + 1
			}
		} else if string(buf) == m[:len(buf)] {
			return "", 0
		}
	}
	return "", -1
}

// statusLine matches a status line at the start of buf: it returns the status code, the version
// and the length of the line with its end; 0 when buf may still become a status line, -1 when it
// cannot.
func statusLine(buf []byte) (code int, version string, n int) {
	const prefix = "HTTP/1."
	if len(buf) < len(prefix)+6 {
		// Check what is there: "HTTP/1." "x" " " "ddd" " ".
		for i, b := range buf {
			ok := true
			switch {
			case i < len(prefix):
				ok = b == prefix[i]
			case i == 7:
				ok = b == '0' || b == '1'
			case i == 8:
				ok = b == ' '
			case i == 9:
				ok = b >= '1' && b <= '5'
			default:
				ok = b >= '0' && b <= '9'
			}
			if !ok {
				return 0, "", -1
			}
		}
		return 0, "", 0
	}
	if string(buf[:len(prefix)]) != prefix || buf[8] != ' ' {
		return 0, "", -1
	}
	switch buf[7] {
	case '1':
		version = "1.1"
	case '0':
		version = "1.0"
	default:
		return 0, "", -1
	}
	d0, d1, d2 := buf[9], buf[10], buf[11]
	if d0 < '1' || d0 > '5' || d1 < '0' || d1 > '9' || d2 < '0' || d2 > '9' {
		return 0, "", -1
	}
	if b := buf[12]; b != ' ' && b != '\r' && b != '\n' {
		return 0, "", -1
	}
	code = int(d0-'0')*100 + int(d1-'0')*10 + int(d2-'0')
	end, st := lineEnd(buf, 12)
	if end < 0 {
		if st == parser.NeedMore {
			return 0, "", 0
		}
		return 0, "", -1
	}
	return code, version, end + 1
}

// lineEnd returns the index of the '\n' ending the line that contains buf[from], searching
// within MaxHeader; when there is none it returns -1 and whether more bytes may bring it.
func lineEnd(buf []byte, from int) (int, parser.Status) {
	limit := min(len(buf), MaxHeader)
	if from < limit {
		if i := bytes.IndexByte(buf[from:limit], '\n'); i >= 0 {
			return from + i, parser.Complete
		}
	}
	if len(buf) >= MaxHeader {
		return -1, parser.Invalid
	}
	return -1, parser.NeedMore
}

// plausibleTarget says whether t can be, or begin, a request target: origin form ("/..."),
// asterisk form, absolute or authority form (a letter or digit first), with no control bytes.
// An incomplete request line is checked with it so that garbage fails before MaxHeader bytes.
func plausibleTarget(t []byte) bool {
	if len(t) == 0 {
		return true
	}
	if !targetStart(t[0]) {
		return false
	}
	for _, b := range t {
		if b < 0x20 && b != '\r' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func targetStart(b byte) bool {
	return b == '/' || b == '*' || b == '[' || b|0x20 >= 'a' && b|0x20 <= 'z' || b >= '0' && b <= '9'
}

// httpVersion maps the request line's last word to Message.Version.
func httpVersion(b []byte) string {
	switch string(b) {
	case "HTTP/1.1":
		return "1.1"
	case "HTTP/1.0":
		return "1.0"
	}
	return ""
}

// resource is the path of a request target without query string or fragment, which may carry
// user data. Absolute-form targets (to proxies) lose scheme and authority; CONNECT's authority
// form is kept: host and port, no user data.
func resource(target []byte, connect bool) []byte {
	if connect {
		return target
	}
	if t := target[0]; t != '/' && t != '*' {
		i := bytes.Index(target, []byte("://"))
		if i < 0 {
			return cutQuery(target)
		}
		rest := cutQuery(target[i+3:])
		j := bytes.IndexByte(rest, '/')
		if j < 0 {
			return slash
		}
		return rest[j:]
	}
	return cutQuery(target)
}

var slash = []byte("/")

// Path returns a request target as records show it: its path without query string or
// fragment. HTTP/2's :path goes through it too.
func Path(target []byte) []byte {
	if len(target) == 0 {
		return target
	}
	return resource(target, false)
}

func cutQuery(t []byte) []byte {
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	if i := bytes.IndexByte(t, '#'); i >= 0 {
		t = t[:i]
	}
	return t
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// headers holds what framing and records need from a header section.
type headers struct {
	hostStart, hostEnd int   // the Host value in the message; equal when absent
	cl                 int64 // Content-Length; -1 when absent
	te                 bool  // Transfer-Encoding present
	chunked            bool  // its final coding is chunked
	fields             bool  // a field line was read
	h2c                bool  // an Upgrade field names h2c
	// end is the offset just past the blank line ending the section when parse returns
	// Complete, and the start of the first line not read when it returns NeedMore.
	end int
}

// parse reads header lines from buf[pos:] to the blank line. h carries what earlier lines
// said, so a section can be read in several calls.
func (h *headers) parse(buf []byte, pos int) parser.Status {
	limit := min(len(buf), MaxHeader)
	for {
		h.end = pos
		nl := -1
		if pos < limit {
			nl = bytes.IndexByte(buf[pos:limit], '\n')
		}
		if nl < 0 {
			if len(buf) >= MaxHeader {
				return parser.Invalid
			}
			return parser.NeedMore
		}
		line := trimCR(buf[pos : pos+nl])
		start := pos
		pos += nl + 1
		if len(line) == 0 {
			h.end = pos
			return parser.Complete
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !h.fields {
				return parser.Invalid // RFC 9112 §2.2: whitespace before the first field
			}
			continue // obs-fold continues a field; none of ours is folded in practice
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return parser.Invalid
		}
		h.fields = true
		name := line[:colon]
		switch len(name) {
		case 4:
			if h.hostEnd == 0 && eqFold(name, "host") {
				v := line[colon+1:]
				lead := len(v) - len(bytes.TrimLeft(v, " \t"))
				h.hostStart = start + colon + 1 + lead
				h.hostEnd = h.hostStart + len(trimOWS(v))
			}
		case 7:
			if eqFold(name, "upgrade") {
				h.h2c = h.h2c || namesH2C(line[colon+1:])
			}
		case 14:
			if eqFold(name, "content-length") {
				n, ok := contentLength(line[colon+1:])
				if !ok || (h.cl >= 0 && h.cl != n) {
					return parser.Invalid // RFC 9112 §6.3: conflicting or malformed lengths
				}
				h.cl = n
			}
		case 17:
			if eqFold(name, "transfer-encoding") {
				v := line[colon+1:]
				if i := bytes.LastIndexByte(v, ','); i >= 0 {
					v = v[i+1:]
				}
				h.te = true
				h.chunked = eqFold(trimOWS(v), "chunked")
			}
		}
	}
}

// namesH2C says whether the protocol list v of an Upgrade field names h2c.
func namesH2C(v []byte) bool {
	for len(v) > 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if eqFold(trimOWS(item), "h2c") {
			return true
		}
	}
	return false
}

// eqFold compares b with lower, which is lower-case ASCII, ignoring the case of b's letters.
func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// contentLength parses a Content-Length value, accepting a list of identical values (RFC 9110
// §8.6 lets a recipient do so).
func contentLength(v []byte) (int64, bool) {
	n := int64(-1)
	for len(v) > 0 || n < 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		item = trimOWS(item)
		if len(item) == 0 || len(item) > 13 {
			return 0, false
		}
		var x int64
		for _, b := range item {
			if b < '0' || b > '9' {
				return 0, false
			}
			x = x*10 + int64(b-'0')
		}
		if x > maxBody || (n >= 0 && x != n) {
			return 0, false
		}
		n = x
	}
	return n, true
}
