// Package prometheus serves the observer's metrics in the Prometheus text exposition format
// (version 0.0.4): L7 call latency histograms and counts, L4 byte and packet counters, and the
// observer's own counters (events in, lost, dropped by caps, parse failures, unmatched messages).
// It is the flusher_prometheus_exporter output. Labels are bounded by construction — protocol,
// role, outcome, socket kind, direction — so the series count cannot grow with traffic.
package prometheus
