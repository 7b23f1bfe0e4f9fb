package observer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// processes reuses a host process's answer without asking the resolver until its epoch moves:
// the process must still count as used at each Prune, and a restarted pid must be read again.
func TestProcessesReuseHostIdentitiesUntilPrune(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS("../container/testdata/proc")))
	r := container.NewIdentities(container.Procfs{Root: root}, nil)
	p := newProcesses(r)
	first := p.get(101, 0)
	assert.Equal(t, "pid:101:101000", first.Group)
	assert.Same(t, first, p.get(101, 0))

	assert.Empty(t, r.Prune())
	assert.Same(t, first, p.get(101, 0))
	assert.Empty(t, r.Prune())
	assert.Equal(t, 1, r.Len(), "asked for since the previous Prune: still cached")
	assert.Empty(t, r.Prune())
	assert.Zero(t, r.Len(), "not asked for since the previous Prune: dropped")
	assert.Equal(t, first, p.get(101, 0), "read again: an equal identity")

	// 101 now belongs to another process: the observer forgets what Prune reports.
	stat := "101 (other) S 1 101 101 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 555 1000 10 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "101", "stat"), []byte(stat), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "101", "cmdline"), []byte("/bin/other\x00"), 0o644))
	assert.Equal(t, []uint32{101}, r.Prune())
	delete(p.byID, 101)
	next := p.get(101, 0)
	assert.NotSame(t, first, next)
	assert.Contains(t, next.Meta, record.Field{Key: "_process_cmd_", Value: "/bin/other"})
}

// dockerMeta answers one container, renamed when the test says so.
type dockerMeta struct {
	name string
	gen  uint64
}

func (m *dockerMeta) Container(id string) (*container.Container, error) {
	return &container.Container{ID: id, Name: m.name}, nil
}
func (m *dockerMeta) Generation() uint64 { return m.gen }

// A container process's answer is reused too, until the metadata generation moves: then the
// renamed container shows in the next record.
func TestProcessesReuseContainerIdentitiesUntilMetadataMoves(t *testing.T) {
	meta := &dockerMeta{name: "shop-api"}
	r := container.NewIdentities(container.Procfs{Root: "../container/testdata/proc"}, meta)
	p := newProcesses(r)
	first := p.get(202, 0) // a process in a systemd docker scope
	assert.Contains(t, first.Meta, record.Field{Key: "_container_name_", Value: "shop-api"})
	assert.Same(t, first, p.get(202, 0))

	meta.name, meta.gen = "shop-api-v2", 1
	renamed := p.get(202, 0)
	assert.NotSame(t, first, renamed)
	assert.Contains(t, renamed.Meta, record.Field{Key: "_container_name_", Value: "shop-api-v2"})
	assert.Same(t, renamed, p.get(202, 0))
}
