package ilogtail

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alibaba/ilogtail/pkg/config"
	"github.com/alibaba/ilogtail/pkg/pipeline"
	"github.com/alibaba/ilogtail/pkg/protocol"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The repository root: this module lives in export/ilogtail.
const root = "../.."

// newInput makes the input as iLogtail's runner does: the registered creator, then the detail
// (a map, as the runner holds it) marshalled and decoded into the plugin.
func newInput(t *testing.T, detail map[string]any) *Input {
	t.Helper()
	creator, ok := pipeline.ServiceInputs["observer_ilogtail_network_v1"]
	require.True(t, ok, "observer_ilogtail_network_v1 is not registered")
	service := creator()
	data, err := json.Marshal(detail)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, service))
	in, ok := service.(*Input)
	require.True(t, ok, "the creator makes %T", service)
	return in
}

// tagsCaps is testdata/golden/tags-caps.yaml's input, as the detail iLogtail hands over.
func tagsCaps() map[string]any {
	return map[string]any{
		"Common": map[string]any{
			"FlushOutL4Interval": 60, "FlushOutL7Interval": 15, "Cluster": "prod-eu",
			"Tags":           map[string]any{"team": "payments"},
			"ProtocolAggCfg": map[string]any{"http": map[string]any{"ClientSize": 1, "ServerSize": 1}, "mysql": map[string]any{"ClientSize": 1}},
		},
		"EBPF": map[string]any{"Enabled": true},
	}
}

func TestRegistered(t *testing.T) {
	in := newInput(t, map[string]any{})
	var _ pipeline.ServiceInputV1 = in
	assert.Contains(t, in.Description(), "observer_ilogtail_network_v1")
}

// The runner drives Init, Start (in a goroutine) and Stop; every record of the golden trace
// reaches the collector, keys in record order, exactly as the netobserver binary prints them for
// the same config (testdata/golden/tags-caps.golden).
func TestRecordsThroughCollector(t *testing.T) {
	t.Setenv("NETOBSERVER_REPLAY_TRACE", filepath.Join(root, "testdata/golden/all-protocols.trace"))
	t.Setenv("NETOBSERVER_REPLAY_STUBS", filepath.Join(t.TempDir(), "stubs.log"))
	in := newInput(t, tagsCaps())
	in.libraryPath = testenv.BuiltFile(t, "libebpf-replay.so")
	n, err := in.Init(&fakeContext{configName: "tags-caps"})
	require.NoError(t, err)
	assert.Equal(t, 0, n)

	c := &recordingCollector{t: t}
	started := make(chan error, 1)
	go func() { started <- in.Start(c) }()

	// Records are written on their intervals (15 s, 60 s) and at Stop: wait until the replay
	// library has delivered the whole trace, then stop.
	deadline := time.Now().Add(30 * time.Second)
	for {
		in.mu.Lock()
		lib := in.lib
		in.mu.Unlock()
		if lib != nil && lib.Finished() {
			break
		}
		select {
		case err := <-started:
			t.Fatalf("Start returned before Stop: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the replay did not finish in 30 s")
		time.Sleep(10 * time.Millisecond)
	}
	require.Empty(t, c.snapshot(), "records before an interval ended")
	begin := time.Now()
	require.NoError(t, in.Stop())
	assert.Less(t, time.Since(begin), time.Second, "Stop took too long")
	select {
	case err := <-started:
		require.NoError(t, err)
	case <-time.After(time.Second):
		t.Fatal("Start did not return after Stop")
	}
	require.NoError(t, in.Stop(), "a second Stop")

	got := c.snapshot()
	want := goldenRecords(t, filepath.Join(root, "testdata/golden/tags-caps.golden"))
	require.Len(t, got, 12)
	require.Len(t, want, len(got))
	now := uint32(time.Now().Unix())
	for k, log := range got {
		assert.InDelta(t, now, log.Time, 120, "record %d: Time", k)
		assert.Equal(t, want[k], contents(log), "record %d", k)
	}
	// The first one spelled out: __tag__: fields stay where the record has them.
	assert.Equal(t, []string{
		"type=protocols", "_process_pid_=40001", "_process_cmd_=", "_running_mode_=host",
		"__tag__:cluster=prod-eu", "__tag__:team=payments", "protocol=http", "version=1", "host=shop.test",
		"method=GET", "url=/api/items", "resp_code=200", "role=client",
		`remote_info={"remote_host":"shop.test","remote_ip":"10.30.0.2","remote_port":"80","remote_type":"server"}` + "\n",
		"total_count=2", "total_latency_ns=3000000", "total_req_bytes=138", "total_resp_bytes=78",
		"p50_latency_ns=1502037", "p90_latency_ns=1502037", "p99_latency_ns=1502037",
	}, contents(got[0]))
}

func TestInitRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		detail map[string]any
		want   []string
	}{
		{"sampling out of range", map[string]any{"Common": map[string]any{"Sampling": 150}}, []string{"Common.Sampling", "150"}},
		{"wrong type", map[string]any{"EBPF": map[string]any{"Enabled": "yes please"}}, []string{"EBPF.Enabled"}},
		{"unknown protocol", map[string]any{"Common": map[string]any{"IncludeProtocols": []string{"http", "smtp"}}}, []string{"Common.IncludeProtocols", "smtp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInput(t, tc.detail)
			_, err := in.Init(&fakeContext{configName: "bad"})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Error(t, in.Start(&recordingCollector{t: t}), "Start after a failed Init")
			assert.NoError(t, in.Stop())
		})
	}
}

// EBPF.Enabled false (the default): nothing is loaded or captured, Start waits for Stop.
func TestDisabledCapturesNothing(t *testing.T) {
	in := newInput(t, map[string]any{})
	in.libraryPath = "/nonexistent/libebpf.so" // would fail if it were loaded
	_, err := in.Init(&fakeContext{})
	require.NoError(t, err)
	c := &recordingCollector{t: t}
	started := make(chan error, 1)
	go func() { started <- in.Start(c) }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, in.Stop())
	require.NoError(t, <-started)
	assert.Empty(t, c.snapshot())
}

// A library that cannot be loaded is Start's error, and Stop still returns.
func TestStartReportsLibraryError(t *testing.T) {
	in := newInput(t, map[string]any{"EBPF": map[string]any{"Enabled": true}})
	in.libraryPath = "/nonexistent/libebpf.so"
	_, err := in.Init(&fakeContext{})
	require.NoError(t, err)
	err = in.Start(&recordingCollector{t: t})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/nonexistent/libebpf.so")
	assert.Error(t, in.Stop(), "Stop reports Start's error")
}

func TestStopBeforeStart(t *testing.T) {
	in := newInput(t, map[string]any{"EBPF": map[string]any{"Enabled": true}})
	in.libraryPath = "/nonexistent/libebpf.so"
	_, err := in.Init(&fakeContext{})
	require.NoError(t, err)
	require.NoError(t, in.Stop())
	assert.NoError(t, in.Start(&recordingCollector{t: t}), "Start after Stop returns at once")
}

func contents(log *protocol.Log) []string {
	out := make([]string, 0, len(log.Contents))
	for _, c := range log.Contents {
		out = append(out, c.Key+"="+c.Value)
	}
	return out
}

// goldenRecords reads the records of a flusher_stdout golden file, keys in order, without the
// __time__ the flusher adds.
func goldenRecords(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var records [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		start, end := strings.Index(line, "\t{"), strings.LastIndex(line, "}:\t")
		require.True(t, start >= 0 && end > start, "not a flusher_stdout line: %q", line)
		dec := json.NewDecoder(strings.NewReader(line[start+1 : end+1]))
		_, err := dec.Token() // {
		require.NoError(t, err)
		var rec []string
		for dec.More() {
			k, err := dec.Token()
			require.NoError(t, err)
			v, err := dec.Token()
			require.NoError(t, err)
			if k != "__time__" {
				rec = append(rec, fmt.Sprint(k, "=", v))
			}
		}
		records = append(records, rec)
	}
	require.NoError(t, sc.Err())
	return records
}

// recordingCollector keeps what the input writes; the input only ever calls AddRawLog.
type recordingCollector struct {
	t    *testing.T
	mu   sync.Mutex
	logs []*protocol.Log
}

func (c *recordingCollector) AddRawLog(log *protocol.Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs = append(c.logs, log)
}

func (c *recordingCollector) snapshot() []*protocol.Log {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*protocol.Log(nil), c.logs...)
}

func (c *recordingCollector) unexpected(method string) { c.t.Errorf("unexpected %s", method) }

func (c *recordingCollector) AddData(map[string]string, map[string]string, ...time.Time) {
	c.unexpected("AddData")
}
func (c *recordingCollector) AddDataArray(map[string]string, []string, []string, ...time.Time) {
	c.unexpected("AddDataArray")
}
func (c *recordingCollector) AddDataWithContext(map[string]string, map[string]string, map[string]any, ...time.Time) {
	c.unexpected("AddDataWithContext")
}
func (c *recordingCollector) AddDataArrayWithContext(map[string]string, []string, []string, map[string]any, ...time.Time) {
	c.unexpected("AddDataArrayWithContext")
}
func (c *recordingCollector) AddRawLogWithContext(*protocol.Log, map[string]any) {
	c.unexpected("AddRawLogWithContext")
}

// fakeContext is the runner's context (pipeline.Context), with nothing behind it: the input only
// asks for the config name.
type fakeContext struct{ configName string }

func (f *fakeContext) InitContext(_, _, configName string)          { f.configName = configName }
func (f *fakeContext) GetConfigName() string                        { return f.configName }
func (f *fakeContext) GetProject() string                           { return "" }
func (f *fakeContext) GetLogstore() string                          { return "" }
func (f *fakeContext) GetRuntimeContext() context.Context           { return context.Background() }
func (f *fakeContext) GetPipelineScopeConfig() *config.GlobalConfig { return &config.GlobalConfig{} }
func (f *fakeContext) GetExtension(string, any) (pipeline.Extension, error) {
	return nil, errors.New("no extensions")
}
func (f *fakeContext) SaveCheckPoint(string, []byte) error       { return nil }
func (f *fakeContext) GetCheckPoint(string) ([]byte, bool)       { return nil, false }
func (f *fakeContext) SaveCheckPointObject(string, any) error    { return nil }
func (f *fakeContext) GetCheckPointObject(string, any) (ok bool) { return false }
func (f *fakeContext) RegisterMetricRecord([]pipeline.LabelPair) *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: f}
}
func (f *fakeContext) GetMetricRecord() *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: f}
}
func (f *fakeContext) ExportMetricRecords() []map[string]string { return nil }
func (f *fakeContext) RegisterLogstoreConfigMetricRecord([]pipeline.LabelPair) *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: f}
}
func (f *fakeContext) GetLogstoreConfigMetricRecord() *pipeline.MetricsRecord {
	return &pipeline.MetricsRecord{Context: f}
}

var (
	_ pipeline.Context   = (*fakeContext)(nil)
	_ pipeline.Collector = (*recordingCollector)(nil)
)
