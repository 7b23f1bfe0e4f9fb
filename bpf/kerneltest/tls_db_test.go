package kerneltest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// certFor makes a self-signed certificate and key readable only by user (a server that drops
// privileges to it), in a directory it can reach.
func certFor(t *testing.T, user string) (crt, key string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "netobserver-tls-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	crt, key = testenv.SelfSignedCert(t, dir, "netobserver-test")
	testenv.Run(t, "chown", user+":", crt, key)
	require.NoError(t, os.Chmod(key, 0o600))
	return crt, key
}

// all is every event captured so far.
func (c *capture) all() []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event(nil), c.evs...)
}

// tlsConversations are the conversations of any process whose plaintext in direction dir holds
// marker: the server side, whose pid the test does not know (a forked backend).
func tlsConversations(evs []event, dir abi.Direction, marker []byte) []*conversation {
	var out []*conversation
	for _, cv := range conversations(evs) {
		s := cv.received()
		if dir == abi.DirEgress {
			s = cv.sent()
		}
		if bytes.Contains(s, marker) {
			out = append(out, cv)
		}
	}
	return out
}

// checkTLSConversation: one connection, protocol proto in every event, plaintext holding each
// of texts exactly once in direction dir.
func checkTLSConversation(t *testing.T, side string, cvs []*conversation, proto abi.Protocol, dir abi.Direction, texts []string) {
	t.Helper()
	require.Len(t, cvs, 1, "%s: conversations carrying the queries", side)
	cv := cvs[0]
	for _, d := range append(cv.egress, cv.ingress...) {
		assert.Equal(t, proto, d.Protocol, "%s: %q", side, d.Payload[:min(len(d.Payload), 40)])
	}
	s := cv.received()
	if dir == abi.DirEgress {
		s = cv.sent()
	}
	for _, q := range texts {
		assert.Equal(t, 1, bytes.Count(s, []byte(q)), "%s: %q in the plaintext", side, q)
	}
}

// psql with sslmode=require → PostgreSQL with ssl=on: the SSLRequest and its 'S' go over the
// socket in the clear, then TLS; the startup message and the queries are parsed from the
// plaintext on both sides.
func TestTLSPsqlToPostgres(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	crt, key := certFor(t, "postgres")
	testenv.PostgresServer(t, n.Server, n.ServerV4, "ssl=on", "ssl_cert_file="+crt, "ssl_key_file="+key)
	c := startCapture(t, nil)
	tlsProbes(t, c)

	var queries []string
	args := []string{"host=" + n.ServerV4.String() + " user=postgres dbname=postgres sslmode=require", "-X", "-A", "-t"}
	for i := range 5 {
		q := fmt.Sprintf("SELECT %d AS tls_query_%d", 1000+i, i)
		queries = append(queries, q)
		args = append(args, "-c", q)
	}
	psql := testenv.Command(n.Client, newestBin(t, "/usr/lib/postgresql/*/bin/psql"), args...)
	out, err := psql.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "1000\n1001\n1002\n1003\n1004\n", string(out))

	cli := c.waitFor(t, psql.Process.Pid, "psql's close", func(e []event) bool { return closedConns(e) >= 1 })
	checkTLSConversation(t, "psql", tlsConversations(cli, abi.DirEgress, []byte("tls_query_0")), abi.ProtoPGSQL, abi.DirEgress, queries)
	// The backend is a child of the postmaster: its pid is not known here. (psql's ingress holds
	// the marker too, as a column name.)
	var srv []*conversation
	require.Eventually(t, func() bool {
		var others []event
		for _, e := range c.all() {
			if e.tgid() != uint32(psql.Process.Pid) {
				others = append(others, e)
			}
		}
		srv = tlsConversations(others, abi.DirIngress, []byte("tls_query_4"))
		return len(srv) > 0
	}, 10*time.Second, 20*time.Millisecond)
	checkTLSConversation(t, "postgres", srv, abi.ProtoPGSQL, abi.DirIngress, queries)
	assert.Zero(t, c.lib.TLSUnattributed())
}

// newestBin is the newest of the files pattern matches (Debian's psql is a wrapper).
func newestBin(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	require.NotEmpty(t, m, pattern)
	return m[len(m)-1]
}

// redis-cli --tls → redis-server with a TLS port (Debian 12's redis 7.0 is built with TLS).
func TestTLSRedisCLI(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	crt, key := certFor(t, "root")
	testenv.Redis(t, n.Server, n.ServerV4, "--tls-port", "6380", "--tls-cert-file", crt, "--tls-key-file", key,
		"--tls-ca-cert-file", crt, "--tls-auth-clients", "no")
	testenv.WaitPort(t, n.Server, netip.AddrPortFrom(n.ServerV4, 6380))
	c := startCapture(t, nil)
	tlsProbes(t, c)

	const sets = 20
	var cmds []string
	var stdin strings.Builder
	for i := range sets {
		fmt.Fprintf(&stdin, "SET tlskey%d value%d\n", i, i)
		cmds = append(cmds, fmt.Sprintf("tlskey%d\r\n$", i))
	}
	cli := testenv.Command(n.Client, "redis-cli", "--tls", "--insecure", "-h", n.ServerV4.String(), "-p", "6380")
	cli.Stdin = strings.NewReader(stdin.String())
	out, err := cli.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, strings.Repeat("OK\n", sets), string(out))

	// redis-cli exits without close(): wait for its last command.
	last := []byte(fmt.Sprintf("tlskey%d", sets-1))
	evs := c.waitFor(t, cli.Process.Pid, "redis-cli's last command", func(e []event) bool {
		return len(tlsConversations(e, abi.DirEgress, last)) > 0
	})
	checkTLSConversation(t, "redis-cli", tlsConversations(evs, abi.DirEgress, []byte("tlskey0")), abi.ProtoRedis, abi.DirEgress, cmds)
	var srv []*conversation
	require.Eventually(t, func() bool {
		srv = tlsConversations(c.all(), abi.DirIngress, []byte(fmt.Sprintf("tlskey%d", sets-1)))
		return len(srv) > 0
	}, 10*time.Second, 20*time.Millisecond)
	checkTLSConversation(t, "redis-server", srv, abi.ProtoRedis, abi.DirIngress, cmds)
	assert.Zero(t, c.lib.TLSUnattributed())
}

// The mariadb client over TLS (--ssl): MySQL starts in the clear (the server's greeting, the
// client's SSL request), then switches to TLS; the syscall path sees the ClientHello within the
// connection's first bytes and hands over to the probes, whose plaintext continues the stream.
func TestTLSMariaDB(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	crt, key := certFor(t, "root")
	m := testenv.MariaDBServerWith(t, n.Server, n.ServerV4, "--ssl-cert="+crt, "--ssl-key="+key)
	m.SQL(t, n.Server, "CREATE USER 'tls'@'%' IDENTIFIED BY 'tlspw' REQUIRE SSL; GRANT ALL ON *.* TO 'tls'@'%';")
	c := startCapture(t, nil)
	tlsProbes(t, c)

	var queries []string
	var sql strings.Builder
	for i := range 5 {
		q := fmt.Sprintf("SELECT %d AS tls_query_%d", 2000+i, i)
		queries = append(queries, q)
		sql.WriteString(q + ";")
	}
	cli := testenv.Command(n.Client, "mariadb", "--no-defaults", "--ssl", "--ssl-verify-server-cert=0", "-h", n.ServerV4.String(),
		"-u", "tls", "-ptlspw", "-N", "-B", "-e", sql.String())
	out, err := cli.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "2000\n2001\n2002\n2003\n2004\n", string(out))

	evs := c.waitFor(t, cli.Process.Pid, "mariadb's close", func(e []event) bool { return closedConns(e) >= 1 })
	cvs := tlsConversations(evs, abi.DirEgress, []byte("tls_query_0"))
	checkTLSConversation(t, "mariadb", cvs, abi.ProtoMySQL, abi.DirEgress, queries)
	// MySQL is recognised from the first command (COM_QUERY), as on a cleartext connection: the
	// handshake before it is not sent, so the plaintext starts there, gapless from then on.
	for _, cv := range cvs {
		plaintextContiguous(t, cv.egress)
		plaintextContiguous(t, cv.ingress)
	}
	var srv []*conversation
	require.Eventually(t, func() bool {
		srv = tlsConversations(c.of(m.Cmd.Process.Pid), abi.DirIngress, []byte("tls_query_4"))
		return len(srv) > 0
	}, 10*time.Second, 20*time.Millisecond)
	checkTLSConversation(t, "mariadbd", srv, abi.ProtoMySQL, abi.DirIngress, queries)
	assert.Zero(t, c.lib.TLSUnattributed())
}
