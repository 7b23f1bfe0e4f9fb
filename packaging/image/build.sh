#!/usr/bin/env bash
# Builds the netobserver container image from local parts with a real dockerd, and saves it:
#   packaging/image/build.sh BIN TAG OUT.tar
# BIN holds the built netobserver and libebpf.so (make build). The root filesystem is those two in
# /usr/lib/netobserver, the libraries `ldd` says they load (at their paths), the dynamic loader,
# /etc/netobserver/pipeline.yaml (packaging/pipeline.yaml) and the CA certificates for TLS
# flushers. With DOCKER_HOST set (or /var/run/docker.sock answering) that daemon builds it;
# otherwise a private dockerd is started for the build on directories of its own (no iptables,
# no bridge) and stopped after. OUT.tar is `docker save` output: `docker load`, `ctr images import`
# or push it to a registry.
set -euo pipefail
bin=$(realpath "$1"); tag=$2; out=$(realpath -m "$3")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/noimg.XXXXXX)
dockerd_pid=
cleanup() {
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    grep " $work/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

rootfs=$work/ctx/rootfs
mkdir -p "$rootfs/usr/lib/netobserver" "$rootfs/etc/netobserver" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$bin/netobserver" "$bin/libebpf.so" "$rootfs/usr/lib/netobserver/"
cp "$here/../pipeline.yaml" "$rootfs/etc/netobserver/pipeline.yaml"
for lib in $(ldd "$bin/netobserver" "$bin/libebpf.so" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
fi
cp "$here/Dockerfile" "$work/ctx/"

docker=/usr/bin/docker; [ -x "$docker" ] || docker=docker
if [ -z "${DOCKER_HOST:-}" ] && ! "$docker" info >/dev/null 2>&1; then
  export DOCKER_HOST=unix://$work/docker.sock
  dockerd --iptables=false --ip6tables=false --bridge=none --ip-masq=false --ip-forward=false \
    --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    -H "$DOCKER_HOST" --containerd-namespace netobserver-image --containerd-plugins-namespace netobserver-image-plugins \
    >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 150); do "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
  "$docker" version >/dev/null 2>&1 || { echo "image: the private dockerd did not start:"; tail -20 "$work/dockerd.log"; exit 1; } >&2
fi
DOCKER_BUILDKIT=0 "$docker" build -q -t "$tag" "$work/ctx" >/dev/null
mkdir -p "$(dirname "$out")"
"$docker" save -o "$out" "$tag"
echo "image: $tag saved to $out ($(du -h "$out" | cut -f1))"
