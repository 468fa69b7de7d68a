//! log-sum-exp over a slice, and a mergeable streaming state.

use super::short_rows::{self, ShortStats, is_medium, is_short};
use super::{Row, SeparateIo, analyze_row, exp_shifted};
use crate::lane::{Lane, Simd};
use crate::math::pair::{EXP_SCALED_LIMIT, Pair};
use crate::reduce::row_max;

/// ln Σᵢ e^{xᵢ}, without overflow for any finite input.
///
/// Computed as m + ln_1p(s′) with m = max xᵢ and s′ = Σ_{xᵢ<m} e^{xᵢ−m} +
/// (ties − 1) (Blanchard, Higham & Higham 2021), the exponentials by the
/// crate's [`exp`](crate::exp) with the rounding of xᵢ − m corrected, and
/// summed by [blocked summation](crate#summation). Rows of up to 4096
/// elements on vector builds, and every row on one-lane builds, keep the
/// sum as an f32 pair and take ln S unrounded from `ln`'s core
/// (`docs/accuracy.md`, "Short rows"); longer rows on vector builds gather
/// their sums in f64 and take the last steps in f64.
///
/// # Accuracy
/// |error| ≤ ½ ulp(lse) + 2⁻²¹·s′/(1+s′) (absolute): ½ ulp from the final
/// rounding, and a relative error ≤ 2⁻²¹ in the sum Σ e^{xᵢ−m} (≤ 1 ULP per
/// exponential plus ≤ 3·2⁻²⁴ of summation, for any n ≤ 2²⁴), which moves
/// the logarithm by at most that much in absolute terms. It does not grow
/// with n. Exponentials below 2⁻¹²⁶ (xᵢ < m − 87.3) are subnormal and carry
/// an absolute error instead, adding at most n·2⁻¹⁴⁹ (it matters only when
/// lse itself is that small). Checked against an f64 reference on adversarial vectors in
/// `tests/softmax_family.rs`.
///
/// # Special values
/// | input | result |
/// |---|---|
/// | empty | −inf |
/// | every element −inf | −inf |
/// | any NaN | NaN |
/// | else any +inf | +inf |
/// | `[f32::MAX, f32::MAX]` | f32::MAX (no overflow) |
///
/// # Cost
/// Two read passes: max; exp + sum.
///
/// # Examples
/// ```
/// use logitkit::log_sum_exp;
/// assert_eq!(log_sum_exp(&[]), f32::NEG_INFINITY);
/// assert_eq!(log_sum_exp(&[f32::MAX, f32::MAX]), f32::MAX);
/// assert!((log_sum_exp(&[0.0, 0.0]) - core::f32::consts::LN_2).abs() < 1e-7);
/// ```
#[doc(alias = "logsumexp")]
pub fn log_sum_exp(xs: &[f32]) -> f32 {
    if <Simd as Lane>::WIDTH == 1 {
        // One-lane builds: the f64-free statistics of `short_rows`.
        let max = row_max::<f32>(xs);
        if !max.is_finite() {
            return if xs.is_empty() {
                f32::NEG_INFINITY
            } else {
                max
            };
        }
        let stats = short_rows::one_lane_stats(max, &mut SeparateIo { xs, exps: &mut [] });
        return short_rows::log_sum_exp(&stats);
    }
    if is_short(xs.len())
        && let Ok(stats) = short_rows::row_stats(xs)
    {
        return short_rows::log_sum_exp(&stats);
    }
    if is_medium(xs.len()) {
        // A NaN maximum is NaN, ±inf is the value (no row here is empty).
        return match short_rows::analyze_medium_row(xs, &mut [], false) {
            Ok(stats) => short_rows::log_sum_exp(&stats),
            Err(max) => max,
        };
    }
    match analyze_row(xs, &mut [], false) {
        Row::Nan => f32::NAN,
        Row::Masked => f32::NEG_INFINITY,
        Row::Infinite { .. } => f32::INFINITY,
        Row::Finite(s) => (s.max as f64 + s.log_sum()) as f32,
    }
}

/// A streaming log-sum-exp: push values, extend with slices, merge states
/// computed on different pieces (sensor windows, chunked rows, threads), and
/// read the value at any time. No f64 on any build, so it costs a
/// Cortex-M4F no soft-float routines.
///
/// The state keeps the maximum m, the number of values equal to it, and
/// Σ_{xᵢ<m} e^{xᵢ−a} as an f32 pair relative to an anchor a ≤ m with
/// m − a ≤ 32 (so the sum cannot overflow). A push or an extend adds its
/// terms at the current anchor; the anchor moves only when the maximum
/// passes a + 32, to the new maximum, and the sum is then carried over by
/// e^{a−a′}, which is below e^{−32}: a term carried twice has shrunk by
/// e^{−64}, so the carries never accumulate. Carries, merges and the
/// final e^{a−m} use an exponential of a pair accurate to 2⁻⁴⁶.
///
/// # Accuracy
/// Any sequence of pushes and extends: within the [`log_sum_exp`] bound of
/// one pass over the concatenation (½ ulp(lse) + 2⁻²¹·s′/(1+s′) +
/// n·2⁻¹⁴⁹ absolute): each term within 3·2⁻²⁴ (`exp` and the rounding of
/// x − a, corrected), the compensated sum within 2⁻²⁴ + n·2⁻⁴⁸, the carries
/// within 2⁻⁴⁵, ln S taken from the pair unrounded. Beyond pushes and
/// extends, each merge of two states adds at most 2⁻⁴⁴·s′/(1+s′) (one
/// pair exponential and two pair operations on the part it carries): 2²⁰
/// merges add at most 2⁻²⁴, an eighth of the one-pass bound's 2⁻²¹. Checked against an f64
/// reference in `tests/softmax_family.rs` and by the shared checks.
///
/// # Special values
/// As [`log_sum_exp`]: empty −inf, any NaN NaN, else any +inf +inf.
///
/// # Examples
/// ```
/// use logitkit::{LogSumExp, log_sum_exp};
/// let xs = [1.0f32, -3.0, 7.5, 2.0, 0.25];
/// let mut left = LogSumExp::new();
/// left.extend(&xs[..2]);
/// let mut right = LogSumExp::new();
/// for &x in &xs[2..] {
///     right.push(x);
/// }
/// left.merge(&right);
/// assert!((left.value() - log_sum_exp(&xs)).abs() <= 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogSumExp {
    /// The running maximum m (−inf when empty, NaN once a NaN was seen,
    /// +inf once a +inf was seen).
    max: f32,
    /// a: the terms are kept as e^{xᵢ−a}; a ≤ m ≤ a + [`ANCHOR_SPAN`]
    /// whenever m is finite.
    anchor: f32,
    /// The number of values equal to m (exact up to 2²⁴).
    ties: f32,
    /// Σ_{xᵢ<m} e^{xᵢ−a}.
    others: Pair,
}

/// How far the maximum may run above the anchor: terms up to e³², sums of
/// 2²⁴ of them below 2⁷¹, far from f32's overflow.
const ANCHOR_SPAN: f32 = 32.0;

impl Default for LogSumExp {
    fn default() -> Self {
        Self::new()
    }
}

impl LogSumExp {
    /// The empty state: its value is −inf.
    pub const fn new() -> Self {
        Self::only(f32::NEG_INFINITY)
    }

    /// A state whose maximum is `max` and that holds nothing else: the
    /// value `max` pushed once when it is finite, else a special state.
    const fn only(max: f32) -> Self {
        Self {
            max,
            anchor: if max.is_finite() { max } else { 0.0 },
            ties: if max.is_finite() { 1.0 } else { 0.0 },
            others: Pair::ZERO,
        }
    }

    /// Adds one value. Cost: one f32 exponential, and a pair exponential
    /// when the maximum passes the anchor by more than 32.
    pub fn push(&mut self, x: f32) {
        // Below a finite maximum (the common case) the value is one more
        // term at the current anchor; the rest is a merge.
        if x < self.max && self.max.is_finite() {
            let term = exp_shifted(x, -self.anchor);
            self.others = self.others.add(Pair::new(term));
        } else {
            self.merge(&Self::only(x));
        }
    }

    /// Adds every value of `xs` (two passes over `xs`, like
    /// [`log_sum_exp`]).
    pub fn extend(&mut self, xs: &[f32]) {
        self.merge(&Self::of_slice(xs));
    }

    /// Combines with a state built from other values, as if all had been
    /// pushed into one.
    pub fn merge(&mut self, other: &Self) {
        if self.max.is_nan() || other.max.is_nan() {
            *self = Self::only(f32::NAN);
            return;
        }
        if other.max == f32::NEG_INFINITY {
            return;
        }
        if self.max == f32::NEG_INFINITY {
            *self = *other;
            return;
        }
        if self.max == f32::INFINITY || other.max == f32::INFINITY {
            *self = Self::only(f32::INFINITY);
            return;
        }
        let max = self.max.max(other.max);
        // Keep this state's anchor while it is within reach of the new
        // maximum (pushes and extends then never carry their sum); else the
        // other's, which is: the new maximum is then the other's.
        let anchor = if max - self.anchor <= ANCHOR_SPAN {
            self.anchor
        } else {
            other.anchor
        };
        let (others, ties) = match (self.max == max, other.max == max) {
            (true, true) => (
                self.others_at(anchor).add(other.others_at(anchor)),
                self.ties + other.ties,
            ),
            (true, false) => (self.others_at(anchor).add(other.mass_at(anchor)), self.ties),
            (false, _) => (
                self.mass_at(anchor).add(other.others_at(anchor)),
                other.ties,
            ),
        };
        *self = Self {
            max,
            anchor,
            ties,
            others,
        };
    }

    /// ln Σ e^{xᵢ} over everything added so far (−inf when empty).
    pub fn value(&self) -> f32 {
        if !self.max.is_finite() {
            return self.max;
        }
        let others = self.others_at(self.max);
        let stats = ShortStats::new(self.max, (others.hi, others.lo), self.ties);
        short_rows::log_sum_exp(&stats)
    }

    /// Σ_{xᵢ<m} e^{xᵢ−`anchor`}.
    fn others_at(&self, anchor: f32) -> Pair {
        carry(self.others, self.anchor, anchor)
    }

    /// Σ e^{xᵢ−`anchor`} over all of this state's values, for a merge in
    /// which its maximum is no longer the maximum. Its largest values add
    /// ties·e^{m−a}: exactly the tie count where the anchor is the maximum
    /// (every state from a push or an extend), else one term more.
    fn mass_at(&self, anchor: f32) -> Pair {
        let top = if self.max == self.anchor {
            Pair::new(self.ties)
        } else {
            Pair::product(self.ties, exp_shifted(self.max, -self.anchor))
        };
        carry(self.others.add(top), self.anchor, anchor)
    }

    /// The state of the values of `xs`, anchored at their maximum.
    fn of_slice(xs: &[f32]) -> Self {
        let stats = if <Simd as Lane>::WIDTH == 1 {
            let max = row_max::<f32>(xs);
            if !max.is_finite() {
                return Self::only(max);
            }
            short_rows::one_lane_stats(max, &mut SeparateIo { xs, exps: &mut [] })
        } else if is_short(xs.len()) {
            match short_rows::row_stats(xs) {
                Ok(stats) => stats,
                Err(max) => return Self::only(max),
            }
        } else {
            return match analyze_row(xs, &mut [], false) {
                Row::Nan => Self::only(f32::NAN),
                Row::Masked => Self::new(),
                Row::Infinite { .. } => Self::only(f32::INFINITY),
                // Vector builds only (one-lane builds took the first arm):
                // the f64 sum split into a pair.
                Row::Finite(s) => {
                    let hi = s.others as f32;
                    Self {
                        max: s.max,
                        anchor: s.max,
                        ties: s.ties as f32,
                        others: Pair::sum(hi, (s.others - hi as f64) as f32),
                    }
                }
            };
        };
        // s′ + 1 − ties = Σ_{xᵢ<m} e^{xᵢ−m}: the tie count is exact, so
        // this recovers the sum of the terms below the maximum.
        let others = Pair::sum(stats.excess, 1.0 - stats.ties).add(Pair::new(stats.excess_lo));
        Self {
            max: stats.max,
            anchor: stats.max,
            ties: stats.ties,
            others,
        }
    }
}

/// `sum`, a sum of e^{xᵢ−`from`}, as a sum of e^{xᵢ−`to`}: times
/// e^{from − to}, within 2⁻⁴⁶. `to` − `from` ≥ −32 (the anchor of a merge is
/// within 32 of its maximum), so the factor ≤ e³² cannot overflow, and a
/// factor below e^{−300} leaves less than 2⁻⁴⁰⁰ of the maximum's term:
/// dropped.
fn carry(sum: Pair, from: f32, to: f32) -> Pair {
    if from == to || sum == Pair::ZERO {
        return sum;
    }
    let shift = Pair::sum(from, -to);
    if shift.hi < -EXP_SCALED_LIMIT {
        return Pair::ZERO;
    }
    if <Simd as Lane>::WIDTH == 1 {
        carry_by_pairs(sum, shift)
    } else {
        carry_in_f64(sum, shift)
    }
}

/// [`carry`] on one-lane builds, without f64: the pair exponential.
fn carry_by_pairs(sum: Pair, shift: Pair) -> Pair {
    let (factor, k) = shift.exp_scaled();
    sum.mul(factor).scale_exp2(k)
}

/// [`carry`] on vector builds, whose targets have an f64 unit: the sum
/// (exact in f64), times the f64 exponential (within 2⁻⁵²) of the shift
/// (exact in f64), split back into a pair (2⁻⁴⁸). A third of the pair
/// exponential's latency on x86-64, which a chain of merges pays in full.
fn carry_in_f64(sum: Pair, shift: Pair) -> Pair {
    let carried = (sum.hi as f64 + sum.lo as f64) * libm::exp(shift.hi as f64 + shift.lo as f64);
    let hi = carried as f32;
    Pair::sum(hi, (carried - hi as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two ways of carrying a sum (in f64 on vector builds; by the
    /// pair exponential, itself checked against f64 in `math::pair`) agree
    /// within 2⁻⁴⁵ over the shifts a merge can ask for.
    #[test]
    fn carrying_in_f64_agrees_with_the_pair_exponential() {
        let exact = |p: Pair| p.hi as f64 + p.lo as f64;
        for i in 0..100_000 {
            let hi = -EXP_SCALED_LIMIT + (i as f32) * (EXP_SCALED_LIMIT + ANCHOR_SPAN) / 1e5;
            let shift = Pair::sum(hi, hi * f32::EPSILON * ((i % 13) as f32 / 26.0 - 0.25));
            let sum = Pair::sum(1.0 + (i % 1000) as f32, (i % 7) as f32 * 1e-8);
            let (a, b) = (carry_in_f64(sum, shift), carry_by_pairs(sum, shift));
            // Results below 2⁻¹²⁶ carry the subnormal grid's 2⁻¹⁴⁹.
            let tolerance = 2f64.powi(-45) * exact(b) + 2f64.powi(-148);
            assert!(
                (exact(a) - exact(b)).abs() <= tolerance,
                "shift {shift:?}: {a:?} against {b:?}"
            );
        }
    }
}
