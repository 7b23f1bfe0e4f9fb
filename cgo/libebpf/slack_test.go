package libebpf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every thread of a process that links this package, the runtime's sysmon among them, sleeps with
// the 1 ms timer slack the constructor set before the runtime started them (the kernel's default
// is 50 µs).
func TestEveryThreadHasTheTimerSlack(t *testing.T) {
	tasks, err := filepath.Glob("/proc/self/task/*")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(tasks), 2, "the runtime's threads")
	for _, task := range tasks {
		tid := filepath.Base(task)
		b, err := os.ReadFile(filepath.Join("/proc", tid, "timerslack_ns"))
		if os.IsNotExist(err) {
			continue // the thread exited meanwhile
		}
		require.NoError(t, err)
		assert.Equal(t, "1000000", strings.TrimSpace(string(b)), "thread %s", tid)
	}
}
