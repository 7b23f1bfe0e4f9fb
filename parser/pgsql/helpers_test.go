package pgsql

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/stretchr/testify/require"
)

// chunkT is one read recorded in a capture: the bytes and the stream they belong to.
type chunkT struct {
	typ  parser.MessageType
	data []byte
}

// loadCapture reads testdata/name.{c2s,s2c,seq} (format in testdata/README.md) and returns the
// reads in the order they happened.
func loadCapture(t testing.TB, name string) []chunkT {
	base := filepath.Join("testdata", name)
	streams := map[string][]byte{}
	for _, dir := range []string{"c2s", "s2c"} {
		b, err := os.ReadFile(base + "." + dir)
		require.NoError(t, err)
		streams[dir] = b
	}
	seq, err := os.ReadFile(base + ".seq")
	require.NoError(t, err)
	var out []chunkT
	for _, l := range strings.Split(strings.TrimSpace(string(seq)), "\n") {
		var dir string
		var n int
		_, err := fmt.Sscanf(l, "%s %d", &dir, &n)
		require.NoError(t, err, "%q", l)
		b := streams[dir]
		require.LessOrEqual(t, n, len(b), "%q", l)
		typ := parser.Request
		if dir == "s2c" {
			typ = parser.Response
		}
		out = append(out, chunkT{typ, b[:n]})
		streams[dir] = b[n:]
	}
	require.Empty(t, streams["c2s"], "bytes not in .seq")
	require.Empty(t, streams["s2c"], "bytes not in .seq")
	return out
}

// event is one Parse result the driver saw.
type event struct {
	typ      parser.MessageType
	status   parser.Status
	msg      parser.Message
	consumed int
}

// driver plays the observer for one connection: a buffer per direction, Parse until it needs
// more, bytes past the buffer skipped by position, Invalid resolved with FindBoundary.
type driver struct {
	t       testing.TB
	conn    parser.Conn
	buf     [3][]byte
	skip    [3]int
	events  []event
	invalid int // bytes skipped to resynchronise
}

func newDriver(t testing.TB) *driver {
	return &driver{t: t, conn: Protocol.NewConn(parser.NewInterner(1000))}
}

// total returns the bytes the driver consumed or skipped in direction typ.
func (d *driver) total(typ parser.MessageType) int {
	n := 0
	for _, e := range d.events {
		if e.typ == typ {
			n += e.consumed
		}
	}
	return n
}

func (d *driver) feed(typ parser.MessageType, data []byte) {
	if k := min(d.skip[typ], len(data)); k > 0 {
		data = data[k:]
		d.skip[typ] -= k
	}
	d.buf[typ] = append(d.buf[typ], data...)
	for len(d.buf[typ]) > 0 {
		buf := d.buf[typ]
		var m parser.Message
		r := d.conn.Parse(buf, typ, &m)
		switch r.Status {
		case parser.NeedMore:
			require.Zero(d.t, r.Consumed)
			return
		case parser.Complete, parser.Ignored:
			require.Positive(d.t, r.Consumed, "%v with nothing consumed", r.Status)
			if r.Status == parser.Complete {
				require.Equal(d.t, typ, m.Type)
				require.GreaterOrEqual(d.t, m.Size, r.Consumed, "Size counts at least this call's bytes")
				require.LessOrEqual(d.t, len(m.Resource), MaxStatement)
				require.LessOrEqual(d.t, len(m.Method), 32)
			}
			d.events = append(d.events, event{typ, r.Status, m, r.Consumed})
			if r.Consumed >= len(buf) {
				d.skip[typ] += r.Consumed - len(buf)
				d.buf[typ] = nil
			} else {
				d.buf[typ] = buf[r.Consumed:]
			}
		case parser.Invalid:
			require.Zero(d.t, r.Consumed)
			d.events = append(d.events, event{typ: typ, status: parser.Invalid})
			b := d.conn.FindBoundary(buf, typ)
			require.True(d.t, b == -1 || b > 0 && b < len(buf), "FindBoundary = %d of %d", b, len(buf))
			if b < 0 {
				d.invalid += len(buf)
				d.buf[typ] = nil
			} else {
				d.invalid += b
				d.buf[typ] = buf[b:]
			}
		default:
			d.t.Fatalf("status %v", r.Status)
		}
	}
}

// play feeds chunks in order.
func (d *driver) play(chunks []chunkT) *driver {
	for _, c := range chunks {
		d.feed(c.typ, c.data)
	}
	return d
}

// completes returns the Complete messages, in order.
func (d *driver) completes() []parser.Message {
	var out []parser.Message
	for _, e := range d.events {
		if e.status == parser.Complete {
			out = append(out, e.msg)
		}
	}
	return out
}

// count returns how many events of typ had status s.
func (d *driver) count(typ parser.MessageType, s parser.Status) int {
	n := 0
	for _, e := range d.events {
		if e.typ == typ && e.status == s {
			n++
		}
	}
	return n
}

// lines renders the Complete messages in order, one line each, for readable assertions.
func (d *driver) lines() []string {
	var out []string
	for _, m := range d.completes() {
		out = append(out, line(m))
	}
	return out
}

func line(m parser.Message) string {
	if m.Type == parser.Request {
		s := fmt.Sprintf("> %s %q size=%d", m.Method, m.Resource, m.Size)
		if m.Truncated {
			s += " truncated"
		}
		return s
	}
	s := fmt.Sprintf("< ok=%v size=%d", m.Success, m.Size)
	if m.Truncated {
		s += " truncated"
	}
	return s
}

// splitAt and byteByByte deliver of each direction differently: at a given cut, or byte by byte.
func splitAt(chunks []chunkT, at int) []chunkT {
	var out []chunkT
	for _, c := range chunks {
		if at > 0 && at < len(c.data) {
			out = append(out, chunkT{c.typ, c.data[:at]}, chunkT{c.typ, c.data[at:]})
		} else {
			out = append(out, c)
		}
	}
	return out
}

func byteByByte(chunks []chunkT) []chunkT {
	var out []chunkT
	for _, c := range chunks {
		for i := range c.data {
			out = append(out, chunkT{c.typ, c.data[i : i+1]})
		}
	}
	return out
}

func req(s string) chunkT  { return chunkT{parser.Request, []byte(s)} }
func resp(s string) chunkT { return chunkT{parser.Response, []byte(s)} }

// fuzzChunks decodes a fuzz input into reads: each read is a byte whose top bit is the direction
// (set: response) and whose low 7 bits are a length, then that many bytes.
func fuzzChunks(data []byte) []chunkT {
	var out []chunkT
	for len(data) > 0 {
		typ := parser.Request
		if data[0]&0x80 != 0 {
			typ = parser.Response
		}
		n := min(int(data[0]&0x7f), len(data)-1)
		out = append(out, chunkT{typ, data[1 : 1+n]})
		data = data[1+n:]
	}
	return out
}

// fuzzInput encodes reads in the form fuzzChunks decodes.
func fuzzInput(chunks []chunkT) []byte {
	var out []byte
	for _, c := range chunks {
		for b := c.data; len(b) > 0; {
			n := min(len(b), 0x7f)
			h := byte(n)
			if c.typ == parser.Response {
				h |= 0x80
			}
			out = append(append(out, h), b[:n]...)
			b = b[n:]
		}
	}
	return out
}
