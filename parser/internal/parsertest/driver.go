package parsertest

import (
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// Message is what the shared checks need of a protocol's message type; *M implements
// parser.Message (see frame).
type Message interface {
	comparable
}

// frame is m's Frame.
func frame[M Message](m *M) parser.Frame { return any(m).(parser.Message).Frame() }

// Step is one Parse call's outcome.
type Step[M Message] struct {
	Status   parser.Status
	Consumed int
	Msg      M // zero unless Complete
}

func (s Step[M]) String() string { return fmt.Sprintf("%v/%d %+v", s.Status, s.Consumed, s.Msg) }

// Event is a Step of a Driver, with the stream it was taken on.
type Event[M Message] struct {
	Type parser.MessageType
	Step[M]
}

// CheckFunc checks the result r of Parse(buf, typ, m); see CheckResult.
type CheckFunc[M Message] func(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *M)

// Driver plays the observer for one connection: a pending buffer per direction, Parse until it
// needs more, bytes a message announced past the buffer skipped by stream position, Invalid
// resolved with FindBoundary. NeedMore results are not recorded; every other one is an Event.
type Driver[M Message] struct {
	T    testing.TB
	Conn parser.Parser[M]
	// Check, when set, is called on every Parse result before the driver acts on it, and every
	// FindBoundary result is then checked with CheckBoundary. Nil replays without checks.
	Check CheckFunc[M]
	// Line renders a Complete message for Lines.
	Line func(M) string

	Buf     [3][]byte // pending bytes, indexed by MessageType
	Skip    [3]int    // bytes still to skip, indexed by MessageType
	Events  []Event[M]
	Invalid int // bytes skipped to resynchronise
}

// NewDriver returns a Driver for c that checks nothing.
func NewDriver[M Message](t testing.TB, c parser.Parser[M]) *Driver[M] {
	return &Driver[M]{T: t, Conn: c}
}

// Feed hands the driver one read of direction typ and parses as far as it can.
func (d *Driver[M]) Feed(typ parser.MessageType, data []byte) {
	if k := min(d.Skip[typ], len(data)); k > 0 {
		data = data[k:]
		d.Skip[typ] -= k
	}
	d.Buf[typ] = append(d.Buf[typ], data...)
	for len(d.Buf[typ]) > 0 {
		buf := d.Buf[typ]
		var m M
		r := d.Conn.Parse(buf, typ, &m)
		if d.Check != nil {
			d.Check(d.T, buf, typ, r, &m)
		}
		e := Event[M]{typ, Step[M]{Status: r.Status, Consumed: r.Consumed}}
		switch r.Status {
		case parser.NeedMore:
			return
		case parser.Complete, parser.Ignored:
			if r.Status == parser.Complete {
				e.Msg = m
			}
			d.Events = append(d.Events, e)
			if r.Consumed >= len(buf) {
				d.Skip[typ] += r.Consumed - len(buf)
				d.Buf[typ] = nil
			} else {
				d.Buf[typ] = buf[r.Consumed:]
			}
		case parser.Invalid:
			d.Events = append(d.Events, e)
			b := d.Conn.FindBoundary(buf, typ)
			if d.Check != nil {
				CheckBoundary(d.T, buf, b)
			}
			if b < 0 {
				d.Invalid += len(buf)
				d.Buf[typ] = nil
			} else {
				d.Invalid += b
				d.Buf[typ] = buf[b:]
			}
		default:
			d.T.Fatalf("status %v", r.Status)
		}
	}
}

// Play feeds reads in order.
func (d *Driver[M]) Play(reads []Read) *Driver[M] {
	for _, r := range reads {
		d.Feed(r.Type, r.Data)
	}
	return d
}

// Steps returns the recorded steps of direction typ, in order.
func (d *Driver[M]) Steps(typ parser.MessageType) []Step[M] {
	var out []Step[M]
	for _, e := range d.Events {
		if e.Type == typ {
			out = append(out, e.Step)
		}
	}
	return out
}

// Total returns the bytes consumed in direction typ: by Complete and Ignored messages, with what
// was skipped past the buffer, but not what Invalid made the driver skip.
func (d *Driver[M]) Total(typ parser.MessageType) int {
	n := 0
	for _, e := range d.Events {
		if e.Type == typ {
			n += e.Consumed
		}
	}
	return n
}

// Count returns how many events of direction typ had status s.
func (d *Driver[M]) Count(typ parser.MessageType, s parser.Status) int {
	n := 0
	for _, e := range d.Events {
		if e.Type == typ && e.Status == s {
			n++
		}
	}
	return n
}

// Completes returns the Complete messages of both directions, in the order they were parsed.
func (d *Driver[M]) Completes() []M {
	var out []M
	for _, e := range d.Events {
		if e.Status == parser.Complete {
			out = append(out, e.Msg)
		}
	}
	return out
}

// Lines renders Completes with Line, one line each, for readable assertions.
func (d *Driver[M]) Lines() []string {
	var out []string
	for _, m := range d.Completes() {
		out = append(out, d.Line(m))
	}
	return out
}

// Line renders a request as `> METHOD "resource" size=N` and a response as `< ok=BOOL size=N`,
// either followed by ` truncated` when it is: a Driver's Line for protocols with a method and a
// resource.
func Line(f parser.Frame, method, resource string) string {
	var s string
	if f.Type == parser.Request {
		s = fmt.Sprintf("> %s %q size=%d", method, resource, f.Size)
	} else {
		s = fmt.Sprintf("< ok=%v size=%d", f.Success, f.Size)
	}
	if f.Truncated {
		s += " truncated"
	}
	return s
}

// ParseAll parses buf message by message the way the observer does: past Complete and Ignored,
// resynchronising at FindBoundary after Invalid, until NeedMore or the end. Unlike a Driver it
// records the final NeedMore, and it stops at a message that reaches the end of buf.
func ParseAll[M Message](c parser.Parser[M], buf []byte, typ parser.MessageType) []Step[M] {
	var out []Step[M]
	for len(buf) > 0 {
		var m M
		r := c.Parse(buf, typ, &m)
		s := Step[M]{Status: r.Status, Consumed: r.Consumed}
		if r.Status == parser.Complete {
			s.Msg = m
		}
		out = append(out, s)
		switch r.Status {
		case parser.NeedMore:
			return out
		case parser.Invalid:
			i := c.FindBoundary(buf, typ)
			if i < 0 {
				return out
			}
			buf = buf[i:]
		default:
			if r.Consumed >= len(buf) {
				return out
			}
			buf = buf[r.Consumed:]
		}
	}
	return out
}
