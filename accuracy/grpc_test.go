//go:build accuracy

package accuracy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/require"
)

// The gRPC and h2c-upgrade workloads have namespaces of their own.
const grpcSubnet = 226

// grpcCodes are the gRPC status codes by the names grpc-go prints.
var grpcCodes = map[string]string{"OK": "0", "Canceled": "1", "NotFound": "5", "PermissionDenied": "7"}

// TestAccuracyGRPC: a grpc-go client and server over h2c (tools/grpcpair) and curl upgrading
// HTTP/1.1 connections to h2c on a Go h2c server (tools/h2cserver).
func TestAccuracyGRPC(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t)
	n := testenv.NewNet(t, grpcSubnet)
	w := &world{net: n}
	t.Run("grpc", w.grpc)
	t.Run("h2c-upgrade", w.h2cUpgrade)
	w.printTable()
}

// http2Key is a call of protocol http2 in schema A: version, method, url, status, grpc_status.
func http2Key(r record) string {
	return r["version"] + " " + r["method"] + " " + r["url"] + " " + r["resp_code"] + " " + r["grpc_status"]
}

// grpc: tools/grpcpair's client makes 5000 calls over 4 connections, 64 at a time — Health/Check
// (OK, and NOT_FOUND for an unknown service), Echo/Unary (OK), Echo/Fail (PERMISSION_DENIED),
// Echo/Stream (server streaming, three messages, OK) — and 10 Health/Watch streams it cancels
// after their first message. Truth: the client's own count per method and status, which the
// server's own count must equal. Recorded: every call on both sides as POST <service/method> 200
// with its grpc_status; the cancelled Watches have no response and are counted unmatched.
func (w *world) grpc(t *testing.T) {
	pair := testenv.BuildTool(t, "grpcpair")
	addr := w.net.ServerV4.String() + ":50051"
	srv := testenv.StartTool(t, w.net.Server, pair, "server", "-listen", addr)
	testenv.WaitPort(t, w.net.Server, netip.MustParseAddrPort(addr))
	var out string
	r := w.observe(t, defaultPages, func() {
		out = w.client(t, pair, "client", "-addr", addr, "-n", "5000", "-conns", "4", "-concurrency", "64", "-watch", "10")
	})
	made := testenv.LineCounts(t, out, "calls")
	served := srv.Stop(t)
	require.Equal(t, made, served, "the server served what the client made")
	want := map[string]int{}
	cancelled := 0
	for k, v := range made {
		method, code, _ := strings.Cut(k, " ")
		require.Contains(t, grpcCodes, code, k)
		if method == "/grpc.health.v1.Health/Watch" {
			cancelled += v
			continue
		}
		want["2 POST "+method+" 200 "+grpcCodes[code]] += v
	}
	require.Equal(t, 5000, total(want), "%s", out)
	require.Equal(t, 10, cancelled, "%s", out)
	client := calls(r.recs, "http2", "client", w.net.ServerV4)
	server := calls(r.recs, "http2", "server", w.net.ClientV4)
	gotC, gotS := count(client, http2Key), count(server, http2Key)
	w.checkSides(t, "grpc-go client → grpc-go server (h2c), 4 connections, 64 in flight", total(want), fmt.Sprint(total(served)-cancelled),
		want, gotC, gotS, strings.ReplaceAll(attributed(client, pair)+" / "+attributed(server, pair), pair, "grpcpair"))
	// The Watches, and nothing else, are requests without a response on each side; the stop
	// line counts them (their connections end at the stop, as the client's exit is no close
	// the kernel side sees).
	unmatched := regexp.MustCompile(`http2\.unmatched_requests=(\d+)`).FindStringSubmatch(r.log)
	require.NotNil(t, unmatched, r.log)
	require.Equal(t, fmt.Sprint(2*cancelled), unmatched[1])
	require.Zero(t, r.counter("partial_calls_total", "protocol", "http2"), "calls with fields not decoded")
	w.checkAccounted(t, r, "http2", missing(want, gotC)+missing(want, gotS))
}

// h2cUpgrade: 20 runs of curl --http2, each asking for 10 URLs on one connection that it
// upgrades from HTTP/1.1 (Upgrade: h2c) on tools/h2cserver (golang.org/x/net/http2/h2c): the
// first request is answered on stream 1 after the 101, the other nine are HTTP/2 streams. Truth:
// curl's own report (status and HTTP version per URL) and the server's count. Recorded: each
// request once as http2, the upgraded ones too, never the 101.
func (w *world) h2cUpgrade(t *testing.T) {
	addr := w.net.ServerV4.String() + ":8080"
	h2cserver := testenv.BuildTool(t, "h2cserver")
	srv := testenv.StartTool(t, w.net.Server, h2cserver, "-listen", addr)
	testenv.WaitPort(t, w.net.Server, netip.MustParseAddrPort(addr))
	const runs, perRun = 20, 10
	want := map[string]int{}
	r := w.observe(t, defaultPages, func() {
		for run := range runs {
			args := []string{"-sS", "--http2", "-w", "%{http_code} %{http_version}\\n"}
			var paths []string
			for i := range perRun {
				p := fmt.Sprintf("/r%d/%d", run%4, i)
				if i%4 == 3 {
					p = "/status/404"
				}
				paths = append(paths, p)
				args = append(args, "-o", "/dev/null")
			}
			for _, p := range paths {
				args = append(args, "http://"+addr+p)
			}
			out := w.client(t, "curl", args...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Len(t, lines, perRun, out)
			for i, l := range lines {
				code, version, _ := strings.Cut(l, " ")
				require.Equal(t, "2", version, "curl used HTTP/2 for %s: %s", paths[i], out)
				want["2 GET "+paths[i]+" "+code+" -1"]++
			}
		}
	})
	served := srv.Stop(t)
	require.Equal(t, runs*perRun, total(served), "%v", served)
	client := calls(r.recs, "http2", "client", w.net.ServerV4)
	server := calls(r.recs, "http2", "server", w.net.ClientV4)
	gotC, gotS := count(client, http2Key), count(server, http2Key)
	w.checkSides(t, fmt.Sprintf("curl --http2 (HTTP/1.1 upgraded to h2c) → Go h2c server, %d connections", runs), runs*perRun,
		fmt.Sprint(total(served)), want, gotC, gotS, attributed(client, "curl")+" / "+strings.ReplaceAll(attributed(server, h2cserver), h2cserver, "h2cserver"))
	require.Zero(t, total(count(calls(r.recs, "http", "client", w.net.ServerV4), func(record) string { return "" })),
		"the upgraded requests are http2 calls, not http ones")
	require.Equal(t, 2*runs, r.counter("handed_over_requests_total", "protocol", "http"), "one upgrade per connection, each side")
	// curl's 1-byte liveness peeks, exported, made some connections' later calls partial.
	require.Zero(t, r.counter("partial_calls_total", "protocol", "http2"), "calls with fields not decoded")
	w.checkAccounted(t, r, "http2", missing(want, gotC)+missing(want, gotS))
}
