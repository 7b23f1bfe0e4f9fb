package parsertest

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// BenchCycle parses reqs and resps repeatedly on c, after the reads of setup, and reports
// throughput over both and allocations per message (two messages per cycle).
func BenchCycle[M Message](b *testing.B, c parser.Parser[M], setup []Read, reqs, resps []byte) {
	var m M
	for _, ch := range setup {
		for buf := ch.Data; len(buf) > 0; {
			r := c.Parse(buf, ch.Type, &m)
			if r.Consumed == 0 {
				b.Fatalf("setup: %v", r)
			}
			buf = buf[min(r.Consumed, len(buf)):]
		}
	}
	b.SetBytes(int64(len(reqs) + len(resps)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.Parse(reqs, parser.Request, &m); r.Status != parser.Complete {
			b.Fatalf("request: %v", r)
		}
		if r := c.Parse(resps, parser.Response, &m); r.Status != parser.Complete {
			b.Fatalf("response: %v", r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() {
		c.Parse(reqs, parser.Request, &m)
		c.Parse(resps, parser.Response, &m)
	}))/2, "allocs/msg")
}
