package http

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

const (
	req  = parser.Request
	resp = parser.Response
)

func newConn() *Conn { return NewConn(parser.NewInterner(1024)) }

// step is one Parse call's outcome.
type step = parsertest.Step[Message]

// rest stands for "the rest of the input" in expected steps, filled in by fill.
const rest = -1

// fill replaces rest in want by what remains of an input of n bytes.
func fill(want []step, n int) []step {
	out := append([]step(nil), want...)
	for i := range out {
		if out[i].Consumed == rest {
			out[i].Consumed = n
			if out[i].Status == parser.Complete {
				out[i].Msg.Size = n
			}
		}
		n -= out[i].Consumed
	}
	return out
}

func complete(n int, m Message) step {
	m.Size = n
	return step{Status: parser.Complete, Consumed: n, Msg: m}
}

func get(path, host string) Message {
	return Message{Type: req, Method: "GET", Host: host, Resource: path, Version: "1.1"}
}

func ok(code int) Message {
	return Message{Type: resp, Version: "1.1", Status: code, Success: code < 400}
}

func truncated(s step) step { s.Msg.Truncated = true; return s }

func TestRequests(t *testing.T) {
	const getReq = "GET /api/v1/items?id=42&token=secret HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n"
	tests := []struct {
		name string
		in   string
		want []step
	}{
		{"get with query cut", getReq,
			[]step{complete(len(getReq), get("/api/v1/items", "example.com"))}},
		{"host name case-insensitive, value trimmed",
			"GET / HTTP/1.1\r\nhOsT: \t a.b:8080 \r\n\r\n",
			[]step{complete(rest, get("/", "a.b:8080"))}},
		{"first host wins", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
			[]step{complete(rest, get("/", "a"))}},
		{"no host, LF line ends", "GET /x HTTP/1.0\n\n",
			[]step{complete(rest, Message{Type: req, Method: "GET", Resource: "/x", Version: "1.0"})}},
		{"fragment cut", "GET /a#frag HTTP/1.1\r\n\r\n",
			[]step{complete(rest, get("/a", ""))}},
		{"post with body",
			"POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello=world",
			[]step{complete(rest, Message{Type: req, Method: "POST", Host: "h", Resource: "/submit", Version: "1.1"})}},
		{"post body not arrived: complete, truncated, consumed past the buffer",
			"POST /up HTTP/1.1\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
			[]step{truncated(complete(65+1000, Message{Type: req, Method: "POST", Resource: "/up", Version: "1.1"}))}},
		{"content-length list of equal values",
			"PUT /k HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
			[]step{complete(rest, Message{Type: req, Method: "PUT", Resource: "/k", Version: "1.1"})}},
		{"chunked request body",
			"POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\nX-Trailer: 1\r\n\r\n",
			[]step{complete(rest, Message{Type: req, Method: "POST", Resource: "/c", Version: "1.1"})}},
		{"absolute form", "GET http://proxy.example:3128/p/q?x=1 HTTP/1.1\r\nHost: proxy.example:3128\r\n\r\n",
			[]step{complete(rest, get("/p/q", "proxy.example:3128"))}},
		{"absolute form without path", "GET http://h.example?x HTTP/1.1\r\n\r\n",
			[]step{complete(rest, get("/", ""))}},
		{"connect keeps authority", "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n",
			[]step{complete(rest, Message{Type: req, Method: "CONNECT", Host: "db.internal:5432", Resource: "db.internal:5432", Version: "1.1"})}},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\n\r\n",
			[]step{complete(rest, Message{Type: req, Method: "OPTIONS", Resource: "*", Version: "1.1"})}},
		{"webdav", "PROPFIND /dav/ HTTP/1.1\r\nDepth: 1\r\n\r\n",
			[]step{complete(rest, Message{Type: req, Method: "PROPFIND", Resource: "/dav/", Version: "1.1"})}},
		{"obs-fold continuation", "GET / HTTP/1.1\r\nX-Long: a\r\n  b\r\nHost: h\r\n\r\n",
			[]step{complete(rest, get("/", "h"))}},

		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"lower-case method", "get / HTTP/1.1\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"unknown method", "BREW /pot HTTP/1.1\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"version 2", "GET / HTTP/2.0\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"no version", "GET /\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"two spaces", "GET /a b HTTP/1.1\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"target not a path", "GET %%% HTTP/1.1\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"control byte in incomplete line", "GET /\x00\x01", []step{{Status: parser.Invalid}}},
		{"header without colon", "GET / HTTP/1.1\r\nHost example\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"whitespace before first header", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"conflicting lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", []step{{Status: parser.Invalid}}},
		{"bad length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"huge length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"request with non-chunked final coding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", []step{{Status: parser.Invalid}}},
		{"chunk without CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n", []step{{Status: parser.Invalid}}},

		{"prefix of a method", "DEL", []step{{Status: parser.NeedMore}}},
		{"headers incomplete", "GET / HTTP/1.1\r\nHost: x\r\n", []step{{Status: parser.NeedMore}}},
		{"chunked body incomplete", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", []step{{Status: parser.NeedMore}}},
		{"chunked trailer incomplete", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n", []step{{Status: parser.NeedMore}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parsertest.ParseAll(newConn(), []byte(tt.in), req)
			parsertest.AssertSteps(t, got, fill(tt.want, len(tt.in)))
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	big := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", MaxHeader) + "\r\n\r\n"
	c := newConn()
	var m Message
	if r := c.Parse([]byte(big[:MaxHeader-1]), req, &m); r.Status != parser.NeedMore {
		t.Errorf("below the limit: %v, want need-more", r.Status)
	}
	if r := c.Parse([]byte(big), req, &m); r.Status != parser.Invalid {
		t.Errorf("past the limit: %v, want invalid", r.Status)
	}
	// Just under the limit is fine.
	fits := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", MaxHeader-30) + "\r\n\r\n"
	if r := c.Parse([]byte(fits), req, &m); r.Status != parser.Complete || r.Consumed != len(fits) {
		t.Errorf("under the limit: %+v", r)
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name    string
		methods string // requests parsed first, one method per letter: G=GET H=HEAD C=CONNECT
		in      string
		want    []step
	}{
		{"content-length", "G", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
			[]step{complete(rest, ok(200))}},
		{"no reason phrase", "G", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			[]step{complete(rest, ok(200))}},
		{"error status", "G", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
			[]step{complete(rest, ok(404))}},
		{"399 succeeds, 400 fails", "GG", "HTTP/1.1 399 X\r\nContent-Length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
			[]step{complete(37, ok(399)), complete(rest, ok(400))}},
		{"chunked", "G", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
			[]step{complete(rest, ok(200))}},
		{"chunked wins over content-length", "G", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			[]step{complete(rest, ok(200))}},
		{"body not arrived", "G", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nabc",
			[]step{truncated(complete(43+100000, ok(200)))}},
		{"head reply has no body", "H", "HTTP/1.1 200 OK\r\nContent-Length: 612\r\n\r\n",
			[]step{complete(rest, ok(200))}},
		{"204 and 304 have no body", "GG", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 612\r\n\r\n",
			[]step{complete(46, ok(204)), complete(rest, ok(304))}},
		{"100 continue ignored", "G", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			[]step{{Status: parser.Ignored, Consumed: 25}, complete(rest, ok(201))}},
		{"103 early hints ignored", "G", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			[]step{{Status: parser.Ignored, Consumed: 44}, complete(rest, ok(200))}},
		{"http/1.0 without length runs until close", "G", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody bytes",
			[]step{truncated(complete(rest, Message{Type: resp, Version: "1.0", Status: 200, Success: true}))}},
		{"connection close without length", "G", "HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n",
			[]step{truncated(complete(rest, ok(500)))}},
		{"non-chunked transfer coding runs until close", "G", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b",
			[]step{truncated(complete(rest, ok(200)))}},

		{"not a status line", "", "HTTP/1.1 2000 OK\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"status 600", "", "HTTP/1.1 600 X\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"http/2", "", "HTTP/2 200\r\n\r\n", []step{{Status: parser.Invalid}}},
		{"prefix", "", "HTTP/1.1 20", []step{{Status: parser.NeedMore}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connAfter(t, tt.methods)
			got := parsertest.ParseAll(c, []byte(tt.in), resp)
			parsertest.AssertSteps(t, got, fill(tt.want, len(tt.in)))
		})
	}
}

// connAfter returns a new Conn that has seen the requests of methods (see sendRequests).
func connAfter(t *testing.T, methods string) *Conn {
	c := newConn()
	sendRequests(t, c, methods)
	return c
}

// sendRequests parses one bodiless request per letter of methods: G=GET H=HEAD C=CONNECT.
func sendRequests(t *testing.T, c *Conn, methods string) {
	t.Helper()
	for _, l := range methods {
		name := map[rune]string{'G': "GET", 'H': "HEAD", 'C': "CONNECT"}[l]
		var m Message
		r := c.Parse([]byte(name+" / HTTP/1.1\r\n\r\n"), req, &m)
		if r.Status != parser.Complete || m.Method != name {
			t.Fatalf("request %s: %+v %+v", name, r, m)
		}
	}
}

func TestUntilCloseRestIgnored(t *testing.T) {
	c := connAfter(t, "G")
	var m Message
	r := c.Parse([]byte("HTTP/1.0 200 OK\r\n\r\nfirst"), resp, &m)
	if r.Status != parser.Complete || r.Consumed != 24 || !m.Truncated {
		t.Fatalf("%+v %+v", r, m)
	}
	// The rest of the body, however it looks, is not a new response.
	for _, more := range []string{"more body", "GET / HTTP/1.1\r\n", "HTTP"} {
		r = c.Parse([]byte(more), resp, &m)
		want := parser.Result{Status: parser.Ignored, Consumed: len(more)}
		if more == "HTTP" {
			want = parser.Result{Status: parser.NeedMore}
		}
		if r != want {
			t.Errorf("%q: %+v, want %+v", more, r, want)
		}
	}
	// A server that keeps the connection open after all: its next response is recognised.
	sendRequests(t, c, "G")
	r = c.Parse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), resp, &m)
	if r.Status != parser.Complete || r.Consumed != 38 || m.Truncated {
		t.Errorf("%+v %+v", r, m)
	}
}

func TestTunnel(t *testing.T) {
	for _, tt := range []struct{ methods, reply string }{
		{"G", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
		{"C", "HTTP/1.1 200 Connection Established\r\n\r\n"},
	} {
		c := connAfter(t, tt.methods)
		var m Message
		r := c.Parse([]byte(tt.reply+"\x81\x05hello"), resp, &m)
		if r.Status != parser.Complete || r.Consumed != len(tt.reply) || m.Truncated {
			t.Errorf("%q: %+v %+v", tt.reply, r, m)
		}
		for _, typ := range []parser.MessageType{req, resp} {
			if r := c.Parse([]byte("\x16\x03\x01GET / HTTP/1.1\r\n\r\n"), typ, &m); r.Status != parser.Ignored || r.Consumed != 21 {
				t.Errorf("%v after the switch: %+v", typ, r)
			}
		}
	}
	// CONNECT refused: no tunnel.
	c := connAfter(t, "C")
	got := parsertest.ParseAll(c, []byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), resp)
	parsertest.AssertSteps(t, got, []step{complete(45, ok(403)), complete(38, ok(200))})
}

func TestHeadPipeline(t *testing.T) {
	// Requests parsed ahead of their replies: each reply knows its request's method.
	c := connAfter(t, "GHGHH")
	reply := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
	in := reply + "abc" + reply + reply + "abc" + reply + reply
	got := parsertest.ParseAll(c, []byte(in), resp)
	parsertest.AssertSteps(t, got, []step{complete(41, ok(200)), complete(38, ok(200)), complete(41, ok(200)), complete(38, ok(200)), complete(38, ok(200))})

	// Past the remembered depth, methods are forgotten but the order is kept.
	c = newConn()
	sendRequests(t, c, strings.Repeat("H", pendingRequests)+"GH")
	var want []step
	var all string
	for range pendingRequests {
		all += reply
		want = append(want, complete(38, ok(200)))
	}
	all += reply + "abc" + reply + "abc" // both forgotten: taken as GET
	want = append(want, complete(41, ok(200)), complete(41, ok(200)))
	parsertest.AssertSteps(t, parsertest.ParseAll(c, []byte(all), resp), want)
	// Then a new HEAD is remembered again.
	sendRequests(t, c, "H")
	parsertest.AssertSteps(t, parsertest.ParseAll(c, []byte(reply), resp), []step{complete(38, ok(200))})
}

func TestPipelined(t *testing.T) {
	var in bytes.Buffer
	var want []step
	for i := range 10 {
		var r string
		var m Message
		switch i % 3 {
		case 0:
			r = fmt.Sprintf("GET /items/%d?q=%d HTTP/1.1\r\nHost: shop\r\n\r\n", i, i)
			m = get(fmt.Sprintf("/items/%d", i), "shop")
		case 1:
			r = "POST /cart HTTP/1.1\r\nHost: shop\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
			m = Message{Type: req, Method: "POST", Host: "shop", Resource: "/cart", Version: "1.1"}
		case 2:
			r = "DELETE /cart/1 HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
			m = Message{Type: req, Method: "DELETE", Host: "shop", Resource: "/cart/1", Version: "1.1"}
		}
		in.WriteString(r)
		want = append(want, complete(len(r), m))
	}
	parsertest.AssertSteps(t, parsertest.ParseAll(newConn(), in.Bytes(), req), want)
}

func TestGarbageResync(t *testing.T) {
	good := "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	for _, tt := range []struct {
		name, garbage string
	}{
		{"binary", "\x00\x01\x02\xff"},
		{"text with method-like words", "GETTING THE POSTMAN "},
		{"tls record", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn()
			in := []byte(tt.garbage + good)
			var m Message
			if r := c.Parse(in, req, &m); r.Status != parser.Invalid {
				t.Fatalf("garbage: %+v", r)
			}
			got := parsertest.ParseAll(c, in, req)
			last := got[len(got)-1]
			if last != complete(len(good), get("/a", "h")) {
				t.Errorf("after resync: %v", got)
			}
		})
	}
	// Responses, with the status line of the next message somewhere in a lost body.
	c := newConn()
	in := []byte("x1 2 3 HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	if i := c.FindBoundary(in, resp); i != 7 {
		t.Errorf("response boundary at %d", i)
	}
}

func TestFindBoundary(t *testing.T) {
	parsertest.CheckBoundaries(t, newConn, []parsertest.Boundary{
		{"GET / HTTP/1.1", req, -1}, // offset 0 is never returned
		{"xxGET / ", req, 2},
		{"xxGETX POST /", req, 7},
		{"abcDELE", req, 3}, // a method cut by the end of buf may start there
		{"abcDELX", req, -1},
		{"\r\nOPTIONS *", req, 2},
		{"no methods here", req, -1},
		{"xHTTP/1.1 200", resp, 1},
		{"body HTTP/", resp, 5},
		{"body HTTP/2 x", resp, -1},
		{"zzH", resp, 2},
		{"", resp, -1},
	})
}

// samples are whole messages for the truncation tests, with the requests their Conn must have
// seen first.
var samples = []struct {
	name    string
	methods string
	typ     parser.MessageType
	in      string
}{
	{"get", "", req, "GET /search?q=x HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n"},
	{"post", "", req, "POST /form HTTP/1.0\r\nHost: h\r\nContent-Length: 4\r\n\r\na=bc"},
	{"chunked request", "", req, "PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10;x=y\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n"},
	{"response", "G", resp, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: nginx\r\n\r\nhello world\n"},
	{"chunked response", "G", resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n2\r\n!!\r\n0\r\n\r\n"},
	{"head response", "H", resp, "HTTP/1.1 200 OK\r\nContent-Length: 612\r\n\r\n"},
	{"interim response", "G", resp, "HTTP/1.1 100 Continue\r\n\r\n"},
}

// TestTruncated cuts every sample at every length: the parser must ask for more, or, once the
// headers are in, report the message with its real size and Consumed; never something else.
func TestTruncated(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{
				New:  func() parser.Parser[Message] { return connAfter(t, s.methods) },
				Type: s.typ,
				In:   []byte(s.in),
				Whole: func(r parser.Result) bool {
					return (r.Status == parser.Complete || r.Status == parser.Ignored) && r.Consumed == len(s.in)
				},
			})
		})
	}
}

func TestChunkedResumes(t *testing.T) {
	var body strings.Builder
	for range 200 {
		body.WriteString("4\r\nabcd\r\n")
	}
	body.WriteString("0\r\n\r\n")
	msg := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body.String()
	c := connAfter(t, "G")
	var m Message
	var r parser.Result
	for n := 1; n <= len(msg); n++ {
		r = c.Parse([]byte(msg[:n]), resp, &m)
		if r.Status != parser.NeedMore {
			break
		}
	}
	if r.Status != parser.Complete || r.Consumed != len(msg) || m.Size != len(msg) || m.Truncated {
		t.Fatalf("%+v %+v", r, m)
	}
	// Fed byte by byte, each chunk line is scanned about once per byte of its own, not once per
	// byte of the message.
	if c.chunkedScans > 201*12 {
		t.Errorf("%d chunk lines scanned for 201 chunks", c.chunkedScans)
	}
}

func TestChunkedBeyondMaxPending(t *testing.T) {
	c := connAfter(t, "GG")
	head := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("z", 64<<10))
	// Five 64 KiB chunks: the fifth passes MaxPending before the end is seen.
	in := head + strings.Repeat(chunk, 5)
	var m Message
	r := c.Parse([]byte(in[:len(in)-100]), resp, &m)
	want := len(head) + 5*len(chunk)
	if r.Status != parser.Complete || r.Consumed != want || !m.Truncated || m.Size != want {
		t.Fatalf("%+v %+v", r, m)
	}
	// The rest of the body is consumed as Ignored, then the next response parses.
	rest := strings.Repeat(chunk, 2) + "0\r\n\r\n" + "HTTP/1.1 204 No Content\r\n\r\n"
	got := parsertest.ParseAll(c, []byte(rest), resp)
	parsertest.AssertSteps(t, got, []step{{Status: parser.Ignored, Consumed: 2*len(chunk) + 5}, complete(27, ok(204))})

	// A single huge chunk is skipped at once, past the end of the buffer.
	c = newConn()
	sendRequests(t, c, "G")
	r = c.Parse([]byte(head+"100000\r\nabc"), resp, &m)
	want = len(head) + 8 + 0x100000 + 2
	if r.Status != parser.Complete || r.Consumed != want || !m.Truncated {
		t.Fatalf("%+v %+v", r, m)
	}
	got = parsertest.ParseAll(c, []byte("\r\n0\r\n\r\n"[2:]), resp)
	parsertest.AssertSteps(t, got, []step{{Status: parser.Ignored, Consumed: 5}})
	if c.dir[1].cont {
		t.Error("still inside the body")
	}
}

func TestInvalidType(t *testing.T) {
	c := newConn()
	var m Message
	if r := c.Parse([]byte("GET / HTTP/1.1\r\n\r\n"), 0, &m); r.Status != parser.Invalid {
		t.Errorf("%+v", r)
	}
	if i := c.FindBoundary([]byte("xGET / "), 7); i != -1 {
		t.Errorf("%d", i)
	}
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "http", abi.ProtoHTTP, parser.Parser[Message](newConn()))
}

func TestHeadersResume(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET /r HTTP/1.1\r\n")
	for i := range 200 {
		fmt.Fprintf(&b, "X-Header-%d: value %d\r\n", i, i)
	}
	b.WriteString("hOST: late.example\r\nContent-Length: 3\r\n\r\nabc")
	msg := b.String()
	c := newConn()
	var m Message
	for n := 1; n <= len(msg); n++ {
		r := c.Parse([]byte(msg[:n]), req, &m)
		if r.Status == parser.Complete {
			if r.Consumed != len(msg) || m.Host != "late.example" || m.Resource != "/r" {
				t.Fatalf("prefix %d: %+v %+v", n, r, m)
			}
			return
		}
		if r.Status != parser.NeedMore {
			t.Fatalf("prefix %d: %+v", n, r)
		}
		// Past the first header line, the scan is saved at the start of the line being read.
		d := c.dir[0]
		if n > 40 && (!d.cur.OK || d.stage != stageHeaders || n-d.cur.Pos > 40) {
			t.Fatalf("prefix %d: scan not saved: %+v", n, d.cur)
		}
	}
	t.Fatal("never complete")
}

// An h2c upgrade (RFC 7540 §3.2): a request offering h2c answered by a 101 naming it hands the
// connection to HTTP/2 with the request (Switch); a 101 to anything else, or a request that did
// not offer h2c, does not. Until the 101 is parsed, the client's preface waits for it.
func TestH2CUpgrade(t *testing.T) {
	const upgrade = "GET /a?x=1 HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: websocket, H2C\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	c := newConn()
	var q, m Message
	if r := c.Parse([]byte(upgrade+preface), req, &q); r.Status != parser.Complete || r.Consumed != len(upgrade) || !q.H2C {
		t.Fatalf("%+v %+v", r, q)
	}
	for _, p := range []string{"P", "PRI * HTTP/2", preface + "\x00\x00\x00\x04"} {
		if r := c.Parse([]byte(p), req, &m); r.Status != parser.NeedMore {
			t.Errorf("%q before the 101: %+v", p, r)
		}
	}
	reply := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
	if r := c.Parse([]byte(reply+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"), resp, &m); r.Status != parser.Complete || r.Consumed != len(reply) || !m.H2C {
		t.Fatalf("%+v %+v", r, m)
	}
	to, u, ok := c.Switch(&q, &m)
	if !ok || to != abi.ProtoHTTP2 || u != (parser.Upgraded{Size: len(upgrade), Method: "GET", Host: "svc", Path: "/a"}) {
		t.Errorf("%v %v %+v", ok, to, u)
	}

	ws := Message{Status: 101}
	if _, _, ok := c.Switch(&q, &ws); ok {
		t.Error("a 101 to websocket switched to h2c")
	}
	plain := Message{Method: "GET"}
	if _, _, ok := c.Switch(&plain, &m); ok {
		t.Error("a request without Upgrade: h2c switched")
	}
	// A request without the offer never waits for a 101.
	c = connAfter(t, "G")
	if r := c.Parse([]byte(preface), req, &m); r.Status != parser.Invalid {
		t.Errorf("the preface after a plain request: %+v", r)
	}
}
