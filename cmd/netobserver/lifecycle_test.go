package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The trace every process here replays: its records are known from the golden tests.
const lifecycleTrace = "../../testdata/golden/all-protocols.trace"

// startProcess starts the binary on config with the replay library lib (a file name in bin/ or
// bin/test/) standing in for the kernel's (--source kernel, so it does not stop at the trace's
// end and waits for signals), and extra arguments and environment.
func startProcess(t *testing.T, config, lib string, args []string, env ...string) *testenv.Observer {
	t.Helper()
	trace, err := filepath.Abs(lifecycleTrace)
	require.NoError(t, err)
	return testenv.LaunchObserver(t, config,
		append([]string{"--libebpf", filepath.Join(filepath.Dir(testenv.Binary(t)), lib)}, args...),
		append([]string{"NETOBSERVER_REPLAY_TRACE=" + trace}, env...)...)
}

func pipelineYAML(enable, ebpf bool, flushers string) string {
	return fmt.Sprintf("enable: %v\n", enable) +
		testenv.Pipeline{EBPF: fmt.Sprintf("Enabled: %v", ebpf), Flushers: flushers}.String()
}

const stdoutFlusher = "- Type: flusher_stdout"

// recordTypes sums up the records in out, sorted: a reload flushes what is pending, so the same
// records may come in another order.
func recordTypes(t *testing.T, out string) []string {
	var types []string
	for _, r := range testenv.Records(t, out) {
		types = append(types, r["type"]+"/"+r["protocol"]+"/"+r["total_count"]+"/"+r["send_bytes"])
	}
	slices.Sort(types)
	return types
}

// Every stop signal is acted on whatever came before it, while the observer starts or runs:
// SIGTERM after SIGHUP was dropped (the signal channel held one) and the process never exited.
// Each run exits 0 with everything flushed.
func TestSignalsInEveryOrder(t *testing.T) {
	const (
		hup, term, intr = syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT
	)
	base := startProcess(t, pipelineYAML(true, true, stdoutFlusher), "libebpf-replay.so", nil)
	base.WaitLog(t, "netobserver: observing")
	time.Sleep(300 * time.Millisecond) // the trace polled
	base.Signal(t, term)
	require.Equal(t, 0, base.ExitCode(t), base.Log())
	want := recordTypes(t, base.Stdout())
	require.NotEmpty(t, want)

	for _, sigs := range [][]syscall.Signal{
		{hup, term}, {hup, intr}, {term, hup}, {intr, hup}, {hup, hup, term}, {hup, term, hup},
		{term, term}, {term, intr}, {intr, term}, {hup, hup, hup, hup, intr},
	} {
		name := fmt.Sprint(sigs)
		for _, when := range []string{"starting", "observing"} {
			t.Run(when+" "+name, func(t *testing.T) {
				p := startProcess(t, pipelineYAML(true, true, stdoutFlusher), "libebpf-replay.so", nil)
				if when == "starting" {
					p.WaitLog(t, "libebpf: loaded")
				} else {
					p.WaitLog(t, "netobserver: observing")
					time.Sleep(300 * time.Millisecond) // the trace polled
				}
				p.Signal(t, sigs...)
				require.Equal(t, 0, p.ExitCode(t), p.Log())
				assert.Contains(t, p.Log(), "netobserver: stopping: flushing what is pending")
				assert.Contains(t, p.Log(), "netobserver: stopped")
				if when == "observing" {
					assert.Equal(t, want, recordTypes(t, p.Stdout()), "every record flushed, once")
				}
			})
		}
	}
}

// A library that never returns from one of its calls cannot be interrupted: the stop gives up
// after --stop-timeout (and a start after --start-timeout), says what it waited for, and exits 1.
func TestGivesUpOnAHangingLibrary(t *testing.T) {
	for _, tc := range []struct {
		call, waitingFor string
		sigterm          bool
	}{
		{"init", `waiting_for="ebpf_init (libebpf.Open)"`, true},
		{"init", `waiting_for="ebpf_init (libebpf.Open)"`, false},
		{"start", "waiting_for=ebpf_start", false},
		{"poll", `waiting_for="the library's last poll and ebpf_stop"`, true},
		{"stop", `waiting_for="the library's last poll and ebpf_stop"`, true},
	} {
		t.Run(fmt.Sprintf("%s/sigterm=%v", tc.call, tc.sigterm), func(t *testing.T) {
			args := []string{"--stop-timeout", "1s", "--start-timeout", "1h"}
			if !tc.sigterm {
				args = []string{"--start-timeout", "1s"}
			}
			p := startProcess(t, pipelineYAML(true, true, stdoutFlusher), "test/libebpf-hang.so", args,
				"NETOBSERVER_REPLAY_HANG="+tc.call)
			if tc.call == "stop" {
				p.WaitLog(t, "netobserver: observing")
				p.Signal(t, syscall.SIGTERM)
				p.WaitLog(t, "replay: ebpf_stop hangs")
			} else {
				p.WaitLog(t, "replay: ebpf_"+tc.call+" hangs")
				if tc.call == "poll" {
					// The first poll may begin before the start is done: a SIGTERM then would
					// find the start, not the poll, unfinished.
					p.WaitLog(t, "netobserver: observing")
				}
				if tc.sigterm {
					p.Signal(t, syscall.SIGTERM)
				}
			}
			require.Equal(t, exitGaveUp, p.ExitCode(t))
			what := "the library did not start"
			if tc.sigterm {
				what = "the stop did not complete"
			}
			assert.Contains(t, p.Log(), "netobserver: giving up: "+what+"; records not yet flushed are lost")
			assert.Contains(t, p.Log(), tc.waitingFor)
		})
	}
}

// As in iLogtail, a disabled pipeline or input captures nothing — no library is loaded — and the
// log says so; a SIGHUP that enables it starts it, one that disables it again stops it.
func TestDisabledPipelineCapturesNothing(t *testing.T) {
	for _, tc := range []struct {
		enable, ebpf bool
		why          string
	}{
		{false, true, "the pipeline is disabled (enable: false)"},
		{true, false, "the input is disabled (EBPF.Enabled: false)"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			p := startProcess(t, pipelineYAML(tc.enable, tc.ebpf, stdoutFlusher), "libebpf-replay.so", nil)
			p.WaitLog(t, "netobserver: "+tc.why+": capturing nothing, as iLogtail; SIGHUP loads the file again")
			assert.NotContains(t, p.Log(), "libebpf: loaded")

			require.NoError(t, os.WriteFile(p.Config, []byte(pipelineYAML(true, true, stdoutFlusher)), 0o600))
			p.Signal(t, syscall.SIGHUP)
			p.WaitLog(t, "netobserver: observing")
			time.Sleep(300 * time.Millisecond) // the trace polled

			require.NoError(t, os.WriteFile(p.Config, []byte(pipelineYAML(tc.enable, tc.ebpf, stdoutFlusher)), 0o600))
			p.Signal(t, syscall.SIGHUP)
			require.Equal(t, 0, p.ExitCode(t), p.Log())
			assert.Contains(t, p.Log(), fmt.Sprintf(`netobserver: stopping: flushing what is pending" reload=%q`, tc.why))
			assert.NotEmpty(t, testenv.Records(t, p.Stdout()), "what it captured while enabled is flushed")
		})
	}

	// Stopped while disabled: nothing to flush, exit 0.
	p := startProcess(t, pipelineYAML(false, true, stdoutFlusher), "libebpf-replay.so", nil)
	p.WaitLog(t, "capturing nothing")
	p.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, p.ExitCode(t))
	assert.Contains(t, p.Log(), "netobserver: stopped")
	assert.Empty(t, p.Stdout())
}

// logrotate renames flusher_stdout's FileName and sends SIGHUP: the lines after it go to a new
// file at the path, those before stay in the renamed one.
func TestSIGHUPReopensStdoutFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "records.log")
	config := strings.Replace(pipelineYAML(true, true, stdoutFlusher+"\n  FileName: "+file),
		"FlushOutL7Interval: 600", "FlushOutL7Interval: 1", 1)
	p := startProcess(t, config, "libebpf-replay.so", nil)
	p.WaitLog(t, "netobserver: observing")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(file); strings.Contains(string(b), `"type":"protocols"`) {
			break
		}
	}
	require.NoError(t, os.Rename(file, file+".1"))
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "netobserver: reloading") // logged after the flushers reopened
	before, err := os.ReadFile(file + ".1")
	require.NoError(t, err)
	p.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, p.ExitCode(t), p.Log())

	rotated, err := os.ReadFile(file + ".1")
	require.NoError(t, err)
	current, err := os.ReadFile(file)
	require.NoError(t, err, "a new file at the path")
	assert.Contains(t, string(rotated), `"type":"protocols"`, "the L7 records of the first interval")
	assert.Equal(t, string(before), string(rotated), "nothing written to the renamed file after the SIGHUP")
	assert.Contains(t, string(current), `"type":"statistics"`, "the L4 records flushed by the reload and the stop")
	assert.NotContains(t, string(rotated), `"type":"statistics"`)
}

// Without the privileges our libebpf.so needs, the error names them, whoever runs it: a user, or
// root with its capabilities dropped (it said "tracefs is not mounted", which it was).
func TestMissingPrivilegeNamed(t *testing.T) {
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("", "netobserver-privilege-") // t.TempDir's parent is closed to others
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	config := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(config, []byte(pipelineYAML(true, true, stdoutFlusher)), 0o644))
	for _, tc := range []struct {
		name, lacks string
		setpriv     []string
	}{
		{"nobody", "lacks CAP_SYS_ADMIN (and CAP_BPF, CAP_PERFMON)", []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}},
		{"root without capabilities", "lacks CAP_SYS_ADMIN (and CAP_BPF, CAP_PERFMON)", []string{"--inh-caps=-all", "--bounding-set=-all"}},
		{"root with CAP_BPF and CAP_PERFMON only", "lacks CAP_SYS_ADMIN:", []string{"--inh-caps=-all", "--bounding-set=-all,+bpf,+perfmon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("setpriv", append(tc.setpriv, testenv.Binary(t), "--config", config)...)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "%s", out)
			assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "%s", out)
			assert.Contains(t, string(out), "libebpf: this process (uid ")
			assert.Contains(t, string(out), tc.lacks)
			assert.Contains(t, string(out), "run it as root, or grant CAP_SYS_ADMIN")
			assert.NotContains(t, string(out), "tracefs")
			assert.Contains(t, string(out), "failed: code -1 (operation not permitted)")
		})
	}
}
