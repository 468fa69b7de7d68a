//! The exponential's reduction with a table of 2^(j/N), on builds whose
//! lanes can look up N entries in one permute: `exp` with N = 8
//! (`lane::EXP_TABLE_LEN`, AVX2 and AVX-512F with FMA), the split
//! exponential of the sigmoid family with N = 16 where AVX-512F permutes
//! 16 entries (`lane::SPLIT_EXP_TABLE_LEN`).
//!
//! x = (n/N)·ln2 + r with n = round(x·N·log2 e), |r| ≤ ln2/(2N) (plus a
//! few ulps), and eˣ = 2^⌊n/N⌋ · 2^(j/N) · eʳ with j = n mod N. The table
//! entry is kept as hi + lo (lo below 2⁻²⁴ of hi), so eʳ·2^(j/N) is
//! hi + (hi·p + lo) with p = eʳ − 1 = r + r²·tail(r): the small term is at
//! most 4.5 % of the large one, so its roundings (and p's) stay below
//! 0.05 ULP and the final addition rounds once. The split exponential
//! keeps that form, as it needs the rounding error of the sum; `exp`
//! drops lo ([`exp_table_rounded`]). With |r| sixteen (eight) times
//! smaller than without a table, p needs degree 3 (4) instead of 7: three
//! (two) fewer multiplies per vector, for one or two permutes, which run
//! beside the multipliers (measured: `docs/performance.md`). The
//! reduction needs FMA: r = x − n·(ln2/N) is one rounding of the exact
//! difference only when the product is not rounded first.
//!
//! Constants from `tools/fit_coefficients.py`; accuracy proved over all 2³²
//! inputs on each table build (`docs/accuracy.md`).

use crate::lane::{EXP_TABLE_LEN, Lane, horner};

/// `exp`'s table length: 8 on every table build.
const _: () = assert!(EXP_TABLE_LEN == 1 || EXP_TABLE_LEN == 8);

/// 2^(j/16) = `EXP_TABLE_HI[j]` + `EXP_TABLE_LO[j]`.
const EXP_TABLE_HI: [f32; 16] = [
    f32::from_bits(0x3f800000), // 1.0
    f32::from_bits(0x3f85aac3), // 1.0442737340927124
    f32::from_bits(0x3f8b95c2), // 1.0905077457427979
    f32::from_bits(0x3f91c3d3), // 1.1387885808944702
    f32::from_bits(0x3f9837f0), // 1.1892070770263672
    f32::from_bits(0x3f9ef532), // 1.2418577671051025
    f32::from_bits(0x3fa5fed7), // 1.2968395948410034
    f32::from_bits(0x3fad583f), // 1.3542555570602417
    f32::from_bits(0x3fb504f3), // 1.4142135381698608
    f32::from_bits(0x3fbd08a4), // 1.4768261909484863
    f32::from_bits(0x3fc5672a), // 1.5422108173370361
    f32::from_bits(0x3fce248c), // 1.610490322113037
    f32::from_bits(0x3fd744fd), // 1.6817928552627563
    f32::from_bits(0x3fe0ccdf), // 1.7562521696090698
    f32::from_bits(0x3feac0c7), // 1.8340080976486206
    f32::from_bits(0x3ff5257d), // 1.9152065515518188
];
/// See [`EXP_TABLE_HI`].
const EXP_TABLE_LO: [f32; 16] = [
    f32::from_bits(0x00000000), // 0.0
    f32::from_bits(0x334f9891), // 4.8334701574503924e-08
    f32::from_bits(0xb260aba1), // -1.3077539939843064e-08
    f32::from_bits(0x33675624), // 5.386222312608879e-08
    f32::from_bits(0x33231b71), // 3.797635272917432e-08
    f32::from_bits(0x33412342), // 4.496838101886169e-08
    f32::from_bits(0xb32c9d5e), // -4.018999533172973e-08
    f32::from_bits(0xb22deaf6), // -1.0123349269974824e-08
    f32::from_bits(0x32cfe77a), // 2.4203234971764687e-08
    f32::from_bits(0xb3414fe8), // -4.500898853621038e-08
    f32::from_bits(0x320aa837), // 8.070904833346049e-09
    f32::from_bits(0x3228fc24), // 9.836217174097328e-09
    f32::from_bits(0xb2d4a58a), // -2.4755326677450284e-08
    f32::from_bits(0xb21eab59), // -9.235770370707996e-09
    f32::from_bits(0xb24116de), // -1.1239277952768134e-08
    f32::from_bits(0x32292436), // 9.845328108326612e-09
];
/// ln2/16 as hi + lo.
const LN2_BY_16_HI: f32 = f32::from_bits(0x3d317218); // 0.043321698904037476
/// See [`LN2_BY_16_HI`].
const LN2_BY_16_LO: f32 = f32::from_bits(0xaf02e308); // -1.1904088825787085e-10
/// `(eʳ − 1 − r)/r²` on |r| ≤ ln2/32 (+0.1 %), degree 1, max abs error
/// 9.9e-6, i.e. below 5e-9 of eʳ.
const EXP_TABLE_16_TAIL: [f32; 2] = [
    f32::from_bits(0x3f0000a4), // 0.5000097751617432
    f32::from_bits(0x3e2aab2e), // 0.1666686236858368
];
/// The same on |r| ≤ ln2/16 (+0.1 %), degree 2, max abs error 1.7e-7, i.e.
/// below 4e-10 of eʳ.
const EXP_TABLE_8_TAIL: [f32; 3] = [
    f32::from_bits(0x3f000000), // 0.5
    f32::from_bits(0x3e2aadbf), // 0.16667841374874115
    f32::from_bits(0x3d2aacb9), // 0.04166862741112709
];

/// log2 e rounded to f32.
const LOG2_E: f32 = f32::from_bits(0x3fb8aa3b);
/// 1.5·2²³: adding it to x·N·log2 e rounds to the integer n and leaves
/// 2²² + n in the low mantissa bits, so the bits shifted right by log2 N
/// hold ⌊n/N⌋ (two's complement in the low bits; 2²² is a multiple of N)
/// and the low log2 N bits hold j.
const ROUND_MAGIC_N: f32 = 12_582_912.0;

/// The N-entry table of 2^(j/N) (entry j·16/N of the 16-entry one),
/// repeated to fill 16 entries, the layout [`Lane::lookup`] reads.
const fn every_nth_repeated<const N: usize>(table: [f32; 16]) -> [f32; 16] {
    let mut out = [0.0; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = table[(i % N) * (16 / N)];
        i += 1;
    }
    out
}

/// The table of 2^(j/N) and the constants of its reduction, for N = 8 or
/// 16 (N = 1, no table, only where a build's dead branch names it).
pub(super) struct Table<const N: usize>;

impl<const N: usize> Table<N> {
    /// 2^(j/N) = `HI[j]` + `LO[j]` (j < N; repeated beyond).
    const HI: [f32; 16] = every_nth_repeated::<N>(EXP_TABLE_HI);
    /// See [`Table::HI`].
    const LO: [f32; 16] = every_nth_repeated::<N>(EXP_TABLE_LO);
    /// log2 N.
    const BITS: u32 = N.trailing_zeros();
    /// log2 e times N (exact).
    const LOG2_E_TIMES_N: f32 = LOG2_E * N as f32;
    /// ln2/N as hi + lo: ln2/16 times 16/N (exact).
    const LN2_BY_N_HI: f32 = LN2_BY_16_HI * (16 / N) as f32;
    /// See [`Table::LN2_BY_N_HI`].
    const LN2_BY_N_LO: f32 = LN2_BY_16_LO * (16 / N) as f32;
    /// The bits [`exp_table_parts`] and [`exp_table_rounded`] return for
    /// k = 0 (`split_scale` measures k from them).
    pub(super) const SCALE_BITS_OF_ONE: u32 = ROUND_MAGIC_N.to_bits() >> Self::BITS;
    /// [`Table::HI`] with j·2^(23 − log2 N) subtracted from entry j's bits
    /// (see [`exp_table_8_fast`]).
    const HI_LESS_INDEX: [f32; 16] = {
        let mut out = [0.0; 16];
        let mut i = 0;
        while i < 16 {
            let j = (i % N) as u32;
            out[i] = f32::from_bits(Self::HI[i].to_bits() - (j << (23 - Self::BITS)));
            i += 1;
        }
        out
    };
}

/// `(bits, big, small)` with eˣ ≈ (big + small)·2ᵏ, k in the low nine bits
/// of `bits` (the bits above fall off when shifted left by 23), big the
/// N-entry table's hi and small hi·p + lo: for the split exponential,
/// whose caller needs the rounding error of big + small.
#[inline(always)]
pub(super) fn exp_table_parts<V: Lane, const N: usize>(x: V) -> (V::Bits, V, V) {
    let (bits, p) = reduce::<V, N, false>(x);
    let hi = V::lookup::<N>(&Table::<N>::HI, bits);
    let lo = V::lookup::<N>(&Table::<N>::LO, bits);
    (bits >> Table::<N>::BITS, hi, hi.mul_add(p, lo))
}

/// `(bits, er)` with eˣ ≈ er·2ᵏ, k as in [`exp_table_parts`], er rounded
/// once: er is hi·p + hi with the 8-entry table, without the table's lo.
///
/// hi's own rounding is at most 0.352 ULP of the result it scales
/// (`tools/fit_coefficients.py` prints it), so with the final rounding's
/// half ULP and p's small error the result stays within 1 ULP, as the
/// proof over all 2³² inputs confirms (`docs/accuracy.md`). That saves a
/// permute and an addition per vector against hi + (hi·p + lo). The
/// 16-entry table's worst hi is 0.462 ULP, too close to the bound for this
/// form, and with lo it cost AVX-512 builds more than the 8-entry table's
/// longer polynomial (`docs/performance.md`, "`exp` with the 8-entry table
/// on AVX-512"), so `exp` uses 8 entries there too.
#[inline(always)]
pub(super) fn exp_table_rounded<V: Lane>(x: V) -> (V::Bits, V) {
    let (bits, p) = reduce::<V, EXP_TABLE_LEN, true>(x);
    let hi = V::lookup::<EXP_TABLE_LEN>(&Table::<EXP_TABLE_LEN>::HI, bits);
    (bits >> Table::<EXP_TABLE_LEN>::BITS, hi.mul_add(p, hi))
}

/// eˣ on the fast path (|x| < 87, every result normal) with the 8-entry
/// table: s = hi·2ᵏ first, then s·p + s rounded once, the same bits as
/// [`exp_table_rounded`]'s er scaled by 2ᵏ afterwards (both normal, so the
/// scale commutes with the rounding). s comes from one integer addition:
/// the entries of [`Table::HI_LESS_INDEX`] have j·2²⁰ taken from their
/// bits, and z's bits shifted left by 20 add n·2²⁰ = k·2²³ + j·2²⁰ back.
/// That saves the mask that isolates k, and a constant register.
#[inline(always)]
pub(super) fn exp_table_8_fast<V: Lane>(x: V) -> V {
    type T = Table<EXP_TABLE_LEN>;
    let (bits, p) = reduce::<V, EXP_TABLE_LEN, true>(x);
    let hi_less_index = V::lookup::<EXP_TABLE_LEN>(&T::HI_LESS_INDEX, bits).to_bits();
    let s = V::from_bits(hi_less_index + (bits << (23 - T::BITS)));
    s.mul_add(p, s)
}

/// The reduction: z's bits (j in the low log2 N bits, ⌊n/N⌋ above) and
/// p = eʳ − 1.
///
/// With `TAIL_AT_FIRST_STEP` (`exp`) the tail is evaluated at
/// r₁ = x − n·LN2_BY_N_HI, the reduction's first step, so it runs beside
/// the second (r = r₁ − n·LN2_BY_N_LO) instead of after it: one
/// multiply-add less on each vector's dependency chain, the same
/// operations (x86-64-v3 `exp_into`: `docs/performance.md`, "The
/// polynomial's tail beside the reduction"). r₁ and r differ by
/// |n·LN2_BY_N_LO| ≤ 2.9·10⁻⁷ (x clamped to [−104, 89], |n/N| ≤ 151); the
/// tail's slope is below 0.2 and its weight r² ≤ 0.0019, so p moves by less
/// than 1.2·10⁻¹⁰ of eʳ (0.001 ULP); r itself and r² keep both steps. The
/// split exponential keeps the tail at r: there the shorter chain measured
/// `softplus_into` 9 % slower on x86-64-v3 (`sigmoid_into` 4 % faster).
#[inline(always)]
fn reduce<V: Lane, const N: usize, const TAIL_AT_FIRST_STEP: bool>(x: V) -> (V::Bits, V) {
    let z = x.mul_add(
        V::splat(Table::<N>::LOG2_E_TIMES_N),
        V::splat(ROUND_MAGIC_N),
    );
    let n = z - V::splat(ROUND_MAGIC_N);
    let r_first = n.mul_add(V::splat(-Table::<N>::LN2_BY_N_HI), x);
    let r = n.mul_add(V::splat(-Table::<N>::LN2_BY_N_LO), r_first);
    let tail_at = if TAIL_AT_FIRST_STEP { r_first } else { r };
    let tail = if N == 16 {
        horner(tail_at, EXP_TABLE_16_TAIL)
    } else {
        horner(tail_at, EXP_TABLE_8_TAIL)
    };
    let p = (r * r).mul_add(tail, r);
    (z.to_bits(), p)
}
