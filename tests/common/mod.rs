//! Shared test helpers: ULP distance to an f64 reference, and an exhaustive
//! sweep over every f32 bit pattern on all cores.
#![allow(dead_code)]

/// Distance from `got` to the exact value `want` (an f64 reference), in units
/// of the f32 ULP at `want`: 2^(e−23) for |want| in [2^e, 2^(e+1)), 2⁻¹⁴⁹ in
/// the subnormal range. Overflow is measured on the extended grid where +inf
/// sits at 2¹²⁸ (so returning inf for a value that rounds to inf costs
/// nothing). NaN matches only NaN; an infinite `want` only the same infinity.
pub fn ulp_error(got: f32, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if want.is_infinite() {
        return if got as f64 == want {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let big = 2f64.powi(128);
    let w = want.clamp(-big, big);
    let g = if got.is_infinite() {
        big.copysign(got as f64)
    } else {
        got as f64
    };
    let exponent = if w == 0.0 {
        -126
    } else {
        (((w.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023).clamp(-126, 127)
    };
    (g - w).abs() / 2f64.powi(exponent - 23)
}

/// The largest error found in a sweep and the input that reaches it.
#[derive(Clone, Copy, Debug)]
pub struct Worst {
    pub ulp: f64,
    pub input: f32,
    pub got: f32,
    pub want: f64,
}

/// Runs `f32 -> f32` kernels over all 2³² inputs on every core, in blocks of
/// 4096 consecutive bit patterns. `check(block_inputs, block_outputs)` is
/// called per block and returns the block's worst case.
pub fn sweep_all(check: impl Fn(&[f32], &mut [f32]) -> Worst + Sync) -> Worst {
    const BLOCK: u64 = 4096;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let total = 1u64 << 32;
    let blocks = total / BLOCK;
    let check = &check;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut worst = Worst {
                        ulp: -1.0,
                        input: 0.0,
                        got: 0.0,
                        want: 0.0,
                    };
                    let mut xs = vec![0f32; BLOCK as usize];
                    let mut out = vec![0f32; BLOCK as usize];
                    let mut b = t;
                    while b < blocks {
                        for (i, x) in xs.iter_mut().enumerate() {
                            *x = f32::from_bits((b * BLOCK + i as u64) as u32);
                        }
                        let w = check(&xs, &mut out);
                        if w.ulp > worst.ulp {
                            worst = w;
                        }
                        b += threads;
                    }
                    worst
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sweep thread panicked"))
            .fold(
                Worst {
                    ulp: -1.0,
                    input: 0.0,
                    got: 0.0,
                    want: 0.0,
                },
                |a, b| {
                    if b.ulp > a.ulp { b } else { a }
                },
            )
    })
}
