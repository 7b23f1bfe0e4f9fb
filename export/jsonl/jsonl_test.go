package jsonl

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netobserver/netobserver/internal/fileperm/filepermtest"
	"github.com/netobserver/netobserver/record"
)

func rec(t uint32, kv ...string) record.Record {
	r := record.Record{Time: t}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
	return r
}

// validPerByte replaces each invalid UTF-8 byte with U+FFFD, as the encoder does.
func validPerByte(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestLinesExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "out.jsonl")
	f, err := New(record.Context{}, Config{Path: path})
	require.NoError(t, err)
	require.NoError(t, f.Flush([]record.Record{
		rec(1661417038, "type", "statistics", "remote_info", "{\"remote_ip\":\"10.0.0.1\"}\n", "role", "client"),
		rec(2, "z", "1", "a", "2"),
		rec(3),
	}))
	require.NoError(t, f.Flush([]record.Record{
		rec(4, "esc", "q\" b\\ \x01\b\n\t <>& é \xff \u2028"),
	}))
	require.NoError(t, f.Close())

	want := `{"type":"statistics","remote_info":"{\"remote_ip\":\"10.0.0.1\"}\n","role":"client","__time__":"1661417038"}` + "\n" +
		`{"z":"1","a":"2","__time__":"2"}` + "\n" +
		`{"__time__":"3"}` + "\n" +
		`{"esc":"q\" b\\ \u0001\u0008\n\t <>& é \ufffd \u2028","__time__":"4"}` + "\n"
	assert.Equal(t, want, read(t, path))
	assert.Equal(t, Stats{Written: 4}, f.Stats())

}

// Record files are 0640 and the directories made for them 0750, whatever the umask; a rotation
// starts the new file with the same mode.
func TestFileModes(t *testing.T) {
	filepermtest.RecordFiles(t, func(path string) {
		f, err := New(record.Context{}, Config{Path: path, MaxSize: 1})
		require.NoError(t, err)
		require.NoError(t, f.Flush([]record.Record{rec(1), rec(2)}))
		require.NoError(t, f.Close())
	})
}

func TestEveryLineIsValidJSONInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := New(record.Context{}, Config{Path: path})
	require.NoError(t, err)
	values := []string{"plain", "\x00\x1f\x7f", "\xc3\x28", "\U0001F600", "\xed\xa0\x80", "a\u2029b", "</script>"}
	for i, v := range values {
		require.NoError(t, f.Flush([]record.Record{rec(uint32(i), "k", v, "i", string(rune('a'+i)))}))
	}
	require.NoError(t, f.Close())

	sc := bufio.NewScanner(strings.NewReader(read(t, path)))
	i := 0
	for sc.Scan() {
		require.True(t, json.Valid(sc.Bytes()), "%q", sc.Text())
		var m map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		assert.Equal(t, validPerByte(values[i]), m["k"])
		assert.Equal(t, string(rune('a'+i)), m["i"])
		i++
	}
	assert.Equal(t, len(values), i)
}

func TestAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"old\":\"line\"}\n"), 0o644))
	f, err := New(record.Context{}, Config{Path: path})
	require.NoError(t, err)
	require.NoError(t, f.Flush([]record.Record{rec(1, "k", "v")}))
	require.NoError(t, f.Close())
	assert.Equal(t, "{\"old\":\"line\"}\n{\"k\":\"v\",\"__time__\":\"1\"}\n", read(t, path))
}

// TestReopenAfterLogrotate does what logrotate's default (create) mode does: rename the file,
// then signal; Reopen must send later lines to a new file at Path.
func TestReopenAfterLogrotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	f, err := New(record.Context{}, Config{Path: path})
	require.NoError(t, err)
	require.NoError(t, f.Flush([]record.Record{rec(1, "n", "1")}))

	require.NoError(t, os.Rename(path, path+".1"))
	// Until Reopen, lines still go to the renamed file (the open descriptor follows it).
	require.NoError(t, f.Flush([]record.Record{rec(2, "n", "2")}))
	require.NoError(t, f.Reopen())
	require.NoError(t, f.Flush([]record.Record{rec(3, "n", "3")}))
	require.NoError(t, f.Close())

	assert.Equal(t, "{\"n\":\"1\",\"__time__\":\"1\"}\n{\"n\":\"2\",\"__time__\":\"2\"}\n", read(t, path+".1"))
	assert.Equal(t, "{\"n\":\"3\",\"__time__\":\"3\"}\n", read(t, path))
	assert.Equal(t, Stats{Written: 3, Reopens: 1}, f.Stats())
}

func TestReopenFailureRecoversOnFlush(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "out.jsonl")
	f, err := New(record.Context{}, Config{Path: path})
	require.NoError(t, err)
	// Make the directory unusable: replace it with a file.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "sub")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub"), nil, 0o644))
	require.Error(t, f.Reopen())
	err = f.Flush([]record.Record{rec(1)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 records lost")

	require.NoError(t, os.Remove(filepath.Join(dir, "sub")))
	require.NoError(t, f.Flush([]record.Record{rec(2)}))
	require.NoError(t, f.Close())
	assert.Equal(t, "{\"__time__\":\"2\"}\n", read(t, path))
	assert.Equal(t, Stats{Written: 1, Failed: 1}, f.Stats())
}

func TestConcurrentFlushAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	f, err := New(record.Context{}, Config{Path: path})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				assert.NoError(t, f.Flush([]record.Record{rec(uint32(i), "g", string(rune('a'+g)))}))
			}
		}()
	}
	for range 10 {
		assert.NoError(t, f.Reopen())
	}
	wg.Wait()
	require.NoError(t, f.Close())
	lines := strings.Split(strings.TrimSuffix(read(t, path), "\n"), "\n")
	assert.Len(t, lines, 400)
	for _, l := range lines {
		assert.True(t, json.Valid([]byte(l)), l)
	}
}

func TestClosed(t *testing.T) {
	f, err := New(record.Context{}, Config{Path: filepath.Join(t.TempDir(), "x")})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, f.Close())
	assert.ErrorIs(t, f.Flush([]record.Record{rec(1)}), ErrClosed)
	assert.ErrorIs(t, f.Reopen(), ErrClosed)
	assert.Equal(t, uint64(1), f.Stats().Failed)
}

func TestConfigErrors(t *testing.T) {
	_, err := New(record.Context{}, Config{})
	assert.ErrorContains(t, err, "Path is required")
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	_, err = New(record.Context{}, Config{Path: filepath.Join(blocker, "x.jsonl")})
	assert.ErrorContains(t, err, "Path")
	_, err = New(record.Context{}, Config{Path: filepath.Join(t.TempDir(), "x"), MaxSize: -1})
	assert.ErrorContains(t, err, "MaxSize must not be negative")
}

func TestFlushAllocatesNothingInSteadyState(t *testing.T) {
	f, err := New(record.Context{}, Config{Path: os.DevNull})
	require.NoError(t, err)
	defer f.Close()
	batch := []record.Record{rec(1, "a", "b\n", "c", "d")}
	require.NoError(t, f.Flush(batch))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = f.Flush(batch) }))
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	line := func(i int) string { return `{"n":"` + string(rune('0'+i)) + `","__time__":"1"}` + "\n" } // 25 bytes
	f, err := New(record.Context{}, Config{Path: path, MaxSize: 2 * len(line(0)), MaxRolls: 2})
	require.NoError(t, err)
	var batch []record.Record
	for i := range 7 {
		batch = append(batch, rec(1, "n", string(rune('0'+i))))
	}
	// Lines 0-4 in one Flush, 5-6 in another: the size check happens before each line.
	require.NoError(t, f.Flush(batch[:5]))
	require.NoError(t, f.Flush(batch[5:]))
	require.NoError(t, f.Close())

	assert.Equal(t, line(6), read(t, path))
	assert.Equal(t, line(4)+line(5), read(t, path+".1"))
	assert.Equal(t, line(2)+line(3), read(t, path+".2"))
	_, err = os.Stat(path + ".3")
	assert.True(t, os.IsNotExist(err), "MaxRolls 2 keeps two rotated files")
	assert.Equal(t, Stats{Written: 7, Rotations: 3}, f.Stats())
}

func TestRotationCountsExistingSize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("x", 100)+"\n"), 0o644))
	f, err := New(record.Context{}, Config{Path: path, MaxSize: 50})
	require.NoError(t, err)
	require.NoError(t, f.Flush([]record.Record{rec(1)}))
	require.NoError(t, f.Close())
	assert.Equal(t, "{\"__time__\":\"1\"}\n", read(t, path))
	assert.Equal(t, strings.Repeat("x", 100)+"\n", read(t, path+".1"))
}
