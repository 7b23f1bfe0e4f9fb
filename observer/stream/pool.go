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
	wanted  bool // an array or a Buffer was asked for since the last Trim
}

// Trim empties the Pool when nothing was asked of it since the last Trim: what a burst of
// connections left in it goes to the garbage collector once the burst is over. (Asked, not
// taken: what a busy connection gives back after each batch, to take it again in the next,
// must not be dropped because the Pool was empty when it last asked.)
func (p *Pool) Trim() {
	if !p.wanted {
		clear(p.free)
		clear(p.buffers)
		p.free, p.buffers = nil, nil
	}
	p.wanted = false
}

// reuse returns a Buffer given up for its Rest, or nil.
func (p *Pool) reuse() *Buffer {
	p.wanted = true
	n := len(p.buffers)
	if n == 0 {
		return nil
	}
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
	p.wanted = true
	if n := len(p.free); n > 0 {
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
