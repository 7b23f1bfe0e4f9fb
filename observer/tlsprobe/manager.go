package tlsprobe

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Probe is one uprobe a Prober wants on a file.
type Probe struct {
	Program string // the kernel library's program, base name (it picks its transport's build)
	Symbol  string // the function, for messages
	Offset  uint64 // file offset of the instruction probed
	Return  bool   // a return probe (uretprobe)
	Cookie  uint64 // attach cookie the program reads (0: none; needs a CookieAttacher)
}

// Prober knows one TLS library.
type Prober interface {
	// Name names the library in logs and metrics.
	Name() string
	// Wants is a cheap test on a file's path (its name): whether Probes should look at it.
	Wants(path string) bool
	// Probes returns the probes the file needs, in attach order, or ErrNotMine if it is not
	// this prober's library after all (nothing is logged or counted then).
	Probes(f *elf.File) ([]Probe, error)
}

// ErrNotMine: a file a Prober wanted by name is not its library.
var ErrNotMine = errors.New("not this prober's library")

// ExeProber is a Prober of programs rather than libraries (Go links crypto/tls into the
// executable): it is asked about each process's executable, and Wants nothing the processes map.
type ExeProber interface {
	Prober
	// ProbesExe returns the probes the executable at path needs, or ErrNotMine.
	ProbesExe(path string) ([]Probe, error)
}

// CookieAttacher attaches an entry uprobe with an attach cookie: *libebpf.Library.
type CookieAttacher interface {
	AttachUprobeCookie(program, path string, offset, cookie uint64) (int, error)
}

// Attacher attaches uprobes: *libebpf.Library with the uprobe extension.
type Attacher interface {
	AttachUprobe(program, path string, offset uint64, ret bool) (int, error)
	DetachUprobe(id int) error
}

// Config bounds and places the Manager.
type Config struct {
	// ProcRoot is the proc file system (default /proc).
	ProcRoot string
	// MaxFiles bounds the files probed (default 64); files past it are counted, not probed.
	MaxFiles int
	// Rescan is how long after an exec the process's maps are read again, once the dynamic
	// loader has mapped its libraries (default 500ms).
	Rescan time.Duration
	Log    *slog.Logger
}

// Counters are the Manager's totals.
type Counters struct {
	Files     uint64 // files probed
	Probes    uint64 // uprobes attached
	Failed    uint64 // files a prober wanted that could not be probed (logged once each)
	OverLimit uint64 // files not probed because MaxFiles were
	Rescans   uint64 // execs not looked at because too many were waiting
}

type fileKey struct{ dev, ino uint64 }

// maxSeen bounds the files remembered as examined; past it no new file is looked at (the
// probed ones stay, and MaxFiles is far lower anyway).
const maxSeen = 65536

// maxPending bounds the execs waiting at each stage.
const maxPending = 4096

// Manager attaches the probers' uprobes to every file they want that the processes map.
type Manager struct {
	att     Attacher
	probers []Prober
	cfg     Config

	mu       sync.Mutex
	seen     map[fileKey]bool // files examined: probed, failed or not a prober's
	rootDone map[fileKey]bool // process roots whose library directories were searched
	links    []int
	c        Counters
	execs    chan int
	later    chan rescan
	done     chan struct{}
	wg       sync.WaitGroup
	close    sync.Once
}

// New returns a Manager; Close detaches what it attached.
func New(att Attacher, probers []Prober, cfg Config) *Manager {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 64
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = 500 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Manager{att: att, probers: probers, cfg: cfg, seen: map[fileKey]bool{}, rootDone: map[fileKey]bool{},
		execs: make(chan int, maxPending), later: make(chan rescan, maxPending), done: make(chan struct{})}
	m.wg.Add(2)
	go m.roots()
	go m.rescans()
	return m
}

// ScanAll probes the files every running process maps.
func (m *Manager) ScanAll() {
	ents, err := os.ReadDir(m.cfg.ProcRoot)
	if err != nil {
		m.cfg.Log.Warn("tls probes: cannot list processes", "err", err)
		return
	}
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			m.scanExe(pid)
			m.scanMaps(pid)
		}
	}
}

// Exec handles a process that just exec'd, off the caller's goroutine: the library directories
// of its root are searched at once (the dynamic loader maps libssl right after exec, often
// before its maps could be read), and its maps are read again Rescan later (a library elsewhere,
// or loaded at start with dlopen). Execs beyond what waits already are counted and skipped.
func (m *Manager) Exec(pid int) {
	select {
	case m.execs <- pid:
	default:
		m.mu.Lock()
		m.c.Rescans++
		m.mu.Unlock()
	}
}

type rescan struct {
	pid int
	due time.Time
}

func (m *Manager) roots() {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case pid := <-m.execs:
			m.scanExe(pid)
			m.scanRoot(pid)
			select {
			case m.later <- rescan{pid, time.Now().Add(m.cfg.Rescan)}:
			default:
				m.mu.Lock()
				m.c.Rescans++
				m.mu.Unlock()
			}
		}
	}
}

func (m *Manager) rescans() {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case r := <-m.later:
			if d := time.Until(r.due); d > 0 {
				select {
				case <-m.done:
					return
				case <-time.After(d):
				}
			}
			m.scanMaps(r.pid)
		}
	}
}

// Counters returns the totals so far.
func (m *Manager) Counters() Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c
}

// Close stops the rescans and detaches every probe. Calling it again does nothing.
func (m *Manager) Close() {
	m.close.Do(m.closeOnce)
}

func (m *Manager) closeOnce() {
	close(m.done)
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.links {
		_ = m.att.DetachUprobe(id) // the library may have stopped, which detached them already
	}
	m.links = nil
}

// libDirs are searched in a new process's root for the files the probers want.
var libDirs = []string{"lib", "lib64", "usr/lib", "usr/lib64", "usr/local/lib", "lib/x86_64-linux-gnu",
	"usr/lib/x86_64-linux-gnu"}

func (m *Manager) scanRoot(pid int) {
	root := filepath.Join(m.cfg.ProcRoot, strconv.Itoa(pid), "root")
	k, ok := statKey(root)
	if !ok {
		return
	}
	m.mu.Lock()
	done := m.rootDone[k]
	if !done && len(m.rootDone) < 4*maxPending {
		m.rootDone[k] = true
	}
	m.mu.Unlock()
	if done {
		return
	}
	for _, d := range libDirs {
		ents, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.Type()&os.ModeSymlink != 0 {
				continue // the file it names is listed under its own name
			}
			m.consider(filepath.Join(root, d, e.Name()))
		}
	}
}

// scanMaps considers every file process pid maps executable.
func (m *Manager) scanMaps(pid int) {
	base := filepath.Join(m.cfg.ProcRoot, strconv.Itoa(pid))
	f, err := os.Open(filepath.Join(base, "maps"))
	if err != nil {
		return // gone, or a kernel thread
	}
	defer f.Close()
	last := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 || !strings.Contains(fields[1], "x") || !strings.HasPrefix(fields[5], "/") ||
			fields[5] == last {
			continue
		}
		last = fields[5]
		m.consider(filepath.Join(base, "root", fields[5]))
	}
}

func statKey(path string) (fileKey, bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return fileKey{}, false
	}
	return fileKey{dev: st.Dev, ino: st.Ino}, true
}

// scanExe offers process pid's executable to the ExeProbers. /proc/PID/exe names the file the
// process runs whatever its mount namespace, also once deleted or replaced on disk; the uprobe is
// attached through it to that inode.
func (m *Manager) scanExe(pid int) {
	var wanting []Prober
	for _, p := range m.probers {
		if _, ok := p.(ExeProber); ok {
			wanting = append(wanting, p)
		}
	}
	if len(wanting) > 0 {
		m.probeFile(filepath.Join(m.cfg.ProcRoot, strconv.Itoa(pid), "exe"), wanting)
	}
}

// consider probes the file at path (seen from our mount namespace) once per device and inode.
func (m *Manager) consider(path string) {
	var wanting []Prober
	for _, p := range m.probers {
		if p.Wants(path) {
			wanting = append(wanting, p)
		}
	}
	m.probeFile(path, wanting)
}

// probeFile has the probers that want the file at path probe it, once per device and inode.
func (m *Manager) probeFile(path string, wanting []Prober) {
	if len(wanting) == 0 {
		return
	}
	k, ok := statKey(path)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[k] || len(m.seen) >= maxSeen {
		return
	}
	if m.c.Files >= uint64(m.cfg.MaxFiles) {
		m.seen[k] = true // counted once
		m.c.OverLimit++
		m.cfg.Log.Warn("tls probes: too many TLS library files; not probing this one", "file", path, "max", m.cfg.MaxFiles)
		return
	}
	m.seen[k] = true
	for _, p := range wanting {
		n, err := m.probe(p, path)
		if errors.Is(err, ErrNotMine) {
			continue
		}
		if err != nil {
			m.c.Failed++
			m.cfg.Log.Warn("tls probes: cannot probe a TLS library", "library", p.Name(), "file", path, "err", err)
			continue
		}
		m.c.Files++
		m.c.Probes += uint64(n)
		m.cfg.Log.Info("tls probes: attached", "library", p.Name(), "file", path, "probes", n)
	}
}

// probe attaches p's probes to the file, all or none.
func (m *Manager) probe(p Prober, path string) (int, error) {
	var probes []Probe
	if ep, ok := p.(ExeProber); ok {
		var err error
		if probes, err = ep.ProbesExe(path); err != nil {
			return 0, err
		}
	} else {
		f, err := elf.Open(path)
		if err != nil {
			return 0, err
		}
		probes, err = p.Probes(f)
		f.Close()
		if err != nil {
			return 0, err
		}
	}
	var ids []int
	for _, pr := range probes {
		id, err := m.attach(pr, path)
		if err != nil {
			for _, id := range ids {
				_ = m.att.DetachUprobe(id)
			}
			return 0, fmt.Errorf("%s at %#x: %w", pr.Symbol, pr.Offset, err)
		}
		ids = append(ids, id)
	}
	m.links = append(m.links, ids...)
	return len(ids), nil
}

func (m *Manager) attach(pr Probe, path string) (int, error) {
	if pr.Cookie == 0 {
		return m.att.AttachUprobe(pr.Program, path, pr.Offset, pr.Return)
	}
	ca, ok := m.att.(CookieAttacher)
	if !ok || pr.Return {
		return -1, fmt.Errorf("%s needs an attach cookie, which this library cannot give", pr.Program)
	}
	return ca.AttachUprobeCookie(pr.Program, path, pr.Offset, pr.Cookie)
}
