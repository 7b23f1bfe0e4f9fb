//go:build accuracy

package accuracy

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// subnet keeps this tier's namespaces and addresses apart from the other root tests' (203…212).
const subnet = 220

// pipeline: nothing is flushed before the observer stops (SIGTERM flushes everything), the data
// buffers have pages pages, and /metrics on port serves the observer's counters.
func pipeline(pages, port int) string {
	return testenv.Pipeline{
		EBPF:     fmt.Sprintf("Enabled: true\nDataBufferPages: %d", pages),
		Flushers: fmt.Sprintf("- Type: flusher_stdout\n- Type: flusher_prometheus_exporter\n  Listen: 127.0.0.1:%d", port),
	}.String()
}

// defaultPages is iLogtail's data buffer size, the observer's default.
const defaultPages = 512

type record = map[string]string

// world is the servers every workload runs against, and the table being built.
type world struct {
	net       *testenv.Net
	nginxLog  string // access log: "<uri> <status>" per request
	redisSock string // redis-server's unix socket, for INFO (not observed)
	pg        *testenv.Postgres
	pgBin     string // the PostgreSQL client programs' directory (not Debian's pg_wrapper)
	mariadb   *testenv.MariaDB
	dnsLog    string // dnsmasq's log: one "query[TYPE] NAME from IP" line per query
	resolver  string // tools/udpresolver, built

	// The database workloads over TLS (TestAccuracyTLSDatabases): every client connects with
	// TLS, in clientDir (sysbench reads its certificate files from its working directory) with
	// clientEnv (PGSSLMODE=require).
	tls       bool
	clientDir string
	clientEnv []string

	mu   sync.Mutex
	rows []row
}

// row is one line of the accuracy table.
type row struct {
	workload    string
	made        int    // calls made, as the client reports them
	serverTruth string // the server's own count, where it keeps one
	client      int    // calls recorded on the client side
	server      int    // calls recorded on the server side
	attribution string // records carrying the right _process_cmd_, client / server
}

func TestAccuracy(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t) // fail before building the world when the binary is missing
	start := time.Now()
	w := setup(t)
	t.Logf("servers ready in %v", time.Since(start).Round(time.Millisecond))

	for _, l := range []load{w.redisBenchmark(1), w.redisBenchmark(16), w.pgbench("simple"), w.pgbench("extended"),
		w.pgbench("prepared"), w.sysbench("auto"), w.sysbench("disable")} {
		t.Run(l.name, func(t *testing.T) { w.runLoad(t, l) })
	}
	t.Run("http", w.http)
	t.Run("dns", w.dns)
	t.Run("kafka", w.kafka)
	t.Run("memcslap", func(t *testing.T) { w.memcslap(t, false) })
	t.Run("memcslap-binary", func(t *testing.T) { w.memcslap(t, true) })
	t.Run("short-lived", w.shortLived)
	t.Run("kernel-loss", w.kernelLoss)

	w.printTable()
	t.Logf("accuracy tier done in %v", time.Since(start).Round(time.Millisecond))
}

// setup starts every server in the server namespace and loads their data through unix sockets
// (not observed; no observer runs yet anyway).
func setup(t *testing.T) *world {
	n := testenv.NewNet(t, subnet)
	w := &world{net: n, pgBin: pgClientBin(t)}
	dir := t.TempDir()

	w.nginxLog = startNginx(t, n.Server, n.ServerV4, dir)

	w.startDatabases(t, dir, nil)

	w.dnsLog = filepath.Join(dir, "dnsmasq.log")
	names := map[string]netip.Addr{}
	for _, group := range []string{"perf", "sock", "dig"} {
		names["v4."+group+".acc.test"] = netip.MustParseAddr(fmt.Sprintf("10.%d.0.100", subnet))
		names["v6."+group+".acc.test"] = netip.MustParseAddr(fmt.Sprintf("fd00:%x::100", subnet))
	}
	testenv.Dnsmasq(t, n.Server, n.ServerV4, names, "--log-queries", "--log-facility="+w.dnsLog)

	w.resolver = testenv.BuildTool(t, "udpresolver")
	return w
}

// startDatabases starts redis-server, PostgreSQL and MariaDB in the server namespace and loads
// pgbench's and sysbench's tables through unix sockets. With certificates (tls), each serves TCP
// clients over TLS only: redis-server on its TLS port (redisTLSPort), PostgreSQL with ssl=on and
// hostssl lines alone in pg_hba.conf, MariaDB with sysbench's user created REQUIRE SSL.
func (w *world) startDatabases(t *testing.T, dir string, tls *certificate) {
	n := w.net
	w.redisSock = filepath.Join(dir, "redis.sock")
	redisArgs := []string{"--unixsocket", w.redisSock, "--unixsocketperm", "700"}
	pgSettings := []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all", "max_connections=50"}
	var mariadbArgs []string
	requireSSL := ""
	if tls != nil {
		redisArgs = append(redisArgs, "--tls-port", fmt.Sprint(redisTLSPort), "--tls-cert-file", tls.crt, "--tls-key-file", tls.key,
			"--tls-ca-cert-file", tls.crt, "--tls-auth-clients", "no")
		pgSettings = append(pgSettings, "ssl=on", "ssl_cert_file="+tls.crt, "ssl_key_file="+tls.key)
		mariadbArgs = []string{"--ssl-cert=" + tls.crt, "--ssl-key=" + tls.key, "--ssl-ca=" + tls.crt}
		requireSSL = " REQUIRE SSL"
	}

	testenv.Redis(t, n.Server, n.ServerV4, redisArgs...)
	if tls != nil {
		testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, redisTLSPort))
	}

	w.pg = testenv.PostgresServer(t, n.Server, n.ServerV4, pgSettings...)
	if tls != nil { // refuse TCP connections without TLS
		hba := strings.TrimSpace(w.psql(t, "SHOW hba_file"))
		require.NoError(t, os.WriteFile(hba, []byte("local all all trust\nhostssl all all 0.0.0.0/0 trust\nhostssl all all ::/0 trust\n"), 0o600))
		w.psql(t, "SELECT pg_reload_conf()")
	}
	w.psql(t, "CREATE EXTENSION pg_stat_statements")
	// pgbench's tables at scale 1 (100,000 accounts), -q: quiet progress.
	testenv.RunIn(t, n.Server, filepath.Join(w.pgBin, "pgbench"), "-i", "-q", "-h", w.pg.Socket, "-U", "postgres", "postgres")

	w.mariadb = testenv.MariaDBServerWith(t, n.Server, n.ServerV4, mariadbArgs...)
	w.mariadb.SQL(t, n.Server, "CREATE DATABASE sbtest; "+
		"CREATE USER 'sb'@'%' IDENTIFIED BY 'sb'"+requireSSL+"; GRANT ALL ON sbtest.* TO 'sb'@'%';")
	testenv.RunIn(t, n.Server, "sysbench", append(sysbenchArgs("--mysql-socket="+w.mariadb.Socket, "--mysql-user=root"), "prepare")...)
}

// pgClientBin is the newest /usr/lib/postgresql/<version>/bin: the programs themselves, not
// Debian's pg_wrapper (a perl script that execs them), so that a client's command is exactly the
// path it was started with.
func pgClientBin(t *testing.T) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pgbench")); err == nil {
			return d
		}
	}
	t.Fatal("pgbench: not in /usr/lib/postgresql/*/bin; install postgresql (make deps)")
	return ""
}

// psql runs statements as postgres over the server's unix socket (not observed).
func (w *world) psql(t *testing.T, sql string) string {
	t.Helper()
	return testenv.RunIn(t, w.net.Server, filepath.Join(w.pgBin, "psql"), "-X", "-q", "-A", "-t", "-F", "\t",
		"-h", w.pg.Socket, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql)
}

// startNginx serves static files from dir/www (sendfile off, nginx's default: the bodies go
// through write) on addr:80 and logs "<uri> <status>" for every request; it returns the log's
// path.
func startNginx(t *testing.T, ns string, addr netip.Addr, dir string) string {
	www := filepath.Join(dir, "www")
	for path, size := range map[string]int{
		"ab/tiny": len("hello\n"), "ab/big": bigPage, "wrk/tiny": len("hello\n"), "wrk/big": bigPage,
		"curl/tiny": len("hello\n"),
	} {
		p := filepath.Join(www, path)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		body := []byte("hello\n")
		if size != len(body) {
			body = []byte(strings.Repeat("x", size-1) + "\n")
		}
		require.NoError(t, os.WriteFile(p, body, 0o644))
	}
	log := filepath.Join(dir, "access.log")
	testenv.NginxHTTP(t, ns, addr, fmt.Sprintf(`log_format accuracy '$request_uri $status';
access_log %s accuracy;
sendfile off;
default_type text/plain;
server {
	listen %s:80;
	keepalive_requests 1000000;
	root %s;
}
`, log, addr, www))
	return log
}

// client runs a client in the client namespace to completion and returns its output (standard
// output and standard error); it must succeed.
func (w *world) client(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := w.clientErr(name, args...)
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return out
}

func (w *world) clientErr(name string, args ...string) (string, error) {
	cmd := testenv.Command(w.net.Client, name, args...)
	cmd.Dir = w.clientDir
	if len(w.clientEnv) > 0 {
		cmd.Env = append(os.Environ(), w.clientEnv...)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// load is a workload in two halves: its traffic, run under an observer, and the checks of that
// run's records against the truth. Loads on different servers can share a run (observeLoads).
type load struct {
	name    string
	traffic func(t *testing.T)
	check   func(t *testing.T, r *run)
}

// runLoad runs one load under an observer of its own.
func (w *world) runLoad(t *testing.T, l load) {
	t.Helper()
	r := w.observe(t, defaultPages, func() { l.traffic(t) })
	l.check(t, r)
}

// observeLoads runs the traffic of loads at once under one observer, then checks each in a
// subtest of its name.
func (w *world) observeLoads(t *testing.T, loads ...load) {
	t.Helper()
	r := w.observe(t, defaultPages, func() {
		var wg sync.WaitGroup
		for _, l := range loads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.traffic(t)
			}()
		}
		wg.Wait()
	})
	require.False(t, t.Failed(), "the traffic failed: no check is meaningful")
	for _, l := range loads {
		t.Run(l.name, func(t *testing.T) { l.check(t, r) })
	}
}

// run is one observer run: its records and its counters.
type run struct {
	recs    []record
	lost    map[string]int     // the stop line's lost_ctrl, lost_data, lost_stats
	metrics map[string]float64 // /metrics, series → value, once the traffic's counters settled
	log     string
}

// observe runs traffic under a fresh observer with a data buffer of pages per CPU and returns
// what it recorded and counted.
func (w *world) observe(t *testing.T, pages int, traffic func()) *run {
	t.Helper()
	return w.observeWith(t, pages, func(*testenv.Observer) { traffic() })
}

// observeWith is observe with traffic that may act on the observer's process.
func (w *world) observeWith(t *testing.T, pages int, traffic func(*testenv.Observer)) *run {
	t.Helper()
	port := freePort(t)
	obs := testenv.StartObserver(t, pipeline(pages, port), nil)
	if w.tls {
		// The servers' libssl is probed before any client runs (found in their maps at start).
		obs.WaitLog(t, "library=openssl")
	}
	traffic(obs)
	m := settledMetrics(t, port)
	recs := obs.Stop(t, 0)
	r := &run{recs: recs, metrics: m, log: obs.Log(), lost: map[string]int{}}
	stopped := regexp.MustCompile(`netobserver: stopped" lost_ctrl=(\d+) lost_data=(\d+) lost_stats=(\d+)`).FindStringSubmatch(r.log)
	require.NotNil(t, stopped, "no stop line in the observer's log:\n%s", r.log)
	for i, k := range []string{"ctrl", "data", "stats"} {
		r.lost[k], _ = strconv.Atoi(stopped[i+1])
	}
	return r
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// counter is one of the observer's own counters on /metrics, whose labels are written in name
// order.
func (r *run) counter(name string, labels ...string) int {
	var ls []string
	for i := 0; i+1 < len(labels); i += 2 {
		ls = append(ls, labels[i]+`="`+labels[i+1]+`"`)
	}
	slices.Sort(ls)
	series := "netobserver_" + name
	if len(ls) > 0 {
		series += "{" + strings.Join(ls, ",") + "}"
	}
	return int(r.metrics[series])
}

// accounted is what the observer's counters say it could not turn into calls of protocol: lost
// events (the stop line), unmatched messages, parse failures and calls refused by the
// aggregation caps (/metrics). Every call that is not recorded must be among them.
func (r *run) accounted(protocol string) (int, string) {
	um := r.counter("unmatched_messages_total", "protocol", protocol, "message", "request") +
		r.counter("unmatched_messages_total", "protocol", protocol, "message", "response")
	pf := r.counter("parse_failures_total", "protocol", protocol)
	cd := r.counter("cap_dropped_calls_total", "protocol", protocol)
	text := fmt.Sprintf("lost_ctrl=%d lost_data=%d unmatched_messages=%d parse_failures=%d cap_dropped=%d lost_stream_bytes=%d abandoned_bytes=%d stale_stream_bytes=%d",
		r.lost["ctrl"], r.lost["data"], um, pf, cd, r.counter("lost_stream_bytes_total", "protocol", protocol),
		r.counter("abandoned_bytes_total", "protocol", protocol), r.counter("stream_bytes_total", "fate", "stale", "protocol", protocol))
	return r.lost["ctrl"] + r.lost["data"] + um + pf + cd, text
}

// calls returns the protocols records of protocol on one side (role) whose peer is addr.
func calls(recs []record, protocol, role string, peer netip.Addr) []record {
	var out []record
	for _, r := range recs {
		if r["type"] == "protocols" && r["protocol"] == protocol && r["role"] == role &&
			strings.Contains(r["remote_info"], `"remote_ip":"`+peer.String()+`"`) {
			out = append(out, r)
		}
	}
	return out
}

// count adds up total_count over records by key.
// countOnly is count of the records whose key keep accepts: the calls a workload's truth speaks of.
func countOnly(recs []record, key func(record) string, keep func(key string) bool) map[string]int {
	out := count(recs, key)
	maps.DeleteFunc(out, func(k string, _ int) bool { return !keep(k) })
	return out
}

func count(recs []record, key func(record) string) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		n, err := strconv.Atoi(r["total_count"])
		if err != nil {
			panic(fmt.Sprintf("total_count=%q in %v", r["total_count"], r))
		}
		out[key(r)] += n
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// missing is how many calls want has that got lacks, key by key.
func missing(want, got map[string]int) int {
	n := 0
	for k, v := range want {
		if got[k] < v {
			n += v - got[k]
		}
	}
	return n
}

// attributed counts the calls of recs whose _process_cmd_ is cmd (any non-empty command when
// cmd is empty) and formats it as "cmd n/total".
func attributed(recs []record, cmd string) string {
	all := count(recs, func(record) string { return "" })[""]
	ok := count(recs, func(r record) string {
		if name := r["_process_cmd_"]; cmd == "" && name != "" || cmd != "" && name == cmd {
			return "ok"
		}
		return "other"
	})["ok"]
	if cmd == "" { // any name: show the most common
		names := count(recs, func(r record) string { return r["_process_cmd_"] })
		for name, n := range names {
			if name != "" && (cmd == "" || n > names[cmd]) {
				cmd = name
			}
		}
	}
	return fmt.Sprintf("%s %d/%d", cmd, ok, all)
}

// checkSides asserts, for one workload, that both sides recorded exactly want (by key) and adds
// its table row.
func (w *world) checkSides(t *testing.T, name string, made int, serverTruth string, want map[string]int,
	client, server map[string]int, attribution string) {
	t.Helper()
	w.addRow(row{workload: name, made: made, serverTruth: serverTruth, client: total(client), server: total(server), attribution: attribution})
	assert.Equal(t, want, client, "%s: client side, calls by key (want: the client's own report)", name)
	assert.Equal(t, want, server, "%s: server side, calls by key (want: the client's own report)", name)
}

// checkAccounted asserts that the calls missing from a run's records of protocol (both sides)
// are no more than what the observer's counters say it lost or could not pair.
func (w *world) checkAccounted(t *testing.T, r *run, protocol string, missingCalls int) {
	t.Helper()
	n, text := r.accounted(protocol)
	t.Logf("%s: %d calls missing (both sides); observer counters: %s", protocol, missingCalls, text)
	assert.LessOrEqual(t, missingCalls, n, "%s: calls missing from the records without a counter that shows them (%s)", protocol, text)
}

func (w *world) addRow(r row) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rows = append(w.rows, r)
}

// printTable prints the README's accuracy table.
func (w *world) printTable() {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	b.WriteString("\naccuracy table (make accuracy):\n\n")
	b.WriteString("| workload | calls made (client's report) | server's own count | recorded, client side | recorded, server side | attribution (client / server) |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range w.rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %s |\n", r.workload, r.made, r.serverTruth, r.client, r.server, r.attribution)
	}
	fmt.Print(b.String())
}
