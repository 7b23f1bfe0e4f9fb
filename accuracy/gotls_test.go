//go:build accuracy

package accuracy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Go TLS workload has namespaces of its own.
const goTLSSubnet = 224

// TestAccuracyGoTLS: tools/gotlspair's HTTPS server and client (Go's crypto/tls and net/http,
// HTTP/1.1), seen through the Go crypto/tls probes. The server starts after the observer, so
// its binary is found at its exec; the client runs the same binary. Truth: the client's own
// report (calls by method, path and status). Recorded: every call on both sides, from the
// plaintext.
func TestAccuracyGoTLS(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t)
	n := testenv.NewNet(t, goTLSSubnet)
	w := &world{net: n}
	pair := testenv.BuildTool(t, "gotlspair")
	dir := t.TempDir()
	crt, key := testenv.SelfSignedCert(t, dir, "netobserver-accuracy", "-addext", "subjectAltName=IP:"+n.ServerV4.String())
	addr := net.JoinHostPort(n.ServerV4.String(), "8443")
	const requests, workers, reuse = 600, 4, 25

	var rep struct {
		Requests    int            `json:"requests"`
		Calls       map[string]int `json:"calls"`
		Connections int            `json:"connections"`
		Errors      int            `json:"errors"`
	}
	r := w.observeWith(t, defaultPages, func(obs *testenv.Observer) {
		srv := testenv.Command(n.Server, pair, "server", "-listen", addr, "-cert", crt, "-key", key)
		stdout, err := srv.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, srv.Start())
		t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "listening "+addr+"\n", line)
		// Found at its exec: the probes are on the binary's inode before the client runs it.
		obs.WaitLog(t, fmt.Sprintf("library=go file=/proc/%d/exe", srv.Process.Pid))
		out := w.client(t, pair, "client", "-url", "https://"+addr, "-ca", crt, "-http1",
			"-n", fmt.Sprint(requests), "-c", fmt.Sprint(workers), "-reuse", fmt.Sprint(reuse))
		require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	})
	require.Equal(t, requests, rep.Requests, "the client's report")
	require.Zero(t, rep.Errors)
	want := map[string]int{}
	for k, v := range rep.Calls {
		want[k] = v
	}
	client := calls(r.recs, "http", "client", n.ServerV4)
	server := calls(r.recs, "http", "server", n.ClientV4)
	w.checkSides(t, fmt.Sprintf("Go crypto/tls HTTP/1.1: %d requests, %d workers, %d per connection", requests, workers, reuse),
		rep.Requests, "(the client's report)", want, count(client, httpKey), count(server, httpKey),
		attributed(client, "")+" / "+attributed(server, ""))
	n2, text := r.accounted("http")
	assert.Zero(t, n2, "http: %s", text)
	assert.Zero(t, r.counter("tls_unattributed_calls_total"), "TLS calls whose connection was not found")
	assert.NotZero(t, r.counter("tls_files_total", "result", "probed"), "gotlspair probed")
	w.printTable()
}
