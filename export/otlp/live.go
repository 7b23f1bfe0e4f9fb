package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/aggregation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/netobserver/netobserver/export/internal/series"
	"github.com/netobserver/netobserver/export/otlp/internal/exphist"
	"github.com/netobserver/netobserver/observer/live"
)

const latencyDescription = "Latency from a request's first byte to its response's first byte, of every call, by protocol and role."

// liveSeries is one protocol and role of the live histogram: its attributes, and in the
// exponential form its histogram.
type liveSeries struct {
	opts  []metric.RecordOption // explicit: the SDK's
	attrs []*commonpb.KeyValue  // exponential
	mu    sync.Mutex
	hist  *exphist.Histogram
}

// newLive makes the live histogram of the configured form. The explicit one is the SDK's,
// exported through the records' exporter. SDK v0.39 has no exponential aggregation, and its
// exporter takes only its own metricdata types, so the exponential histogram is aggregated here
// (exphist), its OTLP protobuf message built here and sent over the exporter's gRPC connection,
// or by an HTTP POST with the same URL, TLS, headers and compression.
func (f *Flusher) newLive(host string) error {
	if f.cfg.Histogram == HistogramExponential {
		f.raw = f.newRawSender()
		f.rawResource = &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			stringKV("host.name", host), stringKV("service.name", "netobserver")}}
		return nil
	}
	agg := aggregation.ExplicitBucketHistogram{Boundaries: LatencyBuckets}
	f.reader = sdkmetric.NewManualReader() // cumulative: an export that fails loses nothing
	f.provider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("host.name", host), attribute.String("service.name", "netobserver"))),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: metricLatency}, sdkmetric.Stream{Aggregation: agg})))
	var err error
	f.latency, err = f.provider.Meter(scope.Name).Float64Histogram(metricLatency, metric.WithUnit("s"), metric.WithDescription(latencyDescription))
	return err
}

// Call records one call's latency in the live histogram. A one-way call has no latency to
// observe (as on the Prometheus endpoint).
func (f *Flusher) Call(c live.Call) {
	if !c.OneWay {
		f.record(c, c.Latency, 1)
	}
}

// Calls records the latencies of calls counted elsewhere (the kernel's aggregation), each as its
// bucket's middle.
func (f *Flusher) Calls(c live.Call, _ uint64, latencies []live.Latencies) {
	for _, l := range latencies {
		f.record(c, l.Latency, l.N)
	}
}

// record records latency n times in the series of c.
func (f *Flusher) record(c live.Call, latency time.Duration, n uint32) {
	s := f.liveSeries(c.Protocol, c.Role)
	if s == nil {
		f.liveRefused.Add(uint64(n))
		return
	}
	v := latency.Seconds()
	if s.hist != nil {
		s.mu.Lock()
		for range n {
			s.hist.Record(v)
		}
		s.mu.Unlock()
		return
	}
	for range n {
		f.latency.Record(context.Background(), v, s.opts...)
	}
}

// liveSeries returns the series of protocol and role, made once; nil past MaxLiveSeries.
func (f *Flusher) liveSeries(protocol, role string) *liveSeries {
	return f.series.Get(series.Key{A: protocol, B: role}, func() *liveSeries {
		name := protocol
		if n, ok := protocolNames[protocol]; ok {
			name = n.network
		}
		if f.raw != nil {
			return &liveSeries{hist: exphist.New(),
				attrs: []*commonpb.KeyValue{stringKV("network.protocol.name", name), stringKV("netobserver.role", role)}}
		}
		return &liveSeries{opts: []metric.RecordOption{metric.WithAttributeSet(
			attribute.NewSet(attribute.String("network.protocol.name", name), attribute.String("netobserver.role", role)))}}
	})
}

func stringKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// exportLive sends the live histogram (cumulative: a failed export is made good by the next).
func (f *Flusher) exportLive() {
	deadline := time.Now().Add(time.Second)
	if f.raw != nil {
		req := f.exponential(time.Now())
		if req == nil {
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if err := f.raw.send(ctx, req); err != nil {
			f.noteErr(err, 0, "live histogram, sent again at the next interval")
		}
		return
	}
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil || len(rm.ScopeMetrics) == 0 {
		return
	}
	if err := f.send(&rm, deadline); err != nil {
		f.noteErr(err, 0, "live histogram, sent again at the next interval")
	}
}

// exponential is the request carrying every series' exponential histogram at now; nil before
// the first call.
func (f *Flusher) exponential(now time.Time) *colmetricpb.ExportMetricsServiceRequest {
	var dps []*metricpb.ExponentialHistogramDataPoint
	f.series.Each(func(s *liveSeries) {
		s.mu.Lock()
		h := s.hist.Snapshot()
		s.mu.Unlock()
		dps = append(dps, &metricpb.ExponentialHistogramDataPoint{
			Attributes:        s.attrs,
			StartTimeUnixNano: uint64(f.start.UnixNano()),
			TimeUnixNano:      uint64(now.UnixNano()),
			Count:             h.Count,
			Sum:               &h.Sum,
			Scale:             h.Scale,
			ZeroCount:         h.Zero,
			Positive:          &metricpb.ExponentialHistogramDataPoint_Buckets{Offset: h.Offset, BucketCounts: h.Counts},
			Min:               &h.Min,
			Max:               &h.Max,
		})
	})
	if len(dps) == 0 {
		return nil
	}
	m := &metricpb.Metric{Name: metricLatency, Unit: "s", Description: latencyDescription,
		Data: &metricpb.Metric_ExponentialHistogram{ExponentialHistogram: &metricpb.ExponentialHistogram{
			DataPoints: dps, AggregationTemporality: metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE}}}
	return &colmetricpb.ExportMetricsServiceRequest{ResourceMetrics: []*metricpb.ResourceMetrics{{
		Resource:     f.rawResource,
		ScopeMetrics: []*metricpb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: scope.Name}, Metrics: []*metricpb.Metric{m}}},
	}}}
}

// rawSender sends an OTLP request the SDK's exporter cannot carry.
type rawSender interface {
	send(context.Context, *colmetricpb.ExportMetricsServiceRequest) error
}

func (f *Flusher) newRawSender() rawSender {
	c := f.cfg
	if c.Protocol != "http" {
		return &grpcSender{client: colmetricpb.NewMetricsServiceClient(f.conn), md: metadata.New(c.Headers)}
	}
	scheme := "https"
	if c.Insecure {
		scheme = "http"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig, _ = c.tlsConfig() // checked by newExporter
	return &httpSender{client: &http.Client{Transport: tr}, url: scheme + "://" + c.Endpoint + c.URLPath,
		headers: c.Headers, gzip: c.Compression == "gzip"}
}

type grpcSender struct {
	client colmetricpb.MetricsServiceClient
	md     metadata.MD
}

func (g *grpcSender) send(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) error {
	resp, err := g.client.Export(metadata.NewOutgoingContext(ctx, g.md), req)
	if err != nil {
		return err
	}
	return partial(resp)
}

type httpSender struct {
	client  *http.Client
	url     string
	headers map[string]string
	gzip    bool
}

func (h *httpSender) send(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) error {
	body, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	if h.gzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	r.Header.Set("Content-Type", "application/x-protobuf")
	if h.gzip {
		r.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := h.client.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("failed to send metrics to %s: %s", h.url, resp.Status)
	}
	var out colmetricpb.ExportMetricsServiceResponse
	if proto.Unmarshal(data, &out) != nil {
		return nil // a 2xx without a readable body: accepted
	}
	return partial(&out)
}

// partial is the error of an export the receiver took only in part.
func partial(resp *colmetricpb.ExportMetricsServiceResponse) error {
	if p := resp.GetPartialSuccess(); p.GetRejectedDataPoints() != 0 || p.GetErrorMessage() != "" {
		return fmt.Errorf("receiver rejected %d data points: %s", p.GetRejectedDataPoints(), p.GetErrorMessage())
	}
	return nil
}

// envDefaults takes the headers and compression from OTEL_EXPORTER_OTLP_[METRICS_]HEADERS and
// _COMPRESSION when the keys leave them unset, as the SDK's exporters would: both the records'
// exporter and the exponential live histogram's requests then carry them.
func envDefaults(c *Config) {
	get := func(name string) string {
		if v := os.Getenv("OTEL_EXPORTER_OTLP_METRICS_" + name); v != "" {
			return v
		}
		return os.Getenv("OTEL_EXPORTER_OTLP_" + name)
	}
	if len(c.Headers) == 0 {
		for _, kv := range strings.Split(get("HEADERS"), ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			k, err1 := url.QueryUnescape(k)
			v, err2 := url.QueryUnescape(v)
			if k = strings.TrimSpace(k); err1 != nil || err2 != nil || k == "" {
				continue
			}
			if c.Headers == nil {
				c.Headers = map[string]string{}
			}
			c.Headers[k] = strings.TrimSpace(v)
		}
	}
	if c.Compression == "" || c.Compression == "none" {
		if strings.TrimSpace(get("COMPRESSION")) == "gzip" {
			c.Compression = "gzip"
		}
	}
}
