//! Softmax cross-entropy on builds whose lane is one `f32` (Cortex-M,
//! RISC-V, wasm without simd128): the forms of the vector kernels in
//! [`super::softmax_cross_entropy`], with each of their f64 quantities held
//! as an unevaluated pair of f32 (hi + lo, Dekker 1971,
//! [`crate::math::pair`]) instead. On a single-precision FPU every f64
//! operation is a soft-float call; without them the class-target kernel
//! with its `exp` and `ln_1p` fits in 2 KiB of flash (`docs/firmware.md`;
//! `tools/code_size.sh` enforces it in CI), and no form links f64.
//!
//! Two kernels: [`class_row`] for a plain class target (the single-row
//! call, and each row of a batch without label smoothing, so a batch row
//! has the single-row bits), and [`target_row`] for every other target (a
//! class with label smoothing, probabilities, class weights); a batch's
//! label-smoothed class rows first try [`SmoothedClasses::row`], three
//! passes from the target mass known per row, and probability targets
//! without options [`plain_probs_row`]; both leave the rows beyond their
//! ranges to [`target_row`]. The pairs
//! cost a few extra additions per element, which the vector kernels avoid
//! by flushing f32 lane sums into f64; for one lane on a Cortex-M the f32
//! pair is the cheaper of the two as well. Vector builds use [`class_row`]
//! only for rows whose maximum is NaN or ±inf (special values) in the
//! short-row kernel.

use super::options::{CrossEntropyOptions, Reduction};
use crate::lane::Lane;
use crate::math::ln_1p::ln_1p_lane;
use crate::math::pair::Pair;
use crate::math::scaled::Scaled;
use crate::math::two_sum;
use crate::reduce::row_max;
use crate::softmax::{exp_shifted, weighted_gap};

/// Loss of one row against `class` (< `logits.len()`), writing the gradient
/// softmax − onehot into `grad` unless it is empty (else it is as long as
/// `logits`). The accuracy and special values of
/// [`softmax_cross_entropy_with_grad`](crate::softmax_cross_entropy_with_grad).
///
/// Σ_{zᵢ<m} e^{zᵢ−m} is a compensated sum (TwoSum per term, errors added
/// in f32): relative error ≤ 2u + n·u² (u = 2⁻²⁴; Higham 2002, §4.3), which
/// stays below 3u for n ≤ 2²⁴. The loss (m − z_t) + ln_1p(s′) is formed
/// from the exact gap m − z_t, ln_1p of s′'s high part and s′'s low part
/// over S, and rounded once; the gradient scales each e^{zᵢ−m} by 1/S
/// corrected for S's low part.
pub(crate) fn class_row(logits: &[f32], class: usize, grad: &mut [f32]) -> f32 {
    let max = row_max::<f32>(logits);
    let target = logits.get(class).map_or(f32::NAN, |&z| z);
    if max.is_nan() {
        grad.fill(f32::NAN);
        return f32::NAN;
    }
    if max == f32::NEG_INFINITY {
        // Every class masked: the target has probability 0.
        for (i, g) in grad.iter_mut().enumerate() {
            *g = if i == class { -1.0 } else { 0.0 };
        }
        return f32::INFINITY;
    }
    if max == f32::INFINITY {
        return infinite_row(logits, class, grad);
    }
    let RowSums {
        excess,
        excess_lo,
        sum,
        sum_lo,
        ties,
        ..
    } = row_sums(logits, max, grad);

    let (gap, gap_lo) = two_sum(-target, max);
    let loss = if gap == f32::INFINITY {
        f32::INFINITY // z_t = −inf, or m − z_t beyond f32::MAX
    } else {
        let (s, err) = two_sum(ln_1p_lane(excess), gap);
        s + (err + gap_lo + excess_lo / sum)
    };

    if let Some(&target_exp) = grad.get(class) {
        let inv = 1.0 / sum;
        let inv = Lane::mul_add(inv, -(sum_lo * inv), inv);
        for g in grad.iter_mut() {
            *g *= inv;
        }
        // At a unique argmax e = 1 and softmax − 1 would cancel: −s′/S.
        let target_grad = if target == max && ties == 1 {
            -(excess + excess_lo) * inv
        } else {
            Lane::mul_add(target_exp, inv, -1.0)
        };
        if let Some(g) = grad.get_mut(class) {
            *g = target_grad;
        }
    }
    loss
}

/// Pass 2 of a row with a finite maximum m: s′ = S − 1 and S as f32
/// pairs (unnormalized: the low parts carry the compensated sum's errors)
/// and the number of entries equal to m, the last of them at `argmax`.
struct RowSums {
    excess: f32,
    excess_lo: f32,
    sum: f32,
    sum_lo: f32,
    ties: u32,
    argmax: usize,
}

impl RowSums {
    /// ln S = ln_1p(s′) + s′_lo/S as a pair. Inline: as a call, it made
    /// [`target_row`] save more registers (its frame 184 → 208 bytes on
    /// a Cortex-M4F).
    #[inline(always)]
    fn ln_sum(&self) -> Pair {
        Pair::sum(ln_1p_lane(self.excess), self.excess_lo / self.sum)
    }

    /// S as a pair.
    #[inline(always)]
    fn sum_pair(&self) -> Pair {
        Pair::sum(self.sum, self.sum_lo)
    }

    /// The gradient at the unique argmax for a target q of total Q, before
    /// the scale: (Q − q)/S − q·(s′/S), where e·Q/S − q would cancel and
    /// q·s′ alone can pass f32::MAX where the gradient does not (s′/S < 1).
    #[inline(always)]
    fn argmax_gradient(&self, total: Pair, q: Pair) -> Pair {
        let sum = self.sum_pair();
        let excess = Pair::sum(self.excess, self.excess_lo);
        total.sub(q).div(sum).sub(times(q, excess.div(sum)))
    }
}

/// Σ wᵢ·(m − zᵢ) over the classes with wᵢ > 0 (a zero weight adds
/// nothing, even at a masked logit): each term an f32 product
/// ([`weighted_gap`], 2u), summed with TwoSum, the errors added in f32.
#[derive(Default)]
struct WeightedGaps {
    hi: f32,
    lo: f32,
}

impl WeightedGaps {
    #[inline(always)]
    fn add(&mut self, w: f32, max: f32, z: f32) {
        if w > 0.0 {
            let (s, err) = two_sum(self.hi, weighted_gap(w, max, z));
            self.hi = s;
            self.lo += err;
        }
    }

    #[inline(always)]
    fn pair(&self) -> Pair {
        Pair::sum(self.hi, self.lo)
    }
}

/// Writes e^{zᵢ−m} into `grad` (unless it is empty) and sums the terms
/// below m with TwoSum, the errors added in f32 (the compensated sum of
/// [`class_row`]'s bound).
#[inline(always)]
fn row_sums(logits: &[f32], max: f32, grad: &mut [f32]) -> RowSums {
    row_sums_with(logits, max, grad, |_, _| {})
}

/// [`row_sums`], calling `each(i, zᵢ)` in the same loop.
#[inline(always)]
fn row_sums_with(
    logits: &[f32],
    max: f32,
    grad: &mut [f32],
    mut each: impl FnMut(usize, f32),
) -> RowSums {
    let neg_m = -max;
    let (mut others, mut others_lo, mut ties, mut argmax) = (0.0f32, 0.0f32, 0u32, 0);
    for (i, &x) in logits.iter().enumerate() {
        each(i, x);
        let e = exp_shifted::<f32>(x, neg_m);
        if let Some(g) = grad.get_mut(i) {
            *g = e;
        }
        if x < max {
            let (s, err) = two_sum(e, others);
            others = s;
            others_lo += err;
        } else {
            ties += 1;
            argmax = i;
        }
    }
    // s′ = Σ − 1 = others + (ties − 1) and S = 1 + s′, each as hi + lo.
    let (excess, err) = two_sum(others, ties.saturating_sub(1) as f32);
    let excess_lo = err + others_lo;
    let (sum, err) = two_sum(excess, 1.0);
    RowSums {
        excess,
        excess_lo,
        sum,
        sum_lo: err + excess_lo,
        ties,
        argmax,
    }
}

/// A row's target distribution as the one-lane kernels read it, one
/// struct for every form (one copy of the kernel in flash):
/// qᵢ = a·[i = class] + wᵢ·(keep·vᵢ + spread), with vᵢ the row's
/// probabilities (all 1 for a class target) and wᵢ the class weights (all
/// 1 without), and f the reduction's scale. A class target with smoothing
/// ε is a = (1 − ε)·w_class, keep = ε/C, spread = 0; a probability target
/// is keep = 1 − ε, spread = ε/C and no class. The factors are [`Scaled`]
/// numbers, so qᵢ keeps every digit however far the factors spread
/// (weights up to 2⁶⁰, subnormal probabilities, ε/C).
struct Target<'a> {
    class: usize,
    a: Scaled,
    values: Option<&'a [f32]>,
    weights: Option<&'a [f32]>,
    keep: Scaled,
    spread: Scaled,
    scale: Pair,
}

impl<'a> Target<'a> {
    /// Row r's probabilities `probs` with the batch's options and scale f.
    fn probs(probs: &'a [f32], options: &CrossEntropyOptions<'a>, scale: Pair) -> Self {
        let epsilon = options.label_smoothing;
        Target {
            class: usize::MAX,
            a: Scaled::ZERO,
            values: Some(probs),
            weights: options.class_weights,
            keep: Scaled::of(Pair::sum(1.0, -epsilon)),
            spread: Scaled::quotient(epsilon, probs.len()),
            scale,
        }
    }

    /// qᵢ into `q`, within a few u² (u = 2⁻²⁴): 0 only where a factor of
    /// every part is 0, NaN where vᵢ or wᵢ is.
    #[inline(never)]
    fn q_into(&self, i: usize, q: &mut Scaled) {
        *q = self.keep;
        if let Some(values) = self.values {
            let mut v = factor(values, i);
            v *= &self.keep;
            *q = v;
        }
        if !self.spread.is_zero() {
            *q += &self.spread;
        }
        if let Some(weights) = self.weights {
            let mut w = factor(weights, i);
            w *= q;
            *q = w;
        }
        if i == self.class {
            *q += &self.a;
        }
    }

    /// qᵢ·2ᵏ as a pair (see [`Scaled::to_pair`]).
    fn q_pair(&self, i: usize, k: i32) -> Pair {
        let mut q = Scaled::ZERO;
        self.q_into(i, &mut q);
        q.to_pair(k)
    }

    /// Q = Σ qᵢ over a row of `n` classes.
    fn total(&self, n: usize) -> Scaled {
        let (mut total, mut q) = (Scaled::ZERO, Scaled::ZERO);
        for i in 0..n {
            self.q_into(i, &mut q);
            total += &q;
        }
        total
    }

    /// f·2⁻ᵏ, the scale of a gradient whose target mass is in units of 2ᵏ.
    fn scale_for(&self, k: i32) -> f32 {
        let unit = if k == 0 { 1.0 } else { HUGE_SCALE };
        finite(self.scale.scale(unit)).value()
    }
}

/// vᵢ or wᵢ: entry i of `factors` (0 past their end). The f32 is read
/// here, not in the caller, which then holds no floating-point value (not
/// even the constant 0) across its calls.
#[inline(never)]
fn factor(factors: &[f32], i: usize) -> Scaled {
    Scaled::new(factors.get(i).map_or(0.0, |&x| x))
}

/// Q as a pair in the unit 2ᵏ the gradient takes it in, and k: 0, or −64
/// where Q is beyond f32 (a NaN Q stays in units of 1: every gradient
/// element it reaches is NaN).
fn gradient_units(total: &Scaled) -> (Pair, i32) {
    let k = if total.overflows(0) { HUGE_EXPONENT } else { 0 };
    (total.to_pair(k), k)
}

/// A row's loss, in units of [`HUGE_UNIT`] when `huge`.
#[derive(Clone, Copy)]
struct RowLoss {
    loss: Pair,
    huge: bool,
}

impl RowLoss {
    /// A loss in [`Scaled`] form: in units of 1 where it is within f32,
    /// else of 2⁻⁶⁴.
    fn of(loss: Scaled) -> RowLoss {
        let huge = loss.is_finite() && loss.overflows(0);
        RowLoss {
            loss: loss.to_pair(if huge { HUGE_EXPONENT } else { 0 }),
            huge,
        }
    }

    /// The loss rounded to f32 (+inf beyond f32's range).
    fn value(self) -> f32 {
        let v = self.loss.value();
        if self.huge { v * HUGE_SCALE } else { v }
    }
}

/// 2⁻⁶⁴: the unit of row losses and totals beyond f32's range (weights up
/// to 2⁶⁰ times gaps m − zᵢ up to 2·f32::MAX), which the reduction's mean
/// may bring back into it.
const HUGE_UNIT: f32 = f32::from_bits(0x1f80_0000);
/// The exponent of [`HUGE_UNIT`].
const HUGE_EXPONENT: i32 = -64;
/// 2⁶⁴ = 1 / [`HUGE_UNIT`].
const HUGE_SCALE: f32 = f32::from_bits(0x5f80_0000);

/// Loss of one row against `t`, writing f·(softmax·Q − q) into `grad`
/// unless it is empty: the forms of the vector kernels, with their f64
/// quantities as f32 pairs and [`Scaled`] numbers.
///
/// loss = Σ qᵢ·(m − zᵢ + ln S) (0·inf = 0), the vector kernels'
/// Σ qᵢ·(m − zᵢ) + Q·ln S with Q's rounding gone. Each gap m − zᵢ is exact
/// (from halves, exact for m and zᵢ above 2⁻¹²⁵, so none overflows) and
/// ln S carries the 6u + n·u² of [`class_row`]'s derivation (u = 2⁻²⁴),
/// so each dᵢ = m − zᵢ + ln S is within 6u; the products qᵢ·dᵢ and their
/// sum, as [`Scaled`] numbers, add a few u², and the final rounding u:
/// within 7u + n·u², which the documented bound of 4 ULP (> 4u) plus 2⁻²²
/// (4u) covers. A loss beyond f32 is kept in units of 2⁻⁶⁴, so a mean can
/// still bring it back. The gradient is (eᵢ·(Q/S) − qᵢ)·f, f applied last
/// so that no product overflows unless the gradient does and none is
/// inf − inf, and at a unique argmax ((Q − qᵢ)/S − qᵢ·(s′/S))·f, which does
/// not cancel.
fn target_row(logits: &[f32], t: &Target, grad: &mut [f32]) -> RowLoss {
    let max = row_max::<f32>(logits);
    if !max.is_finite() {
        return special_row(logits, max, t, grad);
    }
    let sums = row_sums(logits, max, grad);
    let half_ln_sum = sums.ln_sum().scale(0.5);
    let (mut loss, mut total, mut masked) = (Scaled::ZERO, Scaled::ZERO, false);
    let mut q = Scaled::ZERO;
    for (i, &z) in logits.iter().enumerate() {
        t.q_into(i, &mut q);
        total += &q;
        if q.is_nan() {
            loss = q;
        } else if !q.is_zero() {
            // A class with qᵢ = 0 adds nothing, even at zᵢ = −inf.
            if z == f32::NEG_INFINITY {
                masked = true;
            } else {
                let mut term = Scaled::of(Pair::sum(0.5 * max, -0.5 * z).add(half_ln_sum));
                term *= &q;
                loss += &term;
            }
        }
    }
    // +inf where a masked logit (−inf) carries target weight.
    if masked && !loss.is_nan() {
        loss = Scaled::INFINITY;
    }
    if !grad.is_empty() {
        target_grad(&sums, t, &total, grad);
    }
    // The sum of half gaps, doubled.
    loss *= &Scaled::new(2.0);
    RowLoss::of(loss)
}

/// The gradient of [`target_row`] from the exponentials e^{zᵢ−m} in `grad`.
fn target_grad(sums: &RowSums, t: &Target, total: &Scaled, grad: &mut [f32]) {
    let (total, k) = gradient_units(total);
    let total = finite(total);
    let c = total.div(sums.sum_pair()).value();
    let f = t.scale_for(k);
    for (i, g) in grad.iter_mut().enumerate() {
        *g = Lane::mul_add(*g, c, -t.q_pair(i, k).value()) * f;
    }
    if sums.ties == 1 {
        let precise = sums.argmax_gradient(total, t.q_pair(sums.argmax, k));
        if let Some(g) = grad.get_mut(sums.argmax) {
            *g = precise.value() * f;
        }
    }
}

/// A row whose maximum is NaN, −inf or +inf: the special values of the
/// vector kernels (`docs/contract.md`), element by element, in units of
/// 2⁻⁶⁴ where Q is beyond f32 (as in [`target_row`]).
#[inline(never)]
fn special_row(logits: &[f32], max: f32, t: &Target, grad: &mut [f32]) -> RowLoss {
    let nan = RowLoss {
        loss: Pair::new(f32::NAN),
        huge: false,
    };
    if max.is_nan() {
        grad.fill(f32::NAN);
        return nan;
    }
    // k entries at +inf share the softmax (1/k each); none if every
    // entry is −inf.
    let count = logits.iter().filter(|&&z| z == f32::INFINITY).count();
    let (total, k) = gradient_units(&t.total(logits.len()));
    let share = if count > 0 {
        finite(total).div(Pair::new(count as f32))
    } else {
        Pair::ZERO
    };
    let f = t.scale_for(k);
    let (mut at_inf, mut elsewhere) = (Pair::ZERO, false);
    let mut q = Scaled::ZERO;
    for (i, &z) in logits.iter().enumerate() {
        t.q_into(i, &mut q);
        let q_unit = q.to_pair(k);
        let own = if z == f32::INFINITY {
            share
        } else {
            Pair::ZERO
        };
        if let Some(g) = grad.get_mut(i) {
            *g = own.sub(q_unit).value() * f;
        }
        if !q.is_zero() {
            if z == f32::INFINITY {
                at_inf = at_inf.add(q_unit);
            } else {
                elsewhere = true;
            }
        }
    }
    let loss = if total.hi.is_nan() {
        return nan;
    } else if elsewhere {
        Pair::new(f32::INFINITY)
    } else if count == 0 {
        Pair::ZERO
    } else {
        // ln k = 0 for k = 1: 0, even where Q overflowed.
        times(
            at_inf,
            Pair::new(ln_1p_lane(count.saturating_sub(1) as f32)),
        )
    };
    RowLoss { loss, huge: k != 0 }
}

/// A class-target row of a batch without label smoothing: the single-row
/// kernel's loss L and gradient (its bits), times the row's weight w and
/// the scale f. w·L is a pair (exact), in units of 2⁻⁶⁴ beyond f32; an L
/// that overflowed f32 with a finite target logit (a gap near
/// 2·f32::MAX) is recomputed as the weighted row a = w, b = 0, which a
/// small weight or the mean may bring back into range.
fn plain_weighted_row(logits: &[f32], class: usize, w: f32, f: Pair, grad: &mut [f32]) -> RowLoss {
    let loss = class_row(logits, class, grad);
    // Unweighted rows (w = 1) skip the pair products: on a Cortex-M0 each
    // is some thousand soft-float instructions.
    let s = if w == 1.0 {
        f.value()
    } else {
        f.mul_f32(w).value()
    };
    if s != 1.0 {
        grad.iter_mut().for_each(|g| *g *= s);
    }
    let normal = |loss| RowLoss { loss, huge: false };
    if w == 0.0 && !loss.is_nan() {
        // A zero weight takes no part, even in an infinite loss.
        return normal(Pair::ZERO);
    }
    let finite_target = logits.get(class).is_some_and(|z| z.is_finite());
    if loss == f32::INFINITY && finite_target {
        let target = Target {
            class,
            a: Scaled::new(w),
            values: None,
            weights: None,
            keep: Scaled::ZERO,
            spread: Scaled::ZERO,
            scale: f,
        };
        return target_row(logits, &target, &mut []);
    }
    if w == 1.0 {
        return normal(Pair::new(loss));
    }
    let weighted = Pair::product(loss, w);
    if weighted.hi == f32::INFINITY && loss.is_finite() {
        return RowLoss {
            loss: Pair::product(loss * HUGE_UNIT, w),
            huge: true,
        };
    }
    normal(weighted)
}

/// q·x, and 0 where either is 0 and the other ±inf (an overflowed target
/// or gap, outside the accuracy domain): 0·inf = 0, as in the loss's terms.
fn times(q: Pair, x: Pair) -> Pair {
    if (q.hi == 0.0 && x.hi.is_infinite()) || (x.hi == 0.0 && q.hi.is_infinite()) {
        Pair::ZERO
    } else {
        q.mul(x)
    }
}

/// `p`, or f32::MAX where it overflowed to +inf: Q and 1/Σw_t beyond f32
/// (weights outside the accuracy domain) then give wrong but NaN-free
/// gradients.
fn finite(p: Pair) -> Pair {
    if p.hi == f32::INFINITY {
        Pair::new(f32::MAX)
    } else {
        p
    }
}

/// Σ xᵢ over `n` terms as a pair: TwoSum per term, the errors added in f32.
fn pair_sum(n: usize, x: impl Fn(usize) -> f32) -> Pair {
    let (mut hi, mut lo) = (0.0f32, 0.0f32);
    for i in 0..n {
        let (s, err) = two_sum(hi, x(i));
        hi = s;
        lo += err;
    }
    // A sum beyond f32 has a NaN error term.
    if hi.is_finite() {
        Pair::sum(hi, lo)
    } else {
        Pair::new(hi)
    }
}

/// The running total of a batch's row losses as a pair, and in units of
/// 2⁻⁶⁴ the rows that were computed in them and any sum beyond f32.
#[derive(Clone, Copy)]
struct Totals {
    normal: Pair,
    huge: Pair,
}

impl Totals {
    const ZERO: Totals = Totals {
        normal: Pair::ZERO,
        huge: Pair::ZERO,
    };

    fn add(&mut self, row: RowLoss) {
        let RowLoss { loss, huge } = row;
        let sum = self.normal.add(loss);
        if huge {
            self.huge = self.huge.add(loss);
        } else if sum.hi.is_finite() || !loss.hi.is_finite() {
            self.normal = sum;
        } else {
            // The running total left f32's range: carry on in units of 2⁻⁶⁴.
            self.huge = self.huge.add(loss.scale(HUGE_UNIT));
        }
    }

    /// f·Σ, rounded once where no row was huge.
    fn reduced(self, scale: Pair) -> f32 {
        let normal = self.normal.mul(scale);
        if self.huge.hi == 0.0 {
            normal.value()
        } else {
            self.huge.mul(scale).scale(HUGE_SCALE).add(normal).value()
        }
    }
}

/// Writes a row's loss into its slot of `per_row`, if any.
fn keep_row_loss(per_row: &mut Option<&mut [f32]>, r: usize, loss: RowLoss) {
    if let Some(slot) = per_row.as_deref_mut().and_then(|p| p.get_mut(r)) {
        *slot = loss.value();
    }
}

/// wᵢ: 1 without class weights, 0 past them (validated away by the
/// callers).
#[inline(always)]
fn class_weight(weights: Option<&[f32]>, i: usize) -> f32 {
    weights.map_or(1.0, |w| w.get(i).map_or(0.0, |&v| v))
}

/// The largest magnitude [`SmoothedClasses::row`] takes for its operands
/// and its loss (2¹⁰⁰): their pair products then neither overflow nor
/// lose Dekker's split (exact below 2¹¹⁵).
const SMOOTHED_LIMIT: f32 = f32::from_bits(0x7180_0000);
/// The smallest loss [`SmoothedClasses::row`] returns (2⁻⁶⁰): an error term
/// of a pair product that left the normal range (at most a few 2⁻¹⁴⁹) is
/// then below 2⁻⁸⁰ of it.
const SMOOTHED_MIN: f32 = f32::from_bits(0x2180_0000);

/// Label smoothing ε > 0 on a batch of class targets, with the target
/// mass known per row: qᵢ = a·[i = t] + b·wᵢ with a = (1 − ε)·w_t,
/// b = ε/C, so Q = Σ qᵢ = a + b·Σw with Σw once per batch. The loss is
/// then a·(m − z_t) + b·Σ wᵢ·(m − zᵢ) + Q·ln S and the gradient
/// f·(eᵢ·Q/S − qᵢ), both from the exponentials' pass: three passes over
/// the row (maximum; exponentials, S and the weighted gaps; gradient), as
/// for a plain class, where [`target_row`] forms every qᵢ twice in
/// [`Scaled`] arithmetic.
///
/// The forms and roundings are the vector builds' smoothed batch with
/// f32 pairs for its f64 (`src/loss/short_cross_entropy.rs`): each
/// weighted gap wᵢ·(m − zᵢ) an f32 product (2u, u = 2⁻²⁴) summed with
/// TwoSum (2u + C·u²), the three terms of the loss non-negative pairs (a
/// few u² each) beside ln S's 6u, rounded once; each gradient element
/// eᵢ·c − f·b·wᵢ with c = f·Q/S ≤ 1, and the target's element from
/// f·(e_t·Q/S − q_t), or f·((Q − q_t) − q_t·s′)/S at a unique argmax, which
/// does not cancel. Where those bounds need what a pair does not give (a
/// loss outside [2⁻⁶⁰, 2¹⁰⁰] or an operand past 2¹⁰⁰, a weighted gap
/// beyond f32 such as a masked logit with weight, c > 1, a maximum that
/// is not finite) the row returns `None`, and the caller takes
/// [`target_row`], which has every limit.
struct SmoothedClasses<'a> {
    epsilon: f32,
    /// 1 − ε.
    keep: Pair,
    /// b = ε/C.
    spread: Pair,
    /// b·Σw.
    spread_total: Pair,
    weights: Option<&'a [f32]>,
}

impl<'a> SmoothedClasses<'a> {
    #[inline(never)]
    fn new(epsilon: f32, classes: usize, weights: Option<&'a [f32]>) -> Self {
        let spread = Pair::new(epsilon).div(Pair::new(classes as f32));
        let weight_sum = match weights {
            Some(_) => pair_sum(classes, |i| class_weight(weights, i)),
            None => Pair::new(classes as f32),
        };
        SmoothedClasses {
            epsilon,
            keep: Pair::sum(1.0, -epsilon),
            spread,
            spread_total: spread.mul(weight_sum),
            weights,
        }
    }

    /// The row as [`target_row`] takes it (the rare rows that
    /// [`SmoothedClasses::row`] leaves), out of line: the target's 64
    /// bytes then live in this frame, not in the batch's.
    #[inline(never)]
    fn general_row(&self, logits: &[f32], class: usize, f: Pair, grad: &mut [f32]) -> RowLoss {
        let mut a = Scaled::new(self.weight(class));
        a *= &Scaled::of(Pair::sum(1.0, -self.epsilon));
        let target = Target {
            class,
            a,
            values: None,
            weights: self.weights,
            keep: Scaled::quotient(self.epsilon, logits.len()),
            spread: Scaled::ZERO,
            scale: f,
        };
        target_row(logits, &target, grad)
    }

    #[inline(always)]
    fn weight(&self, i: usize) -> f32 {
        class_weight(self.weights, i)
    }

    /// Row `logits` against `class` (validated) with the reduction's scale
    /// f: its loss, and f·(softmax·Q − q) into `grad` unless it is empty;
    /// `None` (with `grad` holding anything) where the row needs
    /// [`target_row`].
    #[inline(never)]
    fn row(&self, logits: &[f32], class: usize, f: Pair, grad: &mut [f32]) -> Option<RowLoss> {
        let max = row_max::<f32>(logits);
        let target = *logits.get(class)?;
        if !max.is_finite() {
            return None;
        }
        let mut gaps = WeightedGaps::default();
        let sums = row_sums_with(logits, max, grad, |i, z| gaps.add(self.weight(i), max, z));
        let w_t = self.weight(class);
        let a = self.keep.mul_f32(w_t);
        let total = a.add(self.spread_total);
        let (gap_t, gap_t_lo) = two_sum(max, -target);
        let within = |x: f32| x <= SMOOTHED_LIMIT;
        if !(within(gaps.hi) && within(total.hi) && within(gap_t) && within(a.hi)) {
            return None;
        }
        let sum = sums.sum_pair();
        let own = if a.hi > 0.0 {
            a.mul(Pair::sum(gap_t, gap_t_lo))
        } else {
            Pair::ZERO
        };
        let spread_gaps = self.spread.mul(gaps.pair());
        let loss = own.add(spread_gaps).add(total.mul(sums.ln_sum()));
        let c = f.mul(total).div(sum).value();
        let coef = f.mul(self.spread).value();
        if !((SMOOTHED_MIN..=SMOOTHED_LIMIT).contains(&loss.value()) && c <= 1.0 && within(coef)) {
            return None;
        }
        let target_exp = grad.get(class).copied();
        for (i, g) in grad.iter_mut().enumerate() {
            *g = Lane::mul_add(*g, c, -(coef * self.weight(i)));
        }
        if let Some(e_t) = target_exp {
            let q_t = a.add(self.spread.mul_f32(w_t));
            let g_t = if target == max && sums.ties == 1 {
                sums.argmax_gradient(total, q_t)
            } else {
                Pair::new(e_t).mul(total).div(sum).sub(q_t)
            };
            if let Some(g) = grad.get_mut(class) {
                *g = g_t.mul(f).value();
            }
        }
        Some(RowLoss { loss, huge: false })
    }
}

/// The class-target batch on one-lane builds, every option included:
/// `rows` rows of logits, row r against `row_class(r)` (`None`: ignored),
/// returning the reduced loss, writing its gradient into `grad` (unless
/// empty) and each row's loss into `per_row`. Shapes and options are
/// validated. No f64: the scale, the row losses and their total are f32
/// pairs; totals beyond f32 accumulate in units of 2⁻⁶⁴.
pub(crate) fn batch(
    logits: &[f32],
    rows: usize,
    row_class: impl Fn(usize) -> Option<usize>,
    options: &CrossEntropyOptions,
    grad: &mut [f32],
    mut per_row: Option<&mut [f32]>,
) -> f32 {
    let classes = logits.len().checked_div(rows).unwrap_or(0);
    let weight = |i: usize| class_weight(options.class_weights, i);
    let scale = match options.reduction {
        Reduction::Sum => Pair::new(1.0),
        Reduction::Mean => {
            let denominator = pair_sum(rows, |r| row_class(r).map_or(0.0, weight));
            if denominator.hi == 0.0 {
                Pair::ZERO
            } else {
                // Finite even for a subnormal total weight (outside the
                // accuracy domain), so no gradient element is 0·inf.
                finite(Pair::new(1.0).div(denominator))
            }
        }
    };
    // No target weight to average over: loss 0 and a zero gradient, but
    // the per-row losses (PyTorch's reduction='none') are each row's own.
    let grad = if scale.hi == 0.0 {
        grad.fill(0.0);
        &mut []
    } else {
        grad
    };
    let epsilon = options.label_smoothing;
    let smoothed =
        (epsilon != 0.0).then(|| SmoothedClasses::new(epsilon, classes, options.class_weights));
    let mut totals = Totals::ZERO;
    for r in 0..rows {
        let span = r * classes..(r + 1) * classes;
        let row = logits.get(span.clone()).unwrap_or(&[]);
        let g = grad.get_mut(span).unwrap_or(&mut []);
        let loss = match (row_class(r), &smoothed) {
            (None, _) => {
                g.fill(0.0);
                RowLoss {
                    loss: Pair::ZERO,
                    huge: false,
                }
            }
            (Some(t), None) => plain_weighted_row(row, t, weight(t), scale, g),
            (Some(t), Some(smoothed)) => match smoothed.row(row, t, scale, g) {
                Some(loss) => loss,
                None => smoothed.general_row(row, t, scale, g),
            },
        };
        keep_row_loss(&mut per_row, r, loss);
        totals.add(loss);
    }
    if scale.hi == 0.0 {
        0.0
    } else {
        totals.reduced(scale)
    }
}

/// Softmax cross-entropy of one row against the probabilities `probs`
/// (validated, as long as `logits`) on one-lane builds: [`plain_probs_row`]
/// where its ranges hold, else [`target_row`].
pub(crate) fn probs_row(logits: &[f32], probs: &[f32], grad: &mut [f32]) -> f32 {
    match plain_probs_row(logits, probs, 1.0, grad) {
        Some(loss) => loss.value(),
        None => general_probs_row(logits, probs, grad),
    }
}

/// [`target_row`] for a probability target without options, out of line:
/// the target's 64 bytes then live in this frame only.
#[inline(never)]
fn general_probs_row(logits: &[f32], probs: &[f32], grad: &mut [f32]) -> f32 {
    let target = Target::probs(probs, &CrossEntropyOptions::default(), Pair::new(1.0));
    target_row(logits, &target, grad).value()
}

/// A probability target q = v without options in three passes, as
/// [`SmoothedClasses::row`] takes a smoothed class: loss Σ vᵢ·(m − zᵢ) +
/// Q·ln S with Q = Σ vᵢ, both sums (TwoSum, each weighted gap an f32
/// product) beside the exponentials, and the gradient eᵢ·(Q/S) − vᵢ, at
/// a unique argmax (Q − v)/S − v·(s′/S), which does not cancel, each
/// times the reduction's scale `f` (1 for a single row): the
/// gradient's forms of [`target_row`], its loss within the same 7u
/// (u = 2⁻²⁴; the gaps' 2u, ln S's 6u, the final rounding). `None`, with
/// `grad` holding anything, where those need what a pair does not give
/// (as for [`SmoothedClasses::row`]: a loss outside [2⁻⁶⁰, 2¹⁰⁰], a sum
/// past 2¹⁰⁰, a masked logit with probability, Q/S > 1, a maximum or a
/// probability that is NaN or not finite).
#[inline(never)]
fn plain_probs_row(logits: &[f32], probs: &[f32], f: f32, grad: &mut [f32]) -> Option<RowLoss> {
    let max = row_max::<f32>(logits);
    if !max.is_finite() {
        return None;
    }
    let mut gaps = WeightedGaps::default();
    let (mut total, mut total_lo, mut nan) = (0.0f32, 0.0f32, false);
    let sums = row_sums_with(logits, max, grad, |i, z| {
        let v = probs.get(i).map_or(0.0, |&v| v);
        nan |= v.is_nan();
        gaps.add(v, max, z);
        let (s, err) = two_sum(total, v);
        total = s;
        total_lo += err;
    });
    if nan || !(gaps.hi <= SMOOTHED_LIMIT && total <= SMOOTHED_LIMIT) {
        return None;
    }
    let total = Pair::sum(total, total_lo);
    let loss = gaps.pair().add(total.mul(sums.ln_sum()));
    let c = total.div(sums.sum_pair()).value();
    if !((SMOOTHED_MIN..=SMOOTHED_LIMIT).contains(&loss.value()) && c <= 1.0) {
        return None;
    }
    for (g, &v) in grad.iter_mut().zip(probs) {
        *g = Lane::mul_add(*g, c, -v) * f;
    }
    if sums.ties == 1 {
        let v = Pair::new(probs.get(sums.argmax).map_or(0.0, |&v| v));
        let precise = sums.argmax_gradient(total, v);
        if let Some(g) = grad.get_mut(sums.argmax) {
            *g = precise.value() * f;
        }
    }
    Some(RowLoss { loss, huge: false })
}

/// The probability-target batch on one-lane builds: rows of `classes`
/// logits and targets (shapes and options validated), the mean over rows
/// or the sum, as [`batch`] returns it.
pub(crate) fn probs_batch(
    logits: &[f32],
    probs: &[f32],
    classes: usize,
    options: &CrossEntropyOptions,
    grad: &mut [f32],
    mut per_row: Option<&mut [f32]>,
) -> f32 {
    let rows = logits.len().checked_div(classes).unwrap_or(0);
    let scale = match options.reduction {
        Reduction::Mean if rows > 0 => Pair::new(1.0).div(Pair::new(rows as f32)),
        Reduction::Mean => Pair::ZERO,
        Reduction::Sum => Pair::new(1.0),
    };
    let mut totals = Totals::ZERO;
    for r in 0..rows {
        let span = r * classes..(r + 1) * classes;
        let row = logits.get(span.clone()).unwrap_or(&[]);
        let q = probs.get(span.clone()).unwrap_or(&[]);
        let g = grad.get_mut(span).unwrap_or(&mut []);
        let plain = if options.label_smoothing == 0.0 && options.class_weights.is_none() {
            plain_probs_row(row, q, finite(scale).value(), g)
        } else {
            None
        };
        let loss = match plain {
            Some(loss) => loss,
            None => target_row(row, &Target::probs(q, options, scale), g),
        };
        keep_row_loss(&mut per_row, r, loss);
        totals.add(loss);
    }
    totals.reduced(scale)
}

/// A row with k ≥ 1 entries at +inf (and no NaN): softmax is 1/k on them,
/// the loss ln k if the target is among them, else +inf.
fn infinite_row(logits: &[f32], class: usize, grad: &mut [f32]) -> f32 {
    let count = logits.iter().filter(|&&z| z == f32::INFINITY).count();
    let p = 1.0 / count as f32;
    for (i, (g, &z)) in grad.iter_mut().zip(logits).enumerate() {
        let own = if z == f32::INFINITY { p } else { 0.0 };
        *g = if i == class { own - 1.0 } else { own };
    }
    match logits.get(class) {
        Some(&f32::INFINITY) => ln_1p_lane(count.saturating_sub(1) as f32),
        _ => f32::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// Loss and gradient in f64 from the definition (m − z_t + ln Σ e^{zᵢ−m}).
    fn reference(z: &[f32], class: usize) -> (f64, Vec<f64>) {
        let m = z.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
        let e: Vec<f64> = z.iter().map(|&x| (x as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        let grad = e
            .iter()
            .enumerate()
            .map(|(i, &e)| e / s - if i == class { 1.0 } else { 0.0 })
            .collect();
        (m - z[class] as f64 + s.ln(), grad)
    }

    fn ulps(got: f32, want: f64, scale: f64) -> f64 {
        let binade = scale.abs().max(f64::from(f32::MIN_POSITIVE)).log2().floor();
        let ulp = f64::from(f32::EPSILON) * 2f64.powi(binade as i32);
        (got as f64 - want).abs() / ulp
    }

    #[test]
    fn matches_f64_within_the_documented_bounds() {
        let mut next = crate::xorshift32(0x9e37_79b9);
        for n in [1usize, 2, 3, 7, 64, 1000] {
            for spread in [0.1f32, 3.0, 30.0, 120.0] {
                let z: Vec<f32> = (0..n)
                    .map(|_| (next() as f32 / u32::MAX as f32 - 0.5) * spread)
                    .collect();
                for class in [0, n / 2, n - 1] {
                    let mut grad = std::vec![0.0f32; n];
                    let loss = class_row(&z, class, &mut grad);
                    let (want, want_grad) = reference(&z, class);
                    let floor = want_grad.iter().fold(0.0f64, |a, g| a.max(g.abs())) / 16_777_216.0;
                    assert!(
                        ulps(loss, want, want) <= 4.0,
                        "loss {loss} vs {want}, n={n}"
                    );
                    for (&g, &w) in grad.iter().zip(&want_grad) {
                        let err = ulps(g, w, w.abs().max(floor));
                        assert!(err <= 4.0, "grad {g} vs {w} ({err} ULP), n={n}");
                    }
                    assert_eq!(class_row(&z, class, &mut []).to_bits(), loss.to_bits());
                }
            }
        }
    }

    #[test]
    fn special_rows() {
        let inf = f32::INFINITY;
        let mut grad = [0.0f32; 3];
        assert!(class_row(&[1.0, f32::NAN, 2.0], 0, &mut grad).is_nan());
        assert!(grad.iter().all(|g| g.is_nan()));
        assert_eq!(class_row(&[-inf, -inf, -inf], 1, &mut grad), inf);
        assert_eq!(grad, [0.0, -1.0, 0.0]);
        let loss = class_row(&[inf, 0.0, inf], 2, &mut grad);
        assert_eq!(loss, core::f32::consts::LN_2);
        assert_eq!(grad, [0.5, 0.0, -0.5]);
        assert_eq!(class_row(&[inf, 0.0, inf], 1, &mut grad), inf);
        assert_eq!(class_row(&[0.0, -inf, 1.0], 1, &mut grad), inf);
        assert!(grad.iter().all(|g| g.is_finite()));
        assert_eq!(class_row(&[f32::MAX, -f32::MAX], 1, &mut grad[..2]), inf);
        assert_eq!(grad[..2], [1.0, -1.0]);
    }

    /// f32's ULP at |x| (the subnormal spacing below the normal range).
    fn ulp(x: f64) -> f64 {
        let binade = x.abs().max(f64::from(f32::MIN_POSITIVE)).log2().floor();
        2f64.powi(binade as i32 - 23)
    }

    /// A row against the target q in f64 from the definition: loss
    /// Σ qᵢ·(lse − zᵢ), gradient f·(pᵢ·Q − qᵢ), with f·pᵢ·Q and f·qᵢ for
    /// the gradient's bound.
    fn target_reference(z: &[f32], q: &[f64], f: f64) -> (f64, Vec<(f64, f64, f64)>) {
        let m = z.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
        let s: f64 = z.iter().map(|&x| (x as f64 - m).exp()).sum();
        let lse = m + s.ln();
        let total: f64 = q.iter().sum();
        let loss = z.iter().zip(q).map(|(&x, &q)| q * (lse - x as f64)).sum();
        let grad = z
            .iter()
            .zip(q)
            .map(|(&x, &q)| {
                let pq = (x as f64 - lse).exp() * total;
                (f * (pq - q), f * pq, f * q)
            })
            .collect();
        (loss, grad)
    }

    /// Asserts a row's loss and gradient within the documented bounds of
    /// [`target_reference`]'s values (loss 4 ULP + 2⁻²² relative; each
    /// gradient element 4 ULP of max(|gᵢ|, pᵢ·Q, qᵢ) + 2⁻²⁰·pᵢ·Q, times f),
    /// keeping the largest fractions of them in `worst`.
    fn assert_within_bounds(
        (loss, grad): (f32, &[f32]),
        (want, want_grad): (f64, &[(f64, f64, f64)]),
        worst: &mut (f64, f64),
    ) {
        let got = loss as f64;
        let loss_bound = 4.0 * ulp(want) + want / 4_194_304.0;
        assert!((got - want).abs() <= loss_bound, "loss {got} vs {want}");
        worst.0 = worst.0.max((got - want).abs() / loss_bound);
        for (&g, &(want, pq, q)) in grad.iter().zip(want_grad) {
            let bound = 4.0 * ulp(want.abs().max(pq).max(q)) + pq / 1_048_576.0;
            let err = (g as f64 - want).abs();
            assert!(err <= bound, "grad {g} vs {want} of {want_grad:?}");
            worst.1 = worst.1.max(err / bound);
        }
    }

    #[test]
    fn smoothed_class_rows_take_three_passes_within_the_bounds() {
        let mut next = crate::xorshift32(0x51ed_270b);
        let mut uniform = move || next() as f64 / u32::MAX as f64;
        let mut worst = (0.0f64, 0.0f64);
        for n in [2usize, 3, 10, 64] {
            for spread in [0.1f64, 3.0, 30.0] {
                for epsilon in [0.1f32, 0.3, 0.9] {
                    for weighted in [false, true] {
                        let z: Vec<f32> = (0..n)
                            .map(|_| ((uniform() - 0.5) * spread) as f32)
                            .collect();
                        let w: Vec<f32> = (0..n)
                            .map(|_| {
                                if weighted {
                                    (0.1 + 4.0 * uniform()) as f32
                                } else {
                                    1.0
                                }
                            })
                            .collect();
                        let t = (uniform() * n as f64) as usize % n;
                        let f = Pair::new(1.0).div(Pair::new(if weighted { 7.0 } else { 1.0 }));
                        let smoothed = SmoothedClasses::new(epsilon, n, weighted.then_some(&w[..]));
                        let mut grad = std::vec![0.0f32; n];
                        let Some(loss) = smoothed.row(&z, t, f, &mut grad) else {
                            panic!("an ordinary row left the three-pass kernel: {z:?}");
                        };
                        // qᵢ = (1 − ε)·w_t·[i = t] + (ε/C)·wᵢ.
                        let eps = epsilon as f64;
                        let q: Vec<f64> = (0..n)
                            .map(|i| {
                                let own = if i == t {
                                    (1.0 - eps) * w[t] as f64
                                } else {
                                    0.0
                                };
                                own + eps / n as f64 * w[i] as f64
                            })
                            .collect();
                        let (want, want_grad) = target_reference(&z, &q, f.hi as f64 + f.lo as f64);
                        assert_within_bounds((loss.value(), &grad), (want, &want_grad), &mut worst);
                    }
                }
            }
        }
        std::println!(
            "smoothed class rows: loss {:.3}, gradient {:.3} of the bounds",
            worst.0,
            worst.1
        );
    }

    #[test]
    fn smoothed_class_rows_leave_the_limits_to_the_general_kernel() {
        let inf = f32::INFINITY;
        let f = Pair::new(1.0);
        let mut grad = [0.0f32; 3];
        let plain = SmoothedClasses::new(0.1, 3, None);
        assert!(plain.row(&[0.0, 1.0, 2.0], 1, f, &mut grad).is_some());
        // A masked logit with target weight, a maximum that is not finite.
        assert!(plain.row(&[0.0, -inf, 2.0], 1, f, &mut grad).is_none());
        assert!(plain.row(&[0.0, inf, 2.0], 1, f, &mut grad).is_none());
        assert!(plain.row(&[0.0, f32::NAN, 2.0], 1, f, &mut grad).is_none());
        // Gaps and weights past the pairs' range.
        assert!(plain.row(&[0.0, -1e35, 2.0], 1, f, &mut grad).is_none());
        let heavy = [1e35f32, 1.0, 1.0];
        let weighted = SmoothedClasses::new(0.1, 3, Some(&heavy));
        assert!(weighted.row(&[0.0, 1.0, 2.0], 0, f, &mut grad).is_none());
        // A zero weight on the masked logit: it adds nothing.
        let masked_free = [1.0f32, 0.0, 1.0];
        let weighted = SmoothedClasses::new(0.1, 3, Some(&masked_free));
        assert!(weighted.row(&[0.0, -inf, 2.0], 2, f, &mut grad).is_some());
        assert_eq!(grad[1], 0.0);
    }

    #[test]
    fn plain_probability_rows_take_three_passes_within_the_bounds() {
        let mut next = crate::xorshift32(0x2545_f491);
        let mut uniform = move || next() as f64 / u32::MAX as f64;
        let mut worst = (0.0f64, 0.0f64);
        for n in [2usize, 3, 10, 64] {
            for spread in [0.1f64, 3.0, 30.0] {
                for sharp in [false, true] {
                    let z: Vec<f32> = (0..n)
                        .map(|_| ((uniform() - 0.5) * spread) as f32)
                        .collect();
                    // Soft targets, or one class nearly certain.
                    let raw: Vec<f64> = (0..n)
                        .map(|i| {
                            if sharp && i > 0 {
                                1e-6 * uniform()
                            } else {
                                uniform()
                            }
                        })
                        .collect();
                    let total: f64 = raw.iter().sum();
                    let v: Vec<f32> = raw.iter().map(|&r| (r / total) as f32).collect();
                    let mut grad = std::vec![0.0f32; n];
                    let Some(loss) = plain_probs_row(&z, &v, 1.0, &mut grad) else {
                        panic!("an ordinary row left the three-pass kernel: {z:?}");
                    };
                    let q: Vec<f64> = v.iter().map(|&x| x as f64).collect();
                    let (want, want_grad) = target_reference(&z, &q, 1.0);
                    assert_within_bounds((loss.value(), &grad), (want, &want_grad), &mut worst);
                }
            }
        }
        std::println!(
            "plain probability rows: loss {:.3}, gradient {:.3} of the bounds",
            worst.0,
            worst.1
        );
        let inf = f32::INFINITY;
        let mut grad = [0.0f32; 3];
        let v = [0.25f32, 0.25, 0.5];
        assert!(plain_probs_row(&[0.0, -inf, 2.0], &v, 1.0, &mut grad).is_none());
        assert!(plain_probs_row(&[0.0, inf, 2.0], &v, 1.0, &mut grad).is_none());
        assert!(plain_probs_row(&[0.0, 1.0, 2.0], &[0.5, f32::NAN, 0.5], 1.0, &mut grad).is_none());
        assert!(plain_probs_row(&[0.0, 1.0, 2.0], &[0.0, 1e35, 0.5], 1.0, &mut grad).is_none());
        // A masked logit without probability adds nothing.
        assert!(plain_probs_row(&[0.0, -inf, 2.0], &[0.5, 0.0, 0.5], 1.0, &mut grad).is_some());
        assert_eq!(grad[1], 0.0);
    }
}
