package mysql

import (
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// FuzzParse plays arbitrary reads in both directions through one connection, as the observer
// would: no panic, NeedMore and Invalid consume nothing, Complete and Ignored consume something,
// a Complete message is of the stream's direction and counts at least the bytes it consumed,
// and FindBoundary stays inside the buffer (the driver checks all of this).
func FuzzParse(f *testing.F) {
	for _, tc := range captureCases {
		f.Add(fuzzInput(loadCapture(f, tc.name)))
	}
	f.Add(fuzzInput([]chunkT{req(query("SELECT 1")), resp(textResult)}))
	f.Add(fuzzInput([]chunkT{resp(greeting), req(login), resp(authMore), resp(authOK)}))
	f.Add(fuzzInput([]chunkT{req(pkt(0, "\x16SELECT ?")), resp(pkts(1, "\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", paramDef)), resp(pkt(3, eofPacket))}))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDriver(t).play(fuzzChunks(data))
		// Every Parse entry point also survives the raw input in one piece.
		c := NewConn(parser.NewInterner(100))
		var m parser.Message
		for _, typ := range []parser.MessageType{parser.Request, parser.Response} {
			if r := c.Parse(data, typ, &m); r.Status == parser.Complete && r.Consumed <= 0 {
				t.Fatalf("Complete with Consumed %d", r.Consumed)
			}
			if b := c.FindBoundary(data, typ); b == 0 || b >= len(data) && b != -1 || b < -1 {
				t.Fatalf("FindBoundary = %d of %d", b, len(data))
			}
		}
		_ = d
	})
}
