package nats

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// FuzzParse runs parsertest.FuzzStreams over arbitrary client and server streams, checking each
// result, that subjects stay masked and bounded, and that the waiting count stays in bounds.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`CONNECT {"verbose":true}`+"\r\nPUB a.1 1\r\nx\r\nPING\r\nHPUB b 12 12\r\nNATS/1.0\r\n\r\n\r\n"), []byte("+OK\r\n+OK\r\nPONG\r\nMSG a.1 1 1\r\nx\r\n-ERR 'x'\r\n"), uint8(3))
	f.Add([]byte("SUB _INBOX.abc.* 1\r\nUNSUB 1\r\nPONG\r\n"), []byte("INFO {}\r\nPING\r\nHMSG a 1 _INBOX.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), uint8(1))
	parsertest.SeedCaptures(f, filepath.Join("testdata", "captures"), 400)
	f.Fuzz(func(t *testing.T, reqs, resps []byte, step uint8) {
		c := parsertest.FuzzStreams(t, newConn, checkResult, reqs, resps, step).Conn.(*Conn)
		if c.waiting < 0 || c.waiting > 1<<20 {
			t.Fatalf("waiting %d", c.waiting)
		}
	})
}

func checkResult(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{Beyond: maxPayload + maxLine, ExactSize: true})
	if r.Status != parser.Complete {
		return
	}
	if len(m.Subject) > maxSubject+1 || strings.Count(m.Subject, ".") >= maxTokens+1 {
		t.Fatalf("subject %q", m.Subject)
	}
	if string(Mask(nil, []byte(m.Subject))) != m.Subject && !strings.HasPrefix(m.Subject, "_INBOX.") {
		t.Fatalf("subject %q is not masked", m.Subject)
	}
}
