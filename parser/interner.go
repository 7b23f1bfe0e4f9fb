package parser

// Interner turns byte slices into strings, allocating only the first time a value is seen, so
// that parsing the same method, path or command again costs nothing. It holds at most Limit
// distinct values; past that, new values are returned as fresh strings and counted in Misses.
// An Interner is used by one goroutine.
type Interner struct {
	limit  int
	values map[string]string
	// Misses counts strings returned uninterned because the table was full.
	Misses uint64
}

// NewInterner returns an Interner holding at most limit distinct values.
func NewInterner(limit int) *Interner {
	return &Interner{limit: limit, values: make(map[string]string)}
}

// Bytes returns b as a string.
func (in *Interner) Bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.values[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.values) >= in.limit {
		in.Misses++
		return s
	}
	in.values[s] = s
	return s
}

// Len is the number of interned values.
func (in *Interner) Len() int { return len(in.values) }
