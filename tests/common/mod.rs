//! Shared test helpers: ULP distance to an f64 reference, and an exhaustive
//! sweep over every f32 bit pattern on all cores (sampled under emulation).
#![allow(dead_code)]

pub mod precision;

/// Distance from `got` to the exact value `want` (an f64 reference), in units
/// of the f32 ULP at `want`: 2^(e−23) for |want| in [2^e, 2^(e+1)), 2⁻¹⁴⁹ in
/// the subnormal range. Overflow is measured on the extended grid where +inf
/// sits at 2¹²⁸ (so returning inf for a value that rounds to inf costs
/// nothing). A value between f32::MAX and 2¹²⁸ is measured on that grid
/// either way: f32::MAX is a neighbour of it, as any finite result is of an
/// exact value between two floats (a loss within its bound of such a value
/// may be f32::MAX). At 2¹²⁸ and beyond only the infinity will do: a finite
/// result there is an infinite error (f32::MAX for a true 2¹²⁸ would
/// otherwise score exactly 1). NaN matches only NaN; an infinite `want` only
/// the same infinity. Zeros of either sign are equal here;
/// [`signed_ulp_error`] tells them apart.
pub fn ulp_error(got: f32, want: f64) -> f64 {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if want.is_infinite() || (want as f32).is_infinite() {
        if got as f64 == want || (got.is_infinite() && (want as f32) == got) {
            return 0.0;
        }
        let beyond_grid = want.abs() >= 2f64.powi(128);
        if beyond_grid || got.is_infinite() || got.is_sign_negative() != want.is_sign_negative() {
            return f64::INFINITY;
        }
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

/// [`ulp_error`], where a zero of the wrong sign is an infinite error: for
/// the functions whose documentation promises the sign of a zero result.
pub fn signed_ulp_error(got: f32, want: f64) -> f64 {
    if got == 0.0 && want == 0.0 && got.is_sign_negative() != want.is_sign_negative() {
        f64::INFINITY
    } else {
        ulp_error(got, want)
    }
}

/// The largest error found in a sweep and the input that reaches it.
#[derive(Clone, Copy, Debug)]
pub struct Worst {
    pub ulp: f64,
    pub input: f32,
    pub got: f32,
    pub want: f64,
}

impl Worst {
    /// Below any error, so the first input checked replaces it.
    pub const NONE: Worst = Worst {
        ulp: -1.0,
        input: 0.0,
        got: 0.0,
        want: 0.0,
    };
}

/// Default stride of the sampled sweeps ([`Sweep::sampled`]): a prime, so
/// it does not alias with the 2²³-pattern binades and the offset inside a
/// binade rotates from one binade to the next; every binade (2²³ ≫ k) is hit
/// about 2²³/k times, and [`edge_patterns`] adds the ends of each. Every
/// 101st pattern (42.5 M inputs, about 1.5 s a function on 2 cores) on an
/// optimised x86-64 or aarch64 build, every 13th under wasm32 (Node runs
/// one thread at about 14 M inputs a second), every 10007th in a debug
/// build. `LOGITKIT_SWEEP_STRIDE=k` overrides it.
pub const DEFAULT_SWEEP_STRIDE: u64 = if cfg!(debug_assertions) {
    10007
} else if cfg!(target_arch = "wasm32") {
    13
} else {
    101
};

/// Which inputs [`sweep_all`] visits: the bit patterns
/// `offset + j·stride (mod 2³²)` for `j < ⌈2³²/stride⌉` (distinct, since the
/// stride is odd) and, when sampling, [`edge_patterns`] as well.
#[derive(Clone, Copy, Debug)]
pub struct Sweep {
    pub stride: u64,
    pub offset: u32,
}

impl Sweep {
    /// Every one of the 2³² bit patterns.
    pub const EXHAUSTIVE: Sweep = Sweep {
        stride: 1,
        offset: 0,
    };

    /// The sampled sweep of the default test command: the stride from
    /// `LOGITKIT_SWEEP_STRIDE` (default [`DEFAULT_SWEEP_STRIDE`]) and the
    /// start from `LOGITKIT_SWEEP_OFFSET` (default 0; a CI job can rotate it
    /// to cover other patterns), plus every binade's edges.
    pub fn sampled() -> Sweep {
        fn var(name: &str) -> Option<u64> {
            let v = std::env::var(name).ok()?;
            let parsed = v.trim().parse::<u64>();
            Some(parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not an unsigned integer")))
        }
        let stride = var("LOGITKIT_SWEEP_STRIDE").unwrap_or(DEFAULT_SWEEP_STRIDE);
        assert!(
            stride == 1 || (stride % 2 == 1 && stride < 1 << 23),
            "LOGITKIT_SWEEP_STRIDE={stride}: must be 1 or odd and below 2^23 (to hit every binade)"
        );
        let offset = var("LOGITKIT_SWEEP_OFFSET").unwrap_or(0);
        let offset = u32::try_from(offset).expect("LOGITKIT_SWEEP_OFFSET must fit in 32 bits");
        Sweep { stride, offset }
    }

    pub fn is_exhaustive(&self) -> bool {
        self.stride == 1
    }

    /// Number of progression inputs.
    pub fn samples(&self) -> u64 {
        (1u64 << 32).div_ceil(self.stride)
    }

    /// Total number of inputs checked.
    pub fn inputs(&self) -> u64 {
        self.samples()
            + if self.is_exhaustive() {
                0
            } else {
                edge_patterns().len() as u64
            }
    }
}

impl std::fmt::Display for Sweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_exhaustive() {
            write!(f, "all 2^32 inputs")
        } else {
            write!(
                f,
                "{} sampled inputs (stride {}, offset {}, + {} binade edges)",
                self.inputs(),
                self.stride,
                self.offset,
                edge_patterns().len()
            )
        }
    }
}

/// The ends and middle of every binade of both signs: mantissas 0, 1, 2,
/// 2²²−1, 2²², 2²³−3, 2²³−2, 2²³−1 under each of the 512 sign/exponent
/// fields. This is ±0, the smallest and largest subnormals, every power of
/// two and its neighbours, ±MAX, ±inf and quiet and signalling NaNs.
pub fn edge_patterns() -> Vec<u32> {
    const MANTISSAS: [u32; 8] = [
        0, 1, 2, 0x3f_ffff, 0x40_0000, 0x7f_fffd, 0x7f_fffe, 0x7f_ffff,
    ];
    (0..512u32)
        .flat_map(|se| MANTISSAS.iter().map(move |m| se << 23 | m))
        .collect()
}

/// Runs `f32 -> f32` kernels over the inputs of `sweep` on every core, in blocks of 4096 inputs (consecutive
/// bit patterns when exhaustive). `check(block_inputs, block_outputs)` is
/// called per block and returns the block's worst case. Prints the sampling
/// plan. Where threads cannot be spawned (wasm32-wasip1) the current thread
/// does all the work.
pub fn sweep_all(sweep: Sweep, check: impl Fn(&[f32], &mut [f32]) -> Worst + Sync) -> Worst {
    const BLOCK: u64 = 4096;
    let samples = sweep.samples();
    let edges = if sweep.is_exhaustive() {
        Vec::new()
    } else {
        edge_patterns()
    };
    let progression_blocks = samples.div_ceil(BLOCK);
    let blocks = progression_blocks + edges.len().div_ceil(BLOCK as usize) as u64;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let hint = if sweep.is_exhaustive() {
        ""
    } else {
        "; the exhaustive proof: cargo test --release --test elementwise_ulp -- --ignored"
    };
    println!("sweep: {sweep}, {threads} thread(s){hint}");

    let check = &check;
    let edges = &edges;
    // Worker `t` takes blocks t, t + threads, ... and returns their worst.
    let work = move |t: u64| {
        let mut worst = Worst::NONE;
        let mut xs = Vec::with_capacity(BLOCK as usize);
        let mut out = vec![0f32; BLOCK as usize];
        let mut b = t;
        while b < blocks {
            xs.clear();
            if b < progression_blocks {
                let end = samples.min((b + 1) * BLOCK);
                xs.extend((b * BLOCK..end).map(|j| {
                    let bits = (sweep.offset as u64).wrapping_add(j * sweep.stride);
                    f32::from_bits(bits as u32)
                }));
            } else {
                let start = ((b - progression_blocks) * BLOCK) as usize;
                let end = edges.len().min(start + BLOCK as usize);
                xs.extend(edges[start..end].iter().map(|&bits| f32::from_bits(bits)));
            }
            let w = check(&xs, &mut out[..xs.len()]);
            if w.ulp > worst.ulp {
                worst = w;
            }
            b += threads;
        }
        worst
    };

    std::thread::scope(|s| {
        let mut spawned = Vec::new();
        let mut inline = vec![0];
        for t in 1..threads {
            match std::thread::Builder::new().spawn_scoped(s, move || work(t)) {
                Ok(h) => spawned.push((t, h)),
                Err(_) => inline.push(t),
            }
        }
        let mut results: Vec<(u64, Worst)> = inline.into_iter().map(|t| (t, work(t))).collect();
        results.extend(
            spawned
                .into_iter()
                .map(|(t, h)| (t, h.join().expect("sweep thread panicked"))),
        );
        // Merge in worker order so the reported worst input is reproducible.
        results.sort_by_key(|&(t, _)| t);
        results
            .into_iter()
            .map(|(_, w)| w)
            .fold(Worst::NONE, |a, b| if b.ulp > a.ulp { b } else { a })
    })
}

/// The f32 ULP at the magnitude of `x` (2⁻¹⁴⁹ in the subnormal range).
pub fn ulp(x: f64) -> f64 {
    let a = x.abs();
    if !a.is_finite() {
        return f64::INFINITY;
    }
    let e = if a == 0.0 {
        -126
    } else {
        (((a.to_bits() >> 52) & 0x7ff) as i32 - 1023).clamp(-126, 127)
    };
    2f64.powi(e - 23)
}

/// SplitMix64: a small deterministic generator, so every test run sees the
/// same vectors.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// f64 reference statistics of a row with a finite max: (m, s′ = Σe^{x−m} − 1).
pub fn ref_stats(xs: &[f32]) -> (f64, f64) {
    let m = xs.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let mut excess = -1.0;
    let mut ties = 0.0;
    let mut others = 0.0;
    for &x in xs {
        if x as f64 == m {
            ties += 1.0;
        } else {
            others += (x as f64 - m).exp();
        }
    }
    excess += ties;
    (m, others + excess)
}

/// Reference log-sum-exp with the special values of `docs/contract.md`.
pub fn ref_lse(xs: &[f32]) -> f64 {
    if xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    if xs.contains(&f32::INFINITY) {
        return f64::INFINITY;
    }
    if xs.iter().all(|&x| x == f32::NEG_INFINITY) {
        return f64::NEG_INFINITY;
    }
    let (m, s) = ref_stats(xs);
    m + s.ln_1p()
}

/// The adversarial row families of the softmax tests: (name, row).
pub fn adversarial_rows(rng: &mut Rng, n: usize) -> Vec<(&'static str, Vec<f32>)> {
    let mut rows = Vec::new();
    let mut make = |f: &mut dyn FnMut(&mut Rng, usize) -> f32| -> Vec<f32> {
        (0..n).map(|i| f(rng, i)).collect()
    };
    rows.push(("N(0,1)", make(&mut |r, _| r.normal() as f32)));
    rows.push(("N(0,100)", make(&mut |r, _| (r.normal() * 100.0) as f32)));
    rows.push((
        "N(50,30)",
        make(&mut |r, _| (50.0 + 30.0 * r.normal()) as f32),
    ));
    rows.push((
        "huge",
        make(&mut |r, _| ((r.uniform() * 2.0 - 1.0) * f32::MAX as f64) as f32),
    ));
    rows.push((
        "near MAX",
        make(&mut |r, _| f32::MAX * (1.0 - (r.uniform() * 1e-6) as f32)),
    ));
    rows.push(("all equal", vec![3.25; n]));
    rows.push(("all equal neg", vec![-1e4; n]));
    rows.push((
        "±88.7",
        make(
            &mut |r, _| if r.uniform() < 0.5 { 88.72 } else { -88.72 } + (r.uniform() as f32 - 0.5),
        ),
    ));
    rows.push((
        "±103.9",
        make(&mut |r, _| if r.uniform() < 0.5 { 103.97 } else { -103.97 }),
    ));
    rows.push((
        "subnormal",
        make(&mut |r, _| f32::from_bits(r.next_u64() as u32 & 0x807f_ffff)),
    ));
    rows.push((
        "dominant",
        make(&mut |r, i| if i == n / 3 { 40.0 } else { r.normal() as f32 }),
    ));
    rows.push((
        "tiny loss",
        make(&mut |r, i| {
            if i == 0 {
                25.0
            } else {
                (r.normal() - 5.0) as f32
            }
        }),
    ));
    rows.push((
        "masked",
        make(&mut |r, _| {
            if r.uniform() < 0.3 {
                f32::NEG_INFINITY
            } else {
                (r.normal() * 5.0) as f32
            }
        }),
    ));
    rows.push((
        "one left",
        make(&mut |_, i| if i == n - 1 { 1.5 } else { f32::NEG_INFINITY }),
    ));
    rows.push(("spread 1e30", make(&mut |r, _| (r.normal() * 1e30) as f32)));
    rows
}

/// σ(x) in f64.
pub fn ref_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

/// softplus(x) = max(x, 0) + ln_1p(e^{−|x|}) in f64.
pub fn ref_softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

// ---- The documented bounds of the softmax family and the cross-entropy ----
//
// Each function returns the largest |got − exact| that a doc comment allows,
// with the values of `docs/precision.toml` (one function per documented
// bound, shared by `tests/softmax_family.rs` and the fuzz checks). ULPs are
// f32 ULPs of the exact value ([`ulp`]: 2⁻¹⁴⁹ among subnormals).

/// `[log_sum_exp]`: ½ ulp(lse) + 2⁻²¹·s′/(1+s′) + n·2⁻¹⁴⁹, with
/// s′ = Σ e^{xᵢ−m} − 1.
pub fn lse_allowed(lse: f64, excess: f64, n: usize) -> f64 {
    let b = |key| precision::bound("log_sum_exp", key);
    b("ulp") * ulp(lse) + b("rel_log2") * excess / (1.0 + excess) + n as f64 * b("subnormal_log2")
}

/// `[softmax]`: 2 ULP + 2⁻²¹·pᵢ.
pub fn softmax_allowed(p: f64) -> f64 {
    let b = |key| precision::bound("softmax", key);
    b("ulp") * ulp(p) + b("rel_log2") * p.abs()
}

/// `[log_softmax]`: 2 ULP + 2⁻²¹.
pub fn log_softmax_allowed(lp: f64) -> f64 {
    let b = |key| precision::bound("log_softmax", key);
    b("ulp") * ulp(lp) + b("abs_log2")
}

/// `[softmax_backward]`: 1.5 ULP of pᵢ·(gᵢ − ⟨g, p⟩) (`want`), plus pᵢ
/// times the dot product's error 2⁻²¹·Σ|pⱼgⱼ| + ½ ulp(⟨g, p⟩) + n·2⁻¹⁵⁰.
pub fn softmax_backward_allowed(want: f64, p: f64, dot: f64, dot_abs: f64, n: usize) -> f64 {
    let b = |key| precision::bound("softmax_backward", key);
    let dot_err =
        b("dot_rel_log2") * dot_abs + b("dot_ulp") * ulp(dot) + n as f64 * b("dot_subnormal_log2");
    b("ulp") * ulp(want) + p * dot_err
}

/// `[log_softmax_backward]`: 4 ULP of max(|gᵢ − pᵢ·Σg|, pᵢ·|Σg|) +
/// 2⁻²¹·pᵢ·Σ|g| + 2⁻¹⁴⁸·Σ|g|, with pᵢ = e^{log_probsᵢ}, `want` = gᵢ − pᵢ·Σg.
pub fn log_softmax_backward_allowed(want: f64, p: f64, total: f64, total_abs: f64) -> f64 {
    let b = |key| precision::bound("log_softmax_backward", key);
    let scale = want.abs().max(p * total.abs());
    b("ulp") * ulp(scale) + b("sum_rel_log2") * p * total_abs + b("subnormal_log2") * total_abs
}

/// `[cross_entropy]` loss: 4 ULP + 2⁻²¹ relative + n·2⁻¹⁴⁹.
pub fn ce_loss_allowed(loss: f64, n: usize) -> f64 {
    let b = |key| precision::bound("cross_entropy", key);
    b("loss_ulp") * ulp(loss) + b("loss_rel_log2") * loss.abs() + n as f64 * b("subnormal_log2")
}

/// `[cross_entropy]` gradient element gᵢ: 4 ULP of max(|gᵢ|, 2⁻²⁴·max|g|) +
/// 2⁻²¹·|gᵢ|, plus n·2⁻¹⁴⁹ at the target.
pub fn ce_grad_allowed(g: f64, gmax: f64, n: usize, at_target: bool) -> f64 {
    let b = |key| precision::bound("cross_entropy", key);
    let scale = g.abs().max(b("grad_floor_log2") * gmax);
    let underflow = if at_target {
        n as f64 * b("subnormal_log2")
    } else {
        0.0
    };
    b("grad_ulp") * ulp(scale) + b("grad_rel_log2") * g.abs() + underflow
}

/// `[cross_entropy_probs]` loss: 4 ULP + 2⁻²¹ relative + n·2⁻¹⁴⁹·(1 + Σq).
pub fn probs_loss_allowed(loss: f64, n: usize, mass: f64) -> f64 {
    let b = |key| precision::bound("cross_entropy_probs", key);
    b("loss_ulp") * ulp(loss)
        + b("sum_rel_log2") * loss.abs()
        + n as f64 * b("subnormal_log2") * (1.0 + mass)
}

/// `[cross_entropy_probs]` gradient element gᵢ = pᵢ·Σq − qᵢ: 4 ULP of
/// max(|gᵢ|, pᵢ·Σq, qᵢ) + 2⁻²⁰·pᵢ·Σq + n·2⁻¹⁴⁹·(1 + Σq); `p_mass` = pᵢ·Σq.
pub fn probs_grad_allowed(g: f64, p_mass: f64, q: f64, n: usize, mass: f64) -> f64 {
    batch_grad_allowed(g, p_mass, q, n, mass, 1.0, "cross_entropy_probs")
}

/// `[cross_entropy_batch]` gradient element: the probability-target bound of
/// the row's unscaled gᵢ = pᵢ·Σq − qᵢ scaled by the reduction's factor f:
/// 4 ULP of f·max(|gᵢ|, pᵢ·Σq, qᵢ) + f·(2⁻²⁰·pᵢ·Σq + C·2⁻¹⁴⁹·(1 + Σq)).
/// `kernel` names the table section (`cross_entropy_probs` is f = 1).
pub fn batch_grad_allowed(
    g: f64,
    p_mass: f64,
    q: f64,
    classes: usize,
    mass: f64,
    factor: f64,
    kernel: &str,
) -> f64 {
    let b = |key| precision::bound(kernel, key);
    let scale = g.abs().max(p_mass).max(q);
    b("grad_ulp") * ulp(factor * scale)
        + factor
            * (b("grad_rel_log2") * p_mass + classes as f64 * b("subnormal_log2") * (1.0 + mass))
}

/// `[cross_entropy_batch]` reduced loss: 4 ULP + 2⁻²¹ relative +
/// f·C·2⁻¹⁴⁹·Σ_rows(1 + Σq) (`underflow`, already summed and scaled).
pub fn batch_loss_allowed(loss: f64, underflow: f64) -> f64 {
    let b = |key| precision::bound("cross_entropy_batch", key);
    b("loss_ulp") * ulp(loss) + b("loss_rel_log2") * loss.abs() + underflow
}

/// `[cross_entropy_probs_batch]` loss (a row's, or the reduced one): 4 ULP +
/// 2⁻²² relative + `underflow` (C·2⁻¹⁴⁹·(1 + Σt) for a row;
/// f·C·2⁻¹⁴⁹·Σ_rows(1 + Σt) for the reduced loss, already summed and scaled).
pub fn probs_batch_loss_allowed(loss: f64, underflow: f64) -> f64 {
    let b = |key| precision::bound("cross_entropy_probs_batch", key);
    b("loss_ulp") * ulp(loss) + b("loss_rel_log2") * loss.abs() + underflow
}
