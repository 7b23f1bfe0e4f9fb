package kerneltest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// procsOf returns the process events of pid so far, and the capture's socket events.
func (c *capture) procsOf(pid int) ([]procEvent, []event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []procEvent
	for _, p := range c.procs {
		if p.TGID == uint32(pid) {
			out = append(out, p)
		}
	}
	return out, append([]event(nil), c.evs...)
}

func bootOffset(t *testing.T) uint64 {
	var boot, mono unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot))
	require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono))
	return uint64(boot.Nano() - mono.Nano())
}

// Fifty curl processes, each gone within milliseconds: the kernel reports each one's fork, exec
// (with its exact argv, comm, parent and start time) and exit, in order with its socket events —
// the fork and exec before its connect, the exit after its last event — so that user space names
// them after they are gone.
func TestShortLivedProcessesAreReported(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	c := startCapture(t, nil)
	require.True(t, c.lib.ProcessEvents(), "our library has the process extension")

	const runs = 50
	type run struct {
		pid  int
		argv []string
	}
	var all []run
	for i := range runs {
		argv := []string{"curl", "-sS", "-o", "/dev/null", fmt.Sprintf("http://%s/n%d", n.ServerV4, i)}
		cmd := testenv.Command(n.Client, argv[0], argv[1:]...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		all = append(all, run{cmd.Process.Pid, argv})
	}
	self := uint32(os.Getpid())
	wantCgroup := lastTwo(ownCgroup(t))
	for _, r := range all {
		deadline := time.Now().Add(10 * time.Second)
		var procs []procEvent
		var evs []event
		for {
			procs, evs = c.procsOf(r.pid)
			if len(procs) > 0 && procs[len(procs)-1].Type == abi.ProcExit || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// ip netns exec is forked by this test, then execs itself into curl.
		var types []abi.ProcType
		for _, p := range procs {
			types = append(types, p.Type)
		}
		require.Equal(t, []abi.ProcType{abi.ProcFork, abi.ProcExec, abi.ProcExec, abi.ProcExit}, types, "pid %d", r.pid)
		fork, exec, exit := procs[0], procs[2], procs[3]
		assert.Equal(t, self, fork.PPID, "the fork's parent")
		assert.Equal(t, "ip", string(bytes.Split(procs[1].Cmdline(), []byte{0})[0]), "first exec: ip netns exec")
		assert.Equal(t, strings.Join(r.argv, "\x00")+"\x00", string(exec.Cmdline()), "pid %d", r.pid)
		assert.EqualValues(t, exec.ArgsSize, exec.ArgsTotal)
		assert.Equal(t, "curl", exec.CommString())
		assert.Equal(t, wantCgroup, exec.CgroupPath(), "the cgroup it inherited from this test")
		assert.Equal(t, "curl", container.Command(exec.Cmdline(), true))
		assert.Equal(t, self, exec.PPID)
		assert.Zero(t, exec.Flags)
		assert.NotZero(t, exec.StartNS)
		if fork.Flags&abi.ProcStartEstimated != 0 {
			// The plain tracepoint has no child task: the start is the fork's time, on the boot
			// clock, within a tick of the real one.
			assert.Zero(t, fork.StartNS)
			est, real := container.StartTicks(fork.TS+bootOffset(t)), container.StartTicks(exec.StartNS)
			assert.True(t, est == real || est == real+1, "estimated %d, real %d ticks", est, real)
		} else {
			assert.Zero(t, fork.Flags)
			assert.Equal(t, exec.StartNS, fork.StartNS, "the same process")
		}
		assert.Equal(t, exec.StartNS, exit.StartNS, "the same process")
		assert.Less(t, fork.TS, exec.TS)
		assert.Less(t, exec.TS, exit.TS)

		// Order: every socket event of curl lies between its exec and its exit.
		first, last, connects := -1, -1, 0
		for i, e := range evs {
			if e.tgid() != uint32(r.pid) {
				continue
			}
			if first < 0 {
				first = i
			}
			last = i
			if e.ctrl != nil && e.ctrl.Type == abi.EventConnect && e.ctrl.Addr.Family == abi.FamilyInet {
				connects++
				assert.Equal(t, netip.AddrPortFrom(n.ServerV4, 80), e.ctrl.Addr.AddrPort())
			}
		}
		require.Equal(t, 1, connects, "pid %d: one connection to nginx", r.pid)
		assert.LessOrEqual(t, exec.at, first, "exec before the first socket event")
		assert.Greater(t, exit.at, last, "exit after the last socket event")
	}
}

// ownCgroup is this process's cgroup path as the kernel side reads it: the v2 hierarchy's, or the
// memory controller's when the v2 one is the root (a v1 host).
func ownCgroup(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	var v2, memory string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		require.Len(t, parts, 3, line)
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			memory = parts[2]
		}
	}
	if v2 != "/" && v2 != "" {
		return v2
	}
	return memory
}

// lastTwo keeps the last two components of a cgroup path, as the events carry it.
func lastTwo(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return "/" + strings.Join(parts, "/")
}
