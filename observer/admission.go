package observer

import (
	"net/netip"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/container"
)

// admission is the first stage: it decides which events are observed — those of the processes
// the filter allows, on sockets of the kinds not dropped — and what the kernel side should stop
// sending, which the control stage tells it after the batch.
type admission struct {
	filter *container.Filter
	kinds  socketKinds
	procs  *processes
	// disabled maps the processes switched off in the kernel to their start times.
	disabled map[uint32]uint64
	// dropped holds the connections dropped, from their first event to their close.
	dropped map[abi.ConnID]struct{}
	control *control
	counts  *Counters
}

// socketKinds are the socket kinds whose traffic is dropped (Drop* of Options).
type socketKinds struct {
	unix, local, unknown bool
}

// maxDropped bounds the dropped connections remembered between their first event and their close.
const maxDropped = 1 << 16

// local reports the addresses DropLocalConnections drops: 0.0.0.0, 127.0.0.1, ::, ::1 and
// ::ffff:127.0.0.1. It runs for every event (compared as arrays, not netip.Addr by netip.Addr).
func local(ip netip.Addr) bool {
	if ip.Is4() {
		a := ip.As4()
		return a == [4]byte{} || a == [4]byte{127, 0, 0, 1}
	}
	a := ip.As16()
	return a == [16]byte{} || a == [16]byte{15: 1} || a == [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
}

// drops applies DropUnixSocket, DropLocalConnections and DropUnknownSocket to an address.
func (k socketKinds) drops(addr *abi.SockAddr) bool {
	switch addr.Family {
	case abi.FamilyUnix:
		return k.unix
	case abi.FamilyInet, abi.FamilyInet6:
		return k.local && local(addr.Addr())
	case abi.FamilyUnknown:
		return k.unknown
	}
	return false // FamilyUnspec: this event says nothing of the address, so nothing is decided
}

// process reports whether the filter lets process pid be observed. The first time it refuses a
// process, the kernel side is to drop all of its events.
func (a *admission) process(pid uint32) bool {
	if a.filter == nil || a.filter.Empty() {
		return true
	}
	if _, off := a.disabled[pid]; off {
		return false // events the kernel sent before it heard
	}
	id := a.procs.identity(pid)
	if id == nil || id.Pending || a.filter.Allows(id) {
		return true // a process gone or not yet known cannot be judged; its events are kept
	}
	a.disabled[pid] = id.StartTime
	a.counts.DisabledProcesses++
	a.control.disableProcess(pid)
	return false
}

// socket reports whether a connection's traffic is observed, by the socket-kind options. The
// first time it is not, the kernel side is to stop sending its data and ctrl events, as
// iLogtail did.
func (a *admission) socket(id abi.ConnID, addr *abi.SockAddr) bool {
	if a.isDropped(id) {
		return false
	}
	if !a.kinds.drops(addr) {
		return true
	}
	a.markDropped(id)
	a.control.dropConnection(id, *addr)
	return false
}

// isDropped says whether the socket-kind filters dropped connection id.
func (a *admission) isDropped(id abi.ConnID) bool {
	_, done := a.dropped[id]
	return done
}

func (a *admission) markDropped(id abi.ConnID) {
	if len(a.dropped) >= maxDropped {
		clear(a.dropped) // connections that never closed; the kernel keeps dropping them anyway
	}
	a.dropped[id] = struct{}{}
	a.counts.DroppedConnections++
}

// closed forgets a connection that ended.
func (a *admission) closed(id abi.ConnID) { delete(a.dropped, id) }

// enableAll switches every disabled process back on: the filter judges them afresh.
func (a *admission) enableAll() {
	for pid := range a.disabled {
		a.control.enableProcess(pid)
	}
	clear(a.disabled)
}

// reenableRestarted switches back on the disabled pids that now belong to new processes.
func (a *admission) reenableRestarted(r *container.Identities) {
	for pid, start := range a.disabled {
		if r.Restarted(pid, start) {
			delete(a.disabled, pid)
			a.control.enableProcess(pid)
		}
	}
}
