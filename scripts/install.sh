#!/usr/bin/env bash
# Installs (or uninstalls) netobserver on a host, in iLogtail's layout: the binary and libebpf.so
# side by side in one directory, where the binary finds the library (beside its own real path:
# the bin/ symlink resolves to it). Run by `make install` / `make uninstall`, or by hand:
#
#   scripts/install.sh [install|uninstall]
#
# Settings (environment):
#   PREFIX=/usr/local          where everything but the config goes
#   DESTDIR=                   staging root for packaging; every path is written under it
#   SYSCONFDIR=/etc            the config is $SYSCONFDIR/netobserver/pipeline.yaml
#   UNITDIR=$PREFIX/lib/systemd/system   (systemd reads /usr/local/lib/systemd/system too)
#   BIN=bin                    where `make build` put netobserver and libebpf.so
#
# Files:
#   $PREFIX/lib/netobserver/netobserver        0755  the binary
#   $PREFIX/lib/netobserver/libebpf.so         0644  the capture library, beside it
#   $PREFIX/bin/netobserver                    symlink -> ../lib/netobserver/netobserver
#   $UNITDIR/netobserver.service               0644  the systemd unit, with these paths
#   $PREFIX/share/netobserver/pipeline.yaml    0644  the example config (always the current one)
#   $PREFIX/share/doc/netobserver/README.md    0644
#   $SYSCONFDIR/netobserver/pipeline.yaml      0644  the example, only if no config is there
#
# Uninstall removes all of these except a config that differs from the example: a user's config
# is never overwritten nor deleted. Neither step starts, stops or enables the service; both say
# what to run.
set -euo pipefail

action=${1:-install}
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
BIN=${BIN:-bin}
src=$(cd "$(dirname "$0")/.." && pwd)

libdir=$PREFIX/lib/netobserver
bindir=$PREFIX/bin
sharedir=$PREFIX/share/netobserver
docdir=$PREFIX/share/doc/netobserver
confdir=$SYSCONFDIR/netobserver
config=$confdir/pipeline.yaml

say() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

# A relative symlink target, so the link is right inside DESTDIR and after the tree is moved.
relative() { realpath -m --relative-to="$1" "$2"; }

install_all() {
  local bin_src
  case "$BIN" in /*) bin_src=$BIN ;; *) bin_src=$src/$BIN ;; esac
  for f in netobserver libebpf.so; do
    [ -f "$bin_src/$f" ] || die "$bin_src/$f is missing: run 'make build' first"
  done
  install -d -m 0755 "$DESTDIR$libdir" "$DESTDIR$bindir" "$DESTDIR$UNITDIR" "$DESTDIR$sharedir" \
    "$DESTDIR$docdir" "$DESTDIR$confdir"
  install -m 0755 "$bin_src/netobserver" "$DESTDIR$libdir/netobserver"
  install -m 0644 "$bin_src/libebpf.so" "$DESTDIR$libdir/libebpf.so"
  ln -sfn "$(relative "$bindir" "$libdir/netobserver")" "$DESTDIR$bindir/netobserver"
  sed -e "s|@BINDIR@|$bindir|g" -e "s|@CONFIG@|$config|g" -e "s|@DOCDIR@|$docdir|g" \
    "$src/packaging/netobserver.service.in" >"$DESTDIR$UNITDIR/netobserver.service"
  chmod 0644 "$DESTDIR$UNITDIR/netobserver.service"
  install -m 0644 "$src/packaging/pipeline.yaml" "$DESTDIR$sharedir/pipeline.yaml"
  install -m 0644 "$src/README.md" "$DESTDIR$docdir/README.md"
  if [ -e "$DESTDIR$config" ] || [ -L "$DESTDIR$config" ]; then
    say "kept $DESTDIR$config (the example is $sharedir/pipeline.yaml)"
  else
    install -m 0644 "$src/packaging/pipeline.yaml" "$DESTDIR$config"
    say "wrote the example config $DESTDIR$config"
  fi
  say "installed netobserver in $DESTDIR$libdir ($DESTDIR$bindir/netobserver links to it)"
  if [ -z "$DESTDIR" ]; then
    say "start it: systemctl daemon-reload && systemctl enable --now netobserver"
  fi
}

uninstall_all() {
  rm -f "$DESTDIR$bindir/netobserver" "$DESTDIR$libdir/netobserver" "$DESTDIR$libdir/libebpf.so" \
    "$DESTDIR$UNITDIR/netobserver.service" "$DESTDIR$docdir/README.md"
  if [ -f "$DESTDIR$config" ] && [ -f "$DESTDIR$sharedir/pipeline.yaml" ] &&
    cmp -s "$DESTDIR$config" "$DESTDIR$sharedir/pipeline.yaml"; then
    rm -f "$DESTDIR$config" # the unchanged example
  elif [ -e "$DESTDIR$config" ]; then
    say "kept $DESTDIR$config: it is not the example"
  fi
  rm -f "$DESTDIR$sharedir/pipeline.yaml"
  rmdir "$DESTDIR$libdir" "$DESTDIR$sharedir" "$DESTDIR$docdir" "$DESTDIR$confdir" 2>/dev/null || true
  say "uninstalled netobserver from $DESTDIR$PREFIX"
  if [ -z "$DESTDIR" ]; then
    say "if it was running: systemctl disable --now netobserver; systemctl daemon-reload"
  fi
}

case "$action" in
  install) install_all ;;
  uninstall) uninstall_all ;;
  *) die "unknown action '$action' (install or uninstall)" ;;
esac
