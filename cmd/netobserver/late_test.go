package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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
	python := testenv.Python(t)

	obs := newLateObserver(t)
	require.NoError(t, obs.Start())
	obs.run()

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
	recs := obs.stop()

	byPID := redisClients(t, recs)
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
		assert.Equal(t, map[string]int{c.cmd: 2}, s.cmds, "pid %d: its statistics and its call, named", pid)
		assert.Equal(t, 1, s.stats, "pid %d (%s): one statistics record", pid, c.cmd)
		assert.Equal(t, []int{c.wr, c.rd, 1, 1}, []int{s.wr, s.rd, s.wrPkts, s.rdPkts}, "pid %d (%s): bytes and syscalls out, in", pid, c.cmd)
		assert.Equal(t, map[string]int{c.call: 1}, s.calls, "pid %d (%s): its call", pid, c.cmd)
	}
}

// lateObserver is the observer in process over the real library, reading late: the poller sleeps
// up to a minute (the observer itself polls each second) while the connection map's collection
// runs every 100 ms.
type lateObserver struct {
	*observer.Observer
	t    *testing.T
	mu   sync.Mutex
	recs []record.Record
	halt context.CancelFunc
	done chan error
}

func newLateObserver(t *testing.T) *lateObserver {
	p, _, err := config.Parse("late", []byte(testenv.Pipeline{}.String()))
	require.NoError(t, err)
	lib, err := libebpf.Open(libebpf.Options{Path: testenv.BuiltFile(t, libebpf.FileName), IdleInterval: time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { lib.Close() })
	require.NoError(t, lib.SetSelfFilter(int32(os.Getpid())))
	opts := observer.OptionsFrom(&p.Input)
	opts.GCInterval = 100 * time.Millisecond
	o := &lateObserver{t: t, done: make(chan error, 1)}
	o.Observer = observer.New(lib, opts, func(rs []record.Record) {
		o.mu.Lock()
		o.recs = append(o.recs, rs...)
		o.mu.Unlock()
	})
	return o
}

func (o *lateObserver) run() {
	ctx, halt := context.WithCancel(context.Background())
	o.halt = halt
	go func() { o.done <- o.Run(ctx, nil) }()
}

// stop ends the run, checks nothing was lost, and returns every record.
func (o *lateObserver) stop() []record.Record {
	o.halt()
	require.NoError(o.t, <-o.done)
	assert.Zero(o.t, o.Counters().Lost, "nothing lost")
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recs
}

// waitThenPing is a python program that waits for the file argv[2], then sends a PING to the Redis
// server at argv[1] and exits without closing its connection.
const waitThenPing = `import os, socket, sys, time
while not os.path.exists(sys.argv[2]):
    time.sleep(0.005)
s = socket.create_connection((sys.argv[1], 6379))
s.sendall(b"*1\r\n$4\r\nPING\r\n")
os._exit(0 if s.recv(64) == b"+PONG\r\n" else 1)
`

// Clients started while the library attaches its programs: the observer read /proc before, and
// their fork and exec came before the programs, so only /proc can name them, and only while they
// run. Started every 5 ms from before the start until after it, each waits until the start is
// over, pings and exits; its events are read after it is gone. Every one is named, in one
// statistics record with its exact bytes and one call: the observer reads /proc again once the
// programs are attached.
func TestClientsStartedWhileAttachingKeepTheirNames(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 212)
	testenv.Redis(t, n.Server, n.ServerV4)
	python := testenv.Python(t)
	started := filepath.Join(t.TempDir(), "started")

	obs := newLateObserver(t)
	attaching := make(chan struct{})
	var clients []*exec.Cmd
	spawned := make(chan struct{})
	go func() {
		defer close(spawned)
		for stop := time.After(time.Minute); ; {
			c := testenv.Command(n.Client, python, "-c", waitThenPing, n.ServerV4.String(), started)
			var out strings.Builder
			c.Stdout, c.Stderr = &out, &out
			if c.Start() == nil {
				clients = append(clients, c)
			}
			select {
			case <-attaching:
				return
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // some clients run before the start: seeded from /proc
	require.NoError(t, obs.Start())
	time.Sleep(100 * time.Millisecond) // and some start after it: named by their events
	close(attaching)
	<-spawned
	obs.run()
	require.NoError(t, os.WriteFile(started, nil, 0o644))
	pids := map[int]bool{}
	for _, c := range clients {
		require.NoError(t, c.Wait(), "client %d", c.Process.Pid)
		pids[c.Process.Pid] = true
	}
	time.Sleep(1500 * time.Millisecond) // gone well before the observer's next poll
	recs := obs.stop()

	cmd := container.Command([]byte(strings.Join([]string{python, "-c", waitThenPing, n.ServerV4.String(), started}, "\x00")), true)
	byPID := redisClients(t, recs)
	t.Logf("%d clients", len(pids))
	require.Greater(t, len(pids), 10, "clients before, during and after the start")
	unnamed := 0
	for pid := range pids {
		s := byPID[pid]
		if !assert.NotNil(t, s, "pid %d: no records", pid) {
			continue
		}
		if len(s.cmds) != 1 || s.cmds[cmd] == 0 {
			unnamed++
		}
		assert.Equal(t, map[string]int{cmd: 2}, s.cmds, "pid %d: its statistics and its call, named", pid)
		assert.Equal(t, map[string]int{"PING": 1}, s.calls, "pid %d: its call", pid)
		assert.Equal(t, []int{1, len("*1\r\n$4\r\nPING\r\n"), len("+PONG\r\n"), 1, 1}, []int{s.stats, s.wr, s.rd, s.wrPkts, s.rdPkts}, "pid %d: its statistics", pid)
	}
	assert.Zero(t, unnamed, "clients not named")
	assert.Len(t, byPID, len(pids), "only the test's clients talked to the server")
}

// redisClient is what the records say of one client process of the Redis server.
type redisClient struct {
	cmds           map[string]int // records by _process_cmd_
	stats          int            // statistics records
	wr, rd         int            // their bytes out and in
	wrPkts, rdPkts int            // and syscalls
	calls          map[string]int // calls by Redis command
}

// redisClients sums the client-side records of connections to port 6379 by pid.
func redisClients(t *testing.T, recs []record.Record) map[int]*redisClient {
	byPID := map[int]*redisClient{}
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
			s = &redisClient{cmds: map[string]int{}, calls: map[string]int{}}
			byPID[pid] = s
		}
		s.cmds[field(r, "_process_cmd_")]++
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
	return byPID
}
