//! `ln`: x = 2^k·(1 + f) with 1 + f ∈ [√½, √2), then k·ln2 + ln(1 + f).

use super::{elementwise_slices_two_paths, ln_1p_reduced, split_sqrt2};
use crate::lane::{BLOCK, Lane, block_all};

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

/// The lanes where [`ln_lane`] needs none of its patches: positive, normal
/// and finite (NaN fails both tests).
#[inline(always)]
fn ln_fast_lanes<V: Lane>(x: V) -> V::Mask {
    x.gt(V::splat(LARGEST_SUBNORMAL)) & x.lt(V::splat(f32::INFINITY))
}

/// Whether every lane of a block takes [`ln_fast`].
#[inline(always)]
fn ln_block_in_fast_range<V: Lane>(block: &[V; BLOCK]) -> bool {
    block_all(block, ln_fast_lanes)
}

/// [`ln_lane`] where every lane is in [`ln_fast_lanes`]: without the
/// subnormal scaling and the special values' selects, which leave such
/// lanes as they are, so the same bits. The slice forms run it on blocks
/// whose every lane allows it (`docs/performance.md`, "A fast path for
/// the logarithms").
#[inline(always)]
fn ln_fast<V: Lane>(x: V) -> V {
    let (k, f) = split_sqrt2(x);
    ln_1p_reduced(k, f, V::splat(0.0))
}

/// The largest subnormal f32, just below `f32::MIN_POSITIVE`.
const LARGEST_SUBNORMAL: f32 = f32::from_bits(0x007f_ffff);

elementwise_slices_two_paths!(
    ln_lane,
    ln_fast,
    "ln",
    ln_in_place,
    ln_into,
    crate::lane::LaneMathSimd,
    ln_block_in_fast_range,
    ln_fast_lanes
);
