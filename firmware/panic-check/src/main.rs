//! Link-time panic freedom: this binary calls every public kernel of
//! logitkit with opaque (`black_box`) inputs and lengths, and its panic
//! handler calls a function that does not exist. If any panic path survives
//! optimisation, the link fails with
//! `undefined symbol: logitkit_kernel_has_a_reachable_panic_path`.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use heapless::Vec;
use logitkit::lane::Simd;
use logitkit::{
    BceOptions, CrossEntropyOptions, ElementWeights, FixedBatch, FixedRow, FocalOptions, LogSumExp,
    PosWeight, Reduction,
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unsafe extern "C" {
        // Deliberately defined nowhere: referencing it fails the link.
        fn logitkit_kernel_has_a_reachable_panic_path() -> !;
    }
    // SAFETY: never runs; the program only links if this call is removed as
    // unreachable.
    unsafe { logitkit_kernel_has_a_reachable_panic_path() }
}

const CAP: usize = 67;

/// An opaque prefix of `buf`: the optimiser knows only that it fits.
fn slice(buf: &[f32; CAP]) -> &[f32] {
    let n = black_box(CAP).min(buf.len());
    buf.get(..n).unwrap_or(&[])
}

fn slice_mut(buf: &mut [f32; CAP]) -> &mut [f32] {
    let n = black_box(CAP).min(buf.len());
    let b = black_box(buf);
    match b.get_mut(..n) {
        Some(s) => s,
        None => &mut [],
    }
}

#[entry]
fn main() -> ! {
    let xs: [f32; CAP] = black_box([0.5; CAP]);
    let ys: [f32; CAP] = black_box([1.0; CAP]);
    let ws: [f32; CAP] = black_box([0.25; CAP]);
    let mut out = [0.0f32; CAP];
    let mut grad = [0.0f32; CAP];
    let mut per = [0.0f32; CAP];
    let x = black_box(0.75f32);

    // Lane math: scalar, lane, in place, into.
    black_box(logitkit::exp(x));
    black_box(logitkit::ln(x));
    black_box(logitkit::ln_1p(x));
    black_box(logitkit::exp_lane::<f32>(x));
    black_box(logitkit::ln_lane::<f32>(x));
    black_box(logitkit::ln_1p_lane::<f32>(x));
    black_box(logitkit::exp_lane::<Simd>(black_box(x as Simd)));
    black_box(logitkit::ln_lane::<Simd>(black_box(x as Simd)));
    black_box(logitkit::ln_1p_lane::<Simd>(black_box(x as Simd)));
    logitkit::exp_in_place(slice_mut(&mut out));
    logitkit::ln_in_place(slice_mut(&mut out));
    logitkit::ln_1p_in_place(slice_mut(&mut out));
    black_box(logitkit::exp_into(slice(&xs), slice_mut(&mut out))).ok();
    black_box(logitkit::ln_into(slice(&xs), slice_mut(&mut out))).ok();
    black_box(logitkit::ln_1p_into(slice(&xs), slice_mut(&mut out))).ok();

    // Sigmoid family.
    black_box(logitkit::sigmoid(x));
    black_box(logitkit::softplus(x));
    black_box(logitkit::log_sigmoid(x));
    black_box(logitkit::sigmoid_lane::<f32>(x));
    black_box(logitkit::softplus_lane::<f32>(x));
    black_box(logitkit::log_sigmoid_lane::<f32>(x));
    logitkit::sigmoid_in_place(slice_mut(&mut out));
    logitkit::softplus_in_place(slice_mut(&mut out));
    logitkit::log_sigmoid_in_place(slice_mut(&mut out));
    black_box(logitkit::sigmoid_into(slice(&xs), slice_mut(&mut out))).ok();
    black_box(logitkit::softplus_into(slice(&xs), slice_mut(&mut out))).ok();
    black_box(logitkit::log_sigmoid_into(slice(&xs), slice_mut(&mut out))).ok();
    let b = logitkit::sigmoid_backward(slice(&xs), slice(&ys), slice_mut(&mut out));
    black_box(b).ok();
    let b = logitkit::softplus_backward(slice(&xs), slice(&ys), slice_mut(&mut out));
    black_box(b).ok();
    let b = logitkit::log_sigmoid_backward(slice(&xs), slice(&ys), slice_mut(&mut out));
    black_box(b).ok();

    // Softmax family.
    black_box(logitkit::log_sum_exp(slice(&xs)));
    let mut state = black_box(LogSumExp::new());
    state.push(x);
    state.extend(slice(&xs));
    let other = black_box(LogSumExp::default());
    state.merge(&other);
    black_box(state.value());
    black_box(logitkit::softmax(slice(&xs), slice_mut(&mut out))).ok();
    black_box(logitkit::log_softmax(slice(&xs), slice_mut(&mut out))).ok();
    logitkit::softmax_in_place(slice_mut(&mut out));
    logitkit::log_softmax_in_place(slice_mut(&mut out));
    let b = logitkit::softmax_backward(slice(&xs), slice(&ys), slice_mut(&mut out));
    black_box(b).ok();
    let b = logitkit::log_softmax_backward(slice(&xs), slice(&ys), slice_mut(&mut out));
    black_box(b).ok();
    // The rows forms, with a class count that need not divide the length.
    let c = black_box(5usize);
    black_box(logitkit::softmax_rows(slice(&xs), c, slice_mut(&mut out))).ok();
    black_box(logitkit::log_softmax_rows(
        slice(&xs),
        c,
        slice_mut(&mut out),
    ))
    .ok();
    black_box(logitkit::softmax_rows_in_place(slice_mut(&mut out), c)).ok();
    black_box(logitkit::log_softmax_rows_in_place(slice_mut(&mut out), c)).ok();
    black_box(logitkit::log_sum_exp_rows(
        slice(&xs),
        c,
        slice_mut(&mut per),
    ))
    .ok();
    let b = logitkit::softmax_backward_rows(slice(&xs), slice(&ys), c, slice_mut(&mut out));
    black_box(b).ok();
    let b = logitkit::log_softmax_backward_rows(slice(&xs), slice(&ys), c, slice_mut(&mut out));
    black_box(b).ok();
    black_box(logitkit::argmax(slice(&xs)));
    let mut classes_of = black_box([0usize; 8]);
    black_box(logitkit::argmax_rows(slice(&xs), c, &mut classes_of)).ok();

    // Cross-entropy: class, probability and batch forms, every option.
    let t = black_box(3usize);
    let l = logitkit::softmax_cross_entropy_with_grad(slice(&xs), t, slice_mut(&mut grad));
    black_box(l).ok();
    black_box(logitkit::softmax_cross_entropy(slice(&xs), t)).ok();
    let l = logitkit::softmax_cross_entropy_probs_with_grad(
        slice(&xs),
        slice(&ys),
        slice_mut(&mut grad),
    );
    black_box(l).ok();
    black_box(logitkit::softmax_cross_entropy_probs(
        slice(&xs),
        slice(&ys),
    ))
    .ok();
    let targets: [usize; 4] = black_box([0, 5, 1, 7]);
    let rows = black_box(4usize).min(targets.len());
    let targets = targets.get(..rows).unwrap_or(&[]);
    let weights = slice(&ws);
    let classes = black_box(16usize).min(weights.len());
    let opts = black_box(CrossEntropyOptions {
        label_smoothing: 0.1,
        class_weights: weights.get(..classes),
        ignore_index: Some(black_box(5)),
        reduction: black_box(Reduction::Sum),
    });
    let l = logitkit::softmax_cross_entropy_batch_with_grad(
        slice(&xs),
        targets,
        &opts,
        slice_mut(&mut grad),
        Some(slice_mut(&mut per)),
    );
    black_box(l).ok();
    let plain = black_box(CrossEntropyOptions::default());
    let l = logitkit::softmax_cross_entropy_batch(
        slice(&xs),
        targets,
        &plain,
        Some(slice_mut(&mut per)),
    );
    black_box(l).ok();
    let signed: [i64; 4] = black_box([0, -100, 1, 7]);
    let pytorch = black_box(CrossEntropyOptions {
        ignore_index: Some(-100),
        ..CrossEntropyOptions::default()
    });
    let l = logitkit::softmax_cross_entropy_batch_with_grad(
        slice(&xs),
        signed.get(..rows).unwrap_or(&[]),
        &pytorch,
        slice_mut(&mut grad),
        None,
    );
    black_box(l).ok();
    let batch: [[f32; 10]; 3] = black_box([[0.5; 10]; 3]);
    black_box(batch.softmax_rows());
    black_box(batch.log_softmax_rows());
    black_box(batch.log_sum_exp_rows());
    black_box(batch.argmax_rows());
    let batch_targets = black_box([1usize, 2, 3]);
    black_box(batch.softmax_cross_entropy_batch(&batch_targets, &plain)).ok();
    black_box(batch.softmax_cross_entropy_batch_with_grad(&batch_targets, &plain)).ok();

    // BCE with logits and focal loss, every option.
    for (pos_weight, weights) in [
        (PosWeight::None, ElementWeights::None),
        (
            PosWeight::All(black_box(3.5)),
            ElementWeights::PerElement(slice(&ws)),
        ),
        (
            PosWeight::PerOutput(slice(&ws)),
            ElementWeights::PerOutput(slice(&ws)),
        ),
    ] {
        let opts = black_box(BceOptions {
            pos_weight,
            weights: black_box(weights),
            label_smoothing: black_box(0.05),
            reduction: black_box(Reduction::Mean),
        });
        let l = logitkit::bce_with_logits_with_grad(
            slice(&xs),
            slice(&ys),
            &opts,
            slice_mut(&mut grad),
            Some(slice_mut(&mut per)),
        );
        black_box(l).ok();
        let l = logitkit::bce_with_logits(slice(&xs), slice(&ys), &opts, Some(slice_mut(&mut per)));
        black_box(l).ok();
    }
    let focal = black_box(FocalOptions {
        gamma: black_box(2.0),
        alpha: black_box(Some(0.25)),
        reduction: black_box(Reduction::Sum),
    });
    let l = logitkit::sigmoid_focal_loss_with_grad(
        slice(&xs),
        slice(&ys),
        &focal,
        slice_mut(&mut grad),
        Some(slice_mut(&mut per)),
    );
    black_box(l).ok();
    let l = logitkit::sigmoid_focal_loss(slice(&xs), slice(&ys), &focal, Some(slice_mut(&mut per)));
    black_box(l).ok();

    // Fixed-size rows: arrays and heapless::Vec.
    let row: [f32; 10] = black_box([1.5; 10]);
    fixed(&row, t);
    let mut v: Vec<f32, 12> = Vec::new();
    for &z in slice(&xs).iter().take(black_box(12)) {
        black_box(v.push(z)).ok();
    }
    fixed(&black_box(v), t);

    loop {
        core::hint::spin_loop();
    }
}

fn fixed<T: FixedRow>(row: &T, t: usize) {
    black_box(row.log_sum_exp());
    black_box(row.softmax());
    black_box(row.log_softmax());
    black_box(row.softmax_cross_entropy(t)).ok();
    black_box(row.softmax_cross_entropy_with_grad(t)).ok();
}
