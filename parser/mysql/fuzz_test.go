package mysql

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse plays arbitrary reads (parsertest.FuzzReads) in both directions through one
// connection, as the observer would, with newDriver checking every result against the contract,
// then the same bytes one at a time, then parses the raw input in one piece
// (parsertest.CheckWhole). Seeds: the captures, a query,
// a handshake, a prepared statement, and packets longer than the parser waits for.
func FuzzParse(f *testing.F) {
	parsertest.SeedCaptureCases(f, "testdata", captureCases)
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(query("SELECT 1")), resp(textResult)}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{resp(greeting), req(login), resp(authMore), resp(authOK)}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(pkt(0, "\x16SELECT ?")), resp(pkts(1, "\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef)), resp(pkt(3, eofPacket))}))
	// Packets announced longer than the parser waits for (16 KiB) of which only the start
	// arrived: the paths that trust a length field without the bytes behind it.
	long := func(seq byte, n int, start string) string {
		return string([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}) + start
	}
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(long(0, 20000, "\x03SELECT 1")), resp(long(1, 20000, "\x01"))}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(pkt(0, "\x16SELECT ?")), resp(pkts(1, "\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef)),
		req(long(0, 20000, "\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\xfd\x00")), resp(pkt(1, okPacket))}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(query("SELECT b FROM t")), resp(pkts(1, "\x01", colDef("b"), eofPacket) + long(4, 20000, "\xfc\x1c\x4e"))}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsertest.FuzzDriven(t, data, newDriver, parser.Parser[Message](NewConn(parser.NewInterner(100))))
	})
}
