package dns

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse feeds arbitrary bytes as either message type. Besides never panicking, Parse must be
// self-consistent: a Complete message fits in the buffer, parses the same when cut to its size,
// and its address records can be read; FindBoundary stays in range.
func FuzzParse(f *testing.F) {
	for _, tc := range literalCases() {
		f.Add(tc.buf, tc.typ == parser.Response)
		f.Add(tcp(tc.buf), tc.typ == parser.Response)
		f.Add(withID(tc.buf, uint16(len(tc.buf)-2)), tc.typ == parser.Response)
	}
	for _, tc := range captures {
		for _, s := range readCapture(f, tc.name) {
			for _, seg := range s.segs {
				f.Add(seg, (s.side == "client") != s.send)
			}
		}
	}
	in := parser.NewInterner(1 << 10)
	f.Fuzz(func(t *testing.T, buf []byte, response bool) {
		typ := parser.Request
		if response {
			typ = parser.Response
		}
		c := NewConn(in)
		var m Message
		r := c.Parse(buf, typ, &m)
		switch r.Status {
		case parser.Complete:
			if r.Consumed < headerLen || r.Consumed > len(buf) || m.Size != r.Consumed || m.Type != typ {
				t.Fatalf("complete: consumed %d of %d, msg %+v", r.Consumed, len(buf), m)
			}
			var again Message
			if r2 := NewConn(in).Parse(buf[:r.Consumed], typ, &again); r2 != r || again != m {
				t.Fatalf("re-parse of the message alone: %+v %+v, first %+v %+v", r2, again, r, m)
			}
			if typ == parser.Response {
				n := 0
				if err := new(AddrReader).Read(buf[:r.Consumed], func(AddrRecord) bool { n++; return true }); err != nil || n > m.Answers {
					t.Fatalf("Read after Complete: %v, %d records of %d answers", err, n, m.Answers)
				}
			}
		case parser.NeedMore, parser.Invalid:
			if r.Consumed != 0 {
				t.Fatalf("%v with consumed %d", r.Status, r.Consumed)
			}
		default:
			t.Fatalf("status %v", r.Status)
		}
		parsertest.CheckBoundary(t, buf, c.FindBoundary(buf, typ))
		AppendAddrs(nil, buf)
	})
}
