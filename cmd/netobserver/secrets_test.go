package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/netobserver/netobserver/internal/testenv"
)

// secrets are planted in the traffic and the command lines of TestNoSecretsInAnyOutput: none may
// appear in any output.
var secrets = []string{
	"PW_SECRET_1", "PW_SECRET_2", "PW_SECRET_3", "PW_SECRET_4", // a python client's arguments
	"CMDNAME_SECRET_20_X", // a Redis command name the server does not have
	"NOBSE_SECRET_37",     // a MySQL literal under NO_BACKSLASH_ESCAPES
	"SCS_SECRET_43",       // a PostgreSQL literal under standard_conforming_strings=off
}

// myclient is the python client: its secrets are in its command line, and it sends a Redis
// command named like a secret.
const myclient = `import select, socket, sys, urllib.request
srv = sys.argv[1]
urllib.request.urlopen("http://%s/" % srv).read()
s = socket.create_connection((srv, 6379))
s.sendall(b"*2\r\n$19\r\nCMDNAME_SECRET_20_X\r\n$1\r\nk\r\n")
sys.stdout.write(s.recv(4096).decode())
sys.stdout.flush()
# Alive until the test closes stdin (at most a minute): a process that is gone has no command
# to show.
select.select([sys.stdin], [], [], 60)
`

// Secrets in process command lines, in SQL literals whose end depends on a server setting, and
// in an unknown Redis command name reach no output — flusher_stdout's lines and file,
// flusher_jsonl's file, flusher_kafka's messages, the Prometheus endpoint, the log — in either
// record schema (schema B carries the command in local_info). The servers are real and run
// with the settings that make the literals ambiguous: the clients' own output shows that the
// server read them under that setting.
func TestNoSecretsInAnyOutput(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNet(t, 231)
	srv := n.ServerV4.String()
	testenv.Nginx(t, n.Server, n.ServerV4, n.ServerV6)
	redis := testenv.Redis(t, n.Server, n.ServerV4)
	maria := testenv.MariaDBServer(t, n.Server, n.ServerV4)
	maria.SQL(t, n.Server, "CREATE USER 's'@'%' IDENTIFIED BY 's'")
	testenv.PostgresServer(t, n.Server, n.ServerV4)

	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "secrets-protocols", "secrets-l4_l7"))
	require.NoError(t, err)
	defer kafka.Close()
	dir := t.TempDir()
	script := filepath.Join(dir, "myclient.py")
	require.NoError(t, os.WriteFile(script, []byte(myclient), 0o644))

	for _, schema := range []string{"protocols", "l4_l7"} {
		t.Run(schema, func(t *testing.T) {
			stdoutFile := filepath.Join(dir, schema+".log")
			jsonlFile := filepath.Join(dir, schema+".jsonl")
			metrics := freePort(t)
			o := testenv.StartObserver(t, testenv.Pipeline{
				Common: "RecordSchema: " + schema,
				Flushers: fmt.Sprintf(`- Type: flusher_stdout
- Type: flusher_stdout
  FileName: %s
- Type: flusher_jsonl
  Path: %s
- Type: flusher_kafka
  Brokers: ["%s"]
  Topic: secrets-%s
- Type: flusher_prometheus_exporter
  Listen: "%s"`, stdoutFile, jsonlFile, kafka.ListenAddrs()[0], schema, metrics),
			}.String(), nil)

			python := testenv.Command(n.Client, "/usr/bin/python3", script, srv, "--password", "PW_SECRET_1",
				"--db-url=postgres://app:PW_SECRET_2@db/x", "-pPW_SECRET_3", "api_token=PW_SECRET_4")
			stdin, err := python.StdinPipe()
			require.NoError(t, err)
			stdout, err := python.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, python.Start())
			reply, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(reply, "-ERR unknown command"), "redis-server's answer: %q", reply)
			defer func() {
				stdin.Close()
				assert.NoError(t, python.Wait())
			}()

			// The init command sets the mode before the client reads the statement, so the client
			// splits statements as the server will read them.
			mariadb := testenv.Command(n.Client, "mariadb", "--no-defaults", "-h", srv, "-P", "3306", "-u", "s", "-ps",
				"-N", "-B", "-r", "--init-command=SET sql_mode='NO_BACKSLASH_ESCAPES'", "-e", `SELECT 'a\','NOBSE_SECRET_37','z'`)
			out, err := mariadb.Output()
			require.NoError(t, err)
			assert.Equal(t, "a\\\tNOBSE_SECRET_37\tz\n", string(out), "three strings: the server did not take backslashes as escapes")

			psql := testenv.Command(n.Client, "psql", "-h", srv, "-U", "postgres", "-X", "-A", "-t", "-F", "|",
				"-c", `SELECT 'a\'', 'SCS_SECRET_43', 'z'`, "postgres")
			psql.Env = append(os.Environ(), "PGOPTIONS=-c standard_conforming_strings=off -c escape_string_warning=off")
			out, err = psql.Output()
			require.NoError(t, err)
			assert.Equal(t, "a'|SCS_SECRET_43|z\n", string(out), "three strings: the server took the backslash as an escape")

			// The metrics show what the observer consumed, which follows the traffic by up to a
			// poll sleep (250 ms on an idle host).
			scrape := httpGet(t, "http://"+metrics+"/metrics")
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(scrape, "# TYPE netobserver_l7_calls_total counter") && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				scrape = httpGet(t, "http://"+metrics+"/metrics")
			}
			assert.Contains(t, scrape, "# TYPE netobserver_l7_calls_total counter")
			recs := o.Stop(t, 300*time.Millisecond)

			outputs := map[string]string{
				"prometheus": scrape,
				"log":        o.Log(),
				"stdout":     fmt.Sprint(recs),
				"stdout file": func() string {
					b, err := os.ReadFile(stdoutFile)
					require.NoError(t, err)
					return string(b)
				}(),
				"jsonl": func() string {
					b, err := os.ReadFile(jsonlFile)
					require.NoError(t, err)
					return string(b)
				}(),
				"kafka": kafkaMessages(t, kafka.ListenAddrs(), "secrets-"+schema, len(recs)),
			}
			for name, text := range outputs {
				for _, s := range secrets {
					if i := strings.Index(text, s); i >= 0 {
						t.Errorf("%s holds %s: …%s…", name, s, text[max(i-80, 0):min(i+len(s)+20, len(text))])
					}
				}
			}

			// What the records say instead.
			masked := "/usr/bin/python3 " + script + " " + srv + " --password *** --db-url=postgres://app:***@db/x -p*** api_token=***"
			want := map[string]bool{}
			for _, r := range recs {
				cmd, pid := r["_process_cmd_"], r["_process_pid_"]
				if schema == "l4_l7" {
					cmd, pid = localInfo(t, r["local_info"], "_process_cmd_"), localInfo(t, r["local_info"], "_process_pid_")
				}
				switch {
				case pid == fmt.Sprint(python.Process.Pid):
					assert.Equal(t, masked, cmd)
					if r["protocol"] != "" {
						want["python "+r["protocol"]] = true
					}
					if r["protocol"] == "redis" {
						assert.Equal(t, "UNKNOWN", r["cmd"]+r["query"])
					}
				case pid == fmt.Sprint(redis.Process.Pid) && r["protocol"] == "redis":
					assert.Equal(t, "UNKNOWN", r["cmd"]+r["query"])
					want["redis-server"] = true
				case pid == fmt.Sprint(mariadb.Process.Pid) && strings.HasPrefix(r["sql"]+r["query"], "SELECT ?"):
					assert.Equal(t, "SELECT ?...", r["sql"]+r["query"])
					want["mariadb"] = true
				case pid == fmt.Sprint(psql.Process.Pid) && r["protocol"] == "pgsql":
					assert.Equal(t, "SELECT ?...", r["sql"]+r["query"])
					want["psql"] = true
				}
			}
			assert.Equal(t, map[string]bool{"python http": true, "python redis": true, "redis-server": true, "mariadb": true, "psql": true}, want,
				"records of every planted call")
		})
	}
}

// localInfo reads one key of schema B's local_info, a JSON object in a string.
func localInfo(t *testing.T, js, key string) string {
	t.Helper()
	var m map[string]string
	require.NoError(t, json.Unmarshal([]byte(js), &m), js)
	return m[key]
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// kafkaMessages reads the topic from its start until want messages arrived (or 30 s passed) and
// returns their values, one per line.
func kafkaMessages(t *testing.T, brokers []string, topic string, want int) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	got := 0
	for got < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			b.Write(r.Value)
			b.WriteByte('\n')
			got++
		})
	}
	require.Equal(t, want, got, "messages on %s", topic)
	return b.String()
}
