package stdout

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netobserver/netobserver/internal/fileperm/filepermtest"
	"github.com/netobserver/netobserver/record"
)

// flushTime is the wall clock of every test line; built in time.Local so the golden date is the
// same in any time zone.
var flushTime = time.Date(2022, 8, 25, 16, 44, 1, 0, time.Local)

func clock() time.Time { return flushTime }

var demoCtx = record.Context{ConfigName: "config#/path/demo.yaml"}

func rec(t uint32, kv ...string) record.Record {
	r := record.Record{Time: t}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
	return r
}

// dnsRecord is the first record of iLogtail's own sample output for observer_ilogtail_network_v1.
var dnsRecord = rec(1661417038,
	"type", "protocols", "_process_pid_", "605", "_process_cmd_", "/usr/sbin/nscd",
	"_running_mode_", "host", "protocol", "dns",
	"query_record", "ilogtail-community-edition.cn-shanghai.log.aliyuncs.com",
	"query_type", "A", "success", "1", "role", "client",
	"remote_info", "{\"remote_ip\":\"100.100.2.136\",\"remote_port\":\"53\",\"remote_type\":\"dns\"}\n",
	"total_count", "1", "total_latency_ns", "387138", "total_req_bytes", "73", "total_resp_bytes", "272")

// nasty has every character class the encoders treat differently.
var nasty = rec(7,
	"q\"uote", "a\"b",
	"back\\slash", `C:\dir\`,
	"ctl", "\x00\x01\b\f\n\r\t\x1f\x7f",
	"utf8", "日本語 é",
	"html", "<a href='x'>&amp;</a>",
	"bad", "a\xffb\xc3",
	"sep", "x\u2028y\u2029z",
	"", "")

func newTest(t *testing.T, ctx record.Context, cfg Config) (*Flusher, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	f, err := New(ctx, cfg, WithWriter(&out), WithClock(clock))
	require.NoError(t, err)
	return f, &out
}

func TestDefaultFormatGolden(t *testing.T) {
	f, out := newTest(t, demoCtx, DefaultConfig())
	require.NoError(t, f.Flush([]record.Record{dnsRecord, rec(1661417039, "b", "2", "a", "1"), rec(5)}))
	require.NoError(t, f.Flush([]record.Record{nasty}))
	require.NoError(t, f.Close())

	const prefix = "2022-08-25 16:44:01 [INF] [flusher_stdout.go:119] [Flush] [config#/path/demo.yaml,]\t"
	want := prefix + `{"type":"protocols","_process_pid_":"605","_process_cmd_":"/usr/sbin/nscd","_running_mode_":"host","protocol":"dns","query_record":"ilogtail-community-edition.cn-shanghai.log.aliyuncs.com","query_type":"A","success":"1","role":"client","remote_info":"{\"remote_ip\":\"100.100.2.136\",\"remote_port\":\"53\",\"remote_type\":\"dns\"}\n","total_count":"1","total_latency_ns":"387138","total_req_bytes":"73","total_resp_bytes":"272","__time__":"1661417038"}` + ":\t\n" +
		// Order is the record's, not sorted.
		prefix + `{"b":"2","a":"1","__time__":"1661417039"}` + ":\t\n" +
		prefix + `{"__time__":"5"}` + ":\t\n" +
		// jsoniter's WriteString: only ", \ and control bytes are escaped; <>&, DEL, U+2028 and
		// invalid UTF-8 pass through untouched.
		prefix + `{"q\"uote":"a\"b","back\\slash":"C:\\dir\\","ctl":"\u0000\u0001\u0008\u000c\n\r\t\u001f` + "\x7f" + `",` +
		`"utf8":"日本語 é","html":"<a href='x'>&amp;</a>","bad":"a` + "\xff" + `b` + "\xc3" + `",` +
		`"sep":"x` + "\u2028" + `y` + "\u2029" + `z","":"","__time__":"7"}` + ":\t\n"
	assert.Equal(t, want, out.String())
	assert.Equal(t, Stats{Written: 4}, f.Stats())
}

func TestHeaderWithLogstore(t *testing.T) {
	f, out := newTest(t, record.Context{ConfigName: "config#/etc/a.yaml", Logstore: "net"}, DefaultConfig())
	require.NoError(t, f.Flush([]record.Record{rec(1, "k", "v")}))
	assert.Equal(t, "2022-08-25 16:44:01 [INF] [flusher_stdout.go:119] [Flush] [config#/etc/a.yaml,net]\t{\"k\":\"v\",\"__time__\":\"1\"}:\t\n", out.String())
}

func TestKeyValuePairsFalseGolden(t *testing.T) {
	f, out := newTest(t, demoCtx, Config{KeyValuePairs: false})
	require.NoError(t, f.Flush([]record.Record{rec(1661417038, "type", "statistics", "role", "client"), rec(9), nasty}))

	const prefix = "2022-08-25 16:44:01 [INF] [flusher_stdout.go:129] [Flush] [config#/path/demo.yaml,]\t"
	want := prefix + `{"Time":1661417038,"Contents":[{"Key":"type","Value":"statistics"},{"Key":"role","Value":"client"}]}` + ":\t\n" +
		// Contents had omitempty.
		prefix + `{"Time":9}` + ":\t\n" +
		// encoding/json (Go 1.18): HTML escaped, invalid UTF-8 replaced, U+2028/9 escaped, \b \f as \u00XX.
		prefix + `{"Time":7,"Contents":[{"Key":"q\"uote","Value":"a\"b"},{"Key":"back\\slash","Value":"C:\\dir\\"},` +
		`{"Key":"ctl","Value":"\u0000\u0001\u0008\u000c\n\r\t\u001f` + "\x7f" + `"},{"Key":"utf8","Value":"日本語 é"},` +
		`{"Key":"html","Value":"\u003ca href='x'\u003e\u0026amp;\u003c/a\u003e"},{"Key":"bad","Value":"a\ufffdb\ufffd"},` +
		`{"Key":"sep","Value":"x\u2028y\u2029z"},{"Key":"","Value":""}]}` + ":\t\n"
	assert.Equal(t, want, out.String())
}

func TestOnlyStdoutShortFormat(t *testing.T) {
	f, out := newTest(t, demoCtx, Config{KeyValuePairs: true, OnlyStdout: true})
	require.NoError(t, f.Flush([]record.Record{rec(3, "a", "<1>")}))
	assert.Equal(t, "2022-08-25 16:44:01 {\"a\":\"<1>\",\"__time__\":\"3\"}\n", out.String())

	// OnlyStdout wins over FileName, as in iLogtail: no file is opened.
	path := filepath.Join(t.TempDir(), "never.log")
	f, err := New(demoCtx, Config{OnlyStdout: true, FileName: path})
	require.NoError(t, err)
	assert.Nil(t, f.file)
	assert.Equal(t, os.Stdout, f.w)
	_, err = os.Stat(path)
	assert.True(t, os.IsNotExist(err))
}

func TestTagsLines(t *testing.T) {
	f, out := newTest(t, record.Context{ConfigName: "config#/a.yaml", Logstore: "ls"}, Config{KeyValuePairs: true, Tags: true})
	require.NoError(t, f.Flush([]record.Record{rec(1, "a", "b"), rec(2)}))
	assert.Equal(t,
		"2022-08-25 16:44:01 [INF] [flusher_stdout.go:99] [Flush] [config#/a.yaml,ls]\t[LogGroup] topic:\tlogstore:ls\tlogcount:2\ttags:[]\t\n"+
			"2022-08-25 16:44:01 [INF] [flusher_stdout.go:119] [Flush] [config#/a.yaml,ls]\t{\"a\":\"b\",\"__time__\":\"1\"}:\t\n"+
			"2022-08-25 16:44:01 [INF] [flusher_stdout.go:119] [Flush] [config#/a.yaml,ls]\t{\"__time__\":\"2\"}:\t\n",
		out.String())

	f, out = newTest(t, record.Context{ConfigName: "config#/a.yaml", Logstore: "ls"}, Config{KeyValuePairs: false, Tags: true, OnlyStdout: true})
	require.NoError(t, f.Flush([]record.Record{rec(1, "a", "b")}))
	assert.Equal(t,
		"2022-08-25 16:44:01 [LogGroup] topic , logstore ls, logcount 1, tags []\n"+
			"2022-08-25 16:44:01 {\"Time\":1,\"Contents\":[{\"Key\":\"a\",\"Value\":\"b\"}]}\n",
		out.String())
}

func TestClockIsLocalAndAdvances(t *testing.T) {
	now := time.Date(1999, 12, 31, 23, 59, 59, 999e6, time.Local)
	var out bytes.Buffer
	f, err := New(demoCtx, Config{OnlyStdout: true, KeyValuePairs: true}, WithWriter(&out), WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	require.NoError(t, f.Flush([]record.Record{rec(1)}))
	now = now.Add(time.Millisecond)
	require.NoError(t, f.Flush([]record.Record{rec(2)}))
	// A UTC clock is shown in local time, as seelog did.
	now = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	require.NoError(t, f.Flush([]record.Record{rec(3)}))
	want := "1999-12-31 23:59:59 {\"__time__\":\"1\"}\n2000-01-01 00:00:00 {\"__time__\":\"2\"}\n" +
		now.Local().Format("2006-01-02 15:04:05") + " {\"__time__\":\"3\"}\n"
	assert.Equal(t, want, out.String())
}

func TestFileNameAppendsShortLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("before\n"), 0o600))

	f, err := New(demoCtx, Config{KeyValuePairs: true, FileName: path}, WithClock(clock))
	require.NoError(t, err)
	require.NoError(t, f.Flush([]record.Record{rec(1, "k", "v"), rec(2, "k", "w")}))
	require.NoError(t, f.Close())
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "before\n2022-08-25 16:44:01 {\"k\":\"v\",\"__time__\":\"1\"}\n2022-08-25 16:44:01 {\"k\":\"w\",\"__time__\":\"2\"}\n", string(got))
	assert.ErrorIs(t, f.Flush([]record.Record{rec(3)}), ErrClosed)
	assert.Equal(t, Stats{Written: 2, Failed: 1}, f.Stats())
}

// logrotate renames the file and sends SIGHUP: Reopen makes the next lines go to a new file at
// the path, and the renamed one keeps what was written before.
func TestFileNameReopenAfterRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	f, err := New(demoCtx, Config{KeyValuePairs: true, FileName: path}, WithClock(clock))
	require.NoError(t, err)
	require.NoError(t, f.Flush([]record.Record{rec(1)}))
	require.NoError(t, os.Rename(path, path+".1"))
	require.NoError(t, f.Reopen())
	require.NoError(t, f.Flush([]record.Record{rec(2)}))
	require.NoError(t, f.Close())
	old, err := os.ReadFile(path + ".1")
	require.NoError(t, err)
	assert.Equal(t, "2022-08-25 16:44:01 {\"__time__\":\"1\"}\n", string(old))
	current, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "2022-08-25 16:44:01 {\"__time__\":\"2\"}\n", string(current))
	assert.ErrorIs(t, f.Reopen(), ErrClosed)

	// Standard output has nothing to reopen.
	var out bytes.Buffer
	w, err := New(demoCtx, Config{KeyValuePairs: true}, WithWriter(&out))
	require.NoError(t, err)
	assert.NoError(t, w.Reopen())
}

// FileName is created 0640 and the directories made for it 0750, whatever the umask; a roll
// starts the new file with the same mode.
func TestFileNameModes(t *testing.T) {
	filepermtest.RecordFiles(t, func(path string) {
		f, err := New(demoCtx, Config{KeyValuePairs: true, FileName: path, MaxSize: 1}, WithClock(clock))
		require.NoError(t, err)
		require.NoError(t, f.Flush([]record.Record{rec(1), rec(2)}))
		require.NoError(t, f.Close())
	})
}

func TestFileNameBadPathFailsAtNew(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	_, err := New(demoCtx, Config{FileName: filepath.Join(blocker, "x.log")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "FileName")
}

func TestFileNameRollsLikeSeelog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.log")
	line := "2022-08-25 16:44:01 {\"__time__\":\"1\"}\n" // 37 bytes
	f, err := New(demoCtx, Config{KeyValuePairs: true, FileName: path, MaxSize: 2 * len(line), MaxRolls: 2}, WithClock(clock))
	require.NoError(t, err)
	// Seven lines: the size check happens before each line, so files hold two lines each.
	batch := []record.Record{rec(1), rec(1), rec(1), rec(1), rec(1)}
	require.NoError(t, f.Flush(batch))
	require.NoError(t, f.Flush(batch[:2]))
	require.NoError(t, f.Close())

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// Rolls 1, 2, 3 were made; MaxRolls 2 removed the lowest.
	assert.Equal(t, []string{"out.log", "out.log.2", "out.log.3"}, names)
	assert.Equal(t, strings.Repeat(line, 2), read("out.log.2"))
	assert.Equal(t, strings.Repeat(line, 2), read("out.log.3"))
	assert.Equal(t, line, read("out.log"))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestWriteErrorCountsFailed(t *testing.T) {
	f, err := New(demoCtx, DefaultConfig(), WithWriter(failingWriter{}), WithClock(clock))
	require.NoError(t, err)
	err = f.Flush([]record.Record{rec(1), rec(2)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 records lost")
	assert.Equal(t, Stats{Failed: 2}, f.Stats())
}

func TestConcurrentFlushesDoNotInterleave(t *testing.T) {
	f, out := newTest(t, demoCtx, Config{KeyValuePairs: true, OnlyStdout: true})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				assert.NoError(t, f.Flush([]record.Record{rec(uint32(g), "g", "start"), rec(uint32(g), "g", "end")}))
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 8*50*2)
	for i := 0; i < len(lines); i += 2 {
		require.Contains(t, lines[i], `"start"`)
		require.Contains(t, lines[i+1], `"end"`)
		require.Equal(t, lines[i][len(lines[i])-5:], lines[i+1][len(lines[i+1])-5:], "pair from one Flush")
	}
	assert.Equal(t, uint64(800), f.Stats().Written)
}

func TestFlushAllocatesNothingInSteadyState(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), {KeyValuePairs: false}, {KeyValuePairs: true, OnlyStdout: true, Tags: true}} {
		f, err := New(demoCtx, cfg, WithWriter(discard{}))
		require.NoError(t, err)
		batch := []record.Record{dnsRecord, nasty, dnsRecord}
		require.NoError(t, f.Flush(batch)) // grow the buffers
		allocs := testing.AllocsPerRun(200, func() { _ = f.Flush(batch) })
		assert.Zero(t, allocs, "%+v", cfg)
	}
}

// discard is io.Discard without the interface conversion surprises of a shared global.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkFlush reports records/s and allocations per record of the default line format.
func BenchmarkFlush(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"KeyValuePairs", DefaultConfig()},
		{"Log", Config{KeyValuePairs: false}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var size lastWrite
			f, err := New(demoCtx, bc.cfg, WithWriter(&size))
			require.NoError(b, err)
			batch := make([]record.Record, 256)
			for i := range batch {
				batch[i] = dnsRecord
			}
			require.NoError(b, f.Flush(batch)) // grow the buffers outside the measurement
			allocsPerRecord := testing.AllocsPerRun(10, func() { _ = f.Flush(batch) }) / float64(len(batch))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Flush(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(len(batch))/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(allocsPerRecord, "allocs/record")
		})
	}
}

// lastWrite discards what is written and remembers the size of the last write.
type lastWrite int

func (w *lastWrite) Write(p []byte) (int, error) { *w = lastWrite(len(p)); return len(p), nil }
