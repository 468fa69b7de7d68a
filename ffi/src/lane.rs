//! Lane math (`exp`, `ln`, `ln_1p`, `sigmoid`, `softplus`, `log_sigmoid`):
//! scalar, in place and into; the sigmoid family's backward products; and
//! the shared slice forms the softmax module reuses.

use logitkit::Error;

use crate::raw::{Region, check, disjoint, slice, slice_mut};
use crate::status::{lk_status, status_of};

/// `kernel` on `xs[0..n]` in place.
///
/// # Safety
/// Unless `n == 0`, `xs` points to `n` floats that nothing else accesses
/// during the call.
pub(crate) unsafe fn in_place_form(
    xs: *mut f32,
    n: usize,
    kernel: impl FnOnce(&mut [f32]),
) -> lk_status {
    // SAFETY: forwarded from this function's contract.
    status_of(unsafe { slice_mut(xs, n) }.map(kernel))
}

/// `kernel_into(xs, out)`, or `kernel_in_place(out)` when `xs == out`.
///
/// # Safety
/// Unless `n == 0`, `xs` points to `n` readable floats and `out` to `n`
/// writable floats, not accessed by anyone else during the call.
pub(crate) unsafe fn into_form(
    xs: *const f32,
    out: *mut f32,
    n: usize,
    kernel_into: impl FnOnce(&[f32], &mut [f32]) -> Result<(), Error>,
    kernel_in_place: impl FnOnce(&mut [f32]),
) -> lk_status {
    if xs.addr() == out.addr() {
        // The documented in-place case: one buffer, one &mut slice.
        // SAFETY: `out` (= `xs`) points to n floats, readable and writable.
        return unsafe { in_place_form(out, n, kernel_in_place) };
    }
    status_of((|| {
        check(xs, n)?;
        check(out, n)?;
        disjoint(&[Region::of(out, n)], &[Region::of(xs, n)])?;
        // SAFETY: n readable floats (contract), not written during the call:
        // the only output, `out`, is disjoint from them (checked above).
        let xs = unsafe { slice(xs, n) }?;
        // SAFETY: n writable floats (contract), disjoint from `xs` (checked).
        let out = unsafe { slice_mut(out, n) }?;
        Ok(kernel_into(xs, out)?)
    })())
}

/// A backward product `kernel(a, b, grad_in)` over three buffers of `n`.
///
/// # Safety
/// Unless `n == 0`, `a` and `b` point to `n` readable floats and `grad_in`
/// to `n` writable floats, not accessed by anyone else during the call.
pub(crate) unsafe fn backward_form(
    a: *const f32,
    b: *const f32,
    grad_in: *mut f32,
    n: usize,
    kernel: impl FnOnce(&[f32], &[f32], &mut [f32]) -> Result<(), Error>,
) -> lk_status {
    status_of((|| {
        check(a, n)?;
        check(b, n)?;
        check(grad_in, n)?;
        disjoint(
            &[Region::of(grad_in, n)],
            &[Region::of(a, n), Region::of(b, n)],
        )?;
        // SAFETY: n readable floats (contract); the only output is disjoint.
        let a = unsafe { slice(a, n) }?;
        // SAFETY: as for `a`.
        let b = unsafe { slice(b, n) }?;
        // SAFETY: n writable floats (contract), disjoint from both inputs.
        let grad_in = unsafe { slice_mut(grad_in, n) }?;
        Ok(kernel(a, b, grad_in)?)
    })())
}

// ---- exp, ln, ln_1p ---------------------------------------------------------

/// e^x.
///
/// Accuracy ([exp] in docs/precision.toml): within 1 ULP for every float
/// input, subnormal results included.
///
/// Special values: NaN gives NaN (payload kept); +inf, and x > 88.7228,
/// give +inf; -inf, and x < -103.973, give +0; +-0 gives 1;
/// -103.97 < x < -87.34 underflows gradually to subnormals.
#[unsafe(no_mangle)]
pub extern "C" fn lk_exp(x: f32) -> f32 {
    logitkit::exp(x)
}

/// e^x of every element of xs[0..n], in place; each element gets the bits
/// lk_exp gives it.
///
/// Errors: LK_NULL_POINTER (xs NULL, n > 0), LK_INVALID_PARAMETER
/// (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_exp_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::exp_in_place) }
}

/// out[i] = e^(xs[i]) for i < n; each element gets the bits lk_exp gives
/// it. xs == out is the in-place form; any other overlap is LK_OVERLAP.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_exp_into(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe { into_form(xs, out, n, logitkit::exp_into, logitkit::exp_in_place) }
}

/// Natural logarithm ln(x).
///
/// Accuracy ([ln] in docs/precision.toml): within 1 ULP for every float
/// input, subnormal inputs included.
///
/// Special values: NaN gives NaN (payload kept); x < 0 and -inf give NaN;
/// +-0 gives -inf; 1 gives +0; +inf gives +inf.
#[unsafe(no_mangle)]
pub extern "C" fn lk_ln(x: f32) -> f32 {
    logitkit::ln(x)
}

/// ln of every element of xs[0..n], in place (the bits of lk_ln).
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_ln_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::ln_in_place) }
}

/// out[i] = ln(xs[i]) for i < n (the bits of lk_ln). xs == out is the
/// in-place form; any other overlap is LK_OVERLAP.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_ln_into(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe { into_form(xs, out, n, logitkit::ln_into, logitkit::ln_in_place) }
}

/// ln(1 + x), accurate for x near 0 (log1p).
///
/// Accuracy ([ln_1p] in docs/precision.toml): within 1.5 ULP for every
/// float input.
///
/// Special values: NaN gives NaN (payload kept); x < -1 and -inf give NaN;
/// -1 gives -inf; +-0 gives +-0; tiny x (subnormals included) gives x;
/// +inf gives +inf.
#[unsafe(no_mangle)]
pub extern "C" fn lk_ln_1p(x: f32) -> f32 {
    logitkit::ln_1p(x)
}

/// ln(1 + x) of every element of xs[0..n], in place (the bits of lk_ln_1p).
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_ln_1p_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::ln_1p_in_place) }
}

/// out[i] = ln(1 + xs[i]) for i < n (the bits of lk_ln_1p). xs == out is
/// the in-place form; any other overlap is LK_OVERLAP.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_ln_1p_into(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe { into_form(xs, out, n, logitkit::ln_1p_into, logitkit::ln_1p_in_place) }
}

// ---- sigmoid, softplus, log_sigmoid -----------------------------------------

/// The logistic sigmoid 1 / (1 + e^-x).
///
/// Accuracy ([sigmoid] in docs/precision.toml): within 2 ULP for every
/// float input, relative accuracy kept for large negative x (subnormal
/// results included).
///
/// Special values: NaN gives NaN (payload kept); +inf, and x >= 17.32868
/// (where e^-x < 2^-25), give 1; -inf, and x < -103.98, give +0; +-0
/// gives 0.5; -103.98 < x < -87.3 gives accurate subnormals
/// (sigmoid(-100) ~ 3.7e-44).
#[unsafe(no_mangle)]
pub extern "C" fn lk_sigmoid(x: f32) -> f32 {
    logitkit::sigmoid(x)
}

/// sigmoid of every element of xs[0..n], in place (the bits of lk_sigmoid).
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_sigmoid_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::sigmoid_in_place) }
}

/// out[i] = sigmoid(xs[i]) for i < n (the bits of lk_sigmoid). xs == out is
/// the in-place form; any other overlap is LK_OVERLAP.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_sigmoid_into(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe {
        into_form(
            xs,
            out,
            n,
            logitkit::sigmoid_into,
            logitkit::sigmoid_in_place,
        )
    }
}

/// softplus(x) = ln(1 + e^x), computed as max(x, 0) + ln_1p(e^-|x|).
///
/// Accuracy ([softplus] in docs/precision.toml): within 2 ULP for every
/// float input, tiny results for large negative x included
/// (softplus(-100) ~ 3.7e-44).
///
/// Special values: NaN gives NaN (payload kept); +inf gives +inf; -inf
/// gives +0; x > 2^24 gives x.
#[unsafe(no_mangle)]
pub extern "C" fn lk_softplus(x: f32) -> f32 {
    logitkit::softplus(x)
}

/// softplus of every element of xs[0..n], in place (the bits of
/// lk_softplus).
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softplus_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::softplus_in_place) }
}

/// out[i] = softplus(xs[i]) for i < n (the bits of lk_softplus). xs == out
/// is the in-place form; any other overlap is LK_OVERLAP.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softplus_into(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe {
        into_form(
            xs,
            out,
            n,
            logitkit::softplus_into,
            logitkit::softplus_in_place,
        )
    }
}

/// log sigmoid(x) = -softplus(-x) (bit for bit), without cancellation.
///
/// Accuracy ([log_sigmoid] in docs/precision.toml): within 2 ULP for every
/// float input.
///
/// Special values: NaN gives NaN (payload kept); +inf gives -0; -inf gives
/// -inf.
#[unsafe(no_mangle)]
pub extern "C" fn lk_log_sigmoid(x: f32) -> f32 {
    logitkit::log_sigmoid(x)
}

/// log sigmoid of every element of xs[0..n], in place (the bits of
/// lk_log_sigmoid).
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_sigmoid_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::log_sigmoid_in_place) }
}

/// out[i] = log sigmoid(xs[i]) for i < n (the bits of lk_log_sigmoid).
/// xs == out is the in-place form; any other overlap is LK_OVERLAP.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_sigmoid_into(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe {
        into_form(
            xs,
            out,
            n,
            logitkit::log_sigmoid_into,
            logitkit::log_sigmoid_in_place,
        )
    }
}

// ---- backward products of the sigmoid family ---------------------------------

/// Backward of sigmoid: grad_in[i] = grad_out[i] * sigmoid(x)*sigmoid(-x)
/// with x = xs[i] (the derivative s(1 - s) without cancellation).
///
/// Accuracy ([sigmoid_backward] in docs/precision.toml): for a finite
/// upstream gradient g, within 8.67 ULP of g*sigmoid(x)*sigmoid(-x), plus
/// 2^-147 * |g| absolute.
///
/// Special values: x = +-inf gives 0 (times a finite g); NaN in xs or
/// grad_out gives NaN in that element.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP (grad_in overlaps xs or grad_out: there is no in-place form).
///
/// # Safety
/// Unless n == 0, xs and grad_out point to n readable floats each and
/// grad_in to n writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_sigmoid_backward(
    xs: *const f32,
    grad_out: *const f32,
    grad_in: *mut f32,
    n: usize,
) -> lk_status {
    // SAFETY: the function's contract: n floats behind each pointer.
    unsafe { backward_form(xs, grad_out, grad_in, n, logitkit::sigmoid_backward) }
}

/// Backward of softplus: grad_in[i] = grad_out[i] * sigmoid(xs[i]).
///
/// Accuracy ([softplus_backward] in docs/precision.toml): for a finite
/// upstream gradient g, within 5 ULP of g*sigmoid(x), plus 2^-148 * |g|
/// absolute.
///
/// Special values: x = +inf gives g, x = -inf gives 0 (finite g); NaN in
/// xs or grad_out gives NaN in that element.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP (grad_in overlaps xs or grad_out).
///
/// # Safety
/// Unless n == 0, xs and grad_out point to n readable floats each and
/// grad_in to n writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softplus_backward(
    xs: *const f32,
    grad_out: *const f32,
    grad_in: *mut f32,
    n: usize,
) -> lk_status {
    // SAFETY: the function's contract: n floats behind each pointer.
    unsafe { backward_form(xs, grad_out, grad_in, n, logitkit::softplus_backward) }
}

/// Backward of log sigmoid: grad_in[i] = grad_out[i] * sigmoid(-xs[i])
/// (1 - sigmoid(x) without cancellation).
///
/// Accuracy ([log_sigmoid_backward] in docs/precision.toml): for a finite
/// upstream gradient g, within 5 ULP of g*sigmoid(-x), plus 2^-148 * |g|
/// absolute.
///
/// Special values: x = +inf gives 0, x = -inf gives g (finite g); NaN in
/// xs or grad_out gives NaN in that element.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP (grad_in overlaps xs or grad_out).
///
/// # Safety
/// Unless n == 0, xs and grad_out point to n readable floats each and
/// grad_in to n writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_sigmoid_backward(
    xs: *const f32,
    grad_out: *const f32,
    grad_in: *mut f32,
    n: usize,
) -> lk_status {
    // SAFETY: the function's contract: n floats behind each pointer.
    unsafe { backward_form(xs, grad_out, grad_in, n, logitkit::log_sigmoid_backward) }
}
