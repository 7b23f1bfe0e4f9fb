package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Short-lived clients, each gone long before its calls are flushed, and servers that fork a child
// per connection: every call carries the exact command of the process that made it, from what the
// kernel captured while the process ran (the library's process events). The expected calls are
// the clients' own: one each.
func TestShortLivedProcessesAreNamed(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 209)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	testenv.Redis(t, n.Server, n.ServerV4)
	// In the foreground but not in debug mode (--no-daemon), dnsmasq answers each TCP query in a
	// child it forks.
	dnsmasq := testenv.Start(t, n.Server, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",
		"--pid-file=", "--listen-address="+n.ServerV4.String(), "--bind-interfaces", "--no-resolv", "--no-hosts",
		"--host-record=svc.test,"+n.ServerV4.String())
	testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, 53))
	pg := testenv.PostgresServer(t, n.Server, n.ServerV4)
	postmaster := postmasterCmd(t, pg.Cmd.Process.Pid)
	// Debian's psql is a wrapper that execs the real one by its full path.
	psql := newest(t, "/usr/lib/postgresql/*/bin/psql")

	type client struct {
		cmd   string // the _process_cmd_ its calls must carry
		calls int    // the calls it made; -1: at least one
	}
	clients := map[int]client{}
	run := func(cmd string, calls int, name string, args ...string) {
		c := testenv.Command(n.Client, name, args...)
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s %v: %s", name, args, out)
		clients[c.Process.Pid] = client{cmd, calls}
	}
	const curls, redisClis, digs, digsTCP, psqls = 50, 50, 60, 10, 20
	recs := testenv.RunPipeline(t, testenv.Pipeline{}.String(), nil, func() {
		for i := range curls {
			run("curl", 1, "curl", "-sS", "-o", "/dev/null", fmt.Sprintf("http://%s/c%d", n.ServerV4, i))
		}
		for i := range redisClis {
			run("redis-cli", 1, "redis-cli", "-h", n.ServerV4.String(), "SET", fmt.Sprintf("k%d", i), "v")
		}
		for range digs {
			run("dig", 1, "dig", "@"+n.ServerV4.String(), "+short", "+tries=1", "svc.test")
		}
		for range digsTCP {
			run("dig", 1, "dig", "@"+n.ServerV4.String(), "+tcp", "+short", "+tries=1", "svc.test")
		}
		for i := range psqls {
			run(psql, -1, "psql", "-h", n.ServerV4.String(), "-U", "postgres", "-X", "-A", "-t", "-c", fmt.Sprintf("SELECT %d", i))
		}
	})

	type seen struct {
		cmds  map[string]bool
		calls int
	}
	byPID := map[int]*seen{}
	var servers []map[string]string
	for _, r := range recs {
		if r["type"] != "protocols" {
			continue
		}
		pid, err := strconv.Atoi(r["_process_pid_"])
		require.NoError(t, err, "%v", r)
		if r["role"] == "server" {
			servers = append(servers, r)
			continue
		}
		s := byPID[pid]
		if s == nil {
			s = &seen{cmds: map[string]bool{}}
			byPID[pid] = s
		}
		s.cmds[r["_process_cmd_"]] = true
		count, err := strconv.Atoi(r["total_count"])
		require.NoError(t, err)
		s.calls += count
	}
	for pid, c := range clients {
		s := byPID[pid]
		if !assert.NotNil(t, s, "pid %d (%s): no calls recorded", pid, c.cmd) {
			continue
		}
		assert.Equal(t, map[string]bool{c.cmd: true}, s.cmds, "pid %d", pid)
		if c.calls >= 0 {
			assert.Equal(t, c.calls, s.calls, "pid %d (%s)", pid, c.cmd)
		}
	}

	// Server side: dnsmasq answers TCP in a child per connection, PostgreSQL in a backend per
	// connection; both are forks without exec, named after the program that forked them.
	var dnsChildren, backends int
	for _, r := range servers {
		pid, _ := strconv.Atoi(r["_process_pid_"])
		switch r["protocol"] {
		case "dns":
			assert.Equal(t, "dnsmasq", r["_process_cmd_"], "%v", r)
			if pid != dnsmasq.Process.Pid {
				dnsChildren++
			}
		case "pgsql":
			assert.Equal(t, postmaster, r["_process_cmd_"], "%v", r)
			if pid != pg.Cmd.Process.Pid {
				backends++
			}
		}
	}
	assert.Equal(t, digsTCP, dnsChildren, "one dnsmasq child per TCP query")
	assert.Equal(t, psqls, backends, "one backend per psql")
}

// postmasterCmd is the command the postmaster's children carry: iLogtail's rule on its argv, as
// it was when they were forked (a backend later rewrites its own title, which /proc would show).
func postmasterCmd(t *testing.T, pid int) string {
	t.Helper()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(cmdline), "\x00")
	require.NotEmpty(t, first)
	_, err = exec.LookPath(first)
	require.NoError(t, err, "the postmaster's program")
	return first
}

// newest returns the last match of a glob of versioned paths.
func newest(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.NotEmpty(t, m, pattern)
	sort.Slice(m, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[j]))))
		return vi < vj
	})
	return m[len(m)-1]
}

// A pid reused within one interval: curl calls /reuse-a and exits, then python gets the same pid
// (ns_last_pid steers the kernel's next pid) and calls /reuse-b. Each call is named after its own
// process, in a record of its own.
func TestReusedPidNamesEachProcess(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 210)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	o := testenv.StartObserver(t, testenv.Pipeline{}.String(), nil)
	var pid int
	var pyCmd string // iLogtail's rule: python's whole command line
	for attempt := 0; attempt < 50 && pid == 0; attempt++ {
		curl := testenv.Command(n.Client, "curl", "-sS", "-o", "/dev/null", fmt.Sprintf("http://%s/reuse-a%d", n.ServerV4, attempt))
		out, err := curl.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.NoError(t, os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(curl.Process.Pid-1)), 0))
		script := fmt.Sprintf("import urllib.request; urllib.request.urlopen('http://%s/reuse-b%d').read()", n.ServerV4, attempt)
		sh := testenv.Command(n.Client, "/usr/bin/python3", "-c", script)
		pyCmd = "/usr/bin/python3 -c " + script
		out, err = sh.CombinedOutput()
		require.NoError(t, err, "%s", out)
		if sh.Process.Pid == curl.Process.Pid {
			pid = curl.Process.Pid
			t.Logf("pid %d reused at attempt %d", pid, attempt)
		}
	}
	require.NotZero(t, pid, "another process took the pid each time (a busy host)")
	got := map[string]string{}
	for _, r := range o.Stop(t, 300*time.Millisecond) {
		if r["type"] == "protocols" && r["role"] == "client" && r["_process_pid_"] == strconv.Itoa(pid) {
			got[r["url"][:len("/reuse-a")]] += r["_process_cmd_"] + " " + r["total_count"]
		}
	}
	assert.Equal(t, map[string]string{"/reuse-a": "curl 1", "/reuse-b": pyCmd + " 1"}, got)
}
