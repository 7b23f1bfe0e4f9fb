package dns

import (
	"errors"
	"net/netip"

	"github.com/netobserver/netobserver/parser"
)

var (
	// ErrShort means the bytes hold the beginning of a response but not all of it.
	ErrShort = errors.New("dns: message incomplete")
	// ErrInvalid means the bytes do not start with a DNS response.
	ErrInvalid = errors.New("dns: not a DNS response")
)

// AddrRecord is one A or AAAA record of an answer section.
type AddrRecord struct {
	// Name is the record's owner name as sent, without the trailing dot. With CNAMEs it is the
	// end of the chain, not the name asked; the question is Message.Resource. It aliases the
	// AddrReader's scratch space and is valid only during the callback.
	Name []byte
	Addr netip.Addr
	TTL  uint32
}

// AddrReader extracts the address records of DNS responses. Its zero value is ready; reuse one so
// that the names it decodes cost no allocation once its scratch space has grown.
type AddrReader struct {
	name []byte
}

// Read calls fn for each A and AAAA record in the answer section of the response at the start of
// buf, framed as Parse accepts it (bare or behind a TCP length), in order, until fn returns
// false. Records of other types, other classes than IN, and A/AAAA records with a wrong RDLENGTH
// are skipped. It returns ErrShort or ErrInvalid when buf does not hold a whole response; fn is
// then not called.
func (r *AddrReader) Read(buf []byte, fn func(AddrRecord) bool) error {
	return eachAddr(buf, &r.name, func(name []byte, a netip.Addr, ttl uint32) bool {
		if len(name) == 1 && name[0] == '.' {
			name = name[:0]
		}
		return fn(AddrRecord{Name: name, Addr: a, TTL: ttl})
	})
}

// AppendAddrs appends to dst the addresses of the A and AAAA records (class IN) in the answer
// section of the response at the start of buf, framed as Parse accepts it, and returns the
// extended slice. All of them belong to the name asked (Message.Resource): a CNAME chain only
// renames it. On error dst is returned unchanged.
func AppendAddrs(dst []netip.Addr, buf []byte) ([]netip.Addr, error) {
	err := eachAddr(buf, nil, func(_ []byte, a netip.Addr, _ uint32) bool {
		dst = append(dst, a)
		return true
	})
	return dst, err
}

// eachAddr walks the answer section of the response at the start of buf and calls fn for each
// A/AAAA record of class IN, decoding owner names into *names when names is non-nil.
func eachAddr(buf []byte, names *[]byte, fn func(name []byte, a netip.Addr, ttl uint32) bool) error {
	var in info
	_, start, end, o := locate(buf, parser.Response, framingUnknown, nil, &in)
	switch o {
	case short:
		return ErrShort
	case bad:
		return ErrInvalid
	}
	// locate walked the whole message, so every name and record below lies inside msg; the
	// checks that remain are defensive.
	msg := buf[start:end]
	off := headerLen
	for i := 0; i < int(in.h.qd); i++ {
		n, o := readName(msg, off, nil)
		if o != complete || n+4 > len(msg) {
			return ErrInvalid
		}
		off = n + 4
	}
	for i := 0; i < int(in.h.an); i++ {
		if names != nil {
			*names = (*names)[:0]
		}
		n, o := readName(msg, off, names)
		if o != complete || n+10 > len(msg) {
			return ErrInvalid
		}
		typ, class := be16(msg[n:]), be16(msg[n+2:])
		ttl := uint32(be16(msg[n+4:]))<<16 | uint32(be16(msg[n+6:]))
		rdlen := int(be16(msg[n+8:]))
		off = n + 10 + rdlen
		if off > len(msg) {
			return ErrInvalid
		}
		rdata := msg[n+10 : off]
		var a netip.Addr
		switch {
		case class != 1:
			continue
		case typ == typeA && rdlen == 4:
			a = netip.AddrFrom4([4]byte(rdata))
		case typ == typeAAAA && rdlen == 16:
			a = netip.AddrFrom16([16]byte(rdata))
		default:
			continue
		}
		var name []byte
		if names != nil {
			name = *names
		}
		if !fn(name, a, ttl) {
			return nil
		}
	}
	return nil
}
