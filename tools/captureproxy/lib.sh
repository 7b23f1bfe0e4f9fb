# Sourced by the parsers' testdata/capture.sh scripts, after `set -euo pipefail`: where things are
# (here: the script's testdata directory, module: the repository, out: the captures, emptied),
# a temporary directory removed at exit with the processes the script put in pids (a script
# defines before_cleanup for more), and await PORT, which waits for a local TCP listener.
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
module=$(cd "$here/../../.." && pwd)
out=$here/captures
tmp=$(mktemp -d)
pids=()
cleanup() {
  if declare -F before_cleanup >/dev/null; then before_cleanup; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$out"
rm -f "$out"/*

listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }
await() { for _ in $(seq 50); do listening "$1" && return; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
