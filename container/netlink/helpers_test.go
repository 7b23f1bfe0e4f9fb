package netlink

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
)

// The test binary doubles as the socket peers: re-executed with NETOBS_NL_PEER set, it becomes a
// server or a client, with a pid and (started through `ip netns exec`) a network namespace of its
// own, and reports the fd of every socket it holds so the test can resolve it by (pid, fd).
func TestMain(m *testing.M) {
	switch os.Getenv("NETOBS_NL_PEER") {
	case "server":
		os.Exit(peerServer(os.Getenv("NETOBS_NL_NET"), os.Getenv("NETOBS_NL_ADDR")))
	case "client":
		os.Exit(peerClient(os.Getenv("NETOBS_NL_NET"), os.Getenv("NETOBS_NL_ADDR")))
	}
	os.Exit(m.Run())
}

// fdOf returns the fd behind a net.Conn or net.Listener, without dup'ing it.
func fdOf(c any) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(u uintptr) { fd = int(u) })
	return fd
}

// peerServer listens, says "listening <fd>", then "accepted <fd> <local> <remote>" for each
// connection, which it keeps open until killed.
func peerServer(network, addr string) int {
	l, err := net.Listen(network, addr)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	fmt.Println("listening", fdOf(l))
	var held []net.Conn
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		held = append(held, c)
		fmt.Println("accepted", fdOf(c), c.LocalAddr(), c.RemoteAddr())
	}
}

// peerClient connects and says "connected <fd> <local> <remote>"; on a line on stdin it closes
// the connection and says "closed", then waits for stdin to close.
func peerClient(network, addr string) int {
	c, err := net.Dial(network, addr)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	fmt.Println("connected", fdOf(c), c.LocalAddr(), c.RemoteAddr())
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	c.Close()
	fmt.Println("closed")
	in.Scan()
	return 0
}

// peer is a re-executed test binary.
type peer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startPeer starts a peer in namespace ns ("" = the test's own).
func startPeer(t *testing.T, ns, role, network, addr string) *peer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	if ns != "" {
		cmd = testenv.Command(ns, exe)
	}
	cmd.Env = append(os.Environ(), "NETOBS_NL_PEER="+role, "NETOBS_NL_NET="+network, "NETOBS_NL_ADDR="+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peer{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *peer) stop() {
	p.stdin.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func (p *peer) pid() uint32 { return uint32(p.cmd.Process.Pid) }

// expect waits for the peer's next line, which must start with word, and returns its other fields.
func (p *peer) expect(t *testing.T, word string) []string {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("peer %d exited before saying %q", p.pid(), word)
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != word {
			t.Fatalf("peer %d said %q, want %q", p.pid(), line, word)
		}
		return f[1:]
	case <-time.After(10 * time.Second):
		t.Fatalf("peer %d did not say %q in 10s", p.pid(), word)
	}
	return nil
}

// say sends a line to the peer.
func (p *peer) say(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
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
