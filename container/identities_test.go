package container

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeMeta is a Metadata whose answers the test sets.
type fakeMeta struct {
	mu    sync.Mutex
	gen   uint64
	ctrs  map[string]*Container
	err   error // answered for ids not in ctrs (default ErrNotFound)
	calls int
}

func (m *fakeMeta) Container(id string) (*Container, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if c := m.ctrs[id]; c != nil {
		return c, nil
	}
	if m.err != nil {
		return nil, m.err
	}
	return nil, ErrNotFound
}

func (m *fakeMeta) Generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

func (m *fakeMeta) set(f func()) {
	m.mu.Lock()
	f()
	m.gen++
	m.mu.Unlock()
}

// podNames are the pod name, namespace, container name and workload of a Kubernetes identity.
func podNames(id *Identity) [4]string {
	k := id.Container.K8s
	return [4]string{k.PodName, k.Namespace, k.ContainerName, k.Workload}
}

func TestResolverModes(t *testing.T) {
	meta := &fakeMeta{ctrs: map[string]*Container{
		fixtureDockerID: {ID: fixtureDockerID, Name: "shop-api"},
		fixturePodCtrID: {ID: fixturePodCtrID, Name: "k8s_web_web-0_prod_x_0", K8s: &K8sInfo{
			PodName: "web-0", Namespace: "prod", ContainerName: "web", Workload: "web", PodUID: fixturePodUID}},
	}}
	r := NewIdentities(Procfs{Root: "testdata/proc"}, meta)

	host, err := r.Lookup(101)
	require.NoError(t, err)
	assert.Equal(t, ModeHost, host.Mode)
	assert.Equal(t, "pid:101:101000", host.Group)
	assert.Equal(t, uint64(101000), host.StartTime)
	assert.Equal(t, uint32(101), host.PID)
	assert.Equal(t, "/usr/bin/app101", host.Cmd)

	// Two processes of one container: one group, container fields.
	a, err := r.Lookup(201)
	require.NoError(t, err)
	b, err := r.Lookup(202)
	require.NoError(t, err)
	assert.Equal(t, ModeContainer, a.Mode)
	assert.Equal(t, "container:"+fixtureDockerID, a.Group)
	assert.Equal(t, a.Group, b.Group)
	assert.Equal(t, "shop-api", a.Container.Name)
	assert.Equal(t, "shop-api", a.ContainerName())

	k, err := r.Lookup(302)
	require.NoError(t, err)
	assert.Equal(t, ModeKubernetes, k.Mode)
	assert.Equal(t, [4]string{"web-0", "prod", "web", "web"}, podNames(k))
	assert.Equal(t, "web", k.ContainerName())
	assert.Equal(t, fixturePodUID, k.Cgroup.PodUID)

	// A container Docker does not know (podman here): host mode, cgroup still recorded.
	p, err := r.Lookup(309)
	require.NoError(t, err)
	assert.Equal(t, ModeHost, p.Mode)
	assert.Equal(t, fixturePodmanID, p.Cgroup.ContainerID)

	_, err = r.Lookup(4242)
	assert.Error(t, err, "no such process")

	// Without Metadata every process is a host process.
	h, err := NewIdentities(Procfs{Root: "testdata/proc"}, nil).Lookup(202)
	require.NoError(t, err)
	assert.Equal(t, ModeHost, h.Mode)
	assert.Equal(t, "pid:202:202000", h.Group)
}

func TestResolverCaches(t *testing.T) {
	root := copyTree(t, "testdata/proc")
	meta := &fakeMeta{ctrs: map[string]*Container{}, err: ErrNoDaemon}
	r := NewIdentities(Procfs{Root: root}, meta)

	first, err := r.Lookup(202)
	require.NoError(t, err)
	assert.Equal(t, ModeHost, first.Mode, "no daemon: host mode")
	assert.False(t, first.Pending)
	// /proc is read once: a lookup after the files are gone still answers.
	require.NoError(t, os.Remove(filepath.Join(root, "202", "cmdline")))
	again, err := r.Lookup(202)
	require.NoError(t, err)
	assert.Same(t, first, again)
	assert.Equal(t, 1, meta.calls, "same generation: Metadata is not asked again")

	// The daemon appears (the generation moves): the cached process is re-resolved from
	// Metadata, not /proc.
	meta.set(func() { meta.ctrs[fixtureDockerID] = &Container{ID: fixtureDockerID, Name: "late"}; meta.err = nil })
	now, err := r.Lookup(202)
	require.NoError(t, err)
	assert.Equal(t, ModeContainer, now.Mode)
	assert.Equal(t, "late", now.ContainerName())
	_, _ = r.Lookup(202)
	assert.Equal(t, 2, meta.calls)

	// Rate limited: Pending, asked again at each lookup until it resolves.
	meta.set(func() { meta.err = ErrRateLimited })
	pend, err := r.Lookup(302)
	require.NoError(t, err)
	assert.True(t, pend.Pending)
	assert.Equal(t, "pid:302:302000", pend.Group)
	_, _ = r.Lookup(302)
	assert.Equal(t, 4, meta.calls)
	meta.set(func() { meta.ctrs[fixturePodCtrID] = &Container{ID: fixturePodCtrID, Name: "x"} })
	done, err := r.Lookup(302)
	require.NoError(t, err)
	assert.False(t, done.Pending)
	assert.Equal(t, ModeContainer, done.Mode)

	// Host processes never ask Metadata.
	calls := meta.calls
	_, _ = r.Lookup(101)
	meta.set(func() {})
	_, _ = r.Lookup(101)
	assert.Equal(t, calls, meta.calls)
}

func TestResolverPruneAndRestart(t *testing.T) {
	root := copyTree(t, "testdata/proc")
	r := NewIdentities(Procfs{Root: root}, nil)
	for _, pid := range []uint32{101, 102, 201} {
		_, err := r.Lookup(pid)
		require.NoError(t, err)
	}
	assert.Empty(t, r.Prune(), "nothing changed")
	assert.Equal(t, 3, r.Len())

	_, _ = r.Lookup(101)
	_, _ = r.Lookup(102)
	// 102 is reused by a new process (new start time); 201 was not looked up since the last
	// Prune and is dropped silently.
	writeStat(t, root, 102, 777)
	assert.Equal(t, []uint32{102}, r.Prune())
	assert.Equal(t, 1, r.Len())
	id, err := r.Lookup(102)
	require.NoError(t, err)
	assert.Equal(t, uint64(777), id.StartTime)

	// Restarted: what the observer asks for the pids it disabled.
	assert.False(t, r.Restarted(101, 101000))
	assert.True(t, r.Restarted(101, 1))
	assert.True(t, r.Restarted(4242, 1), "gone")

	r.Forget(102)
	assert.Equal(t, 1, r.Len())
}

func TestResolverEpoch(t *testing.T) {
	root := copyTree(t, "testdata/proc")
	r := NewIdentities(Procfs{Root: root}, nil)
	assert.EqualValues(t, 0, r.Epoch())
	_, err := r.Lookup(101)
	require.NoError(t, err)
	_, err = r.Lookup(102)
	require.NoError(t, err)
	assert.EqualValues(t, 0, r.Epoch(), "lookups do not move it")
	assert.Empty(t, r.Prune())
	assert.EqualValues(t, 1, r.Epoch(), "every Prune moves it: processes must be looked up again to count as used")
	_, _ = r.Lookup(101)
	_, _ = r.Lookup(102)
	writeStat(t, root, 102, 777)
	assert.Equal(t, []uint32{102}, r.Prune())
	assert.EqualValues(t, 3, r.Epoch(), "and again for each process it drops as restarted")
	r.Forget(101)
	assert.EqualValues(t, 4, r.Epoch())

	meta := &fakeMeta{ctrs: map[string]*Container{fixtureDockerID: {ID: fixtureDockerID, Name: "shop-api"}}}
	r = NewIdentities(Procfs{Root: root}, meta)
	_, err = r.Lookup(202)
	require.NoError(t, err)
	assert.EqualValues(t, 0, r.Epoch())
	meta.set(func() { meta.ctrs[fixtureDockerID] = &Container{ID: fixtureDockerID, Name: "shop-api-v2"} })
	assert.EqualValues(t, 1, r.Epoch(), "it moves with the metadata generation: container answers may have changed")
}

func writeStat(t *testing.T, root string, pid int, start uint64) {
	t.Helper()
	stat := []byte(itoa(uint64(pid)) + " (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 " + itoa(start) + " 1 1 1\n")
	require.NoError(t, os.WriteFile(filepath.Join(root, itoa(uint64(pid)), "stat"), stat, 0o644))
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// BenchmarkResolverLookup is the per-event cost for a process already seen, in a container.
func BenchmarkResolverLookup(b *testing.B) {
	meta := &fakeMeta{ctrs: map[string]*Container{fixtureDockerID: {ID: fixtureDockerID, Name: "shop-api"}}}
	r := NewIdentities(Procfs{Root: "testdata/proc"}, meta)
	if _, err := r.Lookup(202); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.Lookup(202)
	}
}
