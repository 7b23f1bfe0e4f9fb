package abi

import (
	"bufio"
	"io"
	"strconv"
)

// TraceWriter writes events in the replay library's trace format (testdata/README.md), so that a
// live capture can be replayed offline through libebpf-replay.so. It is a ProcVisitor: process
// events are recorded too, so a replay names processes as the kernel saw them. Events are written
// in the order the batches hold them, which is the order they happened in for our libebpf.so.
type TraceWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

// NewTraceWriter returns a TraceWriter on w. Call Flush when done.
func NewTraceWriter(w io.Writer) *TraceWriter {
	return &TraceWriter{w: bufio.NewWriterSize(w, 1<<16)}
}

// Flush writes what is buffered and returns the first error met since the last Flush.
func (t *TraceWriter) Flush() error {
	if err := t.w.Flush(); t.err == nil {
		t.err = err
	}
	err := t.err
	t.err = nil
	return err
}

func (t *TraceWriter) line() {
	t.buf = append(t.buf, '\n')
	if _, err := t.w.Write(t.buf); err != nil && t.err == nil {
		t.err = err
	}
	t.buf = t.buf[:0]
}

func (t *TraceWriter) field(key string, value uint64) {
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, key...)
	t.buf = append(t.buf, '=')
	t.buf = strconv.AppendUint(t.buf, value, 10)
}

func (t *TraceWriter) signed(key string, value int64) {
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, key...)
	t.buf = append(t.buf, '=')
	t.buf = strconv.AppendInt(t.buf, value, 10)
}

// name writes a known enum value by name and any other by number, which the trace reader accepts.
func (t *TraceWriter) name(key string, known bool, name string, value uint32) {
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, key...)
	t.buf = append(t.buf, '=')
	if known {
		t.buf = append(t.buf, name...)
	} else {
		t.buf = strconv.AppendUint(t.buf, uint64(value), 10)
	}
}

func (t *TraceWriter) conn(ts uint64, id ConnID) {
	t.field("ts", ts)
	t.buf = append(t.buf, " conn="...)
	t.buf = strconv.AppendInt(t.buf, int64(id.FD), 10)
	t.buf = append(t.buf, ':')
	t.buf = strconv.AppendUint(t.buf, uint64(id.TGID), 10)
	t.buf = append(t.buf, ':')
	t.buf = strconv.AppendUint(t.buf, id.Start, 10)
}

func (t *TraceWriter) addr(a SockAddr) {
	t.buf = append(t.buf, " addr="...)
	switch a.Family {
	case FamilyInet, FamilyInet6:
		t.buf = a.AddrPort().AppendTo(t.buf)
	case FamilyUnix:
		t.buf = append(t.buf, "unix"...)
	case FamilyUnspec:
		t.buf = append(t.buf, "none"...)
	default: // AF_UNKNOWN, and families the ABI never carries
		t.buf = append(t.buf, "unknown"...)
	}
}

func (t *TraceWriter) role(r Role) {
	t.name("role", r == RoleUnknown || r == RoleClient || r == RoleServer, r.String(), uint32(r))
}

// Ctrl writes a connect or close event.
func (t *TraceWriter) Ctrl(e *CtrlEvent) {
	t.buf = append(t.buf, "ctrl"...)
	t.conn(e.TS, e.ConnID)
	switch e.Type {
	case EventConnect:
		t.buf = append(t.buf, " event=connect"...)
		t.addr(e.Addr)
		t.role(e.Role)
	case EventClose:
		t.buf = append(t.buf, " event=close"...)
		t.signed("wr", e.WrittenBytes())
		t.signed("rd", e.ReadBytes())
	default:
		t.name("event", false, "", uint32(e.Type))
	}
	t.line()
}

// Data writes a data event with its payload as an escaped string.
func (t *TraceWriter) Data(e *DataEvent) {
	t.buf = append(t.buf, "data"...)
	t.conn(e.TS, e.ConnID)
	t.name("dir", e.Direction <= DirEgress, e.Direction.String(), uint32(e.Direction))
	t.name("proto", e.Protocol <= ProtoHSF || e.Protocol.Known(), e.Protocol.String(), uint32(e.Protocol))
	t.role(e.Role)
	t.name("type", e.Type <= TypeResponse, e.Type.String(), uint32(e.Type))
	t.name("syscall", e.Syscall <= SyscallReadV && e.Syscall != SyscallSecuritySendMsg && e.Syscall != SyscallSecurityRecvMsg,
		e.Syscall.String(), uint32(e.Syscall))
	t.addr(e.Addr)
	t.field("pos", e.Pos)
	t.field("org", uint64(e.OrgMsgSize))
	if e.TryToPrepend {
		t.buf = append(t.buf, " prepend=1"...)
	}
	if e.LengthHeader != 0 {
		t.buf = append(t.buf, " lenhdr=0x"...)
		t.buf = strconv.AppendUint(t.buf, uint64(e.LengthHeader), 16)
	}
	if len(e.Payload) > 0 {
		t.buf = append(t.buf, ' ', '"')
		t.buf = appendEscaped(t.buf, e.Payload)
		t.buf = append(t.buf, '"')
	}
	t.line()
}

// Stats writes a stats event.
func (t *TraceWriter) Stats(e *StatsEvent) {
	t.buf = append(t.buf, "stats"...)
	t.conn(e.TS, e.ConnID)
	t.addr(e.Addr)
	t.role(e.Role)
	t.signed("wr", e.WrBytes)
	t.signed("rd", e.RdBytes)
	t.signed("wr_pkts", int64(e.WrPkts))
	t.signed("rd_pkts", int64(e.RdPkts))
	t.signed("last_wr", e.LastWrBytes)
	t.signed("last_rd", e.LastRdBytes)
	t.signed("last_wr_pkts", int64(e.LastWrPkts))
	t.signed("last_rd_pkts", int64(e.LastRdPkts))
	t.field("events", uint64(e.ConnEvents))
	t.line()
}

// Proc writes a process event (the library's process extension).
func (t *TraceWriter) Proc(e *ProcEvent) {
	t.buf = append(t.buf, "proc"...)
	t.field("ts", e.TS)
	t.name("type", e.Type >= ProcExec && e.Type <= ProcExit, e.Type.String(), uint32(e.Type))
	t.field("tgid", uint64(e.TGID))
	t.field("ppid", uint64(e.PPID))
	t.field("start", e.StartNS)
	if e.Flags != 0 {
		t.field("flags", uint64(e.Flags))
	}
	if e.CgroupID != 0 {
		t.field("cgroup_id", e.CgroupID)
	}
	t.str("comm", []byte(e.CommString()))
	t.str("cgparent", []byte(cString(e.CgroupParent[:])))
	t.str("cgleaf", []byte(cString(e.CgroupLeaf[:])))
	t.str("args", e.Cmdline())
	if e.ArgsTotal != e.ArgsSize {
		t.field("args_total", uint64(e.ArgsTotal))
	}
	t.line()
}

// str writes key="escaped bytes".
func (t *TraceWriter) str(key string, v []byte) {
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, key...)
	t.buf = append(t.buf, '=', '"')
	t.buf = appendEscaped(t.buf, v)
	t.buf = append(t.buf, '"')
}

// Lost writes a lost-events notice.
func (t *TraceWriter) Lost(n LostNotice) {
	t.buf = append(t.buf, "lost"...)
	t.name("which", n.Which <= ProcessEvents, n.Which.String(), uint32(n.Which))
	t.field("count", n.Count)
	t.line()
}

const hexDigits = "0123456789abcdef"

// appendEscaped writes payload bytes so the trace reader gets them back exactly: printable ASCII as
// is, the usual C escapes, \xHH for the rest.
func appendEscaped(dst, p []byte) []byte {
	for _, c := range p {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c >= 0x20 && c < 0x7f:
			dst = append(dst, c)
		default:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}
