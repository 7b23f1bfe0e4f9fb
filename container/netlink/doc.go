// Package netlink (directory container/netlink) finds the socket behind a traced connection when
// the kernel side did not learn its address or its role: from the connection's (tgid, fd) it reads
// the socket's inode and looks it up with NETLINK_SOCK_DIAG in that process's network namespace
// (TCP and UDP over IPv4 and IPv6, AF_UNIX), inferring the role from the namespace's listening
// sockets, then from ports. It reports what the socket is; what to drop is the observer's choice.
// How it works and what it costs: README.md.
package netlink
