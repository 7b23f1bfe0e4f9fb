package container

// The containerd tests run against a real containerd (Debian's) that testenv starts on its own
// socket and directories, without its CRI plugin: the tests create pods as the CRI plugin does —
// in namespace k8s.io, a sandbox container and application containers carrying the kubelet's
// io.kubernetes.* labels and the plugin's io.cri-containerd.kind, from an image imported into the
// namespace, in the kubelet's cgroupfs layout /kubepods/besteffort/pod<uid>/<id>, the application
// containers in the sandbox's network namespace — with containerd's own client, ctr.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const criImage = "docker.io/netobserver-test/busybox:1"

// criPod is a pod made as the CRI plugin makes one.
type criPod struct {
	d                 *testenv.Daemon
	uid, name, ns     string
	sandbox           string
	sandboxPID        int
	sandboxLabelsArgs []string
}

// newCRIPod starts the pod's sandbox, labelled with the pod's labels (key=value).
func newCRIPod(t *testing.T, d *testenv.Daemon, name, namespace, uid string, podLabels ...string) *criPod {
	t.Helper()
	p := &criPod{d: d, uid: uid, name: name, ns: namespace, sandbox: hexID(int(crc(uid)))}
	labels := append([]string{
		"io.kubernetes.pod.name=" + name, "io.kubernetes.pod.namespace=" + namespace, "io.kubernetes.pod.uid=" + uid,
		"io.cri-containerd.kind=sandbox",
	}, podLabels...)
	p.sandboxPID = criRun(t, d, p.sandbox, "/kubepods/besteffort/pod"+uid+"/"+p.sandbox, labels, nil, "sleep", "600")
	return p
}

// crc is a small stable hash to derive ids from names.
func crc(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h & 0xffffff
}

// container starts an application container of the pod, in the sandbox's network namespace, and
// returns its id and pid. detach false runs it to its end.
func (p *criPod) container(t *testing.T, name string, env []string, cmd ...string) (string, int) {
	t.Helper()
	id := hexID(int(crc(p.uid+name)) + 1<<24)
	labels := []string{
		"io.kubernetes.pod.name=" + p.name, "io.kubernetes.pod.namespace=" + p.ns, "io.kubernetes.pod.uid=" + p.uid,
		"io.kubernetes.container.name=" + name, "io.cri-containerd.kind=container",
	}
	extra := []string{"--with-ns", fmt.Sprintf("network:/proc/%d/ns/net", p.sandboxPID)}
	return id, criRun(t, p.d, id, "/kubepods/besteffort/pod"+p.uid+"/"+id, labels, append(extra, envArgs(env)...), cmd...)
}

func envArgs(env []string) []string {
	var args []string
	for _, e := range env {
		args = append(args, "--env", e)
	}
	return args
}

// criRun runs a detached task of the image in namespace k8s.io and returns its pid.
func criRun(t *testing.T, d *testenv.Daemon, id, cgroup string, labels, extra []string, cmd ...string) int {
	t.Helper()
	args := append([]string{"-n", "k8s.io", "run", "-d", "--cgroup", cgroup}, d.RunFlags()...)
	for _, l := range labels {
		args = append(args, "--label", l)
	}
	args = append(append(args, extra...), d.BusyboxOCIImage(t, "k8s.io", criImage), id)
	d.Ctr(t, append(args, cmd...)...)
	return taskPID(t, d, id)
}

// taskPID is the pid of a container's task, as ctr lists it.
func taskPID(t *testing.T, d *testenv.Daemon, id string) int {
	t.Helper()
	for _, line := range strings.Split(d.Ctr(t, "-n", "k8s.io", "tasks", "list"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id {
			var pid int
			fmt.Sscan(f[1], &pid)
			return pid
		}
	}
	t.Fatalf("no task %s", id)
	return 0
}

func TestContainerdCRIPod(t *testing.T) {
	d := testenv.StartContainerd(t)
	const uid = "0c8e6f2a-7b1d-4c3e-9f5a-2d4b6c8e0a1f"
	pod := newCRIPod(t, d, "shop-6d5f7b9c4d-k2x8p", "prod", uid, "app=shop", "pod-template-hash=6d5f7b9c4d")
	web, webPID := pod.container(t, "web", []string{"TIER=frontend", "TOKEN=a=b"}, "sleep", "600")
	// A container of another namespace (docker's "moby", ctr's "default") is not Kubernetes'.
	other := hexID(77)
	d.Ctr(t, "images", "list") // the default namespace exists
	d.BusyboxOCIImage(t, "default", criImage)
	d.Ctr(t, append(append([]string{"-n", "default", "run", "-d"}, d.RunFlags()...), criImage, other, "sleep", "600")...)

	var l logs
	r := newTestRuntime(t, NewContainerd, RuntimeConfig{Address: d.Socket, Logf: l.logf})
	waitUp(t, r)
	require.Len(t, l.get(), 1)
	assert.Regexp(t, `^containerd: daemon at \S+containerd.sock namespace k8s.io \(containerd 1\.6\.\S+\), 2 containers$`, l.get()[0])
	assert.Zero(t, r.Inspects())

	c, err := r.Container(web)
	require.NoError(t, err)
	assert.Equal(t, web, c.ID)
	assert.Equal(t, web, c.Name, "no name but the id outside Kubernetes")
	assert.Equal(t, criImage, c.Image)
	assert.Equal(t, map[string]string{"PATH": "/bin", "TIER": "frontend", "TOKEN": "a=b"}, c.Env)
	assert.Equal(t, "web", c.Labels["io.kubernetes.container.name"])
	assert.Equal(t, &K8sInfo{PodName: "shop-6d5f7b9c4d-k2x8p", Namespace: "prod", ContainerName: "web", PodUID: uid,
		Workload: "shop", Labels: map[string]string{"app": "shop", "pod-template-hash": "6d5f7b9c4d"}}, c.K8s)

	_, err = r.Container(other)
	assert.ErrorIs(t, err, ErrNotFound, "another namespace's container")

	// List, which a containerd older than 1.3 answers instead of ListStream, says the same; a
	// method the daemon lacks is recognised as such.
	api := r.api.(*containerdAPI)
	stream, err := api.listWith(context.Background(), "/containerd.services.containers.v1.Containers/ListStream")
	require.NoError(t, err)
	unary, err := api.listWith(context.Background(), "/containerd.services.containers.v1.Containers/List")
	require.NoError(t, err)
	assert.ElementsMatch(t, stream, unary)
	assert.Len(t, stream, 2)
	_, err = api.listWith(context.Background(), "/containerd.services.containers.v1.Containers/NoSuchMethod")
	assert.ErrorIs(t, err, errUnimplemented)

	// The process, from /proc: the kubelet's cgroup layout names the container and the pod.
	res := NewIdentities(Procfs{}, r)
	proc, err := res.Lookup(uint32(webPID))
	require.NoError(t, err)
	assert.Equal(t, ModeKubernetes, proc.Mode)
	assert.Equal(t, Cgroup{ContainerID: web, PodUID: uid}, proc.Cgroup)
	assert.Equal(t, "web", proc.ContainerName())
	assert.Equal(t, 2, r.Inspects(), "web once, the other namespace's once, and nothing again from the cache")
}

// A container whose process exited stays named while containerd keeps it (the CRI plugin keeps an
// exited container until the kubelet removes it), whether or not a list saw it running; a
// removed one is forgotten.
func TestContainerdExitedAndRemoved(t *testing.T) {
	d := testenv.StartContainerd(t)
	const uid = "1d9f7a3b-8c2e-4d4f-a06b-3e5c7d9f1b2a"
	pod := newCRIPod(t, d, "job-x7k2p", "batch", uid)
	r := newTestRuntime(t, NewContainerd, RuntimeConfig{Address: d.Socket, RefreshInterval: 50 * time.Millisecond})
	waitUp(t, r)
	quick, _ := pod.container(t, "quick", nil, "true")
	require.Eventually(t, func() bool {
		return strings.Contains(d.Ctr(t, "-n", "k8s.io", "tasks", "list"), quick) &&
			strings.Contains(d.Ctr(t, "-n", "k8s.io", "tasks", "list"), "STOPPED")
	}, 10*time.Second, 20*time.Millisecond)
	c, err := r.Container(quick)
	require.NoError(t, err)
	assert.Equal(t, "quick", c.K8s.ContainerName)
	assert.Equal(t, "job-x7k2p", c.K8s.PodName)

	d.Ctr(t, "-n", "k8s.io", "tasks", "delete", quick)
	d.Ctr(t, "-n", "k8s.io", "containers", "delete", quick)
	require.Eventually(t, func() bool {
		_, err := r.Container(quick)
		return errors.Is(err, ErrNotFound)
	}, 10*time.Second, 10*time.Millisecond)
}

// No daemon at first; it starts; it stops; it starts again — as the Docker path.
func TestContainerdAbsentAppearsLostBack(t *testing.T) {
	d := testenv.StartContainerd(t)
	d.Stop(t)
	var l logs
	r := newTestRuntime(t, NewContainerd, RuntimeConfig{Address: d.Socket, Logf: l.logf, RefreshInterval: 100 * time.Millisecond,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	time.Sleep(200 * time.Millisecond)
	assert.False(t, r.Up())
	require.Len(t, l.get(), 1, "%q", l.get())
	assert.Contains(t, l.get()[0], "containerd: no daemon at "+d.Socket+" namespace k8s.io")
	for range 100 {
		_, err := r.Container(hexID(3))
		require.ErrorIs(t, err, ErrNoDaemon)
	}
	assert.Zero(t, r.Inspects())

	d.Start(t)
	const uid = "2e0a8b4c-9d3f-4e5a-b17c-4f6d8e0a2c3b"
	pod := newCRIPod(t, d, "db-0", "data", uid)
	waitUp(t, r)
	require.Len(t, l.get(), 2)
	assert.Contains(t, l.get()[1], "containerd: daemon at "+d.Socket)
	c, err := r.Container(pod.sandbox)
	require.NoError(t, err)
	assert.Equal(t, "db", c.K8s.Workload, "a StatefulSet's pod")

	d.Stop(t)
	require.Eventually(t, func() bool { return !r.Up() }, 10*time.Second, 5*time.Millisecond)
	require.Len(t, l.get(), 3, "%q", l.get())
	assert.Contains(t, l.get()[2], "containerd: lost the daemon at "+d.Socket)
	_, err = r.Container(pod.sandbox)
	assert.ErrorIs(t, err, ErrNoDaemon)

	d.Start(t)
	waitUp(t, r)
	c, err = r.Container(pod.sandbox)
	require.NoError(t, err, "containerd keeps its containers across a restart")
	assert.Equal(t, "db-0", c.K8s.PodName)
}

// Auto: both runtimes; a container is named by the one that knows it.
func TestRuntimesAuto(t *testing.T) {
	dd := testenv.Dockerd(t)
	cd := testenv.StartContainerd(t)
	shop := runDetached(t, dd, unique("auto-shop"))
	pod := newCRIPod(t, cd, "auto-0", "default", "3f1b9c5d-0e4a-4f6b-82d8-5a7e9f1b3d4c")
	t.Setenv("DOCKER_HOST", dd.Host())
	t.Setenv("CONTAINERD_ADDRESS", cd.Socket)
	t.Setenv("NETOBSERVER_RUNTIME", "")
	rs, err := OpenRuntimes("", RuntimeConfig{Address: "/ignored", RefreshInterval: time.Hour, Logf: (&logs{}).logf})
	require.NoError(t, err)
	defer rs.Close()
	require.Len(t, rs, 2)
	for _, r := range rs {
		waitUp(t, r)
	}
	c, err := rs.Container(shop)
	require.NoError(t, err)
	assert.Equal(t, unique("auto-shop"), c.Name)
	c, err = rs.Container(pod.sandbox)
	require.NoError(t, err)
	assert.Equal(t, "auto-0", c.K8s.PodName)
	_, err = rs.Container(hexID(4))
	assert.ErrorIs(t, err, ErrNotFound)

	_, err = OpenRuntimes("cri-o", RuntimeConfig{})
	assert.ErrorContains(t, err, `container runtime "cri-o": not auto, docker, containerd or none`)
	none, err := OpenRuntimes("none", RuntimeConfig{})
	require.NoError(t, err)
	_, err = none.Container(shop)
	assert.ErrorIs(t, err, ErrNoDaemon)
}

func TestContainerdAddress(t *testing.T) {
	for _, tc := range []struct{ env, addr, want string }{
		{addr: "/run/k3s/containerd/containerd.sock", want: "/run/k3s/containerd/containerd.sock namespace k8s.io"},
		{addr: "unix:///x.sock", want: "/x.sock namespace k8s.io"},
		{env: "/env.sock", want: "/env.sock namespace k8s.io"},
		{want: "/run/containerd/containerd.sock namespace k8s.io"},
		{addr: "tcp://1.2.3.4:1", want: `containerd: address "tcp://1.2.3.4:1" is not a socket path`},
	} {
		t.Setenv("CONTAINERD_ADDRESS", tc.env)
		r, err := NewContainerd(RuntimeConfig{Address: tc.addr, RefreshInterval: time.Hour, MinBackoff: time.Hour, Logf: (&logs{}).logf})
		if err != nil {
			assert.EqualError(t, err, tc.want)
			continue
		}
		assert.Equal(t, tc.want, r.api.address())
		require.NoError(t, r.Close())
	}
}

// Whatever a socket sends, decoding a container fails cleanly or yields one.
func FuzzContainerdContainer(f *testing.F) {
	f.Add(appendString(appendString(nil, 1, strings.Repeat("a", 64)), 3, criImage))
	label := appendString(appendString(nil, 1, "io.kubernetes.pod.name"), 2, "web-0")
	spec := appendString(appendString(nil, 1, "types.containerd.io/opencontainers/runtime-spec/1/Spec"), 2, `{"process":{"env":["A=1","B"]}}`)
	f.Add(append(appendString(nil, 2, string(label)), appendString(nil, 5, string(spec))...))
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := decodeContainer(msg, true)
		if err == nil && (c == nil || c.Labels == nil || c.Env == nil) {
			t.Fatal("a container without its maps")
		}
	})
}
