package mysql

import (
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// req and resp make a read of the request and of the response stream.
var req, resp = parsertest.Req, parsertest.Resp

// pkt builds a packet: 3-byte length, sequence id, payload.
func pkt(seq byte, payload string) string {
	n := len(payload)
	return string([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}) + payload
}

// pkts concatenates packets with sequence ids from seq on.
func pkts(seq byte, payloads ...string) string {
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString(pkt(seq, p))
		seq++
	}
	return b.String()
}

// newDriver plays the observer for a fresh MySQL connection, checking every Parse and
// FindBoundary result against the contract, with statements within MaxStatement.
func newDriver(t testing.TB) *parsertest.Driver {
	d := parsertest.NewDriver(t, Protocol.NewConn(parser.NewInterner(1000)))
	d.Check = parsertest.Contract(parsertest.Limits{MaxResource: MaxStatement, MaxMethod: 32})
	return d
}
