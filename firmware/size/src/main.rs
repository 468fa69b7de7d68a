//! The `.text` one kernel family adds: each cargo feature links one family
//! (called on opaque inputs so nothing folds away); no feature is the empty
//! baseline. `tools/code_size.sh` builds each and subtracts the baseline.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unsafe extern "C" {
        // Deliberately defined nowhere, as in firmware/panic-check: a
        // reachable panic path fails the link instead of adding size.
        fn logitkit_kernel_has_a_reachable_panic_path() -> !;
    }
    // SAFETY: never runs; the program only links if this call is removed.
    unsafe { logitkit_kernel_has_a_reachable_panic_path() }
}

/// An opaque-length prefix, sliced with `get` so no bounds-check panic of
/// this crate's own enters the measurement. Unused by the baseline build.
#[allow(dead_code)]
fn prefix(buf: &mut [f32; 32]) -> &mut [f32] {
    let n = black_box(32usize).min(buf.len());
    match buf.get_mut(..n) {
        Some(s) => s,
        None => &mut [],
    }
}

#[entry]
fn main() -> ! {
    // Filled in place and then made opaque through a reference: passing the
    // arrays through `black_box` by value copied them, and where LLVM made
    // that copy a call, `memcpy` (about 900 bytes) counted as the kernel's.
    let mut xs = [0.5f32; 32];
    let mut ys = [1.0f32; 32];
    let mut grad = [0.0f32; 32];
    black_box((&mut xs, &mut ys, &mut grad));
    let t = black_box(3usize);
    let _ = (&mut xs, &mut ys, &mut grad, t);
    #[cfg(feature = "exp")]
    logitkit::exp_in_place(prefix(&mut xs));
    #[cfg(feature = "ln")]
    logitkit::ln_in_place(prefix(&mut xs));
    #[cfg(feature = "ln_1p")]
    logitkit::ln_1p_in_place(prefix(&mut xs));
    #[cfg(feature = "sigmoid")]
    logitkit::sigmoid_in_place(prefix(&mut xs));
    #[cfg(feature = "softplus")]
    logitkit::softplus_in_place(prefix(&mut xs));
    #[cfg(feature = "log_sum_exp")]
    black_box(logitkit::log_sum_exp(prefix(&mut xs)));
    #[cfg(feature = "log_sum_exp_stream")]
    {
        // Extend with a slice, push one value, merge two states, read.
        let mut state = logitkit::LogSumExp::new();
        state.extend(prefix(&mut xs));
        let mut other = logitkit::LogSumExp::new();
        other.push(black_box(2.5));
        state.merge(&other);
        black_box(state.value());
    }
    #[cfg(feature = "softmax")]
    logitkit::softmax_in_place(prefix(&mut xs));
    #[cfg(feature = "log_softmax")]
    logitkit::log_softmax_in_place(prefix(&mut xs));
    #[cfg(feature = "softmax_cross_entropy_with_grad")]
    black_box(logitkit::softmax_cross_entropy_with_grad(
        prefix(&mut xs),
        t,
        prefix(&mut grad),
    ))
    .ok();
    #[cfg(feature = "bce_with_logits_with_grad")]
    black_box(logitkit::bce_with_logits_with_grad(
        prefix(&mut xs),
        prefix(&mut ys),
        &logitkit::BceOptions::default(),
        prefix(&mut grad),
        None,
    ))
    .ok();
    #[cfg(feature = "sigmoid_focal_loss_with_grad")]
    black_box(logitkit::sigmoid_focal_loss_with_grad(
        prefix(&mut xs),
        prefix(&mut ys),
        &logitkit::FocalOptions::default(),
        prefix(&mut grad),
        None,
    ))
    .ok();
    #[cfg(feature = "batch_ce")]
    {
        // Four rows of eight classes, every option in play.
        let targets = black_box([1i64, -100, 7, 0]);
        let weights = black_box([1.0f32; 8]);
        let options = logitkit::CrossEntropyOptions {
            label_smoothing: black_box(0.1),
            class_weights: Some(&weights),
            ignore_index: Some(-100),
            reduction: logitkit::Reduction::Mean,
        };
        black_box(logitkit::softmax_cross_entropy_batch_with_grad(
            prefix(&mut xs),
            &targets,
            &options,
            prefix(&mut grad),
            None,
        ))
        .ok();
    }
    #[cfg(feature = "fixed_row_ce")]
    {
        // Observed through a reference: by value, the 132-byte result was
        // copied by a call to `memcpy`, which counted as the kernel's.
        let result = logitkit::FixedRow::softmax_cross_entropy_with_grad(&xs, t);
        black_box(&result);
    }
    black_box((&xs, &ys, &grad));
    loop {
        core::hint::spin_loop();
    }
}
