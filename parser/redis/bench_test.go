package redis

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/parser"
)

func bench(b *testing.B, msg string, typ parser.MessageType) {
	c := newConn()
	buf := []byte(msg)
	var m Message
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	defer reportCPU(b, len(buf))()
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

// reportCPU reports the process's CPU time per operation, and the throughput it gives, next to
// the wall-clock figures: on a shared, loaded machine wall time also counts waiting for a CPU.
func reportCPU(b *testing.B, size int) func() {
	start := cpuTime()
	return func() {
		ns := float64(cpuTime()-start) / float64(b.N)
		b.ReportMetric(ns, "cpu-ns/op")
		b.ReportMetric(float64(size)/ns*1e3, "cpu-MB/s")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
