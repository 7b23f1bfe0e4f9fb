package redis

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/internal/parsertest"
)

const (
	req  = parser.Request
	resp = parser.Response
)

func newConn() *Conn { return NewConn(parser.NewInterner(1024)) }

// result is one Parse call's outcome.
type result = parsertest.Step[Message]

// cmd is a Complete request of n bytes.
func cmd(n int, method string) result {
	return result{Status: parser.Complete, Consumed: n, Msg: Message{Type: req, Size: n, Method: method}}
}

// reply is a Complete response of n bytes.
func reply(n int, success bool) result {
	return result{Status: parser.Complete, Consumed: n, Msg: Message{Type: resp, Size: n, Success: success}}
}

func ignored(n int) result { return result{Status: parser.Ignored, Consumed: n} }

var (
	invalid  = result{Status: parser.Invalid}
	needMore = result{Status: parser.NeedMore}
)

func truncated(s result) result { s.Msg.Truncated = true; return s }

// array encodes a request as redis-cli does.
func array(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func TestRequests(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // Method of the one Complete message spanning all of in
	}{
		{"ping", "*1\r\n$4\r\nPING\r\n", "PING"},
		{"lower case", array("set", "user:1", "secret"), "SET"},
		{"mixed case", array("hGeTaLl", "h"), "HGETALL"},
		{"client setinfo", array("CLIENT", "SETINFO", "lib-name", "redis-py"), "CLIENT SETINFO"},
		{"client list", array("client", "list"), "CLIENT LIST"},
		{"config get", array("config", "get", "maxmemory"), "CONFIG GET"},
		{"config set", array("CONFIG", "SET", "save", ""), "CONFIG SET"},
		{"xinfo stream", array("XINFO", "STREAM", "orders"), "XINFO STREAM"},
		{"object encoding", array("object", "encoding", "k"), "OBJECT ENCODING"},
		{"script load", array("SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"), "SCRIPT LOAD"},
		{"cluster info", array("CLUSTER", "INFO"), "CLUSTER INFO"},
		{"acl whoami", array("acl", "whoami"), "ACL WHOAMI"},
		{"acl setuser", array("ACL", "SETUSER", "alice", "on", ">password"), "ACL SETUSER"},
		{"memory usage", array("MEMORY", "USAGE", "k"), "MEMORY USAGE"},
		{"command docs", array("COMMAND", "DOCS"), "COMMAND DOCS"},
		{"function list", array("FUNCTION", "LIST"), "FUNCTION LIST"},
		{"container alone", array("COMMAND"), "COMMAND"},
		{"subcommand too long is not kept", array("CONFIG", strings.Repeat("X", 33)), "CONFIG"},
		{"subcommand with odd bytes is not kept", array("CONFIG", "GET*"), "CONFIG"},
		{"unknown subcommand is not kept", array("OBJECT", "user:42"), "OBJECT"},
		{"key in place of a subcommand is not kept", array("MEMORY", "session", "x"), "MEMORY"},
		{"client no-evict", array("CLIENT", "no-evict", "on"), "CLIENT NO-EVICT"},
		{"xgroup create", array("XGROUP", "CREATE", "s", "g", "$"), "XGROUP CREATE"},
		{"key named like a container is not a subcommand", array("GET", "CLIENT"), "GET"},
		{"module command: not Redis's", array("JSON.GET", "doc", "$.a"), unknownCommand},
		{"a name Redis does not have", array("CMDNAME_SECRET_20_X", "k"), unknownCommand},
		{"inline, a name Redis does not have", "CMDNAME_SECRET_21_X k\r\n", unknownCommand},
		{"a 7.4 command", array("hexpire", "h", "10", "FIELDS", "1", "f"), "HEXPIRE"},
		{"first element not a name", "*2\r\n$3\r\n\x00\x01\x02\r\n$1\r\nk\r\n", unknownCommand},
		{"empty name", "*1\r\n$0\r\n\r\n", unknownCommand},
		{"name too long", array(strings.Repeat("A", maxName+1)), unknownCommand},
		{"inline", "PING\r\n", "PING"},
		{"inline LF", "set k v\n", "SET"},
		{"inline subcommand", "config  get\tmaxmemory\r\n", "CONFIG GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parsertest.ParseAll(newConn(), []byte(tt.in), req)
			parsertest.AssertSteps(t, got, []result{cmd(len(tt.in), tt.want)})
		})
	}
}

func TestRequestsOther(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []result
	}{
		{"empty lines skipped", "\r\n\nPING\r\n", []result{ignored(2), ignored(1), cmd(6, "PING")}},
		{"empty array skipped", "*0\r\n*-1\r\n", []result{ignored(4), ignored(5)}},
		{"value not arrived", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc",
			[]result{truncated(cmd(20+6+100+2, "SET"))}},
		{"incomplete name", "*1\r\n$4\r\nPI", []result{needMore}},
		{"incomplete subcommand", "*2\r\n$6\r\nCONFIG\r\n$3\r\nGE", []result{needMore}},
		{"incomplete header", "*2\r\n$3\r\nGET\r\n$1", []result{needMore}},
		{"incomplete inline", "PIN", []result{needMore}},
		{"lone CR", "\r", []result{needMore}},

		{"bulk at top", "$3\r\nGET\r\n", []result{invalid}},
		{"integer element", "*2\r\n$3\r\nGET\r\n:1\r\n", []result{invalid}},
		{"null element", "*2\r\n$3\r\nGET\r\n$-1\r\n", []result{invalid}},
		{"bad count", "*x\r\n", []result{invalid}},
		{"count without CR", "*1\n$4\r\nPING\r\n", []result{invalid}},
		{"data not followed by CRLF", "*1\r\n$4\r\nPINGXX", []result{invalid}},
		{"huge bulk", "*1\r\n$99999999999\r\n", []result{invalid}},
		{"overlong header", "*1\r\n$123456789012345", []result{invalid}},
		{"inline binary", "GE\x00T\r\n", []result{invalid}},
		{"inline odd name", "GE{T k\r\n", []result{invalid}},
		{"binary", "\x16\x03\x01\x00", []result{invalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parsertest.AssertSteps(t, parsertest.ParseAll(newConn(), []byte(tt.in), req), tt.want)
		})
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		success bool
	}{
		{"simple string", "+OK\r\n", true},
		{"error", "-ERR unknown command 'FOO'\r\n", false},
		{"integer", ":-1000\r\n", true},
		{"int64 bounds", ":-9223372036854775808\r\n", true},
		{"bulk", "$5\r\nhello\r\n", true},
		{"empty bulk", "$0\r\n\r\n", true},
		{"null bulk", "$-1\r\n", true},
		{"null array", "*-1\r\n", true},
		{"empty array", "*0\r\n", true},
		{"nested array with error inside", "*2\r\n$1\r\na\r\n*2\r\n:1\r\n-ERR x\r\n", true},
		{"null", "_\r\n", true},
		{"double", ",3.14\r\n", true},
		{"double inf", ",-inf\r\n", true},
		{"boolean", "#t\r\n", true},
		{"blob error", "!21\r\nSYNTAX invalid syntax\r\n", false},
		{"verbatim", "=15\r\ntxt:Some string\r\n", true},
		{"big number", "(3492890328409238509324850943850943825024385\r\n", true},
		{"map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", true},
		{"set", "~3\r\n+orange\r\n+apple\r\n#t\r\n", true},
		{"attribute before reply", "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n", true},
		{"attribute inside", "*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n", true},
		{"attribute before error", "|1\r\n+a\r\n:1\r\n-ERR x\r\n", false},
		{"empty attribute", "|0\r\n+OK\r\n", true},
		{"streamed string", "$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n", true},
		{"streamed array", "*?\r\n:1\r\n*?\r\n.\r\n:2\r\n.\r\n", true},
		{"streamed map", "%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n", true},
		{"streamed set of streamed strings", "~?\r\n$?\r\n;1\r\na\r\n;0\r\n.\r\n", true},
		{"binary-safe bulk", "$4\r\n\r\n\r\n\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn()
			c.onRequest(cmdOther, 0)
			parsertest.AssertSteps(t, parsertest.ParseAll(c, []byte(tt.in), resp), []result{reply(len(tt.in), tt.success)})
		})
	}
}

func TestResponsesOther(t *testing.T) {
	deep := strings.Repeat("*1\r\n", maxDepth) + ":1\r\n"
	tooDeep := strings.Repeat("*1\r\n", maxDepth+1) + ":1\r\n"
	tests := []struct {
		name string
		in   string
		want []result
	}{
		{"bulk not arrived: last item", "$100\r\nabc", []result{truncated(reply(6+100+2, true))}},
		{"last element not arrived", "*2\r\n:1\r\n$100\r\nab", []result{truncated(reply(8+6+102, true))}},
		{"element not arrived, more follow", "*2\r\n$100\r\nab", []result{needMore}},
		{"incomplete header", "*2\r\n:1\r\n:", []result{needMore}},
		{"deep", deep, []result{reply(len(deep), true)}},

		{"too deep", tooDeep, []result{invalid}},
		{"unknown type", "?\r\n", []result{invalid}},
		{"no CR", "+OK\n", []result{invalid}},
		{"bulk without CRLF", "$5\r\nhelloXX", []result{invalid}},
		{"end outside streamed", "*1\r\n.\r\n", []result{invalid}},
		{"end at top", ".\r\n", []result{invalid}},
		{"bad boolean", "#x\r\n", []result{invalid}},
		{"bad null", "_x\r\n", []result{invalid}},
		{"bad integer", ":12a\r\n", []result{invalid}},
		{"null map", "%-1\r\n", []result{invalid}},
		{"chunk outside streamed string", ";4\r\nabcd\r\n", []result{invalid}},
		{"non-chunk in streamed string", "$?\r\n+x\r\n", []result{invalid}},
		{"empty double", ",\r\n", []result{invalid}},
		{"line too long", "+" + strings.Repeat("x", maxLine+1), []result{invalid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn()
			c.onRequest(cmdOther, 0)
			got := parsertest.ParseAll(c, []byte(tt.in), resp)
			parsertest.AssertSteps(t, got[:min(len(got), len(tt.want))], tt.want)
		})
	}
}

// exchange is a scripted conversation: requests and responses in the order they were captured.
type exchange []struct {
	typ  parser.MessageType
	in   string
	want []result
}

func (e exchange) run(t *testing.T, c *Conn) {
	t.Helper()
	for i, x := range e {
		got := parsertest.ParseAll(c, []byte(x.in), x.typ)
		if len(got) != len(x.want) {
			t.Fatalf("exchange %d (%v %q):\n got  %v\n want %v", i, x.typ, x.in, got, x.want)
		}
		for j := range got {
			if got[j] != x.want[j] {
				t.Errorf("exchange %d (%v %q) result %d:\n got  %v\n want %v", i, x.typ, x.in, j, got[j], x.want[j])
			}
		}
	}
}

func confirm(kind, channel string, count int) string {
	ch := "$-1\r\n"
	if channel != "" {
		ch = fmt.Sprintf("$%d\r\n%s\r\n", len(channel), channel)
	}
	return fmt.Sprintf("*3\r\n$%d\r\n%s\r\n%s:%d\r\n", len(kind), kind, ch, count)
}

func push(kind string, args ...string) string {
	s := array(append([]string{kind}, args...)...)
	return s
}

func TestPubSubRESP2(t *testing.T) {
	sub := array("SUBSCRIBE", "a", "b", "c")
	c1, c2, c3 := confirm("subscribe", "a", 1), confirm("subscribe", "b", 2), confirm("subscribe", "c", 3)
	msg := push("message", "a", "hello")
	ping := array("PING")
	pong := array("pong", "")
	unsub := array("UNSUBSCRIBE")
	u1, u2, u3 := confirm("unsubscribe", "a", 2), confirm("unsubscribe", "b", 1), confirm("unsubscribe", "c", 0)
	lrange := array("LRANGE", "l", "0", "-1")
	look := push("message", "x", "y") // a list whose items look like a message
	exchange{
		{req, sub, []result{cmd(len(sub), "SUBSCRIBE")}},
		{resp, c1 + c2 + msg + c3, []result{reply(len(c1), true), ignored(len(c2)), ignored(len(msg)), ignored(len(c3))}},
		{resp, msg + msg, []result{ignored(len(msg)), ignored(len(msg))}},
		{req, ping, []result{cmd(len(ping), "PING")}},
		{resp, msg + pong, []result{ignored(len(msg)), reply(len(pong), true)}},
		{req, unsub, []result{cmd(len(unsub), "UNSUBSCRIBE")}},
		{resp, u1 + u2 + u3, []result{reply(len(u1), true), ignored(len(u2)), ignored(len(u3))}},
		// Out of subscribed mode, with a request pending, a message-shaped array is a reply.
		{req, lrange, []result{cmd(len(lrange), "LRANGE")}},
		{resp, look, []result{reply(len(look), true)}},
	}.run(t, newConn())
}

func TestPubSubPatternsAndShards(t *testing.T) {
	sub, psub, ssub := array("SUBSCRIBE", "a"), array("PSUBSCRIBE", "n.*", "m.*"), array("SSUBSCRIBE", "s")
	unsub, punsub, sunsub := array("unsubscribe"), array("punsubscribe"), array("sunsubscribe")
	pmsg := push("pmessage", "n.*", "n.1", "x")
	smsg := push("smessage", "s", "x")
	c1, c2, c3, c4 := confirm("subscribe", "a", 1), confirm("psubscribe", "n.*", 2), confirm("psubscribe", "m.*", 3), confirm("ssubscribe", "s", 1)
	u1 := confirm("unsubscribe", "a", 2)
	pu1, pu2 := confirm("punsubscribe", "n.*", 1), confirm("punsubscribe", "m.*", 0)
	su1 := confirm("sunsubscribe", "s", 0)
	exchange{
		{req, sub + psub + ssub, []result{cmd(len(sub), "SUBSCRIBE"), cmd(len(psub), "PSUBSCRIBE"), cmd(len(ssub), "SSUBSCRIBE")}},
		{resp, c1 + c2 + c3 + c4, []result{reply(len(c1), true), reply(len(c2), true), ignored(len(c3)), reply(len(c4), true)}},
		{resp, pmsg + smsg, []result{ignored(len(pmsg)), ignored(len(smsg))}},
		// Unsubscribing all channels leaves the two patterns: one confirmation, count 2.
		{req, unsub, []result{cmd(len(unsub), "UNSUBSCRIBE")}},
		{resp, u1, []result{reply(len(u1), true)}},
		{resp, pmsg, []result{ignored(len(pmsg))}},
		{req, punsub, []result{cmd(len(punsub), "PUNSUBSCRIBE")}},
		{resp, pu1 + pu2, []result{reply(len(pu1), true), ignored(len(pu2))}},
		{resp, smsg, []result{ignored(len(smsg))}},
		{req, sunsub, []result{cmd(len(sunsub), "SUNSUBSCRIBE")}},
		{resp, su1, []result{reply(len(su1), true)}},
	}.run(t, newConn())
}

func TestPubSubEdges(t *testing.T) {
	t.Run("unsubscribe with nothing subscribed", func(t *testing.T) {
		unsub := array("UNSUBSCRIBE")
		get := array("GET", "k")
		exchange{
			{req, unsub + get, []result{cmd(len(unsub), "UNSUBSCRIBE"), cmd(len(get), "GET")}},
			{resp, confirm("unsubscribe", "", 0) + "$1\r\nv\r\n", []result{reply(len(confirm("unsubscribe", "", 0)), true), reply(7, true)}},
		}.run(t, newConn())
	})
	t.Run("refused subscribe", func(t *testing.T) {
		sub, get := array("SUBSCRIBE", "a", "b"), array("GET", "k")
		exchange{
			{req, sub + get, []result{cmd(len(sub), "SUBSCRIBE"), cmd(len(get), "GET")}},
			{resp, "-NOPERM no\r\n$1\r\nv\r\n", []result{reply(12, false), reply(7, true)}},
		}.run(t, newConn())
	})
	t.Run("pipelined plain requests ahead", func(t *testing.T) {
		get, sub := array("GET", "k"), array("SUBSCRIBE", "a")
		exchange{
			{req, get + get + sub, []result{cmd(len(get), "GET"), cmd(len(get), "GET"), cmd(len(sub), "SUBSCRIBE")}},
			{resp, "$1\r\nv\r\n" + confirm("subscribe", "x", 7) + "$1\r\nw\r\n" + confirm("subscribe", "a", 1),
				// A confirmation where a plain reply is due is not the SUBSCRIBE's.
				[]result{reply(7, true), ignored(30), reply(7, true), reply(30, true)}},
		}.run(t, newConn())
	})
	t.Run("subscribe inside multi", func(t *testing.T) {
		multi, sub, exec := array("MULTI"), array("SUBSCRIBE", "a"), array("EXEC")
		execReply := "*1\r\n" + confirm("subscribe", "a", 1)
		exchange{
			{req, multi + sub + exec, []result{cmd(len(multi), "MULTI"), cmd(len(sub), "SUBSCRIBE"), cmd(len(exec), "EXEC")}},
			{resp, "+OK\r\n+QUEUED\r\n" + execReply, []result{reply(5, true), reply(9, true), reply(len(execReply), true)}},
		}.run(t, newConn())
	})
	t.Run("messages with no request pending", func(t *testing.T) {
		msg := push("message", "a", "b")
		exchange{{resp, msg + msg, []result{ignored(len(msg)), ignored(len(msg))}}}.run(t, newConn())
	})
	t.Run("confirmation with nothing pending", func(t *testing.T) {
		exchange{{resp, confirm("subscribe", "a", 1), []result{ignored(30)}}}.run(t, newConn())
	})
	t.Run("too many pending subscribes", func(t *testing.T) {
		c := newConn()
		sub := array("SUBSCRIBE", "a")
		for range maxMarkers + 1 {
			parsertest.ParseAll(c, []byte(sub), req)
		}
		var want []result
		var in string
		for i := range maxMarkers + 1 {
			in += confirm("subscribe", "a", 1)
			if i < maxMarkers {
				want = append(want, reply(30, true))
			} else {
				want = append(want, ignored(30))
			}
		}
		exchange{{resp, in, want}}.run(t, c)
	})
}

func TestPubSubRESP3(t *testing.T) {
	hello := array("HELLO", "3")
	helloReply := "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"
	sub := array("SUBSCRIBE", "a", "b")
	p1 := ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
	p2 := ">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
	msg := ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
	inval := ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
	lrange := array("LRANGE", "l", "0", "-1")
	look := push("message", "x", "y")
	exchange{
		{req, hello, []result{cmd(len(hello), "HELLO")}},
		{resp, helloReply, []result{reply(len(helloReply), true)}},
		{req, sub, []result{cmd(len(sub), "SUBSCRIBE")}},
		{resp, p1 + msg + p2, []result{reply(len(p1), true), ignored(len(msg)), ignored(len(p2))}},
		// RESP3 allows any command while subscribed; its reply is never a push.
		{req, lrange, []result{cmd(len(lrange), "LRANGE")}},
		{resp, msg + inval + look, []result{ignored(len(msg)), ignored(len(inval)), reply(len(look), true)}},
	}.run(t, newConn())
}

func TestMonitor(t *testing.T) {
	mon, reset, get := array("MONITOR"), array("RESET"), array("GET", "k")
	feed := "+1700000000.000001 [0 127.0.0.1:5555] \"get\" \"k\"\r\n"
	exchange{
		{req, mon, []result{cmd(len(mon), "MONITOR")}},
		{resp, "+OK\r\n" + feed + feed, []result{reply(5, true), ignored(len(feed)), ignored(len(feed))}},
		{req, reset + get, []result{cmd(len(reset), "RESET"), cmd(len(get), "GET")}},
		{resp, feed + "+RESET\r\n$1\r\nv\r\n", []result{ignored(len(feed)), reply(8, true), reply(7, true)}},
	}.run(t, newConn())
	// MONITOR refused: no feed mode.
	exchange{
		{req, mon + get, []result{cmd(len(mon), "MONITOR"), cmd(len(get), "GET")}},
		{resp, "-NOPERM x\r\n+OK\r\n", []result{reply(11, false), reply(5, true)}},
	}.run(t, newConn())
}

func TestMultiExec(t *testing.T) {
	reqs := []string{array("MULTI"), array("SET", "k", "v"), array("INCR", "n"), array("EXEC")}
	var want []result
	for _, r := range reqs {
		want = append(want, cmd(len(r), strings.SplitN(r, "\r\n", 4)[2]))
	}
	execReply := "*2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n"
	exchange{
		{req, strings.Join(reqs, ""), want},
		{resp, "+OK\r\n+QUEUED\r\n+QUEUED\r\n" + execReply,
			[]result{reply(5, true), reply(9, true), reply(9, true), reply(len(execReply), true)}},
	}.run(t, newConn())
}

func TestPipelined(t *testing.T) {
	var in, out bytes.Buffer
	var wantReq, wantResp []result
	for i := range 10 {
		r := array("SET", fmt.Sprintf("key:%d", i), strings.Repeat("v", i))
		if i%3 == 1 {
			r = array("get", fmt.Sprintf("key:%d", i))
		}
		m := strings.ToUpper(strings.SplitN(r, "\r\n", 4)[2])
		in.WriteString(r)
		wantReq = append(wantReq, cmd(len(r), m))
		p := "+OK\r\n"
		if m == "GET" {
			p = fmt.Sprintf("$%d\r\n%s\r\n", i, strings.Repeat("v", i))
		}
		out.WriteString(p)
		wantResp = append(wantResp, reply(len(p), true))
	}
	c := newConn()
	parsertest.AssertSteps(t, parsertest.ParseAll(c, in.Bytes(), req), wantReq)
	parsertest.AssertSteps(t, parsertest.ParseAll(c, out.Bytes(), resp), wantResp)
}

func TestGarbageResync(t *testing.T) {
	ping := array("PING")
	c := newConn()
	// FindBoundary passes over the malformed "*x" line too.
	got := parsertest.ParseAll(c, []byte("\x00\x01junk\r\n*x\r\n"+ping), req)
	parsertest.AssertSteps(t, got, []result{invalid, cmd(len(ping), "PING")})

	got = parsertest.ParseAll(c, []byte("garbage\r\n?\r\n+OK\r\n"), resp)
	parsertest.AssertSteps(t, got, []result{invalid, reply(5, true)})
}

func TestFindBoundary(t *testing.T) {
	parsertest.CheckBoundaries(t, newConn, []parsertest.Boundary{
		{"*1\r\n$4\r\nPING\r\n", req, -1}, // offset 0 is never returned
		{"x\r\n*1\r\n$4\r\nPING\r\n", req, 3},
		{"x\r\n*", req, 3},
		{"x\r\n*1\r", req, 3},
		{"x\r\n*1\r\n:1\r\n", req, -1},
		{"x\r\n*a\r\n", req, -1},
		{"x\r\n+OK\r\n", req, -1},
		{"x\r\n*0\r\n", req, -1},
		{"x*1\r\n$4\r\nPING\r\n", req, -1},
		{"x\r\n+OK\r\n", resp, 3},
		{"x\r\n.\r\n+OK\r\n", resp, 6},
		{"x\r\n#y\r\n:1\r\n", resp, 7},
		{"x\r\n$?\r\n", resp, 3},
		{"x\r\n$", resp, 3},
		{"x\r\nhello\r\n", resp, -1},
		{"x\r\n", resp, -1},
	})
}

// samples are whole messages for the truncation test.
var samples = []struct {
	name string
	typ  parser.MessageType
	in   string
}{
	{"set", req, array("SET", "key", "value", "EX", "10")},
	{"client setinfo", req, array("CLIENT", "SETINFO", "LIB-NAME", "go-redis")},
	{"inline", req, "config get save\r\n"},
	{"bulk", resp, "$11\r\nhello world\r\n"},
	{"error", resp, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	{"nested", resp, "*3\r\n$3\r\nfoo\r\n*2\r\n:1\r\n$-1\r\n%1\r\n+k\r\n#f\r\n"},
	{"attribute", resp, "|1\r\n+ttl\r\n:3600\r\n*2\r\n:1\r\n:2\r\n"},
	{"streamed", resp, "*?\r\n$?\r\n;2\r\nab\r\n;0\r\n,1.5\r\n.\r\n"},
	{"long array", resp, strings.Repeat(":12345\r\n", 1) + "*40\r\n" + strings.Repeat("$5\r\nhello\r\n", 40)},
}

// TestTruncated cuts every sample at every length: the parser must ask for more, or report the
// message with its real size and Consumed; never anything else.
func TestTruncated(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			parsertest.CheckPrefixes(t, parsertest.Prefixes[Message]{
				New: func() parser.Parser[Message] {
					c := newConn()
					c.onRequest(cmdOther, 0)
					return c
				},
				Type:      s.typ,
				In:        []byte(s.in),
				Whole:     func(r parser.Result) bool { return r.Status == parser.Complete && r.Consumed != 0 },
				Truncated: true,
			})
		})
	}
}

func TestLargeRequest(t *testing.T) {
	big := strings.Repeat("v", 1<<20)
	set := array("SET", "k", big, "EX", "10")
	get := array("GET", "k")
	c := newConn()
	// The value is not all there and more elements follow: reported up to the value's end.
	cut := 3 * MaxPending / 2
	var m Message
	r := c.Parse([]byte(set[:cut]), req, &m)
	valueEnd := strings.Index(set, big) + len(big) + 2
	if r.Status != parser.Complete || r.Consumed != valueEnd || !m.Truncated || m.Method != "SET" || m.Size != valueEnd {
		t.Fatalf("%+v %+v, want %d", r, m, valueEnd)
	}
	// The caller skips to the value's end; what follows is the rest of the command, then GET.
	got := parsertest.ParseAll(c, []byte(set[valueEnd:]+get), req)
	parsertest.AssertSteps(t, got, []result{ignored(len(set) - valueEnd), cmd(len(get), "GET")})

	// A value within MaxPending, not last, is waited for.
	small := array("SET", "k", strings.Repeat("v", 10000), "EX", "10")
	c = newConn()
	if r := c.Parse([]byte(small[:1000]), req, &m); r.Status != parser.NeedMore {
		t.Fatalf("%+v", r)
	}
	// Many small elements: past MaxPending the request is reported at an element boundary
	// (or past the element cut by the end of the buffer).
	var mset strings.Builder
	args := []string{"MSET"}
	for i := range 40000 {
		args = append(args, fmt.Sprintf("k%06d", i), "v")
	}
	mset.WriteString(array(args...))
	in := mset.String()
	c = newConn()
	r = c.Parse([]byte(in[:MaxPending+100]), req, &m)
	if r.Status != parser.Complete || r.Consumed > MaxPending+100+20 || r.Consumed <= MaxPending || !m.Truncated || m.Method != "MSET" {
		t.Fatalf("%+v %+v", r, m)
	}
	got = parsertest.ParseAll(c, []byte(in[r.Consumed:]+get), req)
	parsertest.AssertSteps(t, got, []result{ignored(len(in) - r.Consumed), cmd(len(get), "GET")})
}

func TestLargeResponse(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	mget := "*3\r\n$1\r\na\r\n$" + fmt.Sprint(len(big)) + "\r\n" + big + "\r\n$1\r\nc\r\n"
	c := newConn()
	c.onRequest(cmdOther, 0)
	c.onRequest(cmdOther, 0)
	var m Message
	r := c.Parse([]byte(mget[:5000]), resp, &m)
	bigEnd := strings.Index(mget, big) + len(big) + 2
	if r.Status != parser.Complete || r.Consumed != bigEnd || !m.Truncated || !m.Success {
		t.Fatalf("%+v %+v", r, m)
	}
	got := parsertest.ParseAll(c, []byte(mget[bigEnd:]+"+OK\r\n"), resp)
	parsertest.AssertSteps(t, got, []result{ignored(len(mget) - bigEnd), reply(5, true)})

	// Many small elements, fed in pieces: the scan resumes, then reports past MaxPending.
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", 100000)
	for range 100000 {
		b.WriteString("$3\r\nabc\r\n")
	}
	keys := b.String()
	c = newConn()
	c.onRequest(cmdOther, 0)
	for n := 1000; ; n += 1000 {
		r = c.Parse([]byte(keys[:n]), resp, &m)
		if r.Status != parser.NeedMore {
			break
		}
		if !c.resp.cur.OK || c.resp.cur.Pos < n-20 {
			t.Fatalf("at %d: scan not saved (%+v)", n, c.resp.cur)
		}
	}
	if r.Status != parser.Complete || r.Consumed <= MaxPending || !m.Truncated {
		t.Fatalf("%+v %+v", r, m)
	}
	got = parsertest.ParseAll(c, []byte(keys[r.Consumed:]), resp)
	parsertest.AssertSteps(t, got, []result{ignored(len(keys) - r.Consumed)})
	if c.resp.cont {
		t.Error("still inside the reply")
	}
}

func TestProtocol(t *testing.T) {
	parsertest.CheckProtocol(t, Protocol, "redis", abi.ProtoRedis, parser.Parser[Message](newConn()))
	var m Message
	if r := newConn().Parse([]byte("+OK\r\n"), 9, &m); r.Status != parser.Invalid {
		t.Error(r)
	}
}

// TestPubSubResumed feeds confirmations byte by byte: a reply scanned over several calls must
// be classified as if it came whole (the element being read when bytes ran out is read again).
func TestPubSubResumed(t *testing.T) {
	c := newConn()
	parsertest.ParseAll(c, []byte(array("SUBSCRIBE", "news", "weather")), req)
	in := confirm("subscribe", "news", 1) + confirm("subscribe", "weather", 2) + push("message", "news", "hello")
	var got []result
	var buf []byte
	for i := 0; i < len(in) && len(got) < 3; i++ {
		buf = append(buf, in[i])
		var m Message
		r := c.Parse(buf, resp, &m)
		if r.Status != parser.NeedMore {
			got = append(got, result{Status: r.Status, Consumed: r.Consumed, Msg: m})
			buf = buf[:0]
		}
	}
	// The message is whole as soon as the header of its last element is in.
	msg := push("message", "news", "hello")
	parsertest.AssertSteps(t, got, []result{
		reply(len(confirm("subscribe", "news", 1)), true),
		ignored(len(confirm("subscribe", "weather", 2))),
		ignored(len(msg)),
	})
}
