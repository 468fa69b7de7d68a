//! Double-f32 arithmetic: a value as an unevaluated sum hi + lo of two f32
//! (Dekker 1971), about 48 significant bits from f32 operations alone. The
//! one-lane kernels (Cortex-M, RISC-V, wasm without simd128) keep their
//! per-row and per-batch quantities in it, where vector builds use f64: on
//! a single-precision FPU every f64 operation is a soft-float call, and
//! those routines alone take kilobytes of flash (`docs/firmware.md`).
//!
//! Each operation below has a relative error of a few u² (u = 2⁻²⁴) while
//! its operands and result stay within f32's normal range (Joldes, Muller
//! & Popescu 2017 give the bounds: ≤ 3u² for a sum of like-signed pairs,
//! ≤ 6u² for a product, ≤ 10u² for a quotient). Beyond that range the
//! results stay NaN-free: a product's error term is dropped (set to 0)
//! where Dekker's split overflows, so a pair loses its low part instead of
//! turning NaN.

use super::two_sum;

/// hi + lo with |lo| ≤ ½ ulp(hi) after every operation (normalized).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pair {
    pub hi: f32,
    pub lo: f32,
}

/// Veltkamp's splitting constant for a 24-bit significand: 2¹² + 1.
const SPLITTER: f32 = 4097.0;

/// a = hi + lo with hi holding the top 12 significant bits (exact while
/// 4097·a does not overflow).
#[inline(always)]
fn split(a: f32) -> (f32, f32) {
    let c = SPLITTER * a;
    let hi = c - (c - a);
    (hi, a - hi)
}

/// |s| ≥ |e| or s = 0: s + e exactly as a normalized pair (Fast2Sum).
#[inline(always)]
fn fast_two_sum(s: f32, e: f32) -> Pair {
    let (hi, lo) = super::fast_two_sum(s, e);
    Pair { hi, lo }
}

/// The low part of a renormalization that overflowed (hi = ±inf) is NaN:
/// drop it, so overflow gives ±inf rather than NaN.
#[inline(always)]
fn finite_lo(p: Pair) -> Pair {
    if p.lo.is_finite() {
        p
    } else {
        Pair { hi: p.hi, lo: 0.0 }
    }
}

impl Pair {
    pub const ZERO: Pair = Pair { hi: 0.0, lo: 0.0 };

    /// An f32, exactly.
    #[inline(always)]
    pub fn new(x: f32) -> Pair {
        Pair { hi: x, lo: 0.0 }
    }

    /// a + b exactly (TwoSum).
    #[inline(always)]
    pub fn sum(a: f32, b: f32) -> Pair {
        let (hi, lo) = two_sum(a, b);
        finite_lo(Pair { hi, lo })
    }

    /// a·b exactly (Dekker's product, no fused multiply-add needed), unless
    /// the split overflows (|a| or |b| above about 2¹¹⁵) or the error term
    /// underflows: then the rounded product with a dropped or partial
    /// low part.
    #[inline(always)]
    pub fn product(a: f32, b: f32) -> Pair {
        let p = a * b;
        let (a_hi, a_lo) = split(a);
        let (b_hi, b_lo) = split(b);
        let err = (((a_hi * b_hi - p) + a_hi * b_lo) + a_lo * b_hi) + a_lo * b_lo;
        finite_lo(Pair { hi: p, lo: err })
    }

    /// The f32 nearest hi + lo.
    #[inline(always)]
    pub fn value(self) -> f32 {
        self.hi + self.lo
    }

    #[inline(never)]
    pub fn add(self, other: Pair) -> Pair {
        self.add_inlined(other)
    }

    /// [`Pair::add`] in the caller's body: for leaf functions on
    /// one-lane builds, where a call makes the caller save its
    /// callee-saved floating-point registers (`docs/firmware.md`, "Stack").
    #[inline(always)]
    pub fn add_inlined(self, other: Pair) -> Pair {
        let (s, e) = two_sum(self.hi, other.hi);
        if !s.is_finite() {
            return Pair::new(s);
        }
        finite_lo(fast_two_sum(s, e + (self.lo + other.lo)))
    }

    #[inline(never)]
    pub fn sub(self, other: Pair) -> Pair {
        self.add(Pair {
            hi: -other.hi,
            lo: -other.lo,
        })
    }

    #[inline(never)]
    pub fn mul(self, other: Pair) -> Pair {
        self.mul_inlined(other)
    }

    /// [`Pair::mul`] in the caller's body (see [`Pair::add_inlined`]).
    #[inline(always)]
    pub fn mul_inlined(self, other: Pair) -> Pair {
        let p = Pair::product(self.hi, other.hi);
        if !p.hi.is_finite() {
            return Pair::new(p.hi);
        }
        let cross = self.hi * other.lo + self.lo * other.hi;
        finite_lo(fast_two_sum(p.hi, p.lo + cross))
    }

    #[inline(always)]
    pub fn mul_f32(self, b: f32) -> Pair {
        self.mul(Pair::new(b))
    }

    /// self / other: the f32 quotient, corrected by the remainder's
    /// quotient (plain f32 division where either is not finite).
    #[inline(never)]
    pub fn div(self, other: Pair) -> Pair {
        let q = self.hi / other.hi;
        if !(q.is_finite() && other.hi.is_finite()) {
            return Pair::new(q);
        }
        // q·other can round past f32::MAX where q itself is finite (a
        // quotient near f32::MAX): then the remainder would be −inf, so q
        // goes uncorrected.
        let back = other.mul_f32(q);
        if !back.hi.is_finite() {
            return Pair::new(q);
        }
        let r = self.sub(back);
        finite_lo(fast_two_sum(q, r.hi / other.hi))
    }

    /// self·2ᵏ for a power of two `power_of_two` (exact unless it leaves
    /// the normal range; ±inf, not NaN, where it overflows).
    #[inline(always)]
    pub fn scale(self, power_of_two: f32) -> Pair {
        let hi = self.hi * power_of_two;
        let lo = if hi.is_finite() {
            self.lo * power_of_two
        } else {
            0.0
        };
        Pair { hi, lo }
    }
}

/// ln 2 in three parts for the pair exponential's reduction: `LN2_C1`
/// keeps 12 significant bits, so k·`LN2_C1` is exact for every |k| < 2¹²;
/// `LN2_C2` is the next 24 bits, `LN2_C3` the rest, rounded (the three
/// sum to ln 2 within 2⁻⁶⁴). Evaluated at compile time from f64's ln 2
/// and its own rounding error, ln 2 − `LN_2` (Python's `Decimal(2).ln()`
/// at 60 digits), which at |k| = 433 would otherwise cost 2⁻⁴⁶.
const LN2_C1: f32 = 2839.0 / 4096.0;
const LN_2_TAIL: f64 = 2.319_046_813_846_299_6e-17;
const LN2_C2: f32 = (core::f64::consts::LN_2 - LN2_C1 as f64) as f32;
const LN2_C3: f32 = ((core::f64::consts::LN_2 - LN2_C1 as f64 - LN2_C2 as f64) + LN_2_TAIL) as f32;

/// 1/j! as pairs, j = 0..=12 (the Taylor coefficients of eʳ), computed at
/// compile time in f64 (within 2⁻⁵² relative) and split.
const INVERSE_FACTORIALS: [Pair; 13] = {
    let mut table = [Pair::ZERO; 13];
    let (mut j, mut factorial) = (0, 1.0f64);
    while j < 13 {
        if j > 1 {
            factorial *= j as f64;
        }
        let x = 1.0 / factorial;
        let hi = x as f32;
        table[j] = Pair {
            hi,
            lo: (x - hi as f64) as f32,
        };
        j += 1;
    }
    table
};

/// The largest |d.hi| [`Pair::exp_scaled`] takes.
pub(crate) const EXP_SCALED_LIMIT: f32 = 300.0;

impl Pair {
    /// e^{hi + lo} as E·2ᵏ, E a pair in [e^{−0.35}, e^{0.35}], for
    /// |hi| ≤ [`EXP_SCALED_LIMIT`]: relative error ≤ 2⁻⁴⁶ (1.24·2⁻⁴⁸ the
    /// largest the test below finds against f64 over 400 000 arguments; it
    /// is the pair operations' few u², u = 2⁻²⁴).
    /// The scale is left to the caller ([`Pair::scale_exp2`]) so that a
    /// product E·x keeps its precision before it underflows.
    ///
    /// Cody–Waite reduction d = k·ln 2 + r with ln 2 in three parts
    /// (d − k·`LN2_C1` exact by Sterbenz, k·`LN2_C2` exact as a product
    /// pair), then the Taylor series of eʳ to r¹², |r| ≤ 0.35: the terms
    /// from r⁸ on are below 2⁻²⁷ and are summed in f32, the rest by Horner's
    /// rule on pairs. Used by the streaming log-sum-exp, whose merges need
    /// e^{a−b} far more precisely than one f32 rounding (they may repeat).
    #[inline(never)]
    pub fn exp_scaled(self) -> (Pair, i32) {
        let k = libm::roundf(self.hi * core::f32::consts::LOG2_E);
        let k_ln2_mid = Pair::product(k, LN2_C2);
        let r = Pair::sum(self.hi - k * LN2_C1, -k_ln2_mid.hi)
            .add(Pair::new(self.lo))
            .add(Pair::new(-k_ln2_mid.lo - k * LN2_C3));
        let (x, c) = (r.hi, &INVERSE_FACTORIALS);
        let tail = c[8].hi + x * (c[9].hi + x * (c[10].hi + x * (c[11].hi + x * c[12].hi)));
        let mut p = c[7].add(r.mul_f32(tail));
        for coefficient in c[2..7].iter().rev() {
            p = coefficient.add(r.mul(p));
        }
        let e = Pair::new(1.0).add(r.add(r.mul(r).mul(p)));
        (e, k as i32)
    }

    /// self·2ᵏ for any k, by steps within the normal range: exact while the
    /// result is normal; below, each part rounds to the subnormal grid
    /// (an absolute error of at most 2⁻¹⁴⁹ in all).
    #[inline(never)]
    pub fn scale_exp2(self, mut k: i32) -> Pair {
        let mut p = self;
        while k < -126 {
            p = p.scale(f32::from_bits(1 << 23));
            k += 126;
        }
        while k > 127 {
            p = p.scale(f32::from_bits(254 << 23));
            k -= 127;
        }
        p.scale(f32::from_bits(((127 + k) as u32) << 23))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(p: Pair) -> f64 {
        p.hi as f64 + p.lo as f64
    }

    /// Relative error of each operation against f64, on values whose exact
    /// results f64 holds to 2⁻⁵³ (far below the pairs' few u²).
    #[test]
    fn operations_within_a_few_u_squared() {
        let u2 = 2f64.powi(-48);
        let mut bits = crate::xorshift32(0x2545_f491);
        let mut next = || f32::from_bits((bits() >> 9) | 0x3f80_0000) - 1.5; // [-0.5, 0.5)
        for _ in 0..20_000 {
            let (a, b, c, d) = (next() * 1e3, next(), next() * 1e-3, next() + 2.0);
            assert_eq!(exact(Pair::product(a, b)), a as f64 * b as f64);
            assert_eq!(exact(Pair::sum(a, c)), a as f64 + c as f64);
            let x = Pair::sum(a, c);
            let y = Pair::product(b, d);
            let rel = |got: Pair, want: f64| ((exact(got) - want) / want).abs();
            assert!(rel(x.add(y), exact(x) + exact(y)) <= 3.0 * u2 || exact(x) * exact(y) < 0.0);
            assert!(rel(x.mul(y), exact(x) * exact(y)) <= 6.0 * u2);
            assert!(rel(x.div(y), exact(x) / exact(y)) <= 10.0 * u2);
            assert!(rel(y.div(x), exact(y) / exact(x)) <= 10.0 * u2);
        }
    }

    #[test]
    fn overflow_gives_infinity_not_nan() {
        let big = Pair::product(f32::MAX, 4.0);
        assert_eq!(big.hi, f32::INFINITY);
        assert_eq!(big.lo, 0.0);
        let p = Pair::product(3e38, 1e-30);
        assert!(p.hi.is_finite() && !p.lo.is_nan());
        assert_eq!(
            Pair::new(f32::MAX).add(Pair::new(f32::MAX)).hi,
            f32::INFINITY
        );
        assert!(!Pair::new(1.0).div(Pair::new(0.0)).lo.is_nan());
        // A quotient near f32::MAX whose product with the divisor rounds
        // past it: the uncorrected quotient, not −inf.
        let (x, d) = (Pair::sum(f32::MAX, 5.0e24), Pair::sum(3.0, 1e-7));
        let q = x.div(d);
        let want = (f32::MAX as f64 + 5.0e24) / (3.0 + 1e-7f32 as f64);
        assert!(
            ((q.hi as f64 + q.lo as f64) / want - 1.0).abs() < 1e-7,
            "{q:?}"
        );
    }

    /// The pair exponential against f64's (within 2⁻⁵² here) over its whole
    /// domain, with low parts of every size.
    #[test]
    fn exp_scaled_within_two_to_minus_46() {
        let mut next = crate::xorshift32(0x9e37_79b9);
        let mut worst = 0.0f64;
        for i in 0..400_000 {
            let hi = if i % 4 == 0 {
                // Near the reduction's boundaries, k·ln 2 ± ln 2 / 2.
                let k = (next() % 800) as f32 - 400.0;
                k * core::f32::consts::LN_2 * 0.5 + ((next() % 64) as f32 - 32.0) * 1e-6
            } else {
                (next() as f32 / u32::MAX as f32 - 0.5) * 2.0 * EXP_SCALED_LIMIT
            };
            let hi = hi.clamp(-EXP_SCALED_LIMIT, EXP_SCALED_LIMIT);
            let lo = hi * f32::EPSILON * ((next() % 1024) as f32 / 2048.0 - 0.25);
            let p = Pair::sum(hi, lo);
            let (e, k) = p.exp_scaled();
            // d − k·ln 2 in f64 without its roundings at |d| ≈ 300 (hi + lo
            // can span 54 bits): hi − k·C1 is exact, the rest below 0.1.
            let c1 = LN2_C1 as f64;
            let rest = (core::f64::consts::LN_2 - c1) + LN_2_TAIL;
            let r = ((p.hi as f64 - k as f64 * c1) + p.lo as f64) - k as f64 * rest;
            let want = r.exp();
            worst = worst.max(((exact(e) - want) / want).abs());
        }
        assert!(worst <= 2f64.powi(-46), "worst relative error {worst:e}");
        assert_eq!(Pair::new(0.0).exp_scaled(), (Pair::new(1.0), 0));
    }

    #[test]
    fn scale_exp2_steps_through_the_range() {
        let p = Pair::sum(1.5, 2f32.powi(-30));
        assert_eq!(p.scale_exp2(-100).scale_exp2(100), p);
        // From f64: `2f32.powi(-140)` is 0 in debug builds (2¹⁴⁰ overflows
        // before the reciprocal); 1.5·2⁻¹⁴⁰ itself is an f32 subnormal.
        assert_eq!(p.scale_exp2(-140).hi, (1.5 * 2f64.powi(-140)) as f32);
        assert_eq!(p.scale_exp2(-160), Pair::ZERO);
        assert_eq!(p.scale_exp2(200).hi, f32::INFINITY);
        assert_eq!(p.scale_exp2(100).scale_exp2(-100), p);
    }
}
