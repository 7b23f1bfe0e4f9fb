package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite ERRORS.md from the table of bad configs")

// repoConfig is the path of a file in the repository's testdata/config.
func repoConfig(name string) string { return filepath.Join("..", "..", "testdata", "config", name) }

// seed is the pipeline of the seed example config: its two intervals and EBPF.Enabled, every
// other value iLogtail's real default, without its flusher_stdout: flushers' keys belong to their
// packages (flushers_test.go).
func seed(name string) *Pipeline {
	in := DefaultInput()
	in.EBPF.Enabled = true
	in.Common.FlushOutL4Interval = 5 * time.Second
	in.Common.FlushOutL7Interval = 5 * time.Second
	return &Pipeline{
		Name:       "config#" + name,
		Enabled:    true,
		Input:      in,
		Processors: []string{ProcessorDefault},
	}
}

// inputOnly is p without its flushers, after checking their types.
func inputOnly(t *testing.T, p *Pipeline, types ...string) *Pipeline {
	t.Helper()
	require.NotNil(t, p)
	assert.Equal(t, types, typesOf(p))
	q := *p
	q.Flushers = nil
	return &q
}

func TestSeedExample(t *testing.T) {
	path := repoConfig("example.yaml")
	p, warnings, err := Load(path)
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Equal(t, seed(path), inputOnly(t, p, "flusher_stdout"))

	// The defaults spelled out, so that a change to DefaultInput cannot pass unnoticed.
	c := p.Input.Common
	assert.Equal(t, "config#"+path, p.Name)
	assert.True(t, p.Enabled)
	assert.Equal(t, EBPF{Enabled: true, Pid: -1, DataBufferPages: 512, TLSProbes: true}, p.Input.EBPF)
	assert.Equal(t, 5*time.Second, c.FlushOutL4Interval)
	assert.Equal(t, 5*time.Second, c.FlushOutL7Interval)
	assert.Equal(t, 30*time.Second, c.FlushMetaInterval)
	assert.Equal(t, 10*time.Second, c.FlushNetlinkInterval)
	assert.Equal(t, 100, c.Sampling)
	assert.True(t, c.ProtocolProcess)
	assert.Nil(t, c.IncludeProtocols)
	assert.Equal(t, abi.AllProtocols, c.ProtocolSet())
	assert.True(t, c.DropUnixSocket)
	assert.True(t, c.DropLocalConnections)
	assert.True(t, c.DropUnknownSocket)
	assert.True(t, c.MaskCmdSecrets)
	assert.Nil(t, c.Tags)
	assert.Empty(t, c.Cluster)
	for _, m := range []map[string]*regexp.Regexp{c.IncludeContainerLabels, c.ExcludeContainerLabels,
		c.IncludeK8sLabels, c.ExcludeK8sLabels, c.IncludeEnvs, c.ExcludeEnvs} {
		assert.Nil(t, m)
	}
	for _, re := range []*regexp.Regexp{c.IncludeCmdRegex, c.ExcludeCmdRegex, c.IncludeContainerNameRegex,
		c.ExcludeContainerNameRegex, c.IncludePodNameRegex, c.ExcludePodNameRegex,
		c.IncludeNamespaceNameRegex, c.ExcludeNamespaceNameRegex} {
		assert.Nil(t, re)
	}
	assert.Len(t, c.ProtocolAggCfg, len(abi.Protocols()))
	for _, p := range abi.Protocols() {
		assert.Equal(t, AggCap{ClientSize: 500, ServerSize: 5000}, c.AggCap(p), p.String())
	}
	assert.Equal(t, SchemaProtocols, c.RecordSchema)
}

// The file make run uses must stay the seed documentation's YAML, byte for byte.
func TestSeedExampleIsTheDocumentedYAML(t *testing.T) {
	got, err := os.ReadFile(repoConfig("example.yaml"))
	require.NoError(t, err)
	const want = "enable: true\ninputs:\n  - Type: observer_ilogtail_network_v1\n    Common:\n" +
		"      FlushOutL4Interval: 5\n      FlushOutL7Interval: 5\n    EBPF:\n      Enabled: true\n" +
		"processors:\n  - Type: processor_default\nflushers:\n  - Type: flusher_stdout\n"
	assert.Equal(t, want, string(got))
}

// The JSON form and iLogtail's converted {type, detail} form read as the YAML does.
func TestSeedExampleForms(t *testing.T) {
	for _, name := range []string{"example.json", "example-converted.json"} {
		t.Run(name, func(t *testing.T) {
			path := repoConfig(name)
			p, warnings, err := Load(path)
			require.NoError(t, err)
			assert.Empty(t, warnings)
			assert.Equal(t, seed(path), inputOnly(t, p, "flusher_stdout"))
		})
	}
}

// full.yaml sets every key to a value other than its default.
func TestEveryKey(t *testing.T) {
	path := repoConfig("full.yaml")
	p, warnings, err := Load(path)
	require.NoError(t, err)
	assert.Empty(t, warnings)

	assert.False(t, p.Enabled)
	assert.Equal(t, []string{ProcessorDefault, ProcessorDefault}, p.Processors)
	assert.Equal(t, EBPF{Enabled: true, Pid: 4242, DataBufferPages: 64, KernelAggregation: []abi.Protocol{abi.ProtoHTTP}}, p.Input.EBPF)
	c := p.Input.Common
	assert.Equal(t, 20*time.Second, c.FlushOutL4Interval)
	assert.Equal(t, 7*time.Second, c.FlushOutL7Interval)
	assert.Equal(t, 45*time.Second, c.FlushMetaInterval)
	assert.Equal(t, 3*time.Second, c.FlushNetlinkInterval)
	assert.Equal(t, 25, c.Sampling)
	assert.True(t, c.ProtocolProcess)
	assert.Equal(t, []abi.Protocol{abi.ProtoHTTP, abi.ProtoMySQL, abi.ProtoRedis,
		abi.ProtoDNS, abi.ProtoPGSQL}, c.IncludeProtocols)
	assert.Equal(t, abi.ProtocolsOf(abi.ProtoHTTP, abi.ProtoMySQL, abi.ProtoRedis,
		abi.ProtoDNS, abi.ProtoPGSQL), c.ProtocolSet())
	assert.False(t, c.DropUnixSocket)
	assert.False(t, c.DropLocalConnections)
	assert.False(t, c.DropUnknownSocket)
	assert.Equal(t, map[string]string{"env": "prod", "app.kubernetes.io/name": "shop"}, c.Tags)
	assert.Equal(t, "c1", c.Cluster)

	exprs := func(m map[string]*regexp.Regexp) map[string]string {
		out := map[string]string{}
		for k, re := range m {
			out[k] = re.String()
		}
		return out
	}
	assert.Equal(t, map[string]string{"team": "^(?:pay|ship)$"}, exprs(c.IncludeContainerLabels))
	assert.Equal(t, map[string]string{"tier": "^(?:debug)$"}, exprs(c.ExcludeContainerLabels))
	assert.Equal(t, map[string]string{"app.kubernetes.io/name": "^(?:shop-.*)$", "canary": "^(?:(?s:.*))$"}, exprs(c.IncludeK8sLabels))
	assert.Equal(t, map[string]string{"skip": "^(?:yes)$"}, exprs(c.ExcludeK8sLabels))
	assert.Equal(t, map[string]string{"LANG": "^(?:en_.*)$"}, exprs(c.IncludeEnvs))
	assert.Equal(t, map[string]string{"DEBUG": "^(?:1)$"}, exprs(c.ExcludeEnvs))
	for re, want := range map[*regexp.Regexp]string{
		c.IncludeCmdRegex:           `(nginx|redis-server)`,
		c.ExcludeCmdRegex:           `.*test.*`,
		c.IncludeContainerNameRegex: `web-\d+`,
		c.ExcludeContainerNameRegex: `sidecar`,
		c.IncludePodNameRegex:       `shop-.*`,
		c.ExcludePodNameRegex:       `shop-canary-.*`,
		c.IncludeNamespaceNameRegex: `prod|staging`,
		c.ExcludeNamespaceNameRegex: `kube-system`,
	} {
		require.NotNil(t, re, want)
		assert.Equal(t, "^(?:"+want+")$", re.String())
	}
	assert.Equal(t, AggCap{ClientSize: 100, ServerSize: 200}, c.AggCap(abi.ProtoHTTP))
	assert.Equal(t, AggCap{ClientSize: 0, ServerSize: 5000}, c.AggCap(abi.ProtoMySQL))
	assert.Equal(t, defaultAggCap, c.AggCap(abi.ProtoRedis))
	assert.Equal(t, SchemaL4L7, c.RecordSchema)

	assert.Equal(t, []string{"flusher_stdout", "flusher_kafka", "flusher_jsonl"}, typesOf(p), "their keys: flushers_test.go")
}

// Every bad config gives exactly its error, and ERRORS.md shows exactly these.
func TestErrors(t *testing.T) {
	for _, c := range badConfigs {
		t.Run(c.name, func(t *testing.T) {
			p, warnings, err := Parse("demo.yaml", []byte(c.yaml))
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Nil(t, warnings)
			assert.Equal(t, c.err, err.Error())
			var ce *Error
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, "demo.yaml", ce.File)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// The line of an error is the line of the bad value.
func TestErrorLine(t *testing.T) {
	_, _, err := Parse("demo.yaml", []byte(head+"      Sampling: 150\n"+tail))
	var ce *Error
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, 6, ce.Line)
	assert.Equal(t, "inputs[0].Common.Sampling", ce.Path)
}

func TestFileErrors(t *testing.T) {
	t.Chdir(t.TempDir())

	_, _, err := Load("demo.yaml")
	require.Error(t, err)
	assert.Equal(t, "demo.yaml: cannot read the config: no such file or directory", err.Error())
	assert.True(t, errors.Is(err, fs.ErrNotExist))

	require.NoError(t, os.Mkdir("dir.yaml", 0o755))
	_, _, err = Load("dir.yaml")
	require.Error(t, err)
	assert.Equal(t, "dir.yaml: cannot read the config: is a directory", err.Error())

	require.NoError(t, os.WriteFile("secret.yaml", []byte("enable: true\n"), 0o000))
	if os.Geteuid() == 0 {
		t.Log("running as root: a mode-000 file is readable, permission denied not exercised")
	} else {
		_, _, err = Load("secret.yaml")
		require.Error(t, err)
		assert.Equal(t, "secret.yaml: cannot read the config: permission denied", err.Error())
		assert.True(t, errors.Is(err, fs.ErrPermission))
	}
}

func TestWarnings(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", "enabled: true\n" + head + tail,
			[]string{"demo.yaml: enabled: unknown key, ignored; did you mean enable?"}},
		{"unsupported iLogtail section", "global:\n  DefaultLogQueueSize: 10\n" + head + tail,
			[]string{"demo.yaml: global: not supported by netobserver (netobserver has no global settings), ignored"}},
		{"unknown Common key", head + "      Samplng: 10\n" + tail,
			[]string{"demo.yaml: inputs[0].Common.Samplng: unknown key, ignored; did you mean Sampling?"}},
		{"wrong case in Common", head + "      sampling: 10\n" + tail,
			[]string{"demo.yaml: inputs[0].Common.sampling: unknown key, ignored; did you mean Sampling? (keys are case-sensitive, as in iLogtail)"}},
		{"wrong case of a section", "inputs:\n  - Type: observer_ilogtail_network_v1\n    EBPF: {Enabled: true}\n    common:\n      Sampling: 10\n" + tail,
			[]string{"demo.yaml: inputs[0].common: unknown key, ignored; did you mean Common? (keys are case-sensitive, as in iLogtail)"}},
		{"PCAP", "inputs:\n  - Type: observer_ilogtail_network_v1\n    EBPF: {Enabled: true}\n    PCAP: {Enabled: true}\n" + tail,
			[]string{"demo.yaml: inputs[0].PCAP: not supported by netobserver (capture is eBPF only), ignored"}},
		{"SaveToDisk", head + "      SaveToDisk: true\n" + tail,
			[]string{"demo.yaml: inputs[0].Common.SaveToDisk: not supported by netobserver (iLogtail's local debugging dump), ignored"}},
		{"EBPF disabled", "inputs:\n  - Type: observer_ilogtail_network_v1\n" + tail,
			[]string{"demo.yaml: inputs[0].EBPF.Enabled: false: nothing is captured (iLogtail did not start the observer either: \"both ebpf and pcap are not enabled\")"}},
		{"unknown key in an AggCfg entry", head + "      ProtocolAggCfg:\n        http: {ClientSize: 1, Size: 2}\n" + tail,
			[]string{"demo.yaml: inputs[0].Common.ProtocolAggCfg.http.Size: unknown key, ignored"}},
		{"IncludeProtocols without ProtocolProcess", head + "      ProtocolProcess: false\n      IncludeProtocols: [http]\n" + tail,
			[]string{"demo.yaml: inputs[0].Common.IncludeProtocols: no effect: ProtocolProcess is false, so no protocol is parsed"}},
		{"empty IncludeProtocols", head + "      IncludeProtocols: []\n" + tail,
			[]string{"demo.yaml: inputs[0].Common.IncludeProtocols: empty: every protocol is parsed (iLogtail parsed none; set ProtocolProcess: false for that)"}},
		{"cap of a protocol not included", head + "      IncludeProtocols: [http]\n      ProtocolAggCfg:\n        redis: {ClientSize: 1}\n" + tail,
			[]string{"demo.yaml: inputs[0].Common.ProtocolAggCfg.redis: no effect: redis is not in IncludeProtocols"}},
		{"empty tag name", head + "      Tags: {\"\": x, a: b}\n" + tail,
			[]string{`demo.yaml: inputs[0].Common.Tags[""]: empty tag name, ignored (as iLogtail did)`}},
		{"unknown flusher key", head + "flushers:\n  - Type: flusher_stdout\n    Colour: true\n",
			[]string{"demo.yaml: flushers[0].Colour: unknown key, ignored"}},
		{"misspelt flusher key", head + "flushers:\n  - Type: flusher_kafka\n    Brokers: [\"k:9092\"]\n    Topic: t\n    Compresion: gzip\n",
			[]string{"demo.yaml: flushers[0].Compresion: unknown key, ignored; did you mean Compression?"}},
		{"unsupported kafka keys", head + "flushers:\n  - Type: flusher_kafka\n    Brokers: [\"k:9092\"]\n    Topic: t\n    SASLUsername: u\n    PartitionerType: hash\n    Version: 2.8.0\n",
			[]string{
				"demo.yaml: flushers[0].SASLUsername: not supported by netobserver (no authentication yet; the brokers must accept unauthenticated clients), ignored",
				"demo.yaml: flushers[0].PartitionerType: not supported by netobserver (messages are spread over partitions by the client's default partitioner), ignored",
				"demo.yaml: flushers[0].Version: not supported by netobserver (the client's defaults are used), ignored",
			}},
		{"FileName with OnlyStdout", head + "flushers:\n  - Type: flusher_stdout\n    OnlyStdout: true\n    FileName: x.log\n",
			[]string{"demo.yaml: flushers[0].FileName: ignored: OnlyStdout is true (as in iLogtail)"}},
		{"processor keys", head + "processors:\n  - Type: processor_default\n    SourceKey: content\n" + tail,
			[]string{"demo.yaml: processors[0].SourceKey: unknown key, ignored"}},
		{"converted form extra key", "inputs:\n  - type: observer_ilogtail_network_v1\n    detail: {EBPF: {Enabled: true}}\n    Common: {}\n" + tail,
			[]string{"demo.yaml: inputs[0].Common: unknown key, ignored (in the {type, detail} form every setting goes in detail)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, warnings, err := Parse("demo.yaml", []byte(c.yaml))
			require.NoError(t, err)
			require.NotNil(t, p)
			var got []string
			for _, w := range warnings {
				got = append(got, w.String())
			}
			assert.Equal(t, c.want, got)
		})
	}
}

func TestWarningLine(t *testing.T) {
	_, warnings, err := Parse("demo.yaml", []byte(head+"      Sampling: 10\n      Bogus: 1\n"+tail))
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	assert.Equal(t, Warning{File: "demo.yaml", Path: "inputs[0].Common.Bogus", Line: 7, Msg: "unknown key, ignored"}, warnings[0])
}

// Regexes match whole texts only, as boost::regex_match did.
func TestRegexFullMatch(t *testing.T) {
	p, _, err := Parse("demo.yaml", []byte(head+
		"      IncludeCmdRegex: nginx\n"+
		"      ExcludeCmdRegex: \"a|b\"\n"+
		"      IncludePodNameRegex: \"shop-.*\"\n"+
		"      IncludeK8sLabels:\n        app: web\n        canary: \"\"\n        tier:\n"+tail))
	require.NoError(t, err)
	c := p.Input.Common
	for _, m := range []struct {
		re    *regexp.Regexp
		text  string
		match bool
	}{
		{c.IncludeCmdRegex, "nginx", true},
		{c.IncludeCmdRegex, "nginx: worker process", false},
		{c.IncludeCmdRegex, "/usr/sbin/nginx", false},
		{c.IncludeCmdRegex, "xnginx", false},
		{c.IncludeCmdRegex, "nginx\n", false},
		{c.ExcludeCmdRegex, "a", true},
		{c.ExcludeCmdRegex, "b", true},
		{c.ExcludeCmdRegex, "ab", false}, // alternation is inside the anchors
		{c.IncludePodNameRegex, "shop-7d9f-x2x", true},
		{c.IncludePodNameRegex, "myshop-1", false},
		{c.IncludeK8sLabels["app"], "web", true},
		{c.IncludeK8sLabels["app"], "webapp", false},
		{c.IncludeK8sLabels["canary"], "", true}, // empty: the key's presence
		{c.IncludeK8sLabels["canary"], "true", true},
		{c.IncludeK8sLabels["tier"], "multi\nline", true},
	} {
		assert.Equal(t, m.match, m.re.MatchString(m.text), "%s on %q", m.re, m.text)
	}
}

// Unquoted scalars are typed as iLogtail's YAML→JSON conversion typed them.
func TestScalarTyping(t *testing.T) {
	for _, c := range []struct {
		src  string
		kind kind
	}{
		{"5", kindInt}, {"-5", kindInt}, {"+5", kindInt}, {"007", kindInt}, {"0x1F", kindInt}, {"0o17", kindInt},
		{"2147483647", kindInt}, {"2147483648", kindFloat},
		{"5.0", kindFloat}, {"1e3", kindFloat}, {".5", kindFloat}, {".inf", kindFloat}, {"-.Inf", kindFloat}, {".nan", kindFloat},
		{"true", kindBool}, {"True", kindBool}, {"TRUE", kindBool}, {"yes", kindBool}, {"on", kindBool}, {"y", kindBool},
		{"Off", kindBool}, {"N", kindBool}, {"no", kindBool},
		{"tRUE", kindString}, {"nginx", kindString}, {"1_000", kindString}, {"inf", kindString}, {"0x", kindString},
		{"~", kindNull}, {"null", kindNull}, {"", kindNull},
		{`"5"`, kindString}, {`'true'`, kindString}, {"!!str 5", kindString},
	} {
		var d decoder
		v, err := d.parse([]byte("k: " + c.src + "\n"))
		require.NoError(t, err, c.src)
		assert.Equal(t, c.kind, v.entries[0].val.kind, c.src)
	}
}

// Values that iLogtail accepted through its conversions load here too.
func TestLenientValues(t *testing.T) {
	p, warnings, err := Parse("demo.yaml", []byte("inputs:\n  - Type: observer_ilogtail_network_v1\n    EBPF:\n      Enabled: yes\n    Common:\n"+
		"      Sampling: 50.0\n      DropUnixSocket: off\n      IncludeProtocols: [Http, MYSQL]\n      RecordSchema: L4_L7\n"+
		"      ExcludeEnvs: {DEBUG: true, LEVEL: 3}\n"+tail))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	c := p.Input.Common
	assert.True(t, p.Input.EBPF.Enabled)
	assert.Equal(t, 50, c.Sampling)
	assert.False(t, c.DropUnixSocket)
	assert.Equal(t, []abi.Protocol{abi.ProtoHTTP, abi.ProtoMySQL}, c.IncludeProtocols)
	assert.Equal(t, SchemaL4L7, c.RecordSchema)
	assert.True(t, c.ExcludeEnvs["DEBUG"].MatchString("true"))
	assert.True(t, c.ExcludeEnvs["LEVEL"].MatchString("3"))
}

func TestNullSectionsAreAbsent(t *testing.T) {
	p, _, err := Parse("demo.yaml", []byte("inputs:\n  - Type: observer_ilogtail_network_v1\n    EBPF:\n    Common:\nprocessors:\n"+tail))
	require.NoError(t, err)
	assert.Equal(t, DefaultInput(), p.Input)
	assert.Nil(t, p.Processors)
}

// A YAML alias bomb (a few hundred bytes whose aliases expand to 9^9 strings) is refused after
// MaxValues values, having cost a bounded amount of memory; so is a file over MaxFileSize.
func TestAliasBombAndHugeFileRefused(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for c := 'b'; c <= 'i'; c++ {
		prev := "*" + string(c-1)
		fmt.Fprintf(&bomb, "%c: &%c [%s]\n", c, c, strings.Repeat(prev+",", 8)+prev)
	}
	bomb.WriteString(head + tail)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d := &decoder{file: "bomb.yaml"}
	_, err := d.parse([]byte(bomb.String()))
	runtime.ReadMemStats(&after)
	assert.EqualError(t, err, "bomb.yaml: the file expands to more than 100000 values (YAML aliases?); a pipeline needs far fewer")
	assert.Equal(t, MaxValues+1, d.values, "values built before giving up")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(100<<20), "bytes allocated decoding it")

	path := filepath.Join(t.TempDir(), "huge.yaml")
	huge := append([]byte(head+tail), bytes.Repeat([]byte("# padding\n"), MaxFileSize/10)...)
	require.NoError(t, os.WriteFile(path, huge, 0o600))
	_, _, err = Load(path)
	assert.EqualError(t, err, path+": the file is larger than 1048576 bytes, the most a pipeline file may be")
}

func TestAliases(t *testing.T) {
	p, _, err := Parse("demo.yaml", []byte("x: &iv 7\n"+head+"      FlushOutL4Interval: *iv\n      FlushOutL7Interval: *iv\n"+tail))
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, p.Input.Common.FlushOutL4Interval)
	assert.Equal(t, 7*time.Second, p.Input.Common.FlushOutL7Interval)
}

func TestProtocolSet(t *testing.T) {
	c := DefaultInput().Common
	assert.Equal(t, abi.AllProtocols, c.ProtocolSet())
	c.IncludeProtocols = []abi.Protocol{abi.ProtoDNS}
	assert.Equal(t, abi.ProtocolsOf(abi.ProtoDNS), c.ProtocolSet())
	c.ProtocolProcess = false
	assert.Equal(t, abi.NoProtocols, c.ProtocolSet())
}

// The iLogtail plugin adapter hands us the input's detail as JSON.
func TestParseInputDetail(t *testing.T) {
	in, warnings, err := ParseInputDetail("config#demo", []byte(`{"EBPF":{"Enabled":true,"Pid":7},"Common":{"Sampling":10,"Extra":1}}`))
	require.NoError(t, err)
	assert.Equal(t, []Warning{{File: "config#demo", Path: "Common.Extra", Line: 1, Msg: "unknown key, ignored"}}, warnings)
	want := DefaultInput()
	want.EBPF = EBPF{Enabled: true, Pid: 7, DataBufferPages: 512, TLSProbes: true}
	want.Common.Sampling = 10
	assert.Equal(t, &want, in)

	_, _, err = ParseInputDetail("config#demo", []byte(`{"Common":{"Sampling":"10"}}`))
	assert.EqualError(t, err, `config#demo: Common.Sampling: "10" is a string where an int is expected`)
}

// ERRORS.md is generated from badConfigs (go test -run TestErrorsDoc -update) and must match.
func TestErrorsDoc(t *testing.T) {
	want := errorsDoc()
	if *update {
		require.NoError(t, os.WriteFile("ERRORS.md", []byte(want), 0o644))
	}
	got, err := os.ReadFile("ERRORS.md")
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "ERRORS.md is stale: go test ./observer/config -run TestErrorsDoc -update")
}

func errorsDoc() string {
	var b strings.Builder
	b.WriteString(`# Config errors

What ` + "`netobserver --check-config FILE`" + ` (and every start) says about a bad pipeline file: one line,
` + "`FILE: KEY PATH: PROBLEM`" + `, and exit code 2. Generated from the tests' table
(` + "`go test ./observer/config -run TestErrorsDoc -update`" + `); every line is asserted exactly.

The file is called demo.yaml. Each excerpt shows what differs from a valid pipeline: lines under
` + "`Common:`" + ` belong to ` + "`inputs[0]`" + ` of the seed example, and an excerpt without ` + "`flushers:`" + ` keeps
the seed's ` + "`flusher_stdout`" + `.

| what is wrong | config (excerpt) | error |
|---|---|---|
| file missing | — | ` + "`demo.yaml: cannot read the config: no such file or directory`" + ` |
| file unreadable | — | ` + "`demo.yaml: cannot read the config: permission denied`" + ` |
| a directory | — | ` + "`demo.yaml: cannot read the config: is a directory`" + ` |
`)
	for _, c := range badConfigs {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.name, excerpt(c.yaml), codeSpan(c.err))
	}
	b.WriteString(`
Unknown keys are not errors: each gives a warning naming the file and the key path, e.g.
` + "`demo.yaml: inputs[0].Common.sampling: unknown key, ignored; did you mean Sampling? (keys are case-sensitive, as in iLogtail)`" + `.
`)
	return b.String()
}

// excerpt renders the part of a bad config that differs from the valid pipeline as an HTML code
// cell (markdown tables cannot hold code blocks).
func excerpt(y string) string {
	if rest, ok := strings.CutPrefix(y, head); ok {
		y = rest
		if strings.HasPrefix(rest, "      ") {
			y = "    Common:\n" + rest
		}
	}
	if rest := strings.TrimSuffix(y, tail); rest != "" {
		y = rest
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(y, "\n"), "\n") {
		trimmed := strings.TrimLeft(l, " ")
		lines = append(lines, strings.Repeat("&nbsp;", len(l)-len(trimmed))+strings.ReplaceAll(html.EscapeString(trimmed), "|", "&#124;"))
	}
	return "<code>" + strings.Join(lines, "<br>") + "</code>"
}

// codeSpan renders s as a markdown code span, whatever backticks it holds.
func codeSpan(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

func TestTrailingEmptyDocument(t *testing.T) {
	_, _, err := Parse("demo.yaml", []byte(head+tail+"---\n"))
	assert.NoError(t, err)
}

// A broken YAML flow mapping is reported as YAML, not as JSON.
func TestFlowYAMLSyntax(t *testing.T) {
	_, _, err := Parse("demo.yaml", []byte("{inputs: [{Type: observer_ilogtail_network_v1}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo.yaml: YAML syntax error: line ")
}

// Whatever the bytes, Parse returns a pipeline or an *Error, and never panics.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"example.yaml", "example.json", "example-converted.json", "full.yaml"} {
		data, err := os.ReadFile(repoConfig(name))
		require.NoError(f, err)
		f.Add(data)
	}
	for _, c := range badConfigs {
		f.Add([]byte(c.yaml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || p != nil {
				t.Fatalf("%v (%T)", err, err)
			}
			return
		}
		if p == nil || len(p.Flushers) == 0 {
			t.Fatal("no error and no pipeline")
		}
	})
}

// MaskCmdSecrets is on unless the file turns it off.
func TestMaskCmdSecrets(t *testing.T) {
	p, warnings, err := Parse("demo.yaml", []byte(head+"      MaskCmdSecrets: false\n"+tail))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.False(t, p.Input.Common.MaskCmdSecrets)
}

// typesOf are the Types of p's flushers, in order.
func typesOf(p *Pipeline) []string {
	var ts []string
	for _, f := range p.Flushers {
		ts = append(ts, f.Type)
	}
	return ts
}
