package dns

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// h decodes a hex literal; spaces, newlines and "|" (used to mark fields) are ignored.
func h(s string) []byte {
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// tcp prefixes msg with its 2-byte length, as DNS over TCP sends it.
func tcp(msg []byte) []byte {
	return append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// withID returns a copy of msg with its transaction ID replaced.
func withID(msg []byte, id uint16) []byte {
	c := append([]byte(nil), msg...)
	c[0], c[1] = byte(id>>8), byte(id)
	return c
}

// Literal vectors. Each field is marked: ID | flags | QD AN NS AR | question | records.
var (
	// A query for example.com, RD set.
	queryA = h(`1234 | 0100 | 0001 0000 0000 0000 |
		07 6578616d706c65 03 636f6d 00 | 0001 0001`)
	// Its answer: one A record whose owner is a pointer to the question name (offset 12).
	respA = h(`1234 | 8180 | 0001 0001 0000 0000 |
		07 6578616d706c65 03 636f6d 00 | 0001 0001 |
		c00c 0001 0001 00000e10 0004 5db8d822`)
	// NXDOMAIN for nope.example.com with an SOA in the authority section whose names point into
	// the question (offset 17 = "example.com").
	respNX = h(`beef | 8183 | 0001 0000 0001 0000 |
		04 6e6f7065 07 6578616d706c65 03 636f6d 00 | 0001 0001 |
		c011 0006 0001 00000384 0026 |
		02 6e73 c011 | 0a 686f73746d6173746572 c011 |
		00000001 00000002 00000003 00000004 00000005`)
	// Two questions (A www.Example.org, AAAA mail.example.org), the second compressed.
	query2 = h(`0007 | 0100 | 0002 0000 0000 0000 |
		03 777777 07 4578616d706c65 03 6f7267 00 | 0001 0001 |
		04 6d61696c c010 | 001c 0001`)
	// Root NS query.
	queryRoot = h(`0a0b | 0000 | 0001 0000 0000 0000 | 00 | 0002 0001`)
	// A response with rcode 0 in the header and extended rcode 1 in its OPT record: BADVERS (16).
	respBadvers = h(`0102 | 8100 | 0001 0000 0000 0001 |
		01 61 00 | 0001 0001 |
		00 0029 1000 01000000 0000`)
	// A response echoing no question (FORMERR, as some servers send it).
	respFormerr = h(`5555 | 8001 | 0000 0000 0000 0000`)
	// An answer with a CNAME chain: www.a.test CNAME b.test, b.test A 192.0.2.1, b.test AAAA
	// 2001:db8::1, and a TXT that must be skipped.
	respChain = h(`0c0c | 8180 | 0001 0004 0000 0000 |
		03 777777 01 61 04 74657374 00 | 0001 0001 |
		c00c 0005 0001 0000003c 0004 | 01 62 c012 |
		c028 0001 0001 0000003c 0004 c0000201 |
		c028 001c 0001 0000003c 0010 20010db8000000000000000000000001 |
		c028 0010 0001 0000003c 0003 02 6869`)
)

// query builds a query for name with the given type: the vectors of the type-name table.
func query(id, qtype uint16, name string) []byte {
	b := []byte{byte(id >> 8), byte(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, byte(qtype>>8), byte(qtype), 0, 1)
}

type want struct {
	status   parser.Status
	consumed int
	msg      Message
}

func check(t *testing.T, name string, c *Conn, buf []byte, typ parser.MessageType, w want) {
	t.Helper()
	var m Message
	r := c.Parse(buf, typ, &m)
	if r.Status != w.status || r.Consumed != w.consumed {
		t.Fatalf("%s: Parse = %v/%d, want %v/%d", name, r.Status, r.Consumed, w.status, w.consumed)
	}
	if r.Status == parser.Complete && m != w.msg {
		t.Fatalf("%s: message\n got %+v\nwant %+v", name, m, w.msg)
	}
}

func newConn() *Conn { return NewConn(parser.NewInterner(1024)) }

func reqMsg(size int, id uint32, method, res string) Message {
	return Message{Type: parser.Request, Size: size, ID: id, Method: method, Resource: res}
}

func respMsg(size int, id uint32, method, res string, rcode, answers int) Message {
	return Message{Type: parser.Response, Size: size, ID: id, Method: method, Resource: res,
		Status: rcode, Answers: answers, Success: rcode == 0 && answers > 0}
}

// literalCases are the literal vectors with what Parse must make of them, bare (UDP).
func literalCases() []struct {
	name string
	buf  []byte
	typ  parser.MessageType
	msg  Message
} {
	return []struct {
		name string
		buf  []byte
		typ  parser.MessageType
		msg  Message
	}{
		{"query A", queryA, parser.Request, reqMsg(29, 0x1234, "A", "example.com")},
		{"answer A", respA, parser.Response, respMsg(45, 0x1234, "A", "example.com", 0, 1)},
		{"NXDOMAIN", respNX, parser.Response, respMsg(len(respNX), 0xbeef, "A", "nope.example.com", 3, 0)},
		{"two questions", query2, parser.Request, reqMsg(len(query2), 7, "A", "www.Example.org,mail.Example.org")},
		{"root", queryRoot, parser.Request, reqMsg(17, 0x0a0b, "NS", ".")},
		{"BADVERS", respBadvers, parser.Response, respMsg(len(respBadvers), 0x0102, "A", "a", 16, 0)},
		{"FORMERR no question", respFormerr, parser.Response, respMsg(12, 0x5555, "", "", 1, 0)},
		{"CNAME chain", respChain, parser.Response, respMsg(len(respChain), 0x0c0c, "A", "www.a.test", 0, 4)},
	}
}

func TestLiteralVectors(t *testing.T) {
	for _, tc := range literalCases() {
		t.Run(tc.name, func(t *testing.T) {
			// Bare, as one UDP datagram.
			check(t, "udp", newConn(), tc.buf, tc.typ, want{parser.Complete, len(tc.buf), tc.msg})
			// Behind a TCP length prefix: the message is the same, two bytes longer.
			m := tc.msg
			m.Size += 2
			check(t, "tcp", newConn(), tcp(tc.buf), tc.typ, want{parser.Complete, len(tc.buf) + 2, m})
			// The other message type is not this message.
			other := parser.Request
			if tc.typ == parser.Request {
				other = parser.Response
			}
			check(t, "wrong type", newConn(), tc.buf, other, want{status: parser.Invalid})
		})
	}
}

// TestIDEqualsLengthMinus2 is the framing rule's hard case: a UDP datagram whose transaction ID
// equals its length minus 2 starts with what looks like a TCP length prefix. It must still parse
// as the UDP message it is, on a fresh connection and on one that has just seen TCP.
func TestIDEqualsLengthMinus2(t *testing.T) {
	for _, tc := range literalCases() {
		id := uint16(len(tc.buf) - 2)
		buf := withID(tc.buf, id)
		m := tc.msg
		m.ID = uint32(id)
		check(t, tc.name+" fresh", newConn(), buf, tc.typ, want{parser.Complete, len(buf), m})

		c := newConn()
		var scratch Message
		if r := c.Parse(tcp(tc.buf), tc.typ, &scratch); r.Status != parser.Complete {
			t.Fatalf("%s: TCP warm-up: %v", tc.name, r.Status)
		}
		check(t, tc.name+" after tcp", c, buf, tc.typ, want{parser.Complete, len(buf), m})
		// And as a stream of two such datagrams.
		two := append(append([]byte(nil), buf...), buf...)
		check(t, tc.name+" two", c, two, tc.typ, want{parser.Complete, len(buf), m})
	}
}

func TestTypeNames(t *testing.T) {
	for qtype, name := range map[uint16]string{
		1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
		33: "SRV", 65: "HTTPS", 255: "ANY", 0: "UnKnown", 64: "UnKnown", 99: "UnKnown", 257: "UnKnown",
	} {
		q := query(0x4242, qtype, "svc.example.net")
		check(t, name, newConn(), q, parser.Request,
			want{parser.Complete, len(q), reqMsg(len(q), 0x4242, name, "svc.example.net")})
	}
}

// TestEveryPrefix cuts every vector, bare and TCP-framed, at every length: a proper prefix of a
// message is never Complete and, since what it holds is a plausible beginning, is NeedMore.
func TestEveryPrefix(t *testing.T) {
	var m Message
	for _, tc := range literalCases() {
		for _, buf := range [][]byte{tc.buf, tcp(tc.buf)} {
			c := newConn()
			for k := 0; k < len(buf); k++ {
				if r := c.Parse(buf[:k], tc.typ, &m); r.Status != parser.NeedMore {
					t.Fatalf("%s: prefix %d/%d: %v/%d, want need-more", tc.name, k, len(buf), r.Status, r.Consumed)
				}
			}
		}
	}
}

func TestStreams(t *testing.T) {
	// Several messages back to back, as the stream buffer hands them over: UDP datagrams
	// concatenated by position, and pipelined TCP messages.
	for _, framed := range []bool{false, true} {
		var stream []byte
		var wants []Message
		for _, tc := range literalCases() {
			if tc.typ != parser.Response {
				continue
			}
			b, m := tc.buf, tc.msg
			if framed {
				b = tcp(b)
				m.Size += 2
			}
			stream = append(stream, b...)
			wants = append(wants, m)
		}
		c := newConn()
		for i, w := range wants {
			check(t, fmt.Sprintf("framed=%v #%d", framed, i), c, stream, parser.Response, want{parser.Complete, w.Size, w})
			stream = stream[w.Size:]
		}
		if len(stream) != 0 {
			t.Fatalf("framed=%v: %d bytes left", framed, len(stream))
		}
	}
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		name string
		buf  []byte
		typ  parser.MessageType
	}{
		// Compression: a pointer to itself, a pointer forwards (two pointers pointing at each
		// other would loop), a pointer into the header, a pointer chain that ends in a loop.
		{"self pointer", h(`0001 0100 0001 0000 0000 0000 | c00c | 0001 0001`), parser.Request},
		{"forward pointer", h(`0001 0100 0001 0000 0000 0000 | c00e c00c | 0001 0001`), parser.Request},
		{"pointer into header", h(`0001 0100 0001 0000 0000 0000 | c002 | 0001 0001`), parser.Request},
		{"answer pointer loop", h(`0001 8180 0001 0001 0000 0000 | 01 61 00 | 0001 0001 |
			c01d c01b 0001 0001 00000000 0004 01020304`), parser.Response},
		// Names: a 64-byte label, a 256-byte name, the obsolete 0x40/0x80 label types.
		{"label 64", append(append(h(`0001 0100 0001 0000 0000 0000 40`), make([]byte, 64)...), h(`00 0001 0001`)...), parser.Request},
		{"name 256", longName(), parser.Request},
		{"label type 0x40", h(`0001 0100 0001 0000 0000 0000 | 41 00 | 0001 0001`), parser.Request},
		{"label type 0x80", h(`0001 0100 0001 0000 0000 0000 | 81 00 | 0001 0001`), parser.Request},
		// Headers: Z bit, unassigned opcode 3, rcode in a query, no question in a query, too
		// many questions, counts that cannot fit in a message.
		{"Z bit", h(`0001 0140 0001 0000 0000 0000 | 00 | 0001 0001`), parser.Request},
		{"opcode 3", h(`0001 1900 0001 0000 0000 0000 | 00 | 0001 0001`), parser.Request},
		{"rcode in query", h(`0001 0103 0001 0000 0000 0000 | 00 | 0001 0001`), parser.Request},
		{"no question", h(`0001 0100 0000 0000 0000 0000`), parser.Request},
		{"17 questions", h(`0001 0100 0011 0000 0000 0000`), parser.Request},
		{"huge counts", h(`0001 8180 0001 ffff ffff ffff`), parser.Response},
		// A TCP message whose records end before its announced length.
		{"tcp length too long", append(tcp(append(append([]byte(nil), queryA...), 0, 0)), 0, 0), parser.Request},
		// Garbage.
		{"http", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), parser.Request},
		{"http response", []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), parser.Response},
		{"redis", []byte("*1\r\n$4\r\nPING\r\n"), parser.Request},
		{"zeros", make([]byte, 40), parser.Response},
		{"ones", []byte(strings.Repeat("\xff", 40)), parser.Request},
		{"short garbage", []byte("\x00\x01\xff\xff"), parser.Request},
	}
	for _, tc := range cases {
		check(t, tc.name, newConn(), tc.buf, tc.typ, want{status: parser.Invalid})
	}
}

// longName is a query whose name is 256 bytes on the wire (one too many).
func longName() []byte {
	b := h(`0001 0100 0001 0000 0000 0000`)
	for i := 0; i < 4; i++ { // 4 × 63-byte labels = 256 bytes with the length octets
		b = append(b, 63)
		b = append(b, strings.Repeat("a", 63)...)
	}
	return append(b, 0, 0, 1, 0, 1)
}

func TestMaxName(t *testing.T) {
	// 3 × 63 + 61 bytes of labels: 255 wire bytes, the largest allowed.
	b := h(`0001 0100 0001 0000 0000 0000`)
	var name []string
	for _, n := range []int{63, 63, 63, 61} {
		b = append(b, byte(n))
		b = append(b, strings.Repeat("z", n)...)
		name = append(name, strings.Repeat("z", n))
	}
	b = append(b, 0, 0, 1, 0, 1)
	check(t, "255", newConn(), b, parser.Request,
		want{parser.Complete, len(b), reqMsg(len(b), 1, "A", strings.Join(name, "."))})
}

// TestPointerHops builds a chain of backward pointers inside a TXT record's data and points the
// next record's owner name at its end: within the hop bound it decodes, past it it is Invalid.
func TestPointerHops(t *testing.T) {
	build := func(chain int) []byte {
		b := h(`0001 8180 0001 0002 0000 0000 | 01 61 00 | 0001 0001`) // question "a" at 12
		rdStart := len(b) + 12                                         // after the TXT's fixed part
		b = append(b, h(`c00c 0010 0001 00000000`)...)
		b = append(b, byte(chain*2>>8), byte(chain*2))
		prev := 12
		for i := 0; i < chain; i++ {
			p := rdStart + 2*i
			b = append(b, 0xc0|byte(prev>>8), byte(prev))
			prev = p
		}
		b = append(b, 0xc0|byte(prev>>8), byte(prev))
		return append(b, h(`0001 0001 00000000 0004 01020304`)...)
	}
	// One pointer in place plus chain pointers: chain+1 hops.
	ok := build(maxHops - 1)
	check(t, "at bound", newConn(), ok, parser.Response, want{parser.Complete, len(ok), respMsg(len(ok), 1, "A", "a", 0, 2)})
	var r AddrReader
	var names []string
	if err := r.Read(ok, func(a AddrRecord) bool { names = append(names, string(a.Name)); return true }); err != nil || fmt.Sprint(names) != "[a]" {
		t.Fatalf("Read = %v, %v", names, err)
	}
	check(t, "past bound", newConn(), build(maxHops), parser.Response, want{status: parser.Invalid})
}

// TestFindBoundary resynchronises the way the caller does after Invalid: skip to FindBoundary,
// parse, repeat. FindBoundary only checks headers and first names, so it may stop at a plausible
// false start first; Parse rejects it and the scan goes on to the real message.
func TestFindBoundary(t *testing.T) {
	c := newConn()
	garbage := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, tc := range []struct {
		name string
		buf  []byte
		typ  parser.MessageType
		want int // where the message is found
		size int
	}{
		{"garbage then query", append(append([]byte(nil), garbage...), queryA...), parser.Request, len(garbage), len(queryA)},
		{"garbage then framed answer", append(append([]byte(nil), garbage...), tcp(respA)...), parser.Response, len(garbage), len(respA) + 2},
		{"query then query", append(append([]byte(nil), queryA...), queryA...), parser.Request, len(queryA), len(queryA)},
		{"zeros then NXDOMAIN", append(make([]byte, 50), respNX...), parser.Response, 50, len(respNX)},
	} {
		off, steps := 0, 0
		for {
			b := c.FindBoundary(tc.buf[off:], tc.typ)
			if b <= 0 {
				t.Fatalf("%s: FindBoundary = %d at %d", tc.name, b, off)
			}
			off += b
			steps++
			var m Message
			if r := c.Parse(tc.buf[off:], tc.typ, &m); r.Status == parser.Complete {
				if off != tc.want || r.Consumed != tc.size {
					t.Fatalf("%s: message at %d size %d, want %d size %d", tc.name, off, r.Consumed, tc.want, tc.size)
				}
				break
			}
		}
		t.Logf("%s: %d FindBoundary calls", tc.name, steps)
	}
	for _, buf := range [][]byte{nil, {0}} {
		if got := c.FindBoundary(buf, parser.Request); got != -1 {
			t.Errorf("FindBoundary(% x) = %d, want -1", buf, got)
		}
	}
	// Garbage with no plausible start before its last 5 bytes: too few to see the flags behind a
	// TCP length of 0xffff.
	ones := []byte(strings.Repeat("\xff", 40))
	if got := c.FindBoundary(ones, parser.Request); got != 35 {
		t.Errorf("FindBoundary(ones) = %d, want 35", got)
	}
}

func TestAddrs(t *testing.T) {
	got, err := AppendAddrs(nil, respChain)
	if err != nil {
		t.Fatal(err)
	}
	wantAddrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	if fmt.Sprint(got) != fmt.Sprint(wantAddrs) {
		t.Fatalf("AppendAddrs = %v, want %v", got, wantAddrs)
	}
	// TCP framing, and appending to what is there.
	got, err = AppendAddrs(got[:1], tcp(respA))
	if err != nil || fmt.Sprint(got) != "[192.0.2.1 93.184.216.34]" {
		t.Fatalf("AppendAddrs tcp = %v, %v", got, err)
	}

	var r AddrReader
	var recs []string
	err = r.Read(respChain, func(a AddrRecord) bool {
		recs = append(recs, fmt.Sprintf("%s %s %d", a.Name, a.Addr, a.TTL))
		return true
	})
	if err != nil || strings.Join(recs, "; ") != "b.test 192.0.2.1 60; b.test 2001:db8::1 60" {
		t.Fatalf("Read = %q, %v", recs, err)
	}
	// Stopping early.
	n := 0
	if err := r.Read(respChain, func(AddrRecord) bool { n++; return false }); err != nil || n != 1 {
		t.Fatalf("Read stop: n=%d err=%v", n, err)
	}

	for name, tc := range map[string]struct {
		buf []byte
		err error
	}{
		"query":     {queryA, ErrInvalid},
		"truncated": {respA[:40], ErrShort},
		"garbage":   {[]byte("HTTP/1.1 200 OK\r\n\r\n"), ErrInvalid},
		"nxdomain":  {respNX, nil},
	} {
		got, err := AppendAddrs(nil, tc.buf)
		if err != tc.err || len(got) != 0 {
			t.Errorf("%s: AppendAddrs = %v, %v; want none, %v", name, got, err, tc.err)
		}
	}
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "dns", abi.ProtoDNS, parser.Parser[Message](newConn()))
	// A Conn without an Interner still works (it allocates).
	var m Message
	if r := NewConn(nil).Parse(queryA, parser.Request, &m); r.Status != parser.Complete || m.Resource != "example.com" {
		t.Fatalf("nil interner: %v %+v", r, m)
	}
}

// sink records what a parser.Conn of Protocol produces.
type sink struct {
	calls []string
	names []parser.HostName
}

func (s *sink) Call(reqTS, respTS uint64, x *parser.Exchange) {
	s.calls = append(s.calls, fmt.Sprintf("%d-%d %v %v", reqTS, respTS, parsertest.FieldsProtocols(x), parsertest.FieldsL4L7(x)))
}

func (s *sink) HostName(n parser.HostName) { s.names = append(s.names, n) }

// TestConn follows queries and answers through the Protocol's Conn: answers pair with queries by
// id, in any order, and an answer's A records name their addresses after the question.
func TestConn(t *testing.T) {
	var s sink
	c := Protocol.NewConn(parser.ConnConfig{Strings: parser.NewInterner(8), MaxPending: 4,
		Counts: &parser.MatchCounts{}, Sink: &s, Names: true})
	other := withID(queryA, 0x4321)
	for i, m := range []struct {
		buf []byte
		typ parser.MessageType
	}{{queryA, parser.Request}, {other, parser.Request}, {withID(respA, 0x4321), parser.Response}, {respA, parser.Response}} {
		if r := c.Parse(m.buf, m.typ, uint64(10+i)); r.Status != parser.Complete {
			t.Fatalf("message %d: %v", i, r)
		}
	}
	want := []string{
		"11-12 [example.com A 1   ] [A  example.com  1 -1]",
		"10-13 [example.com A 1   ] [A  example.com  1 -1]",
	}
	if fmt.Sprint(s.calls) != fmt.Sprint(want) {
		t.Errorf("calls %q, want %q", s.calls, want)
	}
	n := parser.HostName{Host: "example.com", Addr: netip.MustParseAddr("93.184.216.34"), TTL: 3600}
	if fmt.Sprint(s.names) != fmt.Sprint([]parser.HostName{n, n}) {
		t.Errorf("names %+v, want twice %+v", s.names, n)
	}
	if n, _ := c.Requests(); n != 0 {
		t.Errorf("%d requests left waiting", n)
	}
}

func TestZeroAllocs(t *testing.T) {
	c := newConn()
	var m Message
	bufs := [][]byte{queryA, respA, tcp(respNX), query2, respChain}
	for _, b := range bufs { // intern the names once
		c.Parse(b, typeOf(b), &m)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, b := range bufs {
			c.Parse(b, typeOf(b), &m)
		}
	})
	if allocs != 0 {
		t.Fatalf("Parse allocates %.1f times per round", allocs)
	}
	var r AddrReader
	dst := make([]netip.Addr, 0, 8)
	r.Read(respChain, func(AddrRecord) bool { return true })
	allocs = testing.AllocsPerRun(100, func() {
		dst, _ = AppendAddrs(dst[:0], respChain)
		r.Read(respChain, func(AddrRecord) bool { return true })
	})
	if allocs != 0 {
		t.Fatalf("address helpers allocate %.1f times per round", allocs)
	}
}

// typeOf tells a test vector's message type from its QR bit (looking past a TCP prefix).
func typeOf(b []byte) parser.MessageType {
	off := 0
	if int(be16(b)) == len(b)-2 {
		off = 2
	}
	if b[off+2]&0x80 != 0 {
		return parser.Response
	}
	return parser.Request
}
