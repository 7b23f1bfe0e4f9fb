package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/netobserver/netobserver/internal/replaytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordReplaysATrace(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"record", "--source", "replay:../../testdata/traces/http-get.trace", "--libebpf", replaytest.Library(t)}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, errb.String(), "REPLAY — events come from a recording, not from the kernel")
	want := []string{
		"ctrl ts=1000000 conn=5:2001:1000000 event=connect addr=10.200.0.2:80 role=client",
		`data ts=1100000 conn=5:2001:1000000 dir=egress proto=http role=client type=request syscall=write addr=10.200.0.2:80 pos=93 org=93 "GET /index.html?user=alice HTTP/1.1\r\nHost: web.test\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"`,
		`data ts=1350000 conn=5:2001:1000000 dir=ingress proto=http role=client type=response syscall=read addr=10.200.0.2:80 pos=58 org=58 "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n\r\nhello"`,
		"stats ts=1400000 conn=5:2001:1000000 addr=10.200.0.2:80 role=client wr=93 rd=58 wr_pkts=1 rd_pkts=1 last_wr=0 last_rd=0 last_wr_pkts=0 last_rd_pkts=0 events=1",
		"ctrl ts=1400000 conn=5:2001:1000000 event=close wr=93 rd=58",
	}
	assert.Equal(t, strings.Join(want, "\n")+"\n", out.String())

	// The recording replays to itself.
	rec := filepath.Join(t.TempDir(), "again.trace")
	require.NoError(t, os.WriteFile(rec, out.Bytes(), 0o644))
	var again bytes.Buffer
	require.Equal(t, 0, run([]string{"record", "--source", "replay:" + rec, "--libebpf", replaytest.Library(t)}, &again, &errb))
	assert.Equal(t, out.String(), again.String())
}

func TestBadCommandLines(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"observe"},
		{"record", "--source", "tape"},
		{"record", "--source", "replay:/nonexistent/trace"},
		{"record", "extra"},
		{"record", "--no-such-flag"},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, exitUsage, run(args, &out, &errb), "%q", args)
		assert.NotEmpty(t, errb.String(), "%q explains itself", args)
	}
}

func TestVersionNamesTheLibrary(t *testing.T) {
	var out, errb bytes.Buffer
	lib := replaytest.Library(t)
	require.Equal(t, 0, run([]string{"version", "--libebpf", lib}, &out, &errb), errb.String())
	assert.Regexp(t, `^netobserver dev\nlibebpf `+regexp.QuoteMeta(lib)+`: netobserver-replay \S+\n$`, out.String())
}

// Every bad config is one clear line naming the file and key, and exit code 2, both when running
// and when only checking.
func TestBadConfigsExitTwo(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"unknown-flusher.yaml": "inputs:\n  - Type: observer_ilogtail_network_v1\nflushers:\n  - Type: flusher_sls\n",
		"bad-regex.yaml":       "inputs:\n  - Type: observer_ilogtail_network_v1\n    Common:\n      IncludeCmdRegex: \"nginx(\"\nflushers:\n  - Type: flusher_stdout\n",
		"negative.yaml":        "inputs:\n  - Type: observer_ilogtail_network_v1\n    Common:\n      FlushOutL7Interval: -5\nflushers:\n  - Type: flusher_stdout\n",
		"two-inputs.yaml":      "inputs:\n  - Type: observer_ilogtail_network_v1\n  - Type: observer_ilogtail_network_v1\nflushers:\n  - Type: flusher_stdout\n",
		"no-flusher.yaml":      "inputs:\n  - Type: observer_ilogtail_network_v1\n",
		"wrong-type.yaml":      "inputs:\n  - Type: observer_ilogtail_network_v1\n    EBPF:\n      Enabled: 1\nflushers:\n  - Type: flusher_stdout\n",
		// Accepted by --check-config, then failed at start.
		"two-exporters.yaml": "inputs:\n  - Type: observer_ilogtail_network_v1\nflushers:\n  - Type: flusher_prometheus_exporter\n  - Type: flusher_prometheus_exporter\n    Listen: \":9465\"\n",
		"port-99999.yaml":    "inputs:\n  - Type: observer_ilogtail_network_v1\nflushers:\n  - Type: flusher_prometheus_exporter\n    Listen: \":99999\"\n",
		"alias-bomb.yaml": "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
			"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
			"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		for _, args := range [][]string{{"--config", path}, {"--check-config", path}} {
			var out, errb bytes.Buffer
			assert.Equal(t, exitUsage, run(args, &out, &errb), "%v", args)
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			require.Len(t, lines, 1, "one line: %q", errb.String())
			assert.True(t, strings.HasPrefix(lines[0], "netobserver: "+path+": "), lines[0])
			assert.Empty(t, out.String())
		}
	}
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"--config", filepath.Join(dir, "missing.yaml")}, &out, &errb))
	assert.Contains(t, errb.String(), "missing.yaml: cannot read the config: no such file or directory")

	require.Equal(t, 0, run([]string{"--check-config", "../../testdata/config/example.yaml"}, &out, &errb))
	assert.Equal(t, "../../testdata/config/example.yaml: OK (1 flushers, records protocols)\n", out.String())
}

// A recording holds raw payloads (passwords, cookies): -o makes it 0600 whatever the umask, and
// also when it overwrites a file that was readable by others.
func TestRecordFileIsOwnerOnly(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0))
	dir := t.TempDir()
	fresh, old := filepath.Join(dir, "fresh.trace"), filepath.Join(dir, "old.trace")
	require.NoError(t, os.WriteFile(old, []byte("stale"), 0o644))
	for _, path := range []string{fresh, old} {
		var out, errb bytes.Buffer
		code := run([]string{"record", "-o", path, "--source", "replay:../../testdata/traces/http-get.trace", "--libebpf", replaytest.Library(t)}, &out, &errb)
		require.Equal(t, 0, code, errb.String())
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), path)
		assert.NotZero(t, st.Size())
	}
}
