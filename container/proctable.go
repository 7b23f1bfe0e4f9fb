package container

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// ticksPerSecond is USER_HZ, the unit of /proc/<pid>/stat's starttime: 100 on every Linux ABI.
const ticksPerSecond = 100

// StartTicks converts a start time in ns after boot (the kernel's task start_boottime) to the
// clock ticks of /proc/<pid>/stat, Process.StartTime's unit.
func StartTicks(ns uint64) uint64 { return ns / (1e9 / ticksPerSecond) }

// ProcInfo is one generation of a process as the kernel reported it: what a pid named from From
// (an exec or fork, monotonic ns; 0 for a process found in /proc at start) until the pid's next
// generation, or until Exited.
type ProcInfo struct {
	PID, PPID uint32
	// StartTime is the process's start in clock ticks after boot, as Process.StartTime.
	StartTime uint64
	Cmd       string
	Comm      string
	Cgroup    Cgroup
	From      uint64
	// Exited is the monotonic ns of the process's exit; 0 while it runs.
	Exited uint64

	// identity caches the Identities's answer for this generation.
	identity atomic.Pointer[resolved]
	prev     *ProcInfo // the pid's previous generation, kept until it expires
	expires  uint64    // exited: forgotten once the table's clock passes it
	queued   bool      // in the table's exit queue
}

// ProcTableConfig bounds a ProcTable.
type ProcTableConfig struct {
	// Keep is how long (ns of the events' monotonic clock) a process stays known after it
	// exited, for the records still to come of it: the final statistics of its connections come
	// when the connection map's garbage collection finds them, up to GCInterval later.
	Keep uint64
	// MaxExited bounds the exited generations remembered; past it the oldest are forgotten
	// early (counted in ProcTableCounters.Evicted).
	MaxExited int
	// MaxProcesses bounds the pids known; an exec or fork past it is not remembered (counted).
	MaxProcesses int
	// KeepCmdSecrets leaves commands unmasked, as Procfs.KeepCmdSecrets.
	KeepCmdSecrets bool
}

// ProcTableCounters are a ProcTable's counts since it was made.
type ProcTableCounters struct {
	Execs, Forks, Exits uint64
	// Evicted: exited generations forgotten before Keep ran out (MaxExited); Refused: processes
	// not remembered because MaxProcesses pids were known.
	Evicted, Refused uint64
}

// ProcTable is who each process is, from the kernel's process events (libebpf's process
// extension) or, without them, from the process connector and /proc: per pid the current
// generation and the previous ones until they expire, so that a call is named after the process
// that made it even when that process is gone or its pid belongs to another by now. Safe for
// concurrent use.
type ProcTable struct {
	cfg ProcTableConfig

	mu    sync.Mutex
	byPID map[uint32]*ProcInfo
	// exits is the queue of exited generations, oldest first.
	exits []*ProcInfo
	// clock is the newest event time seen (monotonic ns): expiry runs on the events' clock.
	clock  uint64
	counts ProcTableCounters
	// version moves whenever a lookup's answer may change.
	version atomic.Uint64
}

// NewProcTable returns an empty table; zero fields of cfg get defaults (Keep 6 min, MaxExited
// 65536, MaxProcesses 1<<20).
func NewProcTable(cfg ProcTableConfig) *ProcTable {
	if cfg.Keep == 0 {
		cfg.Keep = 6 * 60 * 1e9
	}
	if cfg.MaxExited <= 0 {
		cfg.MaxExited = 1 << 16
	}
	if cfg.MaxProcesses <= 0 {
		cfg.MaxProcesses = 1 << 20
	}
	return &ProcTable{cfg: cfg, byPID: make(map[uint32]*ProcInfo)}
}

// KeepCmdSecrets says whether the table's commands are left unmasked.
func (t *ProcTable) KeepCmdSecrets() bool { return t.cfg.KeepCmdSecrets }

// Version moves whenever At may answer differently for some pid.
func (t *ProcTable) Version() uint64 { return t.version.Load() }

// Counters returns the table's counts.
func (t *ProcTable) Counters() ProcTableCounters {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts
}

// Len returns the pids known and the exited generations remembered.
func (t *ProcTable) Len() (pids, exited int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byPID), len(t.exits)
}

// Seed adds a process that runs now (read from /proc at start): known from the beginning of time,
// unless the kernel already reported it.
func (t *ProcTable) Seed(p Process, cg Cgroup) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byPID[p.PID]; ok || len(t.byPID) >= t.cfg.MaxProcesses {
		return
	}
	t.byPID[p.PID] = &ProcInfo{PID: p.PID, StartTime: p.StartTime, Cmd: p.Cmd, Cgroup: cg}
	t.version.Add(1)
}

// Exec records that pid (started at startTicks) runs a new program from ts on: cmdline is its
// argv as /proc/<pid>/cmdline holds it, cg its cgroup.
func (t *ProcTable) Exec(ts uint64, pid, ppid uint32, startTicks uint64, comm string, cmdline []byte, cg Cgroup) {
	t.add(ts, &ProcInfo{PID: pid, PPID: ppid, StartTime: startTicks, Cmd: Command(cmdline, !t.cfg.KeepCmdSecrets), Comm: comm, Cgroup: cg, From: ts})
	t.mu.Lock()
	t.counts.Execs++
	t.mu.Unlock()
}

// Fork records a new process pid from ts on; it runs its parent's program (cmdline, cg).
func (t *ProcTable) Fork(ts uint64, pid, ppid uint32, startTicks uint64, comm string, cmdline []byte, cg Cgroup) {
	t.add(ts, &ProcInfo{PID: pid, PPID: ppid, StartTime: startTicks, Cmd: Command(cmdline, !t.cfg.KeepCmdSecrets), Comm: comm, Cgroup: cg, From: ts})
	t.mu.Lock()
	t.counts.Forks++
	t.mu.Unlock()
}

func (t *ProcTable) add(ts uint64, p *ProcInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tick(ts)
	cur := t.byPID[p.PID]
	if cur == nil && len(t.byPID) >= t.cfg.MaxProcesses {
		t.counts.Refused++
		return
	}
	if cur != nil {
		if cur.Exited == 0 && cur.StartTime != p.StartTime && !cur.queued {
			// The old process's exit was not reported (lost, or it predates the events): it
			// ended before this one began.
			t.exit(cur, ts)
		}
		p.prev = cur
	}
	t.byPID[p.PID] = p
	t.version.Add(1)
}

// Exit records that process pid, started at startTicks, exited at ts. It stays known for Keep.
func (t *ProcTable) Exit(ts uint64, pid uint32, startTicks uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tick(ts)
	t.counts.Exits++
	// The newest generation of the process; its older ones (before an exec) go with it.
	for p := t.byPID[pid]; p != nil; p = p.prev {
		if p.StartTime == startTicks && p.Exited == 0 {
			t.exit(p, ts)
			for q := p.prev; q != nil && q.StartTime == startTicks; q = q.prev {
				q.Exited = ts
			}
			t.version.Add(1)
			return
		}
	}
	// A fork seen by the plain tracepoint has its start estimated from the fork's time: a tick
	// off at most.
	if p := t.byPID[pid]; p != nil && p.Exited == 0 && p.StartTime+1 >= startTicks && startTicks+1 >= p.StartTime {
		t.exit(p, ts)
		t.version.Add(1)
	}
}

// ExitPID records that the process pid now has exited at ts, when its start time is not known
// (the process connector's exit).
func (t *ProcTable) ExitPID(ts uint64, pid uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tick(ts)
	t.counts.Exits++
	if p := t.byPID[pid]; p != nil && p.Exited == 0 {
		t.exit(p, ts)
		for q := p.prev; q != nil && q.StartTime == p.StartTime; q = q.prev {
			q.Exited = ts
		}
		t.version.Add(1)
	}
}

func (t *ProcTable) exit(p *ProcInfo, ts uint64) {
	p.Exited = ts
	p.expires = ts + t.cfg.Keep
	p.queued = true
	t.exits = append(t.exits, p)
	if len(t.exits) > t.cfg.MaxExited {
		t.counts.Evicted++
		t.forget(t.exits[0])
		t.exits = t.exits[1:]
	}
}

// tick advances the table's clock and forgets the exited generations whose time is up.
func (t *ProcTable) tick(ts uint64) {
	if ts <= t.clock {
		return
	}
	t.clock = ts
	n := 0
	for n < len(t.exits) && t.exits[n].expires <= ts {
		t.forget(t.exits[n])
		n++
	}
	if n > 0 {
		t.exits = t.exits[n:]
		t.version.Add(1)
	}
}

// forget drops generation p and every older one of its pid: nothing before p can be asked for
// once p itself is too old.
func (t *ProcTable) forget(p *ProcInfo) {
	head := t.byPID[p.PID]
	if head == p {
		delete(t.byPID, p.PID)
		return
	}
	for q := head; q != nil; q = q.prev {
		if q.prev == p {
			q.prev = nil
			return
		}
	}
}

// At returns the generation of pid that ran at ts (monotonic ns; 0: the newest), the newest whose
// From is not after ts, and until, the first time it does not name: the From of the generation
// after it, or just after its exit (0: no end known yet). nil if no generation covers ts (a
// process the events missed: ask /proc).
func (t *ProcTable) At(pid uint32, ts uint64) (p *ProcInfo, until uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p = t.byPID[pid]; p != nil; until, p = p.From, p.prev {
		if ts == 0 || p.From <= ts {
			if p.Exited != 0 && ts > p.Exited {
				return nil, 0 // after its exit: a later process the events missed
			}
			if p.Exited != 0 && (until == 0 || p.Exited < until) {
				until = p.Exited + 1
			}
			return p, until
		}
	}
	return nil, 0
}

// Knows says whether the table holds any generation of pid.
func (t *ProcTable) Knows(pid uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byPID[pid] != nil
}

// SeedFrom adds every process running now, as fs shows them, and returns how many: the processes
// that exist at start come from /proc, later ones from the events.
func (t *ProcTable) SeedFrom(fs Procfs) int {
	n := 0
	for _, pid := range fs.Pids() {
		p, err := fs.Process(pid)
		if err != nil {
			continue // gone meanwhile
		}
		cg, err := fs.Cgroup(pid)
		if err != nil {
			continue
		}
		t.Seed(p, cg)
		n++
	}
	return n
}

// ReseedFrom reads fs again at ts (monotonic ns), once the process events flow, for the processes
// that started or exec'd between SeedFrom and the first events: a pid the table does not know is
// seeded; one known only from the seed, that /proc now shows as another process or program, gets
// a generation from ts on. Whatever the events said stays: a fork or exec among them that came
// before ts is still the newest generation once it is read. It returns how many it changed.
func (t *ProcTable) ReseedFrom(ts uint64, fs Procfs) int {
	n := 0
	for _, pid := range fs.Pids() {
		p, err := fs.Process(pid)
		if err != nil {
			continue
		}
		t.mu.Lock()
		cur, known := t.byPID[pid]
		seedOnly := known && cur.From == 0 && cur.prev == nil && cur.Exited == 0
		changed := seedOnly && (cur.StartTime != p.StartTime || cur.Cmd != p.Cmd)
		t.mu.Unlock()
		if known && !changed {
			continue
		}
		cg, err := fs.Cgroup(pid)
		if err != nil {
			continue
		}
		if known {
			t.add(ts, &ProcInfo{PID: pid, StartTime: p.StartTime, Cmd: p.Cmd, Cgroup: cg, From: ts})
		} else {
			t.Seed(p, cg)
		}
		n++
	}
	return n
}

// CgroupOfPath returns what a cgroup path (as the kernel's process events carry it, or a line of
// /proc/<pid>/cgroup after its second colon) says of the container.
func CgroupOfPath(path string) Cgroup { return parsePath(path) }

// Sweep marks exited, at the table's clock, the processes it holds as running that fs no longer
// shows: their exit was not reported (lost events; a thread entered as a process by the plain
// tracepoint fallback, whose exit is never reported). It returns how many. Run it now and then
// (the observer does every FlushMetaInterval): it is what bounds such entries.
func (t *ProcTable) Sweep(fs Procfs) int {
	t.mu.Lock()
	var running []*ProcInfo
	for _, p := range t.byPID {
		if p.Exited == 0 {
			running = append(running, p)
		}
	}
	t.mu.Unlock()
	n := 0
	for _, p := range running {
		if _, err := os.Stat(filepath.Join(fs.root(), strconv.FormatUint(uint64(p.PID), 10))); err == nil {
			continue
		}
		t.mu.Lock()
		if p.Exited == 0 && t.byPID[p.PID] == p {
			t.exit(p, t.clock)
			t.version.Add(1)
			n++
		}
		t.mu.Unlock()
	}
	return n
}
