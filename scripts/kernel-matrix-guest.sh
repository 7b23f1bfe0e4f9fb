#!/bin/sh
# The /init of a `make kernel-matrix` guest (scripts/kernel-matrix.sh builds the initramfs and
# parses what this prints). It mounts what the library needs, runs every test the booted kernel
# allows and reports on the serial console in lines starting with "KM|" (the host's table is made of
# them; a failing test also prints the tail of its log), then powers the guest off.
# Everything else a test prints stays in the guest's /tmp.
export PATH=/km/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bb
/bin/busybox mkdir -p /bb /proc /sys /dev /tmp /run
/bin/busybox --install -s /bb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
ulimit -l unlimited
hostname kmguest
ip link set lo up

# shellcheck disable=SC1091
. /km/params # KM_KERNEL, KM_REQUESTS (per end-to-end run), KM_SYSBENCH_ITERS, KM_TEST_TIMEOUT, KM_ACCEL
say() { echo "KM|$*"; }
BIN=/km/bin
BTF_FILE=/km/btf/vmlinux.btf

while read -r mod; do
	insmod "/km/modules/$mod" || say "error|insmod $mod failed"
done </km/modules/order

has() { [ -e "$1" ] && echo yes || echo no; }
kprobes=no
grep -q ' kprobe_' /proc/kallsyms 2>/dev/null && [ -e /sys/kernel/tracing/kprobe_events ] && kprobes=yes
say "boot|$(uname -r)|btf=$(has /sys/kernel/btf/vmlinux)|kprobes=$kprobes|cpus=$(nproc)|accel=$KM_ACCEL"

# A soft lockup shows every CPU's stack, not only the stuck one's.
echo 1 >/proc/sys/kernel/softlockup_all_cpu_backtrace 2>/dev/null || true

# show_fail LOG: the end of a failed test's log on the console.
show_fail() { tail -n 40 "$1" | sed 's/^/  | /'; }

# insncheck MODE [--btf FILE]: instructions per program on this kernel's verifier.
insncheck() {
	mode=$1
	shift
	log=/tmp/insncheck.$mode.log
	if timeout "$KM_TEST_TIMEOUT" bpf-insncheck "$@" >"$log" 2>&1; then
		awk -v m="$mode" 'NF == 5 && $2 ~ /^[0-9]+$/ { print "KM|insn|" m "|" $1 "|" $2 "|" $3 "|" $4 "|" $5 }' "$log"
		awk -v m="$mode" '$2 == "not" && $3 == "loaded:" { n = $1; $1 = $2 = $3 = ""; sub(/^ +/, ""); print "KM|insnskip|" m "|" n "|" $0 }' "$log"
		say "insncheck|$mode|PASS|$(sed -n 's/.*loaded in \([0-9]*\) ms.*/\1/p' "$log")"
	else
		say "insncheck|$mode|FAIL|"
		show_fail "$log"
	fi
}

# dropin MODE HOOK [portable|byte-scan]: the C drop-in test with one hook set forced, and the
# portable socket test or the byte loop of the HTTP header scan (instead of bpf_loop's).
dropin() {
	mode=$1 hook=$2 variant=${3:-}
	log=/tmp/dropin.$mode.$hook$variant.log
	# The library takes NETOBSERVER_BPF_PORTABLE / _NO_LOOP being set at all as "on": set them only then.
	set -- DROPIN_VERBOSE=1 NETOBSERVER_BPF_HOOK=$hook
	[ "$variant" = portable ] && set -- "$@" NETOBSERVER_BPF_PORTABLE=1
	[ "$variant" = byte-scan ] && set -- "$@" NETOBSERVER_BPF_NO_LOOP=1
	[ "$mode" = btf-file ] && set -- "$@" DROPIN_BTF=$BTF_FILE
	# Its waits for events are sized for real CPUs; an emulated one gets five times as long.
	[ "$KM_ACCEL" = tcg ] && set -- "$@" DROPIN_WAIT_SCALE=5
	start=$(date +%s)
	if env "$@" timeout "$KM_TEST_TIMEOUT" bpf-dropin $BIN/libebpf.so >"$log" 2>&1 && grep -q '^PASS dropin' "$log"; then
		result=PASS
	else
		result=FAIL
	fi
	used=$(sed -n 's/.*syscall hooks: \([a-z_]*\).*/\1/p' "$log" | tail -n 1)
	transport=$(sed -n 's/.*transport: per-CPU \(.*\)/\1/p' "$log" | tail -n 1 | cut -d' ' -f1-3)
	socktest=$(sed -n 's/.*socket test: \([A-Za-z-]*\).*/\1/p' "$log" | tail -n 1)
	init_ms=$(sed -n 's/^ok   ebpf_init (\([0-9]*\) ms)/\1/p' "$log")
	events=$(sed -n 's/^PASS dropin: \([0-9]*\) events.*/\1/p' "$log")
	say "dropin|$mode|$hook${variant:+ $variant}|$used|$transport|$socktest|$result|$init_ms|$events|$(($(date +%s) - start))"
	[ $result = PASS ] || show_fail "$log"
}

# Two namespaces on a veth pair for the end-to-end runs (the drop-in test makes its own).
ip netns add kma && ip netns add kmb
ip link add kmva type veth peer name kmvb
ip link set kmva netns kma && ip link set kmvb netns kmb
ip -n kma addr add 10.203.0.1/24 dev kmva && ip -n kmb addr add 10.203.0.2/24 dev kmvb
ip -n kma link set lo up && ip -n kma link set kmva up
ip -n kmb link set lo up && ip -n kmb link set kmvb up
mkdir -p /tmp/nginx
cat >/tmp/nginx/nginx.conf <<EOF
daemon off; master_process off; worker_processes 1; pid /tmp/nginx/nginx.pid; error_log /tmp/nginx/error.log;
events { worker_connections 64; }
http { access_log /tmp/nginx/access.log; client_body_temp_path /tmp/nginx; proxy_temp_path /tmp/nginx;
  fastcgi_temp_path /tmp/nginx; uwsgi_temp_path /tmp/nginx; scgi_temp_path /tmp/nginx;
  server { listen 10.203.0.2:8080;
    location /hello { default_type text/plain; return 200 "hello from nginx\n"; } } }
EOF
ip netns exec kmb nginx -c /tmp/nginx/nginx.conf -p /tmp/nginx >/tmp/nginx/out 2>&1 &
cat >/tmp/pipeline.yaml <<EOF
enable: true
inputs:
  - Type: observer_ilogtail_network_v1
    Common:
      FlushOutL4Interval: 600
      FlushOutL7Interval: 600
    EBPF:
      Enabled: true
processors:
  - Type: processor_default
flushers:
  - Type: flusher_jsonl
    Path: /tmp/records.jsonl
  - Type: flusher_prometheus_exporter
    Listen: 127.0.0.1:9464
EOF

# calls: the HTTP calls netobserver has made of the events so far (its /metrics; not its event
# count, which each scrape's own loopback connection moves).
calls() {
	curl -s --max-time 5 http://127.0.0.1:9464/metrics | awk '/^netobserver_l7_calls_total/ { s += $NF } END { print s + 0 }'
}

# caught_up: waits until netobserver's call count stands still for 6 s (it publishes at least
# every 5 s), at most 120 s: events still in the kernel buffers when it stops are not read (the
# library frees them), so the counts are checked only after the consumer has caught up.
caught_up() {
	last=-1 still=0 i=0
	while [ $still -lt 6 ] && [ $i -lt 120 ]; do
		now=$(calls)
		if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; fi
		last=$now
		sleep 1
		i=$((i + 1))
	done
}

# count ROLE: total_count of the http record of that role for GET /hello 200 (0 if none).
count() {
	grep '"protocol":"http"' /tmp/records.jsonl | grep "\"role\":\"$1\"" | grep '"url":"/hello"' |
		grep '"resp_code":"200"' | sed -n 's/.*"total_count":"\([0-9]*\)".*/\1/p' | awk '{ s += $1 } END { print s + 0 }'
}

# prog_stats: "name run_cnt run_time_ns" of every loaded program (bpf_stats must be on).
prog_stats() {
	bpftool prog show 2>/dev/null | awk '/^[0-9]+:/ { n = ""; rc = 0; rt = 0
		for (i = 1; i <= NF; i++) { if ($i == "name") n = $(i + 1); if ($i == "run_time_ns") rt = $(i + 1); if ($i == "run_cnt") rc = $(i + 1) }
		if (n != "") print n, rc, rt }'
}

# e2e MODE HOOK: bin/netobserver captures KM_REQUESTS keep-alive requests of one curl to nginx;
# both records (client: curl, server: nginx) must count exactly KM_REQUESTS, and nginx's access
# log must have exactly that many lines more.
e2e() {
	mode=$1 hook=$2
	log=/tmp/netobserver.$mode.$hook.log
	rm -f /tmp/records.jsonl
	before=$(wc -l </tmp/nginx/access.log 2>/dev/null || echo 0)
	set --
	[ "$mode" = btf-file ] && set -- --btf $BTF_FILE
	[ "$hook" = auto ] || export NETOBSERVER_BPF_HOOK=$hook
	$BIN/netobserver --config /tmp/pipeline.yaml --libebpf $BIN/libebpf.so "$@" >"$log" 2>&1 &
	pid=$!
	unset NETOBSERVER_BPF_HOOK
	i=0
	while ! grep -q 'netobserver: observing' "$log" && [ $i -lt 300 ] && kill -0 $pid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	result=FAIL detail=
	if grep -q 'netobserver: observing' "$log"; then
		sysctl -qw kernel.bpf_stats_enabled=1
		prog_stats >/tmp/stats.before
		ip netns exec kma timeout 60 curl -sS --max-time 50 "http://10.203.0.2:8080/hello?[1-$KM_REQUESTS]" >/tmp/curl.out 2>&1
		prog_stats >/tmp/stats.after
		sysctl -qw kernel.bpf_stats_enabled=0
		caught_up
		kill -TERM $pid
		wait $pid
		rc=$?
		served=$(($(wc -l </tmp/nginx/access.log) - before))
		replies=$(grep -c 'hello from nginx' /tmp/curl.out)
		client=$(count client) server=$(count server)
		detail="curl $replies replies, nginx $served logged, records client $client server $server, $last calls counted before SIGTERM, exit $rc"
		[ "$replies" = "$KM_REQUESTS" ] && [ "$served" = "$KM_REQUESTS" ] && [ "$client" = "$KM_REQUESTS" ] &&
			[ "$server" = "$KM_REQUESTS" ] && [ $rc = 0 ] && result=PASS
		# Per request: run count and run time of each program that ran (bpf_stats, before/after).
		awk -v m="$mode" -v h="$hook" -v n="$KM_REQUESTS" 'NR == FNR { c[$1] = $2; t[$1] = $3; next }
			$2 - c[$1] > 0 { printf "KM|bpfstats|%s|%s|%s|%.2f|%.0f\n", m, h, $1, ($2 - c[$1]) / n, ($3 - t[$1]) / n }' \
			/tmp/stats.before /tmp/stats.after
	else
		kill -TERM $pid 2>/dev/null
		wait $pid
		detail="netobserver did not start"
	fi
	used=$(sed -n 's/.*syscall hooks: \([a-z_]*\).*/\1/p' "$log" | tail -n 1)
	transport=$(sed -n 's/.*transport: per-CPU \([A-Za-z ]*buffers\).*/\1/p' "$log" | tail -n 1)
	socktest=$(sed -n 's/.*socket test: \([A-Za-z-]*\).*/\1/p' "$log" | tail -n 1)
	say "e2e|$mode|$hook|$used|$transport|$socktest|$result|$detail"
	[ $result = PASS ] || show_fail "$log"
}

# sysbench: the dispatch floor of each hook kind (an empty program) per syscall, measured from user
# space; the input of the kprobe/fentry question.
sysbench() {
	for floor in none tp_btf fentry kprobe; do
		pid=
		if [ $floor != none ]; then
			bpf-floor $floor >/tmp/floor.out 2>&1 &
			pid=$!
			i=0
			while ! grep -q ready /tmp/floor.out && [ $i -lt 100 ] && kill -0 $pid 2>/dev/null; do
				sleep 0.1
				i=$((i + 1))
			done
			if ! grep -q ready /tmp/floor.out; then
				say "sysbench|$floor|FAIL|$(tail -n 1 /tmp/floor.out)"
				continue
			fi
		fi
		taskset -c 1 bpf-sysbench "$KM_SYSBENCH_ITERS" >/tmp/sysbench.out 2>&1
		awk -v f="$floor" '{ print "KM|sysbench|" f "|" $0 }' /tmp/sysbench.out
		[ -n "$pid" ] && kill -TERM $pid && wait $pid
	done
}

# With the kernel's own BTF: every hook set, each transport it uses, both socket-test builds.
insncheck btf-sys
dropin btf-sys tp_btf
dropin btf-sys tp_btf portable
dropin btf-sys tp_btf byte-scan
dropin btf-sys raw_tp
dropin btf-sys tracepoint
for hook in auto tp_btf raw_tp tracepoint; do e2e btf-sys $hook; done
[ $kprobes = yes ] && sysbench

# Without it: /sys/kernel/btf hidden, the BTF extracted from the kernel image passed as a file.
mount -t tmpfs tmpfs /sys/kernel/btf
say "boot|$(uname -r)|btf=$(has /sys/kernel/btf/vmlinux)|btf-file=$(wc -c <$BTF_FILE) bytes"
insncheck btf-file --btf $BTF_FILE
dropin btf-file raw_tp
dropin btf-file tracepoint
e2e btf-file auto

say done
sync
poweroff -f
