package kerneltest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	crt, key := testenv.SelfSignedCert(t, dir, "netobserver-test")
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
		args := []string{"-sSk", "--http1.1"}
		for j := range urls {
			args = append(args, "-o", "/dev/null", fmt.Sprintf("https://%s/c%d/u%d", n.ServerV4, i, j))
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
	// nginx's last reads may still be on their way from the kernel when curl's have arrived.
	nginxRead := func(e []event) (got int) {
		for _, cv := range conversations(e) {
			for _, n := range requestLines(cv.received()) {
				got += n
			}
		}
		return got
	}
	nevs := c.waitFor(t, nginxPid, "nginx's requests", func(e []event) bool { return nginxRead(e) >= clients*urls })
	for _, cv := range conversations(nevs) {
		for _, d := range append(cv.egress, cv.ingress...) {
			assert.Equal(t, abi.ProtoHTTP, d.Protocol, "%q", d.Payload[:min(len(d.Payload), 40)])
		}
	}
	assert.Equal(t, clients*urls, nginxRead(nevs), "requests nginx read, against its access log")
	assert.Zero(t, c.lib.TLSUnattributed())
}

// plaintextPositions: a TLS connection's data events carry plaintext positions from 0 on, each
// call's chunks ending at its pos, no gap.
func plaintextPositions(t *testing.T, ds []*abi.DataEvent) {
	t.Helper()
	var end uint64
	for i, d := range ds {
		end += uint64(d.OrgMsgSize)
		if i+1 == len(ds) || ds[i+1].Pos != d.Pos {
			assert.Equal(t, end, d.Pos, "call ending at pos %d", d.Pos)
		}
	}
}

// plaintextContiguous: the plaintext positions have no gap from the first event on (a protocol
// recognised after the connection's start sends nothing before).
func plaintextContiguous(t *testing.T, ds []*abi.DataEvent) {
	t.Helper()
	if len(ds) == 0 {
		return
	}
	first := uint64(0)
	for _, d := range ds {
		if d.Pos != ds[0].Pos {
			break
		}
		first += uint64(d.OrgMsgSize)
	}
	end := ds[0].Pos - first
	for i, d := range ds {
		end += uint64(d.OrgMsgSize)
		if i+1 == len(ds) || ds[i+1].Pos != d.Pos {
			assert.Equal(t, end, d.Pos, "call ending at pos %d", d.Pos)
		}
	}
}

// curl --http2 → nginx over TLS (ALPN h2): both sides' connections are ProtoHTTP2 from the
// plaintext's first event (the client preface, the server's SETTINGS), at plaintext positions,
// while the socket's L4 totals count the ciphertext (larger).
func TestTLSCurlToNginxHTTP2(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	nginxPid, accessLog := tlsNginx(t, n)
	c := startCapture(t, nil)
	tlsProbes(t, c)

	const urls = 20
	args := []string{"-sSk", "--http2", "-w", "%{http_version} %{http_code}\n"}
	for j := range urls {
		args = append(args, "-o", "/dev/null", fmt.Sprintf("https://%s/h2/u%d", n.ServerV4, j))
	}
	curl := testenv.Command(n.Client, "curl", args...)
	out, err := curl.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, strings.Repeat("2 200\n", urls), string(out))
	logged, err := os.ReadFile(accessLog)
	require.NoError(t, err)
	require.Equal(t, urls, strings.Count(string(logged), " 200\n"), string(logged))

	for _, side := range []struct {
		name string
		pid  int
	}{{"curl", curl.Process.Pid}, {"nginx", nginxPid}} {
		t.Run(side.name, func(t *testing.T) {
			evs := c.waitFor(t, side.pid, "the connection's close", func(e []event) bool { return closedConns(e) >= 1 })
			seen := 0
			for _, cv := range conversations(evs) {
				if len(cv.egress) == 0 || len(cv.ingress) == 0 {
					continue
				}
				seen++
				for _, d := range append(cv.egress, cv.ingress...) {
					assert.Equal(t, abi.ProtoHTTP2, d.Protocol, "%q", d.Payload[:min(len(d.Payload), 40)])
				}
				plaintextPositions(t, cv.egress)
				plaintextPositions(t, cv.ingress)
				preface := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
				if side.name == "curl" {
					assert.True(t, bytes.HasPrefix(cv.sent(), preface), "%q", cv.sent()[:min(len(cv.sent()), 40)])
				} else {
					assert.True(t, bytes.HasPrefix(cv.received(), preface), "%q", cv.received()[:min(len(cv.received()), 40)])
				}
				if assert.NotNil(t, cv.final) {
					assert.Greater(t, uint64(cv.final.WrBytes), cv.egress[len(cv.egress)-1].Pos, "socket bytes (ciphertext) exceed the plaintext")
					assert.Greater(t, uint64(cv.final.RdBytes), cv.ingress[len(cv.ingress)-1].Pos, "socket bytes (ciphertext) exceed the plaintext")
				}
			}
			require.Equal(t, 1, seen, describe(evs))
		})
	}
	assert.Zero(t, c.lib.TLSUnattributed())
}

// A process that starts after the probes were attached, with its own copy of libssl (another
// inode, outside the library directories): found by the rescan of its maps after its exec.
// Python's ssl module calls SSL_read_ex and SSL_write_ex.
func TestTLSLibraryMappedAfterStart(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	nginxPid, accessLog := tlsNginx(t, n)
	c := startCapture(t, nil)
	m := tlsProbes(t, c)
	before := m.Counters().Files

	lib := t.TempDir()
	sys, err := os.ReadFile("/lib/x86_64-linux-gnu/libssl.so.3")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(lib, "libssl.so.3"), sys, 0o755))
	const requests = 30
	script := fmt.Sprintf(`import http.client, ssl, sys
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
c = http.client.HTTPSConnection(%q, 443, context=ssl._create_unverified_context())
for i in range(%d):
    c.request("GET", "/py/%%d" %% i)
    r = c.getresponse()
    r.read()
    print(r.status)
`, n.ServerV4.String(), requests)
	py := testenv.Command(n.Client, "env", "LD_LIBRARY_PATH="+lib, "python3", "-c", script)
	stdin, err := py.StdinPipe()
	require.NoError(t, err)
	stdout, err := py.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, py.Start())
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", py.Process.Pid))
	require.NoError(t, err)
	require.Contains(t, string(maps), filepath.Join(lib, "libssl.so.3"), "python maps the copy")

	m.Exec(py.Process.Pid) // what the observer does on the process's exec event
	require.Eventually(t, func() bool { return m.Counters().Files == before+1 }, 10*time.Second, 20*time.Millisecond,
		"the copy was not probed; library said:\n%s", c.log.Text())
	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, py.Wait())
	require.Equal(t, strings.Repeat("200\n", requests), string(rest))
	logged, err := os.ReadFile(accessLog)
	require.NoError(t, err)
	require.Equal(t, requests, strings.Count(string(logged), " 200\n"), string(logged))

	evs := c.waitFor(t, py.Process.Pid, "python's close", func(e []event) bool { return closedConns(e) >= 1 })
	got := map[string]int{}
	for _, cv := range conversations(evs) {
		for _, d := range append(cv.egress, cv.ingress...) {
			assert.Equal(t, abi.ProtoHTTP, d.Protocol, "%q", d.Payload[:min(len(d.Payload), 40)])
		}
		plaintextPositions(t, cv.egress)
		plaintextPositions(t, cv.ingress)
		for l, n := range requestLines(cv.sent()) {
			got[l] += n
		}
	}
	want := map[string]int{}
	for i := range requests {
		want[fmt.Sprintf("GET /py/%d HTTP/1.1", i)] = 1
	}
	assert.Equal(t, want, got)
	nginxGot := 0
	for _, cv := range conversations(c.of(nginxPid)) {
		for _, n := range requestLines(cv.received()) {
			nginxGot += n
		}
	}
	assert.Equal(t, requests, nginxGot)
	assert.Zero(t, c.lib.TLSUnattributed())
}
