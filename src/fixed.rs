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

/// `Ok((loss, value))`, `value` starting as `zero` and written by `fill`,
/// which returns the loss, in place in the result returned on every path:
/// built in a local and then moved into `Ok`, a row of 64 was copied once
/// more, 256 bytes more of a Cortex-M4F's stack (`docs/firmware.md`).
#[inline(always)]
fn loss_and<T>(
    zero: T,
    fill: impl FnOnce(&mut T) -> Result<f32, Error>,
) -> Result<(f32, T), Error> {
    let mut out = Ok((0.0, zero));
    if let Ok((loss, value)) = &mut out {
        match fill(value) {
            Ok(l) => *loss = l,
            Err(e) => out = Err(e),
        }
    }
    out
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
        loss_and(self.zeroed_like(), |grad| {
            crate::softmax_cross_entropy_with_grad(self.values(), target, grad.values_mut())
        })
    }
}

/// The batch forms as methods of a fixed-size batch `[[f32; C]; R]`
/// (R rows of C classes, row-major), returning arrays by value. Each method
/// is the slice kernel of the same name on the flattened batch, with its
/// accuracy, special values and cost; the shape is static, so the only
/// errors left are those of the targets and options.
///
/// # Examples
/// ```
/// use logitkit::{CrossEntropyOptions, FixedBatch};
/// let logits = [[2.0f32, 1.0, 0.1], [0.0, 5.0, 0.0]];
/// let p = logits.softmax_rows();
/// assert!((p[1].iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// let (loss, grad) = logits.softmax_cross_entropy_batch_with_grad(&[0, 1], &Default::default())?;
/// assert!(loss > 0.0 && grad[1][1] < 0.0);
/// assert_eq!(logits.argmax_rows(), [0, 1]);
/// let soft = [[0.8f32, 0.1, 0.1], [0.0, 0.9, 0.1]];
/// let (loss, per_row) = logits.softmax_cross_entropy_probs_batch(&soft, &Default::default())?;
/// assert!(loss > 0.0 && per_row[1] > 0.0);
/// # Ok::<(), logitkit::Error>(())
/// ```
pub trait FixedBatch<const R: usize>: Sized {
    /// See [`log_sum_exp_rows`](crate::log_sum_exp_rows).
    fn log_sum_exp_rows(&self) -> [f32; R];
    /// See [`softmax_rows`](crate::softmax_rows).
    fn softmax_rows(&self) -> Self;
    /// See [`log_softmax_rows`](crate::log_softmax_rows).
    fn log_softmax_rows(&self) -> Self;
    /// See [`argmax_rows`](crate::argmax_rows); 0 for rows of 0 classes.
    fn argmax_rows(&self) -> [usize; R];
    /// See [`softmax_cross_entropy_batch`](crate::softmax_cross_entropy_batch):
    /// returns the reduced loss and each row's loss.
    ///
    /// # Errors
    /// As that function, for the targets and the options.
    fn softmax_cross_entropy_batch(
        &self,
        targets: &[usize; R],
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, [f32; R]), Error>;
    /// See [`softmax_cross_entropy_batch_with_grad`](crate::softmax_cross_entropy_batch_with_grad):
    /// returns the reduced loss and its gradient.
    ///
    /// # Errors
    /// As that function, for the targets and the options.
    fn softmax_cross_entropy_batch_with_grad(
        &self,
        targets: &[usize; R],
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, Self), Error>;
    /// See [`softmax_cross_entropy_probs_batch`](crate::softmax_cross_entropy_probs_batch):
    /// `probs` holds row r's target in its row r; returns the reduced loss
    /// and each row's loss.
    ///
    /// # Errors
    /// As that function, for the targets and the options.
    fn softmax_cross_entropy_probs_batch(
        &self,
        probs: &Self,
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, [f32; R]), Error>;
    /// See [`softmax_cross_entropy_probs_batch_with_grad`](crate::softmax_cross_entropy_probs_batch_with_grad):
    /// returns the reduced loss and its gradient.
    ///
    /// # Errors
    /// As that function, for the targets and the options.
    fn softmax_cross_entropy_probs_batch_with_grad(
        &self,
        probs: &Self,
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, Self), Error>;
}

impl<const C: usize, const R: usize> FixedBatch<R> for [[f32; C]; R] {
    fn log_sum_exp_rows(&self) -> [f32; R] {
        // A row of 0 classes is empty: −inf, as `log_sum_exp(&[])`.
        let mut out = [f32::NEG_INFINITY; R];
        if C > 0 {
            // Whole rows of C by construction: always Ok.
            let _ = crate::log_sum_exp_rows(self.as_flattened(), C, &mut out);
        }
        out
    }
    fn softmax_rows(&self) -> Self {
        let mut out = *self;
        let _ = crate::softmax_rows_in_place(out.as_flattened_mut(), C);
        out
    }
    fn log_softmax_rows(&self) -> Self {
        let mut out = *self;
        let _ = crate::log_softmax_rows_in_place(out.as_flattened_mut(), C);
        out
    }
    fn argmax_rows(&self) -> [usize; R] {
        self.each_ref().map(|row| crate::argmax(row).unwrap_or(0))
    }
    fn softmax_cross_entropy_batch(
        &self,
        targets: &[usize; R],
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, [f32; R]), Error> {
        loss_and([0.0; R], |per_row| {
            crate::softmax_cross_entropy_batch(self.as_flattened(), targets, options, Some(per_row))
        })
    }
    fn softmax_cross_entropy_batch_with_grad(
        &self,
        targets: &[usize; R],
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, Self), Error> {
        loss_and([[0.0; C]; R], |grad| {
            crate::softmax_cross_entropy_batch_with_grad(
                self.as_flattened(),
                targets,
                options,
                grad.as_flattened_mut(),
                None,
            )
        })
    }
    fn softmax_cross_entropy_probs_batch(
        &self,
        probs: &Self,
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, [f32; R]), Error> {
        loss_and([0.0; R], |per_row| {
            crate::softmax_cross_entropy_probs_batch(
                self.as_flattened(),
                probs.as_flattened(),
                C,
                options,
                Some(per_row),
            )
        })
    }
    fn softmax_cross_entropy_probs_batch_with_grad(
        &self,
        probs: &Self,
        options: &crate::CrossEntropyOptions,
    ) -> Result<(f32, Self), Error> {
        loss_and([[0.0; C]; R], |grad| {
            crate::softmax_cross_entropy_probs_batch_with_grad(
                self.as_flattened(),
                probs.as_flattened(),
                C,
                options,
                grad.as_flattened_mut(),
                None,
            )
        })
    }
}
