// Package otlptest is an OTLP metrics receiver for tests: the gRPC MetricsService and the
// OTLP/HTTP endpoint, built from the OTLP protobuf definitions, recording every request it
// accepts. It can be stopped and started again on the same address, like a collector that goes
// down and comes back.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Receiver is an OTLP metrics receiver on one address.
type Receiver struct {
	Protocol string // "grpc" or "http"

	mu      sync.Mutex
	addr    string
	reqs    []*colmetricpb.ExportMetricsServiceRequest
	headers []map[string][]string // of each request in reqs, names in lower case
	reject  codes.Code            // answer every export with this code (HTTP: 400) when not OK
	grpcSrv *grpc.Server
	httpSrv *http.Server
	done    chan struct{}
}

// Start starts a receiver of protocol on addr ("127.0.0.1:0" for any port); it stops at cleanup.
func Start(t testing.TB, protocol, addr string) *Receiver {
	t.Helper()
	r := &Receiver{Protocol: protocol}
	if err := r.listen(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// Addr is the receiver's host:port.
func (r *Receiver) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

func (r *Receiver) listen(addr string) error {
	var l net.Listener
	var err error
	// A port just released may linger for a moment.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return err
	}
	done := make(chan struct{})
	r.mu.Lock()
	r.addr, r.done = l.Addr().String(), done
	r.mu.Unlock()
	if r.Protocol == "http" {
		mux := http.NewServeMux()
		mux.HandleFunc("/v1/metrics", r.serveHTTP)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		r.mu.Lock()
		r.httpSrv = srv
		r.mu.Unlock()
		go func() { defer close(done); srv.Serve(l) }()
		return nil
	}
	srv := grpc.NewServer()
	colmetricpb.RegisterMetricsServiceServer(srv, metricsService{r: r})
	r.mu.Lock()
	r.grpcSrv = srv
	r.mu.Unlock()
	go func() { defer close(done); srv.Serve(l) }()
	return nil
}

// Stop closes the listener and every connection, as a collector that went down.
func (r *Receiver) Stop() {
	r.mu.Lock()
	g, h, done := r.grpcSrv, r.httpSrv, r.done
	r.grpcSrv, r.httpSrv = nil, nil
	r.mu.Unlock()
	if g != nil {
		g.Stop()
	}
	if h != nil {
		h.Close()
	}
	if done != nil && (g != nil || h != nil) {
		<-done
	}
}

// Restart starts the receiver again on its address.
func (r *Receiver) Restart(t testing.TB) {
	t.Helper()
	if err := r.listen(r.Addr()); err != nil {
		t.Fatal(err)
	}
}

// Reject makes the receiver refuse every export with code (codes.OK: accept again).
func (r *Receiver) Reject(code codes.Code) {
	r.mu.Lock()
	r.reject = code
	r.mu.Unlock()
}

func (r *Receiver) take(req *colmetricpb.ExportMetricsServiceRequest, headers map[string][]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reject != codes.OK {
		return status.Error(r.reject, "rejected by the test")
	}
	r.reqs = append(r.reqs, req)
	r.headers = append(r.headers, headers)
	return nil
}

// Header is the value of header name (gRPC metadata or HTTP header) in each request accepted
// whose metrics include metric, in order ("" where a request had none).
func (r *Receiver) Header(name, metric string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, req := range r.reqs {
		has := false
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					has = has || m.Name == metric
				}
			}
		}
		if has {
			out = append(out, strings.Join(r.headers[i][strings.ToLower(name)], ","))
		}
	}
	return out
}

type metricsService struct {
	colmetricpb.UnimplementedMetricsServiceServer
	r *Receiver
}

func (s metricsService) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if err := s.r.take(req, md); err != nil {
		return nil, err
	}
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf POST", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m colmetricpb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(data, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := map[string][]string{}
	for k, v := range req.Header {
		h[strings.ToLower(k)] = v
	}
	if err := r.take(&m, h); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	io.Copy(w, bytes.NewReader(out))
}

// Requests is the number of exports accepted.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// Point is one data point received, flattened.
type Point struct {
	Metric, Unit, Kind string // Kind: sum, gauge, histogram, exponential_histogram, summary
	Resource, Attrs    map[string]any
	Start, Time        uint64  // StartTimeUnixNano, TimeUnixNano
	Int                int64   // sum and gauge
	Float              float64 // sum and gauge of doubles
	Count              uint64  // histograms and summary
	Sum                float64 // histograms and summary
	Quantiles          map[float64]float64
	BucketCounts       []uint64 // explicit: per bound; exponential: the positive buckets from Offset
	Monotonic, Delta   bool     // Delta: sums and histograms; false is cumulative
	// Exponential histograms.
	Scale, Offset int32
	ZeroCount     uint64
	Min, Max      float64
	// Negative holds the exponential histogram's negative buckets, if any.
	Negative []uint64
}

// Points are the data points of metric received so far ("" for all).
func (r *Receiver) Points(metric string) []Point {
	r.mu.Lock()
	reqs := append([]*colmetricpb.ExportMetricsServiceRequest(nil), r.reqs...)
	r.mu.Unlock()
	var out []Point
	for _, req := range reqs {
		for _, rm := range req.ResourceMetrics {
			res := attrs(rm.GetResource().GetAttributes())
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if metric != "" && m.Name != metric {
						continue
					}
					out = append(out, points(m, res)...)
				}
			}
		}
	}
	return out
}

func points(m *metricpb.Metric, res map[string]any) []Point {
	var out []Point
	p := func(kind string, a []*commonpb.KeyValue) Point {
		return Point{Metric: m.Name, Unit: m.Unit, Kind: kind, Resource: res, Attrs: attrs(a)}
	}
	switch d := m.Data.(type) {
	case *metricpb.Metric_Sum:
		for _, dp := range d.Sum.DataPoints {
			pt := p("sum", dp.Attributes)
			pt.Start, pt.Time = dp.StartTimeUnixNano, dp.TimeUnixNano
			pt.Int, pt.Float = dp.GetAsInt(), dp.GetAsDouble()
			pt.Monotonic = d.Sum.IsMonotonic
			pt.Delta = d.Sum.AggregationTemporality == metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
			out = append(out, pt)
		}
	case *metricpb.Metric_Gauge:
		for _, dp := range d.Gauge.DataPoints {
			pt := p("gauge", dp.Attributes)
			pt.Start, pt.Time = dp.StartTimeUnixNano, dp.TimeUnixNano
			pt.Int, pt.Float = dp.GetAsInt(), dp.GetAsDouble()
			out = append(out, pt)
		}
	case *metricpb.Metric_Histogram:
		for _, dp := range d.Histogram.DataPoints {
			pt := p("histogram", dp.Attributes)
			pt.Start, pt.Time = dp.StartTimeUnixNano, dp.TimeUnixNano
			pt.Count, pt.Sum, pt.BucketCounts = dp.Count, dp.GetSum(), dp.BucketCounts
			pt.Delta = d.Histogram.AggregationTemporality == metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
			out = append(out, pt)
		}
	case *metricpb.Metric_ExponentialHistogram:
		for _, dp := range d.ExponentialHistogram.DataPoints {
			pt := p("exponential_histogram", dp.Attributes)
			pt.Start, pt.Time = dp.StartTimeUnixNano, dp.TimeUnixNano
			pt.Count, pt.Sum, pt.Min, pt.Max = dp.Count, dp.GetSum(), dp.GetMin(), dp.GetMax()
			pt.Scale, pt.ZeroCount = dp.Scale, dp.ZeroCount
			pt.Offset, pt.BucketCounts = dp.GetPositive().GetOffset(), dp.GetPositive().GetBucketCounts()
			pt.Negative = dp.GetNegative().GetBucketCounts()
			pt.Delta = d.ExponentialHistogram.AggregationTemporality == metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
			out = append(out, pt)
		}
	case *metricpb.Metric_Summary:
		for _, dp := range d.Summary.DataPoints {
			pt := p("summary", dp.Attributes)
			pt.Count, pt.Sum = dp.Count, dp.Sum
			pt.Quantiles = map[float64]float64{}
			for _, q := range dp.QuantileValues {
				pt.Quantiles[q.Quantile] = q.Value
			}
			out = append(out, pt)
		}
	}
	return out
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = v.BoolValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = v.DoubleValue
		default:
			m[kv.Key] = fmt.Sprint(kv.Value)
		}
	}
	return m
}

// Wait waits up to timeout until cond holds for the points received.
func (r *Receiver) Wait(timeout time.Duration, cond func(r *Receiver) bool) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if cond(r) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("otlptest: condition not met in time")
		}
	}
}

// Sum adds the Int of the points that carry every attribute of match (resource or point).
func Sum(points []Point, match map[string]any) int64 {
	var n int64
	for _, p := range points {
		if Matches(p, match) {
			n += p.Int
		}
	}
	return n
}

// Matches says whether p carries every attribute of match, on the point or its resource.
func Matches(p Point, match map[string]any) bool {
	for k, v := range match {
		got, ok := p.Attrs[k]
		if !ok {
			got, ok = p.Resource[k]
		}
		if !ok || got != v {
			return false
		}
	}
	return true
}
