package prometheus

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/netobserver/netobserver/observer/live"
)

// LiveBound is how long the observer's event loop may go without publishing its counters before
// LivePath reports it stuck. The loop publishes every second, idle or not; a batch that takes
// longer than this to consume is a hang, not load.
const LiveBound = 30 * time.Second

// StartBound is how long after Listen the health endpoints wait for the observer's first
// counters before LivePath reports it stuck: loading and attaching the BPF programs takes a few
// seconds, more on a slow node.
const StartBound = 2 * time.Minute

// health answers the probes from the counters the observer publishes (group "observer"):
//
//   - ready (ReadyPath 200) once the observer published with polls_total > 0: the capture
//     library started and polled its buffers at least once, so calls are being seen. It stays
//     ready while live.
//   - live (LivePath 200) while the last publication is within LiveBound, or, before the first,
//     within StartBound of Listen.
type health struct {
	now func() time.Time

	mu        sync.Mutex
	started   time.Time // Listen
	published time.Time // the observer's last counters; zero before
	polls     uint64
}

func newHealth(now func() time.Time) *health { return &health{now: now} }

func (h *health) start() {
	h.mu.Lock()
	h.started = h.now()
	h.mu.Unlock()
}

// observed takes the observer's counters.
func (h *health) observed(ms []live.Metric) {
	var polls uint64
	for _, m := range ms {
		if m.Name == "polls_total" {
			polls = m.Value
		}
	}
	h.mu.Lock()
	h.published = h.now()
	h.polls = polls
	h.mu.Unlock()
}

// live says whether the event loop runs, and why not.
func (h *health) live() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if h.published.IsZero() {
		if d := now.Sub(h.started); d > StartBound {
			return false, fmt.Sprintf("the observer has not published its counters in the %v since the start", d.Round(time.Second))
		}
		return true, "starting"
	}
	if d := now.Sub(h.published); d > LiveBound {
		return false, fmt.Sprintf("the observer's event loop last published %v ago (bound %v)", d.Round(time.Second), LiveBound)
	}
	return true, "ok"
}

// ready says whether the observer captures, and why not.
func (h *health) ready() (bool, string) {
	if ok, why := h.live(); !ok {
		return false, why
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.published.IsZero():
		return false, "the observer has not started"
	case h.polls == 0:
		return false, "the capture library has not polled yet"
	}
	return true, "ok"
}

func (h *health) serveLive(w http.ResponseWriter, _ *http.Request)  { answer(w, h.live) }
func (h *health) serveReady(w http.ResponseWriter, _ *http.Request) { answer(w, h.ready) }

func answer(w http.ResponseWriter, check func() (bool, string)) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ok, why := check()
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, why)
}
