//! `lk_status`, the result of every fallible function, and the integer
//! "enums" that C passes in (`lk_reduction`, `lk_pos_weight_kind`).

use core::ffi::{CStr, c_char};

/// Result of every fallible `lk_` function. On any value but `LK_OK` the
/// function has written nothing: every output buffer, and `*loss` or
/// `*value`, holds what it held before the call.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lk_status {
    /// Success: every output was written.
    LK_OK = 0,
    /// A buffer does not have the length the other arguments imply (for
    /// example an empty per-output `pos_weights`), or `rows * classes`
    /// overflows `size_t`, or a length is larger than any object can be.
    LK_LENGTH_MISMATCH = 1,
    /// A batch's `n_logits` is not a multiple of its number of rows
    /// (targets).
    LK_NOT_WHOLE_ROWS = 2,
    /// A class index is not below the number of classes (so a class target
    /// on an empty row is this error).
    LK_CLASS_OUT_OF_RANGE = 3,
    /// A parameter is outside its domain: label smoothing outside [0, 1], a
    /// negative or non-finite weight, pos_weight or class weight, a negative
    /// or infinite probability target, gamma < 0 or non-finite, alpha
    /// outside [0, 1], an `lk_reduction` or `lk_pos_weight_kind` that is
    /// none of its values, or a pointer that is not aligned for its type.
    LK_INVALID_PARAMETER = 4,
    /// A pointer is NULL where a buffer of non-zero length, a state or a
    /// result (`loss`, `value`) is required.
    LK_NULL_POINTER = 5,
    /// A row is empty where a value is required (no function returns it at
    /// present; kept for the Rust error of the same name).
    LK_EMPTY = 6,
    /// An output buffer overlaps an input buffer or another output (other
    /// than the exact in-place cases each function names), see "Overlap"
    /// at the top of this file.
    LK_OVERLAP = 7,
}

impl From<logitkit::Error> for lk_status {
    fn from(e: logitkit::Error) -> Self {
        match e {
            logitkit::Error::LengthMismatch { .. } => lk_status::LK_LENGTH_MISMATCH,
            logitkit::Error::NotWholeRows { .. } | logitkit::Error::RaggedRows { .. } => {
                lk_status::LK_NOT_WHOLE_ROWS
            }
            logitkit::Error::ClassOutOfRange { .. } => lk_status::LK_CLASS_OUT_OF_RANGE,
            logitkit::Error::InvalidParameter { .. } => lk_status::LK_INVALID_PARAMETER,
            logitkit::Error::Empty => lk_status::LK_EMPTY,
            // `Error` is #[non_exhaustive]: a variant added later is a shape
            // or parameter error too, and this mapping must be extended.
            _ => lk_status::LK_INVALID_PARAMETER,
        }
    }
}

/// `Ok(())` as `LK_OK`, an error as its status.
pub(crate) fn status_of(result: Result<(), lk_status>) -> lk_status {
    match result {
        Ok(()) => lk_status::LK_OK,
        Err(status) => status,
    }
}

/// How per-row or per-element losses combine into the returned loss: one of
/// `LK_REDUCTION_MEAN` (the default, also the value 0) and
/// `LK_REDUCTION_SUM`. Any other value is `LK_INVALID_PARAMETER`. An
/// integer rather than a C enum, so every value C can store is defined.
pub type lk_reduction = i32;

/// Weighted mean: for the batch cross-entropy, the sum of the rows' losses
/// over the total target weight of the rows not ignored (their number
/// without class weights; 0 when every row is ignored); for BCE and the
/// focal loss, the sum over the number of elements.
pub const LK_REDUCTION_MEAN: lk_reduction = 0;
/// Plain sum. With per-row losses requested this is PyTorch's
/// `reduction='none'`: each row's gradient is that of its own loss.
pub const LK_REDUCTION_SUM: lk_reduction = 1;

pub(crate) fn reduction(value: lk_reduction) -> Result<logitkit::Reduction, lk_status> {
    match value {
        LK_REDUCTION_MEAN => Ok(logitkit::Reduction::Mean),
        LK_REDUCTION_SUM => Ok(logitkit::Reduction::Sum),
        _ => Err(lk_status::LK_INVALID_PARAMETER),
    }
}

/// Which positive weight p BCE uses: one of `LK_POS_WEIGHT_NONE` (p = 1,
/// also the value 0), `LK_POS_WEIGHT_ALL` (`pos_weight` for every element)
/// and `LK_POS_WEIGHT_PER_OUTPUT` (`pos_weights[i % num_pos_weights]` for
/// element i; `num_pos_weights` must divide n). Any other value is
/// `LK_INVALID_PARAMETER`.
pub type lk_pos_weight_kind = i32;

/// p = 1 for every element (PyTorch's `pos_weight=None`).
pub const LK_POS_WEIGHT_NONE: lk_pos_weight_kind = 0;
/// p = `pos_weight` for every element.
pub const LK_POS_WEIGHT_ALL: lk_pos_weight_kind = 1;
/// p = `pos_weights[i % num_pos_weights]` for element i: a row-major batch
/// of `num_pos_weights` outputs per row (a length that does not divide n is
/// `LK_LENGTH_MISMATCH`).
pub const LK_POS_WEIGHT_PER_OUTPUT: lk_pos_weight_kind = 2;

/// `ignore_index` value meaning "no ignored class" (any negative value
/// does; PyTorch's default is -100). Not `pub`: cbindgen would write it
/// as `#define LK_NO_IGNORE_INDEX -1` without parentheses, so the header
/// defines it by hand in `after_includes` (cbindgen.toml), with the same
/// value.
pub(crate) const LK_NO_IGNORE_INDEX: i64 = -1;

/// A static, NUL-terminated English name for a status value, e.g.
/// "LK_CLASS_OUT_OF_RANGE: a class index is not below the number of
/// classes". Never NULL; an unknown value gives "unknown lk_status". Takes
/// the integer so any value is defined.
#[unsafe(no_mangle)]
pub extern "C" fn lk_status_message(status: i32) -> *const c_char {
    let text: &'static CStr = match status {
        0 => c"LK_OK: success",
        1 => c"LK_LENGTH_MISMATCH: a buffer does not have the length the other arguments imply",
        2 => c"LK_NOT_WHOLE_ROWS: the logits do not split into one row per target",
        3 => c"LK_CLASS_OUT_OF_RANGE: a class index is not below the number of classes",
        4 => c"LK_INVALID_PARAMETER: a parameter is outside its domain, or a pointer is misaligned",
        5 => c"LK_NULL_POINTER: a required pointer is NULL",
        6 => c"LK_EMPTY: an empty row where a value is required",
        7 => c"LK_OVERLAP: an output buffer overlaps an input or another output",
        _ => c"unknown lk_status",
    };
    text.as_ptr()
}
