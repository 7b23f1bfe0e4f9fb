package parsertest

import (
	"fmt"
	"testing"

	"github.com/netobserver/netobserver/parser"
)

// Step is one Parse call's outcome.
type Step struct {
	Status   parser.Status
	Consumed int
	Msg      parser.Message // zero unless Complete
}

func (s Step) String() string { return fmt.Sprintf("%v/%d %+v", s.Status, s.Consumed, s.Msg) }

// Event is a Step of a Driver, with the stream it was taken on.
type Event struct {
	Type parser.MessageType
	Step
}

// CheckFunc checks the result r of Parse(buf, typ, m); see CheckResult.
type CheckFunc func(t testing.TB, buf []byte, typ parser.MessageType, r parser.Result, m *parser.Message)

// Driver plays the observer for one connection: a pending buffer per direction, Parse until it
// needs more, bytes a message announced past the buffer skipped by stream position, Invalid
// resolved with FindBoundary. NeedMore results are not recorded; every other one is an Event.
type Driver struct {
	T    testing.TB
	Conn parser.Conn
	// Check, when set, is called on every Parse result before the driver acts on it, and every
	// FindBoundary result is then checked with CheckBoundary. Nil replays without checks.
	Check CheckFunc

	Buf     [3][]byte // pending bytes, indexed by MessageType
	Skip    [3]int    // bytes still to skip, indexed by MessageType
	Events  []Event
	Invalid int // bytes skipped to resynchronise
}

// NewDriver returns a Driver for c that checks nothing.
func NewDriver(t testing.TB, c parser.Conn) *Driver { return &Driver{T: t, Conn: c} }

// Feed hands the driver one read of direction typ and parses as far as it can.
func (d *Driver) Feed(typ parser.MessageType, data []byte) {
	if k := min(d.Skip[typ], len(data)); k > 0 {
		data = data[k:]
		d.Skip[typ] -= k
	}
	d.Buf[typ] = append(d.Buf[typ], data...)
	for len(d.Buf[typ]) > 0 {
		buf := d.Buf[typ]
		var m parser.Message
		r := d.Conn.Parse(buf, typ, &m)
		if d.Check != nil {
			d.Check(d.T, buf, typ, r, &m)
		}
		e := Event{typ, Step{Status: r.Status, Consumed: r.Consumed}}
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
func (d *Driver) Play(reads []Read) *Driver {
	for _, r := range reads {
		d.Feed(r.Type, r.Data)
	}
	return d
}

// Steps returns the recorded steps of direction typ, in order.
func (d *Driver) Steps(typ parser.MessageType) []Step {
	var out []Step
	for _, e := range d.Events {
		if e.Type == typ {
			out = append(out, e.Step)
		}
	}
	return out
}

// Total returns the bytes consumed in direction typ: by Complete and Ignored messages, with what
// was skipped past the buffer, but not what Invalid made the driver skip.
func (d *Driver) Total(typ parser.MessageType) int {
	n := 0
	for _, e := range d.Events {
		if e.Type == typ {
			n += e.Consumed
		}
	}
	return n
}

// Count returns how many events of direction typ had status s.
func (d *Driver) Count(typ parser.MessageType, s parser.Status) int {
	n := 0
	for _, e := range d.Events {
		if e.Type == typ && e.Status == s {
			n++
		}
	}
	return n
}

// Completes returns the Complete messages of both directions, in the order they were parsed.
func (d *Driver) Completes() []parser.Message {
	var out []parser.Message
	for _, e := range d.Events {
		if e.Status == parser.Complete {
			out = append(out, e.Msg)
		}
	}
	return out
}

// Lines renders Completes with Line, one line each, for readable assertions.
func (d *Driver) Lines() []string {
	var out []string
	for _, m := range d.Completes() {
		out = append(out, Line(m))
	}
	return out
}

// Line renders a request as `> METHOD "resource" size=N` and a response as `< ok=BOOL size=N`,
// either followed by ` truncated` when it is.
func Line(m parser.Message) string {
	var s string
	if m.Type == parser.Request {
		s = fmt.Sprintf("> %s %q size=%d", m.Method, m.Resource, m.Size)
	} else {
		s = fmt.Sprintf("< ok=%v size=%d", m.Success, m.Size)
	}
	if m.Truncated {
		s += " truncated"
	}
	return s
}

// ParseAll parses buf message by message the way the observer does: past Complete and Ignored,
// resynchronising at FindBoundary after Invalid, until NeedMore or the end. Unlike a Driver it
// records the final NeedMore, and it stops at a message that reaches the end of buf.
func ParseAll(c parser.Conn, buf []byte, typ parser.MessageType) []Step {
	var out []Step
	for len(buf) > 0 {
		var m parser.Message
		r := c.Parse(buf, typ, &m)
		s := Step{Status: r.Status, Consumed: r.Consumed}
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
