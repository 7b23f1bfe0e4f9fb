package replaytest

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/internal/eventtest"
	"github.com/netobserver/netobserver/internal/testenv"
)

// Consumer takes the events of each batch, then hears that the batch ended and whether its poll
// emptied the library's buffers (abi.Batch.Drained).
type Consumer interface {
	abi.Visitor
	EndBatch(drained bool)
}

// Library returns the path of the replay library `make build` produced.
func Library(t testing.TB) string {
	t.Helper()
	return testenv.BuiltFile(t, "libebpf-replay.so")
}

// Run plays trace (the text of a trace file) into c with every protocol enabled, until the whole
// trace has been delivered, and returns the cgo layer's counters. maxEvents bounds each poll
// (0: the layer's default), so tests can choose where batches end.
func Run(t testing.TB, trace string, maxEvents int, c Consumer) abi.Counters {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trace")
	if err := os.WriteFile(path, []byte(trace), 0o644); err != nil {
		t.Fatal(err)
	}
	return RunFile(t, path, maxEvents, c)
}

// Open loads the replay library over the trace file at path, initialised but not configured or
// started, and returns it with the path of the file where it records every call it receives
// (testdata/README.md). The library is closed when the test ends.
func Open(t testing.TB, path string, maxEvents int) (*libebpf.Library, string) {
	t.Helper()
	stubs := filepath.Join(t.TempDir(), "stubs.log")
	t.Setenv("NETOBSERVER_REPLAY_TRACE", path)
	t.Setenv("NETOBSERVER_REPLAY_STUBS", stubs)
	lib, err := libebpf.Open(libebpf.Options{
		Path: Library(t), MaxEventsPerPoll: maxEvents, PollInterval: time.Millisecond,
		Logger: slog.New(&eventtest.Log{T: t}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	return lib, stubs
}

// RunFile is Run for a trace file.
func RunFile(t testing.TB, path string, maxEvents int, c Consumer) abi.Counters {
	t.Helper()
	lib, _ := Open(t, path, maxEvents)
	if err := lib.SetProtocolFilter(abi.AllProtocols); err != nil {
		t.Fatal(err)
	}
	if err := lib.Start(); err != nil {
		t.Fatal(err)
	}
	consume := func(b *abi.Batch) {
		b.Visit(c)
		c.EndBatch(b.Drained)
		lib.Release(b)
	}
	deadline := time.After(60 * time.Second)
	for !lib.Finished() {
		select {
		case b := <-lib.Events():
			consume(b)
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatal("the replay did not finish in 60s")
		}
	}
	if err := lib.Close(); err != nil {
		t.Fatal(err)
	}
	for b := range lib.Events() {
		consume(b)
	}
	return lib.Counters()
}
