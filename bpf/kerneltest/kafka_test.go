package kerneltest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/netobserver/netobserver/abi"
	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/netobserver/netobserver/parser"
	"github.com/netobserver/netobserver/parser/kafka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Kafka is detected from a connection's first bytes on both sides: franz-go's client (kgo) and
// librdkafka's (kcat) write each request whole, and franz-go's broker (kfake) reads a request's
// 4-byte size apart from its body, which the kernel side then marks try_to_prepend. Every request
// the clients say they wrote is in what the library delivered of their connections, parsed by
// parser/kafka, from the first (ApiVersions) on.
func TestKafkaClientsAndBroker(t *testing.T) {
	n := testenv.NewNet(t, subnet)
	peer := testenv.BuildTool(t, "kafkapeer")
	addr := n.ServerV4.String() + ":9092"
	broker := testenv.Start(t, n.Server, peer, "broker", "-listen", addr, "-topics", "orders")
	c := startCapture(t, nil)

	// kgo: three records, one Produce each; its own count of the requests it wrote, per API.
	kgo := testenv.Command(n.Client, peer, "produce", "-broker", addr, "-topic", "orders", "-n", "3", "-timeout", "20s")
	out, err := kgo.Output()
	require.NoError(t, err, "%s", out)
	want := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^requests (\w+) (\d+)$`).FindAllStringSubmatch(string(out), -1) {
		want[m[1]], _ = strconv.Atoi(m[2])
	}
	require.Equal(t, 3, want["Produce"], "%s", out)
	checkKafkaClient(t, c, kgo.Process.Pid, want)

	// kcat: two lines, its requests as its protocol debug log reports them ("Sent XRequest").
	// kfake refuses the record batches of Debian's librdkafka (2.0.2) as corrupt, so kcat exits 1
	// having had its answers: detection is what this test is about.
	kcat := testenv.Command(n.Client, "kcat", "-P", "-b", addr, "-t", "orders", "-d", "protocol")
	kcat.Stdin = strings.NewReader("a\nb\n")
	out, _ = kcat.CombinedOutput()
	require.Equal(t, 2, strings.Count(string(out), "Delivery failed for message: Broker: Invalid message"), "%s", out)
	want = map[string]int{}
	for _, m := range regexp.MustCompile(`Sent (\w+)Request \(`).FindAllStringSubmatch(string(out), -1) {
		want[strings.Replace(m[1], "ApiVersion", "ApiVersions", 1)]++
	}
	require.Equal(t, 1, want["Produce"], "%s", out)
	checkKafkaClient(t, c, kcat.Process.Pid, want)

	// The broker's side of kgo's connections: detected from the body of the first request read
	// after its size, which the library marks to be glued behind that size.
	evs := c.waitFor(t, broker.Process.Pid, "the broker's reads", func(e []event) bool {
		for _, x := range e {
			if x.data != nil && x.data.Direction == abi.DirIngress && x.data.TryToPrepend {
				return true
			}
		}
		return false
	})
	for _, x := range evs {
		if x.data == nil {
			continue
		}
		assert.Equal(t, abi.ProtoKafka, x.data.Protocol)
		assert.Equal(t, abi.RoleServer, x.data.Role)
	}
}

// checkKafkaClient waits for the connections of the client pid and checks that they are Kafka
// from their first byte: the requests in what the library delivered are want, per API.
func checkKafkaClient(t *testing.T, c *capture, pid int, want map[string]int) {
	t.Helper()
	total := 0
	for _, n := range want {
		total += n
	}
	var got map[string]int
	c.waitFor(t, pid, "the client's requests", func(e []event) bool {
		got = map[string]int{}
		seen := 0
		for _, cv := range conversations(e) {
			p := kafka.NewConn(parser.NewInterner(100))
			buf := cv.sent()
			for len(buf) > 0 {
				var m kafka.Message
				r := p.Parse(buf, parser.Request, &m)
				if r.Status != parser.Complete || r.Consumed > len(buf) {
					break
				}
				got[m.API]++
				seen++
				buf = buf[r.Consumed:]
			}
		}
		return seen >= total
	})
	assert.Equal(t, want, got)
	for _, x := range c.of(pid) {
		if x.data != nil {
			assert.Equal(t, abi.ProtoKafka, x.data.Protocol)
			assert.Equal(t, abi.RoleClient, x.data.Role)
		}
	}
}
