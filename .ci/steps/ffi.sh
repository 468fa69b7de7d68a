#!/usr/bin/env bash
# The C ABI (docs/c-abi.md): ffi/ builds liblogitkit_ffi.a and its header
# ffi/include/logitkit.h. This step
#   1. checks fmt and clippy in ffi/, and that the committed header is what
#      cbindgen generates from ffi/src now (and that its accuracy paragraphs
#      quote docs/precision.toml, tests/precision_header.py);
#   2. compiles the header as C99/C11 and C++11/17 with -pedantic -Werror and
#      links a C++ program through it (extern "C");
#   3. runs ffi/tests/host.c (every export, known and special values, every
#      error status, bounds from docs/precision.toml) on the host (x86-64)
#      and on a Cortex-M4F under QEMU mps2-an386 (semihosting exit code), for
#      the thumbv7em library at opt-level 3 and at opt-level "s";
#   4. runs the unit tests of the unsafe wrappers (ffi/src/tests.rs: in-place
#      and overlapping buffers, the opaque state) under Miri;
#   5. proves panic freedom: a C link of every export finds no panic symbol
#      (x86-64, thumbv7em), and the `panic-check` build, whose panic handler
#      references an undefined symbol, links with every export kept
#      (x86-64, thumbv7em-none-eabihf, thumbv6m-none-eabi);
#   6. prints the .text a C program pays for lk_softmax_cross_entropy_with_grad
#      on Cortex-M4F (a probe calling only it, minus one calling nothing).
# Installs what it needs if missing (rustup targets, apt packages, cbindgen,
# nightly with Miri);
# idempotent. Builds into ffi/target. About 5 min on 2 cores with the tools
# present and clean builds (2 min warm); installing cbindgen adds about
# 7 min, apt about 1, Miri's first sysroot build about 1.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
root=$(pwd)
ffi=$root/ffi
t0=$(date +%s)
step() { echo "=== ffi [$(($(date +%s) - t0))s] $*"; }
# Host flags (e.g. -C target-cpu=native) do not belong in these builds.
unset RUSTFLAGS CARGO_BUILD_TARGET CARGO_ENCODED_RUSTFLAGS
export CARGO_TARGET_DIR=$ffi/target
out=$ffi/target/c
mkdir -p "$out"

# The header is compared byte for byte with cbindgen's output, so the
# version is pinned; another installed version is left alone.
CBINDGEN_VERSION=0.29.4

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi

step "install: rustup targets and components"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi
rustup component add rustfmt clippy

need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi)
dpkg-query -W -f='${Status}' libnewlib-arm-none-eabi 2>/dev/null | grep -q "install ok installed" ||
  need+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v python3 >/dev/null || need+=(python3)
command -v cc >/dev/null || need+=(gcc)
command -v c++ >/dev/null || need+=(g++)
if ((${#need[@]})); then
  step "install: ${need[*]} (apt)"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
python3 -c 'import tomllib' 2>/dev/null ||
  { echo "ffi.sh: python3 >= 3.11 (tomllib) is needed to read docs/precision.toml" >&2; exit 1; }

# None installed: install it (about 7 min on 2 cores). Another version
# installed: leave it, and use a private copy in ffi/target/tools.
cbindgen=$(command -v cbindgen || true)
if [ -z "$cbindgen" ]; then
  step "install: cbindgen $CBINDGEN_VERSION (cargo install, about 7 min)"
  env -u CARGO_TARGET_DIR cargo install cbindgen --locked --version "$CBINDGEN_VERSION"
  cbindgen=$(command -v cbindgen || echo "$HOME/.cargo/bin/cbindgen")
fi
if [ "$("$cbindgen" --version)" != "cbindgen $CBINDGEN_VERSION" ]; then
  cbindgen=$ffi/target/tools/bin/cbindgen
  if [ ! -x "$cbindgen" ] || [ "$("$cbindgen" --version)" != "cbindgen $CBINDGEN_VERSION" ]; then
    step "install: cbindgen $CBINDGEN_VERSION into ffi/target/tools (about 7 min)"
    env -u CARGO_TARGET_DIR cargo install cbindgen --locked --version "$CBINDGEN_VERSION" \
      --root "$ffi/target/tools"
  fi
fi

cd "$ffi"

step "fmt, clippy (default and panic-check builds, unit tests)"
cargo fmt --check
cargo clippy -- -D warnings
cargo clippy --all-targets -- -D warnings
cargo clippy --features panic-check -- -D warnings

step "miri: the unsafe wrappers (src/tests.rs) under Stacked Borrows and Tree Borrows"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
rustup +nightly component add miri rust-src
cargo +nightly miri test
MIRIFLAGS=-Zmiri-tree-borrows cargo +nightly miri test

step "header: include/logitkit.h is what cbindgen $CBINDGEN_VERSION generates from ffi/src"
"$cbindgen" --quiet --config cbindgen.toml --crate logitkit-ffi --output "$out/logitkit.h"
if ! diff -u include/logitkit.h "$out/logitkit.h"; then
  echo "ffi/include/logitkit.h is stale; regenerate it with" >&2
  echo "  (cd ffi && cbindgen --config cbindgen.toml --crate logitkit-ffi --output include/logitkit.h)" >&2
  exit 1
fi

step "bounds: tests/precision_header.py (docs/precision.toml -> lk_precision.h, doc quotes)"
python3 tests/precision_header.py "$root/docs/precision.toml" src "$out/lk_precision.h"

step "build: x86-64 static library (release)"
cargo build --release
host_lib=$CARGO_TARGET_DIR/release/liblogitkit_ffi.a

step "header compiles as C99, C11, C++11, C++17 (-pedantic -Werror); C++ links through it"
printf '#include "logitkit.h"\n' >"$out/header_only.c"
for std in c99 c11; do
  cc -std=$std -Wall -Wextra -pedantic -Werror -fsyntax-only -Iinclude "$out/header_only.c"
done
c++ -x c++ -std=c++17 -Wall -Wextra -pedantic -Werror -fsyntax-only -Iinclude "$out/header_only.c"
c++ -std=c++11 -Wall -Wextra -pedantic -Werror -Iinclude tests/cxx.cpp "$host_lib" -o "$out/cxx"
"$out/cxx"

cflags=(-std=c11 -O2 -Wall -Wextra -Werror -ffp-contract=off -Iinclude -I"$out")

step "tests/host.c on x86-64"
cc "${cflags[@]}" tests/host.c "$host_lib" -lm -Wl,--gc-sections -o "$out/host"
"$out/host"

step "build: thumbv7em-none-eabihf static library, release (opt-level 3) and opt-level \"s\""
cargo build --release --target thumbv7em-none-eabihf
CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_TARGET_DIR=$ffi/target/opt-s \
  cargo build --release --target thumbv7em-none-eabihf
m4_lib_3=$ffi/target/thumbv7em-none-eabihf/release/liblogitkit_ffi.a
m4_lib_s=$ffi/target/opt-s/thumbv7em-none-eabihf/release/liblogitkit_ffi.a

m4=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
m0=(-mcpu=cortex-m0 -mthumb -mfloat-abi=soft)
m4_map=(-T "$root/firmware/memory/mps2-an386.x" -T tests/cortex_m.ld)
m0_map=(-T "$root/firmware/memory/microbit.x" -T tests/cortex_m.ld)
bare=(-ffunction-sections -fdata-sections -nostartfiles -Wl,--gc-sections -Wl,--no-warn-execstack)
qemu_m4=(timeout 300 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic
  -semihosting-config enable=on,target=native -kernel)

for opt in 3 s; do
  lib=$m4_lib_3
  [ "$opt" = s ] && lib=$m4_lib_s
  step "tests/host.c on Cortex-M4F under QEMU mps2-an386 (thumbv7em library, opt-level $opt)"
  arm-none-eabi-gcc "${m4[@]}" "${cflags[@]}" "${bare[@]}" tests/host.c tests/cortex_m4f.c "$lib" \
    --specs=rdimon.specs -lm "${m4_map[@]}" -o "$out/host_m4f_$opt.elf"
  "${qemu_m4[@]}" "$out/host_m4f_$opt.elf"
done

# ---- panic freedom ------------------------------------------------------------------

# The functions the header declares, and the lk_ functions a library defines.
header_functions() {
  grep -oE '^[a-z][a-z0-9_ ]*[ *]lk_[a-z0-9_]+\(' include/logitkit.h | sed -E 's/.*(lk_[a-z0-9_]+)\($/\1/' | sort -u
}
exports_of() { # nm, library
  "$1" -g --defined-only "$2" 2>/dev/null | awk '$2 == "T" && $3 ~ /^lk_/ { print $3 }' | sort -u
}
# Every export kept under --gc-sections: the probe references each one.
keep_all() { # nm, library
  exports_of "$1" "$2" | sed 's/^/-Wl,-u,/'
}
# Symbols a reachable panic path leaves in a linked program.
panic_symbols() { # nm, program
  "$1" -C "$2" | grep -E 'panic|rust_begin_unwind|core::(option|result)::(unwrap|expect)_failed|core::slice::index::' || true
}
check_no_panic() { # nm, program, label
  local found
  found=$(panic_symbols "$1" "$2")
  if [ -n "$found" ]; then
    echo "FAIL: $3 links panic machinery:" >&2
    echo "$found" >&2
    exit 1
  fi
  echo "no panic symbol in $3 ($(basename "$2"))"
}
check_exports() { # nm, library, label
  if ! diff <(header_functions) <(exports_of "$1" "$2"); then
    echo "FAIL: the $3 library's lk_ symbols (>) differ from the header's functions (<)" >&2
    exit 1
  fi
}

step "exports: each library defines exactly the $(header_functions | wc -l) functions of the header"
check_exports nm "$host_lib" x86-64
check_exports arm-none-eabi-nm "$m4_lib_3" "thumbv7em (opt-level 3)"
check_exports arm-none-eabi-nm "$m4_lib_s" "thumbv7em (opt-level s)"

step "panic freedom, shipped builds: C links of every export contain no panic symbol"
mapfile -t keep_host < <(keep_all nm "$host_lib")
cc -std=c11 -O2 -Iinclude tests/probe.c "$host_lib" "${keep_host[@]}" -Wl,--gc-sections -o "$out/probe_all_x86_64"
check_no_panic nm "$out/probe_all_x86_64" "x86-64, every export"
check_no_panic nm "$out/host" "x86-64, tests/host.c"
for opt in 3 s; do
  lib=$m4_lib_3
  [ "$opt" = s ] && lib=$m4_lib_s
  mapfile -t keep < <(keep_all arm-none-eabi-nm "$lib")
  arm-none-eabi-gcc "${m4[@]}" -std=c11 -Os "${bare[@]}" -DLK_PROBE -Iinclude tests/probe.c tests/cortex_m4f.c \
    "$lib" "${keep[@]}" --specs=nano.specs --specs=nosys.specs "${m4_map[@]}" -o "$out/probe_all_m4f_$opt.elf"
  check_no_panic arm-none-eabi-nm "$out/probe_all_m4f_$opt.elf" "thumbv7em opt-level $opt, every export"
  check_no_panic arm-none-eabi-nm "$out/host_m4f_$opt.elf" "thumbv7em opt-level $opt, tests/host.c"
done

step "panic freedom, panic-check builds: the handler references an undefined symbol; every export must still link"
pc=$ffi/target/panic-check
CARGO_TARGET_DIR=$pc cargo build --release --features panic-check
CARGO_TARGET_DIR=$pc cargo build --release --features panic-check --target thumbv7em-none-eabihf
CARGO_TARGET_DIR=$pc cargo build --release --features panic-check --target thumbv6m-none-eabi
link_failed() {
  echo "FAIL: $1: a panic path is reachable from an export (undefined lk_ffi_has_a_reachable_panic_path)" >&2
  exit 1
}
lib=$pc/release/liblogitkit_ffi.a
check_exports nm "$lib" "x86-64 panic-check"
mapfile -t keep < <(keep_all nm "$lib")
cc -std=c11 -O2 -Iinclude tests/probe.c "$lib" "${keep[@]}" -Wl,--gc-sections -o "$out/probe_panic_check_x86_64" ||
  link_failed x86-64
check_no_panic nm "$out/probe_panic_check_x86_64" "x86-64 panic-check, every export"
lib=$pc/thumbv7em-none-eabihf/release/liblogitkit_ffi.a
check_exports arm-none-eabi-nm "$lib" "thumbv7em panic-check"
mapfile -t keep < <(keep_all arm-none-eabi-nm "$lib")
arm-none-eabi-gcc "${m4[@]}" -std=c11 -Os "${bare[@]}" -DLK_PROBE -Iinclude tests/probe.c tests/cortex_m4f.c \
  "$lib" "${keep[@]}" --specs=nano.specs --specs=nosys.specs "${m4_map[@]}" -o "$out/probe_panic_check_m4f.elf" ||
  link_failed thumbv7em-none-eabihf
check_no_panic arm-none-eabi-nm "$out/probe_panic_check_m4f.elf" "thumbv7em panic-check, every export"
lib=$pc/thumbv6m-none-eabi/release/liblogitkit_ffi.a
check_exports arm-none-eabi-nm "$lib" "thumbv6m panic-check"
mapfile -t keep < <(keep_all arm-none-eabi-nm "$lib")
arm-none-eabi-gcc "${m0[@]}" -std=c11 -Os "${bare[@]}" -DLK_PROBE -Iinclude tests/probe.c tests/cortex_m4f.c \
  "$lib" "${keep[@]}" --specs=nano.specs --specs=nosys.specs "${m0_map[@]}" -o "$out/probe_panic_check_m0.elf" ||
  link_failed thumbv6m-none-eabi
check_no_panic arm-none-eabi-nm "$out/probe_panic_check_m0.elf" "thumbv6m panic-check, every export"

# ---- code size ------------------------------------------------------------------------

step ".text a C program pays for lk_softmax_cross_entropy_with_grad (Cortex-M4F, probe built with -Os)"
section_bytes() { # section, elf
  arm-none-eabi-size -A "$2" | awk -v s="$1" '$1 == s { print $2 }'
}
echo "| thumbv7em-none-eabihf library | .text, probe calling nothing | .text, probe calling only lk_softmax_cross_entropy_with_grad | the cross-entropy costs (.text) | (.rodata) |"
echo "|---|---|---|---|---|"
for opt in s 3; do
  lib=$m4_lib_3
  [ "$opt" = s ] && lib=$m4_lib_s
  for probe in base ce; do
    def=()
    [ "$probe" = ce ] && def=(-DLK_PROBE_CE)
    arm-none-eabi-gcc "${m4[@]}" -std=c11 -Os "${bare[@]}" -DLK_PROBE "${def[@]}" -Iinclude tests/probe.c \
      tests/cortex_m4f.c "$lib" --specs=nano.specs --specs=nosys.specs "${m4_map[@]}" -o "$out/probe_${probe}_$opt.elf"
  done
  base=$(section_bytes .text "$out/probe_base_$opt.elf")
  with=$(section_bytes .text "$out/probe_ce_$opt.elf")
  rodata=$(($(section_bytes .rodata "$out/probe_ce_$opt.elf") - $(section_bytes .rodata "$out/probe_base_$opt.elf")))
  echo "| opt-level \"$opt\" | $base | $with | **$((with - base))** | $rodata |"
done
echo "Largest symbols of the opt-level \"s\" probe:"
arm-none-eabi-nm --size-sort -S -C "$out/probe_ce_s.elf" | tail -6

step "done"
