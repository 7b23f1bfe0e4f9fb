package observer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/internal/replaytest"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pidReuse is a recording of two processes that had the same pid: curl (pid 4000000, gone) and,
// after it, redis-cli. Each made the same HTTP call and one other (curl's first request never got
// an answer; redis-cli's PING did); the final statistics of curl's first connection come after
// redis-cli started. The pids exist on no host: only the recorded process
// events can name them.
const pidReuse = `proc ts=100 type=fork tgid=4000000 ppid=1 start=5000000000 comm="bash" cgparent="system.slice" cgleaf="docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope" args="bash\x00"
proc ts=200 type=exec tgid=4000000 ppid=1 start=5000000000 comm="curl" cgparent="system.slice" cgleaf="docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope" args="curl\x00-s\x00http://10.200.0.2/\x00"
ctrl ts=1000 conn=5:4000000:1000 event=connect addr=10.200.0.2:80 role=client
data ts=2000 conn=5:4000000:1000 dir=egress proto=http addr=10.200.0.2:80 "GET / HTTP/1.1\r\nHost: web.test\r\n\r\n"
ctrl ts=2100 conn=6:4000000:2100 event=connect addr=10.200.0.4:80 role=client
data ts=2200 conn=6:4000000:2100 dir=egress proto=http addr=10.200.0.4:80 "GET /a HTTP/1.1\r\nHost: api.test\r\n\r\n"
data ts=2300 conn=6:4000000:2100 dir=ingress proto=http addr=10.200.0.4:80 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
proc ts=2500 type=exit tgid=4000000 ppid=1 start=5000000000 comm="curl"
proc ts=3000 type=fork tgid=4000000 ppid=1 start=7000000000 comm="bash" args="bash\x00"
proc ts=3100 type=exec tgid=4000000 ppid=1 start=7000000000 comm="redis-cli" args="redis-cli\x00-h\x0010.200.0.3\x00PING\x00"
ctrl ts=3200 conn=5:4000000:3200 event=connect addr=10.200.0.3:6379 role=client
data ts=3300 conn=5:4000000:3200 dir=egress proto=redis addr=10.200.0.3:6379 "*1\r\n$4\r\nPING\r\n"
data ts=3400 conn=5:4000000:3200 dir=ingress proto=redis addr=10.200.0.3:6379 "+PONG\r\n"
ctrl ts=3410 conn=6:4000000:3410 event=connect addr=10.200.0.4:80 role=client
data ts=3420 conn=6:4000000:3410 dir=egress proto=http addr=10.200.0.4:80 "GET /a HTTP/1.1\r\nHost: api.test\r\n\r\n"
data ts=3430 conn=6:4000000:3410 dir=ingress proto=http addr=10.200.0.4:80 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
proc ts=3500 type=exit tgid=4000000 ppid=1 start=7000000000 comm="redis-cli"
stats ts=9000 conn=5:4000000:1000 addr=10.200.0.2:80 role=client wr=34 rd=0 wr_pkts=1 events=1
`

// runRecorded replays trace into an Observer as `netobserver --source replay:` does (Recorded:
// no /proc) through the replay library at lib.
func runRecorded(t *testing.T, lib, trace string) []record.Record {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trace")
	require.NoError(t, os.WriteFile(path, []byte(trace), 0o644))
	t.Setenv("NETOBSERVER_REPLAY_TRACE", path)
	l, err := libebpf.Open(libebpf.Options{Path: lib, PollInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer l.Close()
	opts := defaultOptions()
	opts.Recorded = true
	var got []record.Record
	o := New(l, opts, func(rs []record.Record) { got = append(got, rs...) })
	require.NoError(t, o.Start())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- o.Run(ctx, nil) }()
	for deadline := time.Now().Add(10 * time.Second); !l.Finished(); time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "replay did not finish")
	}
	stop()
	require.NoError(t, <-done)
	return got
}

// A replayed recording names each call after the process that made it, from the recorded process
// events alone: the pid is reused, the first process is gone before its connection's statistics
// come, and neither exists on this host.
func TestRecordingNamesProcessesWithoutProc(t *testing.T) {
	recs := runRecorded(t, replaytest.Library(t), pidReuse)
	byKind := map[string]record.Record{}
	var http []string
	for _, r := range recs {
		if get(r, "protocol") == "http" {
			http = append(http, get(r, "_process_cmd_")+" "+get(r, "total_count"))
			continue
		}
		byKind[get(r, "type")+"/"+get(r, "protocol")] = r
	}
	require.Len(t, byKind, 2, "%v", recs)
	// The same call to the same server by both processes: two records, one per process.
	assert.ElementsMatch(t, []string{"curl 1", "redis-cli 1"}, http)
	redis := byKind["protocols/redis"]
	assert.Equal(t, "4000000", get(redis, "_process_pid_"))
	assert.Equal(t, "redis-cli", get(redis, "_process_cmd_"))
	assert.Equal(t, "1", get(redis, "total_count"))
	// curl's request never got an answer: not a call, but its L4 statistics are curl's, in its
	// container (no daemon here: the container is named by nothing, host mode, as iLogtail did).
	stats := byKind["statistics/"]
	assert.Equal(t, "4000000", get(stats, "_process_pid_"))
	assert.Equal(t, "curl", get(stats, "_process_cmd_"), "the connection's process, not the pid's current one")
	assert.Equal(t, "34", get(stats, "send_bytes"))
}

// Without the process extension (Alibaba's library) a replay cannot name processes: the recorded
// process events are not delivered, and this host's /proc is not asked about another host's pids.
func TestRecordingWithoutProcessEventsNamesNothing(t *testing.T) {
	lib := filepath.Join(filepath.Dir(replaytest.Library(t)), "test", "libebpf-replay-noproc.so")
	_, err := os.Stat(lib)
	require.NoError(t, err, "run `make build`")
	recs := runRecorded(t, lib, pidReuse)
	require.NotEmpty(t, recs)
	for _, r := range recs {
		assert.Equal(t, "4000000", get(r, "_process_pid_"))
		assert.Equal(t, "", get(r, "_process_cmd_"), "%v", r)
	}
}

// Two connections on the same fd within one poll, recorded in the order they happened (close of
// the first before the connect of the second): each keeps its own calls.
func TestFdReuseWithinOneBatch(t *testing.T) {
	pid := os.Getpid()
	trace := fmt.Sprintf(`ctrl ts=1000 conn=7:%[1]d:1000 event=connect addr=10.200.0.2:80 role=client
data ts=1100 conn=7:%[1]d:1000 dir=egress proto=http addr=10.200.0.2:80 "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
data ts=1200 conn=7:%[1]d:1000 dir=ingress proto=http addr=10.200.0.2:80 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
ctrl ts=1300 conn=7:%[1]d:1000 event=close wr=35 rd=38
ctrl ts=1400 conn=7:%[1]d:1400 event=connect addr=10.200.0.3:80 role=client
data ts=1500 conn=7:%[1]d:1400 dir=egress proto=http addr=10.200.0.3:80 "GET /second HTTP/1.1\r\nHost: b\r\n\r\n"
data ts=1600 conn=7:%[1]d:1400 dir=ingress proto=http addr=10.200.0.3:80 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
ctrl ts=1700 conn=7:%[1]d:1400 event=close wr=36 rd=45
`, pid)
	recs, _ := runTrace(t, trace, defaultOptions())
	got := map[string]string{}
	for _, r := range recs {
		got[get(r, "url")] = get(r, "resp_code") + " " + get(r, "remote_info")
	}
	assert.Equal(t, map[string]string{
		"/first":  `200 {"remote_ip":"10.200.0.2","remote_port":"80","remote_type":"server"}` + "\n",
		"/second": `404 {"remote_ip":"10.200.0.3","remote_port":"80","remote_type":"server"}` + "\n",
	}, got)
}

// A pid reused by a process whose fork and exec the events lost: after curl's exit (its
// connection's final statistics come after it, as the map's collection makes them) the table
// knows no process of the pid, and what it knew of curl must not name the newcomer's call and
// bytes — they go to the pid alone, unnamed, and the loss is counted.
func TestLostProcessEventsNameNoOneElse(t *testing.T) {
	trace := `proc ts=100 type=fork tgid=4000000 ppid=1 start=5000000000 comm="bash" args="bash\x00"
proc ts=200 type=exec tgid=4000000 ppid=1 start=5000000000 comm="curl" args="curl\x00-s\x00http://10.200.0.2/a\x00"
ctrl ts=1000 conn=5:4000000:1000 event=connect addr=10.200.0.2:80 role=client
data ts=2000 conn=5:4000000:1000 dir=egress proto=http addr=10.200.0.2:80 "GET /a HTTP/1.1\r\nHost: web.test\r\n\r\n"
data ts=2100 conn=5:4000000:1000 dir=ingress proto=http addr=10.200.0.2:80 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
proc ts=2500 type=exit tgid=4000000 ppid=1 start=5000000000 comm="curl"
ctrl ts=2600 conn=5:4000000:1000 event=close wr=34 rd=38
stats ts=2600 conn=5:4000000:1000 addr=10.200.0.2:80 role=client wr=34 rd=38 wr_pkts=1 rd_pkts=1 events=1
lost which=proc count=2
ctrl ts=3200 conn=5:4000000:3200 event=connect addr=10.200.0.4:80 role=client
data ts=3300 conn=5:4000000:3200 dir=egress proto=http addr=10.200.0.4:80 "GET /bb HTTP/1.1\r\nHost: api.test\r\n\r\n"
data ts=3400 conn=5:4000000:3200 dir=ingress proto=http addr=10.200.0.4:80 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
ctrl ts=3500 conn=5:4000000:3200 event=close wr=35 rd=45
stats ts=3600 conn=5:4000000:3200 addr=10.200.0.4:80 role=client wr=35 rd=45 wr_pkts=1 rd_pkts=1 events=1
`
	got := map[string]string{}
	for _, r := range runRecorded(t, replaytest.Library(t), trace) {
		assert.Equal(t, "4000000", get(r, "_process_pid_"))
		key := get(r, "type") + " " + get(r, "url") + get(r, "send_bytes")
		got[key] += get(r, "_process_cmd_") + " " + get(r, "total_count") + get(r, "recv_bytes")
	}
	assert.Equal(t, map[string]string{
		"protocols /a":  "curl 1",
		"statistics 34": "curl 38",
		"protocols /bb": " 1",
		"statistics 35": " 45",
	}, got)
}
