package main

import (
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netobserver/netobserver/observer/config"
)

// exitGaveUp is the exit code when the library did not return in time and netobserver gave up on it.
const exitGaveUp = 1

// lifecycle turns signals into a stop and reloads. Its goroutine reads the signal channel at all
// times, whatever the rest of the process is doing: Go's signal package drops a signal that finds
// the channel full, which lost a SIGTERM that followed a SIGHUP. A stop has a deadline: a library
// that does not return from ebpf_init, ebpf_poll_events or ebpf_stop cannot be interrupted, so
// when the deadline passes netobserver says where it was stuck and exits with exitGaveUp.
type lifecycle struct {
	logger      *slog.Logger
	stopTimeout time.Duration
	exit        func(int)

	// stopped is closed by the first stop (SIGTERM, SIGINT, or a reload that disables the pipeline).
	stopped  chan struct{}
	stopOnce sync.Once
	// hup holds a SIGHUP not yet acted on; more SIGHUPs meanwhile make the same reload.
	hup chan struct{}
	// stage says what the process is waiting for, for the give-up message.
	stage atomic.Pointer[string]
	// giveUpTimer is the stop's deadline, once armed.
	giveUpTimer atomic.Pointer[time.Timer]
}

func newLifecycle(logger *slog.Logger, stopTimeout time.Duration, exit func(int)) *lifecycle {
	l := &lifecycle{logger: logger, stopTimeout: stopTimeout, exit: exit,
		stopped: make(chan struct{}), hup: make(chan struct{}, 1)}
	l.setStage("starting")
	return l
}

func (l *lifecycle) setStage(s string) { l.stage.Store(&s) }

// watch handles every signal on signals until it is closed.
func (l *lifecycle) watch(signals <-chan os.Signal) {
	for sig := range signals {
		if sig == syscall.SIGHUP {
			select {
			case l.hup <- struct{}{}:
			default: // a reload is pending already; it reads the file as it is now
			}
			continue
		}
		l.stop("signal", sig.String())
	}
}

// stop begins the stop once and arms its deadline; later calls only say that it is under way.
func (l *lifecycle) stop(why, what string) {
	first := false
	l.stopOnce.Do(func() {
		first = true
		l.logger.Info("netobserver: stopping: flushing what is pending", why, what)
		close(l.stopped)
		l.giveUpTimer.Store(time.AfterFunc(l.stopTimeout, func() {
			l.giveUp("the stop did not complete", l.stopTimeout)
		}))
	})
	if !first {
		l.logger.Info("netobserver: already stopping", why, what, "gives_up_after", l.stopTimeout)
	}
}

// done disarms the stop's deadline: the stop completed.
func (l *lifecycle) done() {
	if t := l.giveUpTimer.Load(); t != nil {
		t.Stop()
	}
}

// giveUp exits with exitGaveUp, naming what the process was waiting for.
func (l *lifecycle) giveUp(what string, after time.Duration) {
	l.logger.Error("netobserver: giving up: "+what+"; records not yet flushed are lost", "waiting_for", *l.stage.Load(), "after", after)
	l.exit(exitGaveUp)
}

// deadline gives up unless the returned function is called within d.
func (l *lifecycle) deadline(d time.Duration, what string) (done func()) {
	t := time.AfterFunc(d, func() { l.giveUp(what, d) })
	return func() { t.Stop() }
}

// stopping reports whether a stop has begun.
func (l *lifecycle) stopping() bool {
	select {
	case <-l.stopped:
		return true
	default:
		return false
	}
}

// disabled says why p captures nothing, or "" when it captures: iLogtail loads no pipeline with
// enable: false, and starts no observer with EBPF.Enabled false.
func disabled(p *config.Pipeline) string {
	switch {
	case !p.Enabled:
		return "the pipeline is disabled (enable: false)"
	case !p.Input.EBPF.Enabled:
		return "the input is disabled (EBPF.Enabled: false)"
	}
	return ""
}

// waitEnabled returns p when it captures; otherwise it says so and waits, loading the file again
// on each SIGHUP, until it does (ok true) or a stop begins (ok false). Nothing is loaded or opened
// meanwhile: no library, no flusher, no metrics endpoint.
func (l *lifecycle) waitEnabled(p *config.Pipeline, path string) (_ *config.Pipeline, ok bool) {
	for {
		why := disabled(p)
		if why == "" {
			return p, true
		}
		l.logger.Warn("netobserver: " + why + ": capturing nothing, as iLogtail; SIGHUP loads the file again")
		l.setStage("an enabled pipeline (SIGHUP)")
		select {
		case <-l.stopped:
			return nil, false
		case <-l.hup:
			next, err := loadPipeline(path, l.logger)
			if err != nil {
				l.logger.Error("netobserver: reload refused", "error", err)
				continue
			}
			p = next
		}
	}
}
