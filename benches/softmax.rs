//! Fused softmax cross-entropy + gradient (`docs/performance.md`) against the naive
//! two-step `libm` version, a stable scalar `libm` version, the crate's own
//! softmax followed by a separate loss, and one SIMD `exp` pass over the same
//! data, in one run; and the softmax rows forms on many short rows.
//! Ratios: `python3 tools/bench_ratios.py --lead fused ce_row ce_batch` and
//! `--lead rows softmax_rows` after `cargo bench --features std --bench softmax`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn logits(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 16.0
        })
        .collect()
}

/// Softmax, then −ln p[t]: what a framework does without the fused kernel.
fn naive_two_step(z: &[f32], t: usize, grad: &mut [f32]) -> f32 {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut s = 0.0f32;
    for (g, &x) in grad.iter_mut().zip(z) {
        *g = libm::expf(x - m);
        s += *g;
    }
    for g in grad.iter_mut() {
        *g /= s;
    }
    let loss = -libm::logf(grad[t]);
    grad[t] -= 1.0;
    loss
}

/// The stable scalar softmax with the exponential `exp`: writes the
/// probabilities, returns m and Σ e^{z−m}.
#[inline(always)]
fn stable_softmax(z: &[f32], out: &mut [f32], exp: impl Fn(f32) -> f32) -> (f32, f32) {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut s = 0.0f32;
    for (o, &x) in out.iter_mut().zip(z) {
        *o = exp(x - m);
        s += *o;
    }
    let inv = 1.0 / s;
    for o in out.iter_mut() {
        *o *= inv;
    }
    (m, s)
}

/// The stable scalar version with `libm`: loss = m + ln Σ e^{z−m} − z_t.
fn stable_scalar(z: &[f32], t: usize, grad: &mut [f32]) -> f32 {
    let (m, s) = stable_softmax(z, grad, libm::expf);
    grad[t] -= 1.0;
    m + libm::logf(s) - z[t]
}

/// The 12-line stable loop a user writes with `std`'s `f32::exp`.
fn stable_std(z: &[f32], t: usize, grad: &mut [f32]) -> f32 {
    let (m, s) = stable_softmax(z, grad, f32::exp);
    grad[t] -= 1.0;
    m + s.ln() - z[t]
}

/// The crate's softmax, then the loss from the probabilities.
fn softmax_then_loss(z: &[f32], t: usize, grad: &mut [f32]) -> f32 {
    logitkit::softmax(z, grad).unwrap();
    let loss = -logitkit::ln(grad[t]);
    grad[t] -= 1.0;
    loss
}

fn config<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    g
}

fn rows(c: &mut Criterion) {
    let mut g = config(c, "ce_row");
    for n in [10usize, 100, 1024, 16384, 1 << 20] {
        let z = logits(n, n as u64);
        let t = n / 3;
        let mut grad = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("fused", n), &z, |b, z| {
            b.iter(|| {
                logitkit::softmax_cross_entropy_with_grad(black_box(z), t, black_box(&mut grad))
            })
        });
        type Kernel = fn(&[f32], usize, &mut [f32]) -> f32;
        for (label, f) in [
            ("naive_libm", naive_two_step as Kernel),
            ("stable_libm", stable_scalar),
            ("stable_std", stable_std),
            ("softmax_then_loss", softmax_then_loss),
        ] {
            g.bench_with_input(BenchmarkId::new(label, n), &z, |b, z| {
                b.iter(|| f(black_box(z), t, black_box(&mut grad)))
            });
        }
        g.bench_with_input(BenchmarkId::new("exp_pass", n), &z, |b, z| {
            b.iter(|| logitkit::exp_into(black_box(z), black_box(&mut grad)))
        });
    }
    g.finish();
}

fn batches(c: &mut Criterion) {
    let mut g = config(c, "ce_batch");
    let options = logitkit::CrossEntropyOptions::default();
    // PyTorch's usual label smoothing for classifier training.
    let smoothed = logitkit::CrossEntropyOptions {
        label_smoothing: 0.1,
        ..Default::default()
    };
    for (rows, classes) in [(256usize, 10usize), (64, 1000), (8, 32000)] {
        let n = rows * classes;
        let z = logits(n, 7);
        let targets: Vec<usize> = (0..rows).map(|r| (r * 7) % classes).collect();
        let mut grad = vec![0.0f32; n];
        let id = format!("{rows}x{classes}");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("fused", &id), |b| {
            b.iter(|| {
                logitkit::softmax_cross_entropy_batch_with_grad(
                    black_box(&z),
                    &targets,
                    &options,
                    black_box(&mut grad),
                    None,
                )
            })
        });
        g.bench_function(BenchmarkId::new("fused_smoothed", &id), |b| {
            b.iter(|| {
                logitkit::softmax_cross_entropy_batch_with_grad(
                    black_box(&z),
                    &targets,
                    &smoothed,
                    black_box(&mut grad),
                    None,
                )
            })
        });
        type Kernel = fn(&[f32], usize, &mut [f32]) -> f32;
        let single_row: Kernel =
            |z, t, grad| logitkit::softmax_cross_entropy_with_grad(z, t, grad).unwrap_or(f32::NAN);
        for (label, f) in [
            ("stable_libm", stable_scalar as Kernel),
            ("stable_std", stable_std),
            ("row_calls", single_row),
        ] {
            g.bench_function(BenchmarkId::new(label, &id), |b| {
                b.iter(|| {
                    let mut total = 0.0;
                    for ((row, g), &t) in black_box(&z)
                        .chunks(classes)
                        .zip(grad.chunks_mut(classes))
                        .zip(&targets)
                    {
                        total += f(row, t, g);
                    }
                    total / rows as f32
                })
            });
        }
        g.bench_function(BenchmarkId::new("exp_pass", &id), |b| {
            b.iter(|| logitkit::exp_into(black_box(&z), black_box(&mut grad)))
        });
    }
    g.finish();
}

/// The softmax family over many short rows: the rows forms (softmax,
/// log-softmax, log-sum-exp), the single-row forms called per row, the
/// stable `f32::exp` loop per row, one `exp` pass.
fn softmax_rows(c: &mut Criterion) {
    let mut g = config(c, "softmax_rows");
    for (rows, classes) in [(256usize, 10usize), (256, 100)] {
        let n = rows * classes;
        let z = logits(n, 11);
        let mut out = vec![0.0f32; n];
        let mut lse = vec![0.0f32; rows];
        let id = format!("{rows}x{classes}");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("rows", &id), |b| {
            b.iter(|| logitkit::softmax_rows(black_box(&z), classes, black_box(&mut out)))
        });
        g.bench_function(BenchmarkId::new("row_calls", &id), |b| {
            b.iter(|| {
                for (row, o) in black_box(&z).chunks(classes).zip(out.chunks_mut(classes)) {
                    logitkit::softmax(row, o).unwrap_or(());
                }
            })
        });
        g.bench_function(BenchmarkId::new("stable_std", &id), |b| {
            b.iter(|| {
                for (row, o) in black_box(&z).chunks(classes).zip(out.chunks_mut(classes)) {
                    stable_softmax(row, o, f32::exp);
                }
            })
        });
        g.bench_function(BenchmarkId::new("log_softmax_rows", &id), |b| {
            b.iter(|| logitkit::log_softmax_rows(black_box(&z), classes, black_box(&mut out)))
        });
        g.bench_function(BenchmarkId::new("lse_rows", &id), |b| {
            b.iter(|| logitkit::log_sum_exp_rows(black_box(&z), classes, black_box(&mut lse)))
        });
        g.bench_function(BenchmarkId::new("exp_pass", &id), |b| {
            b.iter(|| logitkit::exp_into(black_box(&z), black_box(&mut out)))
        });
    }
    g.finish();
}

criterion_group!(benches, rows, batches, softmax_rows);
criterion_main!(benches);
