package filepermtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RecordFiles calls write with a path in two directories that do not exist yet, under umask 0
// (which would let any mode through); write must create the file there and roll it once, to
// path.1. Both files must be 0640 and both directories 0750.
func RecordFiles(t *testing.T, write func(path string)) {
	t.Helper()
	defer syscall.Umask(syscall.Umask(0))
	path := filepath.Join(t.TempDir(), "new", "dir", "records")
	write(path)
	for name, want := range map[string]os.FileMode{path: 0o640, path + ".1": 0o640, filepath.Dir(path): 0o750, filepath.Dir(filepath.Dir(path)): 0o750} {
		st, err := os.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, want, st.Mode().Perm(), name)
	}
}
