package protocols_test

import (
	"net/netip"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/observer/aggregate"
	"github.com/netobserver/netobserver/observer/calls"
	"github.com/netobserver/netobserver/record"
)

// pipeline plays client-side traffic of the registered protocols through calls.Tracker into the
// aggregators of both schemas, as the observer does, for one process (pid 7).
type pipeline struct {
	tr   *calls.Tracker
	a, b aggregate.Aggregator
	// onCall, when set, sees each call before it is aggregated.
	onCall func(*calls.Call)
}

func newPipeline() *pipeline {
	p := &pipeline{
		a: aggregate.New(aggregate.Config{}),
		b: aggregate.New(aggregate.Config{Schema: aggregate.SchemaL4L7, L7Interval: 15, Host: "node-1"}),
	}
	proc := &aggregate.Process{Group: "pid:7", Meta: []record.Field{{Key: "_process_pid_", Value: "7"}}}
	p.tr = calls.New(calls.Config{}, calls.Parsers(), func(c *calls.Call) {
		if p.onCall != nil {
			p.onCall(c)
		}
		p.a.AddCall(proc, c)
		p.b.AddCall(proc, c)
	})
	return p
}

// data is one data event of connection fd (pid 7) to 10.0.0.9:port; pos is the stream position
// after it.
func (p *pipeline) data(fd int32, proto abi.Protocol, port uint16, dir abi.Direction, ts, pos uint64, payload []byte) {
	p.tr.Data(&abi.DataEvent{DataAttr: abi.DataAttr{TS: ts, ConnID: abi.ConnID{FD: fd, TGID: 7, Start: uint64(fd)},
		Addr: abi.SockAddrFrom(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), port)), Protocol: proto,
		Role: abi.RoleClient, Direction: dir, Pos: pos, OrgMsgSize: uint32(len(payload)), MsgBufSize: uint32(len(payload))},
		Payload: payload})
}

// flush ends every connection and returns the records of both schemas.
func (p *pipeline) flush() (a, b []record.Record) {
	p.tr.EndBatch(true)
	p.tr.Close()
	return p.a.FlushL7(1700000000), p.b.FlushL7(1700000000)
}

// fields are the values of keys in r, "<none>" for a key r lacks.
func fields(r record.Record, keys ...string) []string {
	var out []string
	for _, k := range keys {
		v, ok := r.Get(k)
		if !ok {
			v = "<none>"
		}
		out = append(out, v)
	}
	return out
}
