//! The softmax family over row-major batches: `rows × classes` values, a
//! row of `classes` after another. Each form gives, row by row, the bits
//! of its single-row form; rows of at most two vectors go W at a time, one
//! row per vector lane (`short_rows`), longer rows one after another.

use super::backward::{log_softmax_backward, softmax_backward};
use super::log_sum_exp::log_sum_exp;
use super::short_rows::{self, ClassCount, RowGroup, ShortStats, is_short, with_class_count};
use super::softmax::{log_softmax, log_softmax_in_place, softmax, softmax_in_place};
use crate::error::{Error, check_batch_len, whole_rows};
use crate::lane::Simd;

/// Calls `f(r, row)` for each of the `rows` rows of `classes` in `xs`.
/// Indexes rather than zipping chunk iterators: their lengths are divisions
/// whose divisor an optimizer at opt-level "s" may not see is nonzero,
/// which would link a panic path into firmware.
#[inline(always)]
fn each_row<'a>(xs: &'a [f32], rows: usize, classes: usize, mut f: impl FnMut(usize, &'a [f32])) {
    for r in 0..rows {
        if let Some(row) = xs.get(r * classes..(r + 1) * classes) {
            f(r, row);
        }
    }
}

/// [`each_row`] over a mutable batch.
#[inline(always)]
fn each_row_mut(xs: &mut [f32], rows: usize, classes: usize, mut f: impl FnMut(usize, &mut [f32])) {
    for r in 0..rows {
        if let Some(row) = xs.get_mut(r * classes..(r + 1) * classes) {
            f(r, row);
        }
    }
}

/// Row r of `out`, or nothing.
#[inline(always)]
fn row_of(out: &mut [f32], r: usize, classes: usize) -> &mut [f32] {
    out.get_mut(r * classes..(r + 1) * classes)
        .unwrap_or(&mut [])
}

/// Checks that `xs` is whole rows of `classes` and `out` holds `per_row`
/// values per row; returns the number of rows.
fn shape(xs: usize, classes: usize, out: usize, per_row: usize) -> Result<usize, Error> {
    let rows = whole_rows(xs, classes)?;
    check_batch_len("out", rows * per_row, out, (rows, classes))?;
    Ok(rows)
}

/// [`log_sum_exp`] of each row of `xs` (rows of `classes` values) into
/// `out`, one value per row: the bits of [`log_sum_exp`] on each row.
///
/// # Accuracy, special values
/// As [`log_sum_exp`], row by row.
///
/// # Errors
/// [`Error::RaggedRows`] if `xs.len()` is not a whole number of rows of
/// `classes` (an empty `xs` is 0 rows, whatever `classes`);
/// [`Error::LengthMismatch`] unless `out` has one value per row.
///
/// # Cost
/// As [`log_sum_exp`] per row; rows of at most two vectors (16 values with
/// 8-lane vectors) go W rows at a time, one row per lane, so a batch of
/// short rows costs a few vector operations per row.
///
/// # Examples
/// ```
/// let mut lse = [0.0f32; 2];
/// logitkit::log_sum_exp_rows(&[0.0, 0.0, /* row 2 */ 1.0, f32::NEG_INFINITY], 2, &mut lse)?;
/// assert!((lse[0] - core::f32::consts::LN_2).abs() < 1e-7 && lse[1] == 1.0);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn log_sum_exp_rows(xs: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    let rows = shape(xs.len(), classes, out.len(), 1)?;
    if is_short(classes) {
        with_class_count!(classes, k => short_rows::reduce_groups(
            xs,
            k,
            out,
            short_rows::log_sum_exp,
            log_sum_exp,
        ));
    } else {
        each_row(xs, rows, classes, |r, row| {
            if let Some(o) = out.get_mut(r) {
                *o = log_sum_exp(row);
            }
        });
    }
    Ok(())
}

/// [`softmax`] of each row of `xs` (rows of `classes` values) into `out`
/// (same shape): the bits of [`softmax`] on each row.
///
/// # Accuracy, special values
/// As [`softmax`], row by row: a NaN or a +inf stays in its row.
///
/// # Errors
/// [`Error::RaggedRows`] if `xs.len()` is not a whole number of rows of
/// `classes`; [`Error::LengthMismatch`] if `out.len() != xs.len()`.
///
/// # Cost
/// As [`softmax`] per row; short rows W at a time, as [`log_sum_exp_rows`].
///
/// # Examples
/// ```
/// let logits = [1.0f32, 1.0, /* row 2 */ 0.0, f32::NEG_INFINITY];
/// let mut p = [0.0f32; 4];
/// logitkit::softmax_rows(&logits, 2, &mut p)?;
/// assert_eq!(p, [0.5, 0.5, 1.0, 0.0]);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn softmax_rows(xs: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    rows_into(xs, classes, out, true, SoftmaxGroup, softmax)
}

/// [`softmax_rows`] in place: the bits of [`softmax_in_place`] on each row.
///
/// # Errors
/// [`Error::RaggedRows`] if `xs.len()` is not a whole number of rows of
/// `classes`; nothing is written then.
pub fn softmax_rows_in_place(xs: &mut [f32], classes: usize) -> Result<(), Error> {
    rows_in_place(xs, classes, true, SoftmaxGroup, softmax_in_place)
}

/// How a rows form turns a group's logits (or exponentials) into its
/// outputs, for any class count (one copy per count, [`with_class_count`]).
trait GroupForm: Copy {
    fn finish<K: ClassCount>(self, group: &mut RowGroup<K>, stats: &ShortStats<Simd>);
}

/// The lanewise softmax of a group (its exponentials times 1/S), as the
/// single-row form computes it.
#[derive(Clone, Copy)]
struct SoftmaxGroup;

impl GroupForm for SoftmaxGroup {
    #[inline(always)]
    fn finish<K: ClassCount>(self, group: &mut RowGroup<K>, stats: &ShortStats<Simd>) {
        let inv = stats.inv_sum();
        group.rows_by_class_mut().iter_mut().for_each(|x| *x *= inv);
    }
}

/// The lanewise log_softmax of a group, as the single-row form computes it.
#[derive(Clone, Copy)]
struct LogSoftmaxGroup;

impl GroupForm for LogSoftmaxGroup {
    #[inline(always)]
    fn finish<K: ClassCount>(self, group: &mut RowGroup<K>, stats: &ShortStats<Simd>) {
        let (ln_hi, ln_lo) = stats.log_sum();
        for x in group.rows_by_class_mut() {
            *x = short_rows::log_softmax(*x, stats.max, ln_hi, ln_lo);
        }
    }
}

/// [`log_softmax`] of each row of `xs` (rows of `classes` values) into
/// `out` (same shape): the bits of [`log_softmax`] on each row.
///
/// # Accuracy, special values
/// As [`log_softmax`], row by row.
///
/// # Errors
/// [`Error::RaggedRows`] if `xs.len()` is not a whole number of rows of
/// `classes`; [`Error::LengthMismatch`] if `out.len() != xs.len()`.
///
/// # Cost
/// As [`log_softmax`] per row; short rows W at a time, as
/// [`log_sum_exp_rows`].
pub fn log_softmax_rows(xs: &[f32], classes: usize, out: &mut [f32]) -> Result<(), Error> {
    rows_into(xs, classes, out, false, LogSoftmaxGroup, log_softmax)
}

/// [`log_softmax_rows`] in place: the bits of [`log_softmax_in_place`] on
/// each row.
///
/// # Errors
/// [`Error::RaggedRows`] if `xs.len()` is not a whole number of rows of
/// `classes`; nothing is written then.
pub fn log_softmax_rows_in_place(xs: &mut [f32], classes: usize) -> Result<(), Error> {
    rows_in_place(xs, classes, false, LogSoftmaxGroup, log_softmax_in_place)
}

/// A rows form into `out`: rows of at most two vectors W at a time, the
/// logits (or, with `keep_exps`, their exponentials) turned into outputs by
/// `group`; other rows, and rows whose maximum is not finite, by `single`.
/// Generic and inlined so `group` inlines into the group loop and
/// `keep_exps` folds: called through a function pointer per group it cost
/// 4% more instructions (`tools/callgrind.sh`, `softmax_rows`, 256×10).
#[inline(always)]
fn rows_into(
    xs: &[f32],
    classes: usize,
    out: &mut [f32],
    keep_exps: bool,
    form: impl GroupForm,
    single: impl Fn(&[f32], &mut [f32]) -> Result<(), Error>,
) -> Result<(), Error> {
    let rows = shape(xs.len(), classes, out.len(), classes)?;
    if is_short(classes) {
        let single = |x: &[f32], o: &mut [f32]| {
            let _ = single(x, o);
        };
        with_class_count!(classes, k => short_rows::map_groups(
            xs,
            k,
            out,
            keep_exps,
            |g, stats| form.finish(g, stats),
            single,
        ));
    } else {
        each_row(xs, rows, classes, |r, row| {
            let _ = single(row, row_of(out, r, classes));
        });
    }
    Ok(())
}

/// [`rows_into`] in place.
#[inline(always)]
fn rows_in_place(
    xs: &mut [f32],
    classes: usize,
    keep_exps: bool,
    form: impl GroupForm,
    single: impl Fn(&mut [f32]),
) -> Result<(), Error> {
    let rows = whole_rows(xs.len(), classes)?;
    if is_short(classes) {
        with_class_count!(classes, k => short_rows::map_groups_in_place(
            xs,
            k,
            keep_exps,
            |g, stats| form.finish(g, stats),
            &single,
        ));
    } else {
        each_row_mut(xs, rows, classes, |_, row| single(row));
    }
    Ok(())
}

/// [`softmax_backward`] of each row: `probs`, `grad_out` and `grad_in` are
/// rows of `classes`; the bits of [`softmax_backward`] on each row.
///
/// # Accuracy, special values
/// As [`softmax_backward`], row by row.
///
/// # Errors
/// [`Error::RaggedRows`] if `probs` is not whole rows of `classes`;
/// [`Error::LengthMismatch`] if `grad_out` or `grad_in` differs from
/// `probs` in length.
///
/// # Cost
/// As [`softmax_backward`] per row.
pub fn softmax_backward_rows(
    probs: &[f32],
    grad_out: &[f32],
    classes: usize,
    grad_in: &mut [f32],
) -> Result<(), Error> {
    backward_rows(probs, grad_out, classes, grad_in, softmax_backward)
}

/// [`log_softmax_backward`] of each row: `log_probs`, `grad_out` and
/// `grad_in` are rows of `classes`; the bits of [`log_softmax_backward`] on
/// each row.
///
/// # Accuracy, special values
/// As [`log_softmax_backward`], row by row.
///
/// # Errors
/// As [`softmax_backward_rows`].
///
/// # Cost
/// As [`log_softmax_backward`] per row.
pub fn log_softmax_backward_rows(
    log_probs: &[f32],
    grad_out: &[f32],
    classes: usize,
    grad_in: &mut [f32],
) -> Result<(), Error> {
    backward_rows(log_probs, grad_out, classes, grad_in, log_softmax_backward)
}

fn backward_rows(
    ys: &[f32],
    grad_out: &[f32],
    classes: usize,
    grad_in: &mut [f32],
    row: impl Fn(&[f32], &[f32], &mut [f32]) -> Result<(), Error>,
) -> Result<(), Error> {
    let rows = whole_rows(ys.len(), classes)?;
    check_batch_len("grad_out", ys.len(), grad_out.len(), (rows, classes))?;
    check_batch_len("grad_in", ys.len(), grad_in.len(), (rows, classes))?;
    let mut result = Ok(());
    each_row(ys, rows, classes, |r, y| {
        let g = grad_out.get(r * classes..(r + 1) * classes).unwrap_or(&[]);
        result = result.and(row(y, g, row_of(grad_in, r, classes)));
    });
    result
}

/// The index of the largest element: the predicted class. Ties go to the
/// first; a NaN counts as larger than everything (the first NaN wins), as
/// in PyTorch and NumPy; `None` for an empty row.
///
/// # Cost
/// One read pass.
///
/// # Examples
/// ```
/// assert_eq!(logitkit::argmax(&[0.1, 2.0, 2.0, -1.0]), Some(1));
/// assert_eq!(logitkit::argmax(&[0.1, f32::NAN, 3.0]), Some(1));
/// assert_eq!(logitkit::argmax(&[]), None);
/// ```
pub fn argmax(xs: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &x) in xs.iter().enumerate() {
        if x.is_nan() {
            return Some(i);
        }
        if best.is_none_or(|(_, b)| x > b) {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// [`argmax`] of each row of `xs` (rows of `classes` values) into `out`,
/// one class index per row.
///
/// # Errors
/// [`Error::RaggedRows`] if `xs.len()` is not a whole number of rows of
/// `classes`; [`Error::LengthMismatch`] unless `out` has one index per row.
/// `classes` = 0 is valid only with `xs` and `out` both empty (0 rows).
///
/// # Examples
/// ```
/// let mut predicted = [0usize; 2];
/// logitkit::argmax_rows(&[0.0, 1.0, /* row 2 */ 5.0, 2.0], 2, &mut predicted)?;
/// assert_eq!(predicted, [1, 0]);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn argmax_rows(xs: &[f32], classes: usize, out: &mut [usize]) -> Result<(), Error> {
    let rows = whole_rows(xs.len(), classes)?;
    check_batch_len("out", rows, out.len(), (rows, classes))?;
    each_row(xs, rows, classes, |r, row| {
        if let Some(o) = out.get_mut(r) {
            *o = argmax(row).unwrap_or(0);
        }
    });
    Ok(())
}
