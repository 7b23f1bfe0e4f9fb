package testenv

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartStop is Start with a graceful stop: at cleanup the process gets stop, and SIGKILL only if
// it has not exited within grace. Servers with shared state outside their process (PostgreSQL's
// SysV segment, MariaDB's data files) need that to leave nothing behind.
func StartStop(t testing.TB, stop syscall.Signal, grace time.Duration, ns, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := Command(ns, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("in %s: start %s: %v", ns, name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(grace):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() && out.Len() > 0 {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd
}

// ownedTempDir is a fresh directory owned by user (a system account such as postgres), removed at
// cleanup. t.TempDir's directories are root-only, so a server dropping privileges could not use
// them.
func ownedTempDir(t testing.TB, user string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netobserver-"+user+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	Run(t, "chown", user+":", dir)
	return dir
}

// Python returns the python3 interpreter's own path (what its processes' command lines show),
// failing the test without one.
func Python(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Calls are calls and their bytes, summed (an access log's lines of a URI, a key's records).
type Calls struct{ Count, ReqBytes, RespBytes uint64 }

// NginxFiles starts nginx in ns on v4:80, serving files of the given sizes (of 'x') from a
// directory, and logging per request "$status $request_length $bytes_sent $uri" to the access
// log whose path it returns; http goes into the http block (e.g. "sendfile off;"), server into
// the server block. Keep-alive connections serve up to 1 000 000 requests.
func NginxFiles(t testing.TB, ns string, v4 netip.Addr, sizes map[string]int, http, server string) (*exec.Cmd, string) {
	t.Helper()
	root, logDir := t.TempDir(), t.TempDir()
	for name, size := range sizes {
		if err := os.WriteFile(filepath.Join(root, name), bytes.Repeat([]byte("x"), size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(logDir, "access.log")
	nginx := NginxHTTP(t, ns, v4, fmt.Sprintf(`log_format calls '$status $request_length $bytes_sent $uri';
access_log %s calls;
keepalive_requests 1000000;
%s
server {
	listen %s:80;
	root %s;
%s
}
`, log, http, v4, root, server))
	return nginx, log
}

// AccessLogCalls sums NginxFiles's access log per URI; every line's status must be status, unless
// it is empty.
func AccessLogCalls(t testing.TB, path, status string) map[string]Calls {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Calls{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || (status != "" && f[0] != status) {
			t.Fatalf("access log line %q: want \"%s <request bytes> <response bytes> <uri>\"", line, status)
		}
		req, err1 := strconv.ParseUint(f[1], 10, 64)
		resp, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("access log line %q: %v %v", line, err1, err2)
		}
		c := out[f[3]]
		c.Count++
		c.ReqBytes += req
		c.RespBytes += resp
		out[f[3]] = c
	}
	return out
}

// SilentHTTPServer is a python program that accepts one connection on argv[1]:81, reads a
// request head, prints "listening" before and "got <request line>" after, and closes the
// connection without answering once its standard input closes.
const SilentHTTPServer = `
import socket, sys
l = socket.create_server((sys.argv[1], 81))
print("listening", flush=True)
s, _ = l.accept()
got = b""
while b"\r\n\r\n" not in got:
    got += s.recv(65536)
print("got " + got.split(b"\r\n")[0].decode(), flush=True)
sys.stdin.read()
s.close()
`

// ForkThenPing is a python program whose forked child (no exec: it runs its parent's program) sends
// a PING to the Redis server at argv[1] and exits without closing its connection; the parent
// waits for it and exits with the child's status. A short-lived client whose process events are a
// fork only.
const ForkThenPing = `import os, socket, sys
pid = os.fork()
if pid == 0:
    s = socket.create_connection((sys.argv[1], 6379))
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    os._exit(0 if s.recv(64) == b"+PONG\r\n" else 1)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`

// Redis starts redis-server in namespace ns on addr:6379, without persistence, and returns it.
// extra are more redis-server options (e.g. "--unixsocket", path).
func Redis(t testing.TB, ns string, addr netip.Addr, extra ...string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--port", "6379", "--bind", addr.String(), "--save", "",
		"--appendonly", "no", "--protected-mode", "no", "--dir", dir, "--logfile", ""}
	cmd := Start(t, ns, "redis-server", append(args, extra...)...)
	WaitPort(t, ns, netip.AddrPortFrom(addr, 6379))
	return cmd
}

// Postgres is a PostgreSQL cluster running in a namespace.
type Postgres struct {
	Cmd    *exec.Cmd // the postmaster; backends are its children, one per connection
	Socket string    // unix_socket_directories: connections there are not observed (AF_UNIX)
}

// PostgresServer initialises a cluster in a temporary directory as the postgres user (initdb
// refuses root) and starts it in namespace ns on addr:5432, with trust authentication for
// everyone (the test network only exists inside the namespaces) and fsync off (nothing here
// needs to survive a crash). settings are more name=value server settings (each passed with -c).
// It is stopped with a fast shutdown at cleanup.
func PostgresServer(t testing.TB, ns string, addr netip.Addr, settings ...string) *Postgres {
	t.Helper()
	root := ownedTempDir(t, "postgres")
	data := filepath.Join(root, "data")
	Run(t, "runuser", "-u", "postgres", "--", postgresBin(t, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C")
	hba := "local all all trust\nhost all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	Run(t, "chown", "postgres:", filepath.Join(data, "pg_hba.conf"))
	// setpriv execs (runuser forks and waits), so the command's pid is the postmaster's and the
	// cleanup's SIGINT reaches it.
	args := []string{"--reuid=postgres", "--regid=postgres", "--init-groups", "--", postgresBin(t, "postgres"), "-D", data,
		"-c", "listen_addresses=" + addr.String(), "-c", "unix_socket_directories=" + root,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "logging_collector=off", "-c", "shared_buffers=32MB"}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	cmd := StartStop(t, syscall.SIGINT, 10*time.Second, ns, "setpriv", args...)
	WaitPort(t, ns, netip.AddrPortFrom(addr, 5432))
	return &Postgres{Cmd: cmd, Socket: root}
}

// postgresBin finds a PostgreSQL server program: on PATH, else in the newest
// /usr/lib/postgresql/<version>/bin, where Debian installs initdb and postgres off PATH.
func postgresBin(t testing.TB, name string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	t.Fatalf("%s: not on PATH nor in /usr/lib/postgresql/*/bin; install postgresql (make deps)", name)
	return ""
}

// pgVersion is the major version in /usr/lib/postgresql/<version>/bin.
func pgVersion(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// MariaDB is a MariaDB server running in a namespace.
type MariaDB struct {
	Cmd    *exec.Cmd
	Socket string // its unix socket: root logs in there (unix_socket authentication), unobserved
}

// MariaDBServer installs a fresh data directory and starts mariadbd in namespace ns on
// addr:3306, running as root (--user=root), configured by nothing but its command line
// (--no-defaults: the host's /etc/mysql must not matter). It is shut down at cleanup.
func MariaDBServer(t testing.TB, ns string, addr netip.Addr) *MariaDB {
	t.Helper()
	return MariaDBServerWith(t, ns, addr)
}

// MariaDBServerWith is MariaDBServer with more mariadbd options (e.g. --ssl-cert, --ssl-key).
func MariaDBServerWith(t testing.TB, ns string, addr netip.Addr, extra ...string) *MariaDB {
	t.Helper()
	dir, err := os.MkdirTemp("", "netobserver-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "mysqld.sock")
	Run(t, "mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root",
		"--skip-test-db", "--auth-root-authentication-method=socket")
	args := []string{"--no-defaults",
		"--datadir=" + data, "--socket=" + sock, "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--bind-address=" + addr.String(), "--port=3306", "--user=root", "--skip-name-resolve",
		"--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0",
		"--log-error=" + filepath.Join(dir, "error.log")}
	cmd := StartStop(t, syscall.SIGTERM, 20*time.Second, ns, "mariadbd", append(args, extra...)...)
	WaitPort(t, ns, netip.AddrPortFrom(addr, 3306))
	return &MariaDB{Cmd: cmd, Socket: sock}
}

// SQL runs statements as root over the server's unix socket (not observed) and returns the
// output, failing the test if any fails.
func (m *MariaDB) SQL(t testing.TB, ns, statements string) string {
	t.Helper()
	return RunIn(t, ns, "mariadb", "--no-defaults", "-S", m.Socket, "-u", "root", "-N", "-B",
		"-e", statements)
}
