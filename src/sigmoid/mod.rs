//! The sigmoid family: sigmoid, softplus, log_sigmoid and their backward
//! products. All three start from t = e^{−|x|} ∈ (0, 1], which never
//! overflows, and pick the form that does not cancel for the sign of x.

#[allow(clippy::module_inception)]
pub(crate) mod sigmoid;
pub(crate) mod softplus;

use crate::error::{Error, check_len};
use crate::lane::{Lane, Simd, load_at, store_at};
use crate::math::exp::exp_lane;
use crate::math::{ln_1p_reduced, split_sqrt2};

/// σ(±z) and softplus(±z) of a lane, from one exponential t = e^{−|z|},
/// one division r = 1/(1 + t) and one logarithm.
pub(crate) struct Logistic<V> {
    /// σ(z)
    pub sig: V,
    /// σ(−z)
    pub sig_neg: V,
    /// softplus(z)
    pub sp: V,
    /// softplus(−z)
    pub sp_neg: V,
}

/// The larger of σ(±z) is r = 1/(1 + t), the smaller t·r: neither cancels,
/// and the smaller keeps its relative accuracy down to subnormals
/// (σ(−100) ≈ 3.7e−44). softplus(±z) = max(±z, 0) + ln(1 + t), where
/// ln(1 + t) is `ln_1p` specialised to t ∈ [0, 1]: u = 1 + t is the same
/// denominator, so the rounding correction (t − (u − 1))/u is a multiply by
/// r, and no special-value patching is needed (t is in [0, 1] or NaN).
///
/// σ here is within 2.83 ULP on every input (three roundings: t, r, t·r;
/// worst at z = −1.9542445), softplus the public [`softplus`](crate::softplus)
/// bit for bit: `tests/elementwise_ulp.rs` sweeps both through BCE's
/// gradient and element loss.
#[inline(always)]
pub(crate) fn logistic<V: Lane>(z: V) -> Logistic<V> {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let t = exp_lane(-z.abs());
    let u = one + t;
    let r = one / u;
    let small = t * r;
    let (k, f) = split_sqrt2(u);
    let l = ln_1p_reduced(k, f, (t - (u - one)) * r);
    let positive = z.gt(zero);
    Logistic {
        sig: V::select(positive, r, small),
        sig_neg: V::select(positive, small, r),
        sp: z.max(zero) + l,
        sp_neg: (-z).max(zero) + l,
    }
}

/// (softplus(x), softplus(−x)); see [`logistic`].
#[inline(always)]
pub(crate) fn softplus_pair<V: Lane>(x: V) -> (V, V) {
    let f = logistic(x);
    (f.sp, f.sp_neg)
}

/// `grad_in = derivative(x) · grad_out`, elementwise, one pass.
pub(crate) fn backward_with(
    xs: &[f32],
    grad_out: &[f32],
    grad_in: &mut [f32],
    derivative: impl Fn(Simd) -> Simd,
) -> Result<(), Error> {
    check_len("grad_out", xs.len(), grad_out.len())?;
    check_len("grad_in", xs.len(), grad_in.len())?;
    for k in 0..xs.len().div_ceil(<Simd as Lane>::WIDTH) {
        let d = derivative(load_at::<Simd>(xs, k, 0.0));
        store_at(d * load_at::<Simd>(grad_out, k, 0.0), grad_in, k);
    }
    Ok(())
}
