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
//! class with label smoothing, probabilities, class weights). The pairs
//! cost a few extra additions per element, which the vector kernels avoid
//! by flushing f32 lane sums into f64; for one lane on a Cortex-M the f32
//! pair is the cheaper of the two as well. Vector builds use [`class_row`]
//! only for rows whose maximum is NaN or ±inf (special values) in the
//! short-row kernel.

use super::options::{CrossEntropyOptions, Reduction};
use crate::lane::Lane;
use crate::math::ln_1p::ln_1p_lane;
use crate::math::pair::Pair;
use crate::math::two_sum;
use crate::reduce::row_max;
use crate::softmax::exp_shifted;

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

/// Writes e^{zᵢ−m} into `grad` (unless it is empty) and sums the terms
/// below m with TwoSum, the errors added in f32 (the compensated sum of
/// [`class_row`]'s bound).
#[inline(always)]
fn row_sums(logits: &[f32], max: f32, grad: &mut [f32]) -> RowSums {
    let neg_m = -max;
    let (mut others, mut others_lo, mut ties, mut argmax) = (0.0f32, 0.0f32, 0u32, 0);
    for (i, &x) in logits.iter().enumerate() {
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
/// is keep = 1 − ε, spread = ε/C and no class. The f32 pairs hold what the
/// vector kernels hold in f64.
struct Target<'a> {
    class: usize,
    a: Pair,
    values: Option<&'a [f32]>,
    weights: Option<&'a [f32]>,
    keep: Scaled,
    spread: Scaled,
    scale: Pair,
}

/// m·2ᵉ with m a pair in [1, 2) (or 0): a factor kept apart from its power
/// of two, so a subnormal ε or ε/C keeps all its digits.
#[derive(Clone, Copy)]
struct Scaled {
    m: Pair,
    e: i32,
}

impl Scaled {
    const ZERO: Scaled = Scaled {
        m: Pair::ZERO,
        e: 0,
    };

    fn of(p: Pair) -> Scaled {
        let (_, e) = split_exponent(p.hi);
        Scaled {
            m: scale_by_power_of_two(p, -e),
            e,
        }
    }

    /// x/c for x ≥ 0 and a count c ≥ 1, with x's power of two set aside.
    fn quotient(x: f32, c: usize) -> Scaled {
        let (m, e) = split_exponent(x);
        let q = Scaled::of(Pair::new(m).div(Pair::new(c as f32)));
        Scaled { m: q.m, e: q.e + e }
    }
}

impl<'a> Target<'a> {
    /// Row r's probabilities `probs` with the batch's options and scale f.
    fn probs(probs: &'a [f32], options: &CrossEntropyOptions<'a>, scale: Pair) -> Self {
        let epsilon = options.label_smoothing;
        Target {
            class: usize::MAX,
            a: Pair::ZERO,
            values: Some(probs),
            weights: options.class_weights,
            keep: Scaled::of(Pair::sum(1.0, -epsilon)),
            spread: Scaled::quotient(epsilon, probs.len()),
            scale,
        }
    }

    /// Whether qᵢ > 0, from its factors (the rounded pair may underflow).
    fn positive(&self, i: usize) -> bool {
        let (v, w) = self.factors(i);
        (i == self.class && self.a.hi > 0.0)
            || (w > 0.0 && ((self.keep.m.hi > 0.0 && v > 0.0) || self.spread.m.hi > 0.0))
    }

    /// vᵢ and wᵢ.
    fn factors(&self, i: usize) -> (f32, f32) {
        let v = self.values.map_or(1.0, |v| v.get(i).map_or(0.0, |&x| x));
        let w = self.weights.map_or(1.0, |w| w.get(i).map_or(0.0, |&x| x));
        (v, w)
    }

    /// qᵢ·d·2ᵏ for a d ≥ 0, with the powers of two of d, of wᵢ and of vᵢ
    /// (or, with smoothing, of keep·vᵢ + spread) set aside and applied
    /// last, so the result rounds once and overflows or underflows only
    /// where qᵢ·d·2ᵏ does: qᵢ = wᵢ·(keep·vᵢ + spread) formed first can be
    /// subnormal (and lose its low bits) or overflow where the term is a
    /// normal f32, since the factors span more than f32's exponent range.
    /// keep and spread carry their powers of two apart too ([`Scaled`]), so
    /// a subnormal ε keeps its digits. Factors that are 0 contribute 0 even
    /// against an infinite d.
    fn times(&self, i: usize, d: Pair, k: i32) -> Pair {
        let (v, w) = self.factors(i);
        let (_, d_exp) = split_exponent(d.hi);
        let d = scale_by_power_of_two(d, -d_exp);
        let k = k + d_exp;
        let own = if i == self.class {
            let (_, a_exp) = split_exponent(self.a.hi);
            let a = scale_by_power_of_two(self.a, -a_exp);
            scale_by_power_of_two(times(a, d), a_exp + k)
        } else {
            Pair::ZERO
        };
        let (v, v_exp) = split_exponent(v);
        let kept = self.keep.m.mul_f32(v);
        let kept_exp = v_exp + self.keep.e;
        let (inner, inner_exp) = if self.spread.m.hi > 0.0 {
            // keep·vᵢ + spread in the larger one's power of two.
            let e = if kept.hi == 0.0 {
                self.spread.e
            } else {
                kept_exp.max(self.spread.e)
            };
            let sum = scale_by_power_of_two(kept, kept_exp - e)
                .add(scale_by_power_of_two(self.spread.m, self.spread.e - e));
            let sum = Scaled::of(sum);
            (sum.m, sum.e + e)
        } else {
            (kept, kept_exp)
        };
        let (w, w_exp) = split_exponent(w);
        let scaled = times(inner.mul_f32(w), d);
        own.add(scale_by_power_of_two(scaled, inner_exp + w_exp + k))
    }

    /// qᵢ·`unit` for a power of two `unit` (see [`Target::times`]).
    fn q(&self, i: usize, unit: f32) -> Pair {
        self.times(i, Pair::new(1.0), split_exponent(unit).1)
    }
}

/// A row's loss, in units of [`HUGE_UNIT`] when `huge`.
#[derive(Clone, Copy)]
struct RowLoss {
    loss: Pair,
    huge: bool,
}

impl RowLoss {
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
/// 2⁶⁴ = 1 / [`HUGE_UNIT`].
const HUGE_SCALE: f32 = f32::from_bits(0x5f80_0000);

/// Loss of one row against `t`, writing f·(softmax·Q − q) into `grad`
/// unless it is empty: the forms of the vector kernels, with their f64
/// quantities as f32 pairs.
///
/// loss = Σ qᵢ·(m − zᵢ + ln S) (0·inf = 0), the vector kernels'
/// Σ qᵢ·(m − zᵢ) + Q·ln S with Q's rounding gone. Each gap m − zᵢ is exact
/// and ln S carries the 6u + n·u² of [`class_row`]'s derivation (u = 2⁻²⁴),
/// so each dᵢ = m − zᵢ + ln S is within 6u; the products qᵢ·dᵢ
/// ([`Target::times`]) and their sum, as pairs, add a few u², and the
/// final rounding u: within 7u + n·u², which the documented bound of
/// 4 ULP (> 4u) plus 2⁻²² (4u) covers. A loss beyond f32 whose row is
/// finite is recomputed in units of 2⁻⁶⁴ (from half gaps, exact), so a
/// mean can still bring it back. The gradient is
/// (eᵢ·(Q/S) − qᵢ)·f, f applied last so that no product overflows unless
/// the gradient does and none is inf − inf, and at a unique argmax
/// ((Q − qᵢ)/S − qᵢ·(s′/S))·f, which does not cancel.
fn target_row(logits: &[f32], t: &Target, grad: &mut [f32]) -> RowLoss {
    let max = row_max::<f32>(logits);
    if !max.is_finite() {
        return special_row(logits, max, t, grad);
    }
    let sums = row_sums(logits, max, grad);
    let ln_sum = Pair::sum(ln_1p_lane(sums.excess), sums.excess_lo / sums.sum);
    // +inf is the loss where a masked logit (−inf) carries target weight;
    // a loss beyond f32 is taken in units of 2⁻⁶⁴, and so is the gradient
    // where Q is beyond f32: a second round of the same sums, from one call
    // site (`loss_sums` is inlined into this frame: its own frame and saved
    // registers cost 104 bytes of stack on a Cortex-M4F).
    let mut loss = RowLoss {
        loss: Pair::ZERO,
        huge: false,
    };
    let (mut total, mut huge_total, mut huge_loss) = (Pair::ZERO, false, false);
    for unit in [1.0, HUGE_UNIT] {
        let (unit_loss, unit_total, masked) = loss_sums(logits, max, ln_sum, t, unit);
        if unit == 1.0 {
            loss.loss = unit_loss;
            total = unit_total;
            huge_loss = !masked && !unit_loss.hi.is_finite();
            huge_total = !unit_total.hi.is_finite();
            if !huge_loss && !huge_total {
                break;
            }
        } else {
            if huge_loss {
                loss = RowLoss {
                    loss: unit_loss,
                    huge: true,
                };
            }
            if huge_total {
                total = unit_total;
            }
        }
    }
    let unit = if huge_total { HUGE_UNIT } else { 1.0 };
    if !grad.is_empty() {
        let sum = Pair::sum(sums.sum, sums.sum_lo);
        let total = finite(total);
        let c = total.div(sum).value();
        let f = finite(t.scale.scale(if huge_total { HUGE_SCALE } else { 1.0 })).value();
        for (i, g) in grad.iter_mut().enumerate() {
            *g = Lane::mul_add(*g, c, -t.q(i, unit).value()) * f;
        }
        if sums.ties == 1 {
            let q = t.q(sums.argmax, unit);
            let excess = Pair::sum(sums.excess, sums.excess_lo);
            // (Q − q)/S − q·(s′/S): q·s′ alone can pass f32::MAX where the
            // gradient does not (s′/S < 1).
            let precise = total.sub(q).div(sum).sub(times(q, excess.div(sum)));
            if let Some(g) = grad.get_mut(sums.argmax) {
                *g = precise.value() * f;
            }
        }
    }
    loss
}

/// The loss Σ_{qᵢ>0} qᵢ·(m − zᵢ + ln S) and Q = Σ qᵢ in units of `unit`
/// (1 or [`HUGE_UNIT`]), and whether a −inf logit carries target weight
/// (then the loss is +inf). Each term is a chain of pair products ordered
/// so that it stays normal wherever the term is ([`Target::times`]), and
/// gaps come from halves, exact for m and zᵢ above 2⁻¹²⁵, so none
/// overflows before it is scaled. A NaN target makes both NaN.
#[inline(always)]
fn loss_sums(logits: &[f32], max: f32, ln_sum: Pair, t: &Target, unit: f32) -> (Pair, Pair, bool) {
    let (mut loss, mut total, mut masked) = (Pair::ZERO, Pair::ZERO, false);
    let half_ln_sum = ln_sum.scale(0.5);
    for (i, &z) in logits.iter().enumerate() {
        let q = t.q(i, unit);
        total = total.add(q);
        if q.hi.is_nan() {
            loss = q;
        } else if t.positive(i) {
            // A class with qᵢ = 0 adds nothing, even at zᵢ = −inf.
            if z == f32::NEG_INFINITY {
                masked = true;
            } else {
                let half = Pair::sum(0.5 * max, -0.5 * z).add(half_ln_sum);
                loss = loss.add(t.times(i, half, 1 + split_exponent(unit).1));
            }
        }
    }
    if masked && !loss.hi.is_nan() {
        loss = Pair::new(f32::INFINITY);
    }
    (loss, total, masked)
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
    let total_in = |unit| (0..logits.len()).fold(Pair::ZERO, |s, i| s.add(t.q(i, unit)));
    let mut total = total_in(1.0);
    let huge = total.hi == f32::INFINITY;
    let unit = if huge {
        total = total_in(HUGE_UNIT);
        HUGE_UNIT
    } else {
        1.0
    };
    let share = if count > 0 {
        finite(total).div(Pair::new(count as f32))
    } else {
        Pair::ZERO
    };
    let f = finite(t.scale.scale(if huge { HUGE_SCALE } else { 1.0 })).value();
    let (mut at_inf, mut elsewhere) = (Pair::ZERO, false);
    for (i, &z) in logits.iter().enumerate() {
        let q = t.q(i, unit);
        let own = if z == f32::INFINITY {
            share
        } else {
            Pair::ZERO
        };
        if let Some(g) = grad.get_mut(i) {
            *g = own.sub(q).value() * f;
        }
        if t.positive(i) {
            if z == f32::INFINITY {
                at_inf = at_inf.add(q);
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
    RowLoss { loss, huge }
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
            a: Pair::new(w),
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

/// x ≥ 0 as m·2ᵉ with m in [1, 2) (x = 0, NaN, inf: x itself and e = 0).
fn split_exponent(x: f32) -> (f32, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    // Subnormals: 2⁶⁴·x is normal.
    let (x, offset) = if x < f32::MIN_POSITIVE {
        (x * HUGE_SCALE, -64)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    (
        f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000),
        exponent + offset,
    )
}

/// p·2ᵉ for e in [−600, 600], in steps that stay in f32's range: rounded
/// only where the result is subnormal, ±inf only where it overflows.
fn scale_by_power_of_two(mut p: Pair, mut e: i32) -> Pair {
    let step = f32::from_bits((127 + 100) << 23); // 2¹⁰⁰
    let step_down = f32::from_bits((127 - 100) << 23); // 2⁻¹⁰⁰
    for _ in 0..6 {
        if e > 100 {
            p = p.scale(step);
            e -= 100;
        } else if e < -100 {
            p = p.scale(step_down);
            e += 100;
        }
    }
    let e = e.clamp(-126, 127);
    p.scale(f32::from_bits(((e + 127) as u32) << 23))
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
    let weight = |i: usize| {
        options
            .class_weights
            .map_or(1.0, |w| w.get(i).map_or(0.0, |&v| v))
    };
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
    let keep = Pair::sum(1.0, -epsilon);
    let spread = Scaled::quotient(epsilon, classes);
    let mut totals = Totals::ZERO;
    for r in 0..rows {
        let span = r * classes..(r + 1) * classes;
        let row = logits.get(span.clone()).unwrap_or(&[]);
        let g = grad.get_mut(span).unwrap_or(&mut []);
        let loss = match row_class(r) {
            None => {
                g.fill(0.0);
                RowLoss {
                    loss: Pair::ZERO,
                    huge: false,
                }
            }
            Some(t) if epsilon == 0.0 => plain_weighted_row(row, t, weight(t), scale, g),
            Some(t) => {
                let target = Target {
                    class: t,
                    a: keep.mul_f32(weight(t)),
                    values: None,
                    weights: options.class_weights,
                    keep: spread,
                    spread: Scaled::ZERO,
                    scale,
                };
                target_row(row, &target, g)
            }
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
/// (validated, as long as `logits`) on one-lane builds.
pub(crate) fn probs_row(logits: &[f32], probs: &[f32], grad: &mut [f32]) -> f32 {
    let target = Target::probs(probs, &CrossEntropyOptions::default(), Pair::new(1.0));
    target_row(logits, &target, grad).value()
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
        let loss = target_row(row, &Target::probs(q, options, scale), g);
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
}
