package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A peer is the test binary re-executed as one end of a conversation: a process of its own, with
// a pid the test knows, in the network namespace it was started in. A package whose tests use
// peers calls PeerMain from its TestMain with the roles a peer can play.

const (
	peerRole = "NETOBSERVER_PEER"
	peerNet  = "NETOBSERVER_PEER_NET"
	peerAddr = "NETOBSERVER_PEER_ADDR"
)

// PeerRole is what a peer runs: network and address are StartPeer's; the result is the peer's
// exit code. It talks to the test in lines on standard output (the first word says what
// happened, Peer.Expect reads it) and takes its cues as lines on standard input (Peer.Say).
type PeerRole func(network, addr string) int

// PeerMain runs the role the process was started for (StartPeer), or else the tests.
func PeerMain(m *testing.M, roles map[string]PeerRole) {
	name := os.Getenv(peerRole)
	if name == "" {
		os.Exit(m.Run())
	}
	role, ok := roles[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "no peer role %q\n", name)
		os.Exit(2)
	}
	os.Exit(role(os.Getenv(peerNet), os.Getenv(peerAddr)))
}

// Peer is a running peer. It is killed when the test ends.
type Peer struct {
	Cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// StartPeer starts the test binary as role in namespace ns ("" for the test's own).
func StartPeer(t testing.TB, ns, role, network, addr string) *Peer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	if ns != "" {
		cmd = Command(ns, exe)
	}
	cmd.Env = append(os.Environ(), peerRole+"="+role, peerNet+"="+network, peerAddr+"="+addr)
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
	p := &Peer{Cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(p.Stop)
	return p
}

// Pid is the peer's process id.
func (p *Peer) Pid() int { return p.Cmd.Process.Pid }

// Stop kills the peer and waits for it.
func (p *Peer) Stop() {
	p.stdin.Close()
	p.Cmd.Process.Kill()
	p.Cmd.Wait()
}

// Expect waits up to 10 s for the peer's next line, which must start with the word want, and
// returns the line's other words.
func (p *Peer) Expect(t testing.TB, want string) []string {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("peer %d exited before saying %q", p.Pid(), want)
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != want {
			t.Fatalf("peer %d said %q, want %q", p.Pid(), line, want)
		}
		return f[1:]
	case <-time.After(10 * time.Second):
		t.Fatalf("peer %d did not say %q in 10s", p.Pid(), want)
	}
	return nil
}

// Say gives the peer its next cue: a line on its standard input.
func (p *Peer) Say(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// HoldServer is a peer role: it listens, says "listening <fd>", then "accepted <fd> <local>
// <remote>" for each connection, which it holds open, never reading, until it is killed.
func HoldServer(network, addr string) int {
	l, err := net.Listen(network, addr)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	fmt.Println("listening", FD(l))
	var held []net.Conn
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		held = append(held, c)
		fmt.Println("accepted", FD(c), c.LocalAddr(), c.RemoteAddr())
	}
}

// FD is the fd behind a net.Conn or net.Listener (not a dup of it), or -1.
func FD(c any) int {
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
