#!/usr/bin/env bash
# The cargo-fuzz targets (docs/fuzzing.md) (fuzz/, one per kernel family, checks in
# tests/checks/). Replays every committed input (fuzz/corpus/<t>/ and the
# minimized findings in fuzz/regressions/<t>/) through the instrumented
# build, then fuzzes each target for FUZZ_SECONDS (default 30). Any finding
# fails the step: libFuzzer exits non-zero and writes the input under
# fuzz/artifacts/<t>/. The same inputs are replayed on stable by
# `cargo test --release --test fuzz_replay`. The cross_entropy and fixed
# targets run again on the one-lane build (`--cfg logitkit_one_lane`, the
# kernels firmware runs). About 8 min from clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
step() { echo "=== fuzz [$(($(date +%s) - t0))s] $*"; }
seconds=${FUZZ_SECONDS:-30}
targets=(lane_math log_sum_exp softmax cross_entropy bce fixed)
# Host flags (e.g. -C target-cpu=native) do not belong in the sanitizer build.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

step "install: nightly toolchain and cargo-fuzz"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cd fuzz
step "build (ASan, release) all targets"
cargo +nightly fuzz build

for t in "${targets[@]}"; do
  step "$t: replay corpus and regressions"
  mkdir -p "corpus/$t" "regressions/$t"
  cargo +nightly fuzz run "$t" "corpus/$t" "regressions/$t" -- -runs=0 -rss_limit_mb=4096
done

log=$(mktemp)
# Fuzzing writes every new input into its first corpus directory: that is a
# scratch copy, so the committed corpora change only by a deliberate commit.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch" "$log"' EXIT
fuzz_for() { # target, extra cargo-fuzz options (e.g. --target-dir)
  local t=$1
  shift
  rm -rf "${scratch:?}/$t"
  cp -r "corpus/$t" "$scratch/$t"
  if ! cargo +nightly fuzz run "$@" "$t" "$scratch/$t" "regressions/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz: $t found an input that fails its check:" >&2
    grep -E -A3 "panicked at|ERROR|Test unit written" "$log" >&2 || tail -40 "$log" >&2
    exit 1
  fi
  grep -E "^Done|stat::number_of_executed_units|cov: " "$log" | tail -n 2
}
for t in "${targets[@]}"; do
  step "$t: fuzz ${seconds}s"
  fuzz_for "$t"
done

# The one-lane build firmware runs (lane::Simd = f32, its own f32-pair
# cross-entropy kernel and the streaming LogSumExp's pair exponential),
# through the same checks.
one_lane=(--target-dir target/one-lane)
export RUSTFLAGS="--cfg logitkit_one_lane"
for t in cross_entropy fixed log_sum_exp; do
  step "$t, one-lane build: replay corpus and regressions, then fuzz ${seconds}s"
  cargo +nightly fuzz run "${one_lane[@]}" "$t" "corpus/$t" "regressions/$t" -- -runs=0 -rss_limit_mb=4096
  fuzz_for "$t" "${one_lane[@]}"
done
step "fuzz done"
