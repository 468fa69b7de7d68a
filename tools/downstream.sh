#!/usr/bin/env bash
# Builds tools/downstream (logitkit's elementwise slice kernels in a
# downstream cdylib, default release profile) for the default x86-64 build,
# x86-64-v3 and native, and fails if an exported kernel calls an out-of-line
# `core::array` function: `[V; N]::map` of vectors was such a call per vector
# in this shape of build, 1.5-1.8x the time of sigmoid (docs/performance.md,
# "Out-of-line calls in a downstream build"). Prints each build's library
# path for tools/downstream_time.py. Needs objdump (binutils).
#
#   bash tools/downstream.sh
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/downstream"
kernels=(exp_slice ln_slice ln_1p_slice sigmoid_slice softplus_slice log_sigmoid_slice)
status=0
for build in default x86-64-v3 native; do
  flags=""
  [[ $build != default ]] && flags="-C target-cpu=$build"
  dir="target/$build"
  RUSTFLAGS="$flags" CARGO_TARGET_DIR="$dir" cargo build --release --quiet
  lib="$dir/release/liblogitkit_downstream.so"
  asm=$(objdump -d --no-show-raw-insn "$lib")
  for k in "${kernels[@]}"; do
    calls=$(awk -v f="<$k>:" '$2 == f { on = 1; next } on && /^$/ { on = 0 } on' <<<"$asm" |
      grep -c 'call.*core5array' || true)
    if [[ $calls != 0 ]]; then
      echo "$build $k: $calls calls to an out-of-line core::array function" >&2
      status=1
    fi
  done
  echo "$build: $(realpath "$lib")"
done
exit $status
