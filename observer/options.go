package observer

import (
	"errors"
	"maps"
	"os"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/container/netlink"
	"github.com/netobserver/netobserver/observer/aggregate"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/observer/live"
)

// Options are the pipeline settings the observer applies (Common.* and EBPF.* of the config).
type Options struct {
	L4Interval, L7Interval time.Duration
	// Protocols are those whose data the kernel sends and whose calls are recorded:
	// abi.NoProtocols turns L7 off (Common.ProtocolProcess false), L4 only.
	Protocols abi.ProtocolSet
	// Sampling is the percentage of connections whose data is captured.
	Sampling int32
	// PID limits capture to one process; -1 for all.
	PID int32
	// DataBufferPages is each CPU's data event buffer, in pages (a power of two); 0 is 512,
	// iLogtail's size.
	DataBufferPages int32
	// TLSProbes attaches the TLS libraries' uprobes (observer/tlsprobe) when the library has the
	// uprobe extension.
	TLSProbes bool
	// KernelAggregation lists the protocols the kernel aggregates (EBPF.KernelAggregation): an
	// error at Start when the library cannot.
	KernelAggregation []abi.Protocol
	// The socket kinds whose traffic is dropped, in the kernel (ebpf_update_conn_addr with drop)
	// and from L4 records.
	DropUnixSocket, DropLocalConnections, DropUnknownSocket bool
	Aggregate                                               aggregate.Config
	Calls                                                   calls.Config
	// Live, when set, also receives every call and L4 delta, and the observer's counters.
	Live live.Sink
	// Identities names processes and their containers; nil resolves host processes from /proc.
	Identities *container.Identities
	// KeepCmdSecrets makes the Identities made for nil Identities show commands unmasked
	// (Common.MaskCmdSecrets: false).
	KeepCmdSecrets bool
	// Filter decides which processes are observed; nil observes all. A process it refuses is
	// switched off in the kernel (ebpf_disable_process) and back on when its pid is reused.
	Filter *container.Filter
	// MetaInterval is how often process and container metadata is pruned and disabled
	// processes are checked for restarts (Common.FlushMetaInterval). Default 30 s.
	MetaInterval time.Duration
	// Netlink, when set, resolves the address and role of connections the kernel side did not
	// learn (family 0xff, role unknown), and pushes them back through the control stubs.
	Netlink *netlink.Sockets
	// NetlinkInterval is how long a connection netlink could not resolve waits before it is
	// asked about again (Common.FlushNetlinkInterval). Default 10 s.
	NetlinkInterval time.Duration
	// GCInterval is how often the kernel connection map is walked for entries whose process or
	// fd is gone (iLogtail: 300 s). Default 300 s.
	GCInterval time.Duration
	// ProcRoot is where /proc is, for the map GC and process names; default "/proc".
	ProcRoot string
	// Recorded: the events come from a recording (replay). Processes are named only from its
	// process events: this host's /proc knows nothing of them.
	Recorded bool
}

// OptionsFrom turns an input's configuration into the observer's options. It is the one mapping
// from config keys to behaviour, shared by the netobserver binary (a pipeline file) and the
// iLogtail plugin adapter (an input's detail), so both front doors observe alike.
//
// observer imports config, never the reverse: config only types and checks keys.
func OptionsFrom(in *config.Input) Options {
	c := &in.Common
	tags := make(map[string]string, len(c.Tags)+1)
	maps.Copy(tags, c.Tags)
	if c.Cluster != "" {
		tags["cluster"] = c.Cluster
	}
	caps := maps.Clone(c.ProtocolAggCfg)
	schema := aggregate.SchemaProtocols
	if c.RecordSchema == config.SchemaL4L7 {
		schema = aggregate.SchemaL4L7
	}
	host, _ := os.Hostname()
	return Options{
		L4Interval: c.FlushOutL4Interval, L7Interval: c.FlushOutL7Interval,
		Protocols: c.ProtocolSet(), Sampling: int32(c.Sampling), PID: int32(in.EBPF.Pid),
		DataBufferPages: int32(in.EBPF.DataBufferPages), TLSProbes: in.EBPF.TLSProbes,
		KernelAggregation: in.EBPF.KernelAggregation,
		DropUnixSocket:    c.DropUnixSocket, DropLocalConnections: c.DropLocalConnections, DropUnknownSocket: c.DropUnknownSocket,
		Aggregate: aggregate.Config{
			Schema: schema, Tags: tags, Caps: caps, Host: host,
			L4Interval: uint32(c.FlushOutL4Interval / time.Second), L7Interval: uint32(c.FlushOutL7Interval / time.Second),
		},
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
	Identities *container.Identities
	Netlink    *netlink.Sockets
	runtimes   container.Runtimes
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
	return &Metadata{Identities: container.NewIdentities(procfs, runtimes), Netlink: nl, runtimes: runtimes}, nil
}

// Apply makes opts use m.
func (m *Metadata) Apply(opts *Options) {
	opts.Identities, opts.Netlink = m.Identities, m.Netlink
}

// Close releases the runtime clients and the netlink sockets.
func (m *Metadata) Close() error {
	return errors.Join(m.runtimes.Close(), m.Netlink.Close())
}
