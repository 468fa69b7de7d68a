//! `ln_1p` (log1p): ln(1 + x) without losing the low bits of x.

use super::{elementwise_slices_two_paths, ln_1p_reduced, split_sqrt2};
use crate::lane::{BLOCK, Lane, block_all};

/// ln(1 + x) on every lane. The algorithm behind [`ln_1p`].
///
/// u = fl(1 + x) is reduced like `ln`; the rounding error of the sum,
/// c = x − (u − 1) (exact for u ≤ 2²⁴ by Sterbenz, negligible beyond), enters
/// as ln(1 + c/u) ≈ c/u in the low part of `ln_1p_reduced`. For |x| < 2⁻²⁵
/// this gives exactly x.
#[inline(always)]
pub fn ln_1p_lane<V: Lane>(x: V) -> V {
    let y = ln_1p_fast(x);
    let y = V::select(x.eq(V::splat(-1.0)), V::splat(f32::NEG_INFINITY), y);
    // +inf is its own limit, and ±0 keep their sign (the sum above gives +0).
    let y = V::select(x.eq(V::splat(f32::INFINITY)) | x.eq(V::splat(0.0)), x, y);
    let y = V::select(x.lt(V::splat(-1.0)), V::splat(f32::NAN), y);
    V::select(x.is_nan(), x, y)
}

/// ln(1 + x), accurate for x near 0.
///
/// # Accuracy
/// ≤ 1.5 ULP for every f32 input (`docs/accuracy.md`). Proved over all 2³² inputs
/// against `f64::ln_1p` by `tests/elementwise_ulp.rs`. Fused multiply-add
/// where the target has FMA; both builds are proved.
///
/// # Special values
/// | x | ln_1p(x) |
/// |---|---|
/// | NaN | NaN (same payload) |
/// | x < −1, −inf | NaN |
/// | −1 | −inf |
/// | ±0 | ±0 |
/// | tiny x (incl. subnormal) | x |
/// | +inf | +inf |
///
/// # Examples
/// ```
/// assert_eq!(logitkit::ln_1p(1e-30), 1e-30);
/// assert_eq!(logitkit::ln_1p(-1.0), f32::NEG_INFINITY);
/// ```
#[doc(alias = "log1p")]
#[inline]
pub fn ln_1p(x: f32) -> f32 {
    ln_1p_lane(x)
}

/// The lanes where [`ln_1p_lane`] needs none of its patches: −1 < x < +inf,
/// x ≠ 0 (±0 keep their sign through a select; NaN fails the tests).
#[inline(always)]
fn ln_1p_fast_lanes<V: Lane>(x: V) -> V::Mask {
    let zero = V::splat(0.0);
    (x.gt(zero) & x.lt(V::splat(f32::INFINITY))) | (x.lt(zero) & x.gt(V::splat(-1.0)))
}

/// Whether every lane of a block takes [`ln_1p_fast`].
#[inline(always)]
fn ln_1p_block_in_fast_range<V: Lane>(block: &[V; BLOCK]) -> bool {
    block_all(block, ln_1p_fast_lanes)
}

/// [`ln_1p_lane`] before its special values' selects, which leave the
/// lanes of [`ln_1p_fast_lanes`] as they are: the slice forms run it alone
/// on blocks whose every lane is there (`docs/performance.md`, "A fast
/// path for the logarithms").
#[inline(always)]
fn ln_1p_fast<V: Lane>(x: V) -> V {
    let one = V::splat(1.0);
    let u = one + x;
    let (k, f) = split_sqrt2(u);
    let c = (x - (u - one)) / u;
    ln_1p_reduced(k, f, c)
}

elementwise_slices_two_paths!(
    ln_1p_lane,
    ln_1p_fast,
    "ln_1p",
    ln_1p_in_place,
    ln_1p_into,
    crate::lane::Ln1pSimd,
    ln_1p_block_in_fast_range,
    ln_1p_fast_lanes
);
