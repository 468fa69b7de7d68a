//! Short rows: at most two vectors (C ≤ 2W logits, W = [`Simd`]'s width),
//! the shape of most classifier heads (10 to 100 classes).
//!
//! The long-row analysis pays a fixed cost per row (partial vectors,
//! horizontal reductions, f64 bookkeeping) that a row of ten logits cannot
//! amortize. Here a row's statistics are formed in f32 with compensated
//! (TwoSum) arithmetic, in one of two layouts:
//!
//! - a single row is loaded as two whole vectors of L lanes, its first L
//!   and its last L values ([`row_vectors`]; the overlap is masked out of
//!   the sums), and reduced across lanes by rotations ([`analyze_row`]);
//!   L = W/2 ([`RowSimd`]) for rows of up to W logits (a wider vector
//!   pays one more level of rotations, and on 8-lane builds without
//!   256-bit registers twice the exponentials), else W;
//! - a batch is transposed in groups of W rows, one row per lane, and the
//!   loop runs over classes ([`RowGroup`]): every vector stays full, there
//!   is no horizontal reduction, and one vector `ln` finishes W rows.
//!
//! Both layouts apply the same lanewise operations to each row: the same
//! exponentials, the same compensated pairwise sum in one fixed tree
//! (position j < L first takes position C − L + j when that is ≥ L, then
//! [`tree_sum`] over the L positions), the same finishing ([`ShortStats`]),
//! so a row gets the same bits whichever layout computes it, and a batch
//! form returns what its single-row form returns on each row.
//!
//! Accuracy of the statistics (u = 2⁻²⁴): each e^{xᵢ−m} within 3u
//! ([`exp_shifted`]); the compensated pairwise sum of at most 2W ≤ 32
//! terms is within u² per level of the exact sum of those values, so
//! s′ = S − 1 (formed exactly from the ties) carries the terms' 3u and
//! nothing more that counts; ln S is kept unrounded as a pair (`ln`'s
//! core on S_hi, plus S_lo/S_hi), within a fraction of u plus
//! 3u·s′/(1+s′) of the exact value. These are the inputs of the derivations in
//! `docs/accuracy.md`, which are no looser than for long rows.

use super::{RowIo, exp_of_gap_in_range, exp_shifted};
use crate::lane::{Lane, MAX_WIDTH, Narrow, RowSimd, Simd, load_partial, store_partial};
use crate::math::exp::EXP_FAST_LIMIT;
use crate::math::{fast_two_sum, ln_1p_reduced_pair, split_sqrt2, two_sum};
use crate::reduce::row_max;

/// Lanes of [`Simd`].
pub(crate) const W: usize = <Simd as Lane>::WIDTH;
/// Lanes of [`RowSimd`], the vector a single row of up to 2·RW logits is
/// analysed in (W/2 on vector builds).
pub(crate) const RW: usize = <RowSimd as Lane>::WIDTH;
/// The longest row this module takes.
pub(crate) const SHORT_ROW_MAX: usize = 2 * W;

/// Whether rows of `classes` logits take this module's kernels: vector
/// builds only (a one-lane build has no lanes to fill), rows of 1..=2W.
#[inline(always)]
pub(crate) fn is_short(classes: usize) -> bool {
    W > 1 && (1..=SHORT_ROW_MAX).contains(&classes)
}

/// The longest row [`analyze_medium_row`] takes: its lanes then sum at
/// most 4096 / W ≤ 512 terms each, so the compensated sum stays within
/// 2⁻³⁰ relative (see there). Longer rows take the long-row kernel, whose
/// independent accumulators suit them.
pub(crate) const MEDIUM_ROW_MAX: usize = 4096;

/// Whether rows of `classes` logits take [`analyze_medium_row`]: vector
/// builds, 2W < `classes` ≤ [`MEDIUM_ROW_MAX`] (a classifier head of 17 to
/// a few thousand classes).
#[inline(always)]
pub(crate) fn is_medium(classes: usize) -> bool {
    W > 1 && (SHORT_ROW_MAX + 1..=MEDIUM_ROW_MAX).contains(&classes)
}

/// The statistics of rows with a finite maximum, one row per lane of `V`
/// (`f32` for a single row, [`Simd`] for a group).
#[derive(Clone, Copy)]
pub(crate) struct ShortStats<V> {
    /// m = max xᵢ.
    pub max: V,
    /// Number of xᵢ equal to m (exact).
    pub ties: V,
    /// s′ = Σ e^{xᵢ−m} − 1 as hi + lo.
    pub excess: V,
    pub excess_lo: V,
    /// S = Σ e^{xᵢ−m} as hi + lo.
    pub sum: V,
    pub sum_lo: V,
}

impl<V: Lane> ShortStats<V> {
    /// From the compensated sum of the terms below the max and the tie count.
    #[inline(always)]
    pub(crate) fn new(max: V, others: (V, V), ties: V) -> Self {
        let one = V::splat(1.0);
        let (excess, err) = two_sum(others.0, ties - one);
        let excess_lo = err + others.1;
        let (sum, err) = two_sum(excess, one);
        Self {
            max,
            ties,
            excess,
            excess_lo,
            sum,
            sum_lo: err + excess_lo,
        }
    }

    /// ln S as hi + lo, unrounded: S_hi = 2ᵏ·(1 + f) with 1 + f ∈ [√½, √2)
    /// (exact), ln S = k·ln2 + ln(1 + f) + S_lo/S_hi by `ln`'s core. The
    /// pair carries only the rounding errors of its low part (|lo| < 0.1),
    /// a fraction of 2⁻²⁴ absolute for every S ≥ 1, where a rounded ln S
    /// would be off by up to ½ ULP of a logarithm that grows with the row.
    #[inline(always)]
    pub fn log_sum(&self) -> (V, V) {
        let (k, f) = split_sqrt2(self.sum);
        ln_1p_reduced_pair(k, f, self.sum_lo / self.sum)
    }

    /// 1/S, corrected for S_lo (one Newton step on the pair).
    #[inline(always)]
    pub fn inv_sum(&self) -> V {
        let inv = V::splat(1.0) / self.sum;
        inv.mul_add(-(self.sum_lo * inv), inv)
    }
}

/// [`ShortStats::log_sum`] of one row, S = `sum` + `sum_lo` ≥ 1: the same
/// operations, out of line so that a one-lane build links one copy of the
/// logarithm for its rows and its special values (firmware size).
#[inline(never)]
pub(crate) fn log_sum_one(sum: f32, sum_lo: f32) -> (f32, f32) {
    let (k, f) = split_sqrt2(sum);
    ln_1p_reduced_pair(k, f, sum_lo / sum)
}

/// log_softmax of x in a row with maximum m and ln S = ln_hi + ln_lo:
/// ((x − m) − ln_hi) − ln_lo, for single rows and groups alike.
#[inline(always)]
pub(crate) fn log_softmax<V: Lane>(x: V, m: V, ln_hi: V, ln_lo: V) -> V {
    ((x - m) - ln_hi) - ln_lo
}

/// log-sum-exp of rows with these statistics: m + ln S, rounded once.
#[inline(always)]
pub(crate) fn log_sum_exp<V: Lane>(stats: &ShortStats<V>) -> V {
    let (ln_hi, ln_lo) = stats.log_sum();
    let (s, err) = two_sum(stats.max, ln_hi);
    s + (err + ln_lo)
}

/// The compensated pairwise sum of L (hi, lo) pairs (L a power of two)
/// in the one fixed tree both layouts use: position j takes j + L/2, then
/// j + L/4, …; the error terms follow the same tree.
#[inline(always)]
pub(crate) fn tree_sum<V: Lane, const L: usize>(mut hi: [V; L], mut lo: [V; L]) -> (V, V) {
    let mut half = L / 2;
    while half > 0 {
        let (Some((hi_a, hi_b)), Some((lo_a, lo_b))) =
            (hi.split_at_mut_checked(half), lo.split_at_mut_checked(half))
        else {
            break;
        };
        for (((ha, &hb), la), &lb) in hi_a.iter_mut().zip(hi_b.iter()).zip(lo_a).zip(lo_b.iter()) {
            let (s, e) = two_sum(*ha, hb);
            *ha = s;
            *la = (*la + lb) + e;
        }
        half /= 2;
    }
    (hi[0], lo[0])
}

/// [`tree_sum`] of one row's L lanes (L = `V`'s width), `hi` and `lo`
/// holding the L pairs: the same tree (lane j takes lane j + L/2, then
/// j + L/4, …), each level one vector TwoSum on the vector and its lanes
/// rotated, so the same bits in lane 0. Scalar levels cost a row of 10
/// logits about 60 instructions on the AVX2 build.
#[inline(always)]
pub(crate) fn tree_sum_lanes<V: Lane>(hi: V, lo: V) -> (f32, f32) {
    let level = |(hi, lo): (V, V), rotate: fn(V) -> V| {
        let (s, e) = two_sum(hi, rotate(hi));
        (s, (lo + rotate(lo)) + e)
    };
    let (hi, lo) = halving_levels((hi, lo), level);
    (hi.first(), lo.first())
}

/// The sum of the lanes of `v` by the same halving steps: exact for the
/// small integers it is used on (tie counts), in any order.
#[inline(always)]
fn lane_total<V: Lane>(v: V) -> f32 {
    halving_levels(v, |v, rotate| v + rotate(v)).first()
}

/// The largest lane of `v`, which holds no NaN, by the same halving steps.
#[inline(always)]
fn lane_max<V: Lane>(v: V) -> f32 {
    halving_levels(v, |v, rotate| v.max(rotate(v))).first()
}

/// `step` applied at each level of a halving tree over `V`'s lanes, widest
/// first, with the rotation of that level (lane j takes lane j + half).
/// Each level names its rotation as a constant, so every rotation is one
/// shuffle whatever the compiler decides about unrolling: with the
/// rotation as a loop variable, a change elsewhere left the levels rolled
/// up in `log_sum_exp` (default build) and every rotation went lane by
/// lane through memory (`docs/performance.md`, "Whole-vector stores for
/// the rows forms").
#[inline(always)]
fn halving_levels<V: Lane, T>(mut state: T, step: impl Fn(T, fn(V) -> V) -> T) -> T {
    const _: () = assert!(MAX_WIDTH <= 16);
    if V::WIDTH > 8 {
        state = step(state, rotate_lanes::<V, 8>);
    }
    if V::WIDTH > 4 {
        state = step(state, rotate_lanes::<V, 4>);
    }
    if V::WIDTH > 2 {
        state = step(state, rotate_lanes::<V, 2>);
    }
    if V::WIDTH > 1 {
        state = step(state, rotate_lanes::<V, 1>);
    }
    state
}

/// `v` with lane j taking lane (j + K) mod L: one shuffle.
#[inline(always)]
fn rotate_lanes<V: Lane, const K: usize>(v: V) -> V {
    let a = lane_array(v);
    // A loop, not `array::from_fn`: LLVM left from_fn's 16-slot instance
    // out of line in `softmax` on 16-lane builds, and the rotations went
    // through memory (a row of 10 took 714 instructions instead of 310).
    let mut rotated = [0.0; MAX_WIDTH];
    for (j, r) in rotated.iter_mut().enumerate().take(V::WIDTH) {
        *r = a[(j + K) % V::WIDTH];
    }
    V::load(rotated.get(..V::WIDTH).unwrap_or(&[]))
}

/// The lanes of `v` in the first L elements of an array.
#[inline(always)]
fn lane_array<V: Lane>(v: V) -> [f32; MAX_WIDTH] {
    let mut out = [0.0; MAX_WIDTH];
    v.store(&mut out);
    out
}

/// The per-position work: e = e^{x−m}, the term below the max, and 1
/// where x < m (else 0). Padding lanes hold m itself, so they count as
/// neither: a row's ties (its entries equal to m) are its length minus the
/// count below, as no entry exceeds its finite maximum and none is NaN.
/// Counting below from the comparison the term already makes, instead of
/// comparing for equality and masking the padding, saves two operations
/// per vector (`docs/performance.md`, "Ties from the count below").
#[inline(always)]
pub(crate) fn terms<V: Lane>(x: V, max: V) -> (V, V, V) {
    terms_of(x, max, exp_shifted(x, -max))
}

/// e = e^{x−m} with the term below the max and the count below.
#[inline(always)]
fn terms_of<V: Lane>(x: V, max: V, e: V) -> (V, V, V) {
    let below = x.lt(max);
    (
        e,
        V::select_or_zero(below, e),
        V::select_or_zero(below, V::splat(1.0)),
    )
}

/// Whether every e^{xᵢ−m} of a row with the finite maximum `max` and the
/// lanewise minima `min` ([`crate::reduce::row_max_min`]) takes exp's fast path
/// (|x − m| < 87, so x − m > −87 as x ≤ m): fl(xᵢ − m) ≥ fl(min − m), as
/// rounding is monotonic, and +inf lanes pass. Masked (−inf) logits keep a
/// row out. Such rows skip the test per vector and the call out of the
/// loop that the rare path needs (the same bits). `max` may differ by
/// lane (a group of rows, one per lane, [`RowGroup::analyze`]).
#[inline(always)]
pub(crate) fn all_exp_fast<V: Lane>(max: V, min: V) -> bool {
    V::all((min - max).gt(V::splat(-EXP_FAST_LIMIT)))
}

/// The statistics of a row of any length with the finite maximum `max` on
/// one-lane builds (Cortex-M, RISC-V, wasm without simd128), without f64:
/// one pass of e^{xᵢ−m}, each stored through `io`, summed sequentially
/// with TwoSum and the errors added in f32 (relative error ≤ 2u + n·u²,
/// Higham 2002 §4.3, below 3u for n ≤ 2²⁴, no more than the vector builds'
/// blocked sum). The finishing is the short rows'.
pub(crate) fn one_lane_stats(max: f32, io: &mut impl RowIo) -> ShortStats<f32> {
    let neg_m = -max;
    let (mut others, mut others_lo, mut ties) = (0.0f32, 0.0f32, 0.0f32);
    for k in 0..io.len() {
        let x = io.load::<f32>(k, max);
        let e = exp_shifted(x, neg_m);
        io.store(k, e);
        if x < max {
            let (s, err) = two_sum(e, others);
            others = s;
            others_lo += err;
        } else {
            ties += 1.0;
        }
    }
    ShortStats::new(max, (others, others_lo), ties)
}

/// The statistics of a row of any length on vector builds, in row order,
/// as [`ShortStats`], writing e^{xᵢ−m} into `exps` unless it is empty (else
/// it is as long as `xs`); for the rare rows whose maximum is NaN or ±inf,
/// that maximum (NaN if any element is NaN).
///
/// Two passes: the max, then one read of `xs` with one write of `exps`.
/// Each lane adds its terms below the max in blocks of
/// [`ROW_ORDER_BLOCK`] vectors in plain f32 (≤ 3u, u = 2⁻²⁴, as the
/// blocked sum of `docs/accuracy.md`, Summation) and joins each block to
/// its compensated pair by TwoSum, the errors added in f32; the lanes meet
/// in [`tree_sum`]'s tree. A lane's compensated sum of k blocks is within
/// (k·u)² of their exact sum, relative (Ogita, Rump and Oishi 2005, Sum2,
/// without its final rounding: the pair is kept); with k ≤ 256 blocks per
/// lane ([`MEDIUM_ROW_MAX`]) that is below 2⁻³⁰, so s′ carries the
/// blocks' 3u + 2⁻³⁰ relative, within the summation bound.
#[inline(always)]
pub(crate) fn analyze_medium_row(
    xs: &[f32],
    exps: &mut [f32],
    total_only: bool,
) -> Result<ShortStats<f32>, f32> {
    // Two calls of the pass, so that the per-vector test stays a constant
    // of its own copy: one call taking the pass as a value changed the
    // default build's code (`.text` 3.8 KB larger, closures out of line).
    if let Some(once) = row_tested_once(xs, total_only) {
        let (max, pass) = once?;
        let sums = medium_sums_with_max(max, pass, xs, exps);
        return Ok(ShortStats::new(max, sums.others, sums.ties));
    }
    let max = finite_max(xs)?;
    let sums = medium_sums_with_max(max, RowPass::tested(total_only), xs, exps);
    Ok(ShortStats::new(max, sums.others, sums.ties))
}

/// On AVX2 builds without AVX-512, rows of at least 64 logits are tested
/// for exp's range once, from their maximum and lanewise minima
/// ([`RowPass::of_row`]), instead of vector by vector: the row's finite
/// maximum (else that maximum, NaN if any element is NaN) and its pass,
/// `None` for shorter rows and on other builds. Both tests give the same
/// bits. On a Zen 3 VM (x86-64-v3) this took 4–29 % off rows of 64 to
/// 4096 logits; the default build executed 12–22 % fewer instructions
/// with it and ran no faster (up to 7 % slower at 64 and 100 logits); on
/// AVX-512 an earlier form cost about 105 ns per call, for a reason not
/// found (`docs/performance.md`, "One range test per medium row on
/// x86-64-v3").
/// A `total_only` pass keeps TwoSum for x − m: with [`Larger`]'s Fast2Sum
/// copies too, `softmax` of 64 to 1000 logits executed 4–25 % more
/// instructions (three copies of the pass in one function).
#[cfg(all(
    target_feature = "avx2",
    target_feature = "fma",
    not(target_feature = "avx512f"),
    not(logitkit_sixteen_lanes),
    not(logitkit_one_lane)
))]
#[inline(always)]
fn row_tested_once(xs: &[f32], total_only: bool) -> Option<Result<(f32, RowPass), f32>> {
    if xs.len() < 64 {
        return None;
    }
    let (max, min) = crate::reduce::row_max_min::<Simd>(xs);
    if !max.is_finite() {
        return Some(Err(max));
    }
    let pass = if total_only {
        RowPass {
            in_range: all_exp_fast(<Simd as Lane>::splat(max), min),
            larger: Larger::Unordered,
            total_only,
        }
    } else {
        RowPass::of_row(max, min, total_only)
    };
    Some(Ok((max, pass)))
}

/// See the other `cfg` branch: every row tested vector by vector.
#[cfg(not(all(
    target_feature = "avx2",
    target_feature = "fma",
    not(target_feature = "avx512f"),
    not(logitkit_sixteen_lanes),
    not(logitkit_one_lane)
)))]
#[inline(always)]
fn row_tested_once(_: &[f32], _: bool) -> Option<Result<(f32, RowPass), f32>> {
    None
}

/// A medium row's finite maximum (else that maximum, NaN if any element
/// is NaN) and the pass [`analyze_medium_row`] runs on it (split at the
/// maximum), for [`medium_stats_with_max`].
#[inline(always)]
pub(crate) fn medium_max_and_pass(xs: &[f32]) -> Result<(f32, RowPass), f32> {
    if let Some(once) = row_tested_once(xs, false) {
        return once;
    }
    Ok((finite_max(xs)?, RowPass::SPLIT))
}

/// [`analyze_medium_row`] given the row's finite maximum and its pass
/// ([`medium_max_and_pass`]).
#[inline(always)]
pub(crate) fn medium_stats_with_max(
    max: f32,
    pass: RowPass,
    xs: &[f32],
    exps: &mut [f32],
) -> ShortStats<f32> {
    let sums = medium_sums_with_max(max, pass, xs, exps);
    ShortStats::new(max, sums.others, sums.ties)
}

/// The sums of [`medium_stats_with_max`] before they are finished: also
/// the pass over each stretch of a longer row (`softmax::analyze_with_max`),
/// whose [`RowPass::in_range`] comes from [`all_exp_fast`]. Rows up to
/// [`MEDIUM_ROW_MAX`] are tested once only where [`row_tested_once`]
/// takes them.
#[inline(always)]
pub(crate) fn medium_sums_with_max(
    max: f32,
    pass: RowPass,
    xs: &[f32],
    exps: &mut [f32],
) -> RowOrderSums {
    let last = || LastVector::of(xs, max);
    let body = xs
        .get(..xs.len() - past_whole_vectors(xs.len()))
        .unwrap_or_default();
    let vectors = body.chunks_exact(W).map(Simd::load);
    let (sums, tail) = if exps.is_empty() {
        row_order_sums(max, pass, vectors.map(|x| (x, &mut [][..])), last, xs.len())
    } else {
        let vectors = vectors.zip(exps.chunks_exact_mut(W));
        row_order_sums(max, pass, vectors, last, xs.len())
    };
    if let Some(tail) = tail {
        store_last(tail, exps);
    }
    sums
}

/// [`analyze_medium_row`] writing the exponentials over the logits (left
/// unwritten when the maximum is NaN or ±inf): the same operations, the
/// same bits.
#[inline(always)]
pub(crate) fn analyze_medium_row_in_place(
    xs: &mut [f32],
    total_only: bool,
) -> Result<ShortStats<f32>, f32> {
    if let Some(once) = row_tested_once(xs, total_only) {
        let (max, pass) = once?;
        let sums = medium_sums_in_place(max, pass, xs);
        return Ok(ShortStats::new(max, sums.others, sums.ties));
    }
    let max = finite_max(xs)?;
    let sums = medium_sums_in_place(max, RowPass::tested(total_only), xs);
    Ok(ShortStats::new(max, sums.others, sums.ties))
}

/// [`medium_sums_with_max`] writing the exponentials over the logits.
#[inline(always)]
pub(crate) fn medium_sums_in_place(max: f32, pass: RowPass, xs: &mut [f32]) -> RowOrderSums {
    // Read before the pass overwrites the positions it repeats.
    let last = LastVector::of(xs, max);
    let (positions, whole) = (xs.len(), xs.len() - past_whole_vectors(xs.len()));
    let body = xs.get_mut(..whole).unwrap_or_default();
    let vectors = body.chunks_exact_mut(W).map(|x| (Simd::load(x), x));
    let (sums, tail) = row_order_sums(max, pass, vectors, || last, positions);
    if let Some(tail) = tail {
        store_last(tail, xs);
    }
    sums
}

/// n mod W: the positions of a row of n past its whole vectors.
#[inline(always)]
#[allow(
    clippy::modulo_one,
    reason = "W is 1 on one-lane builds, which never call the medium-row kernels"
)]
fn past_whole_vectors(n: usize) -> usize {
    n % W
}

/// The maximum of `xs` if it is finite, else that maximum (NaN if any
/// element is NaN).
#[inline(always)]
pub(crate) fn finite_max(xs: &[f32]) -> Result<f32, f32> {
    let max = row_max::<Simd>(xs);
    if max.is_finite() { Ok(max) } else { Err(max) }
}

/// The last r = n mod W > 0 logits of a row as one vector for the
/// row-order pass. Where n ≥ W it is the row's last W logits, one whole
/// load, whose first W − r lanes repeat positions of the last whole vector
/// (`repeats`: dropped from the sums; their exponentials, the same bits,
/// are stored over the same positions): a partial copy through memory
/// makes the load wait for the copy's stores (see [`row_vectors`]).
/// A shorter row is padded with m past its end (`valid`).
struct LastVector {
    x: Simd,
    repeats: <Simd as Lane>::Mask,
    valid: <Simd as Lane>::Mask,
}

impl LastVector {
    #[inline(always)]
    fn of(xs: &[f32], max: f32) -> Option<Self> {
        let r = past_whole_vectors(xs.len());
        if r == 0 {
            return None;
        }
        let all = <Simd as Lane>::first_lanes(W);
        Some(match xs.last_chunk::<W>() {
            Some(last) => Self {
                x: Simd::load(last),
                repeats: <Simd as Lane>::first_lanes(W - r),
                valid: all,
            },
            None => Self {
                x: load_partial(xs, max),
                repeats: <Simd as Lane>::first_lanes(0),
                valid: <Simd as Lane>::first_lanes(r),
            },
        })
    }
}

/// Stores the exponentials of a [`LastVector`] into `out` (the row's
/// length): the row's last W values, or its first values if it is shorter.
#[inline(always)]
fn store_last(tail: Simd, out: &mut [f32]) {
    match out.last_chunk_mut::<W>() {
        Some(last) => tail.store(last),
        None => store_partial(tail, out),
    }
}

/// Vectors of terms a lane of [`row_order_sums`] adds in plain f32 before
/// the block joins the lane's compensated sum: ≤ 3u relative error per
/// block (Higham 2002, §4.2, non-negative terms), the bound of the
/// long rows' blocked sum, for one TwoSum per block instead of one per
/// vector (`tools/callgrind.sh`: see docs/performance.md).
const ROW_ORDER_BLOCK: usize = 4;

/// The pass of [`analyze_medium_row`] over whole vectors, each stored
/// into its destination (which may be empty), then over the vector `last`
/// gives, whose exponentials are returned for the caller to store. `last`
/// is called after the loop, so no vector is held through it, except by
/// the in-place form, whose loop overwrites the logits it repeats and
/// which loads it first.
#[inline(always)]
fn row_order_sums<'a>(
    max: f32,
    pass: RowPass,
    vectors: impl Iterator<Item = (Simd, &'a mut [f32])>,
    last: impl FnOnce() -> Option<LastVector>,
    positions: usize,
) -> (RowOrderSums, Option<Simd>) {
    let (others, third, tail) = match (pass.in_range, pass.larger) {
        (true, Larger::Max) => {
            in_range_pass(max, pass, vectors, last, |x, neg_m| fast_two_sum(neg_m, x))
        }
        (true, Larger::Logit) => in_range_pass(max, pass, vectors, last, fast_two_sum),
        (true, Larger::Unordered) => in_range_pass(max, pass, vectors, last, two_sum),
        (false, _) if pass.total_only => row_order_pass(max, vectors, last, |x, m, valid| {
            total_term(valid, exp_shifted(x, -m))
        }),
        (false, _) => row_order_pass(max, vectors, last, |x, m, _| terms(x, m)),
    };
    // Ties from the count below (see `terms`): exact, both counts being
    // integers below 2²⁴.
    let ties = if pass.total_only {
        0.0
    } else {
        positions as f32 - third
    };
    (RowOrderSums { others, ties }, tail)
}

/// [`row_order_sums`]' pass for a row whose every x − m takes exp's fast
/// path ([`all_exp_fast`]), with x − m split into d + δ by `gap` (given x
/// and −m), exact: the same bits as the tested pass.
#[inline(always)]
fn in_range_pass<'a>(
    max: f32,
    pass: RowPass,
    vectors: impl Iterator<Item = (Simd, &'a mut [f32])>,
    last: impl FnOnce() -> Option<LastVector>,
    gap: impl Fn(Simd, Simd) -> (Simd, Simd),
) -> ((f32, f32), f32, Option<Simd>) {
    if pass.total_only {
        row_order_pass(max, vectors, last, |x, m, valid| {
            total_term(valid, exp_of_gap_in_range(gap(x, -m)))
        })
    } else {
        row_order_pass(max, vectors, last, |x, m, _| {
            terms_of(x, m, exp_of_gap_in_range(gap(x, -m)))
        })
    }
}

/// Which of x and −m has the larger exponent (or an equal one) for every
/// logit x of a row with the maximum m, so that the rounding error of
/// x − m comes from Fast2Sum, three additions, instead of TwoSum's six.
/// Fast2Sum is exact when its first term's exponent is at least the
/// second's (Dekker 1971; Muller et al., Handbook of Floating-Point
/// Arithmetic, 2018, §4.3.1), which |first| ≥ |second| implies. The same
/// bits: both give the exact error. Timed on 2²⁰ logits in [−20, 20]:
/// see `docs/performance.md`, "Fast2Sum for x − m".
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Larger {
    /// m > 0 in [2ᵉ, 2ᵉ⁺¹) and every x > −2ᵉ⁺¹: no |x| reaches m's
    /// exponent's next binade.
    Max,
    /// m ≤ 0: every x ≤ m ≤ 0, so |x| ≥ |m|.
    Logit,
    /// Neither holds for the whole row (or it is not known): TwoSum.
    Unordered,
}

/// 2ᵉ⁺¹ for a finite m > 0 in [2ᵉ, 2ᵉ⁺¹) (subnormal m: 2⁻¹²⁵), +inf for
/// e = 127: the magnitude no x of [`Larger::Max`] may reach.
#[inline(always)]
fn binade_end(m: f32) -> f32 {
    f32::from_bits((m.to_bits() & 0x7f80_0000) + 0x0080_0000)
}

/// How a row-order pass runs ([`row_order_sums`]).
#[derive(Clone, Copy)]
pub(crate) struct RowPass {
    /// Every x − m of the row takes exp's fast path ([`all_exp_fast`]):
    /// no range test per vector.
    pub in_range: bool,
    /// How an in-range pass splits x − m ([`Larger`]).
    pub larger: Larger,
    /// Only S = Σ e^{xᵢ−m} is wanted (softmax), not its split at the
    /// maximum: the ties' exact 1s join the sum, whose relative error is
    /// the same 3u + 2⁻³⁰ of S; s′ = S − 1 is then not accurate, and
    /// [`RowOrderSums::ties`] is 0.
    pub total_only: bool,
}

impl RowPass {
    /// Each vector tested for exp's range, the sum split at the maximum.
    pub const SPLIT: Self = Self::tested(false);

    /// Each vector tested for exp's range (rows up to [`MEDIUM_ROW_MAX`]).
    pub const fn tested(total_only: bool) -> Self {
        Self {
            in_range: false,
            larger: Larger::Unordered,
            total_only,
        }
    }

    /// For a row with the finite maximum `max` and the lanewise minima
    /// `min` ([`crate::reduce::row_max_min`]; +inf in lanes the row does
    /// not reach): no test where [`all_exp_fast`] allows, Fast2Sum where
    /// [`Larger`] allows.
    #[inline(always)]
    pub fn of_row<V: Lane>(max: f32, min: V, total_only: bool) -> Self {
        let larger = if max <= 0.0 {
            Larger::Logit
        } else if V::all(min.gt(V::splat(-binade_end(max)))) {
            Larger::Max
        } else {
            Larger::Unordered
        };
        Self {
            in_range: all_exp_fast(V::splat(max), min),
            larger,
            total_only,
        }
    }
}

/// The terms of a [`RowPass::total_only`] pass: e in the `valid` lanes as
/// the term, no tie.
#[inline(always)]
fn total_term(valid: <Simd as Lane>::Mask, e: Simd) -> (Simd, Simd, Simd) {
    (
        e,
        <Simd as Lane>::select_or_zero(valid, e),
        <Simd as Lane>::splat(0.0),
    )
}

/// [`row_order_sums`] with the per-position work `terms`: the compensated
/// sum of the second terms, the total of the third (the count below m for
/// a split pass) and the last vector's exponentials.
#[inline(always)]
fn row_order_pass<'a>(
    max: f32,
    vectors: impl Iterator<Item = (Simd, &'a mut [f32])>,
    last: impl FnOnce() -> Option<LastVector>,
    terms: impl Fn(Simd, Simd, <Simd as Lane>::Mask) -> (Simd, Simd, Simd),
) -> ((f32, f32), f32, Option<Simd>) {
    let splat = <Simd as Lane>::splat;
    let (m, zero) = (splat(max), splat(0.0));
    let (mut hi, mut lo, mut third) = (zero, zero, zero);
    let mut flush = |block: Simd| {
        let (s, err) = two_sum(hi, block);
        hi = s;
        lo += err;
    };
    let all = <Simd as Lane>::first_lanes(W);
    let mut vectors = vectors;
    'row: loop {
        let mut block = zero;
        for _ in 0..ROW_ORDER_BLOCK {
            let Some((x, out)) = vectors.next() else {
                flush(block);
                break 'row;
            };
            let (e, o, t) = terms(x, m, all);
            e.store(out);
            block += o;
            third += t;
        }
        flush(block);
    }
    let tail = last().map(|last| {
        let (e, o, t) = terms(last.x, m, last.valid);
        let select = <Simd as Lane>::select;
        flush(select(last.repeats, zero, o));
        third += select(last.repeats, zero, t);
        e
    });
    (tree_sum_lanes(hi, lo), lane_total(third), tail)
}

/// What one row-order pass ([`row_order_sums`]) learns: Σ e^{xᵢ−m} over
/// the xᵢ < m (over every xᵢ for a [`RowPass::total_only`] pass) as an
/// unevaluated pair hi + lo, and the number of xᵢ = m (exact; 0 for a
/// `total_only` pass).
#[derive(Clone, Copy)]
pub(crate) struct RowOrderSums {
    pub others: (f32, f32),
    pub ties: f32,
}

/// The lanes of `v` as an array.
#[inline(always)]
pub(crate) fn lanes(v: Simd) -> [f32; W] {
    let mut out = [0.0; W];
    v.store(&mut out);
    out
}

/// One short row analysed in row order, in the vector `V`
/// ([`row_vector_fits`]).
pub(crate) struct ShortRow<V> {
    pub stats: ShortStats<f32>,
    /// e^{xᵢ−m} in the layout of [`row_vectors`] (the second vector's
    /// repeated lanes possibly stale: see [`analyze_row_in_halves`]).
    pub exps: [V; 2],
}

/// Whether a single row of n ≤ 2W logits is analysed in [`RowSimd`]
/// (n ≤ 2·[`RW`]) rather than in [`Simd`]: always where the two are the
/// same type (one lane), else rows of up to W logits.
#[inline(always)]
pub(crate) const fn row_vector_fits(n: usize) -> bool {
    RW == W || n <= 2 * RW
}

/// A row of n ≤ 2L values (L = `V`'s width) as two vectors with whole
/// loads: positions 0..L in the first (padded with `pad` past n when
/// n < L) and, when n ≥ L, positions n − L..n in the second, whose first
/// 2L − n lanes repeat positions the first vector holds
/// ([`second_repeats`]); for n < L the second is all `pad`. Lane j of the
/// second holds position n − L + j, the partner of position j in the first
/// level of the short rows' tree (see [`RowGroup::analyze`]). A partial
/// copy of the tail through memory, in and out, cost a row of 10 logits
/// about a third of its time: the vector load waited for the copy's
/// stores (`docs/performance.md`).
#[inline(always)]
pub(crate) fn row_vectors<V: Lane>(xs: &[f32], pad: f32) -> [V; 2] {
    let l = V::WIDTH;
    match (
        xs.get(..l),
        xs.len().checked_sub(l).and_then(|k| xs.get(k..)),
    ) {
        (Some(head), Some(tail)) => [V::load(head), V::load(tail)],
        _ => [load_partial(xs, pad), V::splat(pad)],
    }
}

/// The lanes of [`row_vectors`]' second vector that repeat a position of
/// the first (all of them for n ≤ L).
#[inline(always)]
pub(crate) fn second_repeats<V: Lane>(n: usize) -> V::Mask {
    let l = V::WIDTH;
    V::first_lanes((2 * l).saturating_sub(n.max(l)))
}

/// Position `p` of a row of n values in [`row_vectors`]' layout for
/// vectors of `l` lanes: the vector and the lane holding it.
#[inline(always)]
pub(crate) fn row_lane(l: usize, n: usize, p: usize) -> (usize, usize) {
    if p < l {
        (0, p)
    } else {
        (1, (p + l).wrapping_sub(n))
    }
}

/// Analyses a row of 1..=2L logits (L = `V`'s width): its statistics and
/// exponentials, or, for the rare rows whose maximum is NaN or ±inf, that
/// maximum (NaN if any element is NaN).
#[inline(always)]
pub(crate) fn analyze_row<V: Lane + Narrow>(xs: &[f32]) -> Result<ShortRow<V>, f32> {
    let n = xs.len();
    if V::IN_HALVES && n > V::WIDTH && n <= V::WIDTH + V::WIDTH / 2 {
        return analyze_row_in_halves(xs);
    }
    let [a, b] = row_vectors::<V>(xs, f32::NEG_INFINITY);
    if V::any(a.is_nan() | b.is_nan()) {
        return Err(f32::NAN);
    }
    // + 0: a zero maximum is +0 in both layouts, whichever zero the
    // lanewise maxima (which may return either) kept.
    let max = lane_max(a.max(b)) + 0.0;
    if !max.is_finite() {
        return Err(max);
    }
    // Padding with m keeps exp on its fast path; the masks drop it. The
    // second vector's repeated lanes keep their logits: their exponentials
    // are stored over the first vector's, the same bits.
    let m = V::splat(max);
    let (valid_a, repeats) = (V::first_lanes(n), second_repeats::<V>(n));
    let a = V::select(valid_a, a, m);
    let b = if n < V::WIDTH { m } else { b };
    let zero = V::splat(0.0);
    let (ea, oa, ba) = terms(a, m);
    let (eb, ob, bb) = terms(b, m);
    let (ob, bb) = (V::select(repeats, zero, ob), V::select(repeats, zero, bb));
    let (hi, lo) = two_sum(oa, ob);
    let others = tree_sum_lanes(hi, lo);
    let ties = n as f32 - lane_total(ba + bb);
    Ok(ShortRow {
        stats: ShortStats::new(max, others, ties),
        exps: [ea, eb],
    })
}

/// [`analyze_row`] of a row of L + 1 to L + L/2 logits where `V` is two
/// registers of L/2 lanes ([`Narrow::IN_HALVES`]): the second vector's low
/// half only repeats positions of the first, so its exponentials are not
/// computed; its high half is loaded alone, as the last L/2 logits. The
/// same operations as the two whole vectors on every position that
/// counts, so the same bits: the first level of the tree (position j takes
/// j + L/2) gets the low half's pairs as (term, +0), which is what the
/// whole vectors' TwoSum against their masked second vector gives. The
/// second vector's low half holds its high half again: [`store_row`]
/// stores the second vector first, the first over it. A row of 10 on the
/// default x86-64 build computed four registers of exponentials, one of
/// them for repeated positions only (`docs/performance.md`).
#[inline(always)]
fn analyze_row_in_halves<V: Lane + Narrow>(xs: &[f32]) -> Result<ShortRow<V>, f32> {
    let (n, half) = (xs.len(), V::WIDTH / 2);
    let (Some(head), Some(tail)) = (
        xs.get(..V::WIDTH),
        n.checked_sub(half).and_then(|k| xs.get(k..)),
    ) else {
        return Err(f32::NAN);
    };
    let (a, c) = (V::load(head), V::Row::load(tail));
    if V::any(a.is_nan()) || V::Row::any(c.is_nan()) {
        return Err(f32::NAN);
    }
    let [a_low, a_high] = a.halves();
    // + 0 as in `analyze_row`: the maximum is exact in any order.
    let max = lane_max(a_low.max(a_high).max(c)) + 0.0;
    if !max.is_finite() {
        return Err(max);
    }
    let zero = V::Row::splat(0.0);
    let repeats = V::Row::first_lanes((V::WIDTH + half).saturating_sub(n));
    let (ea, oa, ba) = terms(a, V::splat(max));
    let (ec, oc, bc) = terms(c, V::Row::splat(max));
    let (oc, bc) = (
        V::Row::select(repeats, zero, oc),
        V::Row::select(repeats, zero, bc),
    );
    let [oa_low, oa_high] = oa.halves();
    let (paired, paired_lo) = two_sum(oa_high, oc);
    let (s, e) = two_sum(oa_low, paired);
    let others = tree_sum_lanes(s, (zero + paired_lo) + e);
    // Exact: counts below 2²⁴, in any order.
    let ties = n as f32 - (lane_total(ba) + lane_total(bc));
    Ok(ShortRow {
        stats: ShortStats::new(max, others, ties),
        exps: [ea, V::from_halves([ec, ec])],
    })
}

/// The statistics of a row of 1..=2W logits, each in the vector
/// [`row_vector_fits`] picks, or its maximum where that is NaN or ±inf.
#[inline(always)]
pub(crate) fn row_stats(xs: &[f32]) -> Result<ShortStats<f32>, f32> {
    if row_vector_fits(xs.len()) {
        analyze_row::<RowSimd>(xs).map(|row| row.stats)
    } else {
        analyze_row::<Simd>(xs).map(|row| row.stats)
    }
}

/// Stores a short row's two result vectors, in [`row_vectors`]' layout,
/// into `out` (the row's length): whole stores for n ≥ L, the first's
/// written over the second's repeated lanes.
#[inline(always)]
pub(crate) fn store_row<V: Lane>([a, b]: [V; 2], out: &mut [f32]) {
    let l = V::WIDTH;
    let n = out.len();
    if n < l {
        store_partial(a, out);
        return;
    }
    // The second first: its repeated lanes may be stale
    // (`analyze_row_in_halves`), and the first overwrites them.
    if let Some(tail) = out.get_mut(n - l..) {
        b.store(tail);
    }
    a.store(out);
}

/// Value `p` of a row of n held in [`row_vectors`]' layout (NaN past the
/// row).
#[inline(always)]
pub(crate) fn row_value<V: Lane>(v: &[V; 2], n: usize, p: usize) -> f32 {
    if p >= n {
        return f32::NAN;
    }
    let (k, j) = row_lane(V::WIDTH, n, p);
    v.get(k)
        .and_then(|&v| lane_array(v).get(j).copied())
        .unwrap_or(f32::NAN)
}

/// A row length C: known when compiling ([`Classes`]), so that a group's
/// loops over its classes unroll and its class vectors can stay in
/// registers, or only when running (`usize`).
pub(crate) trait ClassCount: Copy {
    /// C.
    fn get(self) -> usize;
    /// The count brought into 1..=2W, the lengths a [`RowGroup`] holds.
    fn short(self) -> Self;
}

impl ClassCount for usize {
    #[inline(always)]
    fn get(self) -> usize {
        self
    }
    #[inline(always)]
    fn short(self) -> Self {
        self.clamp(1, SHORT_ROW_MAX)
    }
}

/// The row length C as a constant, for C in 1..=2W.
#[derive(Clone, Copy)]
#[cfg_attr(
    not(all(target_feature = "avx", not(target_feature = "avx512f"))),
    allow(
        dead_code,
        reason = "counts are constants on AVX builds only (with_class_count!)"
    )
)]
pub(crate) struct Classes<const C: usize>;

impl<const C: usize> ClassCount for Classes<C> {
    #[inline(always)]
    fn get(self) -> usize {
        C
    }
    #[inline(always)]
    fn short(self) -> Self {
        self
    }
}

/// `$body` with `$k` bound to the class count `$classes` as a [`Classes`]
/// constant where it is 2..=2W = 16, else as the `usize` itself: one copy of
/// `$body` per count, whose loops over the classes unroll and whose class
/// vectors stay in registers (`docs/performance.md`, "A copy of the
/// group per class count").
///
/// Only where a vector is one 256-bit AVX register (8 lanes): there the
/// copies took the 256×10 batch cross-entropy from 2.00 to 1.86 ns per
/// logit and `softmax_rows` from 1.31 to 1.20 (x86-64-v3). Where it is two 128-bit
/// registers (SSE2, NEON, simd128) a group of 10 classes already fills
/// the register file, and the copies ran no faster (the batch) or 4 %
/// slower (`softmax_rows`) for about 15 KB of code each. On 16-lane
/// builds (AVX-512) the 31 copies ran the batch 7 % and
/// `log_sum_exp_rows` 58 % slower. A group of 4-lane vectors on the
/// default build, one register per class, ran 11–18 % fewer instructions
/// and 7–16 % slower: the two halves of an `f32x8` are two dependent
/// chains in flight.
macro_rules! with_class_count {
    ($classes:expr, $k:ident => $body:expr) => {
        $crate::softmax::short_rows::with_class_count!(
            @arms $classes, $k => $body;
            2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
        )
    };
    (@arms $classes:expr, $k:ident => $body:expr; $($c:literal)*) => {
        match $classes {
            $(#[cfg(all(
                target_feature = "avx",
                not(target_feature = "avx512f"),
                not(logitkit_sixteen_lanes),
                not(logitkit_one_lane)
            ))]
            c if c == $c && $c <= $crate::softmax::short_rows::SHORT_ROW_MAX => {
                let $k = $crate::softmax::short_rows::Classes::<$c>;
                $body
            })*
            c => {
                let $k = c;
                $body
            }
        }
    };
}
pub(crate) use with_class_count;

/// Up to W rows of the same length C ≤ 2W, transposed: vector i holds
/// class i of every row, one row per lane.
pub(crate) struct RowGroup<K = usize> {
    x: [Simd; SHORT_ROW_MAX],
    classes: K,
    rows: usize,
}

/// The W values of `xs` from `start`, padded with 0 past its end.
#[inline(always)]
fn load_from(xs: &[f32], start: usize) -> Simd {
    match xs.get(start..start.saturating_add(W)) {
        Some(full) => Simd::load(full),
        None => load_partial(xs.get(start..).unwrap_or(&[]), 0.0),
    }
}

impl<K: ClassCount> RowGroup<K> {
    /// An empty group of rows of `classes`, to be filled by
    /// [`RowGroup::load`].
    pub fn new(classes: K) -> Self {
        Self {
            x: [<Simd as Lane>::splat(0.0); SHORT_ROW_MAX],
            classes: classes.short(),
            rows: 0,
        }
    }

    /// C, within 1..=2W.
    #[inline(always)]
    fn classes(&self) -> usize {
        self.classes.get()
    }

    /// Takes the first rows of `xs` (rows of C), at most W of them.
    /// Each row is read as two whole vectors where `xs` is long enough (the
    /// values past the row land in classes ≥ C, never read) and transposed
    /// in registers; lanes without a row hold 0.
    #[inline(always)]
    pub fn load(&mut self, xs: &[f32]) {
        let classes = self.classes();
        // A division only for a batch's last group.
        self.rows = if xs.len() >= W * classes {
            W
        } else {
            xs.len().checked_div(classes).unwrap_or(0)
        };
        let zero = <Simd as Lane>::splat(0.0);
        let (head, tail) = self.x.split_at_mut(W.min(SHORT_ROW_MAX));
        // Every group but a batch's last: W whole rows with 2W values from
        // each row's start, so the loads need no per-row bounds logic (it
        // cost about as many instructions as the group's exponentials).
        if xs.len() >= (W - 1) * classes + SHORT_ROW_MAX {
            // Each row's span by its index: one compare a row, where
            // advancing a rest slice cost six instructions.
            for (j, (a, b)) in head.iter_mut().zip(tail.iter_mut()).enumerate() {
                let start = j * classes;
                if let Some(two) = xs.get(start..start + SHORT_ROW_MAX) {
                    let (lo, hi) = two.split_at(W);
                    (*a, *b) = (Simd::load(lo), Simd::load(hi));
                }
            }
            <Simd as Lane>::transpose(head);
            if classes > W {
                <Simd as Lane>::transpose(tail);
            }
            return;
        }
        for (j, (a, b)) in head.iter_mut().zip(tail.iter_mut()).enumerate() {
            let start = j * classes;
            (*a, *b) = if j < self.rows {
                (load_from(xs, start), load_from(xs, start + W))
            } else {
                (zero, zero)
            };
        }
        <Simd as Lane>::transpose(head);
        if classes > W {
            <Simd as Lane>::transpose(tail);
        }
    }

    /// Number of rows held.
    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Writes the rows back into the first rows of `out` (rows of C),
    /// leaving the group to be loaded again. With `spill`, whole vectors are stored where
    /// `out` has room, overrunning a row into the next, which a later row
    /// (or the next group) overwrites: only for outputs that are not also
    /// the input still to be read.
    #[inline(always)]
    pub fn store(&mut self, out: &mut [f32], spill: bool) {
        let classes = self.classes();
        let (head, tail) = self.x.split_at_mut(W.min(SHORT_ROW_MAX));
        <Simd as Lane>::transpose(head);
        if classes > W {
            <Simd as Lane>::transpose(tail);
        }
        // W whole rows with room for two whole vectors from each row's
        // start: no per-row bounds logic, as in `load`.
        if spill && self.rows == W && out.len() >= (W - 1) * classes + SHORT_ROW_MAX {
            for (j, (&a, &b)) in head.iter().zip(tail.iter()).enumerate() {
                let start = j * classes;
                if let Some(two) = out.get_mut(start..start + SHORT_ROW_MAX) {
                    let (lo, hi) = two.split_at_mut(W);
                    a.store(lo);
                    if classes > W {
                        b.store(hi);
                    }
                }
            }
            return;
        }
        for (j, (&a, &b)) in head.iter().zip(tail.iter()).enumerate().take(self.rows) {
            let start = j * classes;
            let Some(row) = out.get_mut(start..) else {
                return;
            };
            if spill && row.len() >= SHORT_ROW_MAX {
                a.store(row);
                if classes > W {
                    b.store(row.get_mut(W..).unwrap_or(&mut []));
                }
            } else {
                let row = row.get_mut(..classes).unwrap_or(&mut []);
                let (ra, rb) = row.split_at_mut(row.len().min(W));
                store_partial(a, ra);
                store_partial(b, rb);
            }
        }
    }

    /// The held classes, class i of every row in vector i.
    #[inline(always)]
    pub fn rows_by_class(&self) -> &[Simd] {
        self.x.get(..self.classes()).unwrap_or(&[])
    }

    /// [`RowGroup::rows_by_class`], to overwrite.
    #[inline(always)]
    pub fn rows_by_class_mut(&mut self) -> &mut [Simd] {
        let classes = self.classes();
        self.x.get_mut(..classes).unwrap_or(&mut [])
    }

    /// Each row's logit at its lane of `class` (class indices as f32): a
    /// select per class instead of a scalar load per row; a lane whose
    /// class is none of the row's (−1 for a row without a target) gets 0.
    #[inline(always)]
    pub fn at_class(&self, class: Simd) -> Simd {
        let mut picked = <Simd as Lane>::splat(0.0);
        // Counted in a vector (exact below 2²⁴): a splat of i as f32 is a
        // conversion and a broadcast per class.
        let mut i = <Simd as Lane>::splat(0.0);
        for &x in self.rows_by_class() {
            picked = <Simd as Lane>::select(class.eq(i), x, picked);
            i += <Simd as Lane>::splat(1.0);
        }
        picked
    }

    /// The row maxima, NaN in a row holding a NaN, and the row minima
    /// (meaningful where the maximum is finite), in one loop over the
    /// classes.
    #[inline(always)]
    pub fn max_min(&self) -> (Simd, Simd) {
        let mut max = <Simd as Lane>::splat(f32::NEG_INFINITY);
        let mut min = <Simd as Lane>::splat(f32::INFINITY);
        let mut nan = max.is_nan();
        for &x in self.rows_by_class() {
            nan |= x.is_nan();
            max = <Simd as Lane>::max(max, x);
            min = <Simd as Lane>::min(min, x);
        }
        // + 0: a zero maximum is +0, as in `analyze_row`.
        let max = max + <Simd as Lane>::splat(0.0);
        (
            <Simd as Lane>::select(nan, <Simd as Lane>::splat(f32::NAN), max),
            min,
        )
    }

    /// The statistics of every row, given the maxima and minima of
    /// [`RowGroup::max_min`], overwriting the logits with e^{xᵢ−m} if
    /// `keep_exps`. Lanes whose maximum is not finite hold meaningless
    /// values: the caller treats those rows apart.
    #[inline(always)]
    pub fn analyze(&mut self, max: Simd, min: Simd, keep_exps: bool) -> ShortStats<Simd> {
        // The tree of the single row's vector (`row_vector_fits`), each
        // width a constant of its own copy.
        if RW < W && row_vector_fits(self.classes()) {
            self.analyze_in::<RW>(max, min, keep_exps)
        } else {
            self.analyze_in::<W>(max, min, keep_exps)
        }
    }

    /// [`RowGroup::analyze`] in the tree of L positions.
    #[inline(always)]
    fn analyze_in<const L: usize>(
        &mut self,
        max: Simd,
        min: Simd,
        keep_exps: bool,
    ) -> ShortStats<Simd> {
        let zero = <Simd as Lane>::splat(0.0);
        // A row with a non-finite maximum computes with m = 0 (and is
        // overwritten later), so its lanes do not slow the others down.
        let finite = max.abs().lt(<Simd as Lane>::splat(f32::INFINITY));
        let m = <Simd as Lane>::select(finite, max, zero);
        // Every e^{xᵢ−m} on exp's fast path: one test for the group instead
        // of a range test, a guard on δ and the rare path's call per
        // vector; the same bits. Against `max` itself, a row whose maximum
        // is NaN or ±inf fails it (min − max is NaN or −inf), so m = max.
        let fast = all_exp_fast(max, min);
        let neg_m = -m;
        let mut hi = [zero; L];
        let mut lo = [zero; L];
        let mut below = zero;
        // The test inside the loop: with a loop per path (the test hoisted)
        // the default build's 256×10 batch ran 6 % slower in time, though
        // 1 % fewer instructions.
        let mut term = |x: &mut Simd| {
            let (e, o, b) = if fast {
                terms_of(*x, m, exp_of_gap_in_range(two_sum(*x, neg_m)))
            } else {
                terms(*x, m)
            };
            if keep_exps {
                *x = e;
            }
            below += b;
            o
        };
        // Position j sums class j and, for C > L and j ≥ 2L − C, class
        // C − L + j (the pairing of `row_vectors`' layout); a position past
        // the row holds an exact 0.
        let held = self.rows_by_class_mut();
        let (first, second) = held.split_at_mut(held.len().min(L));
        // The second part's classes align to the end of the L positions.
        // Two loops without a test per class: one loop with a test whether
        // the position pairs cost 7 scalar instructions per class.
        let unpaired = L.saturating_sub(second.len()).min(first.len());
        let (alone, paired) = first.split_at_mut(unpaired);
        for (h, x) in hi.iter_mut().zip(alone) {
            *h = term(x);
        }
        let pair_sums = hi.iter_mut().zip(lo.iter_mut()).skip(unpaired);
        for (((h, l), x), y) in pair_sums.zip(paired).zip(second) {
            let e = term(x);
            (*h, *l) = two_sum(e, term(y));
        }
        let classes = <Simd as Lane>::splat(self.classes() as f32);
        ShortStats::new(max, tree_sum(hi, lo), classes - below)
    }
}

/// Rows of `classes` ≤ 2W from `xs` into `out` (same shape), W rows at a
/// time: `finish` turns a group's logits (or exponentials, with
/// `keep_exps`) into its outputs; rows whose maximum is NaN or ±inf are
/// redone by `single`, the single-row form, which has their limits.
#[inline(always)]
pub(crate) fn map_groups<K: ClassCount>(
    xs: &[f32],
    class_count: K,
    out: &mut [f32],
    keep_exps: bool,
    finish: impl Fn(&mut RowGroup<K>, &ShortStats<Simd>),
    single: impl Fn(&[f32], &mut [f32]),
) {
    let classes = class_count.get();
    let group_len = W.saturating_mul(classes).max(1);
    let mut group = RowGroup::new(class_count);
    for (g, rows) in xs.chunks(group_len).enumerate() {
        let base = g * group_len;
        // The rest of the batch: whole-vector loads may read the next rows.
        group.load(xs.get(base..).unwrap_or(rows));
        let (max, min) = group.max_min();
        let stats = group.analyze(max, min, keep_exps);
        finish(&mut group, &stats);
        // The rest of the output too: whole-vector stores may spill into
        // the next group's rows, which that group overwrites. Stored into
        // the group's own rows alone, its last rows took element-by-element
        // stores (`docs/performance.md`, "Whole-vector stores for the rows
        // forms").
        let out_rest = out.get_mut(base..).unwrap_or(&mut []);
        group.store(out_rest, true);
        let finite = lanes(max).map(f32::is_finite);
        if finite.contains(&false) {
            let outs = out_rest.get_mut(..rows.len()).unwrap_or(&mut []);
            let pairs = rows
                .chunks_exact(classes.max(1))
                .zip(outs.chunks_exact_mut(classes.max(1)));
            for ((x, o), _) in pairs.zip(finite).filter(|&(_, f)| !f) {
                single(x, o);
            }
        }
    }
}

/// [`map_groups`] in place: a group with a non-finite row is done row by
/// row by `single` (its logits are still unwritten then).
#[inline(always)]
pub(crate) fn map_groups_in_place<K: ClassCount>(
    xs: &mut [f32],
    class_count: K,
    keep_exps: bool,
    finish: impl Fn(&mut RowGroup<K>, &ShortStats<Simd>),
    single: impl Fn(&mut [f32]),
) {
    let classes = class_count.get();
    let group_len = W.saturating_mul(classes).max(1);
    let mut group = RowGroup::new(class_count);
    let mut start = 0;
    while start < xs.len() {
        // The rest of the batch: whole-vector loads may read the next rows,
        // which are still the input when this group is stored.
        group.load(xs.get(start..).unwrap_or(&[]));
        let end = start.saturating_add(group_len).min(xs.len());
        let rows = xs.get_mut(start..end).unwrap_or(&mut []);
        start = end;
        let (max, min) = group.max_min();
        if !<Simd as Lane>::all(max.abs().lt(<Simd as Lane>::splat(f32::INFINITY))) {
            rows.chunks_exact_mut(classes.max(1)).for_each(&single);
            continue;
        }
        let stats = group.analyze(max, min, keep_exps);
        finish(&mut group, &stats);
        group.store(rows, false);
    }
}

/// One value per row of `classes` ≤ 2W: `finish` gives a group's values
/// from its statistics; rows whose maximum is not finite take `single`.
#[inline(always)]
pub(crate) fn reduce_groups<K: ClassCount>(
    xs: &[f32],
    class_count: K,
    out: &mut [f32],
    finish: impl Fn(&ShortStats<Simd>) -> Simd,
    single: impl Fn(&[f32]) -> f32,
) {
    let classes = class_count.get();
    let group_len = W.saturating_mul(classes).max(1);
    let mut group = RowGroup::new(class_count);
    for (g, (rows, outs)) in xs.chunks(group_len).zip(out.chunks_mut(W)).enumerate() {
        group.load(xs.get(g * group_len..).unwrap_or(rows));
        let (max, min) = group.max_min();
        let stats = group.analyze(max, min, false);
        let values = lanes(finish(&stats));
        let finite = lanes(max).map(f32::is_finite);
        let rows = rows.chunks_exact(classes.max(1));
        for (((o, v), f), x) in outs.iter_mut().zip(values).zip(finite).zip(rows) {
            *o = if f { v } else { single(x) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn rows(classes: usize, count: usize) -> Vec<f32> {
        let mut s = 0x1234_5678u32;
        (0..classes * count)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 40.0
            })
            .collect()
    }

    /// Rows whose maximum is a zero of either sign, in several orders.
    fn signed_zero_rows(classes: usize) -> Vec<f32> {
        (0..classes * W)
            .map(|i| match (i * 7 + i / classes) % 4 {
                0 => 0.0,
                1 => -0.0,
                2 => -1.5,
                _ => f32::NEG_INFINITY,
            })
            .collect()
    }

    /// A single row's statistics and exponentials, in the vector its
    /// length takes.
    fn single_row(row: &[f32]) -> Result<(ShortStats<f32>, Vec<f32>), f32> {
        fn exps<V: Lane + Narrow>(row: &[f32]) -> Result<(ShortStats<f32>, Vec<f32>), f32> {
            let one = analyze_row::<V>(row)?;
            let values = (0..row.len()).map(|i| row_value(&one.exps, row.len(), i));
            Ok((one.stats, values.collect()))
        }
        if row_vector_fits(row.len()) {
            exps::<RowSimd>(row)
        } else {
            exps::<Simd>(row)
        }
    }

    #[test]
    fn both_layouts_give_the_same_bits() {
        for classes in 1..=2 * SHORT_ROW_MAX {
            let xs = if classes <= SHORT_ROW_MAX {
                rows(classes, W)
            } else {
                signed_zero_rows(classes - SHORT_ROW_MAX)
            };
            let classes = xs.len() / W;
            let mut group = RowGroup::new(classes);
            group.load(&xs);
            assert_eq!(group.rows(), W);
            let (max, min) = group.max_min();
            let stats = group.analyze(max, min, true);
            let mut exps = xs.clone();
            group.store(&mut exps, true);
            for (j, row) in xs.chunks_exact(classes).enumerate() {
                let Ok((one, row_exps)) = single_row(row) else {
                    assert!(!lanes(max)[j].is_finite(), "{row:?}");
                    continue;
                };
                let lane = |v: Simd| lanes(v)[j].to_bits();
                assert_eq!(lane(stats.max), one.max.to_bits());
                assert_eq!(lane(stats.ties), one.ties.to_bits());
                assert_eq!(lane(stats.excess), one.excess.to_bits());
                assert_eq!(lane(stats.excess_lo), one.excess_lo.to_bits());
                assert_eq!(lane(stats.sum_lo), one.sum_lo.to_bits());
                let bits = |v: &[f32]| v.iter().map(|e| e.to_bits()).collect::<Vec<_>>();
                let group_exps = &exps[j * classes..(j + 1) * classes];
                assert_eq!(bits(group_exps), bits(&row_exps), "C = {classes}");
            }
        }
    }

    /// The lanes' tree of `V` (L lanes) against the scalar tree over L
    /// positions.
    fn vector_tree_matches_scalar<V: Lane>() {
        let l = V::WIDTH;
        let values = rows(W, 64);
        for (k, hi) in values.chunks_exact(W).enumerate() {
            // Pairs that exercise TwoSum's error terms: lo a few ULP of hi;
            // positions past L hold 0.
            let hi: [f32; W] = core::array::from_fn(|j| {
                let x = hi[j].abs() * 2f32.powi(k as i32 % 9 - 4);
                if j < l { x } else { 0.0 }
            });
            let lo: [f32; W] = core::array::from_fn(|j| hi[(j + k) % l] * 1e-7);
            let (a, b) = if l == RW {
                let first = |v: [f32; W]| -> [f32; RW] { core::array::from_fn(|j| v[j]) };
                tree_sum::<f32, RW>(first(hi), first(lo))
            } else {
                tree_sum::<f32, W>(hi, lo)
            };
            let (c, d) = tree_sum_lanes(V::load(&hi[..l]), V::load(&lo[..l]));
            assert_eq!(
                [a, b].map(f32::to_bits),
                [c, d].map(f32::to_bits),
                "L = {l}: {hi:?} {lo:?}"
            );
            let ties: [f32; W] = core::array::from_fn(|j| (hi[j] > 5.0) as u8 as f32);
            assert_eq!(lane_total(V::load(&ties[..l])), ties.iter().sum::<f32>());
            assert_eq!(
                lane_max(V::load(&hi[..l])),
                hi.iter().fold(0.0f32, |a, &b| a.max(b))
            );
        }
    }

    #[test]
    fn vector_tree_gives_the_scalar_trees_bits() {
        vector_tree_matches_scalar::<Simd>();
        vector_tree_matches_scalar::<RowSimd>();
    }

    /// Rows of 1..=2L positions in `V`'s layout.
    fn row_layout_covers_positions<V: Lane>() {
        let l = V::WIDTH;
        for n in 1..=2 * l {
            let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let v = row_vectors::<V>(&xs, -1.0);
            let repeats = lane_array(V::select(
                second_repeats::<V>(n),
                V::splat(1.0),
                V::splat(0.0),
            ));
            // Every position read back from its lane; the new lanes of the
            // second vector are exactly the positions W..n.
            for (p, &x) in xs.iter().enumerate() {
                assert_eq!(row_value(&v, n, p), x, "n = {n}, p = {p}");
            }
            let new: Vec<f32> = lane_array(v[1])[..l]
                .iter()
                .zip(repeats)
                .filter(|r| r.1 == 0.0)
                .map(|r| *r.0)
                .collect();
            assert_eq!(new, xs.get(l..).unwrap_or(&[]), "L = {l}, n = {n}");
            let mut out = std::vec![f32::NAN; n];
            store_row(v, &mut out);
            assert_eq!(out, xs, "L = {l}, n = {n}");
        }
    }

    /// A row's exponentials stored by [`store_row`] against each read back
    /// by [`row_value`], for every length in `V`: where the analysis leaves
    /// the second vector's repeated lanes stale ([`analyze_row_in_halves`]),
    /// the store must not write them over the first's.
    fn stored_exps_match_each_position<V: Lane + Narrow>() {
        for n in 1..=2 * V::WIDTH {
            let xs: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 5.0).collect();
            let Ok(row) = analyze_row::<V>(&xs) else {
                panic!("n = {n}: a finite row");
            };
            let mut out = std::vec![f32::NAN; n];
            store_row(row.exps, &mut out);
            for (p, o) in out.iter().enumerate() {
                let want = row_value(&row.exps, n, p);
                assert_eq!(o.to_bits(), want.to_bits(), "n = {n}, p = {p}");
                let exact = (xs[p] as f64 - row.stats.max as f64).exp();
                assert!(
                    (*o as f64 - exact).abs() <= 1e-6 * exact,
                    "n = {n}, p = {p}"
                );
            }
        }
    }

    /// A pass's sums and stored exponentials over `xs` as bits.
    fn pass_bits(xs: &[f32], pass: RowPass) -> Vec<u32> {
        let max = row_max::<Simd>(xs);
        let mut exps = std::vec![0.0; xs.len()];
        let sums = medium_sums_with_max(max, pass, xs, &mut exps);
        let (hi, lo) = sums.others;
        exps.iter()
            .chain(&[hi, lo, sums.ties])
            .map(|v| v.to_bits())
            .collect()
    }

    /// [`pass_bits`] of an in-range pass, x − m split as `larger` says.
    fn in_range_pass_bits(xs: &[f32], larger: Larger, total_only: bool) -> Vec<u32> {
        let pass = RowPass {
            in_range: true,
            larger,
            total_only,
        };
        pass_bits(xs, pass)
    }

    #[test]
    fn fast_two_sum_passes_give_two_sums_bits() {
        // Rows of 1000 logits of either sign (the last vector partial on
        // every build) whose row_max_min picks each kind of split, and rows
        // with m in [1, 2) whose least logit is at the boundary −2 of
        // `Larger::Max`, or one ulp either side, or −m.
        let base = rows(1000, 1);
        let mut seen = std::vec::Vec::new();
        let mut test_row = |xs: &[f32]| {
            let (max, min) = crate::reduce::row_max_min::<Simd>(xs);
            let mut kind = Larger::Unordered;
            for total_only in [false, true] {
                let pass = RowPass::of_row(max, min, total_only);
                assert!(pass.in_range);
                assert_eq!(
                    in_range_pass_bits(xs, pass.larger, total_only),
                    in_range_pass_bits(xs, Larger::Unordered, total_only),
                );
                seen.push(pass.larger);
                kind = pass.larger;
            }
            kind
        };
        for shift in [-60.0f32, -20.3, -15.0, -0.5, 0.0, 0.37, 20.3, 60.0] {
            test_row(&base.iter().map(|&x| x * 0.9 + shift).collect::<Vec<_>>());
        }
        let m = 1.718_281_8f32;
        for (low, kind) in [
            (-m, Larger::Max),
            (f32::from_bits((-2.0f32).to_bits() - 1), Larger::Max),
            (-2.0, Larger::Unordered),
            (f32::from_bits((-2.0f32).to_bits() + 1), Larger::Unordered),
        ] {
            let mut xs: Vec<f32> = base.iter().map(|&x| (x / 20.0).clamp(low, m)).collect();
            xs[3] = m;
            xs[500] = low;
            assert!(test_row(&xs) == kind);
        }
        // Many |x| above m in m's own binade: Fast2Sum by the exponents.
        let mut xs: Vec<f32> = base.iter().map(|&x| (x / 20.0 * 1.9).min(1.0)).collect();
        xs[7] = 1.000_000_1;
        assert!(test_row(&xs) == Larger::Max);
        for kind in [Larger::Max, Larger::Logit, Larger::Unordered] {
            assert!(seen.contains(&kind));
        }
        // The check can fail: Fast2Sum with the smaller term first is not
        // exact on a row whose |x| reach binades above m's.
        let mixed: Vec<f32> = base.iter().map(|&x| x * 0.9 - 15.0).collect();
        assert_ne!(
            in_range_pass_bits(&mixed, Larger::Max, true),
            in_range_pass_bits(&mixed, Larger::Unordered, true),
        );
    }

    #[test]
    fn a_row_tested_once_gives_the_per_vector_tests_bits() {
        // Medium rows (the last vector partial or whole), each x − m above
        // −87 so the row passes the test once, in every kind of split.
        for n in [64, 100, 257, 1000, MEDIUM_ROW_MAX] {
            for shift in [-30.0f32, -0.5, 0.0, 0.37, 30.0] {
                let xs: Vec<f32> = rows(n, 1).iter().map(|&x| x * 2.0 + shift).collect();
                let (max, min) = crate::reduce::row_max_min::<Simd>(&xs);
                for total_only in [false, true] {
                    let once = RowPass::of_row(max, min, total_only);
                    assert!(once.in_range, "n = {n}");
                    let unordered = RowPass {
                        larger: Larger::Unordered,
                        ..once
                    };
                    let tested = pass_bits(&xs, RowPass::tested(total_only));
                    assert_eq!(pass_bits(&xs, once), tested, "n = {n}, {shift}");
                    assert_eq!(pass_bits(&xs, unordered), tested, "n = {n}, {shift}");
                }
            }
        }
        // A row with a logit 87 below its maximum takes the test per vector.
        let mut xs = rows(100, 1);
        xs[40] = -200.0;
        let (max, min) = crate::reduce::row_max_min::<Simd>(&xs);
        assert!(!RowPass::of_row(max, min, false).in_range);
    }

    #[test]
    fn stored_exponentials_are_the_positions() {
        stored_exps_match_each_position::<Simd>();
        stored_exps_match_each_position::<RowSimd>();
    }

    #[test]
    fn row_layout_covers_every_position_once() {
        row_layout_covers_positions::<Simd>();
        row_layout_covers_positions::<RowSimd>();
    }

    #[test]
    fn row_order_statistics_match_f64_in_place_or_not() {
        for classes in [SHORT_ROW_MAX + 1, 3 * W - 1, 100, 1000, MEDIUM_ROW_MAX] {
            let xs = rows(classes, 1);
            let mut exps = std::vec![0.0f32; classes];
            let Ok(stats) = analyze_medium_row(&xs, &mut exps, false) else {
                panic!("finite row")
            };
            let mut in_place = xs.clone();
            let Ok(same) = analyze_medium_row_in_place(&mut in_place, false) else {
                panic!("finite row")
            };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&exps), bits(&in_place), "C = {classes}: exponentials");
            assert_eq!(
                [stats.sum, stats.sum_lo, stats.excess, stats.excess_lo].map(f32::to_bits),
                [same.sum, same.sum_lo, same.excess, same.excess_lo].map(f32::to_bits)
            );
            let m = xs.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
            let s: f64 = xs.iter().map(|&x| (x as f64 - m).exp()).sum();
            let got = stats.sum as f64 + stats.sum_lo as f64;
            // Each exponential within 3u; the compensated sum adds < 2⁻³⁰.
            let tol = (3.0 * 2f64.powi(-24) + 2f64.powi(-30)) * s;
            assert!((got - s).abs() <= tol, "C = {classes}: {got} vs {s}");
        }
    }

    #[test]
    fn statistics_match_f64() {
        for classes in 1..=SHORT_ROW_MAX {
            for row in rows(classes, 4).chunks_exact(classes) {
                let Ok((one, _)) = single_row(row) else {
                    panic!("finite row")
                };
                let m = row.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
                let s: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
                let got = one.sum as f64 + one.sum_lo as f64;
                assert!(((got - s) / s).abs() < 4.0 * f64::from(f32::EPSILON) / 2.0);
                let excess = one.excess as f64 + one.excess_lo as f64;
                let tol = 3.0 * (s - 1.0) * 2f64.powi(-24) + 1e-300;
                assert!((excess - (s - 1.0)).abs() <= tol, "{excess} vs {}", s - 1.0);
            }
        }
    }
}
