package config_test

import (
	"path/filepath"
	"testing"
	"time"

	_ "github.com/netobserver/netobserver/export/flushers" // every flusher type, as the binary has them
	"github.com/netobserver/netobserver/export/jsonl"
	"github.com/netobserver/netobserver/export/kafka"
	"github.com/netobserver/netobserver/export/prometheus"
	"github.com/netobserver/netobserver/export/stdout"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	head = "inputs:\n  - Type: observer_ilogtail_network_v1\n    EBPF:\n      Enabled: true\n    Common:\n"
)

func repoConfig(name string) string { return filepath.Join("..", "..", "testdata", "config", name) }

// The seed example's flusher_stdout, in each of the file's forms: iLogtail's defaults.
func TestSeedExampleFlusher(t *testing.T) {
	for _, name := range []string{"example.yaml", "example.json", "example-converted.json"} {
		p, _, err := config.Load(repoConfig(name))
		require.NoError(t, err, name)
		assert.Equal(t, []config.Flusher{{Type: "flusher_stdout", Config: &stdout.Config{
			KeyValuePairs: true, MaxSize: 1 << 20, MaxRolls: 1,
		}}}, p.Flushers, name)
	}
}

// full.yaml sets every flusher key to a value other than its default.
func TestFullConfigFlushers(t *testing.T) {
	p, warnings, err := config.Load(repoConfig("full.yaml"))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	require.Len(t, p.Flushers, 3)
	assert.Equal(t, config.Flusher{Type: "flusher_stdout", Config: &stdout.Config{
		FileName: "/var/log/netobserver/records.log", MaxSize: 10485760, MaxRolls: 3, KeyValuePairs: false, Tags: true,
	}}, p.Flushers[0])
	want := kafka.DefaultConfig()
	want.Brokers = []string{"kafka-1:9092", "10.0.0.2:9093", "[fd00::1]:9092"}
	want.Topic = "netobserver.records"
	want.RequiredACKs = -1
	want.Compression = "zstd"
	want.ClientID = "netobserver-test"
	want.Timeout = 90 * time.Second
	want.MaxMessageBytes = 2000000
	want.QueueSize = 500
	assert.Equal(t, config.Flusher{Type: "flusher_kafka", Config: &want}, p.Flushers[1])
	assert.Equal(t, config.Flusher{Type: "flusher_jsonl", Config: &jsonl.Config{
		Path: "/var/lib/netobserver/records.jsonl", MaxSize: 1048576, MaxRolls: 5,
	}}, p.Flushers[2])
}

func TestFlusherDefaults(t *testing.T) {
	p, warnings, err := config.Parse("demo.yaml", []byte(head+"flushers:\n  - Type: flusher_kafka\n    Brokers: [\"k:9092\"]\n    Topic: t\n"+
		"  - Type: flusher_jsonl\n    Path: out.jsonl\n"))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Equal(t, &kafka.Config{Brokers: []string{"k:9092"}, Topic: "t", RequiredACKs: 1, Compression: "none",
		ClientID: "LogtailPlugin", Timeout: 30 * time.Second, BrokerTimeout: 10 * time.Second, MaxMessageBytes: 1000000,
		QueueSize: 10000, CloseTimeout: 5 * time.Second}, p.Flushers[0].Config)
	assert.Equal(t, &jsonl.Config{Path: "out.jsonl", MaxRolls: 1}, p.Flushers[1].Config)
}

// Flusher keys are case-insensitive, as iLogtail's Go plugin runner decoded them; an int Timeout
// is seconds; MaxSize 0 means the default, as in iLogtail.
func TestFlusherKeysAnyCase(t *testing.T) {
	p, warnings, err := config.Parse("demo.yaml", []byte(head+"flushers:\n"+
		"  - Type: flusher_kafka\n    brokers: [\"k:9092\"]\n    TOPIC: t\n    RequiredACKs: 0\n    clientid: me\n    Timeout: 5\n"+
		"  - Type: flusher_stdout\n    keyvaluepairs: false\n    onlystdout: true\n    maxsize: 0\n"))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	k := p.Flushers[0].Config.(*kafka.Config)
	assert.Equal(t, []string{"k:9092"}, k.Brokers)
	assert.Equal(t, "t", k.Topic)
	assert.Equal(t, 0, k.RequiredACKs)
	assert.Equal(t, "me", k.ClientID)
	assert.Equal(t, 5*time.Second, k.Timeout)
	assert.Equal(t, &stdout.Config{OnlyStdout: true, KeyValuePairs: false, MaxSize: stdout.DefaultMaxSize, MaxRolls: 1}, p.Flushers[1].Config)
}

func TestPrometheusExporterFlusher(t *testing.T) {
	p, warnings, err := config.Parse("demo.yaml", []byte(head+"      Sampling: 10\nflushers:\n  - Type: flusher_prometheus_exporter\n"))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	require.Len(t, p.Flushers, 1)
	assert.Equal(t, &prometheus.Config{Listen: "127.0.0.1:9464", Path: "/metrics"}, p.Flushers[0].Config, "loopback unless asked")
	p, warnings, err = config.Parse("demo.yaml", []byte(head+"      Sampling: 10\nflushers:\n  - Type: flusher_prometheus_exporter\n    listen: 127.0.0.1:9999\n    Path: /m\n"))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Equal(t, &prometheus.Config{Listen: "127.0.0.1:9999", Path: "/m"}, p.Flushers[0].Config, "flusher keys are case-insensitive")
}
