package eventtest

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/netobserver/netobserver/abi"
)

// Event is one delivered event: exactly one field is set.
type Event struct {
	Ctrl  *abi.CtrlEvent
	Data  *abi.DataEvent
	Stats *abi.StatsEvent
	Lost  *abi.LostNotice
	Proc  *abi.ProcEvent
}

// Conn is the connection the event is of; zero for lost notices and process events.
func (e Event) Conn() abi.ConnID {
	switch {
	case e.Ctrl != nil:
		return e.Ctrl.ConnID
	case e.Data != nil:
		return e.Data.ConnID
	case e.Stats != nil:
		return e.Stats.ConnID
	}
	return abi.ConnID{}
}

// Events keeps every event it visits (an abi.Visitor and abi.ProcVisitor), payloads copied: a
// batch's memory is reused once it is released.
type Events []Event

func (es *Events) Ctrl(e *abi.CtrlEvent) { c := *e; *es = append(*es, Event{Ctrl: &c}) }
func (es *Events) Data(e *abi.DataEvent) {
	d := *e
	d.Payload = bytes.Clone(e.Payload)
	*es = append(*es, Event{Data: &d})
}
func (es *Events) Stats(e *abi.StatsEvent) { s := *e; *es = append(*es, Event{Stats: &s}) }
func (es *Events) Lost(n abi.LostNotice)   { *es = append(*es, Event{Lost: &n}) }
func (es *Events) Proc(e *abi.ProcEvent)   { p := *e; *es = append(*es, Event{Proc: &p}) }

// Trace is the events in the trace format (abi.TraceWriter), one line each: what a failing test
// shows, and what a replay reads back.
func Trace(events ...Event) string {
	var b strings.Builder
	w := abi.NewTraceWriter(&b)
	for _, e := range events {
		switch {
		case e.Ctrl != nil:
			w.Ctrl(e.Ctrl)
		case e.Data != nil:
			w.Data(e.Data)
		case e.Stats != nil:
			w.Stats(e.Stats)
		case e.Lost != nil:
			w.Lost(*e.Lost)
		case e.Proc != nil:
			w.Proc(e.Proc)
		}
	}
	w.Flush() // a strings.Builder does not fail
	return b.String()
}

// Log is a slog.Handler that keeps every message as "LEVEL message key=value…", and also passes
// it to T's log when T is set.
type Log struct {
	T    testing.TB
	mu   sync.Mutex
	msgs []string
}

func (l *Log) Enabled(context.Context, slog.Level) bool { return true }
func (l *Log) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *Log) WithGroup(string) slog.Handler            { return l }
func (l *Log) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	if l.T != nil {
		l.T.Log(b.String())
	}
	return nil
}

// Messages are the messages so far, in order.
func (l *Log) Messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// Text is the messages so far, one a line.
func (l *Log) Text() string { return strings.Join(l.Messages(), "\n") }
