#!/usr/bin/env bash
# Re-creates the captures (*.txt) in this directory from real traffic: dnsmasq serves the zone in
# dnsmasq.conf on 127.0.0.1, dig queries it, and strace records the bytes of every socket syscall
# on both sides (server: dnsmasq; client: dig), which is what the eBPF side sees. strace2vec.go
# turns the traces into one line per syscall. IDs and EDNS cookies are random, so a re-run gives
# different bytes with the same structure; the tests only assert structure.
#
# Needs dnsmasq, dig (bind9-dnsutils), strace and go. Usage: ./capture.sh [port]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${1:-15353}
tmp=$(mktemp -d)
dnsmasq_pid=
cleanup() {
	if [ -n "$dnsmasq_pid" ]; then kill "$dnsmasq_pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

trace=(strace -ff -ttt -yy -xx -s 65535
	-e trace=sendto,recvfrom,sendmsg,recvmsg,sendmmsg,recvmmsg,read,write,readv,writev)

"${trace[@]}" -o "$tmp/server" dnsmasq --no-daemon --conf-file="$here/dnsmasq.conf" \
	--port="$port" --listen-address=127.0.0.1 &
strace_pid=$!
# dnsmasq is strace's child; it is what must be stopped (strace then exits by itself).
for _ in $(seq 50); do
	dnsmasq_pid=$(pgrep -P "$strace_pid" -x dnsmasq || true)
	[ -n "$dnsmasq_pid" ] && dig @127.0.0.1 -p "$port" +tries=1 +time=1 example.test >/dev/null 2>&1 && break
	sleep 0.1
done
[ -n "$dnsmasq_pid" ] || { echo "capture: dnsmasq did not start" >&2; exit 1; }

# capture NAME DIG-ARGS...: one dig run, both sides, into NAME.txt.
capture() {
	local name=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	"${trace[@]}" -o "$tmp/$name" dig @127.0.0.1 -p "$port" +tries=1 +time=2 "$@" >"$tmp/$name.dig"
	sleep 0.2 # let the server's trace catch up
	t1=$(date +%s.%N)
	{
		echo "# dig @127.0.0.1 -p PORT +tries=1 +time=2 $*"
		echo "# $(dnsmasq --version | head -1); $(dig -v 2>&1)"
		echo "# <side> <syscall> <send|recv> <hex per iovec segment>"
		(cd "$here" && go run strace2vec.go -side server -port "$port" -from "$t0" -to "$t1" "$tmp"/server.*)
		(cd "$here" && go run strace2vec.go -side client -port 0 "$tmp/$name".*)
	} >"$here/$name.txt"
	sed 's/^/#   /' "$tmp/$name.dig" | grep -E '^#   (;; ->>HEADER|[^;].*IN)' >>"$here/$name.txt" || true
}

capture udp_a example.test A
capture udp_aaaa dual.test AAAA
capture udp_nxdomain nope.test A
capture udp_txt txt.test TXT
capture udp_cname alias.test A
capture udp_mx mx.test MX
capture udp_srv _sip._tcp.srv.test SRV
capture udp_ptr -x 10.9.8.7
capture udp_multi multi.test A
capture udp_https dual.test HTTPS
capture tcp_a +tcp example.test A
capture tcp_aaaa +tcp dual.test AAAA
capture tcp_two +tcp +keepopen example.test A dual.test AAAA
