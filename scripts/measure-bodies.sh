#!/usr/bin/env bash
# scripts/measure-bodies.sh — big HTTP bodies through the whole observer: nginx in one network
# namespace serves a BODY-byte file (sendfile off, so the body goes through write/writev), `ab -k`
# in another fetches it N times over C connections, bin/netobserver records with a jsonl flusher.
# Prints what ab did and what the observer recorded and lost (issue 11 item 4), e.g.
#
#   NETOBSERVER_BIN=bin ROUNDS=3 flock /tmp/netobserver-bpf.lock scripts/measure-bodies.sh
#
# Root. Knobs: NETOBSERVER_BIN (bin), N (2000), C (20), BODY (20000), ROUNDS (3),
# BPF_STATS=1 (also BPF run time per program run, kernel.bpf_stats_enabled on during the rounds),
# RECORD=1 (one more round under `netobserver record`: data events and the bytes they carried).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-lib.sh"

bin=${NETOBSERVER_BIN:-bin}
n=${N:-2000}
c=${C:-20}
body=${BODY:-20000}
rounds=${ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "measure-bodies: needs root" >&2; exit 1; }

tag="mb$$"
srv="$tag-srv" cli="$tag-cli" srv_ip=10.231.0.1 cli_ip=10.231.0.2
work=$(mktemp -d)
obs= stats_was=
cleanup() {
  [ -n "$obs" ] && stop_pid "$obs"
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -n "$stats_was" ] && sysctl -qw kernel.bpf_stats_enabled="$stats_was"
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
veth_pair "$srv" "$cli" "$tag" "$srv_ip" "$cli_ip"

mkdir "$work/www"
head -c "$body" /dev/urandom | base64 -w 0 | head -c "$body" >"$work/www/page"
cat >"$work/nginx.conf" <<CONF
daemon on; worker_processes 1; pid $work/nginx.pid; error_log $work/error.log warn;
events { worker_connections 1024; }
http { access_log off; sendfile off; keepalive_requests 1000000; client_body_temp_path $work;
  proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen $srv_ip:80; root $work/www; } }
CONF
ip netns exec "$srv" nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do ip netns exec "$cli" curl -s -o /dev/null "http://$srv_ip/page" && break; sleep 0.1; done

cat >"$work/pipeline.yaml" <<CONF
enable: true
inputs:
  - Type: observer_ilogtail_network_v1
    Common:
      FlushOutL4Interval: 60
      FlushOutL7Interval: 60
    EBPF:
      Enabled: true
processors:
  - Type: processor_default
flushers:
  - Type: flusher_jsonl
    Path: $work/records.jsonl
CONF

if [ "${BPF_STATS:-0}" = 1 ]; then
  stats_was=$(sysctl -n kernel.bpf_stats_enabled)
  sysctl -qw kernel.bpf_stats_enabled=1
fi
# run_time_ns and run_cnt of the observer's programs, "name ns cnt" per line.
prog_stats() {
  bpftool prog show -j 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("run_cnt"):
        print(p.get("name", "?"), p.get("run_time_ns", 0), p["run_cnt"])'
}

for round in $(seq "$rounds"); do
  rm -f "$work/records.jsonl"
  "$bin/netobserver" --config "$work/pipeline.yaml" --libebpf "$bin/libebpf.so" >/dev/null 2>"$work/observer.log" &
  obs=$!
  for _ in $(seq 300); do
    grep -q "netobserver: observing" "$work/observer.log" 2>/dev/null && break
    sleep 0.1
  done
  sleep 1
  [ "${BPF_STATS:-0}" = 1 ] && prog_stats >"$work/stats0"
  ab_out=$(ip netns exec "$cli" ab -k -n "$n" -c "$c" "http://$srv_ip/page" 2>&1)
  [ "${BPF_STATS:-0}" = 1 ] && prog_stats >"$work/stats1"
  sleep 2
  stop_pid "$obs"; obs=
  complete=$(awk '/^Complete requests:/ {print $3}' <<<"$ab_out")
  failed=$(awk '/^Failed requests:/ {print $3}' <<<"$ab_out")
  rps=$(awk '/^Requests per second:/ {print $4}' <<<"$ab_out")
  recorded=$(python3 -c '
import json, sys
n = {"client": 0, "server": 0}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("type") == "protocols" and r.get("protocol") == "http" and r.get("url") == "/page":
        n[r["role"]] = n.get(r["role"], 0) + int(r["total_count"])
print("client=%d server=%d" % (n["client"], n["server"]))' "$work/records.jsonl" 2>/dev/null || echo "client=? server=?")
  stop=$(grep -o 'netobserver: stopped.*' "$work/observer.log" | head -1)
  echo "round $round: ab complete=$complete failed=$failed rps=$rps | recorded $recorded | $stop"
  if [ "${BPF_STATS:-0}" = 1 ]; then
    join <(sort "$work/stats0") <(sort "$work/stats1") | awk -v n="$n" '{ns = $4 - $2; cnt = $5 - $3; if (cnt > 0)
      printf "    %-24s runs %9d  ns/run %7.0f  BPF ns per ab request %7.0f\n", $1, cnt, ns / cnt, ns / n}'
  fi
done

if [ "${RECORD:-0}" = 1 ]; then
  "$bin/netobserver" record -o "$work/trace" --libebpf "$bin/libebpf.so" 2>"$work/record.log" &
  obs=$!
  sleep 3 # record logs nothing when it starts
  ab_out=$(ip netns exec "$cli" ab -k -n "$n" -c "$c" "http://$srv_ip/page" 2>&1)
  sleep 1
  stop_pid "$obs"; obs=
  # Bytes a data event occupies: its 96-byte attributes plus the payload (trace tokens: "escaped",
  # hex=…, fill=COUNT:BYTE; testdata/README.md).
  python3 - "$work/trace" "${srv_ip%.*}." <<'PY'
import re, sys
tok = re.compile(r'"((?:[^"\\]|\\.)*)"|\bhex=([0-9a-fA-F]*)|\bfill=(\d+):')
esc = re.compile(r'\\x[0-9a-fA-F]{2}|\\.')
events = payload = org = lost = 0
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("lost") and "which=data" in line:
        lost += int(re.search(r"count=(\d+)", line).group(1))
    if not line.startswith("data") or sys.argv[2] not in line:
        continue
    events += 1
    n = 0
    for q, h, f in tok.findall(line):
        n += len(esc.sub("x", q)) if q else len(h) // 2 if h else int(f or 0)
    payload += n
    m = re.search(r"\borg=(\d+)", line)
    org += int(m.group(1)) if m else n
print("record round: data events %d, payload bytes %d, ring bytes %d (96 per event + payload), wire bytes %d, lost data %d"
      % (events, payload, 96 * events + payload, org, lost))
PY
fi
