//go:build capture

// This file regenerates the captures in testdata/ from franz-go's in-process broker (kfake) and
// franz-go's client (kgo), every connection through the recording proxy (see
// testdata/README.md). It is not part of the normal test run:
//
//	go test -tags capture -run TestCapture -v ./parser/kafka

package kafka

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/parser/internal/parsertest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCaptureKfake(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders-2024", "audit"))
	require.NoError(t, err)
	defer cluster.Close()
	rec := parsertest.NewRecorder(t, cluster.ListenAddrs()[0])
	defer rec.Close()
	// Every connection the client opens, to whatever broker, goes through the proxy.
	dial := kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, rec.Addr())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A producer: three records to orders-2024 acknowledged by all, one Produce each.
	p, err := kgo.NewClient(kgo.SeedBrokers(rec.Addr()), dial, kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1))
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, p.ProduceSync(ctx, &kgo.Record{Topic: "orders-2024", Value: []byte(fmt.Sprint("order ", i))}).FirstErr())
	}
	p.Close()
	writeAll(t, rec, "kgo_producer")

	// acks=0: no response to the Produce requests.
	p, err = kgo.NewClient(kgo.SeedBrokers(rec.Addr()), dial, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(0))
	require.NoError(t, err)
	for i := range 2 {
		require.NoError(t, p.ProduceSync(ctx, &kgo.Record{Topic: "audit", Value: []byte(fmt.Sprint("event ", i))}).FirstErr())
	}
	require.NoError(t, p.Flush(ctx))
	p.Close()
	writeAll(t, rec, "kgo_noack")

	// A consumer group reading the three orders, committing its offsets.
	c, err := kgo.NewClient(kgo.SeedBrokers(rec.Addr()), dial, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders-2024"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	require.NoError(t, err)
	got := 0
	for got < 3 {
		fs := c.PollFetches(ctx)
		require.NoError(t, ctx.Err())
		got += fs.NumRecords()
	}
	require.Equal(t, 3, got)
	require.NoError(t, c.CommitUncommittedOffsets(ctx))
	c.Close()
	writeAll(t, rec, "kgo_group")
}

// kcat (librdkafka) connects to the addresses the metadata names: the broker advertises the
// proxy's address, so that every connection goes through it.
func TestCaptureKcat(t *testing.T) {
	real, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rec := parsertest.NewRecorder(t, real.Addr().String())
	defer rec.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders-2024"),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return advertised{real, rec.Addr()}, nil }))
	require.NoError(t, err)
	defer cluster.Close()

	// kfake refuses the record batches of Debian's librdkafka (2.0.2) as corrupt (error 2).
	out := parsertest.Run(t, nil, "one\ntwo\n", "kcat", "-P", "-b", rec.Addr(), "-t", "orders-2024")
	require.Equal(t, 2, strings.Count(out, "Broker: Invalid message"))
	writeAll(t, rec, "kcat_producer")

	// Three records from kgo (not kept), which kcat then reads.
	p, err := kgo.NewClient(kgo.SeedBrokers(rec.Addr()), kgo.ProducerLinger(0))
	require.NoError(t, err)
	for _, v := range []string{"one", "two", "three"} {
		require.NoError(t, p.ProduceSync(context.Background(), &kgo.Record{Topic: "orders-2024", Value: []byte(v)}).FirstErr())
	}
	p.Close()
	rec.Take()
	out = parsertest.Run(t, nil, "", "kcat", "-C", "-b", rec.Addr(), "-t", "orders-2024", "-c", "3", "-e", "-q")
	require.Equal(t, "one\ntwo\nthree\n", out)
	writeAll(t, rec, "kcat_consumer")
}

// advertised is a listener whose address is another's.
type advertised struct {
	net.Listener
	addr string
}

func (a advertised) Addr() net.Addr {
	ap, _ := net.ResolveTCPAddr("tcp", a.addr)
	return ap
}

// writeAll writes every connection the recorder saw as name_<i>.
func writeAll(t *testing.T, rec *parsertest.Recorder, name string) {
	for i, cs := range rec.Take() {
		parsertest.WriteCapture(t, filepath.Join("testdata", fmt.Sprintf("%s_%d", name, i)), cs)
	}
}
