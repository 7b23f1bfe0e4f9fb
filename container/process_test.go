package container

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommand(t *testing.T) {
	for _, tc := range []struct{ cmdline, want string }{
		{"/usr/sbin/nginx\x00-g\x00daemon off;\x00", "/usr/sbin/nginx"},
		{"/usr/bin/java\x00-jar\x00app.jar\x00", "/usr/bin/java -jar app.jar"},
		{"python3\x00manage.py\x00runserver\x00", "python3 manage.py runserver"},
		{"redis-server *:6379", "redis-server"}, // processes that rewrite their title
		{"", ""},
	} {
		assert.Equal(t, tc.want, Command([]byte(tc.cmdline)), "%q", tc.cmdline)
	}
}

func TestProcessFromFixture(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte("/usr/bin/curl\x00-s\x00http://x/\x00"), 0o644))
	stat := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 987654 12345678 300 18446744073709551615\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
	p, err := Procfs{Root: root}.Process(4242)
	require.NoError(t, err)
	assert.Equal(t, Process{PID: 4242, Cmd: "/usr/bin/curl", StartTime: 987654}, p)

	_, err = Procfs{Root: root}.Process(1)
	assert.Error(t, err)
}

func TestOwnProcess(t *testing.T) {
	p, err := Procfs{}.Process(uint32(os.Getpid()))
	require.NoError(t, err)
	exe, _ := os.Executable()
	assert.Equal(t, exe, p.Cmd)
	assert.NotZero(t, p.StartTime)
}
