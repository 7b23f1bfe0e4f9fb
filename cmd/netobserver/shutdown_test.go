package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/fakedocker"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Real capture, real traffic, and a SIGTERM long before any interval ends: everything pending is
// flushed, nothing is lost, and the exit status is 0.
func TestSIGTERMFlushesPendingRecords(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 205)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	const requests = 5
	var curl *exec.Cmd
	recs := testenv.RunPipeline(t, testenv.Pipeline{}.String(), nil, func() {
		url := fmt.Sprintf("http://%s/shutdown-test?token=secret", n.ServerV4)
		curl = testenv.Curl(t, n.Client, slices.Repeat([]string{url}, requests)...)
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

// A SIGTERM the moment the client exits, with no settle time: the events still in the kernel
// buffers are polled, parsed and flushed before the buffers are freed, so every call is counted
// on both sides.
func TestSIGTERMRightAfterTrafficCountsEveryCall(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 213)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	const requests = 200
	o := testenv.StartObserver(t, testenv.Pipeline{}.String(), nil)
	url := fmt.Sprintf("http://%s/right-before-stop", n.ServerV4)
	curl := testenv.Command(n.Client, "curl", append([]string{"-sS", "-w", "%{http_code}\n"},
		slices.Repeat([]string{"-o", "/dev/null", url}, requests)...)...)
	out, err := curl.Output()
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("200\n", requests), string(out), "curl's own report")
	recs := o.Stop(t, 0)

	calls := map[string]int{}
	for _, r := range recs {
		if r["type"] == "protocols" && r["url"] == "/right-before-stop" {
			count, err := strconv.Atoi(r["total_count"])
			require.NoError(t, err)
			calls[r["_process_pid_"]] += count
		}
	}
	assert.Equal(t, requests, calls[fmt.Sprint(curl.Process.Pid)], "curl's calls")
	assert.Equal(t, requests, calls[fmt.Sprint(nginx.Process.Pid)], "nginx's calls")
}

// A live recording replays offline into the same calls: record on a host, debug anywhere.
func TestRecordLiveThenReplay(t *testing.T) {
	testenv.RequireRoot(t)
	bin := testenv.Binary(t)
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
	curl := testenv.Curl(t, n.Client, slices.Repeat([]string{fmt.Sprintf("http://[%s]/replayed", n.ServerV6)}, requests)...)
	require.NoError(t, rec.Wait(), recLog.String())

	replay := testenv.LaunchObserver(t, testenv.Pipeline{}.String(), []string{"--source", "replay:" + trace})
	require.Equal(t, 0, replay.ExitCode(t), replay.Log())
	var found bool
	for _, r := range testenv.Records(t, replay.Stdout()) {
		if r["type"] == "protocols" && r["_process_pid_"] == fmt.Sprint(curl.Process.Pid) {
			found = true
			assert.Equal(t, "/replayed", r["url"])
			assert.Equal(t, "curl", r["_process_cmd_"], "named from the recording's process events, not this host's /proc")
			assert.Equal(t, fmt.Sprint(requests), r["total_count"])
			assert.Equal(t, fmt.Sprintf(`{"remote_ip":"%s","remote_port":"80","remote_type":"server"}`+"\n", n.ServerV6), r["remote_info"])
		}
	}
	assert.True(t, found, "curl's calls in the replayed records:\n%s", replay.Stdout())
}

// The cmd filter on real traffic: nginx is excluded, so it is switched off in the kernel and
// none of its records appear, while curl's do.
func TestCmdFilterOnRealTraffic(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 208)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	var curl *exec.Cmd
	recs := testenv.RunPipeline(t, testenv.Pipeline{Common: `ExcludeCmdRegex: "nginx.*"`}.String(), nil, func() {
		curl = testenv.Curl(t, n.Client, fmt.Sprintf("http://%s/a", n.ServerV4), fmt.Sprintf("http://%s/b", n.ServerV4))
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

// cgroup2Mount is where the unified cgroup hierarchy is mounted (/sys/fs/cgroup, or
// /sys/fs/cgroup/unified on hybrid hosts).
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	mounts, err := os.ReadFile("/proc/self/mounts")
	require.NoError(t, err)
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	t.Fatal("no cgroup2 mount in /proc/self/mounts")
	return ""
}

// Container filters on real traffic: a curl running in a docker-style cgroup is the container
// the (stand-in) Docker daemon names; the filters see its name and labels, and its records carry
// the container fields, while a host curl beside it is judged by the host rules.
func TestContainerFiltersOnRealTraffic(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 209)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	id := strings.Repeat("ab12cd34", 8)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	fakedocker.Start(t, sock, fakedocker.Container{ID: id, Name: "payments-api", Image: "payments:1.4",
		Labels: map[string]string{"app": "payments"}, Env: []string{"TIER=backend"}})
	scope := filepath.Join(cgroup2Mount(t), "netobserver-test.slice", "docker-"+id+".scope")
	require.NoError(t, os.MkdirAll(scope, 0o755))
	t.Cleanup(func() { os.Remove(scope); os.Remove(filepath.Dir(scope)) })

	// curl runs in the container's cgroup: the shell waits until this test moved it there (ip
	// netns exec mounts its own /sys, so it cannot do it itself), then becomes curl, same pid.
	containerCurl := func(t *testing.T, path string) {
		t.Helper()
		cmd := testenv.Command(n.Client, "sh", "-c", fmt.Sprintf(
			"read go && exec curl -s -o /dev/null --rate 10/s http://%s%s http://%s%s", n.ServerV4, path, n.ServerV4, path))
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		require.NoError(t, os.WriteFile(filepath.Join(scope, "cgroup.procs"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644))
		_, err = stdin.Write([]byte("go\n"))
		require.NoError(t, err)
		require.NoError(t, cmd.Wait())
	}
	config := func(filter string) string { return testenv.Pipeline{Common: filter}.String() }
	env := []string{"DOCKER_HOST=unix://" + sock}
	byURL := func(recs []map[string]string, url string) []map[string]string {
		var out []map[string]string
		for _, r := range recs {
			if r["type"] == "protocols" && r["role"] == "client" && r["url"] == url {
				out = append(out, r)
			}
		}
		return out
	}

	t.Run("the container's name excludes it", func(t *testing.T) {
		recs := testenv.RunPipeline(t, config(`ExcludeContainerNameRegex: "payments-.*"`), env, func() {
			containerCurl(t, "/from-container")
			testenv.Curl(t, n.Client, fmt.Sprintf("http://%s/from-host", n.ServerV4))
		})
		assert.Empty(t, byURL(recs, "/from-container"), "excluded by container name")
		require.Len(t, byURL(recs, "/from-host"), 1, "host processes are judged by the cmd rules only")
		assert.Equal(t, "host", byURL(recs, "/from-host")[0]["_running_mode_"])
	})
	t.Run("a label value includes it", func(t *testing.T) {
		recs := testenv.RunPipeline(t, config("IncludeContainerLabels:\n  app: \"pay.*\"\nExcludeEnvs:\n  TIER: \"frontend\""), env, func() {
			containerCurl(t, "/from-container")
		})
		got := byURL(recs, "/from-container")
		require.Len(t, got, 1, "records: %v", recs)
		assert.Equal(t, "container", got[0]["_running_mode_"])
		assert.Equal(t, "payments-api", got[0]["_container_name_"])
		assert.Equal(t, "2", got[0]["total_count"])
		_, hasPid := got[0]["_process_pid_"]
		assert.False(t, hasPid, "a container's processes aggregate together: no pid")
	})
	t.Run("a label value that does not match excludes it", func(t *testing.T) {
		recs := testenv.RunPipeline(t, config("IncludeContainerLabels:\n  app: \"billing\""), env, func() {
			containerCurl(t, "/from-container")
		})
		assert.Empty(t, byURL(recs, "/from-container"), "iLogtail only tested that the label existed; we match its value")
	})
}

// SIGHUP reloads the pipeline file and, unlike iLogtail, applies Sampling to the running
// capture: after Sampling 0, new connections give no calls, but their L4 statistics go on.
func TestSIGHUPAppliesSampling(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 212)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	pipeline := func(sampling int) string {
		return testenv.Pipeline{Common: fmt.Sprintf("Sampling: %d", sampling)}.String()
	}
	o := testenv.StartObserver(t, pipeline(100), nil)
	curl := func(path string) int {
		url := fmt.Sprintf("http://%s%s", n.ServerV4, path)
		return testenv.Curl(t, n.Client, url, url).Process.Pid
	}
	before := curl("/before")
	time.Sleep(300 * time.Millisecond) // its events polled and counted before the reload splits intervals

	require.NoError(t, os.WriteFile(o.Config, []byte(pipeline(0)), 0o644))
	o.Signal(t, syscall.SIGHUP)
	o.WaitLog(t, "netobserver: reloading")
	time.Sleep(200 * time.Millisecond) // the reload is applied by the observer's own goroutine
	after := curl("/after")

	recs := o.Stop(t, 300*time.Millisecond)
	var beforeCalls, afterCalls, afterStats int
	for _, r := range recs {
		switch {
		case r["type"] == "protocols" && r["_process_pid_"] == fmt.Sprint(before):
			beforeCalls++
			assert.Equal(t, "2", r["total_count"], "%v", r)
		case r["type"] == "protocols" && r["_process_pid_"] == fmt.Sprint(after):
			afterCalls++
		case r["type"] == "statistics" && r["_process_pid_"] == fmt.Sprint(after):
			afterStats++
			assert.Equal(t, "2", r["send_packets"], "L4 ignores sampling")
		}
	}
	assert.Equal(t, 1, beforeCalls, "calls before the reload")
	assert.Zero(t, afterCalls, "Sampling 0 after the reload: no data, no calls")
	assert.Equal(t, 1, afterStats, "statistics still flow")
}

// A SIGTERM that arrives while the observer is still starting (the library loaded, the programs
// not yet attached) is kept until the start is done; then the observer stops in order, exit 0.
func TestSIGTERMDuringStartStopsInOrder(t *testing.T) {
	testenv.RequireRoot(t)
	o := testenv.LaunchObserver(t, testenv.Pipeline{}.String(), nil)
	o.WaitLog(t, "libebpf: loaded")
	o.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, o.ExitCode(t), "exit status; stderr:\n%s", o.Log())
	assert.Contains(t, o.Log(), "netobserver: observing")
	assert.Contains(t, o.Log(), `netobserver: stopping: flushing what is pending" signal=terminated`)
	assert.Contains(t, o.Log(), "netobserver: stopped")
}
