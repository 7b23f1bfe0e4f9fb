package main

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// latencyServerPy is an HTTP/1.1 keep-alive server, a thread per connection, that sleeps a
// seeded random time per request, drawn from the distribution of its path, and answers with the
// whole response in one sendall. It serves exactly `conns` connections, then writes its log,
// "path ns" per request: from its recv() returning the request to its sendall() returning, which
// is what the kernel measures on the server end (the exit of the request's first syscall to the
// exit of the response's first). It exits 1 if any connection failed.
const latencyServerPy = `import math, random, socket, sys, threading, time

host, port, conns, seed, log_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

DELAY_MS = {
    "/uniform": lambda r: r.uniform(1, 40),
    "/bimodal": lambda r: r.uniform(1, 4) if r.random() < 0.85 else r.uniform(25, 40),
    "/skewed": lambda r: math.exp(r.uniform(0, math.log(40))),
}

lock = threading.Lock()
logged = []
failed = []

def serve(conn, index):
    rng = random.Random(seed * 1000 + index)
    mine = []
    try:
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                break
            start = time.monotonic_ns()
            buf += data
            while b"\r\n\r\n" not in buf:
                more = conn.recv(65536)
                if not more:
                    raise RuntimeError("connection closed inside a request head")
                buf += more
            head, _, buf = buf.partition(b"\r\n\r\n")
            if buf:
                raise RuntimeError("bytes after a request head: the client pipelines")
            path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            time.sleep(DELAY_MS[path](rng) / 1000)
            body = ("ok " + path + "\n").encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            mine.append("%s %d\n" % (path, time.monotonic_ns() - start))
    except Exception as e:
        failed.append(repr(e))
    finally:
        conn.close()
        with lock:
            logged.extend(mine)

ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(128)
threads = []
for i in range(conns):
    conn, _ = ls.accept()
    t = threading.Thread(target=serve, args=(conn, i))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
with open(log_path, "w") as f:
    f.writelines(logged)
if failed:
    print("server connections failed:", failed, file=sys.stderr)
    sys.exit(1)
`

// latencyClientPy runs `calls` GETs over `conns` keep-alive connections (a thread each), each
// request one sendall, a random path each time, the whole response read before the next request,
// and stops early at `seconds`. Its log, "path ns" per completed call, runs from just before its
// sendall() to its recv() returning the response's first bytes: the client end as the kernel
// measures it. It exits 1 if any connection failed.
const latencyClientPy = `import random, socket, sys, threading, time

host, port, conns, calls, seed, seconds, log_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
PATHS = ["/uniform", "/bimodal", "/skewed"]
deadline = time.monotonic() + seconds

lock = threading.Lock()
logged = []
failed = []

def run(index, share):
    rng = random.Random(seed * 1000 + 500 + index)
    mine = []
    try:
        s = socket.create_connection((host, port))
        for _ in range(share):
            if time.monotonic() > deadline:
                break
            path = rng.choice(PATHS)
            request = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()
            start = time.monotonic_ns()
            s.sendall(request)
            data = s.recv(65536)
            first = time.monotonic_ns()
            while b"\r\n\r\n" not in data:
                more = s.recv(65536)
                if not more:
                    raise RuntimeError("connection closed inside a response head")
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            if not lines[0].startswith(b"HTTP/1.1 200 "):
                raise RuntimeError("status line %r" % lines[0])
            length = [int(l.split(b":", 1)[1]) for l in lines[1:] if l.lower().startswith(b"content-length:")][0]
            while len(body) < length:
                more = s.recv(65536)
                if not more:
                    raise RuntimeError("connection closed inside a response body")
                body += more
            if len(body) != length:
                raise RuntimeError("%d bytes of body, Content-Length %d" % (len(body), length))
            mine.append("%s %d\n" % (path, first - start))
        s.close()
    except Exception as e:
        failed.append(repr(e))
    with lock:
        logged.extend(mine)

threads = [threading.Thread(target=run, args=(i, calls // conns + (i < calls % conns))) for i in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(log_path, "w") as f:
    f.writelines(logged)
if failed:
    print("client connections failed:", failed, file=sys.stderr)
    sys.exit(1)
`

// latencyLog reads a "path ns" log into each path's latencies, sorted.
func latencyLog(t *testing.T, file string) map[string][]uint64 {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	logged := map[string][]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		path, ns, ok := strings.Cut(line, " ")
		require.True(t, ok, "log line %q in %s", line, file)
		v, err := strconv.ParseUint(ns, 10, 64)
		require.NoError(t, err, "log line %q in %s", line, file)
		logged[path] = append(logged[path], v)
	}
	for _, l := range logged {
		slices.Sort(l)
	}
	return logged
}

// exactQuantile is the value at rank ceil(q*n) of sorted, the rank the observer's histogram
// reports the bucket of.
func exactQuantile(sorted []uint64, q float64) uint64 {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

// The p50/p90/p99 latencies of HTTP/1.1 records are those of the calls the client and server
// timed themselves, with and without EBPF.KernelAggregation [http]: a Python server sleeps a
// seeded random 1–40 ms per request (three paths, three distributions: their medians lie well apart,
// and each one's p50, p90 and p99), a Python client makes thousands of keep-alive calls over 32 connections, each logs every
// call's latency as the kernel measures it on its end, and each record's calls and percentiles
// are checked against the log of its end. With the mode, the kernel must have counted every
// call (the stop line), so its records' percentiles come from the kernel's histogram.
func TestKernelAggregationPercentilesLive(t *testing.T) {
	testenv.RequireRoot(t)
	const (
		conns   = 32
		calls   = 6000 // about 2.5 s: 32 connections at 13 ms a call on average
		seconds = 30   // the client stops there, whatever it has done
		seed    = 7
	)
	paths := []string{"/uniform", "/bimodal", "/skewed"}
	run := func(t *testing.T, ebpf string, kernel bool) {
		n := testenv.NewNet(t, 234)
		dir := t.TempDir()
		serverPy, clientPy := filepath.Join(dir, "server.py"), filepath.Join(dir, "client.py")
		require.NoError(t, os.WriteFile(serverPy, []byte(latencyServerPy), 0o644))
		require.NoError(t, os.WriteFile(clientPy, []byte(latencyClientPy), 0o644))
		serverLog, clientLog := filepath.Join(dir, "server.log"), filepath.Join(dir, "client.log")

		server := testenv.Command(n.Server, "/usr/bin/python3", serverPy, n.ServerV4.String(), "80", strconv.Itoa(conns), strconv.Itoa(seed), serverLog)
		var serverOut bytes.Buffer
		server.Stdout, server.Stderr = &serverOut, &serverOut
		require.NoError(t, server.Start())
		serverDone := make(chan struct{})
		go func() { server.Wait(); close(serverDone) }()
		t.Cleanup(func() {
			server.Process.Kill()
			<-serverDone
		})
		testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, 80))

		config := testenv.Pipeline{EBPF: ebpf, Common: `IncludeCmdRegex: "/usr/bin/python3 .*"`}.String()
		o := testenv.StartObserver(t, config, nil)
		client := testenv.Command(n.Client, "/usr/bin/python3", clientPy, n.ServerV4.String(), "80", strconv.Itoa(conns), strconv.Itoa(calls), strconv.Itoa(seed), strconv.Itoa(seconds), clientLog)
		out, err := client.CombinedOutput()
		require.NoError(t, err, "client: %s", out)
		// The server writes its log once the client closed all its connections.
		select {
		case <-serverDone:
		case <-time.After(10 * time.Second):
			t.Fatalf("the server still runs 10 s after the client closed its connections: %s", serverOut.String())
		}
		require.Zero(t, server.ProcessState.ExitCode(), "server: %s", serverOut.String())
		recs := o.Stop(t, 300*time.Millisecond)

		logs := map[string]map[string][]uint64{"client": latencyLog(t, clientLog), "server": latencyLog(t, serverLog)}
		total := 0
		for _, p := range paths {
			// Enough calls per path that p99 is not its slowest call.
			require.GreaterOrEqual(t, len(logs["client"][p]), 500, "the client's calls of %s", p)
			total += len(logs["client"][p]) + len(logs["server"][p])
		}
		if kernel {
			// The kernel counted every call, on both ends: the percentiles below are its.
			m := regexp.MustCompile(`kernel_aggregation\.calls=(\d+) kernel_aggregation\.filtered_calls=(\d+) kernel_aggregation\.unattributed_calls=(\d+) kernel_aggregation\.lost_calls=(\d+)`).FindStringSubmatch(o.Log())
			require.NotNil(t, m, "the stop line:\n%s", o.Log())
			assert.Equal(t, []string{strconv.Itoa(total), "0", "0", "0"}, m[1:], "calls the kernel aggregated (both ends' logs: %d): recorded, filtered, unattributed, lost", total)
			t.Logf("%s", m[0])
		}
		byKey := map[string][]map[string]string{}
		for _, r := range recs {
			if r["type"] == "protocols" && r["protocol"] == "http" {
				byKey[r["role"]+" "+r["url"]] = append(byKey[r["role"]+" "+r["url"]], r)
			}
		}
		for _, role := range []string{"client", "server"} {
			for _, p := range paths {
				logged := logs[role][p]
				what := fmt.Sprintf("the %s's record of %s", role, p)
				// One record per key: the calls all flushed at the stop.
				require.Len(t, byKey[role+" "+p], 1, what)
				r := byKey[role+" "+p][0]
				assert.Equal(t, strconv.Itoa(len(logged)), r["total_count"], "%s: calls, against the %s's log", what, role)
				for _, q := range []struct {
					field string
					q     float64
				}{{"p50_latency_ns", 0.5}, {"p90_latency_ns", 0.9}, {"p99_latency_ns", 0.99}} {
					want := exactQuantile(logged, q.q)
					field, ok := r[q.field]
					if !assert.True(t, ok, "%s has no %s (%s calls, total_latency_ns %s); the %s's log: %d ns", what, q.field, r["total_count"], r["total_latency_ns"], role, want) {
						continue
					}
					got, err := strconv.ParseUint(field, 10, 64)
					require.NoError(t, err, "%s: %s", what, q.field)
					// The histogram reports the geometric middle of the bucket holding rank
					// ceil(q*n): within 2.5% of the true value. Each call's log differs from
					// what the kernel timed by the gap between Python's clock reads and the
					// syscall exits (the thread waking and taking the GIL, on a shared machine):
					// a rank's value moves no more than the calls' gaps do (the few slow
					// wake-ups only move it by a few ranks). 4% + 200 µs covers both, and stays well below the gaps between a path's p50, p90 and
					// p99, and between the paths' medians.
					tolerance := 0.04*float64(want) + 200e3
					assert.InDelta(t, float64(want), float64(got), tolerance, "%s: %s %d ns, the %s's log %d ns (rank ceil(%g × %d))", what, q.field, got, role, want, q.q, len(logged))
					t.Logf("%s %s: %d calls, %s %d ns, log %d ns (%+.2f%%)", role, p, len(logged), q.field, got, want, 100*(float64(got)-float64(want))/float64(want))
				}
			}
		}
	}
	// One after the other on one subnet: the first's namespaces are gone before the second's.
	t.Run("capture", func(t *testing.T) { run(t, "Enabled: true", false) })
	t.Run("kernel", func(t *testing.T) { run(t, "Enabled: true\nKernelAggregation: [http]", true) })
}
