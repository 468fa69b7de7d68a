//! Binary cross-entropy with logits and the sigmoid focal loss, with every
//! option (pos_weight none / all / per output, element weights, label
//! smoothing, mean or sum, γ, α), valid or not.

use super::common::{ref_sigmoid, ref_softplus, ulp};
use super::input::Input;
use super::{has_nan, within};
use logitkit::{
    BceOptions, FocalOptions, PosWeight, Reduction, bce_with_logits, bce_with_logits_with_grad,
    sigmoid_focal_loss, sigmoid_focal_loss_with_grad,
};

const SENTINEL: f32 = -12345.0;

/// c·v with 0·inf = 0 (the kernels' convention for zero coefficients).
fn weighted(c: f64, v: f64) -> f64 {
    if c == 0.0 { 0.0 } else { c * v }
}

/// Per-element f64 reference of the BCE loss and gradient, and the scale
/// of the gradient's documented bound, max(|g|, w(1−y)σ(z), wpyσ(−z)).
fn bce_reference(z: f32, y: f64, p: f64, w: f64) -> (f64, f64, f64) {
    let z = z as f64;
    let (a, b) = (w * (1.0 - y), w * p * y);
    let loss = weighted(a, ref_softplus(z)) + weighted(b, ref_softplus(-z));
    let (s, s_neg) = (ref_sigmoid(z), ref_sigmoid(-z));
    let grad = a * s - b * s_neg;
    (loss, grad, grad.abs().max(a * s).max(b * s_neg))
}

/// Per-element f64 reference of the focal loss and its derivative for a
/// label y ∈ [0, 1]: α_t·m^γ·ce with m = yσ(−z) + (1−y)σ(z),
/// ce = (1−y)·softplus(z) + y·softplus(−z); ln m taken as −softplus(±z) for
/// binary labels so it stays exact where m underflows.
fn focal_reference(z: f32, y: f64, gamma: f64, alpha: Option<f64>) -> (f64, f64) {
    let z = z as f64;
    let (s, s_neg) = (ref_sigmoid(z), ref_sigmoid(-z));
    let ce = weighted(1.0 - y, ref_softplus(z)) + weighted(y, ref_softplus(-z));
    let ln_m = match y {
        1.0 => -ref_softplus(z),
        0.0 => -ref_softplus(-z),
        _ => (y * s_neg + (1.0 - y) * s).ln(),
    };
    let m_gamma = if gamma == 0.0 {
        1.0
    } else {
        (gamma * ln_m).exp()
    };
    let alpha_t = alpha.map_or(1.0, |a| a * y + (1.0 - a) * (1.0 - y));
    // d/dz: m^γ·ce′ + γ·m^(γ−1)·m′·ce, m′ = (1 − 2y)·σ(z)σ(−z),
    // m^(γ−1)·σ(z)σ(−z) = m^γ·(σ(z)σ(−z)/m).
    let ratio = match y {
        1.0 => s,
        0.0 => s_neg,
        _ => s * s_neg / (y * s_neg + (1.0 - y) * s),
    };
    let ce_slope = (1.0 - y) * s - y * s_neg;
    let focus = weighted(ratio, gamma * ce * (1.0 - 2.0 * y));
    (
        weighted(m_gamma, weighted(alpha_t, ce)),
        weighted(alpha_t * m_gamma, ce_slope + focus),
    )
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    if input.flag() {
        bce(&mut input)
    } else {
        focal(&mut input)
    }
}

/// Labels: mostly in [0, 1]; sometimes outside it or NaN.
fn labels(input: &mut Input, n: usize) -> Vec<f32> {
    let wild = input.byte() < 24;
    (0..n)
        .map(|_| {
            if wild && input.byte() < 64 {
                input.f32()
            } else {
                input.unit()
            }
        })
        .collect()
}

/// The length of an output buffer: usually right, sometimes one too long,
/// sometimes 0 (a gradient of the wrong length, or per-element losses not
/// requested).
fn output_len(input: &mut Input, n: usize) -> usize {
    match input.byte() % 16 {
        0 => n + 1,
        1..=4 => 0,
        _ => n,
    }
}

/// The contract of the two forms of an elementwise loss, given whether the
/// arguments other than the gradient are `valid`: both `Err` with nothing
/// written, or the loss-only form `Ok` and the gradient form `Ok` exactly
/// when the gradient has the logits' length (`n`), with the same loss and
/// per-element losses. Returns the loss and per-element losses to check
/// against the reference, or `None` when there is nothing more to check.
#[allow(clippy::too_many_arguments)]
fn loss_and_outputs(
    what: &str,
    valid: bool,
    n: usize,
    got: Result<f32, logitkit::Error>,
    loss_only: Result<f32, logitkit::Error>,
    grad: &[f32],
    per: Vec<f32>,
    per_only: Vec<f32>,
) -> Option<(f32, Vec<f32>)> {
    assert_eq!(
        loss_only.is_ok(),
        valid,
        "{what}: loss-only validation {loss_only:?}"
    );
    let written = grad.iter().chain(&per).any(|&g| g != SENTINEL);
    if !valid || grad.len() != n {
        assert!(got.is_err(), "{what}: invalid call accepted");
        assert!(!written, "{what}: written on error");
        return valid.then(|| (loss_only.expect("valid"), per_only));
    }
    let loss = got.expect("valid call");
    super::assert_same_loss(loss, loss_only);
    super::assert_same_bits("per-element losses of the loss-only form", &per, &per_only);
    Some((loss, per))
}

fn reduction(input: &mut Input) -> Reduction {
    if input.flag() {
        Reduction::Mean
    } else {
        Reduction::Sum
    }
}

/// Checks the reduced loss and the per-element losses against the
/// references (each element within `ulps` ULP + `extra[i]` relative +
/// `absolute[i]`, the sum of non-negative terms within the same bounds plus
/// the blocked sum's).
#[track_caller]
#[allow(clippy::too_many_arguments)]
fn assert_losses(
    what: &str,
    total: f32,
    per: &[f32],
    want: &[f64],
    extra: &[f64],
    absolute: &[f64],
    ulps: f64,
    mean: bool,
    describe: &dyn Fn(usize) -> String,
) {
    for (i, ((&got, &w), (&x, &a))) in per
        .iter()
        .zip(want)
        .zip(extra.iter().zip(absolute))
        .enumerate()
    {
        let allowed = ulps * ulp(w) + x * w.abs() + a + ulps * 2f64.powi(-149);
        assert!(
            within(got, w, allowed),
            "{what}: element {i} ({}) loss {got:e}, want {w:e}",
            describe(i)
        );
    }
    let n = want.len();
    let scale = if mean && n > 0 { 1.0 / n as f64 } else { 1.0 };
    let sum: f64 = want.iter().sum::<f64>() * scale;
    let slack: f64 = want
        .iter()
        .zip(extra.iter().zip(absolute))
        .map(|(w, (x, a))| w.abs() * x + a)
        .sum::<f64>()
        * scale;
    let allowed = ulps * ulp(sum) + 2f64.powi(-22) * sum.abs() + slack + ulps * 2f64.powi(-149);
    assert!(
        within(total, sum, allowed),
        "{what}: reduced loss {total:e}, want {sum:e}"
    );
}

fn bce(input: &mut Input) {
    let n = input.len();
    let z = input.row(n);
    let y = labels(input, n);
    let ylen = if input.byte() < 6 { n + 1 } else { n };
    let y = if ylen > n { [y, vec![0.5]].concat() } else { y };
    let eps = match input.byte() % 8 {
        0..=4 => 0.0,
        5 | 6 => input.unit(),
        _ => [-0.25, 1.25, f32::NAN][input.below(3)],
    };
    let weight_len = if input.byte() < 8 {
        input.below(n + 2)
    } else {
        n
    };
    let weights: Option<Vec<f32>> = match input.byte() % 4 {
        0 | 1 => None,
        2 => Some((0..weight_len).map(|_| input.unit() * 3.0).collect()),
        _ => Some((0..weight_len).map(|_| input.f32()).collect()),
    };
    let pw_values: Vec<f32> = (0..input.below(6))
        .map(|_| {
            if input.byte() < 32 {
                input.f32()
            } else {
                input.unit() * 5.0
            }
        })
        .collect();
    let pos_weight = match input.byte() % 4 {
        0 => PosWeight::None,
        1 => PosWeight::All(pw_values.first().copied().unwrap_or(2.0)),
        _ => PosWeight::PerOutput(&pw_values),
    };
    let reduction = reduction(input);
    let options = BceOptions {
        pos_weight,
        weights: weights.as_deref(),
        label_smoothing: eps,
        reduction,
    };
    let (glen, plen) = (output_len(input, n), output_len(input, n));
    let mut grad = vec![SENTINEL; glen];
    let mut per = vec![SENTINEL; plen];
    let got = bce_with_logits_with_grad(&z, &y, &options, &mut grad, super::requested(&mut per));
    let mut per_only = vec![SENTINEL; plen];
    let loss_only = bce_with_logits(&z, &y, &options, super::requested(&mut per_only));

    let finite_non_negative = |v: &[f32]| v.iter().all(|&x| x.is_finite() && x >= 0.0);
    let valid = ylen == n
        && (plen == 0 || plen == n)
        && (0.0..=1.0).contains(&eps)
        && weights
            .as_ref()
            .is_none_or(|w| w.len() == n && finite_non_negative(w))
        && match pos_weight {
            PosWeight::All(p) => finite_non_negative(&[p]),
            PosWeight::PerOutput(ps) => !ps.is_empty() && finite_non_negative(ps),
            _ => true,
        };
    let Some((loss, per)) = loss_and_outputs("BCE", valid, n, got, loss_only, &grad, per, per_only)
    else {
        return;
    };

    let in_domain = y.iter().all(|y| (0.0..=1.0).contains(y));
    let nan_in = has_nan(&z) || has_nan(&y);
    if !nan_in && in_domain {
        assert!(
            !loss.is_nan() && !has_nan(&grad) && !has_nan(&per),
            "NaN from NaN-free input"
        );
        assert!(loss >= 0.0, "negative BCE loss {loss:e}");
    }
    if !in_domain {
        return; // outside [0, 1] there is no documented bound, only no panic
    }
    if nan_in {
        assert!(loss.is_nan(), "NaN input, loss {loss:e}");
        return;
    }
    let mean = reduction == Reduction::Mean;
    let scale = if mean && n > 0 { 1.0 / n as f64 } else { 1.0 };
    let p_at = |i: usize| match pos_weight {
        PosWeight::None => 1.0,
        PosWeight::All(p) => p as f64,
        PosWeight::PerOutput(ps) => ps[i % ps.len()] as f64,
        _ => unreachable!("only the variants built above"),
    };
    let w_at = |i: usize| weights.as_ref().map_or(1.0, |w| w[i] as f64);
    // The smoothed label is rounded to f32 inside the kernel (fused or not,
    // by target); the reference takes whichever rounding is closer.
    // Documented: max(1, w, p, wp)·(1 + |z|)·2⁻¹⁴⁸ absolute.
    let subnormal_slack = |i: usize| {
        let weight = 1f64.max(w_at(i)).max(p_at(i)).max(w_at(i) * p_at(i));
        weight * (1.0 + (z[i] as f64).abs()) * 2f64.powi(-148)
    };
    let keep = 1.0 - eps;
    let mut want = Vec::with_capacity(n);
    for i in 0..n {
        let candidates: Vec<f64> = if eps == 0.0 {
            vec![y[i] as f64]
        } else {
            vec![
                (y[i] * keep + 0.5 * eps) as f64,
                y[i].mul_add(keep, 0.5 * eps) as f64,
            ]
        };
        let refs: Vec<(f64, f64, f64)> = candidates
            .iter()
            .map(|&yy| bce_reference(z[i], yy, p_at(i), w_at(i)))
            .collect();
        let closest = |pick: &dyn Fn(&(f64, f64, f64)) -> f64, got: f32| {
            *refs
                .iter()
                .min_by(|a, b| {
                    (pick(a) - got as f64)
                        .abs()
                        .total_cmp(&(pick(b) - got as f64).abs())
                })
                .expect("one candidate")
        };
        let (l, _, _) = if plen > 0 {
            closest(&|r| r.0, per[i])
        } else {
            refs[0]
        };
        want.push(l);
        if glen == n {
            let (_, g, s) = closest(&|r| r.1, grad[i] / scale as f32);
            let (g, s) = (g * scale, s * scale);
            let allowed = 6.0 * ulp(s) + subnormal_slack(i) + 2f64.powi(-149) * scale;
            assert!(
                within(grad[i], g, allowed),
                "BCE grad[{i}] (z={:e}, y={:e}) = {:e}, want {g:e}",
                z[i],
                y[i],
                grad[i]
            );
        }
    }
    if plen > 0 || eps == 0.0 {
        let underflow: Vec<f64> = (0..n).map(subnormal_slack).collect();
        let what = if n <= 16 {
            format!("BCE z {z:?} y {y:?} {options:?}")
        } else {
            format!("BCE n = {n}, eps {eps}")
        };
        let describe = |i: usize| {
            format!(
                "z {:e}, y {:e}, w {:e}, p {:e}",
                z[i],
                y[i],
                w_at(i),
                p_at(i)
            )
        };
        assert_losses(
            &what,
            loss,
            &per,
            &want,
            &vec![0.0; n],
            &underflow,
            4.0,
            mean,
            &describe,
        );
    }
}

fn focal(input: &mut Input) {
    let n = input.len();
    let z = input.row(n);
    let binary = input.byte() < 192;
    let y: Vec<f32> = if binary {
        (0..n)
            .map(|_| if input.flag() { 1.0 } else { 0.0 })
            .collect()
    } else {
        labels(input, n)
    };
    let gamma = match input.byte() % 8 {
        0 => 0.0,
        1 => 1.0,
        2 | 3 => 2.0,
        4 => 0.5,
        5 => input.unit() * 8.0,
        6 => input.f32().abs(),
        _ => [-1.0, f32::NAN, f32::INFINITY][input.below(3)],
    };
    let alpha = match input.byte() % 6 {
        0 | 1 => None,
        2 | 3 => Some(0.25),
        4 => Some(input.unit()),
        _ => Some([-0.5, 1.5, f32::NAN][input.below(3)]),
    };
    let reduction = reduction(input);
    let options = FocalOptions {
        gamma,
        alpha,
        reduction,
    };
    let (glen, plen) = (output_len(input, n), output_len(input, n));
    let mut grad = vec![SENTINEL; glen];
    let mut per = vec![SENTINEL; plen];
    let got = sigmoid_focal_loss_with_grad(&z, &y, &options, &mut grad, super::requested(&mut per));
    let mut per_only = vec![SENTINEL; plen];
    let loss_only = sigmoid_focal_loss(&z, &y, &options, super::requested(&mut per_only));
    let valid = (plen == 0 || plen == n)
        && gamma >= 0.0
        && gamma.is_finite()
        && alpha.is_none_or(|a| (0.0..=1.0).contains(&a));
    let Some((loss, per)) =
        loss_and_outputs("focal", valid, n, got, loss_only, &grad, per, per_only)
    else {
        return;
    };
    let in_domain = y.iter().all(|y| (0.0..=1.0).contains(y));
    if has_nan(&z) || !in_domain {
        return;
    }
    if let Some(i) = (0..n).find(|&i| {
        grad.get(i).is_some_and(|g| g.is_nan()) || per.get(i).is_some_and(|l| l.is_nan())
    }) {
        panic!(
            "focal: NaN from NaN-free input at z {:e}, y {:e}, γ {gamma:e}, α {alpha:?}",
            z[i], y[i]
        );
    }
    assert!(!loss.is_nan(), "focal: NaN loss from NaN-free input");
    assert!(loss >= 0.0, "negative focal loss {loss:e}");
    if !binary || gamma > 64.0 {
        return; // the documented bound is for labels in {0, 1}, γ ≤ 64
    }
    let mean = reduction == Reduction::Mean;
    let scale = if mean && n > 0 { 1.0 / n as f64 } else { 1.0 };
    let (g64, a64) = (gamma as f64, alpha.map(|a| a as f64));
    let mut want = Vec::with_capacity(n);
    let mut extra = Vec::with_capacity(n);
    // Documented: (1 + γ)(1 + |z|)·2⁻¹⁴⁸ absolute where (1 − p_t)^γ is
    // subnormal.
    let focal_slack: Vec<f64> = z
        .iter()
        .map(|&zi| (1.0 + g64) * (1.0 + (zi as f64).abs()) * 2f64.powi(-148))
        .collect();
    for i in 0..n {
        let (l, g) = focal_reference(z[i], y[i] as f64, g64, a64);
        // Documented: 8 ULP + γ·|ln(1 − p_t)|·2⁻²³ relative.
        let ln_m = if y[i] == 1.0 {
            -ref_softplus(z[i] as f64)
        } else {
            -ref_softplus(-(z[i] as f64))
        };
        let conditioning = if ln_m.is_finite() {
            g64 * ln_m.abs() * 2f64.powi(-23)
        } else {
            0.0
        };
        want.push(l);
        extra.push(conditioning);
        if glen == n {
            let g = g * scale;
            let allowed = 12.0 * ulp(g)
                + (conditioning + 2f64.powi(-22)) * g.abs()
                + focal_slack[i]
                + 4.0 * 2f64.powi(-149);
            assert!(
                within(grad[i], g, allowed),
                "focal grad[{i}] (z={:e}, y={}, γ={gamma}, α={alpha:?}) = {:e}, want {g:e}",
                z[i],
                y[i],
                grad[i]
            );
        }
    }
    let describe = |i: usize| format!("z {:e}, y {:e}, γ {gamma:e}, α {alpha:?}", z[i], y[i]);
    assert_losses(
        "focal",
        loss,
        &per,
        &want,
        &extra,
        &focal_slack,
        8.0,
        mean,
        &describe,
    );
}
