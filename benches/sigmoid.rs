//! Fused BCE with logits + gradient (`docs/performance.md`) against the naive two-step
//! `libm` version (sigmoid, then −y ln p − (1−y) ln(1−p)), the stable scalar
//! `libm` version and one SIMD `exp` pass, in one run. Ratios:
//! `python3 tools/bench_ratios.py --lead fused bce` after
//! `cargo bench --features std --bench sigmoid`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut s = 0x9e37_79b9u64;
    let mut next = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let z = (0..n).map(|_| (next() - 0.5) * 20.0).collect();
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

fn bce(c: &mut Criterion) {
    let mut g = c.benchmark_group("bce");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    let options = logitkit::BceOptions::default();
    for n in [16usize, 1024, 16384, 1 << 20] {
        let (z, y) = data(n);
        let mut grad = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("fused", n), |b| {
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
        for (label, f) in [
            ("naive_libm", naive_two_step as Kernel),
            ("stable_libm", stable_scalar),
        ] {
            g.bench_function(BenchmarkId::new(label, n), |b| {
                b.iter(|| f(black_box(&z), &y, black_box(&mut grad)))
            });
        }
        g.bench_function(BenchmarkId::new("exp_pass", n), |b| {
            b.iter(|| logitkit::exp_into(black_box(&z), black_box(&mut grad)))
        });
    }
    g.finish();
}

criterion_group!(benches, bce);
criterion_main!(benches);
