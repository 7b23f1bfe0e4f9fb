//go:build capture

// This file regenerates the captures in testdata/ from a real PostgreSQL server and real clients
// (see testdata/README.md). It is not part of the normal test run:
//
//	go test -tags capture -run TestCapture -v ./parser/pgsql
//
// It needs root (to run the server as the postgres user), initdb, pg_ctl, psql and pgbench.

package pgsql

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/require"
)

func TestCapturePostgres(t *testing.T) {
	// The server runs as postgres, which must reach the directory: not t.TempDir (mode 0700).
	dir, err := os.MkdirTemp("", "netobserver-pgsql-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	require.NoError(t, os.Chmod(dir, 0o755))
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwfile, []byte("obs-pw\n"), 0o644))
	port := parsertest.FreePort(t)
	asPostgres := func(args ...string) {
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	pg, err := user("postgres")
	require.NoError(t, err)
	require.NoError(t, os.Chown(dir, pg[0], pg[1]))
	asPostgres("initdb", "-D", data, "-U", "postgres", "--pwfile="+pwfile, "--auth-local=trust",
		"--auth-host=scram-sha-256", "--no-sync")
	asPostgres("pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir), "start")
	defer asPostgres("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")

	// Set-up over the socket (not recorded).
	local := []string{"-h", dir, "-p", fmt.Sprint(port), "-U", "postgres"}
	parsertest.Run(t, nil, "", "psql", append(local, "-v", "ON_ERROR_STOP=1", "-c",
		"CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2)); "+
			"INSERT INTO items VALUES (1, 'apple', 0.50), (2, 'pear', 0.75), (3, 'plum', NULL)")...)
	parsertest.Run(t, nil, "", "pgbench", append(local, "-i", "-s", "1", "-q", "postgres")...)

	rec := parsertest.NewRecorder(t, fmt.Sprintf("127.0.0.1:%d", port))
	defer rec.Close()
	env := []string{"PGPASSWORD=obs-pw"}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%s user=postgres dbname=postgres sslmode=prefer gssencmode=disable", rec.Port())

	// psql: simple queries, a failing one, several statements in one Query, an empty query, a
	// NOTICE, a ParameterStatus, a notification.
	parsertest.Run(t, env, "", "psql", conninfo, "-X", "-c", "SELECT id, name FROM items WHERE price > 0.6 OR id IN (1, 3) ORDER BY id",
		"-c", "SELECT nosuchcolumn FROM items",
		"-c", "SELECT 1; SELECT 'two', 2.5; UPDATE items SET price = price WHERE id = 2",
		"-c", ";",
		"-c", "SET application_name = 'netobserver'",
		"-c", "DO $$BEGIN RAISE NOTICE 'hello %', 42; END$$",
		"-c", "LISTEN chan; NOTIFY chan, 'payload'")
	cs := rec.Take()
	require.Len(t, cs, 1)
	parsertest.WriteCapture(t, filepath.Join("testdata", "psql"), cs[0])

	// COPY in both directions.
	parsertest.Run(t, env, "4\tquince\t1.25\n5\tdate\t\\N\n\\.\n", "psql", conninfo, "-X",
		"-c", "COPY items FROM STDIN",
		"-c", "COPY (SELECT * FROM items ORDER BY id) TO STDOUT",
		"-c", "DELETE FROM items WHERE id > 3")
	cs = rec.Take()
	require.Len(t, cs, 1)
	parsertest.WriteCapture(t, filepath.Join("testdata", "psql_copy"), cs[0])

	// pgbench in each query mode; it opens one connection per client after one to check set-up.
	for _, mode := range []string{"simple", "extended", "prepared"} {
		parsertest.Run(t, env, "", "pgbench", "-h", "127.0.0.1", "-p", rec.Port(), "-U", "postgres", "-M", mode,
			"-c", "1", "-t", "3", "-n", "postgres")
		cs = rec.Take()
		require.NotEmpty(t, cs)
		// The busiest connection is the one that ran the transactions.
		best := cs[0]
		for _, c := range cs {
			if len(c) > len(best) {
				best = c
			}
		}
		parsertest.WriteCapture(t, filepath.Join("testdata", "pgbench_"+mode), best)
	}
}

// user returns the uid and gid of name, from /etc/passwd.
func user(name string) ([2]int, error) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return [2]int{}, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Split(line, []byte(":"))
		if len(f) > 3 && string(f[0]) == name {
			var uid, gid int
			fmt.Sscan(string(f[2]), &uid)
			fmt.Sscan(string(f[3]), &gid)
			return [2]int{uid, gid}, nil
		}
	}
	return [2]int{}, fmt.Errorf("no user %s", name)
}
