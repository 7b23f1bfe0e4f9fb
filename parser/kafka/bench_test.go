package kafka

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// BenchmarkProduce parses a flexible Produce request naming one topic and its response, on one
// connection: allocs/msg is 0 once the topic is interned.
func BenchmarkProduce(b *testing.B) {
	req, resp := produceSample()
	parsertest.BenchCycle[Message](b, NewConn(parser.NewInterner(100)), nil, req, resp)
}
