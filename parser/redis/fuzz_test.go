package redis

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse runs parsertest.FuzzStreams over arbitrary commands and replies (pub/sub, MONITOR
// and huge announced lengths among the seeds), checking each result with checkResult and, after
// the interleaved play, that the connection's pub/sub state stayed in its bounds.
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
	// Small seeds keep minimisation, which replays an input many times, quick.
	parsertest.SeedCaptures(f, filepath.Join("testdata", "captures"), 400)
	f.Fuzz(fuzzParse)
}

func fuzzParse(t *testing.T, reqs, resps []byte, step uint8) {
	c := parsertest.FuzzStreams(t, newConn, checkResult, reqs, resps, step).Conn.(*Conn)
	if c.mLen < 0 || c.mLen > maxMarkers || c.absorb < 0 || c.chans < 0 || c.pats < 0 || c.shards < 0 {
		t.Fatalf("pub/sub state %+v", c)
	}
}

// checkResult checks the contract and that a Message's command name is upper case, with at most
// one subcommand, on requests only.
func checkResult(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{Beyond: maxBlob + maxLine, ExactSize: true})
	if r.Status != parser.Complete {
		return
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
