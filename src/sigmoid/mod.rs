//! The sigmoid family: sigmoid, softplus, log_sigmoid and their backward
//! products. All three start from t = e^{−|x|} ∈ (0, 1], which never
//! overflows, and pick the form that does not cancel for the sign of x.

#[allow(clippy::module_inception)]
pub(crate) mod sigmoid;
pub(crate) mod softplus;

use crate::error::{Error, check_len};
use crate::lane::{Lane, Simd, load_at, store_at};
use crate::math::exp::exp_lane;
use crate::math::ln_1p::ln_1p_lane;

/// σ(x) and σ(−x) from one exponential and one division: with
/// t = e^{−|x|} and r = 1/(1 + t), the larger of the two is r and the
/// smaller t·r. Neither cancels; the smaller keeps its relative accuracy
/// down to subnormals (σ(−100) ≈ 3.7e−44).
#[inline(always)]
pub(crate) fn sigmoid_pair<V: Lane>(x: V) -> (V, V) {
    let t = exp_lane(-x.abs());
    let big = V::splat(1.0) / (V::splat(1.0) + t);
    let small = t * big;
    let positive = x.gt(V::splat(0.0));
    (
        V::select(positive, big, small),
        V::select(positive, small, big),
    )
}

/// (softplus(x), softplus(−x)) = (max(x,0) + L, max(−x,0) + L) with
/// L = ln_1p(e^{−|x|}): one exponential and one logarithm for both.
#[inline(always)]
pub(crate) fn softplus_pair<V: Lane>(x: V) -> (V, V) {
    let l = ln_1p_lane(exp_lane(-x.abs()));
    let zero = V::splat(0.0);
    (x.max(zero) + l, (-x).max(zero) + l)
}

/// `grad_in = derivative(x) · grad_out`, elementwise, one pass.
pub(crate) fn backward_with(
    xs: &[f32],
    grad_out: &[f32],
    grad_in: &mut [f32],
    derivative: impl Fn(Simd) -> Simd,
) -> Result<(), Error> {
    check_len(xs.len(), grad_out.len())?;
    check_len(xs.len(), grad_in.len())?;
    for k in 0..xs.len().div_ceil(<Simd as Lane>::WIDTH) {
        let d = derivative(load_at::<Simd>(xs, k, 0.0));
        store_at(d * load_at::<Simd>(grad_out, k, 0.0), grad_in, k);
    }
    Ok(())
}
