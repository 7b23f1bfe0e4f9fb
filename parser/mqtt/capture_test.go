package mqtt

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
	return fmt.Sprintf("%s %d %q qos=%d id=%d v=%d code=%d ok=%v oneway=%v", m.Packet, m.Size, m.Topic, m.QoS, m.ID,
		m.Version, m.Code, m.Success, m.OneWay)
}

// captured lists, per capture, the steps of the request stream and of the response stream, as
// line writes them. capture.sh says what each capture is; the ones below were checked by hand
// against the clients' own view (mosquitto_pub's repeats, mosquitto_sub -C 6).
var captured = parsertest.CaptureLines{
	"pub-1": {
		{
			"CONNECT 39 \"\" qos=0 id=0 v=3 code=-1 ok=false oneway=false",
			"PUBLISH 22 \"sensors/?/temp\" qos=0 id=0 v=3 code=-1 ok=true oneway=true",
			"PUBLISH 22 \"sensors/?/temp\" qos=0 id=0 v=3 code=-1 ok=true oneway=true",
			"PUBLISH 22 \"sensors/?/temp\" qos=0 id=0 v=3 code=-1 ok=true oneway=true",
			"DISCONNECT 2 \"\" qos=0 id=0 v=3 code=-1 ok=true oneway=true",
		},
		{
			"CONNACK 4 \"\" qos=0 id=0 v=3 code=0 ok=true oneway=false",
		},
	},
	"pub-2": {
		{
			"CONNECT 14 \"\" qos=0 id=0 v=4 code=-1 ok=false oneway=false",
			"PUBLISH 58 \"devices/?/state\" qos=1 id=1 v=4 code=-1 ok=true oneway=false",
			"PUBLISH 58 \"devices/?/state\" qos=1 id=2 v=4 code=-1 ok=true oneway=false",
			"PUBLISH 58 \"devices/?/state\" qos=1 id=3 v=4 code=-1 ok=true oneway=false",
			"DISCONNECT 2 \"\" qos=0 id=0 v=4 code=-1 ok=true oneway=true",
		},
		{
			"CONNACK 4 \"\" qos=0 id=0 v=4 code=0 ok=true oneway=false",
			"PUBACK 4 \"\" qos=0 id=1 v=4 code=0 ok=true oneway=false",
			"PUBACK 4 \"\" qos=0 id=2 v=4 code=0 ok=true oneway=false",
			"PUBACK 4 \"\" qos=0 id=3 v=4 code=0 ok=true oneway=false",
		},
	},
	"pub-3": {
		{
			"CONNECT 18 \"\" qos=0 id=0 v=5 code=-1 ok=false oneway=false",
			"PUBLISH 30 \"devices/lamp?/state\" qos=2 id=1 v=5 code=-1 ok=true oneway=false",
			"PUBREL 4 \"\" qos=0 id=1 v=5 code=-1 ok=true oneway=false",
			"PUBLISH 30 \"devices/lamp?/state\" qos=2 id=2 v=5 code=-1 ok=true oneway=false",
			"PUBREL 4 \"\" qos=0 id=2 v=5 code=-1 ok=true oneway=false",
			"PUBLISH 30 \"devices/lamp?/state\" qos=2 id=3 v=5 code=-1 ok=true oneway=false",
			"PUBREL 4 \"\" qos=0 id=3 v=5 code=-1 ok=true oneway=false",
			"DISCONNECT 2 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=true",
		},
		{
			"CONNACK 55 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=false",
			"PUBREC 4 \"\" qos=0 id=1 v=5 code=0 ok=true oneway=false",
			"PUBCOMP 4 \"\" qos=0 id=1 v=5 code=0 ok=true oneway=false",
			"PUBREC 4 \"\" qos=0 id=2 v=5 code=0 ok=true oneway=false",
			"PUBCOMP 4 \"\" qos=0 id=2 v=5 code=0 ok=true oneway=false",
			"PUBREC 4 \"\" qos=0 id=3 v=5 code=0 ok=true oneway=false",
			"PUBCOMP 4 \"\" qos=0 id=3 v=5 code=0 ok=true oneway=false",
		},
	},
	"pub-4": {
		{
			"CONNECT 14 \"\" qos=0 id=0 v=4 code=-1 ok=false oneway=false",
			"PUBLISH 16 \"denied/x\" qos=1 id=1 v=4 code=-1 ok=true oneway=false",
			"DISCONNECT 2 \"\" qos=0 id=0 v=4 code=-1 ok=true oneway=true",
		},
		{
			"CONNACK 4 \"\" qos=0 id=0 v=4 code=0 ok=true oneway=false",
			"PUBACK 4 \"\" qos=0 id=1 v=4 code=0 ok=true oneway=false",
		},
	},
	"pub-5": {
		{
			"CONNECT 18 \"\" qos=0 id=0 v=5 code=-1 ok=false oneway=false",
			"PUBLISH 17 \"denied/x\" qos=1 id=1 v=5 code=-1 ok=true oneway=false",
			"DISCONNECT 2 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=true",
		},
		{
			"CONNACK 55 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=false",
			"PUBACK 5 \"\" qos=0 id=1 v=5 code=135 ok=false oneway=false",
		},
	},
	"sub5-1": {
		{
			"CONNECT 18 \"\" qos=0 id=0 v=5 code=-1 ok=false oneway=false",
			"SUBSCRIBE 34 \"sensors/+/temp\" qos=0 id=1 v=5 code=-1 ok=false oneway=false",
			"ignored 4",
			"ignored 4",
			"DISCONNECT 2 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=true",
		},
		{
			"CONNACK 55 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=false",
			"SUBACK 7 \"\" qos=0 id=1 v=5 code=2 ok=true oneway=false",
			"DELIVERY 21 \"sensors/?/temp\" qos=0 id=0 v=5 code=-1 ok=true oneway=true",
			"DELIVERY 21 \"sensors/?/temp\" qos=0 id=0 v=5 code=-1 ok=true oneway=true",
			"DELIVERY 21 \"sensors/?/temp\" qos=0 id=0 v=5 code=-1 ok=true oneway=true",
			"DELIVERY 21 \"sensors/?/temp\" qos=0 id=0 v=5 code=-1 ok=true oneway=true",
			"DELIVERY 23 \"sensors/?/temp\" qos=1 id=1 v=5 code=-1 ok=true oneway=true",
			"DELIVERY 23 \"sensors/?/temp\" qos=1 id=2 v=5 code=-1 ok=true oneway=true",
		},
	},
	"sub5-2": {
		{
			"CONNECT 18 \"\" qos=0 id=0 v=5 code=-1 ok=false oneway=false",
			"SUBSCRIBE 19 \"forbidden/#\" qos=0 id=1 v=5 code=-1 ok=false oneway=false",
			"DISCONNECT 2 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=true",
		},
		{
			"CONNACK 55 \"\" qos=0 id=0 v=5 code=0 ok=true oneway=false",
			"SUBACK 6 \"\" qos=0 id=1 v=5 code=0 ok=true oneway=false",
		},
	},
	"submqttv311-1": {
		{
			"CONNECT 14 \"\" qos=0 id=0 v=4 code=-1 ok=false oneway=false",
			"SUBSCRIBE 33 \"sensors/+/temp\" qos=0 id=1 v=4 code=-1 ok=false oneway=false",
			"ignored 4",
			"ignored 4",
			"ignored 4",
			"ignored 4",
			"ignored 4",
			"ignored 4",
			"DISCONNECT 2 \"\" qos=0 id=0 v=4 code=-1 ok=true oneway=true",
		},
		{
			"CONNACK 4 \"\" qos=0 id=0 v=4 code=0 ok=true oneway=false",
			"SUBACK 6 \"\" qos=0 id=1 v=4 code=2 ok=true oneway=false",
			"DELIVERY 20 \"sensors/?/temp\" qos=0 id=0 v=4 code=-1 ok=true oneway=true",
			"DELIVERY 20 \"sensors/?/temp\" qos=0 id=0 v=4 code=-1 ok=true oneway=true",
			"DELIVERY 22 \"sensors/?/temp\" qos=1 id=1 v=4 code=-1 ok=true oneway=true",
			"DELIVERY 22 \"sensors/?/temp\" qos=1 id=3 v=4 code=-1 ok=true oneway=true",
			"DELIVERY 22 \"sensors/?/temp\" qos=2 id=5 v=4 code=-1 ok=true oneway=true",
			"DELIVERY 22 \"sensors/?/temp\" qos=2 id=7 v=4 code=-1 ok=true oneway=true",
			"ignored 4",
			"ignored 4",
		},
	},
	"submqttv311-2": {
		{
			"CONNECT 14 \"\" qos=0 id=0 v=4 code=-1 ok=false oneway=false",
			"SUBSCRIBE 18 \"forbidden/#\" qos=0 id=1 v=4 code=-1 ok=false oneway=false",
			"DISCONNECT 2 \"\" qos=0 id=0 v=4 code=-1 ok=true oneway=true",
		},
		{
			"CONNACK 4 \"\" qos=0 id=0 v=4 code=0 ok=true oneway=false",
			"SUBACK 5 \"\" qos=0 id=1 v=4 code=0 ok=true oneway=false",
		},
	},
}

func TestCaptures(t *testing.T) {
	newParser := func() parser.Parser[Message] { return NewConn(parser.NewInterner(100)) }
	parsertest.CheckCaptureLines(t, filepath.Join("testdata", "captures"), newParser, line, captured, true)
}

// TestCapturesSegmented replays every capture in reads of a few bytes.
func TestCapturesSegmented(t *testing.T) {
	for _, cp := range parsertest.LoadAll(t, filepath.Join("testdata", "captures")) {
		parsertest.CheckRecut(t, cp.Name, newConn, cp.Reads, 1, 3, 1000)
	}
}
