package keymask

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct {
		in   string
		sep  byte
		want string
	}{
		{"", '/', ""},
		{"sensors/temp", '/', "sensors/temp"},
		{"devices/42/state", '/', "devices/?/state"},
		{"devices/sensor42/v2", '/', "devices/sensor?/v?"},
		{"u/3f2a9c1e-0b7d-4c55-9a1e-2b3c4d5e6f70/in", '/', "u/?/in"},
		{"h/deadbeef01", '/', "h/?"},
		{"h/deadbeef", '/', "h/deadbeef"}, // no digit: a word
		{"a/+/b/#", '/', "a/+/b/#"},
		{"/lead", '/', "/lead"},
		{"trail/", '/', "trail/"},
		{"a//b", '/', "a//b"},
		{"a/b/c/d/e/f/g/h", '/', "a/b/c/d/e/f/…"},
		{"orders.eu.1234.created", '.', "orders.eu.?.created"},
		{"amq.gen-JzTY20BRgKO-HjmUJj0wLg", '.', "amq.?"},
		{"k/ab1xy", '/', "k/ab?xy"},
		{"x\x00y\xff", '/', "x.y."},
	} {
		if got := string(Mask(nil, []byte(tc.in), tc.sep)); got != tc.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", tc.in, tc.sep, got, tc.want)
		}
	}
	long := strings.Repeat("abcdefghij", 30)
	if got := Mask(nil, []byte(long), '/'); len(got) > MaxLen+len("…")+1 {
		t.Errorf("Mask of %d bytes: %d bytes %q", len(long), len(got), got)
	}
	long = strings.Repeat("abcdefghi/", 30)
	if got := Mask(nil, []byte(long), '/'); len(got) > MaxLen+len("…")+1 {
		t.Errorf("Mask of %d bytes: %d bytes %q", len(long), len(got), got)
	}
}

func FuzzMask(f *testing.F) {
	f.Add([]byte("a/1/b"), byte('/'))
	f.Fuzz(func(t *testing.T, in []byte, sep byte) {
		if got := Mask(nil, in, sep); len(got) > MaxLen+2*len("…")+1 {
			t.Fatalf("%d bytes", len(got))
		}
	})
}
