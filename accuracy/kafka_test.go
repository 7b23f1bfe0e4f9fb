//go:build accuracy

package accuracy

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/netobserver/netobserver/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	kafkaProducers = 4   // kgo producers at once, acks=all
	kafkaRecords   = 100 // records per producer, one Produce request each
)

// kafkaKey is a Kafka record's key: its API, and whether it was one-way (acks=0 Produce) or
// failed (its error code).
func kafkaKey(r record) string {
	switch {
	case r["one_way"] == "1":
		return r["api"] + " one-way"
	case r["success"] != "1":
		return r["api"] + " error " + r["error_code"]
	}
	return r["api"]
}

// kafka: franz-go's broker (kfake, tools/kafkapeer broker) and two clients. Four kgo producers at
// once (tools/kafkapeer produce) send 100 records each with acks=all, each record a Produce of
// its own (ProduceSync, no linger); one sends 100 with acks=0 (no responses: one-way calls); kcat
// -P sends 100 lines, which kfake refuses (CORRUPT_MESSAGE, error 2: it rejects the record
// batches of Debian's librdkafka 2.0.2), so kcat's Produce calls are errors; then a kgo consumer
// reads the 400 records and kcat -C reads them again. The
// clients' truth: kgo's broker hooks (the requests it wrote and the responses it read, per API)
// and kcat's protocol debug log ("Sent …Request", "Received …Response"). A call is a response
// the client read, or a request written with acks=0. Fetch polling is not planned, so its
// count is whatever the clients report; a client that closes with a Fetch in flight wrote one
// more request than it read responses, and that request is unmatched, not a call.
func (w *world) kafka(t *testing.T) {
	n := w.net
	peer := testenv.BuildTool(t, "kafkapeer")
	addr := n.ServerV4.String() + ":9092"
	startKafkaBroker(t, n.Server, peer, addr, "orders,audit,clicks")

	var mu sync.Mutex
	want := map[string]int{} // calls by kafkaKey, from the clients' reports
	kgoReport := func(out string, oneWay bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range regexp.MustCompile(`(?m)^(requests|responses) (\w+) (\d+)$`).FindAllStringSubmatch(out, -1) {
			c, _ := strconv.Atoi(m[3])
			switch {
			case m[1] == "responses":
				want[m[2]] += c
			case oneWay && m[2] == "Produce":
				want["Produce one-way"] += c
			}
		}
	}
	// kcatReport adds kcat's calls; failed says its Produce responses all carried error 2.
	kcatReport := func(out string, failed bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range regexp.MustCompile(`Received (\w+)Response \(`).FindAllStringSubmatch(out, -1) {
			api := kafkaAPIName(m[1])
			if failed && api == "Produce" {
				api += " error 2"
			}
			want[api]++
		}
	}
	produced := 0
	r := w.observe(t, defaultPages, func() {
		var wg sync.WaitGroup
		for range kafkaProducers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := w.clientErr(peer, "produce", "-broker", addr, "-topic", "orders", "-n", fmt.Sprint(kafkaRecords), "-timeout", "60s")
				assert.NoError(t, err, "%s", out)
				kgoReport(out, false)
				assert.Contains(t, out, fmt.Sprintf("requests Produce %d\n", kafkaRecords), "one Produce per record:\n%s", out)
			}()
		}
		wg.Wait()
		out := w.client(t, peer, "produce", "-broker", addr, "-topic", "audit", "-n", fmt.Sprint(kafkaRecords), "-acks", "none", "-timeout", "60s")
		kgoReport(out, true)
		cmd := testenv.Command(n.Client, "kcat", "-P", "-b", addr, "-t", "clicks", "-d", "protocol")
		cmd.Stdin = strings.NewReader(strings.Repeat("click\n", kafkaRecords))
		kout, _ := cmd.CombinedOutput()
		require.Equal(t, kafkaRecords, strings.Count(string(kout), "Delivery failed for message: Broker: Invalid message"),
			"kfake refused every line of kcat's:\n%s", kout)
		kcatReport(string(kout), true)
		produced = kafkaProducers*kafkaRecords + kafkaRecords

		out = w.client(t, peer, "consume", "-broker", addr, "-topic", "orders", "-n", fmt.Sprint(kafkaProducers*kafkaRecords), "-timeout", "60s")
		require.Contains(t, out, fmt.Sprintf("records %d\n", kafkaProducers*kafkaRecords))
		kgoReport(out, false)
		out = w.client(t, "kcat", "-C", "-b", addr, "-t", "orders", "-c", fmt.Sprint(kafkaProducers*kafkaRecords), "-e", "-q", "-d", "protocol")
		require.Equal(t, kafkaProducers*kafkaRecords, len(regexp.MustCompile(`(?m)^record \d+$`).FindAllString(out, -1)), "kcat -C consumed every record")
		kcatReport(out, false)
	})
	require.Equal(t, kafkaProducers*kafkaRecords, want["Produce"], "kgo's Produce responses: %v", want)
	require.Positive(t, want["Produce error 2"], "kcat's Produce responses: %v", want)
	require.Equal(t, kafkaRecords, want["Produce one-way"])

	client := calls(r.recs, "kafka", "client", n.ServerV4)
	server := calls(r.recs, "kafka", "server", n.ClientV4)
	gotC, gotS := count(client, kafkaKey), count(server, kafkaKey)
	// kcat's records carry the topic by name (librdkafka's Produce and Fetch versions predate
	// topic ids).
	for _, rec := range client {
		if rec["_process_cmd_"] == "kcat" && rec["api"] == "Produce" {
			assert.Equal(t, "clicks", rec["topic"], "kcat's Produce")
		}
		if rec["_process_cmd_"] == "kcat" && rec["api"] == "Fetch" {
			assert.Equal(t, "orders", rec["topic"], "kcat's Fetch")
		}
	}
	w.checkSides(t, fmt.Sprintf("kafka: %d kgo producers × %d, acks=0 × %d, kcat -P (refused)/-C, kgo consumer", kafkaProducers, kafkaRecords, kafkaRecords),
		total(want), fmt.Sprintf("%d records", produced), want, gotC, gotS,
		strings.ReplaceAll(attributed(client, ""), peer, "kafkapeer")+" / "+strings.ReplaceAll(attributed(server, peer), peer, "kafkapeer"))
	w.checkAccounted(t, r, "kafka", missing(want, gotC)+missing(want, gotS))

	// The acks=0 Produce requests are one-way on both sides: on /metrics (the observer's counter,
	// and the live calls by outcome) and in the stop line, under the protocol's name.
	oneWay := want["Produce one-way"]
	assert.Equal(t, 2*oneWay, r.counter("one_way_messages_total", "protocol", "kafka"))
	for _, role := range []string{"client", "server"} {
		assert.Equal(t, oneWay, r.counter("l7_calls_total", "outcome", "one_way", "protocol", "kafka", "role", role), role)
	}
	stop := regexp.MustCompile(`kafka\.calls=(\d+) kafka\.one_way=(\d+) `).FindStringSubmatch(r.log)
	if assert.NotNil(t, stop, "kafka in the stop line:\n%s", r.log) {
		assert.Equal(t, fmt.Sprint(total(gotC)+total(gotS)-2*oneWay), stop[1], "answered calls, both sides")
		assert.Equal(t, fmt.Sprint(2*oneWay), stop[2])
	}
}

// kafkaAPIName is the API name franz-go gives what librdkafka's debug log calls <name>Request.
func kafkaAPIName(librdkafka string) string {
	switch librdkafka {
	case "ApiVersion":
		return "ApiVersions"
	case "InitProducerId":
		return "InitProducerID"
	}
	return librdkafka
}

// startKafkaBroker starts tools/kafkapeer's broker on addr in ns and waits until it listens.
func startKafkaBroker(t *testing.T, ns, peer, addr, topics string) {
	cmd := testenv.Command(ns, peer, "broker", "-listen", addr, "-topics", topics)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "ready "), "broker said %q", line)
}
