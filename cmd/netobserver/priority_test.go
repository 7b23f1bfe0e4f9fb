package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// threadNices maps each thread of pid to its nice value (field 19 of /proc/PID/task/TID/stat).
func threadNices(t *testing.T, pid int) map[int]int {
	t.Helper()
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	require.NoError(t, err)
	nices := map[int]int{}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread exited
		}
		// The command in field 2 may hold spaces; the fields after its closing parenthesis do not.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		nice, err := strconv.Atoi(fields[16])
		require.NoError(t, err)
		tid, _ := strconv.Atoi(task.Name())
		nices[tid] = nice
	}
	return nices
}

// Every thread of the observer runs at --nice, -10 unless told, the threads the Go runtime and
// the library start after the priority was set included: at nice 0 the threads of a busy host's
// load left the observer ≈ 5 % of a CPU for seconds, and 100 000 connections opening at once lost
// up to 86 564 events (README, Performance).
func TestThreadsRunAtTheConfiguredNice(t *testing.T) {
	testenv.RequireRoot(t)
	// The children inherit this process's priority: 5, so that the default is seen to be set,
	// whatever the tests that call run in this process left (they set -10).
	require.NoError(t, setNice(5))
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, -10},
		{[]string{"--nice", "3"}, 3},
	} {
		p := startProcess(t, pipelineYAML(true, true, stdoutFlusher), "libebpf-replay.so", tc.args)
		p.WaitLog(t, "netobserver: observing")
		nices := threadNices(t, p.Cmd.Process.Pid)
		assert.Greater(t, len(nices), 4, "the runtime's threads, the poller's")
		for tid, nice := range nices {
			assert.Equal(t, tc.want, nice, "thread %d of %v", tid, tc.args)
		}
		p.Signal(t, syscall.SIGTERM)
		require.Equal(t, 0, p.ExitCode(t), p.Log())
	}
}

// Without CAP_SYS_NICE the observer says what it could not do and observes at the priority it was
// given. -20: the tests that call run in this process set its threads to the default -10, which
// the child inherits, and asking for that again needs no privilege.
func TestNiceWithoutCapabilityWarnsAndRuns(t *testing.T) {
	testenv.RequireRoot(t)
	config := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(config, []byte(pipelineYAML(true, true, stdoutFlusher)), 0o600))
	trace, err := filepath.Abs(lifecycleTrace)
	require.NoError(t, err)
	lib := filepath.Join(filepath.Dir(testenv.Binary(t)), "libebpf-replay.so")
	cmd := exec.Command("setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice",
		testenv.Binary(t), "--config", config, "--libebpf", lib, "--source", "replay:"+trace, "--nice", "-20")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	assert.Contains(t, stderr.String(), `msg="netobserver: cannot set the scheduling priority; when the host's CPUs are busy the kernel buffers overflow sooner (lost_events_total)" nice=-20 error="permission denied" needs=CAP_SYS_NICE`)
	assert.Contains(t, stderr.String(), "netobserver: observing")
	assert.NotEmpty(t, testenv.Records(t, stdout.String()), "the trace's records")
}
