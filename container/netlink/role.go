package netlink

import (
	"net/netip"

	"github.com/netobserver/netobserver/abi"
)

// ephemeralLow is where ephemeral ports start for the port fallback: Linux's default
// ip_local_port_range is 32768–60999 (and a new network namespace starts with the default, so
// containers have it too), and IANA's dynamic range, which other systems' clients use, is
// 49152–65535. Reading the real range would need a setns per namespace for a heuristic.
const ephemeralLow = 32768

// tcpRole infers the role of a TCP socket from the LISTEN sockets of its namespace and table,
// then from its ports.
func tcpRole(s Socket, listen []netip.AddrPort) abi.Role {
	if s.State == StateListen {
		return abi.RoleServer
	}
	local, remote := s.Local.Addr().Unmap(), s.Remote.Addr().Unmap()
	for _, l := range listen {
		// An accepted socket keeps the listener's port, on the listener's address or, for a
		// wildcard listener, on whichever address the client reached.
		if l.Port() == s.Local.Port() && (l.Addr().IsUnspecified() || l.Addr().Unmap() == local) {
			return abi.RoleServer
		}
	}
	for _, l := range listen {
		// The other end listens in this same namespace: a connection to ourselves.
		if l.Port() == s.Remote.Port() && (l.Addr().Unmap() == remote ||
			l.Addr().IsUnspecified() && (remote.IsLoopback() || remote == local)) {
			return abi.RoleClient
		}
	}
	return roleByPorts(s.Local.Port(), s.Remote.Port())
}

// roleByPorts is the fallback when no listening socket tells: servers sit on well-known or
// configured ports, clients on ephemeral ones. Port 0 (an unconnected socket) tells nothing.
func roleByPorts(local, remote uint16) abi.Role {
	if local == 0 || remote == 0 {
		return abi.RoleUnknown
	}
	switch {
	case remote < 1024 && local >= 1024:
		return abi.RoleClient
	case local < 1024 && remote >= 1024:
		return abi.RoleServer
	case local >= ephemeralLow && remote < ephemeralLow:
		return abi.RoleClient
	case remote >= ephemeralLow && local < ephemeralLow:
		return abi.RoleServer
	}
	return abi.RoleUnknown
}

// unixRole infers the role of a unix socket. accept gives the new socket the listener's name, so
// a socket named like a LISTEN socket of the namespace is the server end of a connection, and a
// socket whose peer is so named is the client end. Sockets of socketpair(2), both unnamed, stay
// unknown.
func unixRole(s Socket, listenPaths map[string]struct{}) abi.Role {
	if s.State == StateListen {
		return abi.RoleServer
	}
	if _, ok := listenPaths[s.Path]; ok && s.Path != "" {
		return abi.RoleServer
	}
	if _, ok := listenPaths[s.PeerPath]; ok && s.PeerPath != "" {
		return abi.RoleClient
	}
	// No listener (a datagram server such as /dev/log, or a listener since closed): the unnamed
	// end of a connection to a named socket is the client.
	switch {
	case s.Peer != 0 && s.Path == "" && s.PeerPath != "":
		return abi.RoleClient
	case s.Peer != 0 && s.Path != "" && s.PeerPath == "":
		return abi.RoleServer
	}
	return abi.RoleUnknown
}
