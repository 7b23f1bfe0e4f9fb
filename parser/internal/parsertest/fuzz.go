package parsertest

import (
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// FuzzReads decodes a fuzz input into reads: each read is a byte whose top bit is the direction
// (set: response) and whose low 7 bits are a length, then that many bytes (fewer at the end).
func FuzzReads(data []byte) []Read {
	var out []Read
	for len(data) > 0 {
		typ := parser.Request
		if data[0]&0x80 != 0 {
			typ = parser.Response
		}
		n := min(int(data[0]&0x7f), len(data)-1)
		out = append(out, Read{typ, data[1 : 1+n]})
		data = data[1+n:]
	}
	return out
}

// FuzzInput encodes reads in the form FuzzReads decodes, a read longer than 127 bytes as several.
func FuzzInput(reads []Read) []byte {
	var out []byte
	for _, r := range reads {
		for b := r.Data; len(b) > 0; {
			n := min(len(b), 0x7f)
			h := byte(n)
			if r.Type == parser.Response {
				h |= 0x80
			}
			out = append(append(out, h), b[:n]...)
			b = b[n:]
		}
	}
	return out
}

// FuzzStreams is the body of a fuzz target over the two streams of a connection. Each stream is
// parsed in one piece by a fresh Conn, and then both are played through one more Conn in
// alternating reads of step%64+1 bytes, with check on every Parse result and CheckBoundary on
// every FindBoundary result. It returns the Driver of the second part.
//
// Inputs with a stream over 8 KiB are skipped: they make each run, and minimisation, slow, and
// the paths that need more bytes are for unit tests.
func FuzzStreams[M Message, C parser.Parser[M]](t testing.TB, newConn func() C, check CheckFunc[M], reqs, resps []byte, step uint8) *Driver[M] {
	t.Helper()
	if len(reqs) > 8<<10 || len(resps) > 8<<10 {
		t.Skip()
	}
	for _, typ := range both {
		buf := reqs
		if typ == parser.Response {
			buf = resps
		}
		c := newConn()
		var m M
		check(t, buf, typ, c.Parse(buf, typ, &m), &m)
		CheckBoundary(t, buf, c.FindBoundary(buf, typ))
	}
	d := &Driver[M]{T: t, Conn: newConn(), Check: check}
	return d.Play(Interleave(reqs, resps, int(step)%64+1))
}

// CheckWhole parses data in one piece as either direction on c: a Complete result must consume
// something, and FindBoundary must stay inside data.
func CheckWhole[M Message](t testing.TB, c parser.Parser[M], data []byte) {
	t.Helper()
	var m M
	for _, typ := range both {
		if r := c.Parse(data, typ, &m); r.Status == parser.Complete && r.Consumed <= 0 {
			t.Fatalf("Complete with Consumed %d", r.Consumed)
		}
		CheckBoundary(t, data, c.FindBoundary(data, typ))
	}
}

// SeedCaptures adds every capture in dir to f as a seed of FuzzStreams' form: the first n
// bytes of each stream, and the length of the request stream as step.
func SeedCaptures(f *testing.F, dir string, n int) {
	for _, name := range Names(dir) {
		c := Load(f, filepath.Join(dir, name))
		reqs, resps := c.Stream(parser.Request), c.Stream(parser.Response)
		f.Add(reqs[:min(len(reqs), n)], resps[:min(len(resps), n)], uint8(len(reqs)))
	}
}

// SeedCaptureCases adds the reads of each case's capture in dir to f, in FuzzInput's form.
func SeedCaptureCases(f *testing.F, dir string, cases []CaptureCase) {
	for _, tc := range cases {
		f.Add(FuzzInput(Load(f, filepath.Join(dir, tc.Name)).Reads))
	}
}

// FuzzDriven is the body of a fuzz target over reads in FuzzReads' form: they are played through
// a Driver from newDriver as they come and again one byte at a time (every message's first bytes
// alone, as a writer that sends a header in a write of its own delivers them), and the raw input
// is parsed in one piece by CheckWhole on c.
func FuzzDriven[M Message](t *testing.T, data []byte, newDriver func(testing.TB) *Driver[M], c parser.Parser[M]) {
	reads := FuzzReads(data)
	newDriver(t).Play(reads)
	newDriver(t).Play(Recut(reads, 1))
	CheckWhole(t, c, data)
}
