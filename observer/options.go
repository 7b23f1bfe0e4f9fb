package observer

import (
	"maps"
	"os"
	"time"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/observer/aggregate"
	"github.com/netobserver/netobserver/observer/config"
)

// OptionsFrom turns an input's configuration into the observer's options. It is the one mapping
// from config keys to behaviour, shared by the netobserver binary (a pipeline file) and the
// iLogtail plugin adapter (an input's detail), so both front doors observe alike. metrics may be
// nil.
//
// observer imports config, never the reverse: config only types and checks keys.
func OptionsFrom(in *config.Input, metrics *prometheus.Exporter) Options {
	c := &in.Common
	tags := make(map[string]string, len(c.Tags)+1)
	maps.Copy(tags, c.Tags)
	if c.Cluster != "" {
		tags["cluster"] = c.Cluster
	}
	caps := make(map[libebpf.Protocol]aggregate.Cap)
	for proto, cp := range c.ProtocolAggCfg {
		caps[proto] = aggregate.Cap{ClientSize: cp.ClientSize, ServerSize: cp.ServerSize}
	}
	schema := aggregate.SchemaA
	if c.RecordSchema == config.SchemaL4L7 {
		schema = aggregate.SchemaB
	}
	host, _ := os.Hostname()
	return Options{
		L4Interval: c.FlushOutL4Interval, L7Interval: c.FlushOutL7Interval,
		Protocols: c.ProtocolSet(), Sampling: int32(c.Sampling), PID: int32(in.EBPF.Pid),
		DropUnixSocket: c.DropUnixSocket, DropLocalConnections: c.DropLocalConnections, DropUnknownSocket: c.DropUnknownSocket,
		Aggregate: aggregate.Config{
			Schema: schema, Tags: tags, Caps: caps, Host: host,
			L4Interval: uint32(c.FlushOutL4Interval / time.Second), L7Interval: uint32(c.FlushOutL7Interval / time.Second),
		},
		Metrics: metrics,
	}
}
