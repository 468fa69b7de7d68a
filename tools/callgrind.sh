#!/usr/bin/env bash
# Instructions per logit of the row kernels on 256 rows of C logits
# (100 calls), counted by valgrind's callgrind: repeatable on a shared,
# noisy machine where criterion's times move by tens of percent. Builds
# tools/callgrind (default x86-64 build, and with -C target-cpu=native)
# and prints one table per build. Not part of CI; needs valgrind.
#
#   bash tools/callgrind.sh            # C = 10
#   CLASSES="10 32" bash tools/callgrind.sh
#   KERNELS="exp_pass sigmoid softplus log_sigmoid bce focal" bash tools/callgrind.sh
# The driver also has batch_weighted (class weights 1, 1.5, 2, ...), bce_pos_weight_classes (a
# pos_weight per class, the same values), libm_exp and std_exp (the scalar loops), ln_pass and
# ln_1p_pass (over e^x of the logits) with libm_ln and libm_ln_1p, and
# softmax_whole / log_softmax_whole (one row of all 256·C logits); SPREAD=40
# draws the logits from [−20, 20] instead of [−8, 8].
# The driver also times: tools/callgrind/target/native/release/logitkit-callgrind
# batch 10 200 prints the fastest of 200 rounds in ns per logit.
set -euo pipefail
cd "$(dirname "$0")/callgrind"
kernels=(${KERNELS:-batch batch_smoothed row_calls stable_loop softmax_calls softmax_rows log_sum_exp_rows exp_pass})
for build in default native; do
  flags=""
  [[ $build == native ]] && flags="-C target-cpu=native"
  dir="target/$build"
  RUSTFLAGS="$flags" CARGO_TARGET_DIR="$dir" cargo build --release --quiet
  echo "$build build: instructions per logit"
  echo "| kernel | C | instructions per logit |"
  echo "|---|---|---|"
  for c in ${CLASSES:-10}; do
    for k in "${kernels[@]}"; do
      n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$dir/release/logitkit-callgrind" "$k" "$c" 2>&1 |
        awk '/Collected/ { print $4 }')
      echo "| $k | $c | $(python3 -c "print(round($n / (100 * 256 * $c), 1))") |"
    done
  done
done
