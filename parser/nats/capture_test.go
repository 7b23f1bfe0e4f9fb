package nats

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// summary counts a capture's Complete messages of one direction by operation, subject and
// one-way; every byte must be in a message or an Ignored unit, nothing Invalid.
func summary(t *testing.T, steps []parsertest.Step[Message], total int) string {
	t.Helper()
	out := map[string]int{}
	sum := 0
	for _, s := range steps {
		sum += s.Consumed
		switch s.Status {
		case parser.Complete:
			k := s.Msg.Op + " " + s.Msg.Subject
			if s.Msg.OneWay {
				k += " one-way"
			}
			out[k]++
		case parser.Ignored:
			out["ignored"]++
		default:
			t.Errorf("%v", s)
		}
	}
	if sum != total {
		t.Errorf("consumed %d of %d bytes", sum, total)
	}
	return fmt.Sprint(out)
}

func TestCaptures(t *testing.T) {
	// The client's own counts (client.go.txt): 10 PUBs to orders.<n> and one HPUB, all 11
	// delivered back, one request to svc.echo answered through an inbox, PINGs of its Flushes.
	want := map[string][2]string{
		"plain-1": {"map[CONNECT  one-way:1 HPUB orders.h one-way:1 PING :3 PUB _INBOX.* one-way:1 PUB orders.? one-way:10 PUB svc.echo one-way:1 SUB _INBOX.* one-way:1 SUB orders.* one-way:1 SUB svc.echo one-way:1]",
			"map[HMSG orders.h one-way:1 MSG _INBOX.* one-way:1 MSG orders.? one-way:10 MSG svc.echo one-way:1 PONG :3 ignored:1]"},
		// Verbose: the 17 client messages each answered +OK, nothing one-way but deliveries.
		"verbose-1": {"map[CONNECT :1 HPUB orders.h:1 PING :3 PUB _INBOX.*:1 PUB orders.?:10 PUB svc.echo:1 SUB _INBOX.*:1 SUB orders.*:1 SUB svc.echo:1]",
			"map[+OK :17 HMSG orders.h one-way:1 MSG _INBOX.* one-way:1 MSG orders.? one-way:10 MSG svc.echo one-way:1 PONG :3 ignored:1]"},
	}
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		t.Run(cp.Name, func(t *testing.T) {
			d := parsertest.NewDriver(t, newConn()).Play(cp.Reads)
			got := [2]string{summary(t, d.Steps(req), len(cp.Stream(req))), summary(t, d.Steps(resp), len(cp.Stream(resp)))}
			if want[cp.Name] != got {
				t.Errorf("got %q, want %q", got, want[cp.Name])
			}
		})
	}
}

func TestCapturesSegmented(t *testing.T) {
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		parsertest.CheckRecut(t, cp.Name, newConn, cp.Reads, 1, 7, 1000)
	}
}
