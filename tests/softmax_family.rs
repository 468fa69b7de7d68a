//! The softmax family against an f64 reference on adversarial vectors
//! (`docs/accuracy.md`): lengths around every SIMD width and block size, magnitudes up
//! to ±f32::MAX, masks, ties, subnormals, tiny losses. Each test asserts the
//! bound stated in the kernel's doc comment and prints the largest error seen.

mod common;
use common::{Rng, adversarial_rows, ref_lse, ref_stats, ulp};
use logitkit::*;

fn lengths() -> Vec<usize> {
    let mut v: Vec<usize> = (1..=17).collect();
    v.extend([31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 4097, 100_000]);
    v
}

/// Rows to test: every adversarial family at every length.
fn cases() -> Vec<(String, Vec<f32>)> {
    let mut rng = Rng(0x5eed);
    let mut out = Vec::new();
    for n in lengths() {
        for (name, row) in adversarial_rows(&mut rng, n) {
            out.push((format!("{name} n={n}"), row));
        }
    }
    out
}

#[test]
fn log_sum_exp_within_bound() {
    let mut worst = 0.0f64;
    for (name, xs) in cases() {
        let got = log_sum_exp(&xs) as f64;
        let want = ref_lse(&xs);
        if !want.is_finite() {
            assert!(
                got == want || (got.is_nan() && want.is_nan()),
                "{name}: {got} vs {want}"
            );
            continue;
        }
        let (_, s) = ref_stats(&xs);
        let bound = 0.5 * ulp(want) + 2f64.powi(-21) * s / (1.0 + s);
        let err = (got - want).abs();
        assert!(
            err <= bound,
            "{name}: lse {got} vs {want}, err {err:e} > {bound:e}"
        );
        worst = worst.max(err / ulp(want));
        // max ≤ lse ≤ max + ln n
        let m = xs.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        assert!(
            got >= m as f64 && got <= m as f64 + (xs.len() as f64).ln() + ulp(want),
            "{name}"
        );
    }
    println!("log_sum_exp: max error {worst:.3} ULP of lse");
}

#[test]
fn log_sum_exp_special_values() {
    let inf = f32::INFINITY;
    assert_eq!(log_sum_exp(&[]), -inf);
    assert_eq!(log_sum_exp(&[-inf; 33]), -inf);
    assert!(log_sum_exp(&[1.0, f32::NAN, inf]).is_nan());
    assert_eq!(log_sum_exp(&[1.0, inf, -inf]), inf);
    assert_eq!(log_sum_exp(&[f32::MAX, f32::MAX]), f32::MAX);
    assert_eq!(log_sum_exp(&[f32::MAX; 1000]), f32::MAX);
    assert_eq!(log_sum_exp(&[-inf, 2.5, -inf]), 2.5);
    assert_eq!(log_sum_exp(&[f32::MIN, f32::MAX]), f32::MAX);
}

#[test]
fn all_equal_rows_sum_exactly() {
    // lse(v, …, v) = v + ln n exercises the summation at every length.
    for n in lengths() {
        let v = 0.75f32;
        let got = log_sum_exp(&vec![v; n]) as f64;
        let want = v as f64 + (n as f64).ln();
        assert!((got - want).abs() <= ulp(want), "n={n}: {got} vs {want}");
    }
}

#[test]
fn streaming_state_matches_one_pass() {
    let mut rng = Rng(7);
    for (name, xs) in cases().into_iter().step_by(3) {
        let one_pass = log_sum_exp(&xs);
        let mut state = LogSumExp::new();
        let mut rest = &xs[..];
        // Split at arbitrary points; alternate push, extend and merge.
        let mut turn = 0;
        while !rest.is_empty() {
            let take = 1 + rng.below(rest.len().min(97));
            let (piece, tail) = rest.split_at(take);
            match turn % 3 {
                0 => piece.iter().for_each(|&x| state.push(x)),
                1 => state.extend(piece),
                _ => {
                    let mut other = LogSumExp::new();
                    other.extend(piece);
                    state.merge(&other);
                }
            }
            rest = tail;
            turn += 1;
        }
        let got = state.value();
        let want = ref_lse(&xs);
        if !want.is_finite() {
            assert!(
                got as f64 == want || (got.is_nan() && want.is_nan()),
                "{name}"
            );
            continue;
        }
        let (_, s) = ref_stats(&xs);
        let bound = 0.5 * ulp(want) + 2f64.powi(-21) * s / (1.0 + s);
        assert!(
            (got as f64 - want).abs() <= bound,
            "{name}: stream {got} one pass {one_pass} want {want}"
        );
    }
}

/// Reference softmax in f64 with the limits of `docs/contract.md`.
fn ref_softmax(xs: &[f32]) -> Vec<f64> {
    if xs.iter().any(|x| x.is_nan()) {
        return vec![f64::NAN; xs.len()];
    }
    let k = xs.iter().filter(|&&x| x == f32::INFINITY).count();
    if k > 0 {
        return xs
            .iter()
            .map(|&x| {
                if x == f32::INFINITY {
                    1.0 / k as f64
                } else {
                    0.0
                }
            })
            .collect();
    }
    if xs.iter().all(|&x| x == f32::NEG_INFINITY) {
        return vec![0.0; xs.len()];
    }
    let (m, s) = ref_stats(xs);
    xs.iter()
        .map(|&x| (x as f64 - m).exp() / (1.0 + s))
        .collect()
}

#[test]
fn softmax_within_bound_and_normalized() {
    let mut worst = 0.0f64;
    for (name, xs) in cases() {
        let want = ref_softmax(&xs);
        let mut got = vec![0.0; xs.len()];
        softmax(&xs, &mut got).unwrap();
        let mut in_place = xs.clone();
        softmax_in_place(&mut in_place);
        let mut total = 0.0f64;
        for i in 0..xs.len() {
            assert_eq!(
                got[i].to_bits(),
                in_place[i].to_bits(),
                "{name}: in place differs at {i}"
            );
            let (g, w) = (got[i] as f64, want[i]);
            if w.is_nan() {
                assert!(g.is_nan(), "{name}");
                continue;
            }
            assert!((0.0..=1.0).contains(&g), "{name}: p[{i}] = {g}");
            let bound = 2.0 * ulp(w) + 2f64.powi(-21) * w;
            let err = (g - w).abs();
            assert!(err <= bound, "{name}: p[{i}] = {g:e} want {w:e}");
            worst = worst.max(err / ulp(w));
            total += g;
        }
        if !want.iter().any(|w| w.is_nan()) && want.iter().any(|&w| w > 0.0) {
            let n = xs.len() as f64;
            assert!(
                (total - 1.0).abs() <= 2f64.powi(-21) + 2.0 * n * 2f64.powi(-24),
                "{name}: Σp = {total}"
            );
        }
    }
    println!("softmax: max error {worst:.3} ULP per element");
}

#[test]
fn log_softmax_within_bound() {
    let mut worst = 0.0f64;
    for (name, xs) in cases() {
        let want: Vec<f64> = ref_neg_log_softmax_all(&xs).iter().map(|v| -v).collect();
        let mut got = vec![0.0; xs.len()];
        log_softmax(&xs, &mut got).unwrap();
        let mut in_place = xs.clone();
        log_softmax_in_place(&mut in_place);
        for i in 0..xs.len() {
            assert_eq!(
                got[i].to_bits(),
                in_place[i].to_bits(),
                "{name}: in place differs at {i}"
            );
            let (g, w) = (got[i] as f64, want[i]);
            // Beyond f32's range the correctly rounded result is ±inf.
            if !(w as f32).is_finite() {
                assert!(
                    g == w as f32 as f64 || (g.is_nan() && w.is_nan()),
                    "{name}: {g} vs {w}"
                );
                continue;
            }
            assert!(g <= 0.0, "{name}");
            let err = (g - w).abs();
            assert!(
                err <= 2.0 * ulp(w) + 2f64.powi(-21),
                "{name}: lsm[{i}] = {g:e} want {w:e}"
            );
            worst = worst.max(err / ulp(w));
        }
    }
    println!("log_softmax: max error {worst:.3} ULP per element");
}

#[test]
fn softmax_special_values() {
    let inf = f32::INFINITY;
    let mut out = [9.0f32; 4];
    softmax(&[inf, 1.0, inf, -inf], &mut out).unwrap();
    assert_eq!(out, [0.5, 0.0, 0.5, 0.0]);
    softmax(&[-inf; 4], &mut out).unwrap();
    assert_eq!(out, [0.0; 4]);
    softmax(&[1.0, f32::NAN, 2.0, 3.0], &mut out).unwrap();
    assert!(out.iter().all(|p| p.is_nan()));
    log_softmax(&[inf, 1.0, inf, inf], &mut out).unwrap();
    assert_eq!(out[1], -inf);
    assert!((out[0] as f64 + 3f64.ln()).abs() < 1e-6);
    log_softmax(&[-inf; 4], &mut out).unwrap();
    assert_eq!(out, [-inf; 4]);
    assert_eq!(
        softmax(&[1.0; 3], &mut out),
        Err(Error::LengthMismatch {
            argument: "out",
            expected: 3,
            found: 4,
            shape: None,
        })
    );
    softmax(&[], &mut []).unwrap();
}

/// −log_softmax(xs) in f64: (m − xᵢ) + ln_1p(s′), which keeps tiny values
/// exact (lse − xᵢ would round them away).
fn ref_neg_log_softmax_all(xs: &[f32]) -> Vec<f64> {
    let lse = ref_lse(xs);
    if lse.is_nan() {
        return vec![f64::NAN; xs.len()];
    }
    if !lse.is_finite() {
        return ref_softmax(xs).iter().map(|p| -p.ln()).collect();
    }
    let (m, s) = ref_stats(xs);
    xs.iter().map(|&x| (m - x as f64) + s.ln_1p()).collect()
}

fn ref_neg_log_softmax(xs: &[f32], i: usize) -> f64 {
    ref_neg_log_softmax_all(xs)[i]
}

/// f64 reference of the integer-target loss and gradient.
fn ref_ce(xs: &[f32], t: usize) -> (f64, Vec<f64>) {
    let p = ref_softmax(xs);
    let lse = ref_lse(xs);
    let loss = ref_neg_log_softmax(xs, t);
    let (m, s) = if lse.is_finite() {
        ref_stats(xs)
    } else {
        (0.0, 0.0)
    };
    let ties = xs.iter().filter(|&&x| x as f64 == m).count();
    let grad = (0..xs.len())
        .map(|i| {
            if i != t {
                p[i]
            } else if lse.is_finite() && xs[t] as f64 == m && ties == 1 {
                -s / (1.0 + s) // p_t − 1 without cancellation
            } else {
                p[i] - 1.0
            }
        })
        .collect();
    (loss, grad)
}

fn targets_for(xs: &[f32]) -> Vec<usize> {
    let n = xs.len();
    let argmax = (0..n).fold(0, |a, i| if xs[i] > xs[a] { i } else { a });
    let argmin = (0..n).fold(0, |a, i| if xs[i] < xs[a] { i } else { a });
    vec![0, n - 1, argmax, argmin, n / 2]
}

#[test]
fn cross_entropy_loss_and_grad_within_bound() {
    let (mut worst_loss, mut worst_grad) = (0.0f64, 0.0f64);
    for (name, xs) in cases() {
        for t in targets_for(&xs) {
            let (want, want_g) = ref_ce(&xs, t);
            let mut g = vec![0.0; xs.len()];
            let loss = softmax_cross_entropy_with_grad(&xs, t, &mut g).unwrap() as f64;
            let loss_only = softmax_cross_entropy(&xs, t).unwrap() as f64;
            assert_eq!(
                loss.to_bits(),
                loss_only.to_bits(),
                "{name}: loss-only differs"
            );
            if !(want as f32).is_finite() {
                // Beyond f32's range the correctly rounded loss is +inf.
                assert!(
                    loss == want as f32 as f64 || (loss.is_nan() && want.is_nan()),
                    "{name} t={t}: {loss} vs {want}"
                );
            } else {
                assert!(loss >= 0.0, "{name}");
                let err = (loss - want).abs();
                let bound = 4.0 * ulp(want) + 3.0 * 2f64.powi(-24) * want;
                assert!(
                    err <= bound,
                    "{name} t={t}: loss {loss:e} want {want:e} ({} ULP)",
                    err / ulp(want)
                );
                worst_loss = worst_loss.max(err / ulp(want));
            }
            let gmax = want_g.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
            let mut gsum = 0.0;
            for i in 0..xs.len() {
                let (gi, wi) = (g[i] as f64, want_g[i]);
                if wi.is_nan() {
                    assert!(gi.is_nan(), "{name}");
                    continue;
                }
                let scale = wi.abs().max(2f64.powi(-24) * gmax);
                let err = (gi - wi).abs();
                assert!(
                    err <= 4.0 * ulp(scale),
                    "{name} t={t}: g[{i}] = {gi:e} want {wi:e}"
                );
                worst_grad = worst_grad.max(err / ulp(scale));
                gsum += gi;
            }
            if !gmax.is_nan() && want_g.iter().any(|&w| w > 0.0) {
                assert!(gsum.abs() <= 1e-5, "{name}: Σg = {gsum}");
            }
        }
    }
    println!(
        "softmax_cross_entropy: max loss error {worst_loss:.3} ULP, max gradient error {worst_grad:.3} ULP"
    );
}

#[test]
fn cross_entropy_special_values() {
    let inf = f32::INFINITY;
    let mut g = [0.0f32; 3];
    // Target logit −inf: infinite loss, finite gradient.
    let loss = softmax_cross_entropy_with_grad(&[1.0, -inf, 2.0], 1, &mut g).unwrap();
    assert_eq!(loss, inf);
    assert!(g.iter().all(|v| v.is_finite()));
    assert_eq!(g[1], -1.0);
    // Fully masked row.
    let loss = softmax_cross_entropy_with_grad(&[-inf; 3], 2, &mut g).unwrap();
    assert_eq!((loss, g), (inf, [0.0, 0.0, -1.0]));
    // +inf entries take the limit.
    let loss = softmax_cross_entropy_with_grad(&[inf, 0.0, inf], 0, &mut g).unwrap();
    assert!((loss as f64 - 2f64.ln()).abs() < 1e-7);
    assert_eq!(g, [-0.5, 0.0, 0.5]);
    assert_eq!(
        softmax_cross_entropy_with_grad(&[inf, 0.0, inf], 1, &mut g).unwrap(),
        inf
    );
    // NaN.
    assert!(
        softmax_cross_entropy_with_grad(&[f32::NAN, 0.0, 1.0], 1, &mut g)
            .unwrap()
            .is_nan()
    );
    assert!(g.iter().all(|v| v.is_nan()));
    // Extremes: no overflow.
    let loss = softmax_cross_entropy_with_grad(&[f32::MAX, f32::MAX, f32::MIN], 0, &mut g).unwrap();
    assert!((loss as f64 - 2f64.ln()).abs() < 1e-7);
    // Errors.
    assert_eq!(
        softmax_cross_entropy_with_grad(&[1.0, 2.0, 3.0], 3, &mut g),
        Err(Error::ClassOutOfRange {
            class: 3,
            classes: 3
        })
    );
    assert_eq!(
        softmax_cross_entropy(&[], 0),
        Err(Error::ClassOutOfRange {
            class: 0,
            classes: 0
        })
    );
    assert_eq!(
        softmax_cross_entropy_with_grad(&[1.0, 2.0], 0, &mut g),
        Err(Error::LengthMismatch {
            argument: "grad",
            expected: 2,
            found: 3,
            shape: None,
        })
    );
}

/// f64 loss for central differences (a different formula from the kernel's).
fn f64_loss(z: &[f64], t: usize) -> f64 {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln() - z[t]
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let mut rng = Rng(99);
    for n in [2usize, 3, 5, 8, 13] {
        for _ in 0..20 {
            let xs: Vec<f32> = (0..n).map(|_| (rng.normal() * 3.0) as f32).collect();
            let t = rng.below(n);
            let mut g = vec![0.0; n];
            softmax_cross_entropy_with_grad(&xs, t, &mut g).unwrap();
            let z: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
            for i in 0..n {
                let h = 1e-6;
                let (mut a, mut b) = (z.clone(), z.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (f64_loss(&a, t) - f64_loss(&b, t)) / (2.0 * h);
                assert!(
                    (fd - g[i] as f64).abs() <= 1e-6,
                    "n={n} i={i}: fd {fd} vs {}",
                    g[i]
                );
            }
        }
    }
}

#[test]
fn probability_target_within_bound() {
    let mut rng = Rng(3);
    let mut worst = 0.0f64;
    for (name, xs) in cases().into_iter().filter(|(_, x)| x.len() <= 4097) {
        let n = xs.len();
        // A random distribution, with zeros on some classes.
        let mut q: Vec<f32> = (0..n)
            .map(|_| {
                if rng.uniform() < 0.3 {
                    0.0
                } else {
                    rng.uniform() as f32
                }
            })
            .collect();
        let qs: f32 = q.iter().sum();
        if qs > 0.0 {
            q.iter_mut().for_each(|v| *v /= qs);
        }
        let mut g = vec![0.0; n];
        let loss = softmax_cross_entropy_probs_with_grad(&xs, &q, &mut g).unwrap() as f64;
        let p = ref_softmax(&xs);
        let qt: f64 = q.iter().map(|&v| v as f64).sum();
        // −Σ q log p with 0·inf = 0.
        let want: f64 = if xs.iter().any(|x| x.is_nan()) {
            f64::NAN
        } else {
            let nls = ref_neg_log_softmax_all(&xs);
            (0..n)
                .filter(|&i| q[i] > 0.0)
                .map(|i| q[i] as f64 * nls[i])
                .sum()
        };
        if !(want as f32).is_finite() {
            assert!(
                loss == want as f32 as f64 || (loss.is_nan() && want.is_nan()),
                "{name}: {loss} vs {want}"
            );
        } else {
            let err = (loss - want).abs();
            assert!(
                err <= 4.0 * ulp(want) + 3.0 * 2f64.powi(-24) * want,
                "{name}: {loss:e} vs {want:e}"
            );
            worst = worst.max(err / ulp(want).max(f64::MIN_POSITIVE));
        }
        for i in 0..n {
            let w = p[i] * qt - q[i] as f64;
            if w.is_nan() {
                continue;
            }
            let scale = w.abs().max(p[i] * qt).max(q[i] as f64);
            assert!(
                (g[i] as f64 - w).abs() <= 4.0 * ulp(scale) + 2f64.powi(-21) * p[i] * qt,
                "{name}: g[{i}] {} vs {w}",
                g[i]
            );
        }
    }
    println!("softmax_cross_entropy_probs: max loss error {worst:.3} ULP");
    // A zero weight on a −inf logit contributes nothing; a positive one is +inf.
    let mut g = [0.0f32; 3];
    let inf = f32::INFINITY;
    assert!(
        softmax_cross_entropy_probs_with_grad(&[0.0, -inf, 1.0], &[0.5, 0.0, 0.5], &mut g)
            .unwrap()
            .is_finite()
    );
    assert_eq!(
        softmax_cross_entropy_probs_with_grad(&[0.0, -inf, 1.0], &[0.5, 0.1, 0.4], &mut g).unwrap(),
        inf
    );
    assert_eq!(
        softmax_cross_entropy_probs(&[0.0, 1.0], &[-0.1, 1.1]),
        Err(Error::InvalidParameter { name: "probs" })
    );
}

#[test]
fn backward_products_match_f64() {
    let mut rng = Rng(11);
    for n in [1usize, 7, 8, 9, 33, 1000] {
        let xs: Vec<f32> = (0..n).map(|_| (rng.normal() * 4.0) as f32).collect();
        let g: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        let mut p = vec![0.0; n];
        softmax(&xs, &mut p).unwrap();
        let mut lp = vec![0.0; n];
        log_softmax(&xs, &mut lp).unwrap();
        let mut out = vec![0.0; n];
        softmax_backward(&p, &g, &mut out).unwrap();
        let dot: f64 = (0..n).map(|i| p[i] as f64 * g[i] as f64).sum();
        for i in 0..n {
            let want = p[i] as f64 * (g[i] as f64 - dot);
            assert!(
                (out[i] as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "softmax_backward n={n} i={i}"
            );
        }
        log_softmax_backward(&lp, &g, &mut out).unwrap();
        let gs: f64 = g.iter().map(|&v| v as f64).sum();
        for i in 0..n {
            let want = g[i] as f64 - (lp[i] as f64).exp() * gs;
            assert!(
                (out[i] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "log_softmax_backward n={n} i={i}"
            );
        }
    }
    let mut out = [0.0f32; 2];
    assert!(softmax_backward(&[0.5, 0.5], &[1.0], &mut out).is_err());
    assert!(log_softmax_backward(&[0.5, 0.5], &[1.0, 1.0], &mut out[..1]).is_err());
}

/// PyTorch's cross_entropy with weights, label smoothing and ignore_index,
/// written out in f64.
fn ref_batch(logits: &[f32], targets: &[usize], o: &CrossEntropyOptions) -> f64 {
    let c = logits.len() / targets.len();
    let w = |i: usize| o.class_weights.map_or(1.0, |w| w[i] as f64);
    let (mut total, mut denom) = (0.0, 0.0);
    for (r, &t) in targets.iter().enumerate() {
        if o.ignore_index == Some(t) {
            continue;
        }
        let row = &logits[r * c..(r + 1) * c];
        let eps = o.label_smoothing as f64;
        let nls = ref_neg_log_softmax_all(row);
        let nll = nls[t];
        let smooth: f64 = (0..c).map(|i| w(i) * nls[i]).sum::<f64>() / c as f64;
        total += (1.0 - eps) * w(t) * nll + eps * smooth;
        denom += w(t);
    }
    match o.reduction {
        Reduction::Mean => {
            if denom == 0.0 {
                0.0
            } else {
                total / denom
            }
        }
        _ => total,
    }
}

#[test]
fn batch_options_match_pytorch_definition() {
    let mut rng = Rng(5);
    let weights: Vec<f32> = (0..10).map(|i| 0.5 + i as f32 * 0.25).collect();
    for rows in [1usize, 3, 8] {
        let c = 10;
        let logits: Vec<f32> = (0..rows * c).map(|_| (rng.normal() * 3.0) as f32).collect();
        let targets: Vec<usize> = (0..rows).map(|_| rng.below(c)).collect();
        for smoothing in [0.0f32, 0.1, 1.0] {
            for weighted in [false, true] {
                for reduction in [Reduction::Mean, Reduction::Sum] {
                    let o = CrossEntropyOptions {
                        label_smoothing: smoothing,
                        class_weights: weighted.then_some(&weights[..]),
                        ignore_index: Some(targets[0]).filter(|_| rows > 1),
                        reduction,
                    };
                    let mut grad = vec![0.0; rows * c];
                    let mut per_row = vec![0.0; rows];
                    let loss = softmax_cross_entropy_batch_with_grad(
                        &logits,
                        &targets,
                        &o,
                        &mut grad,
                        Some(&mut per_row),
                    )
                    .unwrap() as f64;
                    let want = ref_batch(&logits, &targets, &o);
                    assert!(
                        (loss - want).abs() <= 4.0 * ulp(want) + 1e-7 * want,
                        "{o:?}: {loss} vs {want}"
                    );
                    let only =
                        softmax_cross_entropy_batch(&logits, &targets, &o, None).unwrap() as f64;
                    assert_eq!(only.to_bits(), loss.to_bits());
                    // Gradient by central differences of the f64 definition.
                    for j in (0..rows * c).step_by(7) {
                        let h = 1e-3f32;
                        let (mut a, mut b) = (logits.clone(), logits.clone());
                        a[j] += h;
                        b[j] -= h;
                        let fd = (ref_batch(&a, &targets, &o) - ref_batch(&b, &targets, &o))
                            / (a[j] as f64 - b[j] as f64);
                        assert!(
                            (fd - grad[j] as f64).abs() <= 1e-4,
                            "{o:?} j={j}: fd {fd} vs {}",
                            grad[j]
                        );
                    }
                    for r in 0..rows {
                        let ignored = o.ignore_index == Some(targets[r]);
                        assert_eq!(
                            ignored,
                            per_row[r] == 0.0 && grad[r * c..(r + 1) * c].iter().all(|&g| g == 0.0)
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn batch_edge_cases() {
    let o = CrossEntropyOptions {
        ignore_index: Some(7),
        ..Default::default()
    };
    let mut grad = [1.0f32; 6];
    // Every target ignored: loss 0, zero gradient.
    assert_eq!(
        softmax_cross_entropy_batch_with_grad(&[1.0; 6], &[7, 7], &o, &mut grad, None),
        Ok(0.0)
    );
    assert_eq!(grad, [0.0; 6]);
    // NaN stays in its row.
    let logits = [1.0, f32::NAN, 0.0, 1.0, 2.0, 3.0];
    let mut per_row = [0.0f32; 2];
    let loss = softmax_cross_entropy_batch_with_grad(
        &logits,
        &[0, 2],
        &Default::default(),
        &mut grad,
        Some(&mut per_row),
    )
    .unwrap();
    assert!(loss.is_nan() && per_row[0].is_nan() && per_row[1].is_finite());
    assert!(grad[..3].iter().all(|g| g.is_nan()) && grad[3..].iter().all(|g| g.is_finite()));
    // Shape and parameter errors, nothing written.
    let d = CrossEntropyOptions::default();
    assert_eq!(
        softmax_cross_entropy_batch_with_grad(&[1.0; 5], &[0, 1], &d, &mut grad[..5], None),
        Err(Error::NotWholeRows { rows: 2, found: 5 })
    );
    let short = softmax_cross_entropy_batch_with_grad(&[1.0; 6], &[0, 1], &d, &mut grad[..5], None);
    assert_eq!(
        short.map_err(|e| e.to_string()),
        Err("grad: expected 6 elements (2 rows × 3 classes), found 5".to_string())
    );
    // The loss-only form takes no gradient; per-row losses are optional in both.
    assert_eq!(
        softmax_cross_entropy_batch(&[1.0; 6], &[0, 1], &d, Some(&mut [0.0; 3])),
        Err(Error::LengthMismatch {
            argument: "per_row",
            expected: 2,
            found: 3,
            shape: None,
        })
    );
    assert!(matches!(
        softmax_cross_entropy_batch_with_grad(&[1.0; 6], &[0, 3], &d, &mut grad, None),
        Err(Error::ClassOutOfRange {
            class: 3,
            classes: 3
        })
    ));
    let bad = CrossEntropyOptions {
        label_smoothing: 1.5,
        ..Default::default()
    };
    assert_eq!(
        softmax_cross_entropy_batch(&[1.0; 6], &[0, 1], &bad, None),
        Err(Error::InvalidParameter {
            name: "label_smoothing"
        })
    );
    let w = [1.0, -1.0, 1.0];
    let neg = CrossEntropyOptions {
        class_weights: Some(&w),
        ..Default::default()
    };
    assert_eq!(
        softmax_cross_entropy_batch(&[1.0; 6], &[0, 1], &neg, None),
        Err(Error::InvalidParameter {
            name: "class_weights"
        })
    );
    assert_eq!(softmax_cross_entropy_batch(&[], &[], &d, None), Ok(0.0));
}

#[test]
fn fixed_size_rows_match_slices() {
    let a = [2.0f32, -1.0, 0.5, 8.0, f32::NEG_INFINITY, 3.0, 0.0];
    let v: heapless::Vec<f32, 16> = heapless::Vec::from_slice(&a).unwrap();
    let mut p = [0.0; 7];
    softmax(&a, &mut p).unwrap();
    assert_eq!(a.softmax(), p);
    assert_eq!(&v.softmax()[..], &p[..]);
    log_softmax(&a, &mut p).unwrap();
    assert_eq!(a.log_softmax(), p);
    assert_eq!(&v.log_softmax()[..], &p[..]);
    assert_eq!(a.log_sum_exp().to_bits(), log_sum_exp(&a).to_bits());
    let mut g = [0.0; 7];
    let l = softmax_cross_entropy_with_grad(&a, 3, &mut g).unwrap();
    assert_eq!(a.softmax_cross_entropy_with_grad(3).unwrap(), (l, g));
    let (lv, gv) = v.softmax_cross_entropy_with_grad(3).unwrap();
    assert_eq!((lv, &gv[..]), (l, &g[..]));
    assert_eq!(a.softmax_cross_entropy(3), Ok(l));
    assert!(a.softmax_cross_entropy_with_grad(7).is_err());
}

#[test]
fn random_rows_keep_the_invariants() {
    // Property test over many random rows: softmax in [0,1] summing to 1,
    // log_softmax ≤ 0, max ≤ lse ≤ max + ln n, loss ≥ 0, Σ grad ≈ 0.
    let mut rng = Rng(2024);
    for _ in 0..3000 {
        let n = 1 + rng.below(70);
        let scale = [1e-3, 1.0, 30.0, 1e4, 1e30][rng.below(5)];
        let xs: Vec<f32> = (0..n).map(|_| (rng.normal() * scale) as f32).collect();
        let m = xs.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let lse = log_sum_exp(&xs);
        assert!(
            lse >= m && lse as f64 <= m as f64 + (n as f64).ln() * (1.0 + 1e-6) + ulp(lse as f64)
        );
        let mut p = vec![0.0; n];
        softmax(&xs, &mut p).unwrap();
        assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!((p.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() <= 1e-6);
        log_softmax(&xs, &mut p).unwrap();
        assert!(p.iter().all(|&v| v <= 0.0));
        let t = rng.below(n);
        let mut g = vec![0.0; n];
        let loss = softmax_cross_entropy_with_grad(&xs, t, &mut g).unwrap();
        assert!(loss >= 0.0);
        assert!(g.iter().map(|&v| v as f64).sum::<f64>().abs() <= 1e-6);
    }
}
