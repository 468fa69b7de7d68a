//! Lane math throughput (`docs/performance.md`): the crate's SIMD slice kernels against the
//! crate's own scalar path (one lane at a time), `libm` loops and `std` loops,
//! in one run. Ratios: `python3 tools/bench_ratios.py` after
//! `cargo bench --features std --bench exp`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 5] = [16, 256, 1024, 16384, 1 << 20];

/// Deterministic inputs spread over `[lo, hi]` (a fixed LCG, no rand crate).
fn inputs(n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

type SliceKernel = fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>;

fn family(
    c: &mut Criterion,
    name: &str,
    (lo, hi): (f32, f32),
    simd: SliceKernel,
    scalar: fn(f32) -> f32,
    libm_fn: fn(f32) -> f32,
    std_fn: fn(f32) -> f32,
) {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    for n in SIZES {
        let xs = inputs(n, lo, hi);
        let mut out = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("simd", n), &xs, |b, xs| {
            b.iter(|| simd(black_box(xs), black_box(&mut out)))
        });
        for (label, f) in [("scalar", scalar), ("libm", libm_fn), ("std", std_fn)] {
            g.bench_with_input(BenchmarkId::new(label, n), &xs, |b, xs| {
                b.iter(|| {
                    for (o, &x) in out.iter_mut().zip(black_box(xs)) {
                        *o = f(x);
                    }
                    black_box(&mut out);
                })
            });
        }
    }
    g.finish();
}

/// The ratio targets of `exp` (`docs/performance.md`): the slice kernel
/// against the `libm::expf` and `f32::exp` loops over inputs uniform in
/// [−20, 20] (the range of logits that matter; no lane takes the general
/// path), at an L1-, an L2- and a memory-sized slice.
fn exp_ratio(c: &mut Criterion) {
    let mut g = c.benchmark_group("exp_pm20");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(20);
    for n in [1024, 1 << 16, 1 << 20] {
        let xs = inputs(n, -20.0, 20.0);
        let mut out = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("simd", n), &xs, |b, xs| {
            b.iter(|| logitkit::exp_into(black_box(xs), black_box(&mut out)))
        });
        for (label, f) in [("libm", libm::expf as fn(f32) -> f32), ("std", f32::exp)] {
            g.bench_with_input(BenchmarkId::new(label, n), &xs, |b, xs| {
                b.iter(|| {
                    for (o, &x) in out.iter_mut().zip(black_box(xs)) {
                        *o = f(x);
                    }
                    black_box(&mut out);
                })
            });
        }
    }
    g.finish();
}

fn lane_math(c: &mut Criterion) {
    family(
        c,
        "exp",
        (-87.0, 88.0),
        logitkit::exp_into,
        logitkit::exp,
        libm::expf,
        f32::exp,
    );
    family(
        c,
        "ln",
        (1e-30, 1e30),
        logitkit::ln_into,
        logitkit::ln,
        libm::logf,
        f32::ln,
    );
    family(
        c,
        "ln_1p",
        (-0.9, 100.0),
        logitkit::ln_1p_into,
        logitkit::ln_1p,
        libm::log1pf,
        f32::ln_1p,
    );
}

criterion_group!(benches, exp_ratio, lane_math);
criterion_main!(benches);
