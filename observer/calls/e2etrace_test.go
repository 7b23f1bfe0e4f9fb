package calls

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/eventtest"
	"github.com/netobserver/netobserver/internal/replaytest"
)

// batches keeps every event of a replay, and where its batches ended.
type batches struct {
	eventtest.Events
	ends map[int]bool // after which event a batch ended
}

func (b *batches) EndBatch(bool) { b.ends[len(b.Events)-1] = true }

// e2eCalls is what the e2e suite's traffic makes, by protocol: curl's 16 HTTP calls (14 on IPv4,
// 2 on IPv6), redis-benchmark's 2 × 20 and CONFIG GET, redis-cli's HGET, pgbench's two runs, the
// mariadb client's statements, four digs (the last over TCP): each seen on both ends.
var e2eCalls = map[abi.Protocol]uint64{abi.ProtoHTTP: 32, abi.ProtoRedis: 86, abi.ProtoPGSQL: 148, abi.ProtoMySQL: 12, abi.ProtoDNS: 8}

// The e2e suite's traffic as the kernel side delivered it (testdata/e2e.trace: recorded with
// netobserver record during one run of scripts/e2e, kept to the suite's network), replayed into a
// Tracker in 300 random batchings — drained or not, the clock jumping up to 2 s and connections
// resting between batches — records every call of the suite, the same ones as the batching it was
// recorded in. With events delivered late (up to 20 places after their time, past other
// connections' events, as one written after a poll began is), every call is recorded or its loss
// counted, dnsmasq's side of the DNS-over-TCP call among them.
func TestE2ETrafficInAnyBatching(t *testing.T) {
	rec := batches{ends: map[int]bool{}}
	replaytest.RunFile(t, "testdata/e2e.trace", 0, &rec)
	var dnsmasq abi.ConnID // dnsmasq's TCP connection: the one whose server reads its query
	for _, e := range rec.Events {
		if d := e.Data; d != nil && d.Protocol == abi.ProtoDNS && d.Role == abi.RoleServer && d.Syscall == abi.SyscallRead {
			dnsmasq = d.ConnID
		}
	}
	require := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Fatalf(format, args...)
		}
	}
	require(dnsmasq != abi.ConnID{}, "no DNS-over-TCP read by a server in the trace")
	var onDnsmasq int // calls on dnsmasq's TCP connection
	play := func(evs []eventtest.Event, cut, drained func(int) bool, gap func(int) uint64) (*Tracker, []fuzzCall) {
		var calls []fuzzCall
		onDnsmasq = 0
		tr := New(Config{}, Parsers(), func(c *Call) {
			m, r, st := describe(c)
			calls = append(calls, fuzzCall{c.Conn.FD, m, r, st, c.RequestTS, c.ResponseTS, c.OneWay()})
			if c.Conn == dnsmasq {
				onDnsmasq++
			}
		})
		for i, e := range evs {
			switch {
			case e.Ctrl != nil:
				tr.Ctrl(e.Ctrl)
			case e.Data != nil:
				tr.Data(e.Data)
			case e.Stats != nil:
				tr.Stats(e.Stats)
			}
			if cut(i) || i == len(evs)-1 {
				tr.EndBatch(drained(i))
				if g := gap(i); g > 0 {
					tr.Rest(tr.now + g)
				}
			}
		}
		tr.EndBatch(true)
		tr.Close()
		return tr, calls
	}
	sorted := func(calls []fuzzCall) []fuzzCall {
		s := slices.Clone(calls)
		slices.SortFunc(s, func(a, b fuzzCall) int {
			if a.requestTS != b.requestTS {
				return int(int64(a.requestTS - b.requestTS))
			}
			return int(int64(a.respTS - b.respTS))
		})
		return s
	}
	tr, want := play(rec.Events, func(i int) bool { return rec.ends[i] }, func(int) bool { return true }, func(int) uint64 { return 0 })
	for p, n := range e2eCalls {
		c := tr.Counters(p)
		require(c.Calls == n && c.UnmatchedRequests+c.UnmatchedResponses == 0, "%v as recorded: %+v, want %d calls", p, c.MatchCounts, n)
	}
	require(onDnsmasq == 1, "as recorded: %d calls on dnsmasq's TCP connection", onDnsmasq)
	want = sorted(want)
	for seed := range int64(300) {
		r := rand.New(rand.NewSource(seed))
		p := []float64{0.01, 0.05, 0.2, 0.5, 0.9}[seed%5]
		n := len(rec.Events)
		cuts, drained, gaps := make([]bool, n), make([]bool, n), make([]uint64, n)
		for i := range n {
			cuts[i], drained[i] = r.Float64() < p, r.Intn(3) != 0
			if r.Intn(4) == 0 {
				gaps[i] = uint64(r.Intn(2000)) * 1e6
			}
		}
		evs := rec.Events
		late := seed%2 == 1
		if late {
			evs = slices.Clone(evs)
			for i := n - 1; i >= 0; i-- {
				if r.Intn(20) != 0 {
					continue
				}
				// Past other connections' events only: one connection's events are its threads'
				// syscalls in order, each submitted before the next began.
				k := i
				for k+1 < n && k < i+20 && evs[k+1].Conn() != evs[i].Conn() {
					k++
				}
				e := evs[i]
				copy(evs[i:k], evs[i+1:k+1])
				evs[k] = e
			}
		}
		tr, got := play(evs, func(i int) bool { return cuts[i] }, func(i int) bool { return drained[i] }, func(i int) uint64 { return gaps[i] })
		if !late {
			require(slices.Equal(sorted(got), want), "seed %d: the calls differ from the recorded batching's:\n%v\n%v", seed, sorted(got), want)
			continue
		}
		// Late events may cost calls (a response before its request, a close before the data),
		// never silently.
		for p, want := range e2eCalls {
			c := tr.Counters(p)
			counted := c.UnmatchedRequests + c.UnmatchedResponses + c.Invalid + c.GapBytes + c.AbandonedBytes
			require(c.Calls == want || c.Calls < want && counted > 0, "seed %d: %v: %d calls of %d, %+v", seed, p, c.Calls, want, c)
		}
		dns := tr.Counters(abi.ProtoDNS)
		require(onDnsmasq == 1 || onDnsmasq == 0 && dns.UnmatchedRequests+dns.UnmatchedResponses > 0,
			"seed %d: %d calls on dnsmasq's TCP connection, %+v", seed, onDnsmasq, dns.MatchCounts)
	}
}
