package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// servePprof serves Go's runtime profiles on addr (--pprof), for measuring the observer on a real
// workload: GET /debug/pprof/NAME returns pprof.Lookup(NAME) (heap, allocs, goroutine, …) in the
// protobuf format `go tool pprof` reads, and /debug/pprof/profile?seconds=N a CPU profile. Off
// unless asked for; plain HTTP without authentication, so meant for a loopback address.
// net/http/pprof is not used: it registers itself on http.DefaultServeMux, which a handler-less
// server elsewhere in the binary would then expose.
func servePprof(addr string, logger *slog.Logger) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/")
		if name == "profile" {
			cpuProfile(w, r)
			return
		}
		p := pprof.Lookup(name)
		if p == nil {
			http.Error(w, "no profile "+strconv.Quote(name), http.StatusNotFound)
			return
		}
		if r.FormValue("gc") != "" {
			// As net/http/pprof's ?gc=1: the heap profile as of a collection made now.
			runtime.GC()
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		p.WriteTo(w, 0)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("netobserver: --pprof stopped serving", "address", l.Addr().String(), "error", err)
		}
	}()
	logger.Info("netobserver: serving Go runtime profiles", "address", l.Addr().String(), "path", "/debug/pprof/")
	return l.Addr(), nil
}

func cpuProfile(w http.ResponseWriter, r *http.Request) {
	secs, err := strconv.Atoi(r.FormValue("seconds"))
	if err != nil || secs <= 0 || secs > 600 {
		secs = 30
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := pprof.StartCPUProfile(w); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	select {
	case <-time.After(time.Duration(secs) * time.Second):
	case <-r.Context().Done():
	}
	pprof.StopCPUProfile()
}
