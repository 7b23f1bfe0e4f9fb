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
		{addr: inet("[1::]:80")},
		{addr: inet("[fe80::1]:80")},
		{addr: inet("[2001:db8::1]:443")},
		{addr: unix, unix: true},
		{addr: unknown, unknown: true},
		{addr: abi.SockAddr{}}, // FamilyUnspec decides nothing
	} {
		for _, opt := range []struct {
			name string
			set  func(*Options)
			want bool
		}{
			{"DropLocalConnections", func(o *Options) { o.DropLocalConnections = true }, tc.local},
			{"DropUnixSocket", func(o *Options) { o.DropUnixSocket = true }, tc.unix},
			{"DropUnknownSocket", func(o *Options) { o.DropUnknownSocket = true }, tc.unknown},
		} {
			o := &Observer{}
			opt.set(&o.opts)
			assert.Equal(t, opt.want, o.dropsKind(&tc.addr), "%s with %s", tc.addr, opt.name)
		}
		all := &Observer{opts: defaultOptions()}
		assert.Equal(t, tc.local || tc.unix || tc.unknown, all.dropsKind(&tc.addr), "%s with every option", tc.addr)
		assert.False(t, (&Observer{}).dropsKind(&tc.addr), "%s with no option", tc.addr)
	}
}
