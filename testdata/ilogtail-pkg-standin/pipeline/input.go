// Package pipeline is a stand-in for iLogtail's pkg/pipeline (v1.8.8), for compile checks only. It
// declares the plugin API a service input is written against — ServiceInput, ServiceInputV1,
// Collector, ServiceCreator, ServiceInputs and Context — with iLogtail's exact method sets, so a
// plugin that compiles here compiles inside iLogtail. Nothing here runs a pipeline.
package pipeline

import (
	"time"

	"github.com/alibaba/ilogtail/pkg/protocol"
)

// ServiceInput is an input that runs on its own (a server, a watcher) rather than being polled.
type ServiceInput interface {
	// Init is called once with the pipeline's context; the int is unused by service inputs.
	Init(Context) (int, error)
	Description() string
	// Stop stops the input; it must return promptly.
	Stop() error
}

// ServiceInputV1 is a service input that writes logs through a Collector.
type ServiceInputV1 interface {
	ServiceInput
	// Start runs the input; the runner calls it in its own goroutine.
	Start(Collector) error
}

// Collector receives an input's logs.
type Collector interface {
	AddData(tags map[string]string, fields map[string]string, t ...time.Time)
	AddDataArray(tags map[string]string, columns []string, values []string, t ...time.Time)
	AddRawLog(log *protocol.Log)
	AddDataWithContext(tags, fields map[string]string, ctx map[string]interface{}, t ...time.Time)
	AddDataArrayWithContext(tags map[string]string, columns, values []string, ctx map[string]interface{}, t ...time.Time)
	AddRawLogWithContext(log *protocol.Log, ctx map[string]interface{})
}

// ServiceCreator makes a new instance of a service input; the runner then JSON-decodes the
// input's detail into it.
type ServiceCreator func() ServiceInput

// ServiceInputs holds the service inputs by type name; plugins register in init().
var ServiceInputs = map[string]ServiceCreator{}
