//! log-sum-exp over a slice, and a mergeable streaming state.

use super::short_rows::{self, is_medium, is_short};
use super::{Row, SeparateIo, analyze_row};
use crate::lane::{Lane, Simd};
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
        && let Ok(row) = short_rows::analyze_row(xs)
    {
        return short_rows::log_sum_exp(&row.stats);
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
/// read the value at any time.
///
/// The state is (m, s′) with the sum Σ e^{xᵢ−m} = 1 + s′ kept in f64, so a
/// merge rescales by e^{m₁−m₂} in f64 and loses nothing measurable: the value
/// of any sequence of pushes, extends and merges is within the
/// [`log_sum_exp`] bound of one pass over the concatenation.
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
    /// The running maximum (−inf when empty, NaN once a NaN was seen).
    max: f32,
    /// Σ e^{xᵢ−max} − 1 (the sum beyond the largest term), or, when `max` is
    /// +inf, the number of +inf values minus one.
    excess: f64,
}

impl Default for LogSumExp {
    fn default() -> Self {
        Self::new()
    }
}

impl LogSumExp {
    /// The empty state: its value is −inf.
    pub const fn new() -> Self {
        Self {
            max: f32::NEG_INFINITY,
            excess: 0.0,
        }
    }

    /// Adds one value. Cost: one f64 exponential.
    pub fn push(&mut self, x: f32) {
        self.merge(&Self {
            max: x,
            excess: 0.0,
        });
    }

    /// Adds every value of `xs` (two passes over `xs`, like
    /// [`log_sum_exp`]).
    pub fn extend(&mut self, xs: &[f32]) {
        let part = match analyze_row(xs, &mut [], false) {
            Row::Nan => Self {
                max: f32::NAN,
                excess: 0.0,
            },
            Row::Masked => Self::new(),
            Row::Infinite { count } => Self {
                max: f32::INFINITY,
                excess: count as f64 - 1.0,
            },
            Row::Finite(s) => Self {
                max: s.max,
                excess: s.excess(),
            },
        };
        self.merge(&part);
    }

    /// Combines with a state built from other values, as if all had been
    /// pushed into one.
    pub fn merge(&mut self, other: &Self) {
        let (a, b) = (*self, *other);
        if a.max.is_nan() || b.max.is_nan() {
            *self = Self {
                max: f32::NAN,
                excess: 0.0,
            };
        } else if b.max == f32::NEG_INFINITY {
            // Nothing to add.
        } else if a.max == f32::NEG_INFINITY {
            *self = b;
        } else if a.max == b.max {
            // Equal maxima (also both +inf): the largest terms add up.
            self.excess = a.excess + b.excess + 1.0;
        } else {
            let (hi, lo) = if a.max > b.max { (a, b) } else { (b, a) };
            // (1 + lo.excess)·e^{lo.max − hi.max}, exact difference in f64.
            let scale = libm::exp(lo.max as f64 - hi.max as f64);
            *self = Self {
                max: hi.max,
                excess: hi.excess + (1.0 + lo.excess) * scale,
            };
        }
    }

    /// ln Σ e^{xᵢ} over everything added so far (−inf when empty).
    pub fn value(&self) -> f32 {
        if self.max.is_nan() || self.max.is_infinite() {
            return self.max;
        }
        (self.max as f64 + libm::log1p(self.excess)) as f32
    }
}
