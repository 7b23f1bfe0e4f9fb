package runtimetest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverNetns makes a network namespace for the servers, removed at cleanup. Containers reach it
// through a veth (testenv.JoinNetns).
func serverNetns(t *testing.T, name string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", name, os.Getpid()%100000)
	testenv.Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	testenv.Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// startNginx starts nginx in ns on addr:80, once the address is up.
func startNginx(t *testing.T, ns, addr string) {
	t.Helper()
	testenv.NginxHTTP(t, ns, netip.MustParseAddr(addr), fmt.Sprintf(`access_log off;
server {
	listen %s:80;
	location / { default_type text/plain; return 200 "hello\n"; }
}
`, addr))
}

// calls are the client-side HTTP records of url.
func calls(recs []map[string]string, url string) []map[string]string {
	var out []map[string]string
	for _, r := range recs {
		if r["type"] == "protocols" && r["role"] == "client" && r["url"] == url {
			out = append(out, r)
		}
	}
	return out
}

// A process inside a Docker container (--network none, a veth of the test's into its network
// namespace) fetches from nginx on the other side: its calls carry the container's name and
// the container running mode, and aggregate per container (no pid).
func TestDockerContainerTraffic(t *testing.T) {
	testenv.RequireRoot(t)
	d := testenv.StartDockerd(t)
	ns := serverNetns(t, "nort-d")
	name := fmt.Sprintf("payments-api-%d", os.Getpid())
	id := d.Docker(t, "run", "-d", "--network", "none", "--name", name, "--label", "app=payments", "-e", "TIER=backend",
		d.BusyboxImage(t, "netobserver-test/busybox:1"), "sleep", "600")
	testenv.JoinNetns(t, d.ContainerPID(t, id), ns, fmt.Sprintf("nrd%d", os.Getpid()%10000), "10.241.0.2", "10.241.0.1")
	startNginx(t, ns, "10.241.0.1")

	env := []string{"DOCKER_HOST=" + d.Host(), "NETOBSERVER_RUNTIME=docker"}
	fetch := func(path string) {
		d.Docker(t, "exec", name, "sh", "-c", "wget -q -O /dev/null http://10.241.0.1"+path+" && wget -q -O /dev/null http://10.241.0.1"+path)
	}
	t.Run("named", func(t *testing.T) {
		o := testenv.StartObserver(t, testenv.Pipeline{}.String(), env)
		o.WaitLog(t, "docker: daemon at "+d.Host())
		fetch("/from-container")
		recs := o.Stop(t, 300*time.Millisecond)
		got := calls(recs, "/from-container")
		require.Len(t, got, 1, "records: %v", recs)
		assert.Equal(t, "container", got[0]["_running_mode_"])
		assert.Equal(t, name, got[0]["_container_name_"])
		assert.Equal(t, "2", got[0]["total_count"], "wget's own two requests")
		_, hasPid := got[0]["_process_pid_"]
		assert.False(t, hasPid, "a container's processes aggregate together: no pid")
	})
	t.Run("filtered by label and env", func(t *testing.T) {
		config := testenv.Pipeline{Common: "IncludeContainerLabels:\n  app: \"pay.*\"\nExcludeEnvs:\n  TIER: \"backend\""}.String()
		o := testenv.StartObserver(t, config, env)
		o.WaitLog(t, "docker: daemon at "+d.Host())
		fetch("/excluded")
		recs := o.Stop(t, 300*time.Millisecond)
		assert.Empty(t, calls(recs, "/excluded"), "TIER=backend excludes it")
	})
}

// A pod made as containerd's CRI plugin makes one: a sandbox holding the network namespace and a
// short-lived application container in it, created after the observer's first list and gone
// before any other (FlushMetaInterval 600 s). Its calls carry its pod, looked up once, on demand.
func TestContainerdShortLivedPodContainer(t *testing.T) {
	testenv.RequireRoot(t)
	cd := testenv.StartContainerd(t)
	ns := serverNetns(t, "nort-c")
	const uid = "4a2c0d6e-1f5b-4a7c-93e9-6b8f0a2c4e5d"
	image := cd.BusyboxOCIImage(t, "k8s.io", "docker.io/netobserver-test/busybox:1")
	sandbox := strings.Repeat("5b", 32)
	app := strings.Repeat("6c", 32)
	podLabels := []string{"io.kubernetes.pod.name=fetcher-7c9d8b6f5d-q4w2z", "io.kubernetes.pod.namespace=shop",
		"io.kubernetes.pod.uid=" + uid}
	run := func(id string, labels []string, extra []string, cmd ...string) {
		args := append([]string{"-n", "k8s.io", "run", "-d", "--cgroup", "/kubepods/besteffort/pod" + uid + "/" + id}, cd.RunFlags()...)
		for _, l := range labels {
			args = append(args, "--label", l)
		}
		cd.Ctr(t, append(append(append(args, extra...), image, id), cmd...)...)
	}
	run(sandbox, append(podLabels, "io.cri-containerd.kind=sandbox", "app=fetcher"), nil, "sleep", "600")
	var sbPID int
	for _, line := range strings.Split(cd.Ctr(t, "-n", "k8s.io", "tasks", "list"), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == sandbox {
			fmt.Sscan(f[1], &sbPID)
		}
	}
	require.NotZero(t, sbPID)
	testenv.JoinNetns(t, sbPID, ns, fmt.Sprintf("nrc%d", os.Getpid()%10000), "10.242.0.2", "10.242.0.1")
	startNginx(t, ns, "10.242.0.1")

	config := testenv.Pipeline{Common: "FlushMetaInterval: 600"}.String()
	o := testenv.StartObserver(t, config, []string{"CONTAINERD_ADDRESS=" + cd.Socket, "NETOBSERVER_RUNTIME=containerd"})
	o.WaitLog(t, "containerd: daemon at "+cd.Socket+" namespace k8s.io (containerd 1.6")
	assert.Contains(t, o.Log(), "), 1 containers", "the first list has the sandbox only")

	run(app, append(podLabels, "io.kubernetes.container.name=fetch", "io.cri-containerd.kind=container"),
		[]string{"--with-ns", fmt.Sprintf("network:/proc/%d/ns/net", sbPID)},
		"sh", "-c", "wget -q -O /dev/null http://10.242.0.1/from-pod && wget -q -O /dev/null http://10.242.0.1/from-pod")
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(cd.Ctr(t, "-n", "k8s.io", "tasks", "list"), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == app {
				return f[2] == "STOPPED"
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "the container's process exits")
	recs := o.Stop(t, 300*time.Millisecond)
	got := calls(recs, "/from-pod")
	require.Len(t, got, 1, "records: %v", recs)
	assert.Equal(t, "kubernetes", got[0]["_running_mode_"])
	assert.Equal(t, "fetcher-7c9d8b6f5d-q4w2z", got[0]["_pod_name_"])
	assert.Equal(t, "shop", got[0]["_namespace_"])
	assert.Equal(t, "fetch", got[0]["_container_name_"])
	assert.Equal(t, "fetcher", got[0]["_workload_name_"])
	assert.Equal(t, "2", got[0]["total_count"])
}
