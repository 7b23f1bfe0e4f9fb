package kerneltest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
)

// The test binary doubles as the traffic peers (testenv.StartPeer): a server or a client with a
// known conversation, a distinct pid, in the namespace it was started in.
func TestMain(m *testing.M) {
	testenv.PeerMain(m, map[string]testenv.PeerRole{"server": server, "client": client, "sink": testenv.HoldServer, "fd-reuse": fdReuse, "peeker": peeker})
}

// The conversation, in RESP so the kernel side detects Redis: a PING, then a SET whose 40000-byte
// value spans three 16384-byte data events.
var (
	ping     = []byte("*1\r\n$4\r\nPING\r\n")
	pong     = []byte("+PONG\r\n")
	bigValue = bytes.Repeat([]byte{'v'}, 40000)
	set      = append([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40000\r\n"), append(bigValue, '\r', '\n')...)
	ok       = []byte("+OK\r\n")
)

func server(network, addr string) int {
	l, err := net.Listen(network, addr)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		go func(c net.Conn) {
			defer c.Close()
			for _, step := range []struct{ in, out []byte }{{ping, pong}, {set, ok}} {
				if _, err := io.ReadFull(c, make([]byte, len(step.in))); err != nil {
					return
				}
				if _, err := c.Write(step.out); err != nil {
					return
				}
			}
			io.Copy(io.Discard, c)
		}(c)
	}
}

// client connects, then waits for a line on stdin before each step, reporting each on stdout, so
// a test can act between connect, exchange and close.
func client(network, addr string) int {
	in := bufio.NewScanner(os.Stdin)
	c, err := net.Dial(network, addr)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	fmt.Println("connected")
	in.Scan()
	if err := converse(c); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("exchanged")
	in.Scan()
	c.Close()
	fmt.Println("closed")
	return 0
}

// peeker plays client's conversation, but looks at each answer before reading it: a recvfrom and
// a recvmsg with MSG_PEEK (as curl checks that a connection it reuses is still alive), then the
// read. It closes and says "done".
func peeker(network, addr string) int {
	c, err := net.Dial(network, addr)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	peek := func() error {
		var perr error
		err := rc.Read(func(fd uintptr) bool {
			b := make([]byte, 3)
			if _, _, perr = syscall.Recvfrom(int(fd), b, syscall.MSG_PEEK); perr == syscall.EAGAIN {
				return false
			}
			if perr == nil {
				_, _, _, _, perr = syscall.Recvmsg(int(fd), b, nil, syscall.MSG_PEEK)
			}
			return true
		})
		if err != nil {
			return err
		}
		return perr
	}
	for _, step := range []struct{ out, in []byte }{{ping, pong}, {set, ok}} {
		if _, err := c.Write(step.out); err != nil {
			fmt.Println("write:", err)
			return 1
		}
		if err := peek(); err != nil {
			fmt.Println("peek:", err)
			return 1
		}
		if _, err := io.ReadFull(c, make([]byte, len(step.in))); err != nil {
			fmt.Println("read:", err)
			return 1
		}
	}
	c.Close()
	fmt.Println("done")
	return 0
}

// converse plays the client's side of the conversation. The send buffer is made large enough
// that the SET leaves in one write syscall, which the kernel side must split into three events.
func converse(c net.Conn) error {
	if b, ok := c.(interface{ SetWriteBuffer(int) error }); ok {
		if err := b.SetWriteBuffer(1 << 20); err != nil {
			return err
		}
	}
	for _, step := range []struct{ out, in []byte }{{ping, pong}, {set, ok}} {
		if _, err := c.Write(step.out); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if _, err := io.ReadFull(c, make([]byte, len(step.in))); err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
	return nil
}

// fdReuse makes close(2) race with the reuse of its fd number, deterministically: connection A
// fills its send buffer towards a sink, so a close with SO_LINGER blocks (in the kernel, after the
// fd is released) until the linger timeout; meanwhile another thread opens connection B, which
// gets A's fd number, and sends a PING; after A's close returns, B sends another PING and closes.
func fdReuse(_, addr string) int {
	fail := func(what string, err error) int { fmt.Println(what+":", err); return 1 }
	ap := netip.MustParseAddrPort(addr)
	sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	dial := func() (int, error) {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			return -1, err
		}
		return fd, syscall.Connect(fd, sa)
	}
	a, err := dial()
	if err != nil {
		return fail("connect A", err)
	}
	if err := syscall.SetNonblock(a, true); err != nil {
		return fail("nonblock", err)
	}
	chunk := make([]byte, 65536)
	for {
		if _, err := syscall.Write(a, chunk); err == syscall.EAGAIN {
			break
		} else if err != nil {
			return fail("fill A", err)
		}
	}
	if err := syscall.SetNonblock(a, false); err != nil {
		return fail("block", err)
	}
	if err := syscall.SetsockoptLinger(a, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 2}); err != nil {
		return fail("linger", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- syscall.Close(a) }()
	time.Sleep(500 * time.Millisecond)
	b, err := dial()
	if err != nil {
		return fail("connect B", err)
	}
	if b != a {
		fmt.Printf("fd %d was not reused: B got %d\n", a, b)
		return 1
	}
	if _, err := syscall.Write(b, ping); err != nil {
		return fail("write B", err)
	}
	if err := <-closed; err != nil {
		return fail("close A", err)
	}
	if _, err := syscall.Write(b, ping); err != nil {
		return fail("write B again", err)
	}
	if err := syscall.Close(b); err != nil {
		return fail("close B", err)
	}
	fmt.Println("done")
	return 0
}

// peer is a testenv.Peer in the words of these tests.
type peer struct {
	*testenv.Peer
	cmd *exec.Cmd
}

func startPeer(t *testing.T, ns, role, network, addr string) *peer {
	t.Helper()
	p := testenv.StartPeer(t, ns, role, network, addr)
	return &peer{Peer: p, cmd: p.Cmd}
}

func (p *peer) pid() int { return p.Pid() }

// expect waits for the peer to say want.
func (p *peer) expect(t *testing.T, want string) {
	t.Helper()
	p.Expect(t, want)
}

// next tells the client to take its next step and waits until it reports it done.
func (p *peer) next(t *testing.T, want string) {
	t.Helper()
	p.Say(t)
	p.Expect(t, want)
}
