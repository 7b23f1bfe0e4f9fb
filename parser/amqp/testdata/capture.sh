#!/usr/bin/env bash
# Regenerates testdata/captures: the real amqp-tools clients (amqp-declare-queue, amqp-publish,
# amqp-consume, amqp-get, amqp-delete-queue) talking to a real RabbitMQ on 127.0.0.1, captured by
# tools/captureproxy. See README.md. Needs rabbitmq-server and amqp-tools (scripts/deps.sh).
set -euo pipefail

. "$(dirname "$0")/../../../tools/captureproxy/lib.sh"
port=${AMQP_PORT:-28690}    # rabbitmq
proxy=${PROXY_PORT:-28694}  # the recording proxy, which clients talk to
. "$here/rabbitmq.sh"
before_cleanup() {
  [ -n "${rec:-}" ] && kill "$rec" 2>/dev/null || true
  stop_rabbitmq
}

(cd "$module" && go build -o "$tmp/captureproxy" ./tools/captureproxy)
start_rabbitmq "$tmp/rabbitmq" "$port"

record() {
  "$tmp/captureproxy" -listen "127.0.0.1:$proxy" -to "127.0.0.1:$port" -out "$out/$1" 2>>"$tmp/captureproxy.log" &
  rec=$!
  await "$proxy"
}
stop_record() { kill -INT "$rec"; wait "$rec" || true; rec=; }
via=(--server 127.0.0.1 --port "$proxy")

# queue-N: declare a queue whose name holds an order number, publish 3 messages to it (one of
# 300 KB, more than one frame_max of body), read them with amqp-consume -c 3, get from the empty
# queue, declare it again as durable (refused: channel.close 406), delete it.
record queue
amqp-declare-queue "${via[@]}" -q orders.eu.1234 >/dev/null
printf 'one\ntwo\n' | amqp-publish "${via[@]}" -r orders.eu.1234 -l
head -c 300000 /dev/zero | tr '\0' x | amqp-publish "${via[@]}" -r orders.eu.1234
amqp-consume "${via[@]}" -q orders.eu.1234 -c 3 cat >/dev/null
amqp-get "${via[@]}" -q orders.eu.1234 >/dev/null || true
amqp-declare-queue "${via[@]}" -q orders.eu.1234 -d >/dev/null 2>&1 || true
amqp-delete-queue "${via[@]}" -q orders.eu.1234 >/dev/null
stop_record

# consume-N: amqp-consume on a server-named queue bound to amq.topic while amqp-publish sends
# two messages to the exchange (direct, not recorded) and one to a missing exchange (recorded:
# the server closes the channel with 404).
record consume
amqp-consume "${via[@]}" -e amq.topic -r 'sensor.#' -c 2 cat >/dev/null &
consumer=$!
for _ in $(seq 100); do
  [ "$(ls "$out"/consume-1.seq 2>/dev/null)" ] && grep -q s2c "$out/consume-1.seq" && [ "$(wc -l <"$out/consume-1.seq")" -ge 10 ] && break
  sleep 0.1
done
sleep 1
printf 'a\nb\n' | amqp-publish --server 127.0.0.1 --port "$port" -e amq.topic -r sensor.42.temp -l
wait "$consumer"
amqp-publish "${via[@]}" -e no.such.exchange -r k -b x 2>/dev/null || true
stop_record
