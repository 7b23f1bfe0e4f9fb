package calls

import (
	"slices"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/stream"
)

// fuzzSnippets are the messages FuzzTracker sends, per protocol and direction (egress: requests).
var fuzzSnippets = map[abi.Protocol][2][]string{
	abi.ProtoHTTP: {
		{"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "HEAD /c HTTP/1.1\r\n\r\n", "garbage\r\n",
			// An h2c upgrade, then the client's preface, SETTINGS and a GET on stream 3.
			"GET /u HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n",
			"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x06\x01\x05\x00\x00\x00\x03\x82\x84\x86\x41\x01x"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1 404 NF\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
			// The 101 and the server's SETTINGS, then :status 200 on streams 1 and 3.
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
			"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88\x00\x00\x01\x01\x05\x00\x00\x00\x03\x88"},
	},
	abi.ProtoRedis: {
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "*1\r\n$4\r\nPING\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", "?bad\r\n"},
		{"$1\r\nv\r\n", "+PONG\r\n", "+OK\r\n", "-ERR x\r\n"},
	},
	// dig's query and dnsmasq's answer (parser/dns/testdata/tcp_a.txt) behind their TCP lengths,
	// bare (a stream that starts after the length, as dnsmasq's does), the length alone (the rest
	// comes in the next snippet), and with another ID.
	abi.ProtoDNS: {
		{string(lengthPrefix(digQuery)) + string(digQuery), string(digQuery), string(lengthPrefix(digQuery)), "\x00\x01" + string(digQuery[2:])},
		{string(lengthPrefix(digAnswer)) + string(digAnswer), string(digAnswer), string(lengthPrefix(digAnswer)), "\x00\x01" + string(digAnswer[2:])},
	},
	// One-way messages in both directions: noreply and quiet commands, publishes, deliveries.
	abi.ProtoMemcached: {
		{"get k\r\n", "set k 0 0 1 noreply\r\nx\r\n", "mg k v q\r\n", "mn\r\n"},
		{"END\r\n", "VA 1\r\nx\r\n", "MN\r\n", "STORED\r\n"},
	},
	abi.ProtoNATS: {
		{"PUB a.1 1\r\nx\r\n", "PING\r\n", `CONNECT {"verbose":true}` + "\r\n", "SUB a 1\r\n"},
		{"MSG a.1 1 1\r\nx\r\n", "PONG\r\n", "+OK\r\n", "-ERR 'x'\r\n"},
	},
}

// FuzzTracker plays arbitrary sequences of data events (cut, lost, out of order, plain or
// vectored), closes, polls and expiries through a Tracker: it never panics, no parser panic is
// contained, and when it closes every message parsed is in a call, counted unmatched or handed
// over, and every call emitted is a pair or a one-way message. A second Tracker plays the same
// events and rests every connection after every batch (Tracker.rest), a third keeps nothing for
// new connections (the parser states and stream buffers that rested and ended ones gave up go
// after every event): both emit the same calls and count the same.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 4, 0, 0, 5, 1, 0, 0, 2, 1, 1, 0, 3, 5, 1})
	f.Add([]byte{0, 0, 1, 0, 0, 0, 2, 0, 4, 4, 1, 0, 1, 4, 1, 0, 5, 0, 6, 0, 1, 4, 2, 0, 5, 1, 7, 0})
	f.Add([]byte{1, 1, 0, 3, 1, 5, 0, 1, 6, 1, 1, 2, 2, 5, 0})
	// The h2c upgrade on connection 0: request, 101, preface and GET, both responses.
	f.Add([]byte{32, 0, 0, 0, 32, 5, 0, 0, 40, 0, 0, 0, 40, 5, 0, 0, 5, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tr, calls := playTracker(t, ops, played)
		var emitted, oneWay uint64
		for _, c := range calls {
			emitted++
			if c.oneWay {
				oneWay++
			}
		}
		var pairs, oneWays uint64
		for _, p := range fuzzProtocols {
			c := tr.Counters(p)
			pairs, oneWays = pairs+c.Calls, oneWays+c.OneWay
			if c.Panics != 0 {
				t.Fatalf("%v: %d panics", p, c.Panics)
			}
			if c.Requests != c.Calls+c.UnmatchedRequests+c.HandedOver || c.Responses != c.Calls+c.UnmatchedResponses+c.HandedOver {
				t.Fatalf("%v: %+v", p, c)
			}
		}
		if emitted != pairs+oneWays || oneWay != oneWays {
			t.Fatalf("emitted %d calls (%d one-way), counted %d pairs and %d one-way", emitted, oneWay, pairs, oneWays)
		}
		if tr.Connections() != 0 {
			t.Fatalf("%d connections after Close", tr.Connections())
		}
		fresh, freshCalls := playTracker(t, ops, playedFresh)
		if !slices.Equal(calls, freshCalls) {
			t.Fatalf("calls differ when new connections reuse nothing:\n%v\n%v", calls, freshCalls)
		}
		for _, p := range fuzzProtocols {
			if a, b := tr.Counters(p), fresh.Counters(p); a != b {
				t.Fatalf("%v: counters differ when new connections reuse nothing:\n%+v\n%+v", p, a, b)
			}
		}
		rested, restedCalls := playTracker(t, ops, playedRested)
		if !slices.Equal(calls, restedCalls) {
			t.Fatalf("calls differ when connections rest:\n%v\n%v", calls, restedCalls)
		}
		// A stream's accounting goes to the protocol the connection has when the buffer is dropped
		// (it rests, or the connection ends): across an h2c handover that differs, not the sum.
		var sumA, sumB stream.Stats
		for _, p := range fuzzProtocols {
			a, b := tr.Counters(p), rested.Counters(p)
			addStats(&sumA, a.Stream)
			addStats(&sumB, b.Stream)
			a.Stream, b.Stream = stream.Stats{}, stream.Stats{}
			if a != b {
				t.Fatalf("%v: counters differ when connections rest:\n%+v\n%+v", p, a, b)
			}
		}
		if sumA != sumB {
			t.Fatalf("stream accounting differs when connections rest:\n%+v\n%+v", sumA, sumB)
		}
	})
}

var fuzzProtocols = []abi.Protocol{abi.ProtoHTTP, abi.ProtoHTTP2, abi.ProtoRedis, abi.ProtoDNS, abi.ProtoMemcached, abi.ProtoNATS}

// How playTracker plays: as it comes, resting every connection after every batch, or keeping
// nothing for new connections.
type playMode int

const (
	played playMode = iota
	playedRested
	playedFresh
)

// fuzzCall is what FuzzTracker compares of a call.
type fuzzCall struct {
	conn              int32
	method, resource  string
	status            int
	requestTS, respTS uint64
	oneWay            bool
}

// playTracker plays FuzzTracker's ops through a new Tracker, closes it and returns it with the
// calls it emitted.
func playTracker(t *testing.T, ops []byte, mode playMode) (*Tracker, []fuzzCall) {
	var calls []fuzzCall
	tr := New(Config{MaxConnections: 2, MaxPending: 2, StreamCap: 1 << 16}, Parsers(), func(c *Call) {
		m, r, st := describe(c)
		calls = append(calls, fuzzCall{c.Conn.FD, m, r, st, c.RequestTS, c.ResponseTS, c.OneWay()})
	})
	protos := []abi.Protocol{abi.ProtoHTTP, abi.ProtoRedis, abi.ProtoDNS, abi.ProtoMemcached, abi.ProtoNATS}
	var pos [5][2]uint64
	ts := uint64(1e9)
	next := func() byte {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return b
	}
	for len(ops) > 0 {
		if mode == playedFresh {
			tr.arrays = stream.Pool{}
			for _, k := range tr.kinds {
				k.idle = nil
			}
		}
		op, arg := next(), next()
		conn, dir := int(arg%5), int(arg/5%2)
		id := abi.ConnID{FD: int32(conn), TGID: 1, Start: 1}
		ts += uint64(next()) * 1e6 // up to 255 ms on
		switch op % 8 {
		case 0, 1, 2, 3, 4: // a data event; 4: lost
			snippets := fuzzSnippets[protos[conn]][dir]
			p := snippets[int(op/8)%len(snippets)]
			if cut := int(next()); cut%4 == 1 {
				p = p[:cut%(len(p)+1)]
			}
			pos[conn][dir] += uint64(len(p))
			if op%8 == 4 {
				continue
			}
			d := abi.DirEgress
			if dir == 1 {
				d = abi.DirIngress
			}
			evTS := ts
			if op%8 == 3 {
				evTS -= min(evTS, 50e6) // from a CPU behind
			}
			sc := abi.SyscallWrite
			if op >= 128 { // one segment of an iovec syscall: its start waits for a boundary
				sc = abi.SyscallWriteV
			}
			tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: evTS, ConnID: id, Addr: wireAddr, Protocol: protos[conn],
				Role: abi.RoleClient, Direction: d, Syscall: sc, Pos: pos[conn][dir],
				OrgMsgSize: uint32(len(p)), MsgBufSize: uint32(len(p))}, Payload: []byte(p)})
		case 5:
			tr.EndBatch(arg&1 == 0)
			if mode == playedRested {
				for _, c := range tr.conns {
					tr.rest(c)
				}
			}
		case 6:
			tr.Ctrl(&abi.CtrlEvent{Type: abi.EventClose, TS: ts, ConnID: id, Addr: wireAddr})
			pos[conn] = [2]uint64{}
		case 7:
			tr.Expire(ts + uint64(arg)*1e9)
		}
	}
	tr.EndBatch(true)
	tr.Close()
	return tr, calls
}
