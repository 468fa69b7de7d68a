//! The sigmoid family: sigmoid, softplus, log_sigmoid and their backward
//! products. All three start from t = e^{−|x|} ∈ (0, 1], which never
//! overflows, and pick the form that does not cancel for the sign of x.

#[allow(clippy::module_inception)]
pub(crate) mod sigmoid;
pub(crate) mod softplus;

use crate::error::{Error, check_len};
use crate::lane::{
    AVOID_SUBNORMAL_PRODUCTS, FUSED_MUL_ADD, Lane, MAX_WIDTH, SELECT_IS_BITWISE, SigmoidSimd,
    horner, load_at, load_partial, store_at, store_partial,
};
use crate::math::exp::{exp_split_fast, exp_split_lane};
use crate::math::{ln_1p_unit, zero_where_square_underflows};

/// σ(±z) and softplus(±z) of a lane, from one exponential t = e^{−|z|},
/// one division q = t/(1 + t) and one logarithm.
pub(crate) struct Logistic<V: Lane> {
    /// σ(z)
    pub sig: V,
    /// σ(−z)
    pub sig_neg: V,
    /// σ(−|z|), the smaller of the two.
    pub small: V,
    /// z itself.
    pub z: V,
    /// softplus(z)
    pub sp: V,
    /// softplus(−z)
    pub sp_neg: V,
    /// ln(1 + e^{−|z|}): softplus(±z) = max(±z, 0) + this.
    pub ln_1p_t: V,
    /// σ(|z|), the larger of σ(±z).
    pub large: V,
}

/// t = e^{−|z|} is taken as t + t_lo (the exponential's last rounding kept,
/// `exp_split_lane`) and 1 + t as d + d_lo (Fast2Sum, d ≥ t). The smaller
/// of σ(±z), t/(1 + t), is q = t/d (correctly rounded) corrected by
/// c = (t_lo − q·d_lo)/d, where 1/d is taken as 1 − q (its relative error,
/// about 2⁻²⁴, only scales the correction) and t_lo − q·d_lo is one
/// multiply-add (fused where the target has FMA: one operation fewer on
/// the FP pipes than a product and a difference); it keeps its relative accuracy
/// down to subnormals (σ(−100) ≈ 3.7e−44). The larger is 1 − s for that
/// smaller value s = fl(q + c) ≤ ½: s is within ½ ULP of q plus ½ ULP of s
/// of the truth, each at most ¼ ULP of the result (whose ULP is at least
/// twice s's), and 1 − s rounds once, so within 1 ULP. Forming it as
/// (1 − q) with its rounding error recovered and c subtracted before one
/// rounding (¾ ULP) took three more operations on the FP pipes, which bound
/// the sigmoid family's speed (`docs/performance.md`). One division serves
/// both. softplus(±z) = max(±z, 0) + ln(1 + t + t_lo),
/// with ln(1 + t) from [`ln_1p_unit`] (an exact reduction of t itself, so
/// the rounding of d never enters) and t_lo/(1 + t) as its tail, t_lo·(1 − q).
/// Below t = 2⁻⁶³ ([`SQUARE_UNDERFLOW`](crate::math::SQUARE_UNDERFLOW))
/// d_lo is taken as 0 where multiply-adds do not fuse: the rounded product
/// q·d_lo ≈ t² would be subnormal, and it lies under 2⁻⁶³·t, which the
/// rounding of q + c does not see (a fused multiply-add rounds only its
/// normal sum; there the select measured 11 % on AVX-512 and saved
/// nothing).
/// NaN in, NaN out in every field (the public functions then return the
/// input's payload); t ∈ [0, 1] otherwise, so no special-value patching is
/// needed.
///
/// The public [`sigmoid`](crate::sigmoid()) is σ(z) from here, so BCE and
/// the focal loss get its bits (`tests/elementwise_ulp.rs` sweeps BCE's
/// gradient against it over all 2³² inputs). Their softplus is this sp,
/// the public [`softplus`](crate::softplus)'s algorithm ([`softplus_pair`])
/// with 1/(1 + t) from the division instead of a line: within 2 ULP, swept
/// through BCE's element loss.
#[inline(always)]
pub(crate) fn logistic<V: Lane>(z: V) -> Logistic<V> {
    logistic_on::<V, false>(z)
}

/// [`logistic`], with `FAST` the split exponential's fast path alone (for
/// callers that know every |z| < 87).
#[inline(always)]
pub(crate) fn logistic_on<V: Lane, const FAST: bool>(z: V) -> Logistic<V> {
    let (one, zero) = (V::splat(1.0), V::splat(0.0));
    let (t, t_lo) = split_exp::<V, FAST>(-z.abs());
    let d = one + t;
    let d_lo = ((one - d) + t) + t_lo;
    let d_lo = if AVOID_SUBNORMAL_PRODUCTS && !FUSED_MUL_ADD {
        zero_where_square_underflows(t, d_lo)
    } else {
        d_lo
    };
    let q = t / d;
    let inv_d = one - q;
    // t_lo − q·d_lo: one fused operation where multiply-adds fuse; else
    // a product and a difference, the same bits as (−q)·d_lo + t_lo (a
    // product's rounding is symmetric in sign) without the negation,
    // which LLVM keeps as an `xorps` on SSE2.
    let num = if FUSED_MUL_ADD {
        (-q).mul_add(d_lo, t_lo)
    } else {
        t_lo - q * d_lo
    };
    let small = num.mul_add(inv_d, q);
    let large = one - small;
    let l = ln_1p_unit(t, t_lo * inv_d);
    let positive = z.gt(zero);
    Logistic {
        sig: V::select(positive, large, small),
        sig_neg: V::select(positive, small, large),
        small,
        z,
        sp: z.max(zero) + l,
        sp_neg: (-z).max(zero) + l,
        ln_1p_t: l,
        large,
    }
}

impl<V: Lane> Logistic<V> {
    /// σ(z) for a caller that needs no σ(−z): [`Logistic::sig`]'s bits
    /// (but a NaN's sign). Where a select is three bitwise operations
    /// ([`SELECT_IS_BITWISE`]) as |h − s|, with h = 1 where z > 0 (then
    /// 1 − s, the same rounding as `sig`'s) and 0 elsewhere (−s, exact;
    /// at z = 0 both give ½): four operations where the select and 1 − s
    /// are five. The default build's `sigmoid_into` ran 2.4 % faster
    /// (`docs/performance.md`, "σ in fewer operations").
    #[inline(always)]
    pub(crate) fn sig_alone(&self) -> V {
        self.one_side(self.z.gt(V::splat(0.0)), self.sig)
    }

    /// σ(−z) for a caller that needs no σ(z): [`Logistic::sig_neg`]'s
    /// bits (but a NaN's sign), as [`Logistic::sig_alone`] forms σ(z).
    #[inline(always)]
    pub(crate) fn sig_neg_alone(&self) -> V {
        self.one_side(self.z.lt(V::splat(0.0)), self.sig_neg)
    }

    /// |h − s| with h = 1 in the `larger` lanes (where the wanted σ is
    /// 1 − s), else `selected`, the same value by a select.
    #[inline(always)]
    fn one_side(&self, larger: V::Mask, selected: V) -> V {
        if SELECT_IS_BITWISE {
            (V::select_or_zero(larger, V::splat(1.0)) - self.small).abs()
        } else {
            selected
        }
    }

    /// σ(z)·σ(−z), the derivative: s·(1 − s) for the smaller value s,
    /// the same bits as `sig * sig_neg` (one of the two orders of the same
    /// product) without the comparison and the two selects.
    #[inline(always)]
    pub(crate) fn derivative(&self) -> V {
        self.small * (V::splat(1.0) - self.small)
    }
}

/// The split exponential, or with `FAST` its fast path alone.
#[inline(always)]
fn split_exp<V: Lane, const FAST: bool>(x: V) -> (V, V) {
    if FAST {
        exp_split_fast(x)
    } else {
        exp_split_lane(x)
    }
}

/// 1/(1 + t) on t ∈ [0, 1] within 6 % (tools/fit_coefficients.py): it only
/// scales the exponential's low part, below 2⁻²⁴ of the result.
const RECIP_1P: [f32; 2] = [
    f32::from_bits(0x3f70f0f1), // 0.941_176_474_094_390_9
    f32::from_bits(0xbef0f0f1), // -0.470_588_237_047_195_43
];

/// (softplus(x), softplus(−x)) for the public [`softplus`](crate::softplus)
/// and [`log_sigmoid`](crate::log_sigmoid): max(±x, 0) + ln(1 + t + t_lo)
/// with t + t_lo = e^{−|x|} from the split exponential, taken as
/// ln(1 + t) + t_lo/(1 + t) ([`ln_1p_unit`], whose reduction of 1 + t is
/// exact), 1/(1 + t) from a line within 6 %. Without a division or an
/// exponent extraction; [`logistic`]'s σ (its division) is skipped.
#[inline(always)]
pub(crate) fn softplus_pair<V: Lane>(x: V) -> (V, V) {
    softplus_pair_on::<V, false>(x)
}

/// [`softplus_pair`], `FAST` as for [`logistic_on`].
#[inline(always)]
pub(crate) fn softplus_pair_on<V: Lane, const FAST: bool>(x: V) -> (V, V) {
    let zero = V::splat(0.0);
    let (t, t_lo) = split_exp::<V, FAST>(-x.abs());
    let l = ln_1p_unit(t, t_lo * horner(t, RECIP_1P));
    (x.max(zero) + l, (-x).max(zero) + l)
}

/// `grad_in = derivative(x) · grad_out`, elementwise, one pass, in the
/// sigmoid family's vectors ([`SigmoidSimd`]).
pub(crate) fn backward_with(
    xs: &[f32],
    grad_out: &[f32],
    grad_in: &mut [f32],
    derivative: impl Fn(SigmoidSimd) -> SigmoidSimd,
) -> Result<(), Error> {
    check_len("grad_out", xs.len(), grad_out.len())?;
    check_len("grad_in", xs.len(), grad_in.len())?;
    let width = <SigmoidSimd as Lane>::WIDTH;
    if width <= MAX_WIDTH {
        for k in 0..xs.len().div_ceil(width) {
            let d = derivative(load_at::<SigmoidSimd>(xs, k, 0.0));
            store_at(d * load_at::<SigmoidSimd>(grad_out, k, 0.0), grad_in, k);
        }
        return Ok(());
    }
    // AVX-512's 32-lane vectors: whole vectors, then the tail once. Their
    // padded loads and stores are out-of-line calls, which tested in every
    // vector cost `sigmoid_backward` 6 %; on the default build this form
    // cost 9 % (`docs/performance.md`, "Two 512-bit registers per
    // operation").
    let mut x_chunks = xs.chunks_exact(width);
    let mut g_chunks = grad_out.chunks_exact(width);
    let mut out_chunks = grad_in.chunks_exact_mut(width);
    for ((x, g), out) in (&mut x_chunks).zip(&mut g_chunks).zip(&mut out_chunks) {
        (derivative(SigmoidSimd::load(x)) * SigmoidSimd::load(g)).store(out);
    }
    let x = x_chunks.remainder();
    if !x.is_empty() {
        let d = derivative(load_partial::<SigmoidSimd>(x, 0.0));
        let g = load_partial::<SigmoidSimd>(g_chunks.remainder(), 0.0);
        store_partial(d * g, out_chunks.into_remainder());
    }
    Ok(())
}
