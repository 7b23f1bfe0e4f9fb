package redis

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// capture is one recorded connection (see testdata/README.md).
type capture struct {
	data  [2][]byte // indexed by MessageType-1: c2s, s2c
	reads []read    // in recorded order
}

type read struct {
	typ parser.MessageType
	n   int
}

func loadCapture(t *testing.T, name string) capture {
	t.Helper()
	base := filepath.Join("testdata", "captures", name)
	var c capture
	for i, suffix := range []string{".c2s", ".s2c"} {
		b, err := os.ReadFile(base + suffix)
		if err != nil {
			t.Fatal(err)
		}
		c.data[i] = b
	}
	f, err := os.Open(base + ".seq")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		dir, n, _ := strings.Cut(sc.Text(), " ")
		r := read{typ: parser.Request}
		if dir == "s2c" {
			r.typ = parser.Response
		}
		if r.n, err = strconv.Atoi(n); err != nil {
			t.Fatalf("%s.seq: %q", base, sc.Text())
		}
		c.reads = append(c.reads, r)
	}
	return c
}

// replay feeds the capture to c read by read, in recorded order, parsing each direction as far
// as it can after each read and skipping by position past messages that extend beyond the
// bytes seen, the way the observer's stream buffers do. It returns the steps per direction.
func (cp capture) replay(c *Conn) [2][]result {
	var steps [2][]result
	var pending [2][]byte
	var off, skip [2]int
	for _, rd := range cp.reads {
		d := rd.typ - 1
		data := cp.data[d][off[d] : off[d]+rd.n]
		off[d] += rd.n
		k := min(skip[d], len(data))
		skip[d] -= k
		pending[d] = append(pending[d], data[k:]...)
		for len(pending[d]) > 0 {
			var m parser.Message
			r := c.Parse(pending[d], rd.typ, &m)
			if r.Status == parser.NeedMore {
				break
			}
			s := result{Status: r.Status, Consumed: r.Consumed}
			if r.Status == parser.Complete {
				s.Msg = m
			}
			steps[d] = append(steps[d], s)
			switch {
			case r.Status == parser.Invalid:
				i := c.FindBoundary(pending[d], rd.typ)
				if i < 0 {
					i = len(pending[d])
				}
				pending[d] = pending[d][i:]
			case r.Consumed > len(pending[d]):
				skip[d] = r.Consumed - len(pending[d])
				pending[d] = pending[d][:0]
			default:
				pending[d] = pending[d][r.Consumed:]
			}
		}
	}
	return steps
}

// messages returns the Complete messages of steps without their Truncated flag, which depends
// on how the bytes were cut, and counts the Ignored and Invalid steps.
func messages(steps []result) (msgs []parser.Message, ignored, invalid int) {
	for _, s := range steps {
		switch s.Status {
		case parser.Complete:
			s.Msg.Truncated = false
			msgs = append(msgs, s.Msg)
		case parser.Ignored:
			ignored++
		case parser.Invalid:
			invalid++
		}
	}
	return msgs, ignored, invalid
}

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
		{"cli-1", methods("COMMAND DOCS", "SET", "GET", "GET", "INCR", "INCR", "NOSUCHCOMMAND", "HSET", "HGETALL",
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
			cp := loadCapture(t, tt.name)
			check := func(mode string, steps [2][]result) {
				t.Helper()
				for d, w := range [][]want{tt.reqs, tt.resps} {
					msgs, ignored, invalid := messages(steps[d])
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
						if g != w[i] || m.Type != parser.MessageType(d+1) || m.Resource != "" || m.Host != "" {
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
					if sum != len(cp.data[d]) {
						t.Errorf("%s %v: consumed %d bytes of %d", mode, parser.MessageType(d+1), sum, len(cp.data[d]))
					}
				}
			}
			check("replay", cp.replay(newConn()))
			c := newConn()
			reqs := parseAll(c, cp.data[0], req)
			check("whole", [2][]result{reqs, parseAll(c, cp.data[1], resp)})
		})
	}
}

// TestCapturesSegmented replays every capture in reads of a few bytes: other segmentations
// must give the same messages.
func TestCapturesSegmented(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.seq"))
	if len(names) == 0 {
		t.Fatal("no captures")
	}
	for _, name := range names {
		name = strings.TrimSuffix(filepath.Base(name), ".seq")
		cp := loadCapture(t, name)
		want := cp.replay(newConn())
		for _, size := range []int{1, 7, 1000} {
			if size == 1 && len(cp.data[1]) > 64<<10 {
				continue // byte by byte through the 172 KB COMMAND DOCS reply takes too long
			}
			var seg capture
			seg.data = cp.data
			for _, r := range cp.reads {
				for n := r.n; n > 0; n -= size {
					seg.reads = append(seg.reads, read{r.typ, min(n, size)})
				}
			}
			got := seg.replay(newConn())
			for d := range got {
				g, gi, _ := messages(got[d])
				w, wi, _ := messages(want[d])
				if gi != wi || len(g) != len(w) {
					t.Errorf("%s %v by %d: %v, want %v", name, parser.MessageType(d+1), size, got[d], want[d])
					continue
				}
				for i := range g {
					if g[i] != w[i] {
						t.Errorf("%s %v by %d, %d: %+v, want %+v", name, parser.MessageType(d+1), size, i, g[i], w[i])
					}
				}
			}
		}
	}
}
