//! The fixed-size front ends (`[f32; N]`, `heapless::Vec<f32, N>`,
//! `[[f32; C]; R]`) give the same bits and the same errors as the slice
//! kernels.

use super::assert_same_bits;
use super::input::Input;
use logitkit::{CrossEntropyOptions, Error, FixedBatch, FixedRow, Reduction};

/// What the `FixedRow` methods of one row return, as slices.
struct Outputs {
    log_sum_exp: f32,
    softmax: Vec<f32>,
    log_softmax: Vec<f32>,
    loss: Result<f32, Error>,
    with_grad: Result<(f32, Vec<f32>), Error>,
}

/// Every `FixedRow` method of `row`: the only code instantiated per row
/// type, so that covering every array length stays cheap to compile.
fn outputs<R: FixedRow + AsRef<[f32]>>(row: &R, target: usize) -> Outputs {
    Outputs {
        log_sum_exp: row.log_sum_exp(),
        softmax: row.softmax().as_ref().to_vec(),
        log_softmax: row.log_softmax().as_ref().to_vec(),
        loss: row.softmax_cross_entropy(target),
        with_grad: row
            .softmax_cross_entropy_with_grad(target)
            .map(|(loss, grad)| (loss, grad.as_ref().to_vec())),
    }
}

/// The outputs of the fixed-size row `xs` against the slice kernels.
fn same_as_slices(xs: &[f32], target: usize, fixed: Outputs) {
    let n = xs.len();
    let lse = logitkit::log_sum_exp(xs);
    assert_eq!(fixed.log_sum_exp.to_bits(), lse.to_bits(), "log_sum_exp");
    let mut out = vec![0.0; n];
    logitkit::softmax(xs, &mut out).expect("equal lengths");
    assert_same_bits("softmax", &fixed.softmax, &out);
    logitkit::log_softmax(xs, &mut out).expect("equal lengths");
    assert_same_bits("log_softmax", &fixed.log_softmax, &out);
    let loss = logitkit::softmax_cross_entropy(xs, target);
    assert_eq!(
        fixed.loss.map(f32::to_bits),
        loss.map(f32::to_bits),
        "softmax_cross_entropy"
    );
    let mut grad = vec![0.0; n];
    let with_grad = logitkit::softmax_cross_entropy_with_grad(xs, target, &mut grad);
    match (fixed.with_grad, with_grad) {
        (Ok((l, g)), Ok(want)) => {
            assert_eq!(
                l.to_bits(),
                want.to_bits(),
                "softmax_cross_entropy_with_grad loss"
            );
            assert_same_bits("softmax_cross_entropy_with_grad grad", &g, &grad);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "errors differ"),
        (a, b) => panic!("fixed is_ok {} vs slice {b:?}", a.is_ok()),
    }
}

fn array<const N: usize>(input: &mut Input) {
    let row: [f32; N] = input.row(N).try_into().expect("N values");
    let target = input.below(N + 2);
    same_as_slices(&row, target, outputs(&row, target));
}

/// Calls `array::<N>` for the N read at run time, for every N in the list
/// (one monomorphization each).
macro_rules! array_of_len {
    ($n:expr, $input:expr; $($len:literal)*) => {
        match $n {
            $($len => array::<$len>($input),)*
            n => unreachable!("no array length {n}"),
        }
    };
}

/// A fixed-size batch `[[f32; C]; R]` against the slice rows forms.
fn batch<const C: usize, const R: usize>(input: &mut Input) {
    let values = input.row(C * R);
    let mut logits = [[0.0f32; C]; R];
    logits.as_flattened_mut().copy_from_slice(&values);
    let targets: [usize; R] = core::array::from_fn(|_| input.below(C + 1));
    let n = C * R;
    let mut out = vec![0.0; n];
    logitkit::softmax_rows(&values, C, &mut out).expect("whole rows");
    assert_same_bits("softmax_rows", logits.softmax_rows().as_flattened(), &out);
    logitkit::log_softmax_rows(&values, C, &mut out).expect("whole rows");
    assert_same_bits(
        "log_softmax_rows",
        logits.log_softmax_rows().as_flattened(),
        &out,
    );
    let mut lse = [0.0; R];
    if C > 0 {
        logitkit::log_sum_exp_rows(&values, C, &mut lse).expect("whole rows");
        assert_same_bits("log_sum_exp_rows", &logits.log_sum_exp_rows(), &lse);
    }
    let options = CrossEntropyOptions::default();
    let mut per_row = [0.0; R];
    let want =
        logitkit::softmax_cross_entropy_batch(&values, &targets, &options, Some(&mut per_row));
    match (logits.softmax_cross_entropy_batch(&targets, &options), want) {
        (Ok((l, rows)), Ok(w)) => {
            assert_eq!(l.to_bits(), w.to_bits(), "batch loss");
            assert_same_bits("batch per-row losses", &rows, &per_row);
        }
        (a, b) => assert_eq!(a.err(), b.err(), "batch errors"),
    }
    let want = logitkit::softmax_cross_entropy_batch_with_grad(
        &values, &targets, &options, &mut out, None,
    );
    match (
        logits.softmax_cross_entropy_batch_with_grad(&targets, &options),
        want,
    ) {
        (Ok((l, g)), Ok(w)) => {
            assert_eq!(l.to_bits(), w.to_bits(), "batch loss with grad");
            assert_same_bits("batch gradient", g.as_flattened(), &out);
        }
        (a, b) => assert_eq!(a.err(), b.err(), "batch errors"),
    }
    // Probability targets, decoded after the rest so the committed inputs
    // keep their meaning for it.
    let mut probs = [[0.0f32; C]; R];
    for q in probs.as_flattened_mut() {
        *q = if input.byte() < 4 { -1.0 } else { input.unit() };
    }
    let options = CrossEntropyOptions {
        label_smoothing: if input.flag() { 0.0 } else { input.unit() },
        reduction: if input.flag() {
            Reduction::Mean
        } else {
            Reduction::Sum
        },
        ..options
    };
    let mut per_row = [0.0; R];
    let want = logitkit::softmax_cross_entropy_probs_batch(
        &values,
        probs.as_flattened(),
        C,
        &options,
        Some(&mut per_row),
    );
    match (
        logits.softmax_cross_entropy_probs_batch(&probs, &options),
        want,
    ) {
        (Ok((l, rows)), Ok(w)) => {
            assert_eq!(l.to_bits(), w.to_bits(), "probability batch loss");
            assert_same_bits("probability batch per-row losses", &rows, &per_row);
        }
        (a, b) => assert_eq!(a.err(), b.err(), "probability batch errors"),
    }
    let want = logitkit::softmax_cross_entropy_probs_batch_with_grad(
        &values,
        probs.as_flattened(),
        C,
        &options,
        &mut out,
        None,
    );
    match (
        logits.softmax_cross_entropy_probs_batch_with_grad(&probs, &options),
        want,
    ) {
        (Ok((l, g)), Ok(w)) => {
            assert_eq!(l.to_bits(), w.to_bits(), "probability batch loss with grad");
            assert_same_bits("probability batch gradient", g.as_flattened(), &out);
        }
        (a, b) => assert_eq!(a.err(), b.err(), "probability batch errors"),
    }
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    if input.byte().is_multiple_of(5) {
        // Fixed-size batches: empty, short and long rows, one row and many.
        match input.below(6) {
            0 => batch::<0, 3>(&mut input),
            1 => batch::<1, 1>(&mut input),
            2 => batch::<3, 9>(&mut input),
            3 => batch::<10, 17>(&mut input),
            4 => batch::<16, 8>(&mut input),
            _ => batch::<33, 5>(&mut input),
        }
        return;
    }
    if input.byte().is_multiple_of(6) {
        let n = input.below(65);
        let values = input.row(n);
        let row: heapless::Vec<f32, 64> = heapless::Vec::from_slice(&values).expect("n ≤ 64");
        let target = input.below(n + 2);
        same_as_slices(&row, target, outputs(&row, target));
    } else {
        // `[f32; N]` for every N = 0…100 (docs/fuzzing.md).
        let n = input.below(101);
        array_of_len!(n, &mut input;
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 100
        );
    }
}
