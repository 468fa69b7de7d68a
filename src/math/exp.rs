//! `exp`: Cody–Waite reduction to |r| ≤ ln2/2 and a degree-6 polynomial,
//! or, where the lanes can look up a table of 2^(j/N) in one permute
//! (AVX2, AVX-512F), to |r| ≤ ln2/(2N) and a degree-4 polynomial (N = 8;
//! degree 3 with the split exponential's 16 entries on AVX-512F,
//! `exp_table.rs`); then a power-of-two scale, in two factors where the
//! result may be subnormal (gradual underflow).

use super::exp_table::{Table, exp_table_8_fast, exp_table_parts, exp_table_rounded};
use super::{LN2_HI, LN2_LO, elementwise_slices_two_paths};
use crate::lane::{
    BLOCK, EXP_TABLE_LEN, FUSED_MUL_ADD, Lane, LaneBits, SPLIT_EXP_TABLE_LEN, block_all,
};

/// log2(e) rounded to f32.
const LOG2_E: f32 = f32::from_bits(0x3fb8aa3b); // 1.442_695_021_629_333_5
/// 1.5·2²³ + 127: adding it rounds to an integer n and leaves n + 127 in
/// the low mantissa bits. The odd offset is kept from the earlier form,
/// whose scale used n + 127 directly: ties of x·log2 e + 1.5·2²³ round to
/// an even n + 127, and other offsets would round them the other way and
/// change the bits of this build.
const ROUND_MAGIC: f32 = f32::from_bits(0x4b40007f); // 12_583_039.0
/// For |x| below this, eˣ and its scale 2ⁿ are normal floats: the fast
/// path, which is the general path minus clamps, NaN patch and split scale,
/// scales in one exact step (`scale_fast`).
pub(crate) const EXP_FAST_LIMIT: f32 = 87.0;
/// Below this, exp(x) < 2⁻¹⁵⁰ rounds to +0; the clamp keeps n in range.
const EXP_INPUT_MIN: f32 = -104.0;
/// Above this, exp(x) overflows to +inf on its own; the clamp keeps n in range.
const EXP_INPUT_MAX: f32 = 89.0;
/// `(eʳ − 1 − r) / r²` on |r| ≤ ln2/2 + 1e-4, degree 4, where multiply-adds
/// do not fuse: the f32 coefficients that minimise the relative error of
/// 1 + r + r²·Q(r) against eʳ, 3.3e-9 (Sollya's `fpminimax`,
/// tools/relative_fits.sollya). A degree-4 fit of Q's own absolute error, which
/// does not weigh where r² carries it into the result, measured 1.003 ULP.
const EXP_TAIL: [f32; 5] = [
    f32::from_bits(0x3efffffd), // 0.499_999_910_593_032_84
    f32::from_bits(0x3e2aaa49), // 0.166_665_211_319_923_4
    f32::from_bits(0x3d2aad13), // 0.041_668_962_687_253_95
    f32::from_bits(0x3c091cc3), // 0.008_368_673_734_366_894
    f32::from_bits(0x3ab4a665), // 0.001_378_249_959_088_862
];
/// The same on |r| ≤ ln2/2 + 1e-4, degree 5, where multiply-adds fuse
/// (aarch64): a Chebyshev fit of Q, max abs error 4.5e-9
/// (tools/fit_coefficients.py). With [`EXP_TAIL`] that build's sampled
/// maximum rose from 0.9716 to 0.9850 ULP (`.ci/steps/cross.sh`), too near
/// the bound for a build whose proof is sampled, so it keeps its bits.
const EXP_TAIL_FUSED: [f32; 6] = [
    f32::from_bits(0x3f000000), // 0.5
    f32::from_bits(0x3e2aaaab), // 0.166_666_671_633_720_4
    f32::from_bits(0x3d2aaa74), // 0.041_666_463_017_463_684
    f32::from_bits(0x3c088870), // 0.008_333_310_484_886_17
    f32::from_bits(0x3ab6a1a1), // 0.001_393_366_721_458_733
    f32::from_bits(0x39509286), // 0.000_198_910_100_152_716
];

/// eˣ on every lane. The algorithm behind [`exp`]; generic so the scalar
/// path and the SIMD path are one piece of code.
///
/// x = n·ln2 + r with n = round(x·log2 e) and r = (x − n·LN2_HI) − n·LN2_LO
/// (the first product and difference exact); eʳ = 1 + (r + r²·Q(r)); the
/// result is eʳ·2ⁿ. When every lane has |x| < 87, 2ⁿ is one normal float
/// (fast path). Otherwise the lanes are clamped to [−104, 89] and scaled by
/// 2^⌊n/2⌋·2^(n−⌊n/2⌋): the first product is exact, so a subnormal result is
/// rounded once, and an overflow happens on its own. The two paths give the
/// same bits wherever both apply, so a lane's result does not depend on its
/// neighbours.
#[inline(always)]
pub fn exp_lane<V: Lane>(x: V) -> V {
    if exp_in_fast_range(x) {
        exp_fast(x)
    } else {
        exp_general(x)
    }
}

/// Whether every lane takes [`exp_lane`]'s (and [`exp_split_lane`]'s) fast
/// path.
#[inline(always)]
pub(crate) fn exp_in_fast_range<V: Lane>(x: V) -> bool {
    V::all(exp_fast_lanes(x))
}

/// Whether every lane of a block of vectors takes the fast path, for the
/// slice drivers ([`crate::lane::map_into_two_paths`]): the same answer as
/// [`exp_in_fast_range`] on each vector. On the table builds (AVX2,
/// AVX-512F), by integers: |x| < 87 exactly where x's bits shifted left by
/// one (the sign gone) are below 87's, NaN above; one shift and one
/// unsigned maximum per vector and one comparison per block, against an
/// absolute value and a comparison per vector and the masks' conjunction
/// (`exp_into` on x86-64-v3: `docs/performance.md`). SSE2 has no unsigned
/// maximum, so the default build tests the masks.
#[inline(always)]
pub(crate) fn exp_block_in_fast_range<V: Lane>(block: &[V; BLOCK]) -> bool {
    let [a, b, c, d] = *block;
    if EXP_TABLE_LEN > 1 {
        let key = |v: V| v.to_bits() << 1;
        let largest = key(a).max(key(b)).max(key(c).max(key(d)));
        let limit = V::Bits::splat((EXP_FAST_LIMIT.to_bits() << 1) - 1);
        largest.max(limit).all_eq(limit)
    } else {
        block_all(block, exp_fast_lanes)
    }
}

/// The lanes that [`exp_in_fast_range`] asks about: |x| < 87.
#[inline(always)]
pub(crate) fn exp_fast_lanes<V: Lane>(x: V) -> V::Mask {
    x.abs().lt(V::splat(EXP_FAST_LIMIT))
}

/// [`exp_lane`]'s fast path: |x| < 87 in every lane.
#[inline(always)]
pub(crate) fn exp_fast<V: Lane>(x: V) -> V {
    if EXP_TABLE_LEN == 8 {
        return exp_table_8_fast(x);
    }
    let (bits, er) = exp_reduced(x);
    scale_fast(er, bits)
}

/// er·2ᵏ on the fast path (both normal), exact: on the table builds k is
/// added to er's exponent field, which keeps a multiply off the FMA pipes;
/// on the others a multiply by 2ᵏ is shorter, as the compiler folds the
/// bias of the bits into forming 2ᵏ (`tools/callgrind.sh`, default build:
/// `exp_into` 11.2 → 10.7 and `sigmoid_into` 19.7 → 18.6 instructions per
/// element; on x86-64-v3 the addition ran 7.22 against 7.34 for `sigmoid_into`).
#[inline(always)]
fn scale_fast<V: Lane>(er: V, bits: V::Bits) -> V {
    if EXP_TABLE_LEN > 1 {
        scale_normal(er, bits)
    } else {
        er * power_of_two(bits)
    }
}

/// v·2ᵏ for the k in the low nine bits of `bits`, where v and the result
/// are normal: k added to v's exponent field (wrapping; the bits above the
/// nine fall off the shift). The same bits as a multiply by 2ᵏ.
#[inline(always)]
fn scale_normal<V: Lane>(v: V, bits: V::Bits) -> V {
    V::from_bits(v.to_bits() + (bits << 23))
}

/// 2ᵏ for the k in the low nine bits of `bits`, k ∈ [−126, 127].
#[inline(always)]
fn power_of_two<V: Lane>(bits: V::Bits) -> V {
    V::from_bits((bits << 23) + V::Bits::splat(127 << 23))
}

/// The shared core: the scale's bits (see [`exp_parts`]) and eʳ·2^(j/N)
/// (eʳ without a table), one rounding of big + small.
#[inline(always)]
fn exp_reduced<V: Lane>(x: V) -> (V::Bits, V) {
    if EXP_TABLE_LEN > 1 {
        return exp_table_rounded(x);
    }
    let (bits, big, small) = exp_parts(x);
    (bits, small + big)
}

/// `(bits, big, small)` with eˣ ≈ (big + small)·2ᵏ before the final
/// rounding of big + small (|small| < |big|): the low nine bits of `bits`
/// hold k (two's complement; the bits above fall off when shifted left by
/// 23).
/// Without a table (`lane::SPLIT_EXP_TABLE_LEN` = 1) k = n, big = 1 and
/// small = p = eʳ − 1 from the degree-6 polynomial; with one, see
/// `src/math/exp_table.rs`.
#[inline(always)]
fn exp_parts<V: Lane>(x: V) -> (V::Bits, V, V) {
    if SPLIT_EXP_TABLE_LEN > 1 {
        return exp_table_parts::<V, SPLIT_EXP_TABLE_LEN>(x);
    }
    let z = x.mul_add(V::splat(LOG2_E), V::splat(ROUND_MAGIC));
    let n = z - V::splat(ROUND_MAGIC);
    let r = n.mul_add(V::splat(-LN2_HI), x);
    let r = n.mul_add(V::splat(-LN2_LO), r);
    let r2 = r * r;
    let p = r2.mul_add(exp_tail(r, r2), r);
    (z.to_bits() - V::Bits::splat(127), V::splat(1.0), p)
}

/// [`EXP_TAIL`] (or [`EXP_TAIL_FUSED`]) at r (`r2` = r²), on the builds
/// without a table.
///
/// Where multiply-adds do not fuse (the default x86-64 build, wasm,
/// firmware), each is a multiply and a dependent add and `exp` is bound by
/// its dependency chain, so the tail goes by Estrin's scheme: c₂ + c₃·r
/// joined to c₄·r², that by r² to c₀ + c₁·r, three multiply-adds deep.
/// `exp_into` ran 4–8 % faster on the default build than with the two
/// leading terms by Horner's rule (four deep; `docs/performance.md`,
/// "`exp`'s tail by Estrin's scheme"). The tail's roundings reach the
/// result through r² (≤ 0.12).
///
/// Where they fuse (aarch64) the chain is half as deep already, and the
/// leading terms stay by Horner's rule, which keeps that build's error
/// further from the bound (0.9716 ULP sampled, against 0.9820 with Estrin's
/// scheme, `.ci/steps/cross.sh`).
#[inline(always)]
fn exp_tail<V: Lane>(r: V, r2: V) -> V {
    let c = V::splat;
    if FUSED_MUL_ADD {
        let [c0, c1, c2, c3, c4, c5] = EXP_TAIL_FUSED;
        let high = c(c5).mul_add(r, c(c4)).mul_add(r2, c(c3).mul_add(r, c(c2)));
        high.mul_add(r, c(c1)).mul_add(r, c(c0))
    } else {
        let [c0, c1, c2, c3, c4] = EXP_TAIL;
        let high = c(c4).mul_add(r2, c(c3).mul_add(r, c(c2)));
        high.mul_add(r2, c(c1).mul_add(r, c(c0)))
    }
}

/// The bits [`exp_parts`] and [`exp_reduced`] leave for a scale of 2⁰,
/// with a table of N entries (N = 1: none).
const fn scale_bits_of_one<const N: usize>() -> u32 {
    if N > 1 {
        Table::<N>::SCALE_BITS_OF_ONE
    } else {
        ROUND_MAGIC.to_bits() - 127
    }
}

/// 2ᵏ for the k held in `bits`, as two normal factors whose product is
/// exact until the last multiply (gradual underflow, overflow on its own);
/// `bits` from a reduction with a table of N entries.
#[inline(always)]
fn split_scale<V: Lane, const N: usize>(bits: V::Bits) -> (V, V) {
    // k + 256 ∈ [105, 385]: non-negative, so a logical shift halves it.
    let k_biased = bits - V::Bits::splat(const { scale_bits_of_one::<N>() } - 256);
    let half_biased = k_biased >> 1; // ⌊k/2⌋ + 128
    let s1 = V::from_bits((half_biased - V::Bits::splat(1)) << 23);
    let s2 = V::from_bits((k_biased - half_biased - V::Bits::splat(1)) << 23);
    (s1, s2)
}

/// Every input, including NaN, ±inf, overflow and subnormal results.
#[inline(never)]
fn exp_general<V: Lane>(x: V) -> V {
    let xc = x.max(V::splat(EXP_INPUT_MIN)).min(V::splat(EXP_INPUT_MAX));
    let (bits, er) = exp_reduced(xc);
    let (s1, s2) = split_scale::<V, EXP_TABLE_LEN>(bits);
    V::select(x.is_nan(), x, er * s1 * s2)
}

/// eˣ as an unevaluated sum hi + lo for callers that divide or subtract
/// next (sigmoid): hi is eˣ rounded once and lo the rounding error of its
/// final `1 + p`, recovered exactly by Fast2Sum (|1| ≥ |p|) and scaled
/// by the same power of two (it may underflow to 0, where it is below the
/// subnormal spacing anyway). NaN lanes: hi = x, lo = NaN. hi is
/// [`exp_lane`]'s result on builds without a table; the table builds'
/// `exp` rounds without the table's low part (and on AVX-512F uses a
/// table of other size).
///
/// The same two paths as [`exp_lane`], with the same bits wherever both
/// apply: for |x| < 87 in every lane, 2ⁿ is one normal float and the two
/// products round once each, as the general path's second factor does
/// after its exact first one.
#[inline(always)]
pub(crate) fn exp_split_lane<V: Lane>(x: V) -> (V, V) {
    if V::WIDTH == 1 {
        // One lane (firmware): the general path alone, inline, as small
        // and as shallow on the stack as before the fast path existed.
        return exp_split_clamped(x);
    }
    if exp_in_fast_range(x) {
        exp_split_fast(x)
    } else {
        exp_split_general(x)
    }
}

/// [`exp_split_lane`]'s fast path: |x| < 87 in every lane.
#[inline(always)]
pub(crate) fn exp_split_fast<V: Lane>(x: V) -> (V, V) {
    let (bits, er, er_lo) = exp_split_reduced(x);
    // er_lo may be 0 or leave the normal range: a true multiply.
    (scale_fast(er, bits), er_lo * power_of_two(bits))
}

/// The scale's bits and big + small as er + er_lo exactly (Fast2Sum,
/// |big| ≥ |small|).
#[inline(always)]
fn exp_split_reduced<V: Lane>(x: V) -> (V::Bits, V, V) {
    let (bits, big, small) = exp_parts(x);
    let er = small + big;
    (bits, er, (big - er) + small)
}

/// The general path's clamp to [−104, 89] (see [`exp_general`]).
#[inline(always)]
fn exp_clamp<V: Lane>(x: V) -> V {
    x.max(V::splat(EXP_INPUT_MIN)).min(V::splat(EXP_INPUT_MAX))
}

/// [`exp_split_lane`]'s general path on vectors: clamps, the two-factor
/// scale and the NaN patch of [`exp_general`], out of line (a second copy
/// of the polynomial, which a single shared copy with two branches around
/// it measured about 15 instructions per vector dearer on the default
/// build).
#[inline(never)]
fn exp_split_general<V: Lane>(x: V) -> (V, V) {
    exp_split_clamped(x)
}

/// Every input: the clamps, the two-factor scale and the NaN patch.
#[inline(always)]
fn exp_split_clamped<V: Lane>(x: V) -> (V, V) {
    let (bits, er, er_lo) = exp_split_reduced(exp_clamp(x));
    let (s1, s2) = split_scale::<V, SPLIT_EXP_TABLE_LEN>(bits);
    (V::select(x.is_nan(), x, er * s1 * s2), er_lo * s1 * s2)
}

/// eˣ.
///
/// # Accuracy
/// ≤ 1 ULP for every f32 input; subnormal results within 1 unit of 2⁻¹⁴⁹.
/// Proved over all 2³² inputs against `f64::exp` by `tests/elementwise_ulp.rs`,
/// which prints the maximum and the input that reaches it: 0.9869 ULP at
/// x = −5.860681 (`0xc0bb8ab3`) on the default x86-64 build (degree-6
/// polynomial). Builds with AVX2 and FMA (AVX-512F builds too) use an
/// 8-entry table of 2^(j/8): 0.9291 ULP, at a subnormal result. Multiply-adds are fused where the
/// target has FMA, so the last bit may differ between builds; the bound is
/// proved on the default, the `-C target-cpu=x86-64-v3` and the
/// `-C target-cpu=native` x86-64 builds and sampled elsewhere
/// (`docs/accuracy.md`).
///
/// # Special values
/// | x | exp(x) |
/// |---|---|
/// | NaN | NaN (same payload) |
/// | +inf, x > ln(f32::MAX) ≈ 88.7228 | +inf |
/// | −inf, x < −103.973 | +0 |
/// | ±0 | 1 |
/// | −103.97 < x < −87.34 | gradual underflow to subnormals |
///
/// # Examples
/// ```
/// assert_eq!(logitkit::exp(0.0), 1.0);
/// assert!((logitkit::exp(1.0) - core::f32::consts::E).abs() <= f32::EPSILON * 3.0);
/// assert_eq!(logitkit::exp(f32::NEG_INFINITY), 0.0);
/// ```
#[inline]
pub fn exp(x: f32) -> f32 {
    exp_lane(x)
}

elementwise_slices_two_paths!(
    exp_lane,
    exp_fast,
    "exp",
    exp_in_place,
    exp_into,
    crate::lane::LaneMathSimd
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::Simd;

    #[test]
    fn block_range_test_agrees_with_each_vectors_test() {
        let below = f32::from_bits(EXP_FAST_LIMIT.to_bits() - 1);
        let values = [
            0.0,
            -0.0,
            1.0,
            below,
            -below,
            EXP_FAST_LIMIT,
            -EXP_FAST_LIMIT,
            f32::from_bits(EXP_FAST_LIMIT.to_bits() + 1),
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7f80_0001),
            f32::from_bits(1),
            -f32::from_bits(1),
        ];
        let w = <Simd as Lane>::WIDTH;
        for &x in &values {
            for at in 0..BLOCK * w {
                let mut lanes = [0.5f32; BLOCK * crate::lane::MAX_WIDTH];
                lanes[at] = x;
                let block: [Simd; BLOCK] =
                    core::array::from_fn(|i| Simd::load(&lanes[i * w..(i + 1) * w]));
                let each = block.iter().all(|&v| exp_in_fast_range(v));
                assert_eq!(exp_block_in_fast_range(&block), each, "x = {x:e} at {at}");
                assert_eq!(each, x.abs() < EXP_FAST_LIMIT, "x = {x:e} at {at}");
            }
        }
    }
}
