//! SPEC §4: exhaustive accuracy proof of the lane math over all 2³² f32
//! inputs against the f64 functions of `std`. For every input it asserts
//! that the slice (SIMD) path and the scalar path give identical bits, that
//! the output is NaN exactly where the reference is NaN, and that the error
//! is within the documented bound; it prints the maximum and the worst input.
//! Run in release: `cargo test --release --test ulp_exhaustive -- --nocapture`.

mod common;
use common::{Worst, sweep_all, ulp_error};

fn prove(
    name: &str,
    bound_ulp: f64,
    simd: fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>,
    scalar: fn(f32) -> f32,
    reference: fn(f64) -> f64,
) {
    let worst = sweep_all(|xs, out| {
        simd(xs, out).expect("same lengths");
        let mut worst = Worst {
            ulp: -1.0,
            input: 0.0,
            got: 0.0,
            want: 0.0,
        };
        for (&x, &y) in xs.iter().zip(out.iter()) {
            let s = scalar(x);
            assert_eq!(
                s.to_bits(),
                y.to_bits(),
                "{name}({x:e} = {:#010x}): scalar {s:e} != simd {y:e}",
                x.to_bits()
            );
            let want = reference(x as f64);
            let err = ulp_error(y, want);
            assert!(
                err <= bound_ulp,
                "{name}({x:e} = {:#010x}) = {y:e}, want {want:e}: {err} ULP > {bound_ulp}",
                x.to_bits()
            );
            if err > worst.ulp {
                worst = Worst {
                    ulp: err,
                    input: x,
                    got: y,
                    want,
                };
            }
        }
        worst
    });
    println!(
        "{name}: max error {:.4} ULP over all 2^32 inputs, at x = {:e} ({:#010x}): got {:e}, want {:e}",
        worst.ulp,
        worst.input,
        worst.input.to_bits(),
        worst.got,
        worst.want
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn exp_is_within_1_ulp_everywhere() {
    prove("exp", 1.0, logitkit::exp_into, logitkit::exp, f64::exp);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn ln_is_within_1_ulp_everywhere() {
    prove("ln", 1.0, logitkit::ln_into, logitkit::ln, f64::ln);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "exhaustive: run with --release")]
fn ln_1p_is_within_1_5_ulp_everywhere() {
    prove(
        "ln_1p",
        1.5,
        logitkit::ln_1p_into,
        logitkit::ln_1p,
        f64::ln_1p,
    );
}
