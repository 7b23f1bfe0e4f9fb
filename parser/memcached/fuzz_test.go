package memcached

import (
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse runs parsertest.FuzzStreams over arbitrary request and response streams (text,
// meta, binary and quiet ones among the seeds), checking each result and that the ring of
// pending requests stays in its bounds.
func FuzzParse(f *testing.F) {
	f.Add([]byte("get a b\r\nset k 0 0 1 noreply\r\nx\r\nmg k v q\r\nmn\r\n"), []byte("VALUE a 0 1\r\nx\r\nEND\r\nVA 1\r\nx\r\nMN\r\n"), uint8(3))
	f.Add([]byte("ms k 2 q\r\nhi\r\nmd k q\r\nma k q\r\nmn\r\nstats\r\n"), []byte("NS\r\nNF\r\nMN\r\nSTAT pid 1\r\nEND\r\n"), uint8(1))
	f.Add([]byte(bin(reqMagic, 0x09, 1, 0, 0, []byte("a"), 1)+bin(reqMagic, 0x0a, 0, 0, 0, nil, 2)),
		[]byte(bin(respMagic, 0x09, 0, 4, 0, []byte("\x00\x00\x00\x00x"), 1)+bin(respMagic, 0x0a, 0, 0, 0, nil, 2)), uint8(7))
	f.Add([]byte("get a\r\n"), []byte("VALUE a 0 300000\r\nxx"), uint8(0))
	parsertest.SeedCaptures(f, filepath.Join("testdata", "captures"), 400)
	f.Fuzz(func(t *testing.T, reqs, resps []byte, step uint8) {
		c := parsertest.FuzzStreams(t, newConn, checkResult, reqs, resps, step).Conn.(*Conn)
		if c.n < 0 || c.n > maxPending || c.head < 0 || c.head >= maxPending {
			t.Fatalf("ring %d at %d", c.n, c.head)
		}
	})
}

// checkResult checks the contract, and that a message names no key: its command is from the
// tables and its outcome one of the outcomes.
func checkResult(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{Beyond: maxBlock + headerLen + maxLine, ExactSize: true})
	if r.Status != parser.Complete {
		return
	}
	if _, ok := commands[m.Command]; !ok && m.Command != "" && !isOpName(m.Command) {
		t.Fatalf("command %q", m.Command)
	}
	switch m.Outcome {
	case "", "hit", "miss", "stored", "not_stored", "exists", "not_found", "deleted", "touched", "ok", "error",
		"client_error", "server_error", "noreply", "quiet":
	default:
		t.Fatalf("outcome %q", m.Outcome)
	}
}

func isOpName(s string) bool {
	for _, n := range opNames {
		if n == s {
			return true
		}
	}
	return false
}
