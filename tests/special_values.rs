//! The special values (`docs/contract.md`) of the lane math, exactly (sign of zero and NaN
//! payload included), through the scalar function and the slice path at
//! every position of a vector.

use logitkit::{exp, exp_into, ln, ln_1p, ln_1p_into, ln_into};

const INF: f32 = f32::INFINITY;
const NAN_PAYLOAD: f32 = f32::from_bits(0x7fc0_1234);

/// (input, expected output) pairs; `None` means NaN (any payload).
fn cases(name: &str) -> Vec<(f32, Option<f32>)> {
    let min_sub = f32::from_bits(1);
    match name {
        "exp" => vec![
            (0.0, Some(1.0)),
            (-0.0, Some(1.0)),
            (INF, Some(INF)),
            (-INF, Some(0.0)),
            (f32::MAX, Some(INF)),
            (f32::MIN, Some(0.0)),
            (88.72284, Some(INF)),
            // 2⁻¹⁴⁹ = e^−103.2789; e^−103.972 = 2⁻¹⁵⁰ (ties to even: 0).
            (-103.278_93, Some(min_sub)),
            (-104.0, Some(0.0)),
        ],
        "ln" => vec![
            (1.0, Some(0.0)),
            (0.0, Some(-INF)),
            (-0.0, Some(-INF)),
            (INF, Some(INF)),
            (-INF, None),
            (-1.0, None),
            (-min_sub, None),
        ],
        "ln_1p" => vec![
            (0.0, Some(0.0)),
            (-0.0, Some(-0.0)),
            (-1.0, Some(-INF)),
            (INF, Some(INF)),
            (-INF, None),
            (-1.000_000_1, None),
            (min_sub, Some(min_sub)),
            (-min_sub, Some(-min_sub)),
            (1e-30, Some(1e-30)),
        ],
        _ => unreachable!(),
    }
}

fn check(
    name: &str,
    scalar: fn(f32) -> f32,
    slice: fn(&[f32], &mut [f32]) -> Result<(), logitkit::Error>,
) {
    let mut all = cases(name);
    all.push((NAN_PAYLOAD, Some(NAN_PAYLOAD)));
    for &(x, want) in &all {
        // Every position in a 37-element slice (body and tail of any width).
        for pos in 0..37 {
            let mut xs = [0.5f32; 37];
            xs[pos] = x;
            let mut out = [0.0f32; 37];
            slice(&xs, &mut out).unwrap();
            let got = out[pos];
            assert_eq!(
                got.to_bits(),
                scalar(x).to_bits(),
                "{name}({x:e}) slice vs scalar at {pos}"
            );
            match want {
                None => assert!(got.is_nan(), "{name}({x:e}) = {got:e}, want NaN"),
                Some(w) if w.is_nan() => {
                    assert_eq!(got.to_bits(), w.to_bits(), "{name}: NaN payload kept")
                }
                Some(w) => assert_eq!(
                    got.to_bits(),
                    w.to_bits(),
                    "{name}({x:e}) = {got:e}, want {w:e}"
                ),
            }
        }
    }
}

#[test]
fn exp_special_values() {
    check("exp", exp, exp_into);
}

#[test]
fn ln_special_values() {
    check("ln", ln, ln_into);
}

#[test]
fn ln_1p_special_values() {
    check("ln_1p", ln_1p, ln_1p_into);
}

#[test]
fn length_mismatch_is_an_error_and_leaves_output_untouched() {
    let xs = [1.0f32; 5];
    let mut out = [7.0f32; 4];
    assert_eq!(
        exp_into(&xs, &mut out),
        Err(logitkit::Error::LengthMismatch {
            argument: "out",
            expected: 5,
            found: 4,
            shape: None,
        })
    );
    assert_eq!(out, [7.0; 4]);
    assert!(ln_into(&xs, &mut out).is_err());
    assert!(ln_1p_into(&xs[..3], &mut out).is_err());
}

#[test]
fn in_place_matches_into() {
    let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.37).collect();
    for (in_place, into) in [
        (
            logitkit::exp_in_place as fn(&mut [f32]),
            exp_into as fn(&[f32], &mut [f32]) -> _,
        ),
        (logitkit::ln_in_place, ln_into),
        (logitkit::ln_1p_in_place, ln_1p_into),
    ] {
        let mut a = xs.clone();
        in_place(&mut a);
        let mut b = vec![0.0; xs.len()];
        into(&xs, &mut b).unwrap();
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
