package netlink

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/netobserver/netobserver/abi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// hx decodes a literal byte vector written as hex with spaces and newlines for readability.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Literal datagrams as the kernel sends them on a little-endian machine.
var (
	// One inet_diag_msg (IPv4, ESTABLISHED, 10.206.0.1:80 → 10.206.0.2:40000, uid 1000, inode
	// 12345), then NLMSG_DONE, both of sequence 7 and flagged NLM_F_MULTI.
	inet4Datagram = hx(`
		58000000 1400 0200 07000000 00000000
		02 01 00 00  0050 9c40
		0ace0001 00000000 00000000 00000000
		0ace0002 00000000 00000000 00000000
		00000000  01000000 00000000  00000000  00000000 00000000
		e8030000  39300000
		14000000 0300 0200 07000000 00000000 00000000`)

	// An IPv6 LISTEN socket on [fd00:ce::1]:8198, inode 65536, with an INET_DIAG_SHUTDOWN
	// attribute (type 8, one byte, padded to 4).
	inet6Message = hx(`
		60000000 1400 0200 07000000 00000000
		0a 0a 00 00  2006 0000
		fd0000ce 00000000 00000000 00000001
		00000000 00000000 00000000 00000000
		02000000  00000000 00000000  00000000  00000000 00000000
		00000000  00000100
		0500 0800 00 000000`)

	// A unix stream socket, ESTABLISHED, inode 12345, bound to /run/x.sock (with the terminating
	// NUL the kernel keeps for filesystem names), peer inode 12346.
	unixMessage = hx(`
		38000000 1400 0200 07000000 00000000
		01 01 01 00  39300000  02000000 00000000
		1000 0000 2f72756e 2f782e73 6f636b00
		0800 0200 3a300000`)

	// A unix datagram socket with the abstract name "\0abc", an attribute this package does not
	// ask for (UNIX_DIAG_ICONS, type 3, empty), and no peer.
	unixAbstractMessage = hx(`
		2c000000 1400 0200 07000000 00000000
		01 02 07 00  40300000  00000000 00000000
		0800 0000 00616263
		0400 0300`)
)

// collect parses one datagram for sequence 7 and returns its payloads.
func collect(t *testing.T, b []byte) (payloads [][]byte, done, intr bool, err error) {
	t.Helper()
	done, intr, err = parseMessages(b, 7, func(p []byte) error {
		payloads = append(payloads, p)
		return nil
	})
	return
}

func TestParseInet4(t *testing.T) {
	ps, done, intr, err := collect(t, inet4Datagram)
	require.NoError(t, err)
	assert.True(t, done)
	assert.False(t, intr)
	require.Len(t, ps, 1)
	s, err := parseInetDiag(ps[0])
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Inode: 12345, Family: abi.FamilyInet, State: StateEstablished, UID: 1000,
		Local:  netip.MustParseAddrPort("10.206.0.1:80"),
		Remote: netip.MustParseAddrPort("10.206.0.2:40000"),
	}, s)
}

func TestParseInet6WithAttribute(t *testing.T) {
	ps, done, _, err := collect(t, inet6Message)
	require.NoError(t, err)
	assert.False(t, done, "no NLMSG_DONE yet: the dump goes on in the next datagram")
	require.Len(t, ps, 1)
	s, err := parseInetDiag(ps[0])
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Inode: 65536, Family: abi.FamilyInet6, State: StateListen,
		Local:  netip.MustParseAddrPort("[fd00:ce::1]:8198"),
		Remote: netip.MustParseAddrPort("[::]:0"),
	}, s)
}

func TestParseUnix(t *testing.T) {
	ps, _, _, err := collect(t, append(append([]byte{}, unixMessage...), unixAbstractMessage...))
	require.NoError(t, err)
	require.Len(t, ps, 2)
	s, err := parseUnixDiag(ps[0])
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Inode: 12345, Family: abi.FamilyUnix, Type: unix.SOCK_STREAM, State: StateEstablished,
		Path: "/run/x.sock", Peer: 12346,
	}, s)
	s, err = parseUnixDiag(ps[1])
	require.NoError(t, err)
	assert.Equal(t, Socket{
		Inode: 12352, Family: abi.FamilyUnix, Type: unix.SOCK_DGRAM, State: StateClose,
		Path: "@abc",
	}, s)
}

func TestParseKernelErrors(t *testing.T) {
	// NLMSG_ERROR with -EPERM, echoing the request's header.
	_, _, _, err := collect(t, hx(`
		24000000 0200 0000 07000000 00000000
		ffffffff
		48000000 1400 0103 07000000 00000000`))
	assert.Equal(t, syscall.EPERM, err)

	// NLMSG_DONE carrying -EINVAL: the dump was cut short.
	_, done, _, err := collect(t, hx(`14000000 0300 0200 07000000 00000000 eaffffff`))
	assert.True(t, done)
	assert.Equal(t, syscall.EINVAL, err)

	// An ack (error 0) is not an error.
	_, done, _, err = collect(t, hx(`
		24000000 0200 0000 07000000 00000000 00000000 48000000 1400 0103 07000000 00000000
		14000000 0300 0200 07000000 00000000 00000000`))
	assert.NoError(t, err)
	assert.True(t, done)
}

func TestParseSequenceAndFlags(t *testing.T) {
	// A reply of an earlier dump (sequence 6) is skipped, its DONE included.
	ps, done, _, err := collect(t, hx(`
		14000000 1400 0200 06000000 00000000 00000000
		14000000 0300 0200 06000000 00000000 00000000`))
	require.NoError(t, err)
	assert.False(t, done)
	assert.Empty(t, ps)

	// NLM_F_DUMP_INTR (0x10) on any message marks the dump inconsistent.
	_, done, intr, err := collect(t, hx(`14000000 0300 1200 07000000 00000000 00000000`))
	require.NoError(t, err)
	assert.True(t, done)
	assert.True(t, intr)

	// A type a sock_diag dump never sends.
	_, _, _, err = collect(t, hx(`10000000 1000 0000 07000000 00000000`))
	assert.ErrorContains(t, err, "unexpected netlink message type 16")
}

func TestParseTruncated(t *testing.T) {
	for name, b := range map[string][]byte{
		"header cut":                inet4Datagram[:10],
		"message longer than bytes": inet4Datagram[:40],
		"length below header":       hx(`08000000 1400 0200 07000000 00000000`),
		"error without errno":       hx(`12000000 0200 0000 07000000 00000000 ffff`),
	} {
		_, _, _, err := collect(t, b)
		assert.ErrorIs(t, err, errTruncated, name)
	}

	// The messages themselves: a header whose length is shortened to cut the payload.
	cut := func(msg []byte, payload int) []byte {
		b := append([]byte{}, msg[:16+payload]...)
		b[0] = byte(16 + payload)
		return b
	}
	for name, tc := range map[string]struct {
		msg   []byte
		parse func([]byte) (Socket, error)
	}{
		"inet_diag_msg of 71 bytes":  {cut(inet4Datagram, 71), parseInetDiag},
		"inet attribute cut":         {cut(inet6Message, 72+4), parseInetDiag},
		"inet attribute header only": {cut(inet6Message, 72+2), parseInetDiag},
		"unix_diag_msg of 15 bytes":  {cut(unixMessage, 15), parseUnixDiag},
		"unix name cut":              {cut(unixMessage, 16+10), parseUnixDiag},
		"unix peer cut":              {cut(unixMessage, 16+16+6), parseUnixDiag},
	} {
		ps, _, _, err := collect(t, tc.msg)
		require.NoError(t, err, name)
		require.Len(t, ps, 1, name)
		_, err = tc.parse(ps[0])
		assert.ErrorIs(t, err, errTruncated, name)
	}

	// An attribute that claims fewer bytes than it carries: UNIX_DIAG_PEER of 2 bytes.
	short := hx(`
		28000000 1400 0200 07000000 00000000
		01 01 01 00  39300000  02000000 00000000
		0600 0200 3a30 0000`)
	ps, _, _, err := collect(t, short)
	require.NoError(t, err)
	_, err = parseUnixDiag(ps[0])
	assert.ErrorIs(t, err, errTruncated)
}

func TestParseWrongFamily(t *testing.T) {
	b := append([]byte{}, inet4Datagram[:16+72]...)
	b[16] = unix.AF_UNIX
	ps, _, _, err := collect(t, b)
	require.NoError(t, err)
	_, err = parseInetDiag(ps[0])
	assert.ErrorContains(t, err, "inet_diag_msg of family 1")
	_, err = parseUnixDiag(inet4Datagram[16 : 16+72])
	assert.ErrorContains(t, err, "unix_diag_msg of family 2")
}

func TestRequests(t *testing.T) {
	assert.Equal(t, hx(`
		48000000 1400 0103 07000000 00000000
		02 06 00 00  bfefffff
		0000 0000  00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
		00000000  ffffffff ffffffff`),
		inetDiagRequest(unix.AF_INET, unix.IPPROTO_TCP, tcpStatesWithInode, 7))
	assert.Equal(t, hx(`
		28000000 1400 0103 07000000 00000000
		01 00 0000  ffffffff  00000000  05000000  ffffffff ffffffff`),
		unixDiagRequest(7))
	assert.Equal(t, byte(unix.AF_INET6), tcp6.request(1)[16])
	assert.Equal(t, byte(unix.IPPROTO_UDP), udp6.request(1)[17])
	assert.Equal(t, allStates, uint32(0xffffffff))
}

func TestStateString(t *testing.T) {
	assert.Equal(t, "LISTEN", StateListen.String())
	assert.Equal(t, "ESTABLISHED", StateEstablished.String())
	assert.Equal(t, "State(0)", State(0).String())
	assert.Equal(t, "State(99)", State(99).String())
}
