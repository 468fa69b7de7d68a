#!/usr/bin/env bash
# .text bytes each logitkit kernel family adds to a thumbv7em-none-eabihf
# (Cortex-M4F) firmware, at opt-level "s" and 3: firmware/size built once per
# cargo feature (one family each) minus the empty baseline, measured with
# llvm-size. Prints a markdown table. Fails if the fused softmax
# cross-entropy with gradient (its exp and everything it calls included)
# exceeds CE_BUDGET bytes at opt-level "s", BCE with logits + gradient
# BCE_BUDGET, the focal loss + gradient FOCAL_BUDGET, log_sum_exp,
# softmax or log_softmax SOFTMAX_BUDGET, or the streaming LogSumExp
# (extend, push, merge, value) STREAM_BUDGET; and if any family links a
# soft-float f64 routine (__aeabi_d*, __*df3, ...).
#
# The budget is 2 KiB (docs/firmware.md). It holds because the
# one-lane build (lane::Simd = f32 on Cortex-M) computes the class-target
# cross-entropy with f32 pairs (src/loss/one_lane_cross_entropy.rs) and links
# no f64: the earlier lane-generic kernel with f64 row sums took 9632 bytes,
# 3.5 KB of them soft-float f64 routines (the Cortex-M4F FPU is single
# precision). The probability-target and batch forms use a second f32-pair
# kernel (the batch with its options: 8.4 KB, not budgeted).
#
#   bash tools/code_size.sh            # from anywhere in the repository
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../firmware/size"

CE_BUDGET=${CE_BUDGET:-2048}
# BCE with logits + gradient and the sigmoid focal loss + gradient: 2 KiB
# and 2.5 KiB. They fit since their one-lane reduction is a Kahan f32 sum
# (src/loss/bce_with_logits.rs): with f64 lane totals they took 6024 and
# 6360 bytes, about 3 KB of them soft-float f64 routines.
BCE_BUDGET=${BCE_BUDGET:-2048}
FOCAL_BUDGET=${FOCAL_BUDGET:-2560}
# log_sum_exp, softmax, log_softmax: 1.5 KiB each. The one-lane build sums
# their exponentials as f32 pairs (src/softmax/short_rows.rs, one_lane_stats):
# with f64 row statistics they took 6204, 3464 and 6508 bytes.
SOFTMAX_BUDGET=${SOFTMAX_BUDGET:-1536}
STREAM_BUDGET=${STREAM_BUDGET:-3584}
TARGET=thumbv7em-none-eabihf
FAMILIES=(exp ln ln_1p sigmoid softplus log_sum_exp log_sum_exp_stream softmax log_softmax
  softmax_cross_entropy_with_grad bce_with_logits_with_grad
  sigmoid_focal_loss_with_grad batch_ce fixed_row_ce)
SIZE=$(command -v llvm-size || command -v llvm-size-14)
NM=$(command -v llvm-nm || command -v llvm-nm-14)

text_bytes() { # opt-level, feature ("" = baseline)
  local dir="target/opt-$1"
  CARGO_PROFILE_RELEASE_OPT_LEVEL="$1" CARGO_TARGET_DIR="$dir" \
    cargo build --release --quiet --target "$TARGET" ${2:+--features "$2"} >&2 || exit 1
  "$SIZE" -A "$dir/$TARGET/release/logitkit-size" | awk '$1 == ".text" { print $2 }'
}

declare -A bytes
for opt in s 3; do
  base=$(text_bytes "$opt" "")
  bytes[$opt,base]=$base
  for f in "${FAMILIES[@]}"; do
    with=$(text_bytes "$opt" "$f")
    bytes[$opt,$f]=$(( with - base ))
    # No kernel links a soft-float f64 routine: the Cortex-M4F FPU is
    # single precision, and each of them costs hundreds of bytes.
    soft_f64=$("$NM" "target/opt-$opt/$TARGET/release/logitkit-size" |
      awk '$3 ~ /^__aeabi_(d[a-z0-9]+|[a-z0-9]*2d)$|^__[a-z]+df[0-9]$|^__(extendsfdf2|truncdfsf2)$/ { print $3 }')
    if [ -n "$soft_f64" ]; then
      echo "FAIL: $f links soft-float f64 routines at opt-level $opt:" $soft_f64 >&2
      exit 1
    fi
  done
done

echo "| kernel family (thumbv7em-none-eabihf, \`.text\` bytes over an empty cortex-m-rt baseline) | opt-level \"s\" | opt-level 3 |"
echo "|---|---|---|"
for f in "${FAMILIES[@]}"; do
  echo "| \`$f\` | ${bytes[s,$f]} | ${bytes[3,$f]} |"
done
echo "| (baseline: cortex-m-rt, empty main) | ${bytes[s,base]} | ${bytes[3,base]} |"

within_budget() { # family, budget
  local got=${bytes[s,$1]}
  if (( got > $2 )); then
    echo "FAIL: $1 is $got bytes of .text at opt-level \"s\" (budget $2); largest symbols:" >&2
    text_bytes s "$1" >/dev/null
    llvm-nm-14 --size-sort -S -C target/opt-s/$TARGET/release/logitkit-size | tail -15 >&2
    exit 1
  fi
  echo "$1: $got bytes at opt-level \"s\", within the $2-byte budget"
}
within_budget softmax_cross_entropy_with_grad "$CE_BUDGET"
within_budget bce_with_logits_with_grad "$BCE_BUDGET"
within_budget sigmoid_focal_loss_with_grad "$FOCAL_BUDGET"
for family in log_sum_exp softmax log_softmax; do
  within_budget "$family" "$SOFTMAX_BUDGET"
done
within_budget log_sum_exp_stream "$STREAM_BUDGET"
