//go:build accuracy

package accuracy

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/require"
)

// The HTTP/2 workload has namespaces of its own: nginx listens for h2c only.
const http2Subnet = 222

// h2load's run: requests in all, connections, streams in flight per connection.
const (
	h2loadN = 2000
	h2loadC = 4
	h2loadM = 10
)

// TestAccuracyHTTP2: h2load -n 2000 -c 4 -m 10 against nginx over HTTP/2 with prior knowledge
// (h2c), ten streams in flight on each of four connections. Truth: h2load's own "succeeded" and
// "2xx" counts, and nginx's access log. Recorded: GET /h2/index.html 200 (protocol http2), every
// call on both sides.
func TestAccuracyHTTP2(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t)
	n := testenv.NewNet(t, http2Subnet)
	w := &world{net: n}
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	log := filepath.Join(dir, "access.log")
	testenv.RunIn(t, n.Server, "mkdir", "-p", filepath.Join(www, "h2"))
	testenv.RunIn(t, n.Server, "sh", "-c", "printf 'hello over h2c\\n' >"+filepath.Join(www, "h2", "index.html"))
	testenv.NginxHTTP(t, n.Server, n.ServerV4, fmt.Sprintf(`log_format accuracy '$request_uri $status $server_protocol';
access_log %s accuracy;
default_type text/plain;
server {
	listen %s:80 http2;
	http2_max_requests 1000000;
	root %s;
}
`, log, n.ServerV4, www))

	var out string
	r := w.observe(t, defaultPages, func() {
		out = w.client(t, "h2load", "-n", fmt.Sprint(h2loadN), "-c", fmt.Sprint(h2loadC), "-m", fmt.Sprint(h2loadM),
			"http://"+n.ServerV4.String()+"/h2/index.html")
	})
	succeeded := reportInt(t, out, `requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded`)
	require.Equal(t, h2loadN, succeeded, "h2load:\n%s", out)
	require.Equal(t, h2loadN, reportInt(t, out, `status codes: (\d+) 2xx`), "h2load:\n%s", out)
	served := 0
	for _, line := range strings.Split(strings.TrimSpace(readFrom(t, log, 0)), "\n") {
		if line == "/h2/index.html 200 HTTP/2.0" {
			served++
		}
	}
	key := func(rec record) string {
		return rec["version"] + " " + rec["method"] + " " + rec["url"] + " " + rec["resp_code"] + " " + rec["grpc_status"]
	}
	want := map[string]int{"2 GET /h2/index.html 200 -1": succeeded}
	client := calls(r.recs, "http2", "client", n.ServerV4)
	server := calls(r.recs, "http2", "server", n.ClientV4)
	gotC, gotS := count(client, key), count(server, key)
	w.checkSides(t, fmt.Sprintf("h2load -n %d -c %d -m %d (h2c)", h2loadN, h2loadC, h2loadM), succeeded, fmt.Sprint(served),
		want, gotC, gotS, attributed(client, "h2load")+" / "+attributed(server, "nginx"))
	require.Equal(t, succeeded, served, "nginx's access log agrees with h2load")
	w.checkAccounted(t, r, "http2", missing(want, gotC)+missing(want, gotS))
	w.printTable()
}
