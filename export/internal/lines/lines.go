package lines

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/netobserver/netobserver/export"
)

// maxRetainedBuf is the largest line buffer kept between Flushes: one huge batch should not pin
// its buffer for the life of the process.
const maxRetainedBuf = 4 << 20

// Buffer holds one Flush's lines.
type Buffer struct {
	// B holds the lines, each ending in '\n'.
	B []byte
	// Ends holds the end offset of each line in B, for rotating between lines.
	Ends []int
}

// EndLine marks the end of the line just appended to B.
func (b *Buffer) EndLine() { b.Ends = append(b.Ends, len(b.B)) }

// Output is where a Flusher's lines go.
type Output interface {
	// WriteLines writes whole lines; on error they count as lost.
	WriteLines(b *Buffer) error
	// Reopen closes the output and opens it again (after logrotate moved a file away).
	Reopen() error
	Close() error
}

// Flusher is the part of a line flusher that is not its format. It is safe for concurrent use;
// the lines of concurrent Flushes never interleave.
type Flusher struct {
	name      string // the flusher type, in errors
	errClosed error
	out       Output

	mu     sync.Mutex
	closed bool
	buf    Buffer

	written, failed, reopens atomic.Uint64
}

// New returns the Flusher of flusher type name writing to out; errClosed is what Flush and
// Reopen return after Close.
func New(name string, errClosed error, out Output) *Flusher {
	return &Flusher{name: name, errClosed: errClosed, out: out, buf: Buffer{B: make([]byte, 0, 4096)}}
}

// Flush has encode append the lines of n records to the buffer, under the lock, and writes them.
// On a write error all n records count as failed and the error says so.
func (f *Flusher) Flush(n int, encode func(b *Buffer)) error {
	if n == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.failed.Add(uint64(n))
		return f.errClosed
	}
	f.buf.B, f.buf.Ends = f.buf.B[:0], f.buf.Ends[:0]
	encode(&f.buf)
	err := f.out.WriteLines(&f.buf)
	if cap(f.buf.B) > maxRetainedBuf {
		f.buf = Buffer{}
	}
	if err != nil {
		f.failed.Add(uint64(n))
		return fmt.Errorf("%s: %d records lost: %w", f.name, n, err)
	}
	f.written.Add(uint64(n))
	return nil
}

// Reopen reopens the output: call it on SIGHUP. If opening fails the error is returned and the
// next Flush tries again.
func (f *Flusher) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.errClosed
	}
	if err := f.out.Reopen(); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	f.reopens.Add(1)
	return nil
}

// Close closes the output; later Flushes fail with errClosed.
func (f *Flusher) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if err := f.out.Close(); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	return nil
}

// Totals implements export.Counted.
func (f *Flusher) Totals() export.Totals {
	return export.Totals{Written: f.written.Load(), Failed: f.failed.Load()}
}

// Reopens is the number of successful Reopen calls.
func (f *Flusher) Reopens() uint64 { return f.reopens.Load() }

// Stream is an Output of an io.Writer (standard output): nothing to reopen or close.
type Stream struct {
	W interface{ Write([]byte) (int, error) }
}

func (s Stream) WriteLines(b *Buffer) error { _, err := s.W.Write(b.B); return err }
func (Stream) Reopen() error                { return nil }
func (Stream) Close() error                 { return nil }
