//! logitkit self-test for Cortex-M under QEMU: every kernel family on test
//! vectors computed offline by `tools/firmware_vectors.py` (mpmath), within
//! the documented bounds; then the stack each family uses, measured by
//! painting. Exits 0 through semihosting only if every check passes.
#![no_std]
#![no_main]

mod check;
mod stack;
#[rustfmt::skip]
mod vectors;

use check::{Family, R, RowCase};
use core::hint::black_box;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use heapless::Vec;
use logitkit::lane::{Lane, Simd};
use logitkit::{
    BceOptions, CrossEntropyOptions, ElementWeights, Error, FixedRow, FocalOptions, LogSumExp,
    PosWeight, Reduction,
};
use semihosting::{eprintln, println, process};

/// Longest row in the vectors (heapless capacity and scratch size).
const ROW: usize = 64;

#[entry]
fn main() -> ! {
    println!(
        "logitkit selftest on {}: lane::Simd = {} (WIDTH {})",
        target_name(),
        core::any::type_name::<Simd>(),
        <Simd as Lane>::WIDTH
    );
    let mut failures = 0;
    println!("| family | checks | failures | max error (ULP)¹ | max error / bound |");
    println!("|---|---|---|---|---|");
    for f in [
        unary(),
        log_sum_exp(),
        streaming(),
        softmax(),
        log_softmax(),
        cross_entropy(),
        probs(),
        batch(),
        fixed_rows(),
        bce(),
        focal(),
        errors(),
    ]
    .iter()
    .flatten()
    .flatten()
    {
        f.report();
        failures += f.failures;
    }
    println!("¹ over the checks whose bound is ≤ 16 ULP of the value itself");
    stack::report();
    if failures == 0 && <Simd as Lane>::WIDTH == 1 {
        println!("selftest: all checks passed");
        process::exit(0)
    } else {
        println!("selftest: {} failures", failures);
        process::exit(1)
    }
}

fn target_name() -> &'static str {
    if cfg!(target_feature = "vfp2") || cfg!(target_abi = "eabihf") {
        "thumbv7em-none-eabihf (Cortex-M4F, mps2-an386)"
    } else {
        "thumbv6m-none-eabi (Cortex-M0, microbit)"
    }
}

/// Up to 6 families per call site; unused slots are `None`.
type Families = [Option<Family>; 6];

fn one(f: Family) -> Families {
    [Some(f), None, None, None, None, None]
}

fn unary() -> Families {
    type Scalar = fn(f32) -> f32;
    type InPlace = fn(&mut [f32]);
    type Into = fn(&[f32], &mut [f32]) -> Result<(), Error>;
    type Row = (
        &'static str,
        &'static [check::Unary],
        Scalar,
        InPlace,
        Into,
        Scalar,
    );
    let table: [Row; 6] = [
        (
            "exp",
            vectors::EXP,
            logitkit::exp,
            logitkit::exp_in_place,
            logitkit::exp_into,
            logitkit::exp_lane::<f32>,
        ),
        (
            "ln",
            vectors::LN,
            logitkit::ln,
            logitkit::ln_in_place,
            logitkit::ln_into,
            logitkit::ln_lane::<f32>,
        ),
        (
            "ln_1p",
            vectors::LN_1P,
            logitkit::ln_1p,
            logitkit::ln_1p_in_place,
            logitkit::ln_1p_into,
            logitkit::ln_1p_lane::<f32>,
        ),
        (
            "sigmoid",
            vectors::SIGMOID,
            logitkit::sigmoid,
            logitkit::sigmoid_in_place,
            logitkit::sigmoid_into,
            logitkit::sigmoid_lane::<f32>,
        ),
        (
            "softplus",
            vectors::SOFTPLUS,
            logitkit::softplus,
            logitkit::softplus_in_place,
            logitkit::softplus_into,
            logitkit::softplus_lane::<f32>,
        ),
        (
            "log_sigmoid",
            vectors::LOG_SIGMOID,
            logitkit::log_sigmoid,
            logitkit::log_sigmoid_in_place,
            logitkit::log_sigmoid_into,
            logitkit::log_sigmoid_lane::<f32>,
        ),
    ];
    let mut out: Families = Default::default();
    for ((name, cases, scalar, in_place, into, lane), slot) in table.into_iter().zip(&mut out) {
        let mut f = Family::new(name);
        let mut xs = [0.0f32; 160];
        let mut ys = [0.0f32; 160];
        let n = cases.len().min(xs.len());
        f.expect("vector count", "", cases.len() <= xs.len());
        for (x, c) in xs.iter_mut().zip(cases) {
            *x = c.x;
        }
        let mut inplace = xs;
        in_place(black_box(&mut inplace[..n]));
        let into_ok = into(black_box(&xs[..n]), &mut ys[..n]).is_ok();
        f.expect("_into", "Ok", into_ok);
        for (i, c) in cases.iter().enumerate().take(n) {
            let s = scalar(black_box(c.x));
            f.check("scalar", "", i, s, &c.r);
            f.check("_in_place", "", i, inplace[i], &c.r);
            f.check("_into", "", i, ys[i], &c.r);
            f.check("_lane::<f32>", "", i, lane(black_box(c.x)), &c.r);
        }
        *slot = Some(f);
    }
    out
}

fn log_sum_exp() -> Families {
    let mut f = Family::new("log_sum_exp");
    for c in vectors::ROWS {
        f.check("", c.name, 0, logitkit::log_sum_exp(black_box(c.z)), &c.lse);
    }
    one(f)
}

/// The streaming state: extend + push + merge at every split point, in both
/// orders, against the one-pass reference.
fn streaming() -> Families {
    let mut f = Family::new("LogSumExp");
    for c in vectors::ROWS {
        for split in 0..=c.z.len() {
            let (a, b) = c.z.split_at(split);
            let mut left = LogSumExp::new();
            left.extend(black_box(a));
            let mut right = LogSumExp::default();
            for &x in b {
                right.push(black_box(x));
            }
            let mut ab = left;
            ab.merge(&right);
            f.check("extend+merge(push)", c.name, split, ab.value(), &c.lse);
            right.merge(&left);
            f.check("push+merge(extend)", c.name, split, right.value(), &c.lse);
        }
    }
    one(f)
}

fn check_row(f: &mut Family, what: &str, c: &RowCase, got: &[f32], want: &[R]) {
    f.expect(what, c.name, got.len() == want.len());
    for (i, (g, r)) in got.iter().zip(want).enumerate() {
        f.check(what, c.name, i, *g, r);
    }
}

fn softmax() -> Families {
    let mut f = Family::new("softmax");
    for c in vectors::ROWS {
        let n = c.z.len();
        let mut out = [0.0f32; ROW];
        let ok = logitkit::softmax(black_box(c.z), &mut out[..n]).is_ok();
        f.expect("Ok", c.name, ok);
        check_row(&mut f, "softmax", c, &out[..n], c.softmax);
        let mut inplace = [0.0f32; ROW];
        inplace[..n].copy_from_slice(c.z);
        logitkit::softmax_in_place(black_box(&mut inplace[..n]));
        check_row(&mut f, "softmax_in_place", c, &inplace[..n], c.softmax);
    }
    one(f)
}

fn log_softmax() -> Families {
    let mut f = Family::new("log_softmax");
    for c in vectors::ROWS {
        let n = c.z.len();
        let mut out = [0.0f32; ROW];
        let ok = logitkit::log_softmax(black_box(c.z), &mut out[..n]).is_ok();
        f.expect("Ok", c.name, ok);
        check_row(&mut f, "log_softmax", c, &out[..n], c.log_softmax);
        let mut inplace = [0.0f32; ROW];
        inplace[..n].copy_from_slice(c.z);
        logitkit::log_softmax_in_place(black_box(&mut inplace[..n]));
        check_row(
            &mut f,
            "log_softmax_in_place",
            c,
            &inplace[..n],
            c.log_softmax,
        );
    }
    one(f)
}

fn cross_entropy() -> Families {
    let mut f = Family::new("softmax_cross_entropy_with_grad");
    for c in vectors::ROWS {
        let n = c.z.len();
        let mut grad = [0.0f32; ROW];
        let r = logitkit::softmax_cross_entropy_with_grad(black_box(c.z), c.target, &mut grad[..n]);
        let loss_only = logitkit::softmax_cross_entropy(black_box(c.z), c.target);
        check_loss_row(&mut f, c, r, &grad[..n], loss_only, &c.loss, c.grad);
    }
    one(f)
}

fn probs() -> Families {
    let mut f = Family::new("softmax_cross_entropy_probs");
    for c in vectors::ROWS {
        let n = c.z.len();
        let mut grad = [0.0f32; ROW];
        let r =
            logitkit::softmax_cross_entropy_probs_with_grad(black_box(c.z), c.q, &mut grad[..n]);
        let loss_only = logitkit::softmax_cross_entropy_probs(black_box(c.z), c.q);
        check_loss_row(
            &mut f,
            c,
            r,
            &grad[..n],
            loss_only,
            &c.probs_loss,
            c.probs_grad,
        );
    }
    one(f)
}

/// One cross-entropy row: the with-gradient call's loss and gradient and the
/// loss-only call's loss against `loss` and `want_grad`.
fn check_loss_row(
    f: &mut Family,
    c: &RowCase,
    with_grad: Result<f32, Error>,
    grad: &[f32],
    loss_only: Result<f32, Error>,
    loss: &R,
    want_grad: &[R],
) {
    match with_grad {
        Ok(got) => {
            f.check("loss", c.name, 0, got, loss);
            check_row(f, "grad", c, grad, want_grad);
        }
        Err(_) => f.expect("Ok", c.name, false),
    }
    match loss_only {
        Ok(got) => f.check("loss-only", c.name, 0, got, loss),
        Err(_) => f.expect("loss-only Ok", c.name, false),
    }
}

/// Two rows of equal width as one batch with `Reduction::Sum` and default
/// options: each row's loss and gradient are the single-row references.
fn batch() -> Families {
    let mut f = Family::new("softmax_cross_entropy_batch");
    let rows = vectors::ROWS;
    for (i, a) in rows.iter().enumerate() {
        for b in rows.iter().skip(i + 1) {
            let n = a.z.len();
            if b.z.len() != n || 2 * n > 2 * ROW {
                continue;
            }
            let name = b.name;
            let mut logits = [0.0f32; 2 * ROW];
            logits[..n].copy_from_slice(a.z);
            logits[n..2 * n].copy_from_slice(b.z);
            let opts = CrossEntropyOptions {
                reduction: Reduction::Sum,
                ..Default::default()
            };
            let mut grad = [0.0f32; 2 * ROW];
            let mut per_row = [0.0f32; 2];
            let targets = [a.target, b.target];
            match logitkit::softmax_cross_entropy_batch_with_grad(
                black_box(&logits[..2 * n]),
                &targets,
                &opts,
                &mut grad[..2 * n],
                Some(&mut per_row),
            ) {
                Ok(total) => {
                    f.check("row 0 loss", a.name, 0, per_row[0], &a.loss);
                    f.check("row 1 loss", name, 1, per_row[1], &b.loss);
                    check_row(&mut f, "row 0 grad", a, &grad[..n], a.grad);
                    check_row(&mut f, "row 1 grad", b, &grad[n..2 * n], b.grad);
                    let want = R::new(a.loss.want + b.loss.want, a.loss.tol + b.loss.tol);
                    f.check("sum", name, 0, total, &want);
                }
                Err(_) => f.expect("Ok", name, false),
            }
            let loss_only =
                logitkit::softmax_cross_entropy_batch(&logits[..2 * n], &targets, &opts, None);
            let want = R::new(a.loss.want + b.loss.want, a.loss.tol + b.loss.tol);
            match loss_only {
                Ok(total) => f.check("loss-only sum", name, 0, total, &want),
                Err(_) => f.expect("loss-only Ok", name, false),
            }
        }
    }
    one(f)
}

/// `FixedRow` on arrays (for the row lengths that have one) and on
/// `heapless::Vec` (every row).
fn fixed_rows() -> Families {
    let mut arrays = Family::new("FixedRow [f32; N]");
    let mut vecs = Family::new("FixedRow heapless::Vec");
    for c in vectors::ROWS {
        if let Ok(row) = <[f32; 3]>::try_from(c.z) {
            fixed_row(&mut arrays, c, &row);
        }
        if let Ok(row) = <[f32; 17]>::try_from(c.z) {
            fixed_row(&mut arrays, c, &row);
        }
        if let Ok(row) = <[f32; 40]>::try_from(c.z) {
            fixed_row(&mut arrays, c, &row);
        }
        match Vec::<f32, ROW>::from_slice(c.z) {
            Ok(row) => fixed_row(&mut vecs, c, &row),
            Err(_) => vecs.expect("fits", c.name, false),
        }
    }
    let oob = [1.0f32, 2.0].softmax_cross_entropy_with_grad(black_box(2));
    arrays.expect("Err(ClassOutOfRange)", "[f32; 2] target 2", oob.is_err());
    let empty: Vec<f32, 4> = Vec::new();
    let e = empty.softmax_cross_entropy(black_box(0));
    vecs.expect("Err(ClassOutOfRange)", "empty Vec", e.is_err());
    [Some(arrays), Some(vecs), None, None, None, None]
}

fn fixed_row<T>(f: &mut Family, c: &RowCase, row: &T)
where
    T: FixedRow + AsRef<[f32]>,
{
    f.check(
        "log_sum_exp",
        c.name,
        0,
        black_box(row).log_sum_exp(),
        &c.lse,
    );
    check_row(f, "softmax", c, row.softmax().as_ref(), c.softmax);
    check_row(
        f,
        "log_softmax",
        c,
        row.log_softmax().as_ref(),
        c.log_softmax,
    );
    match row.softmax_cross_entropy_with_grad(c.target) {
        Ok((loss, grad)) => {
            f.check("ce loss", c.name, 0, loss, &c.loss);
            check_row(f, "ce grad", c, grad.as_ref(), c.grad);
        }
        Err(_) => f.expect("ce Ok", c.name, false),
    }
    match row.softmax_cross_entropy(c.target) {
        Ok(loss) => f.check("ce loss-only", c.name, 0, loss, &c.loss),
        Err(_) => f.expect("ce loss-only Ok", c.name, false),
    }
}

fn bce() -> Families {
    let mut f = Family::new("bce_with_logits_with_grad");
    for c in vectors::BCE {
        let opts = BceOptions {
            pos_weight: match c.pos_weight {
                [] => PosWeight::None,
                [p] => PosWeight::All(*p),
                ps => PosWeight::PerOutput(ps),
            },
            weights: match c.weights {
                None => ElementWeights::None,
                Some(w) if c.weights_per_output => ElementWeights::PerOutput(w),
                Some(w) => ElementWeights::PerElement(w),
            },
            label_smoothing: c.label_smoothing,
            reduction: reduction(c.sum),
        };
        let with_grad = |grad: &mut [f32], per: &mut [f32]| {
            logitkit::bce_with_logits_with_grad(black_box(c.z), c.y, &opts, grad, Some(per))
        };
        let loss_only = logitkit::bce_with_logits(black_box(c.z), c.y, &opts, None);
        elementwise_case(
            &mut f,
            c.name,
            c.z.len(),
            with_grad,
            loss_only,
            (&c.total, c.loss, c.grad),
        );
    }
    one(f)
}

fn focal() -> Families {
    let mut f = Family::new("sigmoid_focal_loss_with_grad");
    for c in vectors::FOCAL {
        let opts = FocalOptions {
            gamma: c.gamma,
            alpha: c.alpha,
            reduction: reduction(c.sum),
        };
        let with_grad = |grad: &mut [f32], per: &mut [f32]| {
            logitkit::sigmoid_focal_loss_with_grad(black_box(c.z), c.y, &opts, grad, Some(per))
        };
        let loss_only = logitkit::sigmoid_focal_loss(black_box(c.z), c.y, &opts, None);
        elementwise_case(
            &mut f,
            c.name,
            c.z.len(),
            with_grad,
            loss_only,
            (&c.total, c.loss, c.grad),
        );
    }
    one(f)
}

fn reduction(sum: bool) -> Reduction {
    if sum { Reduction::Sum } else { Reduction::Mean }
}

/// One case of an elementwise loss (BCE, focal) of `n` elements: the
/// with-gradient call into row buffers, then every output against `want`
/// (reduced loss, element losses, gradient) and the loss-only total.
fn elementwise_case(
    f: &mut Family,
    name: &str,
    n: usize,
    with_grad: impl FnOnce(&mut [f32], &mut [f32]) -> Result<f32, Error>,
    loss_only: Result<f32, Error>,
    want: (&R, &[R], &[R]),
) {
    let (mut grad, mut per) = ([0.0f32; ROW], [0.0f32; ROW]);
    let n = n.min(ROW);
    let r = with_grad(&mut grad[..n], &mut per[..n]);
    let (total, loss, want_grad) = want;
    f.check_elementwise(
        name,
        r,
        &per[..n],
        &grad[..n],
        loss_only,
        total,
        loss,
        want_grad,
    );
}

/// Shape and parameter errors are `Err`, and nothing panics.
fn errors() -> Families {
    let mut f = Family::new("Err on bad shapes");
    let z = black_box([1.0f32, 2.0, 3.0]);
    let mut two = [0.0f32; 2];
    let mismatch = |r: Result<(), Error>| matches!(r, Err(Error::LengthMismatch { .. }));
    let mismatch32 = |r: Result<f32, Error>| matches!(r, Err(Error::LengthMismatch { .. }));
    f.expect(
        "exp_into 3→2",
        "",
        mismatch(logitkit::exp_into(&z, &mut two)),
    );
    f.expect("ln_into 3→2", "", mismatch(logitkit::ln_into(&z, &mut two)));
    f.expect(
        "ln_1p_into 3→2",
        "",
        mismatch(logitkit::ln_1p_into(&z, &mut two)),
    );
    f.expect(
        "sigmoid_into",
        "",
        mismatch(logitkit::sigmoid_into(&z, &mut two)),
    );
    f.expect(
        "softplus_into",
        "",
        mismatch(logitkit::softplus_into(&z, &mut two)),
    );
    f.expect("softmax 3→2", "", mismatch(logitkit::softmax(&z, &mut two)));
    f.expect(
        "log_softmax 3→2",
        "",
        mismatch(logitkit::log_softmax(&z, &mut two)),
    );
    let sb = logitkit::softmax_backward(&z, &[1.0, 0.0], &mut two);
    f.expect("softmax_backward", "", mismatch(sb));
    let ce = logitkit::softmax_cross_entropy_with_grad(&z, 0, &mut two);
    f.expect("ce grad 3→2", "", mismatch32(ce));
    let ce = logitkit::softmax_cross_entropy_with_grad(&z, black_box(3), &mut [0.0; 3]);
    f.expect(
        "ce class 3 of 3",
        "",
        matches!(ce, Err(Error::ClassOutOfRange { .. })),
    );
    let ce = logitkit::softmax_cross_entropy(&[], black_box(0));
    f.expect(
        "ce empty row",
        "",
        matches!(ce, Err(Error::ClassOutOfRange { .. })),
    );
    let p = logitkit::softmax_cross_entropy_probs(&z, &[0.5, 0.5]);
    f.expect("probs 3 vs 2", "", mismatch32(p));
    let p = logitkit::softmax_cross_entropy_probs(&z, &[0.5, -0.5, 1.0]);
    f.expect(
        "probs < 0",
        "",
        matches!(p, Err(Error::InvalidParameter { .. })),
    );
    let opts = CrossEntropyOptions::default();
    let b = logitkit::softmax_cross_entropy_batch(&z, &[0, 1], &opts, None);
    f.expect(
        "batch 3 logits / 2 rows",
        "",
        matches!(b, Err(Error::NotWholeRows { rows: 2, found: 3 })),
    );
    let bad = CrossEntropyOptions {
        label_smoothing: 1.5,
        ..Default::default()
    };
    let b = logitkit::softmax_cross_entropy_batch(&z, &[0], &bad, None);
    f.expect(
        "label_smoothing 1.5",
        "",
        matches!(b, Err(Error::InvalidParameter { .. })),
    );
    let bce = logitkit::bce_with_logits(&z, &[1.0, 0.0], &BceOptions::default(), None);
    f.expect("bce labels 3 vs 2", "", mismatch32(bce));
    let bce = logitkit::bce_with_logits_with_grad(
        &z,
        &[1.0, 0.0, 1.0],
        &BceOptions::default(),
        &mut two,
        None,
    );
    f.expect("bce grad 3→2", "", mismatch32(bce));
    let neg = BceOptions {
        pos_weight: PosWeight::All(-1.0),
        ..Default::default()
    };
    let bce = logitkit::bce_with_logits(&z, &[1.0, 0.0, 1.0], &neg, None);
    f.expect(
        "bce pos_weight -1",
        "",
        matches!(bce, Err(Error::InvalidParameter { .. })),
    );
    let fo = FocalOptions {
        gamma: -1.0,
        ..Default::default()
    };
    let fl = logitkit::sigmoid_focal_loss(&z, &[1.0, 0.0, 1.0], &fo, None);
    f.expect(
        "focal gamma -1",
        "",
        matches!(fl, Err(Error::InvalidParameter { .. })),
    );
    let fl = logitkit::sigmoid_focal_loss(&z, &[1.0], &FocalOptions::default(), None);
    f.expect("focal labels 3 vs 1", "", mismatch32(fl));
    one(f)
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    eprintln!("HardFault at pc {:#010x}", ef.pc());
    process::exit(2)
}
