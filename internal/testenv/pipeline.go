package testenv

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the built bin/netobserver, beside the libebpf.so it loads, as `make build` lays them
// out: $NETOBSERVER_BIN/netobserver, else bin/netobserver at the module root. A missing binary
// fails the test: a test that cannot run the observer must not pass.
func Binary(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("NETOBSERVER_BIN")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("NETOBSERVER_BIN is not set and the module root is not found: %v", err)
		}
		dir = filepath.Join(root, "bin")
	}
	path, err := filepath.Abs(filepath.Join(dir, "netobserver"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, filepath.Join(filepath.Dir(path), "libebpf.so")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is missing: run `make build` (%v)", f, err)
		}
	}
	return path
}

// moduleRoot is the nearest directory above the working directory (a test's package directory)
// that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Records parses flusher_stdout lines (`<time> [INF] [flusher_stdout.go:…] [Flush] [config#…]\t{…}:\t`)
// into field maps, in output order.
func Records(t testing.TB, out string) []map[string]string {
	t.Helper()
	var recs []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		_, js, ok := strings.Cut(line, "]\t")
		if !ok {
			t.Fatalf("not a flusher_stdout line: %q", line)
		}
		js = strings.TrimSuffix(strings.TrimRight(js, "\t"), ":")
		rec := map[string]string{}
		if err := json.Unmarshal([]byte(js), &rec); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		recs = append(recs, rec)
	}
	return recs
}

// Observer is a running bin/netobserver whose flusher_stdout output is collected.
type Observer struct {
	Cmd    *exec.Cmd
	stdout strings.Builder
	mu     sync.Mutex
	logs   strings.Builder
	done   chan struct{}
}

// Log is what the observer wrote to standard error so far.
func (o *Observer) Log() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.logs.String()
}

// StartObserver writes config to a file, starts the binary on it, with env added to this
// process's environment, and returns once it logs that it is observing (the library is loaded
// and capturing). It is killed at cleanup if still running.
func StartObserver(t testing.TB, config string, env []string) *Observer {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &Observer{Cmd: exec.Command(Binary(t), "--config", cfg), done: make(chan struct{})}
	o.Cmd.Env = append(os.Environ(), env...)
	o.Cmd.Stdout = &o.stdout
	stderr, err := o.Cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.Cmd.Process.Kill()
		<-o.done
		if t.Failed() {
			t.Logf("netobserver log:\n%s", o.Log())
		}
	})
	started := make(chan bool, 1)
	go func() {
		defer close(o.done)
		logs := bufio.NewScanner(stderr)
		for logs.Scan() {
			o.mu.Lock()
			o.logs.WriteString(logs.Text() + "\n")
			o.mu.Unlock()
			if strings.Contains(logs.Text(), "netobserver: observing") {
				select {
				case started <- true:
				default:
				}
			}
		}
		o.Cmd.Wait()
		close(started)
	}()
	select {
	case ok := <-started:
		if !ok {
			t.Fatalf("netobserver exited before observing:\n%s", o.Log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("netobserver did not start in 30s:\n%s", o.Log())
	}
	return o
}

// Stop sends SIGTERM — which flushes every pending record — waits for a clean exit and returns
// the records printed. settle lets the last events of the traffic reach the observer first.
func (o *Observer) Stop(t testing.TB, settle time.Duration) []map[string]string {
	t.Helper()
	time.Sleep(settle)
	if err := o.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("netobserver did not exit 30s after SIGTERM:\n%s", o.Log())
	}
	if !o.Cmd.ProcessState.Success() {
		t.Fatalf("netobserver: %v\n%s", o.Cmd.ProcessState, o.Log())
	}
	return Records(t, o.stdout.String())
}

// RunPipeline starts the binary on config (env added to its environment), runs traffic, stops it
// with SIGTERM and returns the records it printed.
func RunPipeline(t testing.TB, config string, env []string, traffic func()) []map[string]string {
	t.Helper()
	o := StartObserver(t, config, env)
	traffic()
	return o.Stop(t, 300*time.Millisecond)
}
