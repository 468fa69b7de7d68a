//! The tour: why losses are computed from logits, that logitkit's kernels
//! get them right, a network trained with them, and how fast they are.
//!
//! `cargo run --release --example tour`
//!
//! Every figure is computed here, now, deterministically: round-off, naive
//! versus fused losses against an f64 reference, training (fixed seeds),
//! accuracy of the lane math against f64 over a sample of 2²⁴ evenly strided
//! bit patterns (the exhaustive proof over all 2³² is in
//! `cargo test --release`), and speed as ratios measured in this one run.

mod train;

use logitkit::FixedRow;
use std::hint::black_box;
use std::time::Instant;

// The ULP measure and f64 references the test suite uses, not a copy.
#[path = "../../tests/common/mod.rs"]
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

/// f64 reference of −log softmax(z)[t] (BHH form: (m − z_t) + ln_1p(s′)).
fn ref_ce(z: &[f32], t: usize) -> f64 {
    if z.contains(&f32::INFINITY) {
        return if z[t] == f32::INFINITY {
            (z.iter().filter(|&&v| v == f32::INFINITY).count() as f64).ln()
        } else {
            f64::INFINITY
        };
    }
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let ties = z.iter().filter(|&&v| v as f64 == m).count() as f64;
    let others: f64 = z
        .iter()
        .filter(|&&v| (v as f64) < m)
        .map(|&v| (v as f64 - m).exp())
        .sum();
    (m - z[t] as f64) + (others + ties - 1.0).ln_1p()
}

/// Softmax then −ln p[t], the way it is written without the fused kernel.
fn naive_ce(z: &[f32], t: usize, grad: &mut [f32]) -> f32 {
    let total: f32 = z.iter().map(|&v| libm::expf(v)).sum();
    for (g, &v) in grad.iter_mut().zip(z) {
        *g = libm::expf(v) / total;
    }
    let loss = -libm::logf(grad[t]);
    grad[t] -= 1.0;
    loss
}

fn show_loss(v: f32, want: f64) -> String {
    let err = if v.is_finite() && want.is_finite() {
        format!("{:>7.2} ULP", (v as f64 - want).abs() / common::ulp(want))
    } else if v as f64 == want {
        "  exact".into()
    } else {
        "  WRONG".into()
    };
    format!("{v:>12.5e} {err}")
}

fn lesson_roundoff() {
    println!("1. Round-off in f32: the same number computed two ways");
    let direct = 2.0f32 / 10000.0;
    let roundabout = (1.0f32 + 1.0 / 10000.0) - (1.0 - 1.0 / 10000.0);
    println!("   2/10000                          = {direct:.12}");
    println!("   (1 + 1/10000) - (1 - 1/10000)    = {roundabout:.12}");
    println!(
        "   relative error of the second: {:.2e}\n",
        ((roundabout - direct) / direct).abs()
    );
}

fn lesson_naive_vs_fused() {
    println!(
        "2. Naive (softmax, then -ln p[t]) versus fused, 10 logits z = spread·c, target 0, against f64"
    );
    println!(
        "   {:>14} {:>21} {:>21} {:>13} {:>13}",
        "row", "naive loss", "fused loss", "naive max|Δg|", "fused max|Δg|"
    );
    let c = [0.5f32, -0.3, 1.0, 0.2, -1.0, 0.7, -0.6, 0.1, 0.9, -0.8];
    let mut rows: Vec<(String, [f32; 10])> = [1.0f32, 10.0, 50.0, 100.0, 1e4, 1e30, f32::MAX]
        .iter()
        .map(|&s| (format!("spread {s:.0e}"), c.map(|v| v * s)))
        .collect();
    let mut masked = c.map(|v| v * 10.0);
    masked[3] = f32::NEG_INFINITY;
    rows.push(("10, -inf mask".into(), masked));
    let mut inf = c.map(|v| v * 10.0);
    inf[2] = f32::INFINITY;
    rows.push(("10, +inf entry".into(), inf));
    for (name, z) in rows {
        let want = ref_ce(&z, 0);
        let mut gn = [0.0f32; 10];
        let naive = naive_ce(&z, 0, &mut gn);
        let (fused, gf) = z
            .softmax_cross_entropy_with_grad(0)
            .expect("class 0 exists");
        // Reference gradient: softmax − onehot in f64.
        let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let k = z.iter().filter(|&&v| v == f32::INFINITY).count();
        let p: Vec<f64> = if k > 0 {
            z.iter()
                .map(|&v| {
                    if v == f32::INFINITY {
                        1.0 / k as f64
                    } else {
                        0.0
                    }
                })
                .collect()
        } else {
            let e: Vec<f64> = z.iter().map(|&v| (v as f64 - m as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        let gerr = |g: &[f32; 10]| {
            (0..10)
                .map(|i| (g[i] as f64 - (p[i] - (i == 0) as u8 as f64)).abs())
                .fold(0.0f64, |a, b| {
                    if a.is_nan() || b.is_nan() {
                        f64::NAN
                    } else {
                        a.max(b)
                    }
                })
        };
        println!(
            "   {name:>14} {:>21} {:>21} {:>13.2e} {:>13.2e}",
            show_loss(naive, want),
            show_loss(fused, want),
            gerr(&gn),
            gerr(&gf)
        );
    }
    println!(
        "\n   Binary: sigmoid then -[y ln p + (1-y) ln(1-p)] versus fused BCE with logits, y = 0"
    );
    println!("   {:>10} {:>21} {:>21}", "z", "naive loss", "fused loss");
    for z in [
        1.0f32,
        10.0,
        50.0,
        100.0,
        1e4,
        1e30,
        f32::MAX,
        -30.0,
        -100.0,
    ] {
        let want = z.max(0.0) as f64 + (-(z as f64).abs()).exp().ln_1p(); // softplus(z)
        let p = 1.0 / (1.0 + libm::expf(-z));
        let naive = -libm::logf(1.0 - p);
        let fused = logitkit::bce_with_logits(&[z], &[0.0], &logitkit::BceOptions::default(), None)
            .expect("same length");
        println!(
            "   {z:>10.0e} {:>21} {:>21}",
            show_loss(naive, want),
            show_loss(fused, want)
        );
    }
    println!();
}

fn main() {
    lesson_roundoff();
    lesson_naive_vs_fused();
    println!("3. Training from logits: Dense(25, ReLU) -> Dense(15, ReLU) -> Dense(10), Adam,");
    println!(
        "   fused softmax cross-entropy via the fixed-size API, 1000 noisy 8x8 glyphs of 10 classes"
    );
    train::run_multiclass();
    println!("\n4. The binary case: a linear model trained with the fused BCE with logits");
    train::run_binary();
    println!();
    println!(
        "5. Lane math (exp, ln, ln_1p, sigmoid, softplus) and the fused losses: accuracy and speed\n"
    );
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

    println!("\nSpecial values (docs/contract.md):");
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
                None,
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
