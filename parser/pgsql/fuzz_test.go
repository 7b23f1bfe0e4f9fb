package pgsql

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
	f.Add(fuzzInput([]chunkT{req(sslRequest), resp("N"), req(startup), resp(cat(authOK, paramStatus, backendKey, readyIdle))}))
	f.Add(fuzzInput([]chunkT{req(q("SELECT 1")), resp(selectResult)}))
	f.Add(fuzzInput([]chunkT{req(cat(parse("s", "SELECT $1"), bind("", "s"), execute(""), syncMsg)), resp(cat(parseComplete, bindComplete, dataRow1, select2, readyIdle))}))
	f.Add(fuzzInput([]chunkT{req(q("COPY t FROM STDIN")), resp(m('G', "\x00\x00\x00")), req(m('d', "x") + m('c', "")), resp(cat(m('C', "COPY 1\x00"), readyIdle))}))
	f.Fuzz(func(t *testing.T, data []byte) {
		newDriver(t).play(fuzzChunks(data))
		c := NewConn(parser.NewInterner(100))
		var msg parser.Message
		for _, typ := range []parser.MessageType{parser.Request, parser.Response} {
			if r := c.Parse(data, typ, &msg); r.Status == parser.Complete && r.Consumed <= 0 {
				t.Fatalf("Complete with Consumed %d", r.Consumed)
			}
			if b := c.FindBoundary(data, typ); b == 0 || b >= len(data) && b != -1 || b < -1 {
				t.Fatalf("FindBoundary = %d of %d", b, len(data))
			}
		}
	})
}
