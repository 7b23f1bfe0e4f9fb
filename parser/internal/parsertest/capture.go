package parsertest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// Read is one read of a connection: the bytes and the stream they belong to.
type Read struct {
	Type parser.MessageType
	Data []byte
}

// Req and Resp return a read of the request stream and of the response stream.
func Req(s string) Read  { return Read{parser.Request, []byte(s)} }
func Resp(s string) Read { return Read{parser.Response, []byte(s)} }

// Capture is one recorded connection (see the package documentation for the files).
type Capture struct {
	Name string // the last element of the path prefix
	// Streams holds the client's and the server's bytes: Streams[0] is .c2s, Streams[1] .s2c.
	Streams [2][]byte
	// Reads cuts the two streams into the reads of .seq, in recorded order. Their Data are
	// sub-slices of Streams.
	Reads []Read
}

// Stream returns the bytes of one direction: the requests or the responses.
func (c *Capture) Stream(typ parser.MessageType) []byte { return c.Streams[typ-1] }

// Load reads the capture prefix.{c2s,s2c,seq}. It fails t if a file is missing, a .seq line is
// not "c2s <n>" or "s2c <n>", or the reads do not account for every byte of both streams.
func Load(t testing.TB, prefix string) *Capture {
	t.Helper()
	c := Capture{Name: filepath.Base(prefix)}
	for i, dir := range dirs {
		b, err := os.ReadFile(prefix + "." + dir)
		if err != nil {
			t.Fatal(err)
		}
		c.Streams[i] = b
	}
	seq, err := os.ReadFile(prefix + ".seq")
	if err != nil {
		t.Fatal(err)
	}
	var off [2]int
	sc := bufio.NewScanner(bytes.NewReader(seq))
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		i, n, ok := parseRead(sc.Text())
		if !ok || off[i]+n > len(c.Streams[i]) {
			t.Fatalf("%s.seq line %d: %q is not \"c2s <n>\" or \"s2c <n>\" within the bytes left", prefix, line, sc.Text())
		}
		c.Reads = append(c.Reads, Read{parser.MessageType(i + 1), c.Streams[i][off[i] : off[i]+n : off[i]+n]})
		off[i] += n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for i, dir := range dirs {
		if off[i] != len(c.Streams[i]) {
			t.Fatalf("%s.%s: %d bytes not in .seq", prefix, dir, len(c.Streams[i])-off[i])
		}
	}
	return &c
}

// dirs are the file suffixes of the two streams, indexed by MessageType-1.
var dirs = []string{"c2s", "s2c"}

// parseRead parses a .seq line: the index in dirs of its direction and its length.
func parseRead(line string) (i, n int, ok bool) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return 0, 0, false
	}
	i = slices.Index(dirs, f[0])
	n, err := strconv.Atoi(f[1])
	return i, n, i >= 0 && err == nil && n >= 0
}

// Names returns the names of the captures in dir (the .seq files without their suffix), sorted.
func Names(dir string) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.seq"))
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".seq"))
	}
	return names
}

// LoadAll loads every capture in dir, in the order of Names; it fails t if there is none.
func LoadAll(t testing.TB, dir string) []*Capture {
	t.Helper()
	names := Names(dir)
	if len(names) == 0 {
		t.Fatal("no captures")
	}
	var out []*Capture
	for _, name := range names {
		out = append(out, Load(t, filepath.Join(dir, name)))
	}
	return out
}

// StreamLen returns how many bytes of direction typ the reads carry.
func StreamLen(reads []Read, typ parser.MessageType) int {
	n := 0
	for _, r := range reads {
		if r.Type == typ {
			n += len(r.Data)
		}
	}
	return n
}

// Recut delivers the same bytes in the same order, each read cut into reads of at most size
// bytes (size 1: byte by byte). Empty reads are dropped.
func Recut(reads []Read, size int) []Read {
	var out []Read
	for _, r := range reads {
		for b := r.Data; len(b) > 0; {
			n := min(size, len(b))
			out = append(out, Read{r.Type, b[:n:n]})
			b = b[n:]
		}
	}
	return out
}

// SplitAt cuts every read longer than at in two, after its first at bytes.
func SplitAt(reads []Read, at int) []Read {
	var out []Read
	for _, r := range reads {
		if at > 0 && at < len(r.Data) {
			out = append(out, Read{r.Type, r.Data[:at:at]}, Read{r.Type, r.Data[at:]})
		} else {
			out = append(out, r)
		}
	}
	return out
}

// Interleave cuts reqs and resps into reads of size bytes and alternates them, a request read
// first, until both are used up.
func Interleave(reqs, resps []byte, size int) []Read {
	var out []Read
	src := [2][]byte{reqs, resps}
	for off := 0; off < len(reqs) || off < len(resps); off += size {
		for d, b := range src {
			if off < len(b) {
				out = append(out, Read{parser.MessageType(d + 1), b[off:min(off+size, len(b))]})
			}
		}
	}
	return out
}
