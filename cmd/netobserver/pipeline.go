package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/export"
	_ "github.com/netobserver/netobserver/export/flushers" // every flusher type, for config.Load
	"github.com/netobserver/netobserver/observer"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/record"
)

// pipeline runs an iLogtail pipeline file: `netobserver --config FILE`, or only validates it with
// --check-config.
func pipeline(args []string, stdoutW, stderr io.Writer) int {
	fs := flag.NewFlagSet("netobserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "run the iLogtail pipeline in `FILE` (YAML or JSON)")
	check := fs.String("check-config", "", "validate the pipeline in `FILE` and exit")
	libPath := fs.String("libebpf", "", "load libebpf.so from `PATH` (default: beside this binary, then the loader's search)")
	btf := fs.String("btf", "", "BTF or vmlinux `FILE` for kernels without /sys/kernel/btf/vmlinux")
	src := fs.String("source", "kernel", "where events come from: kernel, or replay:`FILE` (a recording)")
	verbose := fs.Bool("v", false, "log the library's debug messages")
	startTimeout := fs.Duration("start-timeout", 2*time.Minute, "give up, exit 1, when the library has not started after `D` (ebpf_init, ebpf_start)")
	stopTimeout := fs.Duration("stop-timeout", 30*time.Second, "give up, exit 1, when a stop has not completed `D` after SIGTERM (the library's poll and ebpf_stop, the flushers)")
	pprofAddr := fs.String("pprof", "", "serve Go's runtime profiles at /debug/pprof/ on `ADDR` (e.g. 127.0.0.1:6060; off by default)")
	nice := fs.Int("nice", defaultNice, "run at scheduling priority `N` (-20 to 19; below 0 needs CAP_SYS_NICE): a busy host's CPUs go to the observer first, so that the kernel buffers do not overflow")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "netobserver: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if *check != "" {
		p, warnings, err := config.Load(*check)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		if err != nil {
			fmt.Fprintf(stderr, "netobserver: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdoutW, "%s: OK (%d flushers, records %s)\n", *check, len(p.Flushers), p.Input.Common.RecordSchema)
		return 0
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "netobserver: --config FILE is required (or --check-config FILE, or a command)")
		usage(stderr)
		return exitUsage
	}
	if *nice < -20 || *nice > 19 {
		fmt.Fprintf(stderr, "netobserver: --nice %d: want -20 to 19\n", *nice)
		return exitUsage
	}
	if err := setNice(*nice); err != nil {
		logger.Warn("netobserver: cannot set the scheduling priority; when the host's CPUs are busy the kernel buffers overflow sooner (lost_events_total)",
			"nice", *nice, "error", err, "needs", "CAP_SYS_NICE")
	}
	// From here on every signal is handled (lifecycle): a SIGTERM during the start (systemd
	// stopping a unit that is still starting) lets the start finish, within --start-timeout,
	// and then stops in order, within --stop-timeout.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	life := newLifecycle(logger, *stopTimeout, os.Exit)
	go life.watch(signals)
	defer life.done()
	s, err := parseSource(*src)
	if err != nil {
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return exitUsage
	}
	p, err := loadPipeline(*configPath, logger)
	if err != nil {
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return exitUsage
	}
	if s.replayTrace != "" {
		if _, err := os.Stat(s.replayTrace); err != nil {
			fmt.Fprintf(stderr, "netobserver: --source replay: %v\n", err)
			return exitUsage
		}
		os.Setenv("NETOBSERVER_REPLAY_TRACE", s.replayTrace)
		logger.Warn("netobserver: REPLAY — events come from a recording, not from the kernel", "trace", s.replayTrace)
	}
	p, ok := life.waitEnabled(p, *configPath)
	if !ok {
		logger.Info("netobserver: stopped", "captured", "nothing")
		return 0
	}

	if *pprofAddr != "" {
		if _, err := servePprof(*pprofAddr, logger); err != nil {
			fmt.Fprintf(stderr, "netobserver: %v\n", err)
			return 1
		}
	}
	out, err := openOutputs(p, stdoutW)
	if err != nil {
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	started := life.deadline(*startTimeout, "the library did not start")
	life.setStage("ebpf_init (libebpf.Open)")
	lib, err := libebpf.Open(libebpf.Options{Path: s.libraryPath(*libPath), BTFPath: *btf, Logger: logger,
		KernelAggregation: abi.ProtocolsOf(p.Input.EBPF.KernelAggregation...)})
	if err != nil {
		started()
		out.close(logger)
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	if s.replayTrace == "" && isReplayLibrary(lib) {
		logger.Warn("netobserver: the loaded library is the replay library: events come from its trace file, not from the kernel", "file", lib.Path())
	}
	fail := func(err error) int {
		started()
		lib.Close()
		out.close(logger)
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	life.setStage("ebpf_config")
	if err := lib.SetSelfFilter(int32(os.Getpid())); err != nil {
		return fail(err)
	}
	// A recording names processes of the host it was made on: this host's Docker daemon and
	// sockets know nothing of them.
	var md *observer.Metadata
	if s.replayTrace == "" {
		life.setStage("container metadata")
		md, err = observer.OpenMetadata(&p.Input, func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) })
		if err != nil {
			return fail(err)
		}
		defer md.Close()
	}
	options := func(p *config.Pipeline) observer.Options {
		o := observer.OptionsFrom(&p.Input)
		o.Live = out.liveSink()
		o.Calls.Logger = logger
		if md != nil {
			md.Apply(&o)
		}
		o.Recorded = s.replayTrace != ""
		return o
	}
	obs := observer.New(lib, options(p), out.flush(logger))
	life.setStage("ebpf_start")
	if err := obs.Start(); err != nil {
		return fail(err)
	}
	if err := obs.Counters().ProcessConnectorErr; err != nil {
		logger.Warn("netobserver: the library reports no processes and the process connector is not available: short-lived processes may be unnamed", "error", err)
	}
	started()
	life.setStage("nothing (observing)")
	logger.Info("netobserver: observing", "config", p.Name, "records", p.Input.Common.RecordSchema,
		"l4_interval", p.Input.Common.FlushOutL4Interval, "l7_interval", p.Input.Common.FlushOutL7Interval)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		select {
		case <-life.stopped:
			life.setStage("the library's last poll and ebpf_stop")
			stop()
		case <-ctx.Done():
		}
	}()
	reload := make(chan observer.Options, 1)
	go reloadOnHUP(ctx, life, reload, *configPath, p, out, options, logger)
	if s.replayTrace != "" {
		go stopWhenReplayEnds(ctx, stop, lib)
	}
	if len(out.live) > 0 {
		go out.publishEvery(ctx, 5*time.Second)
	}
	runErr := obs.Run(ctx, reload)
	life.setStage("ebpf_stop (closing the library)")
	lib.Close()
	life.setStage("the flushers (Close)")
	flushErr := out.close(logger)
	logger.Info("netobserver: stopped", append(obs.Summary(), "records_lost", out.totals().lost())...)
	out.logTotals(logger)
	if err := errors.Join(runErr, flushErr); err != nil {
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	return 0
}

func isReplayLibrary(lib *libebpf.Library) bool {
	return strings.HasPrefix(lib.Version(), "netobserver-replay")
}

// loadPipeline loads a config file and logs its warnings.
func loadPipeline(path string, logger *slog.Logger) (*config.Pipeline, error) {
	p, warnings, err := config.Load(path)
	for _, w := range warnings {
		logger.Warn("netobserver: " + w.String())
	}
	return p, err
}

// outputs are the pipeline's flushers, as their types built them.
type outputs struct {
	outs  []export.Output
	names []string // "<index>:<type>", as in logs and metrics
	// records are the indexes of the outputs that take records; live, those that take live
	// metrics.
	records []int
	live    []live.Sink
	// offered counts, per output, the records handed to it; each ends up written, failed,
	// dropped or (Kafka) still queued, by the flusher's own counters.
	offered []atomic.Uint64
	// warned is when each flusher's failure was last logged: once a minute per flusher, so one
	// failing flusher does not hide another.
	warned []time.Time
}

func openOutputs(p *config.Pipeline, stdoutW io.Writer) (*outputs, error) {
	out := &outputs{}
	ctx := record.Context{ConfigName: p.Name}
	env := export.Env{Stdout: stdoutW}
	for i, f := range p.Flushers {
		c, ok := f.Config.(export.Config)
		if !ok { // a registered type whose package forgot Open: a programming error, said plainly
			out.close(slog.Default())
			return nil, fmt.Errorf("%s: flushers[%d] (%s): %T cannot open a flusher", p.Name, i, f.Type, f.Config)
		}
		o, err := c.Open(ctx, env)
		if err != nil {
			out.close(slog.Default())
			return nil, fmt.Errorf("%s: flushers[%d] (%s): %w", p.Name, i, f.Type, err)
		}
		if _, ok := o.(record.Flusher); ok {
			out.records = append(out.records, i)
		}
		if l, ok := o.(live.Sink); ok {
			out.live = append(out.live, l)
		}
		out.outs = append(out.outs, o)
		out.names = append(out.names, fmt.Sprintf("%d:%s", i, f.Type))
	}
	out.offered = make([]atomic.Uint64, len(out.outs))
	out.warned = make([]time.Time, len(out.outs))
	return out, nil
}

// liveSink is the observer's live sink: nil when no flusher takes live metrics.
func (o *outputs) liveSink() live.Sink {
	switch len(o.live) {
	case 0:
		return nil
	case 1:
		return o.live[0]
	}
	return liveTee(o.live)
}

// liveTee hands live metrics to several sinks.
type liveTee []live.Sink

func (t liveTee) Call(c live.Call) {
	for _, s := range t {
		s.Call(c)
	}
}

func (t liveTee) Calls(c live.Call, n uint64, latencies []live.Latencies) {
	for _, s := range t {
		s.Calls(c, n, latencies)
	}
}

func (t liveTee) L4(d live.L4) {
	for _, s := range t {
		s.L4(d)
	}
}

func (t liveTee) SetCounters(group string, ms []live.Metric) {
	for _, s := range t {
		s.SetCounters(group, ms)
	}
}

// flush returns the observer's sink: every record to every flusher that takes records. Each
// flusher counts what it wrote, failed or dropped; a failing flusher is logged at most once a
// minute.
func (o *outputs) flush(logger *slog.Logger) observer.Sink {
	return func(records []record.Record) {
		for _, i := range o.records {
			o.offered[i].Add(uint64(len(records)))
			if err := o.outs[i].(record.Flusher).Flush(records); err != nil && time.Since(o.warned[i]) >= time.Minute {
				o.warned[i] = time.Now()
				logger.Warn("netobserver: flusher failed", "flusher", o.names[i], "records", len(records), "error", err)
			}
		}
	}
}

// flusherTotals are one flusher's record counts: Offered = Written + Failed + Dropped + Queued.
type flusherTotals struct {
	Offered uint64
	export.Totals
}

func (t flusherTotals) lost() uint64 { return t.Failed + t.Dropped }

// totalsOf returns output i's counts; ok is false for one that does not count records.
func (o *outputs) totalsOf(i int) (t flusherTotals, ok bool) {
	c, ok := o.outs[i].(export.Counted)
	if !ok {
		return t, false
	}
	return flusherTotals{Offered: o.offered[i].Load(), Totals: c.Totals()}, true
}

// totals sums every flusher's counts.
func (o *outputs) totals() (sum flusherTotals) {
	for i := range o.outs {
		if t, ok := o.totalsOf(i); ok {
			sum.Offered += t.Offered
			sum.Written += t.Written
			sum.Failed += t.Failed
			sum.Dropped += t.Dropped
			sum.Queued += t.Queued
		}
	}
	return sum
}

// logTotals logs each flusher's counts, as a warning when it lost records.
func (o *outputs) logTotals(logger *slog.Logger) {
	for i := range o.outs {
		t, ok := o.totalsOf(i)
		if !ok {
			continue
		}
		level := slog.LevelInfo
		if t.lost() > 0 {
			level = slog.LevelWarn
		}
		logger.Log(context.Background(), level, "netobserver: flusher records", "flusher", o.names[i], "offered", t.Offered,
			"written", t.Written, "failed", t.Failed, "dropped", t.Dropped, "queued", t.Queued)
	}
}

// publishEvery hands the flushers' counters to the live sinks until ctx ends.
func (o *outputs) publishEvery(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			o.publish()
		}
	}
}

// publish reports, per flusher, the records offered, written (or produced), failed and dropped.
func (o *outputs) publish() {
	const name, help = "flusher_records_total", "Records handed to each flusher (offered), and what became of them: written, failed, dropped (a full Kafka queue); offered minus the others are queued."
	var ms []live.Metric
	for i := range o.outs {
		t, ok := o.totalsOf(i)
		if !ok {
			continue
		}
		for _, c := range []struct {
			outcome string
			v       uint64
		}{{"offered", t.Offered}, {"written", t.Written}, {"failed", t.Failed}, {"dropped", t.Dropped}} {
			ms = append(ms, live.Metric{Name: name, Help: help, Labels: []string{"flusher", o.names[i], "outcome", c.outcome}, Value: c.v})
		}
	}
	o.liveSink().SetCounters("flushers", ms)
}

// reopen reopens the files of flushers that write one, after a log rotation.
func (o *outputs) reopen(logger *slog.Logger) {
	for i, f := range o.outs {
		if r, ok := f.(export.Reopener); ok {
			if err := r.Reopen(); err != nil {
				logger.Warn("netobserver: reopening flusher", "flusher", o.names[i], "error", err)
			}
		}
	}
}

func (o *outputs) close(logger *slog.Logger) error {
	var errs []error
	for i, f := range o.outs {
		if err := f.Close(); err != nil {
			logger.Warn("netobserver: closing flusher", "flusher", o.names[i], "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", o.names[i], err))
		}
	}
	return errors.Join(errs...)
}

// reloadOnHUP acts on each SIGHUP: the file flushers reopen their files (logrotate), and the
// file is loaded again and its input settings applied. A file that no longer loads is reported
// and the running config kept; flusher changes need a restart; a file that now disables the
// pipeline stops it, as iLogtail unloads a disabled pipeline.
func reloadOnHUP(ctx context.Context, life *lifecycle, reload chan<- observer.Options,
	path string, running *config.Pipeline, out *outputs, options func(*config.Pipeline) observer.Options, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-life.hup:
		}
		out.reopen(logger)
		p, err := loadPipeline(path, logger)
		if err != nil {
			logger.Error("netobserver: reload refused, the running config stays", "error", err)
			continue
		}
		if why := disabled(p); why != "" {
			life.stop("reload", why)
			return
		}
		if !reflect.DeepEqual(p.Flushers, running.Flushers) {
			logger.Warn("netobserver: flushers changed: they take effect at the next start; the input settings apply now")
		}
		logger.Info("netobserver: reloading", "config", p.Name)
		select {
		case reload <- options(p):
		case <-ctx.Done():
			return
		}
	}
}

// stopWhenReplayEnds stops the pipeline once a replay library has delivered its whole trace.
func stopWhenReplayEnds(ctx context.Context, stop context.CancelFunc, lib *libebpf.Library) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if lib.Finished() {
				stop()
				return
			}
		}
	}
}
