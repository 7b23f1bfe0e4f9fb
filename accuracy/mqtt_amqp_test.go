//go:build accuracy

package accuracy

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The messaging workloads: publishers at real concurrency and one consumer, each a Debian client
// process whose own count (its --repeat, the lines it read, the messages it printed) is the
// expected number.
const (
	messagingSubnet = 221
	publishers      = 4
	perPublisher    = 250
	// prefetch bounds the deliveries RabbitMQ has in flight to amqp-consume (basic.qos). Without
	// it, RabbitMQ writes the backlog in writev calls of hundreds of frames and librabbitmq reads
	// 128 KiB at a time: more than the kernel side exports per syscall (4 × 16 KiB for a plain
	// buffer, 44 chunks for an iovec call), so deliveries are lost with the bytes (measured on
	// amqp-consume's side: 633 of 1000 recorded, lost_stream_bytes counted; README, Limits).
	prefetch = 10
)

func TestAccuracyMessaging(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Binary(t)
	n := testenv.NewNet(t, messagingSubnet)
	w := &world{net: n}
	_, mlog := testenv.Mosquitto(t, n.Server, n.ServerV4)
	start := time.Now()
	rmq := testenv.StartRabbitMQ(t, n.Server, n.ServerV4)
	t.Logf("rabbitmq ready in %v", time.Since(start).Round(time.Millisecond))
	t.Run("mosquitto", func(t *testing.T) { w.mosquitto(t, mlog) })
	t.Run("amqp-tools", func(t *testing.T) { w.amqpTools(t, rmq.Addr.Port()) })
	t.Run("nats", w.nats)
	w.printTable()
}

// startClient starts a client in the client namespace with stdin, its output collected.
func (w *world) startClient(t *testing.T, stdin string, name string, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := testenv.Command(w.net.Client, name, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	require.NoError(t, cmd.Start())
	return cmd, &out
}

// waitClient waits for a client at most limit, killing it then, and requires it succeeded.
func waitClient(t *testing.T, cmd *exec.Cmd, out *strings.Builder, limit time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "%v:\n%s", cmd.Args, out)
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish in %v:\n%s", cmd.Args, limit, out)
	}
}

// mosquitto: four mosquitto_pub -q 1 --repeat 250 at once, each to a topic of its own under
// acc/+/temp, and one mosquitto_sub -q 1 -C 1000 on acc/+/temp. Truth: the publishers' --repeat
// (each exits 0 only when the broker acknowledged every message) and the lines mosquitto_sub
// printed. Recorded: PUBLISH qos=1 (answered by PUBACK) and DELIVERY qos=1 (one-way), both sides.
func (w *world) mosquitto(t *testing.T, brokerLog string) {
	n := w.net
	host := n.ServerV4.String()
	total := publishers * perPublisher
	var lines int
	r := w.observe(t, defaultPages, func() {
		sub, subOut := w.startClient(t, "", "mosquitto_sub", "-h", host, "-q", "1", "-t", "acc/+/temp", "-C", fmt.Sprint(total))
		// The subscription must be in place before the first publish.
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(brokerLog)
			if strings.Contains(string(b), "Sending SUBACK") {
				break
			}
			require.True(t, time.Now().Before(deadline), "mosquitto_sub did not subscribe:\n%s", b)
			time.Sleep(20 * time.Millisecond)
		}
		type client struct {
			cmd *exec.Cmd
			out *strings.Builder
		}
		var pubs []client
		for i := range publishers {
			cmd, out := w.startClient(t, "", "mosquitto_pub", "-h", host, "-q", "1", "-t", fmt.Sprintf("acc/%d/temp", i),
				"-m", "21.5", "--repeat", fmt.Sprint(perPublisher))
			pubs = append(pubs, client{cmd, out})
		}
		for _, p := range pubs {
			waitClient(t, p.cmd, p.out, 60*time.Second)
		}
		waitClient(t, sub, subOut, 60*time.Second)
		lines = strings.Count(subOut.String(), "\n")
	})
	require.Equal(t, total, lines, "mosquitto_sub printed one line per message")
	key := func(rec record) string {
		k := rec["packet"] + " qos=" + rec["qos"]
		if rec["success"] != "1" {
			k += " (error)"
		}
		return k
	}
	messages := func(k string) bool { return strings.HasPrefix(k, "PUBLISH") || strings.HasPrefix(k, "DELIVERY") }
	want := map[string]int{"PUBLISH qos=1": total, "DELIVERY qos=1": lines}
	client := calls(r.recs, "mqtt", "client", n.ServerV4)
	server := calls(r.recs, "mqtt", "server", n.ClientV4)
	gotC, gotS := countOnly(client, key, messages), countOnly(server, key, messages)
	w.checkSides(t, fmt.Sprintf("mosquitto_pub -q 1 ×%d + mosquitto_sub -C %d", publishers, total), total+lines, "-",
		want, gotC, gotS, attributed(client, "")+" / "+attributed(server, "mosquitto"))
	w.checkAccounted(t, r, "mqtt", missing(want, gotC)+missing(want, gotS))
	// /metrics counts the deliveries, both sides, among the one-way messages (with the DISCONNECTs).
	oneWay := r.counter("one_way_messages_total", "protocol", "mqtt")
	t.Logf("mqtt: one_way_messages_total %d", oneWay)
	assert.GreaterOrEqual(t, oneWay, 2*lines)
}

// amqpTools: amqp-declare-queue, then four amqp-publish -l of 250 lines each at once into the
// queue and one amqp-consume -p 10 -c 1000 reading it (running wc -c per message). Truth: the lines
// each publisher read, and the lines amqp-consume's command printed. Recorded: basic.publish and
// basic.deliver (one-way, with the queue's routing key) and amqp-consume's basic.ack.
func (w *world) amqpTools(t *testing.T, port uint16) {
	n := w.net
	via := []string{"--server", n.ServerV4.String(), "--port", fmt.Sprint(port)}
	total := publishers * perPublisher
	var body strings.Builder
	for i := range perPublisher {
		fmt.Fprintf(&body, "order %d\n", i)
	}
	var consumed int
	r := w.observe(t, defaultPages, func() {
		w.client(t, "amqp-declare-queue", append(via, "-q", "acc.orders")...)
		cons, consOut := w.startClient(t, "", "amqp-consume", append(via, "-q", "acc.orders", "-p", fmt.Sprint(prefetch), "-c", fmt.Sprint(total), "--", "wc", "-c")...)
		type client struct {
			cmd *exec.Cmd
			out *strings.Builder
		}
		var pubs []client
		for range publishers {
			cmd, out := w.startClient(t, body.String(), "amqp-publish", append(via, "-r", "acc.orders", "-l")...)
			pubs = append(pubs, client{cmd, out})
		}
		for _, p := range pubs {
			waitClient(t, p.cmd, p.out, 60*time.Second)
		}
		waitClient(t, cons, consOut, 120*time.Second)
		consumed = strings.Count(consOut.String(), "\n")
	})
	require.Equal(t, total, consumed, "amqp-consume ran its command once per message")
	key := func(rec record) string {
		k := rec["method"] + " " + rec["key"]
		if rec["success"] != "1" {
			k += " (error)"
		}
		return k
	}
	messages := func(k string) bool {
		return strings.HasPrefix(k, "basic.") && !strings.HasPrefix(k, "basic.qos") && !strings.HasPrefix(k, "basic.consume")
	}
	want := map[string]int{"basic.publish acc.orders": total, "basic.deliver acc.orders": consumed, "basic.ack ": consumed}
	client := calls(r.recs, "amqp", "client", n.ServerV4)
	server := calls(r.recs, "amqp", "server", n.ClientV4)
	t.Logf("amqp records, client side: %v; server side: %v", count(client, key), count(server, key))
	gotC, gotS := countOnly(client, key, messages), countOnly(server, key, messages)
	w.checkSides(t, fmt.Sprintf("amqp-publish -l ×%d + amqp-consume -p %d -c %d", publishers, prefetch, total), total+2*consumed, "-",
		want, gotC, gotS, attributed(client, "")+" / "+attributed(server, ""))
	w.checkAccounted(t, r, "amqp", missing(want, gotC)+missing(want, gotS))
	oneWay := r.counter("one_way_messages_total", "protocol", "amqp")
	t.Logf("amqp: one_way_messages_total %d", oneWay)
	// Publishes, deliveries and acks, both sides.
	assert.Equal(t, 2*(total+2*consumed), oneWay)
}
