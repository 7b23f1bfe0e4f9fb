#!/usr/bin/env bash
# A libFuzzer target for FUZZTIME (a Go duration: 15s, 2m, 1h): scripts/fuzz-libfuzzer.sh BINARY FUZZTIME
# Its corpus lives beside the binary (BINARY-corpus, a build output) and grows from run to run; a
# failing input is written as BINARY-crash-<sha1>: turn it into a byte vector of the target's test
# (bpf-detectfuzz: cgo/detect/findings_test.go) with the fix.
set -euo pipefail
bin=$1 fuzztime=$2
case $fuzztime in
  *h) seconds=$(( ${fuzztime%h} * 3600 )) ;;
  *m) seconds=$(( ${fuzztime%m} * 60 )) ;;
  *s) seconds=${fuzztime%s} ;;
  *) echo "fuzz-libfuzzer: FUZZTIME $fuzztime: want a number of s, m or h" >&2; exit 2 ;;
esac
mkdir -p "$bin-corpus"
exec "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$bin-crash-" "$bin-corpus"
