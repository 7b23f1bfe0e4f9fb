package detect

import "github.com/netobserver/netobserver/abi"

// tlsHelloWindow is TLS_HELLO_WINDOW of bpf/netobserver.bpf.c.
const tlsHelloWindow = 4096

// Conn is one connection's detection state as data_main_body keeps it (struct conn), fed one data
// syscall at a time: the bookkeeping of 4-, 2- and 1-byte reads before a message, the sticky
// protocol and role, the TLS switch, and writev's split DNS length. It restates those few lines of
// data_main_body in Go (they work on struct conn, a BPF map value); the classification itself is
// the C code's.
type Conn struct {
	Dgram bool
	Proto abi.Protocol
	Role  abi.Role
	// TLS: a hello was seen; the kernel exports nothing of the socket from then on.
	TLS bool

	wr, rd       uint64
	lengthHeader uint32
	lhPending    bool
	len2         uint16
	byte1        byte
	byte1Pending bool
}

// NewConn returns a connection that has seen nothing (Role unknown).
func NewConn(dgram bool) *Conn {
	return &Conn{Dgram: dgram, Role: abi.RoleUnknown}
}

// Syscall is one data syscall of the connection: egress (write, send*) or ingress, its buffer
// as segments (one for read and write, the iovec for readv, writev, sendmsg, recvmsg). It returns
// the type the syscall's data event carries (TypeUnknown when the kernel would send none for
// want to the protocol: the protocol is unknown or the socket is TLS).
func (c *Conn) Syscall(egress bool, segs ...[]byte) abi.MessageType {
	var total uint64
	for _, s := range segs {
		total += uint64(len(s))
	}
	if total == 0 {
		return abi.TypeUnknown
	}
	pos := &c.rd
	if egress {
		pos = &c.wr
	}
	*pos += total
	if c.TLS {
		return abi.TypeUnknown
	}
	// first_segments: the first segment, or the second when the first is empty.
	head := segs[0]
	if len(head) == 0 && len(segs) >= 2 {
		head = segs[1]
	}
	if uint64(len(head)) > total {
		head = head[:total]
	}
	if len(head) == 0 {
		return abi.TypeUnknown
	}
	if len(head) > MaxBuf {
		head = head[:MaxBuf]
	}

	lhPending := !egress && c.lhPending
	var len2 uint16
	if !egress {
		len2 = c.len2
		byte1 := c.byte1Pending
		c.lhPending, c.len2, c.byte1Pending = false, 0, false
		switch {
		case total == 4 && len(head) == 4:
			c.lengthHeader = uint32(head[0]) | uint32(head[1])<<8 | uint32(head[2])<<16 | uint32(head[3])<<24
			c.lhPending = true
		case total == 2 && len(head) == 2 && c.Proto == abi.ProtoUnknown:
			c.len2 = uint16(head[0])<<8 | uint16(head[1])
		case total == 1 && len(head) == 1 && c.Proto == abi.ProtoUnknown:
			if byte1 {
				c.len2 = uint16(c.byte1)<<8 | uint16(head[0])
			} else {
				c.byte1, c.byte1Pending = head[0], true
			}
		}
	}

	typ := abi.TypeUnknown
	if c.Proto == abi.ProtoUnknown || c.Role == abi.RoleUnknown || *pos-total < tlsHelloWindow {
		r := Classify(head, Input{LengthHeader: c.lengthHeader, LHPending: lhPending, Len2: len2,
			Dgram: c.Dgram, First: *pos == total, Pad: -1})
		if r.TLS {
			c.TLS = true
			return abi.TypeUnknown
		}
		proto := r.Proto
		typ = r.Type
		// DNS over TCP written as two iovecs, the 2-byte length and the message (dig).
		if proto == abi.ProtoUnknown && len(segs) >= 2 && len(segs[0]) == 2 && total >= 14 && !c.Dgram &&
			uint64(segs[0][0])<<8|uint64(segs[0][1]) == total-2 && len(segs[1]) >= 12 && DNSHeader(segs[1]) {
			proto = abi.ProtoDNS
			typ = abi.TypeRequest
			if segs[1][2]&0x80 != 0 {
				typ = abi.TypeResponse
			}
		}
		if c.Proto == abi.ProtoUnknown {
			c.Proto = proto
		} else if proto != c.Proto {
			typ = abi.TypeUnknown
		}
		if c.Role == abi.RoleUnknown && typ != abi.TypeUnknown {
			if egress != (typ == abi.TypeResponse) {
				c.Role = abi.RoleClient
			} else {
				c.Role = abi.RoleServer
			}
		}
	}
	switch c.Role {
	case abi.RoleClient:
		typ = abi.TypeResponse
		if egress {
			typ = abi.TypeRequest
		}
	case abi.RoleServer:
		typ = abi.TypeRequest
		if egress {
			typ = abi.TypeResponse
		}
	}
	if c.Proto == abi.ProtoUnknown {
		return abi.TypeUnknown
	}
	return typ
}
