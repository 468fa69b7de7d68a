//! `f32` as a lane of width one: the scalar path, and the only path on
//! targets without SIMD registers.

use super::{Lane, LaneBits};
use core::ops::{Add, BitAnd, Shl, Shr, Sub};

/// The bits of one `f32` lane, with the wrapping arithmetic of a SIMD
/// integer lane (plain `u32` arithmetic would panic on overflow in debug
/// builds, where SIMD lanes wrap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalarBits(pub u32);

impl Add for ScalarBits {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Self(self.0.wrapping_add(o.0))
    }
}

impl Sub for ScalarBits {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Self(self.0.wrapping_sub(o.0))
    }
}

impl BitAnd for ScalarBits {
    type Output = Self;
    #[inline(always)]
    fn bitand(self, o: Self) -> Self {
        Self(self.0 & o.0)
    }
}

impl Shl<u32> for ScalarBits {
    type Output = Self;
    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        Self(self.0.wrapping_shl(n))
    }
}

impl Shr<u32> for ScalarBits {
    type Output = Self;
    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        Self(self.0.wrapping_shr(n))
    }
}

impl LaneBits for ScalarBits {
    #[inline(always)]
    fn splat(x: u32) -> Self {
        Self(x)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        Self(self.0.max(other.0))
    }
    #[inline(always)]
    fn all_eq(self, other: Self) -> bool {
        self.0 == other.0
    }
}

/// Whether [`Lane::max`] and [`Lane::min`] on `f32` are a compare and a
/// select (x86's `maxps` rule, which the vector lanes follow: `other`
/// unless self > other, so a NaN in either gives `other`): on x86, where
/// the scalar path then has the vector lanes' bits for every input, and
/// on hard-float Arm, whose FPU (Cortex-M4F's FPv4) has no max
/// instruction: there `f32::max` was a call to libm's `fmaxf`, across
/// which the sigmoid family's element code saved all sixteen callee-saved
/// FP registers (BCE + grad 360 → 344 bytes of stack, `sigmoid_into`
/// 72 → 28, `softmax` 192 → 144; `docs/firmware.md`). Elsewhere
/// `f32::max`: one instruction on aarch64 and wasm, and on the soft-float
/// Cortex-M0 the compare cost the softmax family 16 bytes more stack.
const COMPARE_AND_SELECT: bool = cfg!(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_abi = "eabihf"
));

/// One lane has no halves: [`super::Narrow::IN_HALVES`] is false, and
/// the two functions are never asked for them.
impl super::Narrow for f32 {
    type Row = f32;
    #[inline(always)]
    fn halves(self) -> [f32; 2] {
        [self, self]
    }
    #[inline(always)]
    fn from_halves([low, _]: [f32; 2]) -> f32 {
        low
    }
}

impl Lane for f32 {
    type Bits = ScalarBits;
    type Mask = bool;
    type Wide = [f64; 1];
    const WIDTH: usize = 1;

    #[inline(always)]
    fn transpose(_: &mut [Self]) {}
    #[inline(always)]
    fn lookup<const N: usize>(table: &[f32; 16], index: ScalarBits) -> Self {
        let [value] = super::lookup_lanes(table, [index.0]);
        value
    }

    #[inline(always)]
    fn splat(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn load(chunk: &[f32]) -> Self {
        match chunk {
            [x] => *x,
            _ => 0.0,
        }
    }
    #[inline(always)]
    fn store(self, chunk: &mut [f32]) {
        if let Some(x) = chunk.first_mut() {
            *x = self;
        }
    }
    #[inline(always)]
    fn first(self) -> f32 {
        self
    }
    #[inline(always)]
    fn to_bits(self) -> ScalarBits {
        ScalarBits(f32::to_bits(self))
    }
    #[inline(always)]
    fn from_bits(bits: ScalarBits) -> Self {
        f32::from_bits(bits.0)
    }
    #[inline(always)]
    fn lt(self, other: Self) -> bool {
        self < other
    }
    #[inline(always)]
    fn gt(self, other: Self) -> bool {
        self > other
    }
    #[inline(always)]
    fn eq(self, other: Self) -> bool {
        self == other
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline(always)]
    fn select(mask: bool, if_true: Self, if_false: Self) -> Self {
        if mask { if_true } else { if_false }
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if COMPARE_AND_SELECT {
            if self > other { self } else { other }
        } else {
            f32::max(self, other)
        }
    }
    #[inline(always)]
    fn min(self, other: Self) -> Self {
        if COMPARE_AND_SELECT {
            if self < other { self } else { other }
        } else {
            f32::min(self, other)
        }
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        fused_like_wide(self, a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn all(mask: bool) -> bool {
        mask
    }
    #[inline(always)]
    fn any(mask: bool) -> bool {
        mask
    }
    #[inline(always)]
    fn reduce_max(self) -> f32 {
        self
    }
    #[inline(always)]
    fn sum_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn widen_add(self, into: &mut [f64; 1]) {
        let [total] = into;
        *total += self as f64;
    }
    #[inline(always)]
    fn wide_sum([total]: [f64; 1]) -> f64 {
        total
    }
}

/// `x * a + b` rounded as `wide`'s `mul_add` rounds it on this target, so the
/// scalar path gives the vector path's bits: a one-lane `wide` operation
/// where `wide` has SIMD registers (one `vfmadd`/`fmla` where it fuses, a
/// multiply and an add where it does not), two roundings where it has none
/// (there [`Simd`](super::Simd) is `f32` itself and `wide` never fuses).
#[inline(always)]
fn fused_like_wide(x: f32, a: f32, b: f32) -> f32 {
    if <super::Simd as Lane>::WIDTH > 1 {
        let v = wide::f32x4::splat(x).mul_add(wide::f32x4::splat(a), wide::f32x4::splat(b));
        v.as_array()[0]
    } else {
        x * a + b
    }
}
