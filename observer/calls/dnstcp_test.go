package calls

import (
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/netobserver/netobserver/abi"
)

// dig +tcp against dnsmasq, as parser/dns/testdata/tcp_a.txt recorded it (dnsmasq 2.90, dig
// 9.18): dig writes the 2-byte length and the query with one writev and reads the answer with one
// read; dnsmasq reads the length one byte at a time, then the query, and writes the length and the
// answer with one write. The kernel side sends neither of dnsmasq's 1-byte reads (the protocol is
// told only at the third read, from the length they carried): its request stream starts at
// position 2.
var (
	digQuery  = unhex("604e01200001000000000001076578616d706c650474657374000001000100002904d000000000000c000a0008e9f16553c22ca8cb")
	digAnswer = unhex("604e85800001000100000001076578616d706c6504746573740000010001c00c000100010000000000040a01020300002904d0000000000000")
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// lengthPrefix is the 2-byte DNS-over-TCP length of m.
func lengthPrefix(m []byte) []byte { return []byte{byte(len(m) >> 8), byte(len(m))} }

// kev is one event as the kernel side delivers it, to be replayed in any order and batching.
type kev struct {
	name string
	ts   uint64
	play func(tr *Tracker)
}

func ctrlEv(name string, typ abi.EventType, id abi.ConnID, role abi.Role, ts uint64) kev {
	return kev{name, ts, func(tr *Tracker) {
		tr.Ctrl(&abi.CtrlEvent{Type: typ, TS: ts, ConnID: id, Addr: wireAddr, Role: role})
	}}
}

func finalStatsEv(name string, id abi.ConnID, role abi.Role, ts uint64) kev {
	return kev{name, ts, func(tr *Tracker) {
		tr.Stats(&abi.StatsEvent{TS: ts, ConnID: id, Addr: wireAddr, Role: role, ConnEvents: 1})
	}}
}

func dataEv(name string, id abi.ConnID, proto abi.Protocol, role abi.Role, dir abi.Direction, sc abi.Syscall,
	ts, pos uint64, org int, payload []byte) kev {
	typ := abi.TypeRequest
	if (dir == abi.DirEgress) != (role == abi.RoleClient) {
		typ = abi.TypeResponse
	}
	return kev{name, ts, func(tr *Tracker) {
		tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: id, Addr: wireAddr, Protocol: proto, Role: role,
			Type: typ, Direction: dir, Syscall: sc, Pos: pos, OrgMsgSize: uint32(org), MsgBufSize: uint32(len(payload))},
			Payload: payload})
	}}
}

// dnsmasqTCP is dnsmasq's side of one dig +tcp exchange from t on: the accept, the query read at
// position 2, the answer written, the close and the final statistics.
func dnsmasqTCP(id abi.ConnID, t uint64) []kev {
	answer := append(lengthPrefix(digAnswer), digAnswer...)
	return []kev{
		ctrlEv("accept", abi.EventConnect, id, abi.RoleServer, t),
		dataEv("read", id, abi.ProtoDNS, abi.RoleServer, abi.DirIngress, abi.SyscallRead, t+300_000,
			uint64(2+len(digQuery)), len(digQuery), digQuery),
		dataEv("write", id, abi.ProtoDNS, abi.RoleServer, abi.DirEgress, abi.SyscallWrite, t+400_000,
			uint64(len(answer)), len(answer), answer),
		ctrlEv("close", abi.EventClose, id, abi.RoleServer, t+700_000),
		finalStatsEv("stats", id, abi.RoleServer, t+700_001),
	}
}

// digTCP is dig's side: the connect, the length and the query in one writev (one event of both
// segments, as the kernel side reports dig's), the answer read, the close and the final
// statistics.
func digTCP(id abi.ConnID, t uint64) []kev {
	query := append(lengthPrefix(digQuery), digQuery...)
	answer := append(lengthPrefix(digAnswer), digAnswer...)
	return []kev{
		ctrlEv("connect", abi.EventConnect, id, abi.RoleClient, t),
		dataEv("writev", id, abi.ProtoDNS, abi.RoleClient, abi.DirEgress, abi.SyscallWriteV, t+200_000,
			uint64(len(query)), len(query), query),
		dataEv("read", id, abi.ProtoDNS, abi.RoleClient, abi.DirIngress, abi.SyscallRead, t+500_000,
			uint64(len(answer)), len(answer), answer),
		ctrlEv("close", abi.EventClose, id, abi.RoleClient, t+600_000),
		finalStatsEv("stats", id, abi.RoleClient, t+600_001),
	}
}

// dnsCalls counts the DNS calls of the dig exchange per connection.
type dnsCalls map[abi.ConnID]int

func newDNSTracker(cfg Config) (*Tracker, dnsCalls) {
	got := dnsCalls{}
	tr := New(cfg, Parsers(), func(c *Call) {
		if c.Protocol != abi.ProtoDNS {
			return
		}
		if m, r, st := describe(c); m == "A" && r == "example.test" && st == 0 {
			got[c.Conn]++
		}
	})
	return tr, got
}

// playBatches plays evs, ending a batch after each index in cuts (and after the last event).
func playBatches(tr *Tracker, evs []kev, cuts uint64, drained bool) {
	playSpaced(tr, evs, cuts, drained, 0)
}

// playSpaced is playBatches with gap ns of other traffic between batches: another process's
// event moves the tracker's clock gap on, and the observer's beat rests the quiet connections.
func playSpaced(tr *Tracker, evs []kev, cuts uint64, drained bool, gap uint64) {
	for i, e := range evs {
		e.play(tr)
		if cuts&(1<<i) == 0 && i != len(evs)-1 {
			continue
		}
		tr.EndBatch(drained)
		if gap > 0 {
			now := tr.now + gap
			tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: now, ConnID: abi.ConnID{FD: 1, TGID: 2, Start: now}, Role: abi.RoleClient})
			tr.EndBatch(true)
			tr.Rest(now)
		}
	}
}

// prelude is what a tracker went through before the dig exchange: connections that ended, rested
// or stay open, which leave their parser states and stream buffers to new ones.
type prelude struct {
	name string
	play func(t *testing.T, tr *Tracker, now uint64) uint64 // returns the time it ended at
}

// endConns plays n short connections of protocol proto, each one request and one response, ended
// by a close that closeGrace then passes. cut, when non-zero, cuts the response to that many
// bytes (the connection ends mid-message); ooo sends, past a hole, a later chunk of the request
// stream; staged writes the response as a vectored syscall whose start is unknown (a pending
// group) and closes before a later batch settles it.
func endConns(proto abi.Protocol, n int, req, resp []byte, cut int, ooo, staged bool) func(*testing.T, *Tracker, uint64) uint64 {
	return func(t *testing.T, tr *Tracker, now uint64) uint64 {
		for i := 0; i < n; i++ {
			id := abi.ConnID{FD: int32(100 + i%50), TGID: 3000 + uint32(proto), Start: now}
			r := resp
			if cut > 0 {
				r = r[:cut]
			}
			var evs []kev
			evs = append(evs, ctrlEv("connect", abi.EventConnect, id, abi.RoleClient, now))
			evs = append(evs, dataEv("req", id, proto, abi.RoleClient, abi.DirEgress, abi.SyscallWrite, now+10_000,
				uint64(len(req)), len(req), req))
			if ooo {
				evs = append(evs, dataEv("later", id, proto, abi.RoleClient, abi.DirEgress, abi.SyscallWrite, now+15_000,
					uint64(2*len(req)+7), len(req), req))
			}
			sc := abi.SyscallRead
			if staged {
				sc = abi.SyscallReadV
			}
			// A vectored read at position 0 is placed at once (a stream's start is a boundary only
			// once started): a first one that is not, past lost bytes, stays staged.
			pos := uint64(len(r))
			if staged {
				pos += 5
			}
			evs = append(evs, dataEv("resp", id, proto, abi.RoleClient, abi.DirIngress, sc, now+20_000, pos, len(r), r))
			evs = append(evs, ctrlEv("close", abi.EventClose, id, abi.RoleClient, now+30_000))
			playBatches(tr, evs, 0, !staged)
			now += 50_000
		}
		now += closeGrace + 1
		tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: now, ConnID: abi.ConnID{FD: 1, TGID: 1, Start: now}, Role: abi.RoleClient})
		tr.EndBatch(true)
		return now
	}
}

var (
	httpReq  = []byte("GET /x HTTP/1.1\r\nHost: svc\r\n\r\n")
	httpResp = []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	redisReq = []byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	redisVal = []byte("$1\r\nv\r\n")
)

// restConns plays n HTTP connections that go quiet and rest (Tracker.Rest, as the observer's beat
// calls it), then end unless open is set.
func restConns(n int, open bool) func(*testing.T, *Tracker, uint64) uint64 {
	return func(t *testing.T, tr *Tracker, now uint64) uint64 {
		var ids []abi.ConnID
		for i := 0; i < n; i++ {
			id := abi.ConnID{FD: int32(200 + i), TGID: 4000, Start: now}
			ids = append(ids, id)
			playBatches(tr, []kev{
				ctrlEv("connect", abi.EventConnect, id, abi.RoleClient, now),
				dataEv("req", id, abi.ProtoHTTP, abi.RoleClient, abi.DirEgress, abi.SyscallWrite, now+10_000,
					uint64(len(httpReq)), len(httpReq), httpReq),
				dataEv("resp", id, abi.ProtoHTTP, abi.RoleClient, abi.DirIngress, abi.SyscallRead, now+20_000,
					uint64(len(httpResp)), len(httpResp), httpResp),
			}, 0, true)
			now += 10_000
		}
		now += quietAfter + 1
		tr.Rest(now)
		tr.Rest(now + 1e9)
		now += 1e9
		if !open {
			for _, id := range ids {
				tr.Ctrl(&abi.CtrlEvent{Type: abi.EventClose, TS: now, ConnID: id})
			}
			tr.EndBatch(true)
			now += closeGrace + 1
			tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: now, ConnID: abi.ConnID{FD: 2, TGID: 1, Start: now}, Role: abi.RoleClient})
			tr.EndBatch(true)
		}
		return now
	}
}

// digConns plays n dig +tcp exchanges, both sides, each in one batch, and ends them.
func digConns(n int) func(*testing.T, *Tracker, uint64) uint64 {
	return func(t *testing.T, tr *Tracker, now uint64) uint64 {
		for i := 0; i < n; i++ {
			evs := append(digTCP(abi.ConnID{FD: 5, TGID: 5000 + uint32(i), Start: now}, now),
				dnsmasqTCP(abi.ConnID{FD: int32(10 + i%20), TGID: 6000, Start: now + 1}, now+1)...)
			sortByTS(evs)
			playBatches(tr, evs, 0, true)
			now += 1e6
		}
		now += closeGrace + 1
		tr.Ctrl(&abi.CtrlEvent{Type: abi.EventConnect, TS: now, ConnID: abi.ConnID{FD: 3, TGID: 1, Start: now}, Role: abi.RoleClient})
		tr.EndBatch(true)
		return now
	}
}

func sortByTS(evs []kev) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].ts < evs[j-1].ts; j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}

var dnsTCPPreludes = []prelude{
	{"nothing", func(_ *testing.T, _ *Tracker, now uint64) uint64 { return now }},
	{"http ended", endConns(abi.ProtoHTTP, 8, httpReq, httpResp, 0, false, false)},
	{"http ended mid-response", endConns(abi.ProtoHTTP, 8, httpReq, httpResp, 20, false, false)},
	{"http ended with data past a hole", endConns(abi.ProtoHTTP, 8, httpReq, httpResp, 0, true, false)},
	{"http ended with a staged syscall", endConns(abi.ProtoHTTP, 8, httpReq, httpResp, 0, false, true)},
	{"redis ended", endConns(abi.ProtoRedis, 8, redisReq, redisVal, 0, false, false)},
	{"redis ended with a staged syscall", endConns(abi.ProtoRedis, 8, redisReq, redisVal, 0, false, true)},
	{"dns over tcp ended", digConns(8)},
	{"http rested then ended", restConns(8, false)},
	{"http rested, still open", restConns(8, true)},
}

// digVariants are how the batches of a dig exchange are polled: drained or not, and with other
// traffic between them that moves the clock past closeGrace, or past GapTimeout and quietAfter
// (connections rest).
var digVariants = []struct {
	drained bool
	gap     uint64
}{{true, 0}, {false, 0}, {true, closeGrace + 50e6}, {false, 600e6}}

// checkDigAfter plays the prelude, then a dig +tcp exchange on new connections: dig's events in
// their time order, dnsmasq's in the order perm, batches cut after dnsmasq's events as cuts
// says. It reports the failure, if any.
func checkDigAfter(p prelude, t *testing.T, perm []int, cuts uint64, drained bool, gap uint64) string {
	tr, got := newDNSTracker(Config{})
	now := p.play(t, tr, 1e9)
	srv := abi.ConnID{FD: 9, TGID: 777, Start: now + 5}
	cli := abi.ConnID{FD: 4, TGID: 778, Start: now + 1}
	server := dnsmasqTCP(srv, now+5)
	client := digTCP(cli, now+1)
	evs := append([]kev(nil), client[:2]...)
	for _, i := range perm {
		evs = append(evs, server[i])
	}
	evs = append(evs, client[2:]...)
	playSpaced(tr, evs, cuts<<2, drained, gap)
	tr.EndBatch(true)
	tr.Close()
	cnt := tr.Counters(abi.ProtoDNS)
	// dnsmasq reads the query before it writes the answer, and writes it before it closes: each
	// event is submitted before the next syscall begins, and the library delivers what a poll
	// finds in time order, so no poll brings a later one first. Other orders may cost the call,
	// but never silently.
	at := func(i int) int { return slices.Index(perm, i) }
	inOrder := at(1) < at(2) && at(2) < at(3) && at(2) < at(4)
	counted := cnt.UnmatchedRequests + cnt.UnmatchedResponses + cnt.Invalid + cnt.GapBytes + cnt.AbandonedBytes
	if got[cli] == 1 && got[srv] <= 1 && (got[srv] == 1 || counted != 0) &&
		(!inOrder || got[srv] == 1 && cnt.UnmatchedRequests+cnt.UnmatchedResponses == 0) {
		return ""
	}
	return fmt.Sprintf("%v cuts %04b drained %v gap %d: dnsmasq %d calls, dig %d, counters %+v",
		names(evs), cuts, drained, gap, got[srv], got[cli], cnt)
}

// A dig +tcp exchange on connections new to a tracker that went through any of the preludes —
// connections that ended in every state a stream or a parser can be in, rested ones — is recorded
// once on each side, whatever batches its events come in and whatever the order of dnsmasq's
// events (the library merges its rings by timestamp, but an event written after a poll began
// waits for the next one), or its loss is counted.
func TestDNSOverTCPAfterEndedConnections(t *testing.T) {
	for _, p := range dnsTCPPreludes {
		t.Run(p.name, func(t *testing.T) {
			failures := 0
			for _, perm := range permutations(5) {
				for cuts := uint64(0); cuts < 1<<4; cuts++ {
					for _, v := range digVariants {
						if f := checkDigAfter(p, t, perm, cuts, v.drained, v.gap); f != "" {
							if failures++; failures <= 5 {
								t.Error(f)
							}
						}
					}
				}
			}
			if failures > 0 {
				t.Errorf("%d failing cases", failures)
			}
		})
	}
}

// The same after thousands of connections ended (their buffers and parser states fill what is
// kept for new ones), with dnsmasq's events in their time order.
func TestDNSOverTCPAfterThousandsEnded(t *testing.T) {
	thousands := prelude{"thousands", func(t *testing.T, tr *Tracker, now uint64) uint64 {
		now = endConns(abi.ProtoHTTP, 3000, httpReq, httpResp, 0, false, false)(t, tr, now)
		now = endConns(abi.ProtoRedis, 1000, redisReq, redisVal, 0, false, true)(t, tr, now)
		return digConns(1000)(t, tr, now)
	}}
	for cuts := uint64(0); cuts < 1<<4; cuts++ {
		for _, v := range digVariants {
			if f := checkDigAfter(thousands, t, []int{0, 1, 2, 3, 4}, cuts, v.drained, v.gap); f != "" {
				t.Error(f)
			}
		}
	}
}

func names(evs []kev) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.name)
	}
	return s
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}
