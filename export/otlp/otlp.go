package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/netobserver/netobserver/export"
	"github.com/netobserver/netobserver/export/internal/series"
	"github.com/netobserver/netobserver/observer/live"
	"github.com/netobserver/netobserver/record"
)

// LatencyBuckets are the explicit histogram's bounds, in seconds: the Prometheus endpoint's.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// MaxLiveSeries bounds the live histogram's series (protocol and role: a few dozen at most);
// calls past it are counted in Stats.LiveRefused.
const MaxLiveSeries = 64

// Backoff between attempts while the receiver is unreachable.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

var (
	// ErrQueueFull is wrapped by Flush's error when records were dropped for a full queue.
	ErrQueueFull = errors.New(TypeName + ": queue full, records dropped")
	// ErrClosed is wrapped by Flush's error after Close.
	ErrClosed = errors.New(TypeName + ": closed")
	// ErrUndelivered is wrapped by Close's error when queued records could not be sent.
	ErrUndelivered = errors.New(TypeName + ": records not delivered")
)

// Stats are a flusher's counters since it was created. Every record given to Flush ends up in
// exactly one of Written, Dropped and Failed, or is still Queued.
type Stats struct {
	// Written: records whose metrics the receiver accepted.
	Written uint64
	// Dropped: records not queued: the queue was full, or the flusher closed.
	Dropped uint64
	// Failed: records that could not be converted, that the receiver rejected for good (an OTLP
	// non-retryable status), or that were still queued when Close gave up.
	Failed uint64
	// Queued: records waiting to be sent.
	Queued uint64
	// LiveRefused: calls left out of the live histogram, past MaxLiveSeries.
	LiveRefused uint64
}

// Flusher is flusher_otlp: a record.Flusher and a live.Sink.
type Flusher struct {
	cfg      Config
	exporter sdkmetric.Exporter
	outcome  *outcome
	convMu   sync.Mutex // Flush may be called concurrently; the converter keeps interval starts
	conv     converter

	mu      sync.Mutex
	queue   []batch // FIFO; queued counts its records
	queued  int
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}

	written, dropped, failed, liveRefused atomic.Uint64
	lastErr                               atomic.Pointer[string]

	// conn is the gRPC connection of both the records' exporter and the exponential live
	// histogram; nil for HTTP.
	conn *grpc.ClientConn
	// The live histogram: explicit, through the SDK (reader, provider, latency), or exponential,
	// aggregated here and sent by the flusher itself (start is its cumulative start).
	reader      sdkmetric.Reader
	provider    *sdkmetric.MeterProvider
	latency     metric.Float64Histogram
	raw         rawSender
	rawResource *resourcepb.Resource
	start       time.Time
	series      *series.Set[liveSeries]
}

var (
	_ record.Flusher = (*Flusher)(nil)
	_ live.Sink      = (*Flusher)(nil)
	_ export.Counted = (*Flusher)(nil)
)

// New builds the flusher and its exporter; it does not wait for the receiver.
func New(_ record.Context, cfg Config) (*Flusher, error) {
	def := DefaultConfig()
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = def.CloseTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = def.QueueSize
	}
	if cfg.Protocol == "" {
		cfg.Protocol = def.Protocol
	}
	if cfg.URLPath == "" {
		cfg.URLPath = def.URLPath
	}
	if cfg.Histogram == "" {
		cfg.Histogram = def.Histogram
	}
	envDefaults(&cfg)
	host, _ := os.Hostname()
	f := &Flusher{cfg: cfg, outcome: &outcome{}, series: series.New[liveSeries](MaxLiveSeries), conv: converter{host: host, last: map[string]time.Time{}},
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}), start: time.Now()}
	var err error
	if f.exporter, err = f.newExporter(); err != nil {
		return nil, fmt.Errorf("%s: %w", TypeName, err)
	}
	if err = f.newLive(host); err != nil {
		f.exporter.Shutdown(context.Background())
		if f.conn != nil {
			f.conn.Close()
		}
		return nil, fmt.Errorf("%s: %w", TypeName, err)
	}
	go f.run()
	return f, nil
}

// newExporter is the SDK's OTLP exporter of the configured protocol, with its own retries off:
// the flusher's queue retries, so it can count. Over gRPC it sends on f.conn, dialled here, which
// the exponential live histogram shares.
func (f *Flusher) newExporter() (sdkmetric.Exporter, error) {
	c := f.cfg
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if c.Protocol == "http" {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(c.Endpoint), otlpmetrichttp.WithURLPath(c.URLPath),
			otlpmetrichttp.WithTimeout(c.Timeout), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false})}
		if c.Insecure {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		} else {
			opts = append(opts, otlpmetrichttp.WithTLSClientConfig(tc))
		}
		if len(c.Headers) > 0 {
			opts = append(opts, otlpmetrichttp.WithHeaders(c.Headers))
		}
		if c.Compression == "gzip" {
			opts = append(opts, otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	dial := []grpc.DialOption{grpc.WithUnaryInterceptor(f.outcome.intercept), grpc.WithUserAgent("netobserver " + TypeName)}
	if c.Insecure {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	if c.Compression == "gzip" {
		dial = append(dial, grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
	}
	if f.conn, err = grpc.DialContext(ctx, c.Endpoint, dial...); err != nil { // does not wait for the receiver
		return nil, err
	}
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithGRPCConn(f.conn), otlpmetricgrpc.WithTimeout(c.Timeout),
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false})}
	if len(c.Headers) > 0 {
		opts = append(opts, otlpmetricgrpc.WithHeaders(c.Headers))
	}
	exp, err := otlpmetricgrpc.New(ctx, opts...)
	if err != nil {
		f.conn.Close()
	}
	return exp, err
}

// Flush converts records to metrics, one batch per process, and queues them; it returns at once.
// Records that do not fit in the queue are dropped and counted; the error then wraps
// ErrQueueFull and gives the count.
func (f *Flusher) Flush(records []record.Record) error {
	if len(records) == 0 {
		return nil
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.dropped.Add(uint64(len(records)))
		return fmt.Errorf("%w: %d records dropped", ErrClosed, len(records))
	}
	// Admission is decided here, synchronously, so Dropped is exact when Flush returns.
	admit := min(len(records), f.cfg.QueueSize-f.queued)
	f.queued += admit // reserved; the records that do not convert give it back below
	f.mu.Unlock()
	var errs []error
	if drop := len(records) - admit; drop > 0 {
		f.dropped.Add(uint64(drop))
		errs = append(errs, fmt.Errorf("%w: %d of %d records dropped (queue holds %d)", ErrQueueFull, drop, len(records), f.cfg.QueueSize))
	}
	f.convMu.Lock()
	batches, failed, err := f.conv.convert(records[:admit])
	f.convMu.Unlock()
	if err != nil {
		f.failed.Add(uint64(failed))
		errs = append(errs, err)
	}
	f.mu.Lock()
	f.queued -= failed
	f.queue = append(f.queue, batches...)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return errors.Join(errs...)
}

// run sends the queue, oldest first, retrying with backoff while the receiver is unreachable,
// and the live histogram every Interval.
func (f *Flusher) run() {
	defer close(f.stopped)
	tick := time.NewTicker(f.cfg.Interval)
	defer tick.Stop()
	var backoff time.Duration
	var retry <-chan time.Time // set while waiting out a backoff
	for {
		select {
		case <-f.done:
			return
		case <-tick.C:
			f.exportLive()
			continue
		case <-f.wake:
			if retry != nil {
				continue // new records wait for the retry
			}
		case <-retry:
			retry = nil
		}
		if backoff = f.drain(backoff, time.Time{}); backoff > 0 {
			retry = time.After(backoff)
		}
	}
}

// drain sends batches until the queue is empty (backoff 0) or an attempt fails (the next backoff);
// no attempt runs past deadline, when set.
func (f *Flusher) drain(backoff time.Duration, deadline time.Time) time.Duration {
	for {
		f.mu.Lock()
		if len(f.queue) == 0 {
			f.mu.Unlock()
			return 0
		}
		b := f.queue[0]
		f.mu.Unlock()
		err := f.send(b.rm, deadline)
		if err != nil && f.cfg.Protocol == "http" {
			f.outcome.fromHTTPError(err)
		}
		switch {
		case err == nil:
			f.written.Add(uint64(b.records))
			f.pop(b)
		case f.outcome.accepted():
			// A partial success: the receiver took the request and refused some points of it,
			// for reasons of its own; sending it again would duplicate the rest.
			f.written.Add(uint64(b.records))
			f.pop(b)
			f.noteErr(err, b.records, "accepted in part")
		case f.outcome.permanent():
			f.failed.Add(uint64(b.records))
			f.pop(b)
			f.noteErr(err, b.records, "rejected for good")
		default:
			f.noteErr(err, b.records, "will retry")
			return min(max(2*backoff, minBackoff), maxBackoff)
		}
	}
}

func (f *Flusher) pop(b batch) {
	f.mu.Lock()
	f.queue[0] = batch{}
	f.queue = f.queue[1:]
	f.queued -= b.records
	f.mu.Unlock()
}

func (f *Flusher) send(rm *metricdata.ResourceMetrics, deadline time.Time) error {
	f.outcome.reset()
	if d := time.Now().Add(f.cfg.Timeout); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return f.exporter.Export(ctx, rm)
}

// noteErr keeps the last error and logs when it changes.
func (f *Flusher) noteErr(err error, records int, what string) {
	msg := err.Error()
	if last := f.lastErr.Swap(&msg); last == nil || *last != msg {
		slog.Warn(TypeName+": export failed", "endpoint", f.cfg.Endpoint, "records", records, "outcome", what, "error", err)
	}
}

// L4 is not exported live: the statistics records carry it, per process and remote.
func (f *Flusher) L4(live.L4) {}

// SetCounters: the observer's counters are the Prometheus endpoint's.
func (f *Flusher) SetCounters(string, []live.Metric) {}

// Stats returns the counters.
func (f *Flusher) Stats() Stats {
	f.mu.Lock()
	q := f.queued
	f.mu.Unlock()
	return Stats{Written: f.written.Load(), Dropped: f.dropped.Load(), Failed: f.failed.Load(), Queued: uint64(q),
		LiveRefused: f.liveRefused.Load()}
}

// Totals implements export.Counted.
func (f *Flusher) Totals() export.Totals {
	s := f.Stats()
	return export.Totals{Written: s.Written, Failed: s.Failed, Dropped: s.Dropped, Queued: s.Queued}
}

// Close sends the live histogram once more and waits up to CloseTimeout for the queue to be
// sent; records still queued then are failed, counted in Stats.Failed, and reported in the error
// (wrapping ErrUndelivered). Later Flushes drop their records.
func (f *Flusher) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	close(f.done)
	<-f.stopped
	deadline := time.Now().Add(f.cfg.CloseTimeout)
	for {
		f.mu.Lock()
		empty := len(f.queue) == 0
		f.mu.Unlock()
		if empty || !time.Now().Before(deadline) {
			break
		}
		if f.drain(0, deadline) != 0 {
			time.Sleep(min(minBackoff, time.Until(deadline)))
		}
	}
	f.exportLive()
	f.mu.Lock()
	left := f.queued
	f.queue, f.queued = nil, 0
	f.mu.Unlock()
	f.failed.Add(uint64(left))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if f.provider != nil {
		_ = f.provider.Shutdown(ctx)
	}
	_ = f.exporter.Shutdown(ctx)
	if f.conn != nil {
		_ = f.conn.Close() // WithGRPCConn: the exporter leaves it to us
	}
	if left > 0 {
		return fmt.Errorf("%w: %d records still queued after %v (%v)", ErrUndelivered, left, f.cfg.CloseTimeout, f.LastError())
	}
	return nil
}

// LastError is the last export error, or nil.
func (f *Flusher) LastError() error {
	if p := f.lastErr.Load(); p != nil {
		return errors.New(*p)
	}
	return nil
}

// outcome is what the receiver answered to the last attempt, seen at the transport: a gRPC code or
// an HTTP status. OTLP's rules tell from it whether to retry.
type outcome struct {
	mu         sync.Mutex
	grpcCode   codes.Code
	httpStatus int
	answered   bool
}

func (o *outcome) reset() {
	o.mu.Lock()
	o.answered, o.grpcCode, o.httpStatus = false, codes.OK, 0
	o.mu.Unlock()
}

func (o *outcome) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	o.mu.Lock()
	o.answered, o.grpcCode = true, status.Code(err)
	o.mu.Unlock()
	return err
}

// accepted says whether the receiver took the last export (gRPC OK, HTTP 2xx).
func (o *outcome) accepted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.httpStatus != 0 {
		return o.httpStatus/100 == 2
	}
	return o.answered && o.grpcCode == codes.OK
}

// permanent says whether the receiver refused the last export for good (OTLP: gRPC codes other
// than the retryable ones; HTTP statuses other than 429, 502, 503 and 504). No answer at all (no
// connection, a timeout) is worth retrying.
func (o *outcome) permanent() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.answered {
		return false
	}
	if o.httpStatus != 0 {
		switch o.httpStatus {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return false
		}
		return o.httpStatus >= 400
	}
	switch o.grpcCode {
	case codes.OK, codes.Canceled, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.OutOfRange,
		codes.Unavailable, codes.DataLoss:
		return false
	}
	return true
}

// httpStatusRE finds the status in the HTTP exporter's error for an answer other than 200, 429
// and 503 ("failed to send metrics to URL: 400 Bad Request"); it returns 429 and 503 as errors
// without the status.
var httpStatusRE = regexp.MustCompile(`failed to send metrics to \S+: (\d{3})\b`)

// fromHTTPError records the HTTP status the error names, if any.
func (o *outcome) fromHTTPError(err error) {
	m := httpStatusRE.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	code, _ := strconv.Atoi(m[1])
	o.mu.Lock()
	o.answered, o.httpStatus = true, code
	o.mu.Unlock()
}
