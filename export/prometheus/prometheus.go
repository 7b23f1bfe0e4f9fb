package prometheus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/netobserver/netobserver/export/prometheus/webconfig"
	"github.com/netobserver/netobserver/observer/live"
)

// LatencyBuckets are the upper bounds, in seconds, of the latency histograms.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// callStats are the metrics of one protocol and role.
type callStats struct {
	protocol, role      string
	buckets             []uint64 // cumulative when written; per bucket while counting
	count, errors       uint64
	oneWay              uint64 // one-way calls, apart: they have no latency
	sum                 float64
	reqBytes, respBytes uint64
}

type l4Key struct{ role, socket string }

type l4Stats struct{ sendBytes, recvBytes, sendPackets, recvPackets uint64 }

// Exporter holds the metrics and serves them. Its methods are safe for concurrent use.
type Exporter struct {
	mu sync.Mutex
	// calls has one entry per protocol and role seen, a handful: scanning them for a call's
	// labels (mostly the same constant strings, equal by pointer) costs less than hashing them.
	calls    []*callStats
	l4       map[l4Key]*l4Stats
	counters map[string][]live.Metric // by the group that publishes them
	server   *http.Server
}

// New returns an empty Exporter.
func New() *Exporter {
	return &Exporter{l4: make(map[l4Key]*l4Stats), counters: make(map[string][]live.Metric)}
}

// Exporter is a live.Sink.
var _ live.Sink = (*Exporter)(nil)

// Call counts one call. A one-way call counts in calls_total{outcome="one_way"} and bytes,
// never in the latency histogram.
func (e *Exporter) Call(c live.Call) {
	if c.OneWay {
		e.mu.Lock()
		s := e.series(c.Protocol, c.Role)
		s.oneWay++
		s.reqBytes += uint64(c.RequestBytes)
		e.mu.Unlock()
		return
	}
	sec := c.Latency.Seconds()
	i, _ := slices.BinarySearch(LatencyBuckets, sec)
	e.mu.Lock()
	s := e.series(c.Protocol, c.Role)
	if i < len(LatencyBuckets) {
		s.buckets[i]++
	}
	s.count++
	s.sum += sec
	if !c.Success {
		s.errors++
	}
	s.reqBytes += uint64(c.RequestBytes)
	s.respBytes += uint64(c.ResponseBytes)
	e.mu.Unlock() // not deferred: this runs for every call
}

// series returns the metrics of protocol and role, made on first use. e.mu is held.
func (e *Exporter) series(protocol, role string) *callStats {
	for _, s := range e.calls {
		if s.protocol == protocol && s.role == role {
			return s
		}
	}
	s := &callStats{protocol: protocol, role: role, buckets: make([]uint64, len(LatencyBuckets))}
	e.calls = append(e.calls, s)
	return s
}

// L4 adds the L4 deltas of one connection.
func (e *Exporter) L4(d live.L4) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := l4Key{d.Role, d.SocketType}
	s := e.l4[k]
	if s == nil {
		s = &l4Stats{}
		e.l4[k] = s
	}
	s.sendBytes += uint64(max(d.SendBytes, 0))
	s.recvBytes += uint64(max(d.RecvBytes, 0))
	s.sendPackets += uint64(max(d.SendPackets, 0))
	s.recvPackets += uint64(max(d.RecvPackets, 0))
}

// SetCounters replaces the counters one group (the observer, the flushers) publishes; each
// group's are shown at the next scrape, groups in name order, a group's counters in its order.
func (e *Exporter) SetCounters(group string, cs []live.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counters[group] = slices.Clone(cs)
}

// WriteTo writes every metric in the text exposition format, series sorted for stable output.
func (e *Exporter) WriteTo(w io.Writer) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cw := &countingWriter{w: bufio.NewWriter(w)}

	calls := slices.SortedFunc(slices.Values(e.calls), func(a, b *callStats) int {
		return strings.Compare(a.protocol+"\x00"+a.role, b.protocol+"\x00"+b.role)
	})
	cw.header("netobserver_l7_latency_seconds", "histogram", "Latency from a request's first byte to its response's first byte.")
	for _, s := range calls {
		labels := `protocol="` + s.protocol + `",role="` + s.role + `"`
		var cum uint64
		for i, le := range LatencyBuckets {
			cum += s.buckets[i]
			cw.sample("netobserver_l7_latency_seconds_bucket", labels+`,le="`+formatFloat(le)+`"`, strconv.FormatUint(cum, 10))
		}
		cw.sample("netobserver_l7_latency_seconds_bucket", labels+`,le="+Inf"`, strconv.FormatUint(s.count, 10))
		cw.sample("netobserver_l7_latency_seconds_sum", labels, formatFloat(s.sum))
		cw.sample("netobserver_l7_latency_seconds_count", labels, strconv.FormatUint(s.count, 10))
	}
	cw.header("netobserver_l7_calls_total", "counter", "Calls (request and response pairs) by outcome.")
	for _, s := range calls {
		labels := `protocol="` + s.protocol + `",role="` + s.role + `"`
		cw.sample("netobserver_l7_calls_total", labels+`,outcome="error"`, strconv.FormatUint(s.errors, 10))
		cw.sample("netobserver_l7_calls_total", labels+`,outcome="success"`, strconv.FormatUint(s.count-s.errors, 10))
		if s.oneWay > 0 { // absent for protocols without one-way messages, as before they existed
			cw.sample("netobserver_l7_calls_total", labels+`,outcome="one_way"`, strconv.FormatUint(s.oneWay, 10))
		}
	}
	cw.header("netobserver_l7_bytes_total", "counter", "Bytes of requests and responses.")
	for _, s := range calls {
		labels := `protocol="` + s.protocol + `",role="` + s.role + `"`
		cw.sample("netobserver_l7_bytes_total", labels+`,message="request"`, strconv.FormatUint(s.reqBytes, 10))
		cw.sample("netobserver_l7_bytes_total", labels+`,message="response"`, strconv.FormatUint(s.respBytes, 10))
	}

	l4Keys := sortedKeys(e.l4, func(a, b l4Key) int { return strings.Compare(a.role+"\x00"+a.socket, b.role+"\x00"+b.socket) })
	for _, m := range []struct {
		name, help string
		value      func(*l4Stats) (send, recv uint64)
	}{
		{"netobserver_l4_bytes_total", "Bytes sent and received by observed sockets.", func(s *l4Stats) (uint64, uint64) { return s.sendBytes, s.recvBytes }},
		{"netobserver_l4_packets_total", "Send and receive syscalls on observed sockets.", func(s *l4Stats) (uint64, uint64) { return s.sendPackets, s.recvPackets }},
	} {
		cw.header(m.name, "counter", m.help)
		for _, k := range l4Keys {
			send, recv := m.value(e.l4[k])
			labels := `role="` + k.role + `",socket_type="` + k.socket + `"`
			cw.sample(m.name, labels+`,direction="receive"`, strconv.FormatUint(recv, 10))
			cw.sample(m.name, labels+`,direction="send"`, strconv.FormatUint(send, 10))
		}
	}

	written := map[string]bool{}
	var counters []live.Metric
	for _, g := range sortedKeys(e.counters, strings.Compare) {
		counters = append(counters, e.counters[g]...)
	}
	for _, c := range counters {
		name := "netobserver_" + c.Name
		if !written[name] {
			cw.header(name, "counter", c.Help)
			written[name] = true
		}
		var labels []string
		for i := 0; i+1 < len(c.Labels); i += 2 {
			labels = append(labels, c.Labels[i]+`="`+escapeLabel(c.Labels[i+1])+`"`)
		}
		cw.sample(name, strings.Join(labels, ","), strconv.FormatUint(c.Value, 10))
	}
	if cw.err == nil {
		cw.err = cw.w.Flush()
	}
	return cw.n, cw.err
}

// ServeHTTP serves the metrics.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	e.WriteTo(w)
}

// Listen starts serving path on addr (e.g. "127.0.0.1:9464") in the background. The listening
// address is returned, so addr may use port 0.
//
// webConfigFile, when not empty, is a web configuration file in the format of the Prometheus
// exporter-toolkit (node_exporter's --web.config.file), the subset package webconfig implements:
// TLS (client certificates too), basic auth with bcrypt hashes, response headers. It is checked
// here, so a bad file fails the start, and read again for every request and TLS handshake, so
// certificates and users change without a restart.
func (e *Exporter) Listen(addr, path, webConfigFile string) (net.Addr, error) {
	if err := CheckWebConfig(webConfigFile); err != nil {
		return nil, fmt.Errorf(TypeName+": WebConfigFile %s: %w", webConfigFile, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf(TypeName+": listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, e)
	e.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	slog.Info("flusher_prometheus_exporter: listening", "address", l.Addr().String(), "path", path, "web_config", webConfigFile)
	go func() {
		if err := webconfig.Serve(l, e.server, webConfigFile); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("flusher_prometheus_exporter: serving stopped", "address", l.Addr().String(), "error", err)
		}
	}()
	return l.Addr(), nil
}

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

func sortedKeys[K comparable, V any](m map[K]V, cmp func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) write(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}

func (c *countingWriter) header(name, typ, help string) {
	c.write("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

func (c *countingWriter) sample(name, labels, value string) {
	if labels != "" {
		name += "{" + labels + "}"
	}
	c.write(name + " " + value + "\n")
}
