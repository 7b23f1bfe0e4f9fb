package prometheus

import (
	"net"
	"strings"

	"github.com/netobserver/netobserver/export"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
)

// TypeName is the flusher's Type in a pipeline config (netobserver's own; not iLogtail's
// flusher_prometheus, which pushed remote-write).
const TypeName = "flusher_prometheus_exporter"

// Type is flusher_prometheus_exporter in pipeline files: one per pipeline, as the observer
// feeds one endpoint.
var Type = config.FlusherType{Name: TypeName, Decode: decode, Single: "netobserver serves one metrics endpoint"}

// Defaults of flusher_prometheus_exporter.
const (
	// DefaultListen serves this host only; ":9464" serves every interface, a pod IP one of them.
	DefaultListen = "127.0.0.1:9464"
	DefaultPath   = "/metrics"
)

// Config is flusher_prometheus_exporter's configuration.
type Config struct {
	// Listen is the host:port the metrics are served on (default DefaultListen).
	Listen string
	// Path is the URL path of the metrics (default "/metrics").
	Path string
	// WebConfigFile (default "": plain HTTP, no authentication) is the path of a web
	// configuration file in the Prometheus exporter-toolkit's format (node_exporter's
	// --web.config.file), the subset package webconfig implements — TLS and basic auth —
	// checked when the file loads.
	WebConfigFile string
}

var _ export.Config = (*Config)(nil)

func decode(detail config.Value) (config.FlusherConfig, error) {
	c := &Config{Listen: DefaultListen, Path: DefaultPath}
	err := detail.Fields([]config.Field{
		{Name: "Listen", Set: config.SetString(&c.Listen)},
		{Name: "Path", Set: config.SetString(&c.Path)},
		{Name: "WebConfigFile", Set: func(v config.Value) (err error) {
			if c.WebConfigFile, err = v.Str(); err != nil {
				return err
			}
			if err := CheckWebConfig(c.WebConfigFile); err != nil {
				return v.Errorf("%q is not a usable web config: %v", c.WebConfigFile, err)
			}
			return nil
		}},
	}, nil)
	if err != nil {
		return nil, err
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return nil, detail.Key("Listen").Errorf("%q is not host:port (e.g. \":9464\" or \"127.0.0.1:9464\")", c.Listen)
	} else if !config.ValidPort(port) {
		return nil, detail.Key("Listen").Errorf("%q: port %s is not 1..65535", c.Listen, port)
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, detail.Key("Path").Errorf("%q must start with /", c.Path)
	}
	return c, nil
}

// File is none.
func (c *Config) File() string { return "" }

// Open starts serving the metrics; the Exporter is the observer's live sink.
func (c *Config) Open(record.Context, export.Env) (export.Output, error) {
	e := New()
	if _, err := e.Listen(c.Listen, c.Path, c.WebConfigFile); err != nil {
		return nil, err
	}
	return e, nil
}
