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
//! the last bit may differ between builds. The bounds are proved over all
//! 2³² inputs on the default and the `-C target-cpu=native` x86-64 builds,
//! and checked on sampled inputs on the others (aarch64, wasm32, the
//! one-lane firmware build): `docs/accuracy.md` lists each build's stride.
//!
//! ## Softmax family
//!
//! | function | max error | passes |
//! |---|---|---|
//! | [`log_sum_exp`], [`LogSumExp`] | ½ ULP + 2⁻²¹·s′/(1+s′) absolute (a `LogSumExp` merge: + 2⁻⁴⁴·s′/(1+s′)) | 2 reads |
//! | [`softmax`], [`softmax_in_place`] | 2 ULP + 2⁻²¹ relative per element | 2 reads, 1 write, 1 rescale |
//! | [`log_softmax`], [`log_softmax_in_place`] | 2 ULP + 2⁻²¹ absolute | 3 reads, 1 write |
//! | [`softmax_backward`], [`log_softmax_backward`] | see each | 2 |
//! | [`softmax_cross_entropy_with_grad`] and its probability, batch and loss-only forms | loss 4 ULP, gradient 4 ULP of max(\|g\|, 2⁻²⁴·max\|g\|) | 2 reads of the logits, 1 rewrite of the gradient |
//!
//! Fixed-size rows (`[f32; N]`, `heapless::Vec<f32, N>`) get the same kernels
//! as methods of [`FixedRow`].
//!
//! ## Sigmoid family
//!
//! | function | max error | passes |
//! |---|---|---|
//! | [`sigmoid`] (+ `_in_place`, `_into`, `_lane`) | ≤ 2 ULP, all 2³² inputs | 1 |
//! | [`softplus`], [`log_sigmoid`] (same forms) | ≤ 2 ULP, all 2³² inputs | 1 |
//! | [`sigmoid_backward`], [`softplus_backward`], [`log_sigmoid_backward`] | see each | 1 |
//! | [`bce_with_logits_with_grad`], [`bce_with_logits`] | 4 ULP per element, labels in [0, 1] | 1 |
//! | [`sigmoid_focal_loss_with_grad`], [`sigmoid_focal_loss`] | 8 ULP + γ·\|ln(1−p_t)\|·2⁻²³ relative | 1 |
//!
//! ## Summation
//!
//! Sums (of exponentials, of target weights, of gradients) are blocked: every
//! f32 lane adds at most four terms in plain f32 before the block joins a
//! more precise total (f64, or a compensated f32 pair within 2⁻³⁰), so a sum
//! of n ≤ 2²⁴ non-negative terms has relative error ≤ 3·2⁻²⁴ + 2⁻²⁹ < 2⁻²²
//! whatever n. One-lane builds sum the exponentials with TwoSum per term.
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
//! No default features: pure `no_std`, no `alloc`. [`Error`] implements
//! [`core::error::Error`] on every build. The `std` feature adds nothing to
//! the library's API; the benches and fuzz targets require it.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

mod error;
mod fixed;
pub mod lane;
mod loss;
mod math;
mod reduce;
mod sigmoid;
mod softmax;

/// Marsaglia's xorshift32 from `seed`: the unit tests' deterministic inputs.
#[cfg(test)]
pub(crate) fn xorshift32(mut state: u32) -> impl FnMut() -> u32 {
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    }
}

pub use error::Error;
/// The `heapless` crate this one is built against, so `heapless::Vec` rows
/// need no separate dependency at a matching version.
pub use heapless;
pub use math::exp::{exp, exp_in_place, exp_into, exp_lane};
pub use math::ln::{ln, ln_in_place, ln_into, ln_lane};
pub use math::ln_1p::{ln_1p, ln_1p_in_place, ln_1p_into, ln_1p_lane};

pub use fixed::{FixedBatch, FixedRow};
pub use loss::bce_with_logits::{
    BceOptions, ElementWeights, FocalOptions, PosWeight, bce_with_logits,
    bce_with_logits_with_grad, sigmoid_focal_loss, sigmoid_focal_loss_with_grad,
};
pub use loss::options::{ClassIndex, CrossEntropyOptions, Reduction};
pub use loss::softmax_cross_entropy::{
    softmax_cross_entropy, softmax_cross_entropy_batch, softmax_cross_entropy_batch_with_grad,
    softmax_cross_entropy_probs, softmax_cross_entropy_probs_batch,
    softmax_cross_entropy_probs_batch_with_grad, softmax_cross_entropy_probs_with_grad,
    softmax_cross_entropy_with_grad,
};
pub use sigmoid::sigmoid::{
    sigmoid, sigmoid_backward, sigmoid_in_place, sigmoid_into, sigmoid_lane,
};
pub use sigmoid::softplus::{
    log_sigmoid, log_sigmoid_backward, log_sigmoid_in_place, log_sigmoid_into, log_sigmoid_lane,
    softplus, softplus_backward, softplus_in_place, softplus_into, softplus_lane,
};
pub use softmax::backward::{log_softmax_backward, softmax_backward};
pub use softmax::log_sum_exp::{LogSumExp, log_sum_exp};
pub use softmax::rows::{
    argmax, argmax_rows, log_softmax_backward_rows, log_softmax_rows, log_softmax_rows_in_place,
    log_sum_exp_rows, softmax_backward_rows, softmax_rows, softmax_rows_in_place,
};
pub use softmax::softmax::{log_softmax, log_softmax_in_place, softmax, softmax_in_place};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
