#!/usr/bin/env bash
# The AVX-512 build's layouts on a machine without AVX-512: the whole test
# suite (unit, doc, property, fuzz replay, special values) with
# `--cfg logitkit_sixteen_lanes`, which makes lane::Simd the 16-lane
# `wide::f32x16` on any x86 with SSE2 (built from narrower registers).
# The kernels' lane count decides which rows are short (≤ 2W = 32 logits)
# and which take the row-order path (33–4096), how batches are transposed
# (16×16), and the trees of the lanes' sums; this runs those code paths and
# their same-bits checks (a batch row against its single-row call) where
# CI has no AVX-512. With x86-64-v3 (AVX2, FMA), as AVX-512 builds always
# have FMA: the exponential's table lookup then runs on each 8-lane half of
# the 16 lanes (src/lane/vector.rs), a path no other build takes. The
# arithmetic is the same IEEE operations as the vector builds', so the
# accuracy figures are not re-measured here.
# About 3 min. Honours CARGO_TARGET_DIR (default target/sixteen).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/sixteen}
RUSTFLAGS="--cfg logitkit_sixteen_lanes -C target-cpu=x86-64-v3" cargo test --release -- --nocapture
