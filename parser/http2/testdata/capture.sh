#!/usr/bin/env bash
# Regenerates testdata/captures: real nghttp and h2load (nghttp2-client) and curl (libcurl with nghttp2)
# talking HTTP/2 with prior knowledge (h2c) to a real nginx on 127.0.0.1, and a grpc-go client and
# server (grpcpeer.go.txt, built in a module of its own so that netobserver's go.mod does not need
# grpc-go), captured by tools/captureproxy. See README.md. Needs nginx, curl and nghttp2-client
# (scripts/deps.sh), Go and the module proxy.
set -euo pipefail

. "$(dirname "$0")/../../../tools/captureproxy/lib.sh"
port=${NGINX_PORT:-28640}   # nginx, h2c
proxy=${PROXY_PORT:-28641}  # the recording proxy, which clients talk to
grpc=${GRPC_PORT:-28642}    # grpcpeer serve

mkdir -p "$tmp/www" "$tmp/body"
printf '<html><body>hello from nginx over h2c</body></html>\n' >"$tmp/www/index.html"
printf 'a small text file\n' >"$tmp/www/a.txt"
head -c 40000 /dev/zero | tr '\0' 'x' >"$tmp/www/big.txt"
cat >"$tmp/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 64; }
http {
  access_log $tmp/access.log;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/body;
  fastcgi_temp_path $tmp/body;
  uwsgi_temp_path $tmp/body;
  scgi_temp_path $tmp/body;
  types { text/html html; text/plain txt; }
  server {
    listen 127.0.0.1:$port http2;
    root $tmp/www;
    location = /echo { return 200 "posted\n"; }
  }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
(cd "$module" && go build -o "$tmp/captureproxy" ./tools/captureproxy)
mkdir "$tmp/grpcpeer"
cp "$here/grpcpeer.go.txt" "$tmp/grpcpeer/main.go"
(cd "$tmp/grpcpeer" && go mod init grpcpeer >/dev/null 2>&1 && go get google.golang.org/grpc@v1.67.1 >/dev/null 2>&1 &&
  go build -o "$tmp/grpcpeer/grpcpeer" .)
"$tmp/grpcpeer/grpcpeer" serve "127.0.0.1:$grpc" &
pids+=($!)
await "$port"
await "$grpc"

record() { # NAME [SERVER_PORT]
  "$tmp/captureproxy" -listen "127.0.0.1:$proxy" -to "127.0.0.1:${2:-$port}" -out "$out/$1" 2>>"$tmp/captureproxy.log" &
  rec=$!
  await "$proxy"
}
stop_record() { kill -INT "$rec"; wait "$rec" || true; }
u=http://127.0.0.1:$proxy

# nghttp-1: nghttp (nghttp2-client) asks for four resources on one connection, all at once:
# the streams interleave, and HPACK's dynamic table carries the headers the requests repeat.
record nghttp
nghttp -n --stat "$u/index.html" "$u/a.txt?user=42&token=secret" "$u/missing" "$u/big.txt" >"$here/nghttp.txt"
stop_record

# curl-1: curl (libcurl with nghttp2) posts a form: a request with a body (DATA frames).
# (curl 7.88 cannot reuse a prior-knowledge connection: one request per connection.)
record curl
curl -sS --http2-prior-knowledge -o /dev/null -d 'name=value' "$u/echo"
stop_record

# h2load-1: 40 GET /index.html on one connection, 8 streams at a time: responses interleave.
record h2load
h2load -n 40 -c 1 -m 8 "$u/index.html" >"$here/h2load.txt"
stop_record
cp "$tmp/access.log" "$here/access.log"

# grpc-1: grpc-go's health service: Check "svc" twice (SERVING, OK), Check "unknown" (NOT_FOUND,
# a trailers-only response), then a server-streaming Watch the client cancels after its first
# message (RST_STREAM from the client).
record grpc "$grpc"
"$tmp/grpcpeer/grpcpeer" call "127.0.0.1:$proxy" >"$here/grpc.txt"
stop_record

# upgrade/upgrade-1 (apart from captures/, which is HTTP/2 from the first byte): curl --http2
# upgrades an HTTP/1.1 connection to h2c (Upgrade: h2c, HTTP2-Settings) on tools/h2cserver (golang.org/x/net/http2/h2c), which answers 101 and then the upgraded GET /a
# on stream 1; /status/404 and /b follow on the same connection, streams 3 and 5. curl's own
# report (status, HTTP version, connections opened per URL) is upgrade/curl.txt, the server's count
# upgrade/server.txt.
h2c=${H2C_PORT:-28643}
(cd "$module" && go build -o "$tmp/h2cserver" ./tools/h2cserver)
"$tmp/h2cserver" -listen "127.0.0.1:$h2c" >"$tmp/h2cserver.txt" &
h2cpid=$!
pids+=($h2cpid)
await "$h2c"
mkdir -p "$here/upgrade"
rm -f "$here/upgrade/"*
out=$here/upgrade record upgrade "$h2c"
curl -sS --http2 -w '%{http_code} %{http_version} %{num_connects}\n' -o /dev/null -o /dev/null -o /dev/null \
  "$u/a" "$u/status/404" "$u/b" >"$here/upgrade/curl.txt"
stop_record
kill -TERM "$h2cpid"
wait "$h2cpid" || true
grep '^served' "$tmp/h2cserver.txt" >"$here/upgrade/server.txt"

# midstream/grpcpair-1 (apart from captures/: its tests join it in the middle): tools/grpcpair's
# client makes 40 calls one at a time on one connection (call i on stream 2i+1, of kind i mod 5);
# its own count is midstream/client.txt, the server's midstream/server.txt.
gp=${GRPCPAIR_PORT:-28646}
(cd "$module" && go build -o "$tmp/grpcpair" ./tools/grpcpair)
"$tmp/grpcpair" server -listen "127.0.0.1:$gp" >"$tmp/grpcpair.txt" &
gppid=$!
pids+=($gppid)
await "$gp"
mkdir -p "$here/midstream"
rm -f "$here/midstream/"*
out=$here/midstream record grpcpair "$gp"
"$tmp/grpcpair" client -addr "127.0.0.1:$proxy" -n 40 -conns 1 -concurrency 1 >"$here/midstream/client.txt"
stop_record
kill -TERM "$gppid"
wait "$gppid" || true
grep '^served' "$tmp/grpcpair.txt" >"$here/midstream/server.txt"
