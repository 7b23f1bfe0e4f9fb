//go:build accuracy

package accuracy

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The database workloads over TLS have namespaces of their own.
const tlsDBSubnet = 227

// redisTLSPort is redis-server's TLS port (6379 stays cleartext: testenv.Redis waits for it).
const redisTLSPort = 6380

// certificate is a self-signed certificate and its key.
type certificate struct{ crt, key string }

// TestAccuracyTLSDatabases: TestAccuracy's database workloads — redis-benchmark -P 1 and -P 16,
// pgbench -M simple and extended, sysbench with server-side prepared statements — with every
// client connection over TLS (OpenSSL 3 on both ends: redis-benchmark, libpq and libmariadb;
// redis-server, postgres and mariadbd), seen through the OpenSSL uprobes; one workload per server
// at once under each observer. The truth is taken as in cleartext (client reports; INFO
// commandstats, pg_stat_statements, Com_* counters).
// No call can go in the clear: redis-benchmark connects to the TLS port, PostgreSQL accepts TCP
// connections only with TLS (hostssl), sysbench's MariaDB user is created REQUIRE SSL.
func TestAccuracyTLSDatabases(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t)
	start := time.Now()
	n := testenv.NewNet(t, tlsDBSubnet)
	cert := postgresCertificate(t)
	// sysbench 1.0 with --mysql-ssl=on hands mysql_ssl_set client-key.pem, client-cert.pem and
	// cacert.pem from its working directory: a client certificate the server does not ask for,
	// and the server's own as the CA.
	clientDir := t.TempDir()
	for name, from := range map[string]string{"client-key.pem": cert.key, "client-cert.pem": cert.crt, "cacert.pem": cert.crt} {
		require.NoError(t, os.Symlink(from, filepath.Join(clientDir, name)))
	}
	w := &world{net: n, pgBin: pgClientBin(t), tls: true, clientDir: clientDir, clientEnv: []string{"PGSSLMODE=require"}}
	w.startDatabases(t, t.TempDir(), cert)
	t.Logf("servers ready in %v", time.Since(start).Round(time.Millisecond))

	// Two observer runs, each with one workload per server at once: an observer's start and stop
	// (the BPF verifier, detaching uprobes) cost more than the workloads.
	t.Run("run1", func(t *testing.T) { w.observeLoads(t, w.redisBenchmark(1), w.pgbench("simple"), w.sysbench("auto")) })
	t.Run("run2", func(t *testing.T) { w.observeLoads(t, w.redisBenchmark(16), w.pgbench("extended")) })

	w.printTable()
	t.Logf("TLS database workloads done in %v", time.Since(start).Round(time.Millisecond))
}

// postgresCertificate makes a self-signed certificate whose key PostgreSQL accepts: owned by
// postgres, mode 0600, in a directory it can reach (t.TempDir's are root's alone). The other
// servers and the clients run as root.
func postgresCertificate(t *testing.T) *certificate {
	dir, err := os.MkdirTemp("", "netobserver-tls-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	c := &certificate{}
	c.crt, c.key = testenv.SelfSignedCert(t, dir, "netobserver-accuracy")
	testenv.Run(t, "chown", "postgres:", c.crt, c.key)
	require.NoError(t, os.Chmod(c.key, 0o600))
	return c
}

// checkTLS, for a workload over TLS: libssl was probed, every TLS call found its connection, and
// no ciphertext reached the parser (no parse failure).
func (w *world) checkTLS(t *testing.T, r *run, protocol string) {
	t.Helper()
	if !w.tls {
		return
	}
	assert.NotZero(t, r.counter("tls_files_total", "result", "probed"), "libssl probed")
	assert.Zero(t, r.counter("tls_unattributed_calls_total"), "TLS calls whose connection was not found")
	assert.Zero(t, r.counter("parse_failures_total", "protocol", protocol), "%s: parse failures", protocol)
	t.Logf("%s over TLS: lost_stream_bytes=%d", protocol, r.counter("lost_stream_bytes_total", "protocol", protocol))
}
