package parsertest

import (
	"syscall"
	"testing"
	"time"

	"github.com/netobserver/netobserver/parser"
)

// ReportCPU reports the process's CPU time per operation, and the throughput it gives, next to
// the wall-clock figures: on a shared, loaded machine wall time also counts waiting for a CPU.
// Call the function it returns when the benchmark's loop is done.
func ReportCPU(b *testing.B, size int) func() {
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

// BenchCycle parses reqs and resps repeatedly on c, after the reads of setup, and reports
// throughput over both and allocations per message (two messages per cycle).
func BenchCycle[M Message](b *testing.B, c parser.Parser[M], setup []Read, reqs, resps []byte) {
	var m M
	for _, ch := range setup {
		for buf := ch.Data; len(buf) > 0; {
			r := c.Parse(buf, ch.Type, &m)
			if r.Consumed == 0 {
				b.Fatalf("setup: %v", r)
			}
			buf = buf[min(r.Consumed, len(buf)):]
		}
	}
	b.SetBytes(int64(len(reqs) + len(resps)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.Parse(reqs, parser.Request, &m); r.Status != parser.Complete {
			b.Fatalf("request: %v", r)
		}
		if r := c.Parse(resps, parser.Response, &m); r.Status != parser.Complete {
			b.Fatalf("response: %v", r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() {
		c.Parse(reqs, parser.Request, &m)
		c.Parse(resps, parser.Response, &m)
	}))/2, "allocs/msg")
}
