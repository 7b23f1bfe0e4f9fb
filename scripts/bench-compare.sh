#!/usr/bin/env bash
# A/B of two builds of the observer in one run: nginx + wrk CPU per request with no observer, with
# build A and with build B, the three arms alternating round after round (off, A, B, off, A, B, ...)
# so that the drift of a shared machine hits all three alike. Each arm: the observer (netobserver
# --config with flusher_jsonl on tmpfs, capturing live through the libebpf.so beside it) started
# afresh, then wrk -t1 -c16 for DURATION s against nginx in a network namespace; CPU = nginx worker
# + wrk + netobserver (from /proc and /usr/bin/time), divided by the requests served.
#
# With RATE=<req/s> the client is tools/pace at that fixed rate over 8 connections instead of
# unpaced wrk (the observer's cost per request at a paced rate; pace from B_BINDIR).
#
# With B_KERNEL_AGG=http arm B runs with EBPF.KernelAggregation: [http] (A and B may then be the
# same build: the mode against the default).
#
# With WORKLOAD=redis the server is redis-server and the client redis-benchmark -t set,get -c 50
# (no pipelining, REDIS_N requests per test, 20 000 * DURATION by default; RATE is not taken),
# CPU = redis-server + redis-benchmark + netobserver: pair it with B_KERNEL_AGG=redis.
#
# Usage: scripts/bench-compare.sh A_BINDIR B_BINDIR   (root; ROUNDS=4 DURATION=5 RATE= B_KERNEL_AGG=
#        WORKLOAD=nginx|redis REDIS_N=)
#        each BINDIR holds netobserver and libebpf.so (`make bench-compare BASE=<git rev>` builds
#        the base revision in a temporary worktree and compares it with bin/)
set -euo pipefail
a=${1:?usage: bench-compare.sh A_BINDIR B_BINDIR}
b=${2:?usage: bench-compare.sh A_BINDIR B_BINDIR}
rounds=${ROUNDS:-4}
duration=${DURATION:-5}
rate=${RATE:-}
workload=${WORKLOAD:-nginx}
redis_n=${REDIS_N:-$((20000 * duration))}
tag=nobc$$
srv=${tag}s cli=${tag}c
work=$(mktemp -d /tmp/bench-compare.XXXXXX)
records=/dev/shm/bench-compare.$$.jsonl
obs=
. "$(dirname "$0")/bench-lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "bench-compare: must run as root" >&2; exit 1; }
for d in "$a" "$b"; do
  for f in netobserver libebpf.so; do
    [ -e "$d/$f" ] || { echo "bench-compare: $d/$f is missing" >&2; exit 1; }
  done
done
case $workload in
  nginx) tools="nginx wrk ip" ;;
  redis) tools="redis-server redis-benchmark redis-cli ip"; [ -z "$rate" ] || { echo "bench-compare: RATE is for WORKLOAD=nginx" >&2; exit 1; } ;;
  *) echo "bench-compare: WORKLOAD is nginx or redis" >&2; exit 1 ;;
esac
for t in $tools; do command -v $t >/dev/null || { echo "bench-compare: $t is missing (scripts/deps.sh)" >&2; exit 1; }; done
[ -x /usr/bin/time ] || { echo "bench-compare: /usr/bin/time is missing (Debian package time)" >&2; exit 1; }
[ -z "$rate" ] || [ -x "$b/pace" ] || { echo "bench-compare: RATE needs $b/pace (make $b/pace)" >&2; exit 1; }

cleanup() {
  [ -n "$obs" ] && stop_pid "$obs"
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  rm -rf "$work" "$records"*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

veth_pair "$srv" "$cli" "$tag" 10.253.7.1 10.253.7.2
cat >"$work/nginx.conf" <<CONF
worker_processes 1; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work; keepalive_requests 1000000;
  server { listen 10.253.7.1:8080; location / { default_type text/plain; return 200 "hello, benchmark\n"; } } }
CONF
if [ "$workload" = redis ]; then
  mkdir "$work/redis"
  ip netns exec "$srv" redis-server --port 6379 --bind 10.253.7.1 --save "" --appendonly no --protected-mode no \
    --dir "$work/redis" --logfile "$work/redis.log" --daemonize yes --pidfile "$work/redis.pid"
  for _ in $(seq 50); do ip netns exec "$cli" redis-cli -h 10.253.7.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
  worker=$(cat "$work/redis.pid" 2>/dev/null || true)
  [ -n "$worker" ] || { echo "bench-compare: redis-server did not start" >&2; exit 1; }
else
  ip netns exec "$srv" nginx -c "$work/nginx.conf" -p "$work"
  for _ in $(seq 50); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
  sleep 0.3
  worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
  [ -n "$worker" ] || { echo "bench-compare: no nginx worker" >&2; exit 1; }
fi
cat >"$work/pipeline.yaml" <<CONF
enable: true
inputs:
  - Type: observer_ilogtail_network_v1
    Common:
      FlushOutL4Interval: 5
      FlushOutL7Interval: 5
    EBPF:
      Enabled: true
flushers:
  - Type: flusher_jsonl
    Path: $records
    MaxSize: 67108864
    MaxRolls: 1
CONF
sed "s/^      Enabled: true\$/&${B_KERNEL_AGG:+\\n      KernelAggregation: [$B_KERNEL_AGG]}/" "$work/pipeline.yaml" >"$work/pipeline-b.yaml"

# round ARM [BINDIR]: prints "ARM requests/s cpu-us-per-request observer-cpu-us-per-request".
round() {
  local o0 n0 o1 n1 out
  if [ -n "${2:-}" ]; then
    local config=$work/pipeline.yaml
    [ "$1" = B ] && config=$work/pipeline-b.yaml
    "$2/netobserver" --config "$config" --libebpf "$2/libebpf.so" >/dev/null 2>"$work/observer.log" &
    obs=$!
    for _ in $(seq 300); do grep -q "netobserver: observing" "$work/observer.log" 2>/dev/null && break; sleep 0.1; done
    # round runs in a command substitution: the EXIT trap's cleanup never sees this obs, and an
    # observer left running here held the BPF lock (inherited from flock) for everyone.
    grep -q "netobserver: observing" "$work/observer.log" || { echo "bench-compare: $2/netobserver did not start:" >&2; cat "$work/observer.log" >&2; stop_pid "$obs"; exit 1; }
    sleep 1
  fi
  o0=$(cpu_ns_of "$obs"); n0=$(cpu_of "$worker")
  if [ "$workload" = redis ]; then
    # --csv: "test","rps",...; printed as wrk's fields for the awk below.
    out=$(ip netns exec "$cli" /usr/bin/time -f "wrkcpu %U %S" redis-benchmark -h 10.253.7.1 -p 6379 -t set,get \
          -n "$redis_n" -c 50 -P 1 --csv 2>&1 |
          awk -F'[",]+' -v n="$redis_n" '/^"(SET|GET)"/ {t += n / $3; k++; next} {print}
            END {if (k != 2) exit 1; print 2 * n " requests in"; print "Requests/sec: " 2 * n / t}') ||
      { echo "bench-compare: redis-benchmark output not understood" >&2; exit 1; }
  elif [ -n "$rate" ]; then
    # pace prints "requests N errors E rate R ...": the same fields as wrk's, for the awk below.
    out=$(ip netns exec "$cli" /usr/bin/time -f "wrkcpu %U %S" "$b/pace" -addr 10.253.7.1:8080 -rate "$rate" -c 8 -d "${duration}s" 2>&1 |
          awk '/^requests/ {print $2 " requests in"; print "Requests/sec: " $6; next} {print}')
  else
    out=$(ip netns exec "$cli" /usr/bin/time -f "wrkcpu %U %S" wrk -t1 -c16 -d"${duration}s" http://10.253.7.1:8080/ 2>&1)
  fi
  o1=$(cpu_ns_of "$obs"); n1=$(cpu_of "$worker")
  lost=0
  if [ -n "$obs" ]; then
    stop_pid "$obs"; obs=
    # The stop line counts what the kernel side lost: lost_ctrl=, lost_data=, lost_stats=, lost_proc=.
    lost=$(grep -o 'lost_[a-z]*=[0-9]*' "$work/observer.log" | awk -F= '{l += $2} END {print l + 0}')
  fi
  awk -v arm="$1" -v o="$o0" -v o1="$o1" -v n="$n0" -v n1="$n1" -v lost="$lost" '
    /requests in/ {reqs = $1} /Requests\/sec/ {rps = $2} /^wrkcpu/ {w = $2 + $3}
    END {printf "%s %.0f %.3f %.3f %d\n", arm, rps, (o1 - o + n1 - n + w) / reqs * 1e6, (o1 - o) / reqs * 1e6, lost}' <<<"$out"
}

echo "bench-compare: A = $a ($("$a/netobserver" version --libebpf "$a/libebpf.so" 2>/dev/null | tr '\n' ' '))"
echo "bench-compare: B = $b ($("$b/netobserver" version --libebpf "$b/libebpf.so" 2>/dev/null | tr '\n' ' '))"
client="${rate:+tools/pace at $rate req/s}${rate:-wrk -t1 -c16 unpaced} against nginx"
[ "$workload" = redis ] && client="redis-benchmark -t set,get -n $redis_n -c 50 against redis-server"
echo "bench-compare: client $client, ROUNDS=$rounds DURATION=$duration${B_KERNEL_AGG:+, B with EBPF.KernelAggregation: [$B_KERNEL_AGG]}"
results=$work/results
for r in $(seq "$rounds"); do
  for arm in off A B; do
    case $arm in off) line=$(round off) ;; A) line=$(round A "$a") ;; B) line=$(round B "$b") ;; esac
    echo "$r $line" >>"$results"
    awk '{printf "round %d %-3s %7.0f req/s, CPU/request %.2f us (observer %.2f us), %d events lost\n", $1, $2, $3, $4, $5, $6}' <<<"$r $line"
  done
done
awk '{rps[$2] += $3; cpu[$2] += $4; o[$2] += $5; lost[$2] += $6; n[$2]++}
  END {
    for (k in n) { rps[k] /= n[k]; cpu[k] /= n[k]; o[k] /= n[k] }
    printf "mean CPU per request: off %.2f us; A %.2f us (+%.2f, observer %.2f); B %.2f us (+%.2f, observer %.2f)\n",
      cpu["off"], cpu["A"], cpu["A"] - cpu["off"], o["A"], cpu["B"], cpu["B"] - cpu["off"], o["B"]
    printf "CPU-per-request ratio off/on: A %.3f, B %.3f; requests/s ratio on/off: A %.3f, B %.3f\n",
      cpu["off"] / cpu["A"], cpu["off"] / cpu["B"], rps["A"] / rps["off"], rps["B"] / rps["off"]
    printf "B costs %.0f%% of what A adds per request; observer alone: B %.0f%% of A\n", 100 * (cpu["B"] - cpu["off"]) / (cpu["A"] - cpu["off"]), 100 * o["B"] / o["A"]
    printf "events lost: A %d, B %d\n", lost["A"], lost["B"] }' "$results"
