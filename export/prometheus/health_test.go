package prometheus

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netobserver/netobserver/observer/live"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Readiness waits for the observer's first counters with polls_total > 0; liveness holds while
// they keep coming within LiveBound, and before the first within StartBound.
func TestHealthStates(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHealth(func() time.Time { return now })
	h.start()
	polls := func(n uint64) []live.Metric { return []live.Metric{{Name: "polls_total", Value: n}} }
	check := func(wantLive, wantReady bool, what string) {
		t.Helper()
		live, why := h.live()
		assert.Equal(t, wantLive, live, "live %s: %s", what, why)
		ready, why := h.ready()
		assert.Equal(t, wantReady, ready, "ready %s: %s", what, why)
	}
	check(true, false, "at the start")
	now = now.Add(StartBound)
	check(true, false, "at the start bound")
	h.observed(polls(0))
	check(true, false, "published before the first poll")
	h.observed(polls(3))
	check(true, true, "polled")
	now = now.Add(LiveBound)
	check(true, true, "at the live bound")
	now = now.Add(time.Second)
	check(false, false, "past the live bound")
	h.observed(polls(4))
	check(true, true, "publishing again")

	stuck := newHealth(func() time.Time { return now })
	stuck.start()
	now = now.Add(StartBound + time.Second)
	live, why := stuck.live()
	assert.False(t, live)
	assert.Equal(t, "the observer has not published its counters in the 2m1s since the start", why)
}

// With basic auth in the web config, /metrics wants a login and the probes' paths do not: kubelet
// cannot send one. The probes answer 200 or 503 with the reason.
func TestHealthEndpointsBesideMetrics(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	require.NoError(t, err)
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(webConfig, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600))
	e := New()
	addr, err := e.Listen("127.0.0.1:0", "/metrics", webConfig)
	require.NoError(t, err)
	defer e.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, _ := get("/metrics")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, body := get(LivePath)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "starting\n", body)
	code, body = get(ReadyPath)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "the observer has not started\n", body)

	e.SetCounters("observer", []live.Metric{{Name: "polls_total", Help: "Polls.", Value: 1}})
	code, body = get(ReadyPath)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	code, _ = get("/healthz/../metrics") // not the probe's path: auth applies, whatever the mux makes of it
	assert.Equal(t, http.StatusUnauthorized, code)

	_, err = New().Listen("127.0.0.1:0", ReadyPath, "")
	assert.ErrorContains(t, err, "Path /readyz is the health endpoint's")
}

// Past the series bound a call or L4 delta is not counted in any series, and is counted as
// refused.
func TestSeriesBound(t *testing.T) {
	e := New()
	for i := range MaxCallSeries + 3 {
		e.Call(live.Call{Protocol: "p" + string(rune('A'+i%26)) + string(rune('A'+i/26)), Role: "client", Success: true})
	}
	for i := range MaxL4Series + 2 {
		e.L4(live.L4{Role: "r" + string(rune('A'+i)), SocketType: "inet_socket", SendBytes: 1})
	}
	assert.Equal(t, MaxCallSeries, e.callSeries.Len())
	assert.Equal(t, MaxL4Series, e.l4Series.Len())
	assert.Equal(t, 3.0, counterValue(t, e.refusedCall))
	assert.Equal(t, 2.0, counterValue(t, e.refusedL4))
}
