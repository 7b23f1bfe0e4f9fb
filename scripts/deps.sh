#!/usr/bin/env bash
# Installs, idempotently, every Debian package the build, the tests and the benchmarks need.
# Run as root (CI is root); a machine that already has everything installs nothing and runs no apt.
set -euo pipefail

packages=(
  # build: cgo, the replay library, the CO-RE BPF objects and their loader
  gcc make pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
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
  # containerd on private sockets and directories; the packages' services must not run
  docker.io containerd runc
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
)
# `make kernel-matrix` only (scripts/deps.sh --kernel-matrix): qemu, a static busybox for the guests,
# kmod to resolve the guest kernels' module dependencies, the decompressors of their images.
if [ "${1:-}" = --kernel-matrix ]; then
  packages+=(qemu-system-x86 busybox-static kmod xz-utils zstd binutils)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
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
