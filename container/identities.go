package container

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Mode is how a process runs, as records' _running_mode_ says.
type Mode uint8

// Running modes, named as the records' _running_mode_ says.
//
//go:generate go run golang.org/x/tools/cmd/stringer@v0.53.0 -linecomment -type Mode -output enums_string.go
const (
	ModeHost       Mode = iota // host
	ModeContainer              // container
	ModeKubernetes             // kubernetes
)

// Identity is who a process is: what records show of it, what filters decide on, and the group
// its records aggregate under. An Identity is immutable once returned; share it freely.
type Identity struct {
	// PID and StartTime identify the process; a pid reused by another process has another
	// StartTime (clock ticks after boot).
	PID       uint32
	StartTime uint64
	// Cmd is the command as iLogtail derived it (Command).
	Cmd string
	// Since is when (monotonic ns) the process began running the program this Identity names,
	// for an Identity from the process table (LookupAt); 0 for one read from /proc.
	Since uint64
	// Cgroup is where the process's cgroup says it runs (container id and pod uid, if any).
	Cgroup Cgroup
	// Mode is host unless container metadata was found: container, or kubernetes when the
	// container carries a pod identity.
	Mode Mode
	// Container is the container's metadata; nil in host mode.
	Container *Container
	// Group is the aggregation identity: "container:<id>" for every process of one container,
	// "pid:<pid>:<start time>" for a host process.
	Group string
	// Pending is set when the process is in a container whose metadata could not be had yet
	// (the inspect budget was spent, or the daemon failed a call): the Identity is shown in host
	// mode for now and is not final — Lookup tries again, and a Filter must not disable the
	// process on it.
	Pending bool
}

// Metadata answers container metadata by container id; *Docker implements it.
type Metadata interface {
	// Container returns the metadata of a container, ErrNotFound for an id it does not know,
	// ErrNoDaemon when it cannot know, ErrRateLimited (or another error) when it may know
	// later.
	Container(id string) (*Container, error)
	// Generation changes whenever an answer of Container may have changed.
	Generation() uint64
}

// Identities turns pids into Identities, caching one per pid so that the per-event cost is a map
// lookup: /proc is read once per process (cmdline, stat, cgroup), container metadata once per
// container and again only when the Metadata generation moves. Safe for concurrent use.
//
// Pids get reused: call Prune periodically (every FlushMetaInterval) — it drops processes not
// looked up since the previous Prune and those whose start time changed, and reports the pids
// that are gone or restarted; call Forget when a process is known to have exited.
type Identities struct {
	fs   Procfs
	meta Metadata // nil: host mode only

	// table, when set, names processes from the kernel's process events first (LookupAt).
	table atomic.Pointer[ProcTable]

	mu   sync.Mutex
	byID map[uint32]*resolved
	// epoch moves whenever Prune or Forget runs (see Epoch).
	epoch atomic.Uint64
}

type resolved struct {
	id   *Identity
	gen  uint64
	used bool
}

// NewIdentities makes a Identities reading processes from fs and containers from meta (nil: every
// process is a host process).
func NewIdentities(fs Procfs, meta Metadata) *Identities {
	return &Identities{fs: fs, meta: meta, byID: map[uint32]*resolved{}}
}

// SetProcTable makes LookupAt answer from t first: the process that ran at the time asked, as
// the kernel reported it, whether it still runs or not. nil: /proc only.
func (r *Identities) SetProcTable(t *ProcTable) {
	r.table.Store(t)
	r.epoch.Add(1)
}

// ErrNoProcessAt is LookupAt's error for a pid whose processes the table knows, none of them at
// the time asked, when /proc does not show the pid either: a process the events missed, gone.
// Nothing known of the pid names it.
var ErrNoProcessAt = errors.New("no known process of the pid ran then")

// LookupAt returns the Identity of the process pid that ran at ts (monotonic ns; 0: now): from the
// process table if it knows it, else from /proc as Lookup. The answer holds from its Since until
// until (0: until the table changes, see Epoch).
func (r *Identities) LookupAt(pid uint32, ts uint64) (id *Identity, until uint64, err error) {
	t := r.table.Load()
	if t != nil {
		if p, until := t.At(pid, ts); p != nil {
			return r.fromTable(p), until, nil
		}
	}
	id, err = r.Lookup(pid)
	if err != nil && t != nil && t.Knows(pid) {
		err = fmt.Errorf("pid %d: %w (%w)", pid, ErrNoProcessAt, err)
	}
	return id, 0, err
}

// fromTable builds (once per generation, again only when container metadata moved or was
// pending) the Identity of a process the table knows.
func (r *Identities) fromTable(p *ProcInfo) *Identity {
	if e := p.identity.Load(); e != nil {
		if e.id.Cgroup.ContainerID == "" || (!e.id.Pending && (r.meta == nil || e.gen == r.meta.Generation())) {
			return e.id
		}
	}
	id, gen := r.withContainer(p.PID, p.StartTime, p.Cmd, p.Cgroup)
	id.Since = p.From
	p.identity.Store(&resolved{id: id, gen: gen})
	return id
}

// Lookup returns the Identity of pid. The first call for a process reads /proc; later calls
// answer from the cache (re-asking Metadata, not /proc, when its generation moved or the
// answer was Pending). The error is only that of reading /proc (the process is gone); nothing
// is cached then.
func (r *Identities) Lookup(pid uint32) (*Identity, error) {
	r.mu.Lock()
	e := r.byID[pid]
	if e != nil {
		e.used = true
		if e.id.Cgroup.ContainerID == "" || (!e.id.Pending && (r.meta == nil || e.gen == r.meta.Generation())) {
			id := e.id
			r.mu.Unlock()
			return id, nil
		}
		base := e.id
		r.mu.Unlock()
		// Metadata calls may take a round trip to the daemon: not under the lock.
		id, gen := r.withContainer(base.PID, base.StartTime, base.Cmd, base.Cgroup)
		r.mu.Lock()
		if cur := r.byID[pid]; cur == e {
			e.id, e.gen = id, gen
		}
		r.mu.Unlock()
		return id, nil
	}
	r.mu.Unlock()

	p, err := r.fs.Process(pid)
	if err != nil {
		return nil, err
	}
	cg, err := r.fs.Cgroup(pid)
	if err != nil {
		return nil, err
	}
	id, gen := r.withContainer(pid, p.StartTime, p.Cmd, cg)
	r.mu.Lock()
	r.byID[pid] = &resolved{id: id, gen: gen, used: true}
	r.mu.Unlock()
	return id, nil
}

// withContainer builds the Identity, asking Metadata when the process is in a container. The
// generation is read before the question so that a change during it is not missed.
func (r *Identities) withContainer(pid uint32, start uint64, cmd string, cg Cgroup) (*Identity, uint64) {
	if cg.ContainerID == "" || r.meta == nil {
		return hostIdentity(pid, start, cmd, cg, false), 0
	}
	gen := r.meta.Generation()
	c, err := r.meta.Container(cg.ContainerID)
	switch {
	case err == nil:
		return containerIdentity(pid, start, cmd, cg, c), gen
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoDaemon):
		// Final until the generation moves: not a container we can name (a runtime other than
		// Docker, or no daemon) — iLogtail showed these as host processes too.
		return hostIdentity(pid, start, cmd, cg, false), gen
	default:
		return hostIdentity(pid, start, cmd, cg, true), gen
	}
}

// UnknownProcess is the identity of a process gone before it could be read: a host process
// known only by its pid (start time 0: unknown).
func UnknownProcess(pid uint32) *Identity {
	return hostIdentity(pid, 0, "", Cgroup{}, false)
}

func hostIdentity(pid uint32, start uint64, cmd string, cg Cgroup, pending bool) *Identity {
	p := strconv.FormatUint(uint64(pid), 10)
	return &Identity{
		PID: pid, StartTime: start, Cmd: cmd, Cgroup: cg, Mode: ModeHost, Pending: pending,
		// The start time keeps apart two processes that had the same pid within an interval.
		Group: "pid:" + p + ":" + strconv.FormatUint(start, 10),
	}
}

func containerIdentity(pid uint32, start uint64, cmd string, cg Cgroup, c *Container) *Identity {
	id := &Identity{PID: pid, StartTime: start, Cmd: cmd, Cgroup: cg, Container: c, Group: "container:" + cg.ContainerID}
	if c.K8s != nil {
		id.Mode = ModeKubernetes
		return id
	}
	id.Mode = ModeContainer
	return id
}

// ContainerName is the name container filters match: the Kubernetes container name in
// kubernetes mode (what _container_name_ shows), the Docker name in container mode, "" on a
// host.
func (id *Identity) ContainerName() string {
	switch {
	case id.Container == nil:
		return ""
	case id.Container.K8s != nil:
		return id.Container.K8s.ContainerName
	default:
		return id.Container.Name
	}
}

// Epoch lets a caller skip Lookup for a process it already looked up: while Epoch has not moved
// since it read it — before that Lookup — an Identity that is not Pending is still Lookup's answer
// for its pid (and LookupAt's for any time not before the generation it answered with), and the
// process still counts as used for Prune. It moves with every Prune and Forget, with the
// metadata's Generation and with the process table's Version (all only grow, so their sum moves
// when any does).
func (r *Identities) Epoch() uint64 {
	e := r.epoch.Load()
	if t := r.table.Load(); t != nil {
		e += t.Version()
	}
	if r.meta != nil {
		e += r.meta.Generation()
	}
	return e
}

// Forget drops pid from the cache (the process exited).
func (r *Identities) Forget(pid uint32) {
	r.mu.Lock()
	delete(r.byID, pid)
	r.epoch.Add(1)
	r.mu.Unlock()
}

// Prune drops the processes not looked up since the previous Prune, re-reads the start time of
// the others (one /proc/<pid>/stat read each) and drops those that exited or whose pid now
// belongs to another process, so that the next Lookup reads the new one. It returns the pids it
// found exited or restarted.
func (r *Identities) Prune() []uint32 {
	r.mu.Lock()
	check := map[uint32]uint64{}
	for pid, e := range r.byID {
		if !e.used {
			delete(r.byID, pid)
			continue
		}
		e.used = false
		check[pid] = e.id.StartTime
	}
	r.epoch.Add(1) // every process must be looked up again to count as used
	r.mu.Unlock()
	var changed []uint32
	for pid, start := range check {
		if r.Restarted(pid, start) {
			r.mu.Lock()
			if e := r.byID[pid]; e != nil && e.id.StartTime == start {
				delete(r.byID, pid)
				r.epoch.Add(1)
			}
			r.mu.Unlock()
			changed = append(changed, pid)
		}
	}
	return changed
}

// Restarted says whether the process pid that started at start (Identity.StartTime) is gone or
// its pid now belongs to another process. The observer keeps the start time of each process its
// filter disabled in the kernel and re-enables the pid when this turns true: a disabled process
// makes no events, so it is never looked up again.
func (r *Identities) Restarted(pid uint32, start uint64) bool {
	p, err := r.fs.Process(pid)
	return err != nil || p.StartTime != start
}

// Len returns the number of cached processes.
func (r *Identities) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}
