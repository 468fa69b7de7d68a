//! Fused losses from logits: the loss returned and the gradient written in
//! the same call, in forms that never cancel.

pub(crate) mod bce_with_logits;
pub(crate) mod one_lane_cross_entropy;
pub(crate) mod options;
pub(crate) mod short_cross_entropy;
pub(crate) mod softmax_cross_entropy;
