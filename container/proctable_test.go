package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func argv(s string) []byte { return []byte(s + "\x00") }

// A pid reused by another process: each time names the process that ran then; the exited one
// stays known for Keep after its exit, then is forgotten.
func TestProcTablePidReuseAndExpiry(t *testing.T) {
	tb := NewProcTable(ProcTableConfig{Keep: 1000})
	tb.Seed(Process{PID: 7, StartTime: 10, Cmd: "init-era"}, Cgroup{})
	tb.Fork(100, 7, 1, 11, "bash", argv("bash"), Cgroup{}) // the seeded one's exit was missed
	tb.Exec(200, 7, 1, 11, "curl", argv("curl\x00-s\x00x"), Cgroup{ContainerID: "c1"})
	tb.Exit(300, 7, 11)
	tb.Fork(400, 7, 1, 40, "python3", argv("python3\x00app.py\x00--port\x001"), Cgroup{})

	at := func(ts uint64) string {
		p, _ := tb.At(7, ts)
		if p == nil {
			return "<none>"
		}
		return p.Cmd
	}
	assert.Equal(t, "init-era", at(50))
	assert.Equal(t, "bash", at(150))
	assert.Equal(t, "curl", at(250))
	assert.Equal(t, "<none>", at(350), "between curl's exit and the next process: unknown")
	assert.Equal(t, "python3 app.py --port 1", at(450), "iLogtail's rule: the whole line for python")
	assert.Equal(t, "python3 app.py --port 1", at(0), "0: the newest")
	p, until := tb.At(7, 250)
	assert.EqualValues(t, 301, until, "curl's answer holds until its exit, not until the next generation")
	_, until = tb.At(7, 150)
	assert.EqualValues(t, 200, until, "bash's until curl's exec")
	assert.Equal(t, Cgroup{ContainerID: "c1"}, p.Cgroup)
	assert.EqualValues(t, 300, p.Exited)

	// Keep after curl's exit (300 + 1000): the events' clock moves on, curl is forgotten with
	// everything older.
	v := tb.Version()
	tb.Fork(1301, 8, 1, 50, "x", argv("x"), Cgroup{})
	assert.Greater(t, tb.Version(), v)
	assert.Equal(t, "<none>", at(250))
	assert.Equal(t, "python3 app.py --port 1", at(450))
	pids, exited := tb.Len()
	assert.Equal(t, 2, pids)
	assert.Equal(t, 0, exited)
	c := tb.Counters()
	assert.EqualValues(t, 1, c.Execs)
	assert.EqualValues(t, 3, c.Forks)
	assert.EqualValues(t, 1, c.Exits)
}

// The exited generations are bounded: past MaxExited the oldest go first, counted.
func TestProcTableBounds(t *testing.T) {
	tb := NewProcTable(ProcTableConfig{Keep: 1 << 40, MaxExited: 3, MaxProcesses: 4})
	for pid := uint32(1); pid <= 5; pid++ {
		tb.Fork(uint64(pid), pid, 0, uint64(pid), "p", argv("p"), Cgroup{})
	}
	require.EqualValues(t, 1, tb.Counters().Refused, "the fifth pid")
	for pid := uint32(1); pid <= 4; pid++ {
		tb.Exit(uint64(10+pid), pid, uint64(pid))
	}
	pids, exited := tb.Len()
	assert.Equal(t, 3, pids)
	assert.Equal(t, 3, exited)
	assert.EqualValues(t, 1, tb.Counters().Evicted)
	p, _ := tb.At(1, 5)
	assert.Nil(t, p, "the oldest exit was forgotten early")
	p, _ = tb.At(2, 5)
	assert.NotNil(t, p)
}

// A fork whose start was estimated from its event's time (a tick off) still matches its exit.
func TestProcTableEstimatedStart(t *testing.T) {
	tb := NewProcTable(ProcTableConfig{})
	tb.Fork(100, 9, 1, 500, "postgres", argv("/usr/lib/postgresql/15/bin/postgres\x00-D\x00/d"), Cgroup{})
	tb.Exit(200, 9, 499)
	p, _ := tb.At(9, 150)
	require.NotNil(t, p)
	assert.EqualValues(t, 200, p.Exited)
	assert.Equal(t, "/usr/lib/postgresql/15/bin/postgres", p.Cmd)
}

// The Identities answers from the table first, for the time asked, and from /proc otherwise.
func TestResolverLookupAtUsesTheTable(t *testing.T) {
	r := NewIdentities(NoProcfs, nil)
	_, _, err := r.LookupAt(7, 10)
	require.Error(t, err, "no table, no /proc")
	tb := NewProcTable(ProcTableConfig{})
	r.SetProcTable(tb)
	e := r.Epoch()
	tb.Exec(5, 7, 1, 3, "curl", argv("curl"), Cgroup{})
	assert.NotEqual(t, e, r.Epoch(), "a table change moves the epoch")
	id, until, err := r.LookupAt(7, 10)
	require.NoError(t, err)
	assert.Equal(t, "curl", id.Cmd)
	assert.EqualValues(t, 5, id.Since)
	assert.Zero(t, until)
	assert.Equal(t, "pid:7:3", id.Group)
	again, _, _ := r.LookupAt(7, 11)
	assert.Same(t, id, again, "built once per generation")

	// After the exit the table saw, curl names nothing: /proc has no pid 7 here, so the pid was
	// a process the events missed — ErrNoProcessAt, unlike a pid the table never knew.
	tb.Exit(20, 7, 3)
	_, until, err = r.LookupAt(7, 10)
	require.NoError(t, err)
	assert.EqualValues(t, 21, until, "curl's answer ends with its exit")
	_, _, err = r.LookupAt(7, 30)
	assert.ErrorIs(t, err, ErrNoProcessAt)
	_, _, err = r.LookupAt(8, 30)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrNoProcessAt, "a pid the table never knew")
}

// A process whose exit was never reported is marked exited when /proc no longer shows it.
func TestProcTableSweep(t *testing.T) {
	tb := NewProcTable(ProcTableConfig{Keep: 10})
	tb.Fork(100, uint32(os.Getpid()), 1, 5, "self", argv("self"), Cgroup{})
	tb.Fork(100, 4000001, 1, 5, "gone", argv("gone"), Cgroup{})
	assert.Equal(t, 1, tb.Sweep(Procfs{}))
	p, _ := tb.At(4000001, 0)
	require.NotNil(t, p)
	assert.EqualValues(t, 100, p.Exited)
	tb.Fork(200, 4000002, 1, 6, "x", argv("x"), Cgroup{})
	p, _ = tb.At(4000001, 0)
	assert.Nil(t, p, "forgotten Keep after")
	p, _ = tb.At(uint32(os.Getpid()), 0)
	assert.NotNil(t, p)
}

// fixtureProcess writes pid's cmdline, stat (start time startTicks) and cgroup under root.
func fixtureProcess(t *testing.T, root string, pid int, cmdline string, startTicks int) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	stat := fmt.Sprintf("%d (x) S 1 %d %d 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 %d 12345678 300 18446744073709551615\n", pid, pid, pid, startTicks)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), argv(cmdline), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::/user.slice\n"), 0o644))
}

// Between the seed and the first process events: a process that started (101), one that exec'd
// (102), one whose pid a new process took (103), one that did not change (104), and one the events
// already reported (105, an exec that came before the reseed's time but is read after it).
func TestProcTableReseedFrom(t *testing.T) {
	root := t.TempDir()
	fs := Procfs{Root: root}
	fixtureProcess(t, root, 102, "ip", 50)
	fixtureProcess(t, root, 103, "old", 60)
	fixtureProcess(t, root, 104, "same", 70)
	fixtureProcess(t, root, 105, "sh", 80)
	tb := NewProcTable(ProcTableConfig{})
	require.Equal(t, 4, tb.SeedFrom(fs))

	fixtureProcess(t, root, 101, "new", 90)
	fixtureProcess(t, root, 102, "python3", 50)
	fixtureProcess(t, root, 103, "reused", 95)
	fixtureProcess(t, root, 105, "curl", 80)
	tb.Exec(900, 105, 1, 80, "curl", argv("curl"), Cgroup{})
	assert.Equal(t, 3, tb.ReseedFrom(1000, fs))

	cmdAt := func(pid uint32, ts uint64) string {
		p, _ := tb.At(pid, ts)
		if p == nil {
			return "<none>"
		}
		return p.Cmd
	}
	assert.Equal(t, "new", cmdAt(101, 2000), "started meanwhile: seeded")
	assert.Equal(t, "new", cmdAt(101, 10), "seeded: known from the beginning")
	assert.Equal(t, "ip", cmdAt(102, 999), "exec'd meanwhile: the seed's program before the reseed")
	assert.Equal(t, "python3", cmdAt(102, 1000), "and /proc's from it on")
	assert.Equal(t, "old", cmdAt(103, 999))
	assert.Equal(t, "reused", cmdAt(103, 1000))
	assert.Equal(t, "same", cmdAt(104, 2000))
	assert.Equal(t, "sh", cmdAt(105, 899))
	assert.Equal(t, "curl", cmdAt(105, 950), "the events' exec stands")

	// An exec the events report after the reseed, that happened before it, names from its time.
	tb.Exec(950, 102, 1, 50, "python3", argv("python3 app.py"), Cgroup{})
	assert.Equal(t, "ip", cmdAt(102, 949))
	assert.Equal(t, "python3 app.py", cmdAt(102, 960))
	assert.Equal(t, "python3 app.py", cmdAt(102, 2000))
	assert.Zero(t, tb.ReseedFrom(3000, fs), "nothing known only from the seed changed since")
}
