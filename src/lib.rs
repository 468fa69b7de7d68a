//! # logitkit
//!
//! Numerically stable, SIMD-vectorized, allocation-free kernels for the last
//! layer of a classifier. `#![no_std]`, no allocator, no panics.
//!
//! ## Lane math
//!
//! | function | max error (all 2³² inputs, proved) | slice forms |
//! |---|---|---|
//! | [`exp`] | ≤ 1 ULP (subnormal results ≤ 1 unit of 2⁻¹⁴⁹) | [`exp_in_place`], [`exp_into`] |
//! | [`ln`] | ≤ 1 ULP | [`ln_in_place`], [`ln_into`] |
//! | [`ln_1p`] | ≤ 1.5 ULP | [`ln_1p_in_place`], [`ln_1p_into`] |
//!
//! Each is one algorithm, generic over [`lane::Lane`]: the scalar function,
//! the vector form ([`exp_lane`] on [`lane::Simd`]) and every element of a
//! slice (the tail included) produce the same bits. Multiply-adds are fused
//! exactly where the target has FMA (x86 `fma`, aarch64), for every path, so
//! the last bit may differ between builds; the bounds hold for each build.
//!
//! ## Numeric policy
//!
//! The output is NaN only where an input is NaN. Every other input, ±inf and
//! the largest finite values included, gets the mathematical limit: see the
//! `# Special values` table of each function. Shape and parameter errors are
//! [`Error`]s, never panics.
//!
//! ## Features
//!
//! No default features: pure `no_std`, no `alloc`. `std` adds
//! `std::error::Error` for [`Error`] and is needed by the benches.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod error;
pub mod lane;
mod math;

pub use error::Error;
pub use math::exp::{exp, exp_in_place, exp_into, exp_lane};
pub use math::ln::{ln, ln_in_place, ln_into, ln_lane};
pub use math::ln_1p::{ln_1p, ln_1p_in_place, ln_1p_into, ln_1p_lane};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
