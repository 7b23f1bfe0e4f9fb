// Command connhold opens many idle HTTP keep-alive connections and holds them open, for the
// observer's memory benchmark (scripts/bench-observer.sh): every connection sends one GET and reads
// its response, so the observer has seen a connection and an HTTP call on each, then stays idle.
//
//	connhold -addr 10.0.0.1:8080 -n 10000 [-parallel 64] [-hold 10m]
//
// It prints "ready N" on standard output once N connections are open and answered, then holds
// them until SIGINT/SIGTERM, standard input closes (with -stdin) or -hold passes. The open-file
// limit must allow n descriptors (Go raises the soft limit to the hard one; `ulimit -n` the hard).
package main
