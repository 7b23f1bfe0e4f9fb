package mysql

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// benchCycle parses reqs and resps repeatedly on a fresh connection, after setup.
func benchCycle(b *testing.B, setup []parsertest.Read, reqs, resps []byte) {
	parsertest.BenchCycle(b, NewConn(parser.NewInterner(1000)), setup, reqs, resps)
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
