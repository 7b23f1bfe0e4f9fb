#!/usr/bin/env bash
# Verifies the uprobe stubs of a built libebpf.so survived the compiler and linker: four distinct,
# exported, non-empty functions, and ebpf_delete_map_value really calls ebpf_cleanup_dog (clang -O2
# turns a call to an empty function into nothing, which would silently disable map cleanup).
set -euo pipefail
so=${1:?usage: check-stubs.sh path/to/libebpf.so}
fail() { echo "check-stubs: FAIL: $*" >&2; exit 1; }

dis=$(objdump -d --no-show-raw-insn "$so")
syms=$(nm -D --defined-only "$so")
body_of() { awk -v s="<$1>:" '$2==s {on=1; next} on && /^$/ {exit} on' <<<"$dis"; }
declare -A addr
for s in ebpf_cleanup_dog ebpf_update_conn_addr ebpf_disable_process ebpf_update_conn_role; do
  a=$(awk -v s="$s" '$3==s && $2=="T" {print $1}' <<<"$syms")
  [ -n "$a" ] || fail "$s is not an exported function of $so"
  for o in "${!addr[@]}"; do [ "${addr[$o]}" != "$a" ] || fail "$s and $o share address $a (folded)"; done
  addr[$s]=$a
  body=$(body_of "$s")
  grep -qvE '^\s*[0-9a-f]+:\s+(ret|nop|xchg|int3|cs nopw|nopw|nopl)' <<<"$body" \
    || fail "$s is an empty body (a bare ret): it cannot be told apart from its neighbours"
done
grep -q "call.*<ebpf_cleanup_dog" <<<"$(body_of ebpf_delete_map_value)" || fail "ebpf_delete_map_value does not call ebpf_cleanup_dog"
echo "check-stubs: ok (4 distinct stubs; ebpf_delete_map_value calls ebpf_cleanup_dog)"
