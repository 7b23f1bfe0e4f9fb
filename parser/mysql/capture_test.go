//go:build capture

// This file regenerates the captures in testdata/ from a real MariaDB server and real clients
// (see testdata/README.md). It is not part of the normal test run:
//
//	go test -tags capture -run TestCapture -v ./parser/mysql
//
// It needs root (mariadbd runs as root here), mariadb-install-db, mariadbd and the mariadb client.

package mysql

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

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

func run(t *testing.T, stdin string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	out, err := cmd.CombinedOutput()
	t.Logf("$ %s %v\n%s", name, args, out)
	if err != nil {
		t.Logf("exit: %v", err)
	}
	return string(out)
}

func TestCaptureMariaDB(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "mysqld.sock")
	port := freePort(t)
	out, err := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root",
		"--skip-test-db", "--auth-root-authentication-method=socket").CombinedOutput()
	require.NoError(t, err, "%s", out)

	server := exec.Command("mariadbd", "--no-defaults", "--datadir="+data, "--user=root",
		"--socket="+sock, "--port="+fmt.Sprint(port), "--bind-address=127.0.0.1",
		"--pid-file="+filepath.Join(dir, "mysqld.pid"), "--log-error="+filepath.Join(dir, "error.log"),
		"--skip-name-resolve", "--local-infile=1", "--skip-log-bin")
	require.NoError(t, server.Start())
	defer func() {
		server.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			server.Process.Kill()
			<-done
		}
	}()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		require.Less(t, i, 300, "mariadbd did not start")
		time.Sleep(100 * time.Millisecond)
	}
	// Set-up over the socket (not recorded): a user with a password, a table, a procedure.
	run(t, `
		CREATE USER 'obs'@'127.0.0.1' IDENTIFIED BY 'obs-pw';
		GRANT ALL ON *.* TO 'obs'@'127.0.0.1';
		CREATE DATABASE shop;
		CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(10,2));
		INSERT INTO shop.items VALUES (1, 'apple', 0.50), (2, 'pear', 0.75), (3, 'plum', NULL);
		DELIMITER //
		CREATE PROCEDURE shop.two() BEGIN SELECT id FROM shop.items ORDER BY id; SELECT COUNT(*) AS n FROM shop.items; END //
		DELIMITER ;
		`, "mariadb", "--no-defaults", "-S", sock, "-uroot")

	rec := newRecorder(t, fmt.Sprintf("127.0.0.1:%d", port))
	defer rec.close()
	client := []string{"--no-defaults", "--skip-ssl", "--force", "-h127.0.0.1", "-P" + rec.port(), "-uobs", "-pobs-pw", "shop"}

	// The mariadb client: queries, a failing one, a multi-result CALL, an INSERT.
	run(t, "SELECT id, name, price FROM items WHERE price > 0.6 OR id IN (1, 3) ORDER BY id;\n"+
		"SELECT nosuchcolumn FROM items;\n"+
		"CALL two();\n"+
		"INSERT INTO items (id, name, price) VALUES (10, 'fig', 2.5), (11, 'kiwi', 0.2);\n"+
		"DELETE FROM items WHERE id >= 10;\n", "mariadb", client...)
	cs := rec.take()
	require.Len(t, cs, 1)
	writeCapture(t, "mariadb_client", cs[0])

	// LOAD DATA LOCAL INFILE: the server asks the client for the file.
	csv := filepath.Join(dir, "items.csv")
	require.NoError(t, os.WriteFile(csv, []byte("20,cherry,3.10\n21,lime,0.40\n"), 0o644))
	run(t, "", "mariadb", append(client, "--local-infile=1", "-e",
		"LOAD DATA LOCAL INFILE '"+csv+"' INTO TABLE items FIELDS TERMINATED BY ','; DELETE FROM items WHERE id >= 20")...)
	cs = rec.take()
	require.Len(t, cs, 1)
	writeCapture(t, "mariadb_infile", cs[0])

	// The binary protocol, with and without CLIENT_DEPRECATE_EOF.
	for _, deprecate := range []bool{false, true} {
		binaryProtocolSession(t, rec.addr(), deprecate)
		cs = rec.take()
		require.Len(t, cs, 1)
		name := "stmt_eof"
		if deprecate {
			name = "stmt_deprecate_eof"
		}
		writeCapture(t, name, cs[0])
	}
}

// wire is a minimal MySQL client: enough of the protocol to log in with mysql_native_password
// and send commands. It reads answers until the server has been quiet for a while, so it needs
// no knowledge of their shape: the parser under test is what knows it.
type wire struct {
	t *testing.T
	c net.Conn
}

func (w *wire) send(seq byte, payload []byte) {
	h := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	_, err := w.c.Write(append(h, payload...))
	require.NoError(w.t, err)
}

// drain reads until the connection is quiet for 300 ms and returns what was read.
func (w *wire) drain() []byte {
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		w.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := w.c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got
		}
	}
}

func nativePassword(scramble []byte, password string) []byte {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	h := sha1.New()
	h.Write(scramble)
	h.Write(h2[:])
	h3 := h.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

func binaryProtocolSession(t *testing.T, addr string, deprecateEOF bool) {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	w := &wire{t: t, c: c}

	greeting := w.drain()
	require.Greater(t, len(greeting), 4+40)
	p := greeting[4:]
	i := bytes.IndexByte(p[1:], 0) + 2
	scramble := append([]byte{}, p[i+4:i+12]...)
	j := i + 12 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	scramble = append(scramble, p[j:j+12]...)

	const (
		longPassword    = 1
		longFlag        = 4
		connectWithDB   = 8
		protocol41      = 0x200
		transactions    = 0x2000
		secureConn      = 0x8000
		multiStatements = 0x10000
		multiResults    = 0x20000
		psMultiResults  = 0x40000
		pluginAuth      = 0x80000
	)
	caps := uint32(longPassword | longFlag | connectWithDB | protocol41 | transactions | secureConn |
		multiStatements | multiResults | psMultiResults | pluginAuth)
	if deprecateEOF {
		caps |= capDeprecateEOF
	}
	var login bytes.Buffer
	binary.Write(&login, binary.LittleEndian, caps)
	binary.Write(&login, binary.LittleEndian, uint32(1<<24))
	login.WriteByte(45) // utf8mb4_general_ci
	login.Write(make([]byte, 23))
	login.WriteString("obs\x00")
	auth := nativePassword(scramble, "obs-pw")
	login.WriteByte(byte(len(auth)))
	login.Write(auth)
	login.WriteString("shop\x00")
	login.WriteString("mysql_native_password\x00")
	w.send(1, login.Bytes())
	reply := w.drain()
	require.NotEmpty(t, reply)
	require.Equal(t, byte(0x00), reply[4], "login failed: %q", reply)

	cmd := func(payload []byte) []byte {
		w.send(0, payload)
		return w.drain()
	}
	// Prepare a SELECT with two parameters and two columns.
	resp := cmd(append([]byte{comStmtPrepare}, "SELECT id, name FROM items WHERE id > ? AND name <> ? ORDER BY id"...))
	require.Equal(t, byte(0), resp[4])
	sel := binary.LittleEndian.Uint32(resp[5:])
	execute := func(id uint32, params ...any) []byte {
		var b bytes.Buffer
		b.WriteByte(comStmtExecute)
		binary.Write(&b, binary.LittleEndian, id)
		b.WriteByte(0)                                   // no cursor
		binary.Write(&b, binary.LittleEndian, uint32(1)) // iteration count
		if len(params) > 0 {
			b.Write(make([]byte, (len(params)+7)/8)) // NULL bitmap: none
			b.WriteByte(1)                           // types follow
			for _, v := range params {
				switch v.(type) {
				case int64:
					b.Write([]byte{0x08, 0x00})
				case string:
					b.Write([]byte{0xfd, 0x00})
				}
			}
			for _, v := range params {
				switch v := v.(type) {
				case int64:
					binary.Write(&b, binary.LittleEndian, v)
				case string:
					b.WriteByte(byte(len(v)))
					b.WriteString(v)
				}
			}
		}
		return cmd(b.Bytes())
	}
	execute(sel, int64(0), "pear")
	execute(sel, int64(1), "x")
	// An INSERT: parameters, no columns.
	resp = cmd(append([]byte{comStmtPrepare}, "INSERT INTO items (id, name, price) VALUES (?, ?, NULL)"...))
	require.Equal(t, byte(0), resp[4])
	ins := binary.LittleEndian.Uint32(resp[5:])
	execute(ins, int64(30), "date")
	// A statement without parameters, and one that fails to prepare.
	resp = cmd(append([]byte{comStmtPrepare}, "SELECT COUNT(*) FROM items"...))
	cnt := binary.LittleEndian.Uint32(resp[5:])
	execute(cnt)
	cmd(append([]byte{comStmtPrepare}, "SELECT * FROM nosuchtable WHERE id = ?"...))
	// Reset and close (no answer to the close), then execute the closed statement: an ERR.
	var b [5]byte
	b[0] = comStmtReset
	binary.LittleEndian.PutUint32(b[1:], sel)
	cmd(b[:])
	b[0] = comStmtClose
	w.send(0, b[:])
	execute(sel, int64(0), "pear")
	// Clean up, ping, statistics, change database, quit.
	cmd(append([]byte{comQuery}, "DELETE FROM items WHERE id = 30"...))
	cmd([]byte{0x0e})
	cmd([]byte{comStatistics})
	cmd(append([]byte{comInitDB}, "mysql"...))
	w.send(0, []byte{comQuit})
	io.Copy(io.Discard, c)
}
