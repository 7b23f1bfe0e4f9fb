package libebpf

import (
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/abi"
)

// BenchmarkHandoff measures events per second from ebpf_poll_events into a Go consumer: the
// replay library's callbacks, the copy into the C batch, the decode into Go, the channel and a
// consumer that reads every event. One op is one 200-byte data event. Run with -cpu 1 to hold
// the whole path to one core, as `make bench` does.
func BenchmarkHandoff(b *testing.B) {
	const payload = 200
	r := openReplay(b, fmt.Sprintf("data repeat=%d ts=1 conn=3:77:5 dir=egress proto=http fill=%d:2a\n", b.N, payload), Options{})
	if err := r.lib.SetProtocolFilter(abi.AllProtocols); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(payload)
	b.ReportAllocs()
	b.ResetTimer()
	if err := r.lib.Start(); err != nil {
		b.Fatal(err)
	}
	var seen, bytes int
	for seen < b.N {
		batch := <-r.lib.Events()
		for i := range batch.Data {
			bytes += len(batch.Data[i].Payload)
		}
		seen += batch.Len()
		r.lib.Release(batch)
	}
	b.StopTimer()
	if bytes != b.N*payload {
		b.Fatalf("consumed %d payload bytes, want %d", bytes, b.N*payload)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
