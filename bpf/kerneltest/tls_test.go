package kerneltest

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/netobserver/netobserver/observer/tlsprobe"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsNginx starts nginx in the server namespace with a certificate made here: HTTP/1.1 and
// HTTP/2 over TLS on 443, every request in its access log ("$pid $request $status").
func tlsNginx(t *testing.T, n *testenv.Net) (pid int, accessLog string) {
	t.Helper()
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")
	testenv.Run(t, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=netobserver-test")
	accessLog = filepath.Join(dir, "access.log")
	addr := n.ServerV4.String()
	nginx := testenv.NginxHTTP(t, n.Server, n.ServerV4, fmt.Sprintf(`log_format calls '$request $status';
access_log %s calls;
keepalive_requests 100000;
server {
	listen %[2]s:80;
	listen %[2]s:443 ssl http2;
	ssl_certificate %[3]s;
	ssl_certificate_key %[4]s;
	location / { default_type text/plain; return 200 "hello\n"; }
}
`, accessLog, addr, crt, key))
	return nginx.Process.Pid, accessLog
}

// tlsProbes attaches the OpenSSL probes to every libssl the processes map now.
func tlsProbes(t *testing.T, c *capture) *tlsprobe.Manager {
	t.Helper()
	m := tlsprobe.New(c.lib, []tlsprobe.Prober{tlsprobe.OpenSSL{}}, tlsprobe.Config{Log: slog.New(c.log)})
	t.Cleanup(m.Close)
	m.ScanAll()
	require.NotZero(t, m.Counters().Files, "no libssl probed; library said:\n%s", c.log.Text())
	require.Zero(t, m.Counters().Failed, c.log.Text())
	return m
}

// requestLines counts the HTTP/1 request lines in a plaintext stream.
func requestLines(stream []byte) map[string]int {
	out := map[string]int{}
	for _, line := range bytes.Split(stream, []byte("\r\n")) {
		if bytes.HasPrefix(line, []byte("GET /")) {
			out[string(line)]++
		}
	}
	return out
}

// curl → nginx over TLS, HTTP/1.1: several curl processes in parallel, each with many URLs on a
// keep-alive connection. Both sides' data events carry the plaintext (HTTP, never the TLS
// records), at plaintext positions, and hold exactly the requests nginx logged.
func TestTLSCurlToNginxHTTP1(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	nginxPid, accessLog := tlsNginx(t, n)
	c := startCapture(t, nil)
	tlsProbes(t, c)

	const clients, urls = 4, 25
	var wg sync.WaitGroup
	pids := make([]int, clients)
	for i := range clients {
		args := []string{"-sSk", "--http1.1", "-o", "/dev/null"}
		for j := range urls {
			args = append(args, fmt.Sprintf("https://%s/c%d/u%d", n.ServerV4, i, j))
		}
		cmd := testenv.Command(n.Client, "curl", args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		pids[i] = cmd.Process.Pid
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, cmd.Wait(), out.String())
		}()
	}
	wg.Wait()
	logged, err := os.ReadFile(accessLog)
	require.NoError(t, err)
	require.Equal(t, clients*urls, strings.Count(string(logged), " 200\n"), string(logged))

	for i, pid := range pids {
		evs := c.waitFor(t, pid, "curl's requests", func(e []event) bool {
			got := 0
			for _, cv := range conversations(e) {
				for _, n := range requestLines(cv.sent()) {
					got += n
				}
			}
			return got >= urls
		})
		want := map[string]int{}
		for j := range urls {
			want[fmt.Sprintf("GET /c%d/u%d HTTP/1.1", i, j)] = 1
		}
		got := map[string]int{}
		for _, cv := range conversations(evs) {
			for _, d := range append(cv.egress, cv.ingress...) {
				assert.Equal(t, abi.ProtoHTTP, d.Protocol, "%q", d.Payload[:min(len(d.Payload), 40)])
			}
			for l, n := range requestLines(cv.sent()) {
				got[l] += n
			}
			if len(cv.ingress) > 0 {
				assert.True(t, bytes.HasPrefix(cv.received(), []byte("HTTP/1.1 200 OK\r\n")), "%q", cv.received()[:min(len(cv.received()), 80)])
			}
		}
		assert.Equal(t, want, got, "curl %d", i)
	}
	nevs := c.of(nginxPid)
	got := 0
	for _, cv := range conversations(nevs) {
		for _, d := range append(cv.egress, cv.ingress...) {
			assert.Equal(t, abi.ProtoHTTP, d.Protocol, "%q", d.Payload[:min(len(d.Payload), 40)])
		}
		for _, n := range requestLines(cv.received()) {
			got += n
		}
	}
	assert.Equal(t, clients*urls, got, "requests nginx read, against its access log")
	assert.Zero(t, c.lib.TLSUnattributed())
}
