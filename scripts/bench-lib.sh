# scripts/bench-lib.sh — helpers the benchmark scripts share; sourced, not run.

hz=$(getconf CLK_TCK)
# CPU seconds (user + system) a process has used so far; 0 when there is none.
cpu_of() {
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  awk -v hz="$hz" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"
}
add() { awk -v a="$1" -v b="$2" 'BEGIN {print a + b}'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN {print a - b}'; }

# stop_pid PID: TERM, wait up to 10 s, then KILL.
stop_pid() {
  local p=$1
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

# veth_pair SRV_NS CLI_NS TAG SRV_IP CLI_IP: two new network namespaces joined by a veth pair
# (TAGa in SRV_NS, TAGb in CLI_NS, /24 addresses), loopback up in both.
veth_pair() {
  local srv=$1 cli=$2 tag=$3
  ip netns add "$srv"
  ip netns add "$cli"
  ip link add "${tag}a" type veth peer name "${tag}b"
  ip link set "${tag}a" netns "$srv"
  ip link set "${tag}b" netns "$cli"
  ip -n "$srv" addr add "$4/24" dev "${tag}a"
  ip -n "$cli" addr add "$5/24" dev "${tag}b"
  for ns in "$srv" "$cli"; do ip -n "$ns" link set lo up; done
  ip -n "$srv" link set "${tag}a" up
  ip -n "$cli" link set "${tag}b" up
}

# CPU seconds a process's live threads have run, from the scheduler's nanosecond counters
# (/proc/PID/task/*/schedstat): cpu_of counts 10 ms ticks, 0.4 us per request over 25 000 requests.
cpu_ns_of() {
  [ -n "${1:-}" ] && [ -d "/proc/$1/task" ] || { echo 0; return; }
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%.9f\n", ns / 1e9}'
}

# bench_pipeline FILE RECORDS PORT: the benchmarks' pipeline file — records as JSON lines to
# RECORDS every 5 s (one 64 MiB file), metrics on 127.0.0.1:PORT; DATA_PAGES sets EBPF.DataBufferPages.
bench_pipeline() {
  cat >"$1" <<CONF
enable: true
inputs:
  - Type: observer_ilogtail_network_v1
    Common:
      FlushOutL4Interval: 5
      FlushOutL7Interval: 5
    EBPF:
      Enabled: true${DATA_PAGES:+
      DataBufferPages: $DATA_PAGES}${KERNEL_AGG:+
      KernelAggregation: [$KERNEL_AGG]}
processors:
  - Type: processor_default
flushers:
  - Type: flusher_jsonl
    Path: $2
    MaxSize: 67108864
    MaxRolls: 1
  - Type: flusher_prometheus_exporter
    Listen: 127.0.0.1:$3
    Path: /metrics
CONF
}

# bench_setup NAME TAG OCTET: the preamble of a benchmark between two network namespaces. Sets
# bench (NAME, for messages), srv and cli (namespaces TAG<pid>s and TAG<pid>c), srv_ip and cli_ip
# (10.OCTET.0.1 and .2), work (a temporary directory), records (the observer's JSON lines, in
# /dev/shm), and empties obs, floorpid and server (processes the benchmark starts: stopped on
# exit, as is nginx by $work/nginx.pid) and stats_prev (kernel.bpf_stats_enabled to restore). The
# namespaces are made by veth_pair, later; bench_cleanup runs on exit, also on a signal.
bench_setup() {
  bench=$1
  tag=$2$$
  srv=${tag}s cli=${tag}c
  srv_ip=10.$3.0.1 cli_ip=10.$3.0.2
  work=$(mktemp -d "/tmp/$bench.XXXXXX")
  records=/dev/shm/$bench.$$.jsonl
  obs= floorpid= server= stats_prev=
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM HUP PIPE
}

# bench_nginx [NOFILE]: nginx in $srv on $srv_ip:8080 answering "hello, benchmark" (one worker,
# keep-alive connections that never end, no access log), ready once curl from $cli gets it;
# NOFILE raises its open-file limit and its connections with it.
bench_nginx() {
  local events="events { worker_connections 1024; }"
  [ -z "${1:-}" ] ||
    events="worker_rlimit_nofile $1; events { worker_connections $(( $1 - 100 < 16384 ? $1 - 100 : 16384 )); }"
  cat >"$work/nginx.conf" <<CONF
worker_processes 1; pid $work/nginx.pid; error_log $work/error.log;
$events
http { access_log off; client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work; keepalive_requests 1000000; keepalive_timeout 600s;
  server { listen $srv_ip:8080 backlog=4096; location / { default_type text/plain; return 200 "hello, benchmark\n"; } } }
CONF
  ip netns exec "$srv" nginx -c "$work/nginx.conf" -p "$work"
  for _ in $(seq 50); do ip netns exec "$cli" curl -s -o /dev/null "http://$srv_ip:8080/" && break; sleep 0.1; done
  ip netns exec "$cli" curl -sf -o /dev/null "http://$srv_ip:8080/" || { echo "${bench:-bench}: nginx did not start" >&2; exit 1; }
}

bench_cleanup() {
  [ -n "$floorpid" ] && stop_pid "$floorpid"
  [ -n "$server" ] && stop_pid "$server"
  [ -n "$obs" ] && stop_pid "$obs"
  [ -f "$work/nginx.pid" ] && stop_pid "$(cat "$work/nginx.pid")"
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  [ -z "$stats_prev" ] || sysctl -q -w kernel.bpf_stats_enabled="$stats_prev" || true
  rm -rf "$work" "$records"*
}

# bench_require CMD...: root, and every command on PATH.
bench_require() {
  [ "$(id -u)" -eq 0 ] || { echo "$bench: must run as root" >&2; exit 1; }
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || { echo "$bench: $c is missing (scripts/deps.sh)" >&2; exit 1; }
  done
}

# bench_port FIRST: sets port to the first of FIRST … FIRST+50 nothing listens on.
bench_port() {
  local p
  port=
  for p in $(seq "$1" $(($1 + 50))); do
    ss -Hltn "sport = :$p" | grep -q . || { port=$p; break; }
  done
  [ -n "$port" ] || { echo "$bench: no free port for the metrics" >&2; exit 1; }
}

# bench_observer: starts $netobserver on $work/pipeline.yaml with $so, its log in
# $work/observer.log, and waits until it observes; sets obs.
bench_observer() {
  "$netobserver" --config "$work/pipeline.yaml" --libebpf "$so" >/dev/null 2>"$work/observer.log" &
  obs=$!
  for _ in $(seq 300); do
    grep -q "netobserver: observing" "$work/observer.log" 2>/dev/null && break
    kill -0 "$obs" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "netobserver: observing" "$work/observer.log" || { echo "$bench: netobserver did not start:" >&2; cat "$work/observer.log" >&2; exit 1; }
}
