// Command natsclient is the accuracy tier's (make accuracy) NATS clients, written with the
// official Go client, nats.go. It reports what it did, as it counted it and as nats.go did.
//
//	natsclient serve -url URL -messages N -requests R -ready FILE
//	natsclient publish -url URL -messages N -headers H -requests R [-inflight 4] [-verbose]
//
// serve subscribes to acc.orders.* on one connection and answers requests on acc.svc.echo on
// another; once the server has both subscriptions it creates FILE, and it ends when N messages
// came and R requests were answered. publish publishes N messages to acc.orders.<i> on one
// connection, the last H of them with a header (HPUB), and makes R requests to acc.svc.echo on
// another, inflight at a time, each waiting for its answer. -verbose asks the server for +OK
// after every message. Both flush their connections before closing them (the server has had
// everything), then print "connections", their counts ("published", "published-headers",
// "requests"; "received", "received-headers", "answered") and nats.go's Statistics summed over
// their connections ("out_msgs", "in_msgs"), one "name N" a line. They exit 1 on any error,
// asynchronous ones included (a slow consumer), or when -timeout ends first.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: natsclient serve|publish ..."))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	url := fs.String("url", nats.DefaultURL, "the server's `URL`")
	messages := fs.Int("messages", 0, "messages to publish, or to receive")
	headers := fs.Int("headers", 0, "publish: how many of the messages carry a header")
	requests := fs.Int("requests", 0, "requests to make, or to answer")
	inflight := fs.Int("inflight", 4, "publish: requests in flight at once")
	verbose := fs.Bool("verbose", false, "ask the server for +OK after every message")
	ready := fs.String("ready", "", "serve: `file` to create once subscribed")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after `D`")
	fs.Parse(os.Args[2:])

	c := &client{url: *url, verbose: *verbose, deadline: time.Now().Add(*timeout), failed: make(chan error, 1)}
	var err error
	switch os.Args[1] {
	case "serve":
		err = c.serve(*messages, *requests, *ready)
	case "publish":
		err = c.publish(*messages, *headers, *requests, *inflight)
	default:
		err = errors.New("unknown command " + os.Args[1])
	}
	c.print()
	if err != nil {
		fail(err)
	}
}

type client struct {
	url      string
	verbose  bool
	deadline time.Time
	failed   chan error // the first asynchronous error
	conns    []*nats.Conn

	published, publishedHeaders, requests atomic.Int64
	received, receivedHeaders, answered   atomic.Int64
}

func (c *client) connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect(c.url, nats.Name(name), nats.NoReconnect(),
		func(o *nats.Options) error { o.Verbose = c.verbose; return nil },
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { c.fail(err) }))
	if err == nil {
		c.conns = append(c.conns, nc)
	}
	return nc, err
}

// fail keeps the first asynchronous error.
func (c *client) fail(err error) {
	select {
	case c.failed <- err:
	default:
	}
}

func (c *client) serve(messages, requests int, ready string) error {
	events, err := c.connect("acc-events")
	if err != nil {
		return err
	}
	svc, err := c.connect("acc-svc")
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(messages + requests))
	took := func() {
		if left.Add(-1) == 0 {
			close(done)
		}
	}
	_, err = events.Subscribe("acc.orders.*", func(m *nats.Msg) {
		if len(m.Header) > 0 {
			c.receivedHeaders.Add(1)
		} else {
			c.received.Add(1)
		}
		took()
	})
	if err != nil {
		return err
	}
	_, err = svc.Subscribe("acc.svc.echo", func(m *nats.Msg) {
		if err := m.Respond(m.Data); err != nil {
			c.fail(err)
			return
		}
		c.answered.Add(1)
		took()
	})
	if err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	if messages+requests > 0 {
		select {
		case <-done:
		case err := <-c.failed:
			return err
		case <-time.After(time.Until(c.deadline)):
			return fmt.Errorf("%d messages and %d requests of %d and %d after the timeout",
				c.received.Load()+c.receivedHeaders.Load(), c.answered.Load(), messages, requests)
		}
	}
	return c.close()
}

func (c *client) publish(messages, headers, requests, inflight int) error {
	pub, err := c.connect("acc-publish")
	if err != nil {
		return err
	}
	req, err := c.connect("acc-request")
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1+inflight)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range messages {
			m := &nats.Msg{Subject: "acc.orders." + strconv.Itoa(1000+i), Data: []byte("order " + strconv.Itoa(i))}
			counter := &c.published
			if i >= messages-headers {
				m.Header = nats.Header{"Order-Kind": []string{"express"}}
				counter = &c.publishedHeaders
			}
			if err := pub.PublishMsg(m); err != nil {
				errs <- err
				return
			}
			counter.Add(1)
		}
	}()
	var next atomic.Int64
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(requests) {
				if _, err := req.Request("acc.svc.echo", []byte("ping"), time.Until(c.deadline)); err != nil {
					errs <- err
					return
				}
				c.requests.Add(1)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	case err := <-c.failed:
		return err
	default:
	}
	return c.close()
}

// flush waits until the server has processed everything sent on every connection.
func (c *client) flush() error {
	for _, nc := range c.conns {
		if err := nc.FlushTimeout(time.Until(c.deadline)); err != nil {
			return err
		}
	}
	return nil
}

// close flushes and closes every connection, and returns the first asynchronous error.
func (c *client) close() error {
	err := c.flush()
	for _, nc := range c.conns {
		nc.Close()
	}
	select {
	case e := <-c.failed:
		return e
	default:
		return err
	}
}

func (c *client) print() {
	var out, in uint64
	for _, nc := range c.conns {
		s := nc.Stats()
		out += s.OutMsgs
		in += s.InMsgs
	}
	fmt.Println("connections", len(c.conns))
	for _, l := range []struct {
		name string
		n    *atomic.Int64
	}{
		{"published", &c.published}, {"published-headers", &c.publishedHeaders}, {"requests", &c.requests},
		{"received", &c.received}, {"received-headers", &c.receivedHeaders}, {"answered", &c.answered},
	} {
		fmt.Println(l.name, l.n.Load())
	}
	fmt.Println("out_msgs", out)
	fmt.Println("in_msgs", in)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "natsclient:", err)
	os.Exit(1)
}
