package observer

import (
	"errors"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/container"
	"github.com/netobserver/netobserver/container/netlink"
	"github.com/netobserver/netobserver/observer/aggregate"
)

// The enrichment stage adds what the kernel side did not know: who each process is (processes),
// and the address and role of a connection it could not read (sockets, from netlink). DNS
// answers naming remote hosts come from the L7 stage and go to the aggregation stage.

// processes is the observer's one view of the processes: each pid's identity and the records'
// view of it (one aggregate.Process per identity, so a container's processes share theirs). The
// filter, the calls and the statistics all ask here; the resolver is asked only when this cannot
// answer, so its semantics (epochs, pid reuse by start time, pending metadata) hold without a
// lookup through it per event.
type processes struct {
	resolver *container.Identities
	byID     map[uint32]processView
}

type processView struct {
	id   *container.Identity // nil: the process was gone before it could be read
	proc *aggregate.Process
	// epoch is the resolver's Epoch read before the Lookup that returned id.
	epoch uint64
	// until: id names the pid's process from id.Since until this time (0: no end known).
	until uint64
}

func newProcesses(r *container.Identities) *processes {
	return &processes{resolver: r, byID: make(map[uint32]processView)}
}

// get returns the records' view of the process pid that ran at ts (monotonic ns; 0: the newest).
func (p *processes) get(pid uint32, ts uint64) *aggregate.Process {
	return p.lookup(pid, ts).proc
}

// identity returns who process pid is now; nil when it is gone and was never read.
func (p *processes) identity(pid uint32) *container.Identity {
	return p.lookup(pid, 0).id
}

func (p *processes) lookup(pid uint32, ts uint64) processView {
	// An answer is reused until the resolver's epoch moves, without Lookup's lock (a pending one
	// is asked for again: its metadata is on the way), for the times its generation of the pid
	// covers (the newest, ts 0, is one whose end is not known).
	epoch := p.resolver.Epoch()
	v, ok := p.byID[pid]
	if ok && v.id != nil && v.epoch == epoch && !v.id.Pending && v.covers(ts) {
		return v
	}
	id, until, err := p.resolver.LookupAt(pid, ts)
	if err != nil {
		// Gone before it could be read: a host process known only by its pid. What was read of
		// the pid before still names it, unless the process table knows the pid's processes and
		// none ran then: the pid was another's, whose exec or fork the events lost (lost_proc),
		// and the one the table knew must not get its calls.
		if ok && (v.id == nil || !errors.Is(err, container.ErrNoProcessAt)) {
			return v
		}
		v = processView{proc: aggregate.ProcessOf(container.UnknownProcess(pid))}
		p.byID[pid] = v
		return v
	}
	if ok && v.id == id {
		if v.epoch != epoch || v.until != until {
			v.epoch, v.until = epoch, until
			p.byID[pid] = v
		}
		return v
	}
	v = processView{id: id, proc: aggregate.ProcessOf(id), epoch: epoch, until: until}
	p.byID[pid] = v
	return v
}

// covers says whether v's identity names its pid's process at ts (0: the newest).
func (v processView) covers(ts uint64) bool {
	return (ts == 0 || ts >= v.id.Since) && (v.until == 0 || (ts != 0 && ts < v.until))
}

// forget drops what is known of the pids the resolver pruned.
func (p *processes) forget(pids []uint32) {
	for _, pid := range pids {
		delete(p.byID, pid)
	}
}

// sockets asks netlink about connections whose family or role the kernel side did not learn.
type sockets struct {
	netlink *netlink.Sockets // nil: no netlink
	// asked holds the connections netlink was asked about this netlink interval.
	asked map[abi.ConnID]struct{}
}

// maxAsked bounds the connections remembered as asked about within one netlink interval.
const maxAsked = 1 << 16

// lookup asks netlink, once per connection and netlink interval, about a connection whose
// family or role the kernel side did not learn. ok is false when there was nothing to ask or
// netlink did not find it (the family then stays unknown, DropUnknownSocket decides).
func (s *sockets) lookup(id abi.ConnID, addr *abi.SockAddr, role abi.Role) (sock netlink.Socket, ok bool) {
	if s.netlink == nil || (addr.Family != abi.FamilyUnknown && role != abi.RoleUnknown) {
		return sock, false
	}
	if _, done := s.asked[id]; done {
		return sock, false
	}
	if len(s.asked) >= maxAsked {
		clear(s.asked)
	}
	s.asked[id] = struct{}{}
	sock, err := s.netlink.Lookup(id.TGID, id.FD, addr.Family)
	return sock, err == nil
}

// closed forgets a connection that ended.
func (s *sockets) closed(id abi.ConnID) { delete(s.asked, id) }

// expire forgets what was asked: what netlink could not find may be there now.
func (s *sockets) expire() { clear(s.asked) }

// noPeer reports an inet address that names no peer (an unconnected socket's 0.0.0.0:0 or
// [::]:0): not a local connection, only an unknown one.
func noPeer(a abi.SockAddr) bool {
	return (a.Family == abi.FamilyInet || a.Family == abi.FamilyInet6) && a.Port() == 0 && a.Addr().IsUnspecified()
}
