package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BinDir is where `make build` put what the tests run: $NETOBSERVER_BIN, else bin/ at the root of
// the netobserver module above the test's package directory (the iLogtail plugin, a module of its
// own in export/ilogtail, finds the same one).
func BinDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("NETOBSERVER_BIN"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("NETOBSERVER_BIN is not set and the netobserver module is not found above the test: %v", err)
	}
	return filepath.Join(root, "bin")
}

// BuiltFile is the path of name (e.g. "libebpf-replay.so") in BinDir. A missing file fails the
// test: a test that cannot run what it tests must not pass.
func BuiltFile(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(BinDir(t), name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `make build` (%v)", path, err)
	}
	return path
}

// moduleRoot is the nearest directory above the working directory (a test's package directory)
// whose go.mod is the netobserver module's.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isNetobserver(mod) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// isNetobserver reports whether a go.mod declares the netobserver module.
func isNetobserver(mod []byte) bool {
	for line := range bytes.Lines(mod) {
		if string(bytes.TrimSpace(line)) == "module github.com/netobserver/netobserver" {
			return true
		}
	}
	return false
}
