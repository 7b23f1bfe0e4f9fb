package http

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// FuzzParse feeds arbitrary bytes as both directions of a connection, whole and in reads of
// step bytes, and checks the contract: no panic, valid statuses, Consumed 0 unless Complete or
// Ignored and then positive and bounded, sizes consistent, boundaries inside the buffer, no
// query string in Resource.
func FuzzParse(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s.in), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), uint8(7))
	}
	f.Add([]byte("HEAD / HTTP/1.1\r\n\r\nGET /x?y HTTP/1.0\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.0 200 OK\r\n\r\nrest"), uint8(3))
	f.Add([]byte("CONNECT h:1 HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\x16\x03"), uint8(1))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n"), []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n"), uint8(0))
	names, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.c2s"))
	for _, name := range names {
		c2s, _ := os.ReadFile(name)
		s2c, _ := os.ReadFile(strings.TrimSuffix(name, ".c2s") + ".s2c")
		// Small seeds keep minimisation, which replays an input many times, quick.
		f.Add(c2s[:min(len(c2s), 400)], s2c[:min(len(s2c), 400)], uint8(len(c2s)))
	}
	f.Fuzz(fuzzParse)
}

func fuzzParse(t *testing.T, reqs, resps []byte, step uint8) {
	if len(reqs) > 8<<10 || len(resps) > 8<<10 {
		// Bigger inputs make each run, and minimisation, slow; the paths that need more bytes
		// (MaxPending) are covered by unit tests.
		t.Skip()
	}
	for _, typ := range []parser.MessageType{req, resp} {
		buf := reqs
		if typ == resp {
			buf = resps
		}
		c := newConn()
		var m parser.Message
		checkResult(t, buf, typ, c.Parse(buf, typ, &m), &m)
		checkBoundary(t, buf, c.FindBoundary(buf, typ))
	}
	// Both directions on one Conn, interleaved in reads of step bytes.
	c := newConn()
	var pending [2][]byte
	var skip [2]int
	src := [2][]byte{reqs, resps}
	n := int(step)%64 + 1
	for off := 0; off < len(reqs) || off < len(resps); off += n {
		for d, typ := range []parser.MessageType{req, resp} {
			if off >= len(src[d]) {
				continue
			}
			data := src[d][off:min(off+n, len(src[d]))]
			k := min(skip[d], len(data))
			skip[d] -= k
			pending[d] = append(pending[d], data[k:]...)
			for len(pending[d]) > 0 {
				var m parser.Message
				r := c.Parse(pending[d], typ, &m)
				checkResult(t, pending[d], typ, r, &m)
				if r.Status == parser.NeedMore {
					break
				}
				if r.Status == parser.Invalid {
					i := c.FindBoundary(pending[d], typ)
					checkBoundary(t, pending[d], i)
					if i < 0 {
						i = len(pending[d])
					}
					pending[d] = pending[d][i:]
					continue
				}
				if r.Consumed > len(pending[d]) {
					skip[d] = r.Consumed - len(pending[d])
					pending[d] = pending[d][:0]
				} else {
					pending[d] = pending[d][r.Consumed:]
				}
			}
		}
	}
}

func checkResult(t *testing.T, buf []byte, typ parser.MessageType, r parser.Result, m *parser.Message) {
	t.Helper()
	switch r.Status {
	case parser.NeedMore, parser.Invalid:
		if r.Consumed != 0 {
			t.Fatalf("%v with Consumed %d", r.Status, r.Consumed)
		}
	case parser.Complete, parser.Ignored:
		if r.Consumed <= 0 || r.Consumed > len(buf)+maxBody+MaxHeader {
			t.Fatalf("%v with Consumed %d of %d", r.Status, r.Consumed, len(buf))
		}
	default:
		t.Fatalf("status %d", r.Status)
	}
	if r.Status != parser.Complete {
		return
	}
	if m.Type != typ || m.Size != r.Consumed || r.Consumed > len(buf) && !m.Truncated {
		t.Fatalf("%+v for %+v of %d bytes", m, r, len(buf))
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

func checkBoundary(t *testing.T, buf []byte, i int) {
	t.Helper()
	if i == 0 || i < -1 || i >= len(buf) && i != -1 {
		t.Fatalf("FindBoundary = %d in %d bytes", i, len(buf))
	}
}
