package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCapture proxies one exchange with an upper-casing server and checks the three files.
func TestCapture(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		for i := range b {
			if b[i] >= 'a' && b[i] <= 'z' {
				b[i] -= 'a' - 'A'
			}
		}
		c.Write(b)
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "x")
	p := &proxy{to: srv.Addr().String(), out: prefix}
	go p.serve(ln)

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "HELLO" {
		t.Fatalf("%q %v", got, err)
	}
	c.Close()
	ln.Close()
	p.wait(5 * time.Second)

	for suffix, want := range map[string]string{"c2s": "hello", "s2c": "HELLO", "seq": "c2s 5\ns2c 5\n"} {
		b, err := os.ReadFile(prefix + "-1." + suffix)
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", suffix, b, err, want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "10.0.0.1:1": false, "x": false, ":80": false} {
		if loopback(addr) != want {
			t.Errorf("loopback(%q) != %v", addr, want)
		}
	}
}
