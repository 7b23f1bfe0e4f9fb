package abi

import (
	"bytes"
)

// ProcType says what happened to a process (netobserver_proc_type_e).
type ProcType uint32

// Process event types: exec, the process replaced its program; fork, a new process, which shares
// its parent's argv and cgroup; exit, the process's last thread exited.
const (
	ProcExec ProcType = 1 // exec
	ProcFork ProcType = 2 // fork
	ProcExit ProcType = 3 // exit
)

// Process event flags.
const (
	// ProcStartEstimated: StartNS is the fork's time, not read from the child (the plain
	// tracepoint fallback).
	ProcStartEstimated uint32 = 0x1
	// ProcArgsFailed: argv could not be read.
	ProcArgsFailed uint32 = 0x2
)

// ProcessEvents is the lost-notice stream of process events (PROC_HAND). It is not a
// CallbackType of the ABI: only a library with the process extension reports it.
const ProcessEvents CallbackType = 3 // proc

// MaxProcArgs and MaxProcCgroup are the argv bytes and the bytes of each cgroup path component a
// process event carries (NETOBSERVER_PROC_ARGS, NETOBSERVER_PROC_CGROUP).
const (
	MaxProcArgs   = 512
	MaxProcCgroup = 128
)

// ProcEvent is an exec, fork or exit of a process, from the optional process extension of the
// library (netobserver_proc_event_t): who the process is, captured by the kernel while it ran.
type ProcEvent struct {
	Type ProcType
	TGID uint32
	TS   uint64 // monotonic ns, the clock of every event's TS
	// StartNS is the process's start in ns after boot; /proc/<pid>/stat's starttime is
	// StartNS / (1e9 / USER_HZ).
	StartNS   uint64
	PPID      uint32
	Flags     uint32
	ArgsSize  uint32 // valid bytes of Args
	ArgsTotal uint32 // argv's whole length (more than ArgsSize when cut)
	CgroupID  uint64
	Comm      [16]byte
	// The last two components of the process's cgroup path, NUL-terminated.
	CgroupParent [MaxProcCgroup]byte
	CgroupLeaf   [MaxProcCgroup]byte
	Args         [MaxProcArgs]byte // argv, NUL-separated, as /proc/<pid>/cmdline
}

// ProcVisitor is a Visitor that also wants process events. Batch.Visit hands them to visitors
// that implement it and skips them for the others.
type ProcVisitor interface {
	Visitor
	Proc(*ProcEvent)
}

// Cmdline returns the argv bytes the event carries, as /proc/<pid>/cmdline holds them (possibly
// cut at MaxProcArgs).
func (e *ProcEvent) Cmdline() []byte {
	return e.Args[:min(int(e.ArgsSize), len(e.Args))]
}

// CommString returns the kernel's short name of the program.
func (e *ProcEvent) CommString() string { return cString(e.Comm[:]) }

// CgroupPath returns "/<parent>/<leaf>" of the process's cgroup ("/" for the root, "/<leaf>" for
// a cgroup right under it).
func (e *ProcEvent) CgroupPath() string {
	parent, leaf := cString(e.CgroupParent[:]), cString(e.CgroupLeaf[:])
	switch {
	case leaf == "":
		return "/"
	case parent == "":
		return "/" + leaf
	}
	return "/" + parent + "/" + leaf
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
