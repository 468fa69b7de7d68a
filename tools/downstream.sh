#!/usr/bin/env bash
# Builds tools/downstream (logitkit's kernels in a downstream cdylib, default
# release profile) for the default x86-64 build, x86-64-v3 and native, and
# fails if any of its functions or logitkit's calls an out-of-line
# `core::array` function (`map`, `from_fn`): `[V; N]::map` of vectors was such a call per vector
# in this shape of build, 1.5-1.8x the time of sigmoid (docs/performance.md,
# "Out-of-line calls in a downstream build"). On the default build it also
# fails if `exp_slice` runs a vector's four 128-bit parts one chain after
# another: the shifts that form each part's 2^n (`pslld $0x17`) come four to
# a vector, within 7-10 instructions when the parts go operation by
# operation, spread over 96-133 when they go chain by chain,
# the order that cost `exp_into` a fifth of its speed (docs/performance.md,
# "The trigger: splats as loops"). Prints each build's library path for
# tools/downstream_time.py. Needs objdump (binutils).
#
#   bash tools/downstream.sh
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/downstream"
status=0
for build in default x86-64-v3 native; do
  flags=""
  [[ $build != default ]] && flags="-C target-cpu=$build"
  dir="target/$build"
  RUSTFLAGS="$flags" CARGO_TARGET_DIR="$dir" cargo build --release --quiet
  lib="$dir/release/liblogitkit_downstream.so"
  # Every function outside core::array itself (the exported wrappers and
  # logitkit's own out-of-line functions) that calls into core::array.
  found=$(objdump -d --no-show-raw-insn "$lib" |
    awk '/^[0-9a-f]+ <.*>:$/ { fn = $2; sub(/:$/, "", fn) } /call.*core5array/ && fn !~ /core5array/ { n[fn]++ }
         END { for (f in n) print "  " f ": " n[f] " calls" }')
  if [[ -n $found ]]; then
    echo "$build: out-of-line core::array calls in" >&2
    echo "$found" >&2
    status=1
  fi
  if [[ $build == default ]]; then
    spans=$(objdump -d --no-show-raw-insn "$lib" |
      awk '/^[0-9a-f]+ <exp_slice>:$/ { on = 1; next } on && /^$/ { on = 0 }
           on { i++ } on && /pslld +\$0x17,/ { at[k++] = i }
           END { for (j = 0; j + 3 < k; j += 4) print at[j + 3] - at[j] }')
    widest=$(sort -n <<<"$spans" | tail -1)
    if [[ -z $spans || $widest -gt 24 ]]; then
      echo "default: exp_slice's parts run chain after chain (spans of its 2^n shifts: $(tr '\n' ' ' <<<"$spans"))" >&2
      status=1
    fi
  fi
  echo "$build: $(realpath "$lib")"
done
exit $status
