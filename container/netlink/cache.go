package netlink

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/netobserver/netobserver/abi"

	"golang.org/x/sys/unix"
)

// A table is one kind of socket a single sock_diag dump returns.
type table uint8

const (
	tcp4      table = iota // tcp4
	tcp6                   // tcp6
	unixTable              // unix
	udp4                   // udp4
	udp6                   // udp6
)

const numTables = int(udp6) + 1

// tablesFor returns the tables that may hold a socket of family, most likely first: the observer
// traces TCP mostly, and UDP last because a UDP socket the kernel side saw without an address is
// an unconnected one, which the dump cannot give an address either.
func tablesFor(family uint16) ([]table, error) {
	switch family {
	case abi.FamilyInet:
		return []table{tcp4, udp4}, nil
	case abi.FamilyInet6:
		return []table{tcp6, udp6}, nil
	case abi.FamilyUnix:
		return []table{unixTable}, nil
	case abi.FamilyUnknown, abi.FamilyUnspec:
		return []table{tcp4, tcp6, unixTable, udp4, udp6}, nil
	}
	return nil, fmt.Errorf("address family %d is not one sock_diag is asked about", family)
}

// request builds the dump request of a table.
func (t table) request(seq uint32) []byte {
	switch t {
	case tcp4:
		// TIME_WAIT and NEW_SYN_RECV entries are minisocks: no inode, no fd, never a match, and
		// on a busy server the bulk of the dump.
		return inetDiagRequest(unix.AF_INET, unix.IPPROTO_TCP, tcpStatesWithInode, seq)
	case tcp6:
		return inetDiagRequest(unix.AF_INET6, unix.IPPROTO_TCP, tcpStatesWithInode, seq)
	case udp4:
		return inetDiagRequest(unix.AF_INET, unix.IPPROTO_UDP, allStates, seq)
	case udp6:
		return inetDiagRequest(unix.AF_INET6, unix.IPPROTO_UDP, allStates, seq)
	}
	return unixDiagRequest(seq)
}

// nsEntry is what the cache holds for one network namespace.
type nsEntry struct {
	ino      uint64
	sock     *diagSock // nil until the first dump, and after a failed one
	dumps    [numTables]*dumpResult
	lastUsed time.Time
}

// dumpResult is one table of one namespace as dumped during the current interval.
type dumpResult struct {
	byInode     map[uint32]Socket
	listen      []netip.AddrPort    // TCP: the LISTEN sockets' addresses
	listenPaths map[string]struct{} // unix: the LISTEN sockets' names
	truncated   bool                // sockets were left out to respect MaxSockets
	failed      error               // the dump failed; the table stands empty until the interval ends
	held        int                 // len(byInode), counted in Sockets.sockets
}

// entry returns the namespace's entry, creating it (and evicting the least recently used one
// beyond MaxNetns).
func (r *Sockets) entry(ino uint64, now time.Time) *nsEntry {
	e := r.netns[ino]
	if e == nil {
		for len(r.netns) >= r.cfg.MaxNetns && r.evictLRU(0) {
		}
		e = &nsEntry{ino: ino}
		r.netns[ino] = e
	}
	e.lastUsed = now
	return e
}

// flush ends the interval: every dump is dropped, and namespaces not looked up during the
// interval that ends are forgotten, closing their netlink sockets, which would otherwise keep
// dead namespaces alive.
func (r *Sockets) flush(now time.Time) {
	for ino, e := range r.netns {
		if e.lastUsed.Before(r.epoch) {
			r.drop(ino)
			continue
		}
		r.dropDumps(e)
	}
	r.epoch = now
}

func (r *Sockets) dropDumps(e *nsEntry) {
	for t, d := range e.dumps {
		if d != nil {
			r.sockets -= d.held
			e.dumps[t] = nil
		}
	}
}

func (r *Sockets) drop(ino uint64) {
	e := r.netns[ino]
	r.dropDumps(e)
	if e.sock != nil {
		e.sock.close()
	}
	delete(r.netns, ino)
}

// evictLRU drops the least recently used namespace other than keep; false if there is none.
func (r *Sockets) evictLRU(keep uint64) bool {
	var victim *nsEntry
	for ino, e := range r.netns {
		if ino != keep && (victim == nil || e.lastUsed.Before(victim.lastUsed)) {
			victim = e
		}
	}
	if victim == nil {
		return false
	}
	r.drop(victim.ino)
	r.evictions.Add(1)
	return true
}

// dump makes the table's dump in the namespace of e, opening the namespace's netlink socket
// through process tgid if needed. A failed dump is remembered (as an empty table) for the rest of
// the interval, so a namespace that cannot be dumped costs one attempt per interval, not one per
// lookup; its socket is closed, since a dump cut short can leave replies queued on it.
func (r *Sockets) dump(e *nsEntry, t table, tgid uint32) (*dumpResult, error) {
	d, err := r.dumpTable(e, t, tgid)
	if err != nil {
		r.dumpFails.Add(1)
		if e.sock != nil {
			e.sock.close()
			e.sock = nil
		}
		err = fmt.Errorf("sock_diag %s dump in netns %d: %w", t, e.ino, err)
		e.dumps[t] = &dumpResult{byInode: map[uint32]Socket{}, failed: err}
		return nil, err
	}
	e.dumps[t] = d
	return d, nil
}

func (r *Sockets) dumpTable(e *nsEntry, t table, tgid uint32) (*dumpResult, error) {
	if e.sock == nil {
		s, err := r.openSock(e.ino, tgid)
		if err != nil {
			return nil, err
		}
		e.sock = s
	}
	r.dumps.Add(1)
	d := &dumpResult{}
	reset := func() {
		r.sockets -= d.held
		*d = dumpResult{byInode: map[uint32]Socket{}}
	}
	reset()
	parse := parseInetDiag
	if t == unixTable {
		parse = parseUnixDiag
	}
	err := e.sock.dump(t.request, reset, func(p []byte) error {
		s, err := parse(p)
		if err != nil {
			return err
		}
		if t != unixTable {
			s.Protocol = unix.IPPROTO_TCP
			if t == udp4 || t == udp6 {
				s.Protocol = unix.IPPROTO_UDP
			}
		}
		listening := s.State == StateListen && t != udp4 && t != udp6
		if listening {
			if t == unixTable {
				if s.Path != "" {
					if d.listenPaths == nil {
						d.listenPaths = map[string]struct{}{}
					}
					d.listenPaths[s.Path] = struct{}{}
				}
			} else {
				d.listen = append(d.listen, s.Local)
			}
		}
		if s.Inode == 0 {
			return nil // a socket no fd refers to
		}
		if !listening && !r.room(e.ino) {
			d.truncated = true
			return nil
		}
		d.byInode[s.Inode] = s
		d.held++
		r.sockets++
		return nil
	})
	if err != nil {
		reset()
		return nil, err
	}
	return d, nil
}

// room makes room for one more socket within MaxSockets, evicting other namespaces if needed.
func (r *Sockets) room(keep uint64) bool {
	for r.sockets >= r.cfg.MaxSockets {
		if !r.evictLRU(keep) {
			return false
		}
	}
	return true
}

// openSock opens a netlink socket in namespace ino, reached through process tgid.
func (r *Sockets) openSock(ino uint64, tgid uint32) (*diagSock, error) {
	if ino == r.ownNetns {
		return newDiagSock()
	}
	fd, got, err := openNetns(r.cfg.ProcRoot, tgid)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if got != ino {
		// The process moved, or exited and its pid was reused, between the two reads.
		return nil, fmt.Errorf("pid %d left netns %d for %d", tgid, ino, got)
	}
	return newDiagSockIn(fd)
}
