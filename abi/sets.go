package abi

// ProtocolSet selects the protocols whose data events the kernel side emits (PROTOCOL_FILTER).
// Until it is set once, no data events flow.
type ProtocolSet int32

// AllProtocols enables data events of every protocol.
const AllProtocols ProtocolSet = -1

// NoProtocols disables data events; L4 stats still flow.
const NoProtocols ProtocolSet = 0

// ProtocolsOf returns the set holding ps: bit p-1 for protocol p, as iLogtail computed it.
func ProtocolsOf(ps ...Protocol) ProtocolSet {
	var s ProtocolSet
	for _, p := range ps {
		if p > ProtoUnknown && p <= ProtoHSF {
			s |= 1 << (p - 1)
		}
	}
	return s
}

// Has reports whether the set enables data events of protocol p.
func (s ProtocolSet) Has(p Protocol) bool {
	if p <= ProtoUnknown || p > ProtoHSF {
		return false
	}
	return s == AllProtocols || s&(1<<(p-1)) != 0
}

// Valid reports whether the set is AllProtocols or a bitmask of the ABI's protocols.
func (s ProtocolSet) Valid() bool {
	return s == AllProtocols || (s >= 0 && s < 1<<ProtoHSF)
}

// ConnKey is a key of the kernel connection map.
type ConnKey struct {
	TGID uint32
	FD   int32
}
