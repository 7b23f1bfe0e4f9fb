package fileperm

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Mode().Perm()
}

// Created files and directories get their exact modes under a permissive and a strict umask;
// existing ones keep theirs.
func TestModesWhateverTheUmask(t *testing.T) {
	for _, umask := range []int{0, 0o077} {
		root := filepath.Join(t.TempDir(), "existing")
		require.NoError(t, os.Mkdir(root, 0o711))
		require.NoError(t, os.Chmod(root, 0o711))
		old := syscall.Umask(umask)
		f, err := OpenAppend(filepath.Join(root, "a", "b", "records.log"), Records)
		require.NoError(t, err)
		f.Close()
		tr, err := Create(filepath.Join(root, "a", "host.trace"), Trace)
		require.NoError(t, err)
		tr.Close()
		syscall.Umask(old)

		assert.Equal(t, Records, mode(t, filepath.Join(root, "a", "b", "records.log")), "umask %o", umask)
		assert.Equal(t, Trace, mode(t, filepath.Join(root, "a", "host.trace")), "umask %o", umask)
		assert.Equal(t, Dir, mode(t, filepath.Join(root, "a")), "umask %o", umask)
		assert.Equal(t, Dir, mode(t, filepath.Join(root, "a", "b")), "umask %o", umask)
		assert.Equal(t, os.FileMode(0o711), mode(t, root), "an existing directory keeps its mode")
	}
}

func TestExistingKeepTheirModesButTracesDoNot(t *testing.T) {
	dir := t.TempDir()
	log, trace := filepath.Join(dir, "records.log"), filepath.Join(dir, "host.trace")
	require.NoError(t, os.WriteFile(log, []byte("x\n"), 0o644))
	require.NoError(t, os.WriteFile(trace, []byte("old"), 0o644))
	require.NoError(t, os.Chmod(log, 0o644))
	require.NoError(t, os.Chmod(trace, 0o644))

	f, err := OpenAppend(log, Records)
	require.NoError(t, err)
	_, err = f.WriteString("y\n")
	require.NoError(t, err)
	f.Close()
	got, _ := os.ReadFile(log)
	assert.Equal(t, "x\ny\n", string(got), "appended")
	assert.Equal(t, os.FileMode(0o644), mode(t, log), "an administrator's mode stands")

	f, err = Create(trace, Trace)
	require.NoError(t, err)
	f.Close()
	assert.Equal(t, Trace, mode(t, trace), "a rewritten trace is protected")

	null, err := Create(os.DevNull, Trace)
	require.NoError(t, err)
	null.Close()
	assert.Equal(t, os.FileMode(0o666), mode(t, os.DevNull), "not a regular file: left alone")
}
