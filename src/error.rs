//! The crate's one error type: shape and parameter errors. Numeric edge cases
//! are never errors; they get the limits of SPEC §3.

use core::fmt;

/// A shape or parameter error. Kernels return it instead of panicking and
/// never truncate silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Two buffers that must have the same length (or a whole number of rows)
    /// do not.
    LengthMismatch {
        /// The length the kernel needs.
        expected: usize,
        /// The length it was given.
        found: usize,
    },
    /// A class index is not below the number of classes.
    ClassOutOfRange {
        /// The index given.
        class: usize,
        /// The number of classes in the row.
        classes: usize,
    },
    /// A parameter is outside its domain (e.g. label smoothing outside `[0, 1]`).
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
    },
    /// A row is empty where a value is required.
    Empty,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::LengthMismatch { expected, found } => {
                write!(f, "length mismatch: expected {expected}, found {found}")
            }
            Error::ClassOutOfRange { class, classes } => {
                write!(f, "class index {class} out of range for {classes} classes")
            }
            Error::InvalidParameter { name } => {
                write!(f, "parameter `{name}` is out of its domain")
            }
            Error::Empty => f.write_str("empty row where a value is required"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// `Ok(())` when `found == expected`, else [`Error::LengthMismatch`].
#[inline]
pub(crate) fn check_len(expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, found })
    }
}
