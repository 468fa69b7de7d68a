//! Fused BCE with logits and the sigmoid focal loss against an f64
//! reference on adversarial logits (−f32::MAX … f32::MAX, ±inf), labels 0,
//! 1 and fractional, pos_weight 1 / 3.5 / 0.2, γ 0 / 2 / 5; gradients also
//! against central differences; the backward products of the elementwise
//! functions.

mod common;
use common::{Rng, ref_sigmoid, ref_softplus, ulp};
use logitkit::*;

/// c·v with 0·inf = 0, as the kernels define it.
fn w64(c: f64, v: f64) -> f64 {
    if c == 0.0 { 0.0 } else { c * v }
}

fn bce64(z: f64, y: f64, p: f64, w: f64) -> (f64, f64) {
    let loss = w64(w * (1.0 - y), ref_softplus(z)) + w64(w * p * y, ref_softplus(-z));
    let grad = w * (1.0 - y) * ref_sigmoid(z) - w * p * y * ref_sigmoid(-z);
    (loss, grad)
}

fn logits(rng: &mut Rng, n: usize) -> Vec<f32> {
    let specials = [
        0.0,
        -0.0,
        f32::MAX,
        -f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        88.72,
        -88.72,
        103.97,
        -103.97,
        1e-30,
        17.0,
        -17.0,
        100.0,
        -100.0,
    ];
    (0..n)
        .map(|i| match i % 4 {
            0 => specials[rng.below(specials.len())],
            1 => (rng.normal() * 3.0) as f32,
            2 => (rng.normal() * 60.0) as f32,
            _ => f32::from_bits(rng.next_u64() as u32 & 0xff7f_ffff), // any finite bit pattern
        })
        .collect()
}

#[test]
fn bce_matches_f64_reference() {
    let mut rng = Rng(42);
    let (mut worst_l, mut worst_g) = (0.0f64, 0.0f64);
    for &n in &[1usize, 7, 8, 9, 16, 17, 33, 1000, 4097] {
        let z = logits(&mut rng, n);
        for labels in ["0", "1", "frac"] {
            let y: Vec<f32> = (0..n)
                .map(|_| match labels {
                    "0" => 0.0,
                    "1" => 1.0,
                    _ => rng.uniform() as f32,
                })
                .collect();
            for p in [1.0f32, 3.5, 0.2] {
                let opts = BceOptions {
                    pos_weight: PosWeight::All(p),
                    reduction: Reduction::Sum,
                    ..Default::default()
                };
                let mut grad = vec![0.0; n];
                let mut per = vec![0.0; n];
                let total = bce_with_logits_with_grad(&z, &y, &opts, &mut grad, Some(&mut per))
                    .unwrap() as f64;
                let mut want_total = 0.0;
                for i in 0..n {
                    let (wl, wg) = bce64(z[i] as f64, y[i] as f64, p as f64, 1.0);
                    want_total += wl;
                    let (l, g) = (per[i] as f64, grad[i] as f64);
                    if !(wl as f32).is_finite() {
                        assert_eq!(l, wl as f32 as f64, "z={} y={} p={p}", z[i], y[i]);
                    } else {
                        assert!(l >= 0.0);
                        let err = (l - wl).abs() / ulp(wl);
                        assert!(
                            err <= 4.0,
                            "loss z={:e} y={} p={p}: {l:e} vs {wl:e} ({err} ULP)",
                            z[i],
                            y[i]
                        );
                        worst_l = worst_l.max(err);
                    }
                    let yy = y[i] as f64;
                    let scale = wg
                        .abs()
                        .max((1.0 - yy) * ref_sigmoid(z[i] as f64))
                        .max(p as f64 * yy * ref_sigmoid(-z[i] as f64));
                    let err = (g - wg).abs() / ulp(scale);
                    assert!(
                        err <= 4.0,
                        "grad z={:e} y={} p={p}: {g:e} vs {wg:e}",
                        z[i],
                        y[i]
                    );
                    worst_g = worst_g.max(err);
                    // Gradient sign: y = 1 pulls z up, y = 0 pushes it down.
                    if y[i] == 1.0 {
                        assert!(g <= 0.0);
                    }
                    if y[i] == 0.0 {
                        assert!(g >= 0.0);
                    }
                }
                if want_total.is_finite() && (want_total as f32).is_finite() {
                    assert!(
                        (total - want_total).abs() <= 1e-6 * want_total + 4.0 * ulp(want_total),
                        "{total} vs {want_total}"
                    );
                }
                let only = bce_with_logits(&z, &y, &opts, None).unwrap() as f64;
                assert_eq!(only.to_bits(), total.to_bits());
            }
        }
    }
    println!("bce_with_logits: max element loss error {worst_l:.3} ULP, gradient {worst_g:.3} ULP");
}

#[test]
fn bce_limits_and_errors() {
    let inf = f32::INFINITY;
    let z = [inf, inf, -inf, -inf, f32::NAN, 1.0];
    let y = [1.0, 0.0, 0.0, 1.0, 1.0, f32::NAN];
    let mut grad = [0.0f32; 6];
    let mut per = [0.0f32; 6];
    let opts = BceOptions {
        reduction: Reduction::Sum,
        ..Default::default()
    };
    bce_with_logits_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
    assert_eq!(&per[..4], &[0.0, inf, 0.0, inf]);
    assert_eq!(&grad[..4], &[0.0, 1.0, 0.0, -1.0]);
    assert!(per[4].is_nan() && per[5].is_nan() && grad[4].is_nan() && grad[5].is_nan());
    // Mean divides by the element count; weights and smoothing validated.
    let l = bce_with_logits(&[0.0; 4], &[1.0; 4], &BceOptions::default(), None).unwrap();
    assert!((l as f64 - 2f64.ln()).abs() < 1e-7);
    assert!(bce_with_logits(&[0.0; 4], &[1.0; 3], &BceOptions::default(), None).is_err());
    let bad = BceOptions {
        label_smoothing: -0.1,
        ..Default::default()
    };
    assert_eq!(
        bce_with_logits(&[0.0], &[1.0], &bad, None),
        Err(Error::InvalidParameter {
            name: "label_smoothing"
        })
    );
    let w = [1.0f32, -2.0];
    let bad = BceOptions {
        weights: Some(&w),
        ..Default::default()
    };
    assert_eq!(
        bce_with_logits(&[0.0; 2], &[1.0; 2], &bad, None),
        Err(Error::InvalidParameter { name: "weights" })
    );
    let bad = BceOptions {
        pos_weight: PosWeight::PerOutput(&[]),
        ..Default::default()
    };
    assert!(bce_with_logits(&[0.0; 2], &[1.0; 2], &bad, None).is_err());
    assert_eq!(
        bce_with_logits(&[], &[], &BceOptions::default(), None),
        Ok(0.0)
    );
}

#[test]
fn bce_options_match_definition_and_finite_differences() {
    let mut rng = Rng(8);
    let (rows, outputs) = (5usize, 3usize);
    let n = rows * outputs;
    let z: Vec<f32> = (0..n).map(|_| (rng.normal() * 2.0) as f32).collect();
    let y: Vec<f32> = (0..n)
        .map(|_| if rng.uniform() < 0.5 { 1.0 } else { 0.0 })
        .collect();
    let w: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 + 0.5).collect();
    let pw = [0.5f32, 2.0, 3.5];
    for eps in [0.0f32, 0.2] {
        for reduction in [Reduction::Mean, Reduction::Sum] {
            let opts = BceOptions {
                pos_weight: PosWeight::PerOutput(&pw),
                weights: Some(&w),
                label_smoothing: eps,
                reduction,
            };
            let f = |z: &[f32]| -> f64 {
                let total: f64 = (0..n)
                    .map(|i| {
                        let yy = y[i] as f64 * (1.0 - eps as f64) + 0.5 * eps as f64;
                        bce64(z[i] as f64, yy, pw[i % outputs] as f64, w[i] as f64).0
                    })
                    .sum();
                if reduction == Reduction::Mean {
                    total / n as f64
                } else {
                    total
                }
            };
            let mut grad = vec![0.0; n];
            let loss = bce_with_logits_with_grad(&z, &y, &opts, &mut grad, None).unwrap() as f64;
            assert!((loss - f(&z)).abs() <= 1e-6 * f(&z));
            for j in 0..n {
                let (mut a, mut b) = (z.clone(), z.clone());
                a[j] += 1e-3;
                b[j] -= 1e-3;
                let fd = (f(&a) - f(&b)) / (a[j] as f64 - b[j] as f64);
                assert!(
                    (fd - grad[j] as f64).abs() <= 1e-5,
                    "j={j}: fd {fd} vs {}",
                    grad[j]
                );
            }
        }
    }
}

fn focal64(z: f64, y: f64, gamma: f64, alpha: Option<f64>) -> f64 {
    let ce = w64(1.0 - y, ref_softplus(z)) + w64(y, ref_softplus(-z));
    // ln(1 − p_t) in log space for binary labels.
    let ln_m = if y == 1.0 {
        -ref_softplus(z)
    } else if y == 0.0 {
        -ref_softplus(-z)
    } else {
        (y * ref_sigmoid(-z) + (1.0 - y) * ref_sigmoid(z)).ln()
    };
    let m_gamma = if gamma == 0.0 {
        1.0
    } else {
        (gamma * ln_m).exp()
    };
    let alpha_t = alpha.map_or(1.0, |a| a * y + (1.0 - a) * (1.0 - y));
    w64(m_gamma, alpha_t * ce)
}

#[test]
fn focal_loss_matches_f64_and_reduces_to_bce() {
    let mut rng = Rng(77);
    let n = 2000;
    let z: Vec<f32> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                (rng.normal() * 4.0) as f32
            } else {
                (rng.normal() * 40.0) as f32
            }
        })
        .collect();
    let y: Vec<f32> = (0..n)
        .map(|_| if rng.uniform() < 0.5 { 1.0 } else { 0.0 })
        .collect();
    let mut worst = 0.0f64;
    for gamma in [0.0f32, 2.0, 5.0] {
        for alpha in [None, Some(0.25f32)] {
            let opts = FocalOptions {
                gamma,
                alpha,
                reduction: Reduction::Sum,
            };
            let mut per = vec![0.0; n];
            let mut grad = vec![0.0; n];
            sigmoid_focal_loss_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
            for i in 0..n {
                let (zi, yi) = (z[i] as f64, y[i] as f64);
                let want = focal64(zi, yi, gamma as f64, alpha.map(|a| a as f64));
                let cond = 1.0
                    + gamma as f64
                        * (if yi == 1.0 {
                            ref_softplus(zi)
                        } else {
                            ref_softplus(-zi)
                        });
                let err = (per[i] as f64 - want).abs() / ulp(want);
                assert!(
                    err <= 8.0 * cond,
                    "γ={gamma} z={zi} y={yi}: {} vs {want} ({err} ULP)",
                    per[i]
                );
                worst = worst.max(err / cond);
                assert!(per[i] >= 0.0 && grad[i].is_finite());
                // Central difference of the f64 loss (small |z| only: h relative).
                if zi.abs() < 20.0 {
                    let h = 1e-4;
                    let fd = (focal64(zi + h, yi, gamma as f64, alpha.map(|a| a as f64))
                        - focal64(zi - h, yi, gamma as f64, alpha.map(|a| a as f64)))
                        / (2.0 * h);
                    assert!(
                        (fd - grad[i] as f64).abs() <= 1e-5 * (1.0 + fd.abs()),
                        "γ={gamma} z={zi} y={yi}: fd {fd} vs {}",
                        grad[i]
                    );
                }
            }
            if gamma == 0.0 {
                // γ = 0: the α-weighted BCE.
                let w: Vec<f32> = y
                    .iter()
                    .map(|&t| alpha.map_or(1.0, |a| if t == 1.0 { a } else { 1.0 - a }))
                    .collect();
                let bo = BceOptions {
                    weights: Some(&w),
                    reduction: Reduction::Sum,
                    ..Default::default()
                };
                let mut bce_per = vec![0.0; n];
                let mut bce_grad = vec![0.0; n];
                bce_with_logits_with_grad(&z, &y, &bo, &mut bce_grad, Some(&mut bce_per)).unwrap();
                for i in 0..n {
                    assert!(
                        (per[i] - bce_per[i]).abs() as f64 <= 2.0 * ulp(bce_per[i] as f64),
                        "{} vs {}",
                        per[i],
                        bce_per[i]
                    );
                    assert!(
                        (grad[i] - bce_grad[i]).abs() as f64
                            <= 2.0 * ulp(bce_grad[i] as f64) + 1e-30
                    );
                }
            }
        }
    }
    println!(
        "sigmoid_focal_loss: max loss error {worst:.3} ULP (after dividing by the conditioning 1 + γ|ln m|)"
    );
    let inf = f32::INFINITY;
    let mut per = [0.0f32; 4];
    let mut grad = [0.0f32; 4];
    sigmoid_focal_loss_with_grad(
        &[inf, inf, -inf, -inf],
        &[1.0, 0.0, 0.0, 1.0],
        &FocalOptions {
            alpha: None,
            ..Default::default()
        },
        &mut grad,
        Some(&mut per),
    )
    .unwrap();
    assert_eq!(per, [0.0, inf, 0.0, inf]);
    assert!(grad.iter().all(|g| g.is_finite()));
    let bad = FocalOptions {
        gamma: -1.0,
        ..Default::default()
    };
    assert!(sigmoid_focal_loss(&[0.0], &[1.0], &bad, None).is_err());
    let bad = FocalOptions {
        alpha: Some(1.5),
        ..Default::default()
    };
    assert!(sigmoid_focal_loss(&[0.0], &[1.0], &bad, None).is_err());
}

#[test]
fn elementwise_backward_products() {
    let mut rng = Rng(1);
    let n = 1000;
    let x: Vec<f32> = (0..n).map(|_| (rng.normal() * 20.0) as f32).collect();
    let g: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    let mut out = vec![0.0; n];
    type Backward = fn(&[f32], &[f32], &mut [f32]) -> Result<(), Error>;
    type Case = (Backward, fn(f64) -> f64, f64);
    let cases: [Case; 3] = [
        (sigmoid_backward, |x| ref_sigmoid(x) * ref_sigmoid(-x), 6.0),
        (softplus_backward, ref_sigmoid, 3.0),
        (log_sigmoid_backward, |x| ref_sigmoid(-x), 3.0),
    ];
    for (backward, derivative, bound) in cases {
        backward(&x, &g, &mut out).unwrap();
        for i in 0..n {
            let want = derivative(x[i] as f64) * g[i] as f64;
            assert!(
                (out[i] as f64 - want).abs() <= bound * ulp(want),
                "x={} {} vs {want}",
                x[i],
                out[i]
            );
        }
        assert!(backward(&x, &g[..5], &mut out).is_err());
    }
    // Large negative inputs keep relative accuracy.
    assert!(
        (sigmoid(-100.0) as f64 - ref_sigmoid(-100.0)).abs() <= 2.0 * ulp(ref_sigmoid(-100.0))
            && sigmoid(-100.0) > 0.0
    );
    assert!(softplus(-100.0) > 0.0 && log_sigmoid(100.0) < 0.0);
}
