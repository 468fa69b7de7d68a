#!/usr/bin/env bash
# Cross-architecture (docs/accuracy.md): the host's accuracy and property tests
# (unit, integration, doc) on aarch64 (NEON, fused mul_add) under qemu-user
# and on wasm32-wasip1 with simd128 (unfused) under Node's WASI, with the
# runners from .cargo/config.toml. The elementwise sweeps are sampled
# there as on the host (every 101st bit pattern on aarch64, every 13th on
# wasm32, plus every binade's edges; the stride is printed, see
# tests/common/mod.rs). Also the aarch64 no_std library build.
# Honours CARGO_TARGET_DIR. About 5 min on 2 cores (builds + tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
step() { echo "=== cross [$(($(date +%s) - t0))s] $*"; }

step "install: rustup targets"
rustup target add aarch64-unknown-linux-gnu wasm32-wasip1

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
  step "install: aarch64 cross linker and qemu-user (apt)"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
if ! command -v node >/dev/null; then
  echo "cross.sh: node (with node:wasi) is needed to run wasm32-wasip1 tests" >&2
  exit 1
fi

step "aarch64: no_std library build, no features"
cargo build --release --lib --target aarch64-unknown-linux-gnu

step "aarch64 (NEON) tests under qemu-aarch64: unit, integration (sampled exhaustive proofs), doc"
cargo test --release --no-fail-fast --target aarch64-unknown-linux-gnu -- --nocapture

step "wasm32-wasip1 (+simd128) tests under node: unit, integration (sampled exhaustive proofs), doc"
cargo test --release --no-fail-fast --target wasm32-wasip1 -- --nocapture

step "cross done"
