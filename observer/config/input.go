package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/netobserver/netobserver/abi"
)

// DefaultInput returns the input configuration of an input with no keys: iLogtail's real
// defaults (its code's, where its documentation differs).
func DefaultInput() Input {
	return Input{
		EBPF: EBPF{Enabled: false, Pid: -1, DataBufferPages: 512, TLSProbes: true},
		Common: Common{
			FlushOutL4Interval:   60 * time.Second,
			FlushOutL7Interval:   15 * time.Second,
			FlushMetaInterval:    30 * time.Second,
			FlushNetlinkInterval: 10 * time.Second,
			Sampling:             100,
			ProtocolProcess:      true,
			DropUnixSocket:       true,
			DropLocalConnections: true,
			DropUnknownSocket:    true,
			ProtocolAggCfg:       defaultAggCfg(),
			RecordSchema:         SchemaProtocols,
			MaskCmdSecrets:       true,
		},
	}
}

// allProtocols lists the protocols config names can name, in ABI order.
var allProtocols = abi.Protocols()

var protocolNames = func() string {
	var names []string
	for _, p := range allProtocols {
		names = append(names, p.String())
	}
	return strings.Join(names, ", ")
}()

func defaultAggCfg() map[abi.Protocol]AggCap {
	m := make(map[abi.Protocol]AggCap, len(allProtocols))
	for _, p := range allProtocols {
		m[p] = defaultAggCap
	}
	return m
}

// unsupportedInput are observer keys of iLogtail that netobserver does not implement.
var unsupportedInput = map[string]string{
	"PCAP": "capture is eBPF only",
}

var unsupportedCommon = map[string]string{
	"SaveToDisk": "iLogtail's local debugging dump",
}

// input decodes the observer's detail: the input entry itself (YAML form, its Type skipped) or
// its "detail" object.
func (d *decoder) input(v *value, path string) (*Input, error) {
	in := DefaultInput()
	enabledLine := v.line // of EBPF.Enabled when given, else of the input
	err := d.object(v, path, []field{
		{"EBPF", func(v *value, path string) error {
			enabledLine = v.line
			return d.object(v, path, []field{
				{"Enabled", func(v *value, path string) (err error) {
					enabledLine = v.line
					in.EBPF.Enabled, err = d.boolean(v, path)
					return err
				}},
				{"Pid", func(v *value, path string) (err error) {
					in.EBPF.Pid, err = d.integer(v, path)
					if err == nil && (in.EBPF.Pid < -1 || in.EBPF.Pid == 0) {
						err = d.errorf(v, path, "%d is not a process id (use -1 for every process)", in.EBPF.Pid)
					}
					return err
				}},
				{"DataBufferPages", func(v *value, path string) (err error) {
					p, err := d.integer(v, path)
					if err == nil && (p < 1 || p > 1<<16 || p&(p-1) != 0) {
						err = d.errorf(v, path, "%d is not a power of two from 1 to 65536", p)
					}
					in.EBPF.DataBufferPages = p
					return err
				}},
				{"TLSProbes", func(v *value, path string) (err error) {
					in.EBPF.TLSProbes, err = d.boolean(v, path)
					return err
				}},
				{"KernelAggregation", func(v *value, path string) (err error) {
					in.EBPF.KernelAggregation, err = d.protocols(v, path, kernelAggregable)
					return err
				}},
			}, false, nil)
		}},
		{"Common", func(v *value, path string) error { return d.common(&in.Common, v, path) }},
	}, false, unsupportedInput, "Type")
	if err != nil {
		return nil, err
	}
	if !in.EBPF.Enabled {
		d.warnf(enabledLine, join(path, "EBPF")+".Enabled", "false: nothing is captured (iLogtail did not start the observer either: \"both ebpf and pcap are not enabled\")")
	}
	return &in, nil
}

// common decodes the Common section into c, which holds the defaults.
func (d *decoder) common(c *Common, v *value, path string) error {
	interval := func(dst *time.Duration) func(*value, string) error {
		return func(v *value, path string) error {
			n, err := d.positive(v, path, "number of seconds")
			*dst = time.Duration(n) * time.Second
			return err
		}
	}
	regexMap := func(dst *map[string]*regexp.Regexp) func(*value, string) error {
		return func(v *value, path string) error {
			m, err := d.regexMap(v, path)
			*dst = m
			return err
		}
	}
	regex := func(dst **regexp.Regexp) func(*value, string) error {
		return func(v *value, path string) (err error) {
			*dst, err = d.regex(v, path)
			return err
		}
	}
	var (
		includeV *value
		aggV     *value
		aggPath  string
	)
	err := d.object(v, path, []field{
		{"FlushOutL4Interval", interval(&c.FlushOutL4Interval)},
		{"FlushOutL7Interval", interval(&c.FlushOutL7Interval)},
		{"FlushMetaInterval", interval(&c.FlushMetaInterval)},
		{"FlushNetlinkInterval", interval(&c.FlushNetlinkInterval)},
		{"Sampling", func(v *value, path string) (err error) {
			c.Sampling, err = d.integer(v, path)
			if err == nil && (c.Sampling < 0 || c.Sampling > 100) {
				err = d.errorf(v, path, "%d is outside 0..100", c.Sampling)
			}
			return err
		}},
		{"ProtocolProcess", d.setBool(&c.ProtocolProcess)},
		{"IncludeProtocols", func(v *value, path string) (err error) {
			includeV = v
			c.IncludeProtocols, err = d.protocols(v, path, nil)
			return err
		}},
		{"DropUnixSocket", d.setBool(&c.DropUnixSocket)},
		{"DropLocalConnections", d.setBool(&c.DropLocalConnections)},
		{"DropUnknownSocket", d.setBool(&c.DropUnknownSocket)},
		{"Tags", func(v *value, path string) (err error) {
			c.Tags, err = d.tags(v, path)
			return err
		}},
		{"Cluster", d.setString(&c.Cluster)},
		{"IncludeContainerLabels", regexMap(&c.IncludeContainerLabels)},
		{"ExcludeContainerLabels", regexMap(&c.ExcludeContainerLabels)},
		{"IncludeK8sLabels", regexMap(&c.IncludeK8sLabels)},
		{"ExcludeK8sLabels", regexMap(&c.ExcludeK8sLabels)},
		{"IncludeEnvs", regexMap(&c.IncludeEnvs)},
		{"ExcludeEnvs", regexMap(&c.ExcludeEnvs)},
		{"IncludeCmdRegex", regex(&c.IncludeCmdRegex)},
		{"ExcludeCmdRegex", regex(&c.ExcludeCmdRegex)},
		{"IncludeContainerNameRegex", regex(&c.IncludeContainerNameRegex)},
		{"ExcludeContainerNameRegex", regex(&c.ExcludeContainerNameRegex)},
		{"IncludePodNameRegex", regex(&c.IncludePodNameRegex)},
		{"ExcludePodNameRegex", regex(&c.ExcludePodNameRegex)},
		{"IncludeNamespaceNameRegex", regex(&c.IncludeNamespaceNameRegex)},
		{"ExcludeNamespaceNameRegex", regex(&c.ExcludeNamespaceNameRegex)},
		{"ProtocolAggCfg", func(v *value, path string) error {
			aggV, aggPath = v, path
			return d.aggCfg(c.ProtocolAggCfg, v, path)
		}},
		{"RecordSchema", func(v *value, path string) error {
			s, err := d.str(v, path)
			if err != nil {
				return err
			}
			switch strings.ToLower(s) {
			case string(SchemaProtocols):
				c.RecordSchema = SchemaProtocols
			case string(SchemaL4L7):
				c.RecordSchema = SchemaL4L7
			default:
				return d.errorf(v, path, "%q is not a record schema: use protocols (records protocols, statistics) or l4_l7 (records l4, l7_req, l7_db)", s)
			}
			return nil
		}},
		{"MaskCmdSecrets", d.setBool(&c.MaskCmdSecrets)},
	}, false, unsupportedCommon)
	if err != nil {
		return err
	}

	// Settings that load but do nothing: say so.
	if includeV != nil {
		switch {
		case !c.ProtocolProcess && includeV.kind != kindNull:
			d.warnf(includeV.line, join(path, "IncludeProtocols"), "no effect: ProtocolProcess is false, so no protocol is parsed")
		case includeV.kind == kindList && len(includeV.items) == 0:
			d.warnf(includeV.line, join(path, "IncludeProtocols"), "empty: every protocol is parsed (iLogtail parsed none; set ProtocolProcess: false for that)")
		}
	}
	if aggV != nil && c.ProtocolProcess && len(c.IncludeProtocols) > 0 {
		for _, e := range aggV.entries {
			p, _ := abi.ParseProtocol(e.key)
			if !containsProtocol(c.IncludeProtocols, p) {
				d.warnf(e.line, join(aggPath, e.key), "no effect: %s is not in IncludeProtocols", p)
			}
		}
	}
	return nil
}

func containsProtocol(ps []abi.Protocol, p abi.Protocol) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// protocol reads a protocol name (case-insensitive).
func (d *decoder) protocol(v *value, path, name string) (abi.Protocol, error) {
	p, ok := abi.ParseProtocol(name)
	if !ok {
		return 0, d.errorf(v, path, "unknown protocol %q (known: %s)", name, protocolNames)
	}
	return p, nil
}

// protocols reads a list of protocol names (IncludeProtocols, EBPF.KernelAggregation),
// deduplicated in order. refuse, when not nil, says why a protocol is not taken ("": taken).
func (d *decoder) protocols(v *value, path string, refuse func(abi.Protocol) string) ([]abi.Protocol, error) {
	items, err := d.list(v, path)
	if err != nil {
		return nil, err
	}
	var ps []abi.Protocol
	for i, item := range items {
		ip := index(path, i)
		name, err := d.str(item, ip)
		if err != nil {
			return nil, err
		}
		p, err := d.protocol(item, ip, name)
		if err != nil {
			return nil, err
		}
		if refuse != nil {
			if why := refuse(p); why != "" {
				return nil, d.errorf(item, ip, "%s", why)
			}
		}
		if !containsProtocol(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps, nil
}

// kernelAggregable refuses, for EBPF.KernelAggregation, the protocols the kernel cannot
// aggregate (all but HTTP/1.x and Redis so far).
func kernelAggregable(p abi.Protocol) string {
	if p != abi.ProtoHTTP && p != abi.ProtoRedis {
		return fmt.Sprintf("%s cannot be aggregated in the kernel (only http and redis can)", p)
	}
	return ""
}

// tags reads Tags: string values, as iLogtail's GetStringValue required.
func (d *decoder) tags(v *value, path string) (map[string]string, error) {
	entries, err := d.mapping(v, path)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	for _, e := range entries {
		kp := join(path, e.key)
		s, err := d.str(e.val, kp)
		if err != nil {
			return nil, err
		}
		if e.key == "" {
			d.warnf(e.line, kp, "empty tag name, ignored (as iLogtail did)")
			continue
		}
		if m == nil {
			m = make(map[string]string)
		}
		m[e.key] = s
	}
	return m, nil
}

// regexMap reads a key→regex map. A value may be any scalar (iLogtail took asString() of it);
// its text as written is the regex. An empty or null value matches any value.
func (d *decoder) regexMap(v *value, path string) (map[string]*regexp.Regexp, error) {
	entries, err := d.mapping(v, path)
	if err != nil {
		return nil, err
	}
	var m map[string]*regexp.Regexp
	for _, e := range entries {
		kp := join(path, e.key)
		var expr string
		switch e.val.kind {
		case kindNull:
		case kindString, kindInt, kindFloat, kindBool:
			expr = e.val.text
		default:
			return nil, d.typeError(e.val, kp, "a regex (a string)")
		}
		if expr == "" {
			expr = "(?s:.*)"
		}
		re, err := d.compileFull(e.val, kp, expr)
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = make(map[string]*regexp.Regexp)
		}
		m[e.key] = re
	}
	return m, nil
}

// aggCfg reads ProtocolAggCfg into caps (which holds the defaults): protocol name →
// {ClientSize, ServerSize}.
func (d *decoder) aggCfg(caps map[abi.Protocol]AggCap, v *value, path string) error {
	entries, err := d.mapping(v, path)
	if err != nil {
		return err
	}
	seen := make(map[abi.Protocol]entry)
	for _, e := range entries {
		kp := join(path, e.key)
		p, err := d.protocol(&value{line: e.line}, kp, e.key)
		if err != nil {
			return err
		}
		if prev, dup := seen[p]; dup {
			return d.errorf(e.val, kp, "%s appears twice (as %s on line %d and %s on line %d; protocol names are case-insensitive)", p, prev.key, prev.line, e.key, e.line)
		}
		seen[p] = e
		cp := defaultAggCap
		err = d.object(e.val, kp, []field{
			{"ClientSize", func(v *value, path string) (err error) {
				cp.ClientSize, err = d.nonNegative(v, path)
				return err
			}},
			{"ServerSize", func(v *value, path string) (err error) {
				cp.ServerSize, err = d.nonNegative(v, path)
				return err
			}},
		}, false, nil)
		if err != nil {
			return err
		}
		caps[p] = cp
	}
	return nil
}
