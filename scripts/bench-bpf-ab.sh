#!/usr/bin/env bash
# A/B of two builds' BPF run time per nginx request with kernel aggregation on (bpf/README.md,
# "Kernel aggregation", Cost): both observers attached at once, under the same wrk -t1 -c16 load on
# nginx (as scripts/bench-bpf.sh, AGGREGATE=1), each one's run_time_ns summed over its own programs
# (kernel.bpf_stats_enabled=1) and divided by wrk's requests. Both see every syscall, so the host's
# load, which makes sequential runs scatter by ±150 ns, is the same for both; but the program
# attached first meets cold caches (≈ 450–500 ns per request here), so run it in both orders and
# take half the difference: (B-A with A first - B-A with B first) / 2 is B's cost minus A's.
# Usage: scripts/bench-bpf-ab.sh BINDIR_A BINDIR_B [ROUNDS]   (root; each BINDIR holds netobserver
#        and libebpf.so)   DURATION=5
set -euo pipefail
bin_a=$1 bin_b=$2 rounds=${3:-4} duration=${DURATION:-5}
export KERNEL_AGG=http
. "$(dirname "$0")/bench-lib.sh"
bench_setup bench-bpf-ab nbab 252
bench_require bpftool jq nginx wrk ip curl ss sysctl
obs_b=
trap '[ -z "$obs_b" ] || stop_pid "$obs_b"; bench_cleanup' EXIT

veth_pair "$srv" "$cli" "$tag" "$srv_ip" "$cli_ip"
bench_nginx

# start BINDIR NAME: an observer of that build, its log in $work/NAME.log; prints its pid.
start() {
  local port
  bench_port $((19500 + $$ % 300 + ${3:-0}))
  port=$port
  bench_pipeline "$work/$2.yaml" "$records.$2" "$port"
  "$1/netobserver" --config "$work/$2.yaml" --libebpf "$1/libebpf.so" >/dev/null 2>"$work/$2.log" &
  echo $!
}
wait_observing() {
  for _ in $(seq 300); do grep -q "netobserver: observing" "$work/$1.log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'kernel aggregation on' "$work/$1.log" ||
    { echo "$bench: observer $1 did not turn kernel aggregation on:" >&2; cat "$work/$1.log" >&2; exit 1; }
}
obs=$(start "$bin_a" a)
wait_observing a
obs_b=$(start "$bin_b" b 60)
wait_observing b

# The ids of the programs a process holds, as a JSON array (prog_id in its descriptors' fdinfo).
progs_of() {
  grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un | jq -s -c .
}
ids_a=$(progs_of "$obs") ids_b=$(progs_of "$obs_b")
total() { bpftool prog show --json | jq --argjson ids "$1" '[.[] | select(.id as $i | $ids | index($i)) | (.run_time_ns // 0)] | add'; }
stats_prev=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -q -w kernel.bpf_stats_enabled=1
sleep 1
echo "$bench: A (attached first) $bin_a, B $bin_b; wrk -t1 -c16 -d${duration}s, $(nproc) CPUs, $(uname -r)"
for r in $(seq "$rounds"); do
  a0=$(total "$ids_a") b0=$(total "$ids_b")
  out=$(ip netns exec "$cli" wrk -t1 -c16 -d"${duration}s" "http://$srv_ip:8080/" 2>&1)
  a1=$(total "$ids_a") b1=$(total "$ids_b")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "$bench: wrk reported no requests:" >&2; echo "$out" >&2; exit 1; }
  awk -v r="$r" -v n="$n" -v a=$((a1 - a0)) -v b=$((b1 - b0)) \
    'BEGIN {printf "round %d: %d requests: A %.0f ns/request, B %.0f, B-A %+.0f\n", r, n, a / n, b / n, (b - a) / n}'
done
