#!/usr/bin/env bash
# Regenerates testdata/captures: real curl (and one hand-written pipelined client) talking to a
# real nginx on 127.0.0.1, captured by tools/captureproxy. See README.md.
# Run from anywhere inside the module; needs nginx and curl (scripts/deps.sh installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module=$(cd "$here/../../.." && pwd)
out=$here/captures
port=${NGINX_PORT:-28480}     # nginx
proxy=${PROXY_PORT:-28481}    # the recording proxy, which clients talk to

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/www" "$tmp/body" "$out"
rm -f "$out"/*
printf '<html><body>hello from nginx</body></html>\n' >"$tmp/www/index.html"
printf 'a small text file\n' >"$tmp/www/a.txt"
for i in $(seq 1 400); do echo "line $i of a text file that nginx gzips on the fly"; done >"$tmp/www/big.txt"
touch -d '2024-01-01 00:00:00 UTC' "$tmp/www/"*

cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/body;
  fastcgi_temp_path $tmp/body;
  uwsgi_temp_path $tmp/body;
  scgi_temp_path $tmp/body;
  types { text/html html; text/plain txt; }
  server {
    listen 127.0.0.1:$port;
    root $tmp/www;
    # Any If-Modified-Since after the files' time gets 304, not only an exact match.
    if_modified_since before;
    gzip on;
    gzip_min_length 1;
    gzip_types text/plain;
    location = /echo { return 200 "posted\n"; }
  }
}
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)

(cd "$module" && go build -o "$tmp/captureproxy" ./tools/captureproxy)

# record NAME: starts a proxy recording to captures/NAME-N.*; stop with stop_record.
record() {
  "$tmp/captureproxy" -listen "127.0.0.1:$proxy" -to "127.0.0.1:$port" -out "$out/$1" 2>>"$tmp/captureproxy.log" &
  rec=$!
  for _ in $(seq 50); do
    [ -n "$(ss -Hltn "sport = :$port")" ] && [ -n "$(ss -Hltn "sport = :$proxy")" ] && break
    sleep 0.1
  done
}
stop_record() { kill -INT "$rec"; wait "$rec" || true; }

url=http://127.0.0.1:$proxy

record get;        curl -sS -o /dev/null "$url/index.html?user=alice&token=s3cret"; stop_record
record head;       curl -sS -o /dev/null -I "$url/index.html"; stop_record
record post;       curl -sS -o /dev/null -d 'name=alice&card=4111111111111111' "$url/echo"; stop_record
record expect;     curl -sS -o /dev/null -H 'Expect: 100-continue' --data-binary @"$tmp/www/big.txt" "$url/echo"; stop_record
record chunked;    curl -sS -o /dev/null -H 'Accept-Encoding: gzip' "$url/big.txt"; stop_record
record keepalive;  curl -sS -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
                     "$url/index.html" "$url/a.txt" "$url/missing" "$url/big.txt"; stop_record
record notmodified; curl -sS -o /dev/null -H 'If-Modified-Since: Tue, 01 Jan 2030 00:00:00 GMT' "$url/index.html"; stop_record
record http10;     curl -sS -o /dev/null --http1.0 "$url/a.txt"; stop_record

# Pipelining: curl no longer pipelines, so three requests are written at once by hand; nginx
# answers them in order, the HEAD without a body.
record pipelined
exec 3<>"/dev/tcp/127.0.0.1/$proxy"
printf 'GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nHEAD /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /index.html?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
cat <&3 >/dev/null
exec 3<&-
stop_record

ls -l "$out"
