package libebpf

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/require"
)

// binDir is where `make build` put the libraries under test.
func binDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("NETOBSERVER_BIN"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	require.NoError(t, err)
	for dir := wd; dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin")
		}
	}
	t.Fatal("cannot find the repository root above " + wd)
	return ""
}

func builtFile(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(binDir(t), name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `make build` first (%v)", path, err)
	}
	return path
}

// logSink is a slog handler that keeps every message, for asserting what the library printed.
type logSink struct {
	mu   sync.Mutex
	recs []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r.Level.String()+" "+r.Message)
	return nil
}

func (s *logSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.recs, "\n")
}

type replay struct {
	lib   *Library
	stubs string // path of the replay library's record of calls
	log   *logSink
}

// openReplay loads the replay library over trace and registers its Close with t.
func openReplay(t testing.TB, trace string, opts Options) *replay {
	t.Helper()
	dir := t.TempDir()
	tracePath := filepath.Join(dir, "trace.txt")
	require.NoError(t, os.WriteFile(tracePath, []byte(trace), 0o644))
	r := &replay{stubs: filepath.Join(dir, "stubs.log"), log: &logSink{}}
	t.Setenv("NETOBSERVER_REPLAY_TRACE", tracePath)
	t.Setenv("NETOBSERVER_REPLAY_STUBS", r.stubs)
	if opts.Path == "" {
		opts.Path = builtFile(t, "libebpf-replay.so")
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Millisecond
	}
	opts.Logger = slog.New(r.log)
	lib, err := Open(opts)
	require.NoError(t, err, "log:\n%s", r.log.text())
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

// recorded is one event as a consumer saw it, payload copied out of the batch.
type recorded struct {
	ctrl  *abi.CtrlEvent
	data  *abi.DataEvent
	stats *abi.StatsEvent
	lost  *abi.LostNotice
	proc  *abi.ProcEvent
}

type recorder struct{ events []recorded }

func (r *recorder) Ctrl(e *abi.CtrlEvent) { c := *e; r.events = append(r.events, recorded{ctrl: &c}) }
func (r *recorder) Data(e *abi.DataEvent) {
	d := *e
	d.Payload = bytes.Clone(e.Payload)
	r.events = append(r.events, recorded{data: &d})
}
func (r *recorder) Stats(e *abi.StatsEvent) {
	s := *e
	r.events = append(r.events, recorded{stats: &s})
}
func (r *recorder) Lost(n abi.LostNotice) { r.events = append(r.events, recorded{lost: &n}) }
func (r *recorder) Proc(e *abi.ProcEvent) { p := *e; r.events = append(r.events, recorded{proc: &p}) }

// collect polls until n events arrived, failing after a generous deadline.
func collect(t testing.TB, lib *Library, n int) []recorded {
	t.Helper()
	rec := &recorder{}
	deadline := time.Now().Add(30 * time.Second)
	for len(rec.events) < n {
		_, _, err := lib.Poll(rec)
		require.NoError(t, err)
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d events in 30s", len(rec.events), n)
		}
		lib.Wait(10 * time.Millisecond)
	}
	return rec.events
}

// stopReading calls Stop and returns the events it delivered from the buffers.
func stopReading(t testing.TB, lib *Library) []recorded {
	t.Helper()
	rec := &recorder{}
	require.NoError(t, lib.Stop(rec))
	return rec.events
}

// quiet asserts that no further event arrives within a short wait.
func quiet(t testing.TB, lib *Library) {
	t.Helper()
	rec := &recorder{}
	for range 5 {
		_, _, err := lib.Poll(rec)
		require.NoError(t, err)
		if len(rec.events) > 0 {
			t.Fatalf("unexpected %d more events, first %+v", len(rec.events), rec.events[0])
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
