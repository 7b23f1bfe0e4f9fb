package abi

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"unsafe"
)

// MaxPayload is the number of payload bytes one data event carries (CONN_DATA_MAX_SIZE).
const MaxPayload = 16384

// SampleAll is the sampling rate that keeps every connection (DATA_SAMPLE_ALL).
const SampleAll = 100

// The String methods of the ABI's enums are generated: each name is its constant's line comment,
// as iLogtail's config, records and the trace format spell it.
//go:generate go run golang.org/x/tools/cmd/stringer@v0.53.0 -linecomment -output enums_string.go -type Protocol,Role,MessageType,Direction,EventType,Syscall,CallbackType,ProcType

// Protocol is the L7 protocol the kernel side detected on a connection (support_proto_e).
type Protocol uint32

// Protocols, numbered as the ABI numbers them.
const (
	ProtoUnknown Protocol = iota // unknown
	ProtoHTTP                    // http
	ProtoMySQL                   // mysql
	ProtoDNS                     // dns
	ProtoRedis                   // redis
	ProtoKafka                   // kafka
	ProtoPGSQL                   // pgsql
	ProtoMongo                   // mongo
	ProtoDubbo                   // dubbo
	ProtoHSF                     // hsf
)

// netobserver's protocols, numbered apart from Alibaba's enum (include/libebpf.h): only our
// libebpf.so detects them.
const (
	ProtoHTTP2     Protocol = iota + 16 // http2
	ProtoMemcached                      // memcached
	ProtoAMQP                           // amqp
	ProtoMQTT                           // mqtt
	ProtoNATS                           // nats
	protoEnd
)

// Known reports whether p is one of the ABI's protocols (ProtoUnknown is not).
func (p Protocol) Known() bool {
	return (p >= ProtoHTTP && p <= ProtoHSF) || (p >= ProtoHTTP2 && p < protoEnd)
}

// Protocols are the ABI's protocols, in number order.
func Protocols() []Protocol {
	ps := make([]Protocol, 0, 16)
	for p := ProtoHTTP; p < protoEnd; p++ {
		if p.Known() {
			ps = append(ps, p)
		}
	}
	return ps
}

// ParseProtocol returns the protocol named name (case-insensitive), as Common.IncludeProtocols
// spells them.
func ParseProtocol(name string) (Protocol, bool) {
	for _, p := range Protocols() {
		if strings.EqualFold(p.String(), name) {
			return p, true
		}
	}
	return ProtoUnknown, false
}

// Role is which end of a connection the traced process is (support_role_e). The values are bits.
type Role uint32

// Roles.
const (
	RoleUnknown Role = 0x01 // unknown
	RoleClient  Role = 0x02 // client
	RoleServer  Role = 0x04 // server
)

// MessageType is what the kernel side guessed a data event carries (support_type_e).
type MessageType uint32

// Message types.
const (
	TypeUnknown  MessageType = iota // unknown
	TypeRequest                     // request
	TypeResponse                    // response
)

// Direction is the way data moved through the traced process's socket (support_direction_e).
type Direction uint32

// Directions: ingress is read and recv*, egress write and send*.
const (
	DirUnknown Direction = iota // unknown
	DirIngress                  // ingress
	DirEgress                   // egress
)

// EventType tells a connect event from a close event (support_event_e).
type EventType uint32

// Control event types.
const (
	EventConnect EventType = iota // connect
	EventClose                    // close
)

// Syscall is the system call that moved a data event's bytes (support_syscall_e).
type Syscall uint32

// System calls.
const (
	SyscallUnknown         Syscall = iota // unknown
	SyscallWrite                          // write
	SyscallRead                           // read
	SyscallSend                           // send
	SyscallRecv                           // recv
	SyscallSendTo                         // sendto
	SyscallRecvFrom                       // recvfrom
	SyscallSendMsg                        // sendmsg
	SyscallRecvMsg                        // recvmsg
	SyscallMmap                           // mmap
	SyscallSockAlloc                      // sockalloc
	SyscallAccept                         // accept
	SyscallAccept4                        // accept4
	SyscallSecuritySendMsg                // security_sendmsg
	SyscallSecurityRecvMsg                // security_recvmsg
	SyscallSendMmsg                       // sendmmsg
	SyscallRecvMmsg                       // recvmmsg
	SyscallWriteV                         // writev
	SyscallReadV                          // readv
)

// CallbackType names one of the library's three event streams (callback_type_e).
type CallbackType uint32

// Event streams: CTRL_HAND, DATA_HAND, STAT_HAND.
const (
	CtrlEvents  CallbackType = iota // ctrl
	DataEvents                      // data
	StatsEvents                     // stats
)

// Address families found in SockAddr.Family.
const (
	FamilyUnspec  uint16 = 0
	FamilyUnix    uint16 = 1
	FamilyInet    uint16 = 2
	FamilyInet6   uint16 = 10
	FamilyUnknown uint16 = 0xff // the kernel side did not learn the address
)

// ConnID identifies a connection: the traced process, its fd, and the monotonic time the kernel
// side first tracked it, so that a reused fd is a new connection (connect_id_t).
type ConnID struct {
	FD    int32
	TGID  uint32
	Start uint64
}

func (id ConnID) String() string { return fmt.Sprintf("%d:%d:%d", id.FD, id.TGID, id.Start) }

// SockAddr is a socket address as the ABI lays it out (sockaddr_t): the family in host order,
// then the port and the address in network order.
type SockAddr struct {
	Family uint16
	port   [2]byte
	// IPv4: the address at 0..4. IPv6: flowinfo at 0..4, the address at 4..20, scope id at 20..24.
	data [24]byte
}

// SockAddrFrom returns the SockAddr of ap: AF_INET for an IPv4 address, AF_INET6 otherwise
// (IPv4-mapped IPv6 addresses stay IPv6, as the kernel reports them).
func SockAddrFrom(ap netip.AddrPort) SockAddr {
	var a SockAddr
	binary.BigEndian.PutUint16(a.port[:], ap.Port())
	ip := ap.Addr()
	if ip.Is4() {
		a.Family = FamilyInet
		v4 := ip.As4()
		copy(a.data[0:4], v4[:])
		return a
	}
	a.Family = FamilyInet6
	v6 := ip.As16()
	copy(a.data[4:20], v6[:])
	return a
}

// Port returns the port in host order.
func (a SockAddr) Port() uint16 { return binary.BigEndian.Uint16(a.port[:]) }

// Addr returns the IP address, or the zero Addr for a family without one.
func (a *SockAddr) Addr() netip.Addr {
	switch a.Family {
	case FamilyInet:
		return netip.AddrFrom4([4]byte(a.data[0:4]))
	case FamilyInet6:
		return netip.AddrFrom16([16]byte(a.data[4:20]))
	}
	return netip.Addr{}
}

// AddrPort returns the IP address and port; invalid for a family without an address.
func (a SockAddr) AddrPort() netip.AddrPort { return netip.AddrPortFrom(a.Addr(), a.Port()) }

// Bytes returns the 28 bytes of the address exactly as the ABI lays them out.
func (a SockAddr) Bytes() [28]byte { return *(*[28]byte)(unsafe.Pointer(&a)) }

func (a SockAddr) String() string {
	switch a.Family {
	case FamilyInet, FamilyInet6:
		return a.AddrPort().String()
	case FamilyUnix:
		return "unix"
	case FamilyUnknown:
		return "unknown"
	case FamilyUnspec:
		return "none"
	}
	return fmt.Sprintf("family(%d)", a.Family)
}

// CtrlEvent is a connect or close of a connection (conn_ctrl_event_t). Which half of the union is
// meaningful depends on Type: Addr and Role for EventConnect, WrittenBytes and ReadBytes for
// EventClose.
type CtrlEvent struct {
	Type   EventType
	_      uint32
	TS     uint64 // monotonic ns
	ConnID ConnID
	Addr   SockAddr // EventConnect: the remote address
	Role   Role     // EventConnect
}

// WrittenBytes is the connection's total bytes written, for EventClose.
func (e *CtrlEvent) WrittenBytes() int64 { return e.closeTotal(0) }

// ReadBytes is the connection's total bytes read, for EventClose.
func (e *CtrlEvent) ReadBytes() int64 { return e.closeTotal(8) }

func (e *CtrlEvent) closeTotal(at int) int64 {
	union := (*[32]byte)(unsafe.Pointer(&e.Addr))
	return int64(binary.LittleEndian.Uint64(union[at:]))
}

// DataAttr is the fixed header of a data event (conn_data_event_attr_t).
type DataAttr struct {
	TS           uint64 // monotonic ns
	ConnID       ConnID
	Addr         SockAddr // remote
	Protocol     Protocol
	Role         Role
	Type         MessageType
	Direction    Direction
	Syscall      Syscall
	Pos          uint64 // stream offset in this direction after the whole syscall
	OrgMsgSize   uint32 // this chunk's length on the wire
	MsgBufSize   uint32 // bytes copied, len(Payload)
	TryToPrepend bool
	_            [3]byte
	LengthHeader uint32 // raw bytes of the last 4-byte read on the connection
}

// DataEvent is a chunk of a connection's bytes (conn_data_event_t). Payload belongs to the Batch
// it came in: it is valid until the batch is released.
type DataEvent struct {
	DataAttr
	Payload []byte
}

// StatsEvent carries a connection's cumulative L4 counters (conn_stats_event_t).
type StatsEvent struct {
	TS          uint64
	ConnID      ConnID
	Addr        SockAddr
	Role        Role
	WrBytes     int64
	RdBytes     int64
	WrPkts      int32 // syscalls
	RdPkts      int32
	LastWrBytes int64 // the counters at the previous output, so deltas are Wr - LastWr
	LastRdBytes int64
	LastWrPkts  int32
	LastRdPkts  int32
	ConnEvents  uint32 // 1 when emitted at close
	_           uint32
}

// LostNotice reports events the kernel side could not deliver on one stream.
type LostNotice struct {
	Which CallbackType
	_     uint32
	Count uint64
}
