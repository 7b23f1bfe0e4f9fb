package dns

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// syscall is one socket syscall of a capture: its payload, one slice per iovec segment.
type syscall struct {
	side, call string
	send       bool
	segs       [][]byte
}

// readCapture loads testdata/<name>.txt (see testdata/README.md for the format).
func readCapture(t testing.TB, name string) []syscall {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []syscall
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 {
			t.Fatalf("%s: bad line %q", name, line)
		}
		s := syscall{side: fields[0], call: fields[1], send: fields[2] == "send"}
		for _, x := range fields[3:] {
			b, err := hex.DecodeString(x)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			s.segs = append(s.segs, b)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// exchange is what a capture must parse to: one query and its response.
type exchange struct {
	method, resource string
	rcode, answers   int
	addrs            string
}

var captures = []struct {
	name      string
	framed    bool
	exchanges []exchange
}{
	{"udp_a", false, []exchange{{"A", "example.test", 0, 1, "[10.1.2.3]"}}},
	{"udp_aaaa", false, []exchange{{"AAAA", "dual.test", 0, 1, "[fd00::7]"}}},
	{"udp_nxdomain", false, []exchange{{"A", "nope.test", 3, 0, "[]"}}},
	{"udp_txt", false, []exchange{{"TXT", "txt.test", 0, 1, "[]"}}},
	{"udp_cname", false, []exchange{{"A", "alias.test", 0, 2, "[10.9.8.7]"}}},
	{"udp_mx", false, []exchange{{"MX", "mx.test", 0, 1, "[]"}}},
	{"udp_srv", false, []exchange{{"SRV", "_sip._tcp.srv.test", 0, 1, "[]"}}},
	{"udp_ptr", false, []exchange{{"PTR", "7.8.9.10.in-addr.arpa", 0, 1, "[]"}}},
	{"udp_multi", false, []exchange{{"A", "multi.test", 0, 2, "[10.0.0.1 10.0.0.2]"}}},
	{"udp_https", false, []exchange{{"HTTPS", "dual.test", 0, 0, "[]"}}},
	{"tcp_a", true, []exchange{{"A", "example.test", 0, 1, "[10.1.2.3]"}}},
	{"tcp_aaaa", true, []exchange{{"AAAA", "dual.test", 0, 1, "[fd00::7]"}}},
	{"tcp_two", true, []exchange{
		{"A", "example.test", 0, 1, "[10.1.2.3]"},
		{"AAAA", "dual.test", 0, 1, "[fd00::7]"},
	}},
}

// TestCaptures parses the real traffic recorded by testdata/capture.sh. For each side (dnsmasq,
// dig) and direction, the syscall payloads are fed in order, as the stream buffer would hand them
// over: after each syscall the parser must say NeedMore until a whole message is there (dnsmasq
// reads a TCP length one byte at a time), then parse exactly the expected messages.
func TestCaptures(t *testing.T) {
	for _, tc := range captures {
		t.Run(tc.name, func(t *testing.T) {
			calls := readCapture(t, tc.name)
			for _, side := range []string{"server", "client"} {
				// The client sends queries and receives responses; the server the reverse.
				for _, typ := range []parser.MessageType{parser.Request, parser.Response} {
					var got []Message
					var stream, msgs []byte
					c := newConn()
					for _, s := range calls {
						if s.side != side || s.send != ((side == "client") == (typ == parser.Request)) {
							continue
						}
						for _, seg := range s.segs {
							stream = append(stream, seg...)
						}
						for {
							var m Message
							r := c.Parse(stream, typ, &m)
							if r.Status == parser.NeedMore {
								break
							}
							if r.Status != parser.Complete {
								t.Fatalf("%s %v: %v on % x", side, typ, r.Status, stream)
							}
							if m.Size != r.Consumed || m.Size > len(stream) {
								t.Fatalf("%s %v: size %d consumed %d of %d", side, typ, m.Size, r.Consumed, len(stream))
							}
							if typ == parser.Response {
								addrs, err := AppendAddrs(nil, stream[:r.Consumed])
								if err != nil {
									t.Fatal(err)
								}
								if want := tc.exchanges[len(got)%len(tc.exchanges)].addrs; fmt.Sprint(addrs) != want {
									t.Errorf("%s: addrs %v, want %s", side, addrs, want)
								}
							}
							msgs = append(msgs, stream[:r.Consumed]...)
							got = append(got, m)
							stream = stream[r.Consumed:]
						}
					}
					if len(stream) != 0 {
						t.Fatalf("%s %v: %d bytes left unparsed", side, typ, len(stream))
					}
					if len(got) != len(tc.exchanges) {
						t.Fatalf("%s %v: %d messages, want %d", side, typ, len(got), len(tc.exchanges))
					}
					for i, m := range got {
						e := tc.exchanges[i]
						if m.Type != typ || m.Method != e.method || m.Resource != e.resource {
							t.Errorf("%s %v #%d: %+v, want %s %s", side, typ, i, m, e.method, e.resource)
						}
						framed := m.Size == int(be16(msgs))+2
						if framed != tc.framed {
							t.Errorf("%s %v #%d: framed %v, want %v", side, typ, i, framed, tc.framed)
						}
						msgs = msgs[m.Size:]
						if typ == parser.Response &&
							(m.Status != e.rcode || m.Answers != e.answers || m.Success != (e.rcode == 0 && e.answers > 0)) {
							t.Errorf("%s response #%d: %+v, want rcode %d answers %d", side, i, m, e.rcode, e.answers)
						}
					}
				}
			}
			// IDs: each query's response carries its ID (checked on the client's view).
			ids := func(typ parser.MessageType) []uint32 {
				var out []uint32
				var stream []byte
				for _, s := range calls {
					if s.side == "client" && s.send == (typ == parser.Request) {
						stream = append(stream, bytes.Join(s.segs, nil)...)
					}
				}
				c := newConn()
				for len(stream) > 0 {
					var m Message
					r := c.Parse(stream, typ, &m)
					if r.Status != parser.Complete {
						break
					}
					out = append(out, m.ID)
					stream = stream[r.Consumed:]
				}
				return out
			}
			if q, r := ids(parser.Request), ids(parser.Response); fmt.Sprint(q) != fmt.Sprint(r) || len(q) == 0 {
				t.Fatalf("query IDs %v, response IDs %v", q, r)
			}
		})
	}
}

// TestCaptureAddrReader checks owner names against dig's own rendering of the answers.
func TestCaptureAddrReader(t *testing.T) {
	var resp []byte
	for _, s := range readCapture(t, "udp_cname") {
		if s.side == "client" && !s.send {
			resp = s.segs[0]
		}
	}
	var r AddrReader
	var got []string
	if err := r.Read(resp, func(a AddrRecord) bool {
		got = append(got, string(a.Name)+" "+a.Addr.String())
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[dual.test 10.9.8.7]" {
		t.Fatalf("got %v", got)
	}
}
