// Command h2cserver is an HTTP server without TLS that speaks HTTP/2 (golang.org/x/net/http2/h2c):
// to clients that upgrade an HTTP/1.1 connection (Upgrade: h2c, as curl --http2 does), to clients
// with prior knowledge, and HTTP/1.1 to the others. It answers every request 200 with "hello
// <path>\n", except /status/<code>, answered with that code.
//
//	h2cserver -listen 10.0.0.1:8080
//
// On SIGTERM or SIGINT it stops and prints what it served, "served <proto> <method> <path>
// <code> <n>" per kind of request, so tests compare what netobserver recorded with the server's
// own count.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "h2cserver:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	served := map[string]int{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		if s, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			if c, err := strconv.Atoi(s); err == nil && c >= 200 && c <= 599 {
				code = c
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		fmt.Fprintf(w, "hello %s\n", r.URL.Path)
		mu.Lock()
		served[fmt.Sprintf("%s %s %s %d", r.Proto, r.Method, r.URL.Path, code)]++
		mu.Unlock()
	})
	srv := &http.Server{Handler: h2c.NewHandler(h, &http2.Server{})}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		srv.Shutdown(context.Background())
	}()
	fmt.Println("listening", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "h2cserver:", err)
		os.Exit(1)
	}
	mu.Lock()
	defer mu.Unlock()
	keys := make([]string, 0, len(served))
	for k := range served {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("served %s %d\n", k, served[k])
	}
}
