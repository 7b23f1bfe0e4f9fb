package kerneltest

import (
	"net/netip"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// natsClient speaks NATS as a client does: it reads INFO, sends CONNECT and PING, waits for PONG,
// publishes once and flushes with another PING.
const natsClient = `
import socket, sys
s = socket.create_connection((sys.argv[1], 4222))
f = s.makefile("rb")
assert f.readline().startswith(b"INFO {")
s.sendall(b'CONNECT {"verbose":false,"lang":"python"}\r\nPING\r\n')
assert f.readline() == b"PONG\r\n"
s.sendall(b"PUB orders.1 5\r\nhello\r\nPING\r\n")
assert f.readline() == b"PONG\r\n"
`

// The kernel side tells memcached (text from memcslap, binary from memcslap -b) and NATS (the
// server's INFO greeting, the client's CONNECT) from the first bytes of each direction.
func TestMemcachedAndNATSDetected(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	addr := n.ServerV4.String()
	testenv.Start(t, n.Server, "memcached", "-l", addr, "-p", "11211", "-U", "0", "-u", "nobody")
	testenv.Start(t, n.Server, "nats-server", "-a", addr, "-p", "4222")
	testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, 11211))
	testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, 4222))
	c := startCapture(t, nil)

	check := func(t *testing.T, pid int, port uint16, want abi.Protocol) {
		evs := c.waitFor(t, pid, "the client's close", func(e []event) bool { return closedConns(e) >= 1 })
		seen := 0
		for _, cv := range conversations(evs) {
			if cv.connect == nil || cv.connect.Addr.AddrPort().Port() != port || len(cv.egress) == 0 || len(cv.ingress) == 0 {
				continue
			}
			seen++
			for _, d := range append(cv.egress, cv.ingress...) {
				assert.Equal(t, want, d.Protocol, "%q", d.Payload)
			}
		}
		require.NotZero(t, seen, describe(evs))
	}
	for _, tt := range []struct {
		name string
		args []string
	}{{"text", nil}, {"binary", []string{"-b"}}} {
		t.Run("memcached "+tt.name, func(t *testing.T) {
			cmd := testenv.Command(n.Client, "memcslap", append(tt.args, "-s", addr+":11211", "-t", "set", "-e", "10", "-c", "1")...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			check(t, cmd.Process.Pid, 11211, abi.ProtoMemcached)
		})
	}
	t.Run("nats", func(t *testing.T) {
		cmd := testenv.Command(n.Client, "python3", "-c", natsClient, addr)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		check(t, cmd.Process.Pid, 4222, abi.ProtoNATS)
	})
}
