package http

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse runs parsertest.FuzzStreams: arbitrary requests and responses, each whole and
// both interleaved in small reads, with checkResult on every result: the contract, then no query
// string or fragment in Resource, a status code in range on responses, a method and an HTTP
// version on requests. Seeds: the samples, pipelining, interim responses, chunked bodies and the
// beginnings of the captures.
func FuzzParse(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s.in), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), uint8(7))
	}
	f.Add([]byte("HEAD / HTTP/1.1\r\n\r\nGET /x?y HTTP/1.0\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.0 200 OK\r\n\r\nrest"), uint8(3))
	f.Add([]byte("CONNECT h:1 HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\x16\x03"), uint8(1))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n"), []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n"), uint8(0))
	// Small seeds keep minimisation, which replays an input many times, quick.
	parsertest.SeedCaptures(f, filepath.Join("testdata", "captures"), 400)
	f.Fuzz(fuzzParse)
}

func fuzzParse(t *testing.T, reqs, resps []byte, step uint8) {
	parsertest.FuzzStreams(t, newConn, checkResult, reqs, resps, step)
}

// checkResult checks the contract, with Consumed bounded by what a header may announce, and the
// fields HTTP fills.
func checkResult(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{Beyond: maxBody + MaxHeader, ExactSize: true})
	if r.Status != parser.Complete {
		return
	}
	if strings.ContainsAny(m.Resource, "?#") && m.Method != "CONNECT" {
		t.Fatalf("resource %q", m.Resource)
	}
	if typ == resp && (m.Status < 100 || m.Status > 599 || m.Success != (m.Status < 400)) {
		t.Fatalf("%+v", m)
	}
	if typ == req && (m.Method == "" || m.Version != "1.1" && m.Version != "1.0") {
		t.Fatalf("%+v", m)
	}
}
