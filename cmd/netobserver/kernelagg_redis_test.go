package main

import (
	"encoding/json"
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

// redisInfo asks the server for INFO all over a raw socket from python (not observed: the
// observer's IncludeCmdRegex takes redis' own tools only) and prints, as JSON, each command's
// calls and failed calls, the server's byte totals, and the bytes of the request and of the
// reply this query itself took.
const redisInfo = `
import json, socket, sys
req = b"*2\r\n$4\r\nINFO\r\n$3\r\nall\r\n"
s = socket.create_connection((sys.argv[1], 6379))
s.sendall(req)
buf = b""
while b"\r\n" not in buf:
    buf += s.recv(65536)
head, rest = buf.split(b"\r\n", 1)
n = int(head[1:])
while len(rest) < n + 2:
    rest += s.recv(65536)
out = {"req": len(req), "reply": len(head) + 2 + n + 2, "calls": {}, "failed": {}}
for line in rest[:n].decode().splitlines():
    if line.startswith("cmdstat_"):
        name, fields = line[len("cmdstat_"):].split(":", 1)
        f = dict(kv.split("=") for kv in fields.split(","))
        name = name.upper().replace("|", " ")
        out["calls"][name] = int(f["calls"])
        out["failed"][name] = int(f.get("failed_calls", 0)) + int(f.get("rejected_calls", 0))
    elif line.startswith("total_net_input_bytes:"):
        out["in"] = int(line.split(":")[1])
    elif line.startswith("total_net_output_bytes:"):
        out["out"] = int(line.split(":")[1])
print(json.dumps(out))
`

type redisServerInfo struct {
	Req, Reply    uint64
	Calls, Failed map[string]uint64
	In            uint64 `json:"in"`
	Out           uint64 `json:"out"`
}

func queryRedisInfo(t *testing.T, n *testenv.Net, python string) redisServerInfo {
	t.Helper()
	out, err := testenv.Command(n.Client, python, "-c", redisInfo, n.ServerV4.String()).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var i redisServerInfo
	require.NoError(t, json.Unmarshal(out, &i), "%s", out)
	return i
}

// redisLiveRun is one run of the Redis workload under an observer: the records' sums per key
// (role, cmd, success, remote), the server's own accounts of the workload (INFO all before and
// after: calls and failed calls per command, request and reply bytes without the two INFO
// queries' own), redis-benchmark's completed requests per test, and the observer's log.
type redisLiveRun struct {
	recs          map[string]testenv.Calls
	calls, failed map[string]uint64
	reqBytes      uint64
	respBytes     uint64
	completed     map[string]uint64
	log, stopLine string
	records       int
}

func runRedisLive(t *testing.T, ebpf string) redisLiveRun {
	t.Helper()
	n := testenv.NewNet(t, 238)
	python := testenv.Python(t)
	testenv.Redis(t, n.Server, n.ServerV4)
	config := testenv.Pipeline{EBPF: ebpf, Common: `IncludeCmdRegex: "^redis-(server|benchmark|cli)"`}.String()
	config = strings.Replace(config, "FlushOutL7Interval: 600", "FlushOutL7Interval: 1", 1)
	o := testenv.StartObserver(t, config, nil)
	before := queryRedisInfo(t, n, python)

	run := redisLiveRun{completed: map[string]uint64{}}
	completed := regexp.MustCompile(`====== (.+) ======\s*\n\s*(\d+) requests completed`)
	bench := func(args ...string) {
		out, err := testenv.Command(n.Client, "redis-benchmark", append([]string{"-h", n.ServerV4.String()}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, m := range completed.FindAllStringSubmatch(string(out), -1) {
			c, _ := strconv.ParseUint(m[2], 10, 64)
			run.completed[m[1]] += c
		}
	}
	// The simplest traffic: one command per request, 50 connections; then a pipelined run
	// (16 commands per write), which falls back to capture.
	bench("-t", "get,set,incr,lpush,lrange_100", "-n", "20000", "-c", "50")
	for _, args := range [][]string{{"CONFIG", "GET", "maxmemory"}, {"CLIENT", "SETNAME", "kredis"}, {"SET", "s", "x"}, {"INCR", "s"}, {"config", "nosuch"}} {
		out, err := testenv.Command(n.Client, "redis-cli", append([]string{"-h", n.ServerV4.String()}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	bench("-t", "set", "-n", "3200", "-c", "4", "-P", "16")

	after := queryRedisInfo(t, n, python)
	all := o.Stop(t, 300*time.Millisecond)
	run.log = o.Log()
	run.stopLine = regexp.MustCompile(`(?m)^.*netobserver: stopped.*$`).FindString(run.log)
	run.calls, run.failed = map[string]uint64{}, map[string]uint64{}
	for name, c := range after.Calls {
		if d := c - before.Calls[name]; d > 0 && name != "INFO" {
			run.calls[name] = d
		}
		if d := after.Failed[name] - before.Failed[name]; d > 0 {
			run.failed[name] = d
		}
	}
	// total_net_input_bytes counts a request when read, before it runs; the output, a reply
	// when written, after: the first query's reply and the second's request are in the deltas.
	run.reqBytes = after.In - before.In - after.Req
	run.respBytes = after.Out - before.Out - before.Reply

	run.recs = map[string]testenv.Calls{}
	for _, r := range all {
		// The INFO queries are the server's end of the test's own python client.
		if r["type"] != "protocols" || r["protocol"] != "redis" || r["cmd"] == "INFO" {
			continue
		}
		num := func(k string) uint64 {
			v, err := strconv.ParseUint(r[k], 10, 64)
			require.NoError(t, err, "%s in %v", k, r)
			return v
		}
		run.records++
		key := strings.Join([]string{r["role"], r["cmd"], r["success"], r["remote_info"]}, "\t")
		s := run.recs[key]
		s.Count += num("total_count")
		s.ReqBytes += num("total_req_bytes")
		s.RespBytes += num("total_resp_bytes")
		run.recs[key] = s
	}
	return run
}

// Redis with EBPF.KernelAggregation [redis]: redis-benchmark's one-command requests over 50
// connections, redis-cli's container commands and errors, and a pipelined redis-benchmark (which
// falls back to capture, counted) give the same records as capture gives the same traffic, and
// both equal the server's own accounts: per command, the calls and failed calls of INFO
// commandstats (which equal redis-benchmark's completed requests) on each end, and the bytes
// of INFO stats' total_net_input_bytes and total_net_output_bytes on the server's end.
func TestKernelAggregationRedisLive(t *testing.T) {
	testenv.RequireRoot(t)
	check := func(t *testing.T, run redisLiveRun) {
		t.Helper()
		// redis-benchmark's own report, and the server's.
		assert.Equal(t, map[string]uint64{"GET": 20000, "SET": 20000 + 3200, "INCR": 20000, "LPUSH": 20000,
			"LPUSH (needed to benchmark LRANGE)": 20000, "LRANGE_100 (first 100 elements)": 20000}, run.completed, "redis-benchmark's completed requests")
		assert.Equal(t, map[string]uint64{"GET": 20000, "SET": 20000 + 3200 + 1, "INCR": 20000 + 1, "LPUSH": 40000,
			"LRANGE": 20000, "CONFIG GET": 2*2 + 1, "CLIENT SETNAME": 1}, run.calls, "INFO commandstats")
		assert.Equal(t, map[string]uint64{"INCR": 1}, run.failed, "INFO commandstats' failed calls")
		// The records per end and command: every call the server counted, with its outcome;
		// "CONFIG nosuch" is an error reply that Redis counts nowhere (its subcommand is
		// unknown), and parser/redis calls it CONFIG.
		for _, role := range []string{"server", "client"} {
			calls, failed := map[string]uint64{}, map[string]uint64{}
			var total testenv.Calls
			for key, s := range run.recs {
				f := strings.Split(key, "\t")
				if f[0] != role {
					continue
				}
				calls[f[1]] += s.Count
				if f[2] != "1" {
					failed[f[1]] += s.Count
				}
				total.Count += s.Count
				total.ReqBytes += s.ReqBytes
				total.RespBytes += s.RespBytes
			}
			want := map[string]uint64{"CONFIG": 1}
			for k, v := range run.calls {
				want[k] = v
			}
			assert.Equal(t, want, calls, "%s records' calls per command", role)
			assert.Equal(t, map[string]uint64{"INCR": 1, "CONFIG": 1}, failed, "%s records' failed calls", role)
			assert.Equal(t, run.reqBytes, total.ReqBytes, "%s records' request bytes vs total_net_input_bytes", role)
			assert.Equal(t, run.respBytes, total.RespBytes, "%s records' response bytes vs total_net_output_bytes", role)
		}
	}
	field := func(t *testing.T, stopLine, name string) uint64 {
		m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `=(\d+)`).FindStringSubmatch(stopLine)
		require.NotNil(t, m, "%s in the stop line:\n%s", name, stopLine)
		v, _ := strconv.ParseUint(m[1], 10, 64)
		return v
	}
	var kernel, captured map[string]testenv.Calls
	t.Run("kernel", func(t *testing.T) {
		run := runRedisLive(t, "Enabled: true\nKernelAggregation: [redis]")
		t.Logf("%d Redis records; %s", run.records, run.stopLine)
		check(t, run)
		// Every one-command request was counted by the kernel on both ends: the benchmark's
		// 120 000 and redis-cli's 5, and the server's end of the two INFO queries (the python
		// end is filtered out). Each benchmark run's first connection writes its two CONFIG
		// GETs at once, and the pipelined run's 4 connections 16 SETs at a time: those 6
		// connections fell back on both ends, and capture counted their calls.
		assert.Equal(t, uint64(2*(6*20000+5)+2), field(t, run.stopLine, "kernel_aggregation.calls"), "calls the kernel counted")
		assert.Equal(t, uint64(2), field(t, run.stopLine, "kernel_aggregation.filtered_calls"), "the INFO queries' client end")
		assert.Equal(t, uint64(2*6), field(t, run.stopLine, "kernel_aggregation.fallback_extra")+field(t, run.stopLine, "kernel_aggregation.fallback_head"),
			"connections with more than one command in a request syscall")
		assert.Equal(t, uint64(2*(3200+4)), field(t, run.stopLine, "redis.calls"), "calls captured")
		for _, name := range []string{"kernel_aggregation.unattributed_calls", "kernel_aggregation.lost_calls", "kernel_aggregation.unanswered_calls",
			"kernel_aggregation.fallback_push", "kernel_aggregation.fallback_status", "kernel_aggregation.fallback_reply_end", "redis.parse_failures", "redis.unmatched_requests", "lost_data"} {
			assert.Zero(t, field(t, run.stopLine, name), name)
		}
		kernel = run.recs
	})
	t.Run("capture", func(t *testing.T) {
		run := runRedisLive(t, "Enabled: true")
		check(t, run)
		captured = run.recs
	})
	require.NotEmpty(t, kernel)
	assert.Equal(t, captured, kernel, "the records' keys, calls and bytes, without and with kernel aggregation")
	t.Logf("records without kernel aggregation: %v", fmt.Sprint(captured))
}
