package http

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

func TestCaptures(t *testing.T) {
	const host = "127.0.0.1:28481" // the recording proxy curl talked to
	greq := func(size int, path string) Message {
		return Message{Type: req, Size: size, Method: "GET", Host: host, Resource: path, Version: "1.1"}
	}
	rsp := func(size, code int) Message {
		return Message{Type: resp, Size: size, Version: "1.1", Status: code, Success: code < 400}
	}
	tests := []struct {
		name         string
		reqs, resps  []Message
		ignoredResps int
	}{
		// The query string (user=alice&token=...) is cut.
		{"get-1", []Message{greq(113, "/index.html")}, []Message{rsp(279, 200)}, 0},
		// Content-Length: 43 on a reply to HEAD announces no body.
		{"head-1", []Message{{Type: req, Size: 90, Method: "HEAD", Host: host, Resource: "/index.html", Version: "1.1"}},
			[]Message{rsp(236, 200)}, 0},
		{"post-1", []Message{{Type: req, Size: 185, Method: "POST", Host: host, Resource: "/echo", Version: "1.1"}},
			[]Message{rsp(154, 200)}, 0},
		// nginx answers 100 Continue, then 200 before the body arrives; the request's size
		// includes the body announced.
		{"expect-1", []Message{{Type: req, Size: 178 + 20692, Method: "POST", Host: host, Resource: "/echo", Version: "1.1"}},
			[]Message{rsp(154, 200)}, 1},
		// gzip on the fly: Transfer-Encoding: chunked.
		{"chunked-1", []Message{greq(109, "/big.txt")}, []Message{rsp(1366, 200)}, 0},
		{"keepalive-1", []Message{greq(89, "/index.html"), greq(84, "/a.txt"), greq(86, "/missing"), greq(86, "/big.txt")},
			[]Message{rsp(279, 200), rsp(255, 200), rsp(308, 404), rsp(20934, 200)}, 0},
		{"notmodified-1", []Message{greq(139, "/index.html")}, []Message{rsp(179, 304)}, 0},
		// An HTTP/1.0 request; nginx answers in HTTP/1.1 with Content-Length and closes.
		{"http10-1", []Message{{Type: req, Size: 84, Method: "GET", Host: host, Resource: "/a.txt", Version: "1.0"}},
			[]Message{rsp(250, 200)}, 0},
		{"pipelined-1", []Message{
			{Type: req, Size: 40, Method: "GET", Host: "127.0.0.1", Resource: "/a.txt", Version: "1.1"},
			{Type: req, Size: 46, Method: "HEAD", Host: "127.0.0.1", Resource: "/index.html", Version: "1.1"},
			{Type: req, Size: 68, Method: "GET", Host: "127.0.0.1", Resource: "/index.html", Version: "1.1"},
		}, []Message{rsp(255, 200), rsp(236, 200), rsp(274, 200)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := parsertest.Load(t, filepath.Join("testdata", "captures", tt.name))
			check := func(mode string, reqSteps, respSteps []step) {
				t.Helper()
				for _, d := range []struct {
					name    string
					steps   []step
					want    []Message
					ignored int
					total   int
				}{
					{"requests", reqSteps, tt.reqs, 0, len(cp.Stream(req))},
					{"responses", respSteps, tt.resps, tt.ignoredResps, len(cp.Stream(resp))},
				} {
					msgs, ignored, invalid := parsertest.Messages(d.steps)
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
			d := parsertest.NewDriver(t, newConn()).Play(cp.Reads)
			check("replay", d.Steps(req), d.Steps(resp))
			// Each direction whole, requests first.
			c := newConn()
			reqs := parsertest.ParseAll(c, cp.Stream(req), req)
			check("whole", reqs, parsertest.ParseAll(c, cp.Stream(resp), resp))
		})
	}
}

// TestCapturesBytewise replays every capture one byte per read: the worst segmentation.
func TestCapturesBytewise(t *testing.T) {
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		parsertest.CheckRecut(t, cp.Name, newConn, cp.Reads, 1)
	}
}

func TestCaptureFormat(t *testing.T) {
	// Each .seq accounts for its two data files exactly.
	dir := filepath.Join("testdata", "captures")
	for _, name := range parsertest.Names(dir) {
		cp := parsertest.Load(t, filepath.Join(dir, name))
		n := [2]int{parsertest.StreamLen(cp.Reads, req), parsertest.StreamLen(cp.Reads, resp)}
		if n[0] != len(cp.Stream(req)) || n[1] != len(cp.Stream(resp)) {
			t.Errorf("%s: seq says %v bytes, files hold %d and %d", name, n, len(cp.Stream(req)), len(cp.Stream(resp)))
		}
		if !bytes.HasPrefix(cp.Stream(resp), []byte("HTTP/1.1 ")) {
			t.Errorf("%s: responses do not start with a status line", name)
		}
	}
}
