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
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/require"
)

func TestCaptureMariaDB(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "mysqld.sock")
	port := parsertest.FreePort(t)
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
	parsertest.Run(t, nil, `
		CREATE USER 'obs'@'127.0.0.1' IDENTIFIED BY 'obs-pw';
		GRANT ALL ON *.* TO 'obs'@'127.0.0.1';
		CREATE DATABASE shop;
		CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(10,2));
		INSERT INTO shop.items VALUES (1, 'apple', 0.50), (2, 'pear', 0.75), (3, 'plum', NULL);
		DELIMITER //
		CREATE PROCEDURE shop.two() BEGIN SELECT id FROM shop.items ORDER BY id; SELECT COUNT(*) AS n FROM shop.items; END //
		DELIMITER ;
		`, "mariadb", "--no-defaults", "-S", sock, "-uroot")

	rec := parsertest.NewRecorder(t, fmt.Sprintf("127.0.0.1:%d", port))
	defer rec.Close()
	client := []string{"--no-defaults", "--skip-ssl", "--force", "-h127.0.0.1", "-P" + rec.Port(), "-uobs", "-pobs-pw", "shop"}

	// The mariadb client: queries, a failing one, a multi-result CALL, an INSERT.
	parsertest.Run(t, nil, "SELECT id, name, price FROM items WHERE price > 0.6 OR id IN (1, 3) ORDER BY id;\n"+
		"SELECT nosuchcolumn FROM items;\n"+
		"CALL two();\n"+
		"INSERT INTO items (id, name, price) VALUES (10, 'fig', 2.5), (11, 'kiwi', 0.2);\n"+
		"DELETE FROM items WHERE id >= 10;\n", "mariadb", client...)
	cs := rec.Take()
	require.Len(t, cs, 1)
	parsertest.WriteCapture(t, filepath.Join("testdata", "mariadb_client"), cs[0])

	// LOAD DATA LOCAL INFILE: the server asks the client for the file.
	csv := filepath.Join(dir, "items.csv")
	require.NoError(t, os.WriteFile(csv, []byte("20,cherry,3.10\n21,lime,0.40\n"), 0o644))
	parsertest.Run(t, nil, "", "mariadb", append(client, "--local-infile=1", "-e",
		"LOAD DATA LOCAL INFILE '"+csv+"' INTO TABLE items FIELDS TERMINATED BY ','; DELETE FROM items WHERE id >= 20")...)
	cs = rec.Take()
	require.Len(t, cs, 1)
	parsertest.WriteCapture(t, filepath.Join("testdata", "mariadb_infile"), cs[0])

	// The binary protocol, with and without CLIENT_DEPRECATE_EOF.
	for _, deprecate := range []bool{false, true} {
		binaryProtocolSession(t, rec.Addr(), deprecate)
		cs = rec.Take()
		require.Len(t, cs, 1)
		name := "stmt_eof"
		if deprecate {
			name = "stmt_deprecate_eof"
		}
		parsertest.WriteCapture(t, filepath.Join("testdata", name), cs[0])
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
