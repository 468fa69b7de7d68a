//! The softmax family: log-sum-exp, softmax, log-softmax and their backward
//! products, all built on one row analysis ([`analyze_row`]).
//!
//! Forms from Blanchard, Higham & Higham (2021), "Accurately computing the
//! log-sum-exp and softmax functions": with m = max xᵢ and
//! s′ = Σ_{i≠argmax} e^{xᵢ−m}, lse = m + ln_1p(s′) (never cancels inside the
//! logarithm), softmaxᵢ = e^{xᵢ−m} · (1/Σ) (the reciprocal rounded once) and
//! log_softmaxᵢ = (xᵢ − m) − ln_1p(s′).

pub(crate) mod backward;
pub(crate) mod log_sum_exp;
pub(crate) mod rows;
pub(crate) mod short_rows;
#[allow(clippy::module_inception)]
pub(crate) mod softmax;

use core::ops::Range;

use crate::lane::{Lane, Simd, load_at, store_at};
use crate::math::exp::{exp_fast, exp_lane};
use crate::math::two_sum;
use crate::reduce::row_max_min;
use short_rows::{
    MEDIUM_ROW_MAX, RowOrderSums, RowPass, medium_sums_in_place, medium_sums_with_max,
};

/// e^{x − m} for x ≤ m, with the rounding error of x − m taken into account.
///
/// d = fl(x − m) can be off by ½ ulp(d), which for |d| ≈ 80 is a relative
/// error of 2⁻¹⁸ in e^d: enough to lose 16 ULP on a tiny probability or a
/// tiny loss. TwoSum recovers the exact error δ = (x − m) − d and
/// e^{d+δ} = e^d·(1 + δ) to within δ² < 2⁻³⁴. Where d < −128, e = 0 and
/// δ is not needed: it is replaced by 0 there, because it is NaN for a
/// masked logit (x = −inf) and ±inf when x − m overflows inside TwoSum
/// (x = −f32::MAX, m = −3.3e37 made log_sum_exp NaN: found by fuzzing).
/// x ≤ m is finite or −inf here: the callers handle NaN and +inf rows first.
#[inline(always)]
pub(crate) fn exp_shifted<V: Lane>(x: V, neg_m: V) -> V {
    let (d, delta) = two_sum(x, neg_m);
    let delta = V::select_or_zero(d.gt(V::splat(-128.0)), delta);
    let e = exp_lane(d);
    e.mul_add(delta, e)
}

/// [`exp_shifted`] where every lane's x − m is known to be above −87
/// (`short_rows::all_exp_fast`), from x − m already split exactly into
/// d + δ: the same bits without the range test, the rare path's call and
/// the guard on δ, which only the rare path needs.
#[inline(always)]
pub(crate) fn exp_of_gap_in_range<V: Lane>((d, delta): (V, V)) -> V {
    let e = exp_fast(d);
    e.mul_add(delta, e)
}

/// e^{(x − m) + (a_hi + a_lo)} for x ≤ m − 87 (a subnormal e^{x−m}) and
/// a = ln c ≤ 111: both additions' rounding errors are recovered by TwoSum
/// and applied as e·(1 + δ), as in [`exp_shifted`]. The rare path of
/// [`scale_exps`]; splitting m − ln c into f32 hi + lo instead failed where
/// ulp(m) ≥ 1 (found by fuzzing).
#[inline(always)]
fn exp_shifted_by<V: Lane>(x: V, neg_m: V, a_hi: V, a_lo: V) -> V {
    let (d, delta) = two_sum(x, neg_m);
    let (s, delta_s) = two_sum(d, a_hi);
    let delta = delta + delta_s + a_lo;
    let delta = V::select_or_zero(s.gt(V::splat(-128.0)), delta);
    let e = exp_lane(s);
    e.mul_add(delta, e)
}

/// w·(m − x) for x ≤ m without a spurious overflow: when m − x exceeds
/// f32::MAX (x and m huge and of opposite signs) the product is formed from
/// halves, exact in that range, and overflows only if the product does.
#[inline(always)]
pub(crate) fn weighted_gap<V: Lane>(w: V, m: V, x: V) -> V {
    let gap = m - x;
    let half = V::splat(0.5);
    let from_halves = (w * (m * half - x * half)) * V::splat(2.0);
    V::select(gap.eq(V::splat(f32::INFINITY)), from_halves, w * gap)
}

/// Overwrites the exponentials e = e^{xᵢ−m} in `grad` by e·c − coef·tᵢ,
/// with c (= Q/S, scaled) and coef given in f64 and tᵢ = `target(k)` (the
/// target weights, unscaled).
///
/// c ≤ 1 (normalized targets): one fused multiply-add; an e that underflowed
/// loses nothing, as e·c ≤ e. c > 1 (unnormalized targets, class weights
/// above 1): where e is subnormal its lost bits would be scaled up, so those
/// lanes take e^{(xᵢ−m) + ln c} directly ([`exp_shifted_by`]). Where c or
/// coef exceeds f32::MAX (weights or targets near f32::MAX, a mean over a
/// tiny total weight) both products are formed scaled by 2⁻ᵏ and the
/// difference scaled back, so it overflows only where its value does, with
/// its sign, never inf − inf (found by fuzzing).
pub(crate) fn scale_exps(
    grad: &mut [f32],
    logits: &[f32],
    max: f32,
    c: f64,
    coef: f64,
    target: impl Fn(usize) -> Simd,
) {
    let vectors = grad.len().div_ceil(Simd::WIDTH);
    let splat = <Simd as Lane>::splat;
    let huge = c.max(coef) > f32::MAX as f64;
    if c <= 1.0 && !huge {
        let (c, coef) = (splat(c as f32), splat(coef as f32));
        for k in 0..vectors {
            let e = load_at::<Simd>(grad, k, 0.0);
            store_at(e.mul_add(c, -(coef * target(k))), grad, k);
        }
        return;
    }
    // Scale both products by 2⁻ᵏ so the larger coefficient is about 2¹⁰⁰
    // (c can reach 2²⁹⁰: a mean over a tiny total weight times targets near
    // f32::MAX), and the difference back by 2ᵏ in two exact steps.
    let shift = if huge {
        (((c.max(coef).to_bits() >> 52) as i32 - 1023) - 100).clamp(0, 254)
    } else {
        0
    };
    let down = f64::from_bits(((1023 - shift) as u64) << 52);
    let (up_1, up_2) = (power_of_two(shift / 2), power_of_two(shift - shift / 2));
    let (c_down, coef_down) = (splat((c * down) as f32), splat((coef * down) as f32));
    // ln(c·2⁻ᵏ) by the log1p the row statistics already link (c − 1 is exact
    // to 2⁻⁵³ relative), as hi + lo: the direct lanes give e·c·2⁻ᵏ too.
    let ln_c = libm::log1p((c - 1.0).max(0.0)) - shift as f64 * core::f64::consts::LN_2;
    let ln_c_hi = ln_c as f32;
    let (ln_c_hi, ln_c_lo) = (splat(ln_c_hi), splat((ln_c - ln_c_hi as f64) as f32));
    // Below this e takes the direct path: subnormal e when c > 1, never else.
    let direct_below = splat(if c > 1.0 { f32::MIN_POSITIVE } else { 0.0 });
    let (neg_m, up_1, up_2) = (splat(-max), splat(up_1), splat(up_2));
    for k in 0..vectors {
        let e = load_at::<Simd>(grad, k, 0.0);
        let x = load_at::<Simd>(logits, k, f32::NEG_INFINITY);
        let direct = exp_shifted_by(x, neg_m, ln_c_hi, ln_c_lo);
        let scaled = <Simd as Lane>::select(e.lt(direct_below), direct, e * c_down);
        store_at(((scaled - coef_down * target(k)) * up_1) * up_2, grad, k);
    }
}

/// 2ᵏ as an f32, 0 ≤ k ≤ 127.
fn power_of_two(k: i32) -> f32 {
    f32::from_bits(((127 + k.clamp(0, 127)) as u32) << 23)
}

/// What the first two passes learn about a row with a finite maximum.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowStats {
    /// m = max xᵢ (finite).
    pub max: f32,
    /// Σ e^{xᵢ−m} over the xᵢ < m.
    pub others: f64,
    /// Number of xᵢ equal to m (≥ 1).
    pub ties: f64,
}

impl RowStats {
    /// Σ e^{xᵢ−m} over the whole row (≥ 1).
    #[inline]
    pub fn sum(&self) -> f64 {
        self.others + self.ties
    }

    /// s′ = Σ e^{xᵢ−m} − 1 (exact in the tie count).
    #[inline]
    pub fn excess(&self) -> f64 {
        self.others + (self.ties - 1.0)
    }

    /// ln Σ e^{xᵢ−m} = ln_1p(s′), in f64.
    #[inline]
    pub fn log_sum(&self) -> f64 {
        libm::log1p(self.excess())
    }
}

/// The class of a row, which decides which special-value rule of `docs/contract.md`
/// applies.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Row {
    /// Some element is NaN.
    Nan,
    /// Empty, or every element is −inf (a fully masked row).
    Masked,
    /// `count` elements are +inf (and none is NaN).
    Infinite { count: usize },
    /// The maximum is finite.
    Finite(RowStats),
}

/// Where pass 2 reads the logits and writes the exponentials.
pub(crate) trait RowIo {
    /// Row length.
    fn len(&self) -> usize;
    /// Vector `k` of the logits, padded with `pad` past the end.
    fn load<V: Lane>(&self, k: usize, pad: f32) -> V;
    /// Keeps the exponentials of vector `k` (or drops them).
    fn store<V: Lane>(&mut self, k: usize, e: V);
    /// The row-order pass over the logits in `range` (see
    /// [`analyze_with_max`]), keeping their exponentials where `store`
    /// would.
    fn row_order_sums(&mut self, max: f32, pass: RowPass, range: Range<usize>) -> RowOrderSums;
}

/// Logits read from one slice, exponentials written to another (possibly
/// empty, to keep none).
pub(crate) struct SeparateIo<'a> {
    pub xs: &'a [f32],
    pub exps: &'a mut [f32],
}

impl RowIo for SeparateIo<'_> {
    fn len(&self) -> usize {
        self.xs.len()
    }
    #[inline(always)]
    fn load<V: Lane>(&self, k: usize, pad: f32) -> V {
        load_at(self.xs, k, pad)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, k: usize, e: V) {
        store_at(e, self.exps, k);
    }
    #[inline(always)]
    fn row_order_sums(&mut self, max: f32, pass: RowPass, range: Range<usize>) -> RowOrderSums {
        let xs = self.xs.get(range.clone()).unwrap_or_default();
        let exps = self.exps.get_mut(range).unwrap_or_default();
        medium_sums_with_max(max, pass, xs, exps)
    }
}

/// Exponentials written over the logits.
pub(crate) struct InPlaceIo<'a>(pub &'a mut [f32]);

impl RowIo for InPlaceIo<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn load<V: Lane>(&self, k: usize, pad: f32) -> V {
        load_at(self.0, k, pad)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, k: usize, e: V) {
        store_at(e, self.0, k);
    }
    #[inline(always)]
    fn row_order_sums(&mut self, max: f32, pass: RowPass, range: Range<usize>) -> RowOrderSums {
        medium_sums_in_place(max, pass, self.0.get_mut(range).unwrap_or_default())
    }
}

/// Classifies `xs` and, for a finite maximum, computes [`RowStats`] while
/// storing e^{xᵢ−m} into `exps` (pass an empty slice not to store; otherwise
/// it must be as long as `xs`); `total_only` as in [`RowPass`].
///
/// Passes: one read of `xs` for the max; if finite, a second read of `xs`
/// with one write of `exps`.
#[inline(always)]
pub(crate) fn analyze_row(xs: &[f32], exps: &mut [f32], total_only: bool) -> Row {
    let (max, min) = row_max_min::<Simd>(xs);
    let pass = RowPass::of_row(max, min, total_only);
    analyze_with_max(max, pass, &mut SeparateIo { xs, exps })
}

/// [`analyze_row`] given the max and how the pass runs, for any
/// [`RowIo`]; the count of +inf entries is read back through it in the
/// (rare) infinite case. With [`RowPass::total_only`], `others` is the
/// whole sum and `ties` 0.
///
/// The row goes in stretches of [`MEDIUM_ROW_MAX`] logits, each by the
/// row-order pass of medium rows (`short_rows`), whose pair sums are
/// gathered in f64: within each stretch a lane adds blocks of four terms
/// (≤ 3u) into a compensated pair (within (k·u)² < 2⁻³⁰ for its
/// k ≤ 256 blocks), and the f64 total adds ≤ n·2⁻⁵³ / 4096, so the
/// summation bound of `docs/accuracy.md`, 3u + 2⁻²⁹, holds for any n.
#[inline(always)]
pub(crate) fn analyze_with_max(max: f32, pass: RowPass, io: &mut impl RowIo) -> Row {
    if !max.is_finite() {
        return special_row(max, io);
    }
    let (mut others, mut ties) = (0.0f64, 0.0f64);
    let mut start = 0;
    while start < io.len() {
        let end = io.len().min(start + MEDIUM_ROW_MAX);
        let sums = io.row_order_sums(max, pass, start..end);
        others += sums.others.0 as f64 + sums.others.1 as f64;
        ties += sums.ties as f64;
        start = end;
    }
    Row::Finite(RowStats { max, others, ties })
}

/// The class of a row whose maximum `max` is NaN or ±inf; the count of
/// +inf entries is read back through `io`.
pub(crate) fn special_row(max: f32, io: &impl RowIo) -> Row {
    if max.is_nan() {
        Row::Nan
    } else if max == f32::NEG_INFINITY {
        Row::Masked
    } else {
        let count = (0..io.len())
            .filter(|&k| io.load::<f32>(k, 0.0) == f32::INFINITY)
            .count();
        Row::Infinite { count }
    }
}

/// The per-vector work of pass 2 of the long-row cross-entropies: the
/// short rows' [`short_rows::terms`] (e = e^{x−m}, e where x < m, and 1
/// where x < m, whose sum leaves the ties as n minus it). The padding lanes
/// of a row's last, partial vector should be m itself, not −inf: a −inf
/// lane sends the whole vector through exp's general path (measured: a row
/// of 10 logits cost more than a row of 16 on every build), while m takes
/// the fast path and counts as neither. Its e = 1 is stored nowhere, as
/// the partial store writes only valid lanes.
#[inline(always)]
pub(crate) fn exp_terms<V: Lane>(x: V, max: f32) -> (V, [V; 2]) {
    let (e, below_term, below) = short_rows::terms(x, V::splat(max));
    (e, [below_term, below])
}
