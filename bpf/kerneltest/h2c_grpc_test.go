package kerneltest

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/parser/http"
	"github.com/netobserver/netobserver/parser/http2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorded plays the events of one process through calls.Tracker, as the observer does, and
// returns its calls as "<protocol> <method> <path> <status> <grpc-status>" (HTTP/1: "-" for
// the grpc-status) with their counts, and the tracker's counters of HTTP and HTTP/2.
func recorded(evs []event) (map[string]int, [2]calls.Counters, int) {
	got := map[string]int{}
	partial := 0
	tr := calls.New(calls.Config{}, calls.Parsers(), func(c *calls.Call) {
		req, resp := c.Messages()
		switch q := req.(type) {
		case *http2.Message:
			r := resp.(*http2.Message)
			if q.Partial || r.Partial {
				partial++
			}
			got[fmt.Sprintf("%v %s %s %d %d", c.Protocol, q.Method, q.Path, r.Status, r.GRPCStatus)]++
		case *http.Message:
			got[fmt.Sprintf("%v %s %s %d -", c.Protocol, q.Method, q.Resource, resp.(*http.Message).Status)]++
		}
	})
	for _, e := range evs {
		switch {
		case e.ctrl != nil:
			tr.Ctrl(e.ctrl)
		case e.data != nil:
			tr.Data(e.data)
		case e.stats != nil:
			tr.Stats(e.stats)
		}
	}
	tr.EndBatch(true)
	tr.Close()
	return got, [2]calls.Counters{tr.Counters(abi.ProtoHTTP), tr.Counters(abi.ProtoHTTP2)}, partial
}

// curl --http2 upgrades its HTTP/1.1 connection to h2c (Upgrade: h2c) on a Go h2c server
// (tools/h2cserver: golang.org/x/net/http2/h2c), then makes its other requests on that
// connection as HTTP/2 streams. The kernel side detected HTTP from the upgrade request and keeps
// saying HTTP for every event of the connection; the calls tracker hands the connection to
// HTTP/2 at the 101. Recorded on both sides: exactly curl's requests, each once as http2 with
// the status curl reports — the upgraded one too (stream 1), not the 101 — and the server's own
// count agrees.
func TestH2CUpgradeRecorded(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	addr := n.ServerV4.String() + ":8080"
	srv := testenv.StartTool(t, n.Server, testenv.BuildTool(t, "h2cserver"), "-listen", addr)
	testenv.WaitPort(t, n.Server, netip.MustParseAddrPort(addr))
	c := startCapture(t, nil)

	var urls, args []string
	for i := range 12 {
		path := fmt.Sprintf("/p%d", i)
		if i%3 == 1 {
			path = "/status/404"
		}
		urls = append(urls, path)
		args = append(args, "-o", "/dev/null")
	}
	for _, u := range urls {
		args = append(args, "http://"+addr+u)
	}
	curl := testenv.Command(n.Client, "curl", append([]string{"-sS", "--http2", "-w", "%{http_code} %{http_version}\\n"}, args...)...)
	out, err := curl.Output()
	require.NoError(t, err, "%s", out)
	want := map[string]int{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(urls), "%s", out)
	for i, l := range lines {
		var code int
		var version string
		_, err := fmt.Sscanf(l, "%d %s", &code, &version)
		require.NoError(t, err, l)
		require.Equal(t, "2", version, "curl used HTTP/2 for %s", urls[i])
		want[fmt.Sprintf("http2 GET %s %d -1", urls[i], code)]++
	}
	served := srv.Stop(t)
	require.Equal(t, 12, sum(served), "%v", served)
	require.Equal(t, 1, served["HTTP/1.1 GET /p0 200"], "the server served the upgraded request: %v", served)

	for _, side := range []struct {
		name string
		pid  int
	}{{"curl", curl.Process.Pid}, {"h2cserver", srv.Pid()}} {
		t.Run(side.name, func(t *testing.T) {
			evs := waitRecorded(t, c, side.pid, len(urls))
			for _, e := range evs {
				if e.data != nil {
					require.Equal(t, abi.ProtoHTTP, e.data.Protocol, "the kernel side keeps the protocol it detected")
				}
			}
			got, cnt, partial := recorded(evs)
			assert.Equal(t, want, got)
			assert.EqualValues(t, 1, cnt[0].HandedOver)
			assert.Zero(t, cnt[0].Calls+cnt[0].UnmatchedRequests+cnt[0].UnmatchedResponses+cnt[0].Invalid)
			assert.EqualValues(t, 12, cnt[1].Calls)
			assert.Zero(t, cnt[1].UnmatchedRequests+cnt[1].UnmatchedResponses+cnt[1].Invalid+cnt[1].GapBytes)
			assert.Zero(t, partial)
		})
	}
}

// waitRecorded polls until the events of pid make calls (every call of the tracker's, http and
// http2) calls, or fails after 20s, and returns those events.
func waitRecorded(t *testing.T, c *capture, pid, calls int) []event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs := c.of(pid)
		got, _, _ := recorded(evs)
		if sum(got) >= calls {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: %d calls recorded after 20s, want %d: %v", pid, sum(got), calls, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// grpcCodes are the gRPC status codes by the names grpc-go prints.
var grpcCodes = map[string]int{"OK": 0, "Canceled": 1, "NotFound": 5, "PermissionDenied": 7}

// grpcWant turns tools/grpcpair's counts ("<method> <code name>" → n) into recorded calls:
// every call a POST answered 200 with its grpc-status, except the cancelled Watches, which have
// no response (the client resets their streams): they are counted unmatched, not recorded.
func grpcWant(t *testing.T, counts map[string]int) (want map[string]int, cancelled int) {
	t.Helper()
	want = map[string]int{}
	for k, v := range counts {
		method, name, _ := strings.Cut(k, " ")
		code, ok := grpcCodes[name]
		require.True(t, ok, k)
		if method == "/grpc.health.v1.Health/Watch" {
			cancelled += v
			continue
		}
		want[fmt.Sprintf("http2 POST %s 200 %d", method, code)] += v
	}
	return want, cancelled
}

// A grpc-go client and server over h2c (tools/grpcpair): 2000 calls over four connections, 32
// at a time — unary Check (OK and NOT_FOUND), unary calls of a second service answering OK and
// PERMISSION_DENIED, a server-streaming call of three messages — and four server-streaming
// Watches the client cancels after their first message. Recorded on both sides: every call the
// client counts, once, with its service/method as path and its grpc-status (a stream is one call,
// completed by its trailers); the Watches are requests counted unmatched. The server's own count
// agrees with the client's.
func TestGRPCRecorded(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	addr := n.ServerV4.String() + ":50051"
	pair := testenv.BuildTool(t, "grpcpair")
	srv := testenv.StartTool(t, n.Server, pair, "server", "-listen", addr)
	testenv.WaitPort(t, n.Server, netip.MustParseAddrPort(addr))
	c := startCapture(t, nil)

	cli := testenv.Command(n.Client, pair, "client", "-addr", addr, "-n", "2000", "-conns", "4", "-concurrency", "32", "-watch", "4")
	out, err := cli.Output()
	require.NoError(t, err, "%s", out)
	made := testenv.LineCounts(t, string(out), "calls")
	require.Equal(t, 2004, sum(made), "%s", out)
	require.Equal(t, made, srv.Stop(t), "the server served what the client made")
	want, cancelled := grpcWant(t, made)
	require.Equal(t, 4, cancelled)

	for _, side := range []struct {
		name string
		pid  int
	}{{"client", cli.Process.Pid}, {"server", srv.Pid()}} {
		t.Run(side.name, func(t *testing.T) {
			evs := waitRecorded(t, c, side.pid, 2000)
			require.Zero(t, c.lost(), "the library lost events: the counts below cannot be exact")
			got, cnt, partial := recorded(evs)
			assert.Equal(t, want, got)
			assert.EqualValues(t, 2000, cnt[1].Calls)
			assert.EqualValues(t, cancelled, cnt[1].UnmatchedRequests, "the cancelled Watches")
			assert.Zero(t, cnt[1].UnmatchedResponses+cnt[1].Invalid+cnt[1].GapBytes)
			assert.Zero(t, partial)
		})
	}
}

// Observing starts in the middle of long-lived h2c connections: tools/grpcpair's client makes
// 500 calls on four connections, holds them idle, and makes 500 more after the library started.
// The kernel side recognises HTTP/2 only by a connection's first bytes (the preface, the server's
// first SETTINGS), which it did not see: those connections' calls are not recorded at all, never
// recorded wrong — what was recorded of them is nothing, and in particular no call with a guessed
// path. A client started after the library, beside them, is recorded exactly.
func TestGRPCJoinedMidStream(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	addr := n.ServerV4.String() + ":50051"
	pair := testenv.BuildTool(t, "grpcpair")
	srv := testenv.StartTool(t, n.Server, pair, "server", "-listen", addr)
	testenv.WaitPort(t, n.Server, netip.MustParseAddrPort(addr))

	old := testenv.Command(n.Client, pair, "client", "-addr", addr, "-n", "500", "-conns", "4", "-concurrency", "8", "-hold", "3s")
	var oldOut bytes.Buffer
	stdout, err := old.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, old.Start())
	t.Cleanup(func() {
		if old.ProcessState == nil {
			old.Process.Kill()
			old.Wait()
		}
	})
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan() && sc.Text() == "holding", "grpcpair: %q", sc.Text())
	c := startCapture(t, nil)
	for sc.Scan() {
		oldOut.WriteString(sc.Text() + "\n")
	}
	require.NoError(t, old.Wait(), "%s", oldOut.String())
	made := testenv.LineCounts(t, oldOut.String(), "calls")
	require.Equal(t, 1000, sum(made), "%s", oldOut.String())

	fresh := testenv.Command(n.Client, pair, "client", "-addr", addr, "-n", "500", "-conns", "2", "-concurrency", "8")
	out, err := fresh.Output()
	require.NoError(t, err, "%s", out)
	want, _ := grpcWant(t, testenv.LineCounts(t, string(out), "calls"))
	srv.Stop(t)

	evs := waitRecorded(t, c, fresh.Process.Pid, 500)
	got, cnt, partial := recorded(evs)
	assert.Equal(t, want, got)
	assert.Zero(t, cnt[1].UnmatchedRequests+cnt[1].UnmatchedResponses+cnt[1].Invalid)
	assert.Zero(t, partial)
	// By now the old client's events of the same time have arrived too.
	evs = c.of(old.Process.Pid)
	got, cnt, _ = recorded(evs)
	assert.Empty(t, got, "calls of connections joined in their middle")
	assert.Zero(t, cnt[1].Requests+cnt[1].Responses)
	for _, e := range evs {
		if e.data != nil {
			t.Errorf("a data event of a connection joined in its middle: %v %q", e.data.Protocol, e.data.Payload[:min(len(e.data.Payload), 24)])
			break
		}
	}
}
