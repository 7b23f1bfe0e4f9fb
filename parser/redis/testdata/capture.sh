#!/usr/bin/env bash
# Regenerates testdata/captures: real redis-cli / redis-benchmark (and hand-written clients
# for pub/sub flows redis-cli cannot drive) talking to a real redis-server on 127.0.0.1,
# captured by tools/captureproxy. See README.md.
# Run from anywhere inside the module; needs redis-server and redis-tools (scripts/deps.sh).
set -euo pipefail

. "$(dirname "$0")/../../../tools/captureproxy/lib.sh"
port=${REDIS_PORT:-28490}    # redis-server
proxy=${PROXY_PORT:-28491}   # the recording proxy, which clients talk to

redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$tmp" \
  --logfile "$tmp/redis.log" &
pids+=($!)
(cd "$module" && go build -o "$tmp/captureproxy" ./tools/captureproxy)
await "$port"

# record NAME: starts a proxy recording to captures/NAME-N.*; stop with stop_record.
record() {
  "$tmp/captureproxy" -listen "127.0.0.1:$proxy" -to "127.0.0.1:$port" -out "$out/$1" 2>>"$tmp/captureproxy.log" &
  rec=$!
  await "$proxy"
}
stop_record() { kill -INT "$rec"; wait "$rec" || true; }
direct() { redis-cli -p "$port" "$@" >/dev/null; } # not recorded
cli() { redis-cli -p "$proxy" "$@"; }

# One connection, one command per line, each answered before the next is sent.
record cli
cli >/dev/null <<'EOF'
SET user:1 alice
GET user:1
GET nosuchkey
INCR counter
INCR user:1
NOSUCHCOMMAND x
HSET h f1 v1 f2 v2
HGETALL h
LPUSH l a b c
LRANGE l 0 -1
CONFIG GET maxmemory
OBJECT ENCODING user:1
MEMORY USAGE user:1
XADD s 1-1 f v
XINFO STREAM s
SCRIPT LOAD "return 1"
CLUSTER INFO
ACL WHOAMI
COMMAND DOCS get
FUNCTION LIST
CLIENT SETNAME capture
EOF
stop_record

record multi
cli >/dev/null <<'EOF'
MULTI
SET a 1
INCR a
LPUSH a x
EXEC
MULTI
PING
DISCARD
EOF
stop_record

# RESP3: redis-cli -3 opens with HELLO 3; maps, sets, nulls, doubles and errors follow.
record resp3
cli -3 >/dev/null <<'EOF'
HSET h3 a 1 b 2
HGETALL h3
SADD s3 x y
SMEMBERS s3
GET nosuchkey
ZADD z 1.5 m
ZSCORE z m
INCR h3
EOF
stop_record

# Pipelining: 10 commands per write, one client, one connection per test (plus the one
# redis-benchmark opens first to read the server's configuration).
record bench
redis-benchmark -p "$proxy" -c 1 -n 30 -P 10 -t set,get,incr,lpush,lrange_100 -q >/dev/null
stop_record

# redis-cli in subscribed mode: two channels, then messages published by others.
record subscribe
cli SUBSCRIBE news weather >/dev/null &
sub=$!
sleep 0.5
cli PUBLISH news hello >/dev/null
cli PUBLISH weather sunny >/dev/null
cli PUBLISH news again >/dev/null
sleep 0.3
kill -TERM "$sub"; wait "$sub" || true
stop_record

# A RESP2 pub/sub session redis-cli cannot type: pattern subscriptions, PING while subscribed,
# UNSUBSCRIBE of all, then ordinary commands again. Inline commands, written one at a time.
session() { # writes each argument as a line, waiting for the server in between
  exec 3<>"/dev/tcp/127.0.0.1/$proxy"
  for line in "$@"; do
    case $line in
      publish:*) IFS=: read -r _ ch msg <<<"$line"; direct PUBLISH "$ch" "$msg" ;;
      *) printf '%s\r\n' "$line" >&3 ;;
    esac
    sleep 0.2
  done
  timeout 0.5 cat <&3 >/dev/null || true
  exec 3<&-
}
record pubsub2
session 'SUBSCRIBE a b' 'PSUBSCRIBE p.*' publish:a:one publish:p.1:two 'PING' \
  'UNSUBSCRIBE' publish:p.2:three 'PUNSUBSCRIBE' 'SET k v' 'GET k' 'QUIT'
stop_record

# The same in RESP3: confirmations and messages are pushes, and any command is allowed.
record pubsub3
session 'HELLO 3' 'SUBSCRIBE a b' publish:a:one 'GET k' publish:b:two 'UNSUBSCRIBE' 'GET k' 'QUIT'
stop_record

# MONITOR: +OK, then a feed of the commands other clients run.
record monitor
cli MONITOR >/dev/null &
mon=$!
sleep 0.5
direct SET m 1
direct GET m
sleep 0.3
kill -TERM "$mon"; wait "$mon" || true
stop_record

ls -l "$out"
