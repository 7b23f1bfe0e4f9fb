package amqp

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

type step = parsertest.Step[Message]

// line is a parse step as the capture tables below write it.
func line(s step) string {
	if s.Status != parser.Complete {
		return fmt.Sprintf("%v %d", s.Status, s.Consumed)
	}
	m := s.Msg
	return fmt.Sprintf("%d %s %d ex=%q key=%q code=%d ok=%v oneway=%v", m.Channel, m.Method, m.Size, m.Exchange, m.Key,
		m.Code, m.Success, m.OneWay)
}

// captured lists, per capture, the steps of the request stream and of the response stream, as
// line writes them. capture.sh says what each capture is; the counts were checked by hand
// against the clients' (amqp-publish's two lines and one 300 KB body, amqp-consume -c 3 and -c 2).
var captured = parsertest.CaptureLines{
	"consume-1": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.declare 20 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.bind 69 ex=\"amq.topic\" key=\"amq.gen-?\" code=-1 ok=true oneway=false",
			"1 basic.qos 19 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.consume 51 ex=\"\" key=\"amq.gen-?\" code=-1 ok=true oneway=false",
			"1 basic.ack 21 ex=\"\" key=\"\" code=-1 ok=true oneway=true",
			"1 basic.ack 21 ex=\"\" key=\"\" code=-1 ok=true oneway=true",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
			"0 connection.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.declare-ok 51 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.bind-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.qos-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.consume-ok 44 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.deliver 111 ex=\"amq.topic\" key=\"sensor.?.temp\" code=-1 ok=true oneway=true",
			"ignored 10",
			"1 basic.deliver 111 ex=\"amq.topic\" key=\"sensor.?.temp\" code=-1 ok=true oneway=true",
			"ignored 10",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"0 connection.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
	"consume-2": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.publish 66 ex=\"no.such.exchange\" key=\"k\" code=-1 ok=true oneway=true",
			"ignored 9",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.close 74 ex=\"\" key=\"\" code=404 ok=false oneway=true",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
	"queue-1": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.declare 34 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=false",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
			"0 connection.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.declare-ok 35 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"0 connection.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
	"queue-2": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.publish 66 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=true",
			"ignored 12",
			"1 basic.publish 66 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=true",
			"ignored 12",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
			"0 connection.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"0 connection.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
	"queue-3": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.publish 300078 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=true",
			"ignored 131072",
			"ignored 131072",
			"ignored 37880",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
			"0 connection.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"0 connection.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
	"queue-4": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.qos 19 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.consume 35 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=false",
			"1 basic.ack 21 ex=\"\" key=\"\" code=-1 ok=true oneway=true",
			"1 basic.ack 21 ex=\"\" key=\"\" code=-1 ok=true oneway=true",
			"1 basic.ack 21 ex=\"\" key=\"\" code=-1 ok=true oneway=true",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
			"0 connection.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.qos-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.consume-ok 44 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.deliver 104 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=true",
			"ignored 12",
			"1 basic.deliver 104 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=true",
			"ignored 12",
			"1 basic.deliver 300116 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=true",
			"ignored 131072",
			"ignored 131072",
			"ignored 37880",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"0 connection.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
	"queue-5": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.get 30 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=false",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
			"0 connection.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 basic.get-empty 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"0 connection.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
	"queue-6": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.declare 34 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.close 147 ex=\"\" key=\"\" code=406 ok=false oneway=false",
		},
	},
	"queue-7": {
		{
			"ignored 8",
			"ignored 328",
			"ignored 20",
			"0 connection.open 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.delete 30 ex=\"\" key=\"orders.eu.?\" code=-1 ok=true oneway=false",
			"1 channel.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
			"0 connection.close 22 ex=\"\" key=\"\" code=200 ok=true oneway=false",
		},
		{
			"ignored 515",
			"ignored 20",
			"0 connection.open-ok 13 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.open-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 queue.delete-ok 16 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"1 channel.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
			"0 connection.close-ok 12 ex=\"\" key=\"\" code=-1 ok=true oneway=false",
		},
	},
}

func TestCaptures(t *testing.T) {
	newParser := func() parser.Parser[Message] { return NewConn(parser.NewInterner(100)) }
	parsertest.CheckCaptureLines(t, filepath.Join("testdata", "captures"), newParser, line, captured, false)
}

// TestCapturesSegmented replays every capture in reads of a few bytes.
func TestCapturesSegmented(t *testing.T) {
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		sizes := []int{1, 7, 1000}
		if len(cp.Streams[0])+len(cp.Streams[1]) > 64<<10 {
			sizes = sizes[1:]
		}
		parsertest.CheckRecut(t, cp.Name, newConn, cp.Reads, sizes...)
	}
}
