package netlink

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/netobserver/netobserver/internal/testenv"
)

// These tests use real sockets: held by child processes in network namespaces the test creates
// (testenv subnet 206), and by the test process itself. They need root and fail without it.

// TestTCPAcrossNamespaces resolves both ends of real TCP connections, each held by its own
// process in its own namespace, none of them the test's: the server's listener and accepted
// socket, and the client's socket, over IPv4 and IPv6.
func TestTCPAcrossNamespaces(t *testing.T) {
	n := testenv.NewNet(t, 206)
	own := netnsInode(t, "")
	for _, tc := range []struct {
		name, network string
		server, cli   netip.Addr
		family        uint16
	}{
		{"IPv4", "tcp4", n.ServerV4, n.ClientV4, abi.FamilyInet},
		{"IPv6", "tcp6", n.ServerV6, n.ClientV6, abi.FamilyInet6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := netip.AddrPortFrom(tc.server, 8206)
			srv := testenv.StartPeer(t, n.Server, "server", tc.network, listen.String())
			lfd := atoi(t, srv.Expect(t, "listening")[0])
			cli := testenv.StartPeer(t, n.Client, "client", tc.network, listen.String())
			c := cli.Expect(t, "connected")
			cfd := atoi(t, c[0])
			cliAddr := netip.MustParseAddrPort(c[1])
			require.Equal(t, tc.cli, cliAddr.Addr())
			a := srv.Expect(t, "accepted")
			afd := atoi(t, a[0])
			require.Equal(t, listen.String(), a[1])
			require.Equal(t, cliAddr.String(), a[2])

			r, err := New(Config{})
			require.NoError(t, err)
			defer r.Close()
			srvNS, cliNS := netnsInode(t, n.Server), netnsInode(t, n.Client)
			require.NotEqual(t, own, srvNS)
			require.NotEqual(t, own, cliNS)

			got, err := r.Lookup(uint32(srv.Pid()), afd, tc.family)
			require.NoError(t, err)
			assert.Equal(t, Socket{
				Netns: srvNS, Inode: inodeOf(t, uint32(srv.Pid()), afd), Family: tc.family,
				Protocol: unix.IPPROTO_TCP, State: StateEstablished,
				Local: listen, Remote: cliAddr, Role: abi.RoleServer,
			}, got)
			assert.Equal(t, abi.SockAddrFrom(cliAddr), got.SockAddr())
			assert.Equal(t, cliAddr, got.SockAddr().AddrPort())

			got, err = r.Lookup(uint32(srv.Pid()), lfd, tc.family)
			require.NoError(t, err)
			assert.Equal(t, Socket{
				Netns: srvNS, Inode: inodeOf(t, uint32(srv.Pid()), lfd), Family: tc.family,
				Protocol: unix.IPPROTO_TCP, State: StateListen,
				Local: listen, Remote: netip.AddrPortFrom(unspecified(tc.family), 0), Role: abi.RoleServer,
			}, got)

			// The kernel side did not learn the family: the search goes through the tables.
			got, err = r.Lookup(uint32(cli.Pid()), cfd, abi.FamilyUnknown)
			require.NoError(t, err)
			assert.Equal(t, Socket{
				Netns: cliNS, Inode: inodeOf(t, uint32(cli.Pid()), cfd), Family: tc.family,
				Protocol: unix.IPPROTO_TCP, State: StateEstablished,
				Local: cliAddr, Remote: listen, Role: abi.RoleClient,
			}, got)
			assert.Equal(t, abi.SockAddrFrom(listen), got.SockAddr())

			// One dump of the server's table served two lookups; the client's namespace needed
			// tcp4, and for IPv6 tcp6 too.
			wantDumps := uint64(2)
			if tc.family == abi.FamilyInet6 {
				wantDumps = 3
			}
			st := r.Stats()
			assert.Equal(t, uint64(3), st.Lookups)
			assert.Equal(t, uint64(1), st.Hits)
			assert.Equal(t, wantDumps, st.Dumps)
			assert.Equal(t, uint64(0), st.Failures)
			assert.Equal(t, 2, st.Netns)

			// The client closes its socket: the fd is gone, whatever the cached dump still says.
			cli.Say(t)
			cli.Expect(t, "closed")
			_, err = r.Lookup(uint32(cli.Pid()), cfd, tc.family)
			require.ErrorIs(t, err, ErrNotFound)
			assert.Contains(t, err.Error(), "the fd was closed or the process exited")

			// The server exits: its sockets are not found either.
			srv.Stop()
			_, err = r.Lookup(uint32(srv.Pid()), afd, tc.family)
			require.ErrorIs(t, err, ErrNotFound)

			st = r.Stats()
			assert.Equal(t, uint64(2), st.Failures)
			assert.Equal(t, uint64(2), st.NotFound)
			assert.Equal(t, uint64(0), st.DumpFails)
		})
	}
	assertThreadsInOwnNetns(t, own)
}

func unspecified(family uint16) netip.Addr {
	if family == abi.FamilyInet {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// assertThreadsInOwnNetns checks that every setns was undone: no thread of the test process is
// left in another namespace.
func assertThreadsInOwnNetns(t *testing.T, own uint64) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	for _, task := range tasks {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/task/"+task.Name()+"/ns/net", &st); err != nil {
			continue // the thread exited meanwhile
		}
		assert.Equal(t, own, st.Ino, "thread %s is in another network namespace", task.Name())
	}
}

// TestUnixInNamespace resolves a unix listener, the socket it accepted and the client's socket,
// held by two processes in a namespace other than the test's.
func TestUnixInNamespace(t *testing.T) {
	n := testenv.NewNet(t, 206)
	path := filepath.Join(t.TempDir(), "srv.sock")
	srv := testenv.StartPeer(t, n.Server, "server", "unix", path)
	lfd := atoi(t, srv.Expect(t, "listening")[0])
	cli := testenv.StartPeer(t, n.Server, "client", "unix", path)
	cfd := atoi(t, cli.Expect(t, "connected")[0])
	afd := atoi(t, srv.Expect(t, "accepted")[0])

	r, err := New(Config{})
	require.NoError(t, err)
	defer r.Close()
	ns := netnsInode(t, n.Server)
	lino, aino, cino := inodeOf(t, uint32(srv.Pid()), lfd), inodeOf(t, uint32(srv.Pid()), afd), inodeOf(t, uint32(cli.Pid()), cfd)

	got, err := r.Lookup(uint32(srv.Pid()), afd, abi.FamilyUnix)
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Netns: ns, Inode: aino, Family: abi.FamilyUnix, Type: unix.SOCK_STREAM,
		State: StateEstablished, Path: path, Peer: cino, Role: abi.RoleServer,
	}, got)
	assert.Equal(t, abi.SockAddr{Family: abi.FamilyUnix}, got.SockAddr())

	got, err = r.Lookup(uint32(cli.Pid()), cfd, abi.FamilyUnknown)
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Netns: ns, Inode: cino, Family: abi.FamilyUnix, Type: unix.SOCK_STREAM,
		State: StateEstablished, Peer: aino, PeerPath: path, Role: abi.RoleClient,
	}, got)

	got, err = r.Lookup(uint32(srv.Pid()), lfd, abi.FamilyUnix)
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Netns: ns, Inode: lino, Family: abi.FamilyUnix, Type: unix.SOCK_STREAM,
		State: StateListen, Path: path, Role: abi.RoleServer,
	}, got)

	// One unix dump served all three; with FamilyUnknown the unix table already held the socket,
	// so the TCP tables were not dumped.
	st := r.Stats()
	assert.Equal(t, uint64(1), st.Dumps)
	assert.Equal(t, uint64(2), st.Hits)
	assertThreadsInOwnNetns(t, netnsInode(t, ""))
}

// TestOwnNamespace resolves sockets of the test process itself: an abstract unix socket pair
// through a listener, and a loopback TCP connection, whose client end is recognised by the
// listener on its remote end.
func TestOwnNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	own := netnsInode(t, "")
	pid := uint32(os.Getpid())
	r, err := New(Config{})
	require.NoError(t, err)
	defer r.Close()

	name := "@netobs-nl-206-" + time.Now().Format("150405.000000")
	ul, err := net.Listen("unix", name)
	require.NoError(t, err)
	defer ul.Close()
	uc, err := net.Dial("unix", name)
	require.NoError(t, err)
	defer uc.Close()
	ua, err := ul.Accept()
	require.NoError(t, err)
	defer ua.Close()
	ufd, afd := int32(testenv.FD(uc)), int32(testenv.FD(ua))

	got, err := r.Lookup(pid, ufd, abi.FamilyUnix)
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Netns: own, Inode: inodeOf(t, pid, ufd), Family: abi.FamilyUnix, Type: unix.SOCK_STREAM,
		State: StateEstablished, Peer: inodeOf(t, pid, afd), PeerPath: name, Role: abi.RoleClient,
	}, got)
	got, err = r.Lookup(pid, afd, abi.FamilyUnix)
	require.NoError(t, err)
	assert.Equal(t, name, got.Path)
	assert.Equal(t, abi.RoleServer, got.Role)

	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer tl.Close()
	tc, err := net.Dial("tcp4", tl.Addr().String())
	require.NoError(t, err)
	defer tc.Close()
	ta, err := tl.Accept()
	require.NoError(t, err)
	defer ta.Close()
	got, err = r.Lookup(pid, int32(testenv.FD(tc)), abi.FamilyInet)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddrPort(tc.LocalAddr().String()), got.Local)
	assert.Equal(t, netip.MustParseAddrPort(tl.Addr().String()), got.Remote)
	assert.Equal(t, abi.RoleClient, got.Role)
	got, err = r.Lookup(pid, int32(testenv.FD(ta)), abi.FamilyInet)
	require.NoError(t, err)
	assert.Equal(t, abi.RoleServer, got.Role)

	// A fd that is not a socket.
	f, err := os.Open("/proc/self/stat")
	require.NoError(t, err)
	defer f.Close()
	_, err = r.Lookup(pid, int32(f.Fd()), abi.FamilyUnknown)
	require.ErrorIs(t, err, ErrNotSocket)
	// A family sock_diag is not asked about.
	_, err = r.Lookup(pid, int32(testenv.FD(tc)), 17)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrNotFound))
}

// TestCacheInterval checks the cache's contract on real sockets with a fake clock: one dump per
// (namespace, table) per interval; a socket created after the dump is not found until the
// interval ends; Flush ends it early; a namespace unused for a whole interval is forgotten.
func TestCacheInterval(t *testing.T) {
	testenv.RequireRoot(t)
	pid := uint32(os.Getpid())
	r, err := New(Config{Interval: 10 * time.Second})
	require.NoError(t, err)
	defer r.Close()
	clock := time.Unix(1000, 0)
	r.now = func() time.Time { return clock }
	r.epoch = clock

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	dial := func() int32 {
		c, err := net.Dial("tcp4", l.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return int32(testenv.FD(c))
	}
	first := dial()
	_, err = r.Lookup(pid, first, abi.FamilyInet)
	require.NoError(t, err)
	_, err = r.Lookup(pid, first, abi.FamilyInet)
	require.NoError(t, err)
	st := r.Stats()
	assert.Equal(t, uint64(1), st.Dumps)
	assert.Equal(t, uint64(1), st.Hits)

	// Created after the tcp4 dump: not found; the search dumped udp4 too, once.
	second := dial()
	_, err = r.Lookup(pid, second, abi.FamilyInet)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "not in the dumps of this interval")
	_, err = r.Lookup(pid, second, abi.FamilyInet)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, uint64(2), r.Stats().Dumps)

	// The interval ends: a fresh tcp4 dump finds it.
	clock = clock.Add(10 * time.Second)
	got, err := r.Lookup(pid, second, abi.FamilyInet)
	require.NoError(t, err)
	assert.Equal(t, abi.RoleClient, got.Role)
	assert.Equal(t, uint64(3), r.Stats().Dumps)

	// Flush ends the interval at once.
	third := dial()
	r.Flush()
	_, err = r.Lookup(pid, third, abi.FamilyInet)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), r.Stats().Dumps)
	assert.Positive(t, r.Stats().Sockets)

	// Two intervals without a lookup: the namespace, its socket and its dumps are gone.
	clock = clock.Add(10 * time.Second)
	r.Flush()
	clock = clock.Add(10 * time.Second)
	r.Flush()
	st = r.Stats()
	assert.Equal(t, 0, st.Netns)
	assert.Equal(t, 0, st.Sockets)
}

// TestBounds checks MaxNetns and MaxSockets on real namespaces.
func TestBounds(t *testing.T) {
	n := testenv.NewNet(t, 206)
	srv := testenv.StartPeer(t, n.Server, "server", "tcp4", netip.AddrPortFrom(n.ServerV4, 8207).String())
	lfd := atoi(t, srv.Expect(t, "listening")[0])
	cli := testenv.StartPeer(t, n.Client, "client", "tcp4", netip.AddrPortFrom(n.ServerV4, 8207).String())
	cfd := atoi(t, cli.Expect(t, "connected")[0])
	afd := atoi(t, srv.Expect(t, "accepted")[0])

	r, err := New(Config{MaxNetns: 1})
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Lookup(uint32(srv.Pid()), afd, abi.FamilyInet)
	require.NoError(t, err)
	_, err = r.Lookup(uint32(cli.Pid()), cfd, abi.FamilyInet)
	require.NoError(t, err)
	st := r.Stats()
	assert.Equal(t, 1, st.Netns)
	assert.Equal(t, uint64(1), st.Evictions)
	assert.Equal(t, 1, st.Sockets) // the client's namespace holds one TCP socket

	// One socket of room: the server namespace's dump keeps the listener (needed for roles,
	// kept beyond the bound) and drops the accepted socket.
	r2, err := New(Config{MaxSockets: 1})
	require.NoError(t, err)
	defer r2.Close()
	got, err := r2.Lookup(uint32(srv.Pid()), lfd, abi.FamilyInet)
	require.NoError(t, err)
	assert.Equal(t, StateListen, got.State)
	_, err = r2.Lookup(uint32(srv.Pid()), afd, abi.FamilyInet)
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "tcp4 dump cut at MaxSockets")
}

// TestDumpFailure drives the failure path with a fake /proc: the fd is a socket, but the
// namespace file opened is not the namespace the readlink named (as when the process exits and
// its pid is reused between the two), so no netlink socket is made and no table can be dumped.
// The failure is reported, counted, and not retried until the interval ends.
func TestDumpFailure(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "42/fd"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "42/ns"), 0o755))
	require.NoError(t, os.Symlink("socket:[777]", filepath.Join(root, "42/fd/3")))
	require.NoError(t, os.Symlink("net:[999]", filepath.Join(root, "42/ns/net")))
	require.NoError(t, os.WriteFile(filepath.Join(root, "42/ns/net:[999]"), nil, 0o644))
	require.NoError(t, os.Symlink("pipe:[5]", filepath.Join(root, "42/fd/4")))

	r, err := New(Config{ProcRoot: root})
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Lookup(42, 3, abi.FamilyInet)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNotFound))
	assert.Contains(t, err.Error(), "sock_diag tcp4 dump in netns 999: pid 42 left netns 999")
	assert.Contains(t, err.Error(), "sock_diag udp4 dump in netns 999")
	_, err = r.Lookup(42, 3, abi.FamilyInet)
	require.Error(t, err)
	st := r.Stats()
	assert.Equal(t, uint64(2), st.DumpFails)
	assert.Equal(t, uint64(0), st.Dumps)
	assert.Equal(t, uint64(2), st.Failures)

	_, err = r.Lookup(42, 4, abi.FamilyInet)
	require.ErrorIs(t, err, ErrNotSocket)
	_, err = r.Lookup(42, 5, abi.FamilyInet)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = r.Lookup(43, 3, abi.FamilyInet)
	require.ErrorIs(t, err, ErrNotFound)
}

// TestLargeDump resolves sockets of a dump that spans several datagrams: 1000 listeners.
func TestLargeDump(t *testing.T) {
	testenv.RequireRoot(t)
	pid := uint32(os.Getpid())
	var fds []int32
	for range 1000 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		fds = append(fds, int32(testenv.FD(l)))
	}
	r, err := New(Config{})
	require.NoError(t, err)
	defer r.Close()
	for _, fd := range fds {
		s, err := r.Lookup(pid, fd, abi.FamilyInet)
		require.NoError(t, err)
		require.Equal(t, StateListen, s.State)
		require.Equal(t, inodeOf(t, pid, fd), s.Inode)
	}
	st := r.Stats()
	assert.Equal(t, uint64(1), st.Dumps)
	assert.Equal(t, uint64(999), st.Hits)
	assert.Greater(t, r.netns[netnsInode(t, "")].sock.recvs, 2)
}
