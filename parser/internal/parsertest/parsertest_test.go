package parsertest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

var sample = []Read{Req("GET"), Resp("200 OK"), Req(""), Req("PUT x"), Resp("204")}

// TestWriteLoad writes a capture and reads it back.
func TestWriteLoad(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "x-1")
	WriteCapture(t, prefix, sample)
	c := Load(t, prefix)
	if c.Name != "x-1" || string(c.Stream(parser.Request)) != "GETPUT x" || string(c.Stream(parser.Response)) != "200 OK204" {
		t.Fatalf("%+v", c)
	}
	if !reflect.DeepEqual(c.Reads, sample) {
		t.Fatalf("reads %q, want %q", c.Reads, sample)
	}
	if got := LoadAll(t, filepath.Dir(prefix)); len(got) != 1 || got[0].Name != "x-1" {
		t.Fatalf("LoadAll: %v", got)
	}
}

// TestLoadRejects checks that Load fails on .seq files that do not describe the streams.
func TestLoadRejects(t *testing.T) {
	for _, seq := range []string{"c2s 3\ns2c 3\n", "c2s 4\n", "c2s 3\nxyz 2\n", "c2s three\n", "c2s -1\nc2s 4\n", "c2s 1 2\n", "c2s 1\n"} {
		prefix := filepath.Join(t.TempDir(), "x")
		for suffix, data := range map[string]string{"c2s": "GET", "s2c": "", "seq": seq} {
			if err := os.WriteFile(prefix+"."+suffix, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ft := &fatalT{TB: t}
		func() {
			defer func() { recover() }()
			Load(ft, prefix)
		}()
		if !ft.failed {
			t.Errorf("%q: loaded", seq)
		}
	}
}

// fatalT records a Fatal instead of ending the test.
type fatalT struct {
	testing.TB
	failed bool
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatal(args ...any) {
	f.failed = true
	panic(f)
}
func (f *fatalT) Fatalf(format string, args ...any) { f.Fatal() }

func TestRecutSplitAt(t *testing.T) {
	if got := Recut(sample, 2); !reflect.DeepEqual(got, []Read{Req("GE"), Req("T"), Resp("20"), Resp("0 "), Resp("OK"),
		Req("PU"), Req("T "), Req("x"), Resp("20"), Resp("4")}) {
		t.Errorf("Recut: %q", got)
	}
	if got := SplitAt(sample, 3); !reflect.DeepEqual(got, []Read{Req("GET"), Resp("200"), Resp(" OK"), Req(""), Req("PUT"), Req(" x"), Resp("204")}) {
		t.Errorf("SplitAt: %q", got)
	}
	if got := Interleave([]byte("abcde"), []byte("xy"), 2); !reflect.DeepEqual(got, []Read{Req("ab"), Resp("xy"), Req("cd"), Req("e")}) {
		t.Errorf("Interleave: %q", got)
	}
}

func TestFuzzInput(t *testing.T) {
	long := Resp(string(make([]byte, 200)))
	in := []Read{Req("GET"), long}
	if got := FuzzReads(FuzzInput(in)); !reflect.DeepEqual(got, []Read{Req("GET"), Resp(string(make([]byte, 127))), Resp(string(make([]byte, 73)))}) {
		t.Errorf("round trip: %q", got)
	}
	if got := FuzzReads([]byte{0x85, 'a', 'b'}); !reflect.DeepEqual(got, []Read{Resp("ab")}) {
		t.Errorf("short: %q", got)
	}
}
