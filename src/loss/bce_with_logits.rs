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
use crate::lane::{Lane, MAX_WIDTH, Simd, load_at, store_at};
use crate::math::exp::exp_lane;
use crate::math::ln::ln_lane;
use crate::reduce::{blocked_sum, rescaled_sum};
use crate::sigmoid::logistic;

/// `pos_weight` of [`BceOptions`]: the weight p of the positive term.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum PosWeight<'a> {
    /// p = 1.
    #[default]
    None,
    /// One p for every element.
    All(f32),
    /// One p per output: element i uses `p[i % p.len()]` (a row-major batch
    /// of `p.len()` outputs per row).
    PerOutput(&'a [f32]),
}

/// Options of [`bce_with_logits_with_grad`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BceOptions<'a> {
    /// Weight of the positive term (PyTorch's `pos_weight`); finite, ≥ 0.
    pub pos_weight: PosWeight<'a>,
    /// One finite, non-negative weight per element (PyTorch's `weight`).
    pub weights: Option<&'a [f32]>,
    /// ε ∈ [0, 1]: labels become y·(1 − ε) + ε/2.
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

/// Per-lane BCE loss and gradient for labels `y`, positive weights `p` and
/// element weights `w`.
#[inline(always)]
///
/// The factors are multiplied smallest first (y·softplus or y·σ, then the
/// smaller of w and p, then the larger), so no product overflows unless
/// the result does: forming w·p·y first overflowed for w·p > f32::MAX with
/// a representable loss (found by fuzzing).
/// `loss_scale` multiplies the loss (1, or 2⁻⁶⁴ to re-sum an overflowed
/// total); it scales the softplus values, so an infinite one stays infinite
/// (scaling a tiny label instead underflowed it to 0 and dropped a +inf
/// element from the total: found by fuzzing).
fn bce_lane<V: Lane>(z: V, y: V, p: V, w: V, loss_scale: V, grad_scale: V) -> (V, V) {
    let f = logistic(z);
    let not_y = V::splat(1.0) - y;
    let negative = weighted(w, weighted(not_y, f.sp * loss_scale));
    let (low, high) = (w.min(p), w.max(p));
    let positive = weighted(high, weighted(low, weighted(y, f.sp_neg * loss_scale)));
    let grad = (w * grad_scale) * (not_y * f.sig) - (high * grad_scale) * (low * (y * f.sig_neg));
    (negative + positive, grad)
}

fn pos_weight_lanes(pw: &PosWeight, k: usize) -> Simd {
    match *pw {
        PosWeight::None => <Simd as Lane>::splat(1.0),
        PosWeight::All(p) => <Simd as Lane>::splat(p),
        PosWeight::PerOutput(ps) => {
            let mut buf = [1.0f32; MAX_WIDTH];
            let start = k * <Simd as Lane>::WIDTH;
            for (j, b) in buf.iter_mut().enumerate().take(<Simd as Lane>::WIDTH) {
                if let Some(len) = core::num::NonZeroUsize::new(ps.len()) {
                    *b = ps.get((start + j) % len).copied().unwrap_or(1.0);
                }
            }
            load_at(&buf, 0, 1.0)
        }
    }
}

fn check_weights(name: &'static str, w: &[f32]) -> Result<(), Error> {
    if w.iter().all(|&v| v >= 0.0 && v.is_finite()) {
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
    mut lane: impl FnMut(usize, Simd, Simd) -> (Simd, Simd),
) -> f32 {
    let scale = match reduction {
        Reduction::Mean if n > 0 => 1.0 / n as f64,
        _ => 1.0,
    };
    let s = <Simd as Lane>::splat(scale as f32);
    let (zero, one) = (<Simd as Lane>::splat(0.0), <Simd as Lane>::splat(1.0));
    let [total] = blocked_sum::<Simd, 1>(n, |k, valid| {
        let (loss, g) = lane(k, one, s);
        store_at(g, grad, k);
        store_at(loss, per_element, k);
        [<Simd as Lane>::select(valid, loss, zero)]
    });
    let total = if total.is_finite() {
        total
    } else {
        rescaled_sum(n, |k, valid, down| {
            <Simd as Lane>::select(valid, lane(k, down, s).0, zero)
        })
    };
    (total * scale) as f32
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
/// For labels in [0, 1] (smoothed labels as rounded to f32), each
/// element's loss within 4 ULP and its gradient within 6 ULP of
/// max(|g|, w(1−y)σ(z), wpyσ(−z)), both plus
/// max(1, w, p, wp)·(1 + |z|)·2⁻¹⁴⁸ absolute. The loss is relative, tiny
/// losses included: softplus is ≤ 2 ULP and both terms are non-negative.
/// The gradient takes σ from the shared logistic quotient, ≤ 2.83 ULP over
/// all 2³² inputs (`tests/elementwise_ulp.rs`), then up to five roundings;
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
/// [`Error::LengthMismatch`] if `labels`, `weights`, `grad` or a requested
/// `per_element` differ in length from `logits`, or if a per-output
/// `pos_weight` is empty; [`Error::InvalidParameter`] for ε outside [0, 1]
/// or a negative or non-finite weight or pos_weight.
///
/// # Cost
/// One pass: reads logits, labels (and weights), writes the gradient.
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
    if let Some(w) = options.weights {
        check_len("weights", n, w.len())?;
        check_weights("weights", w)?;
    }
    match options.pos_weight {
        PosWeight::All(p) => check_weights("pos_weight", &[p])?,
        PosWeight::PerOutput([]) => {
            return Err(Error::LengthMismatch {
                argument: "pos_weight",
                expected: 1,
                found: 0,
                shape: None,
            });
        }
        PosWeight::PerOutput(ps) => check_weights("pos_weight", ps)?,
        PosWeight::None => {}
    }
    let eps = options.label_smoothing;
    let (keep, shift) = (
        <Simd as Lane>::splat(1.0 - eps),
        <Simd as Lane>::splat(0.5 * eps),
    );
    Ok(reduce_elements(
        n,
        options.reduction,
        grad.unwrap_or(&mut []),
        per_element.unwrap_or(&mut []),
        |k, loss_scale, grad_scale| {
            let z = load_at::<Simd>(logits, k, 0.0);
            let y = load_at::<Simd>(labels, k, 0.0);
            let y = if eps > 0.0 { y.mul_add(keep, shift) } else { y };
            let w = options
                .weights
                .map_or(<Simd as Lane>::splat(1.0), |w| load_at::<Simd>(w, k, 0.0));
            let p = pos_weight_lanes(&options.pos_weight, k);
            bce_lane(z, y, p, w, loss_scale, grad_scale)
        },
    ))
}

/// Per-lane focal loss and gradient (see [`sigmoid_focal_loss_with_grad`]).
#[inline(always)]
fn focal_lane<V: Lane>(z: V, y: V, gamma: f32, alpha: Option<f32>) -> (V, V) {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let f = logistic(z);
    let not_y = one - y;
    let ce = weighted(not_y, f.sp) + weighted(y, f.sp_neg);
    // m = 1 − p_t = y·σ(−z) + (1−y)·σ(z); ln m exactly −softplus(±z) for
    // binary labels (so m^γ is right even where m underflows), ln of the
    // linear sum otherwise.
    let m = y * f.sig_neg + not_y * f.sig;
    let is_one = y.eq(one);
    let is_zero = y.eq(zero);
    let ln_m = V::select(is_one, -f.sp, V::select(is_zero, -f.sp_neg, ln_lane(m)));
    let m_gamma = if gamma == 0.0 {
        one
    } else {
        exp_lane(V::splat(gamma) * ln_m)
    };
    // m^(γ−1)·σ(z)σ(−z) = m^γ·ratio, ratio = σ(z)σ(−z)/m without 0/0.
    let ratio = V::select(
        is_one,
        f.sig,
        V::select(is_zero, f.sig_neg, f.sig * f.sig_neg / m),
    );
    let ce_slope = not_y * f.sig - y * f.sig_neg;
    // ratio·ce is bounded (σ(∓z)·softplus(±z) → 0 as |z| → ∞), so it is
    // formed first and only γ can make the product large; forming γ·ce first
    // overflowed for a huge γ (found by fuzzing). 0·inf = 0 in every factor:
    // the limit, where a vanishing ratio meets an infinite ce.
    let focus = weighted(V::splat(gamma), weighted(one - y - y, weighted(ratio, ce)));
    // α·y + (1−α)(1−y): two non-negative terms. The affine form
    // y·(2α − 1) + (1 − α) cancels at y = 1 and lost 30 ULP of a small α
    // (found by fuzzing).
    let alpha_t = match alpha {
        Some(a) => weighted(y, V::splat(a)) + weighted(not_y, V::splat(1.0 - a)),
        None => one,
    };
    let scale = alpha_t * m_gamma;
    (
        weighted(m_gamma, weighted(alpha_t, ce)),
        weighted(scale, ce_slope + focus),
    )
}

/// Sigmoid focal loss (Lin et al. 2017; torchvision's `sigmoid_focal_loss`,
/// optax's `sigmoid_focal_loss`): per element α_t·(1 − p_t)^γ·BCE(z, y)
/// with p = σ(z), p_t = p·y + (1−p)(1−y), α_t = α·y + (1−α)(1−y), computed
/// in log space ((1 − p_t)^γ = e^{−γ·softplus(±z)} for binary labels) so it
/// stays finite and accurate for every finite logit. Returns the reduced
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
/// One pass; two exponentials and two logarithms per element.
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
        |k, loss_scale, grad_scale| {
            let z = load_at::<Simd>(logits, k, 0.0);
            let y = load_at::<Simd>(labels, k, 0.0);
            let (loss, grad) = focal_lane(z, y, options.gamma, options.alpha);
            (loss * loss_scale, grad * grad_scale)
        },
    ))
}
