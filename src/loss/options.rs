//! Options of the batched losses, as in PyTorch's `cross_entropy`.

use crate::error::Error;

/// How per-row losses combine into the returned loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reduction {
    /// Weighted mean: Σ rows' losses / Σ of the target weights of the rows
    /// not ignored (the number of such rows without class weights). A batch
    /// with every target ignored, or zero total weight, has loss 0 and a zero
    /// gradient.
    #[default]
    Mean,
    /// Plain sum. With a per-row output this is PyTorch's `reduction='none'`
    /// (each row's gradient is the gradient of its own loss).
    Sum,
}

/// Options of [`softmax_cross_entropy_batch_with_grad`](crate::softmax_cross_entropy_batch_with_grad).
///
/// With ε = `label_smoothing`, C classes, class weights w (all 1 if none)
/// and target t, the target distribution of a row is
/// qᵢ = (1 − ε)·w_t·[i = t] + (ε/C)·wᵢ and its loss is −Σ qᵢ·log_softmaxᵢ —
/// PyTorch's definition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossEntropyOptions<'a> {
    /// ε ∈ [0, 1]; 0 = no smoothing.
    pub label_smoothing: f32,
    /// One finite, non-negative weight per class.
    pub class_weights: Option<&'a [f32]>,
    /// Rows whose target equals this contribute no loss and a zero
    /// gradient. Signed, so PyTorch's default −100 can be kept with `i32` or
    /// `i64` targets (see [`ClassIndex`]).
    pub ignore_index: Option<i64>,
    /// Mean or sum over rows.
    pub reduction: Reduction,
}

impl Default for CrossEntropyOptions<'_> {
    fn default() -> Self {
        Self {
            label_smoothing: 0.0,
            class_weights: None,
            ignore_index: None,
            reduction: Reduction::Mean,
        }
    }
}

impl CrossEntropyOptions<'_> {
    /// Checks the parameters against `classes` classes.
    pub(crate) fn validate(&self, classes: usize) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&self.label_smoothing) {
            return Err(Error::InvalidParameter {
                name: "label_smoothing",
            });
        }
        if let Some(w) = self.class_weights {
            if w.len() != classes {
                return Err(Error::LengthMismatch {
                    argument: "class_weights",
                    expected: classes,
                    found: w.len(),
                    shape: None,
                });
            }
            if w.iter().any(|&v| !(v >= 0.0 && v.is_finite())) {
                return Err(Error::InvalidParameter {
                    name: "class_weights",
                });
            }
        }
        Ok(())
    }
}

/// An integer type a dataset stores class targets in: `u8`, `u16`, `u32`,
/// `u64`, `usize`, and the signed `i8` … `i64` and `isize`, whose negative
/// values are allowed only as the ignore index (PyTorch's −100).
pub trait ClassIndex: Copy {
    /// The target's value, exactly.
    fn value(self) -> i128;
}

macro_rules! class_index {
    ($($t:ty)*) => {$(
        impl ClassIndex for $t {
            #[inline(always)]
            fn value(self) -> i128 {
                self as i128
            }
        }
    )*};
}
class_index!(u8 u16 u32 u64 usize i8 i16 i32 i64 isize);
