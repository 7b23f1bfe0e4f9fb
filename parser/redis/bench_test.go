package redis

import (
	"strings"
	"testing"

	"github.com/netobserver/netobserver/internal/benchcpu"
	"github.com/netobserver/netobserver/parser"
)

func bench(b *testing.B, msg string, typ parser.MessageType) {
	c := newConn()
	buf := []byte(msg)
	var m Message
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	defer benchcpu.Report(b, len(buf))()
	for b.Loop() {
		if typ == parser.Response {
			c.onRequest(cmdOther, 0)
		}
		if r := c.Parse(buf, typ, &m); r.Status != parser.Complete || r.Consumed != len(buf) {
			b.Fatalf("%+v", r)
		}
		if typ == parser.Request {
			c.onReply(&shape{}) // keep the pending-request counter from growing
		}
	}
}

func BenchmarkRequestSET(b *testing.B) {
	bench(b, array("SET", "session:000000000042", strings.Repeat("v", 64)), parser.Request)
}

func BenchmarkRequestGETLower(b *testing.B) {
	bench(b, array("get", "session:000000000042"), parser.Request)
}

func BenchmarkRequestSubcommand(b *testing.B) {
	bench(b, array("client", "setinfo", "lib-name", "go-redis(,go1.26)"), parser.Request)
}

func BenchmarkRequestInline(b *testing.B) { bench(b, "PING\r\n", parser.Request) }

func BenchmarkReplyOK(b *testing.B) { bench(b, "+OK\r\n", parser.Response) }

func BenchmarkReplyBulk(b *testing.B) {
	bench(b, "$64\r\n"+strings.Repeat("v", 64)+"\r\n", parser.Response)
}

func BenchmarkReplyArray(b *testing.B) {
	args := make([]string, 10)
	for i := range args {
		args[i] = strings.Repeat("item", 8)
	}
	bench(b, array(args...), parser.Response)
}

func BenchmarkReplyRESP3Map(b *testing.B) {
	bench(b, "%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n", parser.Response)
}
