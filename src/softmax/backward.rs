//! Vector–Jacobian products of softmax and log_softmax.

use crate::error::{Error, check_len};
use crate::lane::{Lane, Simd, load_at, store_at};
use crate::math::exp::exp_lane;
use crate::reduce::blocked_sum;

/// Backward of softmax: `grad_in = p ⊙ (g − ⟨g, p⟩)` given the forward
/// output `probs` = p and the upstream gradient `grad_out` = g.
///
/// # Accuracy
/// ⟨g, p⟩ is a blocked sum accumulated in f64 blocks (error independent of
/// n); each element then has ≤ 2 roundings: ≤ 1.5 ULP of pᵢ·(gᵢ − ⟨g, p⟩)
/// plus the dot product's error times pᵢ. That error is ≤ 2⁻²¹·Σ|pⱼgⱼ| +
/// ½ ulp(⟨g, p⟩) + n·2⁻¹⁵⁰ (products pⱼgⱼ in the subnormal range round to
/// an absolute grid).
///
/// # Special values
/// NaN in `probs` or `grad_out` gives NaN in the dot product and so in every
/// element; infinities follow IEEE arithmetic.
///
/// # Errors
/// [`Error::LengthMismatch`] unless the three slices have equal lengths.
///
/// # Cost
/// Two passes: dot product (read both); combine (read both, write).
///
/// # Examples
/// ```
/// let p = [0.25f32, 0.75];
/// let mut gi = [0.0f32; 2];
/// logitkit::softmax_backward(&p, &[1.0, 1.0], &mut gi)?; // constant g: zero gradient
/// assert_eq!(gi, [0.0, 0.0]);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn softmax_backward(probs: &[f32], grad_out: &[f32], grad_in: &mut [f32]) -> Result<(), Error> {
    check_len("grad_out", probs.len(), grad_out.len())?;
    check_len("grad_in", probs.len(), grad_in.len())?;
    let [dot] = blocked_sum::<Simd, 1>(probs.len(), |k, _| {
        [load_at::<Simd>(probs, k, 0.0) * load_at::<Simd>(grad_out, k, 0.0)]
    });
    let dot = <Simd as Lane>::splat(dot as f32);
    for k in 0..probs.len().div_ceil(Simd::WIDTH) {
        let p = load_at::<Simd>(probs, k, 0.0);
        let g = load_at::<Simd>(grad_out, k, 0.0);
        store_at(p * (g - dot), grad_in, k);
    }
    Ok(())
}

/// Backward of log_softmax: `grad_in = g − softmax · Σg`, given the forward
/// output `log_probs` (softmax = e^{log_probs}) and the upstream gradient
/// `grad_out` = g.
///
/// # Accuracy
/// With pᵢ = e^{log_probsᵢ} (exact, from the f32 input), each element is
/// within 4 ULP of max(|gᵢ − pᵢ·Σg|, pᵢ·|Σg|) + 2⁻²¹·pᵢ·Σ|g| + 2⁻¹⁴⁸·Σ|g|
/// (absolute), while Σ|g| stays below 2¹²⁶ (no intermediate overflows).
///
/// Derivation (u = 2⁻²⁴): Σg is a blocked sum of signed terms, within
/// (3u + 2⁻²⁹)·Σ|g| < 2⁻²²·Σ|g| before its rounding to f32 (≤ u·|Σg|), so
/// within < 5u·Σ|g|; times the computed p̂ᵢ ≤ pᵢ·(1 + 2u) that is
/// < 2⁻²¹·pᵢ·Σ|g|. The crate's `exp` is within 1 ULP of pᵢ, which times |Σg|
/// is < 2 ULP of pᵢ·|Σg|; where pᵢ is subnormal that ULP is 2⁻¹⁴⁹ and the
/// absolute 2⁻¹⁴⁸·Σ|g| covers it and the product with Σg's error. The multiply
/// and the subtract (one fused multiply-add where the target has FMA) round
/// once each, ≤ 1 ULP of the larger term each. Checked against f64 in
/// `tests/softmax_family.rs` and by the `softmax` fuzz check.
///
/// # Special values
/// NaN anywhere in `grad_out` makes Σg and so every element NaN; a NaN log
/// probability gives NaN in its element. log_probs = −inf (masked) gives
/// grad_in = g there.
///
/// # Errors
/// [`Error::LengthMismatch`] unless the three slices have equal lengths.
///
/// # Cost
/// Two passes: Σg (read `grad_out`); combine (read both, write).
///
/// # Examples
/// ```
/// let lp = [(0.5f32).ln(), (0.5f32).ln()];
/// let mut gi = [0.0f32; 2];
/// logitkit::log_softmax_backward(&lp, &[1.0, 0.0], &mut gi)?;
/// assert!((gi[0] - 0.5).abs() < 1e-6 && (gi[1] + 0.5).abs() < 1e-6);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn log_softmax_backward(
    log_probs: &[f32],
    grad_out: &[f32],
    grad_in: &mut [f32],
) -> Result<(), Error> {
    check_len("grad_out", log_probs.len(), grad_out.len())?;
    check_len("grad_in", log_probs.len(), grad_in.len())?;
    let [total] =
        blocked_sum::<Simd, 1>(grad_out.len(), |k, _| [load_at::<Simd>(grad_out, k, 0.0)]);
    let neg_total = <Simd as Lane>::splat(-total as f32);
    for k in 0..grad_in.len().div_ceil(Simd::WIDTH) {
        let p = exp_lane(load_at::<Simd>(log_probs, k, 0.0));
        let g = load_at::<Simd>(grad_out, k, 0.0);
        store_at(p.mul_add(neg_total, g), grad_in, k);
    }
    Ok(())
}
