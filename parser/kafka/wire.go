package kafka

import "encoding/binary"

// reader reads Kafka's primitive types from the start of a message, as far as the buffer goes.
// Reading past the buffer sets short; a value no message can hold (a negative length) sets bad.
// Either makes every later read return zero, so a caller checks once at the end.
type reader struct {
	b          []byte
	off        int
	flex       bool // compact strings and arrays, tagged fields
	short, bad bool
}

func (r *reader) ok() bool { return !r.short && !r.bad }

func (r *reader) take(n int) []byte {
	if !r.ok() {
		return nil
	}
	if n < 0 {
		r.bad = true
		return nil
	}
	if n > len(r.b)-r.off {
		r.short = true
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) skip(n int) { r.take(n) }

func (r *reader) int16() int16 {
	if p := r.take(2); p != nil {
		return int16(binary.BigEndian.Uint16(p))
	}
	return 0
}

func (r *reader) int32() int32 {
	if p := r.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

// uvarint reads an unsigned varint of at most 5 bytes (Kafka's lengths and counts are 32-bit).
func (r *reader) uvarint() uint32 {
	var v uint32
	for i := 0; i < 5; i++ {
		p := r.take(1)
		if p == nil {
			return 0
		}
		v |= uint32(p[0]&0x7f) << (7 * i)
		if p[0] < 0x80 {
			return v
		}
	}
	r.bad = true
	return 0
}

// length reads a string's or an array's length: int16 (strings) or int32 (arrays) when not
// flexible, else a compact uvarint of length+1. Null is -1.
func (r *reader) length(array bool) int {
	switch {
	case r.flex:
		return int(r.uvarint()) - 1
	case array:
		return int(r.int32())
	default:
		return int(r.int16())
	}
}

// str reads a nullable string; null and empty are both nil.
func (r *reader) str() []byte {
	n := r.length(false)
	if n < -1 {
		r.bad = true
	}
	if n <= 0 {
		return nil
	}
	return r.take(n)
}

// array reads an array's length; null is 0.
func (r *reader) array() int {
	n := r.length(true)
	if n < -1 {
		r.bad = true
	}
	return max(n, 0)
}

// tags skips a flexible message's tagged fields.
func (r *reader) tags() {
	if !r.flex {
		return
	}
	for n := r.uvarint(); n > 0 && r.ok(); n-- {
		r.uvarint()
		r.skip(int(r.uvarint()))
	}
}
