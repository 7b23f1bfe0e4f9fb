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
func newDriver(t testing.TB) *parsertest.Driver[Message] {
	d := parsertest.NewDriver(t, NewConn(parser.NewInterner(1000)))
	d.Check = check
	d.Line = line
	return d
}

// check is the contract, with statements within MaxStatement and verbs within 32 bytes.
func check(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{})
	if r.Status == parser.Complete && (len(m.Resource) > MaxStatement || len(m.Method) > 32) {
		t.Fatalf("method %q, resource %q: too long", m.Method, m.Resource)
	}
}

// line renders a message for Driver.Lines.
func line(m Message) string { return parsertest.Line(m.Frame(), m.Method, m.Resource) }
