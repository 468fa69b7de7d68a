//! Accuracy of the elementwise functions against the f64 functions of
//! `std`, over f32 bit patterns. For every input it asserts that the slice
//! (SIMD) path and the scalar path give identical bits, also when the
//! input's vector neighbours send it down another path, that the output is
//! NaN exactly where the reference is NaN, and that the error is within the
//! documented bound (`docs/accuracy.md`); it prints the maximum and the
//! worst input.
//!
//! Each function has two tests:
//! - `<function>::sampled`, part of the default `cargo test --release`:
//!   every 101st bit pattern plus the ends of every binade (see
//!   `common::Sweep::sampled`), a few seconds in all;
//! - `<function>::exhaustive`, ignored by default: all 2³² inputs, the
//!   proof. `cargo test --release --test elementwise_ulp -- --ignored --nocapture`
//!   runs them (about 16 minutes on 2 cores).

mod common;
use common::precision::bound;
use common::{Sweep, Worst, ref_sigmoid, ref_softplus, signed_ulp_error, sweep_all};

fn prove(
    sweep: Sweep,
    name: &str,
    bound_ulp: f64,
    simd: fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>,
    scalar: fn(f32) -> f32,
    reference: fn(f64) -> f64,
) {
    let worst = sweep_all(sweep, |xs, out| {
        simd(xs, out).expect("same lengths");
        let mut worst = Worst::NONE;
        for (&x, &y) in xs.iter().zip(out.iter()) {
            let s = scalar(x);
            assert_eq!(
                s.to_bits(),
                y.to_bits(),
                "{name}({x:e} = {:#010x}): scalar {s:e} != simd {y:e}",
                x.to_bits()
            );
            within(name, bound_ulp, x, y, reference(x as f64), &mut worst);
        }
        if PATH_DEPENDENT.contains(&name) {
            same_bits_among_other_neighbours(name, simd, xs, out);
        }
        worst
    });
    report(name, sweep, worst);
}

/// The functions whose vectors choose a path (through `exp`'s test of
/// |x| < 87): only their lanes could depend on their neighbours. `ln` and
/// `ln_1p` run one branch-free sequence for every vector.
const PATH_DEPENDENT: [&str; 3] = ["exp", "sigmoid", "softplus"];

/// A neighbour that changes a vector's path: a lane with |x| ≥ 87 sends the
/// whole vector through `exp`'s general path (and through it `sigmoid`'s and
/// `softplus`'s).
const GENERAL_PATH_NEIGHBOUR: f32 = 100.0;

/// A lane's result does not depend on its neighbours (`docs/accuracy.md`).
/// A consecutive sweep puts each input among inputs of its own magnitude,
/// so small inputs take the fast path there; here each input runs again in
/// a vector that also holds [`GENERAL_PATH_NEIGHBOUR`] (so it takes the
/// general path), and must give the same bits.
fn same_bits_among_other_neighbours(
    name: &str,
    simd: fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>,
    xs: &[f32],
    want: &[f32],
) {
    use logitkit::lane::{Lane, Simd};
    let width = <Simd as Lane>::WIDTH;
    if width == 1 {
        return; // one lane: no neighbours
    }
    // Every vector of `mixed` starts with the neighbour and holds width − 1
    // inputs (the slice kernels take vectors from the slice's start).
    let mut mixed = Vec::with_capacity(xs.len() + xs.len().div_ceil(width - 1));
    for group in xs.chunks(width - 1) {
        mixed.push(GENERAL_PATH_NEIGHBOUR);
        mixed.extend_from_slice(group);
    }
    let mut got = vec![0f32; mixed.len()];
    simd(&mixed, &mut got).expect("same lengths");
    let inputs = got.chunks(width).flat_map(|vector| &vector[1..]);
    for ((&y, &x), &w) in inputs.zip(xs).zip(want) {
        assert_eq!(
            y.to_bits(),
            w.to_bits(),
            "{name}({x:e} = {:#010x}) on the general path: {y:e} != {w:e}",
            x.to_bits()
        );
    }
}

/// Asserts `got` (at input `x`) within `bound` ULP of `want`, and keeps the
/// worst case in `worst`.
fn within(name: &str, bound: f64, x: f32, got: f32, want: f64, worst: &mut Worst) {
    let err = signed_ulp_error(got, want);
    assert!(
        err <= bound,
        "{name}({x:e} = {:#010x}) = {got:e}, want {want:e}: {err} ULP > {bound}",
        x.to_bits()
    );
    if err > worst.ulp {
        *worst = Worst {
            ulp: err,
            input: x,
            got,
            want,
        };
    }
}

/// Prints a sweep's maximum and the input that reaches it.
fn report(name: &str, sweep: Sweep, worst: Worst) {
    println!(
        "{name}: max error {:.4} ULP over {}, at x = {:e} ({:#010x}): got {:e}, want {:e}",
        worst.ulp,
        sweep,
        worst.input,
        worst.input.to_bits(),
        worst.got,
        worst.want
    );
}

/// A sampled test and an exhaustive (ignored) test of one sweep.
macro_rules! sampled_and_exhaustive {
    ($($module:ident: $sweep:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn sampled() {
                ($sweep)(Sweep::sampled());
            }

            #[test]
            #[ignore = "the 2^32 proof: cargo test --release --test elementwise_ulp -- --ignored"]
            fn exhaustive() {
                ($sweep)(Sweep::EXHAUSTIVE);
            }
        }
    )*};
}

sampled_and_exhaustive! {
    exp: |s| prove(s, "exp", bound("exp", "ulp"), logitkit::exp_into, logitkit::exp, f64::exp);
    ln: |s| prove(s, "ln", bound("ln", "ulp"), logitkit::ln_into, logitkit::ln, f64::ln);
    ln_1p: |s| prove(s, "ln_1p", bound("ln_1p", "ulp"), logitkit::ln_1p_into, logitkit::ln_1p, f64::ln_1p);
    sigmoid: |s| prove(s, "sigmoid", bound("sigmoid", "ulp"), logitkit::sigmoid_into, logitkit::sigmoid, ref_sigmoid);
    softplus: |s| prove(s, "softplus", bound("softplus", "ulp"), logitkit::softplus_into, logitkit::softplus, ref_softplus);
    log_sigmoid: log_sigmoid_is_exactly_minus_softplus_of_minus_x;
    bce_sigma: bce_sigma_and_softplus;
}

/// log_sigmoid(x) is −softplus(−x) bit for bit on every input, so the
/// softplus proof covers it (and this sweep costs no f64 reference).
fn log_sigmoid_is_exactly_minus_softplus_of_minus_x(sweep: Sweep) {
    sweep_all(sweep, |xs, out| {
        logitkit::log_sigmoid_into(xs, out).expect("same lengths");
        for (&x, &y) in xs.iter().zip(out.iter()) {
            let want = -logitkit::softplus(-x);
            let same = y.to_bits() == want.to_bits() || (x.is_nan() && y.to_bits() == x.to_bits());
            assert!(
                same,
                "log_sigmoid({x:e}) = {y:e} != -softplus(-x) = {want:e}"
            );
            assert_eq!(
                logitkit::log_sigmoid(x).to_bits(),
                y.to_bits(),
                "scalar vs simd at {x:e}"
            );
        }
        Worst {
            ulp: 0.0,
            input: 0.0,
            got: 0.0,
            want: 0.0,
        }
    });
}

/// BCE and the focal loss take σ(±z) from the shared `logistic` that the
/// public `sigmoid` is, and softplus(±z) from the same exponential with its
/// low part (the public `softplus` skips that part, so their bits may
/// differ). With label 0, weight 1 and a sum, BCE's gradient is exactly
/// σ(z) (the other term is a product with 0) and its element loss
/// softplus(z), so the public kernel exposes both on every input: the
/// gradient must equal the public `sigmoid` bit for bit (whose proof then
/// covers it) and the loss must be within the softplus bound.
fn bce_sigma_and_softplus(sweep: Sweep) {
    let bound = bound("softplus", "ulp");
    let options = logitkit::BceOptions {
        reduction: logitkit::Reduction::Sum,
        ..Default::default()
    };
    let worst = sweep_all(sweep, |zs, loss| {
        let labels = vec![0.0f32; zs.len()];
        let mut sigma = vec![0.0f32; zs.len()];
        logitkit::bce_with_logits_with_grad(zs, &labels, &options, &mut sigma, Some(loss))
            .expect("same lengths");
        let mut worst = Worst::NONE;
        for ((&z, &s), &l) in zs.iter().zip(&sigma).zip(loss.iter()) {
            let sigmoid = logitkit::sigmoid(z);
            assert!(
                s.to_bits() == sigmoid.to_bits() || (s.is_nan() && z.is_nan()),
                "BCE gradient({z:e} = {:#010x}) = {s:e} != sigmoid = {sigmoid:e}",
                z.to_bits()
            );
            if z.is_nan() {
                assert!(l.is_nan(), "BCE element loss at NaN: {l:e}");
            } else {
                within(
                    "BCE's softplus",
                    bound,
                    z,
                    l,
                    ref_softplus(z as f64),
                    &mut worst,
                );
            }
        }
        worst
    });
    report("BCE's softplus", sweep, worst);
}

/// A digest of the output bits of every elementwise kernel over all 2³²
/// inputs (seconds: no reference is computed). Two builds that print the
/// same digests compute the same bits on every input, so a proof on one
/// is a proof on the other: CI uses it to prove the `-C target-cpu=native`
/// build through the `x86-64-v3` one when the native CPU adds no feature
/// the kernels use (`.ci/run`).
/// `cargo test --release --test elementwise_ulp -- --ignored --nocapture digest`
#[test]
#[ignore = "all 2^32 inputs: cargo test --release --test elementwise_ulp -- --ignored digest"]
fn digest_of_every_output() {
    type Kernel = fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>;
    fn bce_sigma_and_loss(zs: &[f32], out: &mut [f32]) -> Result<(), logitkit::Error> {
        let options = logitkit::BceOptions {
            reduction: logitkit::Reduction::Sum,
            ..Default::default()
        };
        let labels = vec![0.0f32; zs.len()];
        let mut loss = vec![0.0f32; zs.len()];
        logitkit::bce_with_logits_with_grad(zs, &labels, &options, out, Some(&mut loss))?;
        for (o, l) in out.iter_mut().zip(&loss) {
            *o = f32::from_bits(o.to_bits() ^ l.to_bits().rotate_left(16));
        }
        Ok(())
    }
    let kernels: [(&str, Kernel); 7] = [
        ("exp", logitkit::exp_into),
        ("ln", logitkit::ln_into),
        ("ln_1p", logitkit::ln_1p_into),
        ("sigmoid", logitkit::sigmoid_into),
        ("softplus", logitkit::softplus_into),
        ("log_sigmoid", logitkit::log_sigmoid_into),
        ("bce_sigma_and_loss", bce_sigma_and_loss),
    ];
    const BLOCK: u64 = 1 << 16;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    for (name, kernel) in kernels {
        let digest = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        let mut xs = vec![0f32; BLOCK as usize];
                        let mut out = vec![0f32; BLOCK as usize];
                        let mut total = 0u64;
                        let mut b = t;
                        while b < (1 << 32) / BLOCK {
                            for (i, x) in xs.iter_mut().enumerate() {
                                *x = f32::from_bits((b * BLOCK) as u32 + i as u32);
                            }
                            kernel(&xs, &mut out).expect("same lengths");
                            // Position-dependent, so a permutation changes it.
                            let mut h = b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                            for y in &out {
                                h = (h ^ y.to_bits() as u64).wrapping_mul(0x0000_0100_0000_01b3);
                            }
                            total = total.wrapping_add(h);
                            b += threads;
                        }
                        total
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("digest thread panicked"))
                .fold(0u64, u64::wrapping_add)
        });
        println!("digest {name}: {digest:016x}");
    }
}
