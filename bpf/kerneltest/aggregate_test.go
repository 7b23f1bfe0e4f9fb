package kerneltest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aggNginx starts nginx serving files of the given sizes, with its access log
// (testenv.NginxFiles), sendfile off (nginx's default: its bodies go through writev), and a
// /post location that answers without reading the body. It returns nginx and the log's path.
func aggNginx(t *testing.T, n *testenv.Net, sizes map[string]int) (int, string) {
	t.Helper()
	nginx, log := testenv.NginxFiles(t, n.Server, n.ServerV4, sizes, "sendfile off;",
		`location = /post { default_type text/plain; return 200 "posted\n"; }`)
	return nginx.Process.Pid, log
}

// aggOf sums the aggregate entries of process pid per path; every entry must have the role and
// host given, method GET, status 200, and HTTP/1.1 for wrk's path, 1.0 for ab's.
func aggOf(t *testing.T, entries []abi.AggEntry, pid int, role abi.Role, host string) map[string]testenv.Calls {
	t.Helper()
	out := map[string]testenv.Calls{}
	for _, e := range entries {
		if e.Conn.TGID != uint32(pid) {
			continue
		}
		assert.Equal(t, role, e.Role, "%+v", e)
		assert.Equal(t, 1, e.Method, "%+v", e)
		version := 0
		if e.Path == "/wrk.txt" {
			version = 1
		}
		assert.Equal(t, version, e.Version, "%+v", e)
		assert.Equal(t, host, e.Host, "%+v", e)
		assert.Equal(t, 200, e.Status, "%+v", e)
		// Loopback calls over veth: each takes more than a microsecond and less than a second.
		assert.Greater(t, e.LatencyNs, e.Count*1000, "%+v", e.AggKey)
		assert.Less(t, e.LatencyNs, e.Count*uint64(time.Second), "%+v", e.AggKey)
		// Every call is in the histogram, in its latency's bucket: the sum lies between the
		// buckets' bounds (1.05^i ns, bucket AggHistFirst+i; the first from 0).
		var calls uint64
		var lo, hi float64
		for i, n := range e.Latencies {
			calls += uint64(n)
			if i > 0 {
				lo += float64(n) * math.Floor(math.Pow(1.05, float64(abi.AggHistFirst+i)))
			}
			hi += float64(n) * math.Ceil(math.Pow(1.05, float64(abi.AggHistFirst+i+1)))
		}
		assert.Equal(t, e.Count, calls, "calls in the histogram, %+v", e.AggKey)
		assert.True(t, lo <= float64(e.LatencyNs) && float64(e.LatencyNs) <= hi, "latency sum %d outside its buckets' bounds [%.0f, %.0f], %+v",
			e.LatencyNs, lo, hi, e.AggKey)
		s := out[e.Path]
		s.Count += e.Count
		s.ReqBytes += e.ReqBytes
		s.RespBytes += e.RespBytes
		out[e.Path] = s
	}
	return out
}

// aggCapture starts a capture with kernel aggregation of HTTP/1.x; nil (the refusal checked) when
// the test run forces a hook set or header scan without the mode (NETOBSERVER_BPF_NO_LOOP,
// NETOBSERVER_BPF_HOOK other than tp_btf): the library must then refuse it cleanly.
func aggCapture(t *testing.T) *capture {
	t.Helper()
	var refused error
	opts := libebpf.Options{PollInterval: 2 * time.Millisecond, KernelAggregation: abi.ProtocolsOf(abi.ProtoHTTP)}
	c := startCaptureWith(t, opts, func(l *libebpf.Library) { refused = l.KernelAggregation(uint32(abi.ProtocolsOf(abi.ProtoHTTP))) })
	hook := os.Getenv("NETOBSERVER_BPF_HOOK")
	if os.Getenv("NETOBSERVER_BPF_NO_LOOP") != "" || (hook != "" && hook != "tp_btf") {
		require.ErrorIs(t, refused, syscall.EOPNOTSUPP)
		return nil
	}
	require.NoError(t, refused)
	return c
}

// startListening starts a test server that says "listening" first, waits for that line and returns
// the scanner of its further lines; the server is killed at the test's end.
func startListening(t *testing.T, server *exec.Cmd) *bufio.Scanner {
	stdout, err := server.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, server.Start())
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan())
	require.Equal(t, "listening", lines.Text())
	return lines
}

func aggCounters(t *testing.T, c *capture) []uint64 {
	t.Helper()
	_, counters := aggregates(t, c)
	return counters
}

// aggregates is the whole aggregate map and the counters.
func aggregates(t *testing.T, c *capture) ([]abi.AggEntry, []uint64) {
	t.Helper()
	var entries []abi.AggEntry
	counters, err := c.lib.ReadAggregates(func(e *abi.AggEntry) { entries = append(entries, *e) })
	require.NoError(t, err)
	return entries, counters
}

func counterDelta(before, after []uint64) map[abi.AggCounter]uint64 {
	d := map[abi.AggCounter]uint64{}
	for i := range after {
		if after[i] != before[i] {
			d[abi.AggCounter(i)] = after[i] - before[i]
		}
	}
	return d
}

func dataEvents(evs []event) (n int) {
	for _, e := range evs {
		if e.data != nil {
			n++
		}
	}
	return n
}

// With kernel aggregation on, ab's keep-alive calls (32 at a time, three body sizes, one far larger
// than ab's 8 KiB reads) are counted in the kernel on both ends: per path, the client's and the
// server's counts, request bytes and response bytes equal ab's and nginx's own accounts; no data
// event leaves the kernel and no connection falls back; the L4 totals at close stay the bytes
// that crossed.
func TestKernelAggregationCountsAb(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	sizes := map[string]int{"small.txt": 6, "mid.txt": 3000, "big.txt": 100000}
	wrkFile := "wrk.txt"
	sizes[wrkFile] = 20000
	nginx, log := aggNginx(t, n, sizes)
	c := aggCapture(t)
	if c == nil {
		return
	}
	before := aggCounters(t, c)

	const calls = 2000
	type run struct {
		pid   int
		total int
	}
	runs := map[string]run{}
	for name := range sizes {
		if name == wrkFile {
			continue
		}
		pid, complete, failed, total := abReport(t, n.Client, "-k", "-n", strconv.Itoa(calls), "-c", "32",
			fmt.Sprintf("http://%s/%s", n.ServerV4, name))
		require.Equal(t, calls, complete)
		require.Zero(t, failed)
		runs["/"+name] = run{pid, total}
	}
	// wrk has no request count: it stops on a timer and leaves the calls in flight unread, so
	// its own count is a lower bound of the client side's and nginx's log an upper bound.
	wrk := testenv.Command(n.Client, "wrk", "-t1", "-c32", "-d2s", fmt.Sprintf("http://%s/%s", n.ServerV4, wrkFile))
	wrkOut, err := wrk.CombinedOutput()
	require.NoError(t, err, "%s", wrkOut)
	m := regexp.MustCompile(`(\d+) requests in`).FindSubmatch(wrkOut)
	require.NotNil(t, m, "%s", wrkOut)
	wrkCalls, err := strconv.ParseUint(string(m[1]), 10, 64)
	require.NoError(t, err)
	require.Greater(t, wrkCalls, uint64(1000), "%s", wrkOut)
	for _, r := range runs {
		c.waitFor(t, r.pid, "ab's closes", func(e []event) bool { return closedConns(e) >= 32 })
	}
	// wrk exits without closing its connections: its calls are in the map by the time it exits.
	time.Sleep(200 * time.Millisecond) // nginx's last log lines and closes
	logged := testenv.AccessLogCalls(t, log, "")
	entries, counters := aggregates(t, c)
	assert.Empty(t, counterDelta(before, counters), "fallbacks")

	server := aggOf(t, entries, nginx, abi.RoleServer, n.ServerV4.String())
	for path, r := range runs {
		want := logged[path]
		require.Equal(t, uint64(calls), want.Count, "nginx's log of %s", path)
		client := aggOf(t, entries, r.pid, abi.RoleClient, n.ServerV4.String())
		assert.Equal(t, map[string]testenv.Calls{path: {Count: calls, ReqBytes: want.ReqBytes, RespBytes: uint64(r.total)}}, client, "ab's calls of %s", path)
		assert.Equal(t, uint64(r.total), want.RespBytes, "ab's Total transferred vs nginx's $bytes_sent for %s", path)
		assert.Equal(t, want, server[path], "nginx's calls of %s", path)
		t.Logf("%s: ab %d calls, %d bytes read; nginx's log %+v; kernel: ab %+v, nginx %+v", path, calls, r.total, want,
			client[path], server[path])

		evs := c.of(r.pid)
		assert.Zero(t, dataEvents(evs), "ab's data events")
		var wr, rd int64
		for _, e := range evs {
			if e.stats != nil && e.stats.ConnEvents == 1 {
				wr += e.stats.WrBytes
				rd += e.stats.RdBytes
			}
		}
		assert.Equal(t, int64(want.ReqBytes), wr, "ab's bytes sent at close, %s", path)
		assert.Equal(t, int64(r.total), rd, "ab's bytes read at close, %s", path)
	}
	assert.Len(t, server, len(sizes))
	wrkLogged := logged["/"+wrkFile]
	assert.Equal(t, wrkLogged, server["/"+wrkFile], "nginx's calls from wrk")
	wrkClient := aggOf(t, entries, wrk.Process.Pid, abi.RoleClient, n.ServerV4.String())["/"+wrkFile]
	assert.GreaterOrEqual(t, wrkClient.Count, wrkCalls)
	assert.LessOrEqual(t, wrkClient.Count, wrkLogged.Count)
	assert.Zero(t, dataEvents(c.of(wrk.Process.Pid)), "wrk's data events")
	t.Logf("wrk: %d calls by its count; nginx's log %+v; kernel: wrk %+v, nginx %+v", wrkCalls, wrkLogged, wrkClient,
		server["/"+wrkFile])
	assert.Zero(t, dataEvents(c.of(nginx)), "nginx's data events")
	assert.Zero(t, c.lost())

	// netobserver_delete_aggregates2: the entries read are gone, and deleting them again finds
	// none (other processes' traffic may add entries of their own meanwhile).
	var keys []abi.AggKey
	for _, e := range entries {
		keys = append(keys, e.AggKey)
	}
	deleted, err := c.lib.DeleteAggregates(keys)
	require.NoError(t, err)
	assert.Equal(t, len(entries), deleted)
	left, _ := aggregates(t, c)
	gone := map[abi.ConnID]bool{}
	for _, e := range entries {
		gone[e.Conn] = true
	}
	for _, e := range left {
		assert.False(t, gone[e.Conn], "entry still there after its deletion: %+v", e)
	}
	again, err := c.lib.DeleteAggregates(keys)
	require.NoError(t, err)
	assert.Zero(t, again)
}

// pipelined sends its requests over one connection to addr:80 as told (one write, or one write
// each with a pause between, all before reading), then reads until it has as many responses.
const pipelined = `
import socket, sys, time
addr, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
req = ("GET /small.txt HTTP/1.1\r\nHost: %s\r\n\r\n" % addr).encode()
s = socket.create_connection((addr, 80))
if mode == "one":
    s.sendall(req * n)
elif mode == "body":
    s.sendall(("POST /post HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n\r\n" % addr).encode())
    time.sleep(0.1)
    s.sendall(b"hello")
    time.sleep(0.1)
    s.sendall(req)
else:
    for i in range(n):
        s.sendall(req)
        time.sleep(0.1)
got = b""
while got.count(b"HTTP/1.1 200") < n:
    b = s.recv(65536)
    if not b:
        break
    got += b
s.close()
print(got.count(b"HTTP/1.1 200"))
`

// oneRequest writes argv[2] in one write, reads the response's head and prints its status.
const oneRequest = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 80))
s.sendall(sys.argv[2].encode())
got = b""
while b"\r\n\r\n" not in got:
    b = s.recv(65536)
    if not b:
        break
    got += b
s.close()
print(got.split(b" ")[1].decode() if got else "none")
`

// Pipelining falls back, counted, and every request is accounted: two requests in one write are
// refused in the syscall that carries them (both go out as data, on both ends); a second request
// written before the first response is read exports the first, pending call as the event it would
// have been without the mode, then the second. A request with Expect: 100-continue is never aggregated.
func TestKernelAggregationFallsBack(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	nginx, _ := aggNginx(t, n, map[string]int{"small.txt": 6})
	c := aggCapture(t)
	if c == nil {
		return
	}
	addr := n.ServerV4.String()
	requestsIn := func(evs []event, dir abi.Direction) int {
		var all []byte
		for _, e := range evs {
			if e.data != nil && e.data.Direction == dir {
				all = append(all, e.data.Payload...)
			}
		}
		return bytes.Count(all, []byte("GET /small.txt HTTP/1.1\r\n"))
	}
	aggregated := func(pid int) (n uint64) {
		entries, _ := aggregates(t, c)
		for _, e := range entries {
			if e.Conn.TGID == uint32(pid) {
				n += e.Count
			}
		}
		return n
	}

	t.Run("one write", func(t *testing.T) {
		before := aggCounters(t, c)
		nginxBefore := aggregated(nginx)
		cmd := testenv.Command(n.Client, testenv.Python(t), "-c", pipelined, addr, "one", "2")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "2", strings.TrimSpace(string(out)))
		evs := c.waitFor(t, cmd.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
		time.Sleep(100 * time.Millisecond)
		// Both ends refuse the syscall that holds both requests (nginx reads them at once).
		assert.Equal(t, map[abi.AggCounter]uint64{abi.AggFallbackExtra: 2}, counterDelta(before, aggCounters(t, c)))
		assert.Equal(t, 2, requestsIn(evs, abi.DirEgress), describe(evs))
		assert.Zero(t, aggregated(cmd.Process.Pid))
		assert.Equal(t, nginxBefore, aggregated(nginx))
	})

	t.Run("second write before reading", func(t *testing.T) {
		before := aggCounters(t, c)
		nginxBefore := aggregated(nginx)
		cmd := testenv.Command(n.Client, testenv.Python(t), "-c", pipelined, addr, "two", "2")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "2", strings.TrimSpace(string(out)))
		evs := c.waitFor(t, cmd.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
		time.Sleep(100 * time.Millisecond)
		// The client: the first call, pending, goes out as the event it would have been without
		// the mode (its time, position and head), then the second write's. nginx answered the
		// first before it read the second: both aggregated.
		assert.Equal(t, map[abi.AggCounter]uint64{abi.AggFallbackPipelined: 1, abi.AggPendingExported: 1},
			counterDelta(before, aggCounters(t, c)))
		var sent []*abi.DataEvent
		for _, e := range evs {
			if e.data != nil && e.data.Direction == abi.DirEgress {
				sent = append(sent, e.data)
			}
		}
		req := fmt.Sprintf("GET /small.txt HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		require.Len(t, sent, 2, describe(evs))
		for i, d := range sent {
			assert.Equal(t, req, string(d.Payload), "request %d", i)
			assert.Equal(t, uint32(len(req)), d.OrgMsgSize, "request %d", i)
			assert.Equal(t, uint64((i+1)*len(req)), d.Pos, "request %d", i)
			assert.Equal(t, abi.TypeRequest, d.Type, "request %d", i)
		}
		// The python client sleeps 100 ms between its writes.
		assert.Greater(t, sent[1].TS-sent[0].TS, uint64(90*time.Millisecond))
		assert.Zero(t, aggregated(cmd.Process.Pid))
		assert.Equal(t, nginxBefore+2, aggregated(nginx))
	})

	// A pending POST whose body followed in a write of its own would have been two events: it is
	// lost instead, counted, and the GET after it exported. nginx answers the POST before it reads
	// the body: an early response, and its pending POST exported.
	t.Run("pending call with a body", func(t *testing.T) {
		before := aggCounters(t, c)
		cmd := testenv.Command(n.Client, testenv.Python(t), "-c", pipelined, addr, "body", "2")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "2", strings.TrimSpace(string(out)))
		evs := c.waitFor(t, cmd.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, map[abi.AggCounter]uint64{abi.AggFallbackPipelined: 1, abi.AggLostCalls: 1,
			abi.AggFallbackEarly: 1, abi.AggPendingExported: 1}, counterDelta(before, aggCounters(t, c)))
		assert.Equal(t, 1, requestsIn(evs, abi.DirEgress), describe(evs))
		assert.Zero(t, aggregated(cmd.Process.Pid))
	})

	// The key's path and Host are never cut: one that fills its field is aggregated whole, one byte
	// more falls back; a Host value the parser would trim differently (two leading blanks) too.
	// Each request is one whole write, answered (404 or 200) before the client closes.
	for _, tc := range []struct {
		name, path, host string
		want             map[abi.AggCounter]uint64
		aggregated       uint64
	}{
		{"path at the bound", "/" + strings.Repeat("p", abi.AggPathMax-1), "h", nil, 1},
		{"path past the bound", "/" + strings.Repeat("p", abi.AggPathMax), "h", map[abi.AggCounter]uint64{abi.AggFallbackLong: 2}, 0},
		{"host at the bound", "/small.txt", strings.Repeat("h", abi.AggHostMax), nil, 1},
		{"host past the bound", "/small.txt", strings.Repeat("h", abi.AggHostMax+1), map[abi.AggCounter]uint64{abi.AggFallbackLong: 2}, 0},
		{"host after two blanks", "/small.txt", " h", map[abi.AggCounter]uint64{abi.AggFallbackHead: 2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := aggCounters(t, c)
			req := fmt.Sprintf("GET %s?q=1 HTTP/1.1\r\nHost: %s\r\n\r\n", tc.path, tc.host)
			cmd := testenv.Command(n.Client, testenv.Python(t), "-c", oneRequest, addr, req)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Contains(t, []string{"200", "404"}, strings.TrimSpace(string(out)))
			evs := c.waitFor(t, cmd.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
			time.Sleep(100 * time.Millisecond)
			want := tc.want
			if want == nil {
				want = map[abi.AggCounter]uint64{}
			}
			assert.Equal(t, want, counterDelta(before, aggCounters(t, c)))
			assert.Equal(t, tc.aggregated, aggregated(cmd.Process.Pid))
			var sent []byte
			for _, e := range evs {
				if e.data != nil && e.data.Direction == abi.DirEgress {
					sent = append(sent, e.data.Payload...)
				}
			}
			if tc.aggregated == 0 {
				assert.Equal(t, req, string(sent), describe(evs))
				return
			}
			assert.Empty(t, sent, describe(evs))
			entries, _ := aggregates(t, c)
			var keys []string
			for _, e := range entries {
				if e.Conn.TGID == uint32(cmd.Process.Pid) {
					keys = append(keys, e.Host+" "+e.Path)
				}
			}
			assert.Equal(t, []string{tc.host + " " + tc.path}, keys)
		})
	}

	t.Run("expect 100-continue", func(t *testing.T) {
		before := aggCounters(t, c)
		cmd := testenv.Command(n.Client, "curl", "-sS", "-H", "Expect: 100-continue", "--data-binary", "a=1",
			"http://"+addr+"/post")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "posted\n", string(out))
		evs := c.waitFor(t, cmd.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, map[abi.AggCounter]uint64{abi.AggFallbackHead: 2}, counterDelta(before, aggCounters(t, c)))
		var sent []byte
		for _, e := range evs {
			if e.data != nil && e.data.Direction == abi.DirEgress {
				sent = append(sent, e.data.Payload...)
			}
		}
		assert.Contains(t, string(sent), "POST /post HTTP/1.1\r\n")
		assert.Zero(t, aggregated(cmd.Process.Pid))
	})

	// A request its connection never answers: when the server closes without a response,
	// unanswered on both ends, as capture counts it.
	t.Run("unanswered", func(t *testing.T) {
		before := aggCounters(t, c)
		server := testenv.Command(n.Server, testenv.Python(t), "-c", testenv.SilentHTTPServer, addr)
		stdin, err := server.StdinPipe()
		require.NoError(t, err)
		lines := startListening(t, server)
		client := testenv.Command(n.Client, testenv.Python(t), "-c", oneRequest, addr, "GET /small.txt HTTP/1.1\r\nHost: h\r\n\r\n", "81")
		var out bytes.Buffer
		client.Stdout, client.Stderr = &out, &out
		require.NoError(t, client.Start())
		require.True(t, lines.Scan())
		require.Equal(t, "got GET /small.txt HTTP/1.1", lines.Text())
		require.NoError(t, stdin.Close()) // the server closes the connection, unanswered
		require.NoError(t, client.Wait(), "%s", out.String())
		require.Equal(t, "none\n", out.String())
		c.waitFor(t, client.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, map[abi.AggCounter]uint64{abi.AggUnanswered: 2}, counterDelta(before, aggCounters(t, c)), "unanswered")
		assert.Zero(t, aggregated(client.Process.Pid))
		assert.Zero(t, aggregated(server.Process.Pid))
	})
}

// The mode's program costs the verifier's work at every start, so ebpf_init loads it only when it
// was asked for before: asked for after, the mode is refused, and the library holds no such
// program.
func TestKernelAggregationNotAskedAtInit(t *testing.T) {
	var refused error
	c := startCapture(t, func(l *libebpf.Library) { refused = l.KernelAggregation(uint32(abi.ProtocolsOf(abi.ProtoHTTP))) })
	require.ErrorIs(t, refused, syscall.EOPNOTSUPP)
	assert.Contains(t, c.log.Text(), "asked for before ebpf_init")
	// The programs this process holds: prog_id in the fdinfo of its descriptors.
	ours := map[int]bool{}
	fds, err := os.ReadDir("/proc/self/fdinfo")
	require.NoError(t, err)
	for _, fd := range fds {
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		if m := regexp.MustCompile(`(?m)^prog_id:\s+(\d+)`).FindSubmatch(info); m != nil {
			id, _ := strconv.Atoi(string(m[1]))
			ours[id] = true
		}
	}
	out, err := exec.Command("bpftool", "prog", "show", "--json").Output()
	require.NoError(t, err)
	var progs []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	require.NoError(t, json.Unmarshal(out, &progs))
	var names []string
	for _, p := range progs {
		if ours[p.ID] {
			names = append(names, p.Name)
		}
	}
	require.Contains(t, names, "data_main_btf", "the tp_btf set's programs")
	assert.NotContains(t, names, "http_agg_btf")
}

// lengthServer accepts two connections on argv[1]:81, one after the other, and answers each one's
// requests in order, each with one send: /cl 5 000 bytes with a Content-Length, /small 3, a HEAD of
// /cl its head only (the Content-Length of the GET), /304 and /204 a head that announces a
// Content-Length and no body (RFC 9112 6.3), /chunked 5 000 bytes in 5 chunks; /slow 5 000 bytes
// with a Content-Length in two sends, the head and 1 000 bytes, then, once the next request has
// arrived (unread: it waits for it with select), the rest. It prints "listening", then for /slow
// "first <bytes of its first send>", and per request "call <method> <path> <status> <request
// bytes> <response bytes>" once it is sent whole; it ends at the second connection's end.
const lengthServer = `import select, socket, sys
def response(method, path):
    if path == "/304":
        return b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\n\r\n"
    if path == "/204":
        return b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
    if path == "/chunked":
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"3e8\r\n" + b"y" * 1000 + b"\r\n" + (b"3e8\r\n" + b"y" * 1000 + b"\r\n") * 4 + b"0\r\n\r\n"
    body = b"x" * 5000 if path in ("/cl", "/slow") else b"ok\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head if method == "HEAD" else head + body
l = socket.create_server((sys.argv[1], 81))
print("listening", flush=True)
for conn in range(2):
    s, _ = l.accept()
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            got = s.recv(65536)
            if not got:
                break
            buf += got
        if b"\r\n\r\n" not in buf:
            break
        head, _, buf = buf.partition(b"\r\n\r\n")
        method, path = head.decode().split(" ")[:2]
        r = response(method, path)
        if path == "/slow":
            first = len(r) - 4000
            s.sendall(r[:first])
            print("first", first, flush=True)
            select.select([s], [], [])
            s.sendall(r[first:])
        else:
            s.sendall(r)
        print("call", method, path, r[9:12].decode(), len(head) + 4, len(r), flush=True)
    s.close()
`

// lengthClient, on a first connection to argv[1]:81, writes a request, reads the start of its
// response once it has all arrived, writes a GET of /small, and reads the rest once that has all
// arrived too; for GET /cl (100 bytes: the head and the body's start), HEAD /cl, GET /304, GET
// /204 (their whole responses, exactly: each read fills its buffer) and GET /chunked (100) in
// turn. On a second connection it writes a GET of /slow, reads what has arrived (with a buffer of
// 64 KiB: the server's first send, a short read), writes a GET of /small, and reads the rest once
// it has all arrived. It prints the bytes it read.
const lengthClient = `import socket, sys, time
def bodyless(status, length):
    return len(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n" % (status, length))
read = 0
for calls in [[("GET", "/cl", 100), ("HEAD", "/cl", bodyless(b"200 OK", 5000)), ("GET", "/304", bodyless(b"304 Not Modified", 5000)),
               ("GET", "/204", bodyless(b"204 No Content", 10)), ("GET", "/chunked", 100)], [("GET", "/slow", 65536)]]:
    s = socket.create_connection((sys.argv[1], 81))
    def request(method, path):
        s.sendall(("%s %s HTTP/1.1\r\nHost: h\r\n\r\n" % (method, path)).encode())
    for method, path, first in calls:
        request(method, path)
        time.sleep(0.1)
        read += len(s.recv(first))
        request("GET", "/small")
        time.sleep(0.1)
        read += len(s.recv(65536))
    s.close()
print(read)
`

// A response's length is learnt from its head when the client's first read of it fills its buffer
// (the rest may be waiting): a client that writes its next request before it has read the whole
// response has the rest counted to that response's call, even when the rest and the next response
// come in one read (GET /cl); a response to HEAD, a 304 and a 204 have no body whatever their
// Content-Length says, so the next response is its own call's. A chunked response's length is not
// known: its rest after an early request makes the client's connection fall back (unfinished),
// counted, its pending request exported, and that call keeps the bytes read before the request.
// A first read that does not fill its buffer is not scanned (the cost of every call): a response
// still in flight then, whose rest comes after an early request (GET /slow), is the same counted
// fallback, its call holding the bytes the server sent before that request. The server, which
// writes each response whole before it reads the next request, counts every call exactly.
func TestKernelAggregationResponseLengths(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	c := aggCapture(t)
	if c == nil {
		return
	}
	addr := n.ServerV4.String()
	before := aggCounters(t, c)
	server := testenv.Command(n.Server, testenv.Python(t), "-c", lengthServer, addr)
	lines := startListening(t, server)
	client := testenv.Command(n.Client, testenv.Python(t), "-c", lengthClient, addr)
	out, err := client.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// The server's account, per "<method> <path> <status>", and its calls in order.
	served := map[string]testenv.Calls{}
	var calls []string
	var sent, slowFirst uint64
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) == 2 && f[0] == "first" {
			slowFirst, err = strconv.ParseUint(f[1], 10, 64)
			require.NoError(t, err)
			continue
		}
		require.Len(t, f, 6, lines.Text())
		req, err := strconv.ParseUint(f[4], 10, 64)
		require.NoError(t, err)
		resp, err := strconv.ParseUint(f[5], 10, 64)
		require.NoError(t, err)
		key := strings.Join(f[1:4], " ")
		calls = append(calls, key)
		s := served[key]
		s.Count++
		s.ReqBytes += req
		s.RespBytes += resp
		served[key] = s
		sent += resp
	}
	require.NoError(t, server.Wait())
	require.Len(t, calls, 12, "the server's calls")
	require.NotZero(t, slowFirst, "the server's first send of /slow")
	require.Equal(t, strconv.FormatUint(sent, 10), strings.TrimSpace(string(out)), "the client read what the server sent")
	c.waitFor(t, client.Process.Pid, "the closes", func(e []event) bool { return closedConns(e) >= 2 })
	time.Sleep(100 * time.Millisecond)

	entries, counters := aggregates(t, c)
	methods := map[int]string{1: "GET", 4: "HEAD"}
	kernel := func(pid int) map[string]testenv.Calls {
		out := map[string]testenv.Calls{}
		for _, e := range entries {
			if e.Conn.TGID != uint32(pid) {
				continue
			}
			key := fmt.Sprintf("%s %s %d", methods[e.Method], e.Path, e.Status)
			s := out[key]
			s.Count += e.Count
			s.ReqBytes += e.ReqBytes
			s.RespBytes += e.RespBytes
			out[key] = s
		}
		return out
	}
	assert.Equal(t, served, kernel(server.Process.Pid), "the server's calls")
	// The client: every call as the server counted it but the last /small of each connection,
	// whose request went out as capture's event; the chunked one with the 100 bytes read before
	// the next request, /slow with the server's first send.
	want := map[string]testenv.Calls{}
	for k, v := range served {
		want[k] = v
	}
	require.Equal(t, []string{"GET /chunked 200", "GET /small 200", "GET /slow 200", "GET /small 200"}, calls[8:])
	small := want["GET /small 200"]
	small.Count -= 2
	small.ReqBytes -= 2 * small.ReqBytes / 6
	small.RespBytes -= 2 * small.RespBytes / 6
	want["GET /small 200"] = small
	chunked := want["GET /chunked 200"]
	chunked.RespBytes = 100
	want["GET /chunked 200"] = chunked
	slow := want["GET /slow 200"]
	slow.RespBytes = slowFirst
	want["GET /slow 200"] = slow
	assert.Equal(t, want, kernel(client.Process.Pid), "the client's calls")
	assert.Equal(t, map[abi.AggCounter]uint64{abi.AggFallbackUnfinished: 2, abi.AggPendingExported: 2}, counterDelta(before, counters))
}
