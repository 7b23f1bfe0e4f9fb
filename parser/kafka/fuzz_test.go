package kafka

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse plays arbitrary reads (parsertest.FuzzReads) in both directions through one
// connection, as the observer would, with newDriver checking every result against the contract,
// then the same bytes one at a time, then parses the raw input in one piece
// (parsertest.CheckWhole). Seeds: the captures, a flexible Produce and its response, and a
// request announcing more than the parser waits for.
func FuzzParse(f *testing.F) {
	parsertest.SeedCaptureCases(f, "testdata", captureCases)
	req, resp := produceSample()
	f.Add(parsertest.FuzzInput([]parsertest.Read{{Type: parser.Request, Data: req}, {Type: parser.Response, Data: resp}}))
	long := append([]byte{0, 1, 0, 0}, req[4:]...)
	f.Add(parsertest.FuzzInput([]parsertest.Read{{Type: parser.Request, Data: long}, {Type: parser.Response, Data: resp}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsertest.FuzzDriven(t, data, newDriver, parser.Parser[Message](NewConn(parser.NewInterner(100))))
	})
}
