//! Two vectors as one, every operation applied to both in program order:
//! two independent dependency chains interleaved op by op, which a core
//! overlaps better than one long chain after another (the sigmoid family
//! on AVX-512, `lane::SigmoidSimd`; `docs/performance.md`, "Two 512-bit
//! registers per operation"). `wide`'s `f32x16` is the same idea on
//! AVX2 and SSE2.

use super::{Lane, LaneBits, MAX_WIDTH};
use core::ops::{Add, BitAnd, BitOr, Div, Mul, Neg, Shl, Shr, Sub};

/// Two vectors (or their bits, or their masks) that every operation
/// applies to one after the other, so independent chains interleave.
#[derive(Clone, Copy, Default)]
pub struct Twin<T>(pub T, pub T);

macro_rules! binary {
    ($($tr:ident $f:ident),*) => {$(
        impl<T: $tr<Output = T>> $tr for Twin<T> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                Twin(self.0.$f(o.0), self.1.$f(o.1))
            }
        }
    )*};
}
binary!(Add add, Sub sub, Mul mul, Div div, BitAnd bitand, BitOr bitor);

impl<T: Neg<Output = T>> Neg for Twin<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Twin(-self.0, -self.1)
    }
}

impl<T: Shl<u32, Output = T>> Shl<u32> for Twin<T> {
    type Output = Self;
    #[inline(always)]
    fn shl(self, k: u32) -> Self {
        Twin(self.0 << k, self.1 << k)
    }
}

impl<T: Shr<u32, Output = T>> Shr<u32> for Twin<T> {
    type Output = Self;
    #[inline(always)]
    fn shr(self, k: u32) -> Self {
        Twin(self.0 >> k, self.1 >> k)
    }
}

impl<B: LaneBits> LaneBits for Twin<B> {
    #[inline(always)]
    fn splat(x: u32) -> Self {
        Twin(B::splat(x), B::splat(x))
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        Twin(self.0.max(o.0), self.1.max(o.1))
    }
    #[inline(always)]
    fn all_eq(self, o: Self) -> bool {
        self.0.all_eq(o.0) & self.1.all_eq(o.1)
    }
}

impl<V: Lane> Lane for Twin<V> {
    type Bits = Twin<V::Bits>;
    type Mask = Twin<V::Mask>;
    type Wide = [V::Wide; 2];
    const WIDTH: usize = 2 * V::WIDTH;

    #[inline(always)]
    fn splat(x: f32) -> Self {
        Twin(V::splat(x), V::splat(x))
    }
    #[inline(always)]
    fn load(chunk: &[f32]) -> Self {
        match (chunk.len() == Self::WIDTH).then(|| chunk.split_at(V::WIDTH)) {
            Some((a, b)) => Twin(V::load(a), V::load(b)),
            None => Self::splat(0.0),
        }
    }
    #[inline(always)]
    fn store(self, chunk: &mut [f32]) {
        let (a, b) = chunk.split_at_mut(V::WIDTH.min(chunk.len()));
        self.0.store(a);
        self.1.store(b);
    }
    #[inline(always)]
    fn first(self) -> f32 {
        self.0.first()
    }
    #[inline(always)]
    fn to_bits(self) -> Self::Bits {
        Twin(self.0.to_bits(), self.1.to_bits())
    }
    #[inline(always)]
    fn from_bits(b: Self::Bits) -> Self {
        Twin(V::from_bits(b.0), V::from_bits(b.1))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self::Mask {
        Twin(self.0.lt(o.0), self.1.lt(o.1))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self::Mask {
        Twin(self.0.gt(o.0), self.1.gt(o.1))
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::Mask {
        Twin(self.0.eq(o.0), self.1.eq(o.1))
    }
    #[inline(always)]
    fn is_nan(self) -> Self::Mask {
        Twin(self.0.is_nan(), self.1.is_nan())
    }
    #[inline(always)]
    fn select(m: Self::Mask, t: Self, f: Self) -> Self {
        Twin(V::select(m.0, t.0, f.0), V::select(m.1, t.1, f.1))
    }
    #[inline(always)]
    fn select_or_zero(m: Self::Mask, v: Self) -> Self {
        Twin(V::select_or_zero(m.0, v.0), V::select_or_zero(m.1, v.1))
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        Twin(self.0.max(o.0), self.1.max(o.1))
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        Twin(self.0.min(o.0), self.1.min(o.1))
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        Twin(self.0.mul_add(a.0, b.0), self.1.mul_add(a.1, b.1))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Twin(self.0.abs(), self.1.abs())
    }
    #[inline(always)]
    fn all(m: Self::Mask) -> bool {
        V::all(m.0) & V::all(m.1)
    }
    #[inline(always)]
    fn any(m: Self::Mask) -> bool {
        V::any(m.0) | V::any(m.1)
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        self.0.reduce_max().max(self.1.reduce_max())
    }
    #[inline(always)]
    fn sum_f64(self) -> f64 {
        self.0.sum_f64() + self.1.sum_f64()
    }
    #[inline(always)]
    fn widen_add(self, into: &mut Self::Wide) {
        let [a, b] = into;
        self.0.widen_add(a);
        self.1.widen_add(b);
    }
    #[inline(always)]
    fn wide_sum([a, b]: Self::Wide) -> f64 {
        V::wide_sum(a) + V::wide_sum(b)
    }
    #[inline(always)]
    fn lookup<const N: usize>(table: &[f32; 16], index: Self::Bits) -> Self {
        Twin(
            V::lookup::<N>(table, index.0),
            V::lookup::<N>(table, index.1),
        )
    }
    /// The four quarters of a square block, each transposed by the halves'
    /// own [`Lane::transpose`]; a block of any other length (or of halves
    /// wider than [`MAX_WIDTH`]) is left as it is.
    fn transpose(block: &mut [Self]) {
        let w = V::WIDTH;
        if block.len() != Self::WIDTH || w > MAX_WIDTH {
            return;
        }
        // Quarters [rows 0..w | w..2w][columns 0..w | w..2w], by rows.
        let mut quarters = [[V::splat(0.0); MAX_WIDTH]; 4];
        for (i, row) in block.iter().enumerate() {
            let (upper, r) = (i < w, i % w);
            let q = if upper { 0 } else { 2 };
            for (k, half) in [row.0, row.1].into_iter().enumerate() {
                if let Some(slot) = quarters.get_mut(q + k).and_then(|x| x.get_mut(r)) {
                    *slot = half;
                }
            }
        }
        for quarter in &mut quarters {
            V::transpose(quarter.get_mut(..w).unwrap_or(&mut []));
        }
        // Row i of the transpose: column i, its upper half from the left
        // quarters' transposes, its lower from the right ones'.
        let [top_left, top_right, bottom_left, bottom_right] = quarters;
        for (i, row) in block.iter_mut().enumerate() {
            let r = i % w;
            let (left, right) = if i < w {
                (top_left, bottom_left)
            } else {
                (top_right, bottom_right)
            };
            if let (Some(&a), Some(&b)) = (left.get(r), right.get(r)) {
                *row = Twin(a, b);
            }
        }
    }
    #[inline(never)]
    fn load_padded(rest: &[f32], pad: f32) -> Self {
        let (low, high) = rest.split_at(V::WIDTH.min(rest.len()));
        let low = if low.len() == V::WIDTH {
            V::load(low)
        } else {
            V::load_padded(low, pad)
        };
        Twin(low, V::load_padded(high, pad))
    }
    #[inline(never)]
    fn store_prefix(self, rest: &mut [f32]) {
        let (low, high) = rest.split_at_mut(V::WIDTH.min(rest.len()));
        if low.len() == V::WIDTH {
            self.0.store(low);
        } else {
            self.0.store_prefix(low);
        }
        self.1.store_prefix(high);
    }
    fn first_lanes(n: usize) -> Self::Mask {
        Twin(
            V::first_lanes(n),
            V::first_lanes(n.saturating_sub(V::WIDTH)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::{Simd, load_partial, store_partial};

    type Wide = Twin<Simd>;

    fn lanes(v: Wide) -> [f32; 2 * MAX_WIDTH] {
        let mut out = [f32::NAN; 2 * MAX_WIDTH];
        v.store(&mut out[..Wide::WIDTH]);
        out
    }

    #[test]
    fn tails_load_and_store_by_halves() {
        let xs: [f32; 2 * MAX_WIDTH] = core::array::from_fn(|i| i as f32 + 1.0);
        for n in 0..Wide::WIDTH {
            let v: Wide = load_partial(&xs[..n], -7.0);
            let got = lanes(v);
            for (i, &g) in got[..Wide::WIDTH].iter().enumerate() {
                assert_eq!(g, if i < n { xs[i] } else { -7.0 }, "n = {n}, lane {i}");
            }
            let mut out = [0.0f32; 2 * MAX_WIDTH];
            store_partial(v, &mut out[..n]);
            assert_eq!(out[..n], xs[..n], "n = {n}");
            assert!(out[n..].iter().all(|&o| o == 0.0), "n = {n}");
            let mask = lanes(Wide::select_or_zero(Wide::first_lanes(n), Wide::splat(1.0)));
            let set = mask[..Wide::WIDTH].iter().filter(|&&m| m == 1.0).count();
            assert_eq!(set, n);
        }
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        let w = Wide::WIDTH;
        let mut block = [Wide::splat(0.0); 2 * MAX_WIDTH];
        let block = &mut block[..w];
        for (r, row) in block.iter_mut().enumerate() {
            let values: [f32; 2 * MAX_WIDTH] = core::array::from_fn(|c| (r * 100 + c) as f32);
            *row = Wide::load(&values[..w]);
        }
        Wide::transpose(block);
        for (r, &row) in block.iter().enumerate() {
            for (c, &got) in lanes(row)[..w].iter().enumerate() {
                assert_eq!(got, (c * 100 + r) as f32, "row {r}, column {c}");
            }
        }
    }

    /// The elementwise kernels over two vectors at once give every lane
    /// the bits of the scalar function.
    #[test]
    fn kernels_keep_the_scalar_bits_in_every_lane() {
        let specials = [0.0f32, -0.0, 1.0, -1.0, 88.8, -88.0, -103.9, 20.0, f32::NAN];
        let mut xs = [0.0f32; 2 * MAX_WIDTH];
        for (i, x) in xs.iter_mut().enumerate() {
            *x = specials.get(i).copied().unwrap_or(i as f32 * 3.7 - 60.0);
        }
        let v = Wide::load(&xs[..Wide::WIDTH]);
        type Kernel = (fn(Wide) -> Wide, fn(f32) -> f32);
        let kernels: [Kernel; 4] = [
            (crate::exp_lane, crate::exp),
            (crate::sigmoid_lane, crate::sigmoid),
            (crate::softplus_lane, crate::softplus),
            (crate::log_sigmoid_lane, crate::log_sigmoid),
        ];
        for (vector, scalar) in kernels {
            for (i, &got) in lanes(vector(v))[..Wide::WIDTH].iter().enumerate() {
                assert_eq!(got.to_bits(), scalar(xs[i]).to_bits(), "x = {}", xs[i]);
            }
        }
    }
}
