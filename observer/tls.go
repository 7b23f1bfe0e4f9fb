package observer

import (
	"log/slog"

	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/observer/tlsprobe"
)

// uprobeCapture is a Capture that can attach the TLS libraries' uprobes (our libebpf.so).
type uprobeCapture interface {
	tlsprobe.Attacher
	Uprobes() bool
	TLSUnattributed() uint64
}

// tlsProbers are the TLS libraries probed.
var tlsProbers = []tlsprobe.Prober{tlsprobe.OpenSSL{}, tlsprobe.Go{}}

// startTLS attaches the TLS probes to what runs now before the observer reports that it observes
// (a connection whose first plaintext is missed is seldom recognised: HTTP/2 is told by its
// preface); processes that start later come through their exec events.
func (o *Observer) startTLS() {
	if o.tls != nil || !o.opts.TLSProbes || o.opts.Recorded {
		return
	}
	log := o.opts.Calls.Logger
	if log == nil {
		log = slog.Default()
	}
	lib, ok := o.lib.(uprobeCapture)
	if !ok || !lib.Uprobes() {
		log.Info("netobserver: TLS probes off: the capture library has no uprobe extension (Alibaba's libebpf.so); TLS connections are seen as L4 only")
		return
	}
	o.tls = tlsprobe.New(lib, tlsProbers, tlsprobe.Config{ProcRoot: o.opts.ProcRoot, Log: log})
	o.tls.ScanAll()
}

func (o *Observer) stopTLS() {
	if o.tls != nil {
		o.tls.Close()
	}
}

// tlsExec tells the probes of a process that just exec'd.
func (o *Observer) tlsExec(pid uint32) {
	if o.tls != nil {
		o.tls.Exec(int(pid))
	}
}

func (o *Observer) tlsCounters() (files tlsprobe.Counters, unattributed uint64) {
	if o.tls == nil {
		return files, 0
	}
	if lib, ok := o.lib.(uprobeCapture); ok {
		unattributed = lib.TLSUnattributed()
	}
	return o.tls.Counters(), unattributed
}

func (o *Observer) tlsMetrics() []live.Metric {
	if o.tls == nil {
		return nil
	}
	c, un := o.tlsCounters()
	const help = "TLS library files probed, and those not probed (failed: could not be read or attached; over_limit: past the bound of 64)."
	return []live.Metric{
		{Name: "tls_files_total", Help: help, Labels: []string{"result", "probed"}, Value: c.Files},
		{Name: "tls_files_total", Help: help, Labels: []string{"result", "failed"}, Value: c.Failed},
		{Name: "tls_files_total", Help: help, Labels: []string{"result", "over_limit"}, Value: c.OverLimit},
		{Name: "tls_skipped_execs_total", Help: "New processes whose TLS libraries were not looked for because too many waited.", Value: c.Rescans},
		{Name: "tls_unattributed_calls_total", Help: "TLS library calls whose plaintext was lost: the kernel side could not tell their connection (or, never expected, its probe could not reach the plaintext program).", Value: un},
	}
}

func (o *Observer) tlsSummary() []any {
	if o.tls == nil {
		return nil
	}
	c, un := o.tlsCounters()
	return []any{slog.Group("tls", "files", c.Files, "failed_files", c.Failed, "over_limit_files", c.OverLimit,
		"skipped_execs", c.Rescans, "unattributed_calls", un)}
}
