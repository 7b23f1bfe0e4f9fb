package netobservertest

// Run by `make plugin-ilogtail` (export/ilogtail/plugin-ilogtail.sh) inside a copy of iLogtail's
// tree, after iLogtail's builder added the plugin: the plugin is reached only through what the
// builder generated (plugins/all) and iLogtail's pipeline API, as iLogtail's runner reaches it.
// Standard library only, so the test adds nothing to the go.mod it checks. Inputs come from the
// environment the script sets:
//
//	NETOBSERVER_LIBRARY       the replay library, installed as libebpf.so in LD_LIBRARY_PATH
//	NETOBSERVER_GOLDEN        what the netobserver binary prints for the same config and trace
//	NETOBSERVER_README        export/ilogtail/README.md, whose table bounds the go.mod changes
//	NETOBSERVER_GOMOD_BEFORE  iLogtail's go.mod before the builder ran, and ..._AFTER after it
//	NETOBSERVER_LIST_BEFORE   `go list -m all` of iLogtail's full go.mod, and ..._AFTER with the
//	                          plugin (and the netobserver module, as tidy adds it) required

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alibaba/ilogtail/pkg/config"
	"github.com/alibaba/ilogtail/pkg/pipeline"
	"github.com/alibaba/ilogtail/pkg/protocol"

	_ "github.com/alibaba/ilogtail/plugins/all" // what iLogtail's builder generated
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("$%s is not set: run this test through make plugin-ilogtail", name)
	}
	return v
}

// The plugin registered by plugins/all, made and driven as iLogtail's runner does: the creator,
// the detail JSON-decoded into it, Init, Start in a goroutine, Stop. Its records reach the
// collector exactly as the netobserver binary prints them for the same config and trace.
func TestRecords(t *testing.T) {
	library := env(t, "NETOBSERVER_LIBRARY")
	creator, ok := pipeline.ServiceInputs["observer_ilogtail_network_v1"]
	if !ok {
		t.Fatal("plugins/all does not register observer_ilogtail_network_v1")
	}
	input, ok := creator().(pipeline.ServiceInputV1)
	if !ok {
		t.Fatal("observer_ilogtail_network_v1 is not a pipeline.ServiceInputV1")
	}
	// testdata/golden/tags-caps.yaml's input.
	detail := `{"Common": {"FlushOutL4Interval": 60, "FlushOutL7Interval": 15, "Cluster": "prod-eu",
		"Tags": {"team": "payments"},
		"ProtocolAggCfg": {"http": {"ClientSize": 1, "ServerSize": 1}, "mysql": {"ClientSize": 1}}},
		"EBPF": {"Enabled": true}}`
	if err := json.Unmarshal([]byte(detail), input); err != nil {
		t.Fatal(err)
	}
	if _, err := input.Init(&runnerContext{configName: "tags-caps"}); err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	started := make(chan error, 1)
	go func() { started <- input.Start(c) }()

	deadline := time.Now().Add(30 * time.Second)
	for !replayFinished(library) {
		select {
		case err := <-started:
			t.Fatalf("Start returned before Stop: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the replay did not finish in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := input.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}

	got := c.records()
	want := goldenRecords(t, env(t, "NETOBSERVER_GOLDEN"))
	if len(want) != 12 {
		t.Fatalf("the golden file has %d records, want 12", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records differ from the binary's golden records:\n got %d: %q\nwant %d: %q", len(got), got, len(want), want)
	}
	t.Logf("%d records, identical to %s", len(got), os.Getenv("NETOBSERVER_GOLDEN"))
}

// What adding the plugin changes in iLogtail's module is what export/ilogtail/README.md says.
// Two views: iLogtail's full go.mod with the plugin required (the build list of a real iLogtail
// build: `go list -m all`), which must match the README's table exactly, and the go.mod the
// builder wrote in this partial copy, whose go line and raised requirements must be within it.
func TestGoModChanges(t *testing.T) {
	bound := readmeBound(t, env(t, "NETOBSERVER_README"))

	before, goLine := buildList(t, env(t, "NETOBSERVER_LIST_BEFORE"))
	after, _ := buildList(t, env(t, "NETOBSERVER_LIST_AFTER"))
	// iLogtail's go line, and the one tidy writes with the plugin.
	full := map[string][2]string{"go": {goLine, after["go"]}}
	for path, v := range after {
		if path != "go" && before[path] != v {
			full[path] = [2]string{before[path], v}
		}
	}
	t.Logf("iLogtail's build list with the plugin, changes (module: before -> after):\n%s", formatChanges(full))
	if !reflect.DeepEqual(full, bound) {
		t.Errorf("the changes differ from export/ilogtail/README.md's table:\n%s\nas README rows:\n%s",
			formatChanges(bound), readmeRows(full))
	}

	modBefore := goMod(t, env(t, "NETOBSERVER_GOMOD_BEFORE"))
	modAfter := goMod(t, env(t, "NETOBSERVER_GOMOD_AFTER"))
	var raised, added, removed []string
	for path, v := range modAfter {
		switch old, ok := modBefore[path]; {
		case !ok:
			added = append(added, path+" "+v)
			// New to go.mod (tidy lists what it needs), but already in the build list at this
			// version, or in the README's table.
			if b, ok := bound[path]; before[path] != v && (!ok || b[1] != v) {
				t.Errorf("the builder added %s %s, outside the README's bound and iLogtail's build list (%s)", path, v, before[path])
			}
		case path == "go":
			if b := bound["go"]; b[1] != v {
				t.Errorf("the builder set the go line to %s, the README says %s", v, b[1])
			}
		case old != v:
			raised = append(raised, fmt.Sprintf("%s %s -> %s", path, old, v))
			if b, ok := bound[path]; !ok || b[1] != v {
				t.Errorf("the builder set %s to %s, outside the README's bound (%v)", path, v, b)
			}
		}
	}
	for path := range modBefore {
		if _, ok := modAfter[path]; !ok {
			removed = append(removed, path)
		}
	}
	sort.Strings(raised)
	sort.Strings(added)
	t.Logf("the builder's go.mod (this copy holds none of iLogtail's plugins, so tidy drops the %d requirements only they use):\n"+
		"  go %s -> %s\n  raised:\n    %s\n  added:\n    %s", len(removed), modBefore["go"], modAfter["go"],
		strings.Join(raised, "\n    "), strings.Join(added, "\n    "))
}

// readmeBound reads the README's table of changes: rows "| `module` | before | after |" between
// the markers, "—" for a module iLogtail did not have; the "go" row is the go line.
func readmeBound(t *testing.T, path string) map[string][2]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- go.mod changes: checked by make plugin-ilogtail -->", "<!-- end of go.mod changes -->"
	text := string(data)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no table between %q and %q", path, begin, end)
	}
	bound := map[string][2]string{}
	for _, line := range strings.Split(text[i+len(begin):j], "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "`") {
			continue // header, separator, blank
		}
		for k := range cells {
			cells[k] = strings.Trim(strings.TrimSpace(cells[k]), "`")
		}
		if cells[1] == "—" {
			cells[1] = ""
		}
		bound[cells[0]] = [2]string{cells[1], cells[2]}
	}
	if len(bound) == 0 {
		t.Fatalf("%s: the table of go.mod changes is empty", path)
	}
	return bound
}

// buildList reads `go list -m -f '{{.Path}} {{.Version}} {{.GoVersion}}' all` output: each
// module's version, and as "go" the go line `go mod tidy` writes, the highest go version of the
// main module and every module of the list; goLine is the main module's own.
func buildList(t *testing.T, path string) (list map[string]string, goLine string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	list = map[string]string{}
	for k, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		switch {
		case k == 0 && len(f) == 2: // the main module: no version
			list["go"], goLine = f[1], f[1]
			continue
		case len(f) == 3:
			list[f[0]] = f[1]
		case len(f) == 2: // no go.mod, or no go line
			list[f[0]] = f[1]
			continue
		default:
			t.Fatalf("%s:%d: unexpected line %q", path, k+1, line)
		}
		if goLess(list["go"], f[2]) {
			list["go"] = f[2]
		}
	}
	return list, goLine
}

// goLess orders go versions: 1.19 < 1.21 < 1.24.0 < 1.24.1.
func goLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for k := 0; k < len(as) || k < len(bs); k++ {
		var x, y int
		if k < len(as) {
			fmt.Sscan(as[k], &x)
		}
		if k < len(bs) {
			fmt.Sscan(bs[k], &y)
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// goMod reads a go.mod's go line (as "go") and requirements.
func goMod(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mod := map[string]string{}
	inRequire := false
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inRequire && f[0] == ")":
			inRequire = false
		case inRequire && len(f) == 2:
			mod[f[0]] = f[1]
		case f[0] == "go" && len(f) == 2:
			mod["go"] = f[1]
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inRequire = true
		case f[0] == "require" && len(f) == 3:
			mod[f[1]] = f[2]
		}
	}
	return mod
}

func formatChanges(changes map[string][2]string) string {
	var lines []string
	for path, v := range changes {
		from := v[0]
		if from == "" {
			from = "—"
		}
		lines = append(lines, fmt.Sprintf("  %s: %s -> %s", path, from, v[1]))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// readmeRows writes changes as the README's table rows.
func readmeRows(changes map[string][2]string) string {
	var rows []string
	for path, v := range changes {
		from := v[0]
		if from == "" {
			from = "—"
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s |", path, from, v[1]))
	}
	sort.Strings(rows)
	return strings.Join(rows, "\n")
}

// goldenRecords reads the records of a flusher_stdout golden file as "key=value" lists, keys in
// order, without the __time__ the flusher adds.
func goldenRecords(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var records [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		start, end := strings.Index(line, "\t{"), strings.LastIndex(line, "}:\t")
		if start < 0 || end < start {
			t.Fatalf("%s: not a flusher_stdout line: %q", path, line)
		}
		dec := json.NewDecoder(strings.NewReader(line[start+1 : end+1]))
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		var rec []string
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			v, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			if k != "__time__" {
				rec = append(rec, fmt.Sprint(k, "=", v))
			}
		}
		records = append(records, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return records
}

// collector is a pipeline.Collector keeping what the input writes with AddRawLog, the only
// method it uses; any other call is recorded as a record of its own that matches nothing.
type collector struct {
	mu   sync.Mutex
	logs [][]string
}

func (c *collector) add(rec []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs = append(c.logs, rec)
}

func (c *collector) records() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string(nil), c.logs...)
}

func (c *collector) AddRawLog(log *protocol.Log) {
	rec := make([]string, 0, len(log.Contents))
	for _, kv := range log.Contents {
		rec = append(rec, kv.Key+"="+kv.Value)
	}
	c.add(rec)
}

func (c *collector) unexpected(method string) { c.add([]string{"unexpected call of " + method}) }

func (c *collector) AddData(map[string]string, map[string]string, ...time.Time) {
	c.unexpected("AddData")
}
func (c *collector) AddDataArray(map[string]string, []string, []string, ...time.Time) {
	c.unexpected("AddDataArray")
}
func (c *collector) AddDataWithContext(map[string]string, map[string]string, map[string]interface{}, ...time.Time) {
	c.unexpected("AddDataWithContext")
}
func (c *collector) AddDataArrayWithContext(map[string]string, []string, []string, map[string]interface{}, ...time.Time) {
	c.unexpected("AddDataArrayWithContext")
}
func (c *collector) AddRawLogWithContext(*protocol.Log, map[string]interface{}) {
	c.unexpected("AddRawLogWithContext")
}

// runnerContext is the runner's pipeline.Context with nothing behind it: the input only asks for
// the config name.
type runnerContext struct{ configName string }

func (r *runnerContext) InitContext(_, _, configName string)          { r.configName = configName }
func (r *runnerContext) GetConfigName() string                        { return r.configName }
func (r *runnerContext) GetProject() string                           { return "" }
func (r *runnerContext) GetLogstore() string                          { return "" }
func (r *runnerContext) GetRuntimeContext() context.Context           { return context.Background() }
func (r *runnerContext) GetPipelineScopeConfig() *config.GlobalConfig { return &config.GlobalConfig{} }
func (r *runnerContext) GetExtension(string, any) (pipeline.Extension, error) {
	return nil, errors.New("no extensions")
}
func (r *runnerContext) SaveCheckPoint(string, []byte) error       { return nil }
func (r *runnerContext) GetCheckPoint(string) ([]byte, bool)       { return nil, false }
func (r *runnerContext) SaveCheckPointObject(string, any) error    { return nil }
func (r *runnerContext) GetCheckPointObject(string, any) (ok bool) { return false }
func (r *runnerContext) RegisterMetricRecord([]pipeline.LabelPair) *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: r}
}
func (r *runnerContext) GetMetricRecord() *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: r}
}
func (r *runnerContext) ExportMetricRecords() []map[string]string { return nil }
func (r *runnerContext) RegisterLogstoreConfigMetricRecord([]pipeline.LabelPair) *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: r}
}
func (r *runnerContext) GetLogstoreConfigMetricRecord() *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: r}
}

var (
	_ pipeline.Context   = (*runnerContext)(nil)
	_ pipeline.Collector = (*collector)(nil)
)
