package libebpf

import (
	"bytes"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Go mirrors are copied from C memory byte for byte, so every size and offset must be the C
// compiler's. The header's own static asserts pin the C side to the ABI document.
func TestLayoutMatchesHeader(t *testing.T) {
	var (
		sa    abi.SockAddr
		id    abi.ConnID
		ctrl  abi.CtrlEvent
		attr  abi.DataAttr
		stats abi.StatsEvent
		lost  abi.LostNotice
		proc  abi.ProcEvent
	)
	// SockAddr's fields are private: where they lie is read from the bytes of known addresses.
	v4 := abi.SockAddrFrom(netip.MustParseAddrPort("10.1.2.3:4660")).Bytes()
	v6 := abi.SockAddrFrom(netip.MustParseAddrPort("[fd00::1:2:3]:4660")).Bytes()
	want := map[string]uintptr{
		"sockaddr_t":              unsafe.Sizeof(sa),
		"sockaddr_t.sa.port":      offsetIn(t, v4[:], []byte{0x12, 0x34}),
		"sockaddr_t.in4.addr":     offsetIn(t, v4[:], []byte{10, 1, 2, 3}),
		"sockaddr_t.in6.addr":     offsetIn(t, v6[:], netip.MustParseAddr("fd00::1:2:3").AsSlice()),
		"sockaddr_t.in6.scope_id": offsetIn(t, v6[:], netip.MustParseAddr("fd00::1:2:3").AsSlice()) + 16,

		"connect_id_t":       unsafe.Sizeof(id),
		"connect_id_t.fd":    unsafe.Offsetof(id.FD),
		"connect_id_t.tgid":  unsafe.Offsetof(id.TGID),
		"connect_id_t.start": unsafe.Offsetof(id.Start),

		"conn_ctrl_event_t":                unsafe.Sizeof(ctrl),
		"conn_ctrl_event_t.type":           unsafe.Offsetof(ctrl.Type),
		"conn_ctrl_event_t.ts":             unsafe.Offsetof(ctrl.TS),
		"conn_ctrl_event_t.conn_id":        unsafe.Offsetof(ctrl.ConnID),
		"conn_ctrl_event_t.connect.addr":   unsafe.Offsetof(ctrl.Addr),
		"conn_ctrl_event_t.connect.role":   unsafe.Offsetof(ctrl.Role),
		"conn_ctrl_event_t.close.wr_bytes": unsafe.Offsetof(ctrl.Addr), // closeTotal(0)
		"conn_ctrl_event_t.close.rd_bytes": unsafe.Offsetof(ctrl.Addr) + 8,

		"conn_data_event_attr_t":                unsafe.Sizeof(attr),
		"conn_data_event_attr_t.ts":             unsafe.Offsetof(attr.TS),
		"conn_data_event_attr_t.conn_id":        unsafe.Offsetof(attr.ConnID),
		"conn_data_event_attr_t.addr":           unsafe.Offsetof(attr.Addr),
		"conn_data_event_attr_t.protocol":       unsafe.Offsetof(attr.Protocol),
		"conn_data_event_attr_t.role":           unsafe.Offsetof(attr.Role),
		"conn_data_event_attr_t.type":           unsafe.Offsetof(attr.Type),
		"conn_data_event_attr_t.direction":      unsafe.Offsetof(attr.Direction),
		"conn_data_event_attr_t.syscall_func":   unsafe.Offsetof(attr.Syscall),
		"conn_data_event_attr_t.pos":            unsafe.Offsetof(attr.Pos),
		"conn_data_event_attr_t.org_msg_size":   unsafe.Offsetof(attr.OrgMsgSize),
		"conn_data_event_attr_t.msg_buf_size":   unsafe.Offsetof(attr.MsgBufSize),
		"conn_data_event_attr_t.try_to_prepend": unsafe.Offsetof(attr.TryToPrepend),
		"conn_data_event_attr_t.length_header":  unsafe.Offsetof(attr.LengthHeader),
		"conn_data_event_t.msg":                 unsafe.Sizeof(attr),

		"conn_stats_event_t":                      unsafe.Sizeof(stats),
		"conn_stats_event_t.ts":                   unsafe.Offsetof(stats.TS),
		"conn_stats_event_t.conn_id":              unsafe.Offsetof(stats.ConnID),
		"conn_stats_event_t.addr":                 unsafe.Offsetof(stats.Addr),
		"conn_stats_event_t.role":                 unsafe.Offsetof(stats.Role),
		"conn_stats_event_t.wr_bytes":             unsafe.Offsetof(stats.WrBytes),
		"conn_stats_event_t.rd_bytes":             unsafe.Offsetof(stats.RdBytes),
		"conn_stats_event_t.wr_pkts":              unsafe.Offsetof(stats.WrPkts),
		"conn_stats_event_t.rd_pkts":              unsafe.Offsetof(stats.RdPkts),
		"conn_stats_event_t.last_output_wr_bytes": unsafe.Offsetof(stats.LastWrBytes),
		"conn_stats_event_t.last_output_rd_bytes": unsafe.Offsetof(stats.LastRdBytes),
		"conn_stats_event_t.last_output_wr_pkts":  unsafe.Offsetof(stats.LastWrPkts),
		"conn_stats_event_t.last_output_rd_pkts":  unsafe.Offsetof(stats.LastRdPkts),
		"conn_stats_event_t.conn_events":          unsafe.Offsetof(stats.ConnEvents),

		"netobserver_proc_event_t":               unsafe.Sizeof(proc),
		"netobserver_proc_event_t.type":          unsafe.Offsetof(proc.Type),
		"netobserver_proc_event_t.tgid":          unsafe.Offsetof(proc.TGID),
		"netobserver_proc_event_t.ts":            unsafe.Offsetof(proc.TS),
		"netobserver_proc_event_t.start_ns":      unsafe.Offsetof(proc.StartNS),
		"netobserver_proc_event_t.ppid":          unsafe.Offsetof(proc.PPID),
		"netobserver_proc_event_t.flags":         unsafe.Offsetof(proc.Flags),
		"netobserver_proc_event_t.args_size":     unsafe.Offsetof(proc.ArgsSize),
		"netobserver_proc_event_t.args_total":    unsafe.Offsetof(proc.ArgsTotal),
		"netobserver_proc_event_t.cgroup_id":     unsafe.Offsetof(proc.CgroupID),
		"netobserver_proc_event_t.comm":          unsafe.Offsetof(proc.Comm),
		"netobserver_proc_event_t.cgroup_parent": unsafe.Offsetof(proc.CgroupParent),
		"netobserver_proc_event_t.cgroup_leaf":   unsafe.Offsetof(proc.CgroupLeaf),
		"netobserver_proc_event_t.args":          unsafe.Offsetof(proc.Args),

		"netobs_lost":       unsafe.Sizeof(lost),
		"netobs_lost.which": unsafe.Offsetof(lost.Which),
		"netobs_lost.count": unsafe.Offsetof(lost.Count),
	}
	got := headerLayout()
	require.Len(t, got, len(want), "bridge.c and this test must list the same fields")
	for name, off := range want {
		c, ok := got[name]
		if assert.True(t, ok, "%s missing from bridge.c's layout table", name) {
			assert.Equal(t, c, off, "%s: C says %d, Go says %d", name, c, off)
		}
	}
	// The ABI document's numbers, so a drift in both C and Go at once is caught too.
	assert.EqualValues(t, 28, unsafe.Sizeof(sa))
	assert.EqualValues(t, 16, unsafe.Sizeof(id))
	assert.EqualValues(t, 64, unsafe.Sizeof(ctrl))
	assert.EqualValues(t, 96, unsafe.Sizeof(attr))
	assert.EqualValues(t, 112, unsafe.Sizeof(stats))
	assert.EqualValues(t, 832, unsafe.Sizeof(proc))
}

func offsetIn(t *testing.T, b, part []byte) uintptr {
	i := bytes.Index(b, part)
	require.GreaterOrEqual(t, i, 0, "% x not in % x", part, b)
	return uintptr(i)
}
