package kerneltest

import (
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (e event) ts() uint64 {
	switch {
	case e.ctrl != nil:
		return e.ctrl.TS
	case e.data != nil:
		return e.data.TS
	case e.stats != nil:
		return e.stats.TS
	}
	return 0
}

// One curl, two connections one after the other on the same fd, within milliseconds (one poll):
// the library delivers the events of all streams in the order they happened — the first
// connection's connect, data, close and final statistics, then the second's — so a recording
// replays each connection with its own data (issue 12, item 14: control events came first).
func TestEventsComeInTheOrderTheyHappened(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	c := startCapture(t, nil)
	url := func(p string) string { return fmt.Sprintf("http://%s/%s", n.ServerV4, p) }
	curl := testenv.Command(n.Client, "curl", "-sS", "-o", "/dev/null", "-o", "/dev/null", "-H", "Connection: close", url("a"), url("b"))
	out, err := curl.CombinedOutput()
	require.NoError(t, err, "%s", out)
	evs := c.waitFor(t, curl.Process.Pid, "two closes", func(e []event) bool { return closedConns(e) >= 2 })

	var order []string // connection index and event kind, in delivery order
	conns := map[abi.ConnID]int{}
	var last uint64
	for _, e := range evs {
		if e.lost != nil {
			continue
		}
		assert.GreaterOrEqual(t, e.ts(), last, "delivered in time order")
		last = e.ts()
		id := e.conn()
		if e.ctrl == nil && e.data == nil && e.stats == nil {
			continue
		}
		if _, ok := conns[id]; !ok {
			conns[id] = len(conns)
		}
		kind := "data"
		switch {
		case e.ctrl != nil && e.ctrl.Type == abi.EventConnect:
			kind = "connect"
		case e.ctrl != nil:
			kind = "close"
		case e.stats != nil:
			kind = "stats"
		}
		if len(order) == 0 || order[len(order)-1] != fmt.Sprintf("%d %s", conns[id], kind) {
			order = append(order, fmt.Sprintf("%d %s", conns[id], kind))
		}
	}
	var inet []abi.ConnID
	for id := range conns {
		inet = append(inet, id)
	}
	require.Len(t, inet, 2, "two connections: %v", order)
	var fds []int32
	for id := range conns {
		fds = append(fds, id.FD)
	}
	assert.Equal(t, fds[0], fds[1], "the second connection reused the first one's fd")
	assert.Equal(t, []string{"0 connect", "0 data", "0 close", "0 stats", "1 connect", "1 data", "1 close", "1 stats"}, order)
}
