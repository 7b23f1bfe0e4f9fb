package kerneltest

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
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

// openssl11 is where scripts/deps.sh unpacks Debian 11's OpenSSL 1.1.1 (libssl1.1, openssl,
// libssl-dev); OPENSSL11 overrides it, as it does for scripts/deps.sh and make.
func openssl11(t *testing.T) (bin, lib string) {
	t.Helper()
	dir := os.Getenv("OPENSSL11")
	if dir == "" {
		dir = "/var/cache/netobserver/openssl-1.1"
	}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		t.Fatalf("OpenSSL 1.1 is missing from %s: run `make deps` (scripts/deps.sh fetches it): %v", dir, err)
	}
	return filepath.Join(dir, "usr/bin/openssl"), filepath.Join(dir, "usr/lib/x86_64-linux-gnu")
}

// attachLog records the programs attached to each file.
type attachLog struct {
	tlsprobe.Attacher
	mu    sync.Mutex
	progs map[string][]string // path → programs
}

func (a *attachLog) AttachUprobe(program, path string, offset uint64, ret bool) (int, error) {
	a.mu.Lock()
	a.progs[path] = append(a.progs[path], program)
	a.mu.Unlock()
	return a.Attacher.AttachUprobe(program, path, offset, ret)
}

// programsOf returns the programs attached to the files whose path ends with suffix.
func (a *attachLog) programsOf(suffix string) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for path, ps := range a.progs {
		if strings.HasSuffix(path, suffix) {
			for _, p := range ps {
				out[p]++
			}
		}
	}
	return out
}

// OpenSSL 1.1.1w's own s_client (Debian 11's, run on its libssl1.1) → nginx over TLS: several
// processes, each sending its HTTP/1.1 requests over one connection. The 1.1 library is probed
// with the OPENSSL_1_1 entry program, and the clients' plaintext holds every request exactly once
// and the responses the clients printed, as many as nginx logged, none unattributed.
func TestTLSOpenSSL11SClientToNginx(t *testing.T) {
	bin, lib := openssl11(t)
	ldd, err := exec.Command("env", "LD_LIBRARY_PATH="+lib, "ldd", bin).CombinedOutput()
	require.NoError(t, err, string(ldd))
	require.Contains(t, string(ldd), "libssl.so.1.1 => "+filepath.Join(lib, "libssl.so.1.1"))
	require.Contains(t, string(ldd), "libcrypto.so.1.1 => "+filepath.Join(lib, "libcrypto.so.1.1"))

	n := testenv.NewNet(t, subnet)
	nginxPid, accessLog := tlsNginx(t, n)
	c := startCapture(t, nil)
	att := &attachLog{Attacher: c.lib, progs: map[string][]string{}}
	m := tlsprobe.New(att, []tlsprobe.Prober{tlsprobe.OpenSSL{}}, tlsprobe.Config{Log: slog.New(c.log)})
	t.Cleanup(m.Close)
	m.ScanAll()
	require.Zero(t, m.Counters().Failed, c.log.Text())
	before := m.Counters().Files

	// The observer probes a library when a process maps it (at its exec): an idle `openssl`
	// (its interactive prompt, waiting on stdin) maps libssl.so.1.1 before the clients start.
	idle := testenv.Command(n.Client, "env", "LD_LIBRARY_PATH="+lib, bin)
	idleIn, err := idle.StdinPipe()
	require.NoError(t, err)
	idleOut, err := idle.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, idle.Start())
	t.Cleanup(func() { idleIn.Close(); _ = idle.Wait() })
	prompt := make([]byte, len("OpenSSL> "))
	_, err = bufio.NewReader(idleOut).Read(prompt)
	require.NoError(t, err)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", idle.Process.Pid))
	require.NoError(t, err)
	require.Contains(t, string(maps), filepath.Join(lib, "libssl.so.1.1"))
	m.Exec(idle.Process.Pid)
	require.Eventually(t, func() bool { return m.Counters().Files == before+1 }, 10*time.Second, 20*time.Millisecond,
		"libssl.so.1.1 was not probed; library said:\n%s", c.log.Text())
	require.Zero(t, m.Counters().Failed, c.log.Text())
	require.Equal(t, map[string]int{
		"tls_openssl11_enter": 4, "tls_openssl_read_ret": 1, "tls_openssl_write_ret": 1,
		"tls_openssl_read_ex_ret": 1, "tls_openssl_write_ex_ret": 1,
	}, att.programsOf(filepath.Join(lib, "libssl.so.1.1")))

	const clients, requests = 4, 20
	var wg sync.WaitGroup
	pids := make([]int, clients)
	outs := make([]bytes.Buffer, clients)
	for i := range clients {
		var in strings.Builder
		for j := range requests {
			conn := "keep-alive"
			if j == requests-1 {
				conn = "close" // nginx closes; s_client (-quiet implies -ign_eof) exits on it
			}
			fmt.Fprintf(&in, "GET /s11/c%d/r%d HTTP/1.1\r\nHost: netobserver-test\r\nConnection: %s\r\n\r\n", i, j, conn)
		}
		cmd := testenv.Command(n.Client, "env", "LD_LIBRARY_PATH="+lib, bin, "s_client", "-quiet",
			"-connect", n.ServerV4.String()+":443")
		cmd.Stdin = strings.NewReader(in.String())
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &outs[i], &stderr
		require.NoError(t, cmd.Start())
		pids[i] = cmd.Process.Pid
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, cmd.Wait(), stderr.String())
		}()
	}
	wg.Wait()
	for i := range clients {
		require.Equal(t, requests, strings.Count(outs[i].String(), "HTTP/1.1 200 OK\r\n"), "s_client %d printed:\n%s", i, outs[i].String())
	}
	logged, err := os.ReadFile(accessLog)
	require.NoError(t, err)
	require.Equal(t, clients*requests, strings.Count(string(logged), " 200\n"), string(logged))

	for i, pid := range pids {
		evs := c.waitFor(t, pid, "s_client's close", func(e []event) bool { return closedConns(e) >= 1 })
		want := map[string]int{}
		for j := range requests {
			want[fmt.Sprintf("GET /s11/c%d/r%d HTTP/1.1", i, j)] = 1
		}
		got, responses := map[string]int{}, 0
		for _, cv := range conversations(evs) {
			for _, d := range append(cv.egress, cv.ingress...) {
				assert.Equal(t, abi.ProtoHTTP, d.Protocol, "%q", d.Payload[:min(len(d.Payload), 40)])
			}
			plaintextPositions(t, cv.egress)
			plaintextPositions(t, cv.ingress)
			for l, n := range requestLines(cv.sent()) {
				got[l] += n
			}
			responses += bytes.Count(cv.received(), []byte("HTTP/1.1 200 OK\r\n"))
		}
		assert.Equal(t, want, got, "s_client %d's requests", i)
		assert.Equal(t, requests, responses, "s_client %d's responses", i)
	}
	nginxGot := 0
	for _, cv := range conversations(c.of(nginxPid)) {
		for _, n := range requestLines(cv.received()) {
			nginxGot += n
		}
	}
	assert.Equal(t, clients*requests, nginxGot, "requests nginx read, against its access log")
	assert.Zero(t, c.lib.TLSUnattributed())
}
