//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// The HTTP plan: one curl process, one keep-alive connection, requests in this order.
var httpV4 = []struct {
	path  string // as requested: the query string must be cut from the record's url
	count int
}{
	{"/e2e/items?id=1&token=secret", 10},
	{"/e2e/cart?session=abc", 3},
	{"/404?from=e2e", 1},
}

const httpV6Path, httpV6Count = "/e2e/v6", 2

// The MySQL plan: the mariadb client in batch mode, the statements on its standard input, with
// --force so that it carries on after the failing ones (and then exits 0). Not -e: with -e the
// client stops at the first error even with --force (mariadb 10.11).
var mysqlStatements = []string{
	"INSERT INTO items VALUES (1, 'one'), (2, 'two')",
	"SELECT name FROM items WHERE id IN (1, 2, 3)",
	"SELECT name FROM items WHERE id = 2",
	"SELECT * FROM nope", // ERROR 1146: unknown table
	"SELEC 1",            // ERROR 1064: syntax
	"SELECT name FROM items WHERE id = 1",
}

// drive runs the known traffic, one client after the other, from the client namespace.
func drive(t *testing.T, w *world) {
	n := w.net
	srv4 := n.ServerV4.String()

	args := []string{"curl", "-sS", "-A", "e2e"}
	for _, r := range httpV4 {
		for range r.count {
			args = append(args, "http://"+srv4+r.path)
		}
	}
	w.client(t, "curl-v4", true, args...)
	args = []string{"curl", "-sS", "-g", "-A", "e2e"}
	for range httpV6Count {
		args = append(args, fmt.Sprintf("http://[%s]%s", n.ServerV6, httpV6Path))
	}
	w.client(t, "curl-v6", true, args...)

	w.client(t, "redis-benchmark", true, "redis-benchmark", "-h", srv4, "-p", "6379",
		"-n", fmt.Sprint(redisN), "-c", "1", "-t", "set,get", "-q")
	// key:__rand_int__ holds the string redis-benchmark SET: HGET on it is a WRONGTYPE error.
	out := w.client(t, "redis-cli", true, "redis-cli", "-h", srv4, "HGET", "key:__rand_int__", "f")
	if !strings.Contains(out, "WRONGTYPE") {
		t.Fatalf("redis-cli HGET: want a WRONGTYPE error, got %q", out)
	}

	for _, mode := range []string{"simple", "extended"} {
		// -n: no vacuum before the run (pgbench would send VACUUM and TRUNCATE statements).
		w.client(t, "pgbench-"+mode, true, "pgbench", "-h", srv4, "-p", "5432", "-U", "postgres",
			"-n", "-M", mode, "-t", fmt.Sprint(pgbenchT), "-c", "1", "postgres")
	}

	w.clientStdin(t, "mariadb", strings.Join(mysqlStatements, ";\n")+";\n", "mariadb", "--no-defaults",
		"-h", srv4, "-P", "3306", "-u", "e2e", "-pe2e", "--force", "e2e")

	dig := func(name string, extra ...string) {
		w.client(t, name, true, append([]string{"dig", "@" + srv4, "+tries=1", "+time=3"}, extra...)...)
	}
	dig("dig-a", "v4.e2e.test", "A")
	dig("dig-aaaa", "v6.e2e.test", "AAAA")
	dig("dig-nxdomain", "missing.e2e.test", "A")
	dig("dig-tcp", "+tcp", "v4.e2e.test", "A")
}
