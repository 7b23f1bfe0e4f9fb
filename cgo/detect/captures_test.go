package detect

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
)

// read is one read of a capture: the bytes the proxy (or strace) saw in one call.
type read struct {
	c2s bool
	b   []byte
}

// readSeq reads a captureproxy capture (tools/captureproxy): prefix.c2s, prefix.s2c and the
// order of the proxy's reads in prefix.seq.
func readSeq(t testing.TB, prefix string) []read {
	t.Helper()
	c2s, err := os.ReadFile(prefix + ".c2s")
	if err != nil {
		t.Fatal(err)
	}
	s2c, err := os.ReadFile(prefix + ".s2c")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(prefix + ".seq")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []read
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		dir, n, ok := strings.Cut(sc.Text(), " ")
		size, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Fatalf("%s.seq: bad line %q", prefix, sc.Text())
		}
		src := &s2c
		if dir == "c2s" {
			src = &c2s
		}
		out = append(out, read{c2s: dir == "c2s", b: (*src)[:size]})
		*src = (*src)[size:]
	}
	return out
}

// A strace-level DNS capture (parser/dns/testdata): one syscall per line, its iovec segments.
type dnsCall struct {
	server, send bool
	segs         [][]byte
}

func readDNSCapture(t testing.TB, path string) []dnsCall {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dnsCall
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		c := dnsCall{server: f[0] == "server", send: f[2] == "send"}
		for _, h := range f[3:] {
			b, err := hex.DecodeString(h)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			c.segs = append(c.segs, b)
		}
		out = append(out, c)
	}
	return out
}

// firstReads is what detect() makes of each capture's first read in each direction, as a client
// writes it (c2s) and a server its first answer (s2c), each at the start of its direction, and
// the role each end of the connection ends up with. Captures are by tools/captureproxy from real
// clients and servers (the parsers' README files name them). Where a first read says unknown the
// protocol is told later (MySQL by its first command, PostgreSQL by its startup message after the
// SSLRequest); where the server's first read says request it starts with a RESP array, which a
// command is too (a connection first seen at such a reply takes its ends' roles the wrong way
// round).
var firstReads = map[string]struct{ c2s, s2c string }{
	"amqp/testdata/captures/consume-1":      {"amqp/request", "amqp/response"},
	"amqp/testdata/captures/queue-1":        {"amqp/request", "amqp/response"},
	"http/testdata/captures/chunked-1":      {"http/request", "http/response"},
	"http/testdata/captures/get-1":          {"http/request", "http/response"},
	"http/testdata/captures/head-1":         {"http/request", "http/response"},
	"http/testdata/captures/post-1":         {"http/request", "http/response"},
	"http/testdata/captures/http10-1":       {"http/request", "http/response"},
	"http2/testdata/captures/curl-1":        {"http2/request", "http2/response"},
	"http2/testdata/captures/grpc-1":        {"http2/request", "http2/response"},
	"http2/testdata/captures/h2load-1":      {"http2/request", "http2/response"},
	"http2/testdata/captures/nghttp-1":      {"http2/request", "http2/response"},
	"http2/testdata/upgrade/upgrade-1":      {"http/request", "http/response"},
	"kafka/testdata/kcat_producer_0":        {"kafka/request", "unknown/unknown"},
	"kafka/testdata/kgo_producer_0":         {"kafka/request", "unknown/unknown"},
	"memcached/testdata/captures/meta-1":    {"memcached/request", "memcached/response"},
	"memcached/testdata/captures/slap-1":    {"memcached/request", "memcached/response"},
	"memcached/testdata/captures/slapbin-1": {"memcached/request", "memcached/response"},
	"mqtt/testdata/captures/pub-1":          {"mqtt/request", "mqtt/response"},
	"mqtt/testdata/captures/sub5-1":         {"mqtt/request", "mqtt/response"},
	"mqtt/testdata/captures/submqttv311-1":  {"mqtt/request", "mqtt/response"},
	"mysql/testdata/mariadb_client":         {"unknown/unknown", "unknown/unknown"},
	"nats/testdata/captures/plain-1":        {"nats/request", "nats/response"},
	"nats/testdata/captures/verbose-1":      {"nats/request", "nats/response"},
	"pgsql/testdata/psql":                   {"unknown/unknown", "unknown/unknown"},
	"pgsql/testdata/pgbench_simple":         {"unknown/unknown", "unknown/unknown"},
	"redis/testdata/captures/bench-2":       {"redis/request", "redis/response"},
	"redis/testdata/captures/cli-1":         {"redis/request", "unknown/unknown"},
	"redis/testdata/captures/subscribe-1":   {"redis/request", "redis/request"},
}

// protoOf is the protocol of a capture by its parser's directory.
func protoOf(t testing.TB, prefix string) abi.Protocol {
	name, _, _ := strings.Cut(strings.TrimPrefix(prefix, "../../parser/"), "/")
	p, ok := abi.ParseProtocol(name)
	if !ok {
		t.Fatalf("%s: no protocol %q", prefix, name)
	}
	return p
}

func allCaptures(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"../../parser/*/testdata/*.seq", "../../parser/*/testdata/*/*.seq"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range m {
			out = append(out, strings.TrimSuffix(s, ".seq"))
		}
	}
	if len(out) < 60 {
		t.Fatalf("found %d captures, want the parsers' 60 or more", len(out))
	}
	return out
}

func TestFirstReads(t *testing.T) {
	for name, want := range firstReads {
		reads := readSeq(t, "../../parser/"+name)
		var c2s, s2c string
		for _, r := range reads {
			got := Classify(r.b, Input{First: true, Pad: -1}).String()
			if r.c2s && c2s == "" {
				c2s = got
			} else if !r.c2s && s2c == "" {
				s2c = got
			}
		}
		if c2s != want.c2s || s2c != want.s2c {
			t.Errorf("%s: first reads %s, %s; want %s, %s", name, c2s, s2c, want.c2s, want.s2c)
		}
	}
}

// rolesInverted are the captures whose ends get each other's role: the client's first bytes are
// not detected (redis-cli's inline commands written by hand over /dev/tcp) and the server's first
// answer is a RESP array, which reads as a request.
var rolesInverted = []string{"redis/testdata/captures/pubsub2-1"}

// Every capture replayed through both ends' syscalls: each end settles on the capture's protocol
// and its own role. MySQL and Kafka servers read a request's 4-byte length alone first; their
// server end is replayed that way too.
func TestCaptures(t *testing.T) {
	for _, prefix := range allCaptures(t) {
		name := strings.TrimPrefix(prefix, "../../parser/")
		want := protoOf(t, prefix)
		if name == "http2/testdata/upgrade/upgrade-1" {
			want = abi.ProtoHTTP // h2c by Upgrade: HTTP/1 first, and the protocol sticks
		}
		reads := readSeq(t, prefix)
		splits := []bool{false}
		if want == abi.ProtoMySQL || want == abi.ProtoKafka {
			splits = append(splits, true)
		}
		for _, split := range splits {
			client, server := NewConn(false), NewConn(false)
			for _, r := range reads {
				client.Syscall(r.c2s, r.b)
				if split && r.c2s && len(r.b) > 4 {
					server.Syscall(false, r.b[:4])
					server.Syscall(false, r.b[4:])
				} else {
					server.Syscall(!r.c2s, r.b)
				}
			}
			wantClient, wantServer := abi.RoleClient, abi.RoleServer
			if slices.Contains(rolesInverted, name) {
				wantClient, wantServer = wantServer, wantClient
			}
			if client.Proto != want || client.Role != wantClient || client.TLS {
				t.Errorf("%s: client end %v/%v tls=%v, want %v/%v", name, client.Proto, client.Role, client.TLS, want, wantClient)
			}
			if server.Proto != want || server.Role != wantServer || server.TLS {
				t.Errorf("%s (4-byte header reads %v): server end %v/%v tls=%v, want %v/%v", name, split,
					server.Proto, server.Role, server.TLS, want, wantServer)
			}
		}
	}
}

func dnsCaptures(t testing.TB) []string {
	m, err := filepath.Glob("../../parser/dns/testdata/*.txt")
	if err != nil || len(m) < 13 {
		t.Fatalf("DNS captures: %d, %v", len(m), err)
	}
	return m
}

// dig and dnsmasq at the syscall level: dig writes a TCP query as two iovecs (length, message)
// and reads answers whole; dnsmasq reads a TCP query's length one byte at a time, then the
// message, and serves every UDP query on one socket, so one misjudged query silences all later
// ones.
func TestDNSCaptures(t *testing.T) {
	udpServer := NewConn(true)
	for _, path := range dnsCaptures(t) {
		dgram := strings.HasPrefix(filepath.Base(path), "udp_")
		client, server := NewConn(dgram), NewConn(dgram)
		if dgram {
			server = udpServer
		}
		calls := readDNSCapture(t, path)
		for i, c := range calls {
			conn := client
			if c.server {
				conn = server
			}
			got := conn.Syscall(c.send, c.segs...)
			if len(c.segs[0]) <= 2 && !c.send && len(c.segs) == 1 {
				continue // a length read: no message yet
			}
			wantType := abi.TypeRequest
			if c.server == c.send {
				wantType = abi.TypeResponse
			}
			if got != wantType {
				t.Errorf("%s call %d (%v): event type %v, want %v", path, i, c, got, wantType)
			}
		}
		if client.Proto != abi.ProtoDNS || client.Role != abi.RoleClient {
			t.Errorf("%s: dig's end %v/%v", path, client.Proto, client.Role)
		}
		if server.Proto != abi.ProtoDNS || server.Role != abi.RoleServer {
			t.Errorf("%s: dnsmasq's end %v/%v", path, server.Proto, server.Role)
		}
	}
}

func tlsFiles(t testing.TB) []string {
	m, err := filepath.Glob("testdata/tls/*-*.*")
	if err != nil || len(m) != 5 {
		t.Fatalf("TLS captures: %v, %v", m, err)
	}
	return m
}

// The first buffer of either end of a TLS connection switches the socket to TLS, written or read.
func TestTLSHellos(t *testing.T) {
	for _, path := range tlsFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, egress := range []bool{true, false} {
			c := NewConn(false)
			if got := c.Syscall(egress, b); got != abi.TypeUnknown || !c.TLS {
				t.Errorf("%s (egress %v): type %v, tls %v; want a TLS socket", path, egress, got, c.TLS)
			}
		}
	}
}
