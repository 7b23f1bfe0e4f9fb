package pgsql

import (
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// benchCycle parses reqs and resps repeatedly on a fresh connection, after setup.
func benchCycle(b *testing.B, setup []parsertest.Read, reqs, resps []byte) {
	parsertest.BenchCycle(b, NewConn(parser.NewInterner(1000)), setup, reqs, resps)
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
