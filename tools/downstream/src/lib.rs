//! logitkit's elementwise slice kernels behind a C ABI, compiled as a user's
//! library would compile them: the kernels are `#[inline]`, so they are
//! instantiated here, in this crate's codegen units, not in logitkit's.
//! `tools/downstream.sh` reads the machine code; `tools/downstream_time.py`
//! calls the elementwise functions through `ctypes`. The row kernels and
//! losses are exported too, so their machine code (compiled in logitkit's
//! own codegen units, as a user's build compiles it) is linked and checked.

/// `name(x, out, n, reps)` runs `kernel(&x[..n], &mut out[..n])` `reps` times.
macro_rules! exported {
    ($($name:ident => $kernel:path),* $(,)?) => {$(
        /// # Safety
        /// `x` and `out` point to `n` valid, non-overlapping `f32`s (the
        /// only way to hand a slice over a C ABI; the timing script passes
        /// two arrays of its own).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(x: *const f32, out: *mut f32, n: usize, reps: usize) {
            // SAFETY: the caller's contract above.
            let (x, out) = unsafe {
                (core::slice::from_raw_parts(x, n), core::slice::from_raw_parts_mut(out, n))
            };
            for _ in 0..reps {
                // Equal lengths by construction: the result is always Ok.
                let _ = $kernel(core::hint::black_box(x), out);
            }
        }
    )*};
}

exported! {
    exp_slice => logitkit::exp_into,
    ln_slice => logitkit::ln_into,
    ln_1p_slice => logitkit::ln_1p_into,
    sigmoid_slice => logitkit::sigmoid_into,
    softplus_slice => logitkit::softplus_into,
    log_sigmoid_slice => logitkit::log_sigmoid_into,
}

/// Row kernels and losses over one batch of `rows × classes` logits
/// (`grad` as long as `x`, `targets` one class per row, `labels` and
/// `weights` as long as `x` and `classes`), every option set, each
/// result added to the return value: linked for `tools/downstream.sh`.
///
/// # Safety
/// As for the slice functions: each pointer points to the stated number of
/// valid `f32`s (`u32`s for `targets`), `grad` overlapping none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rows_and_losses(
    x: *const f32,
    labels: *const f32,
    targets: *const u32,
    weights: *const f32,
    grad: *mut f32,
    rows: usize,
    classes: usize,
) -> f32 {
    let n = rows * classes;
    // SAFETY: the caller's contract above.
    let (x, labels, targets, weights, grad) = unsafe {
        (
            core::slice::from_raw_parts(x, n),
            core::slice::from_raw_parts(labels, n),
            core::slice::from_raw_parts(targets, rows),
            core::slice::from_raw_parts(weights, classes),
            core::slice::from_raw_parts_mut(grad, n),
        )
    };
    let options = logitkit::CrossEntropyOptions {
        label_smoothing: 0.1,
        class_weights: Some(weights),
        ignore_index: Some(0),
        ..Default::default()
    };
    let mut total = logitkit::log_sum_exp(x);
    total += logitkit::softmax(x, grad).map_or(0.0, |_| grad[0]);
    total += logitkit::log_softmax(x, grad).map_or(0.0, |_| grad[0]);
    total += logitkit::softmax_rows(x, classes, grad).map_or(0.0, |_| grad[0]);
    total += logitkit::log_softmax_rows(x, classes, grad).map_or(0.0, |_| grad[0]);
    let first = targets.first().map_or(0, |&t| t as usize);
    let row = x.get(..classes).unwrap_or(x);
    let row_grad = grad.get_mut(..row.len()).unwrap_or(&mut []);
    total += logitkit::softmax_cross_entropy_with_grad(row, first, row_grad).unwrap_or(0.0);
    for opts in [logitkit::CrossEntropyOptions::default(), options] {
        total += logitkit::softmax_cross_entropy_batch_with_grad(x, targets, &opts, grad, None)
            .unwrap_or(0.0);
    }
    total += logitkit::bce_with_logits_with_grad(x, labels, &Default::default(), grad, None)
        .unwrap_or(0.0);
    total += logitkit::sigmoid_focal_loss_with_grad(x, labels, &Default::default(), grad, None)
        .unwrap_or(0.0);
    total
}
