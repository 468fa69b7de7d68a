//! Elementwise lane math: `exp`, `ln`, `ln_1p`, one algorithm each, generic
//! over [`Lane`](crate::lane::Lane). Coefficients come from
//! `tools/fit_coefficients.py`; the error bounds in the doc comments are the
//! maxima measured over all 2³² inputs by `tests/elementwise_ulp.rs`.

pub(crate) mod exp;
mod exp_table;
pub(crate) mod ln;
pub(crate) mod ln_1p;
pub(crate) mod pair;
pub(crate) mod scaled;

use crate::lane::{AVOID_SUBNORMAL_PRODUCTS, FUSED_MUL_ADD, Lane, LaneBits, estrin_7, horner};

/// ln 2 split for Cody–Waite reduction: `LN2_HI` keeps 16 significant bits so
/// `k * LN2_HI` is exact for every |k| < 2⁸ the reductions produce.
pub(crate) const LN2_HI: f32 = f32::from_bits(0x3f317200); // 0.693_145_751_953_125
/// ln 2 − `LN2_HI`, rounded to f32.
pub(crate) const LN2_LO: f32 = f32::from_bits(0x35bfbe8e); // 1.428_606_765_330_187e-6

/// 2⁻⁶³: below it t² < 2⁻¹²⁶ is subnormal, and the sigmoid family leaves
/// such squares out of its sums (they lie below 2⁻⁶³·t, far under half an
/// ULP of the terms they would join). A subnormal product costs an x86
/// core a microcode assist per vector: σ over logits in [−60, 60] took
/// 2.4× its time over [−20, 20] on the default build (`docs/performance.md`).
pub(crate) const SQUARE_UNDERFLOW: f32 = f32::from_bits(0x2000_0000); // 5.421_011e-20

/// `x`, or 0 in the lanes where t < [`SQUARE_UNDERFLOW`]: for a factor of
/// a product that would be of the order of t² there.
#[inline(always)]
pub(crate) fn zero_where_square_underflows<V: Lane>(t: V, x: V) -> V {
    V::select(t.lt(V::splat(SQUARE_UNDERFLOW)), V::splat(0.0), x)
}

/// Bits of √½ rounded to f32, the lower end of the reduced mantissa range.
const SQRT_HALF_BITS: u32 = 0x3f35_04f3;

/// `(ln(1 + f) − f) / f²` on `f ∈ [√½ − 1, √2 − 1]`, degree 9,
/// max abs error 6.2e-9 (tools/fit_coefficients.py).
const LN_TAIL: [f32; 10] = [
    f32::from_bits(0xbf000000), // -0.5
    f32::from_bits(0x3eaaaaa7), // 0.333_333_224_058_151
    f32::from_bits(0xbe800004), // -0.250_000_119_209_29
    f32::from_bits(0x3e4cd098), // 0.200_014_472_007_751
    f32::from_bits(0xbe2aacf3), // -0.166_675_373_911_857
    f32::from_bits(0x3e11bd2b), // 0.142_323_181_033_134
    f32::from_bits(0xbdfe60d7), // -0.124_208_144_843_578
    f32::from_bits(0x3df1e99d), // 0.118_121_363_222_599
    f32::from_bits(0xbdecb179), // -0.115_572_877_228_26
    f32::from_bits(0x3d8aa12e), // 0.067_690_238_356_590
];

/// `(ln(1 + f) − f) / f²` on `f ∈ [−¼, ½]`, degree 7: the f32
/// coefficients that minimise the relative error of f + f²·P(f) against
/// ln(1 + f), 2.8e-8 (Sollya's `fpminimax`, tools/relative_fits.sollya). The
/// range of [`ln_1p_unit`], whose reduction needs no exponent extraction.
/// Its callers' bounds are 2 ULP (softplus) and more, so this tail is
/// two degrees below [`LN_TAIL`]'s, which serves 1-ULP `ln`.
const LN_UNIT_TAIL: [f32; 8] = [
    f32::from_bits(0xbf00000a), // -0.500_000_596_046_447_8
    f32::from_bits(0x3eaaaaf3), // 0.333_335_489_034_652_7
    f32::from_bits(0xbe7feef1), // -0.249_934_926_629_066_47
    f32::from_bits(0x3e4c90ca), // 0.199_771_076_440_811_16
    f32::from_bits(0xbe2c4237), // -0.168_221_339_583_396_9
    f32::from_bits(0x3e196d21), // 0.149_830_356_240_272_52
    f32::from_bits(0xbdf72f82), // -0.120_696_082_711_219_79
    f32::from_bits(0x3d5ddf4e), // 0.054_168_038_070_201_87
];

/// ln(1 + t) + `tail` for t ∈ [0, 1] and a small `tail` (the sigmoid
/// family's t = e^{−|x|}). 1 + t = 2^k·(1 + f) with f exact and no
/// exponent extraction: f = t (k = 0) below ½, f = (t − 1)/2 (k = 1, t − 1
/// exact by Sterbenz, the halving exact) from ½ on, so f ∈ [−¼, ½) and
/// the rounding of 1 + t never enters. Then as [`ln_1p_reduced`]: k·ln 2 + f
/// by Fast2Sum (|ln 2| > ¼ ≥ |f| where k = 1; exact where k = 0), the
/// polynomial (Estrin's scheme, [`estrin_7`]) and the small terms in the
/// low part, one final rounding. On vector builds f² is taken as 0 where
/// t < 2⁻⁶³ ([`SQUARE_UNDERFLOW`]): there f²/2 < 2⁻⁶⁴·f, which the final
/// rounding of f + lo does not see.
/// NaN in, NaN out; t must not exceed 1 (f would leave the fitted range).
#[inline(always)]
pub(crate) fn ln_1p_unit<V: Lane>(t: V, tail: V) -> V {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let low = t.lt(V::splat(0.5));
    let f = V::select(low, t, (t - one) * V::splat(0.5));
    let a = V::select(low, zero, V::splat(LN2_HI));
    let a_lo = V::select(low, zero, V::splat(LN2_LO));
    let hi = a + f;
    let hi_err = (a - hi) + f;
    let f_squared = if AVOID_SUBNORMAL_PRODUCTS {
        zero_where_square_underflows(t, f)
    } else {
        f
    };
    let f2 = f_squared * f_squared;
    let lo = f2.mul_add(estrin_7(f, f2, LN_UNIT_TAIL), a_lo + tail);
    hi + (lo + hi_err)
}

/// s + err = a + b exactly, lane by lane, whatever the magnitudes
/// (Knuth's TwoSum: six additions, no comparison). err is the rounding
/// error of s; it is NaN where s overflows.
#[inline(always)]
pub(crate) fn two_sum<V: Lane>(a: V, b: V) -> (V, V) {
    let s = a + b;
    let a_part = s - b;
    let b_part = s - a_part;
    (s, (a - a_part) + (b - b_part))
}

/// s + err = big + small exactly, lane by lane, where big's exponent is at
/// least small's in every lane, as when |big| ≥ |small| (Dekker's
/// Fast2Sum: three additions instead of [`two_sum`]'s six). The same s
/// and err as [`two_sum`] there, since both are exact and s is the
/// rounded sum.
#[inline(always)]
pub(crate) fn fast_two_sum<V: Lane>(big: V, small: V) -> (V, V) {
    let s = big + small;
    (s, small - (s - big))
}

/// Splits a positive normal `u` into `u = 2^k · (1 + f)` with
/// `1 + f ∈ [√½, √2)`, returning `(k, f)` as floats (`f` exact).
///
/// Integer-only: offsetting the bits by `SQRT_HALF_BITS` puts the exponent of
/// the √½-centred mantissa in the top bits, and the `+128` bias keeps every
/// intermediate non-negative so logical shifts suffice.
#[inline(always)]
pub(crate) fn split_sqrt2<V: Lane>(u: V) -> (V, V) {
    let biased = u.to_bits() + V::Bits::splat((128 << 23) - SQRT_HALF_BITS);
    // (k + 128) as the low mantissa bits of 2²³, then subtract 2²³ + 128.
    let k = V::from_bits((biased >> 23) + V::Bits::splat(0x4b00_0000)) - V::splat(8_388_736.0);
    let m = V::from_bits((biased & V::Bits::splat(0x007f_ffff)) + V::Bits::splat(SQRT_HALF_BITS));
    (k, m - V::splat(1.0))
}

/// `k·ln 2 + ln(1 + f) + tail` for `f ∈ [√½ − 1, √2 − 1]` and a small `tail`.
///
/// `ln(1 + f) = f + f²·P(f)`. The big terms `k·LN2_HI + f` are summed with
/// Fast2Sum (|k·LN2_HI| ≥ 0.69 > |f| unless k = 0) so their rounding error
/// is carried into the low part instead of being lost; the result then has
/// one final rounding plus the error of the small low part (≤ ¼ of it).
#[inline(always)]
pub(crate) fn ln_1p_reduced<V: Lane>(k: V, f: V, tail: V) -> V {
    let (hi, lo) = ln_1p_reduced_pair(k, f, tail);
    hi + lo
}

/// [`ln_1p_reduced`] before its final rounding, as hi + lo: for callers that
/// add it to something else (the row statistics' ln S), where that rounding
/// would cost up to ½ ULP of a large logarithm.
#[inline(always)]
pub(crate) fn ln_1p_reduced_pair<V: Lane>(k: V, f: V, tail: V) -> (V, V) {
    let a = k * V::splat(LN2_HI);
    let hi = a + f;
    let hi_err = (a - hi) + f;
    let f2 = f * f;
    let lo = f2.mul_add(ln_tail(f, f2), k.mul_add(V::splat(LN2_LO), tail));
    (hi, lo + hi_err)
}

/// [`LN_TAIL`] at f (`f2` = f²). Where multiply-adds fuse, Horner's rule.
/// Elsewhere (the default x86-64 build, wasm, firmware) each of Horner's
/// nine steps is a multiply and a dependent add, and the chain bounds a
/// logarithm's latency: a single short row's ln S waits on it, and `ln_into`
/// did not overlap its vectors. There the two leading terms keep Horner's
/// rule (they set the rounding: full Estrin measured 1.014 ULP for `ln`) and
/// the degree-7 rest takes Estrin's scheme, five steps deep instead of nine
/// for one more multiply (`docs/performance.md`, "Latency of the
/// polynomials").
#[inline(always)]
fn ln_tail<V: Lane>(f: V, f2: V) -> V {
    if FUSED_MUL_ADD {
        return horner(f, LN_TAIL);
    }
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9] = LN_TAIL;
    let c = V::splat;
    let f4 = f2 * f2;
    let low = c(c5).mul_add(f, c(c4)).mul_add(f2, c(c3).mul_add(f, c(c2)));
    let high = c(c9).mul_add(f, c(c8)).mul_add(f2, c(c7).mul_add(f, c(c6)));
    let rest = high.mul_add(f4, low);
    rest.mul_add(f, c(c1)).mul_add(f, c(c0))
}

/// Generates the slice forms of an elementwise kernel from its lane form
/// `$lane` and its fast path `$fast`, which holds where every lane of a
/// vector is in range: |x| < 87 for a kernel built on the exponential
/// (`exp`, or the split exponential's users), no special value to patch
/// for the logarithms. On vector builds the slice loop runs `$fast` (the
/// kernel without the patches: no lane there needs one) and leaves the
/// general path's call out of the loop ([`crate::lane::map_into_two_paths`]);
/// the same bits as `$lane`. One-lane builds run `$lane` alone. The loops
/// run in vectors of `$simd`: `lane::Simd`, or `lane::SigmoidSimd` for the
/// sigmoid family. The range tests are `$block_fast` and `$fast_lanes`, by
/// default the exponential's (`exp::exp_block_in_fast_range`,
/// `exp::exp_fast_lanes`).
macro_rules! elementwise_slices_two_paths {
    ($lane:path, $fast:path, $scalar:literal, $in_place:ident, $into:ident, $simd:ty) => {
        crate::math::elementwise_slices_two_paths!(
            $lane,
            $fast,
            $scalar,
            $in_place,
            $into,
            $simd,
            crate::math::exp::exp_block_in_fast_range,
            crate::math::exp::exp_fast_lanes
        );
    };
    (
        $lane:path,
        $fast:path,
        $scalar:literal,
        $in_place:ident,
        $into:ident,
        $simd:ty,
        $block_fast:path,
        $fast_lanes:path
    ) => {
        #[doc = concat!("[`", $scalar, "`](crate::", $scalar, ") of every element, in place.")]
        ///
        /// Same accuracy and special values as the scalar function; every
        /// element gets the same bits it would get alone (the tail runs the
        /// vector kernel padded).
        ///
        /// # Cost
        /// One read and one write pass.
        #[inline]
        pub fn $in_place(xs: &mut [f32]) {
            use crate::lane::Lane;
            if <$simd as Lane>::WIDTH == 1 {
                crate::lane::map_in_place::<$simd>(xs, $lane);
            } else {
                crate::lane::map_in_place_two_paths::<$simd>(
                    xs,
                    $block_fast,
                    $fast_lanes,
                    $fast,
                    $lane,
                );
            }
        }

        #[doc = concat!("[`", $scalar, "`](crate::", $scalar, ") of every element of `xs`, written into `out`.")]
        ///
        /// # Errors
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if
        /// `out.len() != xs.len()`; `out` is then untouched.
        ///
        /// # Cost
        /// One read pass over `xs`, one write pass over `out`.
        #[inline]
        pub fn $into(xs: &[f32], out: &mut [f32]) -> Result<(), crate::Error> {
            use crate::lane::Lane;
            crate::error::check_len("out", xs.len(), out.len())?;
            if <$simd as Lane>::WIDTH == 1 {
                crate::lane::map_into::<$simd>(xs, out, $lane);
            } else {
                crate::lane::map_into_two_paths::<$simd>(
                    xs,
                    out,
                    $block_fast,
                    $fast_lanes,
                    $fast,
                    $lane,
                );
            }
            Ok(())
        }
    };
}
pub(crate) use elementwise_slices_two_paths;

#[cfg(test)]
mod tests {
    use super::two_sum;
    use crate::lane::{Lane, Simd};

    #[test]
    fn two_sum_is_exact_on_both_lane_types() {
        for (a, b) in [
            (1.0f32, 1e-10f32),
            (1e-10, 1.0),
            (3.0e38, -1.0),
            (0.1, 0.2),
            (-7.5, 1e-30),
            (-88.72, 103.97),
        ] {
            let (s, err) = two_sum::<f32>(a, b);
            assert_eq!(s as f64 + err as f64, a as f64 + b as f64, "{a} + {b}");
            let (vs, verr) = two_sum(<Simd as Lane>::splat(a), <Simd as Lane>::splat(b));
            assert_eq!((vs.first(), verr.first()), (s, err), "{a} + {b}");
        }
    }
}
