//! Softmax cross-entropy against a class on builds whose lane is one `f32`
//! (Cortex-M, RISC-V, wasm without simd128): the forms of the vector kernel
//! in [`super::softmax_cross_entropy`], with each of its f64 quantities held
//! as an unevaluated pair of f32 (hi + lo, Dekker 1971) instead. On a
//! single-precision FPU every f64 operation is a soft-float call; without
//! them the kernel with its `exp` and `ln_1p` fits in 2 KiB of flash
//! (`docs/firmware.md`; `tools/code_size.sh` enforces it in CI).
//!
//! The pairs cost a few extra additions per element, which the vector
//! kernel avoids by flushing f32 lane sums into f64; for one lane on a
//! Cortex-M the f32 pair is the cheaper of the two as well. Vector builds
//! use it only for rows whose maximum is NaN or ±inf (special values) in
//! the short-row kernel.

use crate::lane::Lane;
use crate::math::ln_1p::ln_1p_lane;
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
    let neg_m = -max;
    let (mut others, mut others_lo, mut ties) = (0.0f32, 0.0f32, 0u32);
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
        }
    }
    // s′ = Σ − 1 = others + (ties − 1) and S = 1 + s′, each as hi + lo.
    let (excess, err) = two_sum(others, ties.saturating_sub(1) as f32);
    let excess_lo = err + others_lo;
    let (sum, err) = two_sum(excess, 1.0);
    let sum_lo = err + excess_lo;

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
        let mut state = 0x9e37_79b9u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
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
