package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netobserver/netobserver/cgo/libebpf"
	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/netobserver/netobserver/observer"
	"github.com/netobserver/netobserver/observer/config"
	"github.com/netobserver/netobserver/record"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Short-lived clients read late: the poller sleeps up to a minute (the observer itself polls
// each second) while the connection map's collection runs every 100 ms, so a client's
// connection is deleted, and the library makes its final statistics, while the client's exec,
// events and exit still wait in the kernel. redis-cli exits without closing the connection of its
// command, and so does the forked child of a python program: every record of each carries the
// process's name, in one statistics record with the client's exact bytes and one call. Before
// the library delivered final events in time order, most of those statistics came before the
// exec that names the client, whose /proc was gone: their bytes went to a record without a name.
func TestLateReadClientsKeepTheirNames(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 211)
	testenv.Redis(t, n.Server, n.ServerV4)
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	require.NoError(t, err, "python3")
	python := strings.TrimSpace(string(out))

	p, _, err := config.Parse("late", []byte(testenv.Pipeline{}.String()))
	require.NoError(t, err)
	lib, err := libebpf.Open(libebpf.Options{Path: testenv.BuiltFile(t, libebpf.FileName), IdleInterval: time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer lib.Close()
	require.NoError(t, lib.SetSelfFilter(int32(os.Getpid())))
	opts := observer.OptionsFrom(&p.Input)
	opts.GCInterval = 100 * time.Millisecond
	var mu sync.Mutex
	var recs []record.Record
	obs := observer.New(lib, opts, func(rs []record.Record) {
		mu.Lock()
		recs = append(recs, rs...)
		mu.Unlock()
	})
	require.NoError(t, obs.Start())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- obs.Run(ctx, nil) }()

	type client struct {
		cmd    string
		call   string // the redis command of its one call
		wr, rd int    // bytes out and in
	}
	clients := map[int]client{} // by pid; a forker's by its own pid until its child is known
	const clis, forkers = 200, 20
	for i := range clis {
		key := fmt.Sprintf("k%d", i)
		c := testenv.Command(n.Client, "redis-cli", "-h", n.ServerV4.String(), "SET", key, "v")
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "OK\n", string(out), "redis-cli's own report")
		set := fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", len(key), key)
		clients[c.Process.Pid] = client{"redis-cli", "SET", len(set), len("+OK\r\n")}
	}
	forkerCmd := container.Command([]byte(strings.Join([]string{python, "-c", testenv.ForkThenPing, n.ServerV4.String()}, "\x00")), true)
	forkerPids := map[int]bool{}
	for range forkers {
		c := testenv.Command(n.Client, python, "-c", testenv.ForkThenPing, n.ServerV4.String())
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s", out)
		forkerPids[c.Process.Pid] = true
	}
	stop()
	require.NoError(t, <-done)
	assert.Zero(t, obs.Counters().Lost, "nothing lost")

	type seen struct {
		cmds           map[string]bool
		stats          int
		wr, rd         int
		calls          map[string]int
		wrPkts, rdPkts int
	}
	byPID := map[int]*seen{}
	field := func(r record.Record, k string) string { v, _ := r.Get(k); return v }
	num := func(r record.Record, k string) int {
		v, err := strconv.Atoi(field(r, k))
		require.NoError(t, err, "%s in %v", k, r)
		return v
	}
	for _, r := range recs {
		if field(r, "role") != "client" || !strings.Contains(field(r, "remote_info"), `"remote_port":"6379"`) {
			continue
		}
		pid := num(r, "_process_pid_")
		s := byPID[pid]
		if s == nil {
			s = &seen{cmds: map[string]bool{}, calls: map[string]int{}}
			byPID[pid] = s
		}
		s.cmds[field(r, "_process_cmd_")] = true
		if field(r, "type") == "statistics" {
			s.stats++
			s.wr += num(r, "send_bytes")
			s.rd += num(r, "recv_bytes")
			s.wrPkts += num(r, "send_packets")
			s.rdPkts += num(r, "recv_packets")
		} else {
			s.calls[field(r, "cmd")] += num(r, "total_count")
		}
	}
	children := 0
	for pid := range byPID {
		if _, ok := clients[pid]; !ok && !forkerPids[pid] {
			// A forker's child: its pid is not the one the test started.
			clients[pid] = client{forkerCmd, "PING", len("*1\r\n$4\r\nPING\r\n"), len("+PONG\r\n")}
			children++
		}
	}
	assert.Equal(t, forkers, children, "one child per forker, nothing else talked to the server")
	for pid, c := range clients {
		s := byPID[pid]
		if !assert.NotNil(t, s, "pid %d (%s): no records", pid, c.cmd) {
			continue
		}
		assert.Equal(t, map[string]bool{c.cmd: true}, s.cmds, "pid %d: every record named", pid)
		assert.Equal(t, 1, s.stats, "pid %d (%s): one statistics record", pid, c.cmd)
		assert.Equal(t, []int{c.wr, c.rd, 1, 1}, []int{s.wr, s.rd, s.wrPkts, s.rdPkts}, "pid %d (%s): bytes and syscalls out, in", pid, c.cmd)
		assert.Equal(t, map[string]int{c.call: 1}, s.calls, "pid %d (%s): its call", pid, c.cmd)
	}
}
