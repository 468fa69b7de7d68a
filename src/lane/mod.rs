//! The lane abstraction: the only module that touches `wide`.
//!
//! Every kernel in this crate is written once, generic over [`Lane`], and
//! instantiated twice: with `f32` (one lane, the scalar path) and with
//! [`Simd`] (the widest vector `wide` lowers to real SIMD registers on the
//! target). The kernels use only `+ - * /`, comparisons, selects, min/max and
//! integer bit operations, all of which are exact or correctly rounded per
//! IEEE 754 on every target, plus [`Lane::mul_add`], which is fused exactly
//! where `wide` fuses (x86 with FMA, aarch64) and two roundings elsewhere.
//! The `f32` lane follows the same rule, so within one build an element's
//! result is the same bits whichever path computes it and wherever it sits
//! in a slice. Across builds the last bit may differ, which is why the
//! exhaustive proofs run on the default and on the FMA (`native`) build.

mod scalar;
// Used only where it is `SigmoidSimd` and `LaneMathSimd` (AVX-512 builds) and by the tests.
#[cfg_attr(
    not(all(
        not(logitkit_one_lane),
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "avx512f"
    )),
    allow(dead_code)
)]
mod twin;
mod vector;

pub use scalar::ScalarBits;

use core::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Shl, Shr, Sub};

/// A vector of `WIDTH` `f32` lanes (or one `f32`) with the operations the
/// kernels need. Implemented for `f32`, `wide::f32x4`, `wide::f32x8` and
/// `wide::f32x16`.
pub trait Lane:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The same lanes reinterpreted as `u32` (wrapping arithmetic).
    type Bits: LaneBits;
    /// A per-lane condition, as produced by the comparisons.
    type Mask: Copy + BitOr<Output = Self::Mask> + BitAnd<Output = Self::Mask>;
    /// At least one f64 per lane: the lanewise totals the blocked sum
    /// flushes into. `[f64; 1]` for `f32`, so a one-lane build keeps 8 bytes
    /// per summed quantity on the stack, not 8·`MAX_WIDTH`.
    type Wide: Copy + Default;
    /// Number of `f32` lanes.
    const WIDTH: usize;

    /// Every lane set to `x`.
    fn splat(x: f32) -> Self;
    /// Loads `WIDTH` values; a chunk of any other length loads zeros (the
    /// drivers only pass exact chunks, this keeps the function panic-free).
    fn load(chunk: &[f32]) -> Self;
    /// Stores the lanes into the first `WIDTH` elements of `chunk` (fewer if
    /// `chunk` is shorter).
    fn store(self, chunk: &mut [f32]);
    /// Lane `0`.
    fn first(self) -> f32;

    /// Raw IEEE bits of each lane.
    fn to_bits(self) -> Self::Bits;
    /// Lanes from raw IEEE bits.
    fn from_bits(bits: Self::Bits) -> Self;

    /// `self < other` per lane (false where either is NaN).
    fn lt(self, other: Self) -> Self::Mask;
    /// `self > other` per lane (false where either is NaN).
    fn gt(self, other: Self) -> Self::Mask;
    /// `self == other` per lane (false where either is NaN; `-0 == +0`).
    fn eq(self, other: Self) -> Self::Mask;
    /// Lanes that hold a NaN.
    fn is_nan(self) -> Self::Mask;
    /// Per lane, `if_true` where `mask` holds, else `if_false`.
    fn select(mask: Self::Mask, if_true: Self, if_false: Self) -> Self;
    /// `value` where `mask` is set, +0 elsewhere: [`Lane::select`] against
    /// zero, which vectors form with one bitwise and (a mask lane is all
    /// ones or all zeros); a blend against zero costs x86 builds one more
    /// operation, the compiler re-deriving the mask from its sign bits.
    #[inline(always)]
    fn select_or_zero(mask: Self::Mask, value: Self) -> Self {
        Self::select(mask, value, Self::splat(0.0))
    }
    /// Lanewise maximum. Which operand a NaN lane returns is unspecified:
    /// kernels only use it on clamps whose NaN lanes are patched afterwards.
    fn max(self, other: Self) -> Self;
    /// Lanewise minimum, with the same NaN caveat as [`Lane::max`].
    fn min(self, other: Self) -> Self;
    /// `self * a + b`: one rounding where the target has FMA (x86 `fma`,
    /// aarch64), two elsewhere; the same choice for every lane type.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// |self| (clears the sign bit; NaN stays NaN).
    fn abs(self) -> Self;
    /// Whether `mask` holds in every lane.
    fn all(mask: Self::Mask) -> bool;
    /// Whether `mask` holds in any lane.
    fn any(mask: Self::Mask) -> bool;
    /// Largest lane (lanes must not be NaN; NaN is tracked separately).
    fn reduce_max(self) -> f32;
    /// Sum of the lanes, each converted to f64 (exact) and added in f64.
    fn sum_f64(self) -> f64;
    /// Adds each lane, converted to f64, to the matching element of `into`
    /// (lanewise, so no dependency chain across lanes).
    fn widen_add(self, into: &mut Self::Wide);
    /// Σ of the lanewise totals, in f64.
    fn wide_sum(totals: Self::Wide) -> f64;
    /// `table[i mod 16]` in each lane, for the index i in that lane's
    /// `index` bits, where `table` holds N entries (8 or 16; 1 where there
    /// is no table) repeated to fill 16: the exponential's table of 2^(j/N)
    /// (`src/math/exp_table.rs`). One permute per vector where the target
    /// has a lane permute for N entries (AVX2 for 8, AVX-512F for 16), an
    /// array index per lane otherwise: the same values either way. The
    /// repeated layout is a constant, so no entries are copied at run time.
    fn lookup<const N: usize>(table: &[f32; 16], index: Self::Bits) -> Self;
    /// Transposes a square block of `WIDTH` vectors in place (lane i of
    /// vector j trades places with lane j of vector i); a block of any other
    /// length is left as it is.
    fn transpose(block: &mut [Self]);
    /// `rest` (shorter than `WIDTH`) in the first lanes, `pad` in the
    /// others: how the slice kernels run a slice's tail through the same
    /// vector code as its body.
    #[inline(always)]
    fn load_padded(rest: &[f32], pad: f32) -> Self {
        load_through_lanes(rest, pad)
    }
    /// Stores the first `rest.len()` lanes (fewer than `WIDTH`) into
    /// `rest`.
    #[inline(always)]
    fn store_prefix(self, rest: &mut [f32]) {
        store_through_buffer(self, rest);
    }
    /// The mask of lanes `0..n` (all lanes when `n ≥ WIDTH`).
    fn first_lanes(n: usize) -> Self::Mask {
        let iota: [f32; MAX_WIDTH] = core::array::from_fn(|i| i as f32);
        let lanes = iota.get(..Self::WIDTH).map_or(Self::splat(0.0), Self::load);
        lanes.lt(Self::splat(n.min(MAX_WIDTH) as f32))
    }
}

/// The `u32` view of a [`Lane`]: wrapping add/sub, logical shifts, masks.
pub trait LaneBits:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + BitAnd<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
{
    /// Every lane set to `x`.
    fn splat(x: u32) -> Self;
    /// The unsigned maximum, lane by lane.
    fn max(self, other: Self) -> Self;
    /// Whether every lane equals `other`'s.
    fn all_eq(self, other: Self) -> bool;
}

/// The vector type the slice kernels use on this target: `f32x16` with
/// AVX-512F, `f32x8` with SSE2/AVX (x86), NEON (aarch64) or simd128 (wasm).
/// On targets where `wide` has no SIMD registers (Cortex-M, RISC-V, wasm
/// without simd128) its vectors are unrolled scalar arrays that cost flash and
/// win nothing, so the lane is a plain `f32` there (`docs/firmware.md`).
///
/// `--cfg logitkit_sixteen_lanes` (in `RUSTFLAGS`) selects this branch on
/// any x86 with SSE2, where `wide` builds an `f32x16` from narrower
/// registers: the host test suite then runs the AVX-512 build's layouts
/// (16-lane short rows and transposes) on machines without AVX-512
/// (`.ci/steps/sixteen_lanes.sh`).
#[cfg(all(
    not(logitkit_one_lane),
    any(target_arch = "x86", target_arch = "x86_64"),
    any(
        target_feature = "avx512f",
        all(logitkit_sixteen_lanes, target_feature = "sse2")
    )
))]
pub type Simd = wide::f32x16;

/// See the other `cfg` branch: the widest vector with real SIMD registers.
#[cfg(all(
    not(logitkit_one_lane),
    any(
        all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse2",
            not(target_feature = "avx512f"),
            not(logitkit_sixteen_lanes)
        ),
        all(target_arch = "aarch64", target_feature = "neon"),
        all(target_arch = "wasm32", target_feature = "simd128")
    )
))]
pub type Simd = wide::f32x8;

/// See the other `cfg` branches: no SIMD registers, one lane.
///
/// `--cfg logitkit_one_lane` (in `RUSTFLAGS`) selects this branch on any
/// target, so the host test suite can prove the one-lane build that
/// firmware runs (`.ci/steps/one_lane.sh`).
#[cfg(any(
    logitkit_one_lane,
    not(any(
        all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse2"
        ),
        all(target_arch = "aarch64", target_feature = "neon"),
        all(target_arch = "wasm32", target_feature = "simd128")
    ))
))]
pub type Simd = f32;

/// The vector `exp` and `ln` over slices run in: [`SigmoidSimd`] (four
/// 128-bit registers per operation on the default x86 build, two 512-bit
/// ones with AVX-512), but [`Simd`] on x86 with AVX and without AVX-512
/// (x86-64-v3). On a Zen 3 VM the default build's `exp_into` ran 5 % and
/// `ln_into` 8 % faster over 1024 elements with `f32x16` than with
/// [`Simd`] (`docs/performance.md`, "More registers per operation for the
/// sigmoid family"); on x86-64-v3 `exp_into` ran 10 % slower with
/// `f32x16`; on AVX-512 two registers per operation made `exp_into` 9 %
/// and `ln_into` 7 % faster ("Two 512-bit registers for `exp` and `ln`").
/// The same bits either way.
#[cfg(all(
    not(logitkit_one_lane),
    not(logitkit_sixteen_lanes),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx",
    not(target_feature = "avx512f")
))]
pub(crate) type LaneMathSimd = Simd;

/// See the other `cfg` branch.
#[cfg(not(all(
    not(logitkit_one_lane),
    not(logitkit_sixteen_lanes),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx",
    not(target_feature = "avx512f")
)))]
pub(crate) type LaneMathSimd = SigmoidSimd;

/// The vector `ln_1p` over slices runs in: [`LaneMathSimd`], but one
/// register per operation on AVX-512, where two made `ln_1p_into`
/// 12 % slower (0.415 → 0.465 ns per element; same section as
/// [`LaneMathSimd`]'s).
#[cfg(all(
    not(logitkit_one_lane),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx512f"
))]
pub(crate) type Ln1pSimd = Simd;

/// See the other `cfg` branch.
#[cfg(not(all(
    not(logitkit_one_lane),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx512f"
)))]
pub(crate) type Ln1pSimd = LaneMathSimd;

/// The vector the sigmoid family's slice kernels run in (`sigmoid`,
/// `softplus`, `log_sigmoid` over slices and their backward functions, BCE
/// with logits and the focal loss): `f32x16` on x86 builds without
/// AVX-512 (four 128-bit registers per operation on the default SSE2
/// build, two 256-bit ones on x86-64-v3), two `f32x16` as one
/// ([`twin::Twin`], two 512-bit registers per operation) with AVX-512,
/// [`Simd`] everywhere else. Each element is a long dependent chain (the
/// split exponential, a division, a logarithm), and independent vectors
/// interleaved op by op keep more of them in flight than the core's
/// scheduler finds in fewer: on a Zen 3 VM the default build's
/// `sigmoid_into` ran 15 %, BCE + gradient 21 % and `sigmoid_backward`
/// 22 % faster; x86-64-v3's 12 %, 8 % and 28 % (`docs/performance.md`,
/// "More registers per operation for the sigmoid family"); AVX-512's
/// `softplus_into` 10 % and BCE 8 % ("Two 512-bit registers per
/// operation"). `exp`, whose chain is short, ran 10 % slower that way on
/// x86-64-v3 and keeps [`Simd`]. Every lane computes the same
/// operations either way, so elementwise results keep their bits; only a
/// reduced loss's summation order changes, within its bound. NEON and
/// simd128 (two 128-bit registers per `f32x8`) are not measured and keep
/// [`Simd`].
#[cfg(all(
    not(logitkit_one_lane),
    not(logitkit_sixteen_lanes),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx512f")
))]
pub(crate) type SigmoidSimd = wide::f32x16;

/// See the other `cfg` branch.
#[cfg(all(
    not(logitkit_one_lane),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx512f"
))]
pub(crate) type SigmoidSimd = twin::Twin<wide::f32x16>;

/// See the other `cfg` branch.
#[cfg(not(any(
    all(
        not(logitkit_one_lane),
        not(logitkit_sixteen_lanes),
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2",
        not(target_feature = "avx512f")
    ),
    all(
        not(logitkit_one_lane),
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "avx512f"
    )
)))]
pub(crate) type SigmoidSimd = Simd;

/// The vector one short row is analysed in (`src/softmax/short_rows.rs`)
/// when two of them hold it: half of [`Simd`] on vector builds, the
/// 8-lane vector where [`Simd`] has 16 lanes and the 4-lane one where it
/// has 8 (rows of up to 8 logits; see `Narrow for f32x8` in
/// `src/lane/vector.rs`), `f32` on one-lane builds. A row of up to 16
/// logits fills two 8-lane vectors; in one
/// 16-lane vector it pays a fourth level of its lanes' compensated sum
/// and maximum, 512-bit shuffles among them: a single row of 10 classes
/// took 4.48–4.57 ns per logit with 16 lanes against 3.23–3.26 with 8, on
/// the same AVX2 x86-64-v3 build (`--cfg logitkit_sixteen_lanes` against
/// the default 8 lanes, `logitkit-callgrind row_calls 10 300`,
/// `docs/performance.md`).
pub(crate) trait Narrow {
    /// That vector.
    type Row: Lane;
    /// Whether this vector is held as two registers of [`Narrow::Row`]
    /// (`f32x8` on SSE2, NEON and simd128), so that taking it apart and
    /// putting it together costs nothing: a single row of W + 1 to
    /// W + W/2 logits then computes the exponentials of its last W/2 only
    /// once (`src/softmax/short_rows.rs`, `analyze_row_in_halves`).
    const IN_HALVES: bool = false;
    /// Lanes 0..W/2 and W/2..W, where [`Narrow::IN_HALVES`].
    fn halves(self) -> [Self::Row; 2];
    /// The vector of two halves, where [`Narrow::IN_HALVES`].
    fn from_halves(halves: [Self::Row; 2]) -> Self;
}

/// [`Narrow::Row`] of this build's [`Simd`].
pub(crate) type RowSimd = <Simd as Narrow>::Row;

/// Whether [`Lane::mul_add`] rounds once on this build: `wide` fuses on
/// x86 with FMA and on aarch64; one-lane builds never fuse. Where it does
/// not, a multiply-add is two dependent operations, so a long Horner chain
/// is twice as deep (see `ln_tail` in `src/math/mod.rs`).
pub(crate) const FUSED_MUL_ADD: bool = <Simd as Lane>::WIDTH > 1
    && cfg!(any(
        all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "fma"
        ),
        target_arch = "aarch64"
    ));

/// Whether the sigmoid family keeps its intermediate products out of the
/// subnormal range (`ESTRIN_SQUARE_FLOOR`, `math::SQUARE_UNDERFLOW`): on
/// vector builds, where an x86 core takes a microcode assist for each
/// subnormal product (σ, softplus and BCE over logits in [−60, 60] ran
/// 1.7–2.4× their time over [−8, 8] on the default build,
/// `docs/performance.md`). The bits are the same either way, so one-lane
/// (firmware) builds skip the extra operations and keep their `.text`.
pub(crate) const AVOID_SUBNORMAL_PRODUCTS: bool = <Simd as Lane>::WIDTH > 1;

/// Whether [`Lane::select`] is three bitwise operations (and, and-not,
/// or): SSE2 without SSE4.1's blend, the default x86 build. Where it is,
/// σ alone is formed as |h − s| (`src/sigmoid/mod.rs`), four operations
/// where a select and its `1 − s` are five; elsewhere a select is one.
pub(crate) const SELECT_IS_BITWISE: bool = <Simd as Lane>::WIDTH > 1
    && cfg!(all(
        any(target_arch = "x86", target_arch = "x86_64"),
        not(target_feature = "sse4.1")
    ));

/// Entries in `exp`'s table of 2^(j/N) (`src/math/exp_table.rs`): 8 where
/// the lanes permute an 8-entry table held in one register (AVX2 with FMA,
/// which the table's range reduction needs; AVX-512F builds too), and 1
/// (no table: a degree-6 polynomial, `src/math/exp.rs`) everywhere else.
/// One value per build, whatever the lane type, so the scalar path and
/// every vector width compute the same bits.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx2",
    target_feature = "fma"
))]
pub const EXP_TABLE_LEN: usize = 8;

/// See the other `cfg` branch.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx2",
    target_feature = "fma"
)))]
pub const EXP_TABLE_LEN: usize = 1;

/// Entries in the split exponential's table (the sigmoid family's eˣ as
/// hi + lo, `src/math/exp.rs`): 16 where AVX-512F permutes a 16-entry
/// table in one register, [`EXP_TABLE_LEN`] elsewhere. That exponential
/// keeps the table's low parts, so the larger table's wider rounding of
/// its high parts costs it nothing, and its polynomial is a degree shorter.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx512f",
    target_feature = "fma"
))]
pub const SPLIT_EXP_TABLE_LEN: usize = 16;

/// See the other `cfg` branch.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx512f",
    target_feature = "fma"
)))]
pub const SPLIT_EXP_TABLE_LEN: usize = EXP_TABLE_LEN;

/// `table[i mod 16]` per lane, lane by lane: [`Lane::lookup`] where no
/// single permute fits the vector and the table.
#[inline(always)]
pub(crate) fn lookup_lanes<const W: usize>(table: &[f32; 16], index: [u32; W]) -> [f32; W] {
    index.map(|i| table[i as usize % 16])
}

/// Largest [`Lane::WIDTH`] of `f32` and `wide`'s vectors, for tail
/// buffers. A [`twin::Twin`] of two of them (`SigmoidSimd` on AVX-512
/// builds, 32 lanes) loads and stores its tail by halves.
pub(crate) const MAX_WIDTH: usize = 16;

/// Evaluates `c[0] + x*(c[1] + x*(c[2] + ...))` by Horner's rule with
/// [`Lane::mul_add`].
///
/// The degrees the crate uses are written out step by step: a loop over
/// the coefficients is what size-optimised builds keep otherwise (on a
/// Cortex-M4F at opt-level "s", a copy of the array and eleven
/// instructions per coefficient for every element), and the operations,
/// hence the bits, are the same either way.
#[inline(always)]
pub(crate) fn horner<V: Lane, const N: usize>(x: V, c: [f32; N]) -> V {
    let k = |i: usize| V::splat(c.get(i).copied().unwrap_or(0.0));
    macro_rules! steps {
        ($top:literal $(, $i:literal)*) => {{
            let acc = k($top);
            $(let acc = acc.mul_add(x, k($i));)*
            acc
        }};
    }
    match N {
        2 => steps!(1, 0),
        3 => steps!(2, 1, 0),
        6 => steps!(5, 4, 3, 2, 1, 0),
        10 => steps!(9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _ => {
            let mut acc = V::splat(0.0);
            let mut first = true;
            for &coef in c.iter().rev() {
                acc = if first {
                    V::splat(coef)
                } else {
                    acc.mul_add(x, V::splat(coef))
                };
                first = false;
            }
            acc
        }
    }
}

/// The least x² [`estrin_7`] uses for its powers on vector builds
/// ([`AVOID_SUBNORMAL_PRODUCTS`]): 2⁻³⁰, so x⁴ ≥ 2⁻⁶⁰ is normal.
const ESTRIN_SQUARE_FLOOR: f32 = f32::from_bits(0x3080_0000); // 9.313_226e-10

/// c₀ + c₁x + … + c₇x⁷ by Estrin's scheme: pairs cᵢ + cᵢ₊₁x, joined by
/// x² and x⁴ (`x2` is x², which the callers already have). Three
/// dependent multiply-adds deep instead of Horner's seven: the logarithm
/// of the sigmoid family runs beside its exponential and division, and
/// Horner's chain was what kept the vectors of BCE and the focal loss from
/// overlapping (`docs/performance.md`). One more multiply; a different
/// rounding order, so the bits differ from Horner's (the bounds are proved
/// on it).
///
/// On vector builds ([`AVOID_SUBNORMAL_PRODUCTS`]) x² is taken as at
/// least 2⁻³⁰ ([`ESTRIN_SQUARE_FLOOR`]): x⁴ of |x| < 2⁻³¹·⁵ is subnormal,
/// and a subnormal product costs an x86 core a microcode assist per vector
/// (`softplus_into` over logits in [−20, 20] ran 1.5× its time over
/// [−8, 8], `docs/performance.md`). Where the floor applies (|x| < 2⁻¹⁵)
/// the terms from x² on sum to below 2⁻³¹, under half an ULP of c₀ + c₁x
/// whenever |c₀| ≥ 2⁻⁵ (the callers' c₀ is about −½), so they add nothing
/// to that rounded pair either way: the bits are those of the exact powers.
#[inline(always)]
pub(crate) fn estrin_7<V: Lane>(x: V, x2: V, c: [f32; 8]) -> V {
    // Eight splats written out: `c.map(V::splat)` was a call to an
    // out-of-line `array::map` per vector wherever the build put that
    // instance in another codegen unit (a downstream `cdylib`, x86, every
    // target-cpu: σ 1.5-1.8x slower, with a `vzeroupper` and the live
    // vectors spilled on AVX). Splatting at each use instead reordered the
    // single-unit build's schedule (softplus +18 %); this keeps its order
    // (`docs/performance.md`, "Out-of-line calls in a downstream build").
    let [c0, c1, c2, c3, c4, c5, c6, c7] = c;
    let [c0, c1, c2, c3, c4, c5, c6, c7] = [
        V::splat(c0),
        V::splat(c1),
        V::splat(c2),
        V::splat(c3),
        V::splat(c4),
        V::splat(c5),
        V::splat(c6),
        V::splat(c7),
    ];
    let x2 = if AVOID_SUBNORMAL_PRODUCTS {
        x2.max(V::splat(ESTRIN_SQUARE_FLOOR))
    } else {
        x2
    };
    let x4 = x2 * x2;
    let low = c3.mul_add(x, c2).mul_add(x2, c1.mul_add(x, c0));
    let high = c7.mul_add(x, c6).mul_add(x2, c5.mul_add(x, c4));
    high.mul_add(x4, low)
}

/// Loads the partial chunk `rest` (shorter than `V::WIDTH`) padded with
/// `pad`, so the tail of a slice runs the same vector code as the body.
#[inline(always)]
pub(crate) fn load_partial<V: Lane>(rest: &[f32], pad: f32) -> V {
    V::load_padded(rest, pad)
}

/// [`Lane::load_padded`] of a vector of at most [`MAX_WIDTH`] lanes.
#[inline(always)]
fn load_through_lanes<V: Lane>(rest: &[f32], pad: f32) -> V {
    let buf: [f32; MAX_WIDTH] = if V::WIDTH > 1 {
        // From lane values, not copied through a buffer: a vector load of
        // values just stored one by one waits for the stores (a failed
        // store-to-load forward), which cost a short row's tail about a
        // third of its time (docs/performance.md). Written out, not
        // `core::array::from_fn`: some builds left that out of line, an
        // array returned through memory (docs/performance.md, "Out-of-line
        // calls in a downstream build").
        let lane = |i: usize| rest.get(i).copied().unwrap_or(pad);
        [
            lane(0),
            lane(1),
            lane(2),
            lane(3),
            lane(4),
            lane(5),
            lane(6),
            lane(7),
            lane(8),
            lane(9),
            lane(10),
            lane(11),
            lane(12),
            lane(13),
            lane(14),
            lane(15),
        ]
    } else {
        // One lane (firmware): the copy, which folds to one load; the form
        // above took `LogSumExp`'s Cortex-M4F stack from 296 to 352 bytes.
        let mut buf = [pad; MAX_WIDTH];
        for (b, x) in buf.iter_mut().zip(rest) {
            *b = *x;
        }
        buf
    };
    buf.get(..V::WIDTH).map_or(V::splat(pad), V::load)
}

/// Loads vector `k` of `xs` (elements `k·WIDTH ..`), padded with `pad` past
/// the end of `xs`.
#[inline(always)]
pub(crate) fn load_at<V: Lane>(xs: &[f32], k: usize, pad: f32) -> V {
    // A wrapped k·WIDTH (k beyond any slice) only fails the bounds check.
    // One range check for a whole vector, the partial load only past it:
    // checking `start..` and then `..WIDTH` cost BCE's loop (two loads,
    // two stores per vector) 2 of 22 instructions per element on
    // x86-64-v3 (`tools/callgrind.sh`).
    let start = k.wrapping_mul(V::WIDTH);
    match xs.get(start..start.wrapping_add(V::WIDTH)) {
        Some(full) => V::load(full),
        None => load_partial(xs.get(start..).unwrap_or(&[]), pad),
    }
}

/// Stores `v` as vector `k` of `out` (only the lanes that exist).
#[inline(always)]
pub(crate) fn store_at<V: Lane>(v: V, out: &mut [f32], k: usize) {
    let start = k.wrapping_mul(V::WIDTH);
    if let Some(whole) = out.get_mut(start..start.wrapping_add(V::WIDTH)) {
        v.store(whole);
    } else if let Some(rest) = out.get_mut(start..) {
        v.store(rest);
    }
}

/// Stores the first `rest.len()` lanes of `v` into `rest`.
#[inline(always)]
pub(crate) fn store_partial<V: Lane>(v: V, rest: &mut [f32]) {
    v.store_prefix(rest);
}

/// [`Lane::store_prefix`] of a vector of at most [`MAX_WIDTH`] lanes.
#[inline(always)]
fn store_through_buffer<V: Lane>(v: V, rest: &mut [f32]) {
    let mut buf = [0.0; MAX_WIDTH];
    if let Some(head) = buf.get_mut(..V::WIDTH) {
        v.store(head);
    }
    for (r, b) in rest.iter_mut().zip(buf) {
        *r = b;
    }
}

/// Applies the elementwise kernel `f` to every element of `xs`, in place.
/// The tail runs through the same vector kernel, padded, so results never
/// depend on position.
#[inline(always)]
pub(crate) fn map_in_place<V: Lane>(xs: &mut [f32], f: impl Fn(V) -> V) {
    let mut chunks = xs.chunks_exact_mut(V::WIDTH);
    for c in &mut chunks {
        f(V::load(c)).store(c);
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        store_partial(f(load_partial::<V>(rest, 0.0)), rest);
    }
}

/// Writes `f(xs[i])` into `out[i]`; the caller has checked the lengths match.
#[inline(always)]
pub(crate) fn map_into<V: Lane>(xs: &[f32], out: &mut [f32], f: impl Fn(V) -> V) {
    let mut xc = xs.chunks_exact(V::WIDTH);
    let mut oc = out.chunks_exact_mut(V::WIDTH);
    for (x, o) in (&mut xc).zip(&mut oc) {
        f(V::load(x)).store(o);
    }
    let (xr, or) = (xc.remainder(), oc.into_remainder());
    if !xr.is_empty() {
        store_partial(f(load_partial::<V>(xr, 0.0)), or);
    }
}

/// [`map_into`] for a kernel with a fast path and a general one:
/// `fast(v)` where `in_fast_range(v)`, else `general(v)`, exactly as a
/// kernel that tests and branches per vector, but with the general path's
/// call outside the loop over fast vectors: with the (out-of-line) call
/// inside it, every vector went through memory on its way to the test
/// (`exp_into`, `bash tools/callgrind.sh` at 256×1000: 12.3 → 11.4
/// instructions per element on the default build, 5.4 → 5.2 natively on
/// AVX2; `sigmoid_into` 20.9 → 19.1 and 8.0 → 7.5; the same bits, equal
/// digests of all 2³² outputs).
#[inline(always)]
pub(crate) fn map_into_two_paths<V: Lane>(
    xs: &[f32],
    out: &mut [f32],
    block_fast: impl Fn(&[V; BLOCK]) -> bool,
    fast_lanes: impl Fn(V) -> V::Mask,
    fast: impl Fn(V) -> V,
    general: impl Fn(V) -> V,
) {
    let mut xb = xs.chunks_exact(BLOCK * V::WIDTH);
    let mut ob = out.chunks_exact_mut(BLOCK * V::WIDTH);
    for (x, o) in (&mut xb).zip(&mut ob) {
        if !map_fast_block(load_block(x), o, &block_fast, &fast) {
            mixed_block_into(x, o, &fast_lanes, &fast, &general);
        }
    }
    map_into_by_vector(
        xb.remainder(),
        ob.into_remainder(),
        &fast_lanes,
        &fast,
        &general,
    );
}

/// [`map_into_two_paths`] in place.
#[inline(always)]
pub(crate) fn map_in_place_two_paths<V: Lane>(
    xs: &mut [f32],
    block_fast: impl Fn(&[V; BLOCK]) -> bool,
    fast_lanes: impl Fn(V) -> V::Mask,
    fast: impl Fn(V) -> V,
    general: impl Fn(V) -> V,
) {
    let mut blocks = xs.chunks_exact_mut(BLOCK * V::WIDTH);
    for block in &mut blocks {
        if !map_fast_block(load_block(block), block, &block_fast, &fast) {
            mixed_block_in_place(block, &fast_lanes, &fast, &general);
        }
    }
    map_in_place_by_vector(blocks.into_remainder(), &fast_lanes, &fast, &general);
}

/// Vectors per block of the two-path drivers: one range test per block.
pub(crate) const BLOCK: usize = 4;

/// Whether `lanes` holds in every lane of every vector of a block: the
/// range test of a two-path driver built from its per-vector test.
#[inline(always)]
pub(crate) fn block_all<V: Lane>(block: &[V; BLOCK], lanes: impl Fn(V) -> V::Mask) -> bool {
    let [a, b, c, d] = *block;
    V::all(lanes(a) & lanes(b) & lanes(c) & lanes(d))
}

/// One block of [`BLOCK`] vectors through the fast path, when
/// `block_fast` says every lane is in its range (one test for the block);
/// false, with nothing written, when some lane is not.
#[inline(always)]
fn map_fast_block<V: Lane>(
    v: [V; BLOCK],
    o: &mut [f32],
    block_fast: &impl Fn(&[V; BLOCK]) -> bool,
    fast: &impl Fn(V) -> V,
) -> bool {
    if !block_fast(&v) {
        return false;
    }
    // Written out, not a loop over the block: LLVM kept a loop over the
    // block's vectors in memory for `sigmoid_into` on the default build
    // (17.5 → 17.8 instructions per element). The four outputs are taken
    // before any vector is computed (the callers' blocks are whole, so the
    // `else` never runs): with a test before each store, LLVM sank each
    // vector's arithmetic into its own branch, and the default build's
    // `sigmoid_into`, `ln_into` and `ln_1p_into` ran 4–9 % slower
    // (`docs/performance.md`).
    let mut out = o.chunks_exact_mut(V::WIDTH);
    let (Some(oa), Some(ob), Some(oc), Some(od)) = (out.next(), out.next(), out.next(), out.next())
    else {
        return false;
    };
    let [a, b, c, d] = v;
    fast(a).store(oa);
    fast(b).store(ob);
    fast(c).store(oc);
    fast(d).store(od);
    true
}

/// A block with a lane outside the fast path's range, each vector by its
/// own test. Out of line and reloaded from memory, so the loop over fast
/// blocks keeps neither the masks nor the vectors for it (x86-64-v3,
/// `exp_into`: inline, three of the four masks went to the stack in every
/// block).
#[cold]
#[inline(never)]
fn mixed_block_into<V: Lane>(
    x: &[f32],
    o: &mut [f32],
    fast_lanes: &impl Fn(V) -> V::Mask,
    fast: &impl Fn(V) -> V,
    general: &impl Fn(V) -> V,
) {
    map_into_by_vector(x, o, fast_lanes, fast, general);
}

/// [`mixed_block_into`] in place.
#[cold]
#[inline(never)]
fn mixed_block_in_place<V: Lane>(
    block: &mut [f32],
    fast_lanes: &impl Fn(V) -> V::Mask,
    fast: &impl Fn(V) -> V,
    general: &impl Fn(V) -> V,
) {
    map_in_place_by_vector(block, fast_lanes, fast, general);
}

/// Each vector of `xs` (the last one padded) by its own test into `out`.
#[inline(always)]
fn map_into_by_vector<V: Lane>(
    xs: &[f32],
    out: &mut [f32],
    fast_lanes: &impl Fn(V) -> V::Mask,
    fast: &impl Fn(V) -> V,
    general: &impl Fn(V) -> V,
) {
    let mut xc = xs.chunks_exact(V::WIDTH);
    let mut oc = out.chunks_exact_mut(V::WIDTH);
    for (x, o) in (&mut xc).zip(&mut oc) {
        either_path(V::load(x), fast_lanes, fast, general).store(o);
    }
    let (xr, or) = (xc.remainder(), oc.into_remainder());
    if !xr.is_empty() {
        let v = load_partial::<V>(xr, 0.0);
        store_partial(either_path(v, fast_lanes, fast, general), or);
    }
}

/// [`map_into_by_vector`] in place.
#[inline(always)]
fn map_in_place_by_vector<V: Lane>(
    xs: &mut [f32],
    fast_lanes: &impl Fn(V) -> V::Mask,
    fast: &impl Fn(V) -> V,
    general: &impl Fn(V) -> V,
) {
    let mut chunks = xs.chunks_exact_mut(V::WIDTH);
    for c in &mut chunks {
        either_path(V::load(c), fast_lanes, fast, general).store(c);
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let v = load_partial::<V>(rest, 0.0);
        store_partial(either_path(v, fast_lanes, fast, general), rest);
    }
}

/// The [`BLOCK`] vectors of a block's `BLOCK·WIDTH` values.
#[inline(always)]
fn load_block<V: Lane>(x: &[f32]) -> [V; BLOCK] {
    let w = V::WIDTH;
    let part = |i: usize| x.get(i * w..(i + 1) * w).map_or(V::splat(0.0), V::load);
    // Written out, not `core::array::from_fn`, as in `load_partial`.
    [part(0), part(1), part(2), part(3)]
}

/// One vector through the path it belongs to.
#[inline(always)]
fn either_path<V: Lane>(
    v: V,
    fast_lanes: &impl Fn(V) -> V::Mask,
    fast: &impl Fn(V) -> V,
    general: &impl Fn(V) -> V,
) -> V {
    if V::all(fast_lanes(v)) {
        fast(v)
    } else {
        general(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estrin_matches_expanded_polynomial() {
        let c = [1.0f32, -2.0, 0.5, 3.0, -1.0, 0.25, 2.0, -0.5];
        for &x in &[0.0f32, 1.0, -1.5, 0.5, -0.25] {
            // Dyadic and short: every step is exact in f32 (and in f64),
            // so the sum of the powers is the reference.
            let want = c
                .iter()
                .enumerate()
                .map(|(i, &ci)| ci as f64 * (x as f64).powi(i as i32))
                .sum::<f64>() as f32;
            assert_eq!(estrin_7::<f32>(x, x * x, c), want, "x = {x}");
            let v = <Simd as Lane>::splat(x);
            assert_eq!(estrin_7::<Simd>(v, v * v, c).first(), want, "x = {x}");
        }
    }

    /// Estrin's scheme with the exact powers, x² unfloored.
    fn estrin_7_exact_powers<V: Lane>(x: V, c: [f32; 8]) -> V {
        let [c0, c1, c2, c3, c4, c5, c6, c7] = c.map(V::splat);
        let (x2, x4) = (x * x, x * x * (x * x));
        let low = c3.mul_add(x, c2).mul_add(x2, c1.mul_add(x, c0));
        let high = c7.mul_add(x, c6).mul_add(x2, c5.mul_add(x, c4));
        high.mul_add(x4, low)
    }

    #[test]
    fn estrin_square_floor_leaves_the_bits_of_small_arguments() {
        // A leading −½ like the logarithm tails', the rest of either sign.
        let c = [-0.5f32, 0.33, -0.25, 0.2, -0.17, 0.14, -0.13, 0.06];
        for k in 14..=80 {
            for j in 0..8 {
                for sign in [1.0f32, -1.0] {
                    let x = sign * (1.0 + j as f32 / 8.0) * 2f32.powi(-k);
                    let want = estrin_7_exact_powers::<f32>(x, c);
                    let got = estrin_7::<f32>(x, x * x, c);
                    assert_eq!(got.to_bits(), want.to_bits(), "x = {x:e}");
                    let v = <Simd as Lane>::splat(x);
                    let want = estrin_7_exact_powers::<Simd>(v, c).first();
                    let got = estrin_7::<Simd>(v, v * v, c).first();
                    assert_eq!(got.to_bits(), want.to_bits(), "x = {x:e}");
                }
            }
        }
    }

    #[test]
    fn horner_matches_expanded_polynomial() {
        let c = [1.0f32, -2.0, 0.5, 3.0];
        for &x in &[0.0f32, 1.0, -1.5, 0.25] {
            // Exact in f32 for these x, so fused or not gives the same bits.
            let want = c[0] + x * (c[1] + x * (c[2] + x * c[3]));
            assert_eq!(horner::<f32, 4>(x, c), want);
            assert_eq!(horner::<Simd, 4>(<Simd as Lane>::splat(x), c).first(), want);
        }
    }

    #[test]
    fn two_path_drivers_take_each_vector_through_its_path() {
        extern crate std;
        use std::{vec, vec::Vec};
        // Fast doubles, general triples; a vector is fast when all its
        // lanes are below 1000. Outliers at scattered positions, sparse
        // enough that some blocks have none.
        let in_fast = |v: Simd| v.lt(<Simd as Lane>::splat(1000.0));
        let block_fast = |b: &[Simd; BLOCK]| b.iter().all(|&v| Simd::all(in_fast(v)));
        let fast = |v: Simd| v + v;
        let general = |v: Simd| v * <Simd as Lane>::splat(3.0);
        let w = <Simd as Lane>::WIDTH;
        for n in 0..((2 * BLOCK + 2) * MAX_WIDTH + 1) {
            let xs: Vec<f32> = (0..n)
                .map(|i| {
                    if i % 53 == 3 {
                        5000.0 + i as f32
                    } else {
                        i as f32
                    }
                })
                .collect();
            let want: Vec<f32> = xs
                .chunks(w)
                .flat_map(|c| {
                    let k = if c.iter().all(|&x| x < 1000.0) {
                        2.0
                    } else {
                        3.0
                    };
                    c.iter().map(move |&x| k * x)
                })
                .collect();
            let mut out = vec![0.0f32; n];
            map_into_two_paths::<Simd>(&xs, &mut out, block_fast, in_fast, fast, general);
            assert_eq!(out, want, "into, n={n}");
            let mut inplace = xs.clone();
            map_in_place_two_paths::<Simd>(&mut inplace, block_fast, in_fast, fast, general);
            assert_eq!(inplace, want, "in place, n={n}");
        }
    }

    #[test]
    fn map_handles_every_tail_length() {
        for n in 0..(3 * MAX_WIDTH + 1) {
            let xs: [f32; 3 * MAX_WIDTH + 1] = core::array::from_fn(|i| i as f32);
            let mut a = xs;
            map_in_place::<Simd>(&mut a[..n], |v| v + v);
            let mut b = [0.0f32; 3 * MAX_WIDTH + 1];
            map_into::<Simd>(&xs[..n], &mut b[..n], |v| v + v);
            for i in 0..xs.len() {
                let want = if i < n { 2.0 * xs[i] } else { xs[i] };
                assert_eq!(a[i], want, "in place, n={n} i={i}");
                assert_eq!(b[i], if i < n { want } else { 0.0 }, "into, n={n} i={i}");
            }
        }
    }
}
