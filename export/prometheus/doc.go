// Package prometheus serves the observer's metrics through prometheus/client_golang: L7 call
// latency histograms and counts, L4 byte and packet counters, the observer's own counters (events
// in, lost, dropped by caps, parse failures, unmatched messages), and the Go runtime and process
// collectors; beside them /healthz and /readyz for probes. It is the flusher_prometheus_exporter
// output. Labels are bounded by construction — protocol, role, outcome, socket kind, direction —
// so the series count cannot grow with traffic.
package prometheus
