package stream

// pooledArray is the size of the arrays a Pool lends: a new buffer's first array, enough for the
// small messages most connections carry.
const pooledArray = 512

// maxPooled bounds the arrays a Pool keeps (2 MiB): enough for the connections active in one
// batch; more idle arrays go to the garbage collector.
const maxPooled = 4096

// Pool lends backing arrays to the Buffers of many connections, so that a connection holds one
// only while it holds bytes. Used by one goroutine, like its Buffers.
type Pool struct{ free [][]byte }

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
