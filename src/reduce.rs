//! Reductions over slices: a NaN-aware max and a blocked sum whose error
//! does not grow with the length.
//!
//! The sum keeps four vector accumulators and adds at most four vectors into
//! each before flushing it into an f64 total. Every f32 lane therefore sums at
//! most 4 terms (relative error ≤ 3u, u = 2⁻²⁴, for non-negative terms) and
//! the f64 total adds ≤ n·2⁻⁵³, so any sum of n ≤ 2²⁴ non-negative terms has
//! relative error ≤ 3u + 2⁻²⁹ < 2⁻²² (the summation bound of `docs/accuracy.md`) before its final rounding.

use crate::lane::{Lane, load_partial};

/// Terms added into one f32 accumulator before it is flushed to f64.
const FLUSH_EVERY: usize = 4;
/// Independent accumulators, for instruction-level parallelism.
const ACCUMULATORS: usize = 4;

/// Largest element of `xs`; NaN if any element is NaN; −inf if empty.
///
/// One read pass, two vector accumulators and a NaN mask.
#[inline(always)]
pub(crate) fn row_max<V: Lane>(xs: &[f32]) -> f32 {
    row_extremes::<V, false>(xs).0
}

/// [`row_max`] and, from the same pass, the least element of each lane
/// (+inf in lanes the row does not reach; meaningful only when the maximum
/// is not NaN), left unreduced: its one use is a lanewise test
/// (`softmax::short_rows::all_exp_fast`), where a horizontal minimum would
/// cost a serial chain per row.
#[inline(always)]
pub(crate) fn row_max_min<V: Lane>(xs: &[f32]) -> (f32, V) {
    row_extremes::<V, true>(xs)
}

/// The pass of [`row_max`] and [`row_max_min`]: the minima only with
/// `MIN` (+inf lanes without). A shared body that dropped the minima
/// afterwards left [`row_max`]'s callers slower: `softmax_rows` of 10
/// logits ran 0.94 → 1.15 ns per logit on AVX-512.
#[inline(always)]
fn row_extremes<V: Lane, const MIN: bool>(xs: &[f32]) -> (f32, V) {
    let (neg_inf, inf) = (V::splat(f32::NEG_INFINITY), V::splat(f32::INFINITY));
    let (mut m0, mut m1) = (neg_inf, neg_inf);
    let (mut l0, mut l1) = (inf, inf);
    let mut nan = neg_inf.is_nan();
    let mut pairs = xs.chunks_exact(2 * V::WIDTH);
    for pair in &mut pairs {
        let (a, b) = pair.split_at(V::WIDTH);
        let (a, b) = (V::load(a), V::load(b));
        nan = nan | a.is_nan() | b.is_nan();
        m0 = m0.max(a);
        m1 = m1.max(b);
        if MIN {
            l0 = l0.min(a);
            l1 = l1.min(b);
        }
    }
    let mut singles = pairs.remainder().chunks_exact(V::WIDTH);
    for one in &mut singles {
        let a = V::load(one);
        nan = nan | a.is_nan();
        m0 = m0.max(a);
        if MIN {
            l0 = l0.min(a);
        }
    }
    let rest = singles.remainder();
    if !rest.is_empty() {
        // A row of at least one vector ends on the vector of its last W
        // elements, loaded whole: they are all the row's, and the maximum,
        // the minimum and the NaN test do not mind seeing some twice.
        // That replaces the partial load's lane-by-lane inserts (rows of
        // 20 to 100 logits: 1–2.5 % fewer instructions per logit on
        // x86-64-v3, `docs/performance.md`). Only the sign of a zero
        // maximum can depend on the order, and no output sees it: a row
        // whose maximum is both +0 and −0 has S ≥ 2.
        let (a, low) = match xs
            .len()
            .checked_sub(V::WIDTH)
            .and_then(|start| xs.get(start..))
        {
            Some(last) => {
                let a = V::load(last);
                (a, a)
            }
            None => {
                let a = load_partial::<V>(rest, f32::NEG_INFINITY);
                (a, V::select(V::first_lanes(rest.len()), a, inf))
            }
        };
        nan = nan | a.is_nan();
        m1 = m1.max(a);
        if MIN {
            l1 = l1.min(low);
        }
    }
    if V::any(nan) {
        (f32::NAN, inf)
    } else {
        (m0.max(m1).reduce_max(), l0.min(l1))
    }
}

/// Σ over the vectors k = 0, 1, … of a row of `len` elements of
/// `terms(k, valid)`, for `K` quantities at once, each returned as an f64
/// with the error bound of the module docs.
///
/// `terms` loads vector `k` itself (elements `k·W ..`, e.g. with
/// [`load_at`](crate::lane::load_at)), may store results at the same place,
/// and must return zero in the lanes outside `valid` (the padding of the
/// last, partial vector; `valid` is all lanes elsewhere).
#[inline(always)]
pub(crate) fn blocked_sum<V: Lane, const K: usize>(
    len: usize,
    mut terms: impl FnMut(usize, V::Mask) -> [V; K],
) -> [f64; K] {
    let zero = V::splat(0.0);
    let all = V::first_lanes(V::WIDTH);
    let full = len / V::WIDTH;
    // Lanewise f64 totals: flushing adds lane to lane, so no flush waits on
    // a chain of dependent f64 additions; one horizontal sum at the end.
    let mut total = [V::Wide::default(); K];
    let per_block = ACCUMULATORS * FLUSH_EVERY;
    let mut k = 0;
    while k + per_block <= full {
        let mut acc = [[zero; K]; ACCUMULATORS];
        for _ in 0..FLUSH_EVERY {
            for a in acc.iter_mut() {
                accumulate(a, terms(k, all));
                k += 1;
            }
        }
        flush(&acc, &mut total);
    }
    // Fewer than one block left: each accumulator still takes ≤ FLUSH_EVERY.
    let mut acc = [[zero; K]; ACCUMULATORS];
    let mut slot = 0;
    while k < full {
        if let Some(a) = acc.get_mut(slot % ACCUMULATORS) {
            accumulate(a, terms(k, all));
        }
        slot += 1;
        k += 1;
    }
    let rest = len - full * V::WIDTH;
    if let Some(a) = acc.get_mut(slot % ACCUMULATORS).filter(|_| rest > 0) {
        accumulate(a, terms(k, V::first_lanes(rest)));
        slot += 1;
    }
    // Short rows touch few accumulators: flush only those.
    flush(
        acc.get(..slot.min(ACCUMULATORS)).unwrap_or(&acc),
        &mut total,
    );
    total.map(V::wide_sum)
}

#[inline(always)]
fn accumulate<V: Lane, const K: usize>(acc: &mut [V; K], terms: [V; K]) {
    for (a, t) in acc.iter_mut().zip(terms) {
        *a = *a + t;
    }
}

#[inline(always)]
fn flush<V: Lane, const K: usize>(acc: &[[V; K]], total: &mut [V::Wide; K]) {
    for a in acc {
        for (t, v) in total.iter_mut().zip(a) {
            v.widen_add(t);
        }
    }
}

/// 2⁻⁶⁴ and 2⁶⁴: the scale of the rare paths below, for sums and products
/// of values near f32::MAX.
pub(crate) const DOWN: f32 = f32::from_bits((127 - 64) << 23);
pub(crate) const UP: f32 = f32::from_bits((127 + 64) << 23);

/// Σ `term(k, valid, scale)` over the vectors of a row of `len` values,
/// for the rare rows whose f32 lane sums overflowed (weights, targets or
/// gaps near f32::MAX: a lane adds up to four terms before its f64 flush).
/// The terms are formed scaled by 2⁻⁶⁴ so no lane sum can overflow, and the
/// f64 total is scaled back; terms below 2⁻⁸⁵ underflow, at most 2⁻⁸⁰ of a
/// total that had overflowed f32.
pub(crate) fn rescaled_sum<V: Lane>(
    len: usize,
    mut term: impl FnMut(usize, V::Mask, V) -> V,
) -> f64 {
    let down = V::splat(DOWN);
    let [sum] = blocked_sum::<V, 1>(len, |k, valid| [term(k, valid, down)]);
    sum * UP as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::{Simd, load_at};

    #[test]
    fn row_max_handles_nan_empty_and_tails() {
        assert_eq!(row_max::<Simd>(&[]), f32::NEG_INFINITY);
        for n in 1..70 {
            let xs: [f32; 70] = core::array::from_fn(|i| (i as f32 * 7.3) % 11.0 - 5.0);
            let want = xs[..n].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(row_max::<Simd>(&xs[..n]), want, "n={n}");
            assert_eq!(row_max::<f32>(&xs[..n]), want, "n={n}");
            let mut with_nan = xs;
            with_nan[n - 1] = f32::NAN;
            assert!(row_max::<Simd>(&with_nan[..n]).is_nan());
        }
    }

    /// The lanes' minima reduce to the row's minimum at every length, with
    /// the least element placed anywhere, the last vector's included (a
    /// row of at least one vector reloads its last W elements whole).
    #[test]
    fn row_max_min_lane_minima_cover_the_row() {
        for n in 1..70 {
            for low in 0..n {
                let mut xs: [f32; 70] = core::array::from_fn(|i| (i as f32 * 7.3) % 11.0 - 5.0);
                xs[low] = -100.0 - low as f32;
                let (max, minima) = row_max_min::<Simd>(&xs[..n]);
                let mut lanes = [0.0f32; crate::lane::MAX_WIDTH];
                minima.store(&mut lanes[..<Simd as Lane>::WIDTH]);
                let lanes = &lanes[..<Simd as Lane>::WIDTH];
                let least = lanes.iter().copied().fold(f32::INFINITY, f32::min);
                assert_eq!(least, xs[low], "n={n}, least at {low}");
                assert!(
                    lanes
                        .iter()
                        .all(|&l| l == f32::INFINITY || xs[..n].contains(&l))
                );
                assert_eq!(
                    max,
                    xs[..n].iter().copied().fold(f32::NEG_INFINITY, f32::max)
                );
            }
        }
    }

    #[test]
    fn blocked_sum_counts_every_element_once() {
        for n in 0..600 {
            let xs: [f32; 600] = core::array::from_fn(|i| i as f32);
            let [s, c] = blocked_sum::<Simd, 2>(n, |k, valid| {
                let x = load_at::<Simd>(&xs[..n], k, -1.0);
                let zero = <Simd as Lane>::splat(0.0);
                [
                    <Simd as Lane>::select(valid, x, zero),
                    <Simd as Lane>::select(valid, <Simd as Lane>::splat(1.0), zero),
                ]
            });
            assert_eq!(c, n as f64);
            assert_eq!(s, (n * n.saturating_sub(1) / 2) as f64);
        }
    }

    #[test]
    fn blocked_sum_error_does_not_grow_with_n() {
        // 2^24 copies of 0.1f32: one f32 accumulator would be off by ~2^-3
        // relative (it stops growing at 2^21), a pairwise sum by ~24u.
        let n = 1 << 24;
        let x = 0.1f32;
        let xs = std::vec![x; n];
        let total = blocked_sum::<Simd, 1>(n, |k, _| [load_at::<Simd>(&xs, k, 0.0)])[0];
        let exact = n as f64 * x as f64;
        assert!(
            ((total - exact) / exact).abs() <= 2f64.powi(-22),
            "{total} vs {exact}"
        );
    }
}
