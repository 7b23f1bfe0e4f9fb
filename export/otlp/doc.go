// Package otlp is flusher_otlp: the records' L7 call and L4 statistics, and the live per-call
// latency histogram (explicit buckets, or base-2 exponential), sent as OpenTelemetry metrics over
// OTLP (gRPC or HTTP) with the OpenTelemetry Go SDK's exporters — the exponential histogram, which
// that SDK cannot make, built on the OTLP messages directly — through a bounded queue that
// survives a collector outage and counts what it drops. README.md maps records to metrics and
// attributes.
package otlp
