package redis

import (
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

// want is an expected Complete message: a request's Method, or a reply's success.
type want struct {
	method  string
	success bool
}

func methods(ms ...string) []want {
	var w []want
	for _, m := range ms {
		w = append(w, want{method: m})
	}
	return w
}

// replies lists n successful replies, except the ones at the indices in failed.
func replies(n int, failed ...int) []want {
	w := make([]want, n)
	for i := range w {
		w[i].success = true
	}
	for _, i := range failed {
		w[i].success = false
	}
	return w
}

func TestCaptures(t *testing.T) {
	bench := func(m string) []want {
		var w []want
		for range 30 {
			w = append(w, want{method: m})
		}
		return w
	}
	tests := []struct {
		name         string
		reqs, resps  []want
		ignoredResps int
	}{
		// redis-cli reads COMMAND DOCS first: a 172 KB reply arriving in 64 KiB reads.
		{"cli-1", methods("COMMAND DOCS", "SET", "GET", "GET", "INCR", "INCR", unknownCommand, "HSET", "HGETALL",
			"LPUSH", "LRANGE", "CONFIG GET", "OBJECT ENCODING", "MEMORY USAGE", "XADD", "XINFO STREAM", "SCRIPT LOAD",
			"CLUSTER INFO", "ACL WHOAMI", "COMMAND DOCS", "FUNCTION LIST", "CLIENT SETNAME"),
			replies(22, 5, 6, 17), 0}, // INCR of a string, unknown command, cluster support disabled
		// The EXEC reply holds a WRONGTYPE error but is not one.
		{"multi-1", methods("COMMAND DOCS", "MULTI", "SET", "INCR", "LPUSH", "EXEC", "MULTI", "PING", "DISCARD"),
			replies(9), 0},
		{"resp3-1", methods("HELLO", "COMMAND DOCS", "HSET", "HGETALL", "SADD", "SMEMBERS", "GET", "ZADD", "ZSCORE", "INCR"),
			replies(10, 9), 0},
		{"bench-1", methods("CONFIG GET", "CONFIG GET"), replies(2), 0},
		{"bench-2", bench("SET"), replies(30), 0},
		{"bench-3", bench("GET"), replies(30), 0},
		{"bench-4", bench("INCR"), replies(30), 0},
		{"bench-5", bench("LPUSH"), replies(30), 0},
		{"bench-6", bench("LPUSH"), replies(30), 0}, // filling the list for LRANGE
		{"bench-7", bench("LRANGE"), replies(30), 0},
		// Two confirmations (the second Ignored), then three messages.
		{"subscribe-1", methods("SUBSCRIBE"), replies(1), 4},
		{"subscribe-2", methods("PUBLISH"), replies(1), 0},
		// RESP2: confirmations for a, b and p.*; a message and a pmessage; ["pong", ""];
		// UNSUBSCRIBE of all (b, a; the pattern remains, so a pmessage is still a push);
		// PUNSUBSCRIBE; then plain commands again.
		{"pubsub2-1", methods("SUBSCRIBE", "PSUBSCRIBE", "PING", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SET", "GET", "QUIT"),
			replies(8), 5},
		// RESP3: the same with pushes, and GET while subscribed.
		{"pubsub3-1", methods("HELLO", "SUBSCRIBE", "GET", "UNSUBSCRIBE", "GET", "QUIT"), replies(6), 4},
		// +OK, then the feed of two commands.
		{"monitor-1", methods("MONITOR"), replies(1), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := parsertest.Load(t, filepath.Join("testdata", "captures", tt.name))
			check := func(mode string, steps [2][]result) {
				t.Helper()
				for d, w := range [][]want{tt.reqs, tt.resps} {
					msgs, ignored, invalid := parsertest.Messages(steps[d])
					wantIgnored := 0
					if d == 1 {
						wantIgnored = tt.ignoredResps
					}
					if invalid != 0 || ignored != wantIgnored {
						t.Errorf("%s %v: %d invalid, %d ignored, want 0 and %d: %v", mode, parser.MessageType(d+1), invalid, ignored, wantIgnored, steps[d])
					}
					if len(msgs) != len(w) {
						t.Fatalf("%s %v: %d messages, want %d: %v", mode, parser.MessageType(d+1), len(msgs), len(w), steps[d])
					}
					for i, m := range msgs {
						g := want{method: m.Method, success: m.Success}
						if g != w[i] || m.Type != parser.MessageType(d+1) {
							t.Errorf("%s %v %d: %+v, want %+v", mode, parser.MessageType(d+1), i, m, w[i])
						}
					}
					// Every byte of the stream is accounted for, by Complete sizes and Ignored.
					sum := 0
					for _, s := range steps[d] {
						sum += s.Consumed
						if s.Status == parser.Complete && s.Msg.Size != s.Consumed {
							t.Errorf("%s: size %d, consumed %d", mode, s.Msg.Size, s.Consumed)
						}
					}
					if sum != len(cp.Streams[d]) {
						t.Errorf("%s %v: consumed %d bytes of %d", mode, parser.MessageType(d+1), sum, len(cp.Streams[d]))
					}
				}
			}
			d := parsertest.NewDriver(t, newConn()).Play(cp.Reads)
			check("replay", [2][]result{d.Steps(req), d.Steps(resp)})
			c := newConn()
			reqs := parsertest.ParseAll(c, cp.Stream(req), req)
			check("whole", [2][]result{reqs, parsertest.ParseAll(c, cp.Stream(resp), resp)})
		})
	}
}

// TestCapturesSegmented replays every capture in reads of a few bytes: other segmentations
// must give the same messages.
func TestCapturesSegmented(t *testing.T) {
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		sizes := []int{1, 7, 1000}
		if len(cp.Stream(resp)) > 64<<10 {
			sizes = sizes[1:] // byte by byte through the 172 KB COMMAND DOCS reply takes too long
		}
		parsertest.CheckRecut(t, cp.Name, newConn, cp.Reads, sizes...)
	}
}
