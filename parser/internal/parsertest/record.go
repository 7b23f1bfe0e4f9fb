package parsertest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// This file serves the tests that make captures from real servers and clients (build tag
// "capture"); the normal test run does not use it.

// Recorder is a TCP proxy on 127.0.0.1 that forwards to a server and records, per accepted
// connection, every read from either side as one Read, in the order the reads completed. A read
// is recorded before it is forwarded, so an answer is always recorded after what caused it.
type Recorder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*recording
	wg     sync.WaitGroup
}

// recording is what a Recorder saw of one connection.
type recording struct {
	mu    sync.Mutex
	reads []Read
}

func (c *recording) add(typ parser.MessageType, b []byte) {
	c.mu.Lock()
	c.reads = append(c.reads, Read{typ, bytes.Clone(b)})
	c.mu.Unlock()
}

// NewRecorder starts a Recorder in front of target.
func NewRecorder(t testing.TB, target string) *Recorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Recorder{ln: ln, target: target}
	go r.serve()
	return r
}

// Addr is the address clients connect to; Port is its port.
func (r *Recorder) Addr() string { return r.ln.Addr().String() }
func (r *Recorder) Port() string { _, p, _ := net.SplitHostPort(r.Addr()); return p }

func (r *Recorder) serve() {
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", r.target)
		if err != nil {
			client.Close()
			continue
		}
		c := &recording{}
		r.mu.Lock()
		r.conns = append(r.conns, c)
		r.mu.Unlock()
		r.wg.Add(2)
		pump := func(dst, src net.Conn, typ parser.MessageType) {
			defer r.wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					c.add(typ, buf[:n])
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			// Half-close so the peer sees the end, then let the other pump finish.
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}
		go pump(server, client, parser.Request)
		go pump(client, server, parser.Response)
	}
}

// Take waits for every proxied connection to end and returns their reads, in accept order, then
// forgets them.
func (r *Recorder) Take() [][]Read {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]Read
	for _, c := range r.conns {
		out = append(out, c.reads)
	}
	r.conns = nil
	return out
}

// Close stops accepting connections.
func (r *Recorder) Close() { r.ln.Close() }

// WriteCapture stores one connection's reads as the capture prefix.{c2s,s2c,seq}.
func WriteCapture(t testing.TB, prefix string, reads []Read) {
	var streams [2]bytes.Buffer
	var seq bytes.Buffer
	for _, r := range reads {
		streams[r.Type-1].Write(r.Data)
		fmt.Fprintf(&seq, "%s %d\n", dirs[r.Type-1], len(r.Data))
	}
	for i, dir := range dirs {
		if err := os.WriteFile(prefix+"."+dir, streams[i].Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(prefix+".seq", seq.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s.{c2s,s2c,seq}: %d reads, %d+%d bytes", prefix, len(reads), streams[0].Len(), streams[1].Len())
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Run runs a command with env added to the environment and stdin as its input, logs its
// combined output and exit status, and returns the output. A failing command does not fail t.
func Run(t testing.TB, env []string, stdin string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	out, err := cmd.CombinedOutput()
	t.Logf("$ %s %v\n%s", name, args, out)
	if err != nil {
		t.Logf("exit: %v", err)
	}
	return string(out)
}
