package http2

import (
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/internal/benchcpu"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// h2loadCycle returns a Conn that parsed the start of h2load's capture (preface, SETTINGS, the
// first request, which fills the client's table), and one request (a HEADERS of table
// references) and one response (HEADERS and DATA) of that capture, parsed again and again.
func h2loadCycle(t *testing.T) (c *Conn, req, resp []byte) {
	cp := parsertest.Load(t, filepath.Join("testdata", "captures", "h2load-1"))
	reqs, resps := cp.Stream(parser.Request), cp.Stream(parser.Response)
	c = newConn()
	completes(t, c, parser.Request, reqs[:100])
	completes(t, c, parser.Response, resps[:49])
	return c, reqs[100:114], resps[49 : 49+176]
}

// cycle parses req and resp, one message each, frame by frame.
func cycle(c *Conn, req, resp []byte) (n int) {
	var m Message
	for _, s := range []struct {
		typ parser.MessageType
		b   []byte
	}{{parser.Request, req}, {parser.Response, resp}} {
		for b := s.b; len(b) > 0; {
			r := c.Parse(b, s.typ, &m)
			if r.Status == parser.Complete {
				n++
			}
			if r.Consumed == 0 {
				return n
			}
			b = b[min(r.Consumed, len(b)):]
		}
	}
	return n
}

// Steady state allocates nothing per message: strings are interned, the table's entries and the
// open streams reuse their memory.
func TestNoAllocs(t *testing.T) {
	c, req, resp := h2loadCycle(t)
	if n := cycle(c, req, resp); n != 2 {
		t.Fatalf("%d messages per cycle", n)
	}
	// nginx inserts fields of every response into the table (and never refers to them): until
	// the table is full and evicting, new entries take new memory.
	for range 200 {
		cycle(c, req, resp)
	}
	if a := testing.AllocsPerRun(100, func() { cycle(c, req, resp) }); a != 0 {
		t.Fatalf("%v allocations per cycle", a)
	}
}

func BenchmarkCycle(b *testing.B) {
	c, req, resp := h2loadCycle(&testing.T{})
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	defer benchcpu.Report(b, len(req)+len(resp))()
	for b.Loop() {
		cycle(c, req, resp)
	}
}
