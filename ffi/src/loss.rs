//! Losses from logits: softmax cross-entropy (class target, probability
//! target, batches of either with PyTorch's options), binary cross-entropy with logits
//! and the sigmoid focal loss, each with and without gradient.

use logitkit::{BceOptions, CrossEntropyOptions, ElementWeights, FocalOptions, PosWeight};

use crate::raw::{Region, check, disjoint, put, slice, slice_mut};
use crate::status::{
    LK_NO_IGNORE_INDEX, LK_POS_WEIGHT_ALL, LK_POS_WEIGHT_NONE, LK_POS_WEIGHT_PER_OUTPUT,
    LK_REDUCTION_MEAN, lk_pos_weight_kind, lk_reduction, lk_status, reduction, status_of,
};

/// A copy of `*ptr`, or `None` for NULL.
///
/// # Safety
/// Unless NULL, `ptr` points to an initialised, valid `T` (a C object of
/// the matching C type) that nothing writes during the call.
unsafe fn read_options<T: Copy>(ptr: *const T) -> Result<Option<T>, lk_status> {
    // SAFETY: a non-NULL `ptr` points to one valid T (contract): the slice
    // has length 1 then and 0 for NULL. It is copied out at once.
    let one = unsafe { slice(ptr, usize::from(!ptr.is_null())) }?;
    Ok(one.first().copied())
}

/// An optional output: `None` for NULL, else `len` writable floats.
///
/// # Safety
/// Unless NULL or `len == 0`, `ptr` points to `len` floats that nothing
/// else accesses during the call.
unsafe fn optional_mut<'a>(ptr: *mut f32, len: usize) -> Result<Option<&'a mut [f32]>, lk_status> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from this function's contract.
    Ok(Some(unsafe { slice_mut(ptr, len) }?))
}

/// An optional input: `None` for NULL, else `len` readable floats.
///
/// # Safety
/// Unless NULL or `len == 0`, `ptr` points to `len` initialised floats that
/// nothing writes during the call.
unsafe fn optional<'a>(ptr: *const f32, len: usize) -> Result<Option<&'a [f32]>, lk_status> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from this function's contract.
    Ok(Some(unsafe { slice(ptr, len) }?))
}

/// The region of an optional buffer (nothing for NULL).
fn optional_region<T>(ptr: *const T, len: usize) -> Region {
    if ptr.is_null() {
        Region::NONE
    } else {
        Region::of(ptr, len)
    }
}

/// `check` for an optional buffer: NULL is fine.
fn check_optional<T>(ptr: *const T, len: usize) -> Result<(), lk_status> {
    if ptr.is_null() {
        Ok(())
    } else {
        check(ptr, len)
    }
}

// ---- softmax cross-entropy: class target --------------------------------------

/// Shared body of the class-target forms (`grad` NULL for the loss only).
///
/// # Safety
/// As the exported functions: n readable logits, n writable grad floats
/// unless NULL, one writable float at loss.
unsafe fn class_target(
    logits: *const f32,
    n: usize,
    target: usize,
    grad: *mut f32,
    loss: *mut f32,
) -> lk_status {
    status_of((|| {
        check(loss, 1)?;
        check(logits, n)?;
        check_optional(grad, n)?;
        disjoint(&[optional_region(grad, n)], &[Region::of(logits, n)])?;
        // SAFETY: n readable floats (contract); the only output, grad, is
        // disjoint from them (checked).
        let logits = unsafe { slice(logits, n) }?;
        // SAFETY: n writable floats unless NULL (contract), disjoint from
        // the logits (checked).
        let grad = unsafe { optional_mut(grad, n) }?;
        let value = match grad {
            Some(grad) => logitkit::softmax_cross_entropy_with_grad(logits, target, grad)?,
            None => logitkit::softmax_cross_entropy(logits, target)?,
        };
        // SAFETY: one writable float (contract), checked above; written last.
        unsafe { put(loss, value) }
    })())
}

/// Softmax cross-entropy of one row of n logits against class `target`:
/// writes the loss to *loss and its gradient, softmax - onehot(target), to
/// grad[0..n]. loss = (m - z_t) + ln_1p(s') with m = max z and
/// s' = sum of e^(z_i - m) over the z_i below m, plus (ties at m) - 1: every
/// term non-negative, so tiny losses keep their relative accuracy.
///
/// Accuracy ([cross_entropy] in docs/precision.toml): loss within 4 ULP +
/// 2^-22 relative, gradient within 4 ULP of max(|g_i|, 2^-24 * max|g|) +
/// 2^-21 * |g_i|, both plus n * 2^-149 (absolute, in the loss and at the
/// target's gradient only).
///
/// Special values: any NaN: loss NaN, gradient all NaN. z_t = -inf, others
/// finite: loss +inf, gradient softmax - onehot (finite). Every entry -inf:
/// loss +inf, gradient -onehot. k entries +inf with z_t among them: loss
/// ln k; with z_t not among them: loss +inf; gradient softmax - onehot.
///
/// Errors: LK_CLASS_OUT_OF_RANGE (target >= n, so n == 0 is this error),
/// LK_NULL_POINTER (loss NULL, or logits or grad NULL with n > 0),
/// LK_INVALID_PARAMETER (misaligned pointer), LK_OVERLAP (grad overlaps
/// logits: there is no in-place form).
///
/// # Safety
/// Unless n == 0, logits points to n readable floats and grad to n writable
/// floats; loss points to a writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy_with_grad(
    logits: *const f32,
    n: usize,
    target: usize,
    grad: *mut f32,
    loss: *mut f32,
) -> lk_status {
    if grad.is_null() && n > 0 {
        return lk_status::LK_NULL_POINTER;
    }
    // SAFETY: the function's contract (grad is not NULL when n > 0).
    unsafe { class_target(logits, n, target, grad, loss) }
}

/// The loss of lk_softmax_cross_entropy_with_grad without the gradient (the
/// same bits); same accuracy and special values.
///
/// Errors: LK_CLASS_OUT_OF_RANGE (target >= n), LK_NULL_POINTER (loss
/// NULL, or logits NULL with n > 0), LK_INVALID_PARAMETER (misaligned
/// pointer).
///
/// # Safety
/// Unless n == 0, logits points to n readable floats; loss points to a
/// writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy(
    logits: *const f32,
    n: usize,
    target: usize,
    loss: *mut f32,
) -> lk_status {
    // SAFETY: the function's contract; no gradient.
    unsafe { class_target(logits, n, target, core::ptr::null_mut(), loss) }
}

// ---- softmax cross-entropy: probability target ---------------------------------

/// Shared body of the probability-target forms (`grad` NULL for the loss).
///
/// # Safety
/// As the exported functions.
unsafe fn probs_target(
    logits: *const f32,
    probs: *const f32,
    n: usize,
    grad: *mut f32,
    loss: *mut f32,
) -> lk_status {
    status_of((|| {
        check(loss, 1)?;
        check(logits, n)?;
        check(probs, n)?;
        check_optional(grad, n)?;
        disjoint(
            &[optional_region(grad, n)],
            &[Region::of(logits, n), Region::of(probs, n)],
        )?;
        // SAFETY: n readable floats each (contract); the only output, grad,
        // is disjoint from both (checked).
        let logits = unsafe { slice(logits, n) }?;
        // SAFETY: as for `logits`.
        let probs = unsafe { slice(probs, n) }?;
        // SAFETY: n writable floats unless NULL (contract), disjoint from
        // the inputs (checked).
        let grad = unsafe { optional_mut(grad, n) }?;
        let value = match grad {
            Some(grad) => logitkit::softmax_cross_entropy_probs_with_grad(logits, probs, grad)?,
            None => logitkit::softmax_cross_entropy_probs(logits, probs)?,
        };
        // SAFETY: one writable float (contract), checked above; written last.
        unsafe { put(loss, value) }
    })())
}

/// Softmax cross-entropy of n logits against a probability (or any
/// non-negative) target q = probs[0..n]: loss = -sum q_i * log_softmax_i
/// (0 * inf = 0) to *loss, gradient softmax * Q - q to grad, Q = sum q.
///
/// Accuracy ([cross_entropy_probs] in docs/precision.toml): loss within
/// 4 ULP + 2^-22 relative, gradient within 4 ULP of max(|g_i|, p_i*Q, q_i)
/// + 2^-20 * p_i*Q, both plus n * 2^-149 * (1 + Q) absolute.
///
/// Special values: as lk_softmax_cross_entropy_with_grad, "the target"
/// being every class with q_i > 0: a zero target weight contributes
/// nothing, even on a -inf logit. NaN in probs gives a NaN loss.
///
/// Errors: LK_INVALID_PARAMETER (some q_i < 0 or q_i = +inf, or a
/// misaligned pointer), LK_NULL_POINTER (loss NULL, or a buffer NULL with
/// n > 0), LK_OVERLAP (grad overlaps logits or probs).
///
/// # Safety
/// Unless n == 0, logits and probs point to n readable floats each and grad
/// to n writable floats; loss points to a writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy_probs_with_grad(
    logits: *const f32,
    probs: *const f32,
    n: usize,
    grad: *mut f32,
    loss: *mut f32,
) -> lk_status {
    if grad.is_null() && n > 0 {
        return lk_status::LK_NULL_POINTER;
    }
    // SAFETY: the function's contract (grad is not NULL when n > 0).
    unsafe { probs_target(logits, probs, n, grad, loss) }
}

/// The loss of lk_softmax_cross_entropy_probs_with_grad without the
/// gradient (the same bits).
///
/// Errors: LK_INVALID_PARAMETER (some q_i < 0 or +inf, or a misaligned
/// pointer), LK_NULL_POINTER (loss NULL, or a buffer NULL with n > 0).
///
/// # Safety
/// Unless n == 0, logits and probs point to n readable floats each; loss
/// points to a writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy_probs(
    logits: *const f32,
    probs: *const f32,
    n: usize,
    loss: *mut f32,
) -> lk_status {
    // SAFETY: the function's contract; no gradient.
    unsafe { probs_target(logits, probs, n, core::ptr::null_mut(), loss) }
}

// ---- softmax cross-entropy: batch ---------------------------------------------------

/// Options of the batch cross-entropy, as PyTorch's `cross_entropy`. With
/// eps = label_smoothing, C classes, class weights w (all 1 if none) and
/// target t, a row's target distribution is
/// q_i = (1 - eps)*w_t*[i == t] + (eps/C)*w_i and its loss
/// -sum q_i * log_softmax_i. Passing NULL for the options means
/// { 0, NULL, LK_NO_IGNORE_INDEX, LK_REDUCTION_MEAN }; beware that a
/// zero-initialised struct has ignore_index 0, which ignores class 0.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lk_cross_entropy_options {
    /// eps in [0, 1]; 0 = no smoothing.
    pub label_smoothing: f32,
    /// NULL = none; else one finite, non-negative weight per class (C of
    /// them: C = n_logits / rows for the class-target batch, `classes` for
    /// the probability-target batch).
    pub class_weights: *const f32,
    /// Rows whose target equals this contribute no loss and a zero
    /// gradient; negative = none (LK_NO_IGNORE_INDEX, or PyTorch's -100).
    /// The probability-target batch takes only a negative value.
    pub ignore_index: i64,
    /// LK_REDUCTION_MEAN or LK_REDUCTION_SUM.
    pub reduction: lk_reduction,
}

/// The crate's options from the C struct: a negative ignore index is none
/// (beyond usize no target can equal it).
fn cross_entropy_options<'a>(
    opts: &lk_cross_entropy_options,
    class_weights: Option<&'a [f32]>,
    reduction: logitkit::Reduction,
) -> CrossEntropyOptions<'a> {
    CrossEntropyOptions {
        label_smoothing: opts.label_smoothing,
        class_weights,
        ignore_index: (opts.ignore_index >= 0).then_some(opts.ignore_index),
        reduction,
    }
}

const CROSS_ENTROPY_DEFAULTS: lk_cross_entropy_options = lk_cross_entropy_options {
    label_smoothing: 0.0,
    class_weights: core::ptr::null(),
    ignore_index: LK_NO_IGNORE_INDEX,
    reduction: LK_REDUCTION_MEAN,
};

/// Shared body of the batch forms (`grad` NULL for the loss only).
///
/// # Safety
/// As the exported functions.
#[allow(clippy::too_many_arguments)]
unsafe fn batch(
    logits: *const f32,
    n_logits: usize,
    targets: *const usize,
    rows: usize,
    options: *const lk_cross_entropy_options,
    grad: *mut f32,
    per_row: *mut f32,
    loss: *mut f32,
) -> lk_status {
    status_of((|| {
        check(loss, 1)?;
        check(logits, n_logits)?;
        check(targets, rows)?;
        check_optional(grad, n_logits)?;
        check_optional(per_row, rows)?;
        // SAFETY: NULL or one valid options struct (contract), copied out.
        let opts = unsafe { read_options(options) }?.unwrap_or(CROSS_ENTROPY_DEFAULTS);
        let reduction = reduction(opts.reduction)?;
        // The class weights have C = n_logits / rows elements; when the
        // logits do not split into rows, C means nothing and the kernel
        // reports LK_NOT_WHOLE_ROWS before it would look at the weights.
        let classes = n_logits.checked_div(rows).unwrap_or(0);
        let whole_rows = rows.checked_mul(classes) == Some(n_logits);
        let weights = if whole_rows {
            opts.class_weights
        } else {
            core::ptr::null()
        };
        check_optional(weights, classes)?;
        disjoint(
            &[
                optional_region(grad, n_logits),
                optional_region(per_row, rows),
            ],
            &[
                Region::of(logits, n_logits),
                Region::of(targets, rows),
                optional_region(weights, classes),
            ],
        )?;
        // SAFETY: n_logits readable floats (contract), disjoint from every
        // output (checked).
        let logits = unsafe { slice(logits, n_logits) }?;
        // SAFETY: `rows` readable size_t values (contract), disjoint from
        // every output (checked).
        let targets = unsafe { slice(targets, rows) }?;
        // SAFETY: C readable floats unless NULL (contract), disjoint from
        // every output (checked).
        let class_weights = unsafe { optional(weights, classes) }?;
        let options = cross_entropy_options(&opts, class_weights, reduction);
        // SAFETY: `rows` writable floats unless NULL (contract), disjoint
        // from the inputs and from grad (checked).
        let per_row = unsafe { optional_mut(per_row, rows) }?;
        // SAFETY: n_logits writable floats unless NULL (contract), disjoint
        // from the inputs and from per_row (checked).
        let grad = unsafe { optional_mut(grad, n_logits) }?;
        let value = match grad {
            Some(grad) => logitkit::softmax_cross_entropy_batch_with_grad(
                logits, targets, &options, grad, per_row,
            )?,
            None => logitkit::softmax_cross_entropy_batch(logits, targets, &options, per_row)?,
        };
        // SAFETY: one writable float (contract), checked above; written last.
        unsafe { put(loss, value) }
    })())
}

/// Softmax cross-entropy over a row-major batch: logits holds `rows` rows
/// (one per target) of C = n_logits / rows classes. Writes the reduced loss
/// to *loss, the gradient of that loss to grad[0..n_logits], and each row's
/// loss to per_row[0..rows] unless per_row is NULL (with LK_REDUCTION_SUM
/// that is PyTorch's reduction='none'). options: see
/// lk_cross_entropy_options (NULL = defaults).
///
/// Accuracy ([cross_entropy_batch] in docs/precision.toml): row r is the
/// probability target q = (1 - eps)*w_t*onehot(t) + (eps/C)*w, with
/// gradient g = p*sum q - q before the reduction scales it by f (1 / the
/// total target weight of the rows not ignored for the mean, 1 for the
/// sum). Each per-row loss is within the lk_softmax_cross_entropy_probs
/// bound; the reduced loss within 4 ULP + 2^-22 relative +
/// f*C*2^-149*sum_r(1 + sum q); each gradient element within 4 ULP of
/// f*max(|g_i|, p_i*sum q, q_i) + f*(2^-20 * p_i*sum q + C*2^-149*(1 + sum q)).
///
/// Domain: those bounds hold for eps, class weights and (mean) the total
/// target weight that are 0 or between 2^-60 and 2^60 (beyond, the
/// gradient loses relative accuracy but stays finite and NaN-free).
///
/// Special values: NaN stays in its row (its loss and gradient, and so the
/// reduced loss); a batch with every target ignored, or zero total weight
/// with the mean, has loss 0 and a zero gradient (per-row losses are still
/// each row's own); with eps > 0 a -inf logit makes its row's loss +inf.
///
/// Errors: LK_NOT_WHOLE_ROWS (n_logits not a multiple of rows; rows == 0
/// with n_logits > 0), LK_CLASS_OUT_OF_RANGE (a target >= C that is not the
/// ignore index), LK_INVALID_PARAMETER (eps outside [0, 1], a negative or
/// non-finite class weight, an unknown reduction, a misaligned pointer),
/// LK_NULL_POINTER (loss NULL, or logits, targets or grad NULL with a
/// non-zero length), LK_OVERLAP (grad or per_row overlaps an input or each
/// other).
///
/// # Safety
/// Unless their length is 0: logits and grad point to n_logits floats
/// (readable, writable), targets to rows readable size_t, per_row (unless
/// NULL) to rows writable floats, options->class_weights (unless NULL) to C
/// readable floats; options is NULL or points to a valid struct; loss
/// points to a writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy_batch_with_grad(
    logits: *const f32,
    n_logits: usize,
    targets: *const usize,
    rows: usize,
    options: *const lk_cross_entropy_options,
    grad: *mut f32,
    per_row: *mut f32,
    loss: *mut f32,
) -> lk_status {
    if grad.is_null() && n_logits > 0 {
        return lk_status::LK_NULL_POINTER;
    }
    // SAFETY: the function's contract (grad is not NULL when n_logits > 0).
    unsafe {
        batch(
            logits, n_logits, targets, rows, options, grad, per_row, loss,
        )
    }
}

/// The loss of lk_softmax_cross_entropy_batch_with_grad without the
/// gradient (the same bits); per-row losses still go to per_row unless it
/// is NULL.
///
/// Errors: as lk_softmax_cross_entropy_batch_with_grad.
///
/// # Safety
/// As lk_softmax_cross_entropy_batch_with_grad, without grad.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy_batch(
    logits: *const f32,
    n_logits: usize,
    targets: *const usize,
    rows: usize,
    options: *const lk_cross_entropy_options,
    per_row: *mut f32,
    loss: *mut f32,
) -> lk_status {
    // SAFETY: the function's contract; no gradient.
    unsafe {
        batch(
            logits,
            n_logits,
            targets,
            rows,
            options,
            core::ptr::null_mut(),
            per_row,
            loss,
        )
    }
}

// ---- softmax cross-entropy: probability-target batch -------------------------------

/// Shared body of the probability-target batch forms (`grad` NULL for the
/// loss only).
///
/// # Safety
/// As the exported functions.
#[allow(clippy::too_many_arguments)]
unsafe fn probs_batch(
    logits: *const f32,
    probs: *const f32,
    n_logits: usize,
    classes: usize,
    options: *const lk_cross_entropy_options,
    grad: *mut f32,
    per_row: *mut f32,
    loss: *mut f32,
) -> lk_status {
    status_of((|| {
        check(loss, 1)?;
        check(logits, n_logits)?;
        check(probs, n_logits)?;
        check_optional(grad, n_logits)?;
        // When the logits are not whole rows the kernel reports
        // LK_NOT_WHOLE_ROWS before it looks at per_row.
        let rows = n_logits.checked_div(classes).unwrap_or(0);
        check_optional(per_row, rows)?;
        // SAFETY: NULL or one valid options struct (contract), copied out.
        let opts = unsafe { read_options(options) }?.unwrap_or(CROSS_ENTROPY_DEFAULTS);
        let reduction = reduction(opts.reduction)?;
        let weights = opts.class_weights;
        check_optional(weights, classes)?;
        disjoint(
            &[
                optional_region(grad, n_logits),
                optional_region(per_row, rows),
            ],
            &[
                Region::of(logits, n_logits),
                Region::of(probs, n_logits),
                optional_region(weights, classes),
            ],
        )?;
        // SAFETY: n_logits readable floats (contract), disjoint from every
        // output (checked).
        let logits = unsafe { slice(logits, n_logits) }?;
        // SAFETY: as for `logits`.
        let probs = unsafe { slice(probs, n_logits) }?;
        // SAFETY: `classes` readable floats unless NULL (contract),
        // disjoint from every output (checked).
        let class_weights = unsafe { optional(weights, classes) }?;
        // A non-negative ignore index is an error for probability targets,
        // reported by the kernel.
        let options = cross_entropy_options(&opts, class_weights, reduction);
        // SAFETY: `rows` writable floats unless NULL (contract), disjoint
        // from the inputs and from grad (checked).
        let per_row = unsafe { optional_mut(per_row, rows) }?;
        // SAFETY: n_logits writable floats unless NULL (contract), disjoint
        // from the inputs and from per_row (checked).
        let grad = unsafe { optional_mut(grad, n_logits) }?;
        let value = match grad {
            Some(grad) => logitkit::softmax_cross_entropy_probs_batch_with_grad(
                logits, probs, classes, &options, grad, per_row,
            )?,
            None => logitkit::softmax_cross_entropy_probs_batch(
                logits, probs, classes, &options, per_row,
            )?,
        };
        // SAFETY: one writable float (contract), checked above; written last.
        unsafe { put(loss, value) }
    })())
}

/// Softmax cross-entropy over a row-major batch with probability targets:
/// logits and probs hold rows = n_logits / classes rows of `classes`
/// floats, row r's target q being row r of probs. Writes the reduced loss
/// to *loss, the gradient of that loss to grad[0..n_logits], and each row's
/// loss to per_row[0..rows] unless per_row is NULL (with LK_REDUCTION_SUM
/// that is PyTorch's reduction='none'). options: see
/// lk_cross_entropy_options (NULL = defaults), as PyTorch's cross_entropy
/// with a float target: row r's target is t_i = w_i*((1 - eps)*q_i + eps/C)
/// (w = class weights, all 1 if none; C = classes) and its loss
/// -sum t_i * log_softmax_i. LK_REDUCTION_MEAN divides the sum of the row
/// losses by the number of rows (PyTorch's mean for probability targets,
/// not a weighted mean). ignore_index has no meaning here and must be
/// negative (LK_NO_IGNORE_INDEX): a zero-initialised struct is an error.
///
/// Accuracy ([cross_entropy_probs_batch] in docs/precision.toml), with f
/// the reduction's factor (1/rows or 1) and g = p*sum t - t a row's
/// gradient before it: each per-row loss within 4 ULP + 2^-22 relative +
/// C*2^-149*(1 + sum t); the reduced loss within 4 ULP + 2^-22 relative +
/// f*C*2^-149*sum_r(1 + sum t); each gradient element within 4 ULP of
/// f*max(|g_i|, p_i*sum t, t_i) + f*(2^-20 * p_i*sum t + C*2^-149*(1 + sum t)),
/// while f*sum t stays within float's range in every row (beyond, a
/// gradient element can be -inf where the exact value is finite; never NaN).
/// Without class weights and with eps = 0, each row's loss (and with the
/// sum its gradient) has the bits of lk_softmax_cross_entropy_probs_with_grad
/// on that row.
///
/// Special values: row by row as lk_softmax_cross_entropy_probs_with_grad,
/// "the target" being every class with t_i > 0: NaN stays in its row (its
/// loss and gradient, and so the reduced loss); a -inf logit with t_i > 0
/// (any -inf logit of positive weight when eps > 0) makes its row's loss
/// +inf. An empty batch (n_logits == 0, whatever classes) has loss 0.
///
/// Errors: LK_NOT_WHOLE_ROWS (n_logits not a multiple of classes; classes
/// == 0 with n_logits > 0), LK_INVALID_PARAMETER (eps outside [0, 1], a
/// negative or non-finite class weight, some q_i < 0 or +inf, an
/// ignore_index >= 0, an unknown reduction, a misaligned pointer),
/// LK_NULL_POINTER (loss NULL, or logits, probs or grad NULL with
/// n_logits > 0), LK_OVERLAP (grad or per_row overlaps an input or each
/// other).
///
/// # Safety
/// Unless their length is 0: logits, probs and grad point to n_logits
/// floats (readable, readable, writable), per_row (unless NULL) to
/// n_logits / classes writable floats, options->class_weights (unless NULL)
/// to `classes` readable floats; options is NULL or points to a valid
/// struct; loss points to a writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy_probs_batch_with_grad(
    logits: *const f32,
    probs: *const f32,
    n_logits: usize,
    classes: usize,
    options: *const lk_cross_entropy_options,
    grad: *mut f32,
    per_row: *mut f32,
    loss: *mut f32,
) -> lk_status {
    if grad.is_null() && n_logits > 0 {
        return lk_status::LK_NULL_POINTER;
    }
    // SAFETY: the function's contract (grad is not NULL when n_logits > 0).
    unsafe {
        probs_batch(
            logits, probs, n_logits, classes, options, grad, per_row, loss,
        )
    }
}

/// The loss of lk_softmax_cross_entropy_probs_batch_with_grad without the
/// gradient (the same bits); per-row losses still go to per_row unless it
/// is NULL.
///
/// Errors: as lk_softmax_cross_entropy_probs_batch_with_grad.
///
/// # Safety
/// As lk_softmax_cross_entropy_probs_batch_with_grad, without grad.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_cross_entropy_probs_batch(
    logits: *const f32,
    probs: *const f32,
    n_logits: usize,
    classes: usize,
    options: *const lk_cross_entropy_options,
    per_row: *mut f32,
    loss: *mut f32,
) -> lk_status {
    // SAFETY: the function's contract; no gradient.
    unsafe {
        probs_batch(
            logits,
            probs,
            n_logits,
            classes,
            options,
            core::ptr::null_mut(),
            per_row,
            loss,
        )
    }
}

// ---- binary cross-entropy with logits ------------------------------------------------

/// Options of BCE with logits (PyTorch's binary_cross_entropy_with_logits).
/// NULL options, like a zero-initialised struct, mean no pos_weight, no
/// element weights, no smoothing, LK_REDUCTION_MEAN.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lk_bce_options {
    /// LK_POS_WEIGHT_NONE, LK_POS_WEIGHT_ALL or LK_POS_WEIGHT_PER_OUTPUT.
    pub pos_weight_kind: lk_pos_weight_kind,
    /// The p of LK_POS_WEIGHT_ALL: finite, >= 0.
    pub pos_weight: f32,
    /// The p of LK_POS_WEIGHT_PER_OUTPUT (finite, >= 0), one per output of
    /// a row-major batch, broadcast over rows: element i uses
    /// pos_weights[i % num_pos_weights]. Ignored for the other kinds.
    pub pos_weights: *const f32,
    /// Length of pos_weights; with LK_POS_WEIGHT_PER_OUTPUT, 0 or a length
    /// that does not divide n is LK_LENGTH_MISMATCH.
    pub num_pos_weights: usize,
    /// NULL = none; else one finite, non-negative weight per element (n).
    pub weights: *const f32,
    /// eps in [0, 1]: labels become y*(1 - eps) + eps/2.
    pub label_smoothing: f32,
    /// LK_REDUCTION_MEAN (over elements) or LK_REDUCTION_SUM.
    pub reduction: lk_reduction,
}

const BCE_DEFAULTS: lk_bce_options = lk_bce_options {
    pos_weight_kind: LK_POS_WEIGHT_NONE,
    pos_weight: 1.0,
    pos_weights: core::ptr::null(),
    num_pos_weights: 0,
    weights: core::ptr::null(),
    label_smoothing: 0.0,
    reduction: LK_REDUCTION_MEAN,
};

/// Shared body of the BCE forms (`grad` NULL for the loss only).
///
/// # Safety
/// As the exported functions.
unsafe fn bce(
    logits: *const f32,
    labels: *const f32,
    n: usize,
    options: *const lk_bce_options,
    grad: *mut f32,
    per_element: *mut f32,
    loss: *mut f32,
) -> lk_status {
    status_of((|| {
        check(loss, 1)?;
        check(logits, n)?;
        check(labels, n)?;
        check_optional(grad, n)?;
        check_optional(per_element, n)?;
        // SAFETY: NULL or one valid options struct (contract), copied out.
        let opts = unsafe { read_options(options) }?.unwrap_or(BCE_DEFAULTS);
        let reduction = reduction(opts.reduction)?;
        let per_output = match opts.pos_weight_kind {
            LK_POS_WEIGHT_NONE | LK_POS_WEIGHT_ALL => None,
            LK_POS_WEIGHT_PER_OUTPUT => Some((opts.pos_weights, opts.num_pos_weights)),
            _ => return Err(lk_status::LK_INVALID_PARAMETER),
        };
        let (pos_ptr, pos_len) = per_output.unwrap_or((core::ptr::null(), 0));
        check(pos_ptr, pos_len)?;
        check_optional(opts.weights, n)?;
        disjoint(
            &[optional_region(grad, n), optional_region(per_element, n)],
            &[
                Region::of(logits, n),
                Region::of(labels, n),
                optional_region(opts.weights, n),
                Region::of(pos_ptr, pos_len),
            ],
        )?;
        // SAFETY: n readable floats (contract), disjoint from the outputs.
        let logits = unsafe { slice(logits, n) }?;
        // SAFETY: as for `logits`.
        let labels = unsafe { slice(labels, n) }?;
        // SAFETY: n readable floats unless NULL (contract), disjoint from
        // the outputs.
        let weights = unsafe { optional(opts.weights, n) }?
            .map_or(ElementWeights::None, ElementWeights::PerElement);
        let pos_weight = match per_output {
            // SAFETY: num_pos_weights readable floats (contract; NULL with
            // 0 is the empty slice), disjoint from the outputs (checked).
            Some(_) => PosWeight::PerOutput(unsafe { slice(pos_ptr, pos_len) }?),
            None if opts.pos_weight_kind == LK_POS_WEIGHT_ALL => PosWeight::All(opts.pos_weight),
            None => PosWeight::None,
        };
        let options = BceOptions {
            pos_weight,
            weights,
            label_smoothing: opts.label_smoothing,
            reduction,
        };
        // SAFETY: the outputs were checked and found disjoint from the
        // inputs and from each other above.
        unsafe {
            write_elementwise_loss(
                n,
                grad,
                per_element,
                loss,
                |g, per| logitkit::bce_with_logits_with_grad(logits, labels, &options, g, per),
                |per| logitkit::bce_with_logits(logits, labels, &options, per),
            )
        }
    })())
}

/// Binary cross-entropy with logits over n elements: per element
/// w*[(1 - y)*softplus(z) + p*y*softplus(-z)] (PyTorch's value, in a form
/// that does not cancel), gradient w*[(1 - y)*sigmoid(z) - p*y*sigmoid(-z)],
/// reduced by mean or sum. Writes the reduced loss to *loss, its gradient to
/// grad[0..n] and each element's loss to per_element[0..n] unless
/// per_element is NULL. options: see lk_bce_options (NULL = defaults).
///
/// Accuracy ([bce] in docs/precision.toml): for labels in [0, 1], each
/// element's loss within 4 ULP and its gradient within 6 ULP of
/// max(|g|, w(1-y)sigmoid(z), wpy*sigmoid(-z)) (both times 1/n for a mean),
/// both plus max(1, w, p, wp)*(1 + |z|)*2^-148 absolute (finite z).
///
/// Reduced loss ([sum]): the element bounds summed (times 1/n for a mean),
/// plus 2^-22 relative, plus half an ULP; +inf if an element loss is.
///
/// Special values: z = +inf, y = 1: loss 0, gradient 0; z = +inf, y < 1:
/// loss +inf, gradient w(1-y); z = -inf, y = 0: loss 0, gradient 0;
/// z = -inf, y > 0: loss +inf, gradient -wpy; NaN in z or y: NaN in that
/// element.
///
/// Errors: LK_LENGTH_MISMATCH (LK_POS_WEIGHT_PER_OUTPUT with
/// num_pos_weights 0 or not dividing n), LK_INVALID_PARAMETER (eps outside [0, 1], a
/// negative or non-finite weight or pos_weight, an unknown reduction or
/// pos_weight_kind, a misaligned pointer), LK_NULL_POINTER (loss NULL, or
/// a buffer NULL with a non-zero length), LK_OVERLAP (grad or per_element
/// overlaps an input or each other).
///
/// # Safety
/// Unless n == 0: logits and labels point to n readable floats, grad to n
/// writable floats, per_element (unless NULL) to n writable floats and
/// options->weights (unless NULL) to n readable floats; pos_weights to
/// num_pos_weights readable floats when used; options is NULL or valid;
/// loss points to a writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_bce_with_logits_with_grad(
    logits: *const f32,
    labels: *const f32,
    n: usize,
    options: *const lk_bce_options,
    grad: *mut f32,
    per_element: *mut f32,
    loss: *mut f32,
) -> lk_status {
    if grad.is_null() && n > 0 {
        return lk_status::LK_NULL_POINTER;
    }
    // SAFETY: the function's contract (grad is not NULL when n > 0).
    unsafe { bce(logits, labels, n, options, grad, per_element, loss) }
}

/// The loss of lk_bce_with_logits_with_grad without the gradient (the same
/// bits); each element's loss goes to per_element unless it is NULL.
///
/// Errors: as lk_bce_with_logits_with_grad.
///
/// # Safety
/// As lk_bce_with_logits_with_grad, without grad.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_bce_with_logits(
    logits: *const f32,
    labels: *const f32,
    n: usize,
    options: *const lk_bce_options,
    per_element: *mut f32,
    loss: *mut f32,
) -> lk_status {
    // SAFETY: the function's contract; no gradient.
    unsafe {
        bce(
            logits,
            labels,
            n,
            options,
            core::ptr::null_mut(),
            per_element,
            loss,
        )
    }
}

// ---- sigmoid focal loss --------------------------------------------------------------

/// Options of the sigmoid focal loss (torchvision's sigmoid_focal_loss).
/// NULL options mean torchvision's defaults: gamma = 2, alpha = 0.25,
/// LK_REDUCTION_MEAN. A zero-initialised struct is gamma = 0, no alpha,
/// mean: plain BCE.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct lk_focal_options {
    /// Focusing parameter gamma >= 0 (finite); 0 is alpha-weighted BCE.
    pub gamma: f32,
    /// Whether alpha is used; false means no alpha weighting (alpha_t = 1).
    pub has_alpha: bool,
    /// alpha in [0, 1] weighting positives (1 - alpha negatives), used
    /// only when has_alpha is true.
    pub alpha: f32,
    /// LK_REDUCTION_MEAN (over elements) or LK_REDUCTION_SUM.
    pub reduction: lk_reduction,
}

/// The outputs of an elementwise loss (BCE, focal): the gradient form when
/// `grad` is not NULL, else the loss-only form; the loss is written last.
///
/// # Safety
/// `grad` and `per_element` are NULL or `n` writable floats, disjoint from
/// every input and from each other; `loss` is one writable float.
unsafe fn write_elementwise_loss(
    n: usize,
    grad: *mut f32,
    per_element: *mut f32,
    loss: *mut f32,
    with_grad: impl FnOnce(&mut [f32], Option<&mut [f32]>) -> Result<f32, logitkit::Error>,
    loss_only: impl FnOnce(Option<&mut [f32]>) -> Result<f32, logitkit::Error>,
) -> Result<(), lk_status> {
    // SAFETY: n writable floats unless NULL, disjoint from the inputs and
    // from grad (this function's contract).
    let per_element = unsafe { optional_mut(per_element, n) }?;
    // SAFETY: as for `per_element`.
    let grad = unsafe { optional_mut(grad, n) }?;
    let value = match grad {
        Some(grad) => with_grad(grad, per_element)?,
        None => loss_only(per_element)?,
    };
    // SAFETY: one writable float (this function's contract); written last.
    unsafe { put(loss, value) }
}

/// Shared body of the focal forms (`grad` NULL for the loss only).
///
/// # Safety
/// As the exported functions.
unsafe fn focal(
    logits: *const f32,
    labels: *const f32,
    n: usize,
    options: *const lk_focal_options,
    grad: *mut f32,
    per_element: *mut f32,
    loss: *mut f32,
) -> lk_status {
    status_of((|| {
        check(loss, 1)?;
        check(logits, n)?;
        check(labels, n)?;
        check_optional(grad, n)?;
        check_optional(per_element, n)?;
        // SAFETY: NULL or one valid options struct (contract), copied out.
        let options = unsafe { read_options(options) }?;
        let options = match options {
            None => FocalOptions::default(),
            Some(o) => FocalOptions {
                gamma: o.gamma,
                alpha: o.has_alpha.then_some(o.alpha),
                reduction: reduction(o.reduction)?,
            },
        };
        disjoint(
            &[optional_region(grad, n), optional_region(per_element, n)],
            &[Region::of(logits, n), Region::of(labels, n)],
        )?;
        // SAFETY: n readable floats (contract), disjoint from the outputs.
        let logits = unsafe { slice(logits, n) }?;
        // SAFETY: as for `logits`.
        let labels = unsafe { slice(labels, n) }?;
        // SAFETY: the outputs were checked and found disjoint from the
        // inputs and from each other above.
        unsafe {
            write_elementwise_loss(
                n,
                grad,
                per_element,
                loss,
                |g, per| logitkit::sigmoid_focal_loss_with_grad(logits, labels, &options, g, per),
                |per| logitkit::sigmoid_focal_loss(logits, labels, &options, per),
            )
        }
    })())
}

/// Sigmoid focal loss (Lin et al. 2017; torchvision's sigmoid_focal_loss)
/// over n elements: per element alpha_t*(1 - p_t)^gamma*BCE(z, y), with
/// p = sigmoid(z), p_t = p*y + (1 - p)(1 - y),
/// alpha_t = alpha*y + (1 - alpha)(1 - y), computed in log space so it stays
/// finite and accurate for every finite logit. Writes the reduced loss to
/// *loss, its gradient to grad[0..n] and each element's loss to
/// per_element[0..n] unless per_element is NULL. options: see
/// lk_focal_options (NULL = gamma 2, alpha 0.25, mean).
///
/// Accuracy ([focal] in docs/precision.toml): for labels in {0, 1} and
/// gamma <= 64, the element loss within 8 ULP + gamma*|ln(1 - p_t)|*2^-23
/// relative; the gradient within 12 ULP, plus 2^-22 and
/// gamma*|ln(1 - p_t)|*2^-23 relative; both plus
/// (1 + gamma)(1 + |z|)*2^-148 absolute where (1 - p_t)^gamma is subnormal.
/// A mean's 1/n multiplies the gradient and its bound but not the absolute
/// term.
///
/// Accuracy ([focal_gamma_zero] in docs/precision.toml): with gamma = 0,
/// labels 0 and 1 and a sum, loss and gradient within 2 ULP of
/// lk_bce_with_logits_with_grad with weights alpha_t.
///
/// Reduced loss ([sum]): as for lk_bce_with_logits_with_grad, the element
/// bounds summed (times 1/n), plus 2^-22 relative, plus half an ULP.
///
/// Special values: infinite logits take the limits (loss 0 or +inf,
/// gradient finite); NaN in a logit or label gives NaN in that element.
///
/// Errors: LK_INVALID_PARAMETER (gamma < 0 or non-finite, has_alpha with
/// alpha outside [0, 1], an unknown reduction, a misaligned pointer),
/// LK_NULL_POINTER (loss NULL, or a buffer NULL with n > 0), LK_OVERLAP
/// (grad or per_element overlaps an input or each other).
///
/// # Safety
/// Unless n == 0: logits and labels point to n readable floats, grad to n
/// writable floats, per_element (unless NULL) to n writable floats; options
/// is NULL or valid; loss points to a writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_sigmoid_focal_loss_with_grad(
    logits: *const f32,
    labels: *const f32,
    n: usize,
    options: *const lk_focal_options,
    grad: *mut f32,
    per_element: *mut f32,
    loss: *mut f32,
) -> lk_status {
    if grad.is_null() && n > 0 {
        return lk_status::LK_NULL_POINTER;
    }
    // SAFETY: the function's contract (grad is not NULL when n > 0).
    unsafe { focal(logits, labels, n, options, grad, per_element, loss) }
}

/// The loss of lk_sigmoid_focal_loss_with_grad without the gradient (the
/// same bits); each element's loss goes to per_element unless it is NULL.
///
/// Errors: as lk_sigmoid_focal_loss_with_grad.
///
/// # Safety
/// As lk_sigmoid_focal_loss_with_grad, without grad.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_sigmoid_focal_loss(
    logits: *const f32,
    labels: *const f32,
    n: usize,
    options: *const lk_focal_options,
    per_element: *mut f32,
    loss: *mut f32,
) -> lk_status {
    // SAFETY: the function's contract; no gradient.
    unsafe {
        focal(
            logits,
            labels,
            n,
            options,
            core::ptr::null_mut(),
            per_element,
            loss,
        )
    }
}
