//go:build accuracy

package accuracy

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	slapN       = 500 // memcslap -e: keys per thread
	slapThreads = 4
)

// memcachedKey is a memcached record's key: command and outcome.
func memcachedKey(r record) string { return r["cmd"] + " " + r["outcome"] }

// counted keeps the records of the calls memcslap counts: it ends each connection with a quit
// it does not count — text quit is one-way; binary Quit is answered, after the client closed, so
// the client side counts it an unmatched request and the server side records the call.
func counted(recs []record) (calls []record, quits map[string]int) {
	quits = map[string]int{}
	for _, r := range recs {
		if r["cmd"] == "quit" || r["cmd"] == "Quit" {
			n, _ := strconv.Atoi(r["total_count"])
			quits[memcachedKey(r)+" one_way="+r["one_way"]] += n
			continue
		}
		calls = append(calls, r)
	}
	return calls, quits
}

// memcslap: memcslap -c 4 -e 500, text and binary, a set run then a get run (which loads its
// keys with sets first). The client's truth is its own report ("Time to set N keys by T
// threads", "Time to set N keys" for the load, "Time to get N keys by T threads"); the server's
// is memcached's stats (cmd_set, get_hits, get_misses) read after the runs on a fresh server.
func (w *world) memcslap(t *testing.T, binary bool) {
	n := w.net
	port := 11211
	name, cmdSet, hit := "memcslap", "set", "get hit"
	var flags []string
	if binary {
		port, name, cmdSet, hit = 11212, "memcslap -b", "Set", "GetK hit"
		flags = []string{"-b"}
	}
	addr := netip.AddrPortFrom(n.ServerV4, uint16(port)).String()
	testenv.Start(t, n.Server, "memcached", "-l", n.ServerV4.String(), "-p", fmt.Sprint(port), "-U", "0", "-u", "nobody")
	testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, uint16(port)))
	var setOut, getOut string
	r := w.observe(t, defaultPages, func() {
		setOut = w.client(t, "memcslap", append(flags, "-s", addr, "-t", "set", "-e", fmt.Sprint(slapN), "-c", fmt.Sprint(slapThreads))...)
		getOut = w.client(t, "memcslap", append(flags, "-s", addr, "-t", "get", "-e", fmt.Sprint(slapN), "-c", fmt.Sprint(slapThreads))...)
	})
	sets := reportInt(t, setOut, `Time to set\s+(\d+) keys by`) + reportInt(t, getOut, `Time to set\s+(\d+) keys:`)
	gets := reportInt(t, getOut, `Time to get\s+(\d+) keys by`)
	want := map[string]int{cmdSet + " stored": sets, hit: gets}

	stats := testenv.RunIn(t, n.Server, "memcstat", "--servers="+addr)
	server := map[string]int{cmdSet + " stored": reportInt(t, stats, `cmd_set: (\d+)`), hit: reportInt(t, stats, `get_hits: (\d+)`)}
	require.Zero(t, reportInt(t, stats, `get_misses: (\d+)`))
	assert.Equal(t, want, server, "memcached's stats agree with memcslap's report")

	clientRecs, clientQuits := counted(calls(r.recs, "memcached", "client", n.ServerV4))
	serverRecs, serverQuits := counted(calls(r.recs, "memcached", "server", n.ClientV4))
	t.Logf("%s: quits recorded (client / server): %v / %v", name, clientQuits, serverQuits)
	gotC, gotS := count(clientRecs, memcachedKey), count(serverRecs, memcachedKey)
	w.checkSides(t, fmt.Sprintf("%s -c %d -e %d, set and get", name, slapThreads, slapN), total(want), fmt.Sprint(total(server)),
		want, gotC, gotS, attributed(clientRecs, "memcslap")+" / "+attributed(serverRecs, "memcached"))
	w.checkAccounted(t, r, "memcached", missing(want, gotC)+missing(want, gotS))
}
