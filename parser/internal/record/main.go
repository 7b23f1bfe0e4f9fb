// Command record is a TCP proxy that records what passes through it, to make parser test
// captures from real clients and servers.
//
//	record -listen 127.0.0.1:18080 -to 127.0.0.1:18081 -out testdata/captures/get
//
// Each accepted connection N (from 1, in accept order) is forwarded to -to and recorded as
//
//	<out>-N.c2s  the bytes the client sent (requests), raw
//	<out>-N.s2c  the bytes the server sent (responses), raw
//	<out>-N.seq  one line per read, in the order the proxy saw them: "c2s <n>" or "s2c <n>"
//
// so a test can replay each direction whole, or both interleaved as they happened. Half-closes
// are passed on. It runs until SIGINT or SIGTERM, then waits up to a second for connections in
// flight. Only loopback addresses are accepted, so captures stay on the machine.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to accept clients on")
	to := flag.String("to", "", "loopback address of the server")
	out := flag.String("out", "", "path prefix of the recordings")
	flag.Parse()
	if *to == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	for _, a := range []string{*listen, *to} {
		if !loopback(a) {
			log.Fatalf("record: %s is not a loopback address", a)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("record: %s -> %s, recording to %s-N.*", ln.Addr(), *to, *out)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	p := &proxy{to: *to, out: *out}
	go func() {
		<-sig
		ln.Close()
	}()
	p.serve(ln)
	p.wait(time.Second)
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type proxy struct {
	to, out string
	wg      sync.WaitGroup
}

// serve accepts until ln is closed.
func (p *proxy) serve(ln net.Listener) {
	for n := 1; ; n++ {
		client, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Print(err)
			}
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.record(client, fmt.Sprintf("%s-%d", p.out, n)); err != nil {
				log.Printf("record: connection %d: %v", n, err)
			}
		}()
	}
}

func (p *proxy) wait(d time.Duration) {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		log.Print("record: connections still open; their recordings may be incomplete")
	}
}

// record forwards one connection both ways, writing what passes to prefix.{c2s,s2c,seq}.
func (p *proxy) record(client net.Conn, prefix string) error {
	defer client.Close()
	server, err := net.Dial("tcp", p.to)
	if err != nil {
		return err
	}
	defer server.Close()
	rec, err := newRecording(prefix)
	if err != nil {
		return err
	}
	defer rec.close()
	errs := make(chan error, 2)
	go func() { errs <- rec.copy(server, client, 0) }()
	go func() { errs <- rec.copy(client, server, 1) }()
	err = <-errs
	if err != nil {
		// Unblock the other direction.
		client.Close()
		server.Close()
	}
	return errors.Join(err, <-errs)
}

// recording holds the files of one connection; the mutex keeps .seq in the order reads ended.
type recording struct {
	mu    sync.Mutex
	files [2]*os.File // c2s, s2c
	seq   *os.File
}

var dirs = [2]string{"c2s", "s2c"}

func newRecording(prefix string) (*recording, error) {
	r := &recording{}
	var err error
	for i, d := range dirs {
		if r.files[i], err = os.Create(prefix + "." + d); err != nil {
			r.close()
			return nil, err
		}
	}
	if r.seq, err = os.Create(prefix + ".seq"); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *recording) close() {
	for _, f := range append(r.files[:], r.seq) {
		if f != nil {
			f.Close()
		}
	}
}

// copy forwards src to dst, recording each read as direction dir, and half-closes dst at EOF.
func (r *recording) copy(dst, src net.Conn, dir int) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			_, werr := r.files[dir].Write(buf[:n])
			if werr == nil {
				_, werr = fmt.Fprintf(r.seq, "%s %d\n", dirs[dir], n)
			}
			r.mu.Unlock()
			if werr != nil {
				return werr
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			if tc, ok := dst.(*net.TCPConn); ok {
				return tc.CloseWrite()
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
				return nil
			}
			return err
		}
	}
}
