// Package live defines what the observer hands a live metrics sink as it happens — every call,
// every L4 delta, its counters — so that a sink (export/prometheus) and the observer depend on
// this small vocabulary and not on each other.
package live
