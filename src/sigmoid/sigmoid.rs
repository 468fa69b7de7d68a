//! sigmoid(x) = 1 / (1 + e^{−x}).

use super::{backward_with, logistic, logistic_on};
use crate::error::Error;
use crate::lane::Lane;
use crate::math::elementwise_slices_two_paths;

/// σ on every lane. The algorithm behind [`sigmoid`]: the σ(x) of the
/// shared `logistic` (`src/sigmoid/mod.rs`), which BCE and the focal loss use
/// too.
///
/// t = e^{−|x|} is taken as hi + lo (the exponential's last rounding kept)
/// and 1 + t as d + d_lo. For x ≤ 0, σ = t/(1 + t) is s = q + (t_lo −
/// q·d_lo)/d with q = t/d, rounded once; for x > 0, σ = 1 − s, one more
/// rounding (s ≤ ½, so its error is at most ¼ ULP of the result). Plain
/// t/(1 + t) measured 2.03 ULP (three roundings on a result just under ¼);
/// this leaves the division's and the final additions'.
#[inline(always)]
pub fn sigmoid_lane<V: Lane>(x: V) -> V {
    V::select(x.is_nan(), x, logistic(x).sig_alone())
}

/// The logistic sigmoid σ(x) = 1 / (1 + e^{−x}).
///
/// # Accuracy
/// ≤ 2 ULP for every f32 input, relative accuracy kept for large negative x
/// (subnormal results within 2 units of 2⁻¹⁴⁹). Proved over all 2³² inputs
/// against f64 by `tests/elementwise_ulp.rs`.
///
/// # Special values
/// | x | σ(x) |
/// |---|---|
/// | NaN | NaN (payload kept) |
/// | +inf, x ≥ 17.32868 (`0x418aa123`) | 1 |
/// | −inf, x < −103.98 | +0 |
/// | ±0 | ½ |
/// | −103.98 < x < −87.3 | subnormal, accurate (σ(−100) ≈ 3.7e−44) |
///
/// # Examples
/// ```
/// assert_eq!(logitkit::sigmoid(0.0), 0.5);
/// assert_eq!(logitkit::sigmoid(f32::INFINITY), 1.0);
/// assert!(logitkit::sigmoid(-100.0) > 0.0);
/// ```
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    sigmoid_lane(x)
}

/// [`sigmoid_lane`] where every |x| < 87 (no NaN lane to patch).
#[inline(always)]
fn sigmoid_fast<V: Lane>(x: V) -> V {
    logistic_on::<V, true>(x).sig_alone()
}

elementwise_slices_two_paths!(
    sigmoid_lane,
    sigmoid_fast,
    "sigmoid",
    sigmoid_in_place,
    sigmoid_into,
    crate::lane::SigmoidSimd
);

/// Backward of sigmoid: `grad_in = grad_out · σ(x)·σ(−x)` (the derivative
/// s(1 − s), with 1 − s computed as σ(−x) so it does not cancel), given the
/// forward input `xs`. With `grad_out` all ones this is the derivative.
///
/// # Accuracy
/// For a finite upstream gradient g: ≤ 8.67 ULP of g·σ(x)·σ(−x), plus
/// 2⁻¹⁴⁷·|g| absolute. Each factor is [`sigmoid`], within 2 ULP, i.e.
/// 2·ulp(σ)/σ relative: at most 2⁻²³/σ for the larger factor σ(|x|) ∈ (½, 1)
/// and 2⁻²² for the smaller, 1 − σ(|x|) (both are exactly ½ at x = 0).
/// Their sum is largest with the smaller just above ¼, the larger just below
/// ¾: (2 + 4/3)·2⁻²³. The product and the multiply by g round once each
/// (2⁻²⁴ relative), so the relative error is below (13/3)·2⁻²³, and a
/// relative error ε is at most ε·2²⁴ ULP of the result: 8.67 ULP. Where
/// σ(−|x|) is subnormal (|x| > 87.3) its 2 ULP are 2⁻¹⁴⁸ absolute; with the
/// product's rounding the derivative is within 3.5·2⁻¹⁴⁹ < 2⁻¹⁴⁷, which g
/// scales. Checked against f64 in `tests/sigmoid_family.rs` and by the
/// `lane_math` fuzz target.
///
/// # Special values
/// ±inf → 0 (times a finite upstream gradient); NaN propagates.
///
/// # Errors
/// [`Error::LengthMismatch`] unless the three slices have equal lengths.
///
/// # Cost
/// One pass reading `xs` and `grad_out`, writing `grad_in`.
pub fn sigmoid_backward(xs: &[f32], grad_out: &[f32], grad_in: &mut [f32]) -> Result<(), Error> {
    // Both factors from one call of the 2-ULP σ (σ(−x) is its other half,
    // the same bits as `sigmoid(−x)`).
    backward_with(xs, grad_out, grad_in, |x| logistic(x).derivative())
}
