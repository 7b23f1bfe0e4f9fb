// Package testenv builds the real environments the kernel and end-to-end tests run in: network
// namespaces joined by a veth pair, with real servers (nginx, dnsmasq, …) on one side and real
// clients on the other, so that captured traffic has non-local addresses and known processes
// without ever leaving the machine; peers (the test binary re-executed as a server or a client);
// the built binaries (BinDir, Binary); and a running netobserver (LaunchObserver). Everything it
// creates is removed by t.Cleanup.
package testenv
