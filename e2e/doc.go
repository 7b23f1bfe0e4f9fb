//go:build e2e

// Package e2e is the end-to-end suite: real servers in one network namespace, real Debian clients
// in another, bin/netobserver with a flusher_stdout pipeline, known traffic, and exact assertions
// on the `protocols` and `statistics` records it prints. Run it with scripts/e2e (root).
//
// One namespace pair and one observer run serve every protocol: the servers start in about three
// seconds, the traffic runs one client after the other, and the observer is stopped once with
// SIGTERM, which flushes everything (the intervals are 600 s, so nothing is flushed before).
// Records are then told apart by the client's pid (each client run is its own process, and
// `ip netns exec` execs it, so exec.Cmd's pid is the client's) and, on the server side, by the
// server's pid or by the client's address.
package e2e
