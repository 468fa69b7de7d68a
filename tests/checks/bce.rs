//! Binary cross-entropy with logits and the sigmoid focal loss, with every
//! option (pos_weight none / all / per output, element weights, label
//! smoothing, mean or sum, γ, α), valid or not.
//!
//! The documented bounds (`docs/precision.toml`, sections `[bce]`,
//! `[focal]` and `[sum]`) are written out once here, as the `*_allowed`
//! functions, and enforced by this check and by `tests/sigmoid_family.rs`.

use super::common::precision::bound;
use super::common::{ref_sigmoid, ref_softplus, ulp};
use super::has_nan;
use super::input::Input;
use logitkit::{
    BceOptions, ElementWeights, FocalOptions, PosWeight, Reduction, bce_with_logits,
    bce_with_logits_with_grad, sigmoid_focal_loss, sigmoid_focal_loss_with_grad,
};

const SENTINEL: f32 = -12345.0;

/// c·v with 0·inf = 0 (the kernels' convention for zero coefficients).
fn weighted(c: f64, v: f64) -> f64 {
    if c == 0.0 { 0.0 } else { c * v }
}

/// Per-element f64 reference of the BCE loss and gradient, and the scale
/// of the gradient's documented bound, max(|g|, w(1−y)σ(z), wpyσ(−z)),
/// for the label y and its complement 1 − y given separately
/// ([`smoothed_label`]).
pub fn bce_reference(z: f32, [y, not_y]: [f64; 2], p: f64, w: f64) -> (f64, f64, f64) {
    let z = z as f64;
    let (a, b) = (w * not_y, w * p * y);
    let loss = weighted(a, ref_softplus(z)) + weighted(b, ref_softplus(-z));
    let (s, s_neg) = (ref_sigmoid(z), ref_sigmoid(-z));
    let grad = a * s - b * s_neg;
    (loss, grad, grad.abs().max(a * s).max(b * s_neg))
}

/// Per-element f64 reference of the focal loss and its derivative for a
/// label y ∈ [0, 1]: α_t·m^γ·ce with m = yσ(−z) + (1−y)σ(z),
/// ce = (1−y)·softplus(z) + y·softplus(−z); ln m taken as −softplus(±z) for
/// binary labels so it stays exact where m underflows.
pub fn focal_reference(z: f32, y: f64, gamma: f64, alpha: Option<f64>) -> (f64, f64) {
    let z = z as f64;
    let (s, s_neg) = (ref_sigmoid(z), ref_sigmoid(-z));
    let ce = weighted(1.0 - y, ref_softplus(z)) + weighted(y, ref_softplus(-z));
    let m_gamma = if gamma == 0.0 {
        1.0
    } else {
        (gamma * focal_ln_m(z, y)).exp()
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

/// ln(1 − p_t) = ln m in f64: −softplus(±z) for binary labels (exact where
/// m underflows), ln of yσ(−z) + (1−y)σ(z) otherwise.
pub fn focal_ln_m(z: f64, y: f64) -> f64 {
    match y {
        1.0 => -ref_softplus(z),
        0.0 => -ref_softplus(-z),
        _ => (y * ref_sigmoid(-z) + (1.0 - y) * ref_sigmoid(z)).ln(),
    }
}

// ---- the documented bounds ----------------------------------------------------

/// BCE's documented absolute term, max(1, w, p, wp)·(1 + |z|)·2⁻¹⁴⁸ (the
/// table's `[bce] subnormal_log2`), with 1 + |z| read as 1 at an infinite
/// logit (σ and softplus are exact there, but a label times a tiny weight
/// still underflows).
pub fn bce_subnormal(z: f32, w: f64, p: f64) -> f64 {
    let z = if z.is_finite() { (z as f64).abs() } else { 0.0 };
    let weight = 1f64.max(w).max(p).max(w * p);
    weight * (1.0 + z) * bound("bce", "subnormal_log2")
}

/// |error| allowed in a BCE element loss whose exact value is `want`:
/// `[bce] loss_ulp` ULP plus the absolute term.
pub fn bce_loss_allowed(want: f64, z: f32, w: f64, p: f64) -> f64 {
    bound("bce", "loss_ulp") * ulp(want) + bce_subnormal(z, w, p)
}

/// |error| allowed in a BCE gradient whose bound scales with
/// `magnitude` = max(|g|, w(1−y)σ(z), wpyσ(−z)) (times the mean's 1/n):
/// `[bce] grad_ulp` ULP of it plus the absolute term.
pub fn bce_grad_allowed(magnitude: f64, z: f32, w: f64, p: f64) -> f64 {
    bound("bce", "grad_ulp") * ulp(magnitude) + bce_subnormal(z, w, p)
}

/// The focal loss's conditioning term: γ·|ln(1 − p_t)|·2⁻²³ (the table's
/// `[focal] conditioning_log2`), a relative error. 0 where ln(1 − p_t) is
/// infinite (an infinite logit: the loss and gradient are the limits).
pub fn focal_conditioning(z: f32, y: f64, gamma: f64) -> f64 {
    let ln_m = focal_ln_m(z as f64, y);
    if gamma == 0.0 || !ln_m.is_finite() {
        0.0
    } else {
        gamma * ln_m.abs() * bound("focal", "conditioning_log2")
    }
}

/// The focal loss's documented absolute term, (1 + γ)(1 + |z|)·2⁻¹⁴⁸ (the
/// table's `[focal] subnormal_log2`), where (1 − p_t)^γ is subnormal; 0
/// elsewhere and at infinite logits (the limits).
pub fn focal_subnormal(z: f32, y: f64, gamma: f64) -> f64 {
    let m_gamma = (gamma * focal_ln_m(z as f64, y)).exp();
    if !z.is_finite() || gamma == 0.0 || m_gamma >= f32::MIN_POSITIVE as f64 {
        return 0.0;
    }
    (1.0 + gamma) * (1.0 + (z as f64).abs()) * bound("focal", "subnormal_log2")
}

/// |error| allowed in a focal element loss whose exact value is `want`:
/// `[focal] loss_ulp` ULP + the conditioning (relative) + the absolute term.
pub fn focal_loss_allowed(want: f64, z: f32, y: f64, gamma: f64) -> f64 {
    bound("focal", "loss_ulp") * ulp(want)
        + focal_conditioning(z, y, gamma) * want.abs()
        + focal_subnormal(z, y, gamma)
}

/// |error| allowed in a focal gradient whose exact value is `want` (times
/// the mean's 1/n): `[focal] grad_ulp` ULP + (2⁻²² + the conditioning)
/// relative + the absolute term.
pub fn focal_grad_allowed(want: f64, z: f32, y: f64, gamma: f64) -> f64 {
    bound("focal", "grad_ulp") * ulp(want)
        + (bound("focal", "grad_rel_log2") + focal_conditioning(z, y, gamma)) * want.abs()
        + focal_subnormal(z, y, gamma)
}

/// `got` is the reference: the same infinity or NaN where the reference is
/// not finite (the special values, which are exact) or at least 2¹²⁸ in
/// magnitude; otherwise within `allowed` of it on the extended grid of
/// `docs/accuracy.md`, where ±inf sits at ±2¹²⁸ and +inf for a value that
/// rounds to +inf is exact. (Unlike `common::ulp_error`, f32::MAX for a
/// value just past the rounding threshold is an ordinary error here, less
/// than 1 ULP: these bounds are several ULP wide.)
pub fn matches(got: f32, want: f64, allowed: f64) -> bool {
    let big = 2f64.powi(128);
    if want.is_nan() || got.is_nan() {
        got.is_nan() && want.is_nan()
    } else if want.abs() >= big {
        got as f64 == want.signum() * f64::INFINITY
    } else if got.is_infinite() {
        want as f32 == got || (big.copysign(got as f64) - want).abs() <= allowed
    } else {
        (got as f64 - want).abs() <= allowed
    }
}

/// The reduced loss of per-element losses whose exact values are `want`
/// and documented errors `allowed`, times `scale` (the mean's 1/n, or 1):
/// returns the exact reduced loss and its documented error. Each computed
/// element is within its bound; their blocked sum is within `[sum]
/// rel_log2` (2⁻²²) of the sum of the computed elements, which are
/// non-negative; rounding it to f32 adds ½ ULP. An infinite element loss makes
/// the reference +inf, which only +inf meets ([`matches`]).
pub fn reduced_reference(want: &[f64], allowed: &[f64], scale: f64) -> (f64, f64) {
    let sum = want.iter().sum::<f64>() * scale;
    let slack: f64 = allowed.iter().sum::<f64>() * scale;
    let before_rounding = slack + bound("sum", "rel_log2") * (sum.abs() + slack);
    // Rounding to nearest moves the f64 total by at most ½ ULP of itself.
    (
        sum,
        before_rounding + 0.5 * ulp(sum.abs() + before_rounding),
    )
}

/// The exact smoothed label y′ = y·(1 − ε) + ε/2 and its complement
/// 1 − y′ = (1 − y)·(1 − ε) + ε/2, each formed in f64 from the f32 inputs
/// (relative error 2⁻⁵², where 1 − y′ taken from a rounded y′ would lose
/// the low bits of a small complement): the bound holds for the exact
/// label, not for one rounded to f32 first (`docs/accuracy.md`).
pub fn smoothed_label(y: f32, eps: f32) -> [f64; 2] {
    let (y, eps) = (y as f64, eps as f64);
    if eps > 0.0 {
        let keep = 1.0 - eps;
        [y * keep + 0.5 * eps, (1.0 - y) * keep + 0.5 * eps]
    } else {
        [y, 1.0 - y]
    }
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
    super::assert_same_losses("per-element losses of the loss-only form", &per, &per_only);
    Some((loss, per))
}

/// A per-output array of `len` values broadcasts over `n` elements.
fn divides(len: usize, n: usize) -> bool {
    len > 0 && n.is_multiple_of(len)
}

fn reduction(input: &mut Input) -> Reduction {
    if input.flag() {
        Reduction::Mean
    } else {
        Reduction::Sum
    }
}

/// Checks the per-element losses (when requested) and the reduced loss
/// against the references `want` and their documented errors `allowed`
/// ([`reduced_reference`] for the total).
#[track_caller]
fn assert_losses(
    what: &str,
    total: f32,
    per: &[f32],
    want: &[f64],
    allowed: &[f64],
    mean: bool,
    describe: &dyn Fn(usize) -> String,
) {
    for (i, (&got, (&w, &a))) in per.iter().zip(want.iter().zip(allowed)).enumerate() {
        assert!(
            matches(got, w, a),
            "{what}: element {i} ({}) loss {got:e}, want {w:e} ± {a:e}",
            describe(i)
        );
    }
    let n = want.len();
    let scale = if mean && n > 0 { 1.0 / n as f64 } else { 1.0 };
    let (sum, allowed) = reduced_reference(want, allowed, scale);
    assert!(
        matches(total, sum, allowed),
        "{what}: reduced loss {total:e}, want {sum:e} ± {allowed:e}"
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
    let weight_values: Vec<f32> = match input.byte() % 4 {
        0 | 1 => vec![],
        2 => (0..weight_len).map(|_| input.unit() * 3.0).collect(),
        _ => (0..weight_len).map(|_| input.f32()).collect(),
    };
    // Per output: a few outputs per row, usually dividing n.
    let outputs = |input: &mut Input, n: usize| {
        let c = input.below(7);
        if input.byte() < 200 && !divides(c, n) {
            1
        } else {
            c
        }
    };
    let weight_outputs = outputs(input, n);
    let per_output_weights: Vec<f32> = weight_values.iter().copied().take(weight_outputs).collect();
    let weights = match input.byte() % 4 {
        0 => ElementWeights::None,
        1 | 2 => ElementWeights::PerElement(&weight_values),
        _ => ElementWeights::PerOutput(&per_output_weights),
    };
    let pw_outputs = outputs(input, n);
    let pw_values: Vec<f32> = (0..pw_outputs)
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
        weights,
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
        && match weights {
            ElementWeights::PerElement(w) => w.len() == n && finite_non_negative(w),
            ElementWeights::PerOutput(w) => divides(w.len(), n) && finite_non_negative(w),
            _ => true,
        }
        && match pos_weight {
            PosWeight::All(p) => finite_non_negative(&[p]),
            PosWeight::PerOutput(ps) => divides(ps.len(), n) && finite_non_negative(ps),
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
    let w_at = |i: usize| match weights {
        ElementWeights::None => 1.0,
        ElementWeights::PerElement(w) => w[i] as f64,
        ElementWeights::PerOutput(w) => w[i % w.len()] as f64,
        _ => unreachable!("only the variants built above"),
    };
    let describe = |i: usize| {
        format!(
            "z {:e}, y {:e}, w {:e}, p {:e}, ε {eps:e}",
            z[i],
            y[i],
            w_at(i),
            p_at(i)
        )
    };
    let mut want = Vec::with_capacity(n);
    let mut allowed = Vec::with_capacity(n);
    for i in 0..n {
        // The exact smoothed label and its complement.
        let yy = smoothed_label(y[i], eps);
        let (w, p) = (w_at(i), p_at(i));
        let (l, g, magnitude) = bce_reference(z[i], yy, p, w);
        want.push(l);
        allowed.push(bce_loss_allowed(l, z[i], w, p));
        if glen == n {
            let (g, magnitude) = (g * scale, magnitude * scale);
            let a = bce_grad_allowed(magnitude, z[i], w, p);
            assert!(
                matches(grad[i], g, a),
                "BCE grad[{i}] ({}) = {:e}, want {g:e} ± {a:e}",
                describe(i),
                grad[i]
            );
        }
    }
    let what = if n <= 16 {
        format!("BCE z {z:?} y {y:?} {options:?}")
    } else {
        format!("BCE n = {n}, eps {eps}")
    };
    assert_losses(&what, loss, &per, &want, &allowed, mean, &describe);
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
    if !binary || gamma as f64 > bound("focal", "max_gamma") {
        return; // the documented bound is for labels in {0, 1}, γ ≤ 64
    }
    let mean = reduction == Reduction::Mean;
    let scale = if mean && n > 0 { 1.0 / n as f64 } else { 1.0 };
    let (g64, a64) = (gamma as f64, alpha.map(|a| a as f64));
    let describe = |i: usize| format!("z {:e}, y {:e}, γ {gamma:e}, α {alpha:?}", z[i], y[i]);
    let mut want = Vec::with_capacity(n);
    let mut allowed = Vec::with_capacity(n);
    for i in 0..n {
        let yy = y[i] as f64;
        let (l, g) = focal_reference(z[i], yy, g64, a64);
        want.push(l);
        allowed.push(focal_loss_allowed(l, z[i], yy, g64));
        if glen == n {
            let g = g * scale;
            let a = focal_grad_allowed(g, z[i], yy, g64);
            assert!(
                matches(grad[i], g, a),
                "focal grad[{i}] ({}) = {:e}, want {g:e} ± {a:e}",
                describe(i),
                grad[i]
            );
        }
    }
    assert_losses("focal", loss, &per, &want, &allowed, mean, &describe);
}
