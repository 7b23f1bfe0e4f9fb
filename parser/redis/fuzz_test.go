package redis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// FuzzParse feeds arbitrary bytes as both directions of a connection, whole and in reads of
// step bytes, and checks the contract: no panic, valid statuses, Consumed 0 unless Complete or
// Ignored and then positive and bounded, sizes consistent, boundaries inside the buffer, and
// nothing but a command name in a Message.
func FuzzParse(f *testing.F) {
	for _, s := range samples {
		if s.typ == req {
			f.Add([]byte(s.in), []byte("+OK\r\n"), uint8(5))
		} else {
			f.Add([]byte(array("GET", "k")), []byte(s.in), uint8(5))
		}
	}
	f.Add([]byte(array("SUBSCRIBE", "a", "b")+array("PING")+array("UNSUBSCRIBE")),
		[]byte(confirm("subscribe", "a", 1)+confirm("subscribe", "b", 2)+push("message", "a", "x")+array("pong", "")+
			confirm("unsubscribe", "a", 1)+confirm("unsubscribe", "b", 0)), uint8(9))
	f.Add([]byte(array("MONITOR")+"RESET\r\n"), []byte("+OK\r\n+1 [0 x] \"get\"\r\n+RESET\r\n"), uint8(2))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999\r\nab"), []byte("*2\r\n$999999\r\nab"), uint8(0))
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
	if c.mLen < 0 || c.mLen > maxMarkers || c.absorb < 0 || c.chans < 0 || c.pats < 0 || c.shards < 0 {
		t.Fatalf("pub/sub state %+v", c)
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
		if r.Consumed <= 0 || r.Consumed > len(buf)+maxBlob+maxLine {
			t.Fatalf("%v with Consumed %d of %d", r.Status, r.Consumed, len(buf))
		}
	default:
		t.Fatalf("status %d", r.Status)
	}
	if r.Status != parser.Complete {
		return
	}
	if m.Type != typ || m.Size != r.Consumed || r.Consumed > len(buf) && !m.Truncated ||
		m.Host != "" || m.Resource != "" || m.Version != "" || m.Status != 0 {
		t.Fatalf("%+v for %+v of %d bytes", m, r, len(buf))
	}
	if typ == resp && m.Method != "" {
		t.Fatalf("%+v", m)
	}
	if typ == req {
		if m.Method == "" || len(m.Method) > maxName+1+maxSub || strings.Count(m.Method, " ") > 1 {
			t.Fatalf("method %q", m.Method)
		}
		for _, b := range []byte(m.Method) {
			if b != ' ' && (!isNameByte[b] || b >= 'a' && b <= 'z') {
				t.Fatalf("method %q", m.Method)
			}
		}
	}
}

func checkBoundary(t *testing.T, buf []byte, i int) {
	t.Helper()
	if i == 0 || i < -1 || i >= len(buf) && i != -1 {
		t.Fatalf("FindBoundary = %d in %d bytes", i, len(buf))
	}
}
