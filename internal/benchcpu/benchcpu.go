// Package benchcpu reports a benchmark's CPU time per operation beside its wall time: on a shared,
// loaded machine wall time also counts the time spent waiting for a CPU, and moves with the
// neighbours by more than most changes.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Report starts counting the process's CPU time (user + system, all threads: the garbage
// collector's work is part of the cost) and returns the function that reports it per operation
// as cpu-ns/op, and, when bytesPerOp > 0, the throughput it gives as cpu-MB/s. Call the returned
// function when the benchmark's loop is done (defer benchcpu.Report(b, n)()).
func Report(b *testing.B, bytesPerOp int) func() {
	start := processCPU()
	return func() {
		ns := float64(processCPU()-start) / float64(b.N)
		b.ReportMetric(ns, "cpu-ns/op")
		if bytesPerOp > 0 {
			b.ReportMetric(float64(bytesPerOp)/ns*1e3, "cpu-MB/s")
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
