package http

import (
	"testing"

	"github.com/netobserver/netobserver/internal/benchcpu"
	"github.com/netobserver/netobserver/parser"
)

// A typical browser-less API call: 300 bytes, a handful of headers.
const benchRequest = "GET /api/v2/orders/12345/items?expand=product&limit=50 HTTP/1.1\r\n" +
	"Host: orders.internal.example.com:8080\r\n" +
	"User-Agent: Go-http-client/1.1\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip\r\n" +
	"Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789\r\n" +
	"X-Request-Id: 6f1c2e1e-8d2b-4a51-9a77-3c3d3b1f9e10\r\n" +
	"\r\n"

const benchResponse = "HTTP/1.1 200 OK\r\n" +
	"Server: nginx/1.22.1\r\n" +
	"Date: Sat, 22 Nov 2025 00:00:00 GMT\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 94\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n" +
	`{"id":12345,"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"total":"42.00","cur":"EUR"}`

func bench(b *testing.B, msg string, typ parser.MessageType) {
	c := newConn()
	buf := []byte(msg)
	var m Message
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	defer benchcpu.Report(b, len(buf))()
	for b.Loop() {
		if typ == parser.Response {
			c.pushRequest(0)
		}
		if r := c.Parse(buf, typ, &m); r.Status != parser.Complete || r.Consumed != len(buf) {
			b.Fatalf("%+v", r)
		}
	}
}

func BenchmarkRequest(b *testing.B)  { bench(b, benchRequest, parser.Request) }
func BenchmarkResponse(b *testing.B) { bench(b, benchResponse, parser.Response) }

func BenchmarkChunkedResponse(b *testing.B) {
	msg := "HTTP/1.1 200 OK\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\n\r\n"
	for range 16 {
		msg += "40\r\n" + string(make([]byte, 64)) + "\r\n"
	}
	bench(b, msg+"0\r\n\r\n", parser.Response)
}
