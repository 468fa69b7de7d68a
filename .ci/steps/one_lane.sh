#!/usr/bin/env bash
# The one-lane build that firmware runs (lane::Simd = f32, and the
# f32-pair cross-entropy kernel in src/loss/one_lane_cross_entropy.rs),
# proved on the host at host speed: the whole test suite (unit, doc,
# property, fuzz replay, special values) with `--cfg logitkit_one_lane`.
# The elementwise functions are the same `f32` lane as the scalar `exp`,
# `ln`, ... that the default build proves exhaustively, so the sweeps here
# are the default sampled ones (every 101st bit pattern plus the binade
# edges). Then clippy on the same configuration, whose constants (one
# lane) differ from the host build's. About 3 min.
# Honours CARGO_TARGET_DIR (default target/one-lane).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/one-lane}
RUSTFLAGS="--cfg logitkit_one_lane" cargo test --release -- --nocapture
RUSTFLAGS="--cfg logitkit_one_lane" cargo clippy --all-targets --all-features -- -D warnings
