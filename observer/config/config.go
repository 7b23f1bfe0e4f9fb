package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/aggregate"
)

// InputType is the only input type a pipeline may have.
const InputType = "observer_ilogtail_network_v1"

// ProcessorDefault is the identity processor, the only processor type accepted.
const ProcessorDefault = "processor_default"

// Pipeline is one iLogtail pipeline file: one network observer input, identity processors, and
// the flushers its records go to.
type Pipeline struct {
	// Name is iLogtail's config name, "config#" followed by the file's path as given to Load; the
	// stdout flusher prints it in every line.
	Name string
	// Enabled is the file's `enable` (default true). iLogtail skipped a disabled pipeline; what to
	// do with one is the caller's decision.
	Enabled bool
	// Input is the observer's configuration.
	Input Input
	// Processors holds the processor types in file order; each is ProcessorDefault.
	Processors []string
	// Flushers holds at least one flusher, in file order, each decoded by its registered type.
	Flushers []Flusher
}

// Input is the configuration of observer_ilogtail_network_v1.
type Input struct {
	// EBPF is the capture source.
	EBPF EBPF
	// Common is everything else: intervals, filters, protocols, tags, caps, record schema.
	Common Common
}

// EBPF configures capture through libebpf.so.
type EBPF struct {
	// Enabled (EBPF.Enabled, default false) captures with libebpf.so. iLogtail's documentation
	// says the default is on; its code says off, and with it off (and PCAP, which we do not
	// have, off) the observer does not start. Load warns when it is false.
	Enabled bool
	// Pid (EBPF.Pid, default -1) restricts capture to one process (the kernel's TGID filter);
	// -1 is every process.
	Pid int
	// DataBufferPages (EBPF.DataBufferPages, ours, default 512 as iLogtail set it) is the size,
	// in pages, of each CPU's buffer of data events (PERF_BUFFER_PAGE for DATA_HAND): a power of
	// two from 1 to 65536. Smaller buffers lose events sooner; the accuracy tier uses a tiny one to
	// force kernel loss.
	DataBufferPages int
	// TLSProbes (EBPF.TLSProbes, ours, default true) attaches uprobes to the TLS libraries the
	// processes use (OpenSSL's libssl), so that TLS connections are parsed from their plaintext.
	// Needs our libebpf.so (its uprobe extension); with Alibaba's library it does nothing.
	TLSProbes bool
	// KernelAggregation (EBPF.KernelAggregation, ours, default empty: off) lists the protocols
	// whose simple calls the kernel counts per key instead of sending their data (http,
	// HTTP/1.x without pipelining, and redis, one RESP command per request without pipelining;
	// the rest of the traffic is captured as before). Records stay
	// the same, except the latency percentiles of the keys it counted (README). Needs our
	// libebpf.so with its tp_btf hook set: otherwise the observer does not start.
	KernelAggregation []abi.Protocol
}

// Common is the observer's Common section.
type Common struct {
	// FlushOutL4Interval is how often L4 records (statistics / l4) are written
	// (Common.FlushOutL4Interval, seconds, default 60 — iLogtail's documentation says 15).
	FlushOutL4Interval time.Duration
	// FlushOutL7Interval is how often L7 records (protocols / l7_req, l7_db) are written
	// (Common.FlushOutL7Interval, seconds, default 15 — iLogtail's documentation says 60).
	FlushOutL7Interval time.Duration
	// FlushMetaInterval is how often process and container metadata is refreshed
	// (Common.FlushMetaInterval, seconds, default 30).
	FlushMetaInterval time.Duration
	// FlushNetlinkInterval is how long sock_diag answers are cached
	// (Common.FlushNetlinkInterval, seconds, default 10).
	FlushNetlinkInterval time.Duration
	// Sampling is the percentage of connections whose data the kernel side samples
	// (Common.Sampling, 0..100, default 100).
	Sampling int
	// ProtocolProcess (default true) parses L7 data; false keeps L4 records only and switches
	// data events off in the kernel.
	ProtocolProcess bool
	// IncludeProtocols lists the protocols to parse, deduplicated, in file order; empty means
	// every protocol. Names are case-insensitive, as in iLogtail. See ProtocolSet.
	IncludeProtocols []abi.Protocol
	// DropUnixSocket (default true) drops AF_UNIX traffic.
	DropUnixSocket bool
	// DropLocalConnections (default true) drops connections to 0.0.0.0, 127.0.0.1, ::, ::1
	// and ::ffff:127.0.0.1.
	DropLocalConnections bool
	// DropUnknownSocket (default true) drops sockets whose family stays unknown.
	DropUnknownSocket bool
	// Tags are added to every record as "__tag__:<key>"; nil when there are none. Values must
	// be strings, as iLogtail required; entries with an empty key are skipped, as iLogtail did.
	Tags map[string]string
	// Cluster (default "") adds "__tag__:cluster" to every record when not empty.
	Cluster string

	// The label and env filters map a key to a regex that must match the whole value. An empty
	// regex matches any value, so the entry tests that the key exists: iLogtail dropped such
	// entries, but it only ever tested key presence (its values arrived empty), so this keeps
	// what its filters did. nil when not configured.

	// IncludeContainerLabels selects containers by label (not K8s labels); any entry matching suffices.
	IncludeContainerLabels map[string]*regexp.Regexp
	// ExcludeContainerLabels excludes containers by label; any entry matching suffices.
	ExcludeContainerLabels map[string]*regexp.Regexp
	// IncludeK8sLabels selects pods by label; any entry matching suffices.
	IncludeK8sLabels map[string]*regexp.Regexp
	// ExcludeK8sLabels excludes pods by label; any entry matching suffices.
	ExcludeK8sLabels map[string]*regexp.Regexp
	// IncludeEnvs selects containers by environment variable; any entry matching suffices.
	IncludeEnvs map[string]*regexp.Regexp
	// ExcludeEnvs excludes containers by environment variable; any entry matching suffices.
	ExcludeEnvs map[string]*regexp.Regexp

	// The name filters are anchored regexes: each must match the whole text, as boost's
	// regex_match did in iLogtail (so "nginx" does not match "nginx: worker process"). nil when
	// the key is absent or empty. Go's regexp (RE2) has no backreferences or lookaround; a
	// regex using them is a config error naming the construct.

	// IncludeCmdRegex selects host processes by command (/proc/<pid>/cmdline, NULs as spaces,
	// only the first token unless it contains java or python).
	IncludeCmdRegex *regexp.Regexp
	// ExcludeCmdRegex excludes host processes by command.
	ExcludeCmdRegex *regexp.Regexp
	// IncludeContainerNameRegex selects containers by name.
	IncludeContainerNameRegex *regexp.Regexp
	// ExcludeContainerNameRegex excludes containers by name.
	ExcludeContainerNameRegex *regexp.Regexp
	// IncludePodNameRegex selects pods by name.
	IncludePodNameRegex *regexp.Regexp
	// ExcludePodNameRegex excludes pods by name.
	ExcludePodNameRegex *regexp.Regexp
	// IncludeNamespaceNameRegex selects pods by namespace.
	IncludeNamespaceNameRegex *regexp.Regexp
	// ExcludeNamespaceNameRegex excludes pods by namespace.
	ExcludeNamespaceNameRegex *regexp.Regexp

	// ProtocolAggCfg caps the aggregation keys per protocol and process group. It holds every
	// protocol: the configured ones with their caps, the others with aggregate.DefaultCap. Keys
	// of the config are protocol names (case-insensitive); a missing ClientSize or ServerSize
	// takes its default (iLogtail rejected the whole input instead).
	// A cap of 0 keeps no key: every call of that protocol and role is dropped and counted.
	ProtocolAggCfg map[abi.Protocol]AggCap

	// RecordSchema (Common.RecordSchema: protocols | l4_l7; default protocols) is netobserver's
	// own key: which records the observer writes. It sits in Common because Common is where
	// everything shaping records already lives (intervals, Tags, Cluster, caps), and its values
	// are named after the record types a user sees on a dashboard, so the choice reads plainly:
	// "protocols" writes `protocols` and `statistics` (schema A, the seed documentation's), and
	// "l4_l7" writes `l4`, `l7_req` and `l7_db` (schema B, what iLogtail 1.3 to 2.0 wrote).
	// iLogtail ignores the key, so a file using it still loads there. Values are case-insensitive.
	RecordSchema RecordSchema

	// MaskCmdSecrets (Common.MaskCmdSecrets, default true) is netobserver's own key: the values
	// of command-line arguments that look like secrets (--password x, -Dpassword=x, -pSECRET,
	// *secret*, *token*, key=x, user:pass@ in URLs) are masked in _process_cmd_ and schema B's
	// local_info (container.MaskSecrets has the exact rule). false shows iLogtail's text as is.
	// Commands are read once per process: a change takes effect at the next start. Cmd filters
	// (IncludeCmdRegex, ExcludeCmdRegex) match the command as shown.
	MaskCmdSecrets bool
}

// AggCap is the cap on aggregation keys of one protocol in one process group: the aggregator's
// own type, so that its default (iLogtail's: 500 client keys, 5000 server keys) is defined once,
// where it is enforced.
type AggCap = aggregate.Cap

// defaultAggCap is the cap of a protocol ProtocolAggCfg does not name.
var defaultAggCap = aggregate.DefaultCap

// RecordSchema names the set of records the observer writes; see Common.RecordSchema.
type RecordSchema string

// Record schemas.
const (
	// SchemaProtocols writes `protocols` and `statistics` records (schema A, the default).
	SchemaProtocols RecordSchema = "protocols"
	// SchemaL4L7 writes `l4`, `l7_req` and `l7_db` records (schema B, iLogtail 1.3–2.0).
	SchemaL4L7 RecordSchema = "l4_l7"
)

// ProtocolSet is the kernel-side data filter the configuration asks for: none when
// ProtocolProcess is false, every protocol when IncludeProtocols is empty, else those listed.
func (c *Common) ProtocolSet() abi.ProtocolSet {
	switch {
	case !c.ProtocolProcess:
		return abi.NoProtocols
	case len(c.IncludeProtocols) == 0:
		return abi.AllProtocols
	default:
		return abi.ProtocolsOf(c.IncludeProtocols...)
	}
}

// AggCap returns the aggregation cap of protocol p.
func (c *Common) AggCap(p abi.Protocol) AggCap {
	if cp, ok := c.ProtocolAggCfg[p]; ok {
		return cp
	}
	return defaultAggCap
}

// Error is a config error: the file, the key path (inputs[0].Common.Sampling), the line when
// known, and the problem. Error() is the one-line message "file: path: problem".
type Error struct {
	// File is the config file's path as given.
	File string
	// Path is the key path of the bad value; empty for errors about the whole file.
	Path string
	// Line is the 1-based line of the bad value, 0 when unknown.
	Line int
	// Msg says what is wrong.
	Msg string
	// Err is the underlying error (a file-system or regex error), if any.
	Err error
}

// Error returns "file: path: problem".
func (e *Error) Error() string {
	if e.Path == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Path + ": " + e.Msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Warning reports something the config asks for that is ignored: an unknown key, an iLogtail key
// netobserver does not support, or a setting with no effect.
type Warning struct {
	// File is the config file's path as given.
	File string
	// Path is the key path the warning is about.
	Path string
	// Line is the 1-based line of the key, 0 when unknown.
	Line int
	// Msg says what is ignored and why.
	Msg string
}

// String returns "file: path: message".
func (w Warning) String() string {
	if w.Path == "" {
		return w.File + ": " + w.Msg
	}
	return w.File + ": " + w.Path + ": " + w.Msg
}

// Load reads the pipeline file at path (YAML, or its JSON form) and returns the typed pipeline
// and the warnings about ignored keys. Errors are *Error; a file that cannot be read wraps the
// file-system error (errors.Is(err, fs.ErrNotExist) works).
func Load(path string) (*Pipeline, []Warning, error) {
	data, err := readFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, nil, &Error{File: path, Msg: "cannot read the config: " + pe.Err.Error(), Err: err}
		}
		return nil, nil, &Error{File: path, Msg: "cannot read the config: " + err.Error(), Err: err}
	}
	return Parse(path, data)
}

// readFile reads at most one byte more than MaxFileSize: enough for Parse to refuse it.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// Parse is Load on a file's content; path names it in Pipeline.Name and in errors and warnings.
func Parse(path string, data []byte) (*Pipeline, []Warning, error) {
	d := &decoder{file: path}
	root, err := d.parse(data)
	if err != nil {
		return nil, nil, err
	}
	p, err := d.pipeline(root)
	if err != nil {
		return nil, nil, err
	}
	p.Name = "config#" + path
	return p, d.warnings, nil
}

// ParseInputDetail reads the input's own configuration, the object iLogtail hands a plugin as
// "detail" ({"EBPF": …, "Common": …}), for the iLogtail plugin adapter. source names it in errors
// and warnings (the config name, for instance).
func ParseInputDetail(source string, detail []byte) (*Input, []Warning, error) {
	d := &decoder{file: source}
	root, err := d.parse(detail)
	if err != nil {
		return nil, nil, err
	}
	in, err := d.input(root, "")
	if err != nil {
		return nil, nil, err
	}
	return in, d.warnings, nil
}

// String returns the schema's config spelling.
func (s RecordSchema) String() string { return string(s) }

// errorf builds an *Error about value v at path.
func (d *decoder) errorf(v *value, path, format string, args ...any) error {
	line := 0
	if v != nil {
		line = v.line
	}
	return &Error{File: d.file, Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// warnf records a warning about path at line.
func (d *decoder) warnf(line int, path, format string, args ...any) {
	d.warnings = append(d.warnings, Warning{File: d.file, Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}
