package observer

import (
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/container"
	"golang.org/x/sys/unix"
)

// kernelProcesses keeps the process table: who each process is, captured while it ran, so that
// short-lived clients and forked servers are named after they exit and a reused pid never names
// another's calls. It is fed by the library's process events (its optional extension) or, with a
// library without them, by the process connector; a recording's only by its events.
type kernelProcesses struct {
	table *container.ProcTable
	// fromEvents: the library reports processes; else the process connector feeds the table.
	fromEvents bool
	connector  *container.ProcConnector
	// bootOffset is CLOCK_BOOTTIME - CLOCK_MONOTONIC: a fork's start estimated from its event's
	// time (the plain-tracepoint fallback) is on the boot clock, as /proc's starttime.
	bootOffset uint64
}

func newKernelProcesses(opts Options, fromEvents bool) *kernelProcesses {
	// Kept after exit until the records still to come of it: its connections' final statistics,
	// which the map's collection finds up to GCInterval later.
	gc := opts.GCInterval
	if gc <= 0 {
		gc = 300 * time.Second
	}
	return &kernelProcesses{
		table:      container.NewProcTable(container.ProcTableConfig{Keep: uint64(gc + time.Minute), KeepCmdSecrets: opts.KeepCmdSecrets}),
		bootOffset: bootOffset(),
		fromEvents: fromEvents,
	}
}

// start seeds the table with the processes running now (not for a recording) and, without the
// library's events,
// starts the process connector (it fails without CAP_NET_ADMIN or CONFIG_PROC_EVENTS: then every
// process is read from /proc at its first event, as iLogtail did).
func (k *kernelProcesses) start(procRoot string, recorded bool) error {
	if recorded {
		return nil // a recording's processes are in its events only
	}
	fs := container.Procfs{Root: procRoot, KeepCmdSecrets: k.table.KeepCmdSecrets()}
	var err error
	if !k.fromEvents && k.connector == nil {
		k.connector, err = container.ListenProcConnector(k.table, fs)
	}
	k.table.SeedFrom(fs)
	return err
}

// seedAttached reads /proc again once the library's programs are attached, for the processes that
// started or exec'd while it attached them: after the seed, before the programs, so in neither;
// a short-lived one would be nameless once gone, or named after the program it left.
func (k *kernelProcesses) seedAttached(procRoot string, recorded bool) {
	var now unix.Timespec
	if recorded || unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		return
	}
	k.table.ReseedFrom(uint64(now.Nano()), container.Procfs{Root: procRoot, KeepCmdSecrets: k.table.KeepCmdSecrets()})
}

func (k *kernelProcesses) stop() {
	if k.connector != nil {
		k.connector.Close()
		k.connector = nil
	}
}

func bootOffset() uint64 {
	var boot, mono unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot) != nil || unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono) != nil {
		return 0
	}
	return uint64(boot.Nano() - mono.Nano())
}

// Proc implements abi.ProcVisitor.
func (o *Observer) Proc(ev *abi.ProcEvent) {
	k := o.kernel
	if k == nil {
		return
	}
	start := container.StartTicks(ev.StartNS)
	if ev.Flags&abi.ProcStartEstimated != 0 {
		start = container.StartTicks(ev.TS + k.bootOffset)
	}
	cmdline := ev.Cmdline()
	if ev.Flags&abi.ProcArgsFailed != 0 {
		cmdline = []byte(ev.CommString())
	}
	switch ev.Type {
	case abi.ProcExec:
		o.tlsExec(ev.TGID)
		k.table.Exec(ev.TS, ev.TGID, ev.PPID, start, ev.CommString(), cmdline, container.CgroupOfPath(ev.CgroupPath()))
	case abi.ProcFork:
		k.table.Fork(ev.TS, ev.TGID, ev.PPID, start, ev.CommString(), cmdline, container.CgroupOfPath(ev.CgroupPath()))
	case abi.ProcExit:
		k.table.Exit(ev.TS, ev.TGID, start)
	}
}
