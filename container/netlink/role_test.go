package netlink

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/assert"
)

func TestRoleByPorts(t *testing.T) {
	for _, tc := range []struct {
		local, remote uint16
		want          abi.Role
	}{
		{40000, 80, abi.RoleClient},     // well-known remote
		{80, 40000, abi.RoleServer},     // well-known local
		{1500, 443, abi.RoleClient},     // well-known remote, local not ephemeral
		{40000, 3306, abi.RoleClient},   // ephemeral local, registered remote
		{6379, 50000, abi.RoleServer},   // registered local, ephemeral remote
		{40000, 50000, abi.RoleUnknown}, // both ephemeral
		{8080, 9090, abi.RoleUnknown},   // both registered
		{22, 80, abi.RoleUnknown},       // both well-known
		{40000, 0, abi.RoleUnknown},     // unconnected
		{0, 80, abi.RoleUnknown},
	} {
		assert.Equal(t, tc.want, roleByPorts(tc.local, tc.remote), "%d → %d", tc.local, tc.remote)
	}
}

func TestTCPRole(t *testing.T) {
	ap := netip.MustParseAddrPort
	sock := func(local, remote string) Socket {
		return Socket{State: StateEstablished, Local: ap(local), Remote: ap(remote)}
	}
	wild := []netip.AddrPort{ap("0.0.0.0:45000"), ap("[::]:45001")}
	specific := []netip.AddrPort{ap("10.0.0.1:45000"), ap("127.0.0.1:45002")}
	for _, tc := range []struct {
		name   string
		s      Socket
		listen []netip.AddrPort
		want   abi.Role
	}{
		{"listener", Socket{State: StateListen, Local: ap("0.0.0.0:45000")}, nil, abi.RoleServer},
		// Ports that the fallback alone would call client: the listener decides.
		{"accepted on wildcard", sock("10.0.0.1:45000", "10.0.0.2:80"), wild, abi.RoleServer},
		{"accepted on v6 wildcard, v4-mapped", sock("[::ffff:10.0.0.1]:45001", "[::ffff:10.0.0.2]:80"), wild, abi.RoleServer},
		{"accepted on its address", sock("10.0.0.1:45000", "10.0.0.2:80"), specific, abi.RoleServer},
		{"same port, other address", sock("10.0.0.9:45000", "10.0.0.2:50000"), specific, abi.RoleUnknown},
		// Ports that the fallback alone would call server: the listener at the far end decides.
		{"to own listener on loopback", sock("127.0.0.1:80", "127.0.0.1:45000"), wild, abi.RoleClient},
		{"to own listener by address", sock("127.0.0.1:80", "127.0.0.1:45002"), specific, abi.RoleClient},
		{"to own address, wildcard listener", sock("10.0.0.1:80", "10.0.0.1:45000"), wild, abi.RoleClient},
		{"remote port listened elsewhere", sock("10.0.0.1:80", "10.0.0.7:45000"), wild, abi.RoleServer},
		{"no listener: ports", sock("10.0.0.1:40000", "10.0.0.2:443"), nil, abi.RoleClient},
	} {
		assert.Equal(t, tc.want, tcpRole(tc.s, tc.listen), tc.name)
	}
}

func TestUnixRole(t *testing.T) {
	listen := map[string]struct{}{"/run/a.sock": {}}
	for _, tc := range []struct {
		name string
		s    Socket
		want abi.Role
	}{
		{"listener", Socket{State: StateListen, Path: "/run/a.sock"}, abi.RoleServer},
		{"accepted", Socket{State: StateEstablished, Path: "/run/a.sock", Peer: 2}, abi.RoleServer},
		{"client", Socket{State: StateEstablished, Peer: 1, PeerPath: "/run/a.sock"}, abi.RoleClient},
		{"datagram client of /dev/log", Socket{State: StateEstablished, Peer: 1, PeerPath: "/dev/log"}, abi.RoleClient},
		{"named end, unnamed peer", Socket{State: StateEstablished, Path: "/run/b.sock", Peer: 1}, abi.RoleServer},
		{"socketpair", Socket{State: StateEstablished, Peer: 1}, abi.RoleUnknown},
		{"unconnected", Socket{State: StateClose}, abi.RoleUnknown},
	} {
		assert.Equal(t, tc.want, unixRole(tc.s, listen), tc.name)
	}
}

// kernel records the control calls Push makes.
type kernel struct {
	calls []string
	fail  error
}

func (k *kernel) UpdateConnAddr(id abi.ConnID, a abi.SockAddr, port uint16, drop bool) error {
	k.calls = append(k.calls, fmt.Sprintf("addr %v %v local=%d drop=%v", id, a, port, drop))
	return k.fail
}

func (k *kernel) UpdateConnRole(id abi.ConnID, r abi.Role) error {
	k.calls = append(k.calls, fmt.Sprintf("role %v %v", id, r))
	return nil
}

func TestPush(t *testing.T) {
	id := abi.ConnID{FD: 5, TGID: 100, Start: 7}
	s := Socket{Family: abi.FamilyInet, Local: netip.MustParseAddrPort("10.0.0.1:40000"),
		Remote: netip.MustParseAddrPort("10.0.0.2:80"), Role: abi.RoleClient}
	k := &kernel{}
	assert.NoError(t, s.Push(k, id, false))
	assert.Equal(t, []string{"addr 5:100:7 10.0.0.2:80 local=40000 drop=false", "role 5:100:7 client"}, k.calls)

	// Unknown role: the address only. Unix: the family only, dropped by the observer's choice.
	k = &kernel{}
	u := Socket{Family: abi.FamilyUnix, Role: abi.RoleUnknown}
	assert.NoError(t, u.Push(k, id, true))
	assert.Equal(t, []string{"addr 5:100:7 unix local=0 drop=true"}, k.calls)

	// A failed address update stops there.
	k = &kernel{fail: errors.New("closed")}
	assert.Error(t, s.Push(k, id, false))
	assert.Len(t, k.calls, 1)
}
