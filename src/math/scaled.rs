//! Non-negative numbers as m·2ᵉ: m an f32 pair ([`Pair`]) in [1, 2) and e
//! an `i32`, the pair's ~48 bits over an exponent range that no product of
//! a few f32 factors leaves.
//!
//! The one-lane cross-entropy forms its target terms qᵢ·(m − zᵢ + ln S) in
//! it: qᵢ = wᵢ·(keep·vᵢ + spread) multiplies class weights (up to 2⁶⁰),
//! probabilities (down to 2⁻¹⁴⁹) and ε/C, whose partial products leave
//! f32's range where the term itself does not, and a row's loss may pass
//! f32::MAX where the mean brings it back. Each operation has the pair
//! operation's few u² of relative error (u = 2⁻²⁴) and no other: nothing
//! underflows or overflows until [`Scaled::to_pair`] rounds once.
//!
//! Special values: 0 (e = 0), and NaN and +inf held in m with e = 0. A
//! product with a zero factor is 0 even against +inf (0·inf = 0, as the
//! losses define it), but NaN against anything stays NaN.

use super::pair::Pair;
use core::ops::{AddAssign, MulAssign};

/// m·2ᵉ ≥ 0 with m = 0, m.hi in [1, 2), or m NaN or +inf (e = 0).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scaled {
    m: Pair,
    e: i32,
}

/// 2ᵏ for k in [−126, 127].
#[inline(always)]
fn power_of_two(k: i32) -> f32 {
    f32::from_bits(((k.clamp(-126, 127) + 127) as u32) << 23)
}

/// 2⁶⁴, which brings any positive subnormal f32 into the normal range.
const TWO_64: f32 = f32::from_bits((127 + 64) << 23);

impl Scaled {
    pub const ZERO: Scaled = Scaled {
        m: Pair::ZERO,
        e: 0,
    };

    pub const NAN: Scaled = Scaled {
        m: Pair {
            hi: f32::NAN,
            lo: 0.0,
        },
        e: 0,
    };

    pub const INFINITY: Scaled = Scaled {
        m: Pair {
            hi: f32::INFINITY,
            lo: 0.0,
        },
        e: 0,
    };

    /// An f32 ≥ 0 (or NaN, or +inf), exactly.
    #[inline(always)]
    pub fn new(x: f32) -> Scaled {
        Scaled::of(Pair::new(x))
    }

    /// A pair ≥ 0 (hi NaN or +inf: that special value), exactly: m's high
    /// part takes hi's significand bits under the exponent of 1, and the
    /// low part is scaled by the same power of two.
    #[inline(never)]
    pub fn of(p: Pair) -> Scaled {
        if p.hi == 0.0 || !p.hi.is_finite() {
            return Scaled { m: p, e: 0 };
        }
        // A subnormal hi: 2⁶⁴·p is normal and exact.
        let (p, offset) = if p.hi < f32::MIN_POSITIVE {
            (p.scale(TWO_64), -64)
        } else {
            (p, 0)
        };
        let bits = p.hi.to_bits();
        let e = ((bits >> 23) & 0xff) as i32 - 127;
        let hi = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        // 2^−e is a normal f32 but for e = 127.
        let lo = if e < 127 {
            p.lo * power_of_two(-e)
        } else {
            p.lo * 0.5 * power_of_two(-126)
        };
        Scaled {
            m: Pair { hi, lo },
            e: e + offset,
        }
    }

    /// x/c for an f32 x ≥ 0 and a count c ≥ 1 (ε/C).
    pub fn quotient(x: f32, c: usize) -> Scaled {
        let x = Scaled::new(x);
        if x.m.hi == 0.0 || !x.m.hi.is_finite() {
            return x;
        }
        let q = Scaled::of(x.m.div(Pair::new(c as f32)));
        if !q.m.hi.is_finite() {
            return q;
        }
        Scaled {
            m: q.m,
            e: q.e.saturating_add(x.e),
        }
    }

    pub fn is_zero(self) -> bool {
        self.m.hi == 0.0
    }

    pub fn is_nan(self) -> bool {
        self.m.hi.is_nan()
    }

    /// Neither NaN nor +inf (however large the exponent).
    pub fn is_finite(self) -> bool {
        self.m.hi.is_finite()
    }

    /// self·2ᵏ as a pair: exact where it is a normal f32, rounded where it
    /// is subnormal, +inf where it overflows.
    pub fn to_pair(self, k: i32) -> Pair {
        if self.m.hi == 0.0 || !self.m.hi.is_finite() {
            return self.m;
        }
        // Steps of one sign, each a normal power of two: an intermediate
        // leaves the normal range only where the result does.
        let mut e = self.e.saturating_add(k).clamp(-400, 400);
        let mut p = self.m;
        while !(-126..=127).contains(&e) {
            let step = e.clamp(-100, 100);
            p = p.scale(power_of_two(step));
            e -= step;
        }
        p.scale(power_of_two(e))
    }

    /// Whether self·2ᵏ is beyond f32::MAX (+inf included; NaN is not).
    pub fn overflows(self, k: i32) -> bool {
        self.to_pair(k).hi == f32::INFINITY
    }
}

/// self·other: 0 where a factor is 0 and neither is NaN. The operations
/// take and update numbers in memory, out of line: a caller then keeps no
/// floating-point value across the call, so it saves none of the
/// callee-saved registers d8–d15, 64 bytes of stack per frame on a
/// Cortex-M4F (`docs/firmware.md`, "Stack").
impl MulAssign<&Scaled> for Scaled {
    #[inline(never)]
    fn mul_assign(&mut self, other: &Scaled) {
        let (a, b) = (self.m.hi, other.m.hi);
        *self = if !(in_one_two(a) && in_one_two(b)) {
            special_product(a, b)
        } else {
            // m in [1, 4]: one halving at most brings it back to [1, 2].
            let m = self.m.mul_inlined(other.m);
            let e = self.e.saturating_add(other.e);
            if m.hi >= 2.0 {
                Scaled {
                    m: m.scale(0.5),
                    e: e.saturating_add(1),
                }
            } else {
                Scaled { m, e }
            }
        };
    }
}

/// Whether a normalized m.hi is in [1, 2), neither 0, NaN nor +inf: one
/// integer comparison in place of three floating-point ones.
#[inline(always)]
fn in_one_two(x: f32) -> bool {
    x.to_bits().wrapping_sub(1.0f32.to_bits()) < 1 << 23
}

/// The product of special values a and b (0, NaN or +inf among them).
fn special_product(a: f32, b: f32) -> Scaled {
    if a.is_nan() || b.is_nan() {
        Scaled::NAN
    } else if a == 0.0 || b == 0.0 {
        Scaled::ZERO
    } else {
        Scaled::INFINITY
    }
}

/// self + other. A term more than 2¹⁰⁰ times smaller than the other is
/// dropped: it lies far below the pair's 2⁻⁴⁸.
impl AddAssign<&Scaled> for Scaled {
    #[inline(never)]
    fn add_assign(&mut self, other: &Scaled) {
        let (a, b) = (*self, *other);
        *self = if in_one_two(a.m.hi) && in_one_two(b.m.hi) {
            let (large, small) = if a.e >= b.e { (a, b) } else { (b, a) };
            let shift = small.e.saturating_sub(large.e);
            if shift < -100 {
                large
            } else {
                // m in [1, 4): one halving at most brings it back to [1, 2].
                let m = large.m.add_inlined(small.m.scale(power_of_two(shift)));
                if m.hi >= 2.0 {
                    Scaled {
                        m: m.scale(0.5),
                        e: large.e.saturating_add(1),
                    }
                } else {
                    Scaled { m, e: large.e }
                }
            }
        } else if a.m.hi.is_nan() {
            a
        } else if b.m.hi.is_nan() {
            b
        } else if b.m.hi == 0.0 || a.m.hi == f32::INFINITY {
            a
        } else {
            b
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 value of a Scaled within f64's range.
    fn value(s: Scaled) -> f64 {
        (s.m.hi as f64 + s.m.lo as f64) * 2f64.powi(s.e)
    }

    #[test]
    fn products_and_sums_keep_the_exponent_apart() {
        let tiny = f32::from_bits(3); // 3·2⁻¹⁴⁹
        let big = f32::MAX;
        let mut p = Scaled::new(tiny);
        p *= &Scaled::new(big);
        p *= &Scaled::new(big);
        let want = 3.0 * 2f64.powi(-149) * (big as f64) * (big as f64);
        assert!((value(p) / want - 1.0).abs() < 1e-14, "{p:?}");
        let mut s = p;
        s += &Scaled::new(1.0);
        assert!((value(s) / (want + 1.0) - 1.0).abs() < 1e-14);
        let third = Scaled::quotient(1.0, 3);
        assert!((value(third) * 3.0 - 1.0).abs() < 1e-14);
        assert_eq!(Scaled::new(0.75).to_pair(2).value(), 3.0);
        assert_eq!(Scaled::new(tiny).to_pair(0).value(), tiny);
        assert!(Scaled::new(big).overflows(1));
        assert!(!Scaled::new(big).overflows(0));
        assert_eq!(Scaled::new(big).to_pair(-64).value(), big * 2f32.powi(-64));
    }

    #[test]
    fn special_values() {
        let inf = Scaled::new(f32::INFINITY);
        let product = |mut a: Scaled, b: Scaled| {
            a *= &b;
            a
        };
        let sum = |mut a: Scaled, b: Scaled| {
            a += &b;
            a
        };
        assert!(product(inf, Scaled::ZERO).is_zero());
        assert!(product(Scaled::NAN, Scaled::ZERO).is_nan());
        assert!(product(Scaled::ZERO, Scaled::NAN).is_nan());
        assert!(sum(inf, Scaled::NAN).is_nan());
        assert!(sum(Scaled::NAN, inf).is_nan());
        assert_eq!(sum(inf, Scaled::new(1.0)).to_pair(0).hi, f32::INFINITY);
        assert_eq!(sum(Scaled::new(1.0), Scaled::ZERO).to_pair(0).value(), 1.0);
        assert_eq!(sum(Scaled::ZERO, Scaled::new(1.0)).to_pair(0).value(), 1.0);
    }
}
