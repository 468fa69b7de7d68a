#!/usr/bin/env bash
# Instructions per element of the fused softmax_cross_entropy_with_grad on
# the emulated Cortex-M4F (QEMU mps2-an386, thumbv7em-none-eabihf, release
# build of firmware/selftest's `icount` bin): QEMU 7.2 logs every executed
# instruction with `-d exec,nochain -singlestep` (one instruction per
# translation block, every block logged), the trace is cut at the calls to
# `icount_mark`, and the counts for rows of 16 and 1040 logits are
# differenced (a batch of 100 rows of 10 classes is counted whole, with
# default options and with label smoothing and class weights, and a
# probability-target row of 256 logits). Debian's QEMU ships no TCG plugins (no libinsn.so), hence the
# trace. Takes a few seconds; not part of CI.
#
#   bash tools/icount.sh          # Cortex-M4F (mps2-an386)
#   bash tools/icount.sh m0       # Cortex-M0, soft float (microbit)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../firmware/selftest"

if [[ ${1:-} == m0 ]]; then
  TARGET=thumbv6m-none-eabi MACHINE=(-machine microbit)
else
  TARGET=thumbv7em-none-eabihf MACHINE=(-cpu cortex-m4 -machine mps2-an386)
fi
ELF=target/$TARGET/release/icount
cargo build --release --quiet --target "$TARGET" --bin icount
mark=$(llvm-nm-14 "$ELF" | awk '$3 == "icount_mark" { print $1 }')
[[ -n $mark ]] || { echo "icount_mark not found in $ELF" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout 300 qemu-system-arm "${MACHINE[@]}" -nographic \
  -semihosting-config enable=on,target=native \
  -d exec,nochain -singlestep -D "$log" -kernel "$ELF" >/dev/null

python3 - "$log" "$mark" "$TARGET" <<'PY'
import sys
log, mark = sys.argv[1], int(sys.argv[2], 16) & ~1
counts, n = [], None
with open(log) as f:
    for line in f:
        if not line.startswith("Trace"):
            continue
        pc = int(line.split("[", 1)[1].split("/", 2)[1], 16)
        if pc == mark:
            if n is not None:
                counts.append(n)
            n = 0
        elif n is not None:
            n += 1
short, long, batch, smoothed, probs = counts[0], counts[1], counts[3], counts[5], counts[7]
print(f"{sys.argv[3]}: executed instructions of softmax_cross_entropy_with_grad")
print(f"| row length | instructions (call + return, marks excluded) |")
print(f"|---|---|")
print(f"| 16 | {short} |")
print(f"| 1040 | {long} |")
print(f"per element ((n1040 - n16) / 1024): {(long - short) / 1024:.2f} instructions")
print(f"fixed cost (n16 - 16 * per element): {short - 16 * (long - short) / 1024:.0f} instructions")
print(f"softmax_cross_entropy_batch_with_grad, 100 rows of 10 classes, default options: "
      f"{batch} instructions, {batch / 1000:.1f} per logit")
print(f"the same batch with label smoothing 0.1 and class weights: "
      f"{smoothed} instructions, {smoothed / 1000:.1f} per logit")
print(f"softmax_cross_entropy_probs_with_grad, one row of 256 logits: "
      f"{probs} instructions, {probs / 256:.1f} per logit")
PY
