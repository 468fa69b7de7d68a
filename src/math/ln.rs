//! `ln`: x = 2^k·(1 + f) with 1 + f ∈ [√½, √2), then k·ln2 + ln(1 + f).

use super::{elementwise_slices, ln_1p_reduced, split_sqrt2};
use crate::lane::Lane;

/// 2²³, which lifts a subnormal into the normal range exactly.
const SUBNORMAL_SCALE: f32 = 8_388_608.0;

/// ln(x) on every lane. The algorithm behind [`ln`].
///
/// Subnormal inputs are scaled by 2²³ (exact) and 23 is taken off k, so they
/// get the same accuracy as normal inputs. The reduction is integer-only
/// (`split_sqrt2`), the core is `ln_1p_reduced`; out-of-domain lanes are
/// patched with selects at the end.
#[inline(always)]
pub fn ln_lane<V: Lane>(x: V) -> V {
    let subnormal = x.lt(V::splat(f32::MIN_POSITIVE));
    let scaled = V::select(subnormal, x * V::splat(SUBNORMAL_SCALE), x);
    let (k, f) = split_sqrt2(scaled);
    let k = k - V::select(subnormal, V::splat(23.0), V::splat(0.0));
    let y = ln_1p_reduced(k, f, V::splat(0.0));
    let y = V::select(x.eq(V::splat(0.0)), V::splat(f32::NEG_INFINITY), y);
    let y = V::select(x.eq(V::splat(f32::INFINITY)), x, y);
    let y = V::select(x.lt(V::splat(0.0)), V::splat(f32::NAN), y);
    V::select(x.is_nan(), x, y)
}

/// Natural logarithm ln(x).
///
/// # Accuracy
/// ≤ 1 ULP for every f32 input, subnormal inputs included. Proved over all
/// 2³² inputs against `f64::ln` by `tests/elementwise_ulp.rs`. Fused
/// multiply-add where the target has FMA; both builds are proved.
///
/// # Special values
/// | x | ln(x) |
/// |---|---|
/// | NaN | NaN (same payload) |
/// | x < 0, −inf | NaN |
/// | ±0 | −inf |
/// | 1 | +0 |
/// | +inf | +inf |
///
/// # Examples
/// ```
/// assert_eq!(logitkit::ln(1.0), 0.0);
/// assert_eq!(logitkit::ln(0.0), f32::NEG_INFINITY);
/// assert!((logitkit::ln(f32::from_bits(1)) - (-103.27893)).abs() < 1e-4);
/// ```
#[inline]
pub fn ln(x: f32) -> f32 {
    ln_lane(x)
}

elementwise_slices!(ln_lane, "ln", ln_in_place, ln_into);
