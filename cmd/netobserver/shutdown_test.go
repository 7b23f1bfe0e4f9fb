package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// builtBinary is bin/netobserver, beside the libebpf.so it loads, as `make build` lays them out.
func builtBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NETOBSERVER_BIN")
	if dir == "" {
		dir = "../../bin"
	}
	path, err := filepath.Abs(filepath.Join(dir, "netobserver"))
	require.NoError(t, err)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `make build` (%v)", path, err)
	}
	return path
}

// records parses flusher_stdout lines into field maps.
func records(t *testing.T, out string) []map[string]string {
	t.Helper()
	var recs []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		_, js, ok := strings.Cut(line, "]\t")
		require.True(t, ok, "not a flusher_stdout line: %q", line)
		js = strings.TrimSuffix(strings.TrimRight(js, "\t"), ":")
		rec := map[string]string{}
		require.NoError(t, json.Unmarshal([]byte(js), &rec), js)
		recs = append(recs, rec)
	}
	return recs
}

// Real capture, real traffic, and a SIGTERM long before any interval ends: everything pending is
// flushed, nothing is lost, and the exit status is 0.
func TestSIGTERMFlushesPendingRecords(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 205)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	const requests = 5
	var curl *exec.Cmd
	recs := runPipeline(t, `inputs:
  - Type: observer_ilogtail_network_v1
    Common:
      FlushOutL4Interval: 600
      FlushOutL7Interval: 600
    EBPF:
      Enabled: true
flushers:
  - Type: flusher_stdout
`, func() {
		url := fmt.Sprintf("http://%s/shutdown-test?token=secret", n.ServerV4)
		// --rate spaces the requests so curl still runs when its first events are read: the
		// process command comes from /proc.
		args := []string{"-s", "-o", "/dev/null", "-A", "netobserver-test", "--rate", "10/s"}
		for range requests {
			args = append(args, url)
		}
		curl = testenv.Command(n.Client, "curl", args...)
		require.NoError(t, curl.Run())
	})

	var client, server, clientL4 map[string]string
	for _, r := range recs {
		switch {
		case r["type"] == "protocols" && r["_process_pid_"] == fmt.Sprint(curl.Process.Pid):
			client = r
		case r["type"] == "protocols" && r["_process_pid_"] == fmt.Sprint(nginx.Process.Pid) && r["url"] == "/shutdown-test":
			server = r
		case r["type"] == "statistics" && r["_process_pid_"] == fmt.Sprint(curl.Process.Pid):
			clientL4 = r
		}
	}
	require.NotNil(t, client, "curl's protocols record in %v", recs)
	assert.Equal(t, "curl", client["_process_cmd_"])
	assert.Equal(t, "http", client["protocol"])
	assert.Equal(t, "/shutdown-test", client["url"], "query string cut")
	assert.Equal(t, "GET", client["method"])
	assert.Equal(t, "200", client["resp_code"])
	assert.Equal(t, "client", client["role"])
	assert.Equal(t, fmt.Sprint(requests), client["total_count"], "every call flushed, none lost")
	assert.Equal(t, fmt.Sprintf(`{"remote_ip":"%s","remote_port":"80","remote_type":"server"}`+"\n", n.ServerV4), client["remote_info"])
	require.NotNil(t, server, "nginx's protocols record")
	assert.Equal(t, "server", server["role"])
	assert.Equal(t, fmt.Sprint(requests), server["total_count"])
	require.NotNil(t, clientL4, "curl's statistics record")
	assert.Equal(t, "inet_socket", clientL4["socket_type"])
	assert.Equal(t, fmt.Sprint(requests), clientL4["send_packets"], "one write per request")
}

// A live recording replays offline into the same calls: record on a host, debug anywhere.
func TestRecordLiveThenReplay(t *testing.T) {
	testenv.RequireRoot(t)
	bin := builtBinary(t)
	n := testenv.NewNet(t, 207)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	trace := filepath.Join(t.TempDir(), "host.trace")
	rec := exec.Command(bin, "record", "-o", trace, "--duration", "4s")
	var recLog strings.Builder
	rec.Stderr = &recLog
	require.NoError(t, rec.Start())
	t.Cleanup(func() { rec.Process.Kill(); rec.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(recLog.String(), "started") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Contains(t, recLog.String(), "started", "the library did not start")

	const requests = 3
	args := []string{"-s", "-o", "/dev/null", "--rate", "10/s"}
	for range requests {
		args = append(args, fmt.Sprintf("http://[%s]/replayed", n.ServerV6))
	}
	curl := testenv.Command(n.Client, "curl", args...)
	require.NoError(t, curl.Run())
	require.NoError(t, rec.Wait(), recLog.String())

	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("inputs:\n  - Type: observer_ilogtail_network_v1\n    EBPF:\n      Enabled: true\nflushers:\n  - Type: flusher_stdout\n"), 0o644))
	out, err := exec.Command(bin, "--config", cfg, "--source", "replay:"+trace).Output()
	require.NoError(t, err)
	var found bool
	for _, r := range records(t, string(out)) {
		if r["type"] == "protocols" && r["_process_pid_"] == fmt.Sprint(curl.Process.Pid) {
			found = true
			assert.Equal(t, "/replayed", r["url"])
			assert.Equal(t, fmt.Sprint(requests), r["total_count"])
			assert.Equal(t, fmt.Sprintf(`{"remote_ip":"%s","remote_port":"80","remote_type":"server"}`+"\n", n.ServerV6), r["remote_info"])
		}
	}
	assert.True(t, found, "curl's calls in the replayed records:\n%s", out)
}

// runPipeline starts the binary on config, runs traffic, stops it with SIGTERM and returns the
// records it printed.
func runPipeline(t *testing.T, config string, traffic func()) []map[string]string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o644))
	cmd := exec.Command(builtBinary(t), "--config", cfg)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := bufio.NewScanner(stderr)
	started := make(chan bool, 1)
	var logText strings.Builder
	go func() {
		for logs.Scan() {
			logText.WriteString(logs.Text() + "\n")
			if strings.Contains(logs.Text(), "netobserver: observing") {
				started <- true
			}
		}
		close(started)
	}()
	select {
	case ok := <-started:
		require.True(t, ok, "netobserver exited before observing:\n%s", logText.String())
	case <-time.After(30 * time.Second):
		t.Fatal("netobserver did not start in 30s")
	}
	traffic()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), logText.String())
	return records(t, stdout.String())
}

// The cmd filter on real traffic: nginx is excluded, so it is switched off in the kernel and
// none of its records appear, while curl's do.
func TestCmdFilterOnRealTraffic(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 208)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	var curl *exec.Cmd
	recs := runPipeline(t, `inputs:
  - Type: observer_ilogtail_network_v1
    Common:
      FlushOutL4Interval: 600
      FlushOutL7Interval: 600
      ExcludeCmdRegex: "nginx.*"
    EBPF:
      Enabled: true
flushers:
  - Type: flusher_stdout
`, func() {
		curl = testenv.Command(n.Client, "curl", "-s", "-o", "/dev/null", "--rate", "10/s",
			fmt.Sprintf("http://%s/a", n.ServerV4), fmt.Sprintf("http://%s/b", n.ServerV4))
		require.NoError(t, curl.Run())
	})
	var curlCalls, nginxRecords int
	for _, r := range recs {
		switch r["_process_pid_"] {
		case fmt.Sprint(curl.Process.Pid):
			if r["type"] == "protocols" {
				curlCalls++
				assert.Equal(t, "1", r["total_count"])
			}
		case fmt.Sprint(nginx.Process.Pid):
			nginxRecords++
		}
	}
	assert.Equal(t, 2, curlCalls, "/a and /b")
	assert.Zero(t, nginxRecords, "nginx is excluded by ExcludeCmdRegex")
}
