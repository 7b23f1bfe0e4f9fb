//go:build accuracy

package accuracy

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

const (
	natsPublishers = 4   // natsclient publish processes at once, two connections each
	natsMessages   = 500 // messages each publisher publishes, the last natsHeaders with a header
	natsHeaders    = 100
	natsRequests   = 100 // requests each publisher makes, natsInflight at a time
	natsInflight   = 4
)

// natsKey is a NATS record's key: operation, masked subject, one-way or answered, failed.
func natsKey(r record) string {
	k := r["op"] + " " + r["subject"]
	if r["one_way"] == "1" {
		k += " one-way"
	}
	if r["success"] != "1" {
		k += " (error)"
	}
	return k
}

// nats: a fresh nats-server (monitoring on) and tools/natsclient, written with nats.go. natsclient
// serve subscribes to acc.orders.* on one connection and answers requests on acc.svc.echo on
// another; then four natsclient publish at once, two connections each, publish 500 messages each
// to acc.orders.<n> (the last 100 with a header: HPUB) without flushing in between — nats-server
// then writes the deliveries in writev segments past 16 KiB — and make 100 requests each, 4 in
// flight. The first publisher is verbose: the server answers its every message with
// +OK, which makes its PUBs and HPUBs calls. Truth: each process's own counts, which must add up to nats.go's
// Statistics of its connections (OutMsgs, InMsgs), and nats-server's /varz (in_msgs, out_msgs),
// read after the run. Recorded: the publishes, the requests' PUBs, the answers' PUBs to the
// requesters' inboxes, and every MSG and HMSG delivered (one-way), both sides.
func (w *world) nats(t *testing.T) {
	n := w.net
	natsclient := testenv.BuildTool(t, "natsclient")
	testenv.Start(t, n.Server, "nats-server", "-a", n.ServerV4.String(), "-p", "4222", "-m", "8222")
	testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, 4222))
	testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, 8222))
	url := "nats://" + netip.AddrPortFrom(n.ServerV4, 4222).String()
	ready := filepath.Join(t.TempDir(), "ready")
	var serveOut string
	pubOuts := make([]string, natsPublishers)
	r := w.observe(t, defaultPages, func() {
		serve, out := w.startClient(t, "", natsclient, "serve", "-url", url, "-ready", ready,
			"-messages", fmt.Sprint(natsPublishers*natsMessages), "-requests", fmt.Sprint(natsPublishers*natsRequests))
		// The subscriptions must be in place before the first publish.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			require.True(t, time.Now().Before(deadline), "natsclient serve did not subscribe")
			time.Sleep(20 * time.Millisecond)
		}
		var waits []func()
		for i := range natsPublishers {
			args := []string{"publish", "-url", url, "-messages", fmt.Sprint(natsMessages), "-headers", fmt.Sprint(natsHeaders),
				"-requests", fmt.Sprint(natsRequests), "-inflight", fmt.Sprint(natsInflight)}
			if i == 0 {
				args = append(args, "-verbose")
			}
			cmd, out := w.startClient(t, "", natsclient, args...)
			waits = append(waits, func() {
				waitClient(t, cmd, out, 60*time.Second)
				pubOuts[i] = out.String()
			})
		}
		for _, wait := range waits {
			wait()
		}
		waitClient(t, serve, out, 60*time.Second)
		serveOut = out.String()
	})
	line := func(out, name string) int { return reportInt(t, out, `(?m)^`+name+` (\d+)$`) }
	want := map[string]int{}
	clientsOut, clientsIn := 0, 0 // nats.go's Statistics, all connections
	for i, out := range pubOuts {
		pub, hpub, reqs := line(out, "published"), line(out, "published-headers"), line(out, "requests")
		require.Equal(t, []int{natsMessages - natsHeaders, natsHeaders, natsRequests}, []int{pub, hpub, reqs}, "natsclient publish:\n%s", out)
		require.Equal(t, pub+hpub+reqs, line(out, "out_msgs"), "nats.go's OutMsgs: the publishes and requests:\n%s", out)
		require.Equal(t, reqs, line(out, "in_msgs"), "nats.go's InMsgs: the answers:\n%s", out)
		clientsOut, clientsIn = clientsOut+line(out, "out_msgs"), clientsIn+line(out, "in_msgs")
		oneWay := " one-way"
		if i == 0 {
			oneWay = "" // verbose: answered by +OK
		}
		want["PUB acc.orders.?"+oneWay] += pub
		want["HPUB acc.orders.?"+oneWay] += hpub
		want["PUB acc.svc.echo"+oneWay] += reqs
		want["MSG _INBOX.* one-way"] += reqs
	}
	recv, hrecv, answered := line(serveOut, "received"), line(serveOut, "received-headers"), line(serveOut, "answered")
	require.Equal(t, []int{natsPublishers * (natsMessages - natsHeaders), natsPublishers * natsHeaders, natsPublishers * natsRequests},
		[]int{recv, hrecv, answered}, "natsclient serve: every message delivered, every request answered:\n%s", serveOut)
	require.Equal(t, recv+hrecv+answered, line(serveOut, "in_msgs"), "nats.go's InMsgs: the deliveries and requests:\n%s", serveOut)
	require.Equal(t, answered, line(serveOut, "out_msgs"), "nats.go's OutMsgs: the answers:\n%s", serveOut)
	clientsOut, clientsIn = clientsOut+line(serveOut, "out_msgs"), clientsIn+line(serveOut, "in_msgs")
	want["MSG acc.orders.? one-way"] = recv
	want["HMSG acc.orders.? one-way"] = hrecv
	want["MSG acc.svc.echo one-way"] = answered
	want["PUB _INBOX.* one-way"] = answered

	varz := testenv.RunIn(t, n.Server, "curl", "-sS", "http://"+netip.AddrPortFrom(n.ServerV4, 8222).String()+"/varz")
	inMsgs, outMsgs := reportInt(t, varz, `"in_msgs": (\d+)`), reportInt(t, varz, `"out_msgs": (\d+)`)
	assert.Equal(t, clientsOut, inMsgs, "nats-server's in_msgs: what the clients sent")
	assert.Equal(t, clientsIn, outMsgs, "nats-server's out_msgs: what the clients received")

	messages := func(k string) bool {
		op, _, _ := strings.Cut(k, " ")
		return op == "PUB" || op == "HPUB" || op == "MSG" || op == "HMSG"
	}
	client := calls(r.recs, "nats", "client", n.ServerV4)
	server := calls(r.recs, "nats", "server", n.ClientV4)
	t.Logf("nats records, client side: %v; server side: %v", count(client, natsKey), count(server, natsKey))
	gotC, gotS := countOnly(client, natsKey, messages), countOnly(server, natsKey, messages)
	w.checkSides(t, fmt.Sprintf("nats: natsclient serve + %d × publish (%d messages, %d with headers; %d requests; one verbose)",
		natsPublishers, natsMessages, natsHeaders, natsRequests), total(want),
		fmt.Sprintf("%d (/varz in_msgs %d + out_msgs %d)", inMsgs+outMsgs, inMsgs, outMsgs), want, gotC, gotS,
		strings.ReplaceAll(attributed(client, natsclient), natsclient, "natsclient")+" / "+attributed(server, "nats-server"))
	w.checkAccounted(t, r, "nats", missing(want, gotC)+missing(want, gotS))
	// /metrics counts the one-way messages, both sides, among them (with CONNECTs and SUBs).
	oneWay := 0
	for k, v := range want {
		if strings.HasSuffix(k, " one-way") {
			oneWay += v
		}
	}
	t.Logf("nats: one_way_messages_total %d", r.counter("one_way_messages_total", "protocol", "nats"))
	assert.GreaterOrEqual(t, r.counter("one_way_messages_total", "protocol", "nats"), 2*oneWay)
}
