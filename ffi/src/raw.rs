//! The only `unsafe` operations of the crate: turning a C (pointer, length)
//! into a slice ([`slice`], [`slice_mut`]) and moving the streaming state
//! in and out of its opaque C buffer ([`load_state`], [`store_state`]).
//! Everything a C caller can get wrong and a check can catch (NULL,
//! misalignment, lengths no object can have, overlapping buffers) is
//! checked here, before any reference exists; what no check can catch
//! (a pointer to too little memory, memory written by another thread
//! during the call) is the caller's contract, stated in the header.

use core::mem::{align_of, size_of};

use logitkit::LogSumExp;

use crate::lk_log_sum_exp_state;
use crate::status::lk_status;

/// Checks that `(ptr, len)` can describe a slice: any pointer with
/// `len == 0`; otherwise non-NULL (`LK_NULL_POINTER`), aligned for `T`
/// (`LK_INVALID_PARAMETER`) and at most `isize::MAX` bytes long
/// (`LK_LENGTH_MISMATCH`).
pub(crate) fn check<T>(ptr: *const T, len: usize) -> Result<(), lk_status> {
    if len == 0 {
        Ok(())
    } else if ptr.is_null() {
        Err(lk_status::LK_NULL_POINTER)
    } else if !ptr.is_aligned() {
        Err(lk_status::LK_INVALID_PARAMETER)
    } else if len > isize::MAX as usize / size_of::<T>().max(1) {
        Err(lk_status::LK_LENGTH_MISMATCH)
    } else {
        Ok(())
    }
}

/// The bytes `[start, end)` a caller's buffer covers, for overlap checks.
/// Empty buffers cover nothing.
#[derive(Clone, Copy)]
pub(crate) struct Region {
    start: usize,
    end: usize,
}

impl Region {
    /// The region of `len` values of `T` at `ptr` (no memory is read).
    pub(crate) fn of<T>(ptr: *const T, len: usize) -> Self {
        let start = ptr.addr();
        // Only used after `check`, so the product fits in isize; wrapping
        // keeps the arithmetic panic-free whatever the caller passed.
        let end = start.wrapping_add(len.wrapping_mul(size_of::<T>()));
        Self { start, end }
    }

    /// Nothing: for an optional buffer that was not requested.
    pub(crate) const NONE: Self = Self { start: 0, end: 0 };

    fn overlaps(self, other: Self) -> bool {
        self.start < self.end
            && other.start < other.end
            && self.start < other.end
            && other.start < self.end
    }
}

/// `LK_OVERLAP` unless every output region is disjoint from every input
/// region and from every other output region. Inputs may overlap each other
/// (they are only read).
pub(crate) fn disjoint(outputs: &[Region], inputs: &[Region]) -> Result<(), lk_status> {
    for (i, &out) in outputs.iter().enumerate() {
        let clash = inputs.iter().any(|&r| out.overlaps(r))
            || outputs.iter().skip(i + 1).any(|&r| out.overlaps(r));
        if clash {
            return Err(lk_status::LK_OVERLAP);
        }
    }
    Ok(())
}

/// `(ptr, len)` as a shared slice, after [`check`] (so NULL with `len == 0`
/// is the empty slice).
///
/// # Safety
/// Unless `len == 0`, `ptr` must point to `len` consecutive initialised
/// values of `T` inside one object, which nothing writes to while the slice
/// lives (for the `lk_` functions: during the call; in particular no output
/// of the same call may overlap it, which the callers check with
/// [`disjoint`] first).
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], lk_status> {
    check(ptr, len)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: `check` proved `ptr` non-NULL, aligned for T and `len` values
    // of T at most isize::MAX bytes; the caller guarantees the `len` values
    // are initialised, in one object, and not written while the slice lives.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// `(ptr, len)` as a mutable slice, after [`check`] (so NULL with
/// `len == 0` is the empty slice).
///
/// # Safety
/// Unless `len == 0`, `ptr` must point to `len` consecutive initialised
/// `f32` inside one object, which nothing else reads or writes while the
/// slice lives (for the `lk_` functions: during the call; the callers check
/// with [`disjoint`] that no other buffer of the call overlaps it).
pub(crate) unsafe fn slice_mut<'a>(ptr: *mut f32, len: usize) -> Result<&'a mut [f32], lk_status> {
    check(ptr, len)?;
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: `check` proved `ptr` non-NULL, aligned and the length at most
    // isize::MAX bytes; the caller guarantees `len` initialised f32 in one
    // object that nothing else accesses while the slice lives (every f32 bit
    // pattern is a valid f32, so C's floats are valid Rust values).
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// Writes one result (`*loss`, `*value`) through [`slice_mut`]. Callers
/// [`check`] the pointer before computing anything, so that a NULL result
/// pointer fails before any output is written.
///
/// # Safety
/// `ptr` must point to one `f32` that nothing else accesses during this call.
pub(crate) unsafe fn put(ptr: *mut f32, value: f32) -> Result<(), lk_status> {
    // SAFETY: forwarded: `ptr` points to one f32 that nothing else accesses.
    let slot = unsafe { slice_mut(ptr, 1) }?;
    for s in slot.iter_mut() {
        *s = value;
    }
    Ok(())
}

// The opaque C buffer holds one `LogSumExp` (20 bytes; the buffer's last
// four are spare, never read), aligned for it.
const _: () = assert!(size_of::<LogSumExp>() <= size_of::<lk_log_sum_exp_state>());
const _: () = assert!(align_of::<LogSumExp>() <= align_of::<lk_log_sum_exp_state>());

/// A copy of the `LogSumExp` stored in `*state` by [`store_state`].
///
/// # Safety
/// `state` must point to an `lk_log_sum_exp_state` that `lk_lse_init`
/// initialised (through [`store_state`]) and that was since changed only by
/// the `lk_lse_` functions or copied as a whole by C (a byte-for-byte copy
/// of a `Copy` value is the same value), with no concurrent writer.
pub(crate) unsafe fn load_state(
    state: *const lk_log_sum_exp_state,
) -> Result<LogSumExp, lk_status> {
    check(state, 1)?;
    // SAFETY: `check` proved `state` non-NULL and aligned for
    // lk_log_sum_exp_state, whose alignment and size are at least
    // LogSumExp's (the assertions above), so the cast pointer is
    // aligned and in bounds. The caller guarantees the bytes hold a
    // LogSumExp written by `store_state` (possibly copied as bytes by C,
    // which is a valid copy of a `Copy` type). `read` copies the value out;
    // no reference to C memory outlives this line.
    Ok(unsafe { state.cast::<LogSumExp>().read() })
}

/// Stores `value` into the opaque buffer `*state`, whatever it held.
///
/// # Safety
/// `state` must point to writable memory of an `lk_log_sum_exp_state` (it
/// need not be initialised) that nothing else accesses during this call.
pub(crate) unsafe fn store_state(
    state: *mut lk_log_sum_exp_state,
    value: LogSumExp,
) -> Result<(), lk_status> {
    check(state, 1)?;
    // SAFETY: `check` proved `state` non-NULL and aligned for the buffer,
    // hence for LogSumExp (alignment and size asserted above); the caller
    // guarantees it is writable and unaliased. `write` neither reads nor
    // drops the old bytes (uninitialised before `lk_lse_init`), and
    // LogSumExp is `Copy`, so nothing is leaked or duplicated.
    // The spare bytes past the LogSumExp are zeroed first, so that every
    // byte is initialised and a C copy, or a Rust copy of the buffer, reads
    // no uninitialised memory.
    unsafe {
        state
            .cast::<u8>()
            .write_bytes(0, size_of::<lk_log_sum_exp_state>());
        state.cast::<LogSumExp>().write(value);
    }
    Ok(())
}
