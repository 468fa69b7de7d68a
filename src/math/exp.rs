//! `exp`: Cody–Waite reduction to |r| ≤ ln2/2, a degree-7 polynomial, and a
//! two-factor power-of-two scale that gives gradual underflow.

use super::{LN2_HI, LN2_LO, elementwise_slices};
use crate::lane::{Lane, LaneBits, horner};

/// log2(e) rounded to f32.
const LOG2_E: f32 = 1.442_695_021_629_333_5; // 0x3fb8aa3b
/// 1.5·2²³: adding it rounds to an integer and leaves that integer in the
/// low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0; // 0x4b400000
/// Below this, exp(x) < 2⁻¹⁵⁰ rounds to +0; the clamp keeps n in range.
const EXP_INPUT_MIN: f32 = -104.0;
/// Above this, exp(x) overflows to +inf on its own; the clamp keeps n in range.
const EXP_INPUT_MAX: f32 = 89.0;
/// `(eʳ − 1 − r) / r²` on |r| ≤ ln2/2 + 1e-4, degree 5, max abs error
/// 4.5e-9 (tools/fit_coefficients.py). Degree 4 (6.7e-8) measured 1.003 ULP.
const EXP_TAIL: [f32; 6] = [
    0.5,                       // 0x3f000000
    0.166_666_671_633_720_4,   // 0x3e2aaaab
    0.041_666_463_017_463_684, // 0x3d2aaa74
    0.008_333_310_484_886_17,  // 0x3c088870
    0.001_393_366_721_458_733, // 0x3ab6a1a1
    0.000_198_910_100_152_716, // 0x39509286
];

/// eˣ on every lane. The algorithm behind [`exp`]; generic so the scalar
/// path and the SIMD path are one piece of code.
///
/// x = n·ln2 + r with n = round(x·log2 e) and r = (x − n·LN2_HI) − n·LN2_LO
/// (the first product and difference exact); eʳ = 1 + (r + r²·Q(r)); the
/// result is eʳ·2^⌊n/2⌋·2^(n−⌊n/2⌋), so only the last multiply rounds and a
/// subnormal result is rounded once, from a correctly scaled value.
#[inline(always)]
pub fn exp_lane<V: Lane>(x: V) -> V {
    let xc = x.max(V::splat(EXP_INPUT_MIN)).min(V::splat(EXP_INPUT_MAX));
    let z = xc * V::splat(LOG2_E) + V::splat(ROUND_MAGIC);
    let n = z - V::splat(ROUND_MAGIC);
    let r = (xc - n * V::splat(LN2_HI)) - n * V::splat(LN2_LO);
    let er = V::splat(1.0) + (r + (r * r) * horner(r, EXP_TAIL));
    // n + 256 ∈ [106, 384]: non-negative, so a logical shift halves it.
    let n_biased = z.to_bits() - V::Bits::splat(ROUND_MAGIC.to_bits() - 256);
    let half_biased = n_biased >> 1; // ⌊n/2⌋ + 128
    let s1 = V::from_bits((half_biased - V::Bits::splat(1)) << 23);
    let s2 = V::from_bits((n_biased - half_biased - V::Bits::splat(1)) << 23);
    V::select(x.is_nan(), x, er * s1 * s2)
}

/// eˣ.
///
/// # Accuracy
/// ≤ 1 ULP for every f32 input; subnormal results within 1 unit of 2⁻¹⁴⁹.
/// Proved over all 2³² inputs against `f64::exp` by `tests/ulp_exhaustive.rs`,
/// which prints the maximum and the input that reaches it. No fused
/// multiply-add is used, so the bits are the same on every target.
///
/// # Special values
/// | x | exp(x) |
/// |---|---|
/// | NaN | NaN (same payload) |
/// | +inf, x > ln(f32::MAX) ≈ 88.7228 | +inf |
/// | −inf, x < −103.973 | +0 |
/// | ±0 | 1 |
/// | −103.97 < x < −87.34 | gradual underflow to subnormals |
///
/// # Examples
/// ```
/// assert_eq!(logitkit::exp(0.0), 1.0);
/// assert!((logitkit::exp(1.0) - core::f32::consts::E).abs() <= f32::EPSILON * 3.0);
/// assert_eq!(logitkit::exp(f32::NEG_INFINITY), 0.0);
/// ```
#[inline]
pub fn exp(x: f32) -> f32 {
    exp_lane(x)
}

elementwise_slices!(exp_lane, "exp", exp_in_place, exp_into);
