package observer

import (
	"errors"
	"maps"
	"os"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/container/netlink"
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
	caps := make(map[abi.Protocol]aggregate.Cap)
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
		DataBufferPages: int32(in.EBPF.DataBufferPages),
		DropUnixSocket:  c.DropUnixSocket, DropLocalConnections: c.DropLocalConnections, DropUnknownSocket: c.DropUnknownSocket,
		Aggregate: aggregate.Config{
			Schema: schema, Tags: tags, Caps: caps, Host: host,
			L4Interval: uint32(c.FlushOutL4Interval / time.Second), L7Interval: uint32(c.FlushOutL7Interval / time.Second),
		},
		Metrics:         metrics,
		KeepCmdSecrets:  !c.MaskCmdSecrets,
		Filter:          container.NewFilter(filterConfig(c)),
		MetaInterval:    c.FlushMetaInterval,
		NetlinkInterval: c.FlushNetlinkInterval,
	}
}

func filterConfig(c *config.Common) container.FilterConfig {
	return container.FilterConfig{
		IncludeContainerLabels: c.IncludeContainerLabels, ExcludeContainerLabels: c.ExcludeContainerLabels,
		IncludeK8sLabels: c.IncludeK8sLabels, ExcludeK8sLabels: c.ExcludeK8sLabels,
		IncludeEnvs: c.IncludeEnvs, ExcludeEnvs: c.ExcludeEnvs,
		IncludeCmdRegex: c.IncludeCmdRegex, ExcludeCmdRegex: c.ExcludeCmdRegex,
		IncludeContainerNameRegex: c.IncludeContainerNameRegex, ExcludeContainerNameRegex: c.ExcludeContainerNameRegex,
		IncludePodNameRegex: c.IncludePodNameRegex, ExcludePodNameRegex: c.ExcludePodNameRegex,
		IncludeNamespaceNameRegex: c.IncludeNamespaceNameRegex, ExcludeNamespaceNameRegex: c.ExcludeNamespaceNameRegex,
	}
}

// Metadata is the process, container and socket metadata an observer consults: the container
// runtimes (Docker, containerd, when one answers), /proc, and netlink. It lives as long as the
// process that observes.
type Metadata struct {
	Resolver *container.Resolver
	Netlink  *netlink.Resolver
	runtimes container.Runtimes
}

// OpenMetadata connects to what names processes and sockets, with the intervals of in. The
// runtimes are those $NETOBSERVER_RUNTIME names (default auto: Docker and containerd, see
// container.OpenRuntimes). A missing daemon is not an error: processes are then named from /proc
// (host mode), and the daemon is looked for again with backoff.
func OpenMetadata(in *config.Input, logf func(format string, args ...any)) (*Metadata, error) {
	runtimes, err := container.OpenRuntimes("", container.RuntimeConfig{RefreshInterval: in.Common.FlushMetaInterval, Logf: logf})
	if err != nil {
		return nil, err
	}
	nl, err := netlink.New(netlink.Config{Interval: in.Common.FlushNetlinkInterval})
	if err != nil {
		runtimes.Close()
		return nil, err
	}
	procfs := container.Procfs{KeepCmdSecrets: !in.Common.MaskCmdSecrets}
	return &Metadata{Resolver: container.NewResolver(procfs, runtimes), Netlink: nl, runtimes: runtimes}, nil
}

// Apply makes opts use m.
func (m *Metadata) Apply(opts *Options) {
	opts.Resolver, opts.Netlink = m.Resolver, m.Netlink
}

// Close releases the runtime clients and the netlink sockets.
func (m *Metadata) Close() error {
	return errors.Join(m.runtimes.Close(), m.Netlink.Close())
}
