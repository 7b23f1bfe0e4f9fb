#!/usr/bin/env bash
# Installs, idempotently, every Debian package the build, the tests and the benchmarks need.
# Run as root (CI is root); a machine that already has everything installs nothing and runs no apt.
set -euo pipefail

packages=(
  # build: cgo, the replay library, the CO-RE BPF objects and their loader
  gcc make pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  # clang's libFuzzer and AddressSanitizer runtimes: the fuzz target of bpf/detect.h (make fuzz)
  libclang-rt-dev
  # kernel tests: network namespaces, real servers and clients
  iproute2 procps nginx-light curl dnsmasq-base bind9-dnsutils
  redis-server redis-tools postgresql postgresql-client mariadb-server mariadb-client
  # a MariaDB client that runs server-side prepared statements (cmd/netobserver hostile tests)
  libdbd-mariadb-perl
  # benchmarks
  wrk time jq
  # the accuracy tier (make accuracy): third-party load generators that report their own counts
  sysbench dnsperf apache2-utils
  # re-recording protocol captures from real traffic (parser/dns/testdata/capture.sh)
  strace
  # container runtimes (container tests, make image): the tests start their own dockerd and
  # containerd on private sockets and directories; the packages' services must not run. There is
  # no registry: their images are built from a static busybox
  docker.io containerd runc busybox-static
  # Kafka's real client (librdkafka's kcat) for the kernel and accuracy tests; the broker is
  # franz-go's kfake, a Go module (tools/kafkapeer)
  kcat
  # memcached and NATS: servers and clients of the captures, the kerneltest and the accuracy tier
  memcached libmemcached-tools nats-server
  # MQTT and AMQP: brokers and their clients (kernel tests, accuracy tier, parser captures)
  mosquitto mosquitto-clients rabbitmq-server amqp-tools
  # HTTP/2 (h2c): h2load and nghttp, the clients of the captures, the kernel test and the accuracy tier
  nghttp2-client
  # TLS: certificates for the tests (openssl), the OpenSSL headers of the probes' offsets check
  # (bpf/test/ssloffsets.c), python3 (a client calling SSL_read_ex/SSL_write_ex)
  openssl libssl-dev python3
  # OpenSSL 1.1 fetched from Debian 11 (fetch_openssl11 below): bullseye's signing key
  debian-archive-keyring
)
# `make kernel-matrix` only (scripts/deps.sh --kernel-matrix): qemu (the guests' static busybox is
# above), kmod to resolve the guest kernels' module dependencies, the decompressors of their images.
if [ "${1:-}" = --kernel-matrix ]; then
  packages+=(qemu-system-x86 kmod xz-utils zstd binutils)
fi

# OpenSSL 1.1.1 (Debian 11's libssl1.1, openssl and libssl-dev), fetched, never installed: Debian 12
# ships only libssl3, and the OpenSSL 1.1 probes are tested against the real library
# (bin/bpf-ssloffsets11, TestTLSOpenSSL11 in bpf/kerneltest). apt with a private state directory
# and bullseye's signing key; the packages are unpacked with dpkg-deb -x into $OPENSSL11, which
# the tests use through LD_LIBRARY_PATH. Idempotent: a complete directory is kept.
OPENSSL11=${OPENSSL11:-/var/cache/netobserver/openssl-1.1}
fetch_openssl11() {
  [ -e "$OPENSSL11/.complete" ] && return 0
  local key=/usr/share/keyrings/debian-archive-bullseye-stable.gpg
  if [ ! -r "$key" ]; then
    echo "deps: OpenSSL 1.1: no $key (package debian-archive-keyring) to check bullseye's signature" >&2
    return 1
  fi
  local work
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
  echo "deb [signed-by=$key] http://deb.debian.org/debian bullseye main" >"$work/sources.list"
  local opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Dir::State::Status=/dev/null
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o Acquire::http::Timeout=30)
  echo "deps: fetching OpenSSL 1.1 (libssl1.1 openssl libssl-dev) from Debian 11 into $OPENSSL11"
  if ! apt-get "${opts[@]}" update >"$work/log" 2>&1 || grep -q '^[WE]:' "$work/log"; then
    echo "deps: OpenSSL 1.1: apt-get update of bullseye (deb.debian.org) failed or was not verified:" >&2
    cat "$work/log" >&2; rm -rf "$work"; return 1
  fi
  if ! (cd "$work/debs" && apt-get "${opts[@]}" download libssl1.1 openssl libssl-dev) >"$work/log" 2>&1; then
    echo "deps: OpenSSL 1.1: apt-get download of libssl1.1 openssl libssl-dev from bullseye failed:" >&2
    cat "$work/log" >&2; rm -rf "$work"; return 1
  fi
  rm -rf "$OPENSSL11"; mkdir -p "$OPENSSL11"
  for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$OPENSSL11"
  done
  ls "$work/debs" >"$OPENSSL11/.complete"
  rm -rf "$work"
  if ! LD_LIBRARY_PATH="$OPENSSL11/usr/lib/x86_64-linux-gnu" "$OPENSSL11/usr/bin/openssl" version | grep -q '^OpenSSL 1\.1\.1'; then
    echo "deps: OpenSSL 1.1: the fetched openssl does not run as OpenSSL 1.1.1" >&2
    rm -rf "$OPENSSL11"; return 1
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  fetch_openssl11
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}; run 'make deps' as root" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Servers must not start on install: the tests start their own inside network namespaces.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
fetch_openssl11
