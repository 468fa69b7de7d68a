//! Elementwise lane math: `exp`, `ln`, `ln_1p`, one algorithm each, generic
//! over [`Lane`](crate::lane::Lane). Coefficients come from
//! `tools/fit_coefficients.py`; the error bounds in the doc comments are the
//! maxima measured over all 2³² inputs by `tests/elementwise_ulp.rs`.

pub(crate) mod exp;
pub(crate) mod ln;
pub(crate) mod ln_1p;

use crate::lane::{Lane, LaneBits, horner};

/// ln 2 split for Cody–Waite reduction: `LN2_HI` keeps 16 significant bits so
/// `k * LN2_HI` is exact for every |k| < 2⁸ the reductions produce.
pub(crate) const LN2_HI: f32 = f32::from_bits(0x3f317200); // 0.693_145_751_953_125
/// ln 2 − `LN2_HI`, rounded to f32.
pub(crate) const LN2_LO: f32 = f32::from_bits(0x35bfbe8e); // 1.428_606_765_330_187e-6

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
    let lo = (f * f).mul_add(horner(f, LN_TAIL), k.mul_add(V::splat(LN2_LO), tail));
    (hi, lo + hi_err)
}

/// Generates the slice forms of an elementwise kernel from its lane form.
macro_rules! elementwise_slices {
    ($lane:path, $scalar:literal, $in_place:ident, $into:ident) => {
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
            crate::lane::map_in_place::<crate::lane::Simd>(xs, $lane);
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
            crate::error::check_len("out", xs.len(), out.len())?;
            crate::lane::map_into::<crate::lane::Simd>(xs, out, $lane);
            Ok(())
        }
    };
}
pub(crate) use elementwise_slices;

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
