package pgsql

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse plays arbitrary reads (parsertest.FuzzReads) through one connection with newDriver,
// which checks the contract on every result, then the same bytes one at a time, and parses each
// input whole with parsertest.CheckWhole. Besides the captures, the seeds cover start-up, simple
// and extended queries, COPY, and messages longer than the parser waits for.
func FuzzParse(f *testing.F) {
	parsertest.SeedCaptureCases(f, "testdata", captureCases)
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(sslRequest), resp("N"), req(startup), resp(cat(authOK, paramStatus, backendKey, readyIdle))}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(q("SELECT 1")), resp(selectResult)}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(cat(parse("s", "SELECT $1"), bind("", "s"), execute(""), syncMsg)), resp(cat(parseComplete, bindComplete, dataRow1, select2, readyIdle))}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(q("COPY t FROM STDIN")), resp(m('G', "\x00\x00\x00")), req(m('d', "x") + m('c', "")), resp(cat(m('C', "COPY 1\x00"), readyIdle))}))
	// Messages announced longer than the parser waits for (16 KiB) of which only the start
	// arrived: the paths that trust a length field without the bytes behind it.
	long := func(t byte, n int, start string) string {
		return string([]byte{t, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + start
	}
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(long('Q', 20000, "SELECT 1")), resp(cat(long('T', 20000, "\x00\x01")))}))
	f.Add(parsertest.FuzzInput([]parsertest.Read{req(long('P', 20000, "s\x00INSERT")), req(cat(bind("", "s"), execute(""), syncMsg)),
		resp(cat(parseComplete, bindComplete, long('D', 20000, "\x00\x01\x00\x00\x4e\x20")))}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsertest.FuzzDriven(t, data, newDriver, parser.Parser[Message](NewConn(parser.NewInterner(100))))
	})
}
