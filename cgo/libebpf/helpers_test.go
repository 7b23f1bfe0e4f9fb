package libebpf

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/eventtest"
	"github.com/netobserver/netobserver/internal/testenv"

	"github.com/stretchr/testify/require"
)

type replay struct {
	lib   *Library
	stubs string // path of the replay library's record of calls
	log   *eventtest.Log
}

// openReplay loads the replay library over trace and registers its Close with t.
func openReplay(t testing.TB, trace string, opts Options) *replay {
	t.Helper()
	dir := t.TempDir()
	tracePath := filepath.Join(dir, "trace.txt")
	require.NoError(t, os.WriteFile(tracePath, []byte(trace), 0o644))
	r := &replay{stubs: filepath.Join(dir, "stubs.log"), log: &eventtest.Log{}}
	t.Setenv("NETOBSERVER_REPLAY_TRACE", tracePath)
	t.Setenv("NETOBSERVER_REPLAY_STUBS", r.stubs)
	if opts.Path == "" {
		opts.Path = testenv.BuiltFile(t, "libebpf-replay.so")
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Millisecond
	}
	opts.Logger = slog.New(r.log)
	lib, err := Open(opts)
	require.NoError(t, err, "log:\n%s", r.log.Text())
	r.lib = lib
	t.Cleanup(func() { require.NoError(t, lib.Close()) })
	return r
}

// calls returns the lines the replay library recorded, one per call into it.
func (r *replay) calls(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(r.stubs)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// collect reads batches until n events arrived, failing after a generous deadline.
func collect(t testing.TB, lib *Library, n int) eventtest.Events {
	t.Helper()
	var rec eventtest.Events
	deadline := time.After(30 * time.Second)
	for len(rec) < n {
		select {
		case b, ok := <-lib.Events():
			require.True(t, ok, "Events closed after %d of %d events", len(rec), n)
			b.Visit(&rec)
			lib.Release(b)
		case <-deadline:
			t.Fatalf("got %d of %d events in 30s", len(rec), n)
		}
	}
	return rec
}

// stopReading calls Stop while reading Events, as a consumer must, and returns the events that
// came until Stop returned and those left on Events.
func stopReading(t testing.TB, lib *Library) eventtest.Events {
	t.Helper()
	var rec eventtest.Events
	stopped := make(chan error, 1)
	go func() { stopped <- lib.Stop() }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case b := <-lib.Events():
			b.Visit(&rec)
			lib.Release(b)
		case err := <-stopped:
			require.NoError(t, err)
			for {
				select {
				case b := <-lib.Events():
					b.Visit(&rec)
					lib.Release(b)
				default:
					return rec
				}
			}
		case <-deadline:
			t.Fatalf("Stop did not return in 30s")
		}
	}
}

// quiet asserts that no further event arrives within a short wait.
func quiet(t testing.TB, lib *Library) {
	t.Helper()
	select {
	case b := <-lib.Events():
		var rec eventtest.Events
		b.Visit(&rec)
		t.Fatalf("unexpected %d more events, first %+v", len(rec), rec[0])
	case <-time.After(50 * time.Millisecond):
	}
}

// runSelf re-runs this test binary for one test, with extra environment, and returns its output.
func runSelf(t testing.TB, test string, env ...string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
