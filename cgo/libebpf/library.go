package libebpf

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -O2 -Wall
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/netobserver/netobserver/abi"
)

// FileName is the library's file name; iLogtail looks for it beside its executable.
const FileName = "libebpf.so"

// Options configure Open. The zero value finds libebpf.so the way iLogtail does and polls as
// iLogtail did, with larger batches.
type Options struct {
	// Path is the library file to load. Empty: FileName beside the running executable, else the
	// dynamic loader's search (LD_LIBRARY_PATH, the ldconfig cache).
	Path string
	// BTFPath is a BTF or vmlinux file for CO-RE relocation, for kernels without
	// /sys/kernel/btf/vmlinux. Empty: the library finds one.
	BTFPath string
	// Logger receives the library's messages and the layer's own. Default: slog.Default().
	Logger *slog.Logger
	// MaxEventsPerPoll bounds the callbacks one ebpf_poll_events may run. Default 1024.
	MaxEventsPerPoll int
	// PollInterval is the shortest sleep of the poller after a poll that returned fewer than
	// MaxEventsPerPoll events (iLogtail always slept 10 ms); it sleeps longer the fewer events
	// came, up to IdleInterval (see shortPollSleep). Default 10ms.
	PollInterval time.Duration
	// IdleInterval is how long it sleeps after a poll that returned nothing, and the longest
	// sleep after any poll: an idle host pays for every wake-up (≈ 80 µs of CPU each, timers and
	// scheduler included), and traffic that starts during the sleep waits in the kernel buffers
	// (2 MiB of data events per CPU by default: at 40 ms, a burst from nothing to 50 MB/s per CPU
	// would be needed to fill them). Default 4 × PollInterval; 25 × PollInterval with the
	// library's wakeup extension, which ends the sleep when a ring passes its fill watermark, so
	// that a long sleep cannot overflow the buffers (idle: 0.03 % of a core instead of 0.2 %).
	IdleInterval time.Duration
}

// Library is a loaded and initialised libebpf.so.
type Library struct {
	c       *C.struct_netobs_lib
	path    string
	version string
	// procEvents: the library has the process extension.
	procEvents bool
	// wakeups: the library has the wakeup extension (netobserver_wait_events).
	wakeups bool
	log     *slog.Logger
	opts    Options

	// call serialises every call into the library: its state is global.
	call sync.Mutex
	// control serialises Start, Stop and Close against each other.
	control sync.Mutex
	started bool
	closed  bool

	// The last poll, for the sleep after it (Wait): its return code and the events that came
	// since the last sleep began.
	last  C.int32_t
	cycle time.Time
	got   int

	lastErr C.int32_t

	// wake is a dup of the library's wakeup descriptor in Go's poller (netobserver_wakeup_fd):
	// Wait parks the goroutine on it instead of blocking the thread in C. nil without it.
	wake    *os.File
	wakeRaw syscall.RawConn

	counters counters
}

type counters struct {
	polls, pollErrors, batches, wakeups  atomic.Uint64
	ctrl, data, stats, proc, lostNotices atomic.Uint64
	payloadBytes, oversized, batchDrops  atomic.Uint64
	lost                                 [4]atomic.Uint64
}

// Open loads the library, resolves its symbols, registers the callbacks and calls ebpf_init.
// Errors name the file and the problem: a missing file, a file that is not a shared library or is
// for another architecture, a missing symbol, a failed init.
func Open(opts Options) (*Library, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxEventsPerPoll <= 0 {
		opts.MaxEventsPerPoll = 1024
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	setLogger(opts.Logger)
	c, how, err := load(opts.Path)
	if err != nil {
		return nil, err
	}
	l := &Library{
		c:    c,
		path: C.GoString(&c.path[0]),
		log:  opts.Logger,
		opts: opts,
	}
	l.version = C.GoString(C.netobs_version(c))
	l.procEvents = C.netobs_has_process_events(c) != 0
	l.wakeups = C.netobs_has_wait(c) != 0
	if l.opts.IdleInterval <= 0 {
		l.opts.IdleInterval = 4 * l.opts.PollInterval
		if l.wakeups {
			l.opts.IdleInterval = 25 * l.opts.PollInterval
		}
	}
	l.log.Info("libebpf: loaded", "file", l.path, "found", how.String(), "version", l.Version(), "process_events", l.procEvents, "watermark_wakeups", l.wakeups)

	var cbtf *C.char
	if opts.BTFPath != "" {
		cbtf = C.CString(opts.BTFPath)
		defer C.free(unsafe.Pointer(cbtf))
	}
	if rc := C.netobs_init(c, cbtf); rc != 0 {
		C.netobs_close(c)
		return nil, fmt.Errorf("libebpf: ebpf_init of %s failed: %w (see the library's messages above)", l.path, errnoOf(rc))
	}
	if l.wakeups && os.Getenv("NETOBSERVER_WAKEUP_FD") != "off" {
		l.wake, l.wakeRaw = pollable(int(C.netobs_wakeup_fd(c)))
	}
	return l, nil
}

// pollable returns a dup of fd that Go's poller waits on, or nil when fd is not valid.
func pollable(fd int) (*os.File, syscall.RawConn) {
	if fd < 0 {
		return nil, nil
	}
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return nil, nil
	}
	if err := syscall.SetNonblock(int(dup), true); err != nil {
		syscall.Close(int(dup))
		return nil, nil
	}
	f := os.NewFile(dup, "libebpf wakeup")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil
	}
	return f, raw
}

// load finds, checks and dlopens the library and resolves its symbols.
func load(path string) (*C.struct_netobs_lib, foundHow, error) {
	file, how, err := locate(path)
	if err != nil {
		return nil, how, err
	}
	if how != foundBySearch {
		if err := checkSharedObject(file); err != nil {
			return nil, how, err
		}
	}
	cfile := C.CString(file)
	defer C.free(unsafe.Pointer(cfile))
	var errBuf [1024]C.char
	c := C.netobs_open(cfile, &errBuf[0], C.size_t(len(errBuf)))
	if c == nil {
		return nil, how, fmt.Errorf("libebpf: load %s (%s): %s", file, how, C.GoString(&errBuf[0]))
	}
	return c, how, nil
}

// foundHow is how locate found the library; the log says it.
type foundHow int

const (
	foundExplicit foundHow = iota
	foundBesideExecutable
	foundBySearch
)

// String is hand-written, not generated by stringer as the other enums' are: a generated file
// carries no build constraint, and every other file of this package needs cgo.
func (h foundHow) String() string {
	switch h {
	case foundExplicit:
		return "explicit path"
	case foundBesideExecutable:
		return "beside the executable"
	}
	return "dynamic loader search"
}

func locate(explicit string) (string, foundHow, error) {
	if explicit != "" {
		abs, err := filepath.Abs(explicit)
		if err != nil {
			return "", 0, fmt.Errorf("libebpf: %s: %w", explicit, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", 0, fmt.Errorf("libebpf: cannot use %s: %w", abs, err)
		}
		return abs, foundExplicit, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), FileName)
		if _, err := os.Stat(beside); err == nil {
			return beside, foundBesideExecutable, nil
		}
	}
	return FileName, foundBySearch, nil
}

// errnoOf turns the library's negative return codes into errors; -errno values are named.
func errnoOf(rc C.int32_t) error {
	if rc < 0 && rc > -4096 {
		return fmt.Errorf("code %d (%w)", int32(rc), syscall.Errno(-rc))
	}
	return fmt.Errorf("code %d", int32(rc))
}

// Path is the file the dynamic loader opened.
func (l *Library) Path() string { return l.path }

// Version is the library's own version string, or a note that it has none (Alibaba's does not).
func (l *Library) Version() string {
	if l.version == "" {
		return "unknown (the library exports no version)"
	}
	return l.version
}

// ProcessEvents reports whether the library has netobserver's process extension
// (netobserver_setup_process_func): batches then carry an event per exec, fork and exit of a
// process. Alibaba's library has not.
func (l *Library) ProcessEvents() bool {
	return l.procEvents
}

// Finished reports whether a replay library has delivered its whole trace. A kernel library never
// finishes.
func (l *Library) Finished() bool {
	l.call.Lock()
	defer l.call.Unlock()
	return l.c != nil && C.netobs_finished(l.c) != 0
}

// Inspect loads the library file as Open would, reads its version and unloads it, without
// initialising it: no BPF is loaded, nothing needs privileges.
func Inspect(path string) (file, version string, err error) {
	c, _, err := load(path)
	if err != nil {
		return "", "", err
	}
	defer C.netobs_close(c)
	l := Library{version: C.GoString(C.netobs_version(c))}
	return C.GoString(&c.path[0]), l.Version(), nil
}

// StubOffsets returns the offsets passed to ebpf_init for ebpf_cleanup_dog,
// ebpf_update_conn_addr, ebpf_disable_process and ebpf_update_conn_role.
func (l *Library) StubOffsets() [4]int64 {
	var o [4]int64
	for i := range o {
		o[i] = int64(l.c.offsets[i])
	}
	return o
}

// Counters returns a snapshot of the layer's counters.
func (l *Library) Counters() abi.Counters {
	c := &l.counters
	s := abi.Counters{
		Polls: c.polls.Load(), PollErrors: c.pollErrors.Load(), Batches: c.batches.Load(), Wakeups: c.wakeups.Load(),
		Ctrl: c.ctrl.Load(), Data: c.data.Load(), Stats: c.stats.Load(), Proc: c.proc.Load(), LostNotices: c.lostNotices.Load(),
		PayloadBytes: c.payloadBytes.Load(), Oversized: c.oversized.Load(), BatchDrops: c.batchDrops.Load(),
	}
	for i := range s.Lost {
		s.Lost[i] = c.lost[i].Load()
	}
	return s
}

var (
	errClosed     = errors.New("libebpf: library is closed")
	errNotStarted = errors.New("libebpf: library is not started")
)

// Start calls ebpf_start. Calling it again while started calls ebpf_start again, as iLogtail does
// on a config reload.
func (l *Library) Start() error {
	l.control.Lock()
	defer l.control.Unlock()
	if l.closed {
		return errClosed
	}
	if err := l.startLibrary(); err != nil {
		return err
	}
	if !l.started {
		l.started = true
		l.last, l.cycle, l.got = 0, time.Now(), 0
	}
	return nil
}

func (l *Library) startLibrary() error {
	l.call.Lock()
	rc := C.netobs_start(l.c)
	l.call.Unlock()
	if rc != 0 {
		return fmt.Errorf("libebpf: ebpf_start of %s failed: %w", l.path, errnoOf(rc))
	}
	return nil
}

// Poll runs one ebpf_poll_events and hands every event it brought to v, in production order, on
// the calling goroutine; process events too when v is an abi.ProcVisitor, and the end of the
// poll when v is an abi.BatchEnder. Events and payloads are read in place from the C batch: they
// are valid until the next Poll or Stop (a *abi.DataEvent only until v.Data returns; its Payload
// until then). drained says the poll emptied every ring (abi.BatchEnder).
//
// Poll, Wait and Stop are called from one goroutine (the consumer's), which should stay on one
// thread (runtime.LockOSThread): every C call then runs where the last one ran.
func (l *Library) Poll(v abi.Visitor) (events int, drained bool, err error) {
	if !l.started {
		return 0, false, errNotStarted
	}
	max := C.int32_t(l.opts.MaxEventsPerPoll)
	rc := l.pollOnce(v, max)
	drained = rc >= 0 && rc < max
	l.last = rc
	if rc > 0 {
		l.got += int(rc)
	}
	if rc < 0 {
		l.counters.pollErrors.Add(1)
		if rc != l.lastErr {
			l.log.Warn("libebpf: ebpf_poll_events failed", "file", l.path, "error", errnoOf(rc))
			l.lastErr = rc
		}
		return 0, false, fmt.Errorf("libebpf: ebpf_poll_events of %s: %w", l.path, errnoOf(rc))
	}
	l.lastErr = 0
	return int(rc), drained, nil
}

// Wait sleeps until the next poll is worth making, at most limit. After a full poll it returns at
// once; after a poll that emptied the buffers it sleeps until about half a poll's worth of
// events is expected at the rate seen since the last sleep (shortPollSleep), IdleInterval after
// an empty one. With the library's wakeup extension the sleep ends early when a ring passes its
// fill watermark, so a burst is drained before the ring overflows; the sleep is then in C, on
// the calling thread, where the Go scheduler does not wake with it.
func (l *Library) Wait(limit time.Duration) {
	max := C.int32_t(l.opts.MaxEventsPerPoll)
	if l.last >= max || limit <= 0 {
		return
	}
	now := time.Now()
	d := l.opts.IdleInterval
	if l.last > 0 {
		// Half a poll's worth before the next poll, so that the rings stay far from full; with
		// watermark wakeups, which drain a filling ring, two polls' worth: a wake-up costs
		// more than the events it brings at the rates most hosts run (at 5k requests/s, 10
		// wake-ups a second instead of 40: the observer's CPU per request 0.68 of the 40's).
		events := int(max) / 2
		if l.wakeups {
			events = 2 * int(max)
		}
		d = l.opts.shortPollSleep(l.got, now.Sub(l.cycle), events)
	}
	l.cycle, l.got = now, 0
	d = min(d, limit)
	switch {
	case l.wake != nil:
		// Parked in Go's poller: the thread and its P are free, and no thread is blocked in C
		// for the runtime to take the P back from. netobserver_wait_events(0) takes the
		// readiness (the descriptor's edge comes again only after it).
		l.wake.SetReadDeadline(now.Add(d))
		woke := false
		l.wakeRaw.Read(func(uintptr) bool {
			woke = C.netobs_wait(l.c, 0) > 0
			return woke
		})
		if woke {
			l.counters.wakeups.Add(1)
		}
	case l.wakeups:
		if C.netobs_wait(l.c, C.int64_t(d)) > 0 {
			l.counters.wakeups.Add(1)
		}
	case l.last == 0:
		C.netobs_idle(C.int64_t(d))
	default:
		// Events flow: a Go timer, not a sleep in C, which would make the runtime hand this
		// thread's P to another and take one back.
		time.Sleep(d)
	}
}

// shortPollSleep is the sleep after a poll that emptied the buffers: got events came in elapsed
// (since the previous sleep began), and the sleep lasts until about events more are expected —
// at least PollInterval, at most IdleInterval. A lightly loaded host then wakes a few times a
// second instead of 100 (each wake-up costs more than the events it brings), while a busy one
// keeps PollInterval and its buffers far from full.
func (o *Options) shortPollSleep(got int, elapsed time.Duration, events int) time.Duration {
	if got <= 0 {
		return o.IdleInterval
	}
	d := elapsed * time.Duration(events) / time.Duration(got)
	return min(max(d, o.PollInterval), o.IdleInterval)
}

// Stop stops the library producing events, hands v what its buffers still hold (as Poll does;
// v may be nil to discard it), then calls ebpf_stop, which frees them. Stopping a stopped library
// does nothing.
//
// With netobserver_detach (our library, the replay library) the programs are detached first and
// the buffers polled until a poll returns nothing: no event is lost. Without it (Alibaba's
// library) the programs run until ebpf_stop, so the buffers are polled until a short poll, and
// what is written between that poll and ebpf_stop is freed unread and uncounted.
func (l *Library) Stop(v abi.Visitor) error {
	l.control.Lock()
	defer l.control.Unlock()
	return l.stopLocked(v, true)
}

// stopLocked drains the buffers into v when asked, and calls ebpf_stop.
func (l *Library) stopLocked(v abi.Visitor, drain bool) error {
	if !l.started {
		return nil
	}
	l.started = false
	if drain {
		l.call.Lock()
		detached := C.netobs_detach(l.c) != 0
		l.call.Unlock()
		l.drain(v, detached)
	}
	l.call.Lock()
	rc := C.netobs_stop(l.c)
	l.call.Unlock()
	if rc != 0 {
		return fmt.Errorf("libebpf: ebpf_stop of %s failed: %w", l.path, errnoOf(rc))
	}
	return nil
}

// drainPolls bounds the last polls of a library that goes on producing (no netobserver_detach)
// on a host busier than one poll can empty.
const drainPolls = 256

// drain polls what the buffers hold into v: until a poll returns nothing when the library
// stopped producing, else until a short poll.
func (l *Library) drain(v abi.Visitor, detached bool) {
	if v == nil {
		v = discard{}
	}
	max := C.int32_t(l.opts.MaxEventsPerPoll)
	for range drainPolls {
		rc := l.pollOnce(v, max)
		if rc < 0 {
			l.counters.pollErrors.Add(1)
			l.log.Warn("libebpf: the last poll before ebpf_stop failed", "file", l.path, "error", errnoOf(rc))
			return
		}
		if rc == 0 || (!detached && rc < max) {
			return
		}
	}
	l.log.Warn("libebpf: events still coming after the last polls; the rest is freed by ebpf_stop unread",
		"file", l.path, "polls", drainPolls, "max_events_per_poll", l.opts.MaxEventsPerPoll)
}

// discard is the visitor of a Stop that keeps nothing.
type discard struct{}

func (discard) Ctrl(*abi.CtrlEvent)   {}
func (discard) Data(*abi.DataEvent)   {}
func (discard) Stats(*abi.StatsEvent) {}
func (discard) Lost(abi.LostNotice)   {}

// Close stops the library without draining it (what the buffers still hold is freed unread:
// call Stop first, as the observer does) and unloads the file. Closing twice does nothing.
func (l *Library) Close() error {
	l.control.Lock()
	defer l.control.Unlock()
	if l.closed {
		return nil
	}
	err := l.stopLocked(nil, false)
	l.closed = true
	if l.wake != nil {
		l.wake.Close()
	}
	l.call.Lock()
	C.netobs_close(l.c)
	l.c = nil
	l.call.Unlock()
	return err
}

// pollOnce runs one ebpf_poll_events, counts what came, and hands it to v (whatever the return
// code: a failed poll may still have delivered events), then ends the batch.
func (l *Library) pollOnce(v abi.Visitor, max C.int32_t) C.int32_t {
	l.call.Lock()
	rc := C.netobs_poll(l.c, max)
	l.call.Unlock()
	cb := &l.c.batch
	l.account(cb)
	pv, _ := v.(abi.ProcVisitor)
	visit(v, pv, cb)
	if e, ok := v.(abi.BatchEnder); ok && cb.entries > 0 {
		e.EndBatch(rc >= 0 && rc < max)
	}
	return rc
}

func (l *Library) account(cb *C.struct_netobs_batch) {
	c := &l.counters
	c.polls.Add(1)
	if cb.entries > 0 {
		c.batches.Add(1)
	}
	c.ctrl.Add(uint64(cb.ctrl))
	c.data.Add(uint64(cb.data))
	c.stats.Add(uint64(cb.stats))
	c.proc.Add(uint64(cb.proc))
	c.lostNotices.Add(uint64(cb.lost))
	c.payloadBytes.Add(uint64(cb.payload_bytes))
	c.oversized.Store(uint64(cb.oversized))
	c.batchDrops.Store(uint64(cb.dropped))
	if cb.lost == 0 {
		return
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(cb.buf)), int(cb.len))
	for off := 0; off+entryHeader <= len(raw); {
		kind := eventKind(binary.LittleEndian.Uint32(raw[off:]))
		size := int(binary.LittleEndian.Uint32(raw[off+4:]))
		if kind == kindLost {
			n := (*abi.LostNotice)(unsafe.Pointer(&raw[off+entryHeader]))
			if int(n.Which) < len(c.lost) {
				c.lost[n.Which].Add(n.Count)
			}
		}
		off += entryHeader + (size+7)&^7
	}
}
