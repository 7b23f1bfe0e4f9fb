//go:build accuracy

package accuracy

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// settledMetrics scrapes the observer's /metrics until the traffic's counters have settled. The
// observer publishes its counters at most once a second, when it consumes a batch of events (each
// scrape is a connection, so it makes one): three equal scrapes 600 ms apart, the first at least
// a second after the traffic, are the final values. Bounded: 10 s.
func settledMetrics(t *testing.T, port int) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	time.Sleep(time.Second)
	var last map[string]float64
	same := 0
	for {
		m, err := scrape(port)
		if err != nil {
			t.Fatalf("scraping the observer's /metrics: %v", err)
		}
		if last != nil && maps.Equal(observerCounters(m), observerCounters(last)) {
			same++
		} else {
			same = 0
		}
		last = m
		if same == 2 || time.Now().After(deadline) {
			return m
		}
		time.Sleep(600 * time.Millisecond)
	}
}

// observerCounters keeps the counters that account for calls (events_total moves with every
// scrape).
func observerCounters(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		for _, p := range []string{"netobserver_unmatched_messages_total", "netobserver_parse_failures_total",
			"netobserver_lost_events_total", "netobserver_cap_dropped_calls_total", "netobserver_lost_stream_bytes_total",
			"netobserver_l7_calls_total"} {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

func scrape(port int) (map[string]float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("not a sample: %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("not a sample: %q", line)
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}
