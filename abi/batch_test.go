package abi

import "testing"

// A batch that once carried 16 MiB of payload (1024 data events of 16 KiB) does not keep that
// array for the polls after it; one that stays within keptPayload keeps its array.
func TestBatchKeepsNoLargePayloadArray(t *testing.T) {
	var b Batch
	big := make([]byte, 16<<10)
	b.Reset(0, 1024, 0, 0, 0, 1024*len(big))
	for range 1024 {
		b.AddData(&DataAttr{}, big)
	}
	b.Reset(0, 1, 0, 0, 0, 100)
	if c := cap(b.payload); c != 100 {
		t.Fatalf("payload array of %d bytes kept after a batch of 16 MiB", c)
	}
	b.Reset(0, 1, 0, 0, 0, keptPayload)
	b.Reset(0, 1, 0, 0, 0, 100)
	if c := cap(b.payload); c != keptPayload {
		t.Fatalf("payload array of %d bytes after one of %d", c, keptPayload)
	}
}
