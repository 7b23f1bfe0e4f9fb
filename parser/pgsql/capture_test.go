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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a TCP proxy on 127.0.0.1 that forwards to a server and records, per accepted
// connection, every read from either side as one chunk, in the order the reads completed. A
// chunk is recorded before it is forwarded, so an answer is always recorded after what caused it.
type recorder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*capture
	wg     sync.WaitGroup
}

type chunk struct {
	dir  byte // 'C' client to server, 'S' server to client
	data []byte
}

type capture struct {
	mu     sync.Mutex
	chunks []chunk
}

func (c *capture) add(dir byte, b []byte) {
	c.mu.Lock()
	c.chunks = append(c.chunks, chunk{dir, bytes.Clone(b)})
	c.mu.Unlock()
}

func newRecorder(t *testing.T, target string) *recorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &recorder{ln: ln, target: target}
	go r.serve()
	return r
}

func (r *recorder) addr() string { return r.ln.Addr().String() }
func (r *recorder) port() string { _, p, _ := net.SplitHostPort(r.addr()); return p }

func (r *recorder) serve() {
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", r.target)
		if err != nil {
			client.Close()
			continue
		}
		c := &capture{}
		r.mu.Lock()
		r.conns = append(r.conns, c)
		r.mu.Unlock()
		r.wg.Add(2)
		pump := func(dst, src net.Conn, dir byte) {
			defer r.wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					c.add(dir, buf[:n])
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			// Half-close so the peer sees the end, then let the other pump finish.
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}
		go pump(server, client, 'C')
		go pump(client, server, 'S')
	}
}

// take waits for every proxied connection to end and returns their captures, then forgets them.
func (r *recorder) take() []*capture {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.conns
	r.conns = nil
	return cs
}

func (r *recorder) close() { r.ln.Close() }

// writeCapture stores a connection's reads in the format of testdata/README.md: the bytes of
// each direction, raw, and the order of the reads.
func writeCapture(t *testing.T, name string, c *capture) {
	var c2s, s2c, seq bytes.Buffer
	for _, ch := range c.chunks {
		if ch.dir == 'C' {
			c2s.Write(ch.data)
			fmt.Fprintf(&seq, "c2s %d\n", len(ch.data))
		} else {
			s2c.Write(ch.data)
			fmt.Fprintf(&seq, "s2c %d\n", len(ch.data))
		}
	}
	base := filepath.Join("testdata", name)
	require.NoError(t, os.WriteFile(base+".c2s", c2s.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(base+".s2c", s2c.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(base+".seq", seq.Bytes(), 0o644))
	t.Logf("wrote %s.{c2s,s2c,seq}: %d reads, %d+%d bytes", base, len(c.chunks), c2s.Len(), s2c.Len())
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func run(t *testing.T, env []string, stdin string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	out, err := cmd.CombinedOutput()
	t.Logf("$ %s %v\n%s", name, args, out)
	if err != nil {
		t.Logf("exit: %v", err)
	}
	return string(out)
}

func TestCapturePostgres(t *testing.T) {
	// The server runs as postgres, which must reach the directory: not t.TempDir (mode 0700).
	dir, err := os.MkdirTemp("", "netobserver-pgsql-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	require.NoError(t, os.Chmod(dir, 0o755))
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwfile, []byte("obs-pw\n"), 0o644))
	port := freePort(t)
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
	run(t, nil, "", "psql", append(local, "-v", "ON_ERROR_STOP=1", "-c",
		"CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2)); "+
			"INSERT INTO items VALUES (1, 'apple', 0.50), (2, 'pear', 0.75), (3, 'plum', NULL)")...)
	run(t, nil, "", "pgbench", append(local, "-i", "-s", "1", "-q", "postgres")...)

	rec := newRecorder(t, fmt.Sprintf("127.0.0.1:%d", port))
	defer rec.close()
	env := []string{"PGPASSWORD=obs-pw"}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%s user=postgres dbname=postgres sslmode=prefer gssencmode=disable", rec.port())

	// psql: simple queries, a failing one, several statements in one Query, an empty query, a
	// NOTICE, a ParameterStatus, a notification.
	run(t, env, "", "psql", conninfo, "-X", "-c", "SELECT id, name FROM items WHERE price > 0.6 OR id IN (1, 3) ORDER BY id",
		"-c", "SELECT nosuchcolumn FROM items",
		"-c", "SELECT 1; SELECT 'two', 2.5; UPDATE items SET price = price WHERE id = 2",
		"-c", ";",
		"-c", "SET application_name = 'netobserver'",
		"-c", "DO $$BEGIN RAISE NOTICE 'hello %', 42; END$$",
		"-c", "LISTEN chan; NOTIFY chan, 'payload'")
	cs := rec.take()
	require.Len(t, cs, 1)
	writeCapture(t, "psql", cs[0])

	// COPY in both directions.
	run(t, env, "4\tquince\t1.25\n5\tdate\t\\N\n\\.\n", "psql", conninfo, "-X",
		"-c", "COPY items FROM STDIN",
		"-c", "COPY (SELECT * FROM items ORDER BY id) TO STDOUT",
		"-c", "DELETE FROM items WHERE id > 3")
	cs = rec.take()
	require.Len(t, cs, 1)
	writeCapture(t, "psql_copy", cs[0])

	// pgbench in each query mode; it opens one connection per client after one to check set-up.
	for _, mode := range []string{"simple", "extended", "prepared"} {
		run(t, env, "", "pgbench", "-h", "127.0.0.1", "-p", rec.port(), "-U", "postgres", "-M", mode,
			"-c", "1", "-t", "3", "-n", "postgres")
		cs = rec.take()
		require.NotEmpty(t, cs)
		// The busiest connection is the one that ran the transactions.
		best := cs[0]
		for _, c := range cs {
			if len(c.chunks) > len(best.chunks) {
				best = c
			}
		}
		writeCapture(t, "pgbench_"+mode, best)
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
