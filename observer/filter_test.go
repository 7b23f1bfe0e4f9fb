package observer

import (
	"net/netip"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/assert"
)

func TestDropsKind(t *testing.T) {
	inet := func(s string) abi.SockAddr { return abi.SockAddrFrom(netip.MustParseAddrPort(s)) }
	unix := abi.SockAddr{Family: abi.FamilyUnix}
	unknown := abi.SockAddr{Family: abi.FamilyUnknown}
	for _, tc := range []struct {
		addr abi.SockAddr
		// whether each option alone drops it: DropLocalConnections, DropUnixSocket, DropUnknownSocket
		local, unix, unknown bool
	}{
		{addr: inet("0.0.0.0:0"), local: true},
		{addr: inet("127.0.0.1:6379"), local: true},
		{addr: inet("[::]:80"), local: true},
		{addr: inet("[::1]:80"), local: true},
		{addr: inet("[::ffff:127.0.0.1]:80"), local: true},
		// Only those five: the rest of 127/8, other mapped addresses and scoped ones are kept.
		{addr: inet("127.0.0.2:80")},
		{addr: inet("127.0.1.1:80")},
		{addr: inet("10.0.0.1:80")},
		{addr: inet("1.0.0.127:80")},
		{addr: inet("[::ffff:0.0.0.0]:80")},
		{addr: inet("[::ffff:127.0.0.2]:80")},
		{addr: inet("[::2]:80")},
		{addr: inet("[::7f00:1]:80")}, // IPv4-compatible, not mapped
		{addr: inet("[1::]:80")},
		{addr: inet("[fe80::1]:80")},
		{addr: inet("[2001:db8::1]:443")},
		{addr: unix, unix: true},
		{addr: unknown, unknown: true},
		{addr: abi.SockAddr{}}, // FamilyUnspec decides nothing
	} {
		for _, opt := range []struct {
			name  string
			kinds socketKinds
			want  bool
		}{
			{"DropLocalConnections", socketKinds{local: true}, tc.local},
			{"DropUnixSocket", socketKinds{unix: true}, tc.unix},
			{"DropUnknownSocket", socketKinds{unknown: true}, tc.unknown},
		} {
			assert.Equal(t, opt.want, opt.kinds.drops(&tc.addr), "%s with %s", tc.addr, opt.name)
		}
		all := New(nil, defaultOptions(), nil).admit.kinds
		assert.Equal(t, tc.local || tc.unix || tc.unknown, all.drops(&tc.addr), "%s with every option", tc.addr)
		assert.False(t, socketKinds{}.drops(&tc.addr), "%s with no option", tc.addr)
	}
}
