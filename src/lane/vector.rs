//! `wide`'s `f32x4`, `f32x8` and `f32x16` as lanes.

use super::{Lane, LaneBits};

/// An array of N copies of a value, with no loop in the code it becomes.
///
/// `wide`'s `splat` builds the repeat expression `[x; N]`, and rustc turns
/// an array literal of five or more identical elements into one too; each
/// reaches LLVM as a small loop of stores, one per constant, between the
/// operations that use them. Before those loops are unrolled, InstCombine
/// sinks each operation into the block after the next loop, where its one
/// user is, and so strings a vector's registers into one chain after
/// another where a vector is several of them, which the core overlaps less:
/// `exp_into` on the default x86-64 build took 0.79 ns per element that way
/// and takes 0.64 now (`docs/performance.md`, "The trigger: splats as
/// loops"). So the last element is written as `x.copysign(x)`
/// (`rotate_left(0)` for integers): the same bits for every x, NaN
/// included, a different expression to rustc, and folded back to x by
/// LLVM. If rustc ever folds it first, the loops and the slower order
/// return, with the same results.
macro_rules! repeated {
    ($name:ident($x:ident: $t:ty) -> [$n:literal]: [$($same:ident)*, $last:expr]) => {
        #[inline(always)]
        fn $name($x: $t) -> [$t; $n] {
            [$($same,)* $last]
        }
    };
}

repeated!(f32s_8(x: f32) -> [8]: [x x x x x x x, x.copysign(x)]);
repeated!(f32s_16(x: f32) -> [16]: [x x x x x x x x x x x x x x x, x.copysign(x)]);
repeated!(u32s_8(x: u32) -> [8]: [x x x x x x x, x.rotate_left(0)]);
repeated!(u32s_16(x: u32) -> [16]: [x x x x x x x x x x x x x x x, x.rotate_left(0)]);

/// Whether an `f32x8` is more than one register: everywhere but x86 with
/// AVX (SSE2, NEON and simd128 hold it as two 128-bit halves). Only such
/// vectors take the written-out splat: where a vector is one register there
/// is no order of parts to lose, and on x86-64-v3 the written-out `f32x8`
/// made the 10-class batch cross-entropy and `log_sum_exp_rows` 15 % slower
/// (measured; why was not examined).
const SEVERAL_REGISTERS_8: bool = !cfg!(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx"
));

/// Whether an `f32x16` is more than one register: everywhere but x86 with
/// AVX-512F.
const SEVERAL_REGISTERS_16: bool = !cfg!(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx512f"
));

macro_rules! wide_lane {
    (
        $float:ident, $bits:ident, $width:literal, $transpose:path, $lookup:ident
        $(, written out where $several:expr => $f32s:ident, $u32s:ident)?
    ) => {
        impl LaneBits for wide::$bits {
            #[inline(always)]
            fn splat(x: u32) -> Self {
                $(if $several {
                    return wide::$bits::new($u32s(x));
                })?
                wide::$bits::splat(x)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                wide::$bits::max(self, other)
            }
            #[inline(always)]
            fn all_eq(self, other: Self) -> bool {
                self.simd_eq(other).all()
            }
        }

        impl Lane for wide::$float {
            type Bits = wide::$bits;
            type Mask = wide::$float;
            // MAX_WIDTH, not $width: measured with callgrind, [f64; 8] on
            // f32x8 let LLVM keep the totals in registers and cost 1.4% more
            // instructions in log_sum_exp of 1000 logits (pass 2 spills); the
            // 16-slot array stays in memory and matches the earlier code.
            type Wide = [f64; super::MAX_WIDTH];
            const WIDTH: usize = $width;

            #[inline(always)]
            fn splat(x: f32) -> Self {
                $(if $several {
                    return wide::$float::new($f32s(x));
                })?
                wide::$float::splat(x)
            }
            #[inline(always)]
            fn load(chunk: &[f32]) -> Self {
                <[f32; $width]>::try_from(chunk).map_or(wide::$float::splat(0.0), wide::$float::new)
            }
            #[inline(always)]
            fn store(self, chunk: &mut [f32]) {
                if let Some(out) = chunk.first_chunk_mut::<$width>() {
                    *out = self.to_array();
                } else {
                    for (o, v) in chunk.iter_mut().zip(self.to_array()) {
                        *o = v;
                    }
                }
            }
            #[inline(always)]
            fn transpose(block: &mut [Self]) {
                if let Ok(square) = <&mut [Self; $width]>::try_from(block) {
                    *square = $transpose(*square);
                }
            }
            #[inline(always)]
            fn lookup<const N: usize>(table: &[f32; 16], index: wide::$bits) -> Self {
                $lookup::<N>(table, index)
            }
            #[inline(always)]
            fn first(self) -> f32 {
                self.as_array()[0]
            }
            #[inline(always)]
            fn to_bits(self) -> wide::$bits {
                wide::$float::to_bits(self)
            }
            #[inline(always)]
            fn from_bits(bits: wide::$bits) -> Self {
                wide::$float::from_bits(bits)
            }
            #[inline(always)]
            fn lt(self, other: Self) -> Self {
                self.simd_lt(other)
            }
            #[inline(always)]
            fn gt(self, other: Self) -> Self {
                self.simd_gt(other)
            }
            #[inline(always)]
            fn eq(self, other: Self) -> Self {
                self.simd_eq(other)
            }
            #[inline(always)]
            fn is_nan(self) -> Self {
                wide::$float::is_nan(self)
            }
            #[inline(always)]
            fn select(mask: Self, if_true: Self, if_false: Self) -> Self {
                mask.select(if_true, if_false)
            }
            #[inline(always)]
            fn select_or_zero(mask: Self, value: Self) -> Self {
                mask & value
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                self.fast_max(other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                self.fast_min(other)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                wide::$float::mul_add(self, a, b)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                wide::$float::abs(self)
            }
            #[inline(always)]
            fn all(mask: Self) -> bool {
                wide::$float::all(mask)
            }
            #[inline(always)]
            fn any(mask: Self) -> bool {
                wide::$float::any(mask)
            }
            #[inline(always)]
            fn reduce_max(self) -> f32 {
                self.to_array()
                    .into_iter()
                    .fold(f32::NEG_INFINITY, f32::max)
            }
            #[inline(always)]
            fn sum_f64(self) -> f64 {
                self.to_array().into_iter().map(f64::from).sum()
            }
            #[inline(always)]
            fn widen_add(self, into: &mut [f64; super::MAX_WIDTH]) {
                for (t, v) in into.iter_mut().zip(self.to_array()) {
                    *t += f64::from(v);
                }
            }
            #[inline(always)]
            fn wide_sum(totals: [f64; super::MAX_WIDTH]) -> f64 {
                totals.iter().sum()
            }
        }
    };
}

wide_lane!(f32x4, u32x4, 4, wide::f32x4::transpose, lookup_f32x4);
wide_lane!(
    f32x8, u32x8, 8, transpose_f32x8, lookup_f32x8,
    written out where SEVERAL_REGISTERS_8 => f32s_8, u32s_8
);
wide_lane!(
    f32x16, u32x16, 16, transpose_f32x16, lookup_f32x16,
    written out where SEVERAL_REGISTERS_16 => f32s_16, u32s_16
);

/// Rows of up to 8 logits on 8-lane builds take two 4-lane vectors: on
/// SSE2, NEON and simd128 an `f32x8` is two registers, and a row of 8 in
/// two of them computed four registers' worth of exponentials, half of
/// them on padding (`docs/performance.md`, "Rows of up to 8 logits in
/// 4-lane vectors").
impl super::Narrow for wide::f32x8 {
    type Row = wide::f32x4;
    const IN_HALVES: bool = cfg!(not(target_feature = "avx"));
    #[inline(always)]
    fn halves(self) -> [wide::f32x4; 2] {
        wide::bytemuck::cast(self)
    }
    #[inline(always)]
    fn from_halves(halves: [wide::f32x4; 2]) -> Self {
        wide::bytemuck::cast(halves)
    }
}

/// The 16-lane build has 512-bit registers: not [`super::Narrow::IN_HALVES`].
impl super::Narrow for wide::f32x16 {
    type Row = wide::f32x8;
    #[inline(always)]
    fn halves(self) -> [wide::f32x8; 2] {
        wide::bytemuck::cast(self)
    }
    #[inline(always)]
    fn from_halves(halves: [wide::f32x8; 2]) -> Self {
        wide::bytemuck::cast(halves)
    }
}

/// The 4-lane vector of the 8-lane builds' rows of up to 8 logits: one
/// register, not [`super::Narrow::IN_HALVES`]; it is its own row vector.
impl super::Narrow for wide::f32x4 {
    type Row = wide::f32x4;
    #[inline(always)]
    fn halves(self) -> [wide::f32x4; 2] {
        [self, self]
    }
    #[inline(always)]
    fn from_halves([low, _]: [wide::f32x4; 2]) -> Self {
        low
    }
}

/// [`Lane::lookup`] lane by lane, where no permute fits the vector and
/// the table.
#[cfg(not(all(target_feature = "avx2", target_feature = "fma")))]
#[inline(always)]
fn lookup_f32x4<const N: usize>(table: &[f32; 16], index: wide::u32x4) -> wide::f32x4 {
    wide::f32x4::from(super::lookup_lanes(table, index.to_array()))
}

/// With a table permute (AVX2, AVX-512F): the 8-lane lookup on the index
/// widened with zeros, its low half kept (the 4-lane vectors of single
/// rows of up to 8 logits, `Narrow`).
#[cfg(all(target_feature = "avx2", target_feature = "fma"))]
#[inline(always)]
fn lookup_f32x4<const N: usize>(table: &[f32; 16], index: wide::u32x4) -> wide::f32x4 {
    use wide::bytemuck::cast;
    let wide_index: wide::u32x8 = cast([index, wide::u32x4::splat(0)]);
    let [low, _]: [wide::f32x4; 2] = cast(lookup_f32x8::<N>(table, wide_index));
    low
}

/// With AVX2: one `vpermps`, which reads the low three bits of each index,
/// for tables of up to 8 entries; larger ones as [`lookup_f32x8_wider`].
#[cfg(all(target_feature = "avx2", target_feature = "fma"))]
#[inline(always)]
fn lookup_f32x8<const N: usize>(table: &[f32; 16], index: wide::u32x8) -> wide::f32x8 {
    use wide::bytemuck::cast;
    if N <= 8 {
        let [low, _]: [[f32; 8]; 2] = cast(*table);
        cast(safe_arch::shuffle_av_f32_all_m256(cast(low), cast(index)))
    } else {
        lookup_f32x8_wider::<N>(table, index)
    }
}

/// With AVX-512F, a 16-entry table for 8 lanes (the split exponential on
/// 8-lane vectors): the 16-lane permute on the index widened with zeros,
/// its low half kept. When `exp` still used the 16-entry table, a single
/// row of 10 classes took 4.1–4.3 ns per logit this way lane by lane
/// against 3.3 with the permute (`logitkit-callgrind row_calls 10 300`).
#[cfg(all(target_feature = "avx512f", target_feature = "fma"))]
#[inline(always)]
fn lookup_f32x8_wider<const N: usize>(table: &[f32; 16], index: wide::u32x8) -> wide::f32x8 {
    use wide::bytemuck::cast;
    let wide_index: wide::u32x16 = cast([index, wide::u32x8::splat(0)]);
    let [low, _]: [wide::f32x8; 2] = cast(lookup_f32x16::<N>(table, wide_index));
    low
}

/// Without AVX-512F no build looks up more than 8 entries
/// (`lane::SPLIT_EXP_TABLE_LEN`); lane by lane for completeness.
#[cfg(all(
    target_feature = "avx2",
    target_feature = "fma",
    not(target_feature = "avx512f")
))]
#[inline(always)]
fn lookup_f32x8_wider<const N: usize>(table: &[f32; 16], index: wide::u32x8) -> wide::f32x8 {
    wide::f32x8::from(super::lookup_lanes(table, index.to_array()))
}

/// [`Lane::lookup`] lane by lane, where no 8-lane permute fits the table.
#[cfg(not(all(target_feature = "avx2", target_feature = "fma")))]
#[inline(always)]
fn lookup_f32x8<const N: usize>(table: &[f32; 16], index: wide::u32x8) -> wide::f32x8 {
    wide::f32x8::from(super::lookup_lanes(table, index.to_array()))
}

/// With AVX-512F: one `vpermd` on a 512-bit register, which reads the low
/// four bits of each index.
#[cfg(all(target_feature = "avx512f", target_feature = "fma"))]
#[inline(always)]
fn lookup_f32x16<const N: usize>(table: &[f32; 16], index: wide::u32x16) -> wide::f32x16 {
    use wide::bytemuck::cast;
    cast(safe_arch::permute_i32_m512i(cast(index), cast(*table)))
}

/// 16 lanes without AVX-512F (`--cfg logitkit_sixteen_lanes`): each 8-lane
/// half looked up as an `f32x8`.
#[cfg(not(all(target_feature = "avx512f", target_feature = "fma")))]
#[inline(always)]
fn lookup_f32x16<const N: usize>(table: &[f32; 16], index: wide::u32x16) -> wide::f32x16 {
    use wide::bytemuck::cast;
    let halves: [wide::u32x8; 2] = cast(index);
    cast(halves.map(|half| lookup_f32x8::<N>(table, half)))
}

/// 8×8 transpose with AVX: `wide`'s, in shuffles of 256-bit registers.
#[cfg(target_feature = "avx")]
#[inline(always)]
fn transpose_f32x8(rows: [wide::f32x8; 8]) -> [wide::f32x8; 8] {
    wide::f32x8::transpose(rows)
}

/// 8×8 transpose where an `f32x8` is two 128-bit registers (SSE2 on the
/// default x86-64 build, NEON, simd128): four 4×4 transposes of its
/// quarters (`wide::f32x4`'s, in shuffles), the off-diagonal quarters
/// swapped. `wide`'s own `f32x8::transpose` moves the 64 values one by one
/// through memory there, which the short-row kernels
/// (`src/softmax/short_rows.rs`) pay on every group of rows, in and out:
/// this took a 256×10 cross-entropy batch on the default x86-64 build from
/// 64.9 to 59.5 instructions per logit (`tools/callgrind.sh`) and from
/// 0.7–0.8× to 1.1× the speed of a plain stable loop (`docs/performance.md`).
#[cfg(not(target_feature = "avx"))]
#[inline(always)]
fn transpose_f32x8(rows: [wide::f32x8; 8]) -> [wide::f32x8; 8] {
    transpose_by_halves::<wide::f32x8, wide::f32x4, 8, 4>(rows, wide::f32x4::transpose)
}

/// 16×16 transpose of `f32x16` (the AVX-512 build's vector) as four 8×8
/// transposes of its `f32x8` halves, `wide`'s in AVX shuffles, the
/// off-diagonal blocks swapped. `wide`'s own `f32x16::transpose` moves the
/// 256 values one by one: with
/// `-C target-cpu=x86-64-v4`, the batch cross-entropy's code held 778
/// `vmovss` and 125 `vgatherqps`; with this, 38 `vmovss` (its per-row
/// scalar work) and no gather. (Not timed: the machines this was written
/// on have no AVX-512; `transpose_f32x8` is the same change, measured on
/// 128-bit halves.)
#[inline(always)]
fn transpose_f32x16(rows: [wide::f32x16; 16]) -> [wide::f32x16; 16] {
    transpose_by_halves::<wide::f32x16, wide::f32x8, 16, 8>(rows, transpose_f32x8)
}

/// An N×N transpose of vectors `Full` made of two `Half` vectors of H = N/2
/// lanes: the four H×H blocks transposed by `half_transpose` (shuffles),
/// the off-diagonal blocks swapped. The casts between a vector and its
/// halves are `bytemuck`'s (re-exported by `wide`), bit for bit.
#[inline(always)]
fn transpose_by_halves<Full, Half, const N: usize, const H: usize>(
    rows: [Full; N],
    half_transpose: impl Fn([Half; H]) -> [Half; H],
) -> [Full; N]
where
    Full: wide::bytemuck::Pod,
    Half: wide::bytemuck::Pod,
{
    use wide::bytemuck::cast;
    // from_fn, not `rows.map`: LLVM left `map`'s [f32x16; 16] instance out
    // of line in the 16-lane batch kernels of some builds (a 1 KiB copy per
    // call; 256×10 batch CE 1.19 → 1.45 ns per logit on AVX-512).
    let halves: [[Half; 2]; N] = core::array::from_fn(|i| cast::<Full, [Half; 2]>(rows[i]));
    // Columns of the H×H block of rows `first..first + H`, half `h`.
    let block = |first: usize, h: usize| {
        half_transpose(core::array::from_fn(|i| halves[(first + i) % N][h % 2]))
    };
    let (top_left, top_right) = (block(0, 0), block(0, 1));
    let (bottom_left, bottom_right) = (block(H, 0), block(H, 1));
    core::array::from_fn(|i| {
        let pair = if i < H {
            [top_left[i % H], bottom_left[i % H]]
        } else {
            [top_right[i % H], bottom_right[i % H]]
        };
        cast::<[Half; 2], Full>(pair)
    })
}

#[cfg(test)]
mod tests {
    use super::{Lane, LaneBits};

    /// Transposes a square of distinct values and compares element by
    /// element with the index swap, for each vector width.
    fn transposes_square<V: Lane, const N: usize>(to_array: impl Fn(V) -> [f32; N]) {
        let mut rows: [V; N] = core::array::from_fn(|r| {
            let values: [f32; N] = core::array::from_fn(|c| (r * N + c) as f32);
            V::load(&values)
        });
        V::transpose(&mut rows);
        for (r, row) in rows.into_iter().enumerate() {
            for (c, value) in to_array(row).into_iter().enumerate() {
                assert_eq!(value, (c * N + r) as f32, "width {N}, row {r}, column {c}");
            }
        }
    }

    /// Each vector type's table lookup against the lane-by-lane one, for
    /// every entry of both table sizes and with the high index bits the
    /// exponential leaves set.
    #[test]
    fn lookups_agree_with_lane_by_lane() {
        fn check<const N: usize>() {
            let table: [f32; 16] = core::array::from_fn(|j| 1.0 + (j % N) as f32);
            for start in 0..64u32 {
                let index: [u32; 16] = core::array::from_fn(|j| (start + j as u32) * 0x0010_0001);
                let expected = super::super::lookup_lanes(&table, index);
                let narrow = <[u32; 8]>::try_from(&index[..8]).map_or([0; 8], |i| i);
                let quarter = <[u32; 4]>::try_from(&index[..4]).map_or([0; 4], |i| i);
                let got4 = wide::f32x4::lookup::<N>(&table, wide::u32x4::from(quarter)).to_array();
                let got8 = wide::f32x8::lookup::<N>(&table, wide::u32x8::from(narrow)).to_array();
                let got16 = wide::f32x16::lookup::<N>(&table, wide::u32x16::from(index)).to_array();
                assert_eq!(got4[..], expected[..4], "{N} entries, start {start}");
                assert_eq!(got8[..], expected[..8], "{N} entries, start {start}");
                assert_eq!(got16, expected, "{N} entries, start {start}");
            }
        }
        check::<8>();
        check::<16>();
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        transposes_square::<wide::f32x4, 4>(|v| v.to_array());
        transposes_square::<wide::f32x8, 8>(|v| v.to_array());
        transposes_square::<wide::f32x16, 16>(|v| v.to_array());
    }

    /// The splats written out element by element keep every bit of the
    /// value in every lane: signed zeros, subnormals, infinities and NaN
    /// payloads, signalling ones included.
    #[test]
    fn splat_keeps_every_bit_in_every_lane() {
        let floats = [
            0x0000_0000u32,
            0x8000_0000,
            0x3f80_0000,
            0x0000_0001,
            0x8040_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7fc0_1234,
            0xffc0_0001,
            0x7f80_0001,
            0xff80_4321,
        ];
        use wide::{f32x4, f32x8, f32x16, u32x4, u32x8, u32x16};
        for bits in floats {
            let x = f32::from_bits(bits);
            let lanes = [
                <f32x4 as Lane>::splat(x).to_array().to_vec(),
                <f32x8 as Lane>::splat(x).to_array().to_vec(),
                <f32x16 as Lane>::splat(x).to_array().to_vec(),
            ];
            assert!(
                lanes.iter().flatten().all(|y| y.to_bits() == bits),
                "{bits:#x}"
            );
        }
        for n in [0u32, 1, 0x8000_0000, 0xdead_beef, u32::MAX] {
            let lanes = [
                <u32x4 as LaneBits>::splat(n).to_array().to_vec(),
                <u32x8 as LaneBits>::splat(n).to_array().to_vec(),
                <u32x16 as LaneBits>::splat(n).to_array().to_vec(),
            ];
            assert!(lanes.iter().flatten().all(|&m| m == n), "{n:#x}");
        }
    }
}
