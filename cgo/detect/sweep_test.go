package detect

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
)

// dnsMessages are the DNS messages of the captures (without TCP's length), queries and answers,
// and whether they came over UDP.
type dnsMessage struct {
	b    []byte
	udp  bool
	resp bool
}

func dnsMessages(t testing.TB) []dnsMessage {
	var out []dnsMessage
	for _, path := range dnsCaptures(t) {
		udp := strings.HasPrefix(filepath.Base(path), "udp_")
		for _, c := range readDNSCapture(t, path) {
			if !c.server {
				continue
			}
			b := c.segs[0]
			if !udp {
				if len(b) < 14 {
					continue // dnsmasq's 1-byte length reads
				}
				if c.send {
					b = b[2:]
				}
			}
			out = append(out, dnsMessage{b: b, udp: udp, resp: c.send})
		}
	}
	if len(out) < 26 {
		t.Fatalf("%d DNS messages in the captures", len(out))
	}
	return out
}

// A DNS message begins with its ID, which resolvers choose at random: every one of the 65 536
// must classify as DNS, over UDP and in each way TCP messages are written and read (length and
// message in one buffer; dig's writev of the two; dnsmasq's two 1-byte reads, or a 2-byte read,
// before the message). One ID that does not silences a UDP server's socket for good (the 0x1603,
// 0xdabb and 0x0e01 of the last round).
func TestDNSEveryID(t *testing.T) {
	for _, m := range dnsMessages(t) {
		b := append([]byte(nil), m.b...)
		wantType := abi.TypeRequest
		if m.resp {
			wantType = abi.TypeResponse
		}
		tcp := binary.BigEndian.AppendUint16(nil, uint16(len(b)))
		whole := append(append([]byte(nil), tcp...), b...)
		bad := 0
		for id := 0; id < 65536; id++ {
			b[0], b[1] = byte(id>>8), byte(id)
			whole[2], whole[3] = b[0], b[1]
			var got []abi.MessageType
			if m.udp {
				got = append(got, udpSyscall(b, m.resp))
			} else {
				got = append(got, dnsTCP(m.resp, whole), dnsTCP(m.resp, tcp, b), dnsTCP(m.resp, tcp[:1], tcp[1:], b),
					dnsTCP(m.resp, tcp, nil, b))
			}
			for i, g := range got {
				if g != wantType {
					bad++
					if bad <= 5 {
						t.Errorf("DNS %s %x with ID %#04x (form %d): %v, want %v", map[bool]string{true: "udp", false: "tcp"}[m.udp],
							b[:12], id, i, g, wantType)
					}
				}
			}
		}
		if bad > 5 {
			t.Errorf("… %d more", bad-5)
		}
	}
}

// udpSyscall is a datagram read by a server (request) or a client (response) on a fresh socket.
func udpSyscall(b []byte, resp bool) abi.MessageType {
	c := NewConn(true)
	return c.Syscall(!resp, b)
}

// dnsTCP: reads (the reader is a server for a query, a client for an answer) of the parts in
// turn; a nil part marks the end of the reads and the start of one writev of the rest (dig's
// query: its length and message as two iovecs, on the writer's own connection).
func dnsTCP(resp bool, parts ...[]byte) abi.MessageType {
	for i, p := range parts {
		if p == nil {
			w := NewConn(false)
			return w.Syscall(true, append(binary.BigEndian.AppendUint16(nil, uint16(len(parts[i+1]))), nil...),
				parts[i+1])
		}
	}
	c := NewConn(false)
	var got abi.MessageType
	for _, p := range parts {
		got = c.Syscall(false, p)
	}
	if c.Role == abi.RoleClient && !resp || c.Role == abi.RoleServer && resp {
		return abi.TypeUnknown
	}
	return got
}

// dig ends a query with a client cookie, 8 random bytes (an EDNS option), so a query's last two
// bytes are as random as its ID: every pair of them must leave it DNS, whatever the ID. Swept as
// every ID with the last two bytes CRLF (what RESP, memcached and NATS lines end with) and every
// last two bytes with IDs that begin with RESP's type bytes.
func TestDNSEveryCookieEnd(t *testing.T) {
	n := 0
	for _, m := range dnsMessages(t) {
		if m.resp || len(m.b) < 24 || binary.BigEndian.Uint16(m.b[len(m.b)-12:]) != 10 {
			continue // not a query that ends with a cookie (option 10, 8 bytes)
		}
		n++
		b := append([]byte(nil), m.b...)
		end := len(b) - 2
		tcp := append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
		check := func(what string) {
			copy(tcp[2:], b)
			for i, g := range []abi.MessageType{udpSyscall(b, false), dnsTCP(false, tcp), dnsTCP(false, tcp[:1], tcp[1:2], b)} {
				if g != abi.TypeRequest {
					t.Fatalf("DNS query %x…%x (%s, form %d): %v, want a request", b[:12], b[end:], what, i, g)
				}
			}
		}
		b[end], b[end+1] = '\r', '\n'
		for id := 0; id < 65536; id++ {
			b[0], b[1] = byte(id>>8), byte(id)
			check("every ID")
		}
		for _, first := range []byte("*+-:$") {
			b[0] = first
			for v := 0; v < 65536; v++ {
				b[end], b[end+1] = byte(v>>8), byte(v)
				check("every end")
			}
		}
	}
	if n < 10 {
		t.Fatalf("%d queries with a cookie", n)
	}
}
