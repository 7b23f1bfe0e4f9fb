package mysql

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse plays arbitrary reads (parsertest.FuzzReads) in both directions through one
// connection, as the observer would, with newDriver checking every result against the contract,
// then parses the raw input in one piece (parsertest.CheckWhole). Seeds: the captures, a query,
// a handshake, a prepared statement.
func FuzzParse(f *testing.F) {
	parsertest.SeedCaptureCases(f, "testdata", captureCases)
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(query("SELECT 1")), resp(textResult)}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{resp(greeting), req(login), resp(authMore), resp(authOK)}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(pkt(0, "\x16SELECT ?")), resp(pkts(1, "\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef)), resp(pkt(3, eofPacket))}))
	f.Fuzz(func(t *testing.T, data []byte) {
		newDriver(t).Play(parsertest.FuzzReads(data))
		// Every Parse entry point also survives the raw input in one piece.
		parsertest.CheckWhole(t, NewConn(parser.NewInterner(100)), data)
	})
}
