package stream

// pooledArray is the size of the arrays a Pool lends: a new buffer's first array, enough for the
// small messages most connections carry.
const pooledArray = 512

// maxPooled bounds the arrays a Pool keeps (2 MiB): enough for the connections active in one
// batch; more idle arrays go to the garbage collector.
const maxPooled = 4096

// maxPooledBuffers bounds the Buffers a Pool keeps for Resume (about 1.2 MiB, only while a burst
// of connections lasts: see Trim): what rests in one walk of a burst of 10 000 connections a
// second, both ends observed, two Buffers each.
const maxPooledBuffers = 4096

// Pool lends backing arrays to the Buffers of many connections, so that a connection holds one
// only while it holds bytes, and keeps Buffers given up for their Rest for Resume to make again:
// a connection that rests between calls then allocates nothing to speak. Used by one goroutine,
// like its Buffers.
type Pool struct {
	free    [][]byte
	buffers []*Buffer
	taken   bool // since the last Trim
}

// Trim empties the Pool when nothing was taken from it since the last Trim: what a burst of
// connections left in it goes to the garbage collector once the burst is over.
func (p *Pool) Trim() {
	if !p.taken {
		clear(p.free)
		clear(p.buffers)
		p.free, p.buffers = nil, nil
	}
	p.taken = false
}

// reuse returns a Buffer given up for its Rest, or nil.
func (p *Pool) reuse() *Buffer {
	n := len(p.buffers)
	if n == 0 {
		return nil
	}
	p.taken = true
	b := p.buffers[n-1]
	p.buffers[n-1] = nil
	p.buffers = p.buffers[:n-1]
	return b
}

func (p *Pool) keep(b *Buffer) {
	if len(p.buffers) < maxPooledBuffers {
		p.buffers = append(p.buffers, b)
	}
}

func (p *Pool) get() []byte {
	if n := len(p.free); n > 0 {
		p.taken = true
		a := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return a
	}
	return make([]byte, pooledArray)
}

func (p *Pool) put(a []byte) {
	if len(p.free) < maxPooled {
		p.free = append(p.free, a)
	}
}

// Len is the number of arrays the Pool holds for lending.
func (p *Pool) Len() int { return len(p.free) }
