//! softmax and log_softmax (into a buffer and in place) and their backward
//! products.

use super::common::{
    log_softmax_allowed, log_softmax_backward_allowed, ref_stats, softmax_allowed,
    softmax_backward_allowed,
};
use super::input::Input;
use super::{assert_same_bits, has_nan, within};
use logitkit::{
    log_softmax, log_softmax_backward, log_softmax_in_place, log_softmax_rows,
    log_softmax_rows_in_place, log_sum_exp, log_sum_exp_rows, softmax, softmax_backward,
    softmax_in_place, softmax_rows, softmax_rows_in_place,
};

/// f64 reference softmax and log_softmax with the special values of `docs/contract.md`.
pub fn reference(xs: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let n = xs.len();
    if has_nan(xs) {
        return (vec![f64::NAN; n], vec![f64::NAN; n]);
    }
    let k = xs.iter().filter(|&&x| x == f32::INFINITY).count();
    if k > 0 {
        let at = |x: f32, hit: f64, miss: f64| if x == f32::INFINITY { hit } else { miss };
        return (
            xs.iter().map(|&x| at(x, 1.0 / k as f64, 0.0)).collect(),
            xs.iter()
                .map(|&x| at(x, -(k as f64).ln(), f64::NEG_INFINITY))
                .collect(),
        );
    }
    if xs.iter().all(|&x| x == f32::NEG_INFINITY) {
        return (vec![0.0; n], vec![f64::NEG_INFINITY; n]);
    }
    let (m, s) = ref_stats(xs);
    let log_sum = s.ln_1p();
    (
        xs.iter()
            .map(|&x| (x as f64 - m).exp() / (1.0 + s))
            .collect(),
        xs.iter().map(|&x| (x as f64 - m) - log_sum).collect(),
    )
}

/// Below this, no product or difference of upstream gradients overflows.
const MODERATE: f32 = 1e30;

/// The rows forms on the whole rows of `xs` (rows of `classes`) give the
/// bits of the single-row forms on each row.
fn check_rows(xs: &[f32], classes: usize) {
    let xs = &xs[..xs.len() / classes * classes];
    let n = xs.len();
    let (mut got, mut want) = (vec![0.0; n], vec![0.0; n]);
    let rows = || xs.chunks_exact(classes);
    softmax_rows(xs, classes, &mut got).expect("whole rows");
    for (row, w) in rows().zip(want.chunks_exact_mut(classes)) {
        softmax(row, w).expect("equal lengths");
    }
    assert_same_bits(&format!("softmax_rows, C = {classes}"), &got, &want);
    let mut in_place = xs.to_vec();
    softmax_rows_in_place(&mut in_place, classes).expect("whole rows");
    assert_same_bits("softmax_rows_in_place", &in_place, &want);
    log_softmax_rows(xs, classes, &mut got).expect("whole rows");
    for (row, w) in rows().zip(want.chunks_exact_mut(classes)) {
        log_softmax(row, w).expect("equal lengths");
    }
    assert_same_bits(&format!("log_softmax_rows, C = {classes}"), &got, &want);
    let mut in_place = xs.to_vec();
    log_softmax_rows_in_place(&mut in_place, classes).expect("whole rows");
    assert_same_bits("log_softmax_rows_in_place", &in_place, &want);
    let mut lse = vec![0.0; n / classes];
    log_sum_exp_rows(xs, classes, &mut lse).expect("whole rows");
    let want: Vec<f32> = rows().map(log_sum_exp).collect();
    assert_same_bits(&format!("log_sum_exp_rows, C = {classes}"), &lse, &want);
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let n = input.len();
    let xs = input.row(n);
    for classes in [1, 3, 10, 16, 17, 32, 33] {
        check_rows(&xs, classes);
    }
    let (ref_p, ref_lp) = reference(&xs);
    let nan_in = has_nan(&xs);

    let mut p = vec![0.0; n];
    softmax(&xs, &mut p).expect("equal lengths");
    let mut p_in_place = xs.clone();
    softmax_in_place(&mut p_in_place);
    assert_same_bits("softmax vs softmax_in_place", &p, &p_in_place);
    let (mut sum, mut exact_sum, mut allowed_sum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, (&got, &want)) in p.iter().zip(&ref_p).enumerate() {
        assert_eq!(got.is_nan(), nan_in, "softmax[{i}] = {got:e}: NaN contract");
        if nan_in {
            continue;
        }
        assert!(
            (0.0..=1.0).contains(&got),
            "softmax[{i}] = {got:e} outside [0, 1]"
        );
        // 2 ULP + 2⁻²¹ relative (documented).
        let allowed = softmax_allowed(want);
        assert!(
            within(got, want, allowed),
            "softmax[{i}] of {n} = {got:e}, want {want:e} (allowed {allowed:e})"
        );
        sum += got as f64;
        exact_sum += want;
        allowed_sum += allowed;
    }
    // Σp = 1 within the sum of the element bounds (what they imply:
    // < 1.5·2⁻²¹ + n·2⁻¹⁴⁸).
    let some_mass = xs.iter().any(|&x| x > f32::NEG_INFINITY);
    if !nan_in && some_mass {
        assert!(
            (sum - exact_sum).abs() <= allowed_sum,
            "softmax sums to {sum} (n = {n}), beyond the element bounds' {allowed_sum:e}"
        );
    }

    let mut lp = vec![0.0; n];
    log_softmax(&xs, &mut lp).expect("equal lengths");
    let mut lp_in_place = xs.clone();
    log_softmax_in_place(&mut lp_in_place);
    assert_same_bits("log_softmax vs log_softmax_in_place", &lp, &lp_in_place);
    for (i, (&got, &want)) in lp.iter().zip(&ref_lp).enumerate() {
        assert_eq!(
            got.is_nan(),
            nan_in,
            "log_softmax[{i}] = {got:e}: NaN contract"
        );
        if !nan_in {
            assert!(got <= 0.0, "log_softmax[{i}] = {got:e} > 0");
            // 2 ULP + 2⁻²¹ absolute (documented).
            let allowed = log_softmax_allowed(want);
            assert!(
                within(got, want, allowed),
                "log_softmax[{i}] of {n} = {got:e}, want {want:e} (allowed {allowed:e})"
            );
        }
    }

    let mut wrong = vec![0.0; n + 1];
    assert!(
        softmax(&xs, &mut wrong).is_err(),
        "softmax accepted a longer output"
    );
    assert!(
        log_softmax(&xs, &mut wrong).is_err(),
        "log_softmax accepted a longer output"
    );

    // Backward products, with the forward outputs above and an upstream row.
    let g = input.row(n);
    let moderate = !has_nan(&g) && g.iter().all(|x| x.abs() <= MODERATE);
    let mut gi = vec![0.0; n];
    softmax_backward(&p, &g, &mut gi).expect("equal lengths");
    if !nan_in && moderate {
        let dot: f64 = p.iter().zip(&g).map(|(&a, &b)| a as f64 * b as f64).sum();
        let dot_abs: f64 = p
            .iter()
            .zip(&g)
            .map(|(&a, &b)| (a as f64 * b as f64).abs())
            .sum();
        for (i, ((&pi, &gj), &got)) in p.iter().zip(&g).zip(&gi).enumerate() {
            let want = pi as f64 * (gj as f64 - dot);
            let allowed = softmax_backward_allowed(want, pi as f64, dot, dot_abs, n);
            assert!(
                within(got, want, allowed),
                "softmax_backward[{i}] = {got:e}, want {want:e} (allowed {allowed:e})"
            );
        }
    }
    if !lp.iter().any(|x| x.is_nan()) && moderate {
        log_softmax_backward(&lp, &g, &mut gi).expect("equal lengths");
        let total: f64 = g.iter().map(|&x| x as f64).sum();
        let total_abs: f64 = g.iter().map(|&x| (x as f64).abs()).sum();
        for (i, ((&l, &gj), &got)) in lp.iter().zip(&g).zip(&gi).enumerate() {
            let pi = (l as f64).exp();
            let want = gj as f64 - pi * total;
            let allowed = log_softmax_backward_allowed(want, pi, total, total_abs);
            assert!(
                within(got, want, allowed),
                "log_softmax_backward[{i}] = {got:e}, want {want:e} (allowed {allowed:e}; log p {l:e}, g {gj:e}, Σg {total:e})"
            );
        }
    }
    if n > 0 {
        let mut short = vec![0.0; n - 1];
        assert!(
            softmax_backward(&p, &g, &mut short).is_err(),
            "softmax_backward: short output"
        );
        assert!(
            log_softmax_backward(&lp, &g, &mut short).is_err(),
            "log_softmax_backward: short"
        );
    }
}
