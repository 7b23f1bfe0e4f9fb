package detect

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
)

// The fuzz target's and the sweeps' findings, each as the buffer that showed it. Every one failed
// before its fix in bpf/detect.h.
var findings = []struct {
	name  string
	hex   string
	dgram bool
	len2  uint16 // a 2-byte length read before (dnsmasq), 0 if none
	want  string
}{
	// dig's query for example.test with ID 0x2400 whose cookie ends in CRLF: a Redis reply ('$'),
	// and on dnsmasq's UDP socket every later query with it. 1 in 65 536 cookies × 5 of 256 ID
	// high bytes ("*+-:$"): 1 in 3.4 million queries that carry a cookie.
	{"dns query, ID 0x2400, cookie ending CRLF (udp)", "240001200001000000000001076578616d706c650474657374000001000100002904d000000000000c000a0008e9f16553c22c0d0a", true, 0, "dns/request"},
	{"the same read by dnsmasq after its length (tcp)", "240001200001000000000001076578616d706c650474657374000001000100002904d000000000000c000a0008e9f16553c22c0d0a", false, 53, "dns/request"},
	// IMAP's server greeting ("* OK …"): a Redis command.
	{"imap greeting", hex.EncodeToString([]byte("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.\r\n")), false, 0, "unknown/unknown"},
	// ZooKeeper's ConnectRequest (size 45, protocol version 0, zxid 0, timeout 30000, session 0,
	// password, read-only 0) and a GetData with xid 1: Kafka requests, which our Kafka parser took
	// for a one-way Produce v0 and a Produce v1 call. Every ZooKeeper connection seen from its start.
	{"zookeeper connect", "0000002d000000000000000000000000000075300000000000000000000000100000000000000000000000000000000000", false, 0, "unknown/unknown"},
	{"zookeeper getData xid 1", "0000001700000001000000040000000a2f7a6f6f6b656570657200", false, 0, "unknown/unknown"},
	// ntpdate's request (poll 4, precision -6, root delay and dispersion 1.0 s, as its transmit()
	// fills them; not captured), over UDP: a DNS query (1 question, 1 authority record), every one.
	{"ntpdate request", "e30004fa000100000001000000000000000000000000000000000000000000000000000000000000e9a1b2c3d4e5f607", true, 0, "unknown/unknown"},
	// memcached commands shorter than 8 bytes were never detected: a 1-character key's get, meta
	// get and no-op, stats.
	{"memcached get of a 1-byte key", hex.EncodeToString([]byte("get a\r\n")), false, 0, "memcached/request"},
	{"memcached meta get", hex.EncodeToString([]byte("mg k\r\n")), false, 0, "memcached/request"},
	{"memcached meta no-op", hex.EncodeToString([]byte("mn\r\n")), false, 0, "memcached/request"},
	{"memcached stats", hex.EncodeToString([]byte("stats\r\n")), false, 0, "memcached/request"},
}

func TestFindings(t *testing.T) {
	for _, f := range findings {
		b, err := hex.DecodeString(f.hex)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		got := Classify(b, Input{Dgram: f.dgram, Len2: f.len2, First: true, Pad: -1})
		if got.String() != f.want {
			t.Errorf("%s: %v, want %s", f.name, got, f.want)
		}
	}
}

// Kafka still: a request whose client ID is null, and one read after its 4-byte size.
func TestKafkaClientID(t *testing.T) {
	null, _ := hex.DecodeString("0000000c0012000300000001ffff0000") // ApiVersions v3, client ID null, 2 more bytes
	if got := Classify(null, Input{First: true, Pad: -1}); got.Proto != abi.ProtoKafka || got.Type != abi.TypeRequest {
		t.Errorf("null client ID: %v", got)
	}
	kcat, _ := hex.DecodeString(strings.ReplaceAll("00120003 00000001 0007 72646b61666b61 00", " ", ""))
	in := Input{LengthHeader: 0x12000000, LHPending: true, Pad: -1} // size 18, as read into a little-endian u32
	if got := Classify(kcat, in); got.Proto != abi.ProtoKafka || got.Type != abi.TypeRequest {
		t.Errorf("after a 4-byte read: %v", got)
	}
}
