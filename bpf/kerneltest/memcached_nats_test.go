package kerneltest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
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

// memcachedCuts sorts one direction of a process's memcached data events: a message whose data
// block the library sent as a size (its event carries the text line or the binary header, extras
// and key, and its size adds the block the line or header names) counts under its verb or
// opcode; every other event must arrive whole and carry no value (the bytes after a block, and the
// commands and answers without one). It returns the counts and the bytes on the wire, but for the
// answers to binary Quit: memcslap closes without reading them, so they reach it or not.
func memcachedCuts(t *testing.T, evs []event, dir abi.Direction) (cut map[string]int, wire int) {
	t.Helper()
	cut = map[string]int{}
	for _, e := range evs {
		d := e.data
		if d == nil || d.Direction != dir || d.Protocol != abi.ProtoMemcached {
			continue
		}
		p, org := d.Payload, int(d.OrgMsgSize)
		if org == 24 && len(p) == 24 && p[0] == 0x81 && p[1] == 0x07 {
			continue
		}
		wire += org
		if len(p) >= 24 && (p[0] == 0x80 || p[0] == 0x81) {
			head := 24 + int(binary.BigEndian.Uint16(p[2:])) + int(p[4])
			if body := int(binary.BigEndian.Uint32(p[8:])); len(p) == head && org == 24+body && body > head-24 {
				cut[fmt.Sprintf("%#x %#x", p[0], p[1])]++
				continue
			}
		}
		if f := strings.Fields(string(p)); len(f) >= 4 && strings.HasSuffix(string(p), "\r\n") && strings.Count(string(p), "\n") == 1 {
			idx := map[string]int{"set": 4, "VALUE": 3}[f[0]]
			if size, err := strconv.Atoi(f[min(idx, len(f)-1)]); idx > 0 && err == nil && org == len(p)+size {
				cut[f[0]]++
				continue
			}
		}
		if len(p) != org || len(p) > 300 {
			t.Errorf("%s: an event of %d bytes on the wire carries %d: %q", dir, org, len(p), p[:min(len(p), 80)])
		}
	}
	return cut, wire
}

// memcslap sets and gets values of a few KiB (2 000 of each at 4 threads, text and binary): the
// library sends every value as a size, on both sides, so the 2 MiB per-CPU data rings that lost a
// fifth of such a run's events when values travelled whole lose none, and the positions still add
// up to the bytes on the wire (the client's sent bytes equal the server's received, and back).
func TestMemcachedValuesAsSizes(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	addr := n.ServerV4.String()
	c := startCapture(t, nil)
	c.requireBodyBound(t)
	for i, tt := range []struct {
		name       string
		args       []string
		set, value string // the verbs or opcodes of the messages with a data block
	}{
		{"text", nil, "set", "VALUE"},
		{"binary", []string{"-b"}, "0x80 0x1", "0x81 0xc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := 11311 + i
			server := testenv.Start(t, n.Server, "memcached", "-l", addr, "-p", strconv.Itoa(port), "-U", "0", "-u", "nobody")
			testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, uint16(port)))
			target := addr + ":" + strconv.Itoa(port)
			var sets, gets int
			var pids []int
			for _, run := range []string{"set", "get"} {
				cmd := testenv.Command(n.Client, "memcslap", append(tt.args, "-s", target, "-t", run, "-e", "500", "-c", "4")...)
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "%s", out)
				pids = append(pids, cmd.Process.Pid)
				for _, m := range regexp.MustCompile(`Time to (set|get)\s+(\d+) keys`).FindAllStringSubmatch(string(out), -1) {
					k, _ := strconv.Atoi(m[2])
					if m[1] == "set" {
						sets += k
					} else {
						gets += k
					}
				}
			}
			require.Equal(t, 4500, sets+gets, "memcslap's report: 2000 + 500 sets, 2000 gets")

			clientCut := map[string]int{}
			var clientSent, clientRead int
			for _, pid := range pids {
				evs := c.waitFor(t, pid, "memcslap's close", func(e []event) bool { return closedConns(e) >= 4 })
				out, sent := memcachedCuts(t, evs, abi.DirEgress)
				in, read := memcachedCuts(t, evs, abi.DirIngress)
				clientSent, clientRead = clientSent+sent, clientRead+read
				clientCut[tt.set] += out[tt.set]
				clientCut[tt.value] += in[tt.value]
			}
			evs := c.waitFor(t, server.Process.Pid, "memcached's bytes", func(e []event) bool {
				return wireBytes(e, abi.DirIngress) >= clientSent && wireBytes(e, abi.DirEgress) >= clientRead && closedConns(e) >= 8
			})
			serverIn, serverRead := memcachedCuts(t, evs, abi.DirIngress)
			serverOut, serverSent := memcachedCuts(t, evs, abi.DirEgress)
			want := map[string]int{tt.set: sets, tt.value: gets}
			assert.Equal(t, want, clientCut, "memcslap's messages sent as sizes")
			assert.Equal(t, want, map[string]int{tt.set: serverIn[tt.set], tt.value: serverOut[tt.value]}, "memcached's")
			assert.Equal(t, clientSent, serverRead, "bytes memcslap sent, memcached read")
			assert.Equal(t, clientRead, serverSent, "bytes memcached sent, memcslap read")
			require.Zero(t, c.lost(), "events lost")
		})
	}
}
