package libebpf

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/eventtest"
	"github.com/netobserver/netobserver/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEveryEventTypeRoundTrips(t *testing.T) {
	big := strings.Repeat("ab", 8192) // 16384 bytes
	trace := fmt.Sprintf(`# one of each kind, every field set to something recognisable
ctrl ts=1000 conn=7:4242:999 event=connect addr=10.1.2.3:8080 role=client
data ts=1001 conn=7:4242:999 dir=egress proto=http role=client type=request syscall=sendmsg addr=10.1.2.3:8080 pos=18 org=18 prepend=1 lenhdr=0x0a000001 "GET / HTTP/1.1\r\n\r\n"
data ts=1002 conn=7:4242:999 dir=ingress proto=http role=client type=response syscall=readv addr=[fd00::1]:443 pos=0 org=0
data ts=1003 conn=7:4242:999 dir=ingress proto=mysql role=server type=unknown syscall=recvfrom addr=unix pos=1 hex=ff
data ts=1004 conn=7:4242:999 dir=egress proto=redis role=unknown type=request syscall=write addr=unknown pos=16401 fill=16383:41
data ts=1005 conn=7:4242:999 dir=egress proto=pgsql role=client type=request syscall=writev addr=[::ffff:1.2.3.4]:5432 pos=90000 org=20000 "%s"
stats ts=1006 conn=7:4242:999 addr=10.1.2.3:8080 role=client wr=100 rd=200 wr_pkts=3 rd_pkts=4 last_wr=10 last_rd=20 last_wr_pkts=1 last_rd_pkts=2 events=1
lost which=data count=17
ctrl ts=1007 conn=7:4242:999 event=close wr=123456789012 rd=-5
`, big)
	r := openReplay(t, trace, Options{})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	got := collect(t, r.lib, 9)
	quiet(t, r.lib)

	id := abi.ConnID{FD: 7, TGID: 4242, Start: 999}
	connect := got[0].Ctrl
	require.NotNil(t, connect)
	assert.Equal(t, abi.EventConnect, connect.Type)
	assert.EqualValues(t, 1000, connect.TS)
	assert.Equal(t, id, connect.ConnID)
	assert.Equal(t, netip.MustParseAddrPort("10.1.2.3:8080"), connect.Addr.AddrPort())
	assert.Equal(t, abi.FamilyInet, connect.Addr.Family)
	assert.Equal(t, abi.RoleClient, connect.Role)

	type dataWant struct {
		ts      uint64
		dir     abi.Direction
		proto   abi.Protocol
		role    abi.Role
		typ     abi.MessageType
		sys     abi.Syscall
		addr    string
		pos     uint64
		org     uint32
		prepend bool
		lenhdr  uint32
		payload []byte
	}
	wants := []dataWant{
		{1001, abi.DirEgress, abi.ProtoHTTP, abi.RoleClient, abi.TypeRequest, abi.SyscallSendMsg, "10.1.2.3:8080", 18, 18, true, 0x0a000001, []byte("GET / HTTP/1.1\r\n\r\n")},
		{1002, abi.DirIngress, abi.ProtoHTTP, abi.RoleClient, abi.TypeResponse, abi.SyscallReadV, "[fd00::1]:443", 0, 0, false, 0, []byte{}},
		{1003, abi.DirIngress, abi.ProtoMySQL, abi.RoleServer, abi.TypeUnknown, abi.SyscallRecvFrom, "unix", 1, 1, false, 0, []byte{0xff}},
		{1004, abi.DirEgress, abi.ProtoRedis, abi.RoleUnknown, abi.TypeRequest, abi.SyscallWrite, "unknown", 16401, 16383, false, 0, bytes.Repeat([]byte{0x41}, 16383)},
		{1005, abi.DirEgress, abi.ProtoPGSQL, abi.RoleClient, abi.TypeRequest, abi.SyscallWriteV, "[::ffff:1.2.3.4]:5432", 90000, 20000, false, 0, []byte(big)},
	}
	for i, w := range wants {
		d := got[1+i].Data
		require.NotNil(t, d, "event %d", 1+i)
		assert.Equal(t, w.ts, d.TS, "ts of data %d", i)
		assert.Equal(t, id, d.ConnID)
		assert.Equal(t, w.dir, d.Direction, "data %d", i)
		assert.Equal(t, w.proto, d.Protocol, "data %d", i)
		assert.Equal(t, w.role, d.Role, "data %d", i)
		assert.Equal(t, w.typ, d.Type, "data %d", i)
		assert.Equal(t, w.sys, d.Syscall, "data %d", i)
		assert.Equal(t, w.addr, d.Addr.String(), "data %d", i)
		assert.Equal(t, w.pos, d.Pos, "data %d", i)
		assert.Equal(t, w.org, d.OrgMsgSize, "data %d", i)
		assert.EqualValues(t, len(w.payload), d.MsgBufSize, "data %d", i)
		assert.Equal(t, w.prepend, d.TryToPrepend, "data %d", i)
		assert.Equal(t, w.lenhdr, d.LengthHeader, "data %d", i)
		assert.True(t, bytes.Equal(w.payload, d.Payload), "payload of data %d: %d bytes, want %d", i, len(d.Payload), len(w.payload))
	}
	assert.Equal(t, abi.FamilyUnix, got[3].Data.Addr.Family)
	assert.Equal(t, abi.FamilyUnknown, got[4].Data.Addr.Family)
	assert.Equal(t, abi.FamilyInet6, got[5].Data.Addr.Family)

	s := got[6].Stats
	require.NotNil(t, s)
	assert.Equal(t, abi.StatsEvent{TS: 1006, ConnID: id, Addr: abi.SockAddrFrom(netip.MustParseAddrPort("10.1.2.3:8080")),
		Role: abi.RoleClient, WrBytes: 100, RdBytes: 200, WrPkts: 3, RdPkts: 4, LastWrBytes: 10, LastRdBytes: 20,
		LastWrPkts: 1, LastRdPkts: 2, ConnEvents: 1}, *s)

	require.NotNil(t, got[7].Lost)
	assert.Equal(t, abi.DataEvents, got[7].Lost.Which)
	assert.EqualValues(t, 17, got[7].Lost.Count)

	closing := got[8].Ctrl
	require.NotNil(t, closing)
	assert.Equal(t, abi.EventClose, closing.Type)
	assert.EqualValues(t, 1007, closing.TS)
	assert.EqualValues(t, 123456789012, closing.WrittenBytes())
	assert.EqualValues(t, -5, closing.ReadBytes())

	c := r.lib.Counters()
	assert.EqualValues(t, 2, c.Ctrl)
	assert.EqualValues(t, 5, c.Data)
	assert.EqualValues(t, 1, c.Stats)
	assert.EqualValues(t, 1, c.LostNotices)
	assert.EqualValues(t, 17, c.Lost[abi.DataEvents])
	assert.EqualValues(t, 18+0+1+16383+16384, c.PayloadBytes)
	assert.Contains(t, r.log.Text(), "INFO replay: loaded 9 trace entries")
}

// A million events through the whole path: none lost, none duplicated, order kept. The replay
// library's ts counts up by one per event, so ts identifies each one.
func TestMillionEventsArriveOnceInOrder(t *testing.T) {
	const n = 1_000_000
	r := openReplay(t, fmt.Sprintf("data repeat=%d ts=1 conn=3:77:5 dir=egress proto=http fill=200:2a\n", n), Options{})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	receiveInOrder(t, r.lib, n, 200, nil)
	quiet(t, r.lib)
	c := r.lib.Counters()
	assert.EqualValues(t, n, c.Data)
	assert.EqualValues(t, n*200, c.PayloadBytes)
	assert.Zero(t, c.BatchDrops)
}

// The consumer's own polls (PollNow, before each flush) race the poller's: every event still
// arrives once, in order. PollNow after Stop polls nothing.
func TestPollNowKeepsOrder(t *testing.T) {
	const n = 300_000
	r := openReplay(t, fmt.Sprintf("data repeat=%d ts=1 conn=3:77:5 dir=egress proto=http fill=64:2a\n", n), Options{MaxEventsPerPoll: 100})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	receiveInOrder(t, r.lib, n, 64, r.lib.PollNow)
	require.NoError(t, r.lib.Stop())
	polls := r.lib.Counters().Polls
	r.lib.PollNow()
	assert.Equal(t, polls, r.lib.Counters().Polls, "no poll after Stop")
	select {
	case b := <-r.lib.Events():
		t.Fatalf("a batch of %d events after the last one", b.Len())
	default:
	}
	c := r.lib.Counters()
	assert.EqualValues(t, n, c.Data)
	assert.Zero(t, c.PollErrors)
}

// receiveInOrder takes n data events of size bytes of 0x2a from lib, ts 1 to n, each once and in
// order, calling afterBatch (if any) after each batch is released.
func receiveInOrder(t *testing.T, lib *Library, n, size uint64, afterBatch func()) {
	t.Helper()
	next := uint64(1)
	deadline := time.After(60 * time.Second)
	for next <= n {
		select {
		case b := <-lib.Events():
			for i := range b.Data {
				d := &b.Data[i]
				if d.TS != next {
					t.Fatalf("event %d: got ts %d (lost, duplicated or reordered)", next, d.TS)
				}
				if d.Pos != next*size || uint64(len(d.Payload)) != size || d.Payload[0] != 0x2a || d.Payload[size-1] != 0x2a {
					t.Fatalf("event %d: pos %d, %d payload bytes", next, d.Pos, len(d.Payload))
				}
				next++
			}
			require.Equal(t, len(b.Data), b.Len(), "only data events in this trace")
			lib.Release(b)
			if afterBatch != nil {
				afterBatch()
			}
		case <-deadline:
			t.Fatalf("only %d of %d events in 60s", next-1, n)
		}
	}
}

// In steady state the hand-off allocates per batch at most, never per event.
func TestHandOffDoesNotAllocatePerEvent(t *testing.T) {
	const warm, n = 50_000, 400_000
	// Batches end where polls end, so a drain may overshoot its count by one batch: keep spare.
	r := openReplay(t, fmt.Sprintf("data repeat=%d ts=1 conn=3:77:5 dir=egress proto=http fill=200:2a\n", warm+n+10_000), Options{})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	drain := func(count int) {
		deadline := time.After(30 * time.Second)
		for seen := 0; seen < count; {
			select {
			case b := <-r.lib.Events():
				seen += b.Len()
				r.lib.Release(b)
			case <-deadline:
				t.Fatalf("only %d of %d events in 30s", seen, count)
			}
		}
	}
	drain(warm)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	drain(n)
	runtime.ReadMemStats(&after)
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d allocations for %d events", mallocs, n)
	assert.Less(t, mallocs, uint64(n/100), "allocations must not grow with events")
}

func TestStopFlagEndsPoll(t *testing.T) {
	r := openReplay(t, "data conn=1:2:3 dir=egress proto=http \"x\"\n", Options{})
	b := new(abi.Batch)
	assert.EqualValues(t, -22, r.lib.pollOnce(b, 100), "polling before ebpf_start is refused")
	r.lib.c.stop_flag = 1
	assert.EqualValues(t, -100, r.lib.pollOnce(b, 100))
	assert.Zero(t, b.Len())
	r.lib.c.stop_flag = 0
}

func TestMaxEventsPerPollIsHonoured(t *testing.T) {
	r := openReplay(t, "data repeat=10 conn=1:2:3 dir=egress proto=http \"x\"\n", Options{})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.startLibrary())
	b := new(abi.Batch)
	assert.EqualValues(t, 4, r.lib.pollOnce(b, 4))
	assert.Equal(t, 4, len(b.Data))
	assert.EqualValues(t, 4, r.lib.pollOnce(b, 4))
	assert.EqualValues(t, 2, r.lib.pollOnce(b, 4))
	assert.Equal(t, 2, len(b.Data))
	assert.EqualValues(t, 0, r.lib.pollOnce(b, 4))
}

func TestStartTwiceStopTwiceCloseTwice(t *testing.T) {
	r := openReplay(t, "data repeat=300000 ts=1 conn=3:77:5 dir=egress proto=http fill=10:2a\n", Options{MaxEventsPerPoll: 100})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	first := collect(t, r.lib, 1000)
	require.NoError(t, r.lib.Start(), "a reload calls ebpf_start again")
	first = append(first, stopReading(t, r.lib)...)
	require.NoError(t, r.lib.Stop())
	require.NoError(t, r.lib.Start())

	// Whatever was polled before the stop came, and delivery goes on where it stopped: one
	// poller, in order, without loss or repetition.
	var tss []uint64
	for _, e := range first {
		tss = append(tss, e.Data.TS)
	}
	for len(tss) < 300000 {
		for _, e := range collect(t, r.lib, 1) {
			tss = append(tss, e.Data.TS)
		}
	}
	for i, ts := range tss {
		require.EqualValues(t, i+1, ts, "event %d", i)
	}
	require.NoError(t, r.lib.Close())
	require.NoError(t, r.lib.Close())
	_, open := <-r.lib.Events()
	assert.False(t, open, "Close closes Events")
	assert.ErrorIs(t, r.lib.Start(), errClosed)
	assert.ErrorIs(t, r.lib.SetSampling(50), errClosed)
	assert.Equal(t, []string{"init btf=- so=" + r.lib.Path() + " offsets=ok", "config opt=0 opt2=0 value=-1 len=4",
		"start", "start", "detach", "stop", "start", "stop"}, r.calls(t), "Close does not wait for a consumer")
}

// Without netobserver_detach (as with Alibaba's library) the library goes on producing until
// ebpf_stop: Stop polls until a short poll, so everything it held before reaches the consumer.
func TestStopDrainsALibraryWithoutDetach(t *testing.T) {
	const n = 20000
	r := openReplay(t, fmt.Sprintf("data repeat=%d ts=1 conn=3:77:5 dir=egress proto=http \"x\"\n", n),
		Options{Path: testenv.BuiltFile(t, "test/libebpf-replay-noproc.so"), MaxEventsPerPoll: 100})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	got := append(collect(t, r.lib, 1000), stopReading(t, r.lib)...)
	require.Len(t, got, n)
	for i, e := range got {
		require.EqualValues(t, i+1, e.Data.TS, "event %d", i)
	}
	assert.NotContains(t, r.calls(t), "detach")
}

// With netobserver_detach the library stops producing first (the replay trace pauses), then Stop
// polls until a poll returns nothing, then calls ebpf_stop.
func TestStopDetachesThenDrains(t *testing.T) {
	r := openReplay(t, "data repeat=20000 ts=1 conn=3:77:5 dir=egress proto=http \"x\"\n", Options{MaxEventsPerPoll: 100})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	got := append(collect(t, r.lib, 1000), stopReading(t, r.lib)...)
	assert.Less(t, len(got), 20000, "the trace paused at the detach")
	for i, e := range got {
		require.EqualValues(t, i+1, e.Data.TS, "event %d", i)
	}
	calls := r.calls(t)
	assert.Equal(t, []string{"start", "detach", "stop"}, calls[len(calls)-3:])
}

func TestOpenErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NETOBSERVER_REPLAY_TRACE", filepath.Join(dir, "none"))

	missing := filepath.Join(dir, "nope", "libebpf.so")
	_, err := Open(Options{Path: missing})
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)

	lib := testenv.BuiltFile(t, "test/libebpf-missing-symbol.so")
	_, err = Open(Options{Path: lib})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "symbol ebpf_get_next_key not found in "+lib)

	text := filepath.Join(dir, "libebpf.so")
	require.NoError(t, os.WriteFile(text, []byte("not a library\n"), 0o644))
	_, err = Open(Options{Path: text})
	require.Error(t, err)
	assert.Contains(t, err.Error(), text+" is not an ELF shared library")

	// A real library, but for another machine: patch e_machine (offset 18) to AArch64.
	so, err := os.ReadFile(testenv.BuiltFile(t, "libebpf-replay.so"))
	require.NoError(t, err)
	so[18], so[19] = 183, 0
	foreign := filepath.Join(dir, "libebpf-arm64.so")
	require.NoError(t, os.WriteFile(foreign, so, 0o644))
	_, err = Open(Options{Path: foreign})
	require.Error(t, err)
	assert.Contains(t, err.Error(), foreign+" is built for EM_AARCH64")

	exe, err := os.Executable() // the test binary: an executable, not a library
	require.NoError(t, err)
	_, err = Open(Options{Path: exe})
	require.Error(t, err)
	assert.Regexp(t, "is (an|a position-independent) executable, not a shared library", err.Error())

	// The library loads but its init fails: the error says so and the library said why.
	sink := &eventtest.Log{}
	_, err = Open(Options{Path: testenv.BuiltFile(t, "libebpf-replay.so"), Logger: slog.New(sink)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ebpf_init of")
	assert.Contains(t, sink.Text(), "cannot open trace "+filepath.Join(dir, "none"))
}

func TestBadTraceLineIsReported(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "bad.trace")
	require.NoError(t, os.WriteFile(trace, []byte("ctrl conn=1:2:3 event=connect\ndata conn=1:2:3 colour=blue\n"), 0o644))
	t.Setenv("NETOBSERVER_REPLAY_TRACE", trace)
	sink := &eventtest.Log{}
	_, err := Open(Options{Path: testenv.BuiltFile(t, "libebpf-replay.so"), Logger: slog.New(sink)})
	require.Error(t, err)
	assert.Contains(t, sink.Text(), "WARN replay: "+trace+":2: unknown key 'colour'")
}

func TestLoaderSearchFindsLibrary(t *testing.T) {
	// No explicit path and nothing beside the test binary: the dynamic loader's search finds it
	// through LD_LIBRARY_PATH, and the layer reports the file it really loaded. LD_LIBRARY_PATH is
	// read once at process start, so the search runs in a child process: this test, re-executed.
	if os.Getenv("NETOBSERVER_SEARCH_CHILD") == "1" {
		r := &replay{log: &eventtest.Log{}}
		lib, err := Open(Options{Logger: slog.New(r.log)})
		require.NoError(t, err)
		fmt.Println("LOADED", lib.Path())
		require.NoError(t, lib.Close())
		return
	}
	dir := t.TempDir()
	so, err := os.ReadFile(testenv.BuiltFile(t, "libebpf-replay.so"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), so, 0o755))
	trace := filepath.Join(dir, "t")
	require.NoError(t, os.WriteFile(trace, nil, 0o644))
	out, err := runSelf(t, "TestLoaderSearchFindsLibrary",
		"NETOBSERVER_SEARCH_CHILD=1", "LD_LIBRARY_PATH="+dir, "NETOBSERVER_REPLAY_TRACE="+trace)
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, "LOADED "+filepath.Join(dir, FileName))
}

func TestStubCallsReachTheLibrary(t *testing.T) {
	r := openReplay(t, "", Options{})
	lib := r.lib
	id := abi.ConnID{FD: 9, TGID: 1234, Start: 0x1122334455667788}
	v4 := abi.SockAddrFrom(netip.MustParseAddrPort("192.0.2.7:5432"))
	v6 := abi.SockAddrFrom(netip.MustParseAddrPort("[2001:db8::42]:443"))
	require.NoError(t, lib.UpdateConnAddr(id, v4, 8080, true))
	require.NoError(t, lib.UpdateConnAddr(id, v6, 0, false))
	require.NoError(t, lib.UpdateConnRole(id, abi.RoleServer))
	require.NoError(t, lib.DisableProcess(4321))
	require.NoError(t, lib.EnableProcess(4321))
	assert.Error(t, lib.DisableProcess(0))
	assert.Error(t, lib.UpdateConnRole(id, abi.Role(3)))
	var ids []abi.ConnID
	for i := range 130 {
		ids = append(ids, abi.ConnID{FD: int32(i), TGID: 77, Start: uint64(i) * 10})
	}
	require.NoError(t, lib.DeleteConnections(ids))
	require.NoError(t, lib.SetProcessFilter(99))
	require.NoError(t, lib.SetSelfFilter(int32(os.Getpid())))
	require.NoError(t, lib.SetPortFilter(80))
	require.NoError(t, lib.SetSampling(37))
	require.NoError(t, lib.SetBufferPages(abi.DataEvents, 512))
	require.NoError(t, lib.SetProtocolFilter(abi.ProtocolsOf(abi.ProtoHTTP, abi.ProtoDNS, abi.ProtoPGSQL)))

	idList := func(from, to int) string {
		var parts []string
		for i := from; i < to; i++ {
			parts = append(parts, fmt.Sprintf("%d:77:%d", i, i*10))
		}
		return strings.Join(parts, ",")
	}
	v4Bytes, v6Bytes := v4.Bytes(), v6.Bytes()
	assert.Equal(t, "0200"+"1538"+"c0000207"+strings.Repeat("00", 20), hex.EncodeToString(v4Bytes[:]))
	assert.Equal(t, "0a00"+"01bb"+"00000000"+"20010db8000000000000000000000042"+"00000000", hex.EncodeToString(v6Bytes[:]))
	assert.Equal(t, []string{
		"init btf=- so=" + lib.Path() + " offsets=ok",
		"update_conn_addr conn=9:1234:1234605616436508552 addr=" + hex.EncodeToString(v4Bytes[:]) + " local_port=8080 drop=1",
		"update_conn_addr conn=9:1234:1234605616436508552 addr=" + hex.EncodeToString(v6Bytes[:]) + " local_port=0 drop=0",
		"update_conn_role conn=9:1234:1234605616436508552 role=4",
		"disable_process pid=4321 drop=0",
		"disable_process pid=4321 drop=1",
		"delete_map_value count=64", "cleanup_dog count=64 ids=" + idList(0, 64),
		"delete_map_value count=64", "cleanup_dog count=64 ids=" + idList(64, 128),
		"delete_map_value count=2", "cleanup_dog count=2 ids=" + idList(128, 130),
		"config opt=1 opt2=0 value=99 len=4",
		fmt.Sprintf("config opt=2 opt2=0 value=%d len=4", os.Getpid()),
		"config opt=3 opt2=0 value=80 len=4",
		"config opt=4 opt2=0 value=37 len=4",
		"config opt=5 opt2=1 value=512 len=4",
		"config opt=0 opt2=0 value=37 len=4",
	}, r.calls(t))
	assert.Equal(t, r.lib.StubOffsets(), stubSymbolValues(t, lib.Path()), "offsets are the ELF symbol values")
}

func TestConfigValuesAreChecked(t *testing.T) {
	r := openReplay(t, "", Options{})
	for name, err := range map[string]error{
		"sampling 101":  r.lib.SetSampling(101),
		"sampling -1":   r.lib.SetSampling(-1),
		"pages 3":       r.lib.SetBufferPages(abi.DataEvents, 3),
		"pages 0":       r.lib.SetBufferPages(abi.CtrlEvents, 0),
		"stream 7":      r.lib.SetBufferPages(7, 8),
		"protocols 512": r.lib.SetProtocolFilter(512),
		"protocols -2":  r.lib.SetProtocolFilter(-2),
		"pid -2":        r.lib.SetProcessFilter(-2),
		"port 70000":    r.lib.SetPortFilter(70000),
		"self -3":       r.lib.SetSelfFilter(-3),
	} {
		assert.Error(t, err, name)
	}
	assert.Equal(t, []string{"init btf=- so=" + r.lib.Path() + " offsets=ok"}, r.calls(t), "nothing invalid reaches the library")
}

func TestConnectionMapWalk(t *testing.T) {
	r := openReplay(t, `ctrl conn=3:100:1 event=connect addr=10.0.0.1:80 role=client
ctrl conn=4:100:2 event=connect addr=10.0.0.1:80 role=client
data conn=5:200:3 dir=egress proto=http "x"
ctrl conn=3:100:1 event=close
`, Options{})
	require.NoError(t, r.lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, r.lib.Start())
	collect(t, r.lib, 4)
	keys, err := r.lib.ConnectionKeys()
	require.NoError(t, err)
	assert.ElementsMatch(t, []abi.ConnKey{{TGID: 100, FD: 4}, {TGID: 200, FD: 5}}, keys)

	require.NoError(t, r.lib.DeleteConnections([]abi.ConnID{{FD: 5, TGID: 200}}))
	keys, err = r.lib.ConnectionKeys()
	require.NoError(t, err)
	assert.Equal(t, []abi.ConnKey{{TGID: 100, FD: 4}}, keys)
}

// The replay library honours what the stubs ask of the kernel side, so the layers above can be
// tested against it: a disabled process goes silent until enabled, a dropped connection loses data
// but keeps stats, an address or role set from user space shows in later events, and an address
// for an untracked connection starts tracking it with an EventConnect.
func TestStubsChangeReplayState(t *testing.T) {
	r := openReplay(t, `ctrl ts=1 conn=3:100:1 event=connect addr=10.0.0.1:80 role=unknown
ctrl ts=2 conn=4:200:1 event=connect addr=10.0.0.2:80 role=client
data ts=3 conn=3:100:1 dir=ingress proto=http "GET / HTTP/1.1\r\n\r\n"
data ts=4 conn=4:200:1 dir=egress proto=http "GET / HTTP/1.1\r\n\r\n"
stats ts=5 conn=4:200:1 wr=18
data ts=6 conn=9:300:60 dir=egress proto=redis "*1\r\n$4\r\nPING\r\n"
stats ts=7 conn=9:300:60 wr=14
`, Options{})
	lib := r.lib
	require.NoError(t, lib.SetProtocolFilter(abi.AllProtocols))
	require.NoError(t, lib.startLibrary())
	b := new(abi.Batch)
	require.EqualValues(t, 2, lib.pollOnce(b, 2))
	require.Len(t, b.Ctrl, 2)
	server := b.Ctrl[0].ConnID

	require.NoError(t, lib.UpdateConnRole(server, abi.RoleServer))
	require.NoError(t, lib.DisableProcess(200))
	resolver := abi.ConnID{FD: 8, TGID: 300, Start: 50}
	require.NoError(t, lib.UpdateConnAddr(resolver, abi.SockAddrFrom(netip.MustParseAddrPort("10.9.9.9:53")), 0, false))
	require.NoError(t, lib.UpdateConnAddr(abi.ConnID{FD: 9, TGID: 300, Start: 60}, abi.SockAddrFrom(netip.MustParseAddrPort("127.0.0.1:6379")), 0, true))

	var rec eventtest.Events
	require.EqualValues(t, 3, lib.pollOnce(b, 100))
	b.Visit(&rec)
	require.Len(t, rec, 3)
	connect := rec[0].Ctrl
	require.NotNil(t, connect)
	assert.Equal(t, resolver, connect.ConnID)
	assert.Equal(t, "10.9.9.9:53", connect.Addr.String())
	assert.Equal(t, abi.RoleUnknown, connect.Role)
	data := rec[1].Data
	require.NotNil(t, data)
	assert.EqualValues(t, 3, data.TS)
	assert.Equal(t, abi.RoleServer, data.Role)
	stats := rec[2].Stats
	require.NotNil(t, stats)
	assert.EqualValues(t, 7, stats.TS)
	assert.Equal(t, "127.0.0.1:6379", stats.Addr.String(), "dropped: data silenced, stats kept, address updated")
	assert.EqualValues(t, 14, stats.WrBytes)
}

// stubSymbolValues reads the ELF symbol values of the four stubs, which is what iLogtail's
// dladdr arithmetic yields for a normal shared library.
func stubSymbolValues(t *testing.T, path string) [4]int64 {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	var out [4]int64
	for i, name := range []string{"ebpf_cleanup_dog", "ebpf_update_conn_addr", "ebpf_disable_process", "ebpf_update_conn_role"} {
		for _, s := range syms {
			if s.Name == name {
				out[i] = int64(s.Value)
			}
		}
		require.NotZero(t, out[i], "%s not in %s", name, path)
	}
	return out
}

func TestProtocolSetHas(t *testing.T) {
	s := abi.ProtocolsOf(abi.ProtoHTTP, abi.ProtoPGSQL)
	assert.EqualValues(t, 0b100001, s)
	for p := abi.ProtoUnknown; p <= abi.ProtoNATS+1; p++ {
		assert.Equal(t, p == abi.ProtoHTTP || p == abi.ProtoPGSQL, s.Has(p), p.String())
		assert.Equal(t, p.Known(), abi.AllProtocols.Has(p), p.String())
		assert.False(t, abi.NoProtocols.Has(p), p.String())
	}
}

func TestShortPollSleep(t *testing.T) {
	o := Options{PollInterval: 10 * time.Millisecond, IdleInterval: 40 * time.Millisecond}
	for _, tc := range []struct {
		got     int
		elapsed time.Duration
		want    time.Duration
	}{
		{0, 10 * time.Millisecond, 40 * time.Millisecond},      // nothing: as long as an idle poll
		{1, 10 * time.Millisecond, 40 * time.Millisecond},      // a trickle: capped
		{200, 10 * time.Millisecond, 25600 * time.Microsecond}, // 20k events/s: 512 in 25.6 ms
		{512, 20 * time.Millisecond, 20 * time.Millisecond},    // 25.6k events/s
		{1100, 10 * time.Millisecond, 10 * time.Millisecond},   // busy: PollInterval
		{3000, 40 * time.Millisecond, 10 * time.Millisecond},   // full polls after a long sleep: back to PollInterval
	} {
		assert.Equal(t, tc.want, o.shortPollSleep(tc.got, tc.elapsed, 512), "got %d in %v", tc.got, tc.elapsed)
	}
}
