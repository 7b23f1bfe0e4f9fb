package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/netobserver/netobserver/export/internal/series"
	"github.com/netobserver/netobserver/export/prometheus/webconfig"
	"github.com/netobserver/netobserver/observer/live"
)

// LatencyBuckets are the upper bounds, in seconds, of the latency histograms.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Series bounds. Protocol, role and socket type come from small fixed sets (nine protocols,
// three roles, three socket kinds), so the bounds hold every combination with room to spare;
// they only guard against a future caller that passes something unbounded. What they refuse is
// counted in netobserver_live_refused_total.
const (
	MaxCallSeries = 64
	MaxL4Series   = 16
)

// callSeries are the pre-resolved children of one protocol and role: counting a call touches
// only their atomics.
type callSeries struct {
	latency            prometheus.Observer
	success, errors    prometheus.Counter
	reqBytes, respByte prometheus.Counter
}

type l4Series struct {
	sendBytes, recvBytes, sendPackets, recvPkt prometheus.Counter
}

// Exporter holds the metrics in a client_golang registry and serves them. Its methods are safe
// for concurrent use.
type Exporter struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
	calls   *prometheus.CounterVec
	bytes   *prometheus.CounterVec
	l4Bytes *prometheus.CounterVec
	l4Pkts  *prometheus.CounterVec
	refused *prometheus.CounterVec
	// refusedCall and refusedL4 are refused's children.
	refusedCall, refusedL4 prometheus.Counter
	metrics                http.Handler

	// callSeries and l4Series hold the series seen, resolved once (export/internal/series).
	callSeries *series.Set[callSeries]
	l4Series   *series.Set[l4Series]

	mu       sync.Mutex
	counters map[string][]live.Metric // by the group that publishes them

	health *health
	server *http.Server
}

// New returns an Exporter with no samples yet, whose registry also holds the Go runtime and
// process collectors.
func New() *Exporter {
	e := &Exporter{
		reg:        prometheus.NewRegistry(),
		callSeries: series.New[callSeries](MaxCallSeries),
		l4Series:   series.New[l4Series](MaxL4Series),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "netobserver_l7_latency_seconds",
			Help:    "Latency from a request's first byte to its response's first byte.",
			Buckets: LatencyBuckets}, []string{"protocol", "role"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netobserver_l7_calls_total",
			Help: "Calls (request and response pairs) by outcome."}, []string{"protocol", "role", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netobserver_l7_bytes_total",
			Help: "Bytes of requests and responses."}, []string{"protocol", "role", "message"}),
		l4Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netobserver_l4_bytes_total",
			Help: "Bytes sent and received by observed sockets."}, []string{"role", "socket_type", "direction"}),
		l4Pkts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netobserver_l4_packets_total",
			Help: "Send and receive syscalls on observed sockets."}, []string{"role", "socket_type", "direction"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netobserver_live_refused_total",
			Help: fmt.Sprintf("Calls and L4 deltas left out of the live metrics because their labels were past the series bound (%d call, %d L4 series).", MaxCallSeries, MaxL4Series)},
			[]string{"kind"}),
		counters: make(map[string][]live.Metric),
		health:   newHealth(time.Now),
	}
	e.refusedCall = e.refused.WithLabelValues("call")
	e.refusedL4 = e.refused.WithLabelValues("l4")
	e.reg.MustRegister(e.latency, e.calls, e.bytes, e.l4Bytes, e.l4Pkts, e.refused, (*countersCollector)(e),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e.metrics = promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: errorLog{}})
	return e
}

// Exporter is a live.Sink.
var _ live.Sink = (*Exporter)(nil)

// Registry is where the metrics are; a caller may register collectors of its own.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Call counts one call. A one-way call counts in calls_total{outcome="one_way"} and bytes,
// never in the latency histogram.
func (e *Exporter) Call(c live.Call) {
	s := e.series(c.Protocol, c.Role)
	if s == nil {
		e.refusedCall.Inc()
		return
	}
	if c.OneWay {
		// Resolved per call: one-way protocols only get the series.
		e.calls.WithLabelValues(c.Protocol, c.Role, "one_way").Inc()
		s.reqBytes.Add(float64(c.RequestBytes))
		return
	}
	s.latency.Observe(c.Latency.Seconds())
	s.count(c, 1)
}

// Calls counts n calls by their sums, and their latencies in the histogram (each as its
// bucket's middle: one whose latency is within 2.5 % of a bucket bound here may count in the
// bucket beside its own).
func (e *Exporter) Calls(c live.Call, n uint64, latencies []live.Latencies) {
	s := e.series(c.Protocol, c.Role)
	if s == nil {
		e.refusedCall.Add(float64(n))
		return
	}
	for _, l := range latencies {
		for range l.N {
			s.latency.Observe(l.Latency.Seconds())
		}
	}
	s.count(c, n)
}

// count adds n answered calls with c's outcome and byte sums.
func (s *callSeries) count(c live.Call, n uint64) {
	if c.Success {
		s.success.Add(float64(n))
	} else {
		s.errors.Add(float64(n))
	}
	s.reqBytes.Add(float64(c.RequestBytes))
	s.respByte.Add(float64(c.ResponseBytes))
}

// series returns the children of protocol and role, resolved on first use; nil past
// MaxCallSeries.
func (e *Exporter) series(protocol, role string) *callSeries {
	return e.callSeries.Get(series.Key{A: protocol, B: role}, func() *callSeries {
		return &callSeries{
			latency:  e.latency.WithLabelValues(protocol, role),
			success:  e.calls.WithLabelValues(protocol, role, "success"),
			errors:   e.calls.WithLabelValues(protocol, role, "error"),
			reqBytes: e.bytes.WithLabelValues(protocol, role, "request"),
			respByte: e.bytes.WithLabelValues(protocol, role, "response"),
		}
	})
}

// L4 adds the L4 deltas of one connection.
func (e *Exporter) L4(d live.L4) {
	s := e.l4(d.Role, d.SocketType)
	if s == nil {
		e.refusedL4.Inc()
		return
	}
	s.sendBytes.Add(float64(max(d.SendBytes, 0)))
	s.recvBytes.Add(float64(max(d.RecvBytes, 0)))
	s.sendPackets.Add(float64(max(d.SendPackets, 0)))
	s.recvPkt.Add(float64(max(d.RecvPackets, 0)))
}

// l4 returns the children of role and socket type, resolved on first use; nil past MaxL4Series.
func (e *Exporter) l4(role, socket string) *l4Series {
	return e.l4Series.Get(series.Key{A: role, B: socket}, func() *l4Series {
		return &l4Series{
			sendBytes:   e.l4Bytes.WithLabelValues(role, socket, "send"),
			recvBytes:   e.l4Bytes.WithLabelValues(role, socket, "receive"),
			sendPackets: e.l4Pkts.WithLabelValues(role, socket, "send"),
			recvPkt:     e.l4Pkts.WithLabelValues(role, socket, "receive"),
		}
	})
}

// SetCounters replaces the counters one group (the observer, the flushers) publishes; each
// group's are shown at the next scrape. The observer's also tell the health endpoints that its
// event loop runs (see health).
func (e *Exporter) SetCounters(group string, cs []live.Metric) {
	e.mu.Lock()
	e.counters[group] = slices.Clone(cs)
	e.mu.Unlock()
	if group == "observer" {
		e.health.observed(cs)
	}
}

// countersCollector collects the published counters. It is unchecked (Describe sends nothing):
// the groups name their metrics as they go.
type countersCollector Exporter

func (c *countersCollector) Describe(chan<- *prometheus.Desc) {}

func (c *countersCollector) Collect(ch chan<- prometheus.Metric) {
	e := (*Exporter)(c)
	e.mu.Lock()
	var ms []live.Metric
	for _, g := range sortedKeys(e.counters) {
		ms = append(ms, e.counters[g]...)
	}
	e.mu.Unlock()
	descs := map[string]*prometheus.Desc{}
	for _, m := range ms {
		var names, values []string
		for i := 0; i+1 < len(m.Labels); i += 2 {
			names = append(names, m.Labels[i])
			values = append(values, m.Labels[i+1])
		}
		key := m.Name + "\x00" + strings.Join(names, "\x00")
		d := descs[key]
		if d == nil {
			d = prometheus.NewDesc("netobserver_"+m.Name, m.Help, names, nil)
			descs[key] = d
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(m.Value), values...)
	}
}

// WriteTo writes every metric in the text exposition format (version 0.0.4), families in name
// order, a family's series in label order.
func (e *Exporter) WriteTo(w io.Writer) (int64, error) {
	mfs, gatherErr := e.reg.Gather()
	var n int64
	for _, mf := range mfs {
		k, err := expfmt.MetricFamilyToText(w, mf)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, gatherErr
}

// Paths of the health endpoints, served beside the metrics.
const (
	LivePath  = "/healthz"
	ReadyPath = "/readyz"
)

// Listen starts serving the metrics on path, and the health endpoints on LivePath and ReadyPath,
// at addr (e.g. "127.0.0.1:9464") in the background. The listening address is returned, so addr
// may use port 0.
//
// webConfigFile, when not empty, is a web configuration file in the format of the Prometheus
// exporter-toolkit (node_exporter's --web.config.file), the subset package webconfig implements:
// TLS (client certificates too), basic auth with bcrypt hashes, response headers. It is checked
// here, so a bad file fails the start, and read again for every request and TLS handshake, so
// certificates and users change without a restart. TLS and headers apply to every path; basic
// auth to the metrics only, as kubelet probes cannot log in and the health endpoints say nothing
// but "ok" or why not.
func (e *Exporter) Listen(addr, path, webConfigFile string) (net.Addr, error) {
	if err := CheckWebConfig(webConfigFile); err != nil {
		return nil, fmt.Errorf(TypeName+": WebConfigFile %s: %w", webConfigFile, err)
	}
	if path == LivePath || path == ReadyPath {
		return nil, fmt.Errorf(TypeName+": Path %s is the health endpoint's", path)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf(TypeName+": listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, e)
	mux.HandleFunc(LivePath, e.health.serveLive)
	mux.HandleFunc(ReadyPath, e.health.serveReady)
	e.health.start()
	e.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	slog.Info("flusher_prometheus_exporter: listening", "address", l.Addr().String(), "path", path, "web_config", webConfigFile)
	go func() {
		if err := webconfig.Serve(l, e.server, webConfigFile, LivePath, ReadyPath); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("flusher_prometheus_exporter: serving stopped", "address", l.Addr().String(), "error", err)
		}
	}()
	return l.Addr(), nil
}

// ServeHTTP serves the metrics (promhttp: text format 0.0.4, or protobuf and OpenMetrics when the
// scraper asks). A collector that fails leaves its metrics out of the scrape and is logged; the
// rest is served.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.metrics.ServeHTTP(w, r)
}

type errorLog struct{}

func (errorLog) Println(v ...any) { slog.Warn("flusher_prometheus_exporter: " + fmt.Sprint(v...)) }

// CheckWebConfig reads a web configuration file (see Listen) and the certificates it names;
// "" (no file: plain HTTP, no authentication) is valid.
func CheckWebConfig(path string) error {
	return webconfig.Check(path)
}

// Close stops serving.
func (e *Exporter) Close() error {
	if e.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := e.server.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
