package mysql

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// benchCycle parses req and resp repeatedly on one connection and reports throughput over both
// and allocations per message (two messages per cycle).
func benchCycle(b *testing.B, setup []parsertest.Read, reqs, resps []byte) {
	c := NewConn(parser.NewInterner(1000))
	var m Message
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

func BenchmarkQueryOK(b *testing.B) {
	benchCycle(b, nil, []byte(query("UPDATE pgbench_accounts SET abalance = abalance + -4212 WHERE aid = 84373")), []byte(pkt(1, okRows)))
}

func BenchmarkQueryResultSet(b *testing.B) {
	rows := []string{"\x03", colDef("id"), colDef("name"), colDef("price"), eofPacket}
	for i := 0; i < 100; i++ {
		rows = append(rows, "\x0212\x05apple\x040.50")
	}
	rows = append(rows, eofPacket)
	benchCycle(b, nil, []byte(query("SELECT id, name, price FROM items WHERE price > 0.6 OR id IN (1, 3, 5, 7) ORDER BY id")), []byte(pkts(1, rows...)))
}

func BenchmarkPreparedExecute(b *testing.B) {
	setup := []parsertest.Read{
		req(pkt(0, "\x16SELECT name FROM items WHERE id = ?")),
		resp(pkts(1, "\x00\x07\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00", paramDef, eofPacket, colDef("name"), eofPacket)),
	}
	exec := pkt(0, "\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00")
	benchCycle(b, setup, []byte(exec), []byte(pkts(1, "\x01", colDef("name"), eofPacket, "\x00\x00\x04pear", eofPacket)))
}
