//go:build accuracy

package accuracy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Traffic sizes: thousands of calls per workload, so that every loss mechanism has room to show,
// and the whole tier stays within three minutes on two shared cores.
const (
	redisN       = 2000 // redis-benchmark -n: calls per command; a multiple of every -P used
	redisClients = 10
	pgClients    = 4
	pgTxns       = 200 // pgbench -t: transactions per client
	sbThreads    = 4
	sbEvents     = 200 // sysbench --events: transactions in all
	abN          = 2000
	abC          = 20
	bigPage      = 20000 // bytes
	dnsperfN     = 2000  // queries in dnsperf's data file, sent once (-n 1)
)

var redisTests = []string{"set", "get", "incr", "lpush", "lpop", "sadd", "hset", "mset"}

// redisKey is a Redis record's key: its command, and whether the reply was an error.
func redisKey(r record) string {
	if r["success"] != "1" {
		return r["cmd"] + " (error)"
	}
	return r["cmd"]
}

// redisBenchmark: redis-benchmark -c 10 -P pipeline over eight commands. The client's truth is
// its -n: each test sends exactly redisN commands when redisN is a multiple of -P (a client asks
// for the next pipeline of -P requests only while fewer than -n have been issued: redis 7.0's
// writeHandler), and before the tests it reads "save" and "appendonly" with two CONFIG GET on a
// connection of its own. The server's truth is INFO commandstats (over the unix socket, after a
// CONFIG RESETSTAT there), which must agree.
func (w *world) redisBenchmark(pipeline int) load {
	n := w.net
	conn, name := []string{"-h", n.ServerV4.String(), "-p", "6379"}, "redis-benchmark"
	if w.tls {
		conn, name = []string{"-h", n.ServerV4.String(), "-p", fmt.Sprint(redisTLSPort), "--tls", "--insecure"}, "redis-benchmark --tls"
	}
	var out string
	return load{name: fmt.Sprintf("redis-benchmark-P%d", pipeline),
		traffic: func(t *testing.T) {
			w.redisCLI(t, "CONFIG", "RESETSTAT")
			out = w.client(t, "redis-benchmark", append(conn, "-c", fmt.Sprint(redisClients),
				"-n", fmt.Sprint(redisN), "-P", fmt.Sprint(pipeline), "-t", strings.Join(redisTests, ","), "--csv")...)
		},
		check: func(t *testing.T, r *run) {
			want := map[string]int{"CONFIG GET": 2}
			for _, c := range redisTests {
				require.Regexp(t, `(?m)^"`+strings.ToUpper(c)+`[" ]`, out, "redis-benchmark ran %s", c)
				want[strings.ToUpper(c)] = redisN
			}
			stats := w.commandstats(t)
			assert.Equal(t, want, stats, "redis-server's INFO commandstats agrees with redis-benchmark's -n")

			client := calls(r.recs, "redis", "client", n.ServerV4)
			server := calls(r.recs, "redis", "server", n.ClientV4)
			gotC, gotS := count(client, redisKey), count(server, redisKey)
			w.checkSides(t, fmt.Sprintf("%s -c %d -P %d, %d commands × %d", name, redisClients, pipeline, len(redisTests), redisN),
				total(want), fmt.Sprint(total(stats)), want, gotC, gotS,
				attributed(client, "redis-benchmark")+" / "+attributed(server, "redis-server"))
			w.checkAccounted(t, r, "redis", missing(want, gotC)+missing(want, gotS))
			w.checkTLS(t, r, "redis")
		},
	}
}

// redisCLI runs redis-cli on the server's unix socket (not observed).
func (w *world) redisCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-s", w.redisSock}, args...)...).CombinedOutput()
	require.NoError(t, err, "redis-cli %v: %s", args, out)
	return string(out)
}

// commandstats is INFO commandstats as calls by command (CONFIG|GET as CONFIG GET), without the
// commands this test sends over the unix socket (INFO, CONFIG RESETSTAT).
func (w *world) commandstats(t *testing.T) map[string]int {
	out := w.redisCLI(t, "INFO", "commandstats")
	stats := map[string]int{}
	for _, m := range regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+)`).FindAllStringSubmatch(out, -1) {
		cmd := strings.ToUpper(strings.ReplaceAll(m[1], "|", " "))
		if cmd == "INFO" || cmd == "CONFIG RESETSTAT" {
			continue
		}
		stats[cmd], _ = strconv.Atoi(m[2])
	}
	return stats
}

// pgbenchStatements is the built-in TPC-B-like script as the records name it: the script's
// text, literals and $n parameters normalised to ?, its trailing ';' kept.
var pgbenchStatements = []string{
	"BEGIN;",
	"UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;",
	"SELECT abalance FROM pgbench_accounts WHERE aid = ?;",
	"UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?;",
	"UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?;",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP);",
	"END;",
}

// pgbenchSetup is what pgbench 15 asks, as simple queries on a connection of its own, before the
// run: the scale, and whether pgbench_accounts is partitioned.
var pgbenchSetup = []string{
	"select count(*) from pgbench_branches",
	"select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c " +
		"join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral " +
		"(select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) " +
		"left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join " +
		"pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = ? and o.n is not null " +
		"group by ?, ? order by ? asc limit ?",
}

// pgbench: TPC-B-like, -c 4 -t 200, in one query mode. The client's truth: its report's
// transactions actually processed (no failed ones: with none, every transaction sent all seven
// statements once, no retries) and its debug log (-d), which names every statement it sends
// ("client N sending …", 7 per transaction) and, in prepared mode, every statement it prepares
// ("client N preparing …": a Parse/Sync exchange of its own, once per statement and connection,
// recorded as a call with the statement's text). The server's truth: pg_stat_statements (reset
// over the unix socket first), whose calls count executions, not prepares.
func (w *world) pgbench(mode string) load {
	n := w.net
	name := fmt.Sprintf("pgbench TPC-B -c %d -t %d -M %s", pgClients, pgTxns, mode)
	if w.tls {
		name += ", sslmode=require"
	}
	var out string
	return load{name: "pgbench-" + mode,
		traffic: func(t *testing.T) {
			w.psql(t, "SELECT pg_stat_statements_reset()")
			out = w.client(t, filepath.Join(w.pgBin, "pgbench"), "-h", n.ServerV4.String(), "-p", "5432", "-U", "postgres",
				"-n", "-M", mode, "-c", fmt.Sprint(pgClients), "-t", fmt.Sprint(pgTxns), "-d", "postgres")
		},
		check: func(t *testing.T, r *run) {
			txns := reportInt(t, out, `number of transactions actually processed: (\d+)/`)
			if m := regexp.MustCompile(`number of failed transactions: (\d+)`).FindStringSubmatch(out); m != nil {
				require.Equal(t, "0", m[1], "pgbench had failed transactions: its statement count is ambiguous")
			}
			sent := len(regexp.MustCompile(`client \d+ sending `).FindAllString(out, -1))
			prepared := len(regexp.MustCompile(`client \d+ preparing `).FindAllString(out, -1))
			require.Equal(t, len(pgbenchStatements)*txns, sent, "pgbench's debug log: seven statements sent per transaction")
			require.Zero(t, prepared%len(pgbenchStatements), "pgbench's debug log: each statement prepared as often as the others")

			want := map[string]int{}
			for _, s := range pgbenchSetup {
				want[s] = 1
			}
			for _, s := range pgbenchStatements {
				want[s] = txns + prepared/len(pgbenchStatements)
			}
			made := total(want)

			// pg_stat_statements: the seven statements, each executed once per transaction, and the two
			// setup queries.
			server := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(w.psql(t,
				"SELECT calls, query FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'")), "\n") {
				calls, query, _ := strings.Cut(line, "\t")
				c, _ := strconv.Atoi(calls)
				server[pgStatementOf(query)] += c
			}
			wantServer := map[string]int{"setup": 2}
			for _, s := range pgbenchStatements {
				wantServer[pgStatementOf(s)] = txns
			}
			if mode == "prepared" {
				// pg_stat_statements 15 counts BEGIN and END run as prepared statements once per
				// connection, not per execution: it is no witness for them.
				for _, k := range []string{"BEGIN", "END"} {
					delete(wantServer, k)
					delete(server, k)
				}
			}
			assert.Equal(t, wantServer, server, "pg_stat_statements agrees with pgbench's report")

			client := calls(r.recs, "pgsql", "client", n.ServerV4)
			srv := calls(r.recs, "pgsql", "server", n.ClientV4)
			sql := func(r record) string { return r["sql"] }
			gotC, gotS := count(client, sql), count(srv, sql)
			serverTruth := fmt.Sprintf("%d executions (pg_stat_statements) + %d prepares", total(server), prepared)
			if mode == "prepared" {
				serverTruth = fmt.Sprintf("%d executions but BEGIN/END (pg_stat_statements) + %d prepares", total(server), prepared)
			}
			w.checkSides(t, name, made, serverTruth, want, gotC, gotS,
				attributed(client, filepath.Join(w.pgBin, "pgbench"))+" / "+attributed(srv, ""))
			assert.Zero(t, emptySQL(client)+emptySQL(srv), "calls with an empty sql")
			w.checkAccounted(t, r, "pgsql", missing(want, gotC)+missing(want, gotS))
			w.checkTLS(t, r, "pgsql")
		},
	}
}

// pgStatementOf names a pg_stat_statements query (or one of the script's statements) by the
// script statement it is: its first three words; anything else is "setup".
func pgStatementOf(query string) string {
	f := strings.Fields(strings.TrimSuffix(query, ";"))
	if len(f) > 3 {
		f = f[:3]
	}
	key := strings.TrimSuffix(strings.Join(f, " "), ";")
	for _, s := range pgbenchStatements {
		sf := strings.Fields(strings.TrimSuffix(s, ";"))
		if len(sf) > 3 {
			sf = sf[:3]
		}
		if key == strings.Join(sf, " ") {
			return key
		}
	}
	return "setup"
}

// sysbenchArgs are oltp_read_write's options for this tier, with how to reach the server.
func sysbenchArgs(conn ...string) []string {
	return append([]string{"oltp_read_write", "--db-driver=mysql", "--mysql-db=sbtest", "--tables=1",
		"--table-size=10000"}, conn...)
}

// sbPrepared is how many statements oltp_read_write prepares per thread, by query type
// (oltp_read_write.lua's prepare_statements with the defaults: BEGIN and COMMIT; the point
// select and the four range selects; the index and non-index updates, the delete and the insert).
var sbPrepared = map[string]int{"read": 5, "write": 4, "other": 2}

// sysbenchType is sysbench's query type of a statement: read, write or other.
func sysbenchType(sql string) string {
	verb, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	switch strings.ToUpper(verb) {
	case "SELECT":
		return "read"
	case "INSERT", "UPDATE", "DELETE":
		return "write"
	case "BEGIN", "COMMIT":
		return "other"
	}
	return "unexpected: " + verb
}

// sysbench: oltp_read_write, 4 threads, 200 transactions, with server-side prepared statements
// (--db-ps-mode=auto) or without (disable). The client's truth: its report's queries performed by
// type (read, write, other) — the queries that succeeded — and its ignored errors: a query that
// failed with an error sysbench ignores (a deadlock, now and then) is counted there and not by
// type, and its transaction is run again, so each is one more call, failed (success 0), of a
// type the report does not say. With prepared statements each thread also prepares the
// statements (sbPrepared), each a call with the statement's text. No reconnects (their queries
// would be ambiguous). The server's truth: MariaDB's global status counters, before and after
// (over the unix socket): Com_select; Com_insert, Com_update and Com_delete; Com_begin and
// Com_commit (they count failed statements too); Com_stmt_prepare.
func (w *world) sysbench(ps string) load {
	n := w.net
	conn := []string{"--mysql-host=" + n.ServerV4.String(), "--mysql-port=3306", "--mysql-user=sb", "--mysql-password=sb"}
	name := "sysbench oltp_read_write"
	if w.tls {
		conn = append(conn, "--mysql-ssl=on")
		name += " --mysql-ssl=on"
	}
	var out string
	var before map[string]int
	return load{name: "sysbench-ps-" + ps,
		traffic: func(t *testing.T) {
			before = w.mariadbStatus(t)
			out = w.client(t, "sysbench", append(sysbenchArgs(append(conn, "--threads="+fmt.Sprint(sbThreads),
				"--events="+fmt.Sprint(sbEvents), "--time=0", "--db-ps-mode="+ps)...), "run")...)
		},
		check: func(t *testing.T, r *run) {
			after := w.mariadbStatus(t)
			ignored := reportInt(t, out, `ignored errors:\s+(\d+)`)
			require.Zero(t, reportInt(t, out, `reconnects:\s+(\d+)`), "sysbench reconnected: its query count is ambiguous")
			want := map[string]int{}
			for _, typ := range []string{"read", "write", "other"} {
				want[typ] = reportInt(t, out, typ+`:\s+(\d+)`)
			}
			if ignored > 0 {
				want["failed"] = ignored
			}
			made := total(want)
			prepares := 0
			if ps == "auto" {
				for typ, k := range sbPrepared {
					want[typ] += k * sbThreads
					prepares += k * sbThreads
				}
			}
			d := func(names ...string) int {
				s := 0
				for _, name := range names {
					s += after[name] - before[name]
				}
				return s
			}
			server := map[string]int{"read": d("Com_select"), "write": d("Com_insert", "Com_update", "Com_delete"),
				"other": d("Com_begin", "Com_commit")}
			serverWant := map[string]int{}
			for _, typ := range []string{"read", "write", "other"} {
				serverWant[typ] = reportInt(t, out, typ+`:\s+(\d+)`)
			}
			if ignored == 0 {
				assert.Equal(t, serverWant, server, "MariaDB's Com_* counters agree with sysbench's report")
			} else { // the failed statements' types are not known: only the totals compare
				assert.Equal(t, total(serverWant)+ignored, total(server), "MariaDB's Com_* counters agree with sysbench's report and ignored errors")
			}
			assert.Equal(t, prepares, d("Com_stmt_prepare"), "MariaDB's Com_stmt_prepare: the statements sysbench prepares")

			client := calls(r.recs, "mysql", "client", n.ServerV4)
			srv := calls(r.recs, "mysql", "server", n.ClientV4)
			typ := func(r record) string {
				if r["success"] != "1" {
					return "failed"
				}
				return sysbenchType(r["sql"])
			}
			gotC, gotS := count(client, typ), count(srv, typ)
			serverTruth := fmt.Sprintf("%d (Com_*) + %d prepares (Com_stmt_prepare)", total(server), d("Com_stmt_prepare"))
			w.checkSides(t, fmt.Sprintf("%s --threads=%d --events=%d --db-ps-mode=%s%s", name, sbThreads, sbEvents, ps,
				map[bool]string{true: fmt.Sprintf(" (%d deadlocks retried)", ignored)}[ignored > 0]),
				made+prepares, serverTruth, want, gotC, gotS, attributed(client, "sysbench")+" / "+attributed(srv, "mariadbd"))
			t.Logf("calls with an empty sql: client side %d, server side %d", emptySQL(client), emptySQL(srv))
			assert.Zero(t, emptySQL(client)+emptySQL(srv), "calls with an empty sql")
			w.checkAccounted(t, r, "mysql", missing(want, gotC)+missing(want, gotS))
			w.checkTLS(t, r, "mysql")
		},
	}
}

// emptySQL counts the calls of recs recorded without their statement.
func emptySQL(recs []record) int {
	return count(recs, func(r record) string { return r["sql"] })[""]
}

// mariadbStatus reads MariaDB's global status counters (over the unix socket: not observed).
func (w *world) mariadbStatus(t *testing.T) map[string]int {
	out := w.mariadb.SQL(t, w.net.Server, "SHOW GLOBAL STATUS WHERE Variable_name IN "+
		"('Com_select','Com_insert','Com_update','Com_delete','Com_begin','Com_commit','Com_stmt_prepare','Com_stmt_execute')")
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "\t")
		m[k], _ = strconv.Atoi(strings.TrimSpace(v))
	}
	return m
}

// reportInt reads one number from a client's report.
func reportInt(t *testing.T, out, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	require.NotNil(t, m, "%q not in the client's report:\n%s", pattern, out)
	v, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return v
}

// httpKey is an HTTP record's key: method, path and status.
func httpKey(r record) string { return r["method"] + " " + r["url"] + " " + r["resp_code"] }

// http: ab -k (HTTP/1.0 keep-alive) and wrk (HTTP/1.1), each on a 6-byte and a 20,000-byte page,
// each on paths of its own. The clients' truth: ab's "Complete requests" (with no failed ones);
// wrk's "requests in" (wrk runs for a time, and requests still in flight when it stops are not
// in its count: it never reads their responses, so they are no calls on its side either). The
// server's truth: nginx's access log, a line per request it answered — for wrk, those in flight
// at its end too, so the server side wants the log's count.
func (w *world) http(t *testing.T) {
	n := w.net
	srv := "http://" + n.ServerV4.String()
	type load struct {
		name, path string
		made       int
	}
	var loads []load
	logStart := fileSize(t, w.nginxLog)
	r := w.observe(t, defaultPages, func() {
		for _, path := range []string{"/ab/tiny", "/ab/big"} {
			out := w.client(t, "ab", "-k", "-n", fmt.Sprint(abN), "-c", fmt.Sprint(abC), srv+path)
			require.Zero(t, reportInt(t, out, `Failed requests:\s+(\d+)`), "ab: failed requests")
			loads = append(loads, load{fmt.Sprintf("ab -k -n %d -c %d, %s", abN, abC, pageName(path)), path,
				reportInt(t, out, `Complete requests:\s+(\d+)`)})
		}
		for _, path := range []string{"/wrk/tiny", "/wrk/big"} {
			out := w.client(t, "wrk", "-t", "1", "-c", "10", "-d", "1s", srv+path)
			require.NotContains(t, out, "Socket errors", "wrk: socket errors")
			loads = append(loads, load{"wrk -t 1 -c 10 -d 1s, " + pageName(path), path, reportInt(t, out, `(\d+) requests in`)})
		}
	})
	served := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(readFrom(t, w.nginxLog, logStart)), "\n") {
		uri, status, _ := strings.Cut(line, " ")
		served["GET "+uri+" "+status]++
	}
	client := calls(r.recs, "http", "client", n.ServerV4)
	server := calls(r.recs, "http", "server", n.ClientV4)
	gotC, gotS := count(client, httpKey), count(server, httpKey)
	missingCalls := 0
	for _, l := range loads {
		key := "GET " + l.path + " 200"
		want, wantServer := l.made, served[key]
		if strings.HasPrefix(l.path, "/ab/") {
			assert.Equal(t, want, wantServer, "%s: nginx's access log agrees with ab", l.name)
		} else {
			assert.GreaterOrEqual(t, wantServer, want, "%s: nginx answered every request wrk counted", l.name)
			assert.LessOrEqual(t, wantServer, want+10, "%s: at most one request per connection in flight when wrk stopped", l.name)
		}
		sub := func(recs []record) []record {
			var out []record
			for _, r := range recs {
				if r["url"] == l.path {
					out = append(out, r)
				}
			}
			return out
		}
		w.addRow(row{workload: l.name, made: want, serverTruth: fmt.Sprint(wantServer), client: gotC[key], server: gotS[key],
			attribution: attributed(sub(client), l.path[1:strings.LastIndexByte(l.path, '/')]) + " / " + attributed(sub(server), "nginx")})
		assert.Equal(t, want, gotC[key], "%s: client side", l.name)
		assert.Equal(t, wantServer, gotS[key], "%s: server side (want: nginx's access log)", l.name)
		missingCalls += max(0, want-gotC[key]) + max(0, wantServer-gotS[key])
		delete(gotC, key)
		delete(gotS, key)
	}
	assert.Empty(t, gotC, "client-side calls no client made")
	assert.Empty(t, gotS, "server-side calls no client made")
	w.checkAccounted(t, r, "http", missingCalls)
}

func pageName(path string) string {
	if strings.HasSuffix(path, "/big") {
		return fmt.Sprintf("%d-byte page", bigPage)
	}
	return "6-byte page"
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return st.Size()
}

// readFrom is the text of path from offset on.
func readFrom(t *testing.T, path string, offset int64) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b[offset:])
}

// dnsKey is a DNS record's key: name, type and whether the answer was NOERROR.
func dnsKey(r record) string { return r["query_record"] + " " + r["query_type"] + " " + r["success"] }

// dnsmasqQueries counts dnsmasq's "query[TYPE] NAME from IP" log lines from offset on, by name
// and type, for names under suffix.
func dnsmasqQueries(t *testing.T, path string, offset int64, suffix string) map[string]int {
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`query\[(\w+)\] (\S+) from `).FindAllStringSubmatch(readFrom(t, path, offset), -1) {
		if strings.HasSuffix(m[2], suffix) {
			out[m[2]+" "+m[1]]++
		}
	}
	return out
}

// dns: dnsperf -c 4 over a data file read once, and tools/udpresolver: 500 queries from one
// unconnected UDP socket, 32 in flight. The clients' truth: dnsperf's "Queries completed" (with
// none lost, every line of its data file was answered once) and udpresolver's per-name answered
// counts. The server's truth: dnsmasq's query log.
func (w *world) dns(t *testing.T) {
	n := w.net
	data := filepath.Join(t.TempDir(), "queries")
	var lines []string
	wantPerf := map[string]int{}
	for i := range dnsperfN {
		q := [...]string{"v4.perf.acc.test A", "v4.perf.acc.test A", "v6.perf.acc.test AAAA", "nx.perf.acc.test A"}[i%4]
		lines = append(lines, q)
		wantPerf[q+map[bool]string{true: " 0", false: " 1"}[strings.HasPrefix(q, "nx.")]]++
	}
	require.NoError(t, os.WriteFile(data, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	sockPlan := []string{"v4.sock.acc.test/A=250", "v6.sock.acc.test/AAAA=150", "nx.sock.acc.test/A=100"}

	logStart := fileSize(t, w.dnsLog)
	var perfOut, sockOut string
	r := w.observe(t, defaultPages, func() {
		perfOut = w.client(t, "dnsperf", "-s", n.ServerV4.String(), "-d", data, "-c", "4", "-n", "1", "-t", "5")
		sockOut = w.client(t, w.resolver, append([]string{"-server", n.ServerV4.String() + ":53", "-window", "32"}, sockPlan...)...)
	})
	require.Equal(t, dnsperfN, reportInt(t, perfOut, `Queries completed:\s+(\d+)`), "dnsperf: every query answered")
	require.Zero(t, reportInt(t, perfOut, `Queries lost:\s+(\d+)`), "dnsperf lost queries: which ones is not known")
	wantSock := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^(\S+) (\S+) sent \d+ answered (\d+) rcode (\d+)$`).FindAllStringSubmatch(sockOut, -1) {
		c, _ := strconv.Atoi(m[3])
		wantSock[m[1]+" "+m[2]+" "+map[bool]string{true: "1", false: "0"}[m[4] == "0"]] = c
	}
	require.Len(t, wantSock, len(sockPlan), "udpresolver's report:\n%s", sockOut)

	client := calls(r.recs, "dns", "client", n.ServerV4)
	server := calls(r.recs, "dns", "server", n.ClientV4)
	missingCalls := 0
	for _, l := range []struct {
		name, suffix, cmd string
		want              map[string]int
	}{
		{"dnsperf -c 4, 2000 queries", ".perf.acc.test", "dnsperf", wantPerf},
		{"one unconnected UDP socket (tools/udpresolver), 500 queries, 32 in flight", ".sock.acc.test", w.resolver, wantSock},
	} {
		sub := func(recs []record) []record {
			var out []record
			for _, r := range recs {
				if strings.HasSuffix(r["query_record"], l.suffix) {
					out = append(out, r)
				}
			}
			return out
		}
		logged := dnsmasqQueries(t, w.dnsLog, logStart, l.suffix)
		wantLogged := map[string]int{}
		for k, v := range l.want {
			f := strings.Fields(k)
			wantLogged[f[0]+" "+f[1]] += v
		}
		assert.Equal(t, wantLogged, logged, "%s: dnsmasq's query log agrees with the client", l.name)
		gotC, gotS := count(sub(client), dnsKey), count(sub(server), dnsKey)
		w.checkSides(t, l.name, total(l.want), fmt.Sprint(total(logged)), l.want, gotC, gotS,
			strings.ReplaceAll(attributed(sub(client), l.cmd), w.resolver, "udpresolver")+" / "+attributed(sub(server), "dnsmasq"))
		missingCalls += missing(l.want, gotC) + missing(l.want, gotS)
	}
	w.checkAccounted(t, r, "dns", missingCalls)
}

// shortLived: one process per call — 50 curl, 50 redis-cli, 20 psql -c, 40 dig over UDP and 20
// over TCP, 10 mariadb -e — four at a time. Each client makes exactly one call (curl one GET,
// redis-cli its one command, psql -c and mariadb -e their one statement and nothing else in batch
// mode, dig one query), so the truth is the number of processes that exited 0. Every call must
// carry its process's command as iLogtail derived it: the first word of its command line (the
// PostgreSQL programs are started by their full path, so that is their command).
func (w *world) shortLived(t *testing.T) {
	n := w.net
	srv := n.ServerV4.String()
	psql := filepath.Join(w.pgBin, "psql")
	type kind struct {
		name, protocol, cmd, serverCmd, key string
		procs                               int
		args                                []string
	}
	kinds := []kind{
		{"curl", "http", "curl", "nginx", "GET /curl/tiny 200", 50, []string{"curl", "-sS", "-o", "/dev/null", "http://" + srv + "/curl/tiny"}},
		{"redis-cli", "redis", "redis-cli", "redis-server", "INCR", 50, []string{"redis-cli", "-h", srv, "-p", "6379", "INCR", "acc:short"}},
		{"psql -c", "pgsql", psql, "", "SELECT ?", 20, []string{psql, "-X", "-h", srv, "-U", "postgres", "-d", "postgres", "-c", "SELECT 1"}},
		{"dig (UDP)", "dns", "dig", "dnsmasq", "v4.dig.acc.test A 1", 40, []string{"dig", "@" + srv, "+tries=1", "+time=3", "v4.dig.acc.test", "A"}},
		{"dig +tcp", "dns", "dig", "dnsmasq", "v6.dig.acc.test AAAA 1", 20, []string{"dig", "@" + srv, "+tcp", "+tries=1", "+time=3", "v6.dig.acc.test", "AAAA"}},
		{"mariadb -e", "mysql", "mariadb", "mariadbd", "SELECT ?", 10, []string{"mariadb", "--no-defaults", "-h", srv, "-P", "3306", "-u", "sb", "-psb", "-e", "SELECT 1"}},
	}
	keys := map[string]func(record) string{"http": httpKey, "redis": redisKey, "dns": dnsKey,
		"pgsql": func(r record) string { return r["sql"] }, "mysql": func(r record) string { return r["sql"] }}
	failures := make([]int, len(kinds))
	r := w.observe(t, defaultPages, func() {
		for i, k := range kinds {
			var wg sync.WaitGroup
			var mu sync.Mutex
			next := 0
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						mu.Lock()
						if next == k.procs {
							mu.Unlock()
							return
						}
						next++
						mu.Unlock()
						if out, err := w.clientErr(k.args[0], k.args[1:]...); err != nil {
							t.Errorf("%s: %v\n%s", k.name, err, out)
							mu.Lock()
							failures[i]++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
		}
	})
	missingCalls := map[string]int{}
	for i, k := range kinds {
		want := map[string]int{k.key: k.procs - failures[i]}
		key := keys[k.protocol]
		keep := func(recs []record) []record {
			var out []record
			for _, r := range recs {
				if key(r) == k.key {
					out = append(out, r)
				}
			}
			return out
		}
		client := keep(calls(r.recs, k.protocol, "client", n.ServerV4))
		server := keep(calls(r.recs, k.protocol, "server", n.ClientV4))
		gotC, gotS := count(client, key), count(server, key)
		attrC, attrS := attributed(client, k.cmd), attributed(server, k.serverCmd)
		w.checkSides(t, fmt.Sprintf("%d × %s (one process per call)", k.procs, k.name), k.procs-failures[i], "", want, gotC, gotS, attrC+" / "+attrS)
		assert.Empty(t, misnamed(client, func(cmd string) bool { return cmd == k.cmd }),
			"%s: client calls whose _process_cmd_ is not %q, by pid", k.name, k.cmd)
		assert.Empty(t, misnamed(server, func(cmd string) bool {
			if k.serverCmd == "" { // postgres backends: the postmaster's command or their title
				return strings.Contains(cmd, "postgres")
			}
			return cmd == k.serverCmd
		}), "%s: server calls whose _process_cmd_ is not %q, by pid", k.name, k.serverCmd)
		missingCalls[k.protocol] += missing(want, gotC) + missing(want, gotS)
	}
	for _, p := range []string{"http", "redis", "pgsql", "dns", "mysql"} {
		w.checkAccounted(t, r, p, missingCalls[p])
	}
}

// misnamed lists, by pid, the _process_cmd_ of the records whose command is not ok.
func misnamed(recs []record, ok func(string) bool) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if !ok(r["_process_cmd_"]) {
			out[r["_process_pid_"]] = r["_process_cmd_"]
		}
	}
	return out
}

// kernelLoss forces kernel loss: a 64-page data buffer per CPU (iLogtail's is 512), and the
// observer stopped (SIGSTOP) three times for 150 ms while redis-benchmark -c 10 -P 1 runs SET and
// GET, so that the buffers fill and drop events whatever the machine's speed. (A stop must be
// long on its own: the poller is woken as soon as a ring is a quarter full, so the sleep before a
// stop no longer adds to it, and the stops come 50 ms apart: the benchmark takes ≈ 0.3 s.) Every data event of
// that workload holds exactly one message — one command per write and per read on both ends, one
// reply likewise — except the single write of the two CONFIG GET, left out of the count. So a
// lost data event can take at most one call from one side: the calls missing from both sides
// together must be no more than the data events lost (the stop line's lost_data, which counts
// every process's lost events: the bound only loosens). Control events keep their default
// buffer; one lost would void the bound (a lost connect can take a connection's calls), so none
// may be.
func (w *world) kernelLoss(t *testing.T) {
	const pages, n = 64, 5000
	net := w.net
	r := w.observeWith(t, pages, func(obs *testenv.Observer) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 3 {
				time.Sleep(50 * time.Millisecond)
				obs.Cmd.Process.Signal(syscall.SIGSTOP)
				time.Sleep(150 * time.Millisecond)
				obs.Cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		defer func() { <-done }()
		w.client(t, "redis-benchmark", "-h", net.ServerV4.String(), "-p", "6379", "-c", fmt.Sprint(redisClients),
			"-n", fmt.Sprint(n), "-P", "1", "-t", "set,get", "-q")
	})
	want := map[string]int{"SET": n, "GET": n}
	client := calls(r.recs, "redis", "client", net.ServerV4)
	server := calls(r.recs, "redis", "server", net.ClientV4)
	gotC, gotS := count(client, redisKey), count(server, redisKey)
	delete(gotC, "CONFIG GET")
	delete(gotS, "CONFIG GET")
	miss := missing(want, gotC) + missing(want, gotS)
	w.addRow(row{workload: fmt.Sprintf("redis-benchmark -c %d -P 1 set,get × %d, %d-page data buffer, observer stopped 3 × 150 ms: %d data events lost", redisClients, n, pages, r.lost["data"]),
		made: total(want), serverTruth: "", client: total(gotC), server: total(gotS),
		attribution: fmt.Sprintf("calls missing %d ≤ lost data events %d?", miss, r.lost["data"])})
	t.Logf("%d-page data buffer: lost_ctrl=%d lost_data=%d; calls missing: client %d, server %d", pages, r.lost["ctrl"], r.lost["data"],
		missing(want, gotC), missing(want, gotS))
	require.Positive(t, r.lost["data"], "no data event lost: the test forced no loss")
	require.Zero(t, r.lost["ctrl"], "control events were lost: a lost connect can take a whole connection's calls, the bound does not apply")
	assert.LessOrEqual(t, miss, r.lost["data"], "calls missing (both sides) ≤ data events lost: each event of this workload holds one message")
	for k := range gotC {
		assert.Contains(t, want, k, "client side: a call no client made")
	}
	for k := range gotS {
		assert.Contains(t, want, k, "server side: a call no client made")
	}
}
