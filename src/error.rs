//! The crate's one error type: shape and parameter errors. Numeric edge cases
//! are never errors; they get the limits listed in `docs/contract.md`.

use core::fmt;

/// A shape or parameter error. Kernels return it instead of panicking, never
/// truncate silently, and write nothing before returning it.
///
/// Its [`Display`](core::fmt::Display) names the argument and what was
/// compared, e.g. `grad: expected 20 elements (4 rows × 5 classes), found 18`.
/// It implements [`core::error::Error`] on every build, so `?` into
/// `Box<dyn std::error::Error>` works without any feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A buffer does not have the length the other arguments imply.
    LengthMismatch {
        /// The argument whose length is wrong (`"out"`, `"grad"`, `"labels"`, ...).
        argument: &'static str,
        /// The length the kernel needs.
        expected: usize,
        /// The length it was given.
        found: usize,
        /// For a batch argument, the `(rows, classes)` that `expected` comes from.
        shape: Option<(usize, usize)>,
    },
    /// A row-major batch's logits do not split into whole rows.
    NotWholeRows {
        /// The number of rows (one per target).
        rows: usize,
        /// The number of logits given.
        found: usize,
    },
    /// A row-major batch of rows of `classes` elements has a length that is
    /// not a whole number of rows (or `classes` is 0 with elements given).
    RaggedRows {
        /// The row length the call was given.
        classes: usize,
        /// The number of elements given.
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
            Error::LengthMismatch {
                argument,
                expected,
                found,
                shape,
            } => {
                write!(f, "{argument}: expected {expected} elements")?;
                if let Some((rows, classes)) = shape {
                    write!(f, " ({rows} rows × {classes} classes)")?;
                }
                write!(f, ", found {found}")
            }
            Error::NotWholeRows { rows, found } => {
                write!(f, "logits: {found} elements do not split into {rows} rows")
            }
            Error::RaggedRows { classes, found } => {
                write!(
                    f,
                    "{found} elements are not whole rows of {classes} classes"
                )
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

impl core::error::Error for Error {}

/// `Ok(())` when `found == expected`, else [`Error::LengthMismatch`] naming
/// `argument`.
#[inline]
pub(crate) fn check_len(
    argument: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            argument,
            expected,
            found,
            shape: None,
        })
    }
}

/// [`check_len`] for an optional output: `None` always fits.
/// The number of rows of `classes` elements in `len` elements.
#[inline]
pub(crate) fn whole_rows(len: usize, classes: usize) -> Result<usize, Error> {
    match len.checked_div(classes) {
        Some(rows) if rows * classes == len => Ok(rows),
        None if len == 0 => Ok(0),
        _ => Err(Error::RaggedRows {
            classes,
            found: len,
        }),
    }
}

/// [`check_len`] for a batch argument, naming the shape it comes from.
#[inline]
pub(crate) fn check_batch_len(
    argument: &'static str,
    expected: usize,
    found: usize,
    (rows, classes): (usize, usize),
) -> Result<(), Error> {
    check_len(argument, expected, found).map_err(|_| Error::LengthMismatch {
        argument,
        expected,
        found,
        shape: Some((rows, classes)),
    })
}

#[inline]
pub(crate) fn check_optional_len(
    argument: &'static str,
    expected: usize,
    out: &Option<&mut [f32]>,
) -> Result<(), Error> {
    match out {
        Some(out) => check_len(argument, expected, out.len()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::Error;
    use std::string::ToString;

    #[test]
    fn messages_name_the_argument_and_the_shape() {
        let batch = Error::LengthMismatch {
            argument: "grad",
            expected: 20,
            found: 18,
            shape: Some((4, 5)),
        };
        assert_eq!(
            batch.to_string(),
            "grad: expected 20 elements (4 rows × 5 classes), found 18"
        );
        let row = super::check_len("out", 3, 2).unwrap_err();
        assert_eq!(row.to_string(), "out: expected 3 elements, found 2");
        assert_eq!(
            super::whole_rows(23, 10).unwrap_err().to_string(),
            "23 elements are not whole rows of 10 classes"
        );
        assert_eq!(super::whole_rows(0, 0), Ok(0));
        assert!(super::whole_rows(3, 0).is_err());
        let rows = Error::NotWholeRows { rows: 2, found: 7 };
        assert_eq!(
            rows.to_string(),
            "logits: 7 elements do not split into 2 rows"
        );
    }

    #[test]
    fn converts_into_a_boxed_error_without_std_feature() {
        fn fails() -> Result<(), std::boxed::Box<dyn core::error::Error>> {
            Err(Error::Empty)?
        }
        assert!(fails().is_err());
    }
}
