//! Softmax cross-entropy: class targets, probability targets, and batches
//! with every option (label smoothing, class weights, ignore index, mean or
//! sum, per-row losses), valid or not.

use super::common::{
    batch_grad_allowed, batch_loss_allowed, ce_grad_allowed, ce_loss_allowed, precision,
    probs_batch_loss_allowed, probs_grad_allowed, probs_loss_allowed, ref_stats,
};
use super::input::Input;
use super::{has_nan, within};
use logitkit::{
    CrossEntropyOptions, Reduction, softmax_cross_entropy, softmax_cross_entropy_batch,
    softmax_cross_entropy_batch_with_grad, softmax_cross_entropy_probs,
    softmax_cross_entropy_probs_batch, softmax_cross_entropy_probs_batch_with_grad,
    softmax_cross_entropy_probs_with_grad, softmax_cross_entropy_with_grad,
};

/// Written into outputs before a call, to see that an `Err` writes nothing.
const SENTINEL: f32 = -12345.0;

/// f64 reference of −Σ qᵢ·log_softmaxᵢ (0·inf = 0) and of its gradient
/// softmax·Σq − q, with the special values of `docs/contract.md`; also returns pᵢ·Σq per
/// element (the scale the gradient's bound refers to).
pub fn reference(z: &[f32], q: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let n = z.len();
    let total: f64 = q.iter().sum();
    if has_nan(z) {
        return (f64::NAN, vec![f64::NAN; n], vec![f64::NAN; n]);
    }
    // −Σ qᵢ·log_softmaxᵢ over qᵢ > 0 (0·inf = 0), with softmax's special
    // values from the softmax family's reference.
    let (p, log_p) = super::softmax::reference(z);
    let loss: f64 = log_p
        .iter()
        .zip(q)
        .filter(|&(_, &qi)| qi > 0.0)
        .map(|(&lp, &qi)| -qi * lp)
        .sum();
    let k = z.iter().filter(|&&x| x == f32::INFINITY).count();
    let loss = if q.iter().any(|x| x.is_nan()) {
        f64::NAN
    } else {
        loss
    };
    let scaled: Vec<f64> = p.iter().map(|&pi| pi * total).collect();
    let grad = if k == 0 && z.iter().any(|&x| x > f32::NEG_INFINITY) {
        // ((eᵢQ − qᵢ) − qᵢs′)/(1 + s′): pᵢQ − qᵢ without rounding pᵢ ≈ 1 first.
        let (m, s) = ref_stats(z);
        z.iter()
            .zip(q)
            .map(|(&x, &qi)| (((x as f64 - m).exp() * total - qi) - qi * s) / (1.0 + s))
            .collect()
    } else {
        scaled.iter().zip(q).map(|(&a, &b)| a - b).collect()
    };
    (loss, grad, scaled)
}

/// Panics unless the loss `got` is within `allowed` (a documented bound,
/// absolute, from `tests/common`) of `want`, or both are the same special
/// value.
#[track_caller]
fn assert_loss(what: &str, got: f32, want: f64, allowed: f64) {
    if want.is_nan() {
        assert!(got.is_nan(), "{what}: loss {got:e}, want NaN");
        return;
    }
    if want.is_infinite() {
        assert_eq!(got as f64, want, "{what}: loss");
        return;
    }
    assert!(
        within(got, want, allowed),
        "{what}: loss {got:e}, want {want:e} (allowed {allowed:e})"
    );
    assert!(got >= 0.0 || want < 0.0, "{what}: negative loss {got:e}");
}

/// Panics unless each gradient element is within `allowed(i, want)` (a
/// documented bound, absolute) of the reference, NaN exactly where it is.
#[track_caller]
fn assert_grad(what: &str, got: &[f32], want: &[f64], allowed: impl Fn(usize, f64) -> f64) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}: grad[{i}] = {g:e}, want NaN");
            continue;
        }
        let allowed = allowed(i, w);
        assert!(
            within(g, w, allowed),
            "{what}: grad[{i}] = {g:e}, want {w:e} (allowed {allowed:e})"
        );
    }
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    match input.byte() % 3 {
        0 => class_target(&mut input),
        1 => probability_target(&mut input),
        _ => {
            batch(&mut input);
            // Decoded from the bytes the class-target batch left, so the
            // committed inputs keep their meaning for it.
            probs_batch(&mut input);
        }
    }
}

fn class_target(input: &mut Input) {
    let n = input.len();
    let z = input.row(n);
    let target = input.below(n + 2);
    let mut grad = vec![SENTINEL; n];
    let got = softmax_cross_entropy_with_grad(&z, target, &mut grad);
    let loss_only = softmax_cross_entropy(&z, target);
    if target >= n {
        assert!(
            got.is_err() && loss_only.is_err(),
            "class {target} of {n} accepted"
        );
        assert!(grad.iter().all(|&g| g == SENTINEL), "written on error");
        return;
    }
    let loss = got.expect("valid call");
    super::assert_same_loss(loss, loss_only);
    let q: Vec<f64> = (0..n)
        .map(|i| if i == target { 1.0 } else { 0.0 })
        .collect();
    let (want, want_grad, _) = reference(&z, &q);
    let what = format!("class target {target} of {z:?}");
    // Documented: 4 ULP + 2⁻²² relative + n·2⁻¹⁴⁹.
    assert_loss(&what, loss, want, ce_loss_allowed(want, n));
    // Documented: 4 ULP of max(|gᵢ|, 2⁻²⁴·max|g|) + 2⁻²¹·|gᵢ|, plus n·2⁻¹⁴⁹
    // at the target.
    let gmax = want_grad.iter().fold(0.0f64, |a, g| a.max(g.abs()));
    let allowed = |i: usize, w: f64| ce_grad_allowed(w, gmax, n, i == target);
    assert_grad(&what, &grad, &want_grad, allowed);
    if !has_nan(&z) {
        assert!(
            !has_nan(&grad) && !loss.is_nan(),
            "NaN from NaN-free logits"
        );
        // Σg = 0 within the sum of the element bounds (what they imply).
        if z.iter().all(|x| x.is_finite()) {
            let sum: f64 = grad.iter().map(|&g| g as f64).sum();
            let exact: f64 = want_grad.iter().sum();
            let allowed_sum: f64 = want_grad
                .iter()
                .enumerate()
                .map(|(i, &w)| allowed(i, w))
                .sum();
            assert!(
                (sum - exact).abs() <= allowed_sum,
                "Σ grad = {sum:e}, beyond the element bounds' {allowed_sum:e}"
            );
        }
    }
    let mut short = vec![SENTINEL; n - 1];
    assert!(
        softmax_cross_entropy_with_grad(&z, target, &mut short).is_err(),
        "short grad accepted"
    );
}

fn probability_target(input: &mut Input) {
    let n = input.len();
    let z = input.row(n);
    let scale = match input.byte() % 4 {
        0 => 1.0 / n.max(1) as f32,
        1 => 1.0,
        2 => input.f32().abs(),
        _ => 1e30,
    };
    let mut q: Vec<f32> = (0..n).map(|_| input.unit() * scale).collect();
    if n > 0 && input.byte() < 16 {
        q[input.below(n)] = if input.flag() {
            -input.unit() - 1e-30
        } else {
            f32::NAN
        };
    }
    let glen = if input.byte() < 8 { n + 1 } else { n };
    let mut grad = vec![SENTINEL; glen];
    let got = softmax_cross_entropy_probs_with_grad(&z, &q, &mut grad);
    let loss_only = softmax_cross_entropy_probs(&z, &q);
    let negative = q.iter().any(|&x| x < 0.0 || x == f32::INFINITY);
    if negative || glen != n {
        assert!(got.is_err(), "invalid probability target accepted");
        assert_eq!(loss_only.is_err(), negative, "loss-only validation");
        assert!(grad.iter().all(|&g| g == SENTINEL), "written on error");
        return;
    }
    let loss = got.expect("valid call");
    super::assert_same_loss(loss, loss_only);
    let q64: Vec<f64> = q.iter().map(|&x| x as f64).collect();
    let (want, want_grad, p_total) = reference(&z, &q64);
    let what = if n <= 8 {
        format!("probability target {q:?}, logits {z:?}")
    } else {
        format!("probability target, n = {n}")
    };
    let mass: f64 = q64.iter().sum();
    // Documented: 4 ULP + 2⁻²² relative + n·2⁻¹⁴⁹·(1 + Σq).
    assert_loss(&what, loss, want, probs_loss_allowed(want, n, mass));
    // Documented: 4 ULP of max(|gᵢ|, pᵢ·Σq, qᵢ) + 2⁻²⁰·pᵢ·Σq +
    // n·2⁻¹⁴⁹·(1 + Σq).
    if !has_nan(&q) {
        let allowed = |i: usize, w: f64| probs_grad_allowed(w, p_total[i], q64[i], n, mass);
        assert_grad(&what, &grad, &want_grad, allowed);
    }
    if !has_nan(&z) && !has_nan(&q) {
        assert!(
            !has_nan(&grad) && !loss.is_nan(),
            "{what}: NaN from NaN-free inputs: loss {loss:e}, grad {grad:?}"
        );
    }
}

fn batch(input: &mut Input) {
    let rows = input.below(12);
    let classes = input.below(70);
    let mut n = rows * classes;
    if input.byte() < 8 {
        n += 1 + input.below(3); // not a whole number of rows
    }
    let z = input.row(n);
    let eps = match input.byte() % 8 {
        0..=3 => 0.0,
        4 | 5 => input.unit(),
        6 => 1.0,
        _ => [-0.1, 1.5, f32::NAN, -0.0][input.below(4)],
    };
    let weights: Option<Vec<f32>> = match input.byte() % 4 {
        0 | 1 => None,
        2 => Some((0..classes).map(|_| input.unit() * 4.0).collect()),
        _ => {
            let len = if input.flag() {
                classes
            } else {
                input.below(classes + 2)
            };
            Some((0..len).map(|_| input.f32()).collect())
        }
    };
    let ignore = if input.flag() {
        Some(input.below(classes + 2))
    } else {
        None
    };
    let targets: Vec<usize> = (0..rows)
        .map(|_| match input.byte() % 16 {
            0 => classes + input.below(3),
            1 => ignore.unwrap_or(0),
            _ => input.below(classes.max(1)),
        })
        .collect();
    let reduction = if input.flag() {
        Reduction::Mean
    } else {
        Reduction::Sum
    };
    let options = CrossEntropyOptions {
        label_smoothing: eps,
        class_weights: weights.as_deref(),
        ignore_index: ignore.map(|i| i as i64),
        reduction,
    };
    let glen = if input.byte() < 8 { n + 1 } else { n };
    let plen = match input.byte() % 8 {
        0 => 0,
        1 => rows + 1,
        _ => rows,
    };
    let mut grad = vec![SENTINEL; glen];
    let mut per_row = vec![SENTINEL; plen];
    let got = softmax_cross_entropy_batch_with_grad(
        &z,
        &targets,
        &options,
        &mut grad,
        super::requested(&mut per_row),
    );
    let mut per_row_only = vec![SENTINEL; plen];
    let loss_only =
        softmax_cross_entropy_batch(&z, &targets, &options, super::requested(&mut per_row_only));

    // Validity, decided independently of the kernel.
    let c = n.checked_div(rows).unwrap_or(0);
    let shape_ok = rows * c == n && (plen == 0 || plen == rows);
    let weights_ok = weights.as_ref().is_none_or(|w| {
        (rows == 0 || w.len() == c) && w.iter().all(|&x| x.is_finite() && x >= 0.0)
    });
    let eps_ok = (0.0..=1.0).contains(&eps);
    let targets_ok = targets.iter().all(|&t| t < c || Some(t) == ignore);
    let valid = shape_ok && weights_ok && eps_ok && targets_ok;
    assert_eq!(
        loss_only.is_ok(),
        valid,
        "loss-only batch validation: {loss_only:?}"
    );
    if !valid || glen != n {
        assert!(got.is_err(), "invalid batch accepted");
        assert!(
            grad.iter().chain(&per_row).all(|&g| g == SENTINEL),
            "written on error"
        );
        return;
    }
    let loss = got.expect("valid batch");
    super::assert_same_loss(loss, loss_only);
    // The same batch with i64 targets and PyTorch's ignore index −100 in
    // place of the ignored class: the same bits.
    let signed: Vec<i64> = targets
        .iter()
        .map(|&t| if Some(t) == ignore { -100 } else { t as i64 })
        .collect();
    let signed_options = CrossEntropyOptions {
        ignore_index: Some(-100),
        ..options
    };
    let mut signed_grad = vec![SENTINEL; glen];
    let signed_loss =
        softmax_cross_entropy_batch_with_grad(&z, &signed, &signed_options, &mut signed_grad, None)
            .expect("valid batch, i64 targets");
    super::assert_same_loss(signed_loss, Ok(loss));
    super::assert_same_bits("gradient with i64 targets", &signed_grad, &grad);
    assert_eq!(
        per_row.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        per_row_only.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        "per-row losses of the loss-only form differ"
    );
    // Unscaled rows (no smoothing, no weights, a sum) are the bits of the
    // single-row call on each row, short rows and long rows alike.
    if eps == 0.0 && weights.is_none() && reduction == Reduction::Sum {
        for (r, &t) in targets.iter().enumerate() {
            if Some(t) == ignore {
                continue;
            }
            let row = &z[r * c..(r + 1) * c];
            let mut own = vec![0.0f32; c];
            let single = softmax_cross_entropy_with_grad(row, t, &mut own).expect("valid row");
            if plen == rows {
                assert_eq!(per_row[r].to_bits(), single.to_bits(), "row {r}: loss bits");
            }
            let bits = |g: &[f32]| g.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&grad[r * c..(r + 1) * c]),
                bits(&own),
                "row {r}: gradient bits"
            );
        }
    }

    // Reference: PyTorch's definition, row by row in f64.
    let w = |i: usize| weights.as_ref().map_or(1.0, |w| w[i] as f64);
    let eps64 = eps as f64;
    let mut row_losses = Vec::new();
    let mut row_grads = Vec::new();
    let mut row_p_mass = Vec::new();
    let mut row_q = Vec::new();
    let mut row_masses: Vec<f64> = Vec::new();
    let mut denom = 0.0;
    for (r, &t) in targets.iter().enumerate() {
        let zr = &z[r * c..(r + 1) * c];
        if Some(t) == ignore {
            row_losses.push(0.0);
            row_masses.push(0.0);
            row_grads.push(vec![0.0; c]);
            row_p_mass.push(vec![0.0; c]);
            row_q.push(vec![0.0; c]);
            continue;
        }
        denom += w(t);
        let q: Vec<f64> = (0..c)
            .map(|i| {
                let own = if i == t { (1.0 - eps64) * w(t) } else { 0.0 };
                own + eps64 / c as f64 * w(i)
            })
            .collect();
        row_masses.push(q.iter().sum());
        let (l, g, pq) = reference(zr, &q);
        row_losses.push(l);
        row_p_mass.push(pq);
        row_q.push(q);
        row_grads.push(g);
    }
    let factor = match reduction {
        Reduction::Sum => 1.0,
        _ if denom == 0.0 => 0.0,
        _ => 1.0 / denom,
    };
    let want: f64 = if factor == 0.0 {
        0.0
    } else {
        row_losses.iter().sum::<f64>() * factor
    };
    if !has_nan(&z) {
        assert!(
            !loss.is_nan() && !has_nan(&grad),
            "NaN from NaN-free batch {rows}×{c}, {options:?}, targets {targets:?}, logits {z:?}: loss {loss:e}, grad {grad:?}"
        );
    }
    // The documented accuracy domain: ε, the class weights and a mean's
    // total weight 0 or within [2⁻⁶⁰, 2⁶⁰], so no coefficient is subnormal
    // in f32.
    let moderate = |x: f64| x == 0.0 || (2f64.powi(-60)..=2f64.powi(60)).contains(&x);
    let in_domain = moderate(eps64)
        && weights
            .as_ref()
            .is_none_or(|w| w.iter().all(|&x| moderate(x as f64)))
        && (reduction == Reduction::Sum || moderate(denom));
    if !in_domain {
        return;
    }
    // Documented ([cross_entropy_batch]): the reduced loss within 4 ULP +
    // 2⁻²² relative + f·C·2⁻¹⁴⁹·Σ_rows(1 + Σq); each row's loss within the
    // probability-target bound; each gradient element within the
    // probability-target bound of the unscaled row gradient, scaled by f.
    let subnormal = precision::bound("cross_entropy_batch", "subnormal_log2");
    let underflow: f64 = targets
        .iter()
        .zip(&row_masses)
        .filter(|&(&t, _)| Some(t) != ignore)
        .map(|(_, &mass)| 1.0 + mass)
        .sum::<f64>()
        * c as f64
        * subnormal
        * factor;
    let what = format!(
        "batch of {rows}×{c} ({options:?}), targets {targets:?}, row losses {row_losses:?}, kernel per row {per_row:?}"
    );
    assert_loss(&what, loss, want, batch_loss_allowed(want, underflow));
    for r in 0..rows {
        if Some(targets[r]) == ignore {
            let g = &grad[r * c..(r + 1) * c];
            assert!(
                g.iter().all(|&v| v == 0.0) && (plen == 0 || per_row[r] == 0.0),
                "batch row {r}: ignored, but loss {:?} and gradient {g:?}",
                per_row.get(r)
            );
            continue;
        }
        if plen > 0 {
            let what = format!("batch row {r} (target {}, {options:?})", targets[r]);
            let allowed = probs_loss_allowed(row_losses[r], c, row_masses[r]);
            assert_loss(&what, per_row[r], row_losses[r], allowed);
        }
        let g: Vec<f64> = row_grads[r]
            .iter()
            .map(|&x| if factor == 0.0 { 0.0 } else { x * factor })
            .collect();
        let what = format!(
            "batch row {r} of {rows} (target {}, logits {:?}, {options:?})",
            targets[r],
            &z[r * c..(r + 1) * c]
        );
        let allowed = |i: usize, _: f64| {
            batch_grad_allowed(
                row_grads[r][i],
                row_p_mass[r][i],
                row_q[r][i],
                c,
                row_masses[r],
                factor,
                "cross_entropy_batch",
            )
        };
        assert_grad(&what, &grad[r * c..(r + 1) * c], &g, allowed);
    }
}

/// The probability-target batch: every option (class weights, label
/// smoothing, mean over rows or sum, per-row losses), valid or not, against
/// PyTorch's definition in f64; with neither weights nor smoothing, each
/// row's bits against the single-row call.
fn probs_batch(input: &mut Input) {
    let classes = input.below(70);
    let rows = input.below(12);
    let mut n = rows * classes;
    if input.byte() < 8 {
        n += 1 + input.below(3); // not a whole number of rows
    }
    let z = input.row(n);
    let scale = match input.byte() % 4 {
        0 => 1.0 / classes.max(1) as f32,
        1 => 1.0,
        2 => input.f32().abs(),
        _ => 1e30,
    };
    let mut q: Vec<f32> = (0..n).map(|_| input.unit() * scale).collect();
    if n > 0 && input.byte() < 16 {
        q[input.below(n)] = [-input.unit() - 1e-30, f32::NAN, f32::INFINITY][input.below(3)];
    }
    if input.byte() < 8 {
        q.push(0.5);
    }
    let eps = match input.byte() % 8 {
        0..=3 => 0.0,
        4 | 5 => input.unit(),
        6 => 1.0,
        _ => [-0.1, 1.5, f32::NAN, -0.0][input.below(4)],
    };
    let weights: Option<Vec<f32>> = match input.byte() % 4 {
        0 | 1 => None,
        2 => Some((0..classes).map(|_| input.unit() * 4.0).collect()),
        _ => {
            let len = if input.flag() {
                classes
            } else {
                input.below(classes + 2)
            };
            Some((0..len).map(|_| input.f32()).collect())
        }
    };
    let ignore = (input.byte() < 16).then(|| input.below(classes + 2) as i64 - 1);
    let reduction = if input.flag() {
        Reduction::Mean
    } else {
        Reduction::Sum
    };
    let options = CrossEntropyOptions {
        label_smoothing: eps,
        class_weights: weights.as_deref(),
        ignore_index: ignore,
        reduction,
    };
    let real_rows = n.checked_div(classes).unwrap_or(0);
    let glen = if input.byte() < 8 { n + 1 } else { n };
    let plen = match input.byte() % 8 {
        0 => 0,
        1 => real_rows + 1,
        _ => real_rows,
    };
    let mut grad = vec![SENTINEL; glen];
    let mut per_row = vec![SENTINEL; plen];
    let got = softmax_cross_entropy_probs_batch_with_grad(
        &z,
        &q,
        classes,
        &options,
        &mut grad,
        super::requested(&mut per_row),
    );
    let mut per_row_only = vec![SENTINEL; plen];
    let loss_only = softmax_cross_entropy_probs_batch(
        &z,
        &q,
        classes,
        &options,
        super::requested(&mut per_row_only),
    );

    // Validity, decided independently of the kernel.
    // Whole rows; `classes` = 0 takes only an empty batch.
    let whole = n.is_multiple_of(classes);
    let shape_ok = whole && q.len() == n && (plen == 0 || plen == real_rows);
    let weights_ok = weights
        .as_ref()
        .is_none_or(|w| w.len() == classes && w.iter().all(|&x| x.is_finite() && x >= 0.0));
    let eps_ok = (0.0..=1.0).contains(&eps);
    let probs_ok = q.iter().all(|&x| !(x < 0.0 || x == f32::INFINITY));
    let valid = shape_ok && weights_ok && eps_ok && ignore.is_none() && probs_ok;
    assert_eq!(
        loss_only.is_ok(),
        valid,
        "loss-only probability batch validation: {loss_only:?}"
    );
    if !valid || glen != n {
        assert!(got.is_err(), "invalid probability batch accepted");
        // The loss-only form takes no gradient: valid then, it writes.
        let only = if valid { &[][..] } else { &per_row_only[..] };
        assert!(
            grad.iter()
                .chain(&per_row)
                .chain(only)
                .all(|&g| g == SENTINEL),
            "written on error"
        );
        return;
    }
    let loss = got.expect("valid probability batch");
    super::assert_same_loss(loss, loss_only);
    super::assert_same_losses(
        "per-row losses of the loss-only form",
        &per_row,
        &per_row_only,
    );
    let c = classes;
    if eps == 0.0 && weights.is_none() {
        for r in 0..real_rows {
            let span = r * c..(r + 1) * c;
            let mut own = vec![0.0f32; c];
            let single =
                softmax_cross_entropy_probs_with_grad(&z[span.clone()], &q[span.clone()], &mut own)
                    .expect("valid row");
            if let Some(own_loss) = per_row.get(r) {
                assert_eq!(own_loss.to_bits(), single.to_bits(), "row {r}: loss bits");
            }
            if reduction == Reduction::Sum {
                super::assert_same_bits(&format!("row {r}: gradient"), &grad[span], &own);
            }
        }
    }

    // Reference: PyTorch's definition for probability targets, in f64.
    let w = |i: usize| weights.as_ref().map_or(1.0, |w| w[i] as f64);
    let eps64 = eps as f64;
    let factor = match reduction {
        Reduction::Sum => 1.0,
        _ if real_rows == 0 => 0.0,
        _ => 1.0 / real_rows as f64,
    };
    let subnormal = precision::bound("cross_entropy_probs_batch", "subnormal_log2");
    let mut want = 0.0;
    let mut underflow = 0.0;
    let mut rows_ref = Vec::new();
    for r in 0..real_rows {
        let zr = &z[r * c..(r + 1) * c];
        let t: Vec<f64> = (0..c)
            .map(|i| w(i) * ((1.0 - eps64) * q[r * c + i] as f64 + eps64 / c as f64))
            .collect();
        let (l, g, pq) = reference(zr, &t);
        let mass: f64 = t.iter().sum();
        want += l;
        underflow += 1.0 + mass;
        rows_ref.push((l, g, pq, t, mass));
    }
    let want = want * factor;
    let underflow = underflow * c as f64 * subnormal * factor;
    let what =
        format!("probability batch of {real_rows}×{c} ({options:?}), logits {z:?}, targets {q:?}");
    assert_loss(&what, loss, want, probs_batch_loss_allowed(want, underflow));
    for (r, (l, g, pq, t, mass)) in rows_ref.iter().enumerate() {
        let gr = &grad[r * c..(r + 1) * c];
        let row_nan = has_nan(&z[r * c..(r + 1) * c]) || t.iter().any(|x| x.is_nan());
        if !row_nan {
            assert!(!has_nan(gr), "{what}: row {r}: NaN gradient {gr:?}");
        }
        if plen > 0 {
            let what = format!("{what}: row {r}");
            let allowed = probs_batch_loss_allowed(*l, c as f64 * subnormal * (1.0 + mass));
            assert_loss(&what, per_row[r], *l, allowed);
        }
        // The documented domain of the gradient: f·Σt within f32's range.
        let in_domain = factor * mass <= f32::MAX as f64;
        if row_nan || !in_domain {
            continue;
        }
        let scaled: Vec<f64> = g.iter().map(|&x| x * factor).collect();
        let allowed = |i: usize, _: f64| {
            batch_grad_allowed(
                g[i],
                pq[i],
                t[i],
                c,
                *mass,
                factor,
                "cross_entropy_probs_batch",
            )
        };
        assert_grad(&format!("{what}: row {r}"), gr, &scaled, allowed);
    }
}
