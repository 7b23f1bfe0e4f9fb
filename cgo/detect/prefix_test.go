package detect

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// specVectors are first buffers of the protocols we have no client or server for, built from
// their specifications (not captured): MongoDB's OP_MSG hello and legacy OP_QUERY isMaster,
// Dubbo's and HSF's request headers.
var specVectors = map[string]string{
	// OP_MSG: length 0x34, requestID 0x1f2e3d4c, responseTo 0, opCode 2013, flags 0, a body
	// section {hello: 1, $db: "admin"}.
	"mongo op_msg hello": "340000004c3d2e1f00000000dd070000" + "00000000" + "00" +
		"1f0000001068656c6c6f000100000002246462000600000061646d696e0000",
	// OP_QUERY (2004) on admin.$cmd {isMaster: 1}: old drivers' first message.
	"mongo op_query ismaster": "3a000000" + "01000000" + "00000000" + "d4070000" + "00000000" +
		hex.EncodeToString([]byte("admin.$cmd")) + "00" + "00000000" + "ffffffff" + "1300000010" +
		hex.EncodeToString([]byte("isMaster")) + "000100000000",
	// Dubbo: magic 0xdabb, flag 0xc2 (request, two-way, hessian2), status 0, request ID 1, body
	// length 0x20, then the body.
	"dubbo request": "dabbc2000000000000000001000000200537" + strings.Repeat("2e", 30),
	// HSF: magic 0x0e, version 1, request (0), then the rest of its header.
	"hsf request": "0e0100" + strings.Repeat("01", 13) + strings.Repeat("00", 8),
}

func TestSpecVectors(t *testing.T) {
	want := map[string]string{
		"mongo op_msg hello":      "mongo/request",
		"mongo op_query ismaster": "mongo/request",
		"dubbo request":           "dubbo/request",
		"hsf request":             "hsf/request",
	}
	for name, h := range specVectors {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := Classify(b, Input{First: true, Pad: -1}).String(); got != want[name] {
			t.Errorf("%s: %s, want %s", name, got, want[name])
		}
	}
}

// Fields a client fills freely (Mongo's and Dubbo's request IDs, Kafka's correlation ID): every
// value of every 2-byte window of them leaves the buffer's protocol and type as they were.
func TestFreeFields(t *testing.T) {
	kcat := readSeq(t, "../../parser/kafka/testdata/kcat_producer_0")[0].b
	cases := []struct {
		name    string
		b       []byte
		windows []int
		max     int // values below it (the correlation ID is non-negative)
	}{
		{"mongo op_msg requestID", mustHex(t, specVectors["mongo op_msg hello"]), []int{4, 5, 6}, 65536},
		{"mongo op_query requestID", mustHex(t, specVectors["mongo op_query ismaster"]), []int{4, 5, 6}, 65536},
		{"dubbo request ID", mustHex(t, specVectors["dubbo request"]), []int{4, 6, 8, 10}, 65536},
		{"kafka correlation ID (kcat)", kcat, []int{9, 10}, 65536},
		{"kafka correlation ID's top (kcat)", kcat, []int{8}, 32768},
	}
	for _, c := range cases {
		want := Classify(c.b, Input{First: true, Pad: -1})
		b := append([]byte(nil), c.b...)
		for _, w := range c.windows {
			for v := 0; v < c.max; v++ {
				b[w], b[w+1] = byte(v>>8), byte(v)
				if got := Classify(b, Input{First: true, Pad: -1}); got != want {
					t.Fatalf("%s: %#04x at %d: %v, want %v", c.name, v, w, got, want)
				}
			}
			b[w], b[w+1] = c.b[w], c.b[w+1]
		}
	}
}

func mustHex(t *testing.T, h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prefixVerdicts: every 2-byte prefix in place of the first two bytes of each protocol's real first
// buffer (client's and server's), and how many of the 65 536 give each verdict. Only the prefix
// the protocol itself writes may give its protocol, bar the few its own rule allows (a digit after
// RESP's '*', an MQTT remaining length); the rest go to the protocols told by their first bytes
// alone: Dubbo's 0xdabb, HSF's 0x0e01, and for a buffer that ends in CRLF RESP's first byte ('+'
// and '-' with any second byte, 512; '*', ':' and '$' with a digit or '-', 11 each, those of '*'
// a command). Kafka's request read as DNS over TCP once: its prefix the buffer's length − 2, where
// a Kafka size has its top two bytes, 0 below 64 KiB.
var prefixVerdicts = map[string]string{
	"amqp/testdata/captures/queue-1 c2s":     "amqp/request:1 unknown/unknown:65535",
	"amqp/testdata/captures/queue-1 s2c":     "amqp/response:1 dubbo/response:1 hsf/request:1 unknown/unknown:65533",
	"http/testdata/captures/get-1 c2s":       "dubbo/response:1 http/request:2 redis/request:11 redis/response:534 unknown/unknown:64988",
	"http/testdata/captures/get-1 s2c":       "dubbo/response:1 http/response:1 unknown/unknown:65534",
	"http2/testdata/captures/curl-1 c2s":     "dubbo/response:1 http2/request:1 unknown/unknown:65534",
	"http2/testdata/captures/curl-1 s2c":     "dubbo/response:1 http2/response:1 unknown/unknown:65534",
	"kafka/testdata/kcat_producer_0 c2s":     "dns/request:1 dubbo/response:1 hsf/request:1 kafka/request:1 unknown/unknown:65532",
	"kafka/testdata/kcat_producer_0 s2c":     "dubbo/response:1 hsf/request:1 unknown/unknown:65534",
	"memcached/testdata/captures/slap-1 c2s": "dubbo/response:1 memcached/request:3 redis/request:11 redis/response:534 unknown/unknown:64987",
	"memcached/testdata/captures/slap-1 s2c": "memcached/response:1 redis/request:11 redis/response:534 unknown/unknown:64990",
	"mqtt/testdata/captures/pub-1 c2s":       "dubbo/response:1 hsf/request:1 mqtt/request:128 unknown/unknown:65406",
	"mqtt/testdata/captures/pub-1 s2c":       "mqtt/response:1 unknown/unknown:65535",
	"mysql/testdata/mariadb_client c2s":      "dubbo/response:1 hsf/request:1 unknown/unknown:65534",
	"mysql/testdata/mariadb_client s2c":      "dubbo/response:1 hsf/request:1 unknown/unknown:65534",
	"nats/testdata/captures/plain-1 c2s":     "dubbo/response:1 nats/request:1 redis/request:11 redis/response:534 unknown/unknown:64989",
	"nats/testdata/captures/plain-1 s2c":     "dubbo/response:1 nats/response:1 redis/request:11 redis/response:534 unknown/unknown:64989",
	"pgsql/testdata/psql c2s":                "unknown/unknown:65536",
	"redis/testdata/captures/bench-2 c2s":    "dubbo/response:1 memcached/request:1 redis/request:11 redis/response:534 unknown/unknown:64989",
	"redis/testdata/captures/bench-2 s2c":    "dubbo/response:1 redis/request:11 redis/response:534 unknown/unknown:64990",
}

func TestTwoBytePrefixes(t *testing.T) {
	for name, want := range prefixVerdicts {
		capture, dir, _ := strings.Cut(name, " ")
		var b []byte
		for _, r := range readSeq(t, "../../parser/"+capture) {
			if r.c2s == (dir == "c2s") {
				b = append([]byte(nil), r.b...)
				break
			}
		}
		counts := map[string]int{}
		for p := 0; p < 65536; p++ {
			b[0], b[1] = byte(p>>8), byte(p)
			counts[Classify(b, Input{First: true, Pad: -1}).String()]++
		}
		var got []string
		for _, k := range slices.Sorted(maps.Keys(counts)) {
			got = append(got, fmt.Sprintf("%s:%d", k, counts[k]))
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%s: %s\n\twant %s", name, g, want)
		}
	}
}
