package pgsql

import (
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// benchCycle parses reqs and resps repeatedly on one connection and reports throughput over both
// and allocations per message (two messages per cycle).
func benchCycle(b *testing.B, setup []parsertest.Read, reqs, resps []byte) {
	c := NewConn(parser.NewInterner(1000))
	var msg Message
	for _, ch := range setup {
		for buf := ch.Data; len(buf) > 0; {
			r := c.Parse(buf, ch.Type, &msg)
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
		if r := c.Parse(reqs, parser.Request, &msg); r.Status != parser.Complete {
			b.Fatalf("request: %v", r)
		}
		if r := c.Parse(resps, parser.Response, &msg); r.Status != parser.Complete {
			b.Fatalf("response: %v", r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() {
		c.Parse(reqs, parser.Request, &msg)
		c.Parse(resps, parser.Response, &msg)
	}))/2, "allocs/msg")
}

func BenchmarkSimpleQuery(b *testing.B) {
	benchCycle(b, nil, []byte(q("UPDATE pgbench_accounts SET abalance = abalance + -4212 WHERE aid = 84373;")),
		[]byte(cat(m('C', "UPDATE 1\x00"), readyInTx)))
}

func BenchmarkSimpleQueryRows(b *testing.B) {
	rows := strings.Repeat(m('D', "\x00\x03\x00\x00\x00\x0212\x00\x00\x00\x05apple\x00\x00\x00\x040.50"), 100)
	benchCycle(b, nil, []byte(q("SELECT id, name, price FROM items WHERE price > 0.6 OR id IN (1, 3, 5, 7) ORDER BY id")),
		[]byte(cat(rowDesc1, rows, m('C', "SELECT 100\x00"), readyIdle)))
}

func BenchmarkExtendedUnnamed(b *testing.B) {
	benchCycle(b, nil, []byte(cat(parse("", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"), bind("", ""), describePortal(""), execute(""), syncMsg)),
		[]byte(cat(parseComplete, bindComplete, rowDesc1, dataRow1, select2, readyInTx)))
}

func BenchmarkPrepared(b *testing.B) {
	setup := []parsertest.Read{req(cat(parse("P0_2", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"), syncMsg)), resp(cat(parseComplete, readyIdle))}
	benchCycle(b, setup, []byte(cat(bind("", "P0_2"), describePortal(""), execute(""), syncMsg)),
		[]byte(cat(bindComplete, rowDesc1, dataRow1, select2, readyInTx)))
}
