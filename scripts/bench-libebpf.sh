#!/usr/bin/env bash
# Overhead of our libebpf.so, measured in one run with alternating rounds (off, floor, on, off,
# floor, on, ...):
#   - nginx + wrk requests/s inside a network namespace, library attached vs detached;
#   - file I/O on tmpfs (dd overwrite + read of an existing file), attached vs detached;
#   - the syscall microbenchmark bpf-sysbench (pinned to the last CPU): ns per non-socket read, per
#     untraced syscall (getppid) and per socket write with one data event, attached vs detached.
# "Attached" = bin/bpf-dropin --consume: ebpf_init/config/start exactly like iLogtail (all
# protocols, sampling 100) and iLogtail's poll loop, discarding the events. "Floor" = bin/bpf-floor:
# an empty program on the same sys_exit tracepoint — what any capture hooked there pays before its
# first instruction, so floor/off is the best ratio a syscall-tracepoint capture can reach here.
#
# Two ratios per workload: throughput (on/off; what the targets mean, but only meaningful on an
# otherwise idle machine) and CPU cost per unit of work (off/on; CPU seconds of nginx + wrk + the
# consumer per request, of dd + the consumer per byte), which stays meaningful when other load
# competes for the CPUs.
# Usage: scripts/bench-libebpf.sh [bin/libebpf.so] [bin/bpf-dropin] [bin/bpf-sysbench] [bin/bpf-floor]
#        (root; ROUNDS=3 DURATION=5 SYSBENCH_N=1000000)
set -euo pipefail
so=${1:-bin/libebpf.so}
dropin=${2:-bin/bpf-dropin}
sysbench=${3:-$(dirname "$dropin")/bpf-sysbench}
floor=${4:-$(dirname "$dropin")/bpf-floor}
sysbench_n=${SYSBENCH_N:-1000000}
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
dd_bs=${DD_BS:-64k}
dd_count=${DD_COUNT:-16384}
ns=nobench$$
work=$(mktemp -d /tmp/bench-libebpf.XXXXXX)
iofile=/dev/shm/bench-libebpf.$$
consumer=

[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root" >&2; exit 1; }
for b in "$sysbench" "$floor"; do [ -x "$b" ] || { echo "bench: $b is missing (make $b)" >&2; exit 1; }; done
for t in nginx wrk dd ip numfmt taskset; do command -v $t >/dev/null || { echo "bench: $t is missing (scripts/deps.sh)" >&2; exit 1; }; done

cleanup() {
  if [ -n "$consumer" ]; then kill "$consumer" 2>/dev/null || true; wait "$consumer" 2>/dev/null || true; fi
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work" "$iofile"
}
trap cleanup EXIT

. "$(dirname "$0")/bench-lib.sh"

ip netns add "$ns"
ip -n "$ns" link set lo up
cat >"$work/nginx.conf" <<CONF
worker_processes 1; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work; keepalive_requests 1000000;
  server { listen 127.0.0.1:8080; location / { default_type text/plain; return 200 "hello, benchmark\n"; } } }
CONF
ip netns exec "$ns" nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do ip netns exec "$ns" curl -s -o /dev/null http://127.0.0.1:8080/ && break; sleep 0.1; done
worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
[ -n "$worker" ] || { echo "bench: no nginx worker" >&2; exit 1; }
dd if=/dev/zero of="$iofile" bs="$dd_bs" count="$dd_count" status=none

# attach [floor]: the library with its consumer, or the empty floor program.
attach() {
  if [ "${1:-}" = floor ]; then "$floor" >"$work/consumer.out" 2>"$work/consumer.err" &
  else "$dropin" "$so" --consume >"$work/consumer.out" 2>"$work/consumer.err" &
  fi
  consumer=$!
  for _ in $(seq 100); do grep -q ready "$work/consumer.out" 2>/dev/null && return; sleep 0.1; done
  echo "bench: the consumer did not start:" >&2; cat "$work/consumer.err" >&2; exit 1
}
detach() {
  kill "$consumer"; wait "$consumer" || true; consumer=
  grep -h "consume:" "$work/consumer.err" | sed 's/^/    /' || true
}

# Prints "requests/s cpu-seconds-per-request".
nginx_round() {
  local c0 n0 c1 n1 out
  c0=$(cpu_of "$consumer"); n0=$(cpu_of "$worker")
  out=$(ip netns exec "$ns" /usr/bin/time -f "wrkcpu %U %S" wrk -t1 -c16 -d"${duration}s" http://127.0.0.1:8080/ 2>&1)
  c1=$(cpu_of "$consumer"); n1=$(cpu_of "$worker")
  awk -v c="$(sub "$c1" "$c0")" -v n="$(sub "$n1" "$n0")" '
    /requests in/ {reqs = $1} /Requests\/sec/ {rps = $2} /^wrkcpu/ {w = $2 + $3}
    END {printf "%s %.9f\n", rps, (c + n + w) / reqs}' <<<"$out"
}
# Prints "bytes/s cpu-seconds-per-byte" for a dd overwrite + read of a file whose pages exist.
fileio_round() {
  local c0 c1 t0 t1 cpu
  c0=$(cpu_of "$consumer"); t0=$(date +%s%N)
  cpu=$( { /usr/bin/time -f "%U %S" dd if=/dev/zero of="$iofile" bs="$dd_bs" count="$dd_count" conv=notrunc status=none; \
           /usr/bin/time -f "%U %S" dd if="$iofile" of=/dev/null bs="$dd_bs" status=none; } 2>&1 | awk '{s += $1 + $2} END {print s}')
  t1=$(date +%s%N); c1=$(cpu_of "$consumer")
  awk -v b="$(( $(numfmt --from=iec "${dd_bs^^}") * dd_count * 2 ))" -v ns=$((t1 - t0)) -v cpu="$(add "$cpu" "$(sub "$c1" "$c0")")" \
    'BEGIN {printf "%.0f %.15f\n", b / (ns / 1e9), cpu / b}'
}

# Prints "read-ns getppid-ns socket-write-ns", pinned to the last CPU (away from the consumer's
# usual CPU 0 on a small machine).
sysbench_round() {
  taskset -c "$(( $(nproc) - 1 ))" "$sysbench" "$sysbench_n" | awk '{v[NR] = $(NF - 1)} END {print v[1], v[2], v[3]}'
}

results=$work/results
micro=$work/micro
for r in $(seq "$rounds"); do
  read -r off_rps off_rcpu < <(nginx_round); read -r off_io off_iocpu < <(fileio_round)
  read -r off_rd off_gp off_sw < <(sysbench_round)
  attach floor
  read -r fl_rps fl_rcpu < <(nginx_round); read -r fl_io fl_iocpu < <(fileio_round)
  read -r fl_rd fl_gp fl_sw < <(sysbench_round)
  detach
  attach
  read -r on_rps on_rcpu < <(nginx_round); read -r on_io on_iocpu < <(fileio_round)
  read -r on_rd on_gp on_sw < <(sysbench_round)
  detach
  echo "$off_rps $on_rps $off_rcpu $on_rcpu $off_io $on_io $off_iocpu $on_iocpu $fl_rps $fl_rcpu $fl_io $fl_iocpu" >>"$results"
  echo "$off_rd $on_rd $off_gp $on_gp $off_sw $on_sw $fl_rd $fl_gp $fl_sw" >>"$micro"
  awk -v r="$r" '{printf "round %d: nginx off %.0f floor %.0f on %.0f req/s (CPU/request %.1f / %.1f / %.1f us); file I/O off %.0f floor %.0f on %.0f MiB/s\n",
        r, $1, $9, $2, $3 * 1e6, $10 * 1e6, $4 * 1e6, $5 / 1048576, $11 / 1048576, $6 / 1048576}' <<<"$(tail -1 "$results")"
  awk -v r="$r" '{printf "round %d: ns/syscall off/floor/on: read %.0f/%.0f/%.0f, getppid %.0f/%.0f/%.0f, socket write + event %.0f/%.0f/%.0f\n",
        r, $1, $7, $2, $3, $8, $4, $5, $9, $6}' <<<"$(tail -1 "$micro")"
done
awk -v bs="$dd_bs" '{r1 += $1; r2 += $2; c1 += $3; c2 += $4; i1 += $5; i2 += $6; k1 += $7; k2 += $8
    fr += $9; fc += $10; fi += $11; fk += $12}
  END {
    printf "nginx requests/s ratio (on/off):        %.3f   (target >= 0.95; floor/off %.3f)\n", r2 / r1, fr / r1
    printf "nginx CPU-per-request ratio (off/on):   %.3f   (off/floor %.3f)\n", c1 / c2, c1 / fc
    printf "file I/O throughput ratio (on/off):     %.3f   (target >= 0.97; dd bs=%s, tmpfs; floor/off %.3f)\n", i2 / i1, bs, fi / i1
    printf "file I/O CPU-per-byte ratio (off/on):   %.3f   (off/floor %.3f)\n", k1 / k2, k1 / fk }' "$results"
awk '{a += $2 - $1; b += $4 - $3; c += $6 - $5; fa += $7 - $1; fb += $8 - $3; fc += $9 - $5} END {
    printf "added ns per syscall (mean of rounds):  non-socket read %.0f, untraced (getppid) %.0f, socket write with event %.0f\n",
      a / NR, b / NR, c / NR
    printf "  of which the floor (empty program):   non-socket read %.0f, untraced (getppid) %.0f, socket write %.0f\n",
      fa / NR, fb / NR, fc / NR }' "$micro"
