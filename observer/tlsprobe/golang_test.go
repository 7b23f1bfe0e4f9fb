package tlsprobe

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/observer/gotls"
	"github.com/stretchr/testify/require"
)

// recorder is an Attacher that records what it is asked to attach.
type recorder struct{ probes []Probe }

func (r *recorder) AttachUprobe(program, _ string, offset uint64, ret bool) (int, error) {
	r.probes = append(r.probes, Probe{Program: program, Offset: offset, Return: ret})
	return len(r.probes) - 1, nil
}

func (r *recorder) AttachUprobeCookie(program, _ string, offset, cookie uint64) (int, error) {
	r.probes = append(r.probes, Probe{Program: program, Offset: offset, Cookie: cookie})
	return len(r.probes) - 1, nil
}

func (r *recorder) DetachUprobe(int) error { return nil }

func buildPair(t *testing.T, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gotlspair")
	cmd := exec.Command("go", "build", "-o", bin, "../../tools/gotlspair")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// A process table whose processes run a Go HTTPS program (two processes, one file), the same
// program built for arm64 (two processes) and /bin/sh: the Go program gets its probes, once,
// with their cookies; the arm64 one fails once (counted, logged); the shell is nobody's.
func TestGoExecutablesOfProcesses(t *testing.T) {
	pair, arm := buildPair(t), buildPair(t, "GOARCH=arm64")
	proc := t.TempDir()
	for pid, exe := range map[string]string{"100": pair, "101": pair, "102": "/bin/sh", "103": arm, "104": arm} {
		require.NoError(t, os.Mkdir(filepath.Join(proc, pid), 0o755))
		require.NoError(t, os.Symlink(exe, filepath.Join(proc, pid, "exe")))
	}
	rec := &recorder{}
	m := New(rec, []Prober{OpenSSL{}, Go{}}, Config{ProcRoot: proc, Log: slog.New(slog.DiscardHandler)})
	defer m.Close()
	m.ScanAll()

	b, err := gotls.Inspect(pair)
	require.NoError(t, err)
	var want []Probe
	for _, p := range b.Probes() {
		want = append(want, Probe{Program: p.Program, Offset: p.Offset, Cookie: p.Cookie})
	}
	require.Equal(t, want, rec.probes)
	require.Equal(t, Counters{Files: 1, Probes: uint64(len(want)), Failed: 1}, m.Counters())
}
