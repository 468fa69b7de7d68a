//! Fixed-size rows: `[f32; N]` and `heapless::Vec<f32, N>` front ends over
//! the slice kernels. The shapes are static, so the only error left is a
//! class index out of range.

use crate::error::Error;
use heapless::Vec;

/// The softmax-family kernels as methods of a fixed-size row, returning new
/// rows by value (no allocation, no length errors). Each method is the slice
/// kernel of the same name, with its accuracy, special values and cost.
///
/// # Examples
/// ```
/// use logitkit::FixedRow;
/// let logits = [2.0f32, 1.0, 0.1];
/// let p = logits.softmax();
/// assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// let (loss, grad) = logits.softmax_cross_entropy_with_grad(0)?;
/// assert!(loss > 0.0 && grad[0] < 0.0);
///
/// let v: heapless::Vec<f32, 8> = heapless::Vec::from_slice(&logits).unwrap();
/// assert_eq!(v.log_sum_exp(), logits.log_sum_exp());
/// # Ok::<(), logitkit::Error>(())
/// ```
pub trait FixedRow: Sized {
    /// See [`log_sum_exp`](crate::log_sum_exp).
    fn log_sum_exp(&self) -> f32;
    /// See [`softmax`](crate::softmax).
    fn softmax(&self) -> Self;
    /// See [`log_softmax`](crate::log_softmax).
    fn log_softmax(&self) -> Self;
    /// See [`softmax_cross_entropy`](crate::softmax_cross_entropy).
    ///
    /// # Errors
    /// [`Error::ClassOutOfRange`] if `target` is not a class of the row.
    fn softmax_cross_entropy(&self, target: usize) -> Result<f32, Error>;
    /// See [`softmax_cross_entropy_with_grad`](crate::softmax_cross_entropy_with_grad):
    /// returns the loss and the gradient.
    ///
    /// # Errors
    /// [`Error::ClassOutOfRange`] if `target` is not a class of the row.
    fn softmax_cross_entropy_with_grad(&self, target: usize) -> Result<(f32, Self), Error>;
}

/// The slice view of a fixed row and a zeroed row of the same shape.
trait RowStorage: Sized {
    fn values(&self) -> &[f32];
    fn zeroed_like(&self) -> Self;
    fn values_mut(&mut self) -> &mut [f32];
}

impl<const N: usize> RowStorage for [f32; N] {
    fn values(&self) -> &[f32] {
        self
    }
    fn zeroed_like(&self) -> Self {
        [0.0; N]
    }
    fn values_mut(&mut self) -> &mut [f32] {
        self
    }
}

impl<const N: usize> RowStorage for Vec<f32, N> {
    fn values(&self) -> &[f32] {
        self
    }
    fn zeroed_like(&self) -> Self {
        let mut v = Vec::new();
        // Cannot fail: the row itself holds `self.len() <= N` elements.
        let _ = v.resize(self.len(), 0.0);
        v
    }
    fn values_mut(&mut self) -> &mut [f32] {
        self
    }
}

impl<R: RowStorage> FixedRow for R {
    fn log_sum_exp(&self) -> f32 {
        crate::log_sum_exp(self.values())
    }
    fn softmax(&self) -> Self {
        let mut out = self.zeroed_like();
        // Same length by construction: the result is always Ok.
        let _ = crate::softmax(self.values(), out.values_mut());
        out
    }
    fn log_softmax(&self) -> Self {
        let mut out = self.zeroed_like();
        let _ = crate::log_softmax(self.values(), out.values_mut());
        out
    }
    fn softmax_cross_entropy(&self, target: usize) -> Result<f32, Error> {
        crate::softmax_cross_entropy(self.values(), target)
    }
    fn softmax_cross_entropy_with_grad(&self, target: usize) -> Result<(f32, Self), Error> {
        let mut grad = self.zeroed_like();
        let loss =
            crate::softmax_cross_entropy_with_grad(self.values(), target, grad.values_mut())?;
        Ok((loss, grad))
    }
}
