//! Decodes a fuzzer's bytes into kernel inputs biased toward the values that
//! break numerics (`docs/fuzzing.md`). When the bytes run out, a SplitMix64 stream
//! seeded from them continues, so a short input can still describe a row of
//! thousands of elements.

/// ±0, ±inf, NaNs with several payloads and signs, the extremes of the f32
/// range and the thresholds of exp (ln MAX ≈ 88.72, ln of the smallest
/// subnormal ≈ −103.28, ±103.97), and a few ordinary values.
pub const SPECIAL: [f32; 36] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    f32::from_bits(0x7f80_0001),
    f32::from_bits(0xffc0_0001),
    f32::from_bits(0x7fff_ffff),
    f32::MAX,
    -f32::MAX,
    f32::MIN_POSITIVE,
    -f32::MIN_POSITIVE,
    f32::from_bits(1),
    -f32::from_bits(1),
    f32::from_bits(0x0040_0000),
    88.72,
    -88.72,
    88.722_84,
    -87.336_55,
    103.97,
    -103.97,
    -103.278_93,
    1e30,
    -1e30,
    1.0,
    -1.0,
    0.5,
    2.0,
    1e-8,
    -1e-8,
    16_777_216.0,
    -16_777_216.0,
    1e4,
    -1e4,
    core::f32::consts::LN_2,
    -core::f32::consts::LN_2,
];

/// A cursor over the fuzzer's bytes.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
    state: u64,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        // FNV-1a of the whole input seeds the continuation stream.
        let seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        Self {
            data,
            pos: 0,
            state: seed,
        }
    }

    pub fn byte(&mut self) -> u8 {
        if let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            return b;
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u8
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// Uniform-ish in 0..n (0 when n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.u32() as usize % n }
    }

    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A row length from 0 to 4100: tiny, every tail length around the SIMD
    /// widths (4, 8, 16 lanes and the 4×4 accumulator blocks), or large.
    pub fn len(&mut self) -> usize {
        match self.byte() % 4 {
            0 => self.below(8),
            1 => 8 + self.below(65),
            2 => self.below(300),
            _ => self.below(4101),
        }
    }

    /// An f32 drawn from the special values, their neighbours, raw bit
    /// patterns, subnormals, or ordinary magnitudes.
    pub fn f32(&mut self) -> f32 {
        match self.byte() % 10 {
            0 | 1 => SPECIAL[self.below(SPECIAL.len())],
            2 => {
                let s = SPECIAL[self.below(SPECIAL.len())];
                let step = (self.byte() % 9) as i32 - 4;
                f32::from_bits(s.to_bits().wrapping_add_signed(step))
            }
            3 => f32::from_bits(self.u32()),
            4 => f32::from_bits(self.u32() & 0x807f_ffff),
            5 => (self.byte() as i8) as f32 / 16.0,
            6 => (self.u16() as i16) as f32 / 256.0,
            7 => ((self.u16() as i16) as f32 / 32.0) * 10f32.powi((self.byte() % 40) as i32),
            _ => (self.u16() as f32 / 65536.0) * 200.0 - 100.0,
        }
    }

    /// A finite f32 (the decoded value, with non-finite ones replaced).
    pub fn finite_f32(&mut self) -> f32 {
        let x = self.f32();
        if x.is_finite() {
            x
        } else {
            (self.byte() as i8) as f32
        }
    }

    /// A row of `n` values in one of several shapes: independent values,
    /// all equal, a huge arithmetic spread, mostly ties with a few others,
    /// or independent finite values.
    pub fn row(&mut self, n: usize) -> Vec<f32> {
        match self.byte() % 6 {
            0 => (0..n).map(|_| self.f32()).collect(),
            1 => vec![self.f32(); n],
            2 => {
                let base = self.f32();
                let spread = SPECIAL[self.below(SPECIAL.len())];
                (0..n)
                    .map(|_| base + spread * ((self.byte() as i8) as f32 / 64.0))
                    .collect()
            }
            3 => {
                let common = self.f32();
                (0..n)
                    .map(|_| {
                        if self.byte() < 224 {
                            common
                        } else {
                            self.f32()
                        }
                    })
                    .collect()
            }
            _ => (0..n).map(|_| self.finite_f32()).collect(),
        }
    }

    /// A value in [0, 1] (labels, probabilities), with the endpoints and
    /// tiny values likely.
    pub fn unit(&mut self) -> f32 {
        match self.byte() % 6 {
            0 => 0.0,
            1 => 1.0,
            2 => f32::from_bits(self.u32() % 0x3f80_0001),
            _ => self.u16() as f32 / 65535.0,
        }
    }
}
