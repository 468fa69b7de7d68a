//! Binary cross-entropy with logits (PyTorch's
//! `binary_cross_entropy_with_logits`) and the sigmoid focal loss
//! (torchvision's `sigmoid_focal_loss`), loss and gradient in one pass.
//!
//! PyTorch writes the element loss as (1−y)·z + (1+(p−1)·y)·softplus(−z),
//! which cancels for y = 0 and z ≪ 0 (z + softplus(−z) = softplus(z), a tiny
//! number, computed as the difference of two large ones). The same value is
//! (1−y)·softplus(z) + p·y·softplus(−z): two non-negative terms for
//! y ∈ [0, 1], nothing cancels, tiny losses keep their relative accuracy.
//! The gradient (1+(p−1)y)·σ(z) − p·y likewise becomes
//! (1−y)·σ(z) − p·y·σ(−z).

use super::options::Reduction;
use crate::error::{Error, check_len, check_optional_len};
use crate::lane::{Lane, SigmoidSimd, load_at, store_at};
use crate::math::exp::exp_fast_lanes;
use crate::math::exp::exp_lane;
use crate::math::ln::ln_lane;
use crate::math::two_sum;
use crate::reduce::{DOWN, UP, blocked_sum, rescaled_sum};
use crate::sigmoid::{Logistic, logistic_on};

/// `pos_weight` of [`BceOptions`]: the weight p of the positive term.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum PosWeight<'a> {
    /// p = 1.
    #[default]
    None,
    /// One p for every element.
    All(f32),
    /// One p per output, broadcast over rows (PyTorch's `pos_weight` of
    /// shape `[C]`): the elements are a row-major batch of rows of
    /// `p.len()` outputs and element i uses `p[i % p.len()]`. A length that
    /// does not divide the number of elements is an error.
    PerOutput(&'a [f32]),
}

/// `weight` of [`BceOptions`]: the weight w of each element's loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum ElementWeights<'a> {
    /// w = 1.
    #[default]
    None,
    /// One w per element (PyTorch's `weight` of the logits' shape).
    PerElement(&'a [f32]),
    /// One w per output, broadcast over rows (PyTorch's `weight` of shape
    /// `[C]`): element i uses `w[i % w.len()]`, and `w.len()` must divide
    /// the number of elements, as for [`PosWeight::PerOutput`].
    PerOutput(&'a [f32]),
}

/// Options of [`bce_with_logits_with_grad`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BceOptions<'a> {
    /// Weight of the positive term (PyTorch's `pos_weight`); finite, ≥ 0.
    pub pos_weight: PosWeight<'a>,
    /// Finite, non-negative weights of the element losses (PyTorch's
    /// `weight`), per element or per output.
    pub weights: ElementWeights<'a>,
    /// ε ∈ [0, 1]: labels become y·(1 − ε) + ε/2 (and 1 − y becomes
    /// (1 − y)·(1 − ε) + ε/2, computed as such so it does not cancel).
    pub label_smoothing: f32,
    /// Mean over elements, or sum.
    pub reduction: Reduction,
}

/// Options of [`sigmoid_focal_loss_with_grad`] (torchvision's defaults are
/// γ = 2, α = 0.25).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FocalOptions {
    /// Focusing parameter γ ≥ 0 (finite); γ = 0 is α-weighted BCE.
    pub gamma: f32,
    /// α ∈ [0, 1] weighting positives (1 − α negatives), or `None`.
    pub alpha: Option<f32>,
    /// Mean over elements, or sum.
    pub reduction: Reduction,
}

impl Default for FocalOptions {
    fn default() -> Self {
        Self {
            gamma: 2.0,
            alpha: Some(0.25),
            reduction: Reduction::Mean,
        }
    }
}

/// c·v with 0·inf = 0: a zero coefficient contributes nothing, even where
/// the softplus is infinite. NaN stays NaN (0·NaN = NaN), so a NaN logit or
/// label reaches its element's loss whatever its weight.
#[inline(always)]
fn weighted<V: Lane>(c: V, v: V) -> V {
    V::select(c.eq(V::splat(0.0)) & v.eq(v), V::splat(0.0), c * v)
}

/// c·v: [`weighted`], or with `PLAIN` (a vector where no factor can be
/// infinite: `bce_terms_on`, `focal_terms`) the plain product.
#[inline(always)]
fn weighted_or_plain<V: Lane, const PLAIN: bool>(c: V, v: V) -> V {
    if PLAIN { c * v } else { weighted(c, v) }
}

/// Per-lane BCE loss and gradient for labels `y` (with `not_y` = 1 − y,
/// formed by the caller without cancelling), positive weights `p` and
/// element weights `w`.
///
/// The factors are multiplied smallest first (y·softplus or y·σ, then the
/// smaller of w and p, then the larger), so no product overflows unless
/// the result does: forming w·p·y first overflowed for w·p > f32::MAX with
/// a representable loss (found by fuzzing).
/// `loss_scale` multiplies the loss (1, or 2⁻⁶⁴ to re-sum an overflowed
/// total); it scales the softplus values, so an infinite one stays infinite
/// (scaling a tiny label instead underflowed it to 0 and dropped a +inf
/// element from the total: found by fuzzing).
fn bce_lane<V: Lane>(z: V, labels: [V; 2], p: V, w: V, loss_scale: V, grad_scale: V) -> (V, V) {
    bce_terms(z, labels, Some([p, w]), loss_scale, grad_scale)
}

/// [`bce_lane`]'s arithmetic; `None` for w = p = 1 (the default options),
/// which gives the same bits (1·v = v, and a weight of 1 is never the zero
/// of [`weighted`]) without the weights' multiplies and selects: the
/// compiler does not drop them itself, as `wide`'s comparisons are not
/// folded on constants. [`bce_lane`] keeps one out-of-line copy for label
/// smoothing and one-lane builds (one call per vector, and one body on
/// firmware; inlined into one summing loop for every weight form it ran
/// 1.6 times slower with a pos_weight, `logitkit-callgrind bce_pos_weight
/// 256 15`); without smoothing each weight form has a loop of its own
/// ([`ElementIo::run`]). On vector builds, a vector
/// that allows it runs [`bce_terms_on`] with plain products (`PLAIN`), any
/// other the general arithmetic: a lane gets the same bits either way.
#[inline(always)]
fn bce_terms<V: Lane>(
    z: V,
    labels: [V; 2],
    weights: Option<[V; 2]>,
    loss_scale: V,
    grad_scale: V,
) -> (V, V) {
    let [y, not_y] = labels;
    let unit = |v: V| v.lt(V::splat(0.0)) | v.gt(V::splat(1.0));
    if V::WIDTH > 1
        && V::all(exp_fast_lanes(z))
        && (weights.is_none() || !V::any(unit(y) | unit(not_y)))
    {
        let (zero, one) = (V::splat(0.0), V::splat(1.0));
        // Smoothed labels (only with weights here) can round to 0 or 1
        // while their complement does not: the forms need not_y = 1 − y.
        if V::all(y.eq(zero) | y.eq(one)) && (weights.is_none() || V::all(not_y.eq(one - y))) {
            return bce_binary_terms([z, y, not_y], weights, loss_scale, grad_scale);
        }
        bce_terms_on::<V, true>(z, labels, weights, loss_scale, grad_scale)
    } else {
        bce_terms_on::<V, false>(z, labels, weights, loss_scale, grad_scale)
    }
}

/// [`bce_terms`] for a vector of labels 0 and 1 whose logits all take the
/// split exponential's fast path, by the label's sign, as the focal loss
/// takes such a vector: with s = 1 − 2y (= 1 − y − y, exactly ±1) and
/// z_s = s·z (exact), the loss is softplus(z_s) and the gradient
/// s·σ(z_s), one select of σ(±|z|) by the sign of z_s. With weights the
/// label picks each product's factor: (1, w) for y = 0 and (min(w, p),
/// max(w, p)) for y = 1, the factors [`bce_terms_on`] applies to the term
/// the label keeps.
///
/// [`bce_terms_on`]'s `PLAIN` forms select σ(z) and σ(−z) by the sign of
/// z and mix both, and both softplus values, by products with y and
/// 1 − y; the same bits, since there each such product is +0 or its
/// factor (finite and positive; the weights are finite), added to a
/// non-negative term or subtracted from +0. That difference, +0 − g, is
/// +0 where g is +0 (a zero weight): s·g + 0 gives it, where s·g alone
/// would give −0. A lane whose weighted gradient overflows takes
/// [`bce_terms_on`]'s unweighted difference as there.
///
/// Measured with `logitkit-callgrind` (`docs/performance.md`, "Binary
/// labels by their sign"): without weights BCE ran 5 % faster on the
/// default build and 6 % natively, soft labels paying the test (3 %
/// natively); with a pos_weight, see "Weighted binary labels by their
/// sign" there.
#[inline(always)]
fn bce_binary_terms<V: Lane>(
    [z, y, not_y]: [V; 3],
    weights: Option<[V; 2]>,
    loss_scale: V,
    grad_scale: V,
) -> (V, V) {
    let zero = V::splat(0.0);
    let f = logistic_on::<V, true>(z);
    let sign = not_y - y;
    let z_s = sign * z;
    let sig_s = V::select(z_s.gt(zero), f.large, f.small);
    let sp_s = (z_s.max(zero) + f.ln_1p_t) * loss_scale;
    let Some([p, w]) = weights else {
        return (sp_s, grad_scale * (sign * sig_s));
    };
    let positive = y.gt(zero);
    let (inner, outer) = (
        V::select(positive, w.min(p), V::splat(1.0)),
        V::select(positive, w.max(p), w),
    );
    let grad = sign * ((outer * grad_scale) * (inner * sig_s)) + zero;
    (
        outer * (inner * sp_s),
        unweighted_where_overflowed(grad, &f, [y, not_y], [p, w], grad_scale),
    )
}

/// [`bce_terms`]' arithmetic; `PLAIN` for a vector whose logits all take
/// the split exponential's fast path (every |z| < 87) and, with weights,
/// whose labels are all in [0, 1] (or NaN): it multiplies where the general
/// path calls [`weighted`], and tests the range once. The same bits: there
/// softplus(±z) is finite and positive, so no product is 0·inf; 1 − y is
/// never −0; the inner products are finite (labels in [0, 1]), so a zero
/// weight gives a ±0; and the only −0 that a plain product gives where
/// `weighted` gives +0 (a label or term of −0) is added to a term that is
/// not −0, which leaves the same sum.
#[inline(always)]
fn bce_terms_on<V: Lane, const PLAIN: bool>(
    z: V,
    [y, not_y]: [V; 2],
    weights: Option<[V; 2]>,
    loss_scale: V,
    grad_scale: V,
) -> (V, V) {
    let product = weighted_or_plain::<V, PLAIN>;
    let f = logistic_on::<V, PLAIN>(z);
    let (sp, sp_neg) = (f.sp * loss_scale, f.sp_neg * loss_scale);
    let Some([p, w]) = weights else {
        let loss = product(not_y, sp) + product(y, sp_neg);
        return (
            loss,
            grad_scale * (not_y * f.sig) - grad_scale * (y * f.sig_neg),
        );
    };
    let negative = product(w, product(not_y, sp));
    let (low, high) = (w.min(p), w.max(p));
    let positive = product(high, product(low, product(y, sp_neg)));
    let grad = (w * grad_scale) * (not_y * f.sig) - (high * grad_scale) * (low * (y * f.sig_neg));
    (
        negative + positive,
        unweighted_where_overflowed(grad, &f, [y, not_y], [p, w], grad_scale),
    )
}

/// The weighted gradient `grad`, but where it overflowed. The positive
/// term alone can overflow where the gradient does not (w·p·y·σ(−z) beyond
/// f32::MAX, w(1−y)σ(z) bringing the difference back below it: −inf for a
/// finite −2.9e38, found by fuzzing). The first term cannot (it is at most
/// w), so such lanes read −inf: they take the difference of the unweighted
/// terms first, then the weight, which overflows only where the gradient
/// does. Rare: the other lanes keep their bits.
#[inline(always)]
fn unweighted_where_overflowed<V: Lane>(
    grad: V,
    f: &Logistic<V>,
    [y, not_y]: [V; 2],
    [p, w]: [V; 2],
    grad_scale: V,
) -> V {
    let overflowed = grad.abs().eq(V::splat(f32::INFINITY));
    if V::any(overflowed) {
        let unweighted = not_y * f.sig - p * (y * f.sig_neg);
        V::select(overflowed, (w * grad_scale) * unweighted, grad)
    } else {
        grad
    }
}

/// Vector k of `xs`, padded past its end: [`load_at`], whose 64-byte tail
/// buffer a one-lane build (where every vector is one element) does not
/// need on its stack.
#[inline(always)]
fn load(xs: &[f32], k: usize) -> SigmoidSimd {
    if <SigmoidSimd as Lane>::WIDTH == 1 {
        <SigmoidSimd as Lane>::splat(xs.get(k).copied().unwrap_or(0.0))
    } else {
        load_at(xs, k, 0.0)
    }
}

/// Vector k of a per-output array broadcast over rows: lanes
/// `values[(k·W + j) % C]`, C = `values.len()`. The offset of the next
/// vector is carried in `cursor` (vector index, offset), so the sequential
/// passes take one contiguous load per vector and no division unless the
/// vector wraps around the end of a row; a jump (the re-summing pass
/// starts again at 0) recomputes it.
#[inline(always)]
fn broadcast_lanes(values: &[f32], k: usize, cursor: &mut (usize, usize)) -> SigmoidSimd {
    let width = <SigmoidSimd as Lane>::WIDTH;
    let c = values.len();
    let offset = if cursor.0 == k {
        cursor.1
    } else {
        k.saturating_mul(width).checked_rem(c).unwrap_or(0)
    };
    let next = offset + width;
    *cursor = (
        k + 1,
        if next < c {
            next
        } else {
            next.checked_rem(c).unwrap_or(0)
        },
    );
    match values.get(offset..next) {
        Some(full) => <SigmoidSimd as Lane>::load(full),
        None => {
            let mut buf = [0.0f32; <SigmoidSimd as Lane>::WIDTH];
            let mut i = offset;
            for b in buf.iter_mut().take(width) {
                *b = values.get(i).copied().unwrap_or(0.0);
                i = if i + 1 < c { i + 1 } else { 0 };
            }
            load_at(&buf, 0, 0.0)
        }
    }
}

/// Checks a per-output array against `n` elements: non-empty and dividing
/// n (else [`Error::LengthMismatch`] with `expected` = n, a length that
/// always divides), finite and non-negative.
fn check_per_output(name: &'static str, n: usize, values: &[f32]) -> Result<(), Error> {
    if values.is_empty() || n.checked_rem(values.len()) != Some(0) {
        return Err(Error::LengthMismatch {
            argument: name,
            expected: n.max(1),
            found: values.len(),
            shape: None,
        });
    }
    check_weights(name, values)
}

fn check_weights(name: &'static str, w: &[f32]) -> Result<(), Error> {
    // Without a branch per weight inside a block, so that the test
    // vectorizes: element weights are as many as the logits, and the
    // short-circuiting form cost 14 instructions per weight (default build).
    let valid = |v: f32| (0.0..=f32::MAX).contains(&v);
    if w.chunks(256)
        .all(|block| block.iter().fold(true, |ok, &v| ok & valid(v)))
    {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name })
    }
}

/// Runs a per-element loss over the slice: writes the gradient of the
/// reduced loss into `grad` and each loss into `per_element` (each unless
/// empty) and returns the reduced loss. `lane(k, loss_scale, grad_scale)`
/// gives vector k's (loss·loss_scale, gradient·grad_scale): loss_scale is
/// 1, or 2⁻⁶⁴ to re-sum a total whose f32 lane sums overflowed (element
/// losses near f32::MAX); grad_scale is the reduction's 1/n or 1, applied
/// inside so an element gradient above f32::MAX with a representable mean
/// does not overflow first.
fn reduce_elements(
    n: usize,
    reduction: Reduction,
    grad: &mut [f32],
    per_element: &mut [f32],
    mut lane: impl FnMut(usize, SigmoidSimd, SigmoidSimd) -> (SigmoidSimd, SigmoidSimd),
) -> f32 {
    if <SigmoidSimd as Lane>::WIDTH == 1 {
        return one_lane_total(n, reduction, grad, per_element, lane);
    }
    let scale = match reduction {
        Reduction::Mean if n > 0 => 1.0 / n as f64,
        _ => 1.0,
    };
    let s = <SigmoidSimd as Lane>::splat(scale as f32);
    let one = <SigmoidSimd as Lane>::splat(1.0);
    // Inlined into the summing loop, with the element closure if that is
    // (BCE's default options): no call per vector, vectors in registers.
    let [total] = blocked_sum::<SigmoidSimd, 1>(
        n,
        #[inline(always)]
        |k, valid| {
            let (loss, g) = lane(k, one, s);
            store_at(g, grad, k);
            store_at(loss, per_element, k);
            [<SigmoidSimd as Lane>::select_or_zero(valid, loss)]
        },
    );
    let total = if total.is_finite() {
        total
    } else {
        rescaled_sum(n, |k, valid, down| {
            <SigmoidSimd as Lane>::select_or_zero(valid, lane(k, down, s).0)
        })
    };
    (total * scale) as f32
}

/// [`reduce_elements`] on one-lane builds (Cortex-M, RISC-V, wasm without
/// simd128), without f64, whose every operation is a soft-float call on a
/// single-precision FPU (about 3 KB of flash for these two losses): the
/// total is Kahan's compensated f32 sum, relative error ≤ 2u + 2n·u² for
/// non-negative terms (u = 2⁻²⁴; Knuth, TAOCP vol. 2, 4.2.2), which is
/// below the blocked sum's 2⁻²² for n ≤ 2²² (16 MiB of logits, beyond the
/// RAM of the targets that use this path); the mean divides it by n once,
/// exactly as the vector path's final rounding. A non-finite partial sum is
/// not compensated (an infinite element keeps the total +inf instead of
/// turning it into NaN); an overflowed total is summed again from the
/// losses scaled by 2⁻⁶⁴, as [`rescaled_sum`] does.
fn one_lane_total(
    n: usize,
    reduction: Reduction,
    grad: &mut [f32],
    per_element: &mut [f32],
    mut lane: impl FnMut(usize, SigmoidSimd, SigmoidSimd) -> (SigmoidSimd, SigmoidSimd),
) -> f32 {
    let count = n as f32;
    let mean = reduction == Reduction::Mean && n > 0;
    let grad_scale = if mean { 1.0 / count } else { 1.0 };
    let divide = |sum: f32| if mean { sum / count } else { sum };
    let first = divide(kahan_pass(n, &mut lane, 1.0, grad_scale, grad, per_element));
    if first.is_finite() {
        first
    } else {
        divide(kahan_pass(n, &mut lane, DOWN, grad_scale, &mut [], &mut [])) * UP
    }
}

/// One pass of [`one_lane_total`]: stores each element's gradient and
/// loss (where the outputs are non-empty) and returns the compensated sum
/// of the losses times `loss_scale`.
#[inline(always)]
fn kahan_pass(
    n: usize,
    lane: &mut impl FnMut(usize, SigmoidSimd, SigmoidSimd) -> (SigmoidSimd, SigmoidSimd),
    loss_scale: f32,
    grad_scale: f32,
    grad: &mut [f32],
    per_element: &mut [f32],
) -> f32 {
    let (mut sum, mut compensation) = (0.0f32, 0.0f32);
    for k in 0..n {
        let (loss, g) = lane(
            k,
            <SigmoidSimd as Lane>::splat(loss_scale),
            <SigmoidSimd as Lane>::splat(grad_scale),
        );
        store_at(g, grad, k);
        store_at(loss, per_element, k);
        let y = loss.first() - compensation;
        let t = sum + y;
        compensation = if t.is_finite() { (t - sum) - y } else { 0.0 };
        sum = t;
    }
    sum
}

/// The optional-output convention of every loss: `labels` and a requested
/// gradient have the logits' length, and so do per-element losses if asked for.
fn check_shapes(
    n: usize,
    labels: &[f32],
    grad: &Option<&mut [f32]>,
    per_element: &Option<&mut [f32]>,
) -> Result<(), Error> {
    check_len("labels", n, labels.len())?;
    check_optional_len("grad", n, grad)?;
    check_optional_len("per_element", n, per_element)
}

/// Binary cross-entropy with logits, loss returned and gradient written in
/// one pass: per element
/// w·[(1−y)·softplus(z) + p·y·softplus(−z)] (PyTorch's value, in a form that
/// does not cancel), gradient w·[(1−y)·σ(z) − p·y·σ(−z)], reduced by mean
/// (over elements) or sum. `grad` gets the gradient of the reduced loss and
/// `per_element`, when `Some`, each element's loss.
///
/// # Accuracy
/// For labels in [0, 1] (smoothed labels exact: y·(1 − ε) + ε/2 and
/// (1 − y)·(1 − ε) + ε/2 are each formed from non-negative terms, with
/// 1 − ε kept as an exact f32 pair, so neither cancels), each
/// element's loss within 4 ULP and its gradient within 6 ULP of
/// max(|g|, w(1−y)σ(z), wpyσ(−z)), both plus
/// max(1, w, p, wp)·(1 + |z|)·2⁻¹⁴⁸ absolute. The loss is relative, tiny
/// losses included: softplus is ≤ 2 ULP and both terms are non-negative.
/// The gradient takes σ(±z) from the algorithm of the public
/// [`sigmoid`](crate::sigmoid()), ≤ 2 ULP, the same bits, and the loss a
/// softplus within 2 ULP from the same exponential (both swept over all 2³²
/// inputs by `tests/elementwise_ulp.rs`), then up to five roundings;
/// the fuzzer reached 5.2 with the mean's 1/n, which multiplies the
/// gradient and its max(…) but not the absolute term. That term is for a
/// partial product that underflows to a subnormal (σ or softplus for
/// |z| > 87.3, or y·softplus times a small weight): it carries an absolute
/// error that the other factors scale (found by fuzzing; only results below
/// about that size feel it). At an infinite logit 1 + |z| reads as 1: the
/// loss is exactly 0 or +inf (special values), but y·σ(−z) times a tiny
/// weight can still underflow in the gradient (found by fuzzing). The
/// reduced loss is a blocked sum of the element losses, within 2⁻²² of
/// their sum (relative, error independent of n), then times 1/n for a mean
/// and rounded to f32: within the element bounds summed (times 1/n), plus
/// 2⁻²² relative, plus ½ ULP; +inf if an element loss is. Checked against
/// f64 in `tests/sigmoid_family.rs` and by the `bce` fuzz target.
///
/// # Special values
/// | z | y | loss | gradient |
/// |---|---|---|---|
/// | +inf | 1 | 0 | 0 |
/// | +inf | < 1 | +inf | w(1−y) |
/// | −inf | 0 | 0 | 0 |
/// | −inf | > 0 | +inf | −wpy |
/// | NaN, or y NaN | | NaN (that element) | NaN (that element) |
///
/// # Errors
/// [`Error::LengthMismatch`] if `labels`, per-element `weights`, `grad` or
/// a requested `per_element` differ in length from `logits`, or if a
/// per-output `pos_weight` or `weights` is empty or its length does not
/// divide the number of elements (then `expected` is that number);
/// [`Error::InvalidParameter`] for ε outside [0, 1] or a negative or
/// non-finite weight or pos_weight.
///
/// # Cost
/// One pass: reads logits, labels (and weights), writes the gradient; one
/// exponential, one division and one logarithm per element.
///
/// # Examples
/// ```
/// use logitkit::{BceOptions, PosWeight, bce_with_logits_with_grad};
/// let z = [3.0f32, -1.0, 0.0];
/// let y = [1.0f32, 0.0, 1.0];
/// let mut grad = [0.0f32; 3];
/// let opts = BceOptions { pos_weight: PosWeight::All(2.0), ..Default::default() };
/// let loss = bce_with_logits_with_grad(&z, &y, &opts, &mut grad, None)?;
/// assert!(loss > 0.0 && grad[0] < 0.0 && grad[1] > 0.0);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn bce_with_logits_with_grad(
    logits: &[f32],
    labels: &[f32],
    options: &BceOptions,
    grad: &mut [f32],
    per_element: Option<&mut [f32]>,
) -> Result<f32, Error> {
    bce(logits, labels, options, Some(grad), per_element)
}

/// The loss of [`bce_with_logits_with_grad`] without the gradient; each
/// element's loss goes into `per_element` when it is `Some`.
///
/// # Errors
/// As [`bce_with_logits_with_grad`].
pub fn bce_with_logits(
    logits: &[f32],
    labels: &[f32],
    options: &BceOptions,
    per_element: Option<&mut [f32]>,
) -> Result<f32, Error> {
    bce(logits, labels, options, None, per_element)
}

fn bce(
    logits: &[f32],
    labels: &[f32],
    options: &BceOptions,
    grad: Option<&mut [f32]>,
    per_element: Option<&mut [f32]>,
) -> Result<f32, Error> {
    let n = logits.len();
    check_shapes(n, labels, &grad, &per_element)?;
    if !(0.0..=1.0).contains(&options.label_smoothing) {
        return Err(Error::InvalidParameter {
            name: "label_smoothing",
        });
    }
    match options.weights {
        ElementWeights::PerElement(w) => {
            check_len("weights", n, w.len())?;
            check_weights("weights", w)?;
        }
        ElementWeights::PerOutput(w) => check_per_output("weights", n, w)?,
        ElementWeights::None => {}
    }
    match options.pos_weight {
        PosWeight::All(p) => check_weights("pos_weight", &[p])?,
        PosWeight::PerOutput(ps) => check_per_output("pos_weight", n, ps)?,
        PosWeight::None => {}
    }
    bce_elements(
        logits,
        labels,
        options,
        grad.unwrap_or(&mut []),
        per_element.unwrap_or(&mut []),
    )
}

/// The pass of [`bce`] once the arguments are valid. Not inlined, and it
/// returns the public result itself, so the validation tail-calls it: the
/// validation's frame (the error's bytes among them) is gone before this
/// frame (the element closure's captures) is pushed, which keeps a
/// Cortex-M4F's stack smaller (`docs/firmware.md`).
#[inline(never)]
fn bce_elements(
    logits: &[f32],
    labels: &[f32],
    options: &BceOptions,
    grad: &mut [f32],
    per_element: &mut [f32],
) -> Result<f32, Error> {
    let n = logits.len();
    let eps = options.label_smoothing;
    // 1 − ε as keep + keep_lo exactly (TwoSum), and ε/2 (exact unless ε is
    // subnormal, where the absolute term of the bound covers it): the
    // smoothed label y·(1 − ε) + ε/2 and its complement (1 − y)·(1 − ε) +
    // ε/2 are each sums of non-negative terms, formed with the low part
    // so only the products and the last addition round. Forming the label
    // first and 1 − y′ from it cancelled: 4.17 ULP for y = 1, ε small.
    // Formed from ε where used rather than captured: the closure's
    // captures are a Cortex-M4F frame (docs/firmware.md).
    let smooth = move |y: SigmoidSimd| {
        let eps = options.label_smoothing;
        let (keep, keep_lo) = two_sum(1.0, -eps);
        let (keep, keep_lo, half) = (
            <SigmoidSimd as Lane>::splat(keep),
            <SigmoidSimd as Lane>::splat(keep_lo),
            <SigmoidSimd as Lane>::splat(0.5 * eps),
        );
        y.mul_add(keep, y.mul_add(keep_lo, half))
    };
    if <SigmoidSimd as Lane>::WIDTH > 1 && eps == 0.0 {
        let io = ElementIo {
            logits,
            labels,
            reduction: options.reduction,
            grad,
            per_element,
        };
        return Ok(match options.weights {
            ElementWeights::None if matches!(options.pos_weight, PosWeight::None) => {
                io.unweighted()
            }
            ElementWeights::None => io.pos_weighted(options.pos_weight),
            ElementWeights::PerElement(w) => io.with_pos_weight(
                options.pos_weight,
                #[inline(always)]
                move |k| load(w, k),
            ),
            ElementWeights::PerOutput(w) => {
                let mut cursor = (0, 0);
                // Inlined, as every weight source: a call per vector returns
                // the vector through memory (30 % slower on the default
                // build with a pos_weight per class).
                io.with_pos_weight(
                    options.pos_weight,
                    #[inline(always)]
                    move |k| broadcast_lanes(w, k, &mut cursor),
                )
            }
        });
    }
    let mut pos_cursor = (0, 0);
    let mut weight_cursor = (0, 0);
    Ok(reduce_elements(
        n,
        options.reduction,
        grad,
        per_element,
        move |k, loss_scale, grad_scale| {
            let (z, y) = (load(logits, k), load(labels, k));
            // Not captured: a constant, and the closure's captures are a
            // Cortex-M4F frame (docs/firmware.md).
            let one = <SigmoidSimd as Lane>::splat(1.0);
            let labels = if options.label_smoothing > 0.0 {
                [smooth(y), smooth(one - y)]
            } else {
                [y, one - y]
            };
            let w = match options.weights {
                ElementWeights::PerElement(w) => load(w, k),
                ElementWeights::PerOutput(w) => broadcast_lanes(w, k, &mut weight_cursor),
                ElementWeights::None => one,
            };
            let p = match options.pos_weight {
                PosWeight::All(p) => <SigmoidSimd as Lane>::splat(p),
                PosWeight::PerOutput(ps) => broadcast_lanes(ps, k, &mut pos_cursor),
                PosWeight::None => one,
            };
            bce_lane(z, labels, p, w, loss_scale, grad_scale)
        },
    ))
}

/// The weight source of [`ElementIo::run`] without weights: 1 everywhere.
#[inline(always)]
fn no_weight(_: usize) -> SigmoidSimd {
    <SigmoidSimd as Lane>::splat(1.0)
}

/// BCE's slices and reduction, for the summing loops of the options
/// without label smoothing on vector builds.
struct ElementIo<'a> {
    logits: &'a [f32],
    labels: &'a [f32],
    reduction: Reduction,
    grad: &'a mut [f32],
    per_element: &'a mut [f32],
}

impl ElementIo<'_> {
    /// [`ElementIo::run`] with the element weights `w` and `pos_weight`.
    #[inline(always)]
    fn with_pos_weight(self, pos_weight: PosWeight, w: impl FnMut(usize) -> SigmoidSimd) -> f32 {
        match pos_weight {
            PosWeight::None => self.run(w, no_weight),
            PosWeight::All(p) => self.run(
                w,
                #[inline(always)]
                move |_| <SigmoidSimd as Lane>::splat(p),
            ),
            PosWeight::PerOutput(ps) => {
                let mut cursor = (0, 0);
                self.run(
                    w,
                    #[inline(always)]
                    move |k| broadcast_lanes(ps, k, &mut cursor),
                )
            }
        }
    }

    /// [`reduce_elements`] over these slices with the element function
    /// `lane`.
    #[inline(always)]
    fn sum(
        self,
        lane: impl FnMut(usize, SigmoidSimd, SigmoidSimd) -> (SigmoidSimd, SigmoidSimd),
    ) -> f32 {
        reduce_elements(
            self.logits.len(),
            self.reduction,
            self.grad,
            self.per_element,
            lane,
        )
    }

    /// [`ElementIo::run`] without element weights: the pos_weight forms
    /// in loops of their own, written out. Through [`ElementIo::run`] with
    /// w = 1 the pos_weight per class ran 11 % slower natively (AVX-512).
    #[inline(always)]
    fn pos_weighted(self, pos_weight: PosWeight) -> f32 {
        let (logits, labels) = (self.logits, self.labels);
        let one = <SigmoidSimd as Lane>::splat(1.0);
        let labels_at = |k| {
            let y = load(labels, k);
            [y, one - y]
        };
        match pos_weight {
            PosWeight::None => self.unweighted(),
            PosWeight::All(p) => {
                let p = <SigmoidSimd as Lane>::splat(p);
                self.sum(
                    #[inline(always)]
                    move |k, loss_scale, grad_scale| {
                        let z = load(logits, k);
                        bce_terms(z, labels_at(k), Some([p, one]), loss_scale, grad_scale)
                    },
                )
            }
            PosWeight::PerOutput(ps) => {
                let mut cursor = (0, 0);
                self.sum(
                    #[inline(always)]
                    move |k, loss_scale, grad_scale| {
                        let (z, p) = (load(logits, k), broadcast_lanes(ps, k, &mut cursor));
                        bce_terms(z, labels_at(k), Some([p, one]), loss_scale, grad_scale)
                    },
                )
            }
        }
    }

    /// One summing loop per form of the element weights `w` and the
    /// pos_weight `p` (each pair of sources is its own instance), with the
    /// element arithmetic and the sources inlined: no call per vector
    /// passes vectors through memory. Through the general loop's call per
    /// vector, element weights as a mask cost 1.47 times as much on the
    /// default build and 1.71 times natively (`docs/performance.md`,
    /// "BCE with a pos_weight, inlined"). Vector builds only, where the
    /// loops are worth their code size.
    #[inline(always)]
    fn run(
        self,
        mut w: impl FnMut(usize) -> SigmoidSimd,
        mut p: impl FnMut(usize) -> SigmoidSimd,
    ) -> f32 {
        let (logits, labels) = (self.logits, self.labels);
        self.sum(
            #[inline(always)]
            move |k, loss_scale, grad_scale| {
                let (z, y) = (load(logits, k), load(labels, k));
                let one = <SigmoidSimd as Lane>::splat(1.0);
                bce_terms(z, [y, one - y], Some([p(k), w(k)]), loss_scale, grad_scale)
            },
        )
    }

    /// The default options' loop: [`ElementIo::run`] with w = p = 1 left
    /// out of the arithmetic (the same bits, see [`bce_terms`]).
    #[inline(always)]
    fn unweighted(self) -> f32 {
        let (logits, labels) = (self.logits, self.labels);
        self.sum(
            #[inline(always)]
            move |k, loss_scale, grad_scale| {
                let (z, y) = (load(logits, k), load(labels, k));
                let one = <SigmoidSimd as Lane>::splat(1.0);
                bce_terms(z, [y, one - y], None, loss_scale, grad_scale)
            },
        )
    }
}

/// Per-lane focal loss and gradient (see [`sigmoid_focal_loss_with_grad`]).
///
/// A vector of binary labels whose logits all take the split exponential's
/// fast path (every |z| < 87, the usual case) goes through
/// [`focal_terms`] with plain products in place of seven of its
/// [`weighted`] ones, the same bits: there σ(±z) are normal and softplus(±z)
/// finite and positive, so ce > 0, the ratio is positive, 1 − 2y is ±1,
/// α_t is never −0, and the one product that can be −0 (γ = 0 times a
/// non-positive term) is added to a gradient term that is not zero. The
/// loss's and the gradient's last products keep `weighted` (m^γ and α_t·m^γ
/// may underflow to +0). Vector builds only: one-lane builds keep one copy.
#[inline(always)]
fn focal_lane<V: Lane>(z: V, y: V, gamma: f32, alpha: Option<f32>) -> (V, V) {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let (is_one, is_zero) = (y.eq(one), y.eq(zero));
    // Binary labels (the usual case) need neither ln m nor the division;
    // they take the same selects in both branches, so a lane's bits do not
    // depend on its neighbours' labels.
    let binary = V::all(is_one | is_zero);
    if V::WIDTH > 1 && binary && V::all(exp_fast_lanes(z)) {
        focal_terms::<V, true>(z, y, [is_one, is_zero], true, gamma, alpha)
    } else {
        focal_terms::<V, false>(z, y, [is_one, is_zero], binary, gamma, alpha)
    }
}

/// [`focal_lane`]'s arithmetic; `PLAIN` for the vectors it names.
#[inline(always)]
fn focal_terms<V: Lane, const PLAIN: bool>(
    z: V,
    y: V,
    [is_one, is_zero]: [V::Mask; 2],
    binary: bool,
    gamma: f32,
    alpha: Option<f32>,
) -> (V, V) {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let product = weighted_or_plain::<V, PLAIN>;
    let f = logistic_on::<V, PLAIN>(z);
    let not_y = one - y;
    // 1 − 2y: ±1 for binary labels.
    let sign = one - y - y;
    // m = 1 − p_t = y·σ(−z) + (1−y)·σ(z); ln m exactly −softplus(±z) for
    // binary labels (so m^γ is right even where m underflows), ln of the
    // linear sum otherwise.
    // ratio: m^(γ−1)·σ(z)σ(−z) = m^γ·ratio, ratio = σ(z)σ(−z)/m without 0/0.
    let (ce, m, ratio, ce_slope) = if PLAIN {
        // Binary labels: with z_s = (1 − 2y)·z (exact), m = σ(z_s),
        // ratio = σ(−z_s), ce = softplus(z_s) and ce_slope = (1 − 2y)·m:
        // one select of σ(±|z|) for each of m and ratio, where the forms
        // below select σ(±z) first and then by the label, and form ce and
        // ce_slope from both σ and both softplus values times the labels.
        // The same bits: here each label product is +0 or its factor,
        // added to a positive term or subtracted from +0, and σ(z_s),
        // softplus(z_s) are the selects and sums that σ(±z), softplus(±z)
        // are. Default build: the focal loss 5.9 % faster, natively 5.0 %
        // (`docs/performance.md`, "Binary labels by their sign").
        let z_s = sign * z;
        let up = z_s.gt(zero);
        let m = V::select(up, f.large, f.small);
        (
            z_s.max(zero) + f.ln_1p_t,
            m,
            V::select(up, f.small, f.large),
            sign * m,
        )
    } else {
        let ce = product(not_y, f.sp) + product(y, f.sp_neg);
        let m = if binary {
            V::select(is_one, f.sig_neg, f.sig)
        } else {
            y * f.sig_neg + not_y * f.sig
        };
        let ratio = if binary {
            V::select(is_one, f.sig, f.sig_neg)
        } else {
            V::select(
                is_one,
                f.sig,
                V::select(is_zero, f.sig_neg, f.sig * f.sig_neg / m),
            )
        };
        (ce, m, ratio, not_y * f.sig - y * f.sig_neg)
    };
    // γ = 1 and 2 (the usual choice) by multiplication: no second
    // exponential, and more accurate than e^{γ·ln m} where m is near 1
    // (3.5 against 14 ULP on the loss at γ = 2 in `tests/sigmoid_family.rs`).
    let m_gamma = if gamma == 0.0 {
        one
    } else if gamma == 1.0 {
        m
    } else if gamma == 2.0 {
        m * m
    } else {
        let ln_m = if binary {
            V::select(is_one, -f.sp, -f.sp_neg)
        } else {
            V::select(is_one, -f.sp, V::select(is_zero, -f.sp_neg, ln_lane(m)))
        };
        exp_lane(V::splat(gamma) * ln_m)
    };
    // ratio·ce is bounded (σ(∓z)·softplus(±z) → 0 as |z| → ∞), so it is
    // formed first and only γ can make the product large; forming γ·ce first
    // overflowed for a huge γ (found by fuzzing). 0·inf = 0 in every factor:
    // the limit, where a vanishing ratio meets an infinite ce.
    let focus = product(V::splat(gamma), product(sign, product(ratio, ce)));
    // α·y + (1−α)(1−y): two non-negative terms. The affine form
    // y·(2α − 1) + (1 − α) cancels at y = 1 and lost 30 ULP of a small α
    // (found by fuzzing).
    let alpha_t = match alpha {
        Some(a) => product(y, V::splat(a)) + product(not_y, V::splat(1.0 - a)),
        None => one,
    };
    let scale = alpha_t * m_gamma;
    (
        weighted(m_gamma, product(alpha_t, ce)),
        weighted(scale, ce_slope + focus),
    )
}

/// Sigmoid focal loss (Lin et al. 2017; torchvision's `sigmoid_focal_loss`,
/// optax's `sigmoid_focal_loss`): per element α_t·(1 − p_t)^γ·BCE(z, y)
/// with p = σ(z), p_t = p·y + (1−p)(1−y), α_t = α·y + (1−α)(1−y), computed
/// in log space ((1 − p_t)^γ = e^{−γ·softplus(±z)} for binary labels) so it
/// stays finite and accurate for every finite logit; for γ = 1 and 2 (the
/// usual choice) as 1 − p_t = σ(∓z) and its square, which is faster and,
/// where 1 − p_t is near 1, more accurate. Returns the reduced
/// loss; writes the gradient of the reduced loss into `grad` and each
/// element's loss into `per_element` when it is `Some`.
///
/// # Accuracy
/// For labels in {0, 1} and γ ≤ 64: relative error ≤ 8 ULP +
/// γ·|ln(1 − p_t)|·2⁻²³ (the conditioning of x ↦ x^γ); the gradient within
/// 12 ULP, plus 2⁻²² and γ·|ln(1 − p_t)|·2⁻²³ relative; both plus
/// (1 + γ)(1 + |z|)·2⁻¹⁴⁸ absolute where (1 − p_t)^γ is subnormal (found by
/// fuzzing). The gradient's two terms have the same sign for binary labels,
/// so it is relatively accurate too; the mean's 1/n multiplies it and its
/// bound but not the absolute term. Infinite logits give the limits. The
/// reduced loss is bounded as [`bce_with_logits_with_grad`]'s. With γ = 0
/// it is the α-weighted BCE: for labels 0 and 1 and a sum, loss and
/// gradient within 2 ULP of [`bce_with_logits_with_grad`] with weights α_t.
/// Larger γ is accepted (no NaN from NaN-free input) but its products
/// underflow: σ(∓z) vanishes in f32 where γ·σ(∓z) does not. Checked against
/// f64 in `tests/sigmoid_family.rs` and by the `bce` fuzz target.
///
/// # Special values
/// Infinite logits take the limits (loss 0 or +inf, gradient finite); NaN in
/// a logit or label gives NaN in that element only.
///
/// # Errors
/// [`Error::LengthMismatch`] as for [`bce_with_logits_with_grad`];
/// [`Error::InvalidParameter`] for γ < 0 or non-finite, α outside [0, 1].
///
/// # Cost
/// One pass; two exponentials and one logarithm per element for labels 0
/// and 1 (one exponential for γ ∈ {0, 1, 2}), a second logarithm and a
/// division for vectors with other labels (not for γ ∈ {0, 1, 2}).
///
/// # Examples
/// ```
/// use logitkit::{FocalOptions, sigmoid_focal_loss_with_grad};
/// let mut grad = [0.0f32; 2];
/// let loss = sigmoid_focal_loss_with_grad(&[4.0, -4.0], &[1.0, 1.0], &FocalOptions::default(), &mut grad, None)?;
/// assert!(loss > 0.0 && grad[1] < grad[0] && grad[0] <= 0.0);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn sigmoid_focal_loss_with_grad(
    logits: &[f32],
    labels: &[f32],
    options: &FocalOptions,
    grad: &mut [f32],
    per_element: Option<&mut [f32]>,
) -> Result<f32, Error> {
    focal(logits, labels, options, Some(grad), per_element)
}

/// The loss of [`sigmoid_focal_loss_with_grad`] without the gradient; each
/// element's loss goes into `per_element` when it is `Some`.
///
/// # Errors
/// As [`sigmoid_focal_loss_with_grad`].
pub fn sigmoid_focal_loss(
    logits: &[f32],
    labels: &[f32],
    options: &FocalOptions,
    per_element: Option<&mut [f32]>,
) -> Result<f32, Error> {
    focal(logits, labels, options, None, per_element)
}

fn focal(
    logits: &[f32],
    labels: &[f32],
    options: &FocalOptions,
    grad: Option<&mut [f32]>,
    per_element: Option<&mut [f32]>,
) -> Result<f32, Error> {
    let n = logits.len();
    check_shapes(n, labels, &grad, &per_element)?;
    if !(options.gamma >= 0.0 && options.gamma.is_finite()) {
        return Err(Error::InvalidParameter { name: "gamma" });
    }
    if options.alpha.is_some_and(|a| !(0.0..=1.0).contains(&a)) {
        return Err(Error::InvalidParameter { name: "alpha" });
    }
    Ok(reduce_elements(
        n,
        options.reduction,
        grad.unwrap_or(&mut []),
        per_element.unwrap_or(&mut []),
        #[inline(always)]
        |k, loss_scale, grad_scale| {
            let (z, y) = (load(logits, k), load(labels, k));
            let (loss, grad) = focal_lane(z, y, options.gamma, options.alpha);
            (loss * loss_scale, grad * grad_scale)
        },
    ))
}
