//! Lane math: exp, ln, ln_1p, sigmoid, softplus, log_sigmoid and the
//! sigmoid-family backward products, each held to its documented bound in
//! `docs/precision.toml` (the section named after the kernel).

use super::common::precision::bound;
use super::common::{ref_sigmoid, ref_softplus, ulp};
use super::input::Input;
use super::{assert_near, assert_same_bits, within};
use logitkit::Error;

/// An elementwise kernel: its scalar and slice forms and f64 reference;
/// its documented bound is `ulp` of the table section of the same name.
struct Elementwise {
    name: &'static str,
    scalar: fn(f32) -> f32,
    in_place: fn(&mut [f32]),
    into: fn(&[f32], &mut [f32]) -> Result<(), Error>,
    reference: fn(f64) -> f64,
}

macro_rules! elementwise {
    ($name:ident, $in_place:ident, $into:ident, $reference:expr) => {
        Elementwise {
            name: stringify!($name),
            scalar: logitkit::$name,
            in_place: logitkit::$in_place,
            into: logitkit::$into,
            reference: $reference,
        }
    };
}

const ELEMENTWISE: [Elementwise; 6] = [
    elementwise!(exp, exp_in_place, exp_into, f64::exp),
    elementwise!(ln, ln_in_place, ln_into, f64::ln),
    elementwise!(ln_1p, ln_1p_in_place, ln_1p_into, f64::ln_1p),
    elementwise!(sigmoid, sigmoid_in_place, sigmoid_into, ref_sigmoid),
    elementwise!(softplus, softplus_in_place, softplus_into, ref_softplus),
    elementwise!(log_sigmoid, log_sigmoid_in_place, log_sigmoid_into, |x| {
        -ref_softplus(-x)
    }),
];

pub type BackwardKernel = fn(&[f32], &[f32], &mut [f32]) -> Result<(), Error>;

/// A sigmoid-family backward product and the f64 reference of its local
/// derivative; its documented bound is the table section of the same name
/// ([`backward_allowed`]).
pub struct Backward {
    pub name: &'static str,
    pub kernel: BackwardKernel,
    pub derivative: fn(f64) -> f64,
}

pub const BACKWARD: [Backward; 3] = [
    Backward {
        name: "sigmoid_backward",
        kernel: logitkit::sigmoid_backward,
        derivative: |x| ref_sigmoid(x) * ref_sigmoid(-x),
    },
    Backward {
        name: "softplus_backward",
        kernel: logitkit::softplus_backward,
        derivative: ref_sigmoid,
    },
    Backward {
        name: "log_sigmoid_backward",
        kernel: logitkit::log_sigmoid_backward,
        derivative: |x| ref_sigmoid(-x),
    },
];

/// |error| documented for the backward product `name` whose exact value is
/// `want` = derivative(x)·g: `ulp` ULP of it plus `abs_log2`·|g| (the
/// derivative's σ factors lose their relative accuracy where they are
/// subnormal).
pub fn backward_allowed(name: &str, want: f64, g: f32) -> f64 {
    bound(name, "ulp") * ulp(want) + bound(name, "abs_log2") * (g as f64).abs()
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let n = input.len();
    let xs = input.row(n);
    for Elementwise {
        name,
        scalar,
        in_place,
        into,
        reference,
    } in ELEMENTWISE
    {
        let ulps = bound(name, "ulp");
        let mut a = xs.clone();
        in_place(&mut a);
        let mut b = vec![0.0; n];
        into(&xs, &mut b).expect("equal lengths");
        assert_same_bits(name, &a, &b);
        for (&x, &y) in xs.iter().zip(&a) {
            // Every element gets the bits it gets alone, whatever its position.
            assert_eq!(
                scalar(x).to_bits(),
                y.to_bits(),
                "{name}({x:e}): scalar != slice"
            );
            let want = reference(x as f64);
            assert_eq!(
                y.is_nan(),
                want.is_nan(),
                "{name}({x:e}) = {y:e}: NaN contract"
            );
            assert_near(format_args!("{name}({x:e})"), y, want, ulps, 0.0);
        }
        let mut wrong = vec![0.0; n + 1];
        assert!(
            into(&xs, &mut wrong).is_err(),
            "{name}_into accepted a longer output"
        );
    }
    for &x in &xs {
        let (ls, sp) = (logitkit::log_sigmoid(x), -logitkit::softplus(-x));
        assert_eq!(
            ls.to_bits(),
            sp.to_bits(),
            "log_sigmoid({x:e}) != -softplus(-x)"
        );
    }

    let grad_out = input.row(n);
    for Backward {
        name,
        kernel,
        derivative,
    } in BACKWARD
    {
        let mut grad_in = vec![0.0; n];
        kernel(&xs, &grad_out, &mut grad_in).expect("equal lengths");
        for ((&x, &g), &got) in xs.iter().zip(&grad_out).zip(&grad_in) {
            let d = derivative(x as f64);
            let want = g as f64 * d;
            if x.is_nan() || g.is_nan() {
                assert!(got.is_nan(), "{name}: NaN input gave {got:e}");
                continue;
            }
            if g.is_infinite() {
                continue; // IEEE arithmetic: 0·inf = NaN where the factor underflows
            }
            let allowed = backward_allowed(name, want, g);
            let err = super::distance(got, want);
            assert!(
                within(got, want, allowed),
                "{name}(x={x:e}, g={g:e}) = {got:e}, want {want:e}, |Δ| {err:e} > {allowed:e}"
            );
        }
        let mut short = vec![0.0; n.saturating_sub(1)];
        if n > 0 {
            assert!(
                kernel(&xs, &grad_out, &mut short).is_err(),
                "{name}: short output accepted"
            );
        }
    }
}
