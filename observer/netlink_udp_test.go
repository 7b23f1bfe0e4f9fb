package observer

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/netobserver/netobserver/container/netlink"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A DNS server answers on one unconnected UDP socket. The kernel side knows each datagram's peer
// (recvmsg's msg_name) but not the connection's role when it first sees it (role unknown), so
// the observer asks netlink — and sock_diag reports an unconnected socket's remote as 0.0.0.0:0.
// That unspecified address must not replace the peer the kernel knew, nor make the connection a
// "local" one dropped by DropLocalConnections: dnsmasq's calls were lost this way in the
// end-to-end suite (e2e, TestEndToEnd/dns: no role=server record for dnsmasq; with
// DropLocalConnections false they appear).
func TestUnconnectedUDPServerSocketIsNotDropped(t *testing.T) {
	testenv.RequireRoot(t)
	// The socket behind the traced connection must exist, in this process, for the lookup.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	raw, err := pc.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	fd := -1
	require.NoError(t, raw.Control(func(u uintptr) { fd = int(u) }))
	nl, err := netlink.New(netlink.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { nl.Close() })

	// What `netobserver record` captured of dig → dnsmasq, on dnsmasq's side (its fd and pid
	// replaced by this socket's): the first recvmsg announces the connection with role unknown.
	conn := fmt.Sprintf("%d:%d:1", fd, os.Getpid())
	trace := fmt.Sprintf(`ctrl ts=1000 conn=%[1]s event=connect addr=10.211.0.2:38299 role=unknown
data ts=1100 conn=%[1]s dir=ingress proto=dns role=server type=request syscall=recvmsg addr=10.211.0.2:38299 "\x1b\x0b\x01 \x00\x01\x00\x00\x00\x00\x00\x00\x01b\x04test\x00\x00\x01\x00\x01"
data ts=1500 conn=%[1]s dir=egress proto=dns role=server type=response syscall=sendmsg addr=10.211.0.2:38299 "\x1b\x0b\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00\x01b\x04test\x00\x00\x01\x00\x01"
`, conn)
	opts := defaultOptions()
	opts.Netlink = nl
	recs, calls := runTrace(t, trace, opts)
	for _, c := range calls {
		if strings.HasPrefix(c, "update_conn_addr") {
			assert.NotContains(t, c, "drop=1", "the datagram peer is known: not a local connection")
		}
	}
	var server []string
	for _, r := range recs {
		if get(r, "type") == "protocols" && get(r, "protocol") == "dns" {
			server = append(server, get(r, "role")+" "+get(r, "query_record")+" "+get(r, "remote_info"))
		}
	}
	assert.Equal(t, []string{"server b.test " + `{"remote_ip":"10.211.0.2","remote_port":"0"}` + "\n"}, server)
}
