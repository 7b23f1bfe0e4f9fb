package main

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A library without the kernel aggregation extension (here the replay library, like Alibaba's)
// refuses EBPF.KernelAggregation at start, naming the key: it is not silently ignored.
func TestKernelAggregationNeedsTheExtension(t *testing.T) {
	config := strings.Replace(pipelineYAML(true, true, stdoutFlusher), "Enabled: true", "Enabled: true\n      KernelAggregation: [http]", 1)
	p := startProcess(t, config, "libebpf-replay.so", nil)
	assert.NotEqual(t, 0, p.ExitCode(t), p.Log())
	assert.Contains(t, p.Log(), "EBPF.KernelAggregation: the capture library has no kernel aggregation extension", p.Log())
	assert.NotContains(t, p.Log(), "netobserver: observing")
}

// Our library with a hook set that cannot aggregate (here the tp_btf set without its bpf_loop
// scan) refuses the key too: the observer does not start, and says why.
func TestKernelAggregationNeedsTheHookSet(t *testing.T) {
	testenv.RequireRoot(t)
	config := testenv.Pipeline{EBPF: "Enabled: true\nKernelAggregation: [http]"}.String()
	o := testenv.LaunchObserver(t, config, nil, "NETOBSERVER_BPF_NO_LOOP=1")
	assert.NotEqual(t, 0, o.ExitCode(t), o.Log())
	assert.Contains(t, o.Log(), "EBPF.KernelAggregation: the library did not load the mode: it needs the tp_btf hook set with bpf_loop", o.Log())
	assert.NotContains(t, o.Log(), "netobserver: observing")
}

// abTotal is ab's "Total transferred": the bytes it read, heads and bodies.
func abTotal(t *testing.T, out string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Total transferred:\s+(\d+) bytes`).FindStringSubmatch(out)
	require.NotNil(t, m, "%s", out)
	n, err := strconv.ParseUint(m[1], 10, 64)
	require.NoError(t, err)
	return n
}

// kernelAggRun runs ab -k against nginx for each file, under an observer with ebpf as its EBPF
// section, and returns the protocols records' sums per key (role, url and the other fields that
// do not name the process), ab's counts per file and nginx's access log per URI, and how many
// HTTP records came, and with percentiles. L7 records are flushed every l7Interval seconds.
func kernelAggRun(t *testing.T, subnet int, ebpf string, l7Interval int, sizes map[string]int, calls int) (recs, ab, logged map[string]testenv.Calls, records, withPercentiles int, log string) {
	t.Helper()
	n := testenv.NewNet(t, subnet)
	_, accessLog := testenv.NginxFiles(t, n.Server, n.ServerV4, sizes, "", "")
	config := testenv.Pipeline{EBPF: ebpf, Common: `IncludeCmdRegex: "^(ab|nginx)( |:|$)"`}.String()
	config = strings.Replace(config, "FlushOutL7Interval: 600", fmt.Sprintf("FlushOutL7Interval: %d", l7Interval), 1)
	o := testenv.StartObserver(t, config, nil)
	ab = map[string]testenv.Calls{}
	for name := range sizes {
		cmd := testenv.Command(n.Client, "ab", "-k", "-n", strconv.Itoa(calls), "-c", "32", fmt.Sprintf("http://%s/%s", n.ServerV4, name))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		complete, failed, _ := abReport(t, string(out))
		require.Zero(t, failed, "%s", out)
		// Every request on a kept connection: ab made its 32 connections and no more.
		require.Contains(t, string(out), fmt.Sprintf("Keep-Alive requests:    %d\n", complete))
		ab["/"+name] = testenv.Calls{Count: uint64(complete), RespBytes: abTotal(t, string(out))}
	}
	all := o.Stop(t, 300*time.Millisecond)

	logged = testenv.AccessLogCalls(t, accessLog, "200")
	recs = map[string]testenv.Calls{}
	for _, r := range all {
		if r["type"] != "protocols" || r["protocol"] != "http" {
			continue
		}
		key := strings.Join([]string{r["role"], r["url"], r["method"], r["version"], r["host"], r["resp_code"], r["remote_info"]}, " ")
		num := func(k string) uint64 {
			v, err := strconv.ParseUint(r[k], 10, 64)
			require.NoError(t, err, "%s in %v", k, r)
			return v
		}
		records++
		if _, ok := r["p50_latency_ns"]; ok {
			withPercentiles++
		}
		s := recs[key]
		s.Count += num("total_count")
		s.ReqBytes += num("total_req_bytes")
		s.RespBytes += num("total_resp_bytes")
		recs[key] = s
	}
	return recs, ab, logged, records, withPercentiles, o.Log()
}

// The records of nginx and ab -k are the same with EBPF.KernelAggregation [http] as without it:
// the same keys, with ab's completed requests as their calls on both ends, nginx's
// $request_length and $bytes_sent as their bytes (ab's Total transferred on its end); with it,
// the kernel counted the calls (the stop line says how many).
func TestKernelAggregationRecordsLive(t *testing.T) {
	testenv.RequireRoot(t)
	sizes := map[string]int{"small.txt": 6, "mid.txt": 3000, "big.txt": 70000}
	const calls = 20000 // about 2 s of ab here: reads while the calls run
	check := func(t *testing.T, recs, ab, logged map[string]testenv.Calls) {
		t.Helper()
		for path, a := range ab {
			require.Equal(t, uint64(calls), a.Count, path)
			want := logged[path]
			require.Equal(t, uint64(calls), want.Count, "nginx's log of %s", path)
			require.Equal(t, a.RespBytes, want.RespBytes, "ab's Total transferred vs nginx's $bytes_sent, %s", path)
			var client, server testenv.Calls
			for key, s := range recs {
				f := strings.Fields(key)
				if f[1] != path {
					continue
				}
				switch f[0] {
				case "client":
					client.Count += s.Count
					client.ReqBytes += s.ReqBytes
					client.RespBytes += s.RespBytes
				case "server":
					server.Count += s.Count
					server.ReqBytes += s.ReqBytes
					server.RespBytes += s.RespBytes
				}
			}
			assert.Equal(t, want, client, "ab's records of %s", path)
			assert.Equal(t, want, server, "nginx's records of %s", path)
		}
	}
	// One subnet for both runs, one after the other (subtests: the first's namespaces are gone
	// before the second's), so that the client records' remote_info is the same.
	var kernel, captured map[string]testenv.Calls
	t.Run("kernel", func(t *testing.T) {
		// Flushed every second: the kernel's cumulative values are read while the calls run,
		// and what each read adds is what was counted since the one before.
		recs, ab, logged, records, withPercentiles, log := kernelAggRun(t, 232, "Enabled: true\nKernelAggregation: [http]", 1, sizes, calls)
		check(t, recs, ab, logged)
		t.Logf("%d HTTP records", records)
		assert.Greater(t, records, 2*len(sizes), "keys split over several flushes")
		assert.Equal(t, records, withPercentiles, "records of calls the kernel counted have percentiles (kernelagg_latency_test.go checks them)")
		kernel = recs
		m := regexp.MustCompile(`kernel_aggregation\.calls=(\d+) kernel_aggregation\.filtered_calls=(\d+) kernel_aggregation\.unattributed_calls=(\d+) kernel_aggregation\.lost_calls=(\d+) kernel_aggregation\.exported_pending_calls=\d+ kernel_aggregation\.unanswered_calls=(\d+) kernel_aggregation\.deleted_entries=(\d+)`).FindStringSubmatch(log)
		require.NotNil(t, m, "the stop line:\n%s", log)
		assert.Equal(t, []string{strconv.Itoa(2 * calls * len(sizes)), "0", "0", "0", "0"}, m[1:6], "calls the kernel aggregated: recorded, filtered, unattributed, lost, unanswered")
		// One entry per connection and end (one key each), all closed by the stop.
		assert.Equal(t, strconv.Itoa(2*32*len(sizes)), m[6], "kernel entries deleted")
		t.Logf("%s", m[0])
	})
	t.Run("capture", func(t *testing.T) {
		recs, ab, logged, _, withPercentiles, _ := kernelAggRun(t, 232, "Enabled: true", 600, sizes, calls)
		check(t, recs, ab, logged)
		assert.Equal(t, 2*len(sizes), withPercentiles, "captured calls' records have percentiles")
		captured = recs
	})
	require.NotEmpty(t, kernel)
	assert.Equal(t, captured, kernel, "the records' keys, calls and bytes, without and with kernel aggregation")
	t.Logf("records without kernel aggregation: %v", captured)
}

// A request pending when the observer stops (its server holds it) counts as an unmatched HTTP
// request on both ends, with kernel aggregation as without it: the kernel's pending requests are
// read once the programs are detached.
func TestKernelAggregationUnansweredAtStop(t *testing.T) {
	testenv.RequireRoot(t)
	const client = `
import socket, sys
s = socket.create_connection((sys.argv[1], 81))
s.sendall(b"GET /held HTTP/1.1\r\nHost: h\r\n\r\n")
print("eof" if not s.recv(65536) else "answered")
`
	for _, tc := range []struct{ name, ebpf string }{{"capture", "Enabled: true"}, {"kernel", "Enabled: true\nKernelAggregation: [http]"}} {
		t.Run(tc.name, func(t *testing.T) {
			n := testenv.NewNet(t, 235)
			python := testenv.Python(t)
			config := testenv.Pipeline{EBPF: tc.ebpf, Common: `IncludeCmdRegex: "(?s).*python3.*"`}.String()
			o := testenv.StartObserver(t, config, nil)
			server := testenv.Command(n.Server, python, "-c", testenv.SilentHTTPServer, n.ServerV4.String())
			stdin, err := server.StdinPipe()
			require.NoError(t, err)
			stdout, err := server.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, server.Start())
			t.Cleanup(func() { _ = stdin.Close(); _ = server.Process.Kill(); _ = server.Wait() })
			lines := bufio.NewScanner(stdout)
			require.True(t, lines.Scan())
			require.Equal(t, "listening", lines.Text())
			cmd := testenv.Command(n.Client, python, "-c", client, n.ServerV4.String())
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			require.True(t, lines.Scan())
			require.Equal(t, "got GET /held HTTP/1.1", lines.Text(), "the server holds the request")
			o.Stop(t, 300*time.Millisecond)
			log := o.Log()
			assert.Regexp(t, `http\.calls=0 .*http\.unmatched_requests=2 `, log, "one request held on each end")
			if tc.name == "kernel" {
				assert.Contains(t, log, "kernel_aggregation.unanswered_calls=2 ", log)
			}
			require.NoError(t, stdin.Close())
			require.NoError(t, cmd.Wait(), out.String())
			assert.Equal(t, "eof\n", out.String(), "the server closed without answering")
		})
	}
}
