package calls

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wire plays the kernel side for direct Tracker tests: it numbers stream positions per connection
// and direction as the kernel does, and can lose events (advance a position without sending).
type wire struct {
	tr    *Tracker
	calls []string // "method resource -> status/success latency"
	pos   map[wireKey]uint64
}

type wireKey struct {
	fd  int32
	dir abi.Direction
}

func newWire(cfg Config) *wire {
	w := &wire{pos: make(map[wireKey]uint64)}
	w.tr = New(cfg, Parsers(), func(c *Call) {
		method, resource, _ := describe(c)
		w.calls = append(w.calls, fmt.Sprintf("%s %s -> %v %d", method, resource, c.Response.Success, c.Latency()))
	})
	return w
}

var wireAddr = abi.SockAddrFrom(netip.MustParseAddrPort("10.0.0.9:7000"))

func (w *wire) id(fd int32) abi.ConnID {
	return abi.ConnID{FD: fd, TGID: 42, Start: uint64(fd)}
}

// send delivers payload written (egress) or read (ingress) by the client on connection fd.
func (w *wire) send(fd int32, proto abi.Protocol, dir abi.Direction, ts uint64, payload string) {
	k := wireKey{fd, dir}
	w.pos[k] += uint64(len(payload))
	syscall := abi.SyscallWrite
	if dir == abi.DirIngress {
		syscall = abi.SyscallRead
	}
	w.tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: w.id(fd), Addr: wireAddr, Protocol: proto,
		Role: abi.RoleClient, Direction: dir, Syscall: syscall, Pos: w.pos[k],
		OrgMsgSize: uint32(len(payload)), MsgBufSize: uint32(len(payload))}, Payload: []byte(payload)})
}

// lose advances the position as if payload had been sent, but its event never arrives.
func (w *wire) lose(fd int32, dir abi.Direction, payload string) {
	w.pos[wireKey{fd, dir}] += uint64(len(payload))
}

func (w *wire) ctrl(fd int32, typ abi.EventType, ts uint64) {
	w.tr.Ctrl(&abi.CtrlEvent{Type: typ, TS: ts, ConnID: w.id(fd), Addr: wireAddr, Role: abi.RoleClient})
}

func redisGet(i int) string   { return fmt.Sprintf("*2\r\n$3\r\nGET\r\n$4\r\nk%03d\r\n", i) }
func redisValue(i int) string { return fmt.Sprintf("$4\r\nv%03d\r\n", i) }

// 200 exchanges of one connection in one poll, each request followed by its response: the
// tracker must not push out requests whose responses are in the same batch.
func TestManyExchangesInOneBatch(t *testing.T) {
	w := newWire(Config{})
	for i := range 200 {
		ts := uint64(1000 + 100*i)
		w.send(1, abi.ProtoRedis, abi.DirEgress, ts, redisGet(i))
		w.send(1, abi.ProtoRedis, abi.DirIngress, ts+40, redisValue(i))
	}
	w.tr.EndBatch(true)
	require.Len(t, w.calls, 200)
	for i, c := range w.calls {
		require.Equal(t, "GET  -> true 40", c, "call %d", i)
	}
	cnt := w.tr.Counters(abi.ProtoRedis)
	assert.EqualValues(t, 200, cnt.Calls)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses)
}

// A pipeline deeper than MaxPending in one write, answered in one read of the same poll: the
// requests beyond MaxPending wait in their stream until responses make room.
func TestPipelineDeeperThanMaxPending(t *testing.T) {
	w := newWire(Config{})
	var reqs, resps strings.Builder
	for i := range 200 {
		reqs.WriteString(redisGet(i))
		resps.WriteString(redisValue(i))
	}
	w.send(1, abi.ProtoRedis, abi.DirEgress, 1000, reqs.String())
	w.send(1, abi.ProtoRedis, abi.DirIngress, 5000, resps.String())
	w.tr.EndBatch(true)
	require.Len(t, w.calls, 200)
	cnt := w.tr.Counters(abi.ProtoRedis)
	assert.EqualValues(t, 200, cnt.Calls)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses)

	// The next poll brings only requests, deeper than MaxPending, then their answers: nothing
	// is given up while the answers may still come.
	reqs.Reset()
	resps.Reset()
	for i := 200; i < 300; i++ {
		reqs.WriteString(redisGet(i))
		resps.WriteString(redisValue(i))
	}
	w.send(1, abi.ProtoRedis, abi.DirEgress, 6000, reqs.String())
	w.tr.EndBatch(true)
	w.send(1, abi.ProtoRedis, abi.DirIngress, 9000, resps.String())
	w.tr.EndBatch(true)
	assert.Len(t, w.calls, 300)
	assert.Zero(t, w.tr.Counters(abi.ProtoRedis).UnmatchedRequests)
}

// MySQL packets for the prepared-statement test.
func myPkt(seq byte, payload string) string {
	n := len(payload)
	return string([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}) + payload
}

const (
	myEOF      = "\xfe\x00\x00\x02\x00"
	myParamDef = "\x03def\x00\x00\x00\x01?\x00\x0c\x3f\x00\x00\x00\x00\x00\xfd\x80\x00\x00\x00\x00"
	myColDef   = "\x03def\x04shop\x05items\x05items\x04name\x04name\x0c\x3f\x00\x0b\x00\x00\x00\x03\x03\x50\x00\x00\x00"
)

// A COM_STMT_PREPARE's answer names the statement the COM_STMT_EXECUTEs after it run. When the
// answer and the executes come in the same poll, the answer must be parsed first.
func TestPrepareAnswerBeforeExecutesInOneBatch(t *testing.T) {
	w := newWire(Config{})
	prepare := myPkt(0, "\x16SELECT name FROM items WHERE id = ?")
	// COM_STMT_PREPARE_OK: statement 7, 1 column, 1 parameter.
	prepareOK := myPkt(1, "\x00\x07\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00") + myPkt(2, myParamDef) + myPkt(3, myEOF) +
		myPkt(4, myColDef) + myPkt(5, myEOF)
	execute := myPkt(0, "\x17\x07\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00")
	rows := myPkt(1, "\x01") + myPkt(2, myColDef) + myPkt(3, myEOF) + myPkt(4, "\x00\x00\x04pear") + myPkt(5, myEOF)
	w.send(1, abi.ProtoMySQL, abi.DirEgress, 1000, prepare)
	w.send(1, abi.ProtoMySQL, abi.DirIngress, 1100, prepareOK)
	for i := range 3 {
		ts := uint64(2000 + 1000*i)
		w.send(1, abi.ProtoMySQL, abi.DirEgress, ts, execute)
		w.send(1, abi.ProtoMySQL, abi.DirIngress, ts+300, rows)
	}
	w.tr.EndBatch(true)
	const sel = "SELECT name FROM items WHERE id = ?"
	assert.Equal(t, []string{"PREPARE " + sel + " -> true 100", "SELECT " + sel + " -> true 300",
		"SELECT " + sel + " -> true 300", "SELECT " + sel + " -> true 300"}, w.calls)
}

// exchange is one request and its answer on the wire of the loss tests: the latency identifies
// the pair.
type exchange struct {
	req, resp       string
	reqTS, respTS   uint64
	loseReq, loseRe bool
}

// play sends the exchanges batch at a time (requests and responses of a batch interleaved by
// time, as the kernel delivers them), each batch ending with drained.
func (w *wire) play(xs []exchange, perBatch int, drained bool) {
	for i, x := range xs {
		if x.loseReq {
			w.lose(1, abi.DirEgress, x.req)
		} else if x.req != "" {
			w.send(1, abi.ProtoRedis, abi.DirEgress, x.reqTS, x.req)
		}
		if x.loseRe {
			w.lose(1, abi.DirIngress, x.resp)
		} else if x.resp != "" {
			w.send(1, abi.ProtoRedis, abi.DirIngress, x.respTS, x.resp)
		}
		if (i+1)%perBatch == 0 {
			w.tr.EndBatch(drained)
		}
	}
}

// Lost events cost exactly the calls they carried: a lost request leaves its response unmatched,
// a lost response its request, and every other call is paired right — at the next poll that
// empties the rings, long before the gap timeout.
func TestLossCostsOnlyTheCallsItTouched(t *testing.T) {
	var xs []exchange
	var want []string
	lostReq := map[int]bool{10: true, 70: true, 71: true}
	lostResp := map[int]bool{50: true, 51: true, 90: true}
	for i := range 100 {
		ts := uint64(1_000_000 + 1000*i)
		latency := uint64(100 + i)
		xs = append(xs, exchange{req: redisGet(i), resp: redisValue(i), reqTS: ts, respTS: ts + latency,
			loseReq: lostReq[i], loseRe: lostResp[i]})
		if !lostReq[i] && !lostResp[i] {
			want = append(want, fmt.Sprintf("GET  -> true %d", latency))
		}
	}
	w := newWire(Config{})
	w.play(xs, 7, true)
	w.tr.EndBatch(true) // a later poll that emptied the rings: the last holes are given up too
	assert.Equal(t, want, w.calls)
	cnt := w.tr.Counters(abi.ProtoRedis)
	assert.EqualValues(t, 94, cnt.Calls)
	assert.EqualValues(t, 3, cnt.UnmatchedResponses, "the answers of the lost requests")
	w.tr.Close()
	cnt = w.tr.Counters(abi.ProtoRedis)
	assert.EqualValues(t, 3, cnt.UnmatchedRequests, "the requests whose answers were lost")
	assert.EqualValues(t, 3*len(redisGet(0))+3*len(redisValue(0)), cnt.GapBytes)
	assert.Zero(t, cnt.Invalid)
}

// The same with pipelining: 16 requests per write, their 16 answers per read. A lost write costs
// its 16 calls, a lost read its 16, and the pairs after each hole are right.
func TestLossInPipelineCostsOnlyItsWrite(t *testing.T) {
	var xs []exchange
	var want []string
	for g := range 20 {
		ts := uint64(1_000_000 + 10_000*g)
		latency := uint64(1000 + g)
		var reqs, resps strings.Builder
		for i := range 16 {
			reqs.WriteString(redisGet(16*g + i))
			resps.WriteString(redisValue(16*g + i))
		}
		xs = append(xs, exchange{req: reqs.String(), resp: resps.String(), reqTS: ts, respTS: ts + latency,
			loseReq: g == 5, loseRe: g == 12})
		if g != 5 && g != 12 {
			for range 16 {
				want = append(want, fmt.Sprintf("GET  -> true %d", latency))
			}
		}
	}
	for _, drained := range []bool{true, false} {
		t.Run(fmt.Sprintf("drained=%v", drained), func(t *testing.T) {
			w := newWire(Config{})
			w.play(xs, 3, drained)
			if !drained {
				// No poll has emptied the rings: the calls after the first hole wait for one.
				assert.Equal(t, want[:5*16], w.calls)
			}
			w.tr.EndBatch(true)
			assert.Equal(t, want, w.calls)
			w.tr.Close()
			cnt := w.tr.Counters(abi.ProtoRedis)
			assert.EqualValues(t, 18*16, cnt.Calls)
			assert.EqualValues(t, 16, cnt.UnmatchedResponses)
			assert.EqualValues(t, 16, cnt.UnmatchedRequests)
		})
	}
}

// A response polled from another CPU before its request still pairs: alone (held as early), and
// when its request arrives after the next request (a hole that fills).
func TestResponseBeforeItsRequest(t *testing.T) {
	w := newWire(Config{})
	// Exchange 0: the answer in one poll, the request in the next.
	w.lose(1, abi.DirEgress, redisGet(0))
	w.send(1, abi.ProtoRedis, abi.DirIngress, 1040, redisValue(0))
	w.tr.EndBatch(false)
	w.pos[wireKey{1, abi.DirEgress}] = 0
	w.send(1, abi.ProtoRedis, abi.DirEgress, 1000, redisGet(0))
	w.tr.EndBatch(false)
	// Exchanges 1 and 2: request 1 comes after request 2 and both answers.
	w.lose(1, abi.DirEgress, redisGet(1))
	w.send(1, abi.ProtoRedis, abi.DirIngress, 2050, redisValue(1))
	w.send(1, abi.ProtoRedis, abi.DirEgress, 3000, redisGet(2))
	w.send(1, abi.ProtoRedis, abi.DirIngress, 3060, redisValue(2))
	w.tr.EndBatch(true)
	assert.Equal(t, []string{"GET  -> true 40"}, w.calls, "exchange 2 waits behind the hole")
	p := w.pos[wireKey{1, abi.DirEgress}]
	w.pos[wireKey{1, abi.DirEgress}] = uint64(len(redisGet(0)))
	w.send(1, abi.ProtoRedis, abi.DirEgress, 2000, redisGet(1))
	w.pos[wireKey{1, abi.DirEgress}] = p
	w.tr.EndBatch(true)
	assert.Equal(t, []string{"GET  -> true 40", "GET  -> true 50", "GET  -> true 60"}, w.calls)
	cnt := w.tr.Counters(abi.ProtoRedis)
	assert.Zero(t, cnt.UnmatchedRequests+cnt.UnmatchedResponses+cnt.GapBytes)
}
