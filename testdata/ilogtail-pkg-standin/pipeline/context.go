package pipeline

import "context"

// Context is what the runner tells a plugin about its pipeline (iLogtail v1.8.8's method set).
type Context interface {
	InitContext(project, logstore, configName string)

	GetConfigName() string
	GetProject() string
	GetLogstore() string
	GetRuntimeContext() context.Context
	GetExtension(name string, cfg any) (Extension, error)

	GetMetricRecords() []map[string]string
	RegisterMetricRecord(labels map[string]string) *MetricsRecord

	SetMetricRecord(metricsRecord *MetricsRecord)
	GetMetricRecord() *MetricsRecord

	SaveCheckPoint(key string, value []byte) error
	GetCheckPoint(key string) (value []byte, exist bool)
	SaveCheckPointObject(key string, obj interface{}) error
	GetCheckPointObject(key string, obj interface{}) (exist bool)
}

// The types below appear in Context's signatures. The adapter never uses them; they are declared
// only so Context has its real method set, with just enough shape to say what they are.

// Extension is a plugin that other plugins look up by name (authenticators, decoders, …).
type Extension interface {
	Description() string
	Init(Context) (bool, error)
	Stop() error
}

// MetricsRecord is a set of self-monitoring metrics sharing labels.
type MetricsRecord struct {
	Labels map[string]string

	CounterMetrics []CounterMetric
	StringMetrics  []StringMetric
	LatencyMetrics []LatencyMetric
}

// CounterMetric is a self-monitoring counter.
type CounterMetric interface {
	Name() string
	Add(v int64)
	Get() int64
	GetAndReset() int64
}

// StringMetric is a self-monitoring string value.
type StringMetric interface {
	Name() string
	Set(v string)
	Get() string
	GetAndReset() string
}

// LatencyMetric is a self-monitoring latency.
type LatencyMetric interface {
	Name() string
	Begin()
	End()
	Clear()
	Get() int64
	GetAndReset() int64
}
