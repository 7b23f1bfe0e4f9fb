package http2

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
)

func newParser() parser.Parser[Message] { return NewConn(parser.NewInterner(100)) }

// line writes a parse step: a message with its stream, fields and size, or the status and size
// of a frame that completes nothing.
func line(s parsertest.Step[Message]) string {
	if s.Status != parser.Complete {
		return fmt.Sprintf("%v %d", s.Status, s.Consumed)
	}
	m := s.Msg
	if m.Type == parser.Request {
		return fmt.Sprintf("> %d %s %s %q size=%d grpc=%v partial=%v", m.Stream, m.Method, m.Authority, m.Path, m.Size, m.GRPC, m.Partial)
	}
	return fmt.Sprintf("< %d %d grpc=%v/%d reset=%v ok=%v size=%d partial=%v", m.Stream, m.Status, m.GRPC, m.GRPCStatus, m.Reset, m.Success, m.Size, m.Partial)
}

// captured are the steps of testdata/captures (see testdata/README.md). What the clients and
// nginx said of them: nghttp.txt and access.log (four GETs answered 200, 200, 404, 200, the
// query string of the second cut from its path), h2load.txt ("requests: 40 total, 40 started,
// 40 done, 40 succeeded", "status codes: 40 2xx"), curl's POST answered 200.
var captured = parsertest.CaptureLines{
	"curl-1": {
		{
			"ignored 24", // the preface
			"ignored 27", // SETTINGS
			"ignored 13", // WINDOW_UPDATE
			"ignored 76", // HEADERS of stream 1
			"> 1 POST 127.0.0.1:28641 \"/echo\" size=95 grpc=false partial=false", // DATA with END_STREAM
			"ignored 9", // SETTINGS ACK
		},
		{
			"ignored 27",
			"ignored 13",
			"ignored 9",
			"ignored 57",
			"< 1 200 grpc=false/-1 reset=false ok=true size=73 partial=false",
			"ignored 13", // GOAWAY
		},
	},
	"h2load-1": h2load(),
	// grpc-go's health service (grpc.txt): Check "svc" twice (OK), Check "unknown" (NotFound: a
	// trailers-only response with grpc-status 5), and a Watch the client cancels after its first
	// message: RST_STREAM from the client, after which the server sends nothing on the stream,
	// so that call has no response.
	"grpc-1": {
		{
			"ignored 24",
			"ignored 9",
			"ignored 9",
			"ignored 83",
			"> 1 POST 127.0.0.1:28641 \"/grpc.health.v1.Health/Check\" size=102 grpc=true partial=false",
			"ignored 17",
			"ignored 13",
			"ignored 17",
			"ignored 16",
			"> 3 POST 127.0.0.1:28641 \"/grpc.health.v1.Health/Check\" size=35 grpc=true partial=false",
			"ignored 17",
			"ignored 13",
			"ignored 17",
			"ignored 16",
			"> 5 POST 127.0.0.1:28641 \"/grpc.health.v1.Health/Check\" size=39 grpc=true partial=false",
			"ignored 17",
			"ignored 37",
			"> 7 POST 127.0.0.1:28641 \"/grpc.health.v1.Health/Watch\" size=56 grpc=true partial=false",
			"ignored 17",
			"ignored 13",
			"ignored 17",
			"ignored 13", // RST_STREAM of stream 7 (CANCEL)
			"ignored 42", // GOAWAY
		},
		{
			"ignored 15",
			"ignored 9",
			"ignored 13",
			"ignored 17",
			"ignored 23",
			"ignored 16",
			"< 1 200 grpc=true/0 reset=false ok=true size=72 partial=false",
			"ignored 17",
			"ignored 13",
			"ignored 17",
			"ignored 11",
			"ignored 16",
			"< 3 200 grpc=true/0 reset=false ok=true size=38 partial=false",
			"ignored 17",
			"ignored 13",
			"ignored 17",
			"< 5 200 grpc=true/5 reset=false ok=false size=29 partial=false",
			"ignored 13",
			"ignored 17",
			"ignored 11", // HEADERS and the first message of the Watch, never ended
			"ignored 16",
		},
	},
	"nghttp-1": {
		{
			"ignored 24",
			"ignored 21",
			"ignored 14", // PRIORITY frames of nghttp's dependency tree (idle streams 3 to 11)
			"ignored 14",
			"ignored 14",
			"ignored 14",
			"ignored 14",
			"> 13 GET 127.0.0.1:28641 \"/index.html\" size=48 grpc=false partial=false",
			"> 15 GET 127.0.0.1:28641 \"/a.txt\" size=42 grpc=false partial=false",
			"> 17 GET 127.0.0.1:28641 \"/missing\" size=28 grpc=false partial=false",
			"> 19 GET 127.0.0.1:28641 \"/big.txt\" size=28 grpc=false partial=false",
			"ignored 17",
		},
		{
			"ignored 27",
			"ignored 13",
			"ignored 9",
			"ignored 115",
			"< 13 200 grpc=false/-1 reset=false ok=true size=176 partial=false",
			"ignored 115",
			"< 15 200 grpc=false/-1 reset=false ok=true size=142 partial=false",
			"ignored 59",
			"< 17 404 grpc=false/-1 reset=false ok=false size=221 partial=false",
			"ignored 119",
			"ignored 8201", // 40000 bytes of body in DATA frames of nginx's 8192
			"ignored 8201",
			"ignored 8201",
			"ignored 8201",
			"< 19 200 grpc=false/-1 reset=false ok=true size=40164 partial=false",
		},
	},
}

// h2load's 40 GETs on streams 1 to 79, eight at a time: the first request's HEADERS holds its
// fields, the others are 5-byte blocks of table references; each response is a HEADERS of 115
// bytes (nginx indexes nothing) and a DATA of 52.
func h2load() [2][]string {
	var reqs, resps []string
	reqs = append(reqs, "ignored 24", "ignored 21", "ignored 13")
	resps = append(resps, "ignored 27", "ignored 13", "ignored 9")
	for id := 1; id < 80; id += 2 {
		size := 14
		if id == 1 {
			size = 42
		}
		reqs = append(reqs, fmt.Sprintf("> %d GET 127.0.0.1:28641 \"/index.html\" size=%d grpc=false partial=false", id, size))
		if id == 15 {
			reqs = append(reqs, "ignored 9")
		}
		resps = append(resps, "ignored 115", fmt.Sprintf("< %d 200 grpc=false/-1 reset=false ok=true size=176 partial=false", id))
	}
	return [2][]string{append(reqs, "ignored 17"), resps}
}

func TestCaptures(t *testing.T) {
	parsertest.CheckCaptureLines(t, filepath.Join("testdata", "captures"), newParser, line, captured, true)
}

// TestCapturesSegmented replays every capture in reads of a few bytes.
func TestCapturesSegmented(t *testing.T) {
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		parsertest.CheckRecut(t, cp.Name, newConn, cp.Reads, 1, 5, 1000)
	}
}

// TestCaptureJoinedLate replays h2load's connection from after its first request: the requests
// that follow refer to table entries the first one inserted (the authority among them), and
// are recorded partial, with the method and path (static entries) and nothing guessed; the responses, which nginx encodes without
// the table, are all whole.
func TestCaptureJoinedLate(t *testing.T) {
	cp := parsertest.Load(t, filepath.Join("testdata", "captures", "h2load-1"))
	reads := cp.Reads[1:] // the preface, SETTINGS, WINDOW_UPDATE and the first 8 HEADERS
	d := parsertest.NewDriver(t, newParser()).Play(reads)
	assert.Zero(t, d.Invalid)
	var lines []string
	for _, s := range d.Steps(parser.Request) {
		if s.Status == parser.Complete {
			lines = append(lines, line(s))
		}
	}
	assert.Len(t, lines, 32)
	for _, l := range lines {
		assert.True(t, strings.HasSuffix(l, `GET  "/index.html" size=14 grpc=false partial=true`), l)
	}
	assert.Equal(t, 40, d.Count(parser.Response, parser.Complete))
}
