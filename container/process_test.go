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
		assert.Equal(t, tc.want, Command([]byte(tc.cmdline), true), "%q", tc.cmdline)
	}
}

// Secrets in python and java command lines are masked; the program and the other arguments are
// iLogtail's.
func TestCommandMasksSecrets(t *testing.T) {
	for _, tc := range []struct{ cmdline, want string }{
		{"python3\x00myclient.py\x00--password\x00PW_SECRET_1\x00--port\x005432\x00",
			"python3 myclient.py --password *** --port 5432"},
		{"python3\x00myclient.py\x00--password=PW_SECRET_2\x00", "python3 myclient.py --password=***"},
		{"python3\x00backup.py\x00-uroot\x00-pPW_SECRET_3\x00db\x00", "python3 backup.py -uroot -p*** db"},
		{"python3\x00app.py\x00--client-secret\x00has space\x00-v\x00", "python3 app.py --client-secret *** -v"},
		{"python3\x00app.py\x00--API-TOKEN\x00T\x00--verbose\x00", "python3 app.py --API-TOKEN *** --verbose"},
		{"python3\x00app.py\x00--token\x00--verbose\x00", "python3 app.py --token --verbose"}, // a flag, not a value
		{"python3\x00app.py\x00api_key=K1\x00AWS_SECRET_ACCESS_KEY=K2\x00name=x\x00", "python3 app.py api_key=*** AWS_SECRET_ACCESS_KEY=*** name=x"},
		{"/usr/bin/java\x00-Dpassword=PW_SECRET_4\x00-Djavax.net.ssl.keyStorePassword=PW_SECRET_5\x00-Xmx1g\x00-jar\x00app.jar\x00",
			"/usr/bin/java -Dpassword=*** -Djavax.net.ssl.keyStorePassword=*** -Xmx1g -jar app.jar"},
		{"java\x00-jar\x00app.jar\x00--spring.datasource.url=jdbc:postgresql://db:5432/x\x00--db=postgres://app:PW_SECRET_6@db:5432/x?sslmode=require\x00",
			"java -jar app.jar --spring.datasource.url=jdbc:postgresql://db:5432/x --db=postgres://app:***@db:5432/x?sslmode=require"},
		{"python3\x00sync.py\x00https://u:p1@a/x\x00redis://:p2@b:6379\x00http://c/d@e\x00",
			"python3 sync.py https://u:***@a/x redis://:***@b:6379 http://c/d@e"},
		{"python3 worker.py --auth PW_SECRET_7 --level 2", "python3 worker.py --auth *** --level 2"}, // a rewritten title: one element
		{"python3\x00app.py\x00--password=\x00", "python3 app.py --password="},
		{"/usr/sbin/mysqld\x00--password=x\x00", "/usr/sbin/mysqld"}, // iLogtail's rule: the program only
	} {
		assert.Equal(t, tc.want, Command([]byte(tc.cmdline), true), "%q", tc.cmdline)
	}
	// MaskCmdSecrets: false keeps iLogtail's text.
	assert.Equal(t, "python3 myclient.py --password PW", Command([]byte("python3\x00myclient.py\x00--password\x00PW\x00"), false))
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

	require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte("python3\x00c.py\x00--password\x00S\x00"), 0o644))
	p, err = Procfs{Root: root}.Process(4242)
	require.NoError(t, err)
	assert.Equal(t, "python3 c.py --password ***", p.Cmd)
	p, err = Procfs{Root: root, KeepCmdSecrets: true}.Process(4242)
	require.NoError(t, err)
	assert.Equal(t, "python3 c.py --password S", p.Cmd)

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
