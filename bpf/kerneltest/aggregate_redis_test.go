package kerneltest

import (
	"fmt"
	"os"
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

// redisClient sends the RESP (or inline) requests of argv[3:] ("\r\n" escaped as \r\n) to the
// server at argv[1], port argv[2], over one connection, each in one write, reading after each
// whatever the server answers within 300 ms (a request starting "!": not read after, and the next
// one sent 100 ms later), and prints the replies' bytes in all.
const redisClient = `
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.3)
got = 0
for r in sys.argv[3:]:
    wait = r.startswith("!")
    s.sendall(r.lstrip("!").encode().decode("unicode_escape").encode("latin-1"))
    if wait:
        time.sleep(0.1)
        continue
    try:
        got += len(s.recv(65536))
    except socket.timeout:
        pass
print(got)
s.close()
`

// redisPushServer answers each request it reads on argv[1]:6380 with a RESP3 push (">2\r\n+a\r\n+b\r\n"),
// the way no Redis answers a GET.
const redisPushServer = `
import socket, sys
l = socket.create_server((sys.argv[1], 6380))
print("listening", flush=True)
while True:
    c, _ = l.accept()
    while c.recv(65536):
        c.sendall(b">2\r\n+a\r\n+b\r\n")
    c.close()
`

func resp(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	return s
}

// With kernel aggregation of Redis, a command per request syscall is counted in the kernel on
// both ends (redis-server and a python client), and everything else falls back to capture for
// good from the syscall that broke the rule, counted per reason: an inline command, two commands
// in one write, SUBSCRIBE, MONITOR and HELLO (replies may come unasked), a command name past
// the key's 64 bytes, a request written before the previous one's reply was read (the pending
// one exported as capture's event, then the second), a request written before the previous
// reply was read whole or whose reply's end its first bytes do not tell (nested), a push reply.
func TestKernelAggregationRedis(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	server := testenv.Redis(t, n.Server, n.ServerV4)
	var refused error
	mask := uint32(abi.ProtocolsOf(abi.ProtoRedis))
	c := startCaptureWith(t, libebpf.Options{PollInterval: 2 * time.Millisecond, KernelAggregation: abi.ProtocolsOf(abi.ProtoRedis)},
		func(l *libebpf.Library) { refused = l.KernelAggregation(mask) })
	if hook := os.Getenv("NETOBSERVER_BPF_HOOK"); os.Getenv("NETOBSERVER_BPF_NO_LOOP") != "" || (hook != "" && hook != "tp_btf") {
		require.ErrorIs(t, refused, syscall.EOPNOTSUPP)
		return
	}
	require.NoError(t, refused)
	addr := n.ServerV4.String()
	aggregated := func(pid int) map[string]uint64 {
		entries, _ := aggregates(t, c)
		out := map[string]uint64{}
		for _, e := range entries {
			if e.Conn.TGID == uint32(pid) {
				assert.Equal(t, abi.ProtoRedis, e.Protocol, "%+v", e.AggKey)
				out[strings.TrimSpace(e.Path+" "+e.Host)+" "+string(rune(e.Status))] += e.Count
			}
		}
		return out
	}
	escape := func(s string) string { return strings.ReplaceAll(s, "\r\n", `\r\n`) }
	long := strings.Repeat("N", abi.AggPathMax)
	// A list of 100 3-byte values: LRANGE 0 99 is redis-benchmark's lrange_100, 906 bytes.
	rpush := []string{"RPUSH", "list100"}
	for i := 0; i < 100; i++ {
		rpush = append(rpush, fmt.Sprintf("v%02d", i))
	}
	for _, tc := range []struct {
		name     string
		requests []string
		want     map[abi.AggCounter]uint64
		counted  map[string]uint64 // the client's entries: name, subcommand and reply type
		sent     []string          // the client's data events (none: all counted)
	}{
		{"one command each", []string{resp("SET", "k", "v"), resp("get", "k"), resp("CONFIG", "get", "maxmemory"), resp("INCR", "k"), resp(long)},
			nil, map[string]uint64{"SET +": 1, "GET $": 1, "CONFIG GET *": 1, "INCR -": 1, long + " -": 1}, nil},
		{"inline", []string{resp("PING"), "PING\r\n"}, map[abi.AggCounter]uint64{abi.AggFallbackHead: 2}, map[string]uint64{"PING +": 1}, []string{"PING\r\n"}},
		{"two commands in a write", []string{resp("PING") + resp("PING")}, map[abi.AggCounter]uint64{abi.AggFallbackExtra: 2}, map[string]uint64{}, []string{resp("PING") + resp("PING")}},
		{"subscribe", []string{resp("SUBSCRIBE", "ch")}, map[abi.AggCounter]uint64{abi.AggFallbackPush: 2}, map[string]uint64{}, []string{resp("SUBSCRIBE", "ch")}},
		{"monitor", []string{resp("MONITOR")}, map[abi.AggCounter]uint64{abi.AggFallbackPush: 2}, map[string]uint64{}, []string{resp("MONITOR")}},
		{"hello", []string{resp("HELLO", "3"), resp("PING")}, map[abi.AggCounter]uint64{abi.AggFallbackPush: 2}, map[string]uint64{}, []string{resp("HELLO", "3"), resp("PING")}},
		{"name past the key", []string{resp(long + "N")}, map[abi.AggCounter]uint64{abi.AggFallbackLong: 2}, map[string]uint64{}, []string{resp(long + "N")}},
		// BLPOP holds its reply 200 ms: the client's PING comes while it is pending on both ends.
		{"second command before the reply", []string{"!" + resp("BLPOP", "nolist", "0.2"), resp("PING")},
			map[abi.AggCounter]uint64{abi.AggFallbackPipelined: 2, abi.AggPendingExported: 2}, map[string]uint64{}, []string{resp("BLPOP", "nolist", "0.2"), resp("PING")}},
		// An 8 MB value of '+' (more than the sockets' buffers hold until the client reads): the
		// client reads 64 KiB of GET's reply and writes PING, whose read then starts inside that
		// reply with a '+', once taken for PING's reply. Both ends fall back at PING: the
		// client's because it had not read the reply whole, redis-server's because it had not
		// written it whole.
		{"next command before the reply was read whole", []string{resp("EVAL", "redis.call('SET', KEYS[1], string.rep('+', 8000000))", "1", "big"), resp("GET", "big"), resp("PING")},
			map[abi.AggCounter]uint64{abi.AggFallbackReplyEnd: 2}, map[string]uint64{"EVAL $": 1, "GET $": 1}, []string{resp("PING")}},
		// A flat array reply is walked to its end: the next command is a new call.
		{"flat array reply", []string{resp(rpush...), resp("LRANGE", "list100", "0", "99"), resp("PING")},
			nil, map[string]uint64{"RPUSH :": 1, "LRANGE *": 1, "PING +": 1}, nil},
		// A nested reply's end is not known from its first bytes: the next command falls back.
		{"nested reply", []string{resp("COMMAND", "INFO", "GET"), resp("PING")},
			map[abi.AggCounter]uint64{abi.AggFallbackReplyEnd: 2}, map[string]uint64{"COMMAND INFO *": 1}, []string{resp("PING")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := aggCounters(t, c)
			serverBefore := aggregated(server.Process.Pid)
			args := []string{"-c", redisClient, addr, "6379"}
			for _, r := range tc.requests {
				args = append(args, escape(r))
			}
			cmd := testenv.Command(n.Client, testenv.Python(t), args...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			evs := c.waitFor(t, cmd.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
			time.Sleep(100 * time.Millisecond)
			want := tc.want
			if want == nil {
				want = map[abi.AggCounter]uint64{}
			}
			assert.Equal(t, want, counterDelta(before, aggCounters(t, c)))
			assert.Equal(t, tc.counted, aggregated(cmd.Process.Pid), "the client's calls counted in the kernel")
			// The server counted the same calls.
			grown := map[string]uint64{}
			for k, v := range aggregated(server.Process.Pid) {
				if d := v - serverBefore[k]; d > 0 {
					grown[k] = d
				}
			}
			assert.Equal(t, tc.counted, grown, "redis-server's calls counted in the kernel")
			var sent []string
			var pos uint64
			for _, e := range evs {
				if e.data != nil && e.data.Direction == abi.DirEgress {
					sent = append(sent, string(e.data.Payload))
					assert.Equal(t, uint32(len(e.data.Payload)), e.data.OrgMsgSize)
					assert.Greater(t, e.data.Pos, pos, "in order, after the counted calls")
					pos = e.data.Pos
				}
			}
			assert.Equal(t, tc.sent, sent, describe(evs))
		})
	}

	// A reply that is a push (no Redis answers a GET so: a python server here) falls back on both
	// ends, each end's pending GET exported as its event.
	t.Run("push reply", func(t *testing.T) {
		fake := testenv.Command(n.Server, testenv.Python(t), "-c", redisPushServer, addr)
		stdout, err := fake.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, fake.Start())
		t.Cleanup(func() { _ = fake.Process.Kill(); _ = fake.Wait() })
		line := make([]byte, 10)
		_, err = stdout.Read(line)
		require.NoError(t, err)
		before := aggCounters(t, c)
		cmd := testenv.Command(n.Client, testenv.Python(t), "-c", redisClient, addr, "6380", escape(resp("GET", "k")))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		evs := c.waitFor(t, cmd.Process.Pid, "the close", func(e []event) bool { return closedConns(e) >= 1 })
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, map[abi.AggCounter]uint64{abi.AggFallbackPush: 2, abi.AggPendingExported: 2}, counterDelta(before, aggCounters(t, c)))
		var sent, received []byte
		for _, e := range evs {
			if e.data != nil && e.data.Direction == abi.DirEgress {
				sent = append(sent, e.data.Payload...)
			} else if e.data != nil {
				received = append(received, e.data.Payload...)
			}
		}
		assert.Equal(t, resp("GET", "k"), string(sent), describe(evs))
		assert.Equal(t, ">2\r\n+a\r\n+b\r\n", string(received), describe(evs))
	})
}
