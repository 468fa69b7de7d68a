//! The fixed-size front ends (`[f32; N]`, `heapless::Vec<f32, N>`) give the
//! same bits and the same errors as the slice kernels.

use super::assert_same_bits;
use super::input::Input;
use logitkit::FixedRow;

/// Every FixedRow method against its slice kernel.
fn same_as_slices<R: FixedRow + AsRef<[f32]>>(row: &R, target: usize) {
    let xs = row.as_ref();
    let n = xs.len();
    let lse = logitkit::log_sum_exp(xs);
    assert_eq!(row.log_sum_exp().to_bits(), lse.to_bits(), "log_sum_exp");
    let mut out = vec![0.0; n];
    logitkit::softmax(xs, &mut out).expect("equal lengths");
    assert_same_bits("softmax", row.softmax().as_ref(), &out);
    logitkit::log_softmax(xs, &mut out).expect("equal lengths");
    assert_same_bits("log_softmax", row.log_softmax().as_ref(), &out);
    let loss = logitkit::softmax_cross_entropy(xs, target);
    let fixed_loss = row.softmax_cross_entropy(target);
    assert_eq!(
        fixed_loss.map(f32::to_bits),
        loss.map(f32::to_bits),
        "softmax_cross_entropy"
    );
    let mut grad = vec![0.0; n];
    let with_grad = logitkit::softmax_cross_entropy_with_grad(xs, target, &mut grad);
    match (row.softmax_cross_entropy_with_grad(target), with_grad) {
        (Ok((l, g)), Ok(want)) => {
            assert_eq!(
                l.to_bits(),
                want.to_bits(),
                "softmax_cross_entropy_with_grad loss"
            );
            assert_same_bits("softmax_cross_entropy_with_grad grad", g.as_ref(), &grad);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "errors differ"),
        (a, b) => panic!("fixed is_ok {} vs slice {b:?}", a.is_ok()),
    }
}

fn array<const N: usize>(input: &mut Input) {
    let row: [f32; N] = input.row(N).try_into().expect("N values");
    let target = input.below(N + 2);
    same_as_slices(&row, target);
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    match input.byte() % 12 {
        0 => array::<0>(&mut input),
        1 => array::<1>(&mut input),
        2 => array::<2>(&mut input),
        3 => array::<3>(&mut input),
        4 => array::<7>(&mut input),
        5 => array::<8>(&mut input),
        6 => array::<10>(&mut input),
        7 => array::<17>(&mut input),
        8 => array::<33>(&mut input),
        9 => array::<100>(&mut input),
        _ => {
            let n = input.below(65);
            let values = input.row(n);
            let row: heapless::Vec<f32, 64> = heapless::Vec::from_slice(&values).expect("n ≤ 64");
            let target = input.below(n + 2);
            same_as_slices(&row, target);
        }
    }
}
