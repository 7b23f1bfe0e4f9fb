package testenv

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// BuildTool builds the module's command tools/<name> into the test's temporary directory and
// returns its path.
func BuildTool(t testing.TB, name string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("the netobserver module is not found above the test: %v", err)
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "./tools/"+name)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building tools/%s: %v: %s", name, err, b)
	}
	return out
}

// ToolServer is one of the module's tools serving in a namespace until Stop, which returns its
// own account of what it served.
type ToolServer struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// StartTool starts path with args in ns; the test's end kills it if Stop did not end it.
func StartTool(t testing.TB, ns, path string, args ...string) *ToolServer {
	t.Helper()
	s := &ToolServer{cmd: Command(ns, path, args...)}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("in %s: start %s: %v", ns, path, err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	return s
}

// Pid is the server's process id.
func (s *ToolServer) Pid() int { return s.cmd.Process.Pid }

// Stop ends the server with SIGTERM and returns its "served <key …> <n>" lines (LineCounts).
func (s *ToolServer) Stop(t testing.TB) map[string]int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("%s: %v: %s", s.cmd.Path, err, s.out.String())
	}
	return LineCounts(t, s.out.String(), "served")
}

// LineCounts reads the lines "<prefix> <key …> <n>" of out into key → the sum of their n: how
// the module's tools report their own counts.
func LineCounts(t testing.TB, out, prefix string) map[string]int {
	t.Helper()
	m := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != prefix {
			continue
		}
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		m[strings.Join(f[1:len(f)-1], " ")] += n
	}
	return m
}
