package memcached

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// summary counts a capture's Complete messages of one direction by command, outcome and
// one-way; every byte must be in a message or an Ignored unit, nothing Invalid.
func summary(t *testing.T, steps []parsertest.Step[Message], total int) map[string]int {
	t.Helper()
	out := map[string]int{}
	sum := 0
	for _, s := range steps {
		sum += s.Consumed
		switch s.Status {
		case parser.Complete:
			k := s.Msg.Command + " " + s.Msg.Outcome
			if s.Msg.OneWay {
				k += " one-way"
			}
			out[k]++
		case parser.Ignored:
		default:
			t.Errorf("%v", s)
		}
	}
	if sum != total {
		t.Errorf("consumed %d of %d bytes", sum, total)
	}
	return out
}

func TestCaptures(t *testing.T) {
	// Counted by hand against the scenarios of testdata/README.md (memcslap's own counts: 20
	// per run; the meta scenario's answers as memcached sent them).
	want := map[string][2]string{
		"meta-1":        {"map[ma quiet one-way:1 md quiet one-way:1 mg :2 mg quiet one-way:2 mn :3 ms quiet one-way:2 quit noreply one-way:1 set :2]", "map[md not_found one-way:1 mg hit:1 mg hit one-way:1 mg miss:1 mn ok:3 ms not_stored one-way:1 set stored:2]"},
		"slap-1":        {"map[quit noreply one-way:1 set :20]", "map[set stored:20]"},
		"slap-2":        {"map[set :20]", "map[set stored:20]"},
		"slap-3":        {"map[get :20 quit noreply one-way:1]", "map[get hit:20]"},
		"slapbin-1":     {"map[Quit :1 Set :20]", "map[Quit ok:1 Set stored:20]"},
		"slapbin-2":     {"map[Set :20]", "map[Set stored:20]"},
		"slapbin-3":     {"map[GetK :20 Quit :1]", "map[GetK hit:20 Quit ok:1]"},
		"slapnoreply-1": {"map[quit noreply one-way:1 set :20]", "map[set stored:20]"},
		"tools-1":       {"map[quit noreply one-way:1 set :1]", "map[set stored:1]"},
		"tools-2":       {"map[quit noreply one-way:1 stats :1 version :1]", "map[stats ok:1 version ok:1]"},
	}
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		t.Run(cp.Name, func(t *testing.T) {
			d := parsertest.NewDriver(t, newConn()).Play(cp.Reads)
			got := [2]string{fmt.Sprint(summary(t, d.Steps(req), len(cp.Stream(req)))), fmt.Sprint(summary(t, d.Steps(resp), len(cp.Stream(resp))))}
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
