//! The softmax family: log-sum-exp and its streaming state, softmax and
//! log-softmax (one row, in place, and a row-major batch), and their
//! backward products.

use logitkit::{Error, LogSumExp};

use crate::lane::{backward_form, in_place_form, into_form};
use crate::raw::{check, load_state, put, slice, store_state};
use crate::status::{lk_status, status_of};

/// Bytes of an `lk_log_sum_exp_state`.
pub const LK_LOG_SUM_EXP_STATE_SIZE: usize = 24;

/// A streaming log-sum-exp: an opaque, fixed-size, 8-byte-aligned buffer
/// holding the Rust `LogSumExp` (the running maximum m, its tie count, and
/// the sum of e^(x_i - a) over the values below m as a pair of floats,
/// relative to an anchor a within 32 below m; no double anywhere). Declare it anywhere (stack, static,
/// inside your structs), initialise it with lk_lse_init, then push values,
/// extend with arrays, merge states built from other pieces (sensor
/// windows, chunked rows, other cores) and read the value at any time. It is
/// plain data: copy it with = or memcpy (a copy is an independent state);
/// do not change its bytes otherwise. No allocation, no destructor.
#[repr(C, align(8))]
pub struct lk_log_sum_exp_state {
    /// Not to be read or written by C.
    pub opaque: [u8; LK_LOG_SUM_EXP_STATE_SIZE],
}

/// ln(sum over i < n of e^(xs[i])) without overflow for any finite input,
/// written to *value.
///
/// Accuracy ([log_sum_exp] in docs/precision.toml): |error| <= 0.5 ULP of
/// the result + 2^-21 * s'/(1 + s') absolute + n * 2^-149, where
/// m = max xs[i] and s' = sum of e^(xs[i] - m) over the elements below m,
/// plus (number of elements equal to m) - 1. It does not grow with n.
///
/// Special values: n == 0 gives -inf; every element -inf gives -inf; any NaN
/// gives NaN; else any +inf gives +inf; {FLT_MAX, FLT_MAX} gives FLT_MAX (no
/// overflow).
///
/// Errors: LK_NULL_POINTER (value NULL, or xs NULL with n > 0),
/// LK_INVALID_PARAMETER (misaligned pointer).
///
/// # Safety
/// Unless n == 0, xs points to n readable floats; value points to a
/// writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_sum_exp(xs: *const f32, n: usize, value: *mut f32) -> lk_status {
    status_of((|| {
        check(value, 1)?;
        // SAFETY: n readable floats (contract); the call writes nothing
        // until the slice is dead.
        let xs = unsafe { slice(xs, n) }?;
        let lse = logitkit::log_sum_exp(xs);
        // SAFETY: `value` points to a writable float (contract), checked above.
        unsafe { put(value, lse) }
    })())
}

/// Initialises *state to the empty state (its value is -inf). Call it
/// before any other lk_lse_ function on that state; the old contents are
/// ignored.
///
/// Errors: LK_NULL_POINTER (state NULL), LK_INVALID_PARAMETER (state not
/// 8-byte aligned).
///
/// # Safety
/// state points to writable memory of one lk_log_sum_exp_state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_lse_init(state: *mut lk_log_sum_exp_state) -> lk_status {
    // SAFETY: `state` points to writable memory of one state (contract).
    status_of(unsafe { store_state(state, LogSumExp::new()) })
}

/// Adds one value x to *state (one float exponential).
///
/// Errors: LK_NULL_POINTER (state NULL), LK_INVALID_PARAMETER (misaligned
/// state).
///
/// # Safety
/// state points to a state initialised by lk_lse_init.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_lse_push(state: *mut lk_log_sum_exp_state, x: f32) -> lk_status {
    status_of((|| {
        // SAFETY: `state` was initialised by lk_lse_init (contract).
        let mut s = unsafe { load_state(state) }?;
        s.push(x);
        // SAFETY: `state` is writable (contract); no reference to it is live.
        unsafe { store_state(state, s) }
    })())
}

/// Adds every value of xs[0..n] to *state (two passes over xs, like
/// lk_log_sum_exp).
///
/// Errors: LK_NULL_POINTER (state NULL, or xs NULL with n > 0),
/// LK_INVALID_PARAMETER (misaligned pointer). Nothing is written on error.
///
/// # Safety
/// state points to a state initialised by lk_lse_init; unless n == 0, xs
/// points to n readable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_lse_extend(
    state: *mut lk_log_sum_exp_state,
    xs: *const f32,
    n: usize,
) -> lk_status {
    status_of((|| {
        // SAFETY: `state` was initialised by lk_lse_init (contract); this
        // copies it out, so no reference to it is live below.
        let mut s = unsafe { load_state(state) }?;
        // SAFETY: n readable floats (contract), only read.
        let xs = unsafe { slice(xs, n) }?;
        s.extend(xs);
        // SAFETY: `state` is writable (contract); `xs` is no longer used.
        unsafe { store_state(state, s) }
    })())
}

/// Merges *other into *state, as if every value added to other had been
/// added to state. other is only read and may be state itself (which
/// doubles every value's weight: the value grows by ln 2).
///
/// Accuracy: the value of any sequence of pushes and extends is within the
/// lk_log_sum_exp bound of one pass over all the values; each merge may add
/// 2^-44 * s'/(1 + s') (absolute) to it.
///
/// Special values: a NaN added anywhere makes the value NaN for good; +inf
/// values are counted (value +inf); the empty state's value is -inf.
///
/// Errors: LK_NULL_POINTER (either NULL), LK_INVALID_PARAMETER (misaligned).
///
/// # Safety
/// state and other point to states initialised by lk_lse_init.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_lse_merge(
    state: *mut lk_log_sum_exp_state,
    other: *const lk_log_sum_exp_state,
) -> lk_status {
    status_of((|| {
        // SAFETY: both were initialised by lk_lse_init (contract). Each is
        // copied out by value, so `other == state` creates no aliasing.
        let o = unsafe { load_state(other) }?;
        // SAFETY: as above.
        let mut s = unsafe { load_state(state) }?;
        s.merge(&o);
        // SAFETY: `state` is writable (contract); no reference to it is live.
        unsafe { store_state(state, s) }
    })())
}

/// Writes ln(sum of e^x) over every value added to *state so far into
/// *value (-inf for the empty state).
///
/// Errors: LK_NULL_POINTER (state or value NULL), LK_INVALID_PARAMETER
/// (misaligned pointer).
///
/// # Safety
/// state points to a state initialised by lk_lse_init; value points to a
/// writable float.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_lse_value(
    state: *const lk_log_sum_exp_state,
    value: *mut f32,
) -> lk_status {
    status_of((|| {
        check(value, 1)?;
        // SAFETY: `state` was initialised by lk_lse_init (contract).
        let s = unsafe { load_state(state) }?;
        // SAFETY: `value` points to a writable float (contract), checked.
        unsafe { put(value, s.value()) }
    })())
}

// ---- softmax and log_softmax --------------------------------------------------

/// Writes softmax(xs[0..n]) into out: p_i = e^(x_i - m) / sum_j e^(x_j - m).
/// xs == out is the in-place form (same values); any other overlap is
/// LK_OVERLAP.
///
/// Accuracy ([softmax] in docs/precision.toml): each p_i within 2 ULP +
/// 2^-21 * p_i of the exact value, tiny probabilities included.
///
/// Special values: any NaN gives all NaN; k entries +inf give 1/k there and
/// 0 elsewhere; every entry -inf (fully masked) gives all 0; -inf entries
/// (masks) give 0 there.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe { into_form(xs, out, n, logitkit::softmax, logitkit::softmax_in_place) }
}

/// softmax of xs[0..n], in place. Same accuracy and special values as
/// lk_softmax.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::softmax_in_place) }
}

/// Writes log_softmax(xs[0..n]) into out: (x_i - m) - ln_1p(s'). xs == out
/// is the in-place form (same values); any other overlap is LK_OVERLAP.
///
/// Accuracy ([log_softmax] in docs/precision.toml): each element within
/// 2 ULP + 2^-21 absolute of the exact value.
///
/// Special values: any NaN gives all NaN; k entries +inf give -ln k there
/// and -inf elsewhere; every entry -inf gives all -inf; -inf entries give
/// -inf there.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP.
///
/// # Safety
/// Unless n == 0, xs points to n readable floats and out to n writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_softmax(xs: *const f32, out: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable floats at xs, n writable at out.
    unsafe {
        into_form(
            xs,
            out,
            n,
            logitkit::log_softmax,
            logitkit::log_softmax_in_place,
        )
    }
}

/// log_softmax of xs[0..n], in place. Same accuracy and special values as
/// lk_log_softmax.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned xs).
///
/// # Safety
/// Unless n == 0, xs points to n floats the call may read and write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_softmax_in_place(xs: *mut f32, n: usize) -> lk_status {
    // SAFETY: the function's contract: n readable and writable floats.
    unsafe { in_place_form(xs, n, logitkit::log_softmax_in_place) }
}

/// A rows kernel of the core crate over `rows` rows of `classes` floats
/// (row-major).
///
/// # Safety
/// Unless rows * classes == 0, xs points to that many readable floats and
/// out to that many writable ones.
unsafe fn rows_form(
    xs: *const f32,
    out: *mut f32,
    rows: usize,
    classes: usize,
    rows_into: impl Fn(&[f32], usize, &mut [f32]) -> Result<(), Error>,
    rows_in_place: impl Fn(&mut [f32], usize) -> Result<(), Error>,
) -> lk_status {
    let Some(n) = rows.checked_mul(classes) else {
        return lk_status::LK_LENGTH_MISMATCH;
    };
    if n == 0 {
        // rows of no classes, or no rows: nothing to read or write.
        return lk_status::LK_OK;
    }
    // Cannot fail: n is a whole number of rows of `classes`.
    let batch_into = |xs: &[f32], out: &mut [f32]| rows_into(xs, classes, out);
    let batch_in_place = |xs: &mut [f32]| {
        let _ = rows_in_place(xs, classes);
    };
    // SAFETY: n = rows * classes readable floats at xs and writable at out
    // (contract).
    unsafe { into_form(xs, out, n, batch_into, batch_in_place) }
}

/// softmax of each row of a row-major batch: xs and out hold rows * classes
/// floats, row r at xs[r * classes]. Each row is exactly lk_softmax of it
/// (same accuracy, special values). xs == out is the in-place form; any
/// other overlap is LK_OVERLAP. classes == 0 or rows == 0 does nothing.
///
/// Errors: LK_LENGTH_MISMATCH (rows * classes overflows size_t),
/// LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer), LK_OVERLAP.
///
/// # Safety
/// Unless rows * classes == 0, xs points to rows * classes readable floats
/// and out to as many writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_rows(
    xs: *const f32,
    out: *mut f32,
    rows: usize,
    classes: usize,
) -> lk_status {
    // SAFETY: the function's contract: rows * classes floats at xs and out.
    unsafe {
        rows_form(
            xs,
            out,
            rows,
            classes,
            logitkit::softmax_rows,
            logitkit::softmax_rows_in_place,
        )
    }
}

/// log_softmax of each row of a row-major batch of rows * classes floats;
/// each row is exactly lk_log_softmax of it. xs == out is the in-place form;
/// any other overlap is LK_OVERLAP. classes == 0 or rows == 0 does nothing.
///
/// Errors: LK_LENGTH_MISMATCH (rows * classes overflows size_t),
/// LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer), LK_OVERLAP.
///
/// # Safety
/// Unless rows * classes == 0, xs points to rows * classes readable floats
/// and out to as many writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_softmax_rows(
    xs: *const f32,
    out: *mut f32,
    rows: usize,
    classes: usize,
) -> lk_status {
    // SAFETY: the function's contract: rows * classes floats at xs and out.
    unsafe {
        rows_form(
            xs,
            out,
            rows,
            classes,
            logitkit::log_softmax_rows,
            logitkit::log_softmax_rows_in_place,
        )
    }
}

/// Backward of softmax: grad_in = p * (g - <g, p>) elementwise, given the
/// forward output probs = p and the upstream gradient grad_out = g.
///
/// Accuracy ([softmax_backward] in docs/precision.toml): each element
/// within 1.5 ULP of p_i*(g_i - <g, p>), plus p_i times the dot product's
/// error, 2^-21 * sum_j |p_j g_j| + 0.5 ULP of <g, p> + n * 2^-150.
///
/// Special values: NaN in probs or grad_out makes every element NaN;
/// infinities follow IEEE arithmetic.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP (grad_in overlaps probs or grad_out: there is no in-place
/// form).
///
/// # Safety
/// Unless n == 0, probs and grad_out point to n readable floats each and
/// grad_in to n writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_softmax_backward(
    probs: *const f32,
    grad_out: *const f32,
    grad_in: *mut f32,
    n: usize,
) -> lk_status {
    // SAFETY: the function's contract: n floats behind each pointer.
    unsafe { backward_form(probs, grad_out, grad_in, n, logitkit::softmax_backward) }
}

/// Backward of log_softmax: grad_in = g - softmax * sum(g), given the
/// forward output log_probs (softmax = e^log_probs) and grad_out = g.
///
/// Accuracy ([log_softmax_backward] in docs/precision.toml): with
/// p_i = e^(log_probs[i]), each element within 4 ULP of
/// max(|g_i - p_i*sum g|, p_i*|sum g|) + 2^-21 * p_i * sum|g| +
/// 2^-148 * sum|g|, while sum|g| < 2^126.
///
/// Special values: NaN anywhere in grad_out makes every element NaN; a NaN
/// log-probability makes its element NaN; log_probs[i] = -inf (masked)
/// gives grad_in[i] = g_i.
///
/// Errors: LK_NULL_POINTER, LK_INVALID_PARAMETER (misaligned pointer),
/// LK_OVERLAP (grad_in overlaps log_probs or grad_out).
///
/// # Safety
/// Unless n == 0, log_probs and grad_out point to n readable floats each
/// and grad_in to n writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lk_log_softmax_backward(
    log_probs: *const f32,
    grad_out: *const f32,
    grad_in: *mut f32,
    n: usize,
) -> lk_status {
    // SAFETY: the function's contract: n floats behind each pointer.
    unsafe {
        backward_form(
            log_probs,
            grad_out,
            grad_in,
            n,
            logitkit::log_softmax_backward,
        )
    }
}
