//go:build e2e

package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var httpFields = []string{"protocol", "version", "host", "method", "url", "resp_code", "role", "remote_info"}

// httpRequest is the request curl sends: curl 7.88's exact headers with -A e2e.
func httpRequest(host, path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: e2e\r\nAccept: */*\r\n\r\n"
}

func checkHTTP(t *testing.T, w *world) {
	n := w.net
	srv4, srv6 := n.ServerV4.String(), "["+n.ServerV6.String()+"]"
	curl4, curl6 := w.clients["curl-v4"], w.clients["curl-v6"]

	var want4, wantServer []call
	reqBytes4 := 0
	for _, r := range httpV4 {
		url, _, _ := strings.Cut(r.path, "?")
		code := "200"
		if url == "/404" {
			code = "404"
		}
		f := []string{"protocol", "http", "version", "1", "host", srv4, "method", "GET", "url", url, "resp_code", code}
		want4 = append(want4, call{slices.Concat(f, []string{"role", "client", "remote_info", remote(n.ServerV4, 80, "server")}), r.count})
		wantServer = append(wantServer, call{slices.Concat(f, []string{"role", "server", "remote_info", remote(n.ClientV4, 0, "")}), r.count})
		reqBytes4 += r.count * len(httpRequest(srv4, r.path))
	}
	f6 := []string{"protocol", "http", "version", "1", "host", srv6, "method", "GET", "url", httpV6Path, "resp_code", "200"}
	want6 := []call{{slices.Concat(f6, []string{"role", "client", "remote_info", remote(n.ServerV6, 80, "server")}), httpV6Count}}
	wantServer = append(wantServer, call{slices.Concat(f6, []string{"role", "server", "remote_info", remote(n.ClientV6, 0, "")}), httpV6Count})

	client4 := where(w.recs, "protocols", ofPid(curl4))
	client6 := where(w.recs, "protocols", ofPid(curl6))
	assert.Equal(t, expect(want4, httpFields...), summaries(client4, httpFields...), "curl over IPv4")
	assert.Equal(t, expect(want6, httpFields...), summaries(client6, httpFields...), "curl over IPv6")
	assert.Equal(t, reqBytes4, sum(client4, "total_req_bytes"), "the requests' exact bytes")
	assert.Equal(t, httpV6Count*len(httpRequest(srv6, httpV6Path)), sum(client6, "total_req_bytes"))

	// nginx (master_process off: one process) saw the same calls from the client's addresses.
	server := where(w.recs, "protocols", ofPid(w.nginx))
	assert.Equal(t, expect(wantServer, httpFields...), summaries(server, httpFields...), "nginx")
	for _, r := range server {
		assert.Equal(t, "nginx", r["_process_cmd_"])
	}
	assert.Equal(t, sum(client4, "total_req_bytes")+sum(client6, "total_req_bytes"), sum(server, "total_req_bytes"), "both ends count the same request bytes")
	assert.Equal(t, sum(client4, "total_resp_bytes")+sum(client6, "total_resp_bytes"), sum(server, "total_resp_bytes"), "both ends count the same response bytes")

	// Statistics: curl writes each request with one send (14 packets) and receives nothing but
	// the responses; nginx writes each response with one writev.
	calls4 := 0
	for _, r := range httpV4 {
		calls4 += r.count
	}
	respBytes4 := sum(client4, "total_resp_bytes")
	checkStats(t, where(w.recs, "statistics", ofPid(curl4)), "client", remote(n.ServerV4, 80, "server"),
		reqBytes4, respBytes4, calls4, -1)
	checkStats(t, where(w.recs, "statistics", ofPid(curl6)), "client", remote(n.ServerV6, 80, "server"),
		sum(client6, "total_req_bytes"), sum(client6, "total_resp_bytes"), httpV6Count, -1)
	// nginx reads each request with one recv (curl sends the next only after the response; the
	// zero-byte read at the end is no packet) and answers with one writev.
	nginxStats := where(w.recs, "statistics", ofPid(w.nginx))
	checkStats(t, where(nginxStats, "statistics", byRemote(n.ClientV4)), "server", remote(n.ClientV4, 0, ""),
		respBytes4, reqBytes4, calls4, calls4)
	checkStats(t, where(nginxStats, "statistics", byRemote(n.ClientV6)), "server", remote(n.ClientV6, 0, ""),
		sum(client6, "total_resp_bytes"), sum(client6, "total_req_bytes"), httpV6Count, httpV6Count)
}

// byRemote keeps the records whose remote is addr.
func byRemote(addr netip.Addr) func(record) bool {
	return func(r record) bool { return strings.Contains(r["remote_info"], `"remote_ip":"`+addr.String()+`"`) }
}

var redisFields = []string{"protocol", "cmd", "success", "role", "remote_info"}

func checkRedis(t *testing.T, w *world) {
	n := w.net
	bench := w.clients["redis-benchmark"]
	cli := w.clients["redis-cli"]
	toServer := remote(n.ServerV4, 6379, "database")
	// redis-benchmark 7.0 first reads the server's "save" and "appendonly" settings (it prints
	// them) with two CONFIG GET written together on a connection of their own; then each test
	// (-t set,get) runs -n requests, one at a time with -c 1, on a new connection. Exact RESP sizes:
	// CONFIG GET save 35 + appendonly 42 bytes, replies 20 + 29; SET key:__rand_int__ xxx 45,
	// +OK 5; GET key:__rand_int__ 36, $3 xxx 9.
	wantBench := []call{
		{[]string{"protocol", "redis", "cmd", "CONFIG GET", "success", "1", "role", "client", "remote_info", toServer}, 2},
		{[]string{"protocol", "redis", "cmd", "SET", "success", "1", "role", "client", "remote_info", toServer}, redisN},
		{[]string{"protocol", "redis", "cmd", "GET", "success", "1", "role", "client", "remote_info", toServer}, redisN},
	}
	client := where(w.recs, "protocols", ofPid(bench))
	assert.Equal(t, expect(wantBench, redisFields...), summaries(client, redisFields...), "redis-benchmark")
	reqBytes, respBytes := 35+42+45*redisN+36*redisN, 20+29+5*redisN+9*redisN
	assert.Equal(t, reqBytes, sum(client, "total_req_bytes"))
	assert.Equal(t, respBytes, sum(client, "total_resp_bytes"))

	// redis-cli with a command sends only that command: the error reply makes success 0.
	wantCli := []call{{[]string{"protocol", "redis", "cmd", "HGET", "success", "0", "role", "client", "remote_info", toServer}, 1}}
	assert.Equal(t, expect(wantCli, redisFields...), summaries(where(w.recs, "protocols", ofPid(cli)), redisFields...), "redis-cli")
	// redis-cli 7.0 opens a first connection and closes it without a byte (a `netobserver record`
	// trace shows connect, then close wr=0 rd=0, on fd 3), then the one that carries the command;
	// it exits without closing that one. Both aggregate into one statistics record: the 44-byte
	// HGET in one send, the 68-byte WRONGTYPE error in one recv.
	checkStats(t, where(w.recs, "statistics", ofPid(cli)), "client", remote(n.ServerV4, 6379, "server"), 44, 68, 1, 1)

	fromCli := remote(n.ClientV4, 0, "")
	wantServer := []call{
		{[]string{"protocol", "redis", "cmd", "CONFIG GET", "success", "1", "role", "server", "remote_info", fromCli}, 2},
		{[]string{"protocol", "redis", "cmd", "SET", "success", "1", "role", "server", "remote_info", fromCli}, redisN},
		{[]string{"protocol", "redis", "cmd", "GET", "success", "1", "role", "server", "remote_info", fromCli}, redisN},
		{[]string{"protocol", "redis", "cmd", "HGET", "success", "0", "role", "server", "remote_info", fromCli}, 1},
	}
	server := where(w.recs, "protocols", ofPid(w.redis))
	assert.Equal(t, expect(wantServer, redisFields...), summaries(server, redisFields...), "redis-server")
	for _, r := range server {
		assert.Equal(t, "redis-server", r["_process_cmd_"])
	}

	// One write per request (the two CONFIG GET in one), one read per reply and the server's
	// mirror image: every count is known.
	writes := 1 + 2*redisN
	checkStats(t, where(w.recs, "statistics", ofPid(bench)), "client", remote(n.ServerV4, 6379, "server"),
		reqBytes, respBytes, writes, writes)
	// redis-server closes every connection when its client goes, so its side is complete: both
	// clients' bytes, one read per request and one write per reply (redis-cli's included).
	checkStats(t, where(w.recs, "statistics", ofPid(w.redis)), "server", remote(n.ClientV4, 0, ""),
		respBytes+68, reqBytes+44, writes+1, writes+1)
}

var sqlFields = []string{"protocol", "sql", "success", "role", "remote_info"}

// pgbenchCalls is what one pgbench run sends, normalised, with its counts. Before the run, on a
// connection of its own, pgbench 15 reads the scale (select count(*) from pgbench_branches) and
// whether pgbench_accounts is partitioned (the catalog query below, its literals 'pgbench_accounts',
// 1, 2, 1, 1 normalised); both are simple queries in either mode. Then each transaction of the
// built-in TPC-B-like script sends seven statements, the script's text with its trailing ';': in
// simple mode with the values inlined (normalised to ?), in extended mode as unnamed statements
// with $1… parameters (also ?).
func pgbenchCalls(role, remoteInfo string, runs int) []call {
	c := func(sql string, count int) call {
		return call{[]string{"protocol", "pgsql", "sql", sql, "success", "1", "role", role, "remote_info", remoteInfo}, count}
	}
	return []call{
		c("select count(*) from pgbench_branches", runs),
		c("select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c "+
			"join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral "+
			"(select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) "+
			"left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join "+
			"pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = ? and o.n is not null "+
			"group by ?, ? order by ? asc limit ?", runs),
		c("BEGIN;", runs*pgbenchT),
		c("UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;", runs*pgbenchT),
		c("SELECT abalance FROM pgbench_accounts WHERE aid = ?;", runs*pgbenchT),
		c("UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?;", runs*pgbenchT),
		c("UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?;", runs*pgbenchT),
		c("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP);", runs*pgbenchT),
		c("END;", runs*pgbenchT),
	}
}

func checkPgSQL(t *testing.T, w *world) {
	n := w.net
	var clients []record
	for _, mode := range []string{"simple", "extended"} {
		pgbench := w.clients["pgbench-"+mode]
		got := where(w.recs, "protocols", ofPid(pgbench))
		assert.Equal(t, expect(pgbenchCalls("client", remote(n.ServerV4, 5432, "database"), 1), sqlFields...),
			summaries(got, sqlFields...), "pgbench -M %s", mode)
		clients = append(clients, got...)
		// Two connections (the setup one, then the benchmark's), each closed by pgbench: its
		// statistics are complete. pgbench writes, per connection, libpq's SSLRequest (answered
		// 'N'), the StartupMessage and Terminate, and one write per query — in extended mode too:
		// Parse/Bind/Describe/Execute/Sync go out together. What it reads is not exactly known:
		// the server flushes AuthenticationOk before the rest of the startup answer, which may
		// arrive in one read or two. Every byte is a query or a response but for the startup
		// exchange, so the byte totals exceed the calls'.
		sends := 2*3 + 2 + 7*pgbenchT
		st := checkStats(t, where(w.recs, "statistics", ofPid(pgbench)), "client", remote(n.ServerV4, 5432, "server"), -1, -1, sends, -1)
		if st != nil {
			assert.Greater(t, sum([]record{st}, "send_bytes"), sum(got, "total_req_bytes"))
			assert.Greater(t, sum([]record{st}, "recv_bytes"), sum(got, "total_resp_bytes"))
		}
	}

	// The server side: postgres forks one backend per connection, so the calls are spread over
	// four backend pids (two connections per run); aggregated they are both runs' calls, byte for
	// byte what the clients counted.
	server := where(w.recs, "protocols", fromClient("pgsql", n.ClientV4))
	pids := map[string]bool{}
	for _, r := range server {
		pids[r["_process_pid_"]] = true
	}
	assert.Len(t, pids, 4, "one backend per connection")
	want := map[string][3]int{}
	for _, c := range pgbenchCalls("server", remote(n.ClientV4, 0, ""), 2) {
		r := record{"total_count": fmt.Sprint(c.count)}
		for i := 0; i+1 < len(c.fields); i += 2 {
			r[c.fields[i]] = c.fields[i+1]
		}
		k := summary(r, sqlFields...)
		k = k[:strings.LastIndex(k, " count=")]
		v := [3]int{c.count}
		// The clients' byte totals for the same statement (role and remote differ).
		for _, cr := range clients {
			if cr["sql"] == r["sql"] {
				v[1] += sum([]record{cr}, "total_req_bytes")
				v[2] += sum([]record{cr}, "total_resp_bytes")
			}
		}
		want[k] = v
	}
	assert.Equal(t, want, byKey(server, sqlFields...), "postgres backends, aggregated: [count, req bytes, resp bytes]")

	// Statistics on the server side. The postmaster accepts each connection and closes its copy
	// once the backend it forked has it: four connections without a byte, one record of zeros.
	checkStats(t, where(w.recs, "statistics", ofPid(w.pg.Cmd)), "server", remote(n.ClientV4, 0, ""), 0, 0, 0, 0)
	// Each backend served one connection and ends with it, exiting without close(): one record
	// per backend, and together they mirror the two pgbench clients byte for byte.
	backends := where(w.recs, "statistics", func(r record) bool {
		return pids[r["_process_pid_"]] && byRemote(n.ClientV4)(r)
	})
	assert.Len(t, backends, 4, "a statistics record per backend")
	var pgClients []record
	for _, mode := range []string{"simple", "extended"} {
		pgClients = append(pgClients, where(w.recs, "statistics", ofPid(w.clients["pgbench-"+mode]))...)
	}
	assert.Equal(t, sum(pgClients, "send_bytes"), sum(backends, "recv_bytes"), "backends received what the clients sent")
	assert.Equal(t, sum(pgClients, "recv_bytes"), sum(backends, "send_bytes"), "backends sent what the clients received")
}

func checkMySQL(t *testing.T, w *world) {
	n := w.net
	c := func(role, remoteInfo, sql, success string, count int) call {
		return call{[]string{"protocol", "mysql", "sql", sql, "success", success, "role", role, "remote_info", remoteInfo}, count}
	}
	// In batch mode (statements on a stdin that is not a terminal) the mariadb client sends no
	// query of its own — no `select @@version_comment limit 1` (interactive only), no SET NAMES
	// (the charset travels in the handshake response), no USE (the database too): only the
	// handshake response, the statements, and COM_QUIT — its 8 writes below say so. A multi-row VALUES list and an IN list each normalise to one (?).
	calls := func(role, remoteInfo string) []call {
		return []call{
			c(role, remoteInfo, "INSERT INTO items VALUES (?, ?)", "1", 1),
			c(role, remoteInfo, "SELECT name FROM items WHERE id IN (?)", "1", 1),
			c(role, remoteInfo, "SELECT name FROM items WHERE id = ?", "1", 2),
			c(role, remoteInfo, "SELECT * FROM nope", "0", 1),
			c(role, remoteInfo, "SELEC ?", "0", 1),
		}
	}
	mariadb := w.clients["mariadb"]
	client := where(w.recs, "protocols", ofPid(mariadb))
	assert.Equal(t, expect(calls("client", remote(n.ServerV4, 3306, "database")), sqlFields...),
		summaries(client, sqlFields...), "mariadb client")
	reqBytes := 0
	for _, s := range mysqlStatements {
		reqBytes += 4 + 1 + len(s) // packet header, COM_QUERY, the text
	}
	assert.Equal(t, reqBytes, sum(client, "total_req_bytes"), "COM_QUERY packets, exact")

	server := where(w.recs, "protocols", ofPid(w.mariadb.Cmd))
	assert.Equal(t, expect(calls("server", remote(n.ClientV4, 0, "")), sqlFields...),
		summaries(server, sqlFields...), "mariadbd")
	for _, r := range server {
		assert.Equal(t, "mariadbd", r["_process_cmd_"])
	}
	assert.Equal(t, sum(client, "total_resp_bytes"), sum(server, "total_resp_bytes"))

	// The client writes the handshake response, one COM_QUERY per statement and COM_QUIT, and
	// reads the greeting, the authentication OK and one response per statement.
	packets := 1 + len(mysqlStatements) + 1
	st := checkStats(t, where(w.recs, "statistics", ofPid(mariadb)), "client", remote(n.ServerV4, 3306, "server"),
		-1, -1, packets, packets)
	// mariadbd reads each packet in two recvs, the 4-byte header and then the payload.
	srv := checkStats(t, where(w.recs, "statistics", ofPid(w.mariadb.Cmd)), "server", remote(n.ClientV4, 0, ""),
		-1, -1, packets, 2*packets)
	if st != nil && srv != nil {
		assert.Equal(t, st["send_bytes"], srv["recv_bytes"], "both ends count the same bytes")
		assert.Equal(t, st["recv_bytes"], srv["send_bytes"], "both ends count the same bytes")
	}
}

var dnsFields = []string{"protocol", "query_record", "query_type", "success", "role", "remote_info"}

func checkDNS(t *testing.T, w *world) {
	n := w.net
	// v4.e2e.test is the DNS server's own address, so a dig that asks for it learns the name of
	// the server it talks to: its records carry remote_host (iLogtail's rule: a DNS answer seen by
	// the same process named that IP). v6.e2e.test names another address; NXDOMAIN names none.
	c := func(host, name, qtype, success string) []call {
		return []call{{[]string{"protocol", "dns", "query_record", name, "query_type", qtype, "success", success,
			"role", "client", "remote_info", remoteHost(host, n.ServerV4, 53, "dns")}, 1}}
	}
	for _, d := range []struct {
		client string
		host   string
		want   []call
		tcp    bool
	}{
		{"dig-a", "v4.e2e.test", c("v4.e2e.test", "v4.e2e.test", "A", "1"), false},
		{"dig-aaaa", "", c("", "v6.e2e.test", "AAAA", "1"), false},
		{"dig-nxdomain", "", c("", "missing.e2e.test", "A", "0"), false},
		{"dig-tcp", "v4.e2e.test", c("v4.e2e.test", "v4.e2e.test", "A", "1"), true},
	} {
		dig := w.clients[d.client]
		require.NotNil(t, dig, d.client)
		got := where(w.recs, "protocols", ofPid(dig))
		assert.Equal(t, expect(d.want, dnsFields...), summaries(got, dnsFields...), d.client)
		// One query sent, one answer read, in one syscall each (over TCP too: dig writes the
		// length prefix and the message with one sendmsg, and reads them with one recv). Over
		// UDP the datagrams are the calls' bytes exactly.
		sendBytes, recvBytes := -1, -1
		if !d.tcp {
			sendBytes, recvBytes = sum(got, "total_req_bytes"), sum(got, "total_resp_bytes")
		}
		checkStats(t, where(w.recs, "statistics", ofPid(dig)), "client", remoteHost(d.host, n.ServerV4, 53, "server"),
			sendBytes, recvBytes, 1, 1)
	}

	// dnsmasq answers UDP on one unconnected socket and TCP on an accepted one, in its own
	// process (--no-daemon: no fork per TCP connection).
	fromCli := remote(n.ClientV4, 0, "")
	s := func(name, qtype, success string, count int) call {
		return call{[]string{"protocol", "dns", "query_record", name, "query_type", qtype, "success", success,
			"role", "server", "remote_info", fromCli}, count}
	}
	wantServer := []call{s("v4.e2e.test", "A", "1", 2), s("v6.e2e.test", "AAAA", "1", 1), s("missing.e2e.test", "A", "0", 1)}
	assert.Equal(t, expect(wantServer, dnsFields...), summaries(where(w.recs, "protocols", ofPid(w.dnsmasq)), dnsFields...), "dnsmasq")
}

// checkLatency: every call of the test network took time, and the percentiles, read from the
// histogram, are ordered and no larger than the calls' total (no call is longer than all of them
// together; 3% for the histogram's buckets, which are 5% wide).
func checkLatency(t *testing.T, w *world) {
	recs := where(w.recs, "protocols", func(r record) bool {
		return byRemote(w.net.ServerV4)(r) || byRemote(w.net.ServerV6)(r) ||
			byRemote(w.net.ClientV4)(r) || byRemote(w.net.ClientV6)(r)
	})
	require.NotEmpty(t, recs)
	for _, r := range recs {
		total := sum([]record{r}, "total_latency_ns")
		p50, p90, p99 := sum([]record{r}, "p50_latency_ns"), sum([]record{r}, "p90_latency_ns"), sum([]record{r}, "p99_latency_ns")
		if assert.Positive(t, total, show(r)) {
			assert.True(t, 0 < p50 && p50 <= p90 && p90 <= p99, "p50 %d p90 %d p99 %d: %s", p50, p90, p99, show(r))
			assert.LessOrEqual(t, float64(p99), 1.03*float64(total), show(r))
		}
	}
}
