#!/usr/bin/env bash
# Firmware (docs/firmware.md): the self-test on emulated Cortex-M4F (QEMU
# mps2-an386) and Cortex-M0 (QEMU microbit) with semihosting exit codes,
# link-time panic freedom (thumbv7em and thumbv6m), and the .text budgets of
# the fused softmax cross-entropy, BCE and focal loss (tools/code_size.sh). Each firmware crate
# is its own workspace and is built from inside its directory, where its
# .cargo/config.toml (target, link.x, runners) is found. About 2 min on 2
# cores from clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
t0=$(date +%s)
step() { echo "=== firmware [$(($(date +%s) - t0))s] $*"; }
# Flags meant for host builds (e.g. -C target-cpu=native) would replace the
# firmware crates' -Tlink.x rustflags.
unset RUSTFLAGS CARGO_BUILD_TARGET CARGO_ENCODED_RUSTFLAGS

step "install: rustup targets"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi

# qemu-system-arm runs the self-tests; llvm-size and llvm-nm (Debian's
# `llvm`) read the code sizes in tools/code_size.sh.
need=()
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
{ command -v llvm-size || command -v llvm-size-14; } >/dev/null || need+=(llvm)
if ((${#need[@]})); then
  step "install: ${need[*]} (apt)"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}"
fi

cd "$root/firmware/selftest"
step "selftest: Cortex-M4F, QEMU mps2-an386 (thumbv7em-none-eabihf)"
cargo run --release --target thumbv7em-none-eabihf
step "selftest: Cortex-M0, QEMU microbit (thumbv6m-none-eabi)"
cargo run --release --target thumbv6m-none-eabi

cd "$root/firmware/panic-check"
step "panic-check: links with an undefined panic handler (thumbv7em, thumbv6m)"
cargo build --release --target thumbv7em-none-eabihf
cargo build --release --target thumbv6m-none-eabi

cd "$root"
step "code size (.text per kernel family, thumbv7em, opt-level s and 3)"
bash tools/code_size.sh

step "done"
