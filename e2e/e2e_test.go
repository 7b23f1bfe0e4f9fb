//go:build e2e

package e2e

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/require"
)

// subnet keeps this suite's namespaces and addresses apart from the other root tests' (205…209).
const subnet = 210

// Traffic sizes: small, so the suite stays fast and leaves the CPU to others, but more than one
// so a count cannot be right by accident.
const (
	redisN   = 20 // redis-benchmark -n: SET and GET calls each
	pgbenchT = 5  // pgbench -t: transactions per run
)

// world is everything the traffic ran against and the records it produced.
type world struct {
	net     *testenv.Net
	nginx   *exec.Cmd
	redis   *exec.Cmd
	pg      *testenv.Postgres
	mariadb *testenv.MariaDB
	dnsmasq *exec.Cmd
	clients map[string]*exec.Cmd // by role in the traffic plan, e.g. "curl-v4", "dig-aaaa"
	recs    []map[string]string
}

func TestEndToEnd(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t) // fail before building the world when the binary is missing
	start := time.Now()
	w := setup(t)
	t.Logf("servers ready in %v", time.Since(start).Round(time.Millisecond))
	obs := testenv.StartObserver(t, testenv.Pipeline{}.String(), nil)
	drive(t, w)
	w.recs = obs.Stop(t, 500*time.Millisecond)
	t.Logf("traffic and flush done at %v: %d records", time.Since(start).Round(time.Millisecond), len(w.recs))

	t.Run("http", func(t *testing.T) { checkHTTP(t, w) })
	t.Run("redis", func(t *testing.T) { checkRedis(t, w) })
	t.Run("pgsql", func(t *testing.T) { checkPgSQL(t, w) })
	t.Run("mysql", func(t *testing.T) { checkMySQL(t, w) })
	t.Run("dns", func(t *testing.T) { checkDNS(t, w) })
	t.Run("latency", func(t *testing.T) { checkLatency(t, w) })
	if t.Failed() {
		dump(t, w)
	}
}

// setup starts every server in the server namespace and prepares their data through unix
// sockets (AF_UNIX is dropped by the observer, and the observer is not running yet anyway), so
// that the observed traffic is exactly what drive sends.
func setup(t *testing.T) *world {
	n := testenv.NewNet(t, subnet)
	w := &world{net: n, clients: map[string]*exec.Cmd{}}
	w.nginx = testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	w.redis = testenv.Redis(t, n.Server, n.ServerV4)
	w.pg = testenv.PostgresServer(t, n.Server, n.ServerV4)
	w.mariadb = testenv.MariaDBServer(t, n.Server, n.ServerV4)
	w.dnsmasq = testenv.Dnsmasq(t, n.Server, n.ServerV4, map[string]netip.Addr{
		"v4.e2e.test": n.ServerV4,
		"v6.e2e.test": n.ServerV6,
	})
	// pgbench's tables at scale 1 (100,000 accounts), -q: quiet progress.
	testenv.RunIn(t, n.Server, "pgbench", "-i", "-q", "-h", w.pg.Socket, "-U", "postgres", "postgres")
	w.mariadb.SQL(t, n.Server, "CREATE DATABASE e2e; "+
		"CREATE USER 'e2e'@'%' IDENTIFIED BY 'e2e'; GRANT ALL ON e2e.* TO 'e2e'@'%'; "+
		"CREATE TABLE e2e.items (id INT PRIMARY KEY, name VARCHAR(20));")
	return w
}

// client runs one client in the client namespace, to completion, and remembers it under name.
// ok false expects a non-zero exit (a client reporting the failures it was asked to cause).
func (w *world) client(t *testing.T, name string, ok bool, args ...string) string {
	t.Helper()
	cmd := testenv.Command(w.net.Client, args[0], args[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ok {
		require.NoError(t, err, "%s: %s", strings.Join(args, " "), out.String())
	} else {
		require.Error(t, err, "%s should fail: %s", strings.Join(args, " "), out.String())
	}
	w.clients[name] = cmd
	return out.String()
}

// clientStdin runs a client like client, with stdin as its standard input, and expects success.
func (w *world) clientStdin(t *testing.T, name, stdin string, args ...string) string {
	t.Helper()
	cmd := testenv.Command(w.net.Client, args[0], args[1:]...)
	var out strings.Builder
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "%s: %s", strings.Join(args, " "), out.String())
	w.clients[name] = cmd
	return out.String()
}

// dump logs every record of the test network, for a failure's diagnosis.
func dump(t *testing.T, w *world) {
	pids := map[string]string{}
	for name, c := range w.clients {
		pids[fmt.Sprint(c.Process.Pid)] = name
	}
	for _, r := range w.recs {
		name, ok := pids[r["_process_pid_"]]
		if ok || strings.Contains(r["remote_info"], fmt.Sprintf(`10.%d.`, subnet)) ||
			strings.Contains(r["remote_info"], fmt.Sprintf(`fd00:%x:`, subnet)) {
			t.Logf("%s %s", name, show(r))
		}
	}
}
