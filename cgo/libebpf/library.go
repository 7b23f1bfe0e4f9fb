package libebpf

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -O2 -Wall
#cgo LDFLAGS: -ldl
#include <errno.h>
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
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
	// sleep after any poll: an idle host pays for every wake-up, and traffic that starts during
	// the sleep waits in the kernel buffers (2 MiB of data events per CPU by default: at 40 ms, a
	// burst from nothing to 50 MB/s per CPU would be needed to fill them). Default 4 ×
	// PollInterval; 25 × PollInterval (250 ms) when the library has the wakeup extension, which
	// ends the sleep as soon as a ring passes its fill watermark, so that no burst waits for the
	// timer. 1 s was tried and reverted: the e2e suite's redis-cli, gone before its events were
	// read, had its L4 record split, its bytes without a process name — not the sleep's fault but
	// the library's, which delivered the final statistics of deleted connections ahead of older
	// events (its exec among them); they come in time order since, and e2e passes with 1 s. What
	// waits meanwhile is fetched by PollNow, which the observer calls before each flush and each
	// second. Stop ends the sleep at once where the library can (netobserver_wake_events).
	IdleInterval time.Duration
	// Batches is the number of batches that may be in flight between the poller and the consumer.
	// Default 4 (16 were tried against the loss while 100 000 connections open: no less loss in
	// three runs, and up to 20 MiB more VmRSS; see README, issue 15's targets).
	Batches int
	// KernelAggregation are the protocols the kernel may be asked to aggregate after Open
	// (Library.KernelAggregation): ebpf_init loads the mode's program only for them, since the
	// verifier's work on it costs a second or two of CPU at every start. NoProtocols (the
	// default): the mode cannot be turned on later.
	KernelAggregation abi.ProtocolSet
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
	// handoff keeps Events in poll order: held from a poll until its batch is on Events (by
	// the poller, PollNow and the stop's drain), and over polling's changes.
	handoff sync.Mutex
	// polling: the poller runs, so PollNow may poll. Written under handoff.
	polling bool
	// control serialises Start, Stop and Close against each other.
	control    sync.Mutex
	started    bool
	closed     bool
	stopReq    chan struct{} // closed to ask the running poller to return
	pollerDone chan struct{}

	events chan *abi.Batch
	free   chan *abi.Batch

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
	if opts.Batches <= 0 {
		opts.Batches = 4
	}
	setLogger(opts.Logger)
	c, how, err := load(opts.Path)
	if err != nil {
		return nil, err
	}
	l := &Library{
		c:      c,
		path:   C.GoString(&c.path[0]),
		log:    opts.Logger,
		opts:   opts,
		events: make(chan *abi.Batch, opts.Batches),
		free:   make(chan *abi.Batch, opts.Batches),
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
	for range opts.Batches {
		l.free <- new(abi.Batch)
	}
	l.log.Info("libebpf: loaded", "file", l.path, "found", how.String(), "version", l.Version(), "process_events", l.procEvents, "watermark_wakeups", l.wakeups)

	var cbtf *C.char
	if opts.BTFPath != "" {
		cbtf = C.CString(opts.BTFPath)
		defer C.free(unsafe.Pointer(cbtf))
	}
	// Asked for before ebpf_init, which loads the mode's program only then. A library without the
	// extension is told nothing here: KernelAggregation, after Open, says so.
	if opts.KernelAggregation != abi.NoProtocols {
		if rc := C.netobs_kernel_aggregation(c, C.uint32_t(opts.KernelAggregation)); rc < 0 && rc != -C.ENOSYS {
			C.netobs_close(c)
			return nil, fmt.Errorf("libebpf: netobserver_kernel_aggregation2(%#x) before ebpf_init: %w", uint32(opts.KernelAggregation), errnoOf(rc))
		}
	}
	if rc := C.netobs_init(c, cbtf); rc != 0 {
		C.netobs_close(c)
		return nil, fmt.Errorf("libebpf: ebpf_init of %s failed: %w (see the library's messages above)", l.path, errnoOf(rc))
	}
	return l, nil
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

// Events delivers batches in the order the library produced them. Release each one. The channel
// is closed by Close.
func (l *Library) Events() <-chan *abi.Batch { return l.events }

// Release returns a batch for reuse; its events and payloads must not be used afterwards.
func (l *Library) Release(b *abi.Batch) {
	b.Reset(0, 0, 0, 0, 0, 0)
	select {
	case l.free <- b:
	default: // not one of ours, or released twice: let the GC have it
	}
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

var errClosed = errors.New("libebpf: library is closed")

// Start calls ebpf_start and starts the poller. Calling it again while running calls ebpf_start
// again, as iLogtail does on a config reload; the poller keeps running.
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
		l.stopReq = make(chan struct{})
		l.pollerDone = make(chan struct{})
		l.handoff.Lock()
		l.polling = true
		l.handoff.Unlock()
		go l.poll(l.stopReq, l.pollerDone)
	}
	return nil
}

// PollNow polls the buffers once on the caller's goroutine and queues what came behind the
// batches already on Events, so that a consumer about to flush, or to publish its counters, has
// what the kernel holds now rather than what the poller's last poll found: on a quiet host the
// poller sleeps up to IdleInterval between polls. It polls only while the poller runs, and only
// if a batch is free: it never waits, so the consumer may call it (no batch is free when the
// consumer is behind, and then the poller is not sleeping long).
func (l *Library) PollNow() {
	l.handoff.Lock()
	defer l.handoff.Unlock()
	if !l.polling {
		return
	}
	var b *abi.Batch
	select {
	case b = <-l.free:
	default:
		return
	}
	max := C.int32_t(l.opts.MaxEventsPerPoll)
	rc := l.pollOnce(b, max)
	b.Drained = rc >= 0 && rc < max
	l.deliver(b)
	if rc < 0 && rc != C.EBPF_POLL_STOPPED {
		l.counters.pollErrors.Add(1)
	}
}

// deliver puts a polled batch on Events, or back on free when empty. It never blocks: there are
// as many batches as slots.
func (l *Library) deliver(b *abi.Batch) {
	if b.Len() > 0 {
		l.counters.batches.Add(1)
		l.events <- b
	} else {
		l.free <- b
	}
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

// Stop stops the library producing events, delivers on Events what its buffers still hold, then
// calls ebpf_stop, which frees them. The consumer must go on reading Events until Stop returns:
// the last batches wait for free ones. Stopping a stopped library does nothing.
//
// With netobserver_detach (our library, the replay library) the programs are detached first and
// the buffers polled until a poll returns nothing: no event is lost. Without it (Alibaba's
// library) the programs run until ebpf_stop, so the buffers are polled until a short poll, and
// what is written between that poll and ebpf_stop is freed unread and uncounted.
func (l *Library) Stop() error {
	l.control.Lock()
	defer l.control.Unlock()
	return l.stopLocked(true)
}

// stopLocked stops the poller, drains the buffers onto Events when asked, and calls ebpf_stop.
func (l *Library) stopLocked(drain bool) error {
	if !l.started {
		return nil
	}
	l.call.Lock()
	detached := drain && C.netobs_detach(l.c) != 0
	l.call.Unlock()
	atomic.StoreInt32((*int32)(unsafe.Pointer(&l.c.stop_flag)), 1)
	l.handoff.Lock()
	l.polling = false
	l.handoff.Unlock()
	close(l.stopReq)
	C.netobs_wake(l.c)
	<-l.pollerDone
	l.started = false
	atomic.StoreInt32((*int32)(unsafe.Pointer(&l.c.stop_flag)), 0)
	if drain {
		l.drain(detached)
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

// drain polls what the buffers hold onto Events: until a poll returns nothing when the library
// stopped producing, else until a short poll (Batch.Drained).
func (l *Library) drain(detached bool) {
	max := C.int32_t(l.opts.MaxEventsPerPoll)
	for range drainPolls {
		b := <-l.free
		rc := l.pollOnce(b, max)
		b.Drained = rc >= 0 && rc < max
		l.deliver(b)
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

// Close stops the library, closes Events and unloads the file. Batches already on Events can be
// read. Unlike Stop it waits for no consumer: what the buffers still hold is freed unread (call
// Stop first, as the observer does). Closing twice does nothing.
func (l *Library) Close() error {
	l.control.Lock()
	defer l.control.Unlock()
	if l.closed {
		return nil
	}
	err := l.stopLocked(false)
	l.closed = true
	close(l.events)
	l.call.Lock()
	C.netobs_close(l.c)
	l.c = nil
	l.call.Unlock()
	return err
}

func (l *Library) poll(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	max := C.int32_t(l.opts.MaxEventsPerPoll)
	var lastErr C.int32_t
	idle := time.NewTimer(0)
	defer idle.Stop()
	// The events that came since the last sleep began, for the rate that sizes the next one.
	cycle, got := time.Now(), 0
	for {
		var b *abi.Batch
		select {
		case b = <-l.free:
		case <-stop:
			return
		}
		l.handoff.Lock()
		rc := l.pollOnce(b, max)
		b.Drained = rc >= 0 && rc < max
		l.deliver(b)
		l.handoff.Unlock()
		if rc > 0 {
			got += int(rc)
		}
		switch {
		case rc == C.EBPF_POLL_STOPPED:
			return
		case rc < 0:
			l.counters.pollErrors.Add(1)
			if rc != lastErr {
				l.log.Warn("libebpf: ebpf_poll_events failed", "file", l.path, "error", errnoOf(rc))
				lastErr = rc
			}
		default:
			lastErr = 0
		}
		switch {
		case rc < max && l.wakeups:
			// The library wakes this sleep when a ring passes its fill watermark, so the
			// rate-sized sleep is a bet that may lose: a burst, or a poller starved of CPU,
			// is drained before the ring overflows.
			// Two polls' worth of events before the next poll, not the half of one the
			// timer alone needs to keep the rings far from full: a wake-up costs more than
			// the events it brings at the rates most hosts run, and a ring a quarter full
			// still ends the sleep.
			d := l.opts.IdleInterval
			if rc > 0 {
				now := time.Now()
				d = l.opts.shortPollSleep(got, now.Sub(cycle), 2*int(max))
				cycle, got = now, 0
			} else {
				cycle, got = time.Now(), 0
			}
			if C.netobs_wait(l.c, C.int64_t(d)) > 0 {
				l.counters.wakeups.Add(1)
			}
			select {
			case <-stop:
				return
			default:
			}
		case rc == 0:
			// Nothing at all: sleep in C, where the Go scheduler does not wake with the thread
			// (see netobs_idle). Not while events flow: a goroutine blocked in C for 10 ms
			// makes the runtime hand its P to another thread and take one back, which costs
			// more than a timer when the consumer is busy.
			cycle, got = time.Now(), 0
			C.netobs_idle(C.int64_t(l.opts.IdleInterval))
			select {
			case <-stop:
				return
			default:
			}
		case rc < max:
			now := time.Now()
			idle.Reset(l.opts.shortPollSleep(got, now.Sub(cycle), int(max)/2))
			cycle, got = now, 0
			select {
			case <-idle.C:
			case <-stop:
				return
			}
		}
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

// pollOnce runs one ebpf_poll_events and decodes what its callbacks copied into b, whatever the
// return code: a poll interrupted by the stop flag may still have delivered events.
func (l *Library) pollOnce(b *abi.Batch, max C.int32_t) C.int32_t {
	l.call.Lock()
	rc := C.netobs_poll(l.c, max)
	decode(b, &l.c.batch)
	l.call.Unlock()
	l.account(b, &l.c.batch)
	return rc
}

func (l *Library) account(b *abi.Batch, cb *C.struct_netobs_batch) {
	c := &l.counters
	c.polls.Add(1)
	c.ctrl.Add(uint64(len(b.Ctrl)))
	c.data.Add(uint64(len(b.Data)))
	c.stats.Add(uint64(len(b.Stats)))
	c.proc.Add(uint64(len(b.Proc)))
	c.lostNotices.Add(uint64(len(b.Lost)))
	c.payloadBytes.Add(uint64(cb.payload_bytes))
	c.oversized.Store(uint64(cb.oversized))
	c.batchDrops.Store(uint64(cb.dropped))
	for _, n := range b.Lost {
		if int(n.Which) < len(c.lost) {
			c.lost[n.Which].Add(n.Count)
		}
	}
}
