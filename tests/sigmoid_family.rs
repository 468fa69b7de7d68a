//! Fused BCE with logits and the sigmoid focal loss against an f64
//! reference on adversarial logits (−f32::MAX … f32::MAX, ±inf), labels 0,
//! 1 and fractional, pos_weight 1 / 3.5 / 0.2, label smoothing, sums and
//! means, γ 0 / 0.5 / 2 / 5 / 64; gradients also against central
//! differences; the backward products of the elementwise functions.
//!
//! Every limit is the documented bound, read from `docs/precision.toml`
//! through the functions of `tests/checks/bce.rs` and
//! `tests/checks/lane_math.rs` that the fuzz checks use too.

mod checks;

use checks::bce::{
    bce_grad_allowed, bce_loss_allowed, bce_reference, focal_conditioning, focal_grad_allowed,
    focal_loss_allowed, focal_reference, matches, reduced_reference, smoothed_label,
};
use checks::common::precision::bound;
use checks::common::{Rng, ref_sigmoid, ulp, ulp_error};
use checks::lane_math::{BACKWARD, backward_allowed};
use logitkit::*;

/// The largest error seen, in ULP and as a fraction of the documented
/// bound, and where.
#[derive(Default)]
struct Worst {
    ulp: f64,
    fraction: f64,
    at: String,
}

impl Worst {
    /// Records `error` (in ULP of whatever the bound's ULP is of) and
    /// `|Δ| / allowed`.
    fn see(&mut self, ulps: f64, delta: f64, allowed: f64, at: impl FnOnce() -> String) {
        if ulps.is_finite() && ulps > self.ulp {
            self.ulp = ulps;
        }
        let fraction = if delta == 0.0 { 0.0 } else { delta / allowed };
        if fraction > self.fraction {
            self.fraction = fraction;
            self.at = at();
        }
    }
}

impl std::fmt::Display for Worst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.3} ULP, {:.3} of the bound (at {})",
            self.ulp, self.fraction, self.at
        )
    }
}

/// |got − want| where both are finite (0 for equal specials).
fn delta(got: f32, want: f64) -> f64 {
    if want.is_finite() && got.is_finite() {
        (got as f64 - want).abs()
    } else {
        0.0
    }
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
        .map(|i| match i % 5 {
            0 => specials[rng.below(specials.len())],
            1 => (rng.normal() * 3.0) as f32,
            2 => (rng.normal() * 60.0) as f32,
            3 => (87.0 + rng.uniform() * 17.0) as f32 * if rng.below(2) == 0 { 1.0 } else { -1.0 },
            _ => f32::from_bits(rng.next_u64() as u32 & 0xff7f_ffff), // any finite bit pattern
        })
        .collect()
}

#[test]
fn bce_matches_f64_reference() {
    let mut rng = Rng(42);
    let (mut worst_l, mut worst_g, mut worst_t) =
        (Worst::default(), Worst::default(), Worst::default());
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
            for (p, eps, reduction) in [
                (1.0f32, 0.0f32, Reduction::Sum),
                (3.5, 0.0, Reduction::Sum),
                (0.2, 0.0, Reduction::Sum),
                (3.5, 0.0, Reduction::Mean),
                (1.0, 0.1, Reduction::Sum),
                (0.2, 0.3, Reduction::Mean),
            ] {
                let opts = BceOptions {
                    pos_weight: PosWeight::All(p),
                    label_smoothing: eps,
                    reduction,
                    ..Default::default()
                };
                let scale = if reduction == Reduction::Mean {
                    1.0 / n as f64
                } else {
                    1.0
                };
                let mut grad = vec![0.0; n];
                let mut per = vec![0.0; n];
                let total =
                    bce_with_logits_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
                let (mut want, mut allowed) = (Vec::new(), Vec::new());
                for i in 0..n {
                    let yy = smoothed_label(y[i], eps);
                    let (wl, wg, magnitude) = bce_reference(z[i], yy, p as f64, 1.0);
                    let (wg, magnitude) = (wg * scale, magnitude * scale);
                    let (l, g) = (per[i], grad[i]);
                    let at = || format!("z={:e} y={} p={p} ε={eps} {reduction:?}", z[i], y[i]);
                    let al = bce_loss_allowed(wl, z[i], 1.0, p as f64);
                    assert!(
                        matches(l, wl, al),
                        "loss {}: {l:e} vs {wl:e} ({} ULP)",
                        at(),
                        ulp_error(l, wl)
                    );
                    assert!(l >= 0.0);
                    worst_l.see(ulp_error(l, wl), delta(l, wl), al, at);
                    want.push(wl);
                    allowed.push(al);
                    let ag = bce_grad_allowed(magnitude, z[i], 1.0, p as f64);
                    assert!(matches(g, wg, ag), "grad {}: {g:e} vs {wg:e}", at());
                    worst_g.see(delta(g, wg) / ulp(magnitude), delta(g, wg), ag, at);
                    // Gradient sign: y = 1 pulls z up, y = 0 pushes it down.
                    if yy[0] == 1.0 {
                        assert!(g <= 0.0);
                    }
                    if yy[0] == 0.0 {
                        assert!(g >= 0.0);
                    }
                }
                let (sum, at) = reduced_reference(&want, &allowed, scale);
                assert!(
                    matches(total, sum, at),
                    "total n={n} y={labels} p={p} ε={eps} {reduction:?}: {total:e} vs {sum:e} ± {at:e}"
                );
                worst_t.see(ulp_error(total, sum), delta(total, sum), at, || {
                    format!("n={n} y={labels} p={p} ε={eps} {reduction:?}")
                });
                let only = bce_with_logits(&z, &y, &opts, None).unwrap();
                assert_eq!(only.to_bits(), total.to_bits());
            }
        }
    }
    println!("bce_with_logits: element loss {worst_l}");
    println!("bce_with_logits: gradient (ULP of max(|g|, w(1−y)σ(z), wpyσ(−z))) {worst_g}");
    println!("bce_with_logits: reduced loss {worst_t}");
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
    let total = bce_with_logits_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
    assert_eq!(&per[..4], &[0.0, inf, 0.0, inf]);
    assert_eq!(&grad[..4], &[0.0, 1.0, 0.0, -1.0]);
    assert!(per[4].is_nan() && per[5].is_nan() && grad[4].is_nan() && grad[5].is_nan());
    assert!(total.is_nan(), "NaN reaches the reduced loss");
    // An infinite element loss makes the reduced loss +inf (the limit).
    for reduction in [Reduction::Sum, Reduction::Mean] {
        let opts = BceOptions {
            reduction,
            ..Default::default()
        };
        let total = bce_with_logits(&[inf, 1.0, -3.0], &[0.0, 1.0, 0.5], &opts, None).unwrap();
        assert_eq!(total, inf, "{reduction:?}");
    }
    // Mean divides by the element count; weights and smoothing validated.
    let l = bce_with_logits(&[0.0; 4], &[1.0; 4], &BceOptions::default(), None).unwrap();
    let ln2 = 2f64.ln();
    let (want, allowed) =
        reduced_reference(&[ln2; 4], &[bce_loss_allowed(ln2, 0.0, 1.0, 1.0); 4], 0.25);
    assert!(matches(l, want, allowed), "{l} vs ln 2");
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
        weights: ElementWeights::PerElement(&w),
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
    // A per-output length must divide the number of elements (it was
    // wrapped with i % len before); the error names the argument.
    let three = [1.0f32, 2.0, 0.5];
    for (pos_weight, weights, argument) in [
        (
            PosWeight::PerOutput(&three),
            ElementWeights::None,
            "pos_weight",
        ),
        (
            PosWeight::None,
            ElementWeights::PerOutput(&three),
            "weights",
        ),
        (PosWeight::None, ElementWeights::PerOutput(&[]), "weights"),
    ] {
        let bad = BceOptions {
            pos_weight,
            weights,
            ..Default::default()
        };
        let mut grad = [0.0f32; 4];
        for got in [
            bce_with_logits(&[0.0; 4], &[1.0; 4], &bad, None),
            bce_with_logits_with_grad(&[0.0; 4], &[1.0; 4], &bad, &mut grad, None),
        ] {
            assert!(
                matches!(got, Err(Error::LengthMismatch { argument: a, .. }) if a == argument),
                "{argument}: {got:?}"
            );
        }
        assert_eq!(grad, [0.0; 4], "nothing written on error");
        // Six elements split into rows of three (and the empty batch into
        // any): accepted.
        if argument != "weights" || !matches!(weights, ElementWeights::PerOutput([])) {
            assert!(bce_with_logits(&[0.0; 6], &[1.0; 6], &bad, None).is_ok());
            assert!(bce_with_logits(&[], &[], &bad, None).is_ok());
        }
    }
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
                weights: ElementWeights::PerElement(&w),
                label_smoothing: eps,
                reduction,
            };
            let scale = if reduction == Reduction::Mean {
                1.0 / n as f64
            } else {
                1.0
            };
            let mut grad = vec![0.0; n];
            let loss = bce_with_logits_with_grad(&z, &y, &opts, &mut grad, None).unwrap();
            // The documented bounds, against the f64 definition at the
            // exact smoothed labels.
            let (mut want, mut allowed) = (Vec::new(), Vec::new());
            for i in 0..n {
                let yy = smoothed_label(y[i], eps);
                let (p, wi) = (pw[i % outputs] as f64, w[i] as f64);
                let (wl, wg, magnitude) = bce_reference(z[i], yy, p, wi);
                want.push(wl);
                allowed.push(bce_loss_allowed(wl, z[i], wi, p));
                let ag = bce_grad_allowed(magnitude * scale, z[i], wi, p);
                assert!(
                    matches(grad[i], wg * scale, ag),
                    "ε={eps} {reduction:?} i={i}: {} vs {}",
                    grad[i],
                    wg * scale
                );
            }
            let (sum, at) = reduced_reference(&want, &allowed, scale);
            assert!(matches(loss, sum, at), "{loss} vs {sum} ± {at:e}");
            // The definition itself: central differences of the f64 loss of
            // the unrounded smoothed labels (a check of the formula, to the
            // accuracy of the difference quotient, not of the rounding).
            let f = |z: &[f32]| -> f64 {
                let total: f64 = (0..n)
                    .map(|i| {
                        let yy = y[i] as f64 * (1.0 - eps as f64) + 0.5 * eps as f64;
                        bce_reference(z[i], [yy, 1.0 - yy], pw[i % outputs] as f64, w[i] as f64).0
                    })
                    .sum();
                total * scale
            };
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

#[test]
fn focal_loss_matches_f64_and_reduces_to_bce() {
    let mut rng = Rng(77);
    let n = 2000;
    let z: Vec<f32> = (0..n)
        .map(|i| match i % 4 {
            0 => (rng.normal() * 4.0) as f32,
            1 => (rng.normal() * 40.0) as f32,
            2 => (rng.normal() * 0.3) as f32,
            _ => (87.0 + rng.uniform() * 17.0) as f32 * if rng.below(2) == 0 { 1.0 } else { -1.0 },
        })
        .collect();
    let y: Vec<f32> = (0..n)
        .map(|_| if rng.uniform() < 0.5 { 1.0 } else { 0.0 })
        .collect();
    let (mut worst_l, mut worst_g, mut worst_t) =
        (Worst::default(), Worst::default(), Worst::default());
    // Errors beyond the conditioning terms, in ULP (γ > 0), and at γ = 0.
    let (mut beyond_l, mut beyond_g, mut plain_l, mut plain_g) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut as_bce = 0.0f64;
    for gamma in [0.0f32, 0.5, 2.0, 5.0, 64.0] {
        for alpha in [None, Some(0.25f32)] {
            for reduction in [Reduction::Sum, Reduction::Mean] {
                let opts = FocalOptions {
                    gamma,
                    alpha,
                    reduction,
                };
                let scale = if reduction == Reduction::Mean {
                    1.0 / n as f64
                } else {
                    1.0
                };
                let mut per = vec![0.0; n];
                let mut grad = vec![0.0; n];
                let total =
                    sigmoid_focal_loss_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
                let (mut want, mut allowed) = (Vec::new(), Vec::new());
                for i in 0..n {
                    let (zi, yi) = (z[i], y[i] as f64);
                    let (g64, a64) = (gamma as f64, alpha.map(|a| a as f64));
                    let (wl, wg) = focal_reference(zi, yi, g64, a64);
                    let wg = wg * scale;
                    let at = || format!("γ={gamma} α={alpha:?} z={zi:e} y={yi} {reduction:?}");
                    let al = focal_loss_allowed(wl, zi, yi, g64);
                    assert!(
                        matches(per[i], wl, al),
                        "loss {}: {} vs {wl} ({} ULP)",
                        at(),
                        per[i],
                        ulp_error(per[i], wl)
                    );
                    let ag = focal_grad_allowed(wg, zi, yi, g64);
                    assert!(
                        matches(grad[i], wg, ag),
                        "grad {}: {} vs {wg} ({} ULP)",
                        at(),
                        grad[i],
                        ulp_error(grad[i], wg)
                    );
                    let cond = focal_conditioning(zi, yi, g64);
                    let (dl, dg) = (delta(per[i], wl), delta(grad[i], wg));
                    worst_l.see(ulp_error(per[i], wl), dl, al, at);
                    worst_g.see(ulp_error(grad[i], wg), dg, ag, at);
                    if gamma == 0.0 {
                        plain_l = plain_l.max(ulp_error(per[i], wl));
                        plain_g = plain_g.max(ulp_error(grad[i], wg));
                    } else if wl.is_finite() && wl > f32::MIN_POSITIVE as f64 {
                        beyond_l = beyond_l.max((dl - cond * wl) / ulp(wl));
                        let rel = bound("focal", "grad_rel_log2") + cond;
                        beyond_g = beyond_g.max((dg - rel * wg.abs()) / ulp(wg));
                    }
                    want.push(wl);
                    allowed.push(al);
                    assert!(per[i] >= 0.0 && grad[i].is_finite());
                    // Central difference of the f64 loss (small |z| only: h
                    // relative); a check of the formula, not of the rounding.
                    let zi = zi as f64;
                    if zi.abs() < 20.0 && reduction == Reduction::Sum && gamma <= 5.0 {
                        let h = 1e-4;
                        let fd = (focal_reference((zi + h) as f32, yi, g64, a64).0
                            - focal_reference((zi - h) as f32, yi, g64, a64).0)
                            / ((zi + h) as f32 as f64 - (zi - h) as f32 as f64);
                        assert!(
                            (fd - grad[i] as f64).abs() <= 1e-5 * (1.0 + fd.abs()),
                            "γ={gamma} z={zi} y={yi}: fd {fd} vs {}",
                            grad[i]
                        );
                    }
                }
                let (sum, at) = reduced_reference(&want, &allowed, scale);
                assert!(
                    matches(total, sum, at),
                    "total γ={gamma} α={alpha:?} {reduction:?}: {total:e} vs {sum:e} ± {at:e}"
                );
                worst_t.see(ulp_error(total, sum), delta(total, sum), at, || {
                    format!("γ={gamma} α={alpha:?} {reduction:?}")
                });
                if gamma == 0.0 && reduction == Reduction::Sum {
                    // γ = 0: the α-weighted BCE, for binary labels and a sum.
                    let w: Vec<f32> = y
                        .iter()
                        .map(|&t| alpha.map_or(1.0, |a| if t == 1.0 { a } else { 1.0 - a }))
                        .collect();
                    let bo = BceOptions {
                        weights: ElementWeights::PerElement(&w),
                        reduction: Reduction::Sum,
                        ..Default::default()
                    };
                    let mut bce_per = vec![0.0; n];
                    let mut bce_grad = vec![0.0; n];
                    bce_with_logits_with_grad(&z, &y, &bo, &mut bce_grad, Some(&mut bce_per))
                        .unwrap();
                    let ulps = bound("focal_gamma_zero", "ulp");
                    for i in 0..n {
                        for (what, a, b) in
                            [("loss", per[i], bce_per[i]), ("grad", grad[i], bce_grad[i])]
                        {
                            let d = if a == b { 0.0 } else { (a - b).abs() as f64 };
                            assert!(
                                d <= ulps * ulp(b as f64),
                                "γ = 0 {what} z={}: {a:e} vs BCE {b:e}",
                                z[i]
                            );
                            as_bce = as_bce.max(d / ulp(b as f64));
                        }
                    }
                }
            }
        }
    }
    println!("sigmoid_focal_loss: element loss {worst_l}");
    println!("sigmoid_focal_loss: gradient {worst_g}");
    println!("sigmoid_focal_loss: reduced loss {worst_t}");
    println!(
        "sigmoid_focal_loss: γ = 0: loss {plain_l:.3} ULP, gradient {plain_g:.3} ULP; \
         γ > 0, beyond the relative terms: loss {beyond_l:.3} ULP, gradient {beyond_g:.3} ULP"
    );
    println!("sigmoid_focal_loss: γ = 0 against the α-weighted BCE: {as_bce:.3} ULP apart");
    let inf = f32::INFINITY;
    let mut per = [0.0f32; 4];
    let mut grad = [0.0f32; 4];
    let total = sigmoid_focal_loss_with_grad(
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
    assert_eq!(total, inf);
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

/// Every element of a backward product has the bits it has alone, whether
/// it lies in a whole vector or in a padded tail, at every length around
/// the widest vectors (32 lanes on AVX-512 builds).
#[test]
fn backward_products_keep_each_elements_bits_at_every_length() {
    let mut rng = Rng(7);
    let (x, g) = backward_inputs(&mut rng, 70);
    for backward in BACKWARD {
        for n in 0..=70 {
            let mut out = vec![0.0f32; n];
            (backward.kernel)(&x[..n], &g[..n], &mut out).unwrap();
            for i in 0..n {
                let mut alone = [0.0f32];
                (backward.kernel)(&x[i..=i], &g[i..=i], &mut alone).unwrap();
                assert_eq!(
                    out[i].to_bits(),
                    alone[0].to_bits(),
                    "{}: n = {n}, element {i}",
                    backward.name
                );
            }
        }
    }
}

/// Inputs for the backward products: ordinary, large, the subnormal range
/// of σ (|x| in [87, 104]), past it, and any finite bit pattern; upstream
/// gradients ordinary, huge, tiny and powers of two.
fn backward_inputs(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<f32>) {
    let sign = |rng: &mut Rng| if rng.below(2) == 0 { 1.0 } else { -1.0 };
    let x = (0..n)
        .map(|i| match i % 6 {
            0 => (rng.normal() * 2.0) as f32,
            1 => (rng.normal() * 20.0) as f32,
            2 => (87.0 + rng.uniform() * 17.0) as f32 * sign(rng),
            3 => (rng.uniform() * 0.01) as f32 * sign(rng),
            4 => [
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                120.0,
                -f32::MAX,
            ][rng.below(6)],
            _ => f32::from_bits(rng.next_u64() as u32 & 0xff7f_ffff),
        })
        .collect();
    let g = (0..n)
        .map(|i| match i % 5 {
            0 => rng.normal() as f32,
            1 => 2f32.powi(rng.below(250) as i32 - 125) * sign(rng),
            2 => (rng.normal() * 1e30) as f32,
            3 => f32::MAX * sign(rng),
            _ => f32::from_bits(rng.next_u64() as u32 & 0xff7f_ffff),
        })
        .collect();
    (x, g)
}

#[test]
fn elementwise_backward_products() {
    let mut rng = Rng(1);
    let n = 300_000;
    let (x, g) = backward_inputs(&mut rng, n);
    let mut out = vec![0.0; n];
    let min_normal = f32::MIN_POSITIVE as f64;
    for backward in BACKWARD {
        (backward.kernel)(&x, &g, &mut out).unwrap();
        let mut worst = Worst::default();
        for i in 0..n {
            let want = (backward.derivative)(x[i] as f64) * g[i] as f64;
            let allowed = backward_allowed(backward.name, want, g[i]);
            assert!(
                matches(out[i], want, allowed),
                "{}(x={:e}, g={:e}) = {:e} vs {want:e} ({} ULP)",
                backward.name,
                x[i],
                g[i],
                out[i],
                ulp_error(out[i], want)
            );
            // In ULP where the relative bound is the whole story: a normal
            // derivative and result.
            let d = (backward.derivative)(x[i] as f64);
            let normal = d >= min_normal && want.abs() >= min_normal;
            worst.see(
                if normal { ulp_error(out[i], want) } else { 0.0 },
                delta(out[i], want),
                allowed,
                || format!("x={:e} g={:e}", x[i], g[i]),
            );
        }
        println!("{}: {worst}", backward.name);
        assert!((backward.kernel)(&x, &g[..5], &mut out).is_err());
    }
    // Large negative inputs keep relative accuracy.
    assert!(ulp_error(sigmoid(-100.0), ref_sigmoid(-100.0)) <= bound("sigmoid", "ulp"));
    assert!(sigmoid(-100.0) > 0.0);
    assert!(softplus(-100.0) > 0.0 && log_sigmoid(100.0) < 0.0);
}

/// Per-output weights and pos_weight of shape `[C]` broadcast over rows:
/// the same bits as the weights written out per element (and, for
/// pos_weight, as the reference with p = pos_weight[i % C]), for row
/// lengths that straddle, match and divide the vector width.
#[test]
fn per_output_weights_broadcast_over_rows() {
    let mut rng = Rng(15);
    for outputs in [1usize, 2, 3, 7, 8, 10, 16, 17, 80] {
        for rows in [1usize, 2, 5, 64] {
            let n = rows * outputs;
            let z = logits(&mut rng, n);
            let y: Vec<f32> = (0..n).map(|_| rng.uniform() as f32).collect();
            let wc: Vec<f32> = (0..outputs).map(|_| rng.uniform() as f32 * 3.0).collect();
            let pc: Vec<f32> = (0..outputs).map(|_| rng.uniform() as f32 * 5.0).collect();
            let w_full: Vec<f32> = (0..n).map(|i| wc[i % outputs]).collect();
            for reduction in [Reduction::Sum, Reduction::Mean] {
                let run = |weights: ElementWeights| {
                    let opts = BceOptions {
                        pos_weight: PosWeight::PerOutput(&pc),
                        weights,
                        label_smoothing: 0.1,
                        reduction,
                    };
                    let (mut grad, mut per) = (vec![0.0f32; n], vec![0.0f32; n]);
                    let loss = bce_with_logits_with_grad(&z, &y, &opts, &mut grad, Some(&mut per))
                        .unwrap();
                    (loss, grad, per)
                };
                let (loss, grad, per) = run(ElementWeights::PerOutput(&wc));
                let (loss_full, grad_full, per_full) = run(ElementWeights::PerElement(&w_full));
                let at = format!("C={outputs} rows={rows} {reduction:?}");
                assert_eq!(loss.to_bits(), loss_full.to_bits(), "{at}: loss");
                for i in 0..n {
                    assert_eq!(grad[i].to_bits(), grad_full[i].to_bits(), "{at}: grad[{i}]");
                    assert_eq!(per[i].to_bits(), per_full[i].to_bits(), "{at}: per[{i}]");
                    let (p, w) = (pc[i % outputs] as f64, wc[i % outputs] as f64);
                    let (wl, _, _) = bce_reference(z[i], smoothed_label(y[i], 0.1), p, w);
                    assert!(
                        matches(per[i], wl, bce_loss_allowed(wl, z[i], w, p)),
                        "{at}: per[{i}] = {:e}, want {wl:e}",
                        per[i]
                    );
                }
            }
        }
    }
}

/// Label smoothing where the complement 1 − y′ of the smoothed label is
/// small (y = 1, small ε, large positive z: the loss is about (ε/2)·z) or
/// the label itself is (y = 0, large negative z), against the exact
/// smoothed label: within the documented element bounds. Rounding y′ to
/// f32 first and taking 1 − y′ reached 4.17 ULP here (4 documented).
#[test]
fn label_smoothing_keeps_small_complements() {
    let mut rng = Rng(4);
    let mut worst = Worst::default();
    let mut worst_g = Worst::default();
    for eps in [1e-6f32, 1e-3, 0.01, 0.1, 0.3, 0.7, 1.0] {
        for &label in &[1.0f32, 0.0, 0.75, 0.25] {
            let n = 4096;
            let sign = if label >= 0.5 { 1.0 } else { -1.0 };
            let z: Vec<f32> = (0..n)
                .map(|_| sign * (2.0f64.powf(rng.uniform() * 20.0 - 3.0)) as f32)
                .collect();
            let y = vec![label; n];
            let opts = BceOptions {
                label_smoothing: eps,
                reduction: Reduction::Sum,
                ..Default::default()
            };
            let (mut grad, mut per) = (vec![0.0f32; n], vec![0.0f32; n]);
            bce_with_logits_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
            for i in 0..n {
                let (wl, wg, magnitude) = bce_reference(z[i], smoothed_label(label, eps), 1.0, 1.0);
                let at = || format!("z={:e} y={label} ε={eps:e}", z[i]);
                let al = bce_loss_allowed(wl, z[i], 1.0, 1.0);
                assert!(
                    matches(per[i], wl, al),
                    "loss {}: {:e} vs {wl:e} ({} ULP)",
                    at(),
                    per[i],
                    ulp_error(per[i], wl)
                );
                worst.see(ulp_error(per[i], wl), delta(per[i], wl), al, at);
                let ag = bce_grad_allowed(magnitude, z[i], 1.0, 1.0);
                assert!(
                    matches(grad[i], wg, ag),
                    "grad {}: {:e} vs {wg:e}",
                    at(),
                    grad[i]
                );
                worst_g.see(
                    delta(grad[i], wg) / ulp(magnitude),
                    delta(grad[i], wg),
                    ag,
                    at,
                );
            }
        }
    }
    println!("label smoothing: element loss {worst}");
    println!("label smoothing: gradient {worst_g}");
}

/// The default options take a path without the weights' arithmetic
/// (`bce_terms` with no weights); it must give the bits of the general
/// path with w = p = 1 spelled out, special values included.
#[test]
fn default_options_match_unit_weights_bit_for_bit() {
    let mut rng = Rng(16);
    for n in [1usize, 7, 8, 9, 100, 1031] {
        let mut z = logits(&mut rng, n);
        let specials = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            88.0,
            -90.0,
            1e30,
            -1e30,
        ];
        for (zi, s) in z.iter_mut().zip(specials) {
            *zi = s;
        }
        // Soft labels, 0 and 1, and the labels whose products with a
        // softplus give a signed zero or a negative term (−0, beyond [0, 1]).
        let y: Vec<f32> = (0..n)
            .map(|i| match i % 7 {
                0 | 3 => rng.uniform() as f32,
                5 => -0.0,
                6 => [1.5, -0.5][i % 2],
                _ => (i % 2) as f32,
            })
            .collect();
        let ones = vec![1.0f32; n];
        for reduction in [Reduction::Sum, Reduction::Mean] {
            let run = |opts: BceOptions| {
                let (mut grad, mut per) = (vec![0.0f32; n], vec![0.0f32; n]);
                let loss =
                    bce_with_logits_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
                (loss, grad, per)
            };
            let default = run(BceOptions {
                reduction,
                ..Default::default()
            });
            let spelled = run(BceOptions {
                pos_weight: PosWeight::All(1.0),
                weights: ElementWeights::PerElement(&ones),
                label_smoothing: 0.0,
                reduction,
            });
            assert_eq!(
                default.0.to_bits(),
                spelled.0.to_bits(),
                "n={n} {reduction:?}: loss"
            );
            for i in 0..n {
                assert_eq!(
                    default.1[i].to_bits(),
                    spelled.1[i].to_bits(),
                    "n={n}: grad[{i}]"
                );
                assert_eq!(
                    default.2[i].to_bits(),
                    spelled.2[i].to_bits(),
                    "n={n}: per[{i}]"
                );
            }
        }
    }
}

/// γ = 1 and 2 compute (1 − p_t)^γ by multiplication: a dense scan of the
/// logits where 1 − p_t is near 1 (|ln(1 − p_t)| small, so the bound's
/// conditioning term gives no slack) and of the usual range, both labels,
/// against f64.
#[test]
fn focal_integer_gamma_dense_scan_within_bound() {
    let z: Vec<f32> = (0..200_001)
        .map(|i| (i as f32 - 100_000.0) * 2e-4)
        .chain((0..20_001).map(|i| (i as f32 - 10_000.0) * 1e-2))
        .collect();
    let n = z.len();
    for y_value in [0.0f32, 1.0] {
        let y = vec![y_value; n];
        for gamma in [1.0f32, 2.0] {
            let opts = FocalOptions {
                gamma,
                alpha: Some(0.25),
                reduction: Reduction::Sum,
            };
            let mut per = vec![0.0; n];
            let mut grad = vec![0.0; n];
            sigmoid_focal_loss_with_grad(&z, &y, &opts, &mut grad, Some(&mut per)).unwrap();
            let (mut worst_l, mut worst_g) = (0.0f64, 0.0f64);
            for i in 0..n {
                let (wl, wg) = focal_reference(z[i], y_value as f64, gamma as f64, Some(0.25));
                let al = focal_loss_allowed(wl, z[i], y_value as f64, gamma as f64);
                let ag = focal_grad_allowed(wg, z[i], y_value as f64, gamma as f64);
                assert!(
                    matches(per[i], wl, al),
                    "γ={gamma} y={y_value} z={}: loss {} vs {wl}",
                    z[i],
                    per[i]
                );
                assert!(
                    matches(grad[i], wg, ag),
                    "γ={gamma} y={y_value} z={}: grad {} vs {wg}",
                    z[i],
                    grad[i]
                );
                worst_l = worst_l.max(delta(per[i], wl) / al);
                worst_g = worst_g.max(delta(grad[i], wg) / ag);
            }
            println!(
                "focal γ={gamma} y={y_value}: worst loss {worst_l:.3}, gradient {worst_g:.3} of the bound"
            );
        }
    }
}

/// Each element's loss and gradient are the same bits whichever path its
/// vector takes: BCE and the focal loss run a vector of logits all inside
/// exp's fast range (for BCE with weights, labels in [0, 1]; for the focal
/// loss, binary labels) with plain products, any other vector with the
/// general ones. A
/// row of such vectors is run once as is and once with one element turned
/// into +inf, NaN or a label of ½ or 1.5 (which send its vector to the
/// general path); every other element must keep its bits.
#[test]
fn an_element_does_not_depend_on_its_vector_neighbours() {
    let mut rng = Rng(23);
    let n = 263;
    let z: Vec<f32> = (0..n)
        .map(|_| (rng.uniform() * 120.0 - 60.0) as f32)
        .collect();
    let y: Vec<f32> = (0..n)
        .map(|i| match i % 11 {
            3 => -0.0,
            _ => (rng.below(2)) as f32,
        })
        .collect();
    type Run = dyn Fn(&[f32], &[f32], &mut [f32], &mut [f32]);
    let bce: Box<Run> = Box::new(|z, y, grad, per| {
        let opts = BceOptions {
            reduction: Reduction::Sum,
            ..Default::default()
        };
        bce_with_logits_with_grad(z, y, &opts, grad, Some(per)).unwrap();
    });
    // Weights with zeros (0·softplus must stay +0 as in the general path),
    // a pos_weight and label smoothing: the general options' fast path.
    let w: Vec<f32> = (0..n).map(|i| [0.0, 0.5, 2.0][i % 3]).collect();
    let weighted: Box<Run> = Box::new(move |z, y, grad, per| {
        let opts = BceOptions {
            pos_weight: PosWeight::All(3.0),
            weights: ElementWeights::PerElement(&w),
            label_smoothing: 0.1,
            reduction: Reduction::Sum,
        };
        bce_with_logits_with_grad(z, y, &opts, grad, Some(per)).unwrap();
    });
    let mut kernels = vec![("bce", bce), ("bce with weights", weighted)];
    for (gamma, alpha) in [
        (0.0, Some(0.25)),
        (1.0, None),
        (2.0, Some(0.25)),
        (2.5, Some(1.0)),
    ] {
        let focal: Box<Run> = Box::new(move |z, y, grad, per| {
            let opts = FocalOptions {
                gamma,
                alpha,
                reduction: Reduction::Sum,
            };
            sigmoid_focal_loss_with_grad(z, y, &opts, grad, Some(per)).unwrap();
        });
        kernels.push(("focal", focal));
    }
    for (name, run) in &kernels {
        let (mut grad, mut per) = (vec![0.0f32; n], vec![0.0f32; n]);
        run(&z, &y, &mut grad, &mut per);
        for j in (0..n).step_by(5) {
            for change in 0..4 {
                let (mut z2, mut y2) = (z.clone(), y.clone());
                match change {
                    0 => z2[j] = f32::INFINITY,
                    1 => z2[j] = f32::NAN,
                    2 => y2[j] = 0.5,
                    _ => y2[j] = 1.5,
                }
                let (mut grad2, mut per2) = (vec![0.0f32; n], vec![0.0f32; n]);
                run(&z2, &y2, &mut grad2, &mut per2);
                for i in (0..n).filter(|&i| i != j) {
                    assert_eq!(
                        (grad[i].to_bits(), per[i].to_bits()),
                        (grad2[i].to_bits(), per2[i].to_bits()),
                        "{name}: element {i} (z = {:e}, y = {:e}) changed with element {j} ({change})",
                        z[i],
                        y[i]
                    );
                }
            }
        }
    }
}
