//! The sigmoid family against one SIMD `exp` pass over the same data, in one
//! run (`docs/performance.md`): group `sigmoid_family` has `exp_pass`
//! (`exp_into`), `sigmoid`, `softplus`, `log_sigmoid` (the `_into` forms),
//! `bce` (`bce_with_logits_with_grad`, mean), `bce_pos_weight` (the same
//! with one pos_weight per output of a 16-output head), `bce_masked` (the
//! same with element weights as a mask, every seventh 0) and `focal`
//! (`sigmoid_focal_loss_with_grad`, γ = 2, α = ¼, mean); group `bce` has the
//! fused BCE against the naive two-step `libm` version (sigmoid, then
//! −y ln p − (1−y) ln(1−p)) and the stable scalar `libm` version. Sizes 1024,
//! 64×1000 and 2²⁰ elements. Cost in `exp` passes:
//! `python3 tools/bench_ratios.py --lead exp_pass sigmoid_family`; BCE
//! against the scalar loops: `python3 tools/bench_ratios.py --lead fused bce`,
//! after `cargo bench --features std --bench sigmoid`. Group
//! `sigmoid_family_wide_logits` repeats `sigmoid_family` over logits in
//! [−60, 60] at 64×1000 (the others: [−10, 10]).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

/// (label, elements): 64×1000 is a batch of 64 rows of 1000 outputs.
const SIZES: [(&str, usize); 3] = [("1024", 1024), ("64x1000", 64_000), ("1048576", 1 << 20)];

/// Logits uniform in [−half_width, half_width] and labels 0 or 1.
fn data(n: usize, half_width: f32) -> (Vec<f32>, Vec<f32>) {
    let mut s = 0x9e37_79b9u64;
    let mut next = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let z = (0..n).map(|_| (next() - 0.5) * 2.0 * half_width).collect();
    let y = (0..n)
        .map(|_| if next() < 0.5 { 1.0 } else { 0.0 })
        .collect();
    (z, y)
}

/// Probabilities first, then the loss from them.
fn naive_two_step(z: &[f32], y: &[f32], grad: &mut [f32]) -> f32 {
    let mut total = 0.0;
    let inv_n = 1.0 / z.len() as f32;
    for ((g, &zi), &yi) in grad.iter_mut().zip(z).zip(y) {
        let p = 1.0 / (1.0 + libm::expf(-zi));
        total += -yi * libm::logf(p) - (1.0 - yi) * libm::logf(1.0 - p);
        *g = (p - yi) * inv_n;
    }
    total * inv_n
}

/// The stable scalar form: max(z,0) − y·z + ln_1p(e^{−|z|}).
fn stable_scalar(z: &[f32], y: &[f32], grad: &mut [f32]) -> f32 {
    let mut total = 0.0;
    let inv_n = 1.0 / z.len() as f32;
    for ((g, &zi), &yi) in grad.iter_mut().zip(z).zip(y) {
        let t = libm::expf(-zi.abs());
        total += zi.max(0.0) - yi * zi + libm::log1pf(t);
        let p = if zi >= 0.0 {
            1.0 / (1.0 + t)
        } else {
            t / (1.0 + t)
        };
        *g = (p - yi) * inv_n;
    }
    total * inv_n
}

fn family(c: &mut Criterion) {
    family_group(c, "sigmoid_family", &SIZES, 10.0);
    // A confident head's logits, whose e^{−|z|} reaches 2⁻⁸⁶. Their squares
    // would be subnormal, which an x86 core handles by a microcode assist;
    // the kernels leave them out (`docs/performance.md`, "Subnormal squares
    // in the sigmoid family").
    family_group(
        c,
        "sigmoid_family_wide_logits",
        &[("64x1000", 64_000)],
        60.0,
    );
}

/// The family over logits in [−half_width, half_width] at each size.
fn family_group(c: &mut Criterion, name: &str, sizes: &[(&str, usize)], half_width: f32) {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    let bce_options = logitkit::BceOptions::default();
    // A multi-label head of 16 outputs, one pos_weight each, broadcast over
    // the rows (PyTorch's `pos_weight` of shape [16]); 16 divides every size.
    let per_output: Vec<f32> = (0..16).map(|i| 1.0 + i as f32 * 0.5).collect();
    let pos_weighted = logitkit::BceOptions {
        pos_weight: logitkit::PosWeight::PerOutput(&per_output),
        ..Default::default()
    };
    let focal_options = logitkit::FocalOptions::default();
    type Map = fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>;
    for &(label, n) in sizes {
        let (z, y) = data(n, half_width);
        let mut out = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        for (name, f) in [
            ("exp_pass", logitkit::exp_into as Map),
            ("sigmoid", logitkit::sigmoid_into),
            ("softplus", logitkit::softplus_into),
            ("log_sigmoid", logitkit::log_sigmoid_into),
        ] {
            g.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| f(black_box(&z), black_box(&mut out)))
            });
        }
        let mask: Vec<f32> = (0..n).map(|i| (i % 7 != 0) as u8 as f32).collect();
        let masked = logitkit::BceOptions {
            weights: logitkit::ElementWeights::PerElement(&mask),
            ..Default::default()
        };
        for (name, options) in [
            ("bce", &bce_options),
            ("bce_pos_weight", &pos_weighted),
            ("bce_masked", &masked),
        ] {
            g.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| {
                    logitkit::bce_with_logits_with_grad(
                        black_box(&z),
                        &y,
                        options,
                        black_box(&mut out),
                        None,
                    )
                })
            });
        }
        g.bench_function(BenchmarkId::new("focal", label), |b| {
            b.iter(|| {
                logitkit::sigmoid_focal_loss_with_grad(
                    black_box(&z),
                    &y,
                    &focal_options,
                    black_box(&mut out),
                    None,
                )
            })
        });
    }
    g.finish();
}

fn bce(c: &mut Criterion) {
    let mut g = c.benchmark_group("bce");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    let options = logitkit::BceOptions::default();
    for (label, n) in SIZES {
        let (z, y) = data(n, 10.0);
        let mut grad = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("fused", label), |b| {
            b.iter(|| {
                logitkit::bce_with_logits_with_grad(
                    black_box(&z),
                    &y,
                    &options,
                    black_box(&mut grad),
                    None,
                )
            })
        });
        type Kernel = fn(&[f32], &[f32], &mut [f32]) -> f32;
        for (name, f) in [
            ("naive_libm", naive_two_step as Kernel),
            ("stable_libm", stable_scalar),
        ] {
            g.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| f(black_box(&z), &y, black_box(&mut grad)))
            });
        }
        g.bench_function(BenchmarkId::new("exp_pass", label), |b| {
            b.iter(|| logitkit::exp_into(black_box(&z), black_box(&mut grad)))
        });
    }
    g.finish();
}

criterion_group!(benches, family, bce);
criterion_main!(benches);
