package parsertest

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/parser"
	"github.com/stretchr/testify/assert"
)

// both are the two directions, requests first.
var both = []parser.MessageType{parser.Request, parser.Response}

// Limits are the promises CheckResult checks beyond those every protocol makes. A zero field
// checks nothing.
type Limits struct {
	// Beyond bounds how far past the end of the buffer Consumed may reach.
	Beyond int
	// ExactSize: a Complete message's Size is Consumed, and the message is Truncated when
	// Consumed reaches past the end of the buffer.
	ExactSize bool
}

// CheckResult fails t unless r, what Parse(buf, typ, m) returned, keeps the contract: NeedMore
// and Invalid consume nothing, Complete and Ignored consume something, no other status, and a
// Complete message is of type typ with a Size of at least Consumed; and what lim asks besides.
func CheckResult[M Message](t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *M, lim Limits) {
	t.Helper()
	switch r.Status {
	case parser.NeedMore, parser.Invalid:
		if r.Consumed != 0 {
			t.Fatalf("%v with Consumed %d", r.Status, r.Consumed)
		}
	case parser.Complete, parser.Ignored:
		if r.Consumed <= 0 || lim.Beyond > 0 && r.Consumed > len(buf)+lim.Beyond {
			t.Fatalf("%v with Consumed %d of %d", r.Status, r.Consumed, len(buf))
		}
	default:
		t.Fatalf("status %d", r.Status)
	}
	if r.Status != parser.Complete {
		return
	}
	f := frame(m)
	if f.Type != typ || f.Size < r.Consumed ||
		lim.ExactSize && (f.Size != r.Consumed || r.Consumed > len(buf) && !f.Truncated) {
		t.Fatalf("%+v for %+v of %d bytes", *m, r, len(buf))
	}
}

// Contract returns a CheckFunc that checks CheckResult with lim.
func Contract[M Message](lim Limits) CheckFunc[M] {
	return func(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *M) {
		t.Helper()
		CheckResult(t, buf, typ, r, m, lim)
	}
}

// CheckBoundary fails t unless b, what FindBoundary(buf, ...) returned, is -1 or an offset
// inside buf after its first byte.
func CheckBoundary(t testing.TB, buf []byte, b int) {
	t.Helper()
	if b == 0 || b < -1 || b >= len(buf) && b != -1 {
		t.Fatalf("FindBoundary = %d in %d bytes", b, len(buf))
	}
}

// Prefixes describes a sample message for CheckPrefixes.
type Prefixes[M Message] struct {
	// New returns a Conn in the state the sample needs (the requests a response answers, ...).
	New  func() parser.Parser[M]
	Type parser.MessageType
	In   []byte
	// Whole says whether the result of parsing the whole sample is the expected one.
	Whole func(parser.Result) bool
	// Truncated requires a prefix taken for the message to be marked Truncated.
	Truncated bool
}

// CheckPrefixes cuts a sample at every length short of the message it holds and parses each
// prefix with a fresh Conn and with one Conn fed growing prefixes (resuming its scans): the
// result must be NeedMore, or, once enough is there, the whole sample's Complete result with the
// same Message (but for Truncated); never anything else.
func CheckPrefixes[M Message](t testing.TB, p Prefixes[M]) {
	t.Helper()
	var want M
	wantR := p.New().Parse(p.In, p.Type, &want)
	if !p.Whole(wantR) {
		t.Fatalf("whole sample: %+v", wantR)
	}
	grow := p.New()
	for n := 0; n < min(wantR.Consumed, len(p.In)); n++ {
		for _, c := range []parser.Parser[M]{nil, grow} {
			if c == nil {
				c = p.New()
			}
			var m M
			r := c.Parse(p.In[:n], p.Type, &m)
			switch {
			case r.Status == parser.NeedMore && r.Consumed == 0:
			case r == wantR && r.Status == parser.Complete:
				if p.Truncated && !frame(&m).Truncated {
					t.Fatalf("prefix %d: complete but not truncated", n)
				}
				if untruncated(m) != untruncated(want) {
					t.Fatalf("prefix %d: %+v, want %+v", n, m, want)
				}
				if c == grow {
					// The prefix was accepted: start over as the caller would not.
					grow = p.New()
				}
			default:
				t.Fatalf("prefix %d (%q): %+v", n, p.In[:n], r)
			}
		}
	}
}

// AssertSteps fails t unless got and want are the same steps.
func AssertSteps[M Message](t testing.TB, got, want []Step[M]) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d steps, want %d:\n got  %v\n want %v", len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("step %d:\n got  %v\n want %v", i, got[i], want[i])
		}
	}
}

// Messages returns the Complete messages of steps without their Truncated flag, which depends on
// how the bytes were cut, and counts the Ignored and Invalid steps.
func Messages[M Message](steps []Step[M]) (msgs []M, ignored, invalid int) {
	for _, s := range steps {
		switch s.Status {
		case parser.Complete:
			msgs = append(msgs, untruncated(s.Msg))
		case parser.Ignored:
			ignored++
		case parser.Invalid:
			invalid++
		}
	}
	return msgs, ignored, invalid
}

// CheckRecut replays reads as recorded, and again re-cut into reads of at most size bytes for
// each of sizes, each replay on a fresh Conn. It reports on t, naming the capture by what, where
// a re-cut replay gives other Ignored counts or Complete messages (see Messages) than the
// recorded one, in either direction.
func CheckRecut[M Message, C parser.Parser[M]](t testing.TB, what string, newConn func() C, reads []Read, sizes ...int) {
	t.Helper()
	want := NewDriver[M](t, newConn()).Play(reads)
	for _, size := range sizes {
		got := NewDriver[M](t, newConn()).Play(Recut(reads, size))
		for _, typ := range both {
			g, gi, _ := Messages(got.Steps(typ))
			w, wi, _ := Messages(want.Steps(typ))
			name := fmt.Sprintf("%s %v by %d", what, typ, size)
			if gi != wi || len(g) != len(w) {
				t.Errorf("%s: %v, want %v", name, got.Steps(typ), want.Steps(typ))
				continue
			}
			for i := range g {
				if g[i] != w[i] {
					t.Errorf("%s, %d: %+v, want %+v", name, i, g[i], w[i])
				}
			}
		}
	}
}

// CaptureCase is a capture and what replaying it must give.
type CaptureCase struct {
	Name string // the capture's name in its directory
	// IgnoredReq and IgnoredResp are the numbers of Ignored requests and responses.
	IgnoredReq, IgnoredResp int
	// Lines are the Complete messages, as Driver.Lines renders them.
	Lines []string
	// From is the number of reads before the first request (a handshake, a start-up): replayed
	// from there on, as by an observer that came late, the capture gives the same Lines.
	From int
}

// CheckCaptures runs a subtest per case that loads the capture from dir and replays it with a
// Driver from newDriver: it must give the case's Lines and Ignored counts, nothing Invalid, and
// consume every byte of both streams with nothing left pending; the same Lines with every byte
// delivered alone and with each read cut in two after 1, 4, 7, ... 118 bytes; and the same Lines,
// nothing Invalid, from the case's From-th read on. more, if not nil, checks the driver of the
// first replay further.
func CheckCaptures[M Message](t *testing.T, dir string, newDriver func(testing.TB) *Driver[M], cases []CaptureCase, more func(t *testing.T, d *Driver[M])) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			reads := Load(t, filepath.Join(dir, tc.Name)).Reads
			d := newDriver(t).Play(reads)
			assert.Equal(t, tc.Lines, d.Lines())
			assert.Zero(t, d.Invalid)
			assert.Equal(t, tc.IgnoredReq, d.Count(parser.Request, parser.Ignored))
			assert.Equal(t, tc.IgnoredResp, d.Count(parser.Response, parser.Ignored))
			// Nothing left over: every byte of both streams was accounted for.
			for _, typ := range both {
				assert.Equal(t, StreamLen(reads, typ), d.Total(typ), "%v bytes", typ)
				assert.Empty(t, d.Buf[typ])
			}
			if more != nil {
				more(t, d)
			}
			assert.Equal(t, tc.Lines, newDriver(t).Play(Recut(reads, 1)).Lines())
			for at := 1; at < 120; at += 3 {
				assert.Equal(t, tc.Lines, newDriver(t).Play(SplitAt(reads, at)).Lines(), "cut at %d", at)
			}
			d = newDriver(t).Play(reads[tc.From:])
			assert.Equal(t, tc.Lines, d.Lines())
			assert.Zero(t, d.Invalid)
		})
	}
}

// CheckProtocol checks p's names, and that c, a fresh Parser of p, needs more of an empty request
// buffer and finds an unknown message type Invalid.
func CheckProtocol[M Message](t testing.TB, p parser.Protocol, name string, kernel abi.Protocol, c parser.Parser[M]) {
	t.Helper()
	assert.Equal(t, name, p.Records().Name)
	assert.Equal(t, kernel, p.Kernel())
	var m M
	assert.Equal(t, parser.Result{Status: parser.NeedMore}, c.Parse(nil, parser.Request, &m))
	assert.Equal(t, parser.Result{Status: parser.Invalid}, c.Parse([]byte("x"), 9, &m))
}

// Boundary is a FindBoundary expectation: in In, of type Type, the boundary is Want. It is an
// alias of a struct literal type, so that tables may list cases without field names.
type Boundary = struct {
	In   string
	Type parser.MessageType
	Want int
}

// CheckBoundaries asks a fresh Conn for the boundary of every case and reports those that differ.
func CheckBoundaries[M Message, C parser.Parser[M]](t testing.TB, newConn func() C, cases []Boundary) {
	t.Helper()
	for _, tc := range cases {
		if got := newConn().FindBoundary([]byte(tc.In), tc.Type); got != tc.Want {
			t.Errorf("FindBoundary(%q, %v) = %d, want %d", tc.In, tc.Type, got, tc.Want)
		}
	}
}

// untruncated returns m with its Truncated field (if it has one) cleared: whether a message is
// Truncated depends on how its bytes were cut, which re-cut replays change.
func untruncated[M any](m M) M {
	if f := reflect.ValueOf(&m).Elem().FieldByName("Truncated"); f.IsValid() && f.Kind() == reflect.Bool {
		f.SetBool(false)
	}
	return m
}

// CaptureLines are, per capture of a directory, the parse steps of its request stream and of its
// response stream, each written as one line by the protocol's test.
type CaptureLines map[string][2][]string

// CheckCaptureLines plays every capture in dir through a new parser the way the observer does
// (read by read, both directions interleaved) and, when whole is set, each stream again in one
// piece; each time the steps, written by line, must be want's for that capture and must consume
// the stream exactly.
func CheckCaptureLines[M Message](t *testing.T, dir string, newConn func() parser.Parser[M], line func(Step[M]) string, want CaptureLines, whole bool) {
	cps := LoadAll(t, dir)
	if len(cps) != len(want) {
		t.Fatalf("%d captures, want %d", len(cps), len(want))
	}
	for _, cp := range cps {
		t.Run(cp.Name, func(t *testing.T) {
			lines, ok := want[cp.Name]
			if !ok {
				t.Fatalf("no expectation")
			}
			check := func(mode string, steps [2][]Step[M]) {
				t.Helper()
				for d := range steps {
					var got []string
					sum := 0
					for _, s := range steps[d] {
						got = append(got, line(s))
						sum += s.Consumed
					}
					if fmt.Sprint(got) != fmt.Sprint(lines[d]) {
						t.Errorf("%s %v:\n got  %q\n want %q", mode, both[d], got, lines[d])
					}
					if sum != len(cp.Streams[d]) {
						t.Errorf("%s %v: consumed %d bytes of %d", mode, both[d], sum, len(cp.Streams[d]))
					}
				}
			}
			d := NewDriver(t, newConn()).Play(cp.Reads)
			check("replay", [2][]Step[M]{d.Steps(parser.Request), d.Steps(parser.Response)})
			if whole {
				c := newConn()
				reqs := ParseAll(c, cp.Stream(parser.Request), parser.Request)
				check("whole", [2][]Step[M]{reqs, ParseAll(c, cp.Stream(parser.Response), parser.Response)})
			}
		})
	}
}

// FieldsProtocols returns the schema A fields of x.
func FieldsProtocols(x *parser.Exchange) (f parser.Fields) {
	x.FieldsProtocols(&f)
	return f
}

// FieldsL4L7 returns the schema B fields of x.
func FieldsL4L7(x *parser.Exchange) (f parser.Fields) {
	x.FieldsL4L7(&f)
	return f
}
