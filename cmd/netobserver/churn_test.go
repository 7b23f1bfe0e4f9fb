package main

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// abReport reads the counts ApacheBench reports about its own run.
func abReport(t *testing.T, out string) (complete, failed int, rate float64) {
	t.Helper()
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+([0-9.]+)`).FindStringSubmatch(out)
		require.NotNil(t, m, "%q in ab's report:\n%s", name, out)
		return m[1]
	}
	complete, err := strconv.Atoi(field("Complete requests"))
	require.NoError(t, err)
	failed, err = strconv.Atoi(field("Failed requests"))
	require.NoError(t, err)
	rate, err = strconv.ParseFloat(field("Requests per second"), 64)
	require.NoError(t, err)
	return complete, failed, rate
}

// Connection churn: ab without keep-alive opens a connection per request, thousands a second,
// beyond the 65 536 connections tracked at most. Every call is recorded on both sides, as ab
// counts them, and closed connections are released: the most tracked at once stays small.
func TestConnectionChurnLive(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 231)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	const requests = 70000
	o := testenv.StartObserver(t, `inputs:
  - Type: observer_ilogtail_network_v1
    Common:
      FlushOutL4Interval: 600
      FlushOutL7Interval: 600
    EBPF:
      Enabled: true
flushers:
  - Type: flusher_stdout
`, nil)
	ab := testenv.Command(n.Client, "ab", "-n", strconv.Itoa(requests), "-c", "10", fmt.Sprintf("http://%s/churn", n.ServerV4))
	began := time.Now()
	out, err := ab.CombinedOutput()
	require.NoError(t, err, "%s", out)
	complete, failed, rate := abReport(t, string(out))
	t.Logf("ab: %d complete, %d failed, %.0f requests (connections) per second, %v", complete, failed, rate, time.Since(began))
	require.Equal(t, requests, complete)
	require.Zero(t, failed)
	require.GreaterOrEqual(t, rate, 500.0, "the churn this test is about")
	recs := o.Stop(t, 300*time.Millisecond)

	count := func(pid int) (total int) {
		for _, r := range recs {
			if r["type"] == "protocols" && r["_process_pid_"] == strconv.Itoa(pid) && r["url"] == "/churn" {
				assert.Equal(t, "200", r["resp_code"])
				c, err := strconv.Atoi(r["total_count"])
				require.NoError(t, err)
				total += c
			}
		}
		return total
	}
	assert.Equal(t, complete, count(ab.Process.Pid), "ab's calls")
	assert.Equal(t, complete, count(nginx.Process.Pid), "nginx's calls")
	m := regexp.MustCompile(`connections_peak=(\d+)`).FindStringSubmatch(o.Log())
	require.NotNil(t, m, "the stop line:\n%s", o.Log())
	peak, _ := strconv.Atoi(m[1])
	t.Logf("connections tracked at once: at most %d", peak)
	// Both ends of 10 concurrent connections, and those closed in the last closeGrace (100 ms)
	// at ab's rate, and a poll's worth: far below one per connection made.
	assert.Less(t, peak, 2*int(rate/10)+2000)
}
