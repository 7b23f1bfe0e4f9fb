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

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/export/jsonl"
	"github.com/netobserver/netobserver/export/kafka"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/export/record"
	"github.com/netobserver/netobserver/export/stdout"
	"github.com/netobserver/netobserver/observer"
	"github.com/netobserver/netobserver/observer/config"
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
	// From here on a SIGTERM (systemd stopping a unit that is still starting) waits for the start
	// to finish and then stops in order, instead of killing the process half-way.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
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

	out, err := openOutputs(p, stdoutW)
	if err != nil {
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	lib, err := libebpf.Open(libebpf.Options{Path: s.libraryPath(*libPath), BTFPath: *btf, Logger: logger})
	if err != nil {
		out.close(logger)
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	if s.replayTrace == "" && isReplayLibrary(lib) {
		logger.Warn("netobserver: the loaded library is the replay library: events come from its trace file, not from the kernel", "file", lib.Path())
	}
	if err := lib.SetSelfFilter(int32(os.Getpid())); err != nil {
		lib.Close()
		out.close(logger)
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	// A recording names processes of the host it was made on: this host's Docker daemon and
	// sockets know nothing of them.
	var md *observer.Metadata
	if s.replayTrace == "" {
		md, err = observer.OpenMetadata(&p.Input, func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) })
		if err != nil {
			lib.Close()
			out.close(logger)
			fmt.Fprintf(stderr, "netobserver: %v\n", err)
			return 1
		}
		defer md.Close()
	}
	options := func(p *config.Pipeline) observer.Options {
		o := observer.OptionsFrom(&p.Input, out.metrics)
		if md != nil {
			md.Apply(&o)
		}
		o.Recorded = s.replayTrace != ""
		return o
	}
	obs := observer.New(lib, options(p), out.flush(logger))
	if err := obs.Start(); err != nil {
		lib.Close()
		out.close(logger)
		fmt.Fprintf(stderr, "netobserver: %v\n", err)
		return 1
	}
	if err := obs.Counters().ProcessConnectorErr; err != nil {
		logger.Warn("netobserver: the library reports no processes and the process connector is not available: short-lived processes may be unnamed", "error", err)
	}
	logger.Info("netobserver: observing", "config", p.Name, "records", p.Input.Common.RecordSchema,
		"l4_interval", p.Input.Common.FlushOutL4Interval, "l7_interval", p.Input.Common.FlushOutL7Interval)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	reload := make(chan observer.Options, 1)
	go watchSignals(ctx, signals, stop, reload, *configPath, p, out, options, logger)
	if s.replayTrace != "" {
		go stopWhenReplayEnds(ctx, stop, lib)
	}
	if out.metrics != nil {
		go out.publishEvery(ctx, 5*time.Second)
	}
	runErr := obs.Run(ctx, reload)
	lib.Close()
	flushErr := out.close(logger)
	c := obs.Counters()
	logger.Info("netobserver: stopped", "lost_ctrl", c.Lost[libebpf.CtrlEvents], "lost_data", c.Lost[libebpf.DataEvents],
		"lost_stats", c.Lost[libebpf.StatsEvents], "lost_proc", c.Lost[libebpf.ProcessEvents], "dropped_connections", c.DroppedConnections, "records_lost", out.failed.Load())
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

// outputs are the pipeline's flushers.
type outputs struct {
	flushers []record.Flusher
	names    []string
	metrics  *prometheus.Exporter
	failed   atomic.Uint64 // records a flusher reported lost
}

func openOutputs(p *config.Pipeline, stdoutW io.Writer) (*outputs, error) {
	out := &outputs{}
	ctx := record.Context{ConfigName: p.Name}
	for i, f := range p.Flushers {
		var (
			fl  record.Flusher
			err error
		)
		switch f.Type {
		case config.FlusherStdout:
			c := f.Stdout
			cfg := stdout.Config{KeyValuePairs: c.KeyValuePairs, OnlyStdout: c.OnlyStdout, FileName: c.FileName,
				MaxSize: c.MaxSize, MaxRolls: c.MaxRolls, Tags: c.Tags}
			var opts []stdout.Option
			if c.FileName == "" || c.OnlyStdout {
				opts = append(opts, stdout.WithWriter(stdoutW))
			}
			fl, err = stdout.New(ctx, cfg, opts...)
		case config.FlusherJSONL:
			fl, err = jsonl.New(ctx, jsonl.Config{Path: f.JSONL.Path, MaxSize: f.JSONL.MaxSize, MaxRolls: f.JSONL.MaxRolls})
		case config.FlusherKafka:
			c := f.Kafka
			cfg := kafka.DefaultConfig()
			cfg.Brokers, cfg.Topic, cfg.RequiredACKs, cfg.Compression = c.Brokers, c.Topic, c.RequiredAcks, c.Compression
			cfg.ClientID, cfg.Timeout, cfg.QueueSize, cfg.MaxMessageBytes = c.ClientID, c.Timeout, c.QueueSize, c.MaxMessageBytes
			fl, err = kafka.New(ctx, cfg)
		case config.FlusherPrometheusExporter:
			if out.metrics != nil {
				err = errors.New("only one flusher_prometheus_exporter is served")
				break
			}
			out.metrics = prometheus.New()
			_, err = out.metrics.Listen(f.Prometheus.Listen, f.Prometheus.Path)
			if err == nil {
				fl = closerOnly{out.metrics}
			}
		}
		if err != nil {
			out.close(slog.Default())
			return nil, fmt.Errorf("%s: flushers[%d] (%s): %w", p.Name, i, f.Type, err)
		}
		out.flushers = append(out.flushers, fl)
		out.names = append(out.names, f.Type)
	}
	return out, nil
}

// closerOnly is a flusher that takes no records: the metrics exporter is fed by the observer.
type closerOnly struct{ io.Closer }

func (closerOnly) Flush([]record.Record) error { return nil }

// flush returns the observer's sink: every record to every flusher. A failing flusher is logged
// once per minute at most, and what it lost is counted.
func (o *outputs) flush(logger *slog.Logger) observer.Sink {
	var lastLog time.Time
	return func(records []record.Record) {
		for i, f := range o.flushers {
			if err := f.Flush(records); err != nil {
				o.failed.Add(uint64(len(records)))
				if time.Since(lastLog) >= time.Minute {
					lastLog = time.Now()
					logger.Warn("netobserver: flusher failed", "flusher", o.names[i], "records", len(records), "error", err)
				}
			}
		}
	}
}

// publishEvery hands the flushers' counters to the metrics exporter until ctx ends.
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

// publish reports, per flusher, the records written (or produced), failed and dropped.
func (o *outputs) publish() {
	const name, help = "flusher_records_total", "Records each flusher wrote, failed to write, or dropped (a full Kafka queue)."
	counter := func(i int, outcome string, v uint64) prometheus.Counter {
		return prometheus.Counter{Name: name, Help: help, Labels: []string{"flusher", fmt.Sprintf("%d:%s", i, o.names[i]), "outcome", outcome}, Value: v}
	}
	var cs []prometheus.Counter
	for i, f := range o.flushers {
		switch f := f.(type) {
		case *stdout.Flusher:
			st := f.Stats()
			cs = append(cs, counter(i, "written", st.Written), counter(i, "failed", st.Failed))
		case *jsonl.Flusher:
			st := f.Stats()
			cs = append(cs, counter(i, "written", st.Written), counter(i, "failed", st.Failed))
		case *kafka.Flusher:
			st := f.Stats()
			cs = append(cs, counter(i, "written", st.Produced), counter(i, "failed", st.Failed), counter(i, "dropped", st.Dropped))
		}
	}
	o.metrics.SetCounters("flushers", cs)
}

// reopen reopens the files of flushers that write one, after a log rotation.
func (o *outputs) reopen(logger *slog.Logger) {
	for i, f := range o.flushers {
		if r, ok := f.(interface{ Reopen() error }); ok {
			if err := r.Reopen(); err != nil {
				logger.Warn("netobserver: reopening flusher", "flusher", o.names[i], "error", err)
			}
		}
	}
}

func (o *outputs) close(logger *slog.Logger) error {
	var errs []error
	for i, f := range o.flushers {
		if err := f.Close(); err != nil {
			logger.Warn("netobserver: closing flusher", "flusher", o.names[i], "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", o.names[i], err))
		}
	}
	return errors.Join(errs...)
}

// watchSignals stops on SIGINT/SIGTERM and reloads the input settings on SIGHUP. A config that no
// longer loads is reported and the running one kept; flusher changes need a restart.
func watchSignals(ctx context.Context, signals <-chan os.Signal, stop context.CancelFunc, reload chan<- observer.Options,
	path string, running *config.Pipeline, out *outputs, options func(*config.Pipeline) observer.Options, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				logger.Info("netobserver: stopping: flushing what is pending", "signal", sig.String())
				stop()
				return
			}
			out.reopen(logger) // logrotate's postrotate sends SIGHUP too
			p, err := loadPipeline(path, logger)
			if err != nil {
				logger.Error("netobserver: reload refused, the running config stays", "error", err)
				continue
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
