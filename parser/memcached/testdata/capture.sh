#!/usr/bin/env bash
# Regenerates testdata/captures: the real libmemcached-tools clients (memcslap, memccp, memcat,
# memcstat) and a hand-written meta-protocol client talking to a real memcached on 127.0.0.1,
# captured by tools/captureproxy. See README.md.
# Run from anywhere inside the module; needs memcached, libmemcached-tools, python3.
set -euo pipefail

. "$(dirname "$0")/../../../tools/captureproxy/lib.sh"
port=${MEMCACHED_PORT:-28610}  # memcached
proxy=${PROXY_PORT:-28612}     # the recording proxy, which clients talk to

memcached -l 127.0.0.1 -p "$port" -U 0 -u nobody &
pids+=($!)
(cd "$module" && go build -o "$tmp/captureproxy" ./tools/captureproxy)
await "$port"

record() {
  "$tmp/captureproxy" -listen "127.0.0.1:$proxy" -to "127.0.0.1:$port" -out "$out/$1" 2>>"$tmp/captureproxy.log" &
  rec=$!
  await "$proxy"
}
stop_record() { kill -INT "$rec"; wait "$rec" || true; }
s=127.0.0.1:$proxy

# memcslap: 20 sets then 20 gets, text, binary, and text with noreply.
record slap
memcslap -s "$s" -t set -e 20 -c 1 >/dev/null
memcslap -s "$s" -t get -e 20 -c 1 >/dev/null
stop_record
record slapbin
memcslap -s "$s" -b -t set -e 20 -c 1 >/dev/null
memcslap -s "$s" -b -t get -e 20 -c 1 >/dev/null
stop_record
record slapnoreply
memcslap -s "$s" -R -t set -e 20 -c 1 >/dev/null
stop_record

# The small tools: memccp stores a file, memcstat reads the statistics.
echo hello > "$tmp/greeting"
record tools
(cd "$tmp" && timeout 10 memccp --servers="$s" greeting)
timeout 10 memcstat --servers="$s" >/dev/null
stop_record

# Meta commands in one write: quiet batches each ended by mn, as meta clients send them, and
# plain ones between.
record meta
python3 - "$proxy" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"set x 0 0 1\r\n1\r\nset a 0 0 1\r\n1\r\nmg nope v q\r\nmg x v q\r\nmn\r\n"
          b"ms a 1 q ME\r\nz\r\nmd nope q\r\nmn\r\n"
          b"mg x v t\r\nmg nope v\r\nms a 1 q\r\nz\r\nma x q\r\nmn\r\n")
got = b""
while got.count(b"MN\r\n") < 3:
    got += s.recv(65536)
s.sendall(b"quit\r\n")
time.sleep(0.2)
EOF
stop_record
