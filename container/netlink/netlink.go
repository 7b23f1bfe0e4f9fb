package netlink

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netobserver/netobserver/abi"

	"golang.org/x/sys/unix"
)

// ErrNotFound is returned (wrapped) by Lookup when the socket cannot be found: the process or the
// fd is gone (the connection closed), or the socket is not in this interval's dumps of its
// namespace (it was created after them; it is found after the next flush).
var ErrNotFound = errors.New("socket not found")

// ErrNotSocket is returned (wrapped) by Lookup when the fd is open but is not a socket (the fd
// number was reused for a file or a pipe).
var ErrNotSocket = errors.New("fd is not a socket")

// Defaults of Config.
const (
	DefaultInterval   = 10 * time.Second // iLogtail's Common.FlushNetlinkInterval default
	DefaultMaxNetns   = 64
	DefaultMaxSockets = 1 << 17
	DefaultProcRoot   = "/proc"
)

// Config configures a Sockets. The zero value takes every default.
type Config struct {
	// Interval is Common.FlushNetlinkInterval: how long the dumps of a namespace are reused before
	// the cache is dropped. At most one dump per (namespace, table) is made per interval (plus
	// one immediate retry when the kernel flags a dump inconsistent, NLM_F_DUMP_INTR).
	// Default DefaultInterval.
	Interval time.Duration
	// MaxNetns bounds the namespaces held at once (each holds a netlink socket, which pins the
	// namespace, and its dumps); the least recently used one is evicted. Default DefaultMaxNetns.
	MaxNetns int
	// MaxSockets bounds the sockets held in dumps across all namespaces (about 200 bytes each).
	// When a dump would exceed it, the least recently used other namespaces are evicted; if that
	// is not enough, the dump keeps its listening sockets (for roles) and drops the rest, and
	// lookups of the dropped ones fail with ErrNotFound. Default DefaultMaxSockets.
	MaxSockets int
	// ProcRoot is where the host's /proc is mounted (the kernel side reports host tgids).
	// Default DefaultProcRoot.
	ProcRoot string
}

// Socket is what a lookup learned about the socket behind a connection.
type Socket struct {
	// Netns is the inode of the network namespace the socket lives in.
	Netns uint64
	// Inode is the socket's inode, as /proc/<pid>/fd/<fd> shows it ("socket:[Inode]").
	Inode uint32
	// Family is abi.FamilyInet, abi.FamilyInet6 or abi.FamilyUnix. An IPv4 peer of
	// a dual-stack IPv6 socket stays FamilyInet6 with IPv4-mapped addresses, as the kernel has it.
	Family uint16
	// Protocol is unix.IPPROTO_TCP or unix.IPPROTO_UDP for an inet socket, 0 for a unix socket.
	Protocol uint8
	// Type is the unix socket's type (unix.SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET); 0 for inet.
	Type uint8
	// State is the socket's TCP state (unix sockets use the same numbers; an unconnected UDP or
	// unix datagram socket is StateClose).
	State State
	// Local and Remote are the inet socket's addresses; Remote is the zero port on the
	// unspecified address when not connected. Invalid for unix sockets.
	Local, Remote netip.AddrPort
	// UID is the owner of an inet socket.
	UID uint32
	// Path is a unix socket's own name: the path it is bound to ("@name" for an abstract name),
	// which for a server-side socket returned by accept is the listener's path; "" if unbound.
	Path string
	// Peer is the inode of a connected unix socket's peer, 0 if none.
	Peer uint32
	// PeerPath is the peer's name when the peer is in the same namespace ("" otherwise or when
	// the peer is unbound): for a client's unix socket, the path it connected to.
	PeerPath string
	// Role is the inferred role of the connection (see Lookup); abi.RoleUnknown when neither
	// the namespace's listening sockets nor the ports tell.
	Role abi.Role
}

// SockAddr returns the remote address as the kernel side's ABI lays it out, for
// Library.UpdateConnAddr: the remote IP and port of an inet socket, or just the unix family
// (sockaddr_t carries no path).
func (s Socket) SockAddr() abi.SockAddr {
	if s.Family == abi.FamilyUnix {
		return abi.SockAddr{Family: abi.FamilyUnix}
	}
	return abi.SockAddrFrom(s.Remote)
}

// Kernel is the part of *libebpf.Library that takes what a lookup learned.
type Kernel interface {
	UpdateConnAddr(id abi.ConnID, addr abi.SockAddr, localPort uint16, drop bool) error
	UpdateConnRole(id abi.ConnID, role abi.Role) error
}

// Push gives the kernel side the connection's address and, when known, its role. The address
// goes first: UpdateConnAddr starts tracking an untracked connection with role unknown, which the
// role update then corrects. drop is the observer's decision (DropUnixSocket,
// DropLocalConnections): true silences the connection's data and control events.
func (s Socket) Push(k Kernel, id abi.ConnID, drop bool) error {
	if err := k.UpdateConnAddr(id, s.SockAddr(), s.Local.Port(), drop); err != nil {
		return err
	}
	if s.Role == abi.RoleClient || s.Role == abi.RoleServer {
		return k.UpdateConnRole(id, s.Role)
	}
	return nil
}

// Stats are a Sockets's counters since New.
type Stats struct {
	Lookups   uint64 // Lookup calls
	Hits      uint64 // lookups answered from dumps already held, without a new dump
	Dumps     uint64 // sock_diag dumps made
	Failures  uint64 // lookups that returned an error (ErrNotFound and ErrNotSocket included)
	NotFound  uint64 // of which ErrNotFound
	DumpFails uint64 // dumps or namespace sockets that failed (netlink or setns errors)
	Evictions uint64 // namespaces evicted to respect MaxNetns or MaxSockets
	Netns     int    // namespaces held now
	Sockets   int    // sockets held now
}

// Sockets looks sockets up by (tgid, fd). It is safe for concurrent use; lookups are serialised.
//
// The observer holds one, New(Config{Interval: FlushNetlinkInterval}). When an event arrives for a
// connection whose address family is abi.FamilyUnknown, or whose role is abi.RoleUnknown, it calls
// Lookup(id.TGID, id.FD, addr.Family) once for that ConnID (a miss is worth retrying at most once
// per interval), decides drop from the result, and calls Socket.Push(lib, id, drop). On
// ErrNotFound or ErrNotSocket with the family still unknown, DropUnknownSocket decides. A dump can
// take milliseconds on a namespace with many sockets: call Lookup off the poll thread if that
// matters.
type Sockets struct {
	cfg      Config
	now      func() time.Time
	ownNetns uint64

	mu      sync.Mutex
	closed  bool
	netns   map[uint64]*nsEntry
	sockets int       // held in all dumps
	epoch   time.Time // start of the current interval

	lookups, hits, dumps, failures, notFound, dumpFails, evictions atomic.Uint64
}

// New returns a Sockets. It fails only when its own network namespace cannot be identified
// (no /proc).
func New(cfg Config) (*Sockets, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxNetns <= 0 {
		cfg.MaxNetns = DefaultMaxNetns
	}
	if cfg.MaxSockets <= 0 {
		cfg.MaxSockets = DefaultMaxSockets
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = DefaultProcRoot
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("netlink: own network namespace: %w", err)
	}
	r := &Sockets{cfg: cfg, now: time.Now, ownNetns: st.Ino, netns: map[uint64]*nsEntry{}}
	r.epoch = r.now()
	return r, nil
}

// Close closes every netlink socket. Lookups after Close fail.
func (r *Sockets) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ino := range r.netns {
		r.drop(ino)
	}
	r.closed = true
	return nil
}

// Flush drops every dump now, as the end of an interval does, so the next lookups see the
// sockets as they are; the netlink sockets of namespaces looked up since the last flush stay open.
func (r *Sockets) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flush(r.now())
}

// Stats returns the counters.
func (r *Sockets) Stats() Stats {
	r.mu.Lock()
	netns, sockets := len(r.netns), r.sockets
	r.mu.Unlock()
	return Stats{
		Lookups: r.lookups.Load(), Hits: r.hits.Load(), Dumps: r.dumps.Load(),
		Failures: r.failures.Load(), NotFound: r.notFound.Load(), DumpFails: r.dumpFails.Load(),
		Evictions: r.evictions.Load(), Netns: netns, Sockets: sockets,
	}
}

// Lookup finds the socket that process tgid holds as fd, in that process's network namespace.
// family narrows the search when the kernel side knows it (abi.FamilyInet, FamilyInet6,
// FamilyUnix); abi.FamilyUnknown or FamilyUnspec searches TCP, unix and UDP sockets of both
// IP versions, dumping each table only when the ones before did not hold the socket.
//
// The role is inferred, in order:
//   - TCP: a LISTEN socket is a server; a socket whose local port has a LISTEN socket in the same
//     namespace (on its address or the wildcard) is a server (it was accepted there); a socket
//     whose remote end is a LISTEN socket of the same namespace (loopback or own address) is a
//     client.
//   - unix: a socket named like a LISTEN unix socket of the namespace is the server end (accept
//     gives the new socket the listener's name); a socket whose peer has that name is a client;
//     failing that, the unnamed end of a connection to a named socket (a datagram server such as
//     /dev/log) is a client, and the named end a server.
//   - then, for TCP and UDP, by ports: a well-known remote port (< 1024) with an
//     unprivileged local one → client, and the converse → server; an ephemeral local port
//     (≥ 32768: Linux's default ip_local_port_range starts there, and IANA's dynamic range at
//     49152) with a non-ephemeral remote one → client, and the converse → server.
//   - otherwise abi.RoleUnknown.
//
// The fd is resolved now, but the socket's details come from the namespace's dumps of the
// current interval: a connection closed since is still reported while its fd is open, and a
// socket created after the dump is ErrNotFound until the interval ends. A fd reused for another
// socket since the kernel side tracked the connection is indistinguishable from it here.
func (r *Sockets) Lookup(tgid uint32, fd int32, family uint16) (Socket, error) {
	r.lookups.Add(1)
	s, err := r.lookup(tgid, fd, family)
	if err != nil {
		r.failures.Add(1)
		if errors.Is(err, ErrNotFound) {
			r.notFound.Add(1)
		}
		return Socket{}, fmt.Errorf("netlink: pid %d fd %d: %w", tgid, fd, err)
	}
	return s, nil
}

func (r *Sockets) lookup(tgid uint32, fd int32, family uint16) (Socket, error) {
	inode, err := socketInode(r.cfg.ProcRoot, tgid, fd)
	if err != nil {
		return Socket{}, err
	}
	nsIno, err := netnsOf(r.cfg.ProcRoot, tgid)
	if err != nil {
		return Socket{}, err
	}
	tables, err := tablesFor(family)
	if err != nil {
		return Socket{}, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Socket{}, errors.New("resolver closed")
	}
	now := r.now()
	if now.Sub(r.epoch) >= r.cfg.Interval {
		r.flush(now)
	}
	e := r.entry(nsIno, now)

	// First what this interval's dumps already hold, then the tables not yet dumped, in order.
	for _, t := range tables {
		if d := e.dumps[t]; d != nil {
			if s, ok := d.byInode[inode]; ok {
				r.hits.Add(1)
				return r.finish(s, e, t), nil
			}
		}
	}
	for _, t := range tables {
		if e.dumps[t] != nil {
			continue
		}
		d, err := r.dump(e, t, tgid)
		if err != nil {
			continue
		}
		if s, ok := d.byInode[inode]; ok {
			return r.finish(s, e, t), nil
		}
	}
	// Not found. When no table could be dumped, that is a failure to report as such; when some
	// could (a kernel without udp_diag fails the UDP dumps only), the socket is not there.
	var why []string
	var fails []any
	dumped := 0
	for _, t := range tables {
		switch d := e.dumps[t]; {
		case d == nil: // not reached: every table searched has been dumped or has failed
		case d.failed != nil:
			why = append(why, d.failed.Error())
			fails = append(fails, d.failed)
		case d.truncated:
			dumped++
			why = append(why, t.String()+" dump cut at MaxSockets")
		default:
			dumped++
		}
	}
	if dumped == 0 && len(fails) > 0 {
		return Socket{}, fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(fails)), "; "), fails...)
	}
	msg := ""
	if len(why) > 0 {
		msg = "; " + strings.Join(why, "; ")
	}
	return Socket{}, fmt.Errorf("%w: socket inode %d in netns %d (not in the dumps of this interval%s)",
		ErrNotFound, inode, nsIno, msg)
}

// finish completes a cached socket into a lookup's result.
func (r *Sockets) finish(s Socket, e *nsEntry, t table) Socket {
	s.Netns = e.ino
	switch t {
	case tcp4, tcp6:
		s.Role = tcpRole(s, e.dumps[t].listen)
	case udp4, udp6:
		s.Role = roleByPorts(s.Local.Port(), s.Remote.Port())
	case unixTable:
		d := e.dumps[t]
		if p, ok := d.byInode[s.Peer]; ok && s.Peer != 0 {
			s.PeerPath = p.Path
		}
		s.Role = unixRole(s, d.listenPaths)
	}
	return s
}

// socketInode reads the inode of the socket a process holds as fd.
func socketInode(procRoot string, tgid uint32, fd int32) (uint32, error) {
	path := fmt.Sprintf("%s/%d/fd/%d", procRoot, tgid, fd)
	link, err := os.Readlink(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: %s does not exist (the fd was closed or the process exited)", ErrNotFound, path)
		}
		return 0, err
	}
	v, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(v, "]") {
		return 0, fmt.Errorf("%w: %s -> %s", ErrNotSocket, path, link)
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s -> %s: %w", path, link, err)
	}
	return uint32(ino), nil
}

// netnsOf reads the inode of a process's network namespace from /proc/<tgid>/ns/net
// ("net:[4026531992]"): a readlink, cheaper than opening the namespace.
func netnsOf(procRoot string, tgid uint32) (uint64, error) {
	path := fmt.Sprintf("%s/%d/ns/net", procRoot, tgid)
	link, err := os.Readlink(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: %s does not exist (the process exited)", ErrNotFound, path)
		}
		return 0, err
	}
	v, ok := strings.CutPrefix(link, "net:[")
	if !ok || !strings.HasSuffix(v, "]") {
		return 0, fmt.Errorf("%s -> %s: not a network namespace", path, link)
	}
	return strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
}
