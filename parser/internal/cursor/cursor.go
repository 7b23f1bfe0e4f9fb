// Package cursor lets a parser resume the scan of an incomplete message where it stopped, so that
// work stays linear in the message's size however it trickles in (parser/http's headers and
// chunked bodies, parser/redis' requests and replies).
package cursor

import "bytes"

// Cursor remembers where the scan of an incomplete message stopped. The caller of Parse calls
// again with the same start and more bytes; the bytes at both ends of the part scanned recognise
// it, and the parser forgets it (OK = false) when the caller gives up (FindBoundary).
type Cursor struct {
	OK   bool
	Pos  int
	head [16]byte
	tail [16]byte
}

// Save remembers Pos in buf; small scans are not worth it.
func (c *Cursor) Save(buf []byte, pos int) bool {
	if pos < len(c.tail) || len(buf) < len(c.head) {
		return false
	}
	c.OK, c.Pos = true, pos
	copy(c.head[:], buf)
	copy(c.tail[:], buf[pos-len(c.tail):pos])
	return true
}

// Matches reports whether buf starts with the message scanned up to Pos.
func (c *Cursor) Matches(buf []byte) bool {
	return c.Pos <= len(buf) && len(buf) >= len(c.head) &&
		bytes.Equal(buf[:len(c.head)], c.head[:]) &&
		bytes.Equal(buf[c.Pos-len(c.tail):c.Pos], c.tail[:])
}
