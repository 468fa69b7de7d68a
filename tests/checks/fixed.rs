//! The fixed-size front ends (`[f32; N]`, `heapless::Vec<f32, N>`) give the
//! same bits and the same errors as the slice kernels.

use super::assert_same_bits;
use super::input::Input;
use logitkit::{Error, FixedRow};

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

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
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
