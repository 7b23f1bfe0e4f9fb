// Package ilogtail is netobserver as an iLogtail Go plugin: it registers the service input
// observer_ilogtail_network_v1 (pipeline.ServiceInputV1), so an iLogtail build that imports this
// package runs netobserver in place of iLogtail's removed C++ observer, with the same config and
// the same records.
//
// The input's detail is read by the same code as the netobserver binary's pipeline files
// (observer/config: strict types, iLogtail's real defaults, errors naming the key) and drives the
// same observer (observer.OptionsFrom), so the plugin and the binary write identical records.
// Records go to the collector as protocol.Log values whose contents keep the record's key order.
package ilogtail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/alibaba/ilogtail/pkg/pipeline"
	"github.com/alibaba/ilogtail/pkg/protocol"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/observer"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
)

// Name is the input type this package registers: the name of iLogtail's network observer, so
// existing configs keep working.
const Name = config.InputType

// stopTimeout bounds Stop: iLogtail's runner waits on it while it reloads or exits.
const stopTimeout = time.Second

func init() {
	pipeline.ServiceInputs[Name] = func() pipeline.ServiceInput { return &Input{} }
}

// Input is the observer_ilogtail_network_v1 service input. The runner JSON-decodes the input's
// detail into it, calls Init, runs Start in a goroutine and calls Stop to end it.
type Input struct {
	// detail is the input's detail as the runner handed it over, decoded in Init.
	detail []byte
	// libraryPath overrides where libebpf.so is loaded from; empty is the cgo layer's default
	// search, beside the running executable (the iLogtail binary, as iLogtail itself looked)
	// and then the dynamic loader's. Tests point it at the replay library.
	libraryPath string

	logger *slog.Logger
	input  *config.Input
	opts   observer.Options

	mu      sync.Mutex
	ctx     context.Context // ends when Stop is called
	cancel  context.CancelFunc
	started bool
	done    chan struct{} // closed when Start returns
	runErr  error         // Start's result, read after done
	lib     *libebpf.Library
}

var _ pipeline.ServiceInputV1 = (*Input)(nil)

// UnmarshalJSON keeps the detail as it is: the runner's encoding/json would match keys
// case-insensitively and coerce types, while the observer's keys are exact and strictly typed
// (they were read by iLogtail's C++ core); config.ParseInputDetail applies those rules in Init and
// gives the same errors and warnings as the binary does for a pipeline file.
func (i *Input) UnmarshalJSON(detail []byte) error {
	i.detail = append([]byte(nil), detail...)
	return nil
}

// Init reads the detail. A bad config is an error naming the key (iLogtail then drops the
// input); ignored keys are logged as warnings.
func (i *Input) Init(ctx pipeline.Context) (int, error) {
	source := "detail"
	if ctx != nil && ctx.GetConfigName() != "" {
		source = ctx.GetConfigName()
	}
	i.logger = slog.Default().With("plugin", Name, "config", source)
	detail := i.detail
	if len(detail) == 0 || string(detail) == "null" {
		detail = []byte("{}") // an input with no keys: every default
	}
	in, warnings, err := config.ParseInputDetail(source, detail)
	for _, w := range warnings {
		i.logger.Warn("netobserver: " + w.String())
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", Name, err)
	}
	i.input = in
	i.opts = observer.OptionsFrom(in)
	i.mu.Lock()
	i.ctx, i.cancel = context.WithCancel(context.Background())
	i.mu.Unlock()
	return 0, nil
}

// Description says what the input is.
func (i *Input) Description() string {
	return "netobserver eBPF network observer (drop-in for iLogtail's " + Name +
		"): L4 statistics and HTTP, Redis, MySQL, PostgreSQL and DNS calls per process, captured by libebpf.so"
}

// Start captures until Stop: it loads libebpf.so, runs the observer and writes every record to
// collector. It returns when Stop is called, after the last records were written, or at once on
// an error. With EBPF.Enabled false it captures nothing and only waits for Stop, as iLogtail's
// observer did not start without a capture source.
func (i *Input) Start(collector pipeline.Collector) (err error) {
	i.mu.Lock()
	switch {
	case i.input == nil:
		i.mu.Unlock()
		return fmt.Errorf("%s: Start before a successful Init", Name)
	case i.started:
		i.mu.Unlock()
		return fmt.Errorf("%s: Start called twice", Name)
	}
	i.started = true
	i.done = make(chan struct{})
	ctx := i.ctx
	i.mu.Unlock()
	defer func() {
		i.runErr = err
		close(i.done)
	}()

	if !i.input.EBPF.Enabled {
		i.logger.Warn("netobserver: EBPF.Enabled is false: nothing is captured")
		<-ctx.Done()
		return nil
	}
	if ctx.Err() != nil { // stopped before it started
		return nil
	}
	lib, err := libebpf.Open(libebpf.Options{Path: i.libraryPath, Logger: i.logger,
		KernelAggregation: abi.ProtocolsOf(i.input.EBPF.KernelAggregation...)})
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	defer lib.Close()
	// Our own sockets are iLogtail's (flushers, config server): never observe them, as the
	// original did not.
	if err := lib.SetSelfFilter(int32(os.Getpid())); err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	md, err := observer.OpenMetadata(i.input, func(format string, args ...any) { i.logger.Info(fmt.Sprintf(format, args...)) })
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	defer md.Close()
	opts := i.opts
	opts.Calls.Logger = i.logger
	md.Apply(&opts)
	obs := observer.New(lib, opts, sink(collector))
	if err := obs.Start(); err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	i.mu.Lock()
	i.lib = lib
	i.mu.Unlock()
	i.logger.Info("netobserver: observing", "library", lib.Path(), "library_version", lib.Version(),
		"records", i.input.Common.RecordSchema, "l4_interval", i.opts.L4Interval, "l7_interval", i.opts.L7Interval)
	runErr := obs.Run(ctx, nil) // flushes everything pending before it returns
	i.logger.Info("netobserver: stopped", obs.Summary()...)
	return errors.Join(runErr, lib.Close())
}

// Stop ends Start and waits, at most stopTimeout, until the pending records have been written to
// the collector. Stop before Start, or twice, is harmless.
func (i *Input) Stop() error {
	i.mu.Lock()
	cancel, done := i.cancel, i.done
	i.mu.Unlock()
	if cancel == nil { // never initialised
		return nil
	}
	cancel()
	if done == nil { // never started: a later Start returns at once
		return nil
	}
	select {
	case <-done:
		return i.runErr
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s: still flushing after %v; the rest is written in the background", Name, stopTimeout)
	}
}

// sink writes records to the collector, one protocol.Log each. AddRawLog, not AddDataArray:
// AddDataArray puts its tags map first, in random order, and the records carry their __tag__:
// fields in place (after the process fields, as iLogtail's observer wrote them), so passing them
// as contents in record order is the only way to keep the key order dashboards and the stdout
// flusher show.
func sink(collector pipeline.Collector) observer.Sink {
	return func(records []record.Record) {
		now := uint32(time.Now().Unix())
		for _, r := range records {
			log := &protocol.Log{Time: r.Time, Contents: make([]*protocol.Log_Content, len(r.Fields))}
			if log.Time == 0 {
				log.Time = now
			}
			contents := make([]protocol.Log_Content, len(r.Fields)) // one allocation per record
			for k, f := range r.Fields {
				contents[k] = protocol.Log_Content{Key: f.Key, Value: f.Value}
				log.Contents[k] = &contents[k]
			}
			collector.AddRawLog(log)
		}
	}
}
