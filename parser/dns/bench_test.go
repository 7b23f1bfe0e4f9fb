package dns

import (
	"net/netip"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// BenchmarkParse parses real captured messages (queries and responses, UDP and TCP framing) in
// turn; one op is one message, so allocs/op is allocations per message.
func BenchmarkParse(b *testing.B) {
	type msg struct {
		buf []byte
		typ parser.MessageType
	}
	var msgs []msg
	total := 0
	for _, tc := range captures {
		for _, s := range readCapture(b, tc.name) {
			if s.side != "client" || len(s.segs) != 1 {
				continue // writev'd TCP queries are split in two segments; their joined form is below
			}
			typ := parser.Request
			if !s.send {
				typ = parser.Response
			}
			msgs = append(msgs, msg{s.segs[0], typ})
			total += len(s.segs[0])
		}
	}
	msgs = append(msgs, msg{tcp(queryA), parser.Request}, msg{respChain, parser.Response})
	total += len(queryA) + 2 + len(respChain)
	c := NewConn(parser.NewInterner(1024))
	var m Message
	b.SetBytes(int64(total / len(msgs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := msgs[i%len(msgs)]
		if r := c.Parse(x.buf, x.typ, &m); r.Status != parser.Complete {
			b.Fatalf("%v", r.Status)
		}
	}
}

func BenchmarkAppendAddrs(b *testing.B) {
	dst := make([]netip.Addr, 0, 8)
	b.SetBytes(int64(len(respChain)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst, _ = AppendAddrs(dst[:0], respChain)
	}
}
