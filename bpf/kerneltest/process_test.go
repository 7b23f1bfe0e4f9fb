package kerneltest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/cgo/libebpf"
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

// Short-lived clients read late: the poller sleeps two minutes here, so each round's processes
// — redis-cli (an exec; it exits without closing the connection of its command) and a forked
// child that does the same — are gone, and their fork, exec, socket events and exit all still in
// the kernel buffers, when user space deletes the connections of gone processes (the observer's
// collection, every GCInterval and at its stop) and the library makes their final close and
// statistics. Those come after the process events that name the client, as everything else in
// the order things happened, with the client's exact bytes. Delivered first (as they were), the
// final statistics of a redis-cli came before its exec, and the observer, finding the process
// neither in its table nor in /proc, recorded its bytes without a name (e2e with a 1 s sleep).
func TestFinalEventsComeAfterTheProcessEvents(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	testenv.Redis(t, n.Server, n.ServerV4)
	python := testenv.Python(t)
	c := startCaptureWith(t, libebpf.Options{PollInterval: 2 * time.Minute, IdleInterval: 2 * time.Minute}, nil)
	require.True(t, c.lib.ProcessEvents(), "our library has the process extension")
	require.Eventually(t, func() bool { return c.lib.Counters().Polls > 0 }, 10*time.Second, time.Millisecond,
		"the poller's first poll")

	// A round stays far below a quarter of the process ring (64 KiB per CPU: about 20 clients'
	// process events), whose fill wakes the poller.
	const rounds, clisPerRound = 20, 10
	set := func(key string) []byte { // what redis-cli sends for SET key v
		return fmt.Appendf(nil, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", len(key), key)
	}
	late := 0
	for round := range rounds {
		polls := c.lib.Counters().Polls
		clis := map[int]string{}
		for i := range clisPerRound {
			key := fmt.Sprintf("k%d.%d", round, i)
			cli := testenv.Command(n.Client, "redis-cli", "-h", n.ServerV4.String(), "SET", key, "v")
			out, err := cli.CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Equal(t, "OK\n", string(out), "redis-cli's own report")
			clis[cli.Process.Pid] = key
		}
		forker := testenv.Command(n.Client, python, "-c", testenv.ForkThenPing, n.ServerV4.String())
		out, err := forker.CombinedOutput()
		require.NoError(t, err, "%s", out)
		if c.lib.Counters().Polls == polls {
			late++ // nothing of this round was read before its connections were deleted
		}
		collectGone(t, c)
		finals := func(pid int) (n int) {
			for _, e := range c.of(pid) {
				if e.stats != nil && e.stats.ConnEvents == 1 {
					n++
				}
			}
			return n
		}
		// redis-cli opens a first connection and closes it unused, then the command's; the
		// forker's child its one connection.
		deadline := time.Now().Add(10 * time.Second)
		for {
			c.lib.PollNow()
			done := true
			for pid := range clis {
				done = done && finals(pid) == 2
			}
			if child := childOf(c, forker.Process.Pid); done && child != 0 && finals(child) == 1 {
				break
			}
			require.True(t, time.Now().Before(deadline), "round %d: the final statistics did not come in 10 s", round)
			time.Sleep(10 * time.Millisecond)
		}

		for pid, key := range clis {
			named := execOf(c, pid, "redis-cli")
			require.NotNil(t, named, "pid %d: its exec", pid)
			checkNamedBeforeItsEvents(t, c, pid, named.at, len(set(key)), len("+OK\r\n"))
		}
		child := childOf(c, forker.Process.Pid)
		fork := procOf(c, child, func(p procEvent) bool { return p.Type == abi.ProcFork })
		require.NotNil(t, fork, "the child's fork")
		checkNamedBeforeItsEvents(t, c, child, fork.at, len("*1\r\n$4\r\nPING\r\n"), len("+PONG\r\n"))
	}
	assert.Zero(t, c.lost(), "nothing lost")
	assert.GreaterOrEqual(t, late, rounds/2, "rounds read only after their connections were deleted")
	t.Logf("%d of %d rounds read only after their connections were deleted", late, rounds)
}

// collectGone deletes the connections whose fd is gone, as the observer's collection does.
func collectGone(t *testing.T, c *capture) {
	t.Helper()
	keys, err := c.lib.ConnectionKeys()
	require.NoError(t, err)
	var gone []abi.ConnID
	for _, k := range keys {
		if _, err := os.Lstat(fmt.Sprintf("/proc/%d/fd/%d", k.TGID, k.FD)); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, abi.ConnID{FD: k.FD, TGID: k.TGID})
		}
	}
	require.NoError(t, c.lib.DeleteConnections(gone))
}

// procOf returns the first process event of pid for which match holds, nil if none came.
func procOf(c *capture, pid int, match func(procEvent) bool) *procEvent {
	procs, _ := c.procsOf(pid)
	for i := range procs {
		if match(procs[i]) {
			return &procs[i]
		}
	}
	return nil
}

// execOf returns pid's exec of the program comm.
func execOf(c *capture, pid int, comm string) *procEvent {
	return procOf(c, pid, func(p procEvent) bool { return p.Type == abi.ProcExec && p.CommString() == comm })
}

// childOf returns the child that parent forked and that has socket events; 0 if none came yet.
func childOf(c *capture, parent int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.Type != abi.ProcFork || p.PPID != uint32(parent) {
			continue
		}
		for _, e := range c.evs {
			if e.tgid() == p.TGID {
				return int(p.TGID)
			}
		}
	}
	return 0
}

// checkNamedBeforeItsEvents checks that every socket event of pid came after the process event
// (exec or fork) that names it, which came as the at-th: the final statistics too. Of pid's
// connections, exactly one carried bytes — wr out, rd in, each in one syscall.
func checkNamedBeforeItsEvents(t *testing.T, c *capture, pid, at, wr, rd int) {
	t.Helper()
	_, evs := c.procsOf(pid)
	var finals []*abi.StatsEvent
	for i, e := range evs {
		if e.tgid() != uint32(pid) {
			continue
		}
		if !assert.GreaterOrEqual(t, i, at, "pid %d: its events after the process event that names it", pid) {
			t.Logf("pid %d: %s", pid, describe(evs[i:i+1]))
		}
		if e.stats != nil && e.stats.ConnEvents == 1 && e.stats.WrBytes+e.stats.RdBytes > 0 {
			finals = append(finals, e.stats)
		}
	}
	if assert.Len(t, finals, 1, "pid %d: one connection with bytes", pid) {
		f := finals[0]
		assert.Equal(t, []int64{int64(wr), int64(rd), 1, 1}, []int64{f.WrBytes, f.RdBytes, int64(f.WrPkts), int64(f.RdPkts)},
			"pid %d: bytes and syscalls out, in", pid)
	}
}
