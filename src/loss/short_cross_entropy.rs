//! Softmax cross-entropy against a class for short rows (C ≤ 2W, see
//! [`crate::softmax::short_rows`]): one row at a time in row order, or a
//! batch W rows at a time with one row per lane. Both finish each row with
//! [`finish`], so a batch row's loss and gradient are the bits the single-row
//! call returns for it (times the row's weight and the reduction's scale).
//!
//! The forms are those of the long-row kernel: loss = (m − z_t) + ln S,
//! gradient eᵢ/S, and −s′/S at a unique argmax target, where eₜ/S − 1 would
//! cancel. Rows whose maximum is NaN or ±inf take the f32 kernel of
//! [`super::one_lane_cross_entropy`], which has the special values of the
//! contract.

use super::one_lane_cross_entropy;
use crate::lane::{Lane, Simd};
use crate::math::two_sum;
use crate::softmax::exp_shifted;
use crate::softmax::short_rows::{RowGroup, ShortStats, W, analyze_row, lanes, store_row};

/// What the gradient needs besides the exponentials, and the loss as
/// hi + lo (rounded once when returned as f32, added in f64 by batches).
struct Finish<V> {
    loss: (V, V),
    inv_sum: V,
    target_grad: V,
}

#[inline(always)]
fn finish<V: Lane>(stats: &ShortStats<V>, target_logit: V) -> Finish<V> {
    let inf = V::splat(f32::INFINITY);
    let (gap, gap_lo) = two_sum(-target_logit, stats.max);
    let (ln_hi, ln_lo) = stats.log_sum();
    let (s, err) = two_sum(ln_hi, gap);
    // A masked target (z_t = −inf) or a gap beyond f32::MAX: loss +inf.
    let overflow = gap.eq(inf);
    let loss = (
        V::select(overflow, inf, s),
        V::select(overflow, V::splat(0.0), (err + gap_lo) + ln_lo),
    );
    let inv_sum = stats.inv_sum();
    let excess = stats.excess + stats.excess_lo;
    let unique_argmax = target_logit.eq(stats.max) & stats.ties.eq(V::splat(1.0));
    let target_exp = exp_shifted(target_logit, -stats.max);
    let target_grad = V::select(
        unique_argmax,
        -excess * inv_sum,
        target_exp.mul_add(inv_sum, V::splat(-1.0)),
    );
    Finish {
        loss,
        inv_sum,
        target_grad,
    }
}

/// Loss of a row of 1..=2W logits against `class` (< its length) as
/// hi + lo, writing the gradient into `grad` unless it is empty (else it is
/// as long as `logits`).
pub(crate) fn class_row(logits: &[f32], class: usize, grad: &mut [f32]) -> (f32, f32) {
    let row = match analyze_row(logits) {
        Ok(row) => row,
        Err(_) => {
            return (one_lane_cross_entropy::class_row(logits, class, grad), 0.0);
        }
    };
    let target_logit = logits.get(class).map_or(f32::NAN, |&z| z);
    let done = finish(&row.stats, target_logit);
    if !grad.is_empty() {
        let inv = <Simd as Lane>::splat(done.inv_sum);
        store_row(row.exps.map(|e| e * inv), grad);
        if let Some(g) = grad.get_mut(class) {
            *g = done.target_grad;
        }
    }
    done.loss
}

/// A batch of short rows: row r of `logits` (rows of `classes` logits)
/// against `target(r)` = (class, weight w), or `None` for a row to ignore
/// (zero gradient, `row_loss(r, 0, 0)`). Its plain loss L goes to
/// `row_loss(r, w, L)` in f64 (the single-row call returns L rounded to f32,
/// even where that overflows to +inf and w·L does not); its gradient times
/// f·w, f = `scale`, is written into `grad` (unless empty, else as long
/// as `logits`). Times 1 is exact, so an unweighted sum keeps the
/// single-row bits.
pub(crate) fn batch(
    logits: &[f32],
    classes: usize,
    target: impl Fn(usize) -> Option<(usize, f64)>,
    scale: f64,
    grad: &mut [f32],
    mut row_loss: impl FnMut(usize, f64, f64),
) {
    let group_len = W * classes.max(1);
    let mut group = RowGroup::new();
    for (g, rows) in logits.chunks(group_len).enumerate() {
        let first = g * W;
        // The rest of the gradient: stores may spill into the next group's
        // rows, which that group overwrites.
        let grad_rest = grad.get_mut(first * classes..).unwrap_or(&mut []);
        // Loaded from the rest of the batch, so only its last rows need
        // partial vectors.
        group.load(logits.get(first * classes..).unwrap_or(rows), classes);
        let max = group.max();
        let stats = group.analyze(max, true);
        let mut target_logit = [0.0f32; W];
        let mut target_class = [-1.0f32; W];
        let mut grad_scale = [0.0f32; W];
        let mut targets = [None; W];
        let mut weights = [0.0f64; W];
        for (j, row) in rows.chunks_exact(classes.max(1)).enumerate().take(W) {
            let lane = j & (W - 1);
            if let Some((t, w)) = target(first + j).filter(|&(t, _)| t < classes) {
                target_logit[lane] = row.get(t).map_or(0.0, |&z| z);
                target_class[lane] = t as f32;
                grad_scale[lane] = (scale * w) as f32;
                targets[lane] = Some(t);
                weights[lane] = w;
            }
        }
        let target_logit = Simd::load(&target_logit);
        let done = finish(&stats, target_logit);
        if !grad_rest.is_empty() {
            let grad_scale = Simd::load(&grad_scale);
            let target_class = Simd::load(&target_class);
            for i in 0..classes {
                let g = group.class(i) * done.inv_sum;
                let own = target_class.eq(<Simd as Lane>::splat(i as f32));
                group.set_class(
                    i,
                    <Simd as Lane>::select(own, done.target_grad, g) * grad_scale,
                );
            }
            group.store(grad_rest, true);
        }
        let (hi, lo) = (lanes(done.loss.0), lanes(done.loss.1));
        let finite = lanes(max).map(f32::is_finite);
        // A loss beyond f32::MAX (a gap m − z_t near 2·f32::MAX) may be
        // finite once weighted: such rows get it in f64.
        let overflowed = hi.map(|h| h == f32::INFINITY);
        let wide_loss = if overflowed.contains(&true) {
            let (ln_hi, ln_lo) = stats.log_sum();
            let (ln_hi, ln_lo) = (lanes(ln_hi), lanes(ln_lo));
            let (m, z) = (lanes(max), lanes(target_logit));
            core::array::from_fn(|j| {
                (m[j] as f64 - z[j] as f64) + (ln_hi[j] as f64 + ln_lo[j] as f64)
            })
        } else {
            [0.0f64; W]
        };
        let mut grad_rows = grad_rest.chunks_exact_mut(classes.max(1));
        for (j, row) in rows.chunks_exact(classes.max(1)).enumerate().take(W) {
            let lane = j & (W - 1);
            let grad_row = grad_rows.next().unwrap_or(&mut []);
            let Some(t) = targets[lane] else {
                grad_row.fill(0.0);
                row_loss(first + j, 0.0, 0.0);
                continue;
            };
            let loss = if !finite[lane] {
                let loss = one_lane_cross_entropy::class_row(row, t, grad_row);
                let s = grad_scale[lane];
                grad_row.iter_mut().for_each(|g| *g *= s);
                loss as f64
            } else if overflowed[lane] {
                wide_loss[lane]
            } else {
                hi[lane] as f64 + lo[lane] as f64
            };
            row_loss(first + j, weights[lane], loss);
        }
    }
}
