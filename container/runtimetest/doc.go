// Package runtimetest holds the live container runtime tests: bin/netobserver observes real
// traffic from processes inside containers that a real dockerd or containerd, started by the
// test, runs, and its records must name the container (and the pod). Root; take the shared BPF
// lock (/tmp/netobserver-bpf.lock) around them, as around every live observer.
package runtimetest
