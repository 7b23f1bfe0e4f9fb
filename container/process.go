package container

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is what /proc says of one process.
type Process struct {
	PID uint32
	// Cmd is the command as iLogtail derived it: /proc/<pid>/cmdline with NULs as spaces, cut to
	// the first token unless that token names java or python (whose programs are their
	// arguments); the values of arguments that look like secrets masked (MaskSecrets) unless
	// Procfs.KeepCmdSecrets.
	Cmd string
	// StartTime is the process's start in clock ticks after boot (/proc/<pid>/stat field 22): a
	// pid reused by a new process gets a new StartTime.
	StartTime uint64
}

// Procfs reads processes from a proc filesystem mounted at Root ("/proc" by default; tests use
// fixture trees).
type Procfs struct {
	Root string
	// KeepCmdSecrets leaves commands unmasked (the config's Common.MaskCmdSecrets: false).
	KeepCmdSecrets bool
}

// NoProcfs is a proc filesystem without processes, for the events of a trace made on another host.
var NoProcfs = Procfs{Root: os.DevNull}

func (p Procfs) root() string {
	if p.Root == "" {
		return "/proc"
	}
	return p.Root
}

// Process reads pid's command and start time.
func (p Procfs) Process(pid uint32) (Process, error) {
	dir := filepath.Join(p.root(), strconv.FormatUint(uint64(pid), 10))
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return Process{}, err
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Process{}, err
	}
	start, err := startTime(stat)
	if err != nil {
		return Process{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	return Process{PID: pid, Cmd: Command(cmdline, !p.KeepCmdSecrets), StartTime: start}, nil
}

// Command turns an argv — NUL-separated, as /proc/<pid>/cmdline holds it — into iLogtail's
// command text: the arguments joined by spaces, cut to the first word unless that word names
// java or python. With mask, the values of arguments that look like secrets are masked
// (MaskSecrets). Every command a record shows is built here.
func Command(argv []byte, mask bool) string {
	argv = bytes.TrimRight(argv, "\x00")
	first, _, _ := strings.Cut(strings.ReplaceAll(string(argv), "\x00", " "), " ")
	if !strings.Contains(first, "java") && !strings.Contains(first, "python") {
		return first
	}
	args := strings.Split(string(argv), "\x00")
	if mask {
		MaskSecrets(args)
	}
	return strings.Join(args, " ")
}

// startTime reads field 22 of /proc/<pid>/stat. The command (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted after its last ')'.
func startTime(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command field")
	}
	fields := strings.Fields(string(stat[end+1:]))
	const startTimeAfterCmd = 22 - 3 // fields 3.. follow the command
	if len(fields) <= startTimeAfterCmd {
		return 0, fmt.Errorf("%d fields after the command, want more than %d", len(fields), startTimeAfterCmd)
	}
	return strconv.ParseUint(fields[startTimeAfterCmd], 10, 64)
}

// RawProcess is what /proc shows of a process, unprocessed: for writing it to a trace as the
// kernel's process events would have reported it.
type RawProcess struct {
	PID, PPID uint32
	StartTime uint64 // clock ticks after boot
	Comm      string
	Cmdline   []byte
	// CgroupPath is the process's cgroup path: the deepest of its hierarchies.
	CgroupPath string
}

// Raw reads pid's stat, cmdline and cgroup.
func (p Procfs) Raw(pid uint32) (RawProcess, error) {
	dir := filepath.Join(p.root(), strconv.FormatUint(uint64(pid), 10))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return RawProcess{}, err
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return RawProcess{}, err
	}
	start, err := startTime(stat)
	if err != nil {
		return RawProcess{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	r := RawProcess{PID: pid, StartTime: start, Cmdline: cmdline}
	if open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')'); open >= 0 && end > open {
		r.Comm = string(stat[open+1 : end])
		if f := strings.Fields(string(stat[end+1:])); len(f) > 1 {
			ppid, _ := strconv.ParseUint(f[1], 10, 32)
			r.PPID = uint32(ppid)
		}
	}
	if cg, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		for _, line := range strings.Split(string(cg), "\n") {
			if _, rest, ok := strings.Cut(line, ":"); ok {
				if _, path, ok := strings.Cut(rest, ":"); ok && len(path) > len(r.CgroupPath) {
					r.CgroupPath = path
				}
			}
		}
	}
	return r, nil
}

// Pids lists the processes of the proc filesystem.
func (p Procfs) Pids() []uint32 {
	entries, err := os.ReadDir(p.root())
	if err != nil {
		return nil
	}
	var pids []uint32
	for _, e := range entries {
		if pid, err := strconv.ParseUint(e.Name(), 10, 32); err == nil && e.IsDir() {
			pids = append(pids, uint32(pid))
		}
	}
	return pids
}
