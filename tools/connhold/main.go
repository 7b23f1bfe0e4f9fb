package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP server `host:port`")
	n := flag.Int("n", 10000, "connections to open")
	parallel := flag.Int("parallel", 64, "connections opened at once")
	hold := flag.Duration("hold", 10*time.Minute, "close everything after `D` at the latest")
	stdin := flag.Bool("stdin", false, "also stop when standard input closes")
	flag.Parse()

	conns := make([]net.Conn, *n)
	errs := make(chan error, *n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := open(*addr)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed == 0 {
			fmt.Fprintln(os.Stderr, "connhold:", err)
		}
		failed++
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "connhold: %d of %d connections failed\n", failed, *n)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", *n)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	eof := make(chan struct{})
	if *stdin {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(eof)
		}()
	}
	select {
	case <-stop:
	case <-eof:
	case <-time.After(*hold):
	}
	for _, c := range conns {
		c.Close()
	}
}

// open connects, sends one keep-alive GET and reads the whole response, leaving the connection
// open and idle.
func open(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
