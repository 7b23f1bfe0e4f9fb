package kafka

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newDriver(t testing.TB) *parsertest.Driver[Message] {
	d := parsertest.NewDriver(t, NewConn(parser.NewInterner(1000)))
	d.Check = check
	d.Line = line
	return d
}

// check is the contract with exact sizes, and topics within their bound.
func check(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *Message) {
	t.Helper()
	parsertest.CheckResult(t, buf, typ, r, m, parsertest.Limits{ExactSize: true})
	if r.Status == parser.Complete && len(m.Topic) > maxTopic+16 {
		t.Fatalf("topic %q too long", m.Topic)
	}
}

// line renders a message: `> API vN id=N topic="…"(xN) size=N [one-way]` or
// `< API id=N err=N|- ok=B size=N`.
func line(m Message) string {
	var s string
	if m.Type == parser.Request {
		s = fmt.Sprintf("> %s v%d id=%d", m.API, m.Version, m.ID)
		if m.Topics > 0 {
			s += fmt.Sprintf(" topic=%q", m.Topic)
		}
		if m.OneWay {
			s += " one-way"
		}
	} else {
		e := "-"
		if m.ErrorKnown {
			e = fmt.Sprint(m.ErrorCode)
		}
		s = fmt.Sprintf("< %s id=%d err=%s ok=%v", m.API, m.ID, e, m.Success)
	}
	s += fmt.Sprintf(" size=%d", m.Size)
	if m.Truncated {
		s += " truncated"
	}
	return s
}

// request is r as a client writes it, with correlation id id.
func request(id int32, r kmsg.Request) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("netobs")).AppendRequest(nil, r, id)
}

// response is r as a broker writes it, answering id: header v1 (tagged fields) when flexible,
// but for ApiVersions.
func response(id int32, r kmsg.Response) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 0}, uint32(id))
	if r.IsFlexible() && r.Key() != 18 {
		b = append(b, 0)
	}
	b = r.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// parse parses one request and its response with a fresh Conn.
func parse(t *testing.T, req, resp []byte) (rq, rs Message) {
	t.Helper()
	c := NewConn(parser.NewInterner(100))
	r := c.Parse(req, parser.Request, &rq)
	require.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(req)}, r, "request %x", req)
	if resp != nil {
		r = c.Parse(resp, parser.Response, &rs)
		require.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(resp)}, r, "response %x", resp)
	}
	return rq, rs
}

func TestAPIsMatchKmsg(t *testing.T) {
	for k := range int16(len(apis)) {
		r := kmsg.RequestForKey(k)
		if r == nil {
			assert.Empty(t, apis[k].name, "key %d", k)
			continue
		}
		assert.Equal(t, kmsg.NameForKey(k), apis[k].name)
		for v := range r.MaxVersion() + 1 {
			r.SetVersion(v)
			assert.Equal(t, r.IsFlexible(), apis[k].flexible >= 0 && v >= apis[k].flexible, "%s v%d", apis[k].name, v)
		}
	}
	assert.Nil(t, kmsg.RequestForKey(int16(len(apis))), "a key past the table")
}

// uuid is a topic id and its base64url form.
var uuid = [16]byte{0x27, 0x80, 0xbb, 0xd3, 0x00, 0xbd, 0x76, 0xa5, 0x26, 0x9d, 0x6e, 0xbc, 0xbb, 0xfa, 0x8e, 0x90}

const uuidText = "J4C70wC9dqUmnW68u_qOkA"

// Every version of Produce franz-go knows, written by franz-go: the first topic, the count of
// the others, acks=0 one-way, the first partition's error code.
func TestProduceVersions(t *testing.T) {
	for v := range int16(14) {
		for _, acks := range []int16{-1, 1, 0} {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = v, acks, 1000
			for _, name := range []string{"orders-2024-12", "audit"} {
				tp := kmsg.NewProduceRequestTopic()
				tp.Topic, tp.TopicID = name, uuid
				pt := kmsg.NewProduceRequestTopicPartition()
				pt.Records = []byte("not parsed")
				tp.Partitions = append(tp.Partitions, pt)
				req.Topics = append(req.Topics, tp)
			}
			resp := req.ResponseKind().(*kmsg.ProduceResponse)
			resp.Version = v
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = "orders-2024-12", uuid
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
			rt.Partitions = append(rt.Partitions, rp)
			resp.Topics = append(resp.Topics, rt)
			var respBytes []byte
			if acks != 0 {
				respBytes = response(7, resp)
			}
			rq, rs := parse(t, request(7, req), respBytes)
			want := "orders-?-? (+1)"
			if v >= 13 {
				want = uuidText + " (+1)"
			}
			assert.Equal(t, Message{Type: parser.Request, Size: len(request(7, req)), ID: 7, Key: 0, Version: v,
				API: "Produce", Topic: want, Topics: 2, OneWay: acks == 0}, rq, "v%d acks %d", v, acks)
			if acks != 0 {
				assert.Equal(t, Message{Type: parser.Response, Size: len(respBytes), ID: 7, Key: 0, Version: v,
					API: "Produce", ErrorCode: 6, ErrorKnown: true}, rs, "v%d", v)
			}
		}
	}
}

// Every version of Fetch: the first topic, the top-level error (7+) or the first partition's.
func TestFetchVersions(t *testing.T) {
	for v := range int16(19) {
		for _, top := range []int16{0, 70} { // 70: FETCH_SESSION_TOPIC_ID_ERROR
			req := kmsg.NewPtrFetchRequest()
			req.Version = v
			tp := kmsg.NewFetchRequestTopic()
			tp.Topic, tp.TopicID = "clicks", uuid
			tp.Partitions = append(tp.Partitions, kmsg.NewFetchRequestTopicPartition())
			req.Topics = append(req.Topics, tp)
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			resp.Version, resp.ErrorCode = v, top
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = "clicks", uuid
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.ErrorCode = 1 // OFFSET_OUT_OF_RANGE
			rp.RecordBatches = []byte("records, not parsed")
			rt.Partitions = append(rt.Partitions, rp)
			resp.Topics = append(resp.Topics, rt)
			rq, rs := parse(t, request(3, req), response(3, resp))
			want := "clicks"
			if v >= 13 {
				want = uuidText
			}
			assert.Equal(t, want, rq.Topic, "v%d", v)
			assert.Equal(t, 1, rq.Topics)
			code := int16(1)
			if v >= 7 && top != 0 {
				code = top
			}
			assert.Equal(t, Message{Type: parser.Response, Size: len(response(3, resp)), ID: 3, Key: 1, Version: v,
				API: "Fetch", ErrorCode: code, ErrorKnown: true}, rs, "v%d", v)
		}
	}
}

// Every version of Metadata: the first topic's error code, past the brokers.
func TestMetadataVersions(t *testing.T) {
	for v := range int16(14) {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		resp.Version = v
		for i := range 2 {
			b := kmsg.NewMetadataResponseBroker()
			b.NodeID, b.Host, b.Port = int32(i), fmt.Sprintf("broker-%d.example", i), 9092
			rack := "rack-a"
			b.Rack = &rack
			resp.Brokers = append(resp.Brokers, b)
		}
		cluster := "cluster"
		resp.ClusterID = &cluster
		tp := kmsg.NewMetadataResponseTopic()
		tp.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
		resp.Topics = append(resp.Topics, tp)
		_, rs := parse(t, request(1, req), response(1, resp))
		assert.Equal(t, Message{Type: parser.Response, Size: len(response(1, resp)), ID: 1, Key: 3, Version: v,
			API: "Metadata", ErrorCode: 3, ErrorKnown: true}, rs, "v%d", v)
	}
}

// The other APIs whose error code is read, every version: the error code written where each
// version puts it is the one read.
func TestErrorCodes(t *testing.T) {
	set := map[int16]func(kmsg.Response){
		2: func(r kmsg.Response) {
			resp := r.(*kmsg.ListOffsetsResponse)
			tp := kmsg.NewListOffsetsResponseTopic()
			tp.Topic = "t"
			p := kmsg.NewListOffsetsResponseTopicPartition()
			p.ErrorCode = 9
			tp.Partitions = append(tp.Partitions, p)
			resp.Topics = append(resp.Topics, tp)
		},
		8: func(r kmsg.Response) {
			resp := r.(*kmsg.OffsetCommitResponse)
			tp := kmsg.NewOffsetCommitResponseTopic()
			tp.Topic = "t"
			p := kmsg.NewOffsetCommitResponseTopicPartition()
			p.ErrorCode = 9
			tp.Partitions = append(tp.Partitions, p)
			resp.Topics = append(resp.Topics, tp)
		},
		10: func(r kmsg.Response) {
			resp := r.(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode = 9
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.Host, c.ErrorCode = "group", "host", 9
			resp.Coordinators = append(resp.Coordinators, c)
		},
		19: func(r kmsg.Response) {
			resp := r.(*kmsg.CreateTopicsResponse)
			tp := kmsg.NewCreateTopicsResponseTopic()
			tp.Topic, tp.ErrorCode = "t", 9
			resp.Topics = append(resp.Topics, tp)
		},
	}
	for k := range throttleFrom {
		set[k] = func(r kmsg.Response) {
			reflect.ValueOf(r).Elem().FieldByName("ErrorCode").SetInt(9)
		}
	}
	for k, fill := range set {
		req := kmsg.RequestForKey(k)
		for v := range req.MaxVersion() + 1 {
			req.SetVersion(v)
			resp := req.ResponseKind()
			resp.SetVersion(v)
			fill(resp)
			_, rs := parse(t, request(5, req), response(5, resp))
			assert.Equal(t, Message{Type: parser.Response, Size: len(response(5, resp)), ID: 5, Key: k, Version: v,
				API: apis[k].name, ErrorCode: 9, ErrorKnown: true}, rs, "%s v%d", apis[k].name, v)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"orders":                 "orders",
		"orders-2024-12":         "orders-?-?",
		"42":                     "?",
		"tenant_0042.events.v2":  "tenant_?.events.v?",
		strings.Repeat("a", 300): strings.Repeat("a", maxTopic),
	} {
		var b [maxTopic]byte
		assert.Equal(t, want, string(mask(b[:0], []byte(in))), in)
	}
}

// produceSample is a Produce v9 (flexible) request and its response.
func produceSample() (req, resp []byte) {
	r := kmsg.NewPtrProduceRequest()
	r.Version, r.Acks = 9, -1
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic = "orders"
	tp.Partitions = append(tp.Partitions, kmsg.NewProduceRequestTopicPartition())
	r.Topics = append(r.Topics, tp)
	rs := r.ResponseKind().(*kmsg.ProduceResponse)
	rs.Version = 9
	rt := kmsg.NewProduceResponseTopic()
	rt.Topic = "orders"
	rt.Partitions = append(rt.Partitions, kmsg.NewProduceResponseTopicPartition())
	rs.Topics = append(rs.Topics, rt)
	return request(11, r), response(11, rs)
}

func TestPrefixes(t *testing.T) {
	req, resp := produceSample()
	complete := func(r parser.Result) bool { return r.Status == parser.Complete }
	parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{
		New: func() parser.Parser[Message] { return NewConn(parser.NewInterner(10)) }, Type: parser.Request,
		In: req, Whole: complete,
	})
	parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{
		New: func() parser.Parser[Message] {
			c := NewConn(parser.NewInterner(10))
			var m Message
			c.Parse(req, parser.Request, &m)
			return c
		},
		Type: parser.Response, In: resp, Whole: complete,
	})
	// A message longer than the parser waits for: parsed from its first waitBytes, truncated.
	big := kmsg.NewPtrProduceRequest()
	big.Version, big.Acks = 9, 1
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic = "orders"
	pt := kmsg.NewProduceRequestTopicPartition()
	pt.Records = make([]byte, 3*waitBytes)
	tp.Partitions = append(tp.Partitions, pt)
	big.Topics = append(big.Topics, tp)
	b := request(1, big)
	c := NewConn(parser.NewInterner(10))
	var m Message
	assert.Equal(t, parser.Result{Status: parser.NeedMore}, c.Parse(b[:waitBytes-1], parser.Request, &m))
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: len(b)}, c.Parse(b[:waitBytes], parser.Request, &m))
	assert.Equal(t, Message{Type: parser.Request, Size: len(b), Truncated: true, ID: 1, Key: 0, Version: 9,
		API: "Produce", Topic: "orders", Topics: 1}, m)
}

// A response that answers no request awaiting one is Invalid, and the parser resynchronises at
// the next that does; a response whose request was never seen (nothing awaits) is recorded bare.
func TestResponses(t *testing.T) {
	req, resp := produceSample()
	c := NewConn(parser.NewInterner(10))
	var m Message
	require.Equal(t, parser.Complete, c.Parse(req, parser.Request, &m).Status)
	stray := append(binary.BigEndian.AppendUint32([]byte{0, 0, 0, 8}, 99), 0, 0, 0, 0)
	buf := append(stray, resp...)
	assert.Equal(t, parser.Result{Status: parser.Invalid}, c.Parse(buf, parser.Response, &m))
	assert.Equal(t, len(stray), c.FindBoundary(buf, parser.Response))
	assert.Equal(t, parser.Complete, c.Parse(buf[len(stray):], parser.Response, &m).Status)
	assert.Equal(t, "Produce", m.API)
	// Nothing awaits now: a response is taken as it comes.
	m = Message{}
	assert.Equal(t, parser.Result{Status: parser.Complete, Consumed: 12}, c.Parse(stray, parser.Response, &m))
	assert.Equal(t, Message{Type: parser.Response, Size: 12, ID: 99, Key: -1, Version: -1, Success: true}, m)
}

func TestBoundaries(t *testing.T) {
	req, _ := produceSample()
	parsertest.CheckBoundaries(t, func() *Conn { return NewConn(parser.NewInterner(10)) }, []parsertest.Boundary{
		{"xyz" + string(req), parser.Request, 3},
		{"\x00\x00\x00\x00" + string(req), parser.Request, 4},
		{"GET / HTTP/1.1\r\n\r\n", parser.Request, -1},
		{"\x00\x00\x00\x0a\x00\x63\xff\xff\xff\xff\xff\xff", parser.Request, -1}, // API key 99
		{"\xff\xff\x00\x00\x00\x08\x00\x00\x00\x05\x00\x00", parser.Response, 2},
		{"\x00", parser.Response, -1},
	})
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "kafka", 5, parser.Parser[Message](NewConn(parser.NewInterner(10))))
	assert.Equal(t, "mq", Protocol.Records().RemoteType)
	req, resp := produceSample()
	rq, rs := parse(t, req, resp)
	var f parser.Fields
	a := func() parser.Fields { fieldsProtocols(&rq, &rs, &f); return f }
	b := func() parser.Fields { fieldsL4L7(&rq, &rs, &f); return f }
	assert.Equal(t, parser.Fields{"Produce", "orders", "0", "1"}, a())
	assert.Equal(t, parser.Fields{"Produce", "", "orders", "9", "1", "0"}, b())
	rs.ErrorCode, rs.Success = 6, false
	assert.Equal(t, parser.Fields{"Produce", "orders", "6", "0"}, a())
	rs.ErrorKnown, rs.Success = false, true
	assert.Equal(t, parser.Fields{"Produce", "", "orders", "9", "1", ""}, b())
	assert.Zero(t, testing.AllocsPerRun(100, func() { fieldsProtocols(&rq, &rs, &f); fieldsL4L7(&rq, &rs, &f) }))
	// Glue: a body whose size the 4-byte read before it announced.
	hdr := binary.LittleEndian.Uint32(req[:4])
	assert.True(t, Protocol.Stream().GlueLengthHeader(hdr, uint64(len(req)-4), req[4:]))
	assert.False(t, Protocol.Stream().GlueLengthHeader(hdr, uint64(len(req)), req))
}
