package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sock_diag wire format. golang.org/x/sys/unix has the netlink header and constants but not
// the inet_diag and unix_diag structures, so they are laid out here from the kernel's uapi headers
// (linux/inet_diag.h, linux/unix_diag.h) and read field by field: a dump is untrusted bytes whose
// length is checked before every read, never cast onto a struct.
//
// Multi-byte fields of netlink headers and diag messages are in host byte order, except the ports
// and addresses of inet_diag_sockid, which are in network order. The observer only runs on
// little-endian machines (the kernel-side ABI is little-endian too), so host order is read as
// little-endian.

const (
	sizeofNlMsghdr     = unix.SizeofNlMsghdr // struct nlmsghdr
	sizeofInetDiagReq  = 56                  // struct inet_diag_req_v2
	sizeofInetDiagMsg  = 72                  // struct inet_diag_msg
	sizeofUnixDiagReq  = 24                  // struct unix_diag_req
	sizeofUnixDiagMsg  = 16                  // struct unix_diag_msg
	sizeofRtAttr       = 4                   // struct rtattr / nlattr
	sizeofNlMsgerr     = 4 + sizeofNlMsghdr  // struct nlmsgerr without extended acks
	nlmsgAlignTo       = 4                   // NLMSG_ALIGNTO, also RTA_ALIGNTO
	sockDiagByFamily   = unix.SOCK_DIAG_BY_FAMILY
	nlmFDumpIntr       = 0x10 // NLM_F_DUMP_INTR: the dump changed under the kernel's feet
	unixDiagName       = 0    // UNIX_DIAG_NAME: the bound sun_path
	unixDiagPeer       = 2    // UNIX_DIAG_PEER: u32 inode of the peer
	udiagShowName      = 0x01 // UDIAG_SHOW_NAME
	udiagShowPeer      = 0x04 // UDIAG_SHOW_PEER
	inetDiagNoCookie   = ^uint32(0)
	allStates          = ^uint32(0)
	tcpStatesWithInode = allStates &^ (1<<StateTimeWait | 1<<StateNewSynRecv)
)

// errTruncated reports a message shorter than its headers say; the dump that carried it is not
// trusted.
var errTruncated = errors.New("truncated netlink message")

func align(n int) int { return (n + nlmsgAlignTo - 1) &^ (nlmsgAlignTo - 1) }

// State is a socket's state as sock_diag reports it: the TCP state numbering (include/net/
// tcp_states.h), which unix sockets share (LISTEN, ESTABLISHED, CLOSE for an unconnected one).
type State uint8

// States, named as ss(8) and the kernel headers spell them.
//
//go:generate go run golang.org/x/tools/cmd/stringer@v0.53.0 -linecomment -type State,table -output enums_string.go
const (
	StateEstablished State = 1  // ESTABLISHED
	StateSynSent     State = 2  // SYN_SENT
	StateSynRecv     State = 3  // SYN_RECV
	StateFinWait1    State = 4  // FIN_WAIT1
	StateFinWait2    State = 5  // FIN_WAIT2
	StateTimeWait    State = 6  // TIME_WAIT
	StateClose       State = 7  // CLOSE
	StateCloseWait   State = 8  // CLOSE_WAIT
	StateLastAck     State = 9  // LAST_ACK
	StateListen      State = 10 // LISTEN
	StateClosing     State = 11 // CLOSING
	StateNewSynRecv  State = 12 // NEW_SYN_RECV
)

// nlHeader writes a netlink request header for a sock_diag dump of a body of n bytes.
func nlHeader(b []byte, n int, seq uint32) {
	binary.LittleEndian.PutUint32(b[0:4], uint32(sizeofNlMsghdr+n))
	binary.LittleEndian.PutUint16(b[4:6], sockDiagByFamily)
	binary.LittleEndian.PutUint16(b[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.LittleEndian.PutUint32(b[8:12], seq)
	binary.LittleEndian.PutUint32(b[12:16], 0) // the kernel fills in our port id
}

// inetDiagRequest is a dump request (nlmsghdr + inet_diag_req_v2) for every socket of family
// (AF_INET or AF_INET6) and protocol (IPPROTO_TCP or IPPROTO_UDP) in the states of the mask, with
// no extensions: the base message carries everything the lookup needs.
func inetDiagRequest(family, protocol uint8, states uint32, seq uint32) []byte {
	b := make([]byte, sizeofNlMsghdr+sizeofInetDiagReq)
	nlHeader(b, sizeofInetDiagReq, seq)
	r := b[sizeofNlMsghdr:]
	r[0] = family
	r[1] = protocol
	r[2] = 0 // idiag_ext
	binary.LittleEndian.PutUint32(r[4:8], states)
	// id: all zero (a dump matches every socket) except the cookie, which must say "none".
	binary.LittleEndian.PutUint32(r[48:52], inetDiagNoCookie)
	binary.LittleEndian.PutUint32(r[52:56], inetDiagNoCookie)
	return b
}

// unixDiagRequest is a dump request (nlmsghdr + unix_diag_req) for every unix socket, asking for
// the bound name and the peer's inode.
func unixDiagRequest(seq uint32) []byte {
	b := make([]byte, sizeofNlMsghdr+sizeofUnixDiagReq)
	nlHeader(b, sizeofUnixDiagReq, seq)
	r := b[sizeofNlMsghdr:]
	r[0] = unix.AF_UNIX
	binary.LittleEndian.PutUint32(r[4:8], allStates)
	binary.LittleEndian.PutUint32(r[12:16], udiagShowName|udiagShowPeer)
	binary.LittleEndian.PutUint32(r[16:20], inetDiagNoCookie)
	binary.LittleEndian.PutUint32(r[20:24], inetDiagNoCookie)
	return b
}

// parseMessages walks one datagram of a dump reply and calls fn with the payload of each
// SOCK_DIAG_BY_FAMILY message of sequence seq. It returns done when the dump ended (NLMSG_DONE),
// intr when the kernel flagged the dump as inconsistent, and the kernel's error for NLMSG_ERROR
// or an NLMSG_DONE carrying one. Messages of another sequence (left over from an earlier,
// abandoned dump on the same socket) are skipped.
func parseMessages(b []byte, seq uint32, fn func(payload []byte) error) (done, intr bool, err error) {
	for len(b) > 0 {
		if len(b) < sizeofNlMsghdr {
			return false, intr, fmt.Errorf("%w: %d bytes left, header needs %d", errTruncated, len(b), sizeofNlMsghdr)
		}
		n := int(binary.LittleEndian.Uint32(b[0:4]))
		typ := binary.LittleEndian.Uint16(b[4:6])
		flags := binary.LittleEndian.Uint16(b[6:8])
		mseq := binary.LittleEndian.Uint32(b[8:12])
		if n < sizeofNlMsghdr || n > len(b) {
			return false, intr, fmt.Errorf("%w: length %d, %d bytes left", errTruncated, n, len(b))
		}
		payload := b[sizeofNlMsghdr:n]
		if next := align(n); next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		if mseq != seq {
			continue
		}
		if flags&nlmFDumpIntr != 0 {
			intr = true
		}
		switch typ {
		case unix.NLMSG_NOOP:
		case unix.NLMSG_DONE:
			// Since Linux 4.x a dump's DONE carries an int: 0, or the error that cut it short.
			if len(payload) >= 4 {
				if e := int32(binary.LittleEndian.Uint32(payload)); e < 0 {
					return true, intr, syscall.Errno(-e)
				}
			}
			return true, intr, nil
		case unix.NLMSG_ERROR:
			if len(payload) < 4 {
				return false, intr, fmt.Errorf("%w: error message of %d bytes", errTruncated, len(payload))
			}
			e := int32(binary.LittleEndian.Uint32(payload))
			if e == 0 { // an ack; a dump does not ask for one
				continue
			}
			return false, intr, syscall.Errno(-e)
		case sockDiagByFamily:
			if err := fn(payload); err != nil {
				return false, intr, err
			}
		default:
			return false, intr, fmt.Errorf("unexpected netlink message type %d in a sock_diag dump", typ)
		}
	}
	return false, intr, nil
}

// attrs walks the rtattr list that follows a diag message and calls fn with each attribute's
// type and value. A list whose lengths do not add up is an error, not silently cut.
func attrs(b []byte, fn func(typ uint16, val []byte)) error {
	for len(b) > 0 {
		if len(b) < sizeofRtAttr {
			return fmt.Errorf("%w: %d bytes left, attribute header needs %d", errTruncated, len(b), sizeofRtAttr)
		}
		n := int(binary.LittleEndian.Uint16(b[0:2]))
		typ := binary.LittleEndian.Uint16(b[2:4])
		if n < sizeofRtAttr || n > len(b) {
			return fmt.Errorf("%w: attribute %d of length %d, %d bytes left", errTruncated, typ, n, len(b))
		}
		// NLA_F_NESTED and NLA_F_NET_BYTEORDER ride in the type's top bits.
		fn(typ&0x3fff, b[sizeofRtAttr:n])
		if next := align(n); next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
	}
	return nil
}

// parseInetDiag decodes one inet_diag_msg. Its attributes are checked for consistency and
// otherwise ignored: the request asked for no extensions.
func parseInetDiag(p []byte) (Socket, error) {
	if len(p) < sizeofInetDiagMsg {
		return Socket{}, fmt.Errorf("%w: inet_diag_msg of %d bytes, want %d", errTruncated, len(p), sizeofInetDiagMsg)
	}
	var s Socket
	s.Family = uint16(p[0])
	s.State = State(p[1])
	sport := binary.BigEndian.Uint16(p[4:6])
	dport := binary.BigEndian.Uint16(p[6:8])
	var src, dst netip.Addr
	switch s.Family {
	case unix.AF_INET:
		src = netip.AddrFrom4([4]byte(p[8:12]))
		dst = netip.AddrFrom4([4]byte(p[24:28]))
	case unix.AF_INET6:
		src = netip.AddrFrom16([16]byte(p[8:24]))
		dst = netip.AddrFrom16([16]byte(p[24:40]))
	default:
		return Socket{}, fmt.Errorf("inet_diag_msg of family %d", s.Family)
	}
	s.Local = netip.AddrPortFrom(src, sport)
	s.Remote = netip.AddrPortFrom(dst, dport)
	// p[40:44] interface, p[44:52] cookie, p[52:56] expires, p[56:64] queues.
	s.UID = binary.LittleEndian.Uint32(p[64:68])
	s.Inode = binary.LittleEndian.Uint32(p[68:72])
	if err := attrs(p[sizeofInetDiagMsg:], func(uint16, []byte) {}); err != nil {
		return Socket{}, err
	}
	return s, nil
}

// parseUnixDiag decodes one unix_diag_msg and its UNIX_DIAG_NAME and UNIX_DIAG_PEER attributes.
// An abstract name (leading NUL) is returned as "@name", as ss(8) and /proc/net/unix show it.
func parseUnixDiag(p []byte) (Socket, error) {
	if len(p) < sizeofUnixDiagMsg {
		return Socket{}, fmt.Errorf("%w: unix_diag_msg of %d bytes, want %d", errTruncated, len(p), sizeofUnixDiagMsg)
	}
	if p[0] != unix.AF_UNIX {
		return Socket{}, fmt.Errorf("unix_diag_msg of family %d", p[0])
	}
	s := Socket{Family: unix.AF_UNIX, Type: p[1], State: State(p[2])}
	s.Inode = binary.LittleEndian.Uint32(p[4:8])
	var bad error
	err := attrs(p[sizeofUnixDiagMsg:], func(typ uint16, v []byte) {
		switch typ {
		case unixDiagName:
			s.Path = unixName(v)
		case unixDiagPeer:
			if len(v) < 4 {
				bad = fmt.Errorf("%w: UNIX_DIAG_PEER of %d bytes", errTruncated, len(v))
				return
			}
			s.Peer = binary.LittleEndian.Uint32(v)
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return Socket{}, err
	}
	return s, nil
}

// unixName turns a sun_path as the kernel reports it (exactly the bound bytes, no terminator for
// abstract names, maybe one for filesystem names) into a printable name.
func unixName(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if v[0] == 0 {
		return "@" + string(v[1:])
	}
	for i, c := range v {
		if c == 0 {
			v = v[:i]
			break
		}
	}
	return string(v)
}
