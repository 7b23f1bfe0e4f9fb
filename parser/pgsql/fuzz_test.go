package pgsql

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse plays arbitrary reads (parsertest.FuzzReads) through one connection with newDriver,
// which checks the contract on every result, and parses each input whole with
// parsertest.CheckWhole. Besides the captures, the seeds cover start-up, simple and extended
// queries and COPY.
func FuzzParse(f *testing.F) {
	parsertest.SeedCaptureCases(f, "testdata", captureCases)
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(sslRequest), resp("N"), req(startup), resp(cat(authOK, paramStatus, backendKey, readyIdle))}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(q("SELECT 1")), resp(selectResult)}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(cat(parse("s", "SELECT $1"), bind("", "s"), execute(""), syncMsg)), resp(cat(parseComplete, bindComplete, dataRow1, select2, readyIdle))}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(q("COPY t FROM STDIN")), resp(m('G', "\x00\x00\x00")), req(m('d', "x") + m('c', "")), resp(cat(m('C', "COPY 1\x00"), readyIdle))}))
	f.Fuzz(func(t *testing.T, data []byte) {
		newDriver(t).Play(parsertest.FuzzReads(data))
		parsertest.CheckWhole(t, NewConn(parser.NewInterner(100)), data)
	})
}
