#!/usr/bin/env bash
# Regenerates testdata/captures: the real mosquitto clients (mosquitto_pub, mosquitto_sub)
# talking to a real mosquitto broker on 127.0.0.1, captured by tools/captureproxy. See README.md.
# Needs mosquitto and mosquitto-clients (scripts/deps.sh).
set -euo pipefail

. "$(dirname "$0")/../../../tools/captureproxy/lib.sh"
port=${MQTT_PORT:-28590}    # mosquitto
proxy=${PROXY_PORT:-28591}  # the recording proxy, which clients talk to

# Anonymous clients may use sensors/# and devices/#, and only read denied/#: publishing there is
# refused, and so is subscribing to forbidden/#.
cat >"$tmp/acl" <<'ACL'
topic readwrite sensors/#
topic readwrite devices/#
topic read denied/#
ACL
# mosquitto started as root runs as the user mosquitto: it must read and write these.
chmod 755 "$tmp"
touch "$tmp/mosquitto.log"
chmod 666 "$tmp/mosquitto.log"
cat >"$tmp/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
acl_file $tmp/acl
persistence false
log_dest file $tmp/mosquitto.log
log_type all
CONF
mosquitto -c "$tmp/mosquitto.conf" &
pids+=($!)
(cd "$module" && go build -o "$tmp/captureproxy" ./tools/captureproxy)
await "$port"

record() {
  "$tmp/captureproxy" -listen "127.0.0.1:$proxy" -to "127.0.0.1:$port" -out "$out/$1" 2>>"$tmp/captureproxy.log" &
  rec=$!
  await "$proxy"
}
stop_record() { kill -INT "$rec"; wait "$rec" || true; }
pub() { mosquitto_pub -h 127.0.0.1 -p "$port" "$@"; } # direct, not recorded

# pub-N: one mosquitto_pub per protocol version and QoS, three messages each.
record pub
mosquitto_pub -h 127.0.0.1 -p "$proxy" -V mqttv31 -q 0 -t sensors/7/temp -m 21.5 --repeat 3
mosquitto_pub -h 127.0.0.1 -p "$proxy" -V mqttv311 -q 1 -t devices/3f2a9c1e-0b7d-4c55-9a1e-2b3c4d5e6f70/state -m on --repeat 3
mosquitto_pub -h 127.0.0.1 -p "$proxy" -V 5 -q 2 -t devices/lamp42/state -m off --repeat 3
# Refused by the ACL: 3.1.1 cannot say so (PUBACK), v5 says 0x87 not authorized.
mosquitto_pub -h 127.0.0.1 -p "$proxy" -V mqttv311 -q 1 -t denied/x -m no
mosquitto_pub -h 127.0.0.1 -p "$proxy" -V 5 -q 1 -t denied/x -m no
stop_record

# sub-N: subscribers at QoS 2 receive 6 deliveries (QoS 0, 1, 2 twice each: the QoS of each
# delivery is the smaller of the two), then a subscription the ACL refuses.
for v in mqttv311 5; do
  record "sub$v"
  mosquitto_sub -h 127.0.0.1 -p "$proxy" -V "$v" -q 2 -t 'sensors/+/temp' -t 'sensors/#' -C 6 >/dev/null &
  sub=$!
  for _ in $(seq 50); do grep -q 'sensors/#' "$tmp/mosquitto.log" 2>/dev/null && break; sleep 0.1; done
  sleep 0.3
  for q in 0 1 2; do pub -q "$q" -t sensors/12/temp -m "$q" --repeat 2; done
  wait "$sub"
  mosquitto_sub -h 127.0.0.1 -p "$proxy" -V "$v" -t 'forbidden/#' -E >/dev/null || true
  stop_record
  : >"$tmp/mosquitto.log"
done
