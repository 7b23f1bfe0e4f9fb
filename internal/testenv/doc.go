// Package testenv builds the real environments the kernel and end-to-end tests run in: network
// namespaces joined by a veth pair, with real servers (nginx, dnsmasq, …) on one side and real
// clients on the other, so that captured traffic has non-local addresses and known processes
// without ever leaving the machine; peers (the test binary re-executed as a server or a client);
// the built binaries (BinDir, Binary); a running netobserver (LaunchObserver); and container
// runtimes of the test's own, a dockerd and a containerd on private sockets and directories
// (StartDockerd, Dockerd, StartContainerd). Everything it creates is removed by t.Cleanup.
package testenv
