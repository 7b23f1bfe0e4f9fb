package netlink

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
)

// The test binary doubles as the socket peers (testenv.StartPeer): a server or a client, with a
// pid and (started through `ip netns exec`) a network namespace of its own, that reports the fd of
// every socket it holds so the test can resolve it by (pid, fd).
func TestMain(m *testing.M) {
	testenv.PeerMain(m, map[string]testenv.PeerRole{"server": testenv.HoldServer, "client": peerClient})
}

// peerClient connects and says "connected <fd> <local> <remote>"; on a line on stdin it closes
// the connection and says "closed", then waits for stdin to close.
func peerClient(network, addr string) int {
	c, err := net.Dial(network, addr)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	fmt.Println("connected", testenv.FD(c), c.LocalAddr(), c.RemoteAddr())
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	c.Close()
	fmt.Println("closed")
	in.Scan()
	return 0
}

func atoi(t *testing.T, s string) int32 {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// inodeOf reads the socket inode of (pid, fd) the way the package does not: with Stat, which
// follows the fd to the socket's inode.
func inodeOf(t *testing.T, pid uint32, fd int32) uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

// netnsInode is the inode of a named namespace (ip netns add binds it under /run/netns), or of
// the test's own namespace for "".
func netnsInode(t *testing.T, ns string) uint64 {
	t.Helper()
	path := "/proc/self/ns/net"
	if ns != "" {
		path = "/run/netns/" + ns
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
