package http

import (
	"bufio"
	"bytes"
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
func (cp capture) replay(c *Conn) [2][]step {
	var steps [2][]step
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
			s := step{Status: r.Status, Consumed: r.Consumed}
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
func messages(steps []step) (msgs []parser.Message, ignored, invalid int) {
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

func TestCaptures(t *testing.T) {
	const host = "127.0.0.1:28481" // the recording proxy curl talked to
	greq := func(size int, path string) parser.Message {
		return parser.Message{Type: req, Size: size, Method: "GET", Host: host, Resource: path, Version: "1.1"}
	}
	rsp := func(size, code int) parser.Message {
		return parser.Message{Type: resp, Size: size, Version: "1.1", Status: code, Success: code < 400}
	}
	tests := []struct {
		name         string
		reqs, resps  []parser.Message
		ignoredResps int
	}{
		// The query string (user=alice&token=...) is cut.
		{"get-1", []parser.Message{greq(113, "/index.html")}, []parser.Message{rsp(279, 200)}, 0},
		// Content-Length: 43 on a reply to HEAD announces no body.
		{"head-1", []parser.Message{{Type: req, Size: 90, Method: "HEAD", Host: host, Resource: "/index.html", Version: "1.1"}},
			[]parser.Message{rsp(236, 200)}, 0},
		{"post-1", []parser.Message{{Type: req, Size: 185, Method: "POST", Host: host, Resource: "/echo", Version: "1.1"}},
			[]parser.Message{rsp(154, 200)}, 0},
		// nginx answers 100 Continue, then 200 before the body arrives; the request's size
		// includes the body announced.
		{"expect-1", []parser.Message{{Type: req, Size: 178 + 20692, Method: "POST", Host: host, Resource: "/echo", Version: "1.1"}},
			[]parser.Message{rsp(154, 200)}, 1},
		// gzip on the fly: Transfer-Encoding: chunked.
		{"chunked-1", []parser.Message{greq(109, "/big.txt")}, []parser.Message{rsp(1366, 200)}, 0},
		{"keepalive-1", []parser.Message{greq(89, "/index.html"), greq(84, "/a.txt"), greq(86, "/missing"), greq(86, "/big.txt")},
			[]parser.Message{rsp(279, 200), rsp(255, 200), rsp(308, 404), rsp(20934, 200)}, 0},
		{"notmodified-1", []parser.Message{greq(139, "/index.html")}, []parser.Message{rsp(179, 304)}, 0},
		// An HTTP/1.0 request; nginx answers in HTTP/1.1 with Content-Length and closes.
		{"http10-1", []parser.Message{{Type: req, Size: 84, Method: "GET", Host: host, Resource: "/a.txt", Version: "1.0"}},
			[]parser.Message{rsp(250, 200)}, 0},
		{"pipelined-1", []parser.Message{
			{Type: req, Size: 40, Method: "GET", Host: "127.0.0.1", Resource: "/a.txt", Version: "1.1"},
			{Type: req, Size: 46, Method: "HEAD", Host: "127.0.0.1", Resource: "/index.html", Version: "1.1"},
			{Type: req, Size: 68, Method: "GET", Host: "127.0.0.1", Resource: "/index.html", Version: "1.1"},
		}, []parser.Message{rsp(255, 200), rsp(236, 200), rsp(274, 200)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := loadCapture(t, tt.name)
			check := func(mode string, reqSteps, respSteps []step) {
				t.Helper()
				for _, d := range []struct {
					name    string
					steps   []step
					want    []parser.Message
					ignored int
					total   int
				}{
					{"requests", reqSteps, tt.reqs, 0, len(cp.data[0])},
					{"responses", respSteps, tt.resps, tt.ignoredResps, len(cp.data[1])},
				} {
					msgs, ignored, invalid := messages(d.steps)
					if invalid != 0 || ignored != d.ignored {
						t.Errorf("%s %s: %d invalid, %d ignored, want 0 and %d: %v", mode, d.name, invalid, ignored, d.ignored, d.steps)
					}
					if len(msgs) != len(d.want) {
						t.Fatalf("%s %s: %d messages, want %d: %v", mode, d.name, len(msgs), len(d.want), d.steps)
					}
					for i := range msgs {
						if msgs[i] != d.want[i] {
							t.Errorf("%s %s %d:\n got  %+v\n want %+v", mode, d.name, i, msgs[i], d.want[i])
						}
					}
					// Every byte of the stream is accounted for.
					sum := 0
					for _, s := range d.steps {
						sum += s.Consumed
					}
					if sum != d.total {
						t.Errorf("%s %s: consumed %d bytes of %d", mode, d.name, sum, d.total)
					}
				}
			}
			// As captured: each read parsed when it arrived.
			steps := cp.replay(newConn())
			check("replay", steps[0], steps[1])
			// Each direction whole, requests first.
			c := newConn()
			reqs := parseAll(c, cp.data[0], req)
			check("whole", reqs, parseAll(c, cp.data[1], resp))
		})
	}
}

// TestCapturesBytewise replays every capture one byte per read: the worst segmentation.
func TestCapturesBytewise(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.seq"))
	if len(names) == 0 {
		t.Fatal("no captures")
	}
	for _, name := range names {
		name = strings.TrimSuffix(filepath.Base(name), ".seq")
		cp := loadCapture(t, name)
		want := cp.replay(newConn())
		var bytewise capture
		bytewise.data = cp.data
		for _, r := range cp.reads {
			for range r.n {
				bytewise.reads = append(bytewise.reads, read{r.typ, 1})
			}
		}
		got := bytewise.replay(newConn())
		for d := range got {
			g, gi, _ := messages(got[d])
			w, wi, _ := messages(want[d])
			if gi != wi || len(g) != len(w) {
				t.Errorf("%s %v: bytewise %v, want %v", name, parser.MessageType(d+1), got[d], want[d])
				continue
			}
			for i := range g {
				if g[i] != w[i] {
					t.Errorf("%s %v %d: bytewise %+v, want %+v", name, parser.MessageType(d+1), i, g[i], w[i])
				}
			}
		}
	}
}

func TestCaptureFormat(t *testing.T) {
	// Each .seq accounts for its two data files exactly.
	names, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.seq"))
	for _, name := range names {
		cp := loadCapture(t, strings.TrimSuffix(filepath.Base(name), ".seq"))
		var n [2]int
		for _, r := range cp.reads {
			n[r.typ-1] += r.n
		}
		if n[0] != len(cp.data[0]) || n[1] != len(cp.data[1]) {
			t.Errorf("%s: seq says %v bytes, files hold %d and %d", name, n, len(cp.data[0]), len(cp.data[1]))
		}
		if !bytes.HasPrefix(cp.data[1], []byte("HTTP/1.1 ")) {
			t.Errorf("%s: responses do not start with a status line", name)
		}
	}
}
