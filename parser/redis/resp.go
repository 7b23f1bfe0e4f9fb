package redis

import (
	"bytes"

	"github.com/netobserver/netobserver/parser"
)

const (
	// maxDepth bounds the nesting of aggregates. Redis replies nest a handful of levels
	// (XINFO STREAM FULL, COMMAND DOCS); scripts and modules may go further, garbage deeper.
	maxDepth = 32
	// maxLine bounds a header line: a simple string, error, number, or a length.
	maxLine = 64 << 10
	// maxBlob bounds blob lengths (Redis' proto-max-bulk-len defaults to 512 MiB).
	maxBlob = 4 << 30
	// maxCount bounds aggregate sizes; each element takes at least 3 bytes of stream anyway.
	maxCount = 1<<31 - 1
)

// frame is one open aggregate.
type frame struct {
	left   int64 // elements still to read; -1 for a streamed aggregate, which ends at "."
	attr   bool  // an attribute: it annotates the value that follows and is not an element
	chunks bool  // a streamed string: its elements are ";len" chunks and ";0" ends it
}

// reader walks one RESP value iteratively: an explicit stack, not recursion, bounds the work on
// deep garbage, and lets a value be continued across calls. stack[0] is a virtual frame of one
// element, the value itself.
type reader struct {
	stack [maxDepth + 1]frame
	depth int
}

func (r *reader) start() {
	r.stack[0] = frame{left: 1}
	r.depth = 1
}

// shape is what classifying a reply needs: its type and, for a short aggregate, the leading
// elements that tell pub/sub traffic apart.
type shape struct {
	kind   byte  // type byte of the value, past any attributes
	n      int64 // element count of an aggregate; -1 when streamed or null
	elems  int   // direct elements started
	str    [16]byte
	strLen int  // value of a simple string, or first element of an aggregate when a string;
	strOK  bool // false when absent or longer than str
	nil2   bool // second element is null
	int3   int64
	int3OK bool // third element is an integer
}

func (s *shape) setStr(b []byte) {
	s.strOK = len(b) <= len(s.str)
	if s.strOK {
		s.strLen = copy(s.str[:], b)
	}
}

func (s *shape) isStr(v string) bool { return s.strOK && string(s.str[:s.strLen]) == v }

// step is where read stopped.
type step struct {
	st  parser.Status // Complete: the value ends at pos. NeedMore: the item at pos is incomplete.
	pos int
	// blobEnd, when NeedMore, is the offset past the blob whose header is at pos and whose data
	// has not all arrived; 0 when the incomplete item is a header line.
	blobEnd int
}

// read continues the value from buf[pos:], recording its shape in sh.
func (r *reader) read(buf []byte, pos int, sh *shape) step {
	for r.depth > 0 {
		if pos >= len(buf) {
			return step{st: parser.NeedMore, pos: pos}
		}
		t := buf[pos]
		f := &r.stack[r.depth-1]
		if f.chunks && t != ';' || !f.chunks && !isType[t] {
			return step{st: parser.Invalid, pos: pos}
		}
		limit := min(len(buf), pos+1+maxLine)
		nl := bytes.IndexByte(buf[pos+1:limit], '\n')
		if nl < 0 {
			if limit-pos-1 >= maxLine {
				return step{st: parser.Invalid, pos: pos}
			}
			return step{st: parser.NeedMore, pos: pos}
		}
		line := buf[pos+1 : pos+1+nl]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return step{st: parser.Invalid, pos: pos}
		}
		line = line[:len(line)-1]
		next := pos + 2 + nl

		// Direct elements of the top-level aggregate, and the top-level value, are recorded.
		top := r.depth == 1 && t != '|'
		direct := r.depth == 2 && !r.stack[1].attr && !f.chunks && t != '|'
		idx := -1
		if direct {
			idx = sh.elems // counted below, once the element is read: it may be read again
		}

		switch t {
		case '+', '-':
			if top {
				sh.kind = t
				sh.setStr(line)
			} else if idx == 0 {
				sh.setStr(line)
			}
			r.done()
		case ':', '(':
			v, ok := integer(line, t == '(')
			if !ok {
				return step{st: parser.Invalid, pos: pos}
			}
			if top {
				sh.kind = t
			} else if idx == 2 && t == ':' {
				sh.int3, sh.int3OK = v, true
			}
			r.done()
		case ',':
			if len(line) == 0 {
				return step{st: parser.Invalid, pos: pos}
			}
			if top {
				sh.kind = t
			}
			r.done()
		case '#':
			if len(line) != 1 || line[0] != 't' && line[0] != 'f' {
				return step{st: parser.Invalid, pos: pos}
			}
			if top {
				sh.kind = t
			}
			r.done()
		case '_':
			if len(line) != 0 {
				return step{st: parser.Invalid, pos: pos}
			}
			if top {
				sh.kind = t
			} else if idx == 1 {
				sh.nil2 = true
			}
			r.done()
		case ';', '$', '!', '=':
			if top {
				sh.kind = t
			}
			if t != ';' && len(line) == 1 && line[0] == '?' {
				if !r.push(frame{left: -1, chunks: true}) {
					return step{st: parser.Invalid, pos: pos}
				}
				break
			}
			n, ok := length(line, maxBlob)
			if !ok || n < 0 && t != '$' {
				return step{st: parser.Invalid, pos: pos}
			}
			if n < 0 {
				if idx == 1 {
					sh.nil2 = true
				}
				r.done()
				break
			}
			if t == ';' && n == 0 {
				// The streamed string ends; it was one element of its parent.
				r.depth--
				r.done()
				break
			}
			end := next + int(n) + 2
			if end > len(buf) {
				return step{st: parser.NeedMore, pos: pos, blobEnd: end}
			}
			if buf[end-2] != '\r' || buf[end-1] != '\n' {
				return step{st: parser.Invalid, pos: pos}
			}
			if top || idx == 0 {
				sh.setStr(buf[next : end-2])
			}
			next = end
			r.done()
		case '*', '~', '>', '%', '|':
			if top {
				sh.kind = t
				sh.n = -1
			}
			fr := frame{left: -1, attr: t == '|'}
			if len(line) != 1 || line[0] != '?' {
				n, ok := length(line, maxCount)
				if !ok || n < 0 && t != '*' {
					return step{st: parser.Invalid, pos: pos}
				}
				if top {
					sh.n = n
				}
				if t == '%' || t == '|' {
					n *= 2 // pairs
				}
				if n <= 0 {
					if t != '|' {
						r.done() // an empty or null aggregate is a whole element
					}
					break
				}
				fr.left = n
			}
			if !r.push(fr) {
				return step{st: parser.Invalid, pos: pos}
			}
		case '.':
			if len(line) != 0 || f.left != -1 || f.chunks {
				return step{st: parser.Invalid, pos: pos}
			}
			r.depth--
			if !f.attr {
				r.done()
			}
		}
		if direct {
			sh.elems++
		}
		pos = next
	}
	return step{st: parser.Complete, pos: pos}
}

// done counts one whole element in the innermost aggregate, closing the aggregates it fills.
func (r *reader) done() {
	for r.depth > 0 {
		f := &r.stack[r.depth-1]
		if f.left < 0 {
			return // streamed: ends at its terminator
		}
		f.left--
		if f.left > 0 {
			return
		}
		r.depth--
		if f.attr {
			return // an attribute is not an element of its parent
		}
	}
}

func (r *reader) push(f frame) bool {
	if r.depth > maxDepth {
		return false
	}
	r.stack[r.depth] = f
	r.depth++
	return true
}

// lastItem says whether the value ends right after the incomplete blob read stopped at: every
// open aggregate expects one more element and none is an attribute or streamed.
func (r *reader) lastItem() bool {
	for i := r.depth - 1; i >= 0; i-- {
		if f := r.stack[i]; f.left != 1 || f.attr {
			return false
		}
	}
	return true
}

// isType marks the RESP2 and RESP3 type bytes.
var isType = func() (t [256]bool) {
	for _, b := range []byte("+-:$*_,#!=(%~>|.") {
		t[b] = true
	}
	return t
}()

// integer parses a signed decimal; big numbers (RESP3 '(') may exceed int64 and are only
// checked for digits.
func integer(b []byte, big bool) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, b = b[0] == '-', b[1:]
	}
	if len(b) == 0 || len(b) > 19 && !big {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg && n == 1<<63 {
		return -1 << 63, true
	}
	if n > 1<<63-1 {
		if !big {
			return 0, false
		}
		n = 1<<63 - 1
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// length parses a length or count: -1 (null) or 0..max.
func length(b []byte, max int64) (int64, bool) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return -1, true
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= max
}
