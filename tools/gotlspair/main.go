// Command gotlspair is a Go HTTPS server and client (crypto/tls, net/http) for the tests of the Go
// TLS probes. The server answers GET /ok with 200, GET /missing with 404 and POST /echo with 200
// and the body back; it prints "listening ADDR" once it accepts.
//
//	gotlspair server -listen 10.0.0.1:8443 -cert cert.pem -key key.pem
//	gotlspair client -url https://10.0.0.1:8443 -ca cert.pem -n 300 -c 4 -reuse 10 [-http1] [-hold]
//
// The client makes n requests from c workers, cycling through the three calls; each worker keeps
// its connection alive for reuse requests, then closes it and opens a new one. HTTP/2 is
// negotiated through ALPN unless -http1. It prints its own account as JSON: requests completed by
// method, path and status, new connections, and the protocol of the responses. With -hold a
// worker leaves each connection open when it opens the next, and the client closes them all only
// once it has printed its account and standard input has closed.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gotlspair server|client [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotlspair:", err)
		os.Exit(1)
	}
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:8443", "`address` to listen on")
	cert := fs.String("cert", "", "certificate `file` (PEM)")
	key := fs.String("key", "", "private key `file` (PEM)")
	fs.Parse(args)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ServeTLS(ln, *cert, *key)
}

// Report is the client's own account of what it did.
type Report struct {
	Requests    int            `json:"requests"`
	Calls       map[string]int `json:"calls"` // "METHOD PATH STATUS" → completed requests
	Connections int            `json:"connections"`
	Protocols   map[string]int `json:"protocols"`
	Errors      int            `json:"errors"`
}

var calls = []struct{ method, path, body string }{
	{"GET", "/ok", ""},
	{"GET", "/missing", ""},
	{"POST", "/echo", "hello over tls"},
}

func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	url := fs.String("url", "https://127.0.0.1:8443", "server `URL`")
	ca := fs.String("ca", "", "CA certificate `file` (PEM) the server's certificate is checked against")
	n := fs.Int("n", 300, "requests in all")
	c := fs.Int("c", 4, "concurrent workers, each with its own connection")
	reuse := fs.Int("reuse", 10, "requests per connection before a worker opens a new one")
	http1 := fs.Bool("http1", false, "HTTP/1.1 only (no ALPN h2)")
	hold := fs.Bool("hold", false, "keep every connection open until standard input closes")
	fs.Parse(args)

	pem, err := os.ReadFile(*ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no certificate", *ca)
	}
	rep := Report{Calls: map[string]int{}, Protocols: map[string]int{}}
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	var held []*http.Transport
	transport := func() *http.Transport {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: !*http1, MaxIdleConnsPerHost: 1}
		if *http1 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		return tr
	}
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := transport()
			cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			done := 0
			for i := range next {
				call := calls[i%len(calls)]
				status, proto, fresh, err := do(cl, call.method, *url+call.path, call.body)
				mu.Lock()
				if err != nil {
					rep.Errors++
				} else {
					rep.Requests++
					rep.Calls[fmt.Sprintf("%s %s %d", call.method, call.path, status)]++
					rep.Protocols[proto]++
					if fresh {
						rep.Connections++
					}
				}
				mu.Unlock()
				if done++; done%*reuse != 0 {
					continue
				}
				if *hold {
					mu.Lock()
					held = append(held, tr)
					mu.Unlock()
					tr = transport()
					cl.Transport = tr
				} else {
					tr.CloseIdleConnections()
				}
			}
			mu.Lock()
			held = append(held, tr)
			mu.Unlock()
		}()
	}
	for i := 0; i < *n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return err
	}
	if *hold {
		io.Copy(io.Discard, os.Stdin)
	}
	for _, tr := range held {
		tr.CloseIdleConnections()
	}
	return nil
}

func do(cl *http.Client, method, url, body string) (status int, proto string, fresh bool, err error) {
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { fresh = !i.Reused }}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", false, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", false, err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, "", false, err
	}
	if body != "" && !bytes.Equal(got, []byte(body)) {
		return 0, "", false, fmt.Errorf("%s %s: echoed %q", method, url, got)
	}
	return resp.StatusCode, resp.Proto, fresh, nil
}
