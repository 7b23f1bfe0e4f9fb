package http2

import (
	"bytes"
	"errors"

	"golang.org/x/net/http2/hpack"
)

// MaxTable caps the dynamic table a decoder keeps, whatever size the peers agree on: a larger
// table announced by SETTINGS_HEADER_TABLE_SIZE is held only up to this many bytes (as RFC 7541
// counts them), and references to the entries evicted early are unresolved, never guessed.
const MaxTable = 64 << 10

// defaultTable is SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2).
const defaultTable = 4096

// errCompression is a header block that is not HPACK: the table can no longer be trusted.
var errCompression = errors.New("http2: malformed header block")

// entry is one field of a dynamic table. A field whose name or value was never seen (the
// connection was joined after it was sent) is held as a placeholder, so that the indices of the
// fields after it stay right.
type entry struct {
	name, value  []byte
	nameUnknown  bool
	valueUnknown bool
}

// table is one direction's HPACK dynamic table (RFC 7541 §2.3.2), newest entry at index 1.
//
// The decoder is never ahead of the encoder: it starts empty when a connection is joined late,
// and an entry of unknown size counts as the smallest it could be. Its entries are therefore the
// encoder's newest ones in the encoder's order, and index i names the same field on both sides
// whenever i is within the decoder's table; an index past it is unresolved. Bytes of the header
// blocks lost on the way would break that, so a loss empties the table (reset).
type table struct {
	ring        []entry
	first, n    int    // the oldest entry in ring, and the number held
	size        int    // RFC 7541 §4.1 size of the entries held
	max         int    // the encoder's current maximum (its last size update), capped
	limit       int    // what the decoder side allows (its SETTINGS_HEADER_TABLE_SIZE), capped
	allowed     uint32 // the same, uncapped: a size update beyond it is malformed
	limitKnown  bool
	incomplete  bool // entries older than those held may exist: an index past n is unknown, not wrong
	scratchName bytes.Buffer
	scratchVal  bytes.Buffer
	// f is the field being decoded; here rather than on the stack, where handing it to emit
	// would make it escape: one allocation per field.
	f field
}

func newTable() table { return table{max: defaultTable, limit: MaxTable} }

// reset forgets every entry: bytes of this direction's header blocks were lost, or the
// connection was joined late.
func (t *table) reset() {
	t.first, t.n, t.size, t.incomplete = 0, 0, 0, true
}

// setLimit applies the decoder side's SETTINGS_HEADER_TABLE_SIZE.
func (t *table) setLimit(v uint32) {
	t.limit, t.allowed, t.limitKnown = int(min(v, MaxTable)), v, true
	if t.max > t.limit {
		t.max = t.limit
		t.evict(0)
	}
}

func (t *table) at(i int) *entry { return &t.ring[(t.first+t.n-i)%len(t.ring)] }

// evict drops the oldest entries until one of size add fits.
func (t *table) evict(add int) {
	for t.n > 0 && t.size+add > t.max {
		e := &t.ring[t.first]
		t.size -= entrySize(e)
		t.first = (t.first + 1) % len(t.ring)
		t.n--
	}
}

func entrySize(e *entry) int { return len(e.name) + len(e.value) + 32 }

// add inserts a field as the newest entry (RFC 7541 §4.4).
func (t *table) add(name, value []byte, nameUnknown, valueUnknown bool) {
	size := len(name) + len(value) + 32
	if size > t.max {
		// Larger than the table: the encoder empties it and inserts nothing.
		t.evict(t.max + 1)
		return
	}
	t.evict(size)
	if t.n == len(t.ring) {
		grown := make([]entry, max(8, 2*len(t.ring)))
		for i := 0; i < t.n; i++ {
			grown[i] = t.ring[(t.first+i)%len(t.ring)]
		}
		t.ring, t.first = grown, 0
	}
	e := &t.ring[(t.first+t.n)%len(t.ring)]
	e.name, e.value = append(e.name[:0], name...), append(e.value[:0], value...)
	e.nameUnknown, e.valueUnknown = nameUnknown, valueUnknown
	t.n++
	t.size += size
}

// field is one decoded header field. known is false when its name could not be resolved;
// valueKnown when its value could.
type field struct {
	name, value       []byte
	known, valueKnown bool
}

// lookup resolves index i of the static or dynamic table. ok is false for an index that is
// neither (a malformed block, or, when the table is incomplete, an entry never seen: f.known and
// f.valueKnown are then false).
func (t *table) lookup(i uint64, f *field) (ok bool) {
	switch {
	case i == 0:
		return false
	case i <= uint64(len(staticTable)):
		s := &staticTable[i-1]
		f.name, f.value, f.known, f.valueKnown = s[0], s[1], true, true
		return true
	case i-uint64(len(staticTable)) <= uint64(t.n):
		e := t.at(int(i - uint64(len(staticTable))))
		f.name, f.value, f.known, f.valueKnown = e.name, e.value, !e.nameUnknown, !e.valueUnknown
		return true
	}
	f.name, f.value, f.known, f.valueKnown = nil, nil, false, false
	return t.incomplete
}

// decode reads one complete header block and calls emit for each field. A field that references
// an entry the decoder never saw is emitted unresolved. An error means the block is malformed:
// the table is then reset, since what the block inserted is unknown.
func (t *table) decode(p []byte, emit func(*field)) error {
	if err := t.decodeBlock(p, emit); err != nil {
		t.reset()
		return err
	}
	return nil
}

func (t *table) decodeBlock(p []byte, emit func(*field)) error {
	f := &t.f
	for len(p) > 0 {
		b := p[0]
		switch {
		case b&0x80 != 0: // indexed field
			i, n, ok := readInt(p, 7)
			if !ok || !t.lookup(i, f) {
				return errCompression
			}
			p = p[n:]
			emit(f)
		case b&0xe0 == 0x20: // dynamic table size update
			v, n, ok := readInt(p, 5)
			if !ok || t.limitKnown && v > uint64(t.allowed) {
				return errCompression
			}
			p = p[n:]
			t.max = int(min(v, MaxTable))
			t.evict(0)
		default: // literal: with incremental indexing (01), without (0000) or never indexed (0001)
			indexing := b&0xc0 == 0x40
			prefix := uint8(4)
			if indexing {
				prefix = 6
			}
			i, n, ok := readInt(p, prefix)
			if !ok {
				return errCompression
			}
			p = p[n:]
			if i == 0 {
				s, n, ok := t.readString(p, &t.scratchName)
				if !ok {
					return errCompression
				}
				p = p[n:]
				f.name, f.known = s, true
			} else if !t.lookup(i, f) {
				return errCompression
			}
			v, n, ok := t.readString(p, &t.scratchVal)
			if !ok {
				return errCompression
			}
			p = p[n:]
			f.value, f.valueKnown = v, true
			emit(f)
			if indexing {
				t.add(f.name, f.value, !f.known, false)
			}
		}
	}
	return nil
}

// readInt reads an HPACK integer with an n-bit prefix (RFC 7541 §5.1), bounded to 2^28.
func readInt(p []byte, n uint8) (v uint64, size int, ok bool) {
	if len(p) == 0 {
		return 0, 0, false
	}
	mask := uint64(1)<<n - 1
	v = uint64(p[0]) & mask
	if v < mask {
		return v, 1, true
	}
	var shift uint
	for i := 1; i < len(p) && i <= 5; i++ {
		b := p[i]
		v += uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, i + 1, v < 1<<28
		}
		shift += 7
	}
	return 0, 0, false
}

// readString reads a string literal (RFC 7541 §5.2); a Huffman-coded one is decoded into buf.
func (t *table) readString(p []byte, buf *bytes.Buffer) ([]byte, int, bool) {
	l, n, ok := readInt(p, 7)
	if !ok || l > uint64(len(p)-n) {
		return nil, 0, false
	}
	s := p[n : n+int(l)]
	if p[0]&0x80 == 0 {
		return s, n + int(l), true
	}
	buf.Reset()
	if _, err := hpack.HuffmanDecode(buf, s); err != nil {
		return nil, 0, false
	}
	return buf.Bytes(), n + int(l), true
}
