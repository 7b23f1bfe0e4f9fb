#!/usr/bin/env bash
# The Go crypto/tls probes' own cost, as the kernel measures it: kernel.bpf_stats_enabled=1 (the
# previous value restored on exit) makes the kernel count every run of a BPF program and the
# nanoseconds spent in it (run_cnt, run_time_ns of `bpftool prog show --json`; the HTTP header
# scan the return probe tail-calls counts for it). bin/netobserver observes the host; the
# tools/gotlspair server starts after it (its binary is found at its exec) in one network
# namespace, and its client makes N requests from another, HTTP/1.1 then HTTP/2. Printed per
# round: requests, probe runs, ns per run of the entry and the return program, and ns per
# request (both ends: the client's and the server's Write and Read). The uprobe's own trap (the
# breakpoint, the kernel's uprobe dispatch) is not in run_time_ns: the client's elapsed time
# with and without the observer shows it, noisily, on a shared machine.
# Usage: scripts/bench-gotls.sh [BINDIR]   (root; BINDIR holds netobserver and libebpf.so)
#        N=5000 C=4 REUSE=100 ROUNDS=3
set -euo pipefail
bindir=${1:-bin}
netobserver=$bindir/netobserver
so=$bindir/libebpf.so
n=${N:-5000} c=${C:-4} reuse=${REUSE:-100} rounds=${ROUNDS:-3}
. "$(dirname "$0")/bench-lib.sh"
bench_setup bench-gotls ngtl 252

bench_require bpftool jq ip openssl ss sysctl go
for f in "$netobserver" "$so"; do
  [ -e "$f" ] || { echo "bench-gotls: $f is missing (make build)" >&2; exit 1; }
done
[ -r /proc/sys/kernel/bpf_stats_enabled ] || { echo "bench-gotls: kernel.bpf_stats_enabled does not exist on this kernel" >&2; exit 1; }
bench_port $((19500 + $$ % 400))

go build -o "$work/gotlspair" ./tools/gotlspair
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/crt.pem" -days 1 -subj /CN=bench-gotls -addext "subjectAltName=IP:$srv_ip" 2>/dev/null
veth_pair "$srv" "$cli" "$tag" "$srv_ip" "$cli_ip"
addr=$srv_ip:8443

# One client run: its report on stdout, its elapsed nanoseconds in $work/elapsed.
client() {
  local t0
  t0=$(date +%s%N)
  ip netns exec "$cli" "$work/gotlspair" client -url "https://$addr" -ca "$work/crt.pem" -n "$n" -c "$c" -reuse "$reuse" "$@"
  echo $(($(date +%s%N) - t0)) >"$work/elapsed"
}

start_server() {
  ip netns exec "$srv" "$work/gotlspair" server -listen "$addr" -cert "$work/crt.pem" -key "$work/key.pem" >"$work/server.out" 2>&1 &
  server=$!
  for _ in $(seq 100); do grep -q listening "$work/server.out" && break; sleep 0.1; done
  grep -q listening "$work/server.out" || { echo "bench-gotls: the server did not start" >&2; exit 1; }
}

# --- baseline: no observer ------------------------------------------------------------------------
start_server
declare -A base
for mode in http1 http2; do
  flag=; [ $mode = http1 ] && flag=-http1
  client $flag >/dev/null
  base[$mode]=$(cat "$work/elapsed")
done
stop_pid "$server"; server=

# --- the observer, then the server (found at its exec) ---------------------------------------------
bench_pipeline "$work/pipeline.yaml" "$records" "$port"
bench_observer
start_server
for _ in $(seq 100); do grep -q 'library=go' "$work/observer.log" && break; sleep 0.1; done
grep 'library=go' "$work/observer.log" || { echo "bench-gotls: the server's binary was not probed:" >&2; cat "$work/observer.log" >&2; exit 1; }

ids=$(grep -h '^prog_id:' /proc/"$obs"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un | jq -s -c .)
snap() { bpftool prog show --json | jq -r --argjson ids "$ids" '.[] | select(.id as $i | $ids | index($i)) | select(.name | startswith("tls_go_")) | "\(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"'; }
stats_prev=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -q -w kernel.bpf_stats_enabled=1
echo "bench-gotls: $("$netobserver" version --libebpf "$so" 2>/dev/null | tr '\n' ' ')"
echo "bench-gotls: $n requests per round, $c workers, $reuse per connection; both ends observed"
printf '%-6s %5s %9s %12s %12s %12s %12s %12s\n' mode round requests entry_runs ns/entry ns/return ns/request elapsed_x
for r in $(seq "$rounds"); do
  for mode in http1 http2; do
    flag=; [ $mode = http1 ] && flag=-http1
    snap >"$work/before"
    req=$(client $flag | jq .requests)
    snap >"$work/after"
    read -r e_ns e_cnt r_ns r_cnt < <(join <(sort "$work/before") <(sort "$work/after") | awk '
      $1 == "tls_go_entry" { ens += $4 - $2; ec += $5 - $3 }
      $1 ~ /^tls_go_return/ { rns += $4 - $2; rc += $5 - $3 }
      END { print ens + 0, ec + 0, rns + 0, rc + 0 }')
    printf '%-6s %5s %9s %12s %12.0f %12.0f %12.0f %12.2f\n' "$mode" "$r" "$req" "$e_cnt" \
      "$(awk -v a="$e_ns" -v b="$e_cnt" 'BEGIN { print b ? a / b : 0 }')" \
      "$(awk -v a="$r_ns" -v b="$r_cnt" 'BEGIN { print b ? a / b : 0 }')" \
      "$(awk -v a="$e_ns" -v b="$r_ns" -v q="$req" 'BEGIN { print (a + b) / q }')" \
      "$(awk -v a="$(cat "$work/elapsed")" -v b="${base[$mode]}" 'BEGIN { print a / b }')"
  done
done
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^netobserver_tls_(unattributed|files)' || true
