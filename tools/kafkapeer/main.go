// Command kafkapeer is both ends of Kafka traffic for the tests: franz-go's in-process broker
// (kfake) as a process of its own, and franz-go's client (kgo) producing or consuming a counted
// number of records, reporting every request it wrote and every response it read, per API, as
// the client itself counts them (kgo's broker hooks).
//
//	kafkapeer broker -listen ADDR -topics a,b       serve until SIGTERM; prints "ready"
//	kafkapeer produce -broker ADDR -topic T -n N [-acks all|leader|none]
//	kafkapeer consume -broker ADDR -topic T -n N
//
// produce sends the records one at a time, each waiting for its acknowledgement (none: for its
// write), so every record is one Produce request. Both print "requests API N" and "responses API
// N" lines, then "records N", and exit 1 on any error or after -timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: kafkapeer broker|produce|consume ...")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9092", "broker: `address` to listen on")
	topics := fs.String("topics", "", "broker: comma-separated topics to create, one partition each")
	broker := fs.String("broker", "127.0.0.1:9092", "client: broker `address`")
	topic := fs.String("topic", "", "client: the topic")
	n := fs.Int("n", 1, "client: records to produce or consume")
	acks := fs.String("acks", "all", "produce: all, leader or none")
	timeout := fs.Duration("timeout", 60*time.Second, "client: give up after `D`")
	fs.Parse(os.Args[2:])

	if os.Args[1] == "broker" {
		serve(*listen, *topics)
		return
	}
	c := &counts{req: map[int16]int{}, resp: map[int16]int{}}
	opts := []kgo.Opt{kgo.SeedBrokers(*broker), kgo.WithHooks(c), kgo.ProducerLinger(0)}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	records := 0
	switch os.Args[1] {
	case "produce":
		switch *acks {
		case "none":
			opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
		case "leader":
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
		}
		records, err = produce(ctx, opts, *topic, *n)
	case "consume":
		opts = append(opts, kgo.ConsumeTopics(*topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		records, err = consume(ctx, opts, *n)
	default:
		fail("unknown command " + os.Args[1])
	}
	c.print()
	fmt.Println("records", records)
	if err != nil {
		fail(err.Error())
	}
}

func serve(listen, topics string) {
	// kfake listens on 127.0.0.1; its listener function puts it on listen instead, which its
	// metadata then advertises.
	ln := func(network, _ string) (net.Listener, error) { return net.Listen(network, listen) }
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(ln), kfake.SeedTopics(1, strings.Split(topics, ",")...))
	if err != nil {
		fail(err.Error())
	}
	fmt.Println("ready", cluster.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	cluster.Close()
}

func produce(ctx context.Context, opts []kgo.Opt, topic string, n int) (int, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "record %d", i)}).FirstErr(); err != nil {
			return i, err
		}
	}
	return n, cl.Flush(ctx)
}

func consume(ctx context.Context, opts []kgo.Opt, n int) (int, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollRecords(ctx, n-got)
		if err := ctx.Err(); err != nil {
			return got, err
		}
		got += fs.NumRecords()
	}
	return got, nil
}

// counts are the requests written and responses read per API key, from kgo's hooks.
type counts struct {
	mu        sync.Mutex
	req, resp map[int16]int
}

func (c *counts) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		c.mu.Lock()
		c.req[key]++
		c.mu.Unlock()
	}
}

func (c *counts) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		c.mu.Lock()
		c.resp[key]++
		c.mu.Unlock()
	}
}

func (c *counts) print() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, side := range []struct {
		name string
		m    map[int16]int
	}{{"requests", c.req}, {"responses", c.resp}} {
		var keys []int
		for k := range side.m {
			keys = append(keys, int(k))
		}
		sort.Ints(keys)
		for _, k := range keys {
			fmt.Println(side.name, kmsg.NameForKey(int16(k)), side.m[int16(k)])
		}
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "kafkapeer:", msg)
	os.Exit(1)
}
