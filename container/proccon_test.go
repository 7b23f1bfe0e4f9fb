package container

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The process connector learns a short-lived process while it runs: its exact command, from
// /proc right after the exec, then its exit. Root (CAP_NET_ADMIN) only.
func TestProcConnectorLearnsShortLivedProcesses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (CAP_NET_ADMIN) for the process connector")
	}
	table := NewProcTable(ProcTableConfig{})
	c, err := ListenProcConnector(table, Procfs{})
	require.NoError(t, err)
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // the subscription is asynchronous
	var pids []int
	for range 5 {
		cmd := exec.Command("/bin/sleep", "0.05")
		require.NoError(t, cmd.Run())
		pids = append(pids, cmd.Process.Pid)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		var p *ProcInfo
		for {
			p, _ = table.At(uint32(pid), 0)
			if (p != nil && p.Exited != 0) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.NotNil(t, p, "pid %d", pid)
		assert.Equal(t, "/bin/sleep", p.Cmd, "pid %d", pid)
		assert.NotZero(t, p.Exited, "pid %d", pid)
	}
}
