//! Comparison of kernel outputs with the offline references, and a tally of
//! errors per kernel family.

use semihosting::println;

/// An expected value: the exact result rounded to f64 and the absolute
/// error the kernel's documented bound allows there. `tol == 0`: exactly
/// this value; `tol < 0`: these exact f32 bits; `want` NaN: any NaN.
#[derive(Clone, Copy)]
pub struct R {
    pub want: f64,
    pub tol: f64,
}

impl R {
    pub const fn new(want: f64, tol: f64) -> Self {
        Self { want, tol }
    }
}

pub struct Unary {
    pub x: f32,
    pub r: R,
}

pub struct RowCase {
    pub name: &'static str,
    pub z: &'static [f32],
    pub target: usize,
    pub q: &'static [f32],
    pub lse: R,
    pub softmax: &'static [R],
    pub log_softmax: &'static [R],
    pub grad: &'static [R],
    pub probs_grad: &'static [R],
    pub loss: R,
    pub probs_loss: R,
}

pub struct BceCase {
    pub name: &'static str,
    pub z: &'static [f32],
    pub y: &'static [f32],
    pub pos_weight: &'static [f32],
    pub weights: Option<&'static [f32]>,
    /// `weights` has one entry per output, broadcast over rows.
    pub weights_per_output: bool,
    pub label_smoothing: f32,
    pub sum: bool,
    pub loss: &'static [R],
    pub grad: &'static [R],
    pub total: R,
}

pub struct FocalCase {
    pub name: &'static str,
    pub z: &'static [f32],
    pub y: &'static [f32],
    pub gamma: f32,
    pub alpha: Option<f32>,
    pub sum: bool,
    pub loss: &'static [R],
    pub grad: &'static [R],
    pub total: R,
}

/// One f32 ULP at the real value `v` (2⁻¹⁴⁹ among subnormals), from the f64
/// exponent field, so no libm is involved.
pub fn ulp32(v: f64) -> f64 {
    let e = ((v.abs().to_bits() >> 52) & 0x7ff) as i64 - 1023;
    let e = e.max(-126) - 23;
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// Checks, failures and the worst error seen, for one kernel family.
pub struct Family {
    pub name: &'static str,
    pub checks: u32,
    pub failures: u32,
    /// Largest |got − want| in f32 ULPs of the exact value, over the checks
    /// whose bound is at most 16 ULP of that value.
    pub worst_ulp: f64,
    /// Largest |got − want| / tolerance.
    pub worst_share: f64,
}

impl Family {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            checks: 0,
            failures: 0,
            worst_ulp: 0.0,
            worst_share: 0.0,
        }
    }

    /// Checks one call of an elementwise loss (BCE, focal): its reduced
    /// loss against `total`, each element's loss and gradient in `per` and
    /// `grad` against `loss` and `want_grad`, and the loss-only form's
    /// reduced loss against `total` too.
    #[allow(clippy::too_many_arguments)]
    pub fn check_elementwise(
        &mut self,
        case: &str,
        with_grad: Result<f32, logitkit::Error>,
        per: &[f32],
        grad: &[f32],
        loss_only: Result<f32, logitkit::Error>,
        total: &R,
        loss: &[R],
        want_grad: &[R],
    ) {
        match with_grad {
            Ok(t) => {
                self.check("reduced", case, 0, t, total);
                for (i, ((&l, &g), (wl, wg))) in per
                    .iter()
                    .zip(grad)
                    .zip(loss.iter().zip(want_grad))
                    .enumerate()
                {
                    self.check("loss", case, i, l, wl);
                    self.check("grad", case, i, g, wg);
                }
            }
            Err(_) => self.expect("Ok", case, false),
        }
        match loss_only {
            Ok(t) => self.check("loss-only", case, 0, t, total),
            Err(_) => self.expect("loss-only Ok", case, false),
        }
    }

    /// Compares `got` with `r`; prints and counts a failure.
    pub fn check(&mut self, what: &str, case: &str, i: usize, got: f32, r: &R) {
        self.checks += 1;
        let ok = if r.want.is_nan() {
            got.is_nan()
        } else if r.tol < 0.0 {
            got.to_bits() == (r.want as f32).to_bits()
        } else if r.tol == 0.0 || r.want.is_infinite() {
            got as f64 == r.want
        } else if !got.is_finite() {
            false
        } else {
            let err = (got as f64 - r.want).abs();
            let ulps = err / ulp32(r.want);
            // Only where the bound is a few ULP of the value itself (not of
            // a larger reference magnitude, as for gradients near zero).
            if r.tol <= 16.0 * ulp32(r.want) && ulps > self.worst_ulp {
                self.worst_ulp = ulps;
            }
            let share = err / r.tol;
            if share > self.worst_share {
                self.worst_share = share;
            }
            err <= r.tol
        };
        if !ok {
            self.failures += 1;
            println!(
                "FAIL {} {} {}[{}]: got {:e} ({:#010x}) want {:e} tol {:e} = {} ULP, error {} ULP",
                self.name,
                what,
                case,
                i,
                got,
                got.to_bits(),
                r.want,
                r.tol,
                r.tol / ulp32(r.want),
                (got as f64 - r.want).abs() / ulp32(r.want),
            );
        }
    }

    /// Records a condition that must hold (shape errors, equal bits).
    pub fn expect(&mut self, what: &str, case: &str, ok: bool) {
        self.checks += 1;
        if !ok {
            self.failures += 1;
            println!("FAIL {} {} {}", self.name, what, case);
        }
    }

    pub fn report(&self) {
        println!(
            "| {} | {} | {} | {:.3} | {:.3} |",
            self.name, self.checks, self.failures, self.worst_ulp, self.worst_share
        );
    }
}
