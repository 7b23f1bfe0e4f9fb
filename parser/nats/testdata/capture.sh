#!/usr/bin/env bash
# Regenerates testdata/captures: a nats.go client (client.go.txt, built in a module of its own
# so that netobserver's go.mod does not need nats.go) talking to nats-server on 127.0.0.1,
# captured by tools/captureproxy. See README.md. Needs nats-server, Go and the module proxy.
set -euo pipefail

. "$(dirname "$0")/../../../tools/captureproxy/lib.sh"
port=${NATS_PORT:-28620}     # nats-server
proxy=${PROXY_PORT:-28622}   # the recording proxy, which clients talk to

nats-server -a 127.0.0.1 -p "$port" &
pids+=($!)
(cd "$module" && go build -o "$tmp/captureproxy" ./tools/captureproxy)
mkdir "$tmp/client"
cp "$here/client.go.txt" "$tmp/client/main.go"
(cd "$tmp/client" && go mod init capture >/dev/null 2>&1 && go get github.com/nats-io/nats.go@v1.37.0 >/dev/null 2>&1 &&
  go build -o "$tmp/natsclient" .)
await "$port"

record() {
  "$tmp/captureproxy" -listen "127.0.0.1:$proxy" -to "127.0.0.1:$port" -out "$out/$1" 2>>"$tmp/captureproxy.log" &
  rec=$!
  await "$proxy"
}
stop_record() { kill -INT "$rec"; wait "$rec" || true; }

for scenario in plain verbose; do
  record "$scenario"
  timeout 20 "$tmp/natsclient" "nats://127.0.0.1:$proxy" "$scenario"
  stop_record
done
