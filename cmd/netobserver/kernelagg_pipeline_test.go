package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wrkDepthScript is wrk's documented pipelining pattern (init builds one string of the requests
// with wrk.format, request returns it), with a budget: delay() grants each thread args[1]
// pipelines, each args[2] ms after its connection's last response, then parks its connections
// for an hour. wrk calls delay() before each pipeline it writes (its first included), and
// request() once more per thread at setup to count the requests in a pipeline, so request()
// cannot count them. With the budget spent before wrk's -d ends, no request is in flight when
// wrk stops: every request nginx answers, wrk has read. The pause makes the calls last longer
// than an L7 flush interval on any host.
const wrkDepthScript = `local paths = {%s}
local budget, pause, granted = 0, 0, 0
init = function(args)
  budget, pause = tonumber(args[1]), tonumber(args[2])
  local r = {}
  for i, path in ipairs(paths) do r[i] = wrk.format(nil, path) end
  req = table.concat(r)
end
request = function()
  return req
end
delay = function()
  if granted >= budget then return 3600000 end
  granted = granted + 1
  return pause
end
`

// wrkLateScript writes one request at a time, the n-th of its thread paths[n % #paths + 1], except
// that every args[2]-th write carries the next path's request too: a connection's calls are
// simple (counted in the kernel) until its first such write, pipelined after it (wrk writes
// again at each response, so that connection has two requests in flight from then on, until
// both responses come in one read). wrk's setup call (n = 1 of its first thread) is a single
// request, so that wrk expects one response per write. The budget and the pause (args[3] ms) are
// wrkDepthScript's, in writes.
const wrkLateScript = `local paths = {%s}
local budget, every, pause, granted, n = 0, 0, 0, 0, 0
init = function(args)
  budget, every, pause = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  reqs = {}
  for i, path in ipairs(paths) do reqs[i] = wrk.format(nil, path) end
end
request = function()
  n = n + 1
  local r = reqs[n %% #reqs + 1]
  if n %% every == 0 then return r .. reqs[(n + 1) %% #reqs + 1] end
  return r
end
delay = function()
  if granted >= budget then return 3600000 end
  granted = granted + 1
  return pause
end
`

// pairsScript opens argv[2] connections on each of argv[3] threads to argv[1]:80, one after the
// other, argv[5] ms apart; on each it writes two GET requests of argv[6:] in two sends (the
// second before the first response is read), argv[4] times, reading both responses each time,
// then closes. It prints how many responses of each path it read in full ("read <path> <n>").
const pairsScript = `import collections, os, socket, sys, threading, time
host, conns, nthreads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pause, paths = int(sys.argv[5]) / 1000, sys.argv[6:]
total, lock = collections.Counter(), threading.Lock()

def fail(why):
    # SystemExit in a thread would end only that thread.
    sys.stderr.write(why + "\n")
    os._exit(1)

def response(f):
    status = f.readline()
    if not status.startswith(b"HTTP/1.1 200 "):
        fail("status line %r" % status)
    length = None
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None or len(f.read(length)) != length:
        fail("short response")

def run(i):
    got = collections.Counter()
    for c in range(conns):
        time.sleep(pause)
        s = socket.create_connection((host, 80))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        for r in range(rounds):
            a, b = paths[(i + c + r) % len(paths)], paths[(i + c + r + 1) % len(paths)]
            for p in (a, b):
                s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (p, host)).encode())
            response(f)
            response(f)
            got[a] += 1
            got[b] += 1
        f.close()
        s.close()
    with lock:
        total.update(got)

threads = [threading.Thread(target=run, args=(i,)) for i in range(nthreads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for p, n in sorted(total.items()):
    print("read", p, n)
`

// The files nginx serves: small ones are the most requests, as on real sites.
var (
	pipelineFiles = map[string]int{"small.txt": 6, "mid.txt": 3000, "big.txt": 70000}
	wrkPipeline   = []string{
		"/small.txt", "/mid.txt", "/small.txt", "/big.txt", "/small.txt", "/mid.txt", "/small.txt", "/small.txt",
		"/small.txt", "/mid.txt", "/small.txt", "/big.txt", "/small.txt", "/mid.txt", "/small.txt", "/small.txt",
	}
	latePaths = []string{"/small.txt", "/mid.txt", "/small.txt", "/big.txt", "/small.txt"}
)

// luaStrings is paths as the elements of a Lua table constructor.
func luaStrings(paths []string) string { return `"` + strings.Join(paths, `", "`) + `"` }

// pipelineRig is nginx serving pipelineFiles with an access log of `$status $request_length
// $bytes_sent $uri` in a fresh pair of namespaces, and an observer with the kernel aggregation
// on, flushing L7 records every second, whose command filter takes nginx and the clients.
type pipelineRig struct {
	n         *testenv.Net
	nginx     *exec.Cmd
	dir       string
	accessLog string
	o         *testenv.Observer
}

func startPipelineRig(t *testing.T, clientCmds string) *pipelineRig {
	t.Helper()
	r := &pipelineRig{n: testenv.NewNet(t, 233), dir: t.TempDir()}
	r.nginx, r.accessLog = testenv.NginxFiles(t, r.n.Server, r.n.ServerV4, pipelineFiles, "", "")
	config := testenv.Pipeline{EBPF: "Enabled: true\nKernelAggregation: [http]",
		Common: fmt.Sprintf(`IncludeCmdRegex: '^(nginx|%s)( |:|$)'`, clientCmds)}.String()
	config = strings.Replace(config, "FlushOutL7Interval: 600", "FlushOutL7Interval: 1", 1)
	r.o = testenv.StartObserver(t, config, nil)
	return r
}

// script writes a client's script into the rig's directory.
func (r *pipelineRig) script(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(r.dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// run runs the clients in the client namespace at once and returns their outputs once all ended.
func (r *pipelineRig) run(t *testing.T, clients ...*exec.Cmd) []string {
	t.Helper()
	outs := make([]bytes.Buffer, len(clients))
	for i, c := range clients {
		c.Stdout, c.Stderr = &outs[i], &outs[i]
		require.NoError(t, c.Start())
	}
	res := make([]string, len(clients))
	for i, c := range clients {
		err := c.Wait()
		res[i] = outs[i].String()
		require.NoError(t, err, "%s: %s", c.Args, res[i])
	}
	return res
}

// logged is nginx's access log summed per URI: requests, $request_length, $bytes_sent.
func (r *pipelineRig) logged(t *testing.T) map[string]testenv.Calls {
	t.Helper()
	return testenv.AccessLogCalls(t, r.accessLog, "200")
}

// stop stops the observer and returns the HTTP records' sums of the processes named in names
// (pid → name; a neighbour's nginx would pass the command filter too), per "<name> <url>" and
// per "<role> <url>", how many records each "<name> <url>" had, and the stop line's fields.
func (r *pipelineRig) stop(t *testing.T, names map[int]string) (sums map[string]testenv.Calls, records map[string]int, field func(string) int) {
	t.Helper()
	all := r.o.Stop(t, 300*time.Millisecond)
	sums, records = map[string]testenv.Calls{}, map[string]int{}
	for _, rec := range all {
		pid, _ := strconv.Atoi(rec["_process_pid_"])
		if rec["type"] != "protocols" || rec["protocol"] != "http" || names[pid] == "" {
			continue
		}
		num := func(k string) uint64 {
			v, err := strconv.ParseUint(rec[k], 10, 64)
			require.NoError(t, err, "%s in %v", k, rec)
			return v
		}
		records[names[pid]+" "+rec["url"]]++
		for _, key := range []string{names[pid] + " " + rec["url"], rec["role"] + " " + rec["url"]} {
			s := sums[key]
			s.Count += num("total_count")
			s.ReqBytes += num("total_req_bytes")
			s.RespBytes += num("total_resp_bytes")
			sums[key] = s
		}
	}
	log := r.o.Log()
	stopLine := regexp.MustCompile(`(?m)^.*netobserver: stopped.*$`).FindString(log)
	require.Contains(t, stopLine, "kernel_aggregation.calls=", "the stop line:\n%s", log)
	t.Logf("%s", stopLine)
	t.Logf("records per process and URL: %v", records)
	return sums, records, func(name string) int {
		m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `=(\d+)`).FindStringSubmatch(stopLine)
		require.NotNil(t, m, "%s in the stop line:\n%s", name, stopLine)
		v, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		return v
	}
}

// checkBothEnds asserts that for each URI nginx logged, the server's records and the clients'
// have its count, $request_length and $bytes_sent, that nginx's came in several L7 flushes (the
// kernel's values were read while the calls ran), and that nothing was lost on the way.
func checkBothEnds(t *testing.T, logged, sums map[string]testenv.Calls, records map[string]int, field func(string) int) {
	t.Helper()
	t.Logf("nginx's log: %v", logged)
	t.Logf("records: %v", sums)
	for path, want := range logged {
		assert.Equal(t, want, sums["server "+path], "nginx's records of %s", path)
		assert.Equal(t, want, sums["client "+path], "the clients' records of %s", path)
		assert.Greater(t, records["nginx "+path], 1, "nginx's records of %s: flushes while the calls ran", path)
	}
	for _, name := range []string{"kernel_aggregation.unattributed_calls", "kernel_aggregation.lost_calls", "lost_data", "lost_ctrl"} {
		assert.Zero(t, field(name), name)
	}
}

// wrkComplete is wrk's count of the responses it read in full ("N requests in …"), after
// checking that it reports no socket error and no status above 399.
func wrkComplete(t *testing.T, out string) int {
	t.Helper()
	require.NotContains(t, out, "Socket errors", out)
	require.NotContains(t, out, "Non-2xx", out)
	m := regexp.MustCompile(`(?m)^\s+(\d+) requests in `).FindStringSubmatch(out)
	require.NotNil(t, m, "wrk's report:\n%s", out)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

// Pipelining at scale with EBPF.KernelAggregation [http], against the clients' and the server's
// own counts, L7 records flushed every second so that the kernel's values are read while the
// calls run. Every call is recorded once, on both ends, with nginx's bytes: per URI the server's
// records (nginx) and the clients' equal nginx's access log, its count, $request_length and
// $bytes_sent; each client read every response nginx logged; no call lost or unattributed.
func TestKernelAggregationPipelinedLive(t *testing.T) {
	testenv.RequireRoot(t)

	// wrk pipelines 16 requests of three files per write on 16 connections while ab -k (one
	// request at a time) runs on 16 others: wrk's connections fall back to capture on both ends
	// at their first write (extra: more after the first request), ab's stay in the kernel, which
	// counts ab's calls on both ends and nothing else.
	t.Run("wrk depth 16 beside ab", func(t *testing.T) {
		const (
			threads, conns = 2, 16
			budget, pause  = 600, 15           // per wrk thread: 19 200 requests, 75 pipelines a connection, ≥ 1.1 s
			abFile, abN    = "/mid.txt", 40000 // ≈ 1.5 s of ab here
		)
		r := startPipelineRig(t, "ab|wrk")
		wrk := testenv.Command(r.n.Client, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", "5s", "-T", "30s",
			"-s", r.script(t, "depth.lua", fmt.Sprintf(wrkDepthScript, luaStrings(wrkPipeline))),
			fmt.Sprintf("http://%s/", r.n.ServerV4), "--", strconv.Itoa(budget), strconv.Itoa(pause))
		ab := testenv.Command(r.n.Client, "ab", "-k", "-n", strconv.Itoa(abN), "-c", strconv.Itoa(conns), fmt.Sprintf("http://%s%s", r.n.ServerV4, abFile))
		outs := r.run(t, wrk, ab)
		sums, records, field := r.stop(t, map[int]string{r.nginx.Process.Pid: "nginx", wrk.Process.Pid: "wrk", ab.Process.Pid: "ab"})
		t.Logf("wrk:\n%s\nab:\n%s", outs[0], outs[1])

		// The clients' own counts, then the server's.
		require.Equal(t, threads*budget*len(wrkPipeline), wrkComplete(t, outs[0]), "wrk read every response of its budget before its -d ended")
		wrkWant := map[string]int{}
		for _, path := range wrkPipeline {
			wrkWant[path] += threads * budget
		}
		abComplete, abFailed, _ := abReport(t, outs[1])
		require.Equal(t, abN, abComplete, outs[1])
		require.Zero(t, abFailed, outs[1])
		require.Contains(t, outs[1], fmt.Sprintf("Keep-Alive requests:    %d\n", abComplete), "ab kept its %d connections", conns)
		logged := r.logged(t)
		for path, want := range wrkWant {
			if path == abFile {
				want += abComplete
			}
			require.EqualValues(t, want, logged[path].Count, "nginx's log of %s: wrk's and ab's requests", path)
		}
		require.Len(t, logged, len(wrkWant), "nginx's log: only the files requested")

		checkBothEnds(t, logged, sums, records, field)
		for path, want := range wrkWant {
			assert.EqualValues(t, want, sums["wrk "+path].Count, "wrk's calls of %s", path)
		}
		assert.Greater(t, records["ab "+abFile], 1, "ab's records: flushes while its calls ran")
		assert.Equal(t, testenv.Calls{Count: uint64(abComplete), RespBytes: abTotal(t, outs[1])},
			testenv.Calls{Count: sums["ab "+abFile].Count, RespBytes: sums["ab "+abFile].RespBytes}, "ab's calls and Total transferred")
		assert.Equal(t, 2*abComplete, field("kernel_aggregation.calls"), "calls the kernel counted: ab's, on both ends")
		assert.GreaterOrEqual(t, field("kernel_aggregation.fallback_extra")+field("kernel_aggregation.fallback_pipelined"), 2*conns,
			"wrk's connections fell back on both ends")
	})

	// wrk writes one request at a time, and now and then two: each connection's calls are counted
	// in the kernel until its first double write, captured after it. Counted in the kernel and
	// captured, each call is recorded once.
	t.Run("wrk pipelining after kernel-counted calls", func(t *testing.T) {
		const (
			threads, conns = 2, 16
			budget, every  = 3000, 97 // writes per thread (6 060 requests); one in 97 carries two
			pause          = 3        // ms: 375 writes a connection, ≥ 1.1 s
		)
		r := startPipelineRig(t, "wrk")
		wrk := testenv.Command(r.n.Client, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", "5s", "-T", "30s",
			"-s", r.script(t, "late.lua", fmt.Sprintf(wrkLateScript, luaStrings(latePaths))),
			fmt.Sprintf("http://%s/", r.n.ServerV4), "--", strconv.Itoa(budget), strconv.Itoa(every), strconv.Itoa(pause))
		outs := r.run(t, wrk)
		sums, records, field := r.stop(t, map[int]string{r.nginx.Process.Pid: "nginx", wrk.Process.Pid: "wrk"})
		t.Logf("wrk:\n%s", outs[0])

		// What the script wrote: thread 1's request() ran for n = 1 … budget, thread 0's for
		// n = 2 … budget + 1 (its n = 1 was wrk's setup call).
		want, total := map[string]int{}, 0
		for _, first := range []int{1, 2} {
			for n := first; n < first+budget; n++ {
				want[latePaths[n%len(latePaths)]]++
				total++
				if n%every == 0 {
					want[latePaths[(n+1)%len(latePaths)]]++
					total++
				}
			}
		}
		require.Equal(t, total, wrkComplete(t, outs[0]), "wrk read a response to every request it wrote before its -d ended")
		logged := r.logged(t)
		for path, n := range want {
			require.EqualValues(t, n, logged[path].Count, "nginx's log of %s", path)
		}
		require.Len(t, logged, len(want), "nginx's log: only the files requested")

		checkBothEnds(t, logged, sums, records, field)
		assert.Positive(t, field("kernel_aggregation.calls"), "calls counted in the kernel before their connection's first double write")
		assert.Positive(t, field("kernel_aggregation.fallback_extra"), "connections fell back at a double write")
	})

	// Many short connections whose client writes a second request before reading the first
	// response: each falls back on the client's end (pipelined), its pending first call exported
	// as the event capture would have sent; nginx's end stays in the kernel when it read the
	// requests apart, falls back (extra) when it read them together.
	t.Run("second request before the first response", func(t *testing.T) {
		const threads, conns, rounds = 8, 200, 3 // 1 600 connections, 9 600 requests
		const pause = 8                          // ms before each connection of a thread: ≥ 1.6 s
		python := testenv.Python(t)
		// The filter matches whole commands, and a python's is its whole argv.
		r := startPipelineRig(t, regexp.QuoteMeta(python)+" .*")
		client := testenv.Command(r.n.Client, python, r.script(t, "pairs.py", pairsScript), r.n.ServerV4.String(),
			strconv.Itoa(conns), strconv.Itoa(threads), strconv.Itoa(rounds), strconv.Itoa(pause), "/small.txt", "/mid.txt", "/big.txt")
		outs := r.run(t, client)
		sums, records, field := r.stop(t, map[int]string{r.nginx.Process.Pid: "nginx", client.Process.Pid: "python"})

		read := testenv.LineCounts(t, outs[0], "read")
		total := 0
		for _, n := range read {
			total += n
		}
		require.Equal(t, threads*conns*rounds*2, total, "the client's responses: %v", read)
		logged := r.logged(t)
		for path, n := range read {
			require.EqualValues(t, n, logged[path].Count, "nginx's log of %s", path)
		}
		require.Len(t, logged, len(read), "nginx's log: only the files requested")

		checkBothEnds(t, logged, sums, records, field)
		assert.GreaterOrEqual(t, field("kernel_aggregation.fallback_pipelined"), threads*conns, "each client connection fell back at its second write")
		assert.GreaterOrEqual(t, field("kernel_aggregation.exported_pending_calls"), threads*conns, "and its first call went out as capture's event")
	})
}

// earlyScript opens argv[2] connections to argv[1]:80, one after the other; on each, argv[3]
// times, it writes a GET of /big.txt, reads once (4 096 bytes, once they are all there: the head
// and the start of the body), writes a GET of /small.txt before reading the rest of the first response, then reads
// both responses whole. It prints how many responses of each path it read ("read <path> <n>").
const earlyScript = `import collections, socket, sys
host, conns, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def request(path):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()

def finish(s, got):
    # got starts a response: read until it is whole and return what follows it.
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
    head, _, body = got.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(body) < length:
        body += s.recv(65536)
    return body[length:]

read = collections.Counter()
for c in range(conns):
    s = socket.create_connection((host, 80))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for r in range(rounds):
        s.sendall(request("/big.txt"))
        # The read must fill its buffer: the kernel reads a response's length only then (a short
        # read took all there was, and nginx may still be sending the rest). Peeks are not followed.
        while len(s.recv(4096, socket.MSG_PEEK | socket.MSG_WAITALL)) < 4096:
            pass
        first = s.recv(4096)
        s.sendall(request("/small.txt"))
        if finish(s, finish(s, first)) != b"":
            sys.exit("bytes after the second response")
        read["/big.txt"] += 1
        read["/small.txt"] += 1
    s.close()
for p, n in sorted(read.items()):
    print("read", p, n)
`

// A client may write its next request before it has read the whole response (HTTP/1.1 lets it:
// the server answers in order). The kernel learns each response's length from its head
// (Content-Length) at its first syscall, so when the next request comes while the response is
// under way it knows what is left of it: the next response-direction bytes, up to that, go to the
// previous call, and the new response starts after them (here in the same read as the rest of
// the first). Every call is counted in the kernel on both ends with nginx's bytes, and nothing
// falls back.
func TestKernelAggregationNextRequestEarlyLive(t *testing.T) {
	testenv.RequireRoot(t)
	const conns, rounds = 100, 3
	python := testenv.Python(t)
	r := startPipelineRig(t, regexp.QuoteMeta(python)+" .*")
	client := testenv.Command(r.n.Client, python, r.script(t, "early.py", earlyScript), r.n.ServerV4.String(), strconv.Itoa(conns), strconv.Itoa(rounds))
	outs := r.run(t, client)
	sums, _, field := r.stop(t, map[int]string{r.nginx.Process.Pid: "nginx", client.Process.Pid: "python"})

	read := testenv.LineCounts(t, outs[0], "read")
	require.Equal(t, map[string]int{"/big.txt": conns * rounds, "/small.txt": conns * rounds}, read)
	logged := r.logged(t)
	for path, n := range read {
		require.EqualValues(t, n, logged[path].Count, "nginx's log of %s", path)
	}
	require.Len(t, logged, len(read), "nginx's log: only the files requested")
	t.Logf("nginx's log: %v", logged)
	t.Logf("records: %v", sums)
	for path, want := range logged {
		assert.Equal(t, want, sums["server "+path], "nginx's records of %s", path)
		assert.Equal(t, want, sums["client "+path], "the client's records of %s: $bytes_sent exactly", path)
	}
	assert.Equal(t, 2*2*conns*rounds, field("kernel_aggregation.calls"), "every call counted in the kernel, on both ends")
	for _, name := range []string{"kernel_aggregation.fallback_unfinished", "kernel_aggregation.fallback_status",
		"kernel_aggregation.lost_calls", "kernel_aggregation.exported_pending_calls"} {
		assert.Zero(t, field(name), name)
	}
}
