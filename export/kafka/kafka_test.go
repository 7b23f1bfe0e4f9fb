// The tests run against kfake, franz-go's in-process fake Kafka cluster: no Kafka broker package
// is reachable in this build environment, so the client library's own cluster, which speaks the
// Kafka wire protocol over real TCP sockets, stands in for a broker. A broker outage is a kfake
// cluster closed; the broker coming back is a new kfake cluster on the same port.
package kafka

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/netobserver/netobserver/record"
)

const topic = "netobserver"

var pctx = record.Context{ConfigName: "config#/etc/netobserver/demo.yaml"}

func rec(t uint32, kv ...string) record.Record {
	r := record.Record{Time: t}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
	return r
}

// numbered returns n records whose "seq" field counts from first.
func numbered(first, n int) []record.Record {
	out := make([]record.Record, n)
	for i := range out {
		out[i] = rec(1700000000+uint32(first+i), "type", "statistics", "seq", strconv.Itoa(first+i))
	}
	return out
}

func numberedValue(i int) string {
	return `{"Time":` + strconv.Itoa(1700000000+i) + `,"Contents":[{"Key":"type","Value":"statistics"},{"Key":"seq","Value":"` + strconv.Itoa(i) + `"}]}`
}

// newCluster starts a one-broker kfake cluster with the topic in one partition, on port (0: any).
func newCluster(t *testing.T, port int) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, topic)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	var c *kfake.Cluster
	var err error
	// A port just given up can take a moment to be free again.
	require.Eventually(t, func() bool {
		c, err = kfake.NewCluster(opts...)
		return err == nil
	}, 5*time.Second, 50*time.Millisecond, "starting kfake: %v", err)
	t.Cleanup(c.Close)
	return c
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

// testConfig has short network timeouts so an outage is noticed quickly.
func testConfig(brokers []string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = brokers
	cfg.Topic = topic
	cfg.Timeout = time.Second
	cfg.BrokerTimeout = time.Second
	return cfg
}

// consume reads exactly n records of the topic from the start, failing on more.
func consume(t *testing.T, brokers []string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	var out []*kgo.Record
	poll := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Errorf("consume: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		poll(time.Until(deadline))
	}
	require.Len(t, out, n, "records on the topic")
	poll(200 * time.Millisecond)
	require.Len(t, out, n, "no more records than expected")
	return out
}

func values(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

// checkNoGoroutineLeak waits for the goroutine count to come back to base and fails if it does
// not. It polls in the test's goroutine: assert.Eventually would add one of its own.
func checkNoGoroutineLeak(t *testing.T, base int) {
	t.Helper()
	n := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Errorf("goroutine leak: %d now, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
}

func TestValuesArriveExactAndInOrder(t *testing.T) {
	c := newCluster(t, 0)
	f, err := New(pctx, testConfig(c.ListenAddrs()))
	require.NoError(t, err)

	require.NoError(t, f.Flush([]record.Record{
		rec(1661417038, "type", "protocols", "protocol", "http", "url", "/a?b=<c>&d",
			"remote_info", "{\"remote_ip\":\"10.0.0.1\",\"remote_port\":\"80\"}\n"),
		rec(1661417039, "esc", "q\"\\\x01\b\f\t é\xff\u2028"),
		rec(1661417040),
	}))
	require.NoError(t, f.Flush(numbered(0, 50)))
	require.NoError(t, f.Close())
	assert.Equal(t, Stats{Produced: 53}, f.Stats())

	got := values(consume(t, c.ListenAddrs(), 53))
	want := []string{
		`{"Time":1661417038,"Contents":[{"Key":"type","Value":"protocols"},{"Key":"protocol","Value":"http"},` +
			`{"Key":"url","Value":"/a?b=\u003cc\u003e\u0026d"},` +
			`{"Key":"remote_info","Value":"{\"remote_ip\":\"10.0.0.1\",\"remote_port\":\"80\"}\n"}]}`,
		`{"Time":1661417039,"Contents":[{"Key":"esc","Value":"q\"\\\u0001\u0008\u000c\t é\ufffd\u2028"}]}`,
		`{"Time":1661417040}`,
	}
	for i := range 50 {
		want = append(want, numberedValue(i))
	}
	assert.Equal(t, want, got)
}

func TestCompressionAndAcks(t *testing.T) {
	for _, tc := range []struct {
		compression string
		acks        int
		codec       uint8 // RecordAttrs.CompressionType
	}{
		{"none", 1, 0}, {"gzip", 1, 1}, {"snappy", 1, 2}, {"LZ4", 1, 3}, {"zstd", 1, 4},
		{"none", -1, 0}, {"none", 0, 0}, {"", 1, 0},
	} {
		t.Run(tc.compression+"/acks="+strconv.Itoa(tc.acks), func(t *testing.T) {
			c := newCluster(t, 0)
			cfg := testConfig(c.ListenAddrs())
			cfg.Compression = tc.compression
			cfg.RequiredACKs = tc.acks
			f, err := New(pctx, cfg)
			require.NoError(t, err)
			require.NoError(t, f.Flush(numbered(0, 20)))
			require.NoError(t, f.Close())
			assert.Equal(t, Stats{Produced: 20}, f.Stats())
			rs := consume(t, c.ListenAddrs(), 20)
			for i, r := range rs {
				require.Equal(t, numberedValue(i), string(r.Value))
				require.Equal(t, tc.codec, r.Attrs.CompressionType())
			}
		})
	}
}

// TestBrokerDownThenBack is the outage: the queue stays bounded, drops are counted exactly, Flush
// stays fast, nothing crashes, and the queued records arrive in order once the broker is back.
func TestBrokerDownThenBack(t *testing.T) {
	base := runtime.NumGoroutine()
	c1 := newCluster(t, 0)
	addrs := c1.ListenAddrs()
	port := portOf(t, addrs[0])

	cfg := testConfig(addrs)
	cfg.QueueSize = 5
	cfg.CloseTimeout = 10 * time.Second
	f, err := New(pctx, cfg)
	require.NoError(t, err)

	require.NoError(t, f.Flush(numbered(0, 3)))
	require.Eventually(t, func() bool { return f.Stats().Produced == 3 }, 10*time.Second, 10*time.Millisecond)

	c1.Close() // the broker goes away

	start := time.Now()
	err = f.Flush(numbered(3, 8))
	took := time.Since(start)
	require.ErrorIs(t, err, ErrQueueFull)
	assert.Contains(t, err.Error(), "3 of 8 records dropped")
	assert.Less(t, took, 500*time.Millisecond, "Flush must not wait for the broker")
	assert.Equal(t, Stats{Produced: 3, Dropped: 3, Queued: 5}, f.Stats())

	// Full queue: a whole batch is dropped, still fast.
	start = time.Now()
	require.ErrorIs(t, f.Flush(numbered(100, 4)), ErrQueueFull)
	assert.Less(t, time.Since(start), 500*time.Millisecond)

	// Let the client fail against the closed port for a while: records stay queued, none fail.
	time.Sleep(1500 * time.Millisecond)
	assert.Equal(t, Stats{Produced: 3, Dropped: 7, Queued: 5}, f.Stats())

	c2 := newCluster(t, port) // the broker is back, same address, empty log
	require.Eventually(t, func() bool { return f.Stats().Produced == 8 }, 20*time.Second, 20*time.Millisecond,
		"queued records delivered after the broker came back: %+v", f.Stats())
	assert.Equal(t, Stats{Produced: 8, Dropped: 7, Queued: 0}, f.Stats())

	// New records flow again.
	require.NoError(t, f.Flush(numbered(200, 2)))
	require.NoError(t, f.Close())
	assert.Equal(t, Stats{Produced: 10, Dropped: 7}, f.Stats())

	want := []string{numberedValue(3), numberedValue(4), numberedValue(5), numberedValue(6), numberedValue(7),
		numberedValue(200), numberedValue(201)}
	assert.Equal(t, want, values(consume(t, c2.ListenAddrs(), len(want))))

	c2.Close()
	checkNoGoroutineLeak(t, base)
}

// flakyListener is the listener of a kfake broker that the test can take down and bring back on
// the same port while the cluster, its topic IDs and its log live on: a broker restart with its
// storage intact. While down, the port refuses connections and the open ones are cut.
type flakyListener struct {
	addr net.Addr

	mu     sync.Mutex
	ln     net.Listener  // nil while down
	upCh   chan struct{} // closed while up
	conns  []net.Conn
	closed bool
}

func newFlakyListener(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	up := make(chan struct{})
	close(up)
	return &flakyListener{addr: ln.Addr(), ln: ln, upCh: up}, nil
}

func (l *flakyListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		ln, up, closed := l.ln, l.upCh, l.closed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if ln == nil {
			<-up
			continue
		}
		c, err := ln.Accept()
		if err != nil {
			continue // down, or closed: the loop sees which
		}
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
		return c, nil
	}
}

func (l *flakyListener) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.ln.Close()
	l.ln = nil
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
	l.upCh = make(chan struct{})
}

func (l *flakyListener) up(t *testing.T) {
	var ln net.Listener
	var err error
	require.Eventually(t, func() bool {
		ln, err = net.Listen("tcp", l.addr.String())
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "listen again: %v", err)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ln = ln
	close(l.upCh)
}

func (l *flakyListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.ln == nil {
		close(l.upCh)
		return nil
	}
	return l.ln.Close()
}

func (l *flakyListener) Addr() net.Addr { return l.addr }

// TestBrokerRestart is an outage of a broker that keeps its log: the queued records are appended
// after the ones delivered before the outage.
func TestBrokerRestart(t *testing.T) {
	base := runtime.NumGoroutine()
	var fl *flakyListener
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			ln, err := newFlakyListener(network, address)
			if err == nil {
				fl = ln.(*flakyListener)
			}
			return ln, err
		}))
	require.NoError(t, err)
	defer c.Close()

	cfg := testConfig(c.ListenAddrs())
	cfg.QueueSize = 5
	f, err := New(pctx, cfg)
	require.NoError(t, err)
	require.NoError(t, f.Flush(numbered(0, 3)))
	require.Eventually(t, func() bool { return f.Stats().Produced == 3 }, 10*time.Second, 10*time.Millisecond)

	fl.down()
	start := time.Now()
	require.ErrorIs(t, f.Flush(numbered(3, 8)), ErrQueueFull)
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	assert.Equal(t, Stats{Produced: 3, Dropped: 3, Queued: 5}, f.Stats())
	time.Sleep(1500 * time.Millisecond)
	assert.Equal(t, Stats{Produced: 3, Dropped: 3, Queued: 5}, f.Stats(), "no record fails during the outage")

	fl.up(t)
	require.Eventually(t, func() bool { return f.Stats().Produced == 8 }, 20*time.Second, 20*time.Millisecond,
		"delivery resumes: %+v", f.Stats())
	require.NoError(t, f.Close())
	assert.Equal(t, Stats{Produced: 8, Dropped: 3}, f.Stats())

	var want []string
	for i := range 8 {
		want = append(want, numberedValue(i))
	}
	assert.Equal(t, want, values(consume(t, c.ListenAddrs(), 8)))
	c.Close()
	checkNoGoroutineLeak(t, base)
}

// TestCloseWhileBrokerDown: Close gives up after CloseTimeout and reports what was lost.
func TestCloseWhileBrokerDown(t *testing.T) {
	base := runtime.NumGoroutine()
	c := newCluster(t, 0)
	cfg := testConfig(c.ListenAddrs())
	cfg.QueueSize = 10
	cfg.CloseTimeout = 300 * time.Millisecond
	f, err := New(pctx, cfg)
	require.NoError(t, err)
	require.NoError(t, f.Flush(numbered(0, 2)))
	require.Eventually(t, func() bool { return f.Stats().Produced == 2 }, 10*time.Second, 10*time.Millisecond)
	c.Close()

	require.NoError(t, f.Flush(numbered(2, 4)))
	start := time.Now()
	err = f.Close()
	took := time.Since(start)
	require.ErrorIs(t, err, ErrUndelivered)
	assert.Contains(t, err.Error(), "4 records still queued")
	assert.Less(t, took, 3*time.Second)
	assert.Equal(t, Stats{Produced: 2, Failed: 4}, f.Stats(), "every queued record accounted for")

	err = f.Flush(numbered(6, 3))
	require.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, Stats{Produced: 2, Failed: 4, Dropped: 3}, f.Stats())
	require.NoError(t, f.Close(), "second Close is a no-op")
	checkNoGoroutineLeak(t, base)
}

// TestNoBrokerEver: brokers that were never there; Flush stays fast and bounded.
func TestNoBrokerEver(t *testing.T) {
	base := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg := testConfig([]string{addr})
	cfg.QueueSize = 100
	cfg.CloseTimeout = 100 * time.Millisecond
	f, err := New(pctx, cfg)
	require.NoError(t, err)
	start := time.Now()
	for i := range 10 {
		err := f.Flush(numbered(i*100, 100))
		if i == 0 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ErrQueueFull)
		}
	}
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, Stats{Dropped: 900, Queued: 100}, f.Stats())
	require.ErrorIs(t, f.Close(), ErrUndelivered)
	assert.Equal(t, Stats{Dropped: 900, Failed: 100}, f.Stats())
	checkNoGoroutineLeak(t, base)
}

func TestTooLargeRecordsFail(t *testing.T) {
	c := newCluster(t, 0)
	cfg := testConfig(c.ListenAddrs())
	cfg.MaxMessageBytes = 1000
	f, err := New(pctx, cfg)
	require.NoError(t, err)
	big := rec(5, "sql", strings.Repeat("x", 1000))
	err = f.Flush([]record.Record{numbered(0, 1)[0], big, numbered(1, 1)[0]})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "1 of 3 records larger than MaxMessageBytes (1000) not sent")
	require.NoError(t, f.Close())
	assert.Equal(t, Stats{Produced: 2, Failed: 1}, f.Stats())
	assert.Equal(t, []string{numberedValue(0), numberedValue(1)}, values(consume(t, c.ListenAddrs(), 2)))
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no brokers", func(c *Config) { c.Brokers = nil }, "Brokers is required"},
		{"blank brokers", func(c *Config) { c.Brokers = []string{" ", ""} }, "Brokers is required"},
		{"no topic", func(c *Config) { c.Topic = "" }, "Topic is required"},
		{"acks", func(c *Config) { c.RequiredACKs = 2 }, "RequiredACKs must be -1, 0 or 1, got 2"},
		{"compression", func(c *Config) { c.Compression = "brotli" }, `Compression must be none, gzip, snappy, lz4 or zstd, got "brotli"`},
		{"queue", func(c *Config) { c.QueueSize = -1 }, "QueueSize must not be negative"},
		{"max message", func(c *Config) { c.MaxMessageBytes = -1 }, "MaxMessageBytes must be between 0 (default) and 104857600, got -1"},
		{"timeout", func(c *Config) { c.Timeout = -time.Second }, "Timeout must not be negative"},
		{"close timeout", func(c *Config) { c.CloseTimeout = -time.Second }, "CloseTimeout must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig([]string{"127.0.0.1:9092"})
			tc.edit(&cfg)
			_, err := New(pctx, cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "flusher_kafka: "+tc.want)
		})
	}
}

func TestDefaults(t *testing.T) {
	assert.Equal(t, Config{
		RequiredACKs: 1, Compression: "none", ClientID: "LogtailPlugin", Timeout: 30 * time.Second,
		BrokerTimeout: 10 * time.Second, MaxMessageBytes: 1000000, QueueSize: 10000, CloseTimeout: 5 * time.Second,
	}, DefaultConfig())
	// Zero durations and sizes take the defaults rather than meaning "none".
	f, err := New(pctx, Config{Brokers: []string{"127.0.0.1:1"}, Topic: topic, RequiredACKs: 1})
	require.NoError(t, err)
	assert.Equal(t, int64(DefaultQueueSize), f.queueSize)
	assert.Equal(t, DefaultCloseTimeout, f.closeTimeout)
	assert.Equal(t, DefaultMaxMessageBytes, f.maxMessage)
	f.cl.Close()
}

func TestFlushAllocations(t *testing.T) {
	c := newCluster(t, 0)
	f, err := New(pctx, testConfig(c.ListenAddrs()))
	require.NoError(t, err)
	defer f.Close()
	batch := numbered(0, 100)
	require.NoError(t, f.Flush(batch))
	require.Eventually(t, func() bool { return f.Stats().Queued == 0 }, 10*time.Second, 10*time.Millisecond)
	// Records and their value buffers are recycled; what remains is kgo's own bookkeeping.
	allocs := testing.AllocsPerRun(20, func() {
		_ = f.Flush(batch)
		for f.Stats().Queued != 0 {
			time.Sleep(time.Millisecond)
		}
	})
	t.Logf("allocations per record, produce and delivery included: %.2f", allocs/float64(len(batch)))
}
