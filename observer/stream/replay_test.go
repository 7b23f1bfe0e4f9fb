package stream

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReplayTrace replays one FuzzBuffer input with a trace of every event and call, to read what
// a failing input did: IN=testdata/fuzz/FuzzBuffer/<file> go test -run TestReplayTrace -v
func TestReplayTrace(t *testing.T) {
	path := os.Getenv("IN")
	if path == "" {
		t.Skip()
	}
	raw, _ := os.ReadFile(path)
	lines := strings.Split(string(raw), "\n")
	q := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
	us, err := strconv.Unquote(q)
	if err != nil {
		t.Fatal(err)
	}
	in := []byte(us)
	runModel(t, in, func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
}
