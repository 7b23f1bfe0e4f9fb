package container

// Real processes in cgroups this test creates: a process moved into a cgroup named like a Docker
// scope (cgroup v2), one in a Kubernetes pod slice (v2), and one in a cgroupfs Docker cgroup of a
// v1 hierarchy when the machine has one (hybrid hosts do), are resolved through the real /proc
// and the stand-in Docker daemon (internal/fakedocker: this host's real dockerd, cgroupfs driver
// without systemd, never makes the systemd scopes and kubepods slices tested here; docker_test.go
// runs the real one), then filtered. Needs root; fails without it.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/fakedocker"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cgroupMounts returns the cgroup v2 mount point and the v1 hierarchy holding the pids controller
// ("" when absent).
func cgroupMounts(t *testing.T) (v2, v1pids string) {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 {
			continue
		}
		switch fs[2] {
		case "cgroup2":
			v2 = fs[1]
		case "cgroup":
			for _, o := range strings.Split(fs[3], ",") {
				if o == "pids" {
					v1pids = fs[1]
				}
			}
		}
	}
	return v2, v1pids
}

// inCgroup starts `sleep` and moves it into dir (created with its parents), undoing all of it at
// cleanup: the process is killed and reaped, then the directories created are removed, deepest
// first.
func inCgroup(t *testing.T, base, rel string) *exec.Cmd {
	t.Helper()
	var created []string
	dir := base
	for _, seg := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, seg)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		require.NoError(t, os.Mkdir(dir, 0o755))
		created = append(created, dir)
	}
	cmd := exec.Command("sleep", "300")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for i := len(created) - 1; i >= 0; i-- {
			// An emptied cgroup can take a moment to be removable.
			var err error
			for range 50 {
				if err = os.Remove(created[i]); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			assert.NoError(t, err, "removing cgroup %s", created[i])
		}
	})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644))
	return cmd
}

func TestRealProcessesInCgroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates cgroups and needs root; run it as root (CI does)")
	}
	v2, v1pids := cgroupMounts(t)
	require.NotEmpty(t, v2, "no cgroup2 mount in /proc/self/mounts")
	t.Setenv("DOCKER_HOST", "")

	// Ids of our own, so that no real container can be confused with them.
	ctrID := fmt.Sprintf("%064x", 0x5e1f0000+os.Getpid())
	podCtrID := fmt.Sprintf("%064x", 0x9e1f0000+os.Getpid())
	v1CtrID := fmt.Sprintf("%064x", 0x1e1f0000+os.Getpid())
	uid := fmt.Sprintf("0badcafe-0000-4000-8000-%012x", os.Getpid())
	top := fmt.Sprintf("netobserver-test-%d.slice", os.Getpid())

	plain := inCgroup(t, v2, top+"/docker-"+ctrID+".scope")
	inPod := inCgroup(t, v2, top+"/kubepods-besteffort-pod"+strings.ReplaceAll(uid, "-", "_")+".slice/cri-containerd-"+podCtrID+".scope")
	host := exec.Command("sleep", "300")
	require.NoError(t, host.Start())
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	var v1 *exec.Cmd
	if v1pids != "" {
		v1 = inCgroup(t, v1pids, strings.TrimSuffix(top, ".slice")+"/docker/"+v1CtrID)
	} else {
		t.Log("no cgroup v1 pids hierarchy on this machine: the v1 case is covered by fixtures only")
	}

	sock := filepath.Join(t.TempDir(), "docker.sock")
	app := webApp
	app.ID, app.Labels = podCtrID, map[string]string{}
	for k, v := range webApp.Labels {
		app.Labels[k] = v
	}
	app.Labels[labelPodUID] = uid
	sandbox := webSandbox
	sandbox.Labels = map[string]string{}
	for k, v := range webSandbox.Labels {
		sandbox.Labels[k] = v
	}
	sandbox.Labels[labelPodUID] = uid
	shop := shopAPI
	shop.ID = ctrID
	legacy := fakedocker.Container{ID: v1CtrID, Name: "legacy", Image: "legacy:1", Labels: map[string]string{"team": "ops"}, Env: []string{"DEBUG=1"}}
	fakedocker.Start(t, sock, shop, app, sandbox, legacy)
	d := newTestRuntime(t, NewDocker, RuntimeConfig{Address: "unix://" + sock, Logf: (&logs{}).logf})
	waitUp(t, d)
	r := NewIdentities(Procfs{}, d)

	lookup := func(c *exec.Cmd) *Identity {
		t.Helper()
		id, err := r.Lookup(uint32(c.Process.Pid))
		require.NoError(t, err)
		require.False(t, id.Pending)
		return id
	}
	ctr, pod, hostID := lookup(plain), lookup(inPod), lookup(host)

	assert.Equal(t, Cgroup{ContainerID: ctrID}, ctr.Cgroup)
	assert.Equal(t, ModeContainer, ctr.Mode)
	assert.Equal(t, "container:"+ctrID, ctr.Group)
	assert.Equal(t, "shop-api", ctr.Container.Name)
	assert.Equal(t, "pay", ctr.Container.Labels["team"])
	assert.Equal(t, "sleep", ctr.Cmd)

	assert.Equal(t, Cgroup{ContainerID: podCtrID, PodUID: uid}, pod.Cgroup)
	assert.Equal(t, ModeKubernetes, pod.Mode)
	assert.Equal(t, [4]string{"web-7d4b9c8f6b-x2kq9", "prod", "web", "web"}, podNames(pod))
	assert.Equal(t, "canary", pod.Container.K8s.Labels["release"])

	assert.Equal(t, ModeHost, hostID.Mode)
	assert.Equal(t, "pid:"+strconv.Itoa(host.Process.Pid)+":"+strconv.FormatUint(hostID.StartTime, 10), hostID.Group)
	assert.Equal(t, uint32(host.Process.Pid), hostID.PID)
	assert.Equal(t, "sleep", hostID.Cmd)

	procs := []*Identity{ctr, pod, hostID}
	if v1 != nil {
		legacyID := lookup(v1)
		assert.Equal(t, Cgroup{ContainerID: v1CtrID}, legacyID.Cgroup)
		assert.Equal(t, ModeContainer, legacyID.Mode)
		assert.Equal(t, "legacy", legacyID.Container.Name)
		procs = append(procs, legacyID)
	}
	decide := func(c FilterConfig) []bool {
		f := NewFilter(c)
		var out []bool
		for _, id := range procs {
			out = append(out, f.Allows(id))
		}
		return out
	}
	pick := func(want ...bool) []bool { return want[:len(procs)] }
	//                                                                  shop   pod    host   legacy
	assert.Equal(t, pick(true, true, true, true), decide(FilterConfig{}))
	assert.Equal(t, pick(true, false, true, false), decide(FilterConfig{IncludeContainerNameRegex: re("shop-.*")}))
	assert.Equal(t, pick(true, false, true, false), decide(FilterConfig{ExcludeEnvs: res("DEBUG", "1")}))
	assert.Equal(t, pick(true, true, false, true), decide(FilterConfig{ExcludeCmdRegex: re("sleep")}))
	assert.Equal(t, pick(false, true, true, true), decide(FilterConfig{IncludeContainerLabels: res("team", "ops|ship", "io.kubernetes.pod.name", ".*")}))
	assert.Equal(t, pick(true, false, true, true), decide(FilterConfig{ExcludeK8sLabels: res("release", "canary"), IncludeCmdRegex: re("sleep")}))

	// The observer's re-enable check: the process exits, its pid is "restarted".
	require.False(t, r.Restarted(ctr.PID, ctr.StartTime))
	require.NoError(t, plain.Process.Kill())
	_ = plain.Wait()
	assert.True(t, r.Restarted(ctr.PID, ctr.StartTime))
	assert.Contains(t, r.Prune(), ctr.PID)
}

// The stand-in daemon's containers: the cgroup layouts above (systemd scopes, kubepods slices)
// are ones this host's dockerd (cgroupfs driver, no systemd) never makes, so their processes are
// named by the stand-in.
var (
	shopAPI = fakedocker.Container{ID: fixtureDockerID, Name: "shop-api", Image: "shop/api:1.2",
		Labels: map[string]string{"team": "pay", "com.docker.compose.service": "api"},
		Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=en_US.UTF-8", "DEBUG=0", "TOKEN=a=b", "NOVALUE"}}
	webApp = fakedocker.Container{ID: fixturePodCtrID, Name: "k8s_web_web-7d4b9c8f6b-x2kq9_prod_" + fixturePodUID + "_0",
		Image: "registry.example.com/web@sha256:" + strings.Repeat("ef", 32), Labels: map[string]string{
			"io.kubernetes.pod.name": "web-7d4b9c8f6b-x2kq9", "io.kubernetes.pod.namespace": "prod",
			"io.kubernetes.pod.uid": fixturePodUID, "io.kubernetes.container.name": "web",
			"io.kubernetes.docker.type": "container", "io.kubernetes.sandbox.id": strings.Repeat("5a", 32),
			"annotation.io.kubernetes.container.hash": "81bad010", "annotation.io.kubernetes.container.restartCount": "0",
		}, Env: []string{"LANG=C", "DEBUG=1"}}
	webSandbox = fakedocker.Container{ID: strings.Repeat("5a", 32), Name: "k8s_POD_web-7d4b9c8f6b-x2kq9_prod_" + fixturePodUID + "_0",
		Image: "registry.k8s.io/pause:3.9", Labels: map[string]string{
			"io.kubernetes.pod.name": "web-7d4b9c8f6b-x2kq9", "io.kubernetes.pod.namespace": "prod", "io.kubernetes.pod.uid": fixturePodUID,
			"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.container.name": "POD",
			"annotation.kubernetes.io/config.source": "api", "app": "web", "pod-template-hash": "7d4b9c8f6b", "release": "canary"}}
)
