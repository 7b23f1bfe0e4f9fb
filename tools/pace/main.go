// Command pace sends HTTP/1.1 GETs at a fixed rate over keep-alive connections and prints the
// latency percentiles, for the observer's added-latency benchmark (scripts/bench-observer.sh):
// wrk has no rate option and Debian has no wrk2.
//
//	pace -addr 10.0.0.1:8080 -rate 5000 -c 8 -d 5s
//
// Each of c connections sends rate/c requests a second on its own schedule (open loop: a late
// request does not push the later ones back, nor does it send a burst to catch up), one request in
// flight at a time. A request's latency is from the start of its write to the end of its response;
// the schedule's slip (how late requests were sent) is printed beside it, so that a client that
// could not keep the rate shows. Output, one line:
//
//	requests N errors E rate R p50_us X p90_us X p99_us X max_us X late_p99_us X
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP server `host:port`")
	rate := flag.Int("rate", 5000, "requests per second, all connections together")
	conns := flag.Int("c", 8, "connections")
	dur := flag.Duration("d", 5*time.Second, "how long to send")
	path := flag.String("path", "/", "request path")
	flag.Parse()
	if *rate <= 0 || *conns <= 0 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "pace: -rate, -c and -d must be positive")
		os.Exit(2)
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\n\r\n")
	interval := time.Duration(int64(time.Second) * int64(*conns) / int64(*rate))
	type result struct {
		lat, late []time.Duration
		errs      int
	}
	results := make([]result, *conns)
	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(*dur)
	var wg sync.WaitGroup
	for i := range *conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := &results[i]
			c, err := net.Dial("tcp", *addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, "pace:", err)
				r.errs++
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			// Spread the connections' schedules over one interval.
			next := start.Add(interval * time.Duration(i) / time.Duration(*conns))
			for next.Before(end) {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				r.late = append(r.late, t0.Sub(next))
				if _, err := c.Write(req); err != nil {
					r.errs++
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					r.errs++
					return
				}
				r.lat = append(r.lat, time.Since(t0))
				next = next.Add(interval)
				if now := time.Now(); next.Before(now.Add(-interval)) {
					next = now // far behind: no burst to catch up
				}
			}
		}(i)
	}
	wg.Wait()
	var lat, late []time.Duration
	errs := 0
	for _, r := range results {
		lat = append(lat, r.lat...)
		late = append(late, r.late...)
		errs += r.errs
	}
	if len(lat) == 0 {
		fmt.Fprintln(os.Stderr, "pace: no request completed")
		os.Exit(1)
	}
	slices.Sort(lat)
	slices.Sort(late)
	pct := func(s []time.Duration, p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()) / 1e3
	}
	fmt.Printf("requests %d errors %d rate %.0f p50_us %.1f p90_us %.1f p99_us %.1f max_us %.1f late_p99_us %.1f\n",
		len(lat), errs, float64(len(lat))/dur.Seconds(), pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99),
		pct(lat, 1), pct(late, 0.99))
	if errs > 0 {
		os.Exit(1)
	}
}
