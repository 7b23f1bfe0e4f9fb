//go:build accuracy

// Package accuracy is the accuracy tier (make accuracy, scripts/accuracy): real third-party load
// generators in one network namespace against real servers in another, bin/netobserver live with
// a stdout flusher, and the recorded calls compared, exactly, with what each client reports of its
// own work and what each server counts — never with anything netobserver says. Every call must
// reach a record on both sides, with the process that made it; what does not must show in the
// observer's counters (the stop log line and /metrics).
//
// The servers start once; each group of workloads runs under its own observer, so that the
// records of one group and the counters of the stop line and /metrics belong to it alone. The
// test prints one table line per workload (the README's accuracy table) whatever the outcome.
package accuracy
