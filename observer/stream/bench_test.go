package stream

import "testing"

// BenchmarkInOrder is the common case: one event per syscall, parsed as it comes.
func BenchmarkInOrder(b *testing.B) {
	for _, size := range []int{64, 512, 4096} {
		b.Run(itoa(size), func(b *testing.B) {
			buf := New(Config{})
			payload := make([]byte, size)
			var pos uint64
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				pos += uint64(size)
				buf.Add(Chunk{Pos: pos, OrgSize: uint32(size), Payload: payload, TS: pos})
				data, _ := buf.Head()
				buf.Consume(len(data))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkBatched is a connection's responses as a poll batch brings them at a paced rate: 64 of
// them, each its headers and a body the kernel truncated (a present and a lost run), added before
// any is parsed, then parsed one message at a time.
func BenchmarkBatched(b *testing.B) {
	const messages, header, body = 64, 150, 17
	buf := New(Config{})
	payload := make([]byte, header)
	var pos uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for k := uint64(0); k < messages; k++ {
			buf.Add(Chunk{Pos: pos + (k+1)*(header+body), OrgSize: header + body, Payload: payload, TS: pos + k})
		}
		for k := 0; k < messages; k++ {
			if data, _ := buf.Head(); len(data) != header {
				b.Fatalf("message %d: Head holds %d bytes, want %d", k, len(data), header)
			}
			buf.Consume(header + body)
		}
		pos += messages * (header + body)
	}
	b.ReportMetric(float64(messages*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMixed adds, per round, a 4-chunk truncated syscall, a 3-segment iovec syscall, and two
// events out of order, then parses everything: 9 events per round.
func BenchmarkMixed(b *testing.B) {
	buf := New(Config{})
	payload := make([]byte, MaxChunk)
	var pos uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		pos += 70000
		for k := 0; k < 3; k++ {
			buf.Add(Chunk{Pos: pos, OrgSize: MaxChunk, Payload: payload, TS: pos})
		}
		buf.Add(Chunk{Pos: pos, OrgSize: 70000 - 3*MaxChunk, Payload: payload, TS: pos})
		pos += 600
		for k := 0; k < 3; k++ {
			buf.Add(Chunk{Pos: pos, OrgSize: 200, Payload: payload[:200], TS: pos, Vectored: true})
		}
		buf.Add(Chunk{Pos: pos + 200, OrgSize: 100, Payload: payload[:100], TS: pos})
		buf.Add(Chunk{Pos: pos + 100, OrgSize: 100, Payload: payload[:100], TS: pos})
		pos += 200
		for {
			data, _ := buf.Head()
			if len(data) == 0 {
				if buf.Gap(pos, 0) == 0 {
					break
				}
				buf.SkipGap()
				continue
			}
			buf.Consume(len(data))
		}
	}
	b.ReportMetric(float64(9*b.N)/b.Elapsed().Seconds(), "events/s")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}
