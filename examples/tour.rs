//! The tour: what logitkit's lane math gets right and how fast it is.
//!
//! `cargo run --release --example tour`
//!
//! Every figure is computed here, now: accuracy against f64 over a sample of
//! 2²⁴ evenly strided bit patterns (the exhaustive proof over all 2³² is in
//! `cargo test --release`), and speed as ratios measured in this one run.

use std::hint::black_box;
use std::time::Instant;

// The ULP measure and f64 references the test suite uses, not a copy.
#[path = "../tests/common/mod.rs"]
mod common;
use common::{ref_sigmoid, ref_softplus, ulp_error};

type Kernel = fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>;

fn libm_sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

fn libm_softplus(x: f32) -> f32 {
    x.max(0.0) + libm::log1pf(libm::expf(-x.abs()))
}

struct Row {
    name: &'static str,
    simd: Kernel,
    scalar: fn(f32) -> f32,
    libm_fn: fn(f32) -> f32,
    reference: fn(f64) -> f64,
    bound: f64,
    range: (f32, f32),
}

/// Max ULP error over every 256th bit pattern, through the SIMD slice path.
fn sampled_accuracy(row: &Row) -> (f64, f32) {
    let mut worst = (0.0, 0.0);
    let mut xs = vec![0f32; 1 << 16];
    let mut out = vec![0f32; 1 << 16];
    for block in 0..256u64 {
        for (i, x) in xs.iter_mut().enumerate() {
            *x = f32::from_bits(((block << 24) | ((i as u64) << 8) | 0x5a) as u32);
        }
        (row.simd)(&xs, &mut out).expect("same length");
        for (&x, &y) in xs.iter().zip(&out) {
            let e = ulp_error(y, (row.reference)(x as f64));
            if e > worst.0 {
                worst = (e, x);
            }
        }
    }
    worst
}

/// Median time of `f` over several rounds, in nanoseconds per call.
fn time(mut f: impl FnMut()) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..200 {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / 200.0);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    println!("logitkit tour: lane math (exp, ln, ln_1p, sigmoid, softplus) and the fused losses\n");
    let rows = [
        Row {
            name: "exp",
            simd: logitkit::exp_into,
            scalar: logitkit::exp,
            libm_fn: libm::expf,
            reference: f64::exp,
            bound: 1.0,
            range: (-87.0, 88.0),
        },
        Row {
            name: "ln",
            simd: logitkit::ln_into,
            scalar: logitkit::ln,
            libm_fn: libm::logf,
            reference: f64::ln,
            bound: 1.0,
            range: (1e-30, 1e30),
        },
        Row {
            name: "ln_1p",
            simd: logitkit::ln_1p_into,
            scalar: logitkit::ln_1p,
            libm_fn: libm::log1pf,
            reference: f64::ln_1p,
            bound: 1.5,
            range: (-0.9, 100.0),
        },
        Row {
            name: "sigmoid",
            simd: logitkit::sigmoid_into,
            scalar: logitkit::sigmoid,
            libm_fn: libm_sigmoid,
            reference: ref_sigmoid,
            bound: 2.0,
            range: (-30.0, 30.0),
        },
        Row {
            name: "softplus",
            simd: logitkit::softplus_into,
            scalar: logitkit::softplus,
            libm_fn: libm_softplus,
            reference: ref_softplus,
            bound: 2.0,
            range: (-30.0, 30.0),
        },
    ];

    println!("Accuracy, SIMD path, every 256th f32 bit pattern (2^24 inputs) against f64:");
    println!(
        "{:<9} {:>12} {:>10} {:>16}",
        "fn", "max ULP", "bound", "worst input"
    );
    for row in &rows {
        let (e, x) = sampled_accuracy(row);
        println!("{:<9} {:>12.4} {:>10} {:>16e}", row.name, e, row.bound, x);
        assert!(e <= row.bound, "{} exceeds its bound", row.name);
    }

    println!("\nSpecial values (SPEC §3):");
    let show = |name: &str, x: f32, y: f32| println!("  {name}({x:e}) = {y:e}");
    show("exp", f32::INFINITY, logitkit::exp(f32::INFINITY));
    show("exp", f32::NEG_INFINITY, logitkit::exp(f32::NEG_INFINITY));
    show("exp", 88.8, logitkit::exp(88.8));
    show("exp", -100.0, logitkit::exp(-100.0));
    show("ln", 0.0, logitkit::ln(0.0));
    show("ln", f32::from_bits(1), logitkit::ln(f32::from_bits(1)));
    show("ln", -1.0, logitkit::ln(-1.0));
    show("ln_1p", -1.0, logitkit::ln_1p(-1.0));
    show("ln_1p", 1e-30, logitkit::ln_1p(1e-30));

    const N: usize = 1024;
    println!(
        "\nSpeed over {N} elements, same run (median of 15 rounds; `cargo bench` for criterion figures):"
    );
    println!(
        "{:<9} {:>12} {:>14} {:>14}",
        "fn", "SIMD ns/el", "vs libm loop", "vs own scalar"
    );
    for row in &rows {
        let xs: Vec<f32> = (0..N)
            .map(|i| row.range.0 + (row.range.1 - row.range.0) * ((i * 7919 % N) as f32 / N as f32))
            .collect();
        let mut out = vec![0f32; N];
        let simd = time(|| {
            (row.simd)(black_box(&xs), black_box(&mut out)).unwrap();
        });
        let mut loop_with = |f: fn(f32) -> f32| {
            time(|| {
                for (o, &x) in out.iter_mut().zip(black_box(&xs)) {
                    *o = f(x);
                }
                black_box(&mut out);
            })
        };
        let libm_t = loop_with(row.libm_fn);
        let scalar_t = loop_with(row.scalar);
        println!(
            "{:<9} {:>12.3} {:>13.1}x {:>13.1}x",
            row.name,
            simd / N as f64,
            libm_t / simd,
            scalar_t / simd
        );
    }
    println!("\nFused losses over {N} logits, same run:");
    let z: Vec<f32> = (0..N)
        .map(|i| ((i * 7919 % N) as f32 / N as f32 - 0.5) * 16.0)
        .collect();
    let labels: Vec<f32> = (0..N).map(|i| (i % 2) as f32).collect();
    let mut grad = vec![0f32; N];
    let ce = time(|| {
        black_box(
            logitkit::softmax_cross_entropy_with_grad(black_box(&z), 5, black_box(&mut grad))
                .unwrap(),
        );
    });
    let ce_scalar = time(|| {
        let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut s = 0.0;
        for (g, &x) in grad.iter_mut().zip(black_box(&z)) {
            *g = libm::expf(x - m);
            s += *g;
        }
        for g in grad.iter_mut() {
            *g /= s;
        }
        grad[5] -= 1.0;
        black_box(m + libm::logf(s) - z[5]);
    });
    let opts = logitkit::BceOptions::default();
    let bce = time(|| {
        black_box(
            logitkit::bce_with_logits_with_grad(
                black_box(&z),
                &labels,
                &opts,
                black_box(&mut grad),
                &mut [],
            )
            .unwrap(),
        );
    });
    let bce_scalar = time(|| {
        let mut total = 0.0;
        for ((g, &x), &y) in grad.iter_mut().zip(black_box(&z)).zip(&labels) {
            let t = libm::expf(-x.abs());
            total += x.max(0.0) - y * x + libm::log1pf(t);
            *g = (if x >= 0.0 {
                1.0 / (1.0 + t)
            } else {
                t / (1.0 + t)
            } - y)
                / N as f32;
        }
        black_box(total / N as f32);
    });
    println!(
        "  softmax cross-entropy + gradient: {:.3} ns/logit, {:.1}x the stable scalar libm version",
        ce / N as f64,
        ce_scalar / ce
    );
    println!(
        "  BCE with logits + gradient:       {:.3} ns/logit, {:.1}x the stable scalar libm version",
        bce / N as f64,
        bce_scalar / bce
    );

    println!(
        "\nSIMD lane type on this build: {} lanes of f32.",
        <logitkit::lane::Simd as logitkit::lane::Lane>::WIDTH
    );
}
