//go:build accuracy

package accuracy

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The TLS workloads have namespaces of their own: nginx serves HTTP/1.1 and HTTP/2 over TLS.
const tlsSubnet = 223

// curl over TLS, HTTP/1.1: tlsCurls processes at once, each tlsURLs requests on one keep-alive
// connection, then tlsSingles processes of one request each (new connections).
const (
	tlsCurls   = 4
	tlsURLs    = 50
	tlsSingles = 20
)

// TestAccuracyTLS: nginx over TLS (OpenSSL, a certificate made here), seen through the OpenSSL
// uprobes: curl over HTTP/1.1 and h2load -n 2000 -c 4 -m 10 over HTTP/2 (ALPN h2). Truth: curl's
// own status codes, h2load's "succeeded" and "2xx" counts, and nginx's access log. Recorded:
// every call on both sides, from the plaintext; nothing of the ciphertext is parsed (no parse
// failures, no lost stream bytes).
func TestAccuracyTLS(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t)
	n := testenv.NewNet(t, tlsSubnet)
	w := &world{net: n}
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	log := filepath.Join(dir, "access.log")
	crt, key := testenv.SelfSignedCert(t, dir, "netobserver-accuracy")
	testenv.RunIn(t, n.Server, "mkdir", "-p", filepath.Join(www, "tls"))
	testenv.RunIn(t, n.Server, "sh", "-c", "printf 'hello over tls\\n' >"+filepath.Join(www, "tls", "index.html"))
	testenv.NginxHTTP(t, n.Server, n.ServerV4, fmt.Sprintf(`log_format accuracy '$request_uri $status $server_protocol';
access_log %s accuracy;
default_type text/plain;
keepalive_requests 1000000;
server {
	listen %[2]s:80;
	listen %[2]s:443 ssl http2;
	ssl_certificate %[3]s;
	ssl_certificate_key %[4]s;
	http2_max_requests 1000000;
	root %[5]s;
}
`, log, n.ServerV4, crt, key, www))
	base := "https://" + n.ServerV4.String()

	t.Run("curl-http1", func(t *testing.T) {
		logStart := fileSize(t, log)
		made := 0
		r := w.observe(t, defaultPages, func() {
			var wg sync.WaitGroup
			var mu sync.Mutex
			for range tlsCurls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					args := []string{"-sSk", "--http1.1", "-w", "%{http_code}\n"}
					for range tlsURLs {
						args = append(args, "-o", "/dev/null", base+"/tls/index.html")
					}
					out := w.client(t, "curl", args...)
					mu.Lock()
					made += strings.Count(out, "200\n")
					mu.Unlock()
				}()
			}
			wg.Wait()
			for range tlsSingles {
				made += strings.Count(w.client(t, "curl", "-sSk", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}\n", base+"/tls/index.html"), "200\n")
			}
		})
		require.Equal(t, tlsCurls*tlsURLs+tlsSingles, made, "curl's status codes")
		served := 0
		for _, line := range strings.Split(strings.TrimSpace(readFrom(t, log, logStart)), "\n") {
			if line == "/tls/index.html 200 HTTP/1.1" {
				served++
			}
		}
		want := map[string]int{"GET /tls/index.html 200": made}
		client := calls(r.recs, "http", "client", n.ServerV4)
		server := calls(r.recs, "http", "server", n.ClientV4)
		gotC, gotS := count(client, httpKey), count(server, httpKey)
		w.checkSides(t, fmt.Sprintf("curl over TLS, HTTP/1.1: %d × %d keep-alive + %d single", tlsCurls, tlsURLs, tlsSingles), made,
			fmt.Sprint(served), want, gotC, gotS, attributed(client, "curl")+" / "+attributed(server, "nginx"))
		require.Equal(t, made, served, "nginx's access log agrees with curl")
		checkPlaintextOnly(t, r, "http")
	})

	t.Run("h2load-h2", func(t *testing.T) {
		logStart := fileSize(t, log)
		var out string
		r := w.observe(t, defaultPages, func() {
			out = w.client(t, "h2load", "-n", fmt.Sprint(h2loadN), "-c", fmt.Sprint(h2loadC), "-m", fmt.Sprint(h2loadM),
				base+"/tls/index.html")
		})
		require.Contains(t, out, "Application protocol: h2", "h2load negotiated HTTP/2 over TLS:\n%s", out)
		succeeded := reportInt(t, out, `requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded`)
		require.Equal(t, h2loadN, succeeded, "h2load:\n%s", out)
		require.Equal(t, h2loadN, reportInt(t, out, `status codes: (\d+) 2xx`), "h2load:\n%s", out)
		served := 0
		for _, line := range strings.Split(strings.TrimSpace(readFrom(t, log, logStart)), "\n") {
			if line == "/tls/index.html 200 HTTP/2.0" {
				served++
			}
		}
		key := func(rec record) string {
			return rec["version"] + " " + rec["method"] + " " + rec["url"] + " " + rec["resp_code"]
		}
		want := map[string]int{"2 GET /tls/index.html 200": succeeded}
		client := calls(r.recs, "http2", "client", n.ServerV4)
		server := calls(r.recs, "http2", "server", n.ClientV4)
		gotC, gotS := count(client, key), count(server, key)
		w.checkSides(t, fmt.Sprintf("h2load -n %d -c %d -m %d over TLS (h2)", h2loadN, h2loadC, h2loadM), succeeded, fmt.Sprint(served),
			want, gotC, gotS, attributed(client, "h2load")+" / "+attributed(server, "nginx"))
		require.Equal(t, succeeded, served, "nginx's access log agrees with h2load")
		checkPlaintextOnly(t, r, "http2")
	})
	w.printTable()
}

// checkPlaintextOnly: the run parsed only plaintext: no parse failure, no lost stream byte, no
// unmatched message, no lost event, no TLS call left unattributed.
func checkPlaintextOnly(t *testing.T, r *run, protocol string) {
	t.Helper()
	n, text := r.accounted(protocol)
	assert.Zero(t, n, "%s: %s", protocol, text)
	assert.Zero(t, r.counter("lost_stream_bytes_total", "protocol", protocol), "%s: lost stream bytes", protocol)
	assert.Zero(t, r.counter("tls_unattributed_calls_total"), "TLS calls whose connection was not found")
	assert.NotZero(t, r.counter("tls_files_total", "result", "probed"), "libssl probed")
}
