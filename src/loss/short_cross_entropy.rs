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
use super::options::ClassIndex;
use crate::lane::{Lane, Narrow, RowSimd, Simd, load_partial, store_partial};
use crate::math::two_sum;
use crate::softmax::short_rows::{
    ClassCount, RowGroup, ShortStats, W, analyze_medium_row, analyze_row, lanes,
    medium_max_and_pass, medium_stats_with_max, row_value, row_vector_fits, store_row,
    tree_sum_lanes, with_class_count,
};
use crate::softmax::{exp_shifted, weighted_gap};

/// What the gradient needs besides the exponentials, and the loss as
/// hi + lo (rounded once when returned as f32, added in f64 by batches).
struct Finish<V> {
    loss: (V, V),
    inv_sum: V,
    target_grad: V,
}

#[inline(always)]
fn finish<V: Lane>(stats: &ShortStats<V>, target_logit: V, target_exp: V) -> Finish<V> {
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
    if row_vector_fits(logits.len()) {
        class_row_in::<RowSimd>(logits, class, grad)
    } else {
        class_row_in::<Simd>(logits, class, grad)
    }
}

/// [`class_row`] with the row in vectors `V` ([`row_vector_fits`]).
#[inline(always)]
fn class_row_in<V: Lane + Narrow>(logits: &[f32], class: usize, grad: &mut [f32]) -> (f32, f32) {
    let row = match analyze_row::<V>(logits) {
        Ok(row) => row,
        Err(_) => {
            return (one_lane_cross_entropy::class_row(logits, class, grad), 0.0);
        }
    };
    let target_logit = logits.get(class).map_or(f32::NAN, |&z| z);
    // e^{z_t−m} as the row's exponentials hold it: the same operations
    // on the same inputs as `exp_shifted` of z_t, the same bits.
    let target_exp = row_value(&row.exps, logits.len(), class);
    let done = finish(&row.stats, target_logit, target_exp);
    if !grad.is_empty() {
        let inv = V::splat(done.inv_sum);
        store_row(row.exps.map(|e| e * inv), grad);
        if let Some(g) = grad.get_mut(class) {
            *g = done.target_grad;
        }
    }
    done.loss
}

/// Loss of a row of 2W < n ≤ `MEDIUM_ROW_MAX` logits against `class`
/// (< n) by the row-order analysis ([`analyze_medium_row`]) and the short
/// rows' finishing: the pair hi + lo summed in f64 (exact; rounded to f32
/// it is the f32 sum hi + lo), or where hi overflows, (m − z_t) + ln S in
/// f64 (a batch may weight it back into range). Writes the gradient times
/// `factor` into `grad` unless it is empty (else as long as `logits`):
/// `factor` = 1 is exact, so a batch row scaled by 1 has the single-row
/// bits. Rows whose maximum is NaN or ±inf take the f32 kernel of
/// [`one_lane_cross_entropy`], as short rows do.
pub(crate) fn medium_class_row(logits: &[f32], class: usize, grad: &mut [f32], factor: f32) -> f64 {
    let stats = match analyze_medium_row(logits, grad, false) {
        Ok(stats) => stats,
        Err(_) => {
            let loss = one_lane_cross_entropy::class_row(logits, class, grad);
            if factor != 1.0 {
                grad.iter_mut().for_each(|g| *g *= factor);
            }
            return loss as f64;
        }
    };
    let target_logit = logits.get(class).map_or(f32::NAN, |&z| z);
    // e^{z_t−m} as the gradient buffer holds it (the same bits as
    // `exp_shifted` of z_t), computed only for a loss without gradient.
    let target_exp = match grad.get(class) {
        Some(&e) => e,
        None => exp_shifted(target_logit, -stats.max),
    };
    let done = finish(&stats, target_logit, target_exp);
    if !grad.is_empty() {
        let (inv, f) = (
            <Simd as Lane>::splat(done.inv_sum),
            <Simd as Lane>::splat(factor),
        );
        let mut vectors = grad.chunks_exact_mut(W);
        for g in &mut vectors {
            ((Simd::load(g) * inv) * f).store(g);
        }
        let rest = vectors.into_remainder();
        for g in rest {
            *g = (*g * done.inv_sum) * factor;
        }
        if let Some(g) = grad.get_mut(class) {
            *g = done.target_grad * factor;
        }
    }
    let (hi, lo) = done.loss;
    if hi == f32::INFINITY {
        let (ln_hi, ln_lo) = stats.log_sum();
        (stats.max as f64 - target_logit as f64) + (ln_hi as f64 + ln_lo as f64)
    } else {
        hi as f64 + lo as f64
    }
}

/// A batch's loss: the f64 total of its rows' weighted losses, added in
/// row order, and each row's as f32 into `per_row` when it is given.
pub(crate) struct BatchLoss<'a> {
    pub total: f64,
    per_row: Option<&'a mut [f32]>,
}

impl<'a> BatchLoss<'a> {
    pub fn new(per_row: Option<&'a mut [f32]>) -> Self {
        Self {
            total: 0.0,
            per_row,
        }
    }

    /// Row r's plain loss L with weight w: w·L, where a zero weight (or an
    /// ignored row) takes no part, even in an infinite loss.
    #[inline(always)]
    pub fn add_row(&mut self, r: usize, w: f64, plain: f64) {
        let loss = if w != 0.0 || plain.is_nan() {
            w * plain
        } else {
            0.0
        };
        self.add(r, loss);
    }

    /// Row r's loss, already weighted.
    #[inline(always)]
    pub fn add(&mut self, r: usize, loss: f64) {
        if let Some(slot) = self.per_row.as_deref_mut().and_then(|p| p.get_mut(r)) {
            *slot = loss as f32;
        }
        self.total += loss;
    }

    /// Rows `first..` of unit weight (0 for an ignored row): the same sums
    /// as [`BatchLoss::add_row`] one row at a time, without its tests.
    #[inline(always)]
    pub fn add_unweighted_rows(&mut self, first: usize, losses: &[f64]) {
        for &loss in losses {
            self.total += loss;
        }
        let rows = first..first.saturating_add(losses.len());
        if let Some(slots) = self.per_row.as_deref_mut().and_then(|p| p.get_mut(rows)) {
            for (slot, &loss) in slots.iter_mut().zip(losses) {
                *slot = loss as f32;
            }
        }
    }
}

/// A batch's class targets, validated: each in 0..C, or the ignore index.
#[derive(Clone, Copy)]
pub(crate) struct ClassTargets<'a, T> {
    pub classes: &'a [T],
    pub ignore: Option<i128>,
}

impl<T: ClassIndex> ClassTargets<'_, T> {
    /// Row r's class, `None` for an ignored row (or past the batch).
    #[inline(always)]
    pub fn class(&self, r: usize) -> Option<usize> {
        let class = self.classes.get(r)?.value();
        (Some(class) != self.ignore).then_some(class as usize)
    }

    /// The classes of rows `first..` (at most W) as f32, −1 for an ignored
    /// row or a lane past the batch.
    #[inline(always)]
    fn lanes(&self, first: usize) -> [f32; W] {
        let mut lanes = [-1.0f32; W];
        let rows = self.classes.get(first..).unwrap_or(&[]);
        for (lane, &t) in lanes.iter_mut().zip(rows) {
            let class = t.value();
            if Some(class) != self.ignore {
                // Validated, 0 ≤ class < C ≤ 2W: exact, and through i32
                // (an i128 conversion is a library call).
                *lane = class as i32 as f32;
            }
        }
        lanes
    }
}

/// A row's weight for its class `t`: 1 without class weights, 0 for a
/// class past them (validated away by the callers).
pub(crate) fn class_weight(class_weights: Option<&[f32]>, t: usize) -> f64 {
    class_weights.map_or(1.0, |w| w.get(t).map_or(0.0, |&v| v as f64))
}

/// A batch of short rows (or of rows up to `MEDIUM_ROW_MAX`, one at a
/// time by [`medium_class_row`]): row r of `logits` (rows of `classes` logits)
/// against its class in `targets`, or none for a row to ignore (zero
/// gradient, a zero loss), weighted by w = `class_weights[t]` (1 without
/// them). Its plain loss L goes to `loss.add_row(r, w, L)` in f64 (the
/// single-row call returns L rounded to f32, even where that overflows to
/// +inf and w·L does not); its gradient times f·w, f = `scale`, is written
/// into `grad` (unless empty, else as long as `logits`). Times 1 is exact,
/// so an unweighted sum keeps the single-row bits.
pub(crate) fn batch<T: ClassIndex>(
    logits: &[f32],
    classes: usize,
    targets: ClassTargets<T>,
    class_weights: Option<&[f32]>,
    scale: f64,
    grad: &mut [f32],
    loss: &mut BatchLoss,
) {
    if classes > 2 * W {
        // Without class weights w = 1 is a constant of its own copy.
        match class_weights {
            None => medium_rows(logits, classes, targets, |_| 1.0, scale, grad, loss),
            Some(w) => {
                let weight = |t| class_weight(Some(w), t);
                medium_rows(logits, classes, targets, weight, scale, grad, loss);
            }
        }
        return;
    }
    with_class_count!(classes, k => short_batch(
        logits, k, targets, class_weights, scale, grad, loss,
    ))
}

/// [`batch`] for rows of at most 2W, W rows at a time.
fn short_batch<T: ClassIndex>(
    logits: &[f32],
    class_count: impl ClassCount,
    targets: ClassTargets<T>,
    class_weights: Option<&[f32]>,
    scale: f64,
    grad: &mut [f32],
    loss: &mut BatchLoss,
) {
    let splat = <Simd as Lane>::splat;
    let classes = class_count.get();
    let group_len = W.saturating_mul(classes).max(1);
    let mut group = RowGroup::new(class_count);
    for (g, rows) in logits.chunks(group_len).enumerate() {
        let first = g * W;
        let base = first * classes;
        // The rest of the gradient: stores may spill into the next group's
        // rows, which that group overwrites.
        let grad_rest = grad.get_mut(base..).unwrap_or(&mut []);
        // Whole groups hold W rows; only a batch's last divides.
        let held = if rows.len() == group_len {
            W
        } else {
            rows.len() / classes.max(1)
        };
        // Per lane: the row's class, −1 for an ignored row (or a lane
        // without a row). The target logits are then picked from the class
        // vectors (`RowGroup::at_class`), not loaded row by row.
        let class_lanes = targets.lanes(first);
        let target_class = Simd::load(&class_lanes);
        let has_target = target_class.gt(splat(-1.0));
        // Loaded from the rest of the batch, so only its last rows need
        // partial vectors.
        group.load(logits.get(base..).unwrap_or(rows));
        let target_logit = group.at_class(target_class);
        let (max, min) = group.max_min();
        let stats = group.analyze(max, min, true);
        let done = finish(&stats, target_logit, exp_shifted(target_logit, -max));
        // The gradient's factor f·w per lane, 0 for an ignored row.
        let grad_scale = match class_weights {
            None => <Simd as Lane>::select_or_zero(has_target, splat(scale as f32)),
            Some(_) => {
                // A loop, not `class_lanes.map(..)`: that stayed an
                // out-of-line call per group (see `lane_target`).
                let mut factor = [0.0f32; W];
                for (f, &c) in factor.iter_mut().zip(&class_lanes) {
                    if c >= 0.0 {
                        *f = (scale * class_weight(class_weights, c as usize)) as f32;
                    }
                }
                Simd::load(&factor)
            }
        };
        if !grad_rest.is_empty() {
            // The class counted in a vector, as in `RowGroup::at_class`.
            let mut i = splat(0.0);
            for x in group.rows_by_class_mut() {
                let g = *x * done.inv_sum;
                *x = <Simd as Lane>::select(target_class.eq(i), done.target_grad, g) * grad_scale;
                i += splat(1.0);
            }
            group.store(grad_rest, true);
        }
        let (hi, lo) = (lanes(done.loss.0), lanes(done.loss.1));
        // Every row with a finite maximum and a loss within f32 (the rule):
        // each row's loss is its pair, and an ignored row's gradient is
        // already 0 (its factor is 0, every element finite and ≥ 0).
        let finite = max.abs().lt(splat(f32::INFINITY));
        let within = done.loss.0.lt(splat(f32::INFINITY));
        if <Simd as Lane>::all(finite & within) {
            // Each lane's class and plain loss, by iterators: no index for
            // the panic-free builds to prove in range.
            let plain = class_lanes
                .into_iter()
                .zip(hi.into_iter().zip(lo))
                .map(|(c, (h, l))| (c, h as f64 + l as f64));
            match class_weights {
                // w = 1, or 0 for an ignored row: the group's losses at once.
                None => {
                    let mut losses = [0.0f64; W];
                    for (slot, (c, pair)) in losses.iter_mut().zip(plain) {
                        *slot = if c < 0.0 { 0.0 } else { pair };
                    }
                    loss.add_unweighted_rows(first, losses.get(..held).unwrap_or(&[]));
                }
                Some(_) => {
                    for (j, (c, pair)) in plain.enumerate().take(held) {
                        if c < 0.0 {
                            loss.add_row(first + j, 0.0, 0.0);
                        } else {
                            let w = class_weight(class_weights, c as usize);
                            loss.add_row(first + j, w, pair);
                        }
                    }
                }
            }
            continue;
        }
        let (ln_hi, ln_lo) = stats.log_sum();
        let apart = GroupLanes {
            class: class_lanes,
            grad_scale: lanes(grad_scale),
            max: lanes(max),
            target_logit: lanes(target_logit),
            loss: (hi, lo),
            log_sum: (lanes(ln_hi), lanes(ln_lo)),
        };
        group_rows_apart(rows, classes, first, &apart, class_weights, grad_rest, loss);
    }
}

/// What [`group_rows_apart`] needs of a group, by lane.
struct GroupLanes {
    class: [f32; W],
    grad_scale: [f32; W],
    max: [f32; W],
    target_logit: [f32; W],
    loss: ([f32; W], [f32; W]),
    log_sum: ([f32; W], [f32; W]),
}

/// The losses (and the gradients of rows whose maximum is NaN or ±inf)
/// of a group's rows one at a time, for a group with such a row or a loss
/// past f32::MAX. Out of line: [`short_batch`] has a copy per class count,
/// and this rare path would repeat in each.
#[inline(never)]
fn group_rows_apart(
    rows: &[f32],
    classes: usize,
    first: usize,
    group: &GroupLanes,
    class_weights: Option<&[f32]>,
    grad: &mut [f32],
    loss: &mut BatchLoss,
) {
    let mut grad_rows = grad.chunks_exact_mut(classes.max(1));
    let lanes = group.class.iter().zip(group.grad_scale).zip(group.max);
    let lanes = lanes
        .zip(group.target_logit)
        .zip(group.loss.0.into_iter().zip(group.loss.1));
    let lanes = lanes.zip(group.log_sum.0.into_iter().zip(group.log_sum.1));
    for (j, (row, lane)) in rows.chunks_exact(classes.max(1)).zip(lanes).enumerate() {
        let ((((&c, grad_scale), m), z), (hi, lo)) = lane.0;
        let (ln_hi, ln_lo) = lane.1;
        let grad_row = grad_rows.next().unwrap_or(&mut []);
        if c < 0.0 {
            grad_row.fill(0.0);
            loss.add_row(first + j, 0.0, 0.0);
            continue;
        }
        let t = c as usize;
        let plain = if !m.is_finite() {
            let plain = one_lane_cross_entropy::class_row(row, t, grad_row);
            grad_row.iter_mut().for_each(|g| *g *= grad_scale);
            plain as f64
        } else if hi == f32::INFINITY {
            // A loss beyond f32::MAX (a gap m − z_t near 2·f32::MAX) may be
            // finite once weighted: such rows get it in f64.
            (m as f64 - z as f64) + (ln_hi as f64 + ln_lo as f64)
        } else {
            hi as f64 + lo as f64
        };
        loss.add_row(first + j, class_weight(class_weights, t), plain);
    }
}

/// [`batch`]'s rows of more than two vectors, one at a time in row order,
/// row r weighted by `weight(class)`.
fn medium_rows<T: ClassIndex>(
    logits: &[f32],
    classes: usize,
    targets: ClassTargets<T>,
    weight: impl Fn(usize) -> f64,
    scale: f64,
    grad: &mut [f32],
    loss: &mut BatchLoss,
) {
    let mut grad_rows = grad.chunks_exact_mut(classes.max(1));
    for (r, row) in logits.chunks_exact(classes.max(1)).enumerate() {
        let g = grad_rows.next().unwrap_or(&mut []);
        match targets.class(r) {
            Some(t) => {
                let w = weight(t);
                loss.add_row(r, w, medium_class_row(row, t, g, (scale * w) as f32));
            }
            None => {
                g.fill(0.0);
                loss.add_row(r, 0.0, 0.0);
            }
        }
    }
}

/// Label smoothing ε > 0 over a batch (with optional class weights w):
/// row r's target is q = a·onehot(t) + b·w with a = (1 − ε)·w_t,
/// b = ε/C and Σq = a + b·Σw, as the long-row kernel reads it.
pub(crate) struct Smoothing<'w> {
    pub epsilon: f64,
    pub weights: Option<&'w [f32]>,
    /// Σ wᵢ over the classes (C without weights).
    pub weight_sum: f64,
    /// ε/C, the smoothed share of each class.
    pub spread: f64,
}

impl Smoothing<'_> {
    fn weight(&self, i: usize) -> f32 {
        self.weights.map_or(1.0, |w| w.get(i).map_or(0.0, |&v| v))
    }

    /// A row's loss, its gradient coefficient c = f·Σq/S (f = `scale`) and
    /// its target's gradient element, in f64 from the f32 pairs of its
    /// statistics, as the long-row kernel forms them; `None` outside the
    /// ranges where that holds (a maximum or weighted gap sum that is not
    /// finite, c > 1, or f·ε/C beyond f32::MAX).
    #[inline(always)]
    fn finish_row(
        &self,
        sums: &RowSums,
        t: usize,
        z_t: f32,
        target_exp: f32,
        scale: f64,
    ) -> Option<SmoothedRow> {
        let pair = |(hi, lo): (f32, f32)| hi as f64 + lo as f64;
        let b = self.spread;
        let w_t = self.weight(t) as f64;
        let a = (1.0 - self.epsilon) * w_t;
        let total = a + b * self.weight_sum;
        let (s, s_excess) = (pair(sums.sum), pair(sums.excess));
        let c = scale * total / s;
        if !(sums.max.is_finite() && sums.gaps.0.is_finite() && c <= 1.0)
            || scale * b > f32::MAX as f64
        {
            return None;
        }
        let own = if a > 0.0 {
            a * (sums.max as f64 - z_t as f64)
        } else {
            0.0
        };
        let loss = own + b * pair(sums.gaps) + total * pair(sums.log_sum);
        let q_t = a + b * w_t;
        let g_t = if z_t == sums.max && sums.ties == 1.0 {
            ((total - q_t) - q_t * s_excess) / s
        } else {
            target_exp as f64 * total / s - q_t
        };
        Some(SmoothedRow {
            loss,
            c: c as f32,
            target_grad: (scale * g_t) as f32,
        })
    }
}

/// [`smoothed_batch`] for rows of more than two vectors (up to
/// `MEDIUM_ROW_MAX`): one at a time in row order. (Dispatched by the
/// caller: as a branch inside [`smoothed_batch`] it slowed the groups by
/// 7%, fastest rounds at 256×10.)
#[allow(clippy::too_many_arguments)]
pub(crate) fn smoothed_rows_in_order(
    logits: &[f32],
    classes: usize,
    smoothing: &Smoothing,
    target: impl Fn(usize) -> Option<usize>,
    scale: f64,
    grad: &mut [f32],
    fallback: impl Fn(usize, &[f32], usize, &mut [f32]) -> f64,
    mut row_loss: impl FnMut(usize, f64),
) {
    let coef_f32 = (scale * smoothing.spread) as f32;
    let c = classes.max(1);
    let mut grad_rows = grad.chunks_exact_mut(c);
    for (r, row) in logits.chunks_exact(c).enumerate() {
        let g = grad_rows.next().unwrap_or(&mut []);
        let Some(t) = target(r).filter(|&t| t < classes) else {
            g.fill(0.0);
            row_loss(r, 0.0);
            continue;
        };
        let loss = smoothed_row_in_order(row, t, smoothing, scale, coef_f32, g)
            .unwrap_or_else(|| fallback(r, row, t, g));
        row_loss(r, loss);
    }
}

/// A label-smoothed row of more than two vectors in row order, as
/// [`smoothed_batch`] finishes a group's rows: its loss, with the gradient
/// written into `grad` (unless empty); `None` for a row outside the ranges
/// of [`Smoothing::finish_row`] (its caller takes the long-row kernel,
/// which overwrites `grad`). `coef_f32` = f·ε/C rounded to f32.
fn smoothed_row_in_order(
    row: &[f32],
    t: usize,
    smoothing: &Smoothing,
    scale: f64,
    coef_f32: f32,
    grad: &mut [f32],
) -> Option<f64> {
    let (max, pass) = medium_max_and_pass(row).ok()?;
    let gaps = weighted_gaps_in_order(row, max, smoothing.weights);
    if !gaps.0.is_finite() {
        return None;
    }
    let stats = medium_stats_with_max(max, pass, row, grad);
    let z_t = row.get(t).copied()?;
    // e^{z_t−m} as the gradient buffer holds it (the same bits).
    let target_exp = match grad.get(t) {
        Some(&e) => e,
        None => exp_shifted(z_t, -max),
    };
    let sums = RowSums {
        max,
        ties: stats.ties,
        sum: (stats.sum, stats.sum_lo),
        excess: (stats.excess, stats.excess_lo),
        log_sum: stats.log_sum(),
        gaps,
    };
    let done = smoothing.finish_row(&sums, t, z_t, target_exp, scale)?;
    if !grad.is_empty() {
        let splat = <Simd as Lane>::splat;
        let (c, coef) = (splat(done.c), splat(coef_f32));
        let grad_of = |e: Simd, w: Simd| e.mul_add(c, -(coef * w));
        let mut vectors = grad.chunks_exact_mut(W);
        match smoothing.weights {
            None => {
                for g in &mut vectors {
                    grad_of(Simd::load(g), splat(1.0)).store(g);
                }
            }
            Some(weights) => {
                for (g, w) in (&mut vectors).zip(weights.chunks_exact(W)) {
                    grad_of(Simd::load(g), Simd::load(w)).store(g);
                }
            }
        }
        let rest = vectors.into_remainder();
        let start = row.len() - rest.len();
        let w = match smoothing.weights {
            None => splat(1.0),
            Some(weights) => load_partial(weights.get(start..).unwrap_or(&[]), 0.0),
        };
        store_partial(grad_of(load_partial(rest, 0.0), w), rest);
        if let Some(g) = grad.get_mut(t) {
            *g = done.target_grad;
        }
    }
    Some(done.loss)
}

/// Σ wᵢ·(m − zᵢ) over a row in row order as an f32 pair, classes of
/// weight 0 adding nothing (even where masked): each lane sums its terms
/// with TwoSum and the lanes meet in the short rows' tree, within
/// 2u + (k·u)² of the exact sum of the rounded terms (k terms a lane).
fn weighted_gaps_in_order(row: &[f32], max: f32, weights: Option<&[f32]>) -> (f32, f32) {
    let splat = <Simd as Lane>::splat;
    let (m, zero) = (splat(max), splat(0.0));
    let (mut hi, mut lo) = (zero, zero);
    let mut add = |x: Simd, w: Simd| {
        let term = <Simd as Lane>::select_or_zero(w.gt(zero), weighted_gap(w, m, x));
        let (s, err) = two_sum(hi, term);
        hi = s;
        lo += err;
    };
    let mut vectors = row.chunks_exact(W);
    match weights {
        None => {
            for x in &mut vectors {
                add(Simd::load(x), splat(1.0));
            }
        }
        Some(w) => {
            for (x, w) in (&mut vectors).zip(w.chunks_exact(W)) {
                add(Simd::load(x), Simd::load(w));
            }
        }
    }
    let rest = vectors.remainder();
    if !rest.is_empty() {
        // Padding: x = m (a zero gap) and weight 0.
        let start = row.len() - rest.len();
        let w = match weights {
            None => {
                <Simd as Lane>::select(<Simd as Lane>::first_lanes(rest.len()), splat(1.0), zero)
            }
            Some(w) => load_partial(w.get(start..).unwrap_or(&[]), 0.0),
        };
        add(load_partial(rest, max), w);
    }
    tree_sum_lanes(hi, lo)
}

/// The statistics a smoothed row is finished from, as f32 pairs (hi, lo):
/// S, s′ = S − 1, ln S and the weighted gaps Σ wᵢ·(m − zᵢ).
struct RowSums {
    max: f32,
    ties: f32,
    sum: (f32, f32),
    excess: (f32, f32),
    log_sum: (f32, f32),
    gaps: (f32, f32),
}

/// [`Smoothing::finish_row`]'s results.
struct SmoothedRow {
    loss: f64,
    c: f32,
    target_grad: f32,
}

/// A batch of short rows with label smoothing, W rows at a time as in
/// [`batch`]: row r against class `target(r)` (`None`: ignored, zero
/// gradient and loss), its loss −Σ qᵢ·log_softmaxᵢ = a·(m − z_t) +
/// b·Σ wᵢ·(m − zᵢ) + Σq·ln S to `row_loss(r, loss)` and f·(softmax·Σq − q),
/// f = `scale`, into `grad` (unless empty, else as long as `logits`).
///
/// The forms and roundings are the long-row kernel's for a class target:
/// the per-row quantities in f64 from the f32 pairs of the row statistics,
/// the weighted gaps as f32 products summed with TwoSum (within 2u + C·u²
/// where the long kernel's blocked sum allows 5.1u), each gradient element
/// e·c − f·b·wᵢ with c = f·Σq/S by one multiply-add and the target's
/// element from the cancellation-free form at a unique argmax. Rows outside
/// the ranges where that holds take `fallback(r, row, class, grad_row)`,
/// the long-row kernel, which returns the loss: a maximum that is NaN or
/// ±inf, a masked logit carrying weight or a weighted gap beyond f32 (the
/// sum is not finite), or c > 1 or f·b beyond f32::MAX (large weights
/// where a subnormal exponential's lost bits would be scaled up).
#[allow(clippy::too_many_arguments)]
pub(crate) fn smoothed_batch<T: ClassIndex>(
    logits: &[f32],
    classes: usize,
    smoothing: &Smoothing,
    targets: ClassTargets<T>,
    scale: f64,
    grad: &mut [f32],
    fallback: impl Fn(usize, &[f32], usize, &mut [f32]) -> f64,
    mut row_loss: impl FnMut(usize, f64),
) {
    with_class_count!(classes, k => smoothed_groups(
        logits, k, smoothing, targets, scale, grad, &fallback, &mut row_loss,
    ))
}

/// [`smoothed_batch`] with the class count `class_count`.
#[allow(clippy::too_many_arguments)]
fn smoothed_groups<T: ClassIndex>(
    logits: &[f32],
    class_count: impl ClassCount,
    smoothing: &Smoothing,
    targets: ClassTargets<T>,
    scale: f64,
    grad: &mut [f32],
    fallback: impl Fn(usize, &[f32], usize, &mut [f32]) -> f64,
    mut row_loss: impl FnMut(usize, f64),
) {
    let splat = <Simd as Lane>::splat;
    let classes = class_count.get();
    let group_len = W.saturating_mul(classes).max(1);
    let b = smoothing.spread;
    let coef = scale * b;
    let coef_f32 = coef as f32;
    let mut group = RowGroup::new(class_count);
    for (g, rows) in logits.chunks(group_len).enumerate() {
        let first = g * W;
        let grad_rest = grad.get_mut(first * classes..).unwrap_or(&mut []);
        group.load(logits.get(first * classes..).unwrap_or(rows));
        let (max, min) = group.max_min();
        // Σ wᵢ·(m − zᵢ) per row, before the exponentials overwrite z; a
        // zero-weight class adds nothing, even where it is masked.
        let finite_max = max.abs().lt(splat(f32::INFINITY));
        let m = <Simd as Lane>::select(finite_max, max, splat(0.0));
        let (mut gaps, mut gaps_lo) = (splat(0.0), splat(0.0));
        let mut add_gap = |w: f32, x: Simd| {
            let (s, err) = two_sum(gaps, weighted_gap(splat(w), m, x));
            gaps = s;
            gaps_lo += err;
        };
        match smoothing.weights {
            None => group.rows_by_class().iter().for_each(|&x| add_gap(1.0, x)),
            Some(weights) => {
                for (&x, &w) in group.rows_by_class().iter().zip(weights) {
                    if w > 0.0 {
                        add_gap(w, x);
                    }
                }
            }
        }
        // The targets' logits from the class vectors, before the
        // exponentials overwrite them (0 for an ignored row).
        let class_lanes = targets.lanes(first);
        let target_class = Simd::load(&class_lanes);
        let target_logit = lanes(group.at_class(target_class));
        let stats = group.analyze(max, min, true);
        let (ln_hi, ln_lo) = stats.log_sum();
        let mut targets = [None; W];
        for (t, &class) in targets.iter_mut().zip(&class_lanes) {
            *t = lane_target(class);
        }
        let target_exp = lanes(exp_shifted(Simd::load(&target_logit), -max));
        let [
            max_l,
            ties,
            excess,
            excess_lo,
            sum,
            sum_lo,
            ln_hi,
            ln_lo,
            gaps,
            gaps_lo,
        ] = [
            max,
            stats.ties,
            stats.excess,
            stats.excess_lo,
            stats.sum,
            stats.sum_lo,
            ln_hi,
            ln_lo,
            gaps,
            gaps_lo,
        ]
        .map(lanes);
        // The forms of `Smoothing::finish_row`, written out per lane:
        // through that function the groups ran 6% slower (fastest rounds of
        // the 256×10 smoothed batch, both builds).
        let pair = |hi: [f32; W], lo: [f32; W], j: usize| hi[j] as f64 + lo[j] as f64;
        let mut losses = [0.0f64; W];
        let mut long = [false; W];
        let mut c = [0.0f32; W];
        let mut target_grad = [0.0f32; W];
        let mut target_class = [-1.0f32; W];
        for (j, t) in targets.iter().enumerate() {
            let Some(t) = *t else { continue };
            let w_t = smoothing.weight(t) as f64;
            let a = (1.0 - smoothing.epsilon) * w_t;
            let total = a + b * smoothing.weight_sum;
            let (s, s_excess) = (pair(sum, sum_lo, j), pair(excess, excess_lo, j));
            let row_c = scale * total / s;
            if !(max_l[j].is_finite() && gaps[j].is_finite() && row_c <= 1.0)
                || coef > f32::MAX as f64
            {
                long[j] = true;
                continue;
            }
            let z_t = target_logit[j] as f64;
            let own = if a > 0.0 {
                a * (max_l[j] as f64 - z_t)
            } else {
                0.0
            };
            losses[j] = own + b * pair(gaps, gaps_lo, j) + total * pair(ln_hi, ln_lo, j);
            let q_t = a + b * w_t;
            let g_t = if target_logit[j] == max_l[j] && ties[j] == 1.0 {
                ((total - q_t) - q_t * s_excess) / s
            } else {
                target_exp[j] as f64 * total / s - q_t
            };
            c[j] = row_c as f32;
            target_grad[j] = (scale * g_t) as f32;
            target_class[j] = t as f32;
        }
        if !grad_rest.is_empty() {
            let (c, target_grad) = (Simd::load(&c), Simd::load(&target_grad));
            let target_class = Simd::load(&target_class);
            // The class counted in a vector, as in `RowGroup::at_class`.
            let mut i = splat(0.0);
            let mut grad_of = |x: &mut Simd, shift: Simd| {
                let own = target_class.eq(i);
                *x = <Simd as Lane>::select(own, target_grad, x.mul_add(c, shift));
                i += splat(1.0);
            };
            match smoothing.weights {
                // f·b·1, the same bits as with a weight of 1.
                None => {
                    let shift = -splat(coef_f32);
                    group
                        .rows_by_class_mut()
                        .iter_mut()
                        .for_each(|x| grad_of(x, shift));
                }
                Some(weights) => {
                    let weights = weights.iter().chain(core::iter::repeat(&0.0));
                    for (x, &w) in group.rows_by_class_mut().iter_mut().zip(weights) {
                        grad_of(x, -(splat(coef_f32) * splat(w)));
                    }
                }
            }
            group.store(grad_rest, true);
        }
        let mut grad_rows = grad_rest.chunks_exact_mut(classes.max(1));
        for (j, row) in rows.chunks_exact(classes.max(1)).enumerate().take(W) {
            let lane = j & (W - 1);
            let grad_row = grad_rows.next().unwrap_or(&mut []);
            let loss = match targets[lane] {
                None => {
                    grad_row.fill(0.0);
                    0.0
                }
                Some(t) if long[lane] => fallback(first + j, row, t, grad_row),
                Some(_) => losses[lane],
            };
            row_loss(first + j, loss);
        }
    }
}

/// A lane's target class from its `class_lanes` entry (−1: none), filled
/// in by a loop: `class_lanes.map(..)` into `[Option<usize>; W]` stayed an
/// out-of-line `array::map` call per group of rows in some builds
/// (`docs/performance.md`, "Out-of-line calls in a downstream build").
#[inline(always)]
fn lane_target(class: f32) -> Option<usize> {
    (class >= 0.0).then_some(class as usize)
}
