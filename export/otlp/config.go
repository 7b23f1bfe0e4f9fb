package otlp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/netobserver/netobserver/export"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
)

// TypeName is the flusher's Type in a pipeline config.
const TypeName = "flusher_otlp"

// Type is flusher_otlp in pipeline files.
var Type = config.FlusherType{Name: TypeName, Decode: decode}

// Defaults.
const (
	DefaultProtocol     = "grpc"
	DefaultURLPath      = "/v1/metrics"
	DefaultTimeout      = 10 * time.Second
	DefaultInterval     = 15 * time.Second
	DefaultQueueSize    = 10000
	DefaultCloseTimeout = 5 * time.Second
	DefaultCompression  = "none"
	DefaultHistogram    = HistogramExplicit
)

// Histogram forms of the live latency histogram.
const (
	// HistogramExplicit: the Prometheus endpoint's buckets (LatencyBuckets), which every OTLP
	// receiver and every Prometheus takes.
	HistogramExplicit = "explicit"
	// HistogramExponential: a base-2 exponential histogram of at most 160 buckets, its scale
	// following the latencies' range; for receivers that take it (README).
	HistogramExponential = "exponential"
)

// Config is flusher_otlp's configuration. Start from DefaultConfig.
type Config struct {
	// Endpoint is the receiver's host:port (an OpenTelemetry Collector: 4317 for gRPC, 4318 for
	// HTTP). Required.
	Endpoint string
	// Protocol is grpc (default) or http (OTLP/HTTP, protobuf).
	Protocol string
	// URLPath is the HTTP path of the metrics (http only; default /v1/metrics).
	URLPath string
	// Insecure sends in plain text; by default the connection is TLS, verified against the
	// system's roots or CAFile.
	Insecure bool
	// CAFile, CertFile and KeyFile are PEM files: the roots that verify the receiver, and a
	// client certificate and key for mutual TLS.
	CAFile, CertFile, KeyFile string
	// Headers are sent with every export (e.g. an authorization token).
	Headers map[string]string
	// Compression is none (default) or gzip.
	Compression string
	// Timeout bounds one export attempt; default 10 s.
	Timeout time.Duration
	// Interval is how often the live latency histogram is exported; default 15 s. Records are
	// exported as they come (every FlushOutL4Interval and FlushOutL7Interval).
	Interval time.Duration
	// QueueSize bounds the records held while the receiver is unreachable; default 10000.
	// Records beyond it are dropped and counted.
	QueueSize int
	// CloseTimeout is how long Close waits for the queue to be sent; default 5 s.
	CloseTimeout time.Duration
	// Histogram is the live latency histogram's form: HistogramExplicit (default) or
	// HistogramExponential.
	Histogram string
}

// DefaultConfig returns the defaults, with Endpoint empty.
func DefaultConfig() Config {
	return Config{Protocol: DefaultProtocol, URLPath: DefaultURLPath, Compression: DefaultCompression,
		Timeout: DefaultTimeout, Interval: DefaultInterval, Histogram: DefaultHistogram,
		QueueSize: DefaultQueueSize, CloseTimeout: DefaultCloseTimeout}
}

var _ export.Config = (*Config)(nil)

const maxSeconds = 24 * 60 * 60

func decode(detail config.Value) (config.FlusherConfig, error) {
	c := DefaultConfig()
	oneOf := func(dst *string, names ...string) func(config.Value) error {
		return func(v config.Value) error {
			s, err := v.Str()
			if err != nil {
				return err
			}
			for _, n := range names {
				if strings.EqualFold(s, n) {
					*dst = n
					return nil
				}
			}
			return v.Errorf("%q is not one of %s", s, strings.Join(names, ", "))
		}
	}
	file := func(dst *string) func(config.Value) error {
		return func(v config.Value) error {
			s, err := v.Str()
			if err != nil {
				return err
			}
			if _, err := os.Stat(s); err != nil {
				return v.Errorf("%v", err)
			}
			*dst = s
			return nil
		}
	}
	duration := func(dst *time.Duration) func(config.Value) error {
		return func(v config.Value) (err error) {
			*dst, err = v.Duration(maxSeconds, "more than a day")
			return err
		}
	}
	err := detail.Fields([]config.Field{
		{Name: "Endpoint", Set: func(v config.Value) error {
			s, err := v.Str()
			if err != nil {
				return err
			}
			if strings.Contains(s, "://") {
				return v.Errorf("%q: write host:port (the scheme follows from Insecure)", s)
			}
			if host, port, err := net.SplitHostPort(s); err != nil || host == "" {
				return v.Errorf("%q is not host:port (e.g. \"otel-collector:4317\")", s)
			} else if !config.ValidPort(port) {
				return v.Errorf("%q: port %s is not 1..65535", s, port)
			}
			c.Endpoint = s
			return nil
		}},
		{Name: "Protocol", Set: oneOf(&c.Protocol, "grpc", "http")},
		{Name: "URLPath", Set: func(v config.Value) error {
			s, err := v.Str()
			if err == nil && !strings.HasPrefix(s, "/") {
				err = v.Errorf("%q must start with /", s)
			}
			c.URLPath = s
			return err
		}},
		{Name: "Insecure", Set: config.SetBool(&c.Insecure)},
		{Name: "CAFile", Set: file(&c.CAFile)},
		{Name: "CertFile", Set: file(&c.CertFile)},
		{Name: "KeyFile", Set: file(&c.KeyFile)},
		{Name: "Headers", Set: func(v config.Value) error {
			entries, err := v.Entries()
			if err != nil {
				return err
			}
			for _, e := range entries {
				s, err := e.Value.Str()
				if err != nil {
					return err
				}
				if e.Key == "" {
					return e.Value.Errorf("empty header name")
				}
				if c.Headers == nil {
					c.Headers = map[string]string{}
				}
				c.Headers[e.Key] = s
			}
			return nil
		}},
		{Name: "Compression", Set: oneOf(&c.Compression, "none", "gzip")},
		{Name: "Timeout", Set: duration(&c.Timeout)},
		{Name: "Interval", Set: duration(&c.Interval)},
		{Name: "QueueSize", Set: func(v config.Value) (err error) {
			c.QueueSize, err = v.Positive("number of records")
			return err
		}},
		{Name: "CloseTimeout", Set: duration(&c.CloseTimeout)},
		{Name: "Histogram", Set: oneOf(&c.Histogram, HistogramExplicit, HistogramExponential)},
	}, map[string]string{
		"Temporality": "records are sent as deltas (what each interval added) and the live histogram as cumulative",
	})
	if err != nil {
		return nil, err
	}
	if c.Endpoint == "" {
		return nil, detail.Missing("Endpoint", "flusher_otlp needs the receiver's host:port")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, detail.Key("CertFile").Errorf("CertFile and KeyFile go together (a client certificate and its key)")
	}
	if c.Insecure && (c.CAFile != "" || c.CertFile != "") {
		return nil, detail.Key("Insecure").Errorf("Insecure sends in plain text: CAFile, CertFile and KeyFile would not be used")
	}
	if _, err := c.tlsConfig(); err != nil {
		return nil, detail.Key("CAFile").Errorf("%v", err)
	}
	return &c, nil
}

// tlsConfig is the TLS of the connection; nil with Insecure.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.Insecure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CAFile %s holds no PEM certificate", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("CertFile %s, KeyFile %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// File is none.
func (c *Config) File() string { return "" }

// Open builds the flusher; it does not wait for the receiver.
func (c *Config) Open(ctx record.Context, _ export.Env) (export.Output, error) {
	return New(ctx, *c)
}
