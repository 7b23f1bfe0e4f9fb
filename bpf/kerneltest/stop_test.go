package kerneltest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A stop right after the traffic loses nothing: the poller sleeps 2 s here, so the last events
// are still in the kernel buffers when Stop is called, and Stop must bring them to the consumer
// before ebpf_stop frees the buffers.
func TestStopDeliversWhatTheBuffersHold(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	nginx := testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	c := startCaptureWith(t, libebpf.Options{PollInterval: 2 * time.Second, IdleInterval: 2 * time.Second}, nil)

	const requests = 200
	url := fmt.Sprintf("http://%s/drain", n.ServerV4)
	curl := testenv.Command(n.Client, "curl", append([]string{"-sS", "-w", "%{http_code}\n"},
		slices.Repeat([]string{"-o", "/dev/null", url}, requests)...)...)
	out, err := curl.Output()
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("200\n", requests), string(out), "curl's own report")
	require.NoError(t, c.lib.Stop())

	// One request per syscall on each side: curl writes each in one write, nginx reads each in
	// one read (keep-alive, one request in flight).
	requestsOf := func(pid int) (got int) {
		for _, e := range c.of(pid) {
			if e.data != nil && bytes.HasPrefix(e.data.Payload, []byte("GET /drain ")) {
				got++
			}
		}
		return got
	}
	assert.Equal(t, requests, requestsOf(curl.Process.Pid), "curl's requests")
	assert.Equal(t, requests, requestsOf(nginx.Process.Pid), "nginx's requests")
	assert.Zero(t, c.lib.Counters().Lost, "nothing lost in the kernel")
}

// A stop ends the poller's sleep instead of waiting for it (netobserver_wake_events): here every
// sleep would last two minutes.
func TestStopEndsThePollersSleep(t *testing.T) {
	c := startCaptureWith(t, libebpf.Options{PollInterval: 2 * time.Minute, IdleInterval: 2 * time.Minute}, nil)
	require.Eventually(t, func() bool { return c.lib.Counters().Polls > 0 }, 10*time.Second, time.Millisecond,
		"the poller's first poll")
	time.Sleep(100 * time.Millisecond) // into its long sleep
	stopped := make(chan error, 1)
	go func() { stopped <- c.lib.Stop() }()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Stop still waits for the poller's sleep after 30 s: netobserver_wake_events did not end it")
	}
}
