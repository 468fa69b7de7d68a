//! # logitkit-ffi
//!
//! The C ABI of [`logitkit`]: a `no_std` static library
//! (`liblogitkit_ffi.a`, no allocator, `panic = "abort"`) and its header
//! `include/logitkit.h`, generated from this crate by cbindgen
//! (`cbindgen.toml`). Every public Rust kernel has an `lk_` function; the
//! conventions (pointers and lengths, optional outputs, status codes,
//! overlapping buffers) are stated at the top of the header and in
//! `docs/c-abi.md`.
//!
//! Not exported: the generic lane forms (`exp_lane`, ...) and `FixedRow`,
//! which have no C equivalent (their slice forms are exported).
//!
//! `unsafe` appears only in `raw.rs` (turning (pointer, length) into
//! slices, and the opaque `LogSumExp` state) and at the call sites of those
//! helpers, each with a `// SAFETY:` argument; the library crate itself
//! stays `#![forbid(unsafe_code)]`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
// The exported names are C names: lk_status, lk_cross_entropy_options, ...
#![allow(non_camel_case_types)]

// Unit tests (for Miri) use std; the library never does.
#[cfg(test)]
extern crate std;
#[cfg(test)]
mod tests;

mod raw;
mod status;

// The exported functions, in the order of the header (cbindgen keeps the
// source order): lane math, the softmax family, the losses.
mod lane;

mod softmax;

mod loss;

pub use lane::*;
pub use loss::*;
pub use softmax::*;
pub use status::*;

/// Without the `panic-check` feature: unreachable (no exported function has
/// a panic path, which the `panic-check` build proves at link time), and
/// if it were reached it would stop here rather than unwind into C.
#[cfg(all(not(test), not(feature = "panic-check")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// With the `panic-check` feature: references a symbol that is defined
/// nowhere, so a C program linking this build (with `--gc-sections`) fails
/// to link if any function it keeps can reach a panic.
#[cfg(all(not(test), feature = "panic-check"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unsafe extern "C" {
        // Deliberately undefined. Declared `safe`: it can never run,
        // because a program that references it does not link.
        safe fn lk_ffi_has_a_reachable_panic_path() -> !;
    }
    lk_ffi_has_a_reachable_panic_path()
}
