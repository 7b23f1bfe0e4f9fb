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

// collect polls until n events arrived, failing after a generous deadline.
func collect(t testing.TB, lib *Library, n int) eventtest.Events {
	t.Helper()
	var rec eventtest.Events
	deadline := time.Now().Add(30 * time.Second)
	for len(rec) < n {
		_, _, err := lib.Poll(&rec)
		require.NoError(t, err)
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d events in 30s", len(rec), n)
		}
		lib.Wait(10 * time.Millisecond)
	}
	return rec
}

// stopReading calls Stop and returns the events it delivered from the buffers.
func stopReading(t testing.TB, lib *Library) eventtest.Events {
	t.Helper()
	var rec eventtest.Events
	require.NoError(t, lib.Stop(&rec))
	return rec
}

// quiet asserts that no further event arrives within a short wait.
func quiet(t testing.TB, lib *Library) {
	t.Helper()
	var rec eventtest.Events
	for range 5 {
		_, _, err := lib.Poll(&rec)
		require.NoError(t, err)
		if len(rec) > 0 {
			t.Fatalf("unexpected %d more events, first %+v", len(rec), rec[0])
		}
		time.Sleep(10 * time.Millisecond)
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
