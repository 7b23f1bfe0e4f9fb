#!/usr/bin/env bash
# The cost of the TLS probes (OpenSSL uprobes) per TLS call, on this machine. bin/netobserver
# observes every process while h2load makes requests one at a time (-c 1 -m 1) to nginx over TLS,
# HTTP/2 (ALPN h2) and HTTP/1.1 (--h1); both ends use the system's libssl. Three arms, alternated
# within each round (the syscall hooks run in all three):
#   off    EBPF.TLSProbes false;
#   floor  EBPF.TLSProbes false, and bin/bpf-floor's empty uprobe program as entry and return probe
#          on SSL_read, SSL_write, SSL_read_ex, SSL_write_ex: the traps alone;
#   on     EBPF.TLSProbes true: traps, the TLS programs, the plaintext events and their parsing.
# Printed per arm: requests/s, µs per request, the observer's CPU µs per request. In the "on" arm,
# with kernel.bpf_stats_enabled=1 (restored on exit): run_time_ns / run_cnt of each TLS program and
# its runs per request.
# Usage: scripts/bench-tls.sh [BINDIR]   (root)   ROUNDS=3 N=20000
set -euo pipefail
bindir=${1:-bin}
netobserver=$bindir/netobserver
so=$bindir/libebpf.so
rounds=${ROUNDS:-3}
n=${N:-20000}
. "$(dirname "$0")/bench-lib.sh"
bench_setup bench-tls ntls 254

bench_require bpftool jq nginx h2load openssl ip ss sysctl readelf nm
[ -x "$bindir/bpf-floor" ] || { echo "bench-tls: $bindir/bpf-floor is missing (make $bindir/bpf-floor)" >&2; exit 1; }

veth_pair "$srv" "$cli" "$tag" "$srv_ip" "$cli_ip"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/crt.pem" -days 1 -subj /CN=bench-tls 2>/dev/null
cat >"$work/nginx.conf" <<CONF
worker_processes 1; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work; keepalive_requests 1000000; keepalive_timeout 600s;
  server { listen $srv_ip:8443 ssl http2; ssl_certificate $work/crt.pem; ssl_certificate_key $work/key.pem;
    location / { default_type text/plain; return 200 "hello, benchmark\n"; } } }
CONF
ip netns exec "$srv" nginx -c "$work/nginx.conf" -p "$work"
url=https://$srv_ip:8443/
for _ in $(seq 50); do ip netns exec "$cli" h2load -n 1 "$url" >/dev/null 2>&1 && break; sleep 0.1; done

bench_port $((19500 + $$ % 400))

start_observer() { # $1: true|false (EBPF.TLSProbes)
  bench_pipeline "$work/pipeline.yaml" "$records" "$port"
  sed -i "s/      Enabled: true/      Enabled: true\n      TLSProbes: $1/" "$work/pipeline.yaml"
  bench_observer
  if [ "$1" = true ]; then
    for _ in $(seq 100); do grep -q "tls probes: attached" "$work/observer.log" && break; sleep 0.1; done
    grep -q "tls probes: attached" "$work/observer.log" || { echo "bench-tls: no libssl probed:" >&2; cat "$work/observer.log" >&2; exit 1; }
  fi
  sleep 1
}

tls_snap() { # "name run_time_ns run_cnt" of the TLS programs
  bpftool prog show --json | jq -r '.[] | select(.name | startswith("tls_openssl")) | "\(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"' |
    awk '{t[$1] += $2; c[$1] += $3} END {for (k in t) print k, t[k], c[k]}' | sort
}

# The file offsets of the four functions in the system's libssl (value - vaddr + offset of the
# executable PT_LOAD), for the floor.
# No early exit in the awk: ldconfig would die of SIGPIPE, and pipefail end the script silently.
libssl=$(ldconfig -p | awk '$1 == "libssl.so.3" && /x86-64/ && !f {print $NF; f = 1}')
read -r seg_off seg_vaddr < <(readelf -lW "$libssl" | awk '$1 == "LOAD" && $8 == "E" {print $2, $3; exit}')
offsets=$(nm -D "$libssl" | awk -v o=$((seg_off)) -v v=$((seg_vaddr)) \
  '$3 ~ /^SSL_(read|write)(_ex)?@@/ {printf "0x%x ", strtonum("0x" $1) - v + o}')

stats_prev=$(sysctl -n kernel.bpf_stats_enabled)
printf '%-8s %-6s %5s %12s %12s %14s\n' http arm round 'req/s' 'us/req' 'observer us/req'
for r in $(seq "$rounds"); do
  for arm in off floor on; do
    probes=false; [ "$arm" = on ] && probes=true
    start_observer "$probes"
    if [ "$arm" = floor ]; then
      # shellcheck disable=SC2086
      "$bindir/bpf-floor" uprobe "$libssl" $offsets >"$work/floor.out" 2>&1 &
      floorpid=$!
      for _ in $(seq 100); do grep -q ready "$work/floor.out" && break; kill -0 "$floorpid" 2>/dev/null || break; sleep 0.1; done
      grep -q ready "$work/floor.out" || { echo "bench-tls: bpf-floor did not start:" >&2; cat "$work/floor.out" >&2; exit 1; }
    fi
    for proto in h2 h1; do
      extra=; [ "$proto" = h1 ] && extra=--h1
      [ "$probes" = true ] && { sysctl -q -w kernel.bpf_stats_enabled=1; tls_snap >"$work/before"; }
      cpu0=$(cpu_ns_of "$obs")
      out=$(ip netns exec "$cli" h2load $extra -n "$n" -c 1 -m 1 "$url")
      cpu1=$(cpu_ns_of "$obs")
      [ "$probes" = true ] && { tls_snap >"$work/after"; sysctl -q -w kernel.bpf_stats_enabled="$stats_prev"; }
      ok=$(grep -oP '\d+(?= succeeded)' <<<"$out")
      [ "$ok" = "$n" ] || { echo "bench-tls: h2load: $out" >&2; exit 1; }
      rps=$(grep -oP 'finished in [^,]+, \K[0-9.]+(?= req/s)' <<<"$out")
      printf '%-8s %-6s %5d %12s %12.1f %14.1f\n' "$proto" "$arm" "$r" "$rps" "$(awk -v r="$rps" 'BEGIN {print 1e6 / r}')" \
        "$(awk -v a="$cpu0" -v b="$cpu1" -v n="$n" 'BEGIN {print (b - a) * 1e6 / n}')"
      if [ "$probes" = true ]; then
        join "$work/before" "$work/after" | awk -v n="$n" -v proto="$proto" '{dt = $4 - $2; dc = $5 - $3; if (dc > 0) printf "    %-6s %-28s %8d runs %6.2f per request %7.0f ns per run\n", proto, $1, dc, dc / n, dt / dc}'
      fi
    done
    [ -n "$floorpid" ] && { stop_pid "$floorpid"; floorpid=; }
    stop_pid "$obs"; obs=
  done
done
