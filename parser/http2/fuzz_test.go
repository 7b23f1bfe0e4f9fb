package http2

import (
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse runs parsertest.FuzzStreams over arbitrary client and server streams, checking each
// result and that the state stays bounded.
func FuzzParse(f *testing.F) {
	w := newWire(true).settings()
	w.headers(1, false, get("/a?b=c")...).data(1, true, 3)
	w.headers(3, true, get("/b")...)
	s := newWire(false).settings()
	s.headers(3, false, ":status", "200", "content-type", "application/grpc").data(3, false, 2)
	s.headers(3, true, "grpc-status", "2")
	f.Add(w.bytes(), s.bytes(), uint8(9))
	parsertest.SeedCaptures(f, filepath.Join("testdata", "captures"), 600)
	f.Fuzz(func(t *testing.T, reqs, resps []byte, step uint8) {
		c := parsertest.FuzzStreams(t, newConn, checkResult, reqs, resps, step).Conn.(*Conn)
		for _, d := range c.dir {
			if len(d.streams) > maxStreams || len(d.block) > maxBlock || d.table.size > MaxTable || d.table.n > MaxTable/32 {
				t.Fatalf("state out of bounds: %d streams, %d block, table %d/%d", len(d.streams), len(d.block), d.table.size, d.table.n)
			}
		}
	})
}

func checkResult(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{Beyond: maxFrameLimit + headerLen})
	if r.Status == parser.Complete && (len(m.Authority) > maxAuthority || m.Stream == 0 || m.Partial != m.Truncated) {
		t.Fatalf("%+v", *m)
	}
}
