package libebpf

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/eventtest"
	"github.com/netobserver/netobserver/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A trace written from replayed events, replayed again, gives the same events: the writer and the
// replay library's reader agree on every field and every byte value.
func TestTraceWriterRoundTrips(t *testing.T) {
	var all bytes.Buffer
	for c := 0; c < 256; c++ {
		all.WriteByte(byte(c))
	}
	allHex := strings.Builder{}
	for _, c := range all.Bytes() {
		allHex.WriteString(hex.EncodeToString([]byte{c}))
	}
	original := `ctrl ts=5 conn=7:4242:999 event=connect addr=[fd00::7]:8080 role=server
data ts=6 conn=7:4242:999 dir=ingress proto=kafka role=server type=request syscall=recvmmsg addr=[::ffff:10.0.0.1]:9092 pos=300 org=400 prepend=1 lenhdr=0xdeadbeef hex=` + allHex.String() + `
data ts=7 conn=7:4242:999 dir=egress proto=7 role=6 type=2 syscall=13 addr=unknown pos=300 org=0
stats ts=8 conn=7:4242:999 addr=unix role=client wr=-1 rd=2 wr_pkts=3 rd_pkts=4 last_wr=5 last_rd=6 last_wr_pkts=7 last_rd_pkts=8 events=1
lost which=stats count=99
ctrl ts=9 conn=7:4242:999 event=close wr=10 rd=20
`
	first := replayAll(t, original, 6)
	written := eventtest.Trace(first...)
	second := replayAll(t, written, 6)
	assert.Equal(t, first, second, "trace:\n%s", written)
	assert.Equal(t, all.Bytes(), first[1].Data.Payload)
	assert.Contains(t, written, `data ts=7 conn=7:4242:999 dir=egress proto=mongo role=6 type=response syscall=13 addr=unknown pos=300 org=0`+"\n")
}

func replayAll(t *testing.T, trace string, n int) eventtest.Events {
	t.Helper()
	r := openReplay(t, trace, Options{})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	got := collect(t, r.lib, n)
	quiet(t, r.lib)
	require.NoError(t, r.lib.Close())
	return got
}

// Process events (the optional extension) go through the replay library and the writer
// unchanged, in their place among the other events; a library without the extension has none.
func TestProcessEventsRoundTrip(t *testing.T) {
	original := `proc ts=10 type=fork tgid=300 ppid=1 start=123000000000 comm="bash" cgparent="kubepods-burstable-pod0a1b2c3d_0000_1111_2222_333344445555.slice" cgleaf="cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope" args="bash\x00-c\x00x y\x00"
proc ts=11 type=exec tgid=300 ppid=1 start=123000000000 flags=2 cgroup_id=77 comm="cur\"l" args="" args_total=9000
ctrl ts=12 conn=3:300:12 event=connect addr=10.0.0.1:80 role=client
proc ts=13 type=exit tgid=300 ppid=1 start=123000000000 comm="curl" cgleaf="user.slice"
`
	first := replayAll(t, original, 4)
	require.NotNil(t, first[0].Proc)
	fork, exec := first[0].Proc, first[1].Proc
	assert.Equal(t, abi.ProcFork, fork.Type)
	assert.EqualValues(t, 300, fork.TGID)
	assert.EqualValues(t, 123000000000, fork.StartNS)
	assert.Equal(t, "bash\x00-c\x00x y\x00", string(fork.Cmdline()))
	assert.Equal(t, "/kubepods-burstable-pod0a1b2c3d_0000_1111_2222_333344445555.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope", fork.CgroupPath())
	assert.Equal(t, `cur"l`, exec.CommString())
	assert.Equal(t, abi.ProcArgsFailed, exec.Flags)
	assert.EqualValues(t, 9000, exec.ArgsTotal)
	assert.EqualValues(t, 77, exec.CgroupID)
	require.NotNil(t, first[2].Ctrl, "in file order")
	assert.Equal(t, "/user.slice", first[3].Proc.CgroupPath())

	written := eventtest.Trace(first...)
	assert.Equal(t, first, replayAll(t, written, 4), "trace:\n%s", written)

	r := openReplay(t, original, Options{Path: testenv.BuiltFile(t, "test/libebpf-replay-noproc.so")})
	assert.False(t, r.lib.ProcessEvents())
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	got := collect(t, r.lib, 1)
	require.NotNil(t, got[0].Ctrl, "only the socket event")
	quiet(t, r.lib)
}
