package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// executeBlobs is a MariaDB client (Perl DBI with DBD::MariaDB, on MariaDB Connector/C) running a
// server-side prepared INSERT with a 20 000-byte parameter three times, and printing what the
// server reported. libmariadb sends with MSG_DONTWAIT and goes on after a short write; run with
// testdata/shortwrite.c preloaded, the first send of each execution takes only the packet header
// and the command byte, as the kernel's does when the socket buffer has no more room. The MySQL
// parser then had a packet announced longer than 16 KiB with no statement id yet, and panicked.
// The pauses keep each execution out of the poll batch of the prepare's response: within one
// batch requests are parsed before responses, and an execution parsed before the COM_STMT_PREPARE_OK
// that names its statement is recorded without it (a limitation of its own, not this test's).
const executeBlobs = `
use DBI;
my $dbh = DBI->connect("DBI:MariaDB:database=shop;host=%s;port=3306;mariadb_server_prepare=1", "app", "app",
	{RaiseError => 1});
my $sth = $dbh->prepare("INSERT INTO blobs (data) VALUES (?)");
for my $i (1..3) {
	select(undef, undef, undef, 0.3);
	my $rows = $sth->execute("x" x 20000);
	print "rows=$rows\n";
}
select(undef, undef, undef, 0.3);
my ($n, $len) = $dbh->selectrow_array("SELECT COUNT(*), SUM(LENGTH(data)) FROM blobs");
print "count=$n bytes=$len\n";
$dbh->disconnect;
`

// Hostile and unlucky traffic does not take the observer down: a legal MariaDB client executing a
// prepared statement with a long parameter, and 11 bytes sent to nginx that the kernel side
// classifies as MySQL (a query, then the first 5 bytes of a 20 KiB COM_STMT_EXECUTE). Both
// crashed it (panic: index out of range in parser/mysql). It keeps observing and recording: the
// client's and the server's executions are recorded, and so are curl's requests after the bytes.
func TestHostileMySQLTrafficDoesNotKillTheObserver(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 231)
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	db := testenv.MariaDBServer(t, n.Server, n.ServerV4)
	db.SQL(t, n.Server, "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY 'app'; "+
		"GRANT ALL ON shop.* TO 'app'@'%'; CREATE TABLE shop.blobs (id INT AUTO_INCREMENT PRIMARY KEY, data MEDIUMBLOB)")

	o := testenv.StartObserver(t, testenv.Pipeline{}.String(), nil)

	shim := filepath.Join(t.TempDir(), "shortwrite.so")
	testenv.Run(t, "cc", "-shared", "-fPIC", "-O2", "-o", shim, "testdata/shortwrite.c", "-ldl")
	trace := filepath.Join(t.TempDir(), "perl.strace")
	perl := testenv.Command(n.Client, "strace", "-f", "-e", "trace=sendto", "-o", trace, "-E", "LD_PRELOAD="+shim,
		"perl", "-e", fmt.Sprintf(executeBlobs, n.ServerV4))
	out, err := perl.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "rows=1\nrows=1\nrows=1\ncount=3 bytes=60000\n", string(out), "the client's own report")
	sends, err := os.ReadFile(trace)
	require.NoError(t, err)
	// strace -f: each line starts with the pid of the process that made the call.
	first := regexp.MustCompile(`(?m)^(\d+) +sendto\(\d+, "1N\\0\\0\\27", 5, `).FindAllStringSubmatch(string(sends), -1)
	require.Len(t, first, 3, "each execution's first 5 bytes in a write of their own:\n%s", sends)
	perlPid := first[0][1]

	garbage := testenv.Command(n.Client, "bash", "-c", fmt.Sprintf(
		`exec 3<>/dev/tcp/%s/80; printf '\x02\x00\x00\x00\x03x' >&3; sleep 0.2; printf '\x00\x50\x00\x00\x17' >&3; sleep 0.2`, n.ServerV4))
	out, err = garbage.CombinedOutput()
	require.NoError(t, err, "%s", out)

	const requests = 3
	curl := testenv.Curl(t, n.Client, slices.Repeat([]string{fmt.Sprintf("http://%s/after-the-garbage", n.ServerV4)}, requests)...)

	recs := o.Stop(t, 300*time.Millisecond) // fails unless the observer is still running and exits 0
	var client, server, http map[string]string
	var mysql []map[string]string
	for _, r := range recs {
		if r["protocol"] == "mysql" {
			mysql = append(mysql, r)
		}
		switch {
		case r["type"] == "protocols" && r["protocol"] == "mysql" && r["_process_pid_"] == perlPid &&
			strings.HasPrefix(r["sql"], "INSERT"):
			client = r
		case r["type"] == "protocols" && r["protocol"] == "mysql" && r["_process_pid_"] == fmt.Sprint(db.Cmd.Process.Pid) &&
			strings.HasPrefix(r["sql"], "INSERT"):
			server = r
		case r["type"] == "protocols" && r["_process_pid_"] == fmt.Sprint(curl.Process.Pid):
			http = r
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range mysql {
				t.Logf("mysql record: %v", r)
			}
		}
	})
	require.NotNil(t, client, "the perl client's executions in %v", recs)
	assert.Equal(t, "INSERT INTO blobs (data) VALUES (?)", client["sql"])
	assert.Equal(t, "4", client["total_count"], "the prepare and three executions")
	assert.Equal(t, "1", client["success"])
	require.NotNil(t, server, "mariadbd's executions")
	assert.Equal(t, "4", server["total_count"])
	require.NotNil(t, http, "curl's requests after the garbage")
	assert.Equal(t, fmt.Sprint(requests), http["total_count"])
	assert.Equal(t, "/after-the-garbage", http["url"])
	// No runtime panic, and none contained either: the parser itself must hold.
	assert.NotContains(t, o.Log(), "panic:")
	assert.NotContains(t, o.Log(), "goroutine ")
	assert.Contains(t, o.Log(), "mysql.parser_panics=0")
}
