#!/usr/bin/env bash
# Planted errors (docs/accuracy.md, "Planted errors"): shows that an error
# planted just beyond a documented bound (docs/precision.toml) makes the
# README's test command, `cargo test --release`, fail.
#
# For each patch in tools/planted/ (or the ones named on the command line):
# a fresh copy of HEAD (`git archive`, outside the repository), the patch
# applied with `git apply`, then `cargo test --release --no-fail-fast` there
# (the README's command; --no-fail-fast only makes it run every test binary,
# so the report names every test that caught the plant). A failing run is
# "caught", with the failed tests and their assertion messages; a passing
# run is "MISSED". The script exits non-zero if any plant is missed or does
# not build. The real tree is not touched: the copy and the build live in
# ${TMPDIR:-/tmp}/logitkit-planted-$UID, the logs in target/planted/.
#
#   bash tools/planted_errors.sh                    # every plant, ~10 min on 2 cores
#   bash tools/planted_errors.sh 01-exp.patch       # one plant
#   bash tools/planted_errors.sh --measure [PLANT]  # the planted kernel's max error
#
# --measure runs, instead, only the test named on the patch's `measure-test:`
# line, with `--nocapture`, after multiplying the bound of the patch's
# `measure-section:` in the copy's docs/precision.toml by 8 (`*_ulp` fields
# times 8, `*_log2` fields plus 3, except the `grad_floor_log2` inside a
# max), so the test passes and prints the largest error of the planted
# kernel. ULP figures are printed as they are; a printed "fraction of the
# bound" is of 8x the bound, so it is multiplied by 8 to read it against the
# documented one. Set LOGITKIT_SWEEP_STRIDE=1 to measure an elementwise
# plant over all 2^32 inputs.
#
# Each cargo run holds /tmp/logitkit-heavy.lock (the machine's heavy-job
# lock); the copy is rebuilt incrementally in one target dir.
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
plants_dir="$repo/tools/planted"
work="${TMPDIR:-/tmp}/logitkit-planted-$(id -u)"
tree="$work/tree"
logs="$repo/target/planted"
lock=/tmp/logitkit-heavy.lock
export CARGO_TARGET_DIR="$work/target"

measure=0
plants=()
for arg in "$@"; do
  case "$arg" in
    --measure) measure=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) plants+=("$(basename "$arg")") ;;
  esac
done
if [ ${#plants[@]} -eq 0 ]; then
  for p in "$plants_dir"/*.patch; do plants+=("$(basename "$p")"); done
fi
mkdir -p "$work" "$logs"
# One run at a time per user: the copy and its target dir are shared.
exec 9>"$work/run.lock"
if ! flock -n 9; then
  echo "planted_errors.sh: another run is using $work" >&2
  exit 2
fi

# A fresh copy of HEAD with the plant applied. The copy is outside the
# repository, so `git apply` patches it as plain files.
fresh_copy() {
  local patch=$1
  rm -rf "$tree"
  mkdir -p "$tree"
  git -C "$repo" archive --format=tar HEAD | tar -x -C "$tree"
  (cd "$tree" && git apply "$patch")
}

# The value of `key:` on the plant's header lines.
header() {
  sed -n "s/^# $2: *//p" "$1" | head -n 1
}

# Multiplies the bound of [section] in the copy's precision table by 8.
loosen() {
  local section=$1 table="$tree/docs/precision.toml"
  awk -v section="$section" '
    /^\[/ { inside = ($0 == "[" section "]") }
    inside && $1 ~ /(^|_)ulp$/ && $2 == "=" { $3 = $3 * 8 }
    inside && $1 ~ /_log2$/ && $1 != "grad_floor_log2" && $2 == "=" { $3 = $3 + 3 }
    { print }
  ' "$table" >"$table.new"
  mv "$table.new" "$table"
}

missed=0
summary=()
for plant in "${plants[@]}"; do
  patch="$plants_dir/$plant"
  if [ ! -f "$patch" ]; then
    echo "planted_errors.sh: no plant $patch" >&2
    exit 2
  fi
  name=${plant%.patch}
  log="$logs/$name.log"
  echo "=== $name: $(header "$patch" plant)"
  fresh_copy "$patch"
  start=$(date +%s)
  if [ "$measure" = 1 ]; then
    section=$(header "$patch" measure-section)
    read -r -a test_args <<<"$(header "$patch" measure-test)"
    loosen "$section"
    echo "    measuring: [$section] bound x8, cargo test --release --test ${test_args[*]} -- --nocapture"
    set +e
    (cd "$tree" && flock "$lock" cargo test --release --test "${test_args[@]}" -- --nocapture) >"$log.measure" 2>&1
    rc=$?
    set -e
    grep -E "max error|max .*error|of the (documented )?bound|^test .*(ok|FAILED)$|panicked" "$log.measure" | sed 's/^/    /' || true
    echo "    (rc=$rc, $(($(date +%s) - start)) s, log: $log.measure)"
    continue
  fi
  set +e
  (cd "$tree" && flock "$lock" cargo test --release --no-fail-fast) >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  if [ "$rc" -eq 0 ]; then
    echo "    MISSED: cargo test --release passed (${took} s, log: $log)"
    summary+=("MISSED  $name")
    missed=$((missed + 1))
  elif grep -qE "^error(\[E[0-9]+\])?: could not compile|^error\[E[0-9]+\]" "$log"; then
    echo "    BROKEN: the planted tree does not build (log: $log)"
    summary+=("BROKEN  $name")
    missed=$((missed + 1))
  else
    failed=$(grep -E "^test .* \.\.\. FAILED$" "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | sort -u | paste -sd, - | sed 's/,/, /g')
    echo "    caught (${took} s): failed: ${failed:-?}"
    # The assertion message follows each `panicked at` line.
    grep -A1 "panicked at" "$log" | grep -vE "panicked at|^--$" | cut -c1-220 | sort -u | head -n 8 | sed 's/^/      /'
    echo "    log: $log"
    summary+=("caught  $name  (${failed:-?})")
  fi
done

if [ "$measure" = 0 ]; then
  echo "=== summary"
  printf '    %s\n' "${summary[@]}"
  if [ "$missed" -gt 0 ]; then
    echo "planted_errors.sh: $missed plant(s) not caught" >&2
    exit 1
  fi
fi
