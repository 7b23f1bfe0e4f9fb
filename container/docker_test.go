package container

// The Docker tests talk to a real HTTP server on a unix socket that answers the Engine API
// endpoints the client uses (/_ping, /version, /containers/json, /containers/{id}/json) with
// bodies shaped like Docker Engine 27's (API 1.47) responses, trimmed. No Docker engine runs on
// the development and CI machines, so this server stands in for dockerd; the client (engine.go:
// API version from /_ping, HTTP over the socket, JSON decoding) is the one Docker uses.

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/fakedocker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

var (
	shopAPI = fakedocker.Container{ID: fixtureDockerID, Name: "shop-api", Image: "shop/api:1.2",
		Labels: map[string]string{"team": "pay", "com.docker.compose.service": "api"},
		Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=en_US.UTF-8", "DEBUG=0", "TOKEN=a=b", "NOVALUE"}}
	podLabels = map[string]string{
		"io.kubernetes.pod.name": "web-7d4b9c8f6b-x2kq9", "io.kubernetes.pod.namespace": "prod",
		"io.kubernetes.pod.uid": fixturePodUID, "io.kubernetes.container.name": "web",
		"io.kubernetes.docker.type": "container", "io.kubernetes.sandbox.id": strings.Repeat("5a", 32),
		"annotation.io.kubernetes.container.hash": "81bad010", "annotation.io.kubernetes.container.restartCount": "0",
	}
	webApp = fakedocker.Container{ID: fixturePodCtrID, Name: "k8s_web_web-7d4b9c8f6b-x2kq9_prod_" + fixturePodUID + "_0",
		Image: "registry.example.com/web@sha256:" + strings.Repeat("ef", 32), Labels: podLabels, Env: []string{"LANG=C", "DEBUG=1"}}
	webSandbox = fakedocker.Container{ID: strings.Repeat("5a", 32), Name: "k8s_POD_web-7d4b9c8f6b-x2kq9_prod_" + fixturePodUID + "_0",
		Image: "registry.k8s.io/pause:3.9", Labels: map[string]string{
			"io.kubernetes.pod.name": "web-7d4b9c8f6b-x2kq9", "io.kubernetes.pod.namespace": "prod", "io.kubernetes.pod.uid": fixturePodUID,
			"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.container.name": "POD",
			"annotation.kubernetes.io/config.source": "api", "app": "web", "pod-template-hash": "7d4b9c8f6b", "release": "canary"}}
)

func socketPath(t *testing.T) string { return filepath.Join(t.TempDir(), "docker.sock") }

func newTestDocker(t *testing.T, cfg DockerConfig) *Docker {
	t.Helper()
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Hour // tests that want a refresh say so
	}
	d, err := NewDocker(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func waitUp(t *testing.T, d *Docker) {
	t.Helper()
	require.Eventually(t, d.Up, 5*time.Second, 5*time.Millisecond, "the client never reached the engine")
}

func TestDockerListAndInspect(t *testing.T) {
	t.Setenv("DOCKER_HOST", "") // the socket below, whatever the environment says
	sock := socketPath(t)
	e := fakedocker.Start(t, sock, shopAPI, webApp, webSandbox)
	var l logs
	d := newTestDocker(t, DockerConfig{Host: "unix://" + sock, Logf: l.logf})
	waitUp(t, d)
	lists, inspects := e.Counts()
	assert.Equal(t, 1, lists)
	assert.Zero(t, inspects, "inspect is on demand only")
	require.Len(t, l.get(), 1)
	assert.Contains(t, l.get()[0], "Engine 27.5.1")

	c, err := d.Container(shopAPI.ID)
	require.NoError(t, err)
	assert.Equal(t, &Container{ID: shopAPI.ID, Name: "shop-api", Image: "shop/api:1.2",
		Labels: map[string]string{"team": "pay", "com.docker.compose.service": "api"},
		Env: map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "en_US.UTF-8",
			"DEBUG": "0", "TOKEN": "a=b", "NOVALUE": ""}}, c)

	k, err := d.Container(webApp.ID)
	require.NoError(t, err)
	assert.Equal(t, "k8s_web_web-7d4b9c8f6b-x2kq9_prod_"+fixturePodUID+"_0", k.Name)
	assert.Equal(t, &K8sInfo{PodName: "web-7d4b9c8f6b-x2kq9", Namespace: "prod", ContainerName: "web", PodUID: fixturePodUID,
		Workload: "web", Labels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6b", "release": "canary"}}, k.K8s)

	// Answers from memory afterwards.
	for range 5 {
		_, err = d.Container(shopAPI.ID)
		require.NoError(t, err)
	}
	_, inspects = e.Counts()
	assert.Equal(t, 2, inspects)
	assert.Equal(t, 2, d.Inspects())
	// Every request after the ping uses the API version the daemon announced on it.
	assert.Equal(t, []string{"/_ping", "/v1.47/containers/json", "/v1.47/version",
		"/v1.47/containers/" + shopAPI.ID + "/json", "/v1.47/containers/" + webApp.ID + "/json"}, e.Paths())

	// An id the daemon does not know: asked once until the next list.
	unknown := hexID(1)
	for range 3 {
		_, err = d.Container(unknown)
		assert.ErrorIs(t, err, ErrNotFound)
	}
	assert.Equal(t, 1, e.InspectsOf(unknown))
	assert.Len(t, l.get(), 1, "nothing more logged")
}

func TestDockerRateLimit(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	sock := socketPath(t)
	var cs []fakedocker.Container
	for i := range 15 {
		cs = append(cs, fakedocker.Container{ID: hexID(i), Name: fmt.Sprintf("c%d", i), Image: "busybox"})
	}
	e := fakedocker.Start(t, sock, cs...)
	clk := &clock{t: time.Unix(1763700000, 0)}
	d := newTestDocker(t, DockerConfig{Host: "unix://" + sock, Now: clk.now, InspectRate: 10, InspectBurst: 10, Logf: (&logs{}).logf})
	waitUp(t, d)

	ask := func() (ok, limited int) {
		for _, c := range cs {
			_, err := d.Container(c.ID)
			switch {
			case err == nil:
				ok++
			case assert.ErrorIs(t, err, ErrRateLimited):
				limited++
			}
		}
		return
	}
	// The clock stands still: a burst of exactly 10 inspects.
	ok, limited := ask()
	assert.Equal(t, [2]int{10, 5}, [2]int{ok, limited})
	_, inspects := e.Counts()
	assert.Equal(t, 10, inspects)

	// 300 ms at 10/s refill 3 tokens: 3 more inspects; the 10 known answer from memory.
	clk.add(300 * time.Millisecond)
	ok, limited = ask()
	assert.Equal(t, [2]int{13, 2}, [2]int{ok, limited})
	_, inspects = e.Counts()
	assert.Equal(t, 13, inspects)

	// A long pause refills to the burst, never beyond: the last 2 now.
	clk.add(time.Hour)
	ok, limited = ask()
	assert.Equal(t, [2]int{15, 0}, [2]int{ok, limited})
	_, inspects = e.Counts()
	assert.Equal(t, 15, inspects, "each container inspected exactly once")
}

func TestDockerAbsentThenAppears(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	sock := socketPath(t) // nothing listens yet
	var l logs
	d := newTestDocker(t, DockerConfig{Host: "unix://" + sock, Logf: l.logf, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	time.Sleep(200 * time.Millisecond) // ≈ 10 retries
	assert.False(t, d.Up())
	require.Len(t, l.get(), 1, "one line however many retries: %q", l.get())
	assert.Contains(t, l.get()[0], "no daemon at unix://"+sock)
	for range 100 {
		_, err := d.Container(shopAPI.ID)
		require.ErrorIs(t, err, ErrNoDaemon)
	}
	assert.Zero(t, d.Inspects(), "no call per lookup without a daemon")
	assert.Len(t, l.get(), 1, "and no line per lookup")

	// A resolver sees the process in host mode meanwhile.
	r := NewResolver(Procfs{Root: "testdata/proc"}, d)
	id, err := r.Lookup(202)
	require.NoError(t, err)
	assert.Equal(t, ModeHost, id.Mode)
	assert.False(t, id.Pending)

	gen := d.Generation()
	e := fakedocker.Start(t, sock, shopAPI)
	waitUp(t, d)
	assert.NotEqual(t, gen, d.Generation())
	require.Len(t, l.get(), 2)
	assert.Contains(t, l.get()[1], "daemon at unix://"+sock)
	id, err = r.Lookup(202)
	require.NoError(t, err)
	assert.Equal(t, ModeContainer, id.Mode, "re-resolved once the daemon is there")
	assert.Equal(t, "shop-api", id.ContainerName())

	// The daemon goes away: the next inspect notices; one more line, host mode again.
	e.Stop()
	_, err = d.Container(webApp.ID)
	assert.ErrorIs(t, err, ErrNoDaemon)
	require.Eventually(t, func() bool { return !d.Up() }, 5*time.Second, 5*time.Millisecond)
	_ = d.Close() // stop retrying so the log is final
	require.Len(t, l.get(), 3, "%q", l.get())
	assert.Contains(t, l.get()[2], "lost the daemon")
	id, err = r.Lookup(202)
	require.NoError(t, err)
	assert.Equal(t, ModeHost, id.Mode)
}

func TestDockerContainerRemoved(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	sock := socketPath(t)
	e := fakedocker.Start(t, sock, shopAPI, webApp, webSandbox)
	d := newTestDocker(t, DockerConfig{Host: "unix://" + sock, RefreshInterval: 20 * time.Millisecond, Logf: (&logs{}).logf})
	waitUp(t, d)
	_, err := d.Container(shopAPI.ID)
	require.NoError(t, err)
	_, err = d.Container(webApp.ID)
	require.NoError(t, err)

	gen := d.Generation()
	e.Remove(shopAPI.ID)
	require.Eventually(t, func() bool { return d.Generation() != gen }, 5*time.Second, 5*time.Millisecond)
	d.mu.Lock()
	_, cached := d.inspected[shopAPI.ID]
	_, kept := d.inspected[webApp.ID]
	d.mu.Unlock()
	assert.False(t, cached, "a container gone from the list is forgotten")
	assert.True(t, kept)
	_, err = d.Container(shopAPI.ID)
	assert.ErrorIs(t, err, ErrNotFound)

	// The pod's labels change (kubectl label): the sandbox's new labels reach the cached
	// container at the next list.
	sb := webSandbox
	sb.Labels = map[string]string{}
	for k, v := range webSandbox.Labels {
		sb.Labels[k] = v
	}
	sb.Labels["release"] = "stable"
	e.Set(sb)
	require.Eventually(t, func() bool {
		c, err := d.Container(webApp.ID)
		return err == nil && c.K8s.Labels["release"] == "stable"
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, e.InspectsOf(webApp.ID), "pod labels come from the list, no new inspect")
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
		d, err := NewDocker(DockerConfig{Host: tc.host, RefreshInterval: time.Hour, MinBackoff: time.Hour, Logf: (&logs{}).logf})
		if err != nil {
			assert.ErrorContains(t, err, tc.want, "host %q", tc.host)
			continue
		}
		assert.Equal(t, tc.want, d.cli.host)
		require.NoError(t, d.Close())
	}
}
