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
    let hi = s + e;
    Pair {
        hi,
        lo: e - (hi - s),
    }
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
        let r = self.sub(other.mul_f32(q));
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
        let mut state = 0x2545_f491u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            f32::from_bits((state >> 9) | 0x3f80_0000) - 1.5 // [-0.5, 0.5)
        };
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
    }
}
