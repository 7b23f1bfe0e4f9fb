package http

import (
	"bytes"

	"github.com/netobserver/netobserver/parser"
)

// chunkedBody completes a message whose chunked body starts at hdr. The body's end must be in
// buf: the size of a chunked message is only known there. Until then it answers NeedMore and
// remembers how far it scanned, so the next call on the same message resumes; once the body
// outgrows MaxPending the message is reported Truncated at the last chunk known and the rest
// is left to continueChunks.
func (c *Conn) chunkedBody(d *direction, buf []byte, hdr int, m *Message) parser.Result {
	off := hdr
	if d.cur.OK && d.stage == stageChunks && d.h.end == hdr && d.cur.Matches(buf) {
		off = d.cur.Pos
	}
	d.cur.OK = false
	end, next, extent, st := c.scanChunks(buf, off)
	switch st {
	case parser.Complete:
		m.Size, m.Truncated = end, false
		return parser.Result{Status: parser.Complete, Consumed: end}
	case parser.Invalid:
		return parser.Result{Status: parser.Invalid}
	}
	if extent > MaxPending {
		d.cont = true
		m.Size, m.Truncated = extent, true
		return parser.Result{Status: parser.Complete, Consumed: extent}
	}
	if d.cur.Save(buf, next) {
		d.stage, d.h.end = stageChunks, hdr
	}
	return parser.Result{Status: parser.NeedMore}
}

// continueChunks consumes chunks of a body whose message was already reported. ok is false when
// buf does not start with chunk framing.
func (c *Conn) continueChunks(d *direction, buf []byte) (parser.Result, bool) {
	end, next, extent, st := c.scanChunks(buf, 0)
	switch {
	case st == parser.Complete:
		d.cont = false
		return parser.Result{Status: parser.Ignored, Consumed: end}, true
	case st == parser.Invalid && next == 0:
		d.cont = false
		return parser.Result{}, false
	case st == parser.Invalid:
		return parser.Result{Status: parser.Ignored, Consumed: next}, true
	case extent > 0:
		return parser.Result{Status: parser.Ignored, Consumed: extent}, true
	}
	return parser.Result{Status: parser.NeedMore}, true
}

// scanChunks reads chunk framing from buf[off:]. Complete: the body (last chunk and trailer
// section included) ends at end. NeedMore: chunks before next are whole, the item at next is
// not, and the body extends at least to extent (past a chunk whose data has not all arrived).
// Invalid: the item at next is not chunk framing.
func (c *Conn) scanChunks(buf []byte, off int) (end, next, extent int, st parser.Status) {
	for {
		if off >= len(buf) {
			return 0, off, off, parser.NeedMore
		}
		limit := min(len(buf), off+maxChunkLine)
		nl := bytes.IndexByte(buf[off:limit], '\n')
		if nl < 0 {
			if limit-off >= maxChunkLine || unhex(buf[off]) < 0 {
				return 0, off, off, parser.Invalid
			}
			return 0, off, off, parser.NeedMore
		}
		c.chunkedScans++
		size, ok := chunkSize(trimCR(buf[off : off+nl]))
		if !ok {
			return 0, off, off, parser.Invalid
		}
		data := off + nl + 1
		if size == 0 {
			e, st := trailers(buf, data)
			if st == parser.Complete {
				return e, off, e, st
			}
			return 0, off, off, st
		}
		dataEnd := data + int(size) + 2
		if dataEnd > len(buf) {
			return 0, off, dataEnd, parser.NeedMore
		}
		if buf[dataEnd-2] != '\r' || buf[dataEnd-1] != '\n' {
			return 0, off, off, parser.Invalid
		}
		off = dataEnd
	}
}

// chunkSize parses "hex [BWS ; ext]" (RFC 9112 §7.1), bounded by maxBody.
func chunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if i >= 10 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return n, n <= maxBody
}

// trailers reads the trailer section after the last chunk: field lines up to a blank line.
func trailers(buf []byte, pos int) (int, parser.Status) {
	limit := min(len(buf), pos+MaxHeader)
	for {
		nl := -1
		if pos < limit {
			nl = bytes.IndexByte(buf[pos:limit], '\n')
		}
		if nl < 0 {
			if limit < len(buf) || limit-pos >= MaxHeader {
				return 0, parser.Invalid
			}
			return 0, parser.NeedMore
		}
		line := trimCR(buf[pos : pos+nl])
		pos += nl + 1
		if len(line) == 0 {
			return pos, parser.Complete
		}
		if bytes.IndexByte(line, ':') <= 0 {
			return 0, parser.Invalid
		}
	}
}

func unhex(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b-'a') + 10
	case b >= 'A' && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}
