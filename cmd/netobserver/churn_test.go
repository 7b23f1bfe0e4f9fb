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
// counts them, and closed connections are released: the most tracked at once stays small. The
// traffic comes in rounds of 1 000 connections with a pause after each, so that an observer short
// of CPU on a busy host still keeps up (ring buffers overflowing would lose calls in the kernel,
// not the churn this test is about), while the average stays far above 500 a second.
func TestConnectionChurnLive(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 231)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	const rounds, perRound = 70, 1000
	o := testenv.StartObserver(t, testenv.Pipeline{}.String(), nil)
	url := fmt.Sprintf("http://%s/churn", n.ServerV4)
	began := time.Now()
	complete, fastest := 0, 0.0
	var abPids []int
	for range rounds {
		ab := testenv.Command(n.Client, "ab", "-n", strconv.Itoa(perRound), "-c", "10", url)
		out, err := ab.CombinedOutput()
		require.NoError(t, err, "%s", out)
		done, failed, rate := abReport(t, string(out))
		require.Zero(t, failed, "%s", out)
		complete += done
		fastest = max(fastest, rate)
		abPids = append(abPids, ab.Process.Pid)
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(began)
	average := float64(complete) / elapsed.Seconds()
	t.Logf("ab: %d complete in %v: %.0f connections a second on average, %.0f in the fastest round", complete, elapsed, average, fastest)
	require.Equal(t, rounds*perRound, complete)
	require.GreaterOrEqual(t, average, 500.0, "the churn this test is about")
	recs := o.Stop(t, 300*time.Millisecond)

	count := func(pids ...int) (total int) {
		for _, r := range recs {
			if r["type"] != "protocols" || r["url"] != "/churn" {
				continue
			}
			for _, pid := range pids {
				if r["_process_pid_"] == strconv.Itoa(pid) {
					assert.Equal(t, "200", r["resp_code"])
					c, err := strconv.Atoi(r["total_count"])
					require.NoError(t, err)
					total += c
				}
			}
		}
		return total
	}
	assert.Equal(t, complete, count(abPids...), "ab's calls")
	assert.Equal(t, complete, count(nginx.Process.Pid), "nginx's calls")
	m := regexp.MustCompile(`connections_peak=(\d+)`).FindStringSubmatch(o.Log())
	require.NotNil(t, m, "the stop line:\n%s", o.Log())
	peak, _ := strconv.Atoi(m[1])
	t.Logf("connections tracked at once: at most %d", peak)
	// Both ends of the connections closed in the last closeGrace (100 ms) at the fastest round's
	// rate, and a poll's worth: far below one per connection made.
	assert.Less(t, peak, 2*int(fastest/10)+2000)
}
