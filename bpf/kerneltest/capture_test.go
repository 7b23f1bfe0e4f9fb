package kerneltest

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/internal/eventtest"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/require"
)

// event is one captured event, copied out of its batch.
type event struct {
	ctrl  *abi.CtrlEvent
	data  *abi.DataEvent
	stats *abi.StatsEvent
	lost  *abi.LostNotice
}

func (e event) tgid() uint32 {
	switch {
	case e.ctrl != nil:
		return e.ctrl.ConnID.TGID
	case e.data != nil:
		return e.data.ConnID.TGID
	case e.stats != nil:
		return e.stats.ConnID.TGID
	}
	return 0
}

func (e event) conn() abi.ConnID {
	switch {
	case e.ctrl != nil:
		return e.ctrl.ConnID
	case e.data != nil:
		return e.data.ConnID
	case e.stats != nil:
		return e.stats.ConnID
	}
	return abi.ConnID{}
}

// capture runs our libebpf.so for one test and keeps every event it delivers.
type capture struct {
	lib *libebpf.Library
	log *eventtest.Log
	mu  sync.Mutex
	evs []event
	// procs are the process events (the library's extension), in delivery order.
	procs []procEvent
	done  chan struct{}
}

type procEvent struct {
	abi.ProcEvent
	at int // len(evs) when it came: the socket events before it happened before it
}

func (c *capture) Ctrl(e *abi.CtrlEvent) { v := *e; c.evs = append(c.evs, event{ctrl: &v}) }
func (c *capture) Data(e *abi.DataEvent) {
	v := *e
	v.Payload = bytes.Clone(e.Payload)
	c.evs = append(c.evs, event{data: &v})
}
func (c *capture) Stats(e *abi.StatsEvent) { v := *e; c.evs = append(c.evs, event{stats: &v}) }
func (c *capture) Lost(n abi.LostNotice)   { c.evs = append(c.evs, event{lost: &n}) }

// Proc keeps process events apart (the other helpers know only socket events), with their index
// in evs: events are delivered in the order they happened.
func (c *capture) Proc(e *abi.ProcEvent) {
	c.procs = append(c.procs, procEvent{ProcEvent: *e, at: len(c.evs)})
}

// startCapture loads bin/libebpf.so, configures it as iLogtail does (then applies tweak) and
// starts it. The library stays loaded until the test ends.
func startCapture(t *testing.T, tweak func(*libebpf.Library)) *capture {
	t.Helper()
	return startCaptureWith(t, libebpf.Options{PollInterval: 2 * time.Millisecond}, tweak)
}

// startCaptureWith is startCapture with the poller's options.
func startCaptureWith(t *testing.T, opts libebpf.Options, tweak func(*libebpf.Library)) *capture {
	t.Helper()
	testenv.RequireRoot(t)
	c := &capture{log: &eventtest.Log{}, done: make(chan struct{})}
	opts.Path, opts.Logger = testenv.BuiltFile(t, libebpf.FileName), slog.New(c.log)
	lib, err := libebpf.Open(opts)
	if err != nil {
		t.Fatalf("BPF CANNOT RUN HERE: %v\nlibrary said:\n%s", err, c.log.Text())
	}
	c.lib = lib
	require.NoError(t, lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, lib.SetProcessFilter(libebpf.AllProcesses))
	require.NoError(t, lib.SetSelfFilter(int32(os.Getpid())))
	require.NoError(t, lib.SetSampling(abi.SampleAll))
	require.NoError(t, lib.SetBufferPages(abi.DataEvents, 512))
	if tweak != nil {
		tweak(lib)
	}
	require.NoError(t, lib.Start(), "library said:\n%s", c.log.Text())
	go func() {
		defer close(c.done)
		for b := range lib.Events() {
			c.mu.Lock()
			b.Visit(c)
			c.mu.Unlock()
			lib.Release(b)
		}
	}()
	t.Cleanup(func() {
		require.NoError(t, lib.Close())
		<-c.done
		if t.Failed() {
			t.Logf("library messages:\n%s", c.log.Text())
		}
	})
	return c
}

// of returns the events of process pid so far.
func (c *capture) of(pid int) []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event
	for _, e := range c.evs {
		if e.tgid() == uint32(pid) {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls until done(events of pid) holds, or fails after 10s showing what arrived.
func (c *capture) waitFor(t *testing.T, pid int, what string, done func([]event) bool) []event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := c.of(pid)
		if done(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: %s did not arrive in 10s; got:\n%s", pid, what, describe(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lost is the events the library reported lost so far.
func (c *capture) lost() (n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.evs {
		if e.lost != nil {
			n += e.lost.Count
		}
	}
	return n
}

// wireBytes is the bytes on the wire of the data events in direction dir.
func wireBytes(evs []event, dir abi.Direction) int {
	n := 0
	for _, e := range evs {
		if e.data != nil && e.data.Direction == dir {
			n += int(e.data.OrgMsgSize)
		}
	}
	return n
}

// closed reports whether the events include a final stats event (the close of some connection).
func closedConns(evs []event) int {
	n := 0
	for _, e := range evs {
		if e.stats != nil && e.stats.ConnEvents == 1 {
			n++
		}
	}
	return n
}

// describe is the events in the trace format.
func describe(evs []event) string {
	all := make([]eventtest.Event, len(evs))
	for i, e := range evs {
		all[i] = eventtest.Event{Ctrl: e.ctrl, Data: e.data, Stats: e.stats, Lost: e.lost}
	}
	return eventtest.Trace(all...)
}

// conversation is what one connection of one process carried, assembled from its events.
type conversation struct {
	id              abi.ConnID
	connect, close  *abi.CtrlEvent
	final           *abi.StatsEvent
	egress, ingress []*abi.DataEvent
}

func (cv *conversation) sent() []byte     { return joined(cv.egress) }
func (cv *conversation) received() []byte { return joined(cv.ingress) }

func joined(ds []*abi.DataEvent) []byte {
	var b []byte
	for _, d := range ds {
		b = append(b, d.Payload...)
	}
	return b
}

// conversations groups events by connection, in first-seen order.
func conversations(evs []event) []*conversation {
	var out []*conversation
	byID := map[abi.ConnID]*conversation{}
	for _, e := range evs {
		if e.lost != nil {
			continue
		}
		id := e.conn()
		cv := byID[id]
		if cv == nil {
			cv = &conversation{id: id}
			byID[id] = cv
			out = append(out, cv)
		}
		switch {
		case e.ctrl != nil && e.ctrl.Type == abi.EventConnect:
			cv.connect = e.ctrl
		case e.ctrl != nil:
			cv.close = e.ctrl
		case e.stats != nil && e.stats.ConnEvents == 1:
			cv.final = e.stats
		case e.data != nil && e.data.Direction == abi.DirEgress:
			cv.egress = append(cv.egress, e.data)
		case e.data != nil:
			cv.ingress = append(cv.ingress, e.data)
		}
	}
	return out
}
