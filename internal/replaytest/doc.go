// Package replaytest runs a trace through the real cgo layer and the replay library
// (bin/libebpf-replay.so), for tests of everything above the ABI: the events reach the consumer
// through the same callbacks, copies and batches as live capture does.
package replaytest
