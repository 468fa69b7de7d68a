//! Fused softmax cross-entropy from logits: loss and gradient in one call.
//!
//! With m = max zᵢ, S = Σ e^{zᵢ−m} = 1 + s′ and a target distribution q
//! (Q = Σ qᵢ), the loss −Σ qᵢ·log_softmaxᵢ is computed as
//! Σ qᵢ·(m − zᵢ) + Q·ln_1p(s′): every term is ≥ 0, so nothing cancels and
//! tiny losses keep their relative accuracy (Blanchard, Higham & Higham
//! 2021). The gradient is softmax·Q − q; at a unique argmax, where
//! softmax ≈ 1 would cancel against q, it is ((Q − qᵢ) − qᵢ·s′)/S instead.

use super::options::{ClassIndex, CrossEntropyOptions, Reduction};
use super::short_cross_entropy::{BatchLoss, ClassTargets, Smoothing};
use super::{one_lane_cross_entropy, short_cross_entropy};
use crate::error::{Error, check_batch_len, check_len, check_optional_len, whole_rows};
use crate::lane::{Lane, MAX_WIDTH, Simd, load_at, store_at};
use crate::reduce::{blocked_sum, row_max, row_max_min};
use crate::softmax::short_rows::{RowPass, is_medium, is_short};
use crate::softmax::softmax::scale_exps_by;
use crate::softmax::{
    Row, RowStats, SeparateIo, analyze_with_max, exp_terms, scale_exps, weighted_gap,
};

/// A class target with smoothing and weights, never materialised:
/// qᵢ = a·[i = class] + b·wᵢ (wᵢ = 1 without weights).
#[derive(Clone, Copy)]
struct ClassTarget<'w> {
    class: usize,
    a: f64,
    b: f64,
    weights: Option<&'w [f32]>,
    /// Σ wᵢ over the row.
    weight_sum: f64,
}

impl ClassTarget<'_> {
    fn weight(&self, i: usize) -> f64 {
        self.weights
            .map_or(1.0, |w| w.get(i).map_or(0.0, |&v| v as f64))
    }
    fn q(&self, i: usize) -> f64 {
        let own = if i == self.class { self.a } else { 0.0 };
        own + self.b * self.weight(i)
    }
    fn total(&self) -> f64 {
        self.a + self.b * self.weight_sum
    }
}

/// Loss of one row for a class target; writes `scale`·gradient into `grad`
/// unless `grad` is empty. Lengths and the class are already checked.
fn class_row(logits: &[f32], target: &ClassTarget, scale: f64, grad: &mut [f32]) -> f64 {
    let (max, min) = row_max_min::<Simd>(logits);
    let total = target.total();
    if !max.is_finite() {
        let row = analyze_with_max(
            max,
            RowPass::SPLIT,
            &mut SeparateIo {
                xs: logits,
                exps: &mut [],
            },
        );
        return non_finite_row(logits, row, total, |i| target.q(i), scale, grad);
    }
    let smooth = target.b > 0.0;
    let (stats, shifted, masked_weight) = if smooth {
        // Pass 2 also sums Σ wᵢ·(m − zᵢ) over finite zᵢ and the weight on
        // masked (−inf) logits, for the smoothing term.
        let (zero, one) = (<Simd as Lane>::splat(0.0), <Simd as Lane>::splat(1.0));
        let neg_inf = <Simd as Lane>::splat(f32::NEG_INFINITY);
        let weight = |k: usize, valid| match target.weights {
            Some(w) => load_at::<Simd>(w, k, 0.0),
            None => <Simd as Lane>::select_or_zero(valid, one),
        };
        let m = <Simd as Lane>::splat(max);
        let [others, below, shifted, masked] = blocked_sum::<Simd, 4>(logits.len(), |k, valid| {
            let x = load_at::<Simd>(logits, k, max);
            let (e, [o, t]) = exp_terms(x, max);
            store_at(e, grad, k);
            let (w, finite) = (weight(k, valid), x.gt(neg_inf));
            [
                o,
                t,
                <Simd as Lane>::select_or_zero(finite, weighted_gap(w, m, x)),
                <Simd as Lane>::select(finite, zero, w),
            ]
        });
        let shifted = if shifted.is_finite() {
            shifted
        } else {
            gap_sum_f64(logits, max, |i| target.weight(i))
        };
        let ties = logits.len() as f64 - below;
        (RowStats { max, others, ties }, shifted, masked)
    } else {
        match analyze_with_max(
            max,
            RowPass::of_row(max, min, false),
            &mut SeparateIo {
                xs: logits,
                exps: grad,
            },
        ) {
            Row::Finite(s) => (s, 0.0, 0.0),
            _ => return f64::NAN, // unreachable: the max is finite
        }
    };
    let target_logit = logits.get(target.class).map_or(f32::NAN, |&z| z);
    let own = if target.a > 0.0 {
        target.a * (max as f64 - target_logit as f64)
    } else {
        0.0
    };
    let smoothing = match (smooth, masked_weight > 0.0) {
        (false, _) => 0.0,
        (true, true) => f64::INFINITY,
        (true, false) => target.b * shifted,
    };
    let loss = own + smoothing + total * stats.log_sum();

    if !grad.is_empty() {
        let target_exp = grad.get(target.class).map_or(0.0, |&e| e as f64);
        let one = <Simd as Lane>::splat(1.0);
        let c = scale * total / stats.sum();
        if smooth || c > 1.0 {
            scale_exps(grad, logits, max, c, scale * target.b, |k| {
                match target.weights {
                    Some(w) if smooth => load_at::<Simd>(w, k, 0.0),
                    _ => one,
                }
            });
        } else {
            // Without smoothing every element but the target's (set below)
            // is e·c, the bits `scale_exps` gives with its term
            // coef·tᵢ = 0·1, in a plain scaling pass: 2²⁰ logits in
            // [−20, 20] natively, 0.423 → 0.379 ns per logit
            // (`docs/performance.md`, "Fast2Sum for x − m").
            scale_exps_by(grad, c as f32);
        }
        let unique_argmax = target_logit == max && stats.ties == 1.0;
        let g = precise_grad(
            target_exp,
            target.q(target.class),
            total,
            &stats,
            unique_argmax,
        );
        if let Some(slot) = grad.get_mut(target.class) {
            *slot = (scale * g) as f32;
        }
    }
    loss
}

/// Σ wᵢ·(m − zᵢ) over the finite zᵢ with wᵢ > 0, in plain f64: the rare
/// path for rows whose f32 lane sums overflowed (weights or targets near
/// f32::MAX times gaps up to 2·f32::MAX reach 2²⁵⁷, beyond any fixed f32
/// rescaling; found by fuzzing).
fn gap_sum_f64(logits: &[f32], max: f32, w: impl Fn(usize) -> f64) -> f64 {
    logits
        .iter()
        .enumerate()
        .filter(|&(i, z)| z.is_finite() && w(i) > 0.0)
        .map(|(i, &z)| w(i) * (max as f64 - z as f64))
        .sum()
}

/// pᵢ·Q − qᵢ in f64 for one element with exponential `e`; at the unique
/// argmax (e = 1) as ((Q − qᵢ) − qᵢ·s′)/S, which does not cancel.
fn precise_grad(e: f64, q: f64, total: f64, stats: &RowStats, unique_argmax: bool) -> f64 {
    if unique_argmax {
        ((total - q) - q * stats.excess()) / stats.sum()
    } else {
        e * total / stats.sum() - q
    }
}

/// Loss and gradient of a row whose max is NaN, −inf or +inf (`docs/contract.md`),
/// element by element: rare rows, no need for SIMD.
fn non_finite_row(
    logits: &[f32],
    row: Row,
    total: f64,
    q: impl Fn(usize) -> f64,
    scale: f64,
    grad: &mut [f32],
) -> f64 {
    match row {
        Row::Nan => {
            grad.fill(f32::NAN);
            f64::NAN
        }
        Row::Masked => {
            for (i, g) in grad.iter_mut().enumerate() {
                *g = (-scale * q(i)) as f32;
            }
            match total {
                t if t > 0.0 => f64::INFINITY,
                t if t.is_nan() => f64::NAN, // a NaN target weight
                _ => 0.0,
            }
        }
        Row::Infinite { count } => {
            let (k, ln_k) = (count as f64, libm::log(count as f64));
            let mut loss = 0.0;
            for (i, &z) in logits.iter().enumerate() {
                let qi = q(i);
                let at_inf = z == f32::INFINITY;
                if qi > 0.0 {
                    loss += if at_inf { qi * ln_k } else { f64::INFINITY };
                } else if qi.is_nan() {
                    loss = f64::NAN;
                }
                if let Some(g) = grad.get_mut(i) {
                    let p = if at_inf { 1.0 / k } else { 0.0 };
                    *g = (scale * (p * total - qi)) as f32;
                }
            }
            loss
        }
        Row::Finite(_) => f64::NAN, // callers handle finite rows
    }
}

/// A plain class target's row: on one-lane builds by the f32-pair kernel
/// ([`one_lane_cross_entropy`]), which links no f64 arithmetic; on vector
/// builds by the short-row kernel ([`short_cross_entropy`]) for rows of
/// at most two vectors, whose fixed cost is a few vector operations, by
/// its row-order form up to 4096 logits, and by the long-row kernel above
/// that.
fn class_row_any_width(logits: &[f32], target: &ClassTarget, grad: &mut [f32]) -> f32 {
    if <Simd as Lane>::WIDTH == 1 {
        one_lane_cross_entropy::class_row(logits, target.class, grad)
    } else if is_short(logits.len()) {
        let (hi, lo) = short_cross_entropy::class_row(logits, target.class, grad);
        hi + lo
    } else if is_medium(logits.len()) {
        short_cross_entropy::medium_class_row(logits, target.class, grad, 1.0) as f32
    } else {
        class_row(logits, target, 1.0, grad) as f32
    }
}

fn class_target(logits: &[f32], class: usize) -> Result<ClassTarget<'static>, Error> {
    if class >= logits.len() {
        return Err(Error::ClassOutOfRange {
            class,
            classes: logits.len(),
        });
    }
    Ok(ClassTarget {
        class,
        a: 1.0,
        b: 0.0,
        weights: None,
        weight_sum: logits.len() as f64,
    })
}

/// Softmax cross-entropy of one row of logits against class `target`,
/// returning the loss and writing its gradient (softmax − onehot) into `grad`.
///
/// loss = (m − z_t) + ln_1p(s′), m = max z, s′ = Σ_{zᵢ<m} e^{zᵢ−m} + ties − 1.
///
/// # Accuracy
/// Loss within 4 ULP + 2⁻²² relative, gradient within 4 ULP of
/// max(|gᵢ|, 2⁻²⁴·max|g|) + 2⁻²¹·|gᵢ|, both plus n·2⁻¹⁴⁹ (absolute, in the
/// loss and at the target's gradient only), of the exact values at any
/// magnitude, tiny losses included: the terms are non-negative, the
/// exponentials are corrected for the rounding of zᵢ − m and the sum's
/// error does not grow with n. The n·2⁻¹⁴⁹: exponentials below 2⁻¹²⁶
/// (zᵢ < m − 87.3) are subnormal and carry absolute error, felt only by
/// values below about n·2⁻¹²⁶ (found by fuzzing).
///
/// Derivation, relative errors in units of u = 2⁻²⁴: each e^{zᵢ−m} is
/// within 3u (`exp`'s 1 ULP and the rounding of the shift's correction);
/// the blocked sum of those below m adds < 3u + 2⁻²⁹, so s′ = S − 1 is
/// within < 6.1u (in the f32-pair kernel the compensated sum adds only
/// n·u², and `ln_1p`'s 1.5 ULP adds 3u to ln S). The gap m − z_t is exact
/// and ln S = ln(1 + s′) moves by at most s′'s relative error times
/// s′/(1+s′) ≤ ln(1 + s′), so the loss is within < 6.1u (f32 pairs:
/// 6u + n·u²) before its final rounding (≤ u): < 8u for n < 2²⁴, which
/// 4 ULP (> 4u) + 2⁻²² covers. Each pᵢ is
/// eᵢ (3u) over S (6.1u), with the roundings of 1/S and of the product:
/// < 11.1u·|gᵢ|. At the target, p_t − 1 with p_t ≤ ½ ≤ |g_t| (< 10.1u·|g_t|)
/// or, at a unique argmax, −s′/S, where the error of s′ cancels against
/// S's (< 7.1u). 4 ULP (> 4u) + 2⁻²¹ (8u) covers each. Rows longer than
/// 4096 logits whose f32 sums round away the last bits of every lane reach
/// 4.3 ULP on the loss and 5.6 ULP on the gradient. Checked against f64
/// and finite differences in `tests/softmax_family.rs`.
///
/// Builds whose lane is one `f32` (Cortex-M, RISC-V, wasm without
/// simd128) compute the same forms one element at a time with f32 pairs in
/// place of f64: no soft-float f64 in firmware (2 KiB of flash on a
/// Cortex-M4F with its `exp` and `ln_1p`). On vector builds, rows of at most
/// two vectors (16 logits with 8-lane vectors, 32 with AVX-512) take the
/// short-row kernel: f32 with compensated sums and ln S from `ln` (1 ULP),
/// a few vector operations per row, and the same bits as the same row in a
/// batch (`docs/accuracy.md`, "Short rows"). Rows from two vectors up to
/// 4096 logits take the same forms in row order: each lane sums its terms
/// with TwoSum (within 2⁻³⁰ of the exact sum of the exponentials), so the
/// sum adds nothing that counts to the exponentials' 3u (the test rows
/// reach 1.3 ULP on the loss, 3.1 on the gradient). The same bounds hold there,
/// checked by this crate's tests (short rows on every build)
/// and by the whole suite built with `--cfg logitkit_one_lane`
/// (`.ci/steps/one_lane.sh`).
///
/// # Special values
/// | logits | loss | gradient |
/// |---|---|---|
/// | any NaN | NaN | all NaN |
/// | z_t = −inf, others finite | +inf | softmax − onehot (finite) |
/// | every entry −inf | +inf | −onehot |
/// | k entries +inf, z_t among them | ln k | softmax − onehot |
/// | k entries +inf, z_t not | +inf | softmax − onehot |
///
/// # Errors
/// [`Error::ClassOutOfRange`] if `target >= logits.len()` (so an empty row
/// is an error); [`Error::LengthMismatch`] if `grad.len() != logits.len()`.
///
/// # Cost
/// Two passes over the logits (max; exp stored into `grad` + sum) and one
/// read-modify-write of `grad` (scale and subtract the target). On vector
/// builds the statistics of rows up to 4096 logits are finished in f32
/// pairs: a fixed cost of a few hundred instructions per row.
///
/// # Examples
/// ```
/// let logits = [2.0f32, 1.0, 0.1];
/// let mut grad = [0.0f32; 3];
/// let loss = logitkit::softmax_cross_entropy_with_grad(&logits, 0, &mut grad)?;
/// assert!((loss - 0.417_030).abs() < 1e-5);
/// assert!(grad.iter().sum::<f32>().abs() < 1e-6);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn softmax_cross_entropy_with_grad(
    logits: &[f32],
    target: usize,
    grad: &mut [f32],
) -> Result<f32, Error> {
    let t = class_target(logits, target)?;
    check_len("grad", logits.len(), grad.len())?;
    Ok(class_row_any_width(logits, &t, grad))
}

/// The loss of [`softmax_cross_entropy_with_grad`] without the gradient:
/// same accuracy and special values, two read passes over the logits.
///
/// # Errors
/// [`Error::ClassOutOfRange`] if `target >= logits.len()`.
pub fn softmax_cross_entropy(logits: &[f32], target: usize) -> Result<f32, Error> {
    let t = class_target(logits, target)?;
    Ok(class_row_any_width(logits, &t, &mut []))
}

/// Softmax cross-entropy against a probability (or any non-negative) target
/// `probs` = q: loss = −Σ qᵢ·log_softmaxᵢ with 0·inf = 0, gradient
/// softmax·Σq − q written into `grad`.
///
/// # Accuracy
/// Loss within 4 ULP + 2⁻²² relative, gradient within 4 ULP of
/// max(|gᵢ|, pᵢ·Σq, qᵢ) + 2⁻²⁰·pᵢ·Σq, both plus n·2⁻¹⁴⁹·(1 + Σq) absolute
/// (subnormal exponentials and products qᵢ·(m − zᵢ), as for
/// [`softmax_cross_entropy_with_grad`]). The loss's terms are all
/// non-negative; where the target is close to the softmax, gᵢ is a
/// difference of nearly equal numbers and only accuracy relative to
/// pᵢ·Σq and qᵢ is possible in f32.
///
/// The gradient's relative term (u = 2⁻²⁴): pᵢ·Σq is eᵢ (3u, as for
/// [`softmax_cross_entropy_with_grad`]) times Σq/S, where the blocked sum
/// Σq carries 3u + 2⁻²⁹ and S 6.1u, rounded to f32 (u): < 13.1u·pᵢ·Σq before
/// the product's and the difference's roundings (≤ 1 ULP of the larger
/// term each); 4 ULP covers those and 2u·pᵢ·Σq, 2⁻²⁰ (16u) the rest. A
/// target whose f32 lane sums round away their last bits reaches 5.1 ULP of
/// max(|gᵢ|, pᵢ·Σq, qᵢ), beyond 4 ULP alone (`tests/softmax_family.rs`).
/// One-lane builds (firmware) compute with f32 pairs instead of f64, the
/// loss as Σ qᵢ·(m − zᵢ + ln S), within the same bounds.
///
/// # Special values
/// As [`softmax_cross_entropy_with_grad`], with "the target" read as every
/// class with qᵢ > 0: a zero target weight contributes nothing, even on a
/// −inf logit. NaN in `probs` gives a NaN loss.
///
/// # Errors
/// [`Error::LengthMismatch`] unless the three slices have equal lengths;
/// [`Error::InvalidParameter`] (`"probs"`) if some qᵢ < 0 or qᵢ = +inf.
///
/// # Cost
/// One read of `probs` to validate it, two passes over the logits (max;
/// exp stored into `grad` + sums with `probs`) and one pass over `grad` and
/// `probs` (scale and subtract).
///
/// # Examples
/// ```
/// let mut grad = [0.0f32; 2];
/// let loss = logitkit::softmax_cross_entropy_probs_with_grad(&[0.0, 0.0], &[0.5, 0.5], &mut grad)?;
/// assert!((loss - core::f32::consts::LN_2).abs() < 1e-6);
/// assert_eq!(grad, [0.0, 0.0]);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn softmax_cross_entropy_probs_with_grad(
    logits: &[f32],
    probs: &[f32],
    grad: &mut [f32],
) -> Result<f32, Error> {
    check_len("grad", logits.len(), grad.len())?;
    let target = probs_row(logits, probs)?;
    if <Simd as Lane>::WIDTH == 1 {
        return Ok(one_lane_cross_entropy::probs_row(logits, probs, grad));
    }
    Ok(probs_row_run(logits, &target, 1.0, grad) as f32)
}

/// The loss of [`softmax_cross_entropy_probs_with_grad`] without the
/// gradient.
///
/// # Errors
/// [`Error::LengthMismatch`] if the lengths differ; [`Error::InvalidParameter`]
/// if some qᵢ < 0 or qᵢ = +inf.
pub fn softmax_cross_entropy_probs(logits: &[f32], probs: &[f32]) -> Result<f32, Error> {
    let target = probs_row(logits, probs)?;
    if <Simd as Lane>::WIDTH == 1 {
        return Ok(one_lane_cross_entropy::probs_row(logits, probs, &mut []));
    }
    Ok(probs_row_run(logits, &target, 1.0, &mut []) as f32)
}

/// Where a probability-target row's target q comes from: read a vector at
/// a time by the row kernel ([`probs_row_run`]), element by element in f64
/// on its rare paths.
trait ProbsSource {
    /// q of vector `k` of the row (elements k·W ..), 0 past its end, in
    /// units of [`ProbsSource::unit`].
    fn lanes(&self, k: usize) -> Simd;
    /// qᵢ in f64 (0 past the end of the row).
    fn at(&self, i: usize) -> f64;
    /// The power of two the lanes are scaled by: 1 unless the targets
    /// exceed f32's range.
    fn unit(&self) -> f64 {
        1.0
    }
    /// Σ_{qᵢ>0} qᵢ·(m − zᵢ) and Σqᵢ in f64 for a row with a finite max m, or
    /// `None` to take the lane sums of pass 2.
    fn exact_sums(&self, _logits: &[f32], _max: f32) -> Option<(f64, f64)> {
        None
    }
}

/// A target given as f32 values, read as they are.
struct Probs<'a>(&'a [f32]);

impl ProbsSource for Probs<'_> {
    #[inline(always)]
    fn lanes(&self, k: usize) -> Simd {
        load_at::<Simd>(self.0, k, 0.0)
    }
    fn at(&self, i: usize) -> f64 {
        self.0.get(i).map_or(0.0, |&v| v as f64)
    }
}

/// PyTorch's target of a probability row with class weights w and label
/// smoothing ε over C classes: tᵢ = wᵢ·((1 − ε)·qᵢ + ε/C), formed in f64
/// (within 3·2⁻⁵³) and rounded once to f32 for the lanes (within 2⁻²⁴),
/// its sums taken in f64.
struct WeightedProbs<'a> {
    probs: &'a [f32],
    weights: Option<&'a [f32]>,
    /// 1 − ε (exact in f64).
    keep: f64,
    /// ε/C.
    spread: f64,
    /// 2⁻ᵏ: the lanes hold tᵢ·2⁻ᵏ, so no lane overflows f32 (k = 0 unless
    /// some tᵢ > 2¹⁰⁰: weights and targets near f32::MAX reach 2²⁵⁶).
    down: f64,
}

impl<'a> WeightedProbs<'a> {
    fn new(probs: &'a [f32], options: &CrossEntropyOptions<'a>) -> Self {
        let epsilon = options.label_smoothing as f64;
        let mut row = WeightedProbs {
            probs,
            weights: options.class_weights,
            keep: 1.0 - epsilon,
            spread: epsilon / probs.len().max(1) as f64,
            down: 1.0,
        };
        let largest = (0..probs.len()).map(|i| row.at(i)).fold(0.0, f64::max);
        if largest > TARGET_LANE_LIMIT {
            let exponent = ((largest.to_bits() >> 52) & 0x7ff) as i32 - 1023;
            row.down = f64::from_bits(((1023 + 100 - exponent).max(1) as u64) << 52);
        }
        row
    }
}

/// 2¹⁰⁰: above this a row's targets go into the lanes scaled down.
const TARGET_LANE_LIMIT: f64 = 1.2676506002282294e30;

impl ProbsSource for WeightedProbs<'_> {
    fn lanes(&self, k: usize) -> Simd {
        let mut lanes = [0.0f32; MAX_WIDTH];
        for (j, lane) in lanes.iter_mut().take(Simd::WIDTH).enumerate() {
            *lane = (self.at(k * Simd::WIDTH + j) * self.down) as f32;
        }
        lanes
            .get(..Simd::WIDTH)
            .map_or(<Simd as Lane>::splat(0.0), <Simd as Lane>::load)
    }
    fn at(&self, i: usize) -> f64 {
        let Some(&q) = self.probs.get(i) else {
            return 0.0;
        };
        let w = self
            .weights
            .map_or(1.0, |w| w.get(i).map_or(0.0, |&v| v as f64));
        w * (self.keep * q as f64 + self.spread)
    }
    fn unit(&self) -> f64 {
        1.0 / self.down
    }
    fn exact_sums(&self, logits: &[f32], max: f32) -> Option<(f64, f64)> {
        let (mut gap, mut total) = (0.0, 0.0);
        for (i, &z) in logits.iter().enumerate() {
            let t = self.at(i);
            total += t;
            // 0·inf = 0: a class with tᵢ = 0 adds nothing, even at zᵢ = −inf.
            if t > 0.0 {
                gap += t * (max as f64 - z as f64);
            }
        }
        Some((gap, total))
    }
}

/// Checks a probability target: NaN passes (a NaN loss, like a NaN
/// logit); −q or +inf has no meaning.
fn check_probs(probs: &[f32]) -> Result<(), Error> {
    if probs.iter().any(|&q| q < 0.0 || q == f32::INFINITY) {
        return Err(Error::InvalidParameter { name: "probs" });
    }
    Ok(())
}

fn probs_row<'a>(logits: &[f32], probs: &'a [f32]) -> Result<Probs<'a>, Error> {
    check_len("probs", logits.len(), probs.len())?;
    check_probs(probs)?;
    Ok(Probs(probs))
}

/// The row kernel of every probability-target form: returns the loss
/// −Σ qᵢ·log_softmaxᵢ of `logits` against `target` and, unless `grad` is
/// empty, writes `scale`·(softmax·Σq − q) into it. Lengths are checked.
fn probs_row_run(logits: &[f32], target: &impl ProbsSource, scale: f64, grad: &mut [f32]) -> f64 {
    let max = row_max::<Simd>(logits);
    if !max.is_finite() {
        // Rare rows: Σq in plain f64, which cannot overflow.
        let total = (0..logits.len()).map(|i| target.at(i)).sum();
        let row = analyze_with_max(
            max,
            RowPass::SPLIT,
            &mut SeparateIo {
                xs: logits,
                exps: &mut [],
            },
        );
        return non_finite_row(logits, row, total, |i| target.at(i), scale, grad);
    }
    let zero = <Simd as Lane>::splat(0.0);
    let m = <Simd as Lane>::splat(max);
    let [others, below, weighted_gap, total] = blocked_sum::<Simd, 4>(logits.len(), |k, _| {
        let x = load_at::<Simd>(logits, k, max);
        let q = target.lanes(k);
        let (e, [o, t]) = exp_terms(x, max);
        store_at(e, grad, k);
        // 0·inf = 0: a class with qᵢ = 0 adds nothing, even at zᵢ = −inf.
        [
            o,
            t,
            <Simd as Lane>::select_or_zero(q.gt(zero), weighted_gap(q, m, x)),
            q,
        ]
    });
    let q = |i: usize| target.at(i);
    let (weighted_gap, total) = match target.exact_sums(logits, max) {
        Some(sums) => sums,
        None => {
            let masked_target = || {
                logits
                    .iter()
                    .enumerate()
                    .any(|(i, &z)| q(i) > 0.0 && z == f32::NEG_INFINITY)
            };
            let weighted_gap = if weighted_gap.is_finite() || masked_target() {
                weighted_gap
            } else {
                gap_sum_f64(logits, max, q)
            };
            let total = if total.is_finite() {
                total
            } else {
                (0..logits.len()).map(q).sum()
            };
            (weighted_gap, total)
        }
    };
    // Ties from the count below (`exp_terms`), exact in f64.
    let ties = logits.len() as f64 - below;
    let stats = RowStats { max, others, ties };
    let loss = weighted_gap + total * stats.log_sum();
    if !grad.is_empty() {
        let argmax = if ties == 1.0 {
            logits.iter().position(|&z| z == max)
        } else {
            None
        };
        scale_exps(
            grad,
            logits,
            max,
            scale * total / stats.sum(),
            scale * target.unit(),
            |k| target.lanes(k),
        );
        if let Some(i) = argmax
            && let Some(g) = grad.get_mut(i)
        {
            *g = (scale * precise_grad(1.0, q(i), total, &stats, true)) as f32;
        }
    }
    loss
}

/// Softmax cross-entropy over a row-major batch: `logits` holds
/// `targets.len()` rows of C = `logits.len() / targets.len()` classes.
/// Returns the reduced loss, writes the gradient of that loss into `grad`
/// (same shape as `logits`), and each row's loss into `per_row` when it is
/// `Some` (with [`Reduction::Sum`] that is PyTorch's `reduction='none'`).
///
/// Options ([`CrossEntropyOptions`]) follow PyTorch's `cross_entropy`: label
/// smoothing ε, class weights, an ignore index, mean or sum. The targets may
/// be any integer type a dataset stores ([`ClassIndex`]: `u8` … `usize`,
/// `i8` … `i64`); with signed targets the ignore index may be negative,
/// as PyTorch's −100.
///
/// # Accuracy
/// Row r is a probability target q = (1 − ε)·w_t·onehot(t) + (ε/C)·w with
/// Σq = (1 − ε)·w_t + ε·Σw/C, whose gradient before the reduction is
/// g = softmax·Σq − q; the reduction scales by f = 1/Σ w_t over the rows
/// not ignored (mean) or 1 (sum). Each row's loss (`per_row`) is within the
/// bound of [`softmax_cross_entropy_probs_with_grad`]: 4 ULP + 2⁻²²
/// relative, plus C·2⁻¹⁴⁹·(1 + Σq). The reduced loss is the rows' f64
/// losses summed in f64, scaled and rounded once: within 4 ULP + 2⁻²² relative +
/// f·C·2⁻¹⁴⁹·Σ_r(1 + Σq). The gradient, that kernel's bound scaled by f:
/// each element within 4 ULP of f·max(|gᵢ|, pᵢ·Σq, qᵢ) +
/// f·(2⁻²⁰·pᵢ·Σq + C·2⁻¹⁴⁹·(1 + Σq)).
///
/// Derivation (u = 2⁻²⁴): Σq is formed in f64 from the options, exact to
/// 2⁻⁵⁰; the f32 coefficients f·Σq/S (S within 6.1u, rounded: u) and f·ε/C
/// (u) and the product with wᵢ (u) leave pᵢ·Σq within < 10.1u and qᵢ
/// within < 2u before the final roundings, inside the probability
/// target's budget. A row's loss is (1 − ε)·w_t·(m − z_t) (exact in f64) +
/// (ε/C)·Σ wᵢ·(m − zᵢ) (two roundings per term and the blocked sum:
/// < 5.1u) + Σq·ln S (< 6.1u): < 6.1u; the f64 sum and scale add < 2⁻⁴⁸
/// and the rounding to f32 u: < 8u. Checked element by element against
/// PyTorch's definition written out in f64 in `tests/softmax_family.rs`.
/// On one-lane builds (firmware) the f64 quantities are f32 pairs, the
/// loss is Σ tᵢ·(m − zᵢ + ln S) with each product's powers of two set
/// aside, and the same bounds hold, checked by the same tests built with
/// `--cfg logitkit_one_lane` (`docs/accuracy.md`, "The one-lane build").
///
/// These bounds hold for ε, class weights and (with the mean) the total
/// target weight that are 0 or within [2⁻⁶⁰, 2⁶⁰]; beyond, coefficients
/// such as ε·w/C/Σw can be subnormal in f32 and the gradient loses relative
/// accuracy (found by fuzzing), though it stays finite and NaN-free.
///
/// # Special values
/// NaN stays in its row: that row's loss and gradient are NaN (and so the
/// reduced loss), other rows' gradients are unaffected. A batch with every
/// target ignored (or zero total weight) has loss 0 and a zero gradient.
/// With ε > 0 a −inf logit carries target weight, so its row's loss is +inf.
///
/// # Errors
/// [`Error::NotWholeRows`] if `logits.len()` is not a multiple of
/// `targets.len()`; [`Error::LengthMismatch`] if `grad` differs from
/// `logits` in length, if `per_row` is not one per row, or if the class
/// weights are not one per class (an empty batch, 0 rows, takes weights of
/// any length: loss 0, nothing written); [`Error::ClassOutOfRange`] for a target ≥ C that is not the ignore
/// index; [`Error::InvalidParameter`] (`"targets"`) for a negative target that
/// is not the ignore index, and for ε outside [0, 1] or a negative or
/// non-finite class weight. Nothing is written on error.
///
/// # Cost
/// Per row, as the single-row kernel: two passes over the logits and one
/// over the gradient. On vector builds, rows of at most two vectors go W at
/// a time, one row per vector lane (transposed in registers). Without label
/// smoothing each row of up to 4096 logits gets the bits of
/// [`softmax_cross_entropy_with_grad`] on it, its loss times its weight and
/// its gradient times the f32 product of its weight and the reduction's
/// scale (one more rounding, inside the bound). With it, rows of up to
/// 4096 logits (W at a time, or one at a time in row order beyond two
/// vectors) sum the weighted gaps Σ wᵢ·(m − zᵢ) as f32 products with
/// TwoSum (within the 5.1u of the derivation above) and are finished in
/// f64 from the pairs of their statistics; rows whose coefficient f·Σq/S
/// exceeds 1, or whose maximum or weighted gaps are not finite, and longer
/// rows take the long-row kernel.
///
/// # Examples
/// ```
/// use logitkit::{CrossEntropyOptions, Reduction, softmax_cross_entropy_batch_with_grad};
/// let logits = [2.0f32, 1.0, 0.1, /* row 2 */ 0.0, 5.0, 0.0];
/// let mut grad = [0.0f32; 6];
/// let opts = CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() };
/// let loss = softmax_cross_entropy_batch_with_grad(&logits, &[0, 1], &opts, &mut grad, None)?;
/// assert!(loss > 0.0 && grad.iter().sum::<f32>().abs() < 1e-6);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn softmax_cross_entropy_batch_with_grad<T: ClassIndex>(
    logits: &[f32],
    targets: &[T],
    options: &CrossEntropyOptions,
    grad: &mut [f32],
    per_row: Option<&mut [f32]>,
) -> Result<f32, Error> {
    batch(logits, targets, options, Some(grad), per_row)
}

/// The loss of [`softmax_cross_entropy_batch_with_grad`] without the
/// gradient (per-row losses still written into `per_row` when it is `Some`).
///
/// # Errors
/// As [`softmax_cross_entropy_batch_with_grad`].
pub fn softmax_cross_entropy_batch<T: ClassIndex>(
    logits: &[f32],
    targets: &[T],
    options: &CrossEntropyOptions,
    per_row: Option<&mut [f32]>,
) -> Result<f32, Error> {
    batch(logits, targets, options, None, per_row)
}

fn batch<T: ClassIndex>(
    logits: &[f32],
    targets: &[T],
    options: &CrossEntropyOptions,
    grad: Option<&mut [f32]>,
    per_row: Option<&mut [f32]>,
) -> Result<f32, Error> {
    let rows = targets.len();
    let classes = logits.len().checked_div(rows).unwrap_or(0);
    if rows * classes != logits.len() {
        return Err(Error::NotWholeRows {
            rows,
            found: logits.len(),
        });
    }
    if let Some(g) = grad.as_deref().filter(|g| g.len() != logits.len()) {
        return Err(Error::LengthMismatch {
            argument: "grad",
            expected: logits.len(),
            found: g.len(),
            shape: Some((rows, classes)),
        });
    }
    check_optional_len("per_row", rows, &per_row)?;
    // An empty batch (a variable last batch) is valid with any class
    // weights: it has no class count to compare them with.
    let weights_for = match (rows, options.class_weights) {
        (0, Some(w)) => w.len(),
        _ => classes,
    };
    options.validate(weights_for)?;
    // Each row's class, or `None` where its target is the ignore index.
    let ignore = options.ignore_index.map(i128::from);
    let class_of = |t: T| (Some(t.value()) != ignore).then(|| t.value());
    // One pass over the targets validates them and sums the mean's
    // denominator Σ w_t over the rows with a target, in row order (a
    // count without class weights).
    let (mut counted, mut weight_total) = (0usize, 0.0f64);
    for &t in targets {
        match class_of(t) {
            Some(c) if c < 0 => return Err(Error::InvalidParameter { name: "targets" }),
            Some(c) if c >= classes as i128 => {
                return Err(Error::ClassOutOfRange {
                    class: usize::try_from(c).unwrap_or(usize::MAX),
                    classes,
                });
            }
            Some(c) => {
                counted += 1;
                // Not on one-lane builds, which link no f64 arithmetic.
                if <Simd as Lane>::WIDTH > 1 && options.class_weights.is_some() {
                    weight_total +=
                        short_cross_entropy::class_weight(options.class_weights, c as usize);
                }
            }
            None => {}
        }
    }
    let class_targets = ClassTargets {
        classes: targets,
        ignore,
    };
    let row_class = |r: usize| class_targets.class(r);
    let grad = grad.unwrap_or(&mut []);
    if <Simd as Lane>::WIDTH == 1 {
        // Firmware: f32 pairs where this function uses f64 below.
        return Ok(one_lane_cross_entropy::batch(
            logits, rows, row_class, options, grad, per_row,
        ));
    }
    let weight = |i: usize| short_cross_entropy::class_weight(options.class_weights, i);
    let weight_sum = options
        .class_weights
        .map_or(classes as f64, |w| w.iter().map(|&v| v as f64).sum());
    let denominator = match (options.reduction, options.class_weights) {
        (Reduction::Mean, None) => counted as f64,
        (Reduction::Mean, Some(_)) => weight_total,
        (Reduction::Sum, _) => 1.0,
    };
    // No target weight to average over: loss 0 and a zero gradient, but the
    // per-row losses (PyTorch's reduction='none') are still each row's own.
    let scale = if denominator == 0.0 {
        0.0
    } else {
        1.0 / denominator
    };
    let epsilon = options.label_smoothing as f64;
    let target_of = |t: usize| ClassTarget {
        class: t,
        a: (1.0 - epsilon) * weight(t),
        b: epsilon / classes as f64,
        weights: options.class_weights,
        weight_sum,
    };
    if (is_short(classes) || is_medium(classes)) && epsilon == 0.0 {
        return Ok(short_batch(
            logits,
            rows,
            class_targets,
            options.class_weights,
            scale,
            grad,
            per_row,
        ));
    }
    let mut batch_loss = BatchLoss::new(per_row);
    let mut keep_row_loss = |r: usize, loss: f64| batch_loss.add(r, loss);
    if is_short(classes) || is_medium(classes) {
        // Label smoothing on rows up to 4096: short rows W at a time, the
        // others in row order, the long kernel only for the rows outside
        // their ranges.
        let grad = if scale == 0.0 {
            grad.fill(0.0);
            &mut []
        } else {
            grad
        };
        let smoothing = Smoothing {
            epsilon,
            weights: options.class_weights,
            weight_sum,
            spread: epsilon / classes as f64,
        };
        let fallback = |_, row: &[f32], t, g: &mut [f32]| class_row(row, &target_of(t), scale, g);
        if is_short(classes) {
            short_cross_entropy::smoothed_batch(
                logits,
                classes,
                &smoothing,
                class_targets,
                scale,
                grad,
                fallback,
                &mut keep_row_loss,
            );
        } else {
            short_cross_entropy::smoothed_rows_in_order(
                logits,
                classes,
                &smoothing,
                row_class,
                scale,
                grad,
                fallback,
                &mut keep_row_loss,
            );
        }
        return Ok(if scale == 0.0 {
            0.0
        } else {
            (batch_loss.total * scale) as f32
        });
    }
    let mut grad_rows = grad.chunks_exact_mut(classes.max(1));
    for r in 0..rows {
        let row = logits.get(r * classes..(r + 1) * classes).unwrap_or(&[]);
        let g = grad_rows.next().unwrap_or(&mut []);
        let Some(t) = row_class(r) else {
            g.fill(0.0);
            keep_row_loss(r, 0.0);
            continue;
        };
        let loss = if scale == 0.0 {
            g.fill(0.0);
            class_row(row, &target_of(t), 1.0, &mut [])
        } else {
            class_row(row, &target_of(t), scale, g)
        };
        keep_row_loss(r, loss);
    }
    Ok(if scale == 0.0 {
        0.0
    } else {
        (batch_loss.total * scale) as f32
    })
}

/// Softmax cross-entropy over a row-major batch with probability targets:
/// `logits` and `probs` hold rows of `classes` values, row r's target q
/// being row r of `probs`. Returns the reduced loss, writes the gradient of
/// that loss into `grad` (same shape as `logits`), and each row's loss into
/// `per_row` when it is `Some` (with [`Reduction::Sum`] that is PyTorch's
/// `reduction='none'`).
///
/// The options ([`CrossEntropyOptions`]) follow PyTorch's `cross_entropy`
/// with a float target: with class weights w (all 1 if none) and label
/// smoothing ε over C = `classes`, row r's target is
/// tᵢ = wᵢ·((1 − ε)·qᵢ + ε/C) and its loss −Σ tᵢ·log_softmaxᵢ (0·inf = 0).
/// [`Reduction::Mean`] divides the sum of the row losses by the number of
/// rows, not by a total weight: that is PyTorch's mean for probability
/// targets (its weighted mean by Σ w_t is for class targets only).
/// `ignore_index` has no meaning for probability targets and must be
/// `None`.
///
/// # Accuracy
/// With f the reduction's factor (1/rows for the mean, 1 for the sum) and
/// gᵢ = pᵢ·Σt − tᵢ a row's gradient before it: each per-row loss within
/// 4 ULP + 2⁻²² relative + C·2⁻¹⁴⁹·(1 + Σt), the bound of
/// [`softmax_cross_entropy_probs_with_grad`]; the reduced loss within
/// 4 ULP + 2⁻²² relative + f·C·2⁻¹⁴⁹·Σ_r(1 + Σt); with the weighted,
/// smoothed target t: each gradient element within 4 ULP of
/// f·max(|gᵢ|, pᵢ·Σt, tᵢ) + f·(2⁻²⁰·pᵢ·Σt + C·2⁻¹⁴⁹·(1 + Σt)).
///
/// Derivation (u = 2⁻²⁴). Without class weights and with ε = 0, t = q and
/// each row runs the single-row kernel: per-row losses, and with the sum
/// the gradient too, are the bits of
/// [`softmax_cross_entropy_probs_with_grad`] on the row; the mean's f
/// enters in f64 in the coefficient Σq·f/S (one rounding, as Σq/S) and as
/// the f32 coefficient f of qᵢ (u, and u for the product). Otherwise tᵢ is
/// formed in f64 (within 3·2⁻⁵³) and rounded once to f32 (u) for the
/// gradient, while Σt and Σ tᵢ·(m − zᵢ) are summed in f64 (< 2⁻⁵⁰, all
/// terms non-negative): the loss Σ tᵢ·(m − zᵢ) + Σt·ln S is within ln S's
/// < 6.1u (as for [`softmax_cross_entropy_with_grad`]) before its rounding
/// (u): < 8u, inside 4 ULP (> 4u) + 2⁻²². In the gradient, pᵢ·Σt·f is eᵢ
/// (3u) times the rounded f·Σt/S (6.1u + u) and the product's rounding (u):
/// < 12.1u, inside 2⁻²⁰ (16u); f·tᵢ carries < 3u (t's rounding, f's and the
/// product's), which with the difference's rounding (u·|gᵢ|) 4 ULP (> 4u)
/// covers. The reduced loss is the rows' f64 losses summed in f64, scaled
/// and rounded once, as for [`softmax_cross_entropy_batch_with_grad`].
/// Checked element by element against PyTorch's definition written out in
/// f64 (`tests/softmax_family.rs`, `tests/checks/cross_entropy.rs`).
/// On one-lane builds (firmware) the f64 quantities are f32 pairs, the
/// loss is Σ tᵢ·(m − zᵢ + ln S) with each product's powers of two set
/// aside, and the same bounds hold, checked by the same tests built with
/// `--cfg logitkit_one_lane` (`docs/accuracy.md`, "The one-lane build").
///
/// These bounds hold while f·Σt stays within f32's range in every row;
/// beyond (weights times targets near f32::MAX), a gradient element can be
/// −inf where its exact value is finite, though it stays NaN-free.
///
/// # Special values
/// Row by row as [`softmax_cross_entropy_probs_with_grad`], "the target"
/// being every class with tᵢ > 0: NaN (in a logit or a target) stays in its
/// row, whose loss and gradient are NaN (and so the reduced loss); other
/// rows are unaffected. A −inf logit with tᵢ > 0 (so any −inf logit when
/// ε > 0 and its weight is positive) makes its row's loss +inf. An empty
/// batch (no rows, or `classes` = 0 with empty slices) has loss 0.
///
/// # Errors
/// [`Error::RaggedRows`] if `logits.len()` is not a whole number of rows of
/// `classes` (`classes` = 0 is valid only with no logits);
/// [`Error::LengthMismatch`] (`"probs"`, `"grad"`) if `probs` or `grad`
/// differs from `logits` in length, (`"per_row"`) if `per_row` is not one
/// value per row, (`"class_weights"`) if the class weights are not one per
/// class; [`Error::InvalidParameter`] (`"label_smoothing"`) for ε outside
/// [0, 1], (`"class_weights"`) for a negative or non-finite class weight,
/// (`"ignore_index"`) if `ignore_index` is `Some`, (`"probs"`) if some
/// qᵢ < 0 or qᵢ = +inf. Nothing is written on error.
///
/// # Cost
/// One read of `probs` to validate it; per row, as the single-row kernel:
/// two passes over the logits (max; exp stored into `grad` + sums with the
/// target) and one over the gradient. With class weights or ε > 0, each row
/// also forms its target in f64 in the second and third passes and once
/// more for the f64 sums. Every row takes this long-row kernel, whatever
/// its width.
///
/// # Examples
/// ```
/// use logitkit::{CrossEntropyOptions, softmax_cross_entropy_probs_batch_with_grad};
/// let logits = [0.0f32, 0.0, /* row 2 */ 3.0, -1.0];
/// let probs = [0.5f32, 0.5, /* row 2 */ 1.0, 0.0];
/// let mut grad = [1.0f32; 4];
/// let mut per_row = [0.0f32; 2];
/// let opts = CrossEntropyOptions::default(); // the mean over rows
/// let loss = softmax_cross_entropy_probs_batch_with_grad(
///     &logits, &probs, 2, &opts, &mut grad, Some(&mut per_row),
/// )?;
/// assert!((per_row[0] - core::f32::consts::LN_2).abs() < 1e-6);
/// assert!((loss - (per_row[0] + per_row[1]) / 2.0).abs() < 1e-6);
/// assert_eq!(&grad[..2], &[0.0, 0.0]);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub fn softmax_cross_entropy_probs_batch_with_grad(
    logits: &[f32],
    probs: &[f32],
    classes: usize,
    options: &CrossEntropyOptions,
    grad: &mut [f32],
    per_row: Option<&mut [f32]>,
) -> Result<f32, Error> {
    probs_batch(logits, probs, classes, options, Some(grad), per_row)
}

/// The loss of [`softmax_cross_entropy_probs_batch_with_grad`] without the
/// gradient (per-row losses still written into `per_row` when it is
/// `Some`): the same bits, the same accuracy and special values, the
/// passes without the gradient's.
///
/// # Errors
/// As [`softmax_cross_entropy_probs_batch_with_grad`], without `"grad"`.
pub fn softmax_cross_entropy_probs_batch(
    logits: &[f32],
    probs: &[f32],
    classes: usize,
    options: &CrossEntropyOptions,
    per_row: Option<&mut [f32]>,
) -> Result<f32, Error> {
    probs_batch(logits, probs, classes, options, None, per_row)
}

fn probs_batch(
    logits: &[f32],
    probs: &[f32],
    classes: usize,
    options: &CrossEntropyOptions,
    grad: Option<&mut [f32]>,
    per_row: Option<&mut [f32]>,
) -> Result<f32, Error> {
    let rows = whole_rows(logits.len(), classes)?;
    let shape = (rows, classes);
    check_batch_len("probs", logits.len(), probs.len(), shape)?;
    if let Some(g) = grad.as_deref() {
        check_batch_len("grad", logits.len(), g.len(), shape)?;
    }
    if let Some(p) = per_row.as_deref() {
        check_batch_len("per_row", rows, p.len(), shape)?;
    }
    options.validate(classes)?;
    if options.ignore_index.is_some() {
        return Err(Error::InvalidParameter {
            name: "ignore_index",
        });
    }
    check_probs(probs)?;
    let grad = grad.unwrap_or(&mut []);
    if <Simd as Lane>::WIDTH == 1 {
        // Firmware: f32 pairs where this function uses f64 below.
        return Ok(one_lane_cross_entropy::probs_batch(
            logits, probs, classes, options, grad, per_row,
        ));
    }
    let scale = match options.reduction {
        Reduction::Mean if rows > 0 => 1.0 / rows as f64,
        Reduction::Mean => 0.0,
        Reduction::Sum => 1.0,
    };
    // PyTorch's plain target: the single-row kernel on q itself, so each
    // row has the bits of the single-row call.
    let plain = options.class_weights.is_none() && options.label_smoothing == 0.0;
    let mut batch_loss = BatchLoss::new(per_row);
    for r in 0..rows {
        let span = r * classes..(r + 1) * classes;
        let row = logits.get(span.clone()).unwrap_or(&[]);
        let q = probs.get(span.clone()).unwrap_or(&[]);
        let g = grad.get_mut(span).unwrap_or(&mut []);
        let loss = if plain {
            probs_row_run(row, &Probs(q), scale, g)
        } else {
            probs_row_run(row, &WeightedProbs::new(q, options), scale, g)
        };
        batch_loss.add(r, loss);
    }
    Ok((batch_loss.total * scale) as f32)
}

/// [`batch`] for short rows without label smoothing: the short-row kernel
/// computes each row's plain loss L and gradient g as the single-row call
/// does; row r contributes w·L to the loss and f·w·g to the gradient, with
/// class t its target (an ignored row: loss and gradient 0), w its class
/// weight (1 without `class_weights`) and f = `scale`.
fn short_batch<T: ClassIndex>(
    logits: &[f32],
    rows: usize,
    targets: ClassTargets<T>,
    class_weights: Option<&[f32]>,
    scale: f64,
    grad: &mut [f32],
    per_row: Option<&mut [f32]>,
) -> f32 {
    // No target weight to average over: a zero gradient (see `batch`).
    let grad = if scale == 0.0 {
        grad.fill(0.0);
        &mut []
    } else {
        grad
    };
    let classes = logits.len().checked_div(rows).unwrap_or(0);
    let mut loss = BatchLoss::new(per_row);
    short_cross_entropy::batch(
        logits,
        classes,
        targets,
        class_weights,
        scale,
        grad,
        &mut loss,
    );
    let total = loss.total;
    if scale == 0.0 {
        0.0
    } else {
        (total * scale) as f32
    }
}
