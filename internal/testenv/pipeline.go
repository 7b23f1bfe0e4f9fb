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
// out in BinDir. A missing binary fails the test: a test that cannot run the observer must not pass.
func Binary(t testing.TB) string {
	t.Helper()
	BuiltFile(t, "libebpf.so")
	return BuiltFile(t, "netobserver")
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

// Pipeline is a pipeline file for the observer: one observer_ilogtail_network_v1 input whose L4
// and L7 intervals (600 s) outlast any test, so that the records come all at once when SIGTERM
// flushes what is pending. Its zero value, eBPF on and flusher_stdout, is what most live tests
// run. Each field holds YAML lines as they read at the start of a line; String indents them.
type Pipeline struct {
	Common   string // more keys of the input's Common section
	EBPF     string // the input's EBPF section; "Enabled: true" when empty
	Flushers string // the flushers, "- Type: …" items; flusher_stdout alone when empty
}

// String is the pipeline file.
func (p Pipeline) String() string {
	ebpf, flushers := p.EBPF, p.Flushers
	if ebpf == "" {
		ebpf = "Enabled: true"
	}
	if flushers == "" {
		flushers = "- Type: flusher_stdout"
	}
	return "inputs:\n  - Type: observer_ilogtail_network_v1\n    Common:\n" +
		indent("      ", "FlushOutL4Interval: 600\nFlushOutL7Interval: 600\n"+p.Common) +
		"    EBPF:\n" + indent("      ", ebpf) +
		"flushers:\n" + indent("  ", flushers)
}

// indent puts prefix before each line of s and ends every line with a newline.
func indent(prefix, s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// Observer is a running bin/netobserver whose flusher_stdout output is collected.
type Observer struct {
	Cmd    *exec.Cmd
	Config string // the pipeline file it runs on: rewrite it and send SIGHUP to reload
	stdout strings.Builder
	mu     sync.Mutex
	logs   strings.Builder
	grew   chan struct{} // closed, and replaced, when a line is added to logs
	done   chan struct{} // closed once the process exited and its output is all read
}

// Log is what the observer wrote to standard error so far.
func (o *Observer) Log() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.logs.String()
}

// Stdout is what the observer wrote to standard output: read it once it exited.
func (o *Observer) Stdout() string {
	<-o.done
	return o.stdout.String()
}

// LaunchObserver writes config to a file and starts the binary on it, with args after
// `--config file` and env added to this process's environment. It returns at once: WaitLog waits
// for the stage a test needs. The process is killed at cleanup if still running.
func LaunchObserver(t testing.TB, config string, args []string, env ...string) *Observer {
	t.Helper()
	o := &Observer{Config: filepath.Join(t.TempDir(), "pipeline.yaml"), grew: make(chan struct{}), done: make(chan struct{})}
	if err := os.WriteFile(o.Config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Cmd = exec.Command(Binary(t), append([]string{"--config", o.Config}, args...)...)
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
	go func() {
		defer close(o.done)
		logs := bufio.NewScanner(stderr)
		for logs.Scan() {
			o.mu.Lock()
			o.logs.WriteString(logs.Text() + "\n")
			close(o.grew)
			o.grew = make(chan struct{})
			o.mu.Unlock()
		}
		o.Cmd.Wait()
	}()
	return o
}

// StartObserver launches the binary on config (LaunchObserver) and returns once it logs that it
// is observing: the library is loaded and capturing.
func StartObserver(t testing.TB, config string, env []string) *Observer {
	t.Helper()
	o := LaunchObserver(t, config, nil, env...)
	o.WaitLog(t, "netobserver: observing")
	return o
}

// WaitLog returns as soon as the observer's log holds s, and fails the test if the observer
// exits without logging it or has not logged it after 30 s.
func (o *Observer) WaitLog(t testing.TB, s string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		o.mu.Lock()
		found, grew := strings.Contains(o.logs.String(), s), o.grew
		o.mu.Unlock()
		if found {
			return
		}
		select {
		case <-grew:
		case <-o.done:
			if !strings.Contains(o.Log(), s) {
				t.Fatalf("netobserver exited without logging %q:\n%s", s, o.Log())
			}
			return
		case <-timeout:
			t.Fatalf("netobserver did not log %q in 30s:\n%s", s, o.Log())
		}
	}
}

// Signal sends sigs back to back.
func (o *Observer) Signal(t testing.TB, sigs ...syscall.Signal) {
	t.Helper()
	for _, s := range sigs {
		if err := o.Cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
	}
}

// ExitCode waits for the observer to exit (a hang fails the test after a minute) and returns its
// exit code.
func (o *Observer) ExitCode(t testing.TB) int {
	t.Helper()
	select {
	case <-o.done:
	case <-time.After(time.Minute):
		t.Fatalf("netobserver still running a minute after the signals:\n%s", o.Log())
	}
	return o.Cmd.ProcessState.ExitCode()
}

// Stop sends SIGTERM — which flushes every pending record — waits for a clean exit and returns
// the records printed. settle lets the last events of the traffic reach the observer first.
func (o *Observer) Stop(t testing.TB, settle time.Duration) []map[string]string {
	t.Helper()
	time.Sleep(settle)
	o.Signal(t, syscall.SIGTERM)
	if code := o.ExitCode(t); code != 0 {
		t.Fatalf("netobserver: %v\n%s", o.Cmd.ProcessState, o.Log())
	}
	return Records(t, o.Stdout())
}

// RunPipeline starts the binary on config (env added to its environment), runs traffic, stops it
// with SIGTERM and returns the records it printed.
func RunPipeline(t testing.TB, config string, env []string, traffic func()) []map[string]string {
	t.Helper()
	o := StartObserver(t, config, env)
	traffic()
	return o.Stop(t, 300*time.Millisecond)
}
