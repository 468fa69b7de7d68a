//! softplus(x) = ln(1 + eˣ) and log_sigmoid(x) = −softplus(−x).

use super::sigmoid::sigmoid_lane;
use super::{backward_with, logistic, softplus_pair, softplus_pair_on};
use crate::error::Error;
use crate::lane::Lane;
use crate::math::elementwise_slices_two_paths;

/// softplus on every lane: max(x, 0) + ln_1p(e^{−|x|}).
#[inline(always)]
pub fn softplus_lane<V: Lane>(x: V) -> V {
    let (sp, _) = softplus_pair(x);
    V::select(x.is_nan(), x, sp)
}

/// log σ on every lane: −softplus(−x) = min(x, 0) − ln_1p(e^{−|x|}).
#[inline(always)]
pub fn log_sigmoid_lane<V: Lane>(x: V) -> V {
    let (_, sp_neg) = softplus_pair(x);
    V::select(x.is_nan(), x, -sp_neg)
}

/// softplus(x) = ln(1 + eˣ) = max(x, 0) + ln_1p(e^{−|x|}).
///
/// # Accuracy
/// ≤ 2 ULP for every f32 input, tiny results for large negative x included
/// (softplus(−100) ≈ 3.7e−44). Proved over all 2³² inputs against f64 by
/// `tests/elementwise_ulp.rs`.
///
/// # Special values
/// | x | softplus(x) |
/// |---|---|
/// | NaN | NaN (payload kept) |
/// | +inf | +inf |
/// | −inf | +0 |
/// | x > 2²⁴ | x |
///
/// # Examples
/// ```
/// assert!((logitkit::softplus(0.0) - core::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(logitkit::softplus(f32::MAX), f32::MAX);
/// assert!(logitkit::softplus(-100.0) > 0.0);
/// ```
#[inline]
pub fn softplus(x: f32) -> f32 {
    softplus_lane(x)
}

/// log σ(x) = −softplus(−x) = min(x, 0) − ln_1p(e^{−|x|}).
///
/// # Accuracy
/// ≤ 2 ULP for every f32 input (it is exactly −softplus(−x)); proved over
/// all 2³² inputs by `tests/elementwise_ulp.rs`.
///
/// # Special values
/// | x | log σ(x) |
/// |---|---|
/// | NaN | NaN (payload kept) |
/// | +inf | −0 |
/// | −inf | −inf |
///
/// # Examples
/// ```
/// assert_eq!(logitkit::log_sigmoid(f32::NEG_INFINITY), f32::NEG_INFINITY);
/// assert_eq!(logitkit::log_sigmoid(-f32::MAX), -f32::MAX);
/// ```
#[inline]
pub fn log_sigmoid(x: f32) -> f32 {
    log_sigmoid_lane(x)
}

/// [`softplus_lane`] where every |x| < 87 (no NaN lane to patch).
#[inline(always)]
fn softplus_fast<V: Lane>(x: V) -> V {
    softplus_pair_on::<V, true>(x).0
}

/// [`log_sigmoid_lane`] where every |x| < 87 (no NaN lane to patch).
#[inline(always)]
fn log_sigmoid_fast<V: Lane>(x: V) -> V {
    -softplus_pair_on::<V, true>(x).1
}

elementwise_slices_two_paths!(
    softplus_lane,
    softplus_fast,
    "softplus",
    softplus_in_place,
    softplus_into,
    crate::lane::SigmoidSimd
);
elementwise_slices_two_paths!(
    log_sigmoid_lane,
    log_sigmoid_fast,
    "log_sigmoid",
    log_sigmoid_in_place,
    log_sigmoid_into,
    crate::lane::SigmoidSimd
);

/// Backward of softplus: `grad_in = grad_out · σ(x)` (softplus′ = σ), given
/// the forward input `xs`.
///
/// # Accuracy
/// For a finite upstream gradient g: ≤ 5 ULP of g·σ(x), plus 2⁻¹⁴⁸·|g|
/// absolute. σ is [`sigmoid`](crate::sigmoid()), within 2 ULP, i.e.
/// 2·ulp(σ)/σ ≤ 2⁻²² relative; the multiply adds 2⁻²⁴, and a relative
/// error ε is at most ε·2²⁴ ULP of the result. Where σ(x) is subnormal
/// (x < −87.3) its 2 ULP are 2⁻¹⁴⁸ absolute, which g scales. Checked against
/// f64 in `tests/sigmoid_family.rs` and by the `lane_math` fuzz target.
///
/// # Errors
/// [`Error::LengthMismatch`] unless the three slices have equal lengths.
///
/// # Cost
/// One pass.
pub fn softplus_backward(xs: &[f32], grad_out: &[f32], grad_in: &mut [f32]) -> Result<(), Error> {
    backward_with(xs, grad_out, grad_in, sigmoid_lane)
}

/// Backward of log_sigmoid: `grad_in = grad_out · σ(−x)` (log σ′ = σ(−x) =
/// 1 − σ(x), computed without cancelling), given the forward input `xs`.
///
/// # Accuracy
/// For a finite upstream gradient g: ≤ 5 ULP of g·σ(−x), plus 2⁻¹⁴⁸·|g|
/// absolute, as for [`softplus_backward`] (σ(−x) is
/// [`sigmoid`](crate::sigmoid())`(−x)`, within 2 ULP).
///
/// # Errors
/// [`Error::LengthMismatch`] unless the three slices have equal lengths.
///
/// # Cost
/// One pass.
pub fn log_sigmoid_backward(
    xs: &[f32],
    grad_out: &[f32],
    grad_in: &mut [f32],
) -> Result<(), Error> {
    backward_with(xs, grad_out, grad_in, |x| logistic(x).sig_neg_alone())
}
