//! softmax and log_softmax of one row.

use super::short_rows::{self, RowPass, ShortStats, is_medium, is_short};
use super::{InPlaceIo, Row, RowIo, SeparateIo, analyze_row, analyze_with_max, special_row};
use crate::error::{Error, check_len};
use crate::lane::{Lane, Narrow, RowSimd, Simd, map_in_place, map_into};
use crate::reduce::{row_max, row_max_min};

/// Writes softmax(xs) into `out`: pᵢ = e^{xᵢ−m} / Σⱼ e^{xⱼ−m}.
///
/// # Accuracy
/// Each pᵢ within 2 ULP + 2⁻²¹ relative (the error of the sum, which does
/// not grow with n) of the exact value, tiny probabilities included (the
/// rounding of xᵢ − m is corrected). Checked against f64 in
/// `tests/softmax_family.rs`.
///
/// # Special values
/// | input | output |
/// |---|---|
/// | any NaN | all NaN |
/// | k entries +inf | those 1/k, others 0 |
/// | every entry −inf (fully masked) | all 0 |
/// | −inf entries (masks) | 0 there |
///
/// # Errors
/// [`Error::LengthMismatch`] if `out.len() != xs.len()`.
///
/// # Cost
/// Three passes: max (read `xs`); exp + store + sum (read `xs`, write
/// `out`); multiply by 1/S (read and write `out`).
///
/// # Examples
/// ```
/// let mut p = [0.0f32; 3];
/// logitkit::softmax(&[1.0, 2.0, f32::NEG_INFINITY], &mut p)?;
/// assert_eq!(p[2], 0.0);
/// assert!((p[0] + p[1] - 1.0).abs() < 1e-6);
/// # Ok::<(), logitkit::Error>(())
/// ```
// Out of line: inlined into `softmax_rows`' loop, rows of 100 logits ran a
// third slower than with a call (ns per logit, AVX-512 0.887 against 0.669,
// x86-64-v3 1.000 against 0.734: `logitkit-callgrind softmax_rows 100 15`).
#[inline(never)]
pub fn softmax(xs: &[f32], out: &mut [f32]) -> Result<(), Error> {
    check_len("out", xs.len(), out.len())?;
    if ONE_LANE {
        let max = row_max::<f32>(xs);
        match one_lane_analysis(max, &mut SeparateIo { xs, exps: out }) {
            Ok(stats) => scale_by(out, stats.inv_sum()),
            Err(row) => fill_limit(xs, out, row, 0.0),
        }
        return Ok(());
    }
    if is_short(xs.len()) && short_into::<false>(xs, out) {
        return Ok(());
    }
    if is_medium(xs.len()) {
        match short_rows::analyze_medium_row(xs, out, true) {
            Ok(stats) => scale_exps_by(out, stats.inv_sum()),
            Err(max) => fill_limit(xs, out, special(max, xs), 0.0),
        }
        return Ok(());
    }
    match analyze_row(xs, out, true) {
        Row::Finite(s) => scale_by(out, long_row_reciprocal(s.sum())),
        row => fill_limit(xs, out, row, 0.0),
    }
    Ok(())
}

/// softmax of `xs`, in place. Same accuracy, special values and passes as
/// [`softmax`] (the exponentials overwrite the logits).
///
/// # Examples
/// ```
/// let mut z = [f32::INFINITY, 0.0, f32::INFINITY];
/// logitkit::softmax_in_place(&mut z);
/// assert_eq!(z, [0.5, 0.0, 0.5]);
/// ```
pub fn softmax_in_place(xs: &mut [f32]) {
    if ONE_LANE {
        let max = row_max::<f32>(xs);
        match one_lane_analysis(max, &mut InPlaceIo(xs)) {
            Ok(stats) => scale_by(xs, stats.inv_sum()),
            Err(row) => fill_limit_in_place(xs, row, 0.0),
        }
        return;
    }
    if is_short(xs.len()) && short_in_place::<false>(xs) {
        return;
    }
    if is_medium(xs.len()) {
        match short_rows::analyze_medium_row_in_place(xs, true) {
            Ok(stats) => scale_exps_by(xs, stats.inv_sum()),
            Err(max) => {
                let row = special(max, xs);
                fill_limit_in_place(xs, row, 0.0);
            }
        }
        return;
    }
    let (max, min) = row_max_min::<Simd>(xs);
    let pass = RowPass::of_row(max, min, true);
    match analyze_with_max(max, pass, &mut InPlaceIo(xs)) {
        Row::Finite(s) => scale_by(xs, long_row_reciprocal(s.sum())),
        row => {
            let limit = limits(row, 0.0);
            for x in xs.iter_mut() {
                *x = limit.at(*x);
            }
        }
    }
}

/// Writes log_softmax(xs) into `out`: (xᵢ − m) − ln_1p(s′).
///
/// # Accuracy
/// Each element within 2 ULP + 2⁻²¹ absolute of the exact value (the sum's
/// relative error enters as an absolute error of its logarithm). Checked
/// against f64 in `tests/softmax_family.rs`.
///
/// # Special values
/// | input | output |
/// |---|---|
/// | any NaN | all NaN |
/// | k entries +inf | those −ln k, others −inf |
/// | every entry −inf | all −inf |
/// | −inf entries | −inf there |
///
/// # Errors
/// [`Error::LengthMismatch`] if `out.len() != xs.len()`.
///
/// # Cost
/// Three passes: max (read `xs`); exp + sum (read `xs`); subtract (read
/// `xs`, write `out`).
///
/// # Examples
/// ```
/// let mut lp = [0.0f32; 2];
/// logitkit::log_softmax(&[0.0, 0.0], &mut lp)?;
/// assert!((lp[0] + core::f32::consts::LN_2).abs() < 1e-7);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn log_softmax(xs: &[f32], out: &mut [f32]) -> Result<(), Error> {
    check_len("out", xs.len(), out.len())?;
    if ONE_LANE {
        let max = row_max::<f32>(xs);
        match one_lane_analysis(max, &mut SeparateIo { xs, exps: &mut [] }) {
            Ok(stats) => {
                let (ln_hi, ln_lo) = short_rows::log_sum_one(stats.sum, stats.sum_lo);
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = short_rows::log_softmax(x, max, ln_hi, ln_lo);
                }
            }
            Err(row) => fill_limit(xs, out, row, f32::NEG_INFINITY),
        }
        return Ok(());
    }
    if is_short(xs.len()) && short_into::<true>(xs, out) {
        return Ok(());
    }
    if is_medium(xs.len()) {
        match short_rows::analyze_medium_row(xs, &mut [], false) {
            Ok(stats) => map_into::<Simd>(xs, out, medium_log_softmax(&stats)),
            Err(max) => fill_limit(xs, out, special(max, xs), f32::NEG_INFINITY),
        }
        return Ok(());
    }
    match analyze_row(xs, &mut [], false) {
        Row::Finite(s) => {
            let (neg_m, log_sum) = (
                <Simd as Lane>::splat(-s.max),
                <Simd as Lane>::splat(s.log_sum() as f32),
            );
            map_into::<Simd>(xs, out, |x| (x + neg_m) - log_sum);
        }
        row => fill_limit(xs, out, row, f32::NEG_INFINITY),
    }
    Ok(())
}

/// log_softmax of `xs`, in place. Same accuracy, special values and passes
/// as [`log_softmax`].
pub fn log_softmax_in_place(xs: &mut [f32]) {
    if ONE_LANE {
        let max = row_max::<f32>(xs);
        match one_lane_analysis(max, &mut SeparateIo { xs, exps: &mut [] }) {
            Ok(stats) => {
                let (ln_hi, ln_lo) = short_rows::log_sum_one(stats.sum, stats.sum_lo);
                for x in xs.iter_mut() {
                    *x = short_rows::log_softmax(*x, max, ln_hi, ln_lo);
                }
            }
            Err(row) => fill_limit_in_place(xs, row, f32::NEG_INFINITY),
        }
        return;
    }
    if is_short(xs.len()) && short_in_place::<true>(xs) {
        return;
    }
    if is_medium(xs.len()) {
        match short_rows::analyze_medium_row(xs, &mut [], false) {
            Ok(stats) => map_in_place::<Simd>(xs, medium_log_softmax(&stats)),
            Err(max) => {
                let row = special(max, xs);
                fill_limit_in_place(xs, row, f32::NEG_INFINITY);
            }
        }
        return;
    }
    match analyze_row(xs, &mut [], false) {
        Row::Finite(s) => {
            let (neg_m, log_sum) = (
                <Simd as Lane>::splat(-s.max),
                <Simd as Lane>::splat(s.log_sum() as f32),
            );
            map_in_place::<Simd>(xs, |x| (x + neg_m) - log_sum);
        }
        row => {
            let limit = limits(row, f32::NEG_INFINITY);
            for x in xs.iter_mut() {
                *x = limit.at(*x);
            }
        }
    }
}

/// Builds whose lane is one `f32` take the f64-free row statistics of
/// `short_rows::one_lane_stats` for rows of every length.
const ONE_LANE: bool = <Simd as Lane>::WIDTH == 1;

/// On one-lane builds: a finite row's statistics (its exponentials stored
/// through `io`), or the class of a row whose maximum is not finite.
#[inline(always)]
fn one_lane_analysis(max: f32, io: &mut impl RowIo) -> Result<ShortStats<f32>, Row> {
    if max.is_finite() {
        Ok(short_rows::one_lane_stats(max, io))
    } else {
        Err(special_row(max, io))
    }
}

/// The class of a row of the row-order kernel whose maximum `max` is NaN
/// or ±inf.
fn special(max: f32, xs: &[f32]) -> Row {
    special_row(max, &SeparateIo { xs, exps: &mut [] })
}

/// e·(1/S) over a row's exponentials, as the short rows scale theirs;
/// also a plain class target's gradient, e·c before its target element is
/// set (`loss::softmax_cross_entropy`).
pub(crate) fn scale_exps_by(exps: &mut [f32], inv_sum: f32) {
    let inv = splat(inv_sum);
    map_in_place::<Simd>(exps, |e| e * inv);
}

/// The lanewise log_softmax of a row with these statistics, as the short
/// rows form it.
#[inline(always)]
fn medium_log_softmax(stats: &ShortStats<f32>) -> impl Fn(Simd) -> Simd {
    let (ln_hi, ln_lo) = stats.log_sum();
    let (m, ln_hi, ln_lo) = (splat(stats.max), splat(ln_hi), splat(ln_lo));
    move |x| short_rows::log_softmax(x, m, ln_hi, ln_lo)
}

/// 1/S for a long row's f64 sum S ≥ 1, formed in f64 and rounded once
/// (2⁻²⁴ relative): pᵢ = eᵢ·(1/S) is then within the bound as the short and
/// medium rows' products are, and closer than the division by S rounded to
/// f32 that it replaces (two roundings). With a division per element,
/// `softmax` of 2²⁰ logits took 0.391 ns per element natively (AVX-512) and
/// 1.436 on the default build, 0.372 and 1.301 with the multiply
/// (`docs/performance.md`).
fn long_row_reciprocal(sum: f64) -> f32 {
    (1.0 / sum) as f32
}

fn scale_by(xs: &mut [f32], factor: f32) {
    xs.iter_mut().for_each(|x| *x *= factor);
}

fn fill_limit_in_place(xs: &mut [f32], row: Row, zero: f32) {
    let limit = limits(row, zero);
    for x in xs.iter_mut() {
        *x = limit.at(*x);
    }
}

fn splat(x: f32) -> Simd {
    <Simd as Lane>::splat(x)
}

/// softmax (with `LOG`, log_softmax) of a short row with a finite
/// maximum by the short-row kernel (`short_rows`), in the vector its
/// length takes ([`short_rows::row_vector_fits`]), written into `out`;
/// false, with nothing written, for a maximum that is NaN or ±inf, which
/// takes the general path.
fn short_into<const LOG: bool>(xs: &[f32], out: &mut [f32]) -> bool {
    let stored = if short_rows::row_vector_fits(xs.len()) {
        short_row::<RowSimd, LOG>(xs).map(|v| short_rows::store_row(v, out))
    } else {
        short_row::<Simd, LOG>(xs).map(|v| short_rows::store_row(v, out))
    };
    stored.is_some()
}

/// [`short_into`] in place.
fn short_in_place<const LOG: bool>(xs: &mut [f32]) -> bool {
    let stored = if short_rows::row_vector_fits(xs.len()) {
        short_row::<RowSimd, LOG>(xs).map(|v| short_rows::store_row(v, xs))
    } else {
        short_row::<Simd, LOG>(xs).map(|v| short_rows::store_row(v, xs))
    };
    stored.is_some()
}

/// The result vectors of [`short_into`] in `V`: e·(1/S) for softmax;
/// ((x − m) − ln_hi) − ln_lo for log_softmax, the lanewise form
/// [`short_rows::log_softmax`] applies to groups of rows.
#[inline(always)]
fn short_row<V: Lane + Narrow, const LOG: bool>(xs: &[f32]) -> Option<[V; 2]> {
    let row = short_rows::analyze_row::<V>(xs).ok()?;
    if !LOG {
        let inv = V::splat(row.stats.inv_sum());
        let [a, b] = row.exps;
        return Some([a * inv, b * inv]);
    }
    let (ln_hi, ln_lo) = row.stats.log_sum();
    let (m, ln_hi, ln_lo) = (V::splat(row.stats.max), V::splat(ln_hi), V::splat(ln_lo));
    // Both vectors written out, not `.map(..)`, which some builds left out
    // of line (`docs/performance.md`, "Out-of-line calls in a downstream
    // build").
    let [a, b] = short_rows::row_vectors::<V>(xs, 0.0);
    let log_p = |x| short_rows::log_softmax(x, m, ln_hi, ln_lo);
    Some([log_p(a), log_p(b)])
}

/// The output of a non-finite row (`docs/contract.md`): NaN everywhere, or one value at
/// the +inf entries and another elsewhere.
#[derive(Clone, Copy)]
pub(crate) struct Limit {
    at_inf: f32,
    elsewhere: f32,
}

impl Limit {
    #[inline]
    pub(crate) fn at(self, x: f32) -> f32 {
        if x == f32::INFINITY {
            self.at_inf
        } else {
            self.elsewhere
        }
    }
}

/// Limits for softmax (`zero` = 0) or log_softmax (`zero` = −inf); `row`
/// must not be [`Row::Finite`].
pub(crate) fn limits(row: Row, zero: f32) -> Limit {
    match row {
        Row::Infinite { count } => {
            let share = if zero == 0.0 {
                1.0 / count as f32
            } else {
                // ln k for k ≥ 1, the bits of `ln` (its tail is 0).
                let (hi, lo) = short_rows::log_sum_one(count as f32, 0.0);
                -(hi + lo)
            };
            Limit {
                at_inf: share,
                elsewhere: zero,
            }
        }
        Row::Masked => Limit {
            at_inf: zero,
            elsewhere: zero,
        },
        Row::Nan | Row::Finite(_) => Limit {
            at_inf: f32::NAN,
            elsewhere: f32::NAN,
        },
    }
}

fn fill_limit(xs: &[f32], out: &mut [f32], row: Row, zero: f32) {
    let limit = limits(row, zero);
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = limit.at(x);
    }
}
