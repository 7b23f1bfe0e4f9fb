package stream

// pooledArray is the size of the arrays a Pool lends: a new buffer's first array, enough for the
// small messages most connections carry.
const pooledArray = 512

// maxPooled bounds the arrays a Pool keeps (2 MiB): enough for the connections active in one
// batch; more idle arrays go to the garbage collector.
const maxPooled = 4096

// maxPooledBuffers bounds the Buffers a Pool keeps for Resume (about 300 KiB).
const maxPooledBuffers = 1024

// Pool lends backing arrays to the Buffers of many connections, so that a connection holds one
// only while it holds bytes, and keeps Buffers given up for their Rest for Resume to make again:
// a connection that rests between calls then allocates nothing to speak. Used by one goroutine,
// like its Buffers.
type Pool struct {
	free    [][]byte
	buffers []*Buffer
}

// reuse returns a Buffer given up for its Rest, or nil.
func (p *Pool) reuse() *Buffer {
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
