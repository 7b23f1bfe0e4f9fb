package container

// The Docker tests run against a real dockerd (Debian's docker.io) that testenv starts on its own
// socket and directories, with containers the docker client creates from a busybox image imported
// from a local root filesystem. Kubernetes pods are containers with the labels dockershim gave
// them. One test (TestDockerNewerEngine) still talks to the stand-in daemon (internal/fakedocker):
// only Engine 20.10 (API 1.41) installs here, and the stand-in answers as Engine 27 (API 1.47)
// does, so that the version negotiation is tested against an engine newer than the client's
// minimum; a real daemon cannot be made to announce another version.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/fakedocker"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// logs collects Logf lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logs) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func hexID(n int) string { return fmt.Sprintf("%064x", 0xc0ffee00+n) }

const testImage = "netobserver-test/busybox:1"

func newTestRuntime(t *testing.T, open func(RuntimeConfig) (*Runtime, error), cfg RuntimeConfig) *Runtime {
	t.Helper()
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Hour // tests that want a refresh say so
	}
	if cfg.Logf == nil {
		cfg.Logf = (&logs{}).logf
	}
	r, err := open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func waitUp(t *testing.T, r *Runtime) {
	t.Helper()
	require.Eventually(t, r.Up, 10*time.Second, 5*time.Millisecond, "the client never reached the daemon")
}

// unique makes names that concurrent packages' containers do not share.
func unique(name string) string { return fmt.Sprintf("%s-%d", name, os.Getpid()) }

// dockershim's labels on a pod's application container and on its sandbox.
const podUID = "6b1c4f0e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"

var (
	webLabels = []string{
		"io.kubernetes.pod.name=web-7d4b9c8f6b-x2kq9", "io.kubernetes.pod.namespace=prod",
		"io.kubernetes.pod.uid=" + podUID, "io.kubernetes.container.name=web",
		"io.kubernetes.docker.type=container", "annotation.io.kubernetes.container.hash=81bad010",
	}
	sandboxLabels = []string{
		"io.kubernetes.pod.name=web-7d4b9c8f6b-x2kq9", "io.kubernetes.pod.namespace=prod",
		"io.kubernetes.pod.uid=" + podUID, "io.kubernetes.docker.type=podsandbox", "io.kubernetes.container.name=POD",
		"annotation.kubernetes.io/config.source=api", "app=web", "pod-template-hash=7d4b9c8f6b", "release=canary",
	}
)

func labelArgs(labels []string) []string {
	var args []string
	for _, l := range labels {
		args = append(args, "--label", l)
	}
	return args
}

// runDetached starts a container that sleeps, with args before the image, and returns its id.
func runDetached(t *testing.T, d *testenv.Daemon, name string, args ...string) string {
	t.Helper()
	run := append([]string{"run", "-d", "--network", "none", "--name", name}, args...)
	id := d.Docker(t, append(run, d.BusyboxImage(t, testImage), "sleep", "600")...)
	t.Cleanup(func() { d.Docker(t, "rm", "-f", id) })
	return id
}

func TestDockerListAndInspect(t *testing.T) {
	d := testenv.Dockerd(t)
	shop := runDetached(t, d, unique("shop-api"), "--label", "team=pay", "--label", "com.docker.compose.service=api",
		"-e", "DEBUG=0", "-e", "TOKEN=a=b", "-e", "EMPTY=")
	sandbox := runDetached(t, d, unique("k8s_POD_web"), labelArgs(sandboxLabels)...)
	web := runDetached(t, d, unique("k8s_web_web"), append(labelArgs(webLabels), "-e", "LANG=C")...)
	_ = sandbox
	var l logs
	r := newTestRuntime(t, NewDocker, RuntimeConfig{Address: d.Host(), Logf: l.logf})
	waitUp(t, r)
	require.Len(t, l.get(), 1)
	assert.Regexp(t, `^docker: daemon at unix://\S+docker.sock \(Engine 20\.10\.\d+\S*, API 1\.41\), \d+ containers$`, l.get()[0])
	assert.Zero(t, r.Inspects(), "inspect is on demand only")

	c, err := r.Container(shop)
	require.NoError(t, err)
	assert.Equal(t, &Container{ID: shop, Name: unique("shop-api"), Image: testImage,
		Labels: map[string]string{"team": "pay", "com.docker.compose.service": "api"},
		Env:    map[string]string{"PATH": "/bin", "DEBUG": "0", "TOKEN": "a=b", "EMPTY": ""}}, c)

	k, err := r.Container(web)
	require.NoError(t, err)
	assert.Equal(t, unique("k8s_web_web"), k.Name)
	assert.Equal(t, &K8sInfo{PodName: "web-7d4b9c8f6b-x2kq9", Namespace: "prod", ContainerName: "web", PodUID: podUID,
		Workload: "web", Labels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6b", "release": "canary"}}, k.K8s)

	// Answers from memory afterwards.
	for range 5 {
		_, err = r.Container(shop)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, r.Inspects())

	// An id the daemon does not know: asked once until the next list.
	unknown := hexID(1)
	for range 3 {
		_, err = r.Container(unknown)
		assert.ErrorIs(t, err, ErrNotFound)
	}
	assert.Equal(t, 3, r.Inspects())
	assert.Len(t, l.get(), 1, "nothing more logged")
}

// The processes of real containers, looked up from /proc (docker's cgroupfs layout on this
// hybrid cgroup host, /docker/<id> in every hierarchy): their mode, name, and the filters on
// names, labels and environment.
func TestDockerProcessesAndFilters(t *testing.T) {
	d := testenv.Dockerd(t)
	shopName := unique("shop-api")
	shop := runDetached(t, d, shopName, "--label", "team=pay", "-e", "TIER=backend")
	runDetached(t, d, unique("k8s_POD_web"), labelArgs(sandboxLabels)...)
	web := runDetached(t, d, unique("k8s_web_web"), labelArgs(webLabels)...)
	r := newTestRuntime(t, NewDocker, RuntimeConfig{Address: d.Host()})
	waitUp(t, r)
	res := NewIdentities(Procfs{}, r)

	shopProc, err := res.Lookup(uint32(d.ContainerPID(t, shop)))
	require.NoError(t, err)
	assert.Equal(t, ModeContainer, shopProc.Mode)
	assert.Equal(t, shop, shopProc.Cgroup.ContainerID)
	assert.Equal(t, "container:"+shop, shopProc.Group)
	assert.Equal(t, shopName, shopProc.ContainerName())
	assert.Equal(t, "sleep", shopProc.Cmd, "iLogtail's command: the program's name")

	webProc, err := res.Lookup(uint32(d.ContainerPID(t, web)))
	require.NoError(t, err)
	assert.Equal(t, ModeKubernetes, webProc.Mode)
	assert.Equal(t, "web", webProc.ContainerName())
	assert.Equal(t, map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6b", "release": "canary"}, webProc.Container.K8s.Labels)

	self, err := res.Lookup(uint32(os.Getpid()))
	require.NoError(t, err)
	assert.Equal(t, ModeHost, self.Mode)

	re := func(s string) *regexp.Regexp { return regexp.MustCompile("^(?:" + s + ")$") }
	for _, tc := range []struct {
		name            string
		cfg             FilterConfig
		shop, web, host bool
	}{
		{"container name", FilterConfig{IncludeContainerNameRegex: re("shop-.*")}, true, false, true},
		{"container label value", FilterConfig{IncludeContainerLabels: map[string]*regexp.Regexp{"team": re("pay")}}, true, false, true},
		{"env excludes", FilterConfig{ExcludeEnvs: map[string]*regexp.Regexp{"TIER": re("back.*")}}, false, true, true},
		{"pod label", FilterConfig{IncludeK8sLabels: map[string]*regexp.Regexp{"release": re("canary")}}, true, true, true},
		{"pod label value mismatch", FilterConfig{IncludeK8sLabels: map[string]*regexp.Regexp{"release": re("stable")}}, true, false, true},
		{"namespace", FilterConfig{ExcludeNamespaceNameRegex: re("prod")}, true, false, true},
		{"cmd: host processes only", FilterConfig{ExcludeCmdRegex: re(".*")}, true, true, false},
	} {
		f := NewFilter(tc.cfg)
		assert.Equal(t, [3]bool{tc.shop, tc.web, tc.host}, [3]bool{f.Allows(shopProc), f.Allows(webProc), f.Allows(self)}, tc.name)
	}
}

func TestDockerRateLimit(t *testing.T) {
	d := testenv.Dockerd(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, runDetached(t, d, unique(fmt.Sprintf("burst%d", i))))
	}
	clk := &clock{t: time.Unix(1000, 0)}
	r := newTestRuntime(t, NewDocker, RuntimeConfig{Address: d.Host(), InspectRate: 1, InspectBurst: 2, Now: clk.now})
	waitUp(t, r)
	ask := func() (ok, limited int) {
		for _, id := range ids {
			_, err := r.Container(id)
			switch {
			case err == nil:
				ok++
			case assert.ErrorIs(t, err, ErrRateLimited):
				limited++
			}
		}
		return ok, limited
	}
	ok, limited := ask()
	assert.Equal(t, [2]int{2, 3}, [2]int{ok, limited}, "the burst")
	clk.add(time.Second)
	ok, limited = ask()
	assert.Equal(t, [2]int{3, 2}, [2]int{ok, limited}, "one more a second")
	clk.add(time.Hour)
	ok, limited = ask()
	assert.Equal(t, [2]int{5, 0}, [2]int{ok, limited}, "a long pause refills to the burst, never beyond")
	assert.Equal(t, 5, r.Inspects(), "each container inspected exactly once")
}

// A container whose process exited is still named (docker keeps it until it is removed); once
// removed it is forgotten at the next list. A renamed container is named anew.
func TestDockerExitedRemovedRenamed(t *testing.T) {
	d := testenv.Dockerd(t)
	done := d.Docker(t, "run", "--network", "none", "--name", unique("once"), "--label", "job=batch", d.BusyboxImage(t, testImage), "true")
	_ = done
	once := d.Docker(t, "inspect", "-f", "{{.Id}}", unique("once"))
	t.Cleanup(func() { d.Docker(t, "rm", "-f", once) })
	ren := runDetached(t, d, unique("before"))
	r := newTestRuntime(t, NewDocker, RuntimeConfig{Address: d.Host(), RefreshInterval: 50 * time.Millisecond})
	waitUp(t, r)

	c, err := r.Container(once)
	require.NoError(t, err, "an exited container is still inspected")
	assert.Equal(t, unique("once"), c.Name)
	assert.Equal(t, map[string]string{"job": "batch"}, c.Labels)
	c, err = r.Container(ren)
	require.NoError(t, err)
	assert.Equal(t, unique("before"), c.Name)

	d.Docker(t, "rename", unique("before"), unique("after"))
	require.Eventually(t, func() bool {
		c, err := r.Container(ren)
		return err == nil && c.Name == unique("after")
	}, 10*time.Second, 10*time.Millisecond, "the list shows the new name; the container is inspected again")

	// Not running, the container is in no list: the next list forgets it, and once removed the
	// daemon does not know it.
	d.Docker(t, "rm", once)
	require.Eventually(t, func() bool {
		_, err := r.Container(once)
		return errors.Is(err, ErrNotFound)
	}, 10*time.Second, 10*time.Millisecond)
}

// The pod's labels change: the sandbox's new labels reach the cached container at the next list,
// without a new inspect. (Docker cannot relabel a container: the sandbox is recreated, as a
// kubelet restarting a pod's sandbox would.)
func TestDockerPodLabelsFollowTheSandbox(t *testing.T) {
	d := testenv.Dockerd(t)
	sb := runDetached(t, d, unique("k8s_POD_lbl"), labelArgs(sandboxLabels)...)
	web := runDetached(t, d, unique("k8s_web_lbl"), labelArgs(webLabels)...)
	r := newTestRuntime(t, NewDocker, RuntimeConfig{Address: d.Host(), RefreshInterval: 50 * time.Millisecond})
	waitUp(t, r)
	c, err := r.Container(web)
	require.NoError(t, err)
	assert.Equal(t, "canary", c.K8s.Labels["release"])
	inspects := r.Inspects()

	d.Docker(t, "rm", "-f", sb)
	stable := append([]string(nil), sandboxLabels...)
	stable[len(stable)-1] = "release=stable"
	runDetached(t, d, unique("k8s_POD_lbl2"), labelArgs(stable)...)
	require.Eventually(t, func() bool {
		c, err := r.Container(web)
		return err == nil && c.K8s.Labels["release"] == "stable"
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, inspects, r.Inspects(), "pod labels come from the list, no new inspect")
}

// No daemon at first (one line, host mode, no call per lookup); the daemon starts (found, named);
// it stops (lost: host mode again); it starts again with its container restarted (named again).
func TestDockerDaemonAbsentAppearsLostBack(t *testing.T) {
	d := testenv.NewDockerd(t)
	var l logs
	r := newTestRuntime(t, NewDocker, RuntimeConfig{Address: d.Host(), Logf: l.logf, RefreshInterval: 100 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	time.Sleep(200 * time.Millisecond) // several retries
	assert.False(t, r.Up())
	require.Len(t, l.get(), 1, "one line however many retries: %q", l.get())
	assert.Contains(t, l.get()[0], "docker: no daemon at "+d.Host())
	for range 100 {
		_, err := r.Container(hexID(2))
		require.ErrorIs(t, err, ErrNoDaemon)
	}
	assert.Zero(t, r.Inspects(), "no call per lookup without a daemon")

	d.Start(t)
	id := d.Docker(t, "run", "-d", "--network", "none", "--restart", "always", "--name", "keeper", d.BusyboxImage(t, testImage), "sleep", "600")
	waitUp(t, r)
	require.Len(t, l.get(), 2)
	assert.Contains(t, l.get()[1], "docker: daemon at "+d.Host())
	res := NewIdentities(Procfs{}, r)
	proc, err := res.Lookup(uint32(d.ContainerPID(t, id)))
	require.NoError(t, err)
	assert.Equal(t, ModeContainer, proc.Mode)
	assert.Equal(t, "keeper", proc.ContainerName())

	d.Stop(t)
	require.Eventually(t, func() bool { return !r.Up() }, 10*time.Second, 5*time.Millisecond)
	require.Len(t, l.get(), 3, "%q", l.get())
	assert.Contains(t, l.get()[2], "docker: lost the daemon at "+d.Host())
	_, err = r.Container(id)
	assert.ErrorIs(t, err, ErrNoDaemon)

	d.Start(t)
	waitUp(t, r)
	require.Len(t, l.get(), 4, "%q", l.get())
	assert.Contains(t, l.get()[3], "docker: daemon at "+d.Host())
	var pid int
	require.Eventually(t, func() bool {
		fmt.Sscan(d.Docker(t, "inspect", "-f", "{{.State.Pid}}", id), &pid)
		return pid > 0
	}, 20*time.Second, 50*time.Millisecond, "restart=always brings the container back")
	proc, err = res.Lookup(uint32(pid))
	require.NoError(t, err)
	assert.Equal(t, ModeContainer, proc.Mode)
	assert.Equal(t, "keeper", proc.ContainerName())
}

// An engine newer than the one installed here (the stand-in answers as Engine 27, API 1.47):
// every request after the ping uses the version the daemon announced on it.
func TestDockerNewerEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	sock := filepath.Join(t.TempDir(), "docker.sock")
	id := strings.Repeat("ab", 32)
	e := fakedocker.Start(t, sock, fakedocker.Container{ID: id, Name: "shop-api", Image: "shop/api:1.2", Env: []string{"NOVALUE"}})
	var l logs
	r := newTestRuntime(t, NewDocker, RuntimeConfig{Address: "unix://" + sock, Logf: l.logf})
	waitUp(t, r)
	c, err := r.Container(id)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"NOVALUE": ""}, c.Env, "a variable without '=' (the API allows it, the CLI never sends it)")
	assert.Contains(t, l.get()[0], "Engine 27.5.1, API 1.47")
	assert.Equal(t, []string{"/_ping", "/v1.47/version", "/v1.47/containers/json", "/v1.47/containers/" + id + "/json"}, e.Paths())
}

func TestDockerHost(t *testing.T) {
	for _, tc := range []struct{ env, host, tls, want string }{
		{host: "unix:///run/d.sock", want: "unix:///run/d.sock"},
		{env: "unix:///env.sock", want: "unix:///env.sock"},
		{want: "unix:///var/run/docker.sock"},
		{host: "tcp://127.0.0.1:1", want: "tcp://127.0.0.1:1"},
		{host: "tcp://127.0.0.1:1", tls: "1", want: "TLS (DOCKER_TLS_VERIFY) is not supported"},
		{host: "ssh://me@box", want: `protocol "ssh" is not supported`},
		{host: "/var/run/docker.sock", want: "is not unix://path or tcp://host:port"},
	} {
		t.Setenv("DOCKER_HOST", tc.env)
		t.Setenv("DOCKER_TLS_VERIFY", tc.tls)
		r, err := NewDocker(RuntimeConfig{Address: tc.host, RefreshInterval: time.Hour, MinBackoff: time.Hour, Logf: (&logs{}).logf})
		if err != nil {
			assert.ErrorContains(t, err, tc.want, "host %q", tc.host)
			continue
		}
		assert.Equal(t, tc.want, r.api.address())
		require.NoError(t, r.Close())
	}
}
