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
	out := flag.String("out", "", "path prefix of the captures")
	flag.Parse()
	if *to == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	for _, a := range []string{*listen, *to} {
		if !loopback(a) {
			log.Fatalf("captureproxy: %s is not a loopback address", a)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("captureproxy: %s -> %s, capturing to %s-N.*", ln.Addr(), *to, *out)
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
			if err := p.capture(client, fmt.Sprintf("%s-%d", p.out, n)); err != nil {
				log.Printf("captureproxy: connection %d: %v", n, err)
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
		log.Print("captureproxy: connections still open; their captures may be incomplete")
	}
}

// capture forwards one connection both ways, writing what passes to prefix.{c2s,s2c,seq}.
func (p *proxy) capture(client net.Conn, prefix string) error {
	defer client.Close()
	server, err := net.Dial("tcp", p.to)
	if err != nil {
		return err
	}
	defer server.Close()
	files, err := createCapture(prefix)
	if err != nil {
		return err
	}
	defer files.close()
	errs := make(chan error, 2)
	go func() { errs <- files.copy(server, client, 0) }()
	go func() { errs <- files.copy(client, server, 1) }()
	err = <-errs
	if err != nil {
		// Unblock the other direction.
		client.Close()
		server.Close()
	}
	return errors.Join(err, <-errs)
}

// captureFiles are the files of one connection; the mutex keeps .seq in the order reads ended.
type captureFiles struct {
	mu    sync.Mutex
	files [2]*os.File // c2s, s2c
	seq   *os.File
}

var dirs = [2]string{"c2s", "s2c"}

func createCapture(prefix string) (*captureFiles, error) {
	r := &captureFiles{}
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

func (r *captureFiles) close() {
	for _, f := range append(r.files[:], r.seq) {
		if f != nil {
			f.Close()
		}
	}
}

// copy forwards src to dst, writing each read down as direction dir, and half-closes dst at EOF.
func (r *captureFiles) copy(dst, src net.Conn, dir int) error {
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
