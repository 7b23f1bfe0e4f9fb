#!/usr/bin/env bash
# Tests the host install (scripts/install.sh, `make install`): installs into temporary DESTDIRs and
# checks the exact file tree and modes, the systemd unit (systemd-analyze verify where it exists,
# its keys always), that the installed binary runs from there and loads the installed libebpf.so,
# that a user's config is never overwritten nor removed, and that uninstall leaves nothing else.
# Run by `make install-test`; BIN is where `make build` put the binary and the library.
set -euo pipefail
umask 022

src=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$src/bin}
# `make install`/`make uninstall` when run from make (MAKE_INSTALL), else the script itself.
MAKE_INSTALL=${MAKE_INSTALL:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "install-test: FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "install-test: ok: $*"; }

# run_install ACTION DESTDIR [VAR=value…]
run_install() {
  local action=$1 destdir=$2
  shift 2
  if [ -n "$MAKE_INSTALL" ]; then
    $MAKE_INSTALL "$action" DESTDIR="$destdir" "$@" >"$tmp/out" 2>&1
  else
    env DESTDIR="$destdir" BIN="$BIN" "$@" bash "$src/scripts/install.sh" "$action" >"$tmp/out" 2>&1
  fi || { cat "$tmp/out" >&2; fail "$action into $destdir failed"; return 1; }
}

# tree DIR: every entry with its mode (symlinks with their target), sorted.
tree() {
  (cd "$1" && find . -mindepth 1 \( -type l -printf '%M %p -> %l\n' \) -o \( ! -type l -printf '%M %p\n' \) | LC_ALL=C sort -k2,2)
}

expect_tree() { # DIR WHAT, expected tree on stdin
  local want got
  want=$(cat)
  got=$(tree "$1")
  if [ "$got" == "$want" ]; then
    pass "$2"
  else
    fail "$2: the tree differs (- expected, + got):"
    diff <(echo "$want") <(echo "$got") | sed 's/^/    /' >&2 || true
  fi
}

expect_eq() { # WHAT WANT GOT
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: want [$2], got [$3]"; fi
}

# unit_keys FILE: "Section.Key=value" for every setting, comments and blank lines skipped.
unit_keys() {
  awk '/^[ \t]*(#|;|$)/ { next } /^\[/ { sec = substr($0, 2, length($0) - 2); next } { print sec "." $0 }' "$1"
}

caps='CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_SYS_NICE'

# --- install with the defaults (PREFIX=/usr/local) ----------------------------------------------
root=$tmp/root
run_install install "$root"
expect_tree "$root" "install: file tree and modes" <<'TREE'
drwxr-xr-x ./etc
drwxr-xr-x ./etc/netobserver
-rw-r--r-- ./etc/netobserver/pipeline.yaml
drwxr-xr-x ./usr
drwxr-xr-x ./usr/local
drwxr-xr-x ./usr/local/bin
lrwxrwxrwx ./usr/local/bin/netobserver -> ../lib/netobserver/netobserver
drwxr-xr-x ./usr/local/lib
drwxr-xr-x ./usr/local/lib/netobserver
-rw-r--r-- ./usr/local/lib/netobserver/libebpf.so
-rwxr-xr-x ./usr/local/lib/netobserver/netobserver
drwxr-xr-x ./usr/local/lib/systemd
drwxr-xr-x ./usr/local/lib/systemd/system
-rw-r--r-- ./usr/local/lib/systemd/system/netobserver.service
drwxr-xr-x ./usr/local/share
drwxr-xr-x ./usr/local/share/doc
drwxr-xr-x ./usr/local/share/doc/netobserver
-rw-r--r-- ./usr/local/share/doc/netobserver/README.md
drwxr-xr-x ./usr/local/share/netobserver
-rw-r--r-- ./usr/local/share/netobserver/pipeline.yaml
TREE
cmp -s "$BIN/netobserver" "$root/usr/local/lib/netobserver/netobserver" && pass "the binary is bin/netobserver" || fail "the installed binary differs from $BIN/netobserver"
cmp -s "$BIN/libebpf.so" "$root/usr/local/lib/netobserver/libebpf.so" && pass "the library is bin/libebpf.so" || fail "the installed library differs from $BIN/libebpf.so"
cmp -s "$src/packaging/pipeline.yaml" "$root/etc/netobserver/pipeline.yaml" && pass "the example config" || fail "/etc/netobserver/pipeline.yaml is not the example"

# The unit: its keys, exactly.
unit=$root/usr/local/lib/systemd/system/netobserver.service
want_keys="Unit.Description=netobserver eBPF network observer (iLogtail observer_ilogtail_network_v1 records)
Unit.Documentation=file:///usr/local/share/doc/netobserver/README.md
Unit.After=network-online.target
Unit.Wants=network-online.target
Service.Type=simple
Service.ExecStartPre=/usr/local/bin/netobserver --check-config /etc/netobserver/pipeline.yaml
Service.ExecStart=/usr/local/bin/netobserver --config /etc/netobserver/pipeline.yaml
Service.ExecReload=/bin/kill -HUP \$MAINPID
Service.Restart=on-failure
Service.RestartSec=5s
Service.TimeoutStopSec=30s
Service.CapabilityBoundingSet=$caps
Service.AmbientCapabilities=$caps
Service.LimitMEMLOCK=infinity
Service.NoNewPrivileges=yes
Service.ProtectSystem=full
Install.WantedBy=multi-user.target"
expect_eq "unit keys" "$want_keys" "$(unit_keys "$unit")"

if command -v systemd-analyze >/dev/null; then
  # verify checks that the commands exist: check a copy whose paths point into the staged tree
  # (--root would also need systemd's own units there).
  mkdir -p "$tmp/verify"
  sed -e "s|/usr/local/|$root/usr/local/|g" -e "s|/etc/netobserver/|$root/etc/netobserver/|g" "$unit" >"$tmp/verify/netobserver.service"
  if systemd-analyze verify --man=no "$tmp/verify/netobserver.service" >"$tmp/verify.out" 2>&1 && ! grep -q . "$tmp/verify.out"; then
    pass "systemd-analyze verify"
  else
    fail "systemd-analyze verify:"
    sed 's/^/    /' "$tmp/verify.out" >&2
  fi
else
  echo "install-test: systemd-analyze is not installed: the unit's keys were checked by parsing only"
fi

# The installed binary runs from the install, through the bin/ symlink, and loads the library
# beside its real path — not bin/'s, not the loader's search.
real=$(realpath "$root")
out=$(cd / && env -u LD_LIBRARY_PATH "$root/usr/local/bin/netobserver" version 2>&1) || fail "netobserver version exited $?: $out"
lib_line=$(grep '^libebpf ' <<<"$out" || true)
case "$lib_line" in
  "libebpf $real/usr/local/lib/netobserver/libebpf.so: "*) pass "netobserver version reports the installed library: $lib_line" ;;
  *) fail "netobserver version does not report $real/usr/local/lib/netobserver/libebpf.so: $out" ;;
esac
case "$lib_line" in
  *"unknown (the library exports no version)"*) fail "the installed library reports no version: $lib_line" ;;
esac
grep -q '^netobserver ' <<<"$out" && pass "netobserver version reports the binary's version" || fail "no binary version in: $out"
"$root/usr/local/bin/netobserver" --check-config "$root/etc/netobserver/pipeline.yaml" >"$tmp/check" 2>&1 &&
  pass "the installed config passes --check-config" || { fail "--check-config on the installed config:"; cat "$tmp/check" >&2; }

# --- a user's config survives reinstall and uninstall -------------------------------------------
echo "# mine" >>"$root/etc/netobserver/pipeline.yaml"
cp "$root/etc/netobserver/pipeline.yaml" "$tmp/mine.yaml"
run_install install "$root"
cmp -s "$tmp/mine.yaml" "$root/etc/netobserver/pipeline.yaml" && pass "reinstall keeps the user's config" || fail "reinstall changed the user's config"
grep -q 'kept' "$tmp/out" && pass "reinstall says it kept the config" || fail "reinstall did not say it kept the config: $(cat "$tmp/out")"

run_install uninstall "$root"
expect_tree "$root" "uninstall keeps only the user's config" <<'TREE'
drwxr-xr-x ./etc
drwxr-xr-x ./etc/netobserver
-rw-r--r-- ./etc/netobserver/pipeline.yaml
drwxr-xr-x ./usr
drwxr-xr-x ./usr/local
drwxr-xr-x ./usr/local/bin
drwxr-xr-x ./usr/local/lib
drwxr-xr-x ./usr/local/lib/systemd
drwxr-xr-x ./usr/local/lib/systemd/system
drwxr-xr-x ./usr/local/share
drwxr-xr-x ./usr/local/share/doc
TREE
cmp -s "$tmp/mine.yaml" "$root/etc/netobserver/pipeline.yaml" && pass "uninstall keeps the user's config unchanged" || fail "uninstall changed the user's config"

# An unchanged example config goes with the rest.
root2=$tmp/root2
run_install install "$root2"
run_install uninstall "$root2"
expect_tree "$root2" "uninstall removes the unchanged example config" <<'TREE'
drwxr-xr-x ./etc
drwxr-xr-x ./usr
drwxr-xr-x ./usr/local
drwxr-xr-x ./usr/local/bin
drwxr-xr-x ./usr/local/lib
drwxr-xr-x ./usr/local/lib/systemd
drwxr-xr-x ./usr/local/lib/systemd/system
drwxr-xr-x ./usr/local/share
drwxr-xr-x ./usr/local/share/doc
TREE

# --- another PREFIX: the unit follows it -------------------------------------------------------
root3=$tmp/root3
run_install install "$root3" PREFIX=/opt/netobserver
expect_eq "PREFIX=/opt/netobserver: ExecStart" \
  "Service.ExecStart=/opt/netobserver/bin/netobserver --config /etc/netobserver/pipeline.yaml" \
  "$(unit_keys "$root3/opt/netobserver/lib/systemd/system/netobserver.service" | grep '^Service.ExecStart=')"
expect_eq "PREFIX=/opt/netobserver: the symlink" "../lib/netobserver/netobserver" "$(readlink "$root3/opt/netobserver/bin/netobserver")"
out=$("$root3/opt/netobserver/bin/netobserver" version 2>&1) || true
grep -q "^libebpf $(realpath "$root3")/opt/netobserver/lib/netobserver/libebpf.so: " <<<"$out" &&
  pass "PREFIX=/opt/netobserver: version reports the installed library" || fail "PREFIX=/opt/netobserver: $out"

if [ "$failures" -ne 0 ]; then
  echo "install-test: $failures failure(s)" >&2
  exit 1
fi
echo "install-test: PASS"
