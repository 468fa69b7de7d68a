//! The softmax family against an f64 reference on adversarial vectors
//! (`docs/accuracy.md`): lengths around every SIMD width and block size,
//! magnitudes up to ±f32::MAX, masks, ties, subnormals, tiny losses, and
//! rows whose f32 sums round away the most they can. Each test asserts the
//! bound stated in the kernel's doc comment, with the values of
//! `docs/precision.toml` (through `tests/common`), and prints the largest
//! error seen.

mod common;
use common::{
    Rng, adversarial_rows, batch_grad_allowed, batch_loss_allowed, ce_grad_allowed,
    ce_loss_allowed, log_softmax_allowed, log_softmax_backward_allowed, lse_allowed,
    probs_batch_loss_allowed, probs_grad_allowed, probs_loss_allowed, ref_lse, ref_stats,
    softmax_allowed, softmax_backward_allowed, ulp,
};
use logitkit::*;
use std::sync::OnceLock;

fn lengths() -> Vec<usize> {
    let mut v: Vec<usize> = (1..=17).collect();
    v.extend([31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 4097, 100_000]);
    v
}

/// Rows to test: every adversarial family at every length, and the rows
/// whose sums lose the most ([`lossy_rows`]).
fn cases() -> Vec<(String, Vec<f32>)> {
    let mut rng = Rng(0x5eed);
    let mut out = Vec::new();
    for n in lengths() {
        for (name, row) in adversarial_rows(&mut rng, n) {
            out.push((format!("{name} n={n}"), row));
        }
    }
    out.extend(lossy_rows().iter().cloned());
    out
}

// ---- Rows whose blocked sums round away the most they can ----------------
//
// Two sums add in f32 lanes. The blocked sum (`src/reduce.rs`, probability
// targets and label smoothing) gives vector k of a row to accumulator k mod 4,
// 16 vectors per block, so lane j of an accumulator adds the elements
// (a + 4r)·W + j, r = 0…3 (stride 4). The row-order pass of `log_sum_exp`,
// `softmax`, `log_softmax` and the class-target cross-entropy adds four
// consecutive vectors per block, (4b + r)·W + j (stride 1). A first term just
// above a power of two followed by three just below half its ULP loses
// 3 × ½ ULP: 3·2⁻²⁴ relative, the most a lane can (`docs/accuracy.md`,
// Summation). The rows are built for each layout and each width a build can
// have, and put exponentials whose `exp` errs the most, in the direction that
// adds to the loss, where it counts. Only inputs are searched with the code
// under test; the references stay f64.

/// Lane widths of the builds' vectors: one `f32`, f32x8 (SSE2, AVX, NEON,
/// simd128), f32x16 (AVX-512).
const WIDTHS: [usize; 3] = [1, 8, 16];

/// Vectors between the terms one f32 lane adds: the blocked sum's 4, the
/// row-order pass's 1.
const STRIDES: [usize; 2] = [4, 1];

/// The elements added after element `i` (the first term of its lane's
/// block) into the same f32 lane.
fn followers(i: usize, w: usize, stride: usize) -> [usize; 3] {
    [i + stride * w, i + 2 * stride * w, i + 3 * stride * w]
}

/// The first terms of the lanes' blocks among the first 16 vectors.
fn leaders(w: usize, stride: usize) -> impl Iterator<Item = usize> {
    (0..16 * w).filter(move |i| (i / w) % (4 * stride) < stride)
}

/// The `k` f32 inputs x with e^x in [lo, hi] (the first 2¹⁸ of them) whose
/// crate `exp` errs the most in the direction of `sign` (+1: too large, −1:
/// too small).
fn exp_errs_most(lo: f64, hi: f64, sign: f64, k: usize) -> Vec<f32> {
    let mut x = lo.ln() as f32;
    while (x as f64).exp() < lo {
        x = x.next_up();
    }
    let mut found = Vec::new();
    while (x as f64).exp() <= hi && found.len() < 1 << 18 {
        let want = (x as f64).exp();
        found.push((sign * (exp(x) as f64 - want) / ulp(want), x));
        x = x.next_up();
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    found.iter().take(k).map(|&(_, x)| x).collect()
}

/// An x whose `exp` is just below half an ULP of `exp(big)`: added to it in
/// f32, it rounds away.
fn rounded_away(big: f32) -> f32 {
    let half = ulp(exp(big) as f64) / 2.0;
    let mut x = (0.999 * half).ln() as f32;
    while exp(x) as f64 >= half {
        x = x.next_down();
    }
    x
}

/// Rows of the softmax-family tests whose f32 sums lose 3·2⁻²⁴, for each
/// lane width: a tiny loss ln(1 + e_b) whose e_b loses three terms (the
/// class-target loss's worst case), and a sum S losing in every lane with
/// one probability at the top of its binade (the gradient's).
fn lossy_rows() -> &'static [(String, Vec<f32>)] {
    static ROWS: OnceLock<Vec<(String, Vec<f32>)>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let mut rows = Vec::new();
        // e_b just above 2⁻ᵏ puts ln(1 + e_b) at the top of its binade.
        let tiny: Vec<(i32, f32)> = [4, 7, 8, 12]
            .iter()
            .flat_map(|&k| {
                let lo = 2f64.powi(-k);
                exp_errs_most(lo, lo * (1.0 + 2f64.powi(-8)), -1.0, 3)
                    .into_iter()
                    .map(move |x| (k, x))
            })
            .collect();
        let big = exp_errs_most(0.5, 0.505, -1.0, 1)[0];
        // S is just above 16·W/8, so eᵢ just above 2⁻ʲ puts pᵢ at the top of
        // its binade.
        let tops: Vec<(i32, f32)> = [3, 7]
            .iter()
            .flat_map(|&j| {
                let lo = 2f64.powi(-j);
                exp_errs_most(lo, 1.01 * lo, 1.0, 6)
                    .into_iter()
                    .map(move |x| (j, x))
            })
            .collect();
        for (w, stride) in WIDTHS.into_iter().flat_map(|w| STRIDES.map(|s| (w, s))) {
            let n = 16 * w;
            let layout = format!("W={w} stride {stride} n={n}");
            for &(k, xb) in &tiny {
                let mut row = vec![f32::NEG_INFINITY; n];
                row[0] = 0.0;
                row[1] = xb;
                for f in followers(1, w, stride) {
                    row[f] = rounded_away(xb);
                }
                rows.push((format!("lossy tiny loss 2^-{k} {layout}"), row));
            }
            for &(j, xi) in &tops {
                let mut row = vec![f32::NEG_INFINITY; n];
                row[0] = 0.0;
                // Every lane loses but the one whose last term is pᵢ's.
                for i in leaders(w, stride).filter(|&i| i > 0) {
                    if followers(i, w, stride).contains(&(n - 1)) {
                        continue;
                    }
                    row[i] = big;
                    for f in followers(i, w, stride) {
                        row[f] = rounded_away(big);
                    }
                }
                row[n - 1] = xi;
                rows.push((format!("lossy sum, p at 2^-{j} {layout}"), row));
            }
        }
        // The same rows padded with −inf past 4096 logits, where the row
        // goes in stretches of 4096 (the lossy blocks in the first).
        let padded: Vec<(String, Vec<f32>)> = rows
            .iter()
            .map(|(name, row)| {
                let mut long = row.clone();
                long.resize(row.len() + 4096, f32::NEG_INFINITY);
                (format!("{name}, padded to {}", long.len()), long)
            })
            .collect();
        rows.extend(padded);
        rows
    })
}

/// Probability targets whose f32 sums lose 3·2⁻²⁴, for each lane width: Σq
/// losing in every lane with one pᵢ·Σq at the top of its binade (the
/// gradient's worst case), and Σq and S losing together under a tiny loss
/// (the loss's).
fn lossy_targets() -> Vec<(String, Vec<f32>, Vec<f32>)> {
    let mut out = Vec::new();
    let tops = exp_errs_most(0.95, 0.99, -1.0, 4);
    let tiny: Vec<(i32, f32)> = [4, 5]
        .iter()
        .flat_map(|&k| {
            let lo = 2f64.powi(-k);
            exp_errs_most(lo, 1.01 * lo, -1.0, 6)
                .into_iter()
                .map(move |x| (k, x))
        })
        .collect();
    for w in WIDTHS {
        let n = 16 * w;
        let big = 0.5 + 3.0 * 2f32.powi(-24);
        let away = 0.999 * 2f32.powi(-25);
        let q: Vec<f32> = (0..n)
            .map(|i| if (i / w) % 16 < 4 { big } else { away })
            .collect();
        for &top in &tops {
            let mut z = vec![-30.0f32; n];
            z[0] = 0.0;
            z[4 * w + 1] = top;
            out.push((format!("lossy Σq W={w} n={n}"), z, q.clone()));
        }
        for &(k, xb) in &tiny {
            let (mut z, mut q) = (vec![f32::NEG_INFINITY; n], vec![0.0f32; n]);
            (z[0], q[0]) = (0.0, 1.0);
            for f in followers(0, w, 4) {
                (z[f], q[f]) = (-10.0, 0.999 * 2f32.powi(-24));
            }
            z[1] = xb;
            for f in followers(1, w, 4) {
                z[f] = rounded_away(xb);
            }
            out.push((
                format!("lossy Σq and S, tiny loss 2^-{k} W={w} n={n}"),
                z,
                q,
            ));
        }
    }
    out
}

// ---- log-sum-exp ------------------------------------------------------------

#[test]
fn log_sum_exp_within_bound() {
    let (mut worst, mut worst_ulp) = (0.0f64, 0.0f64);
    for (name, xs) in cases() {
        let got = log_sum_exp(&xs) as f64;
        let want = ref_lse(&xs);
        if !want.is_finite() {
            assert!(
                got == want || (got.is_nan() && want.is_nan()),
                "{name}: {got} vs {want}"
            );
            continue;
        }
        let (m, s) = ref_stats(&xs);
        let bound = lse_allowed(want, s, xs.len());
        let err = (got - want).abs();
        assert!(
            err <= bound,
            "{name}: lse {got} vs {want}, err {err:e} > {bound:e}"
        );
        worst = worst.max(err / bound);
        worst_ulp = worst_ulp.max(err / ulp(want));
        // max ≤ lse ≤ max + ln n, the upper end within the bound.
        let n = xs.len() as f64;
        assert!(
            got >= m && got <= m + n.ln() + bound,
            "{name}: {got} outside [{m}, {m} + ln {n}]"
        );
    }
    println!(
        "log_sum_exp: max error {worst_ulp:.3} ULP of lse, {worst:.3} of the documented bound"
    );
}

#[test]
fn log_sum_exp_special_values() {
    let inf = f32::INFINITY;
    assert_eq!(log_sum_exp(&[]), -inf);
    assert_eq!(log_sum_exp(&[-inf; 33]), -inf);
    assert!(log_sum_exp(&[1.0, f32::NAN, inf]).is_nan());
    assert_eq!(log_sum_exp(&[1.0, inf, -inf]), inf);
    assert_eq!(log_sum_exp(&[f32::MAX, f32::MAX]), f32::MAX);
    assert_eq!(log_sum_exp(&[f32::MAX; 1000]), f32::MAX);
    assert_eq!(log_sum_exp(&[-inf, 2.5, -inf]), 2.5);
    assert_eq!(log_sum_exp(&[f32::MIN, f32::MAX]), f32::MAX);
}

#[test]
fn all_equal_rows_within_bound() {
    // lse(v, …, v) = v + ln n exercises the summation at every length.
    for n in lengths() {
        let v = 0.75f32;
        let got = log_sum_exp(&vec![v; n]) as f64;
        let want = v as f64 + (n as f64).ln();
        let bound = lse_allowed(want, n as f64 - 1.0, n);
        assert!((got - want).abs() <= bound, "n={n}: {got} vs {want}");
    }
}

#[test]
fn streaming_state_matches_one_pass() {
    let mut rng = Rng(7);
    for (name, xs) in cases().into_iter().step_by(3) {
        let one_pass = log_sum_exp(&xs);
        let mut state = LogSumExp::new();
        let mut rest = &xs[..];
        // Split at arbitrary points; alternate push, extend and merge.
        let mut turn = 0;
        while !rest.is_empty() {
            let take = 1 + rng.below(rest.len().min(97));
            let (piece, tail) = rest.split_at(take);
            match turn % 3 {
                0 => piece.iter().for_each(|&x| state.push(x)),
                1 => state.extend(piece),
                _ => {
                    let mut other = LogSumExp::new();
                    other.extend(piece);
                    state.merge(&other);
                }
            }
            rest = tail;
            turn += 1;
        }
        let got = state.value();
        let want = ref_lse(&xs);
        if !want.is_finite() {
            assert!(
                got as f64 == want || (got.is_nan() && want.is_nan()),
                "{name}"
            );
            continue;
        }
        let (_, s) = ref_stats(&xs);
        let bound = lse_allowed(want, s, xs.len());
        assert!(
            (got as f64 - want).abs() <= bound,
            "{name}: stream {got} one pass {one_pass} want {want}"
        );
    }
}

/// The streaming state on sequences aimed at its anchor: a maximum that
/// creeps up by a few ULPs per push (every push a new maximum), one that
/// climbs past the anchor hundreds of times, jumps of just over the anchor's
/// reach with much mass just below, and trees of merges of pieces whose
/// anchors lie up to 32 below their maxima (so merges carry mass that
/// matters). Pushes and extends must meet the one-pass bound; each merge
/// may add `[log_sum_exp_merge]`.
#[test]
fn streaming_state_carries_stay_within_the_bound() {
    let merge_rel = common::precision::bound("log_sum_exp_merge", "rel_log2");
    let check = |name: &str, xs: &[f32], got: f32, merges: usize| {
        let want = ref_lse(xs);
        let (_, s) = ref_stats(xs);
        let bound = lse_allowed(want, s, xs.len()) + merges as f64 * merge_rel * s / (1.0 + s);
        let err = (got as f64 - want).abs();
        assert!(
            err <= bound,
            "{name}: {got} want {want}, |err| {err:e} > {bound:e}"
        );
    };
    let pushed = |xs: &[f32]| {
        let mut state = LogSumExp::new();
        xs.iter().for_each(|&x| state.push(x));
        state.value()
    };
    let creeping: Vec<f32> = (0..100_000).map(|i| 1.0 + i as f32 * 2e-7).collect();
    check("creeping maximum", &creeping, pushed(&creeping), 0);
    let climbing: Vec<f32> = (0..30_000).map(|i| i as f32 * 0.01 - 100.0).collect();
    check("climbing maximum", &climbing, pushed(&climbing), 0);
    let mut jumps = Vec::new();
    for j in 0..40 {
        let top = j as f32 * 32.25 - 600.0;
        jumps.extend(std::iter::repeat_n(top, 300));
        jumps.extend((0..300).map(|i| top + 32.25 - 0.1 * (i % 7) as f32));
    }
    check("jumps past the anchor", &jumps, pushed(&jumps), 0);
    let mut extended = LogSumExp::new();
    jumps.chunks(77).for_each(|c| extended.extend(c));
    check("jumps, extended", &jumps, extended.value(), 0);

    // A chain in which almost every merge carries the whole accumulated sum
    // to the next piece's anchor (31.99 below its maximum), by e^{−0.01}:
    // factors rounded to f32 would drift by about √k·2⁻²⁴ here.
    let (k, mut chain, mut xs) = (10_000, LogSumExp::new(), Vec::new());
    for i in 0..k {
        let top = 0.01 * (i - k) as f32 - 4.6;
        let mut piece = LogSumExp::new();
        piece.push(top - 31.99);
        piece.push(top);
        chain.merge(&piece);
        xs.extend([top - 31.99, top]);
    }
    check("chain of carrying merges", &xs, chain.value(), k as usize);

    let mut rng = Rng(41);
    for round in 0..20 {
        let n = 4000 + 997 * round;
        let spread = [1.0, 40.0, 100.0, 1e4][round % 4];
        let xs: Vec<f32> = (0..n).map(|_| (rng.uniform() * spread) as f32).collect();
        // Shifted so that lse is near 0: ½ ulp(lse) is then tiny and the
        // bound is its relative part, which sees errors in s′ of 2⁻²¹.
        let shift = -ref_lse(&xs) as f32;
        let xs: Vec<f32> = xs.iter().map(|&x| x + shift).collect();
        // Pieces pushed in order, so each anchor is its first value and may
        // sit up to 32 below the piece's maximum.
        let mut pieces: Vec<LogSumExp> = xs
            .chunks(1 + rng.below(200))
            .map(|c| {
                let mut state = LogSumExp::new();
                c.iter().for_each(|&x| state.push(x));
                state
            })
            .collect();
        let mut merges = 0;
        while pieces.len() > 1 {
            let b = pieces.swap_remove(rng.below(pieces.len()));
            let a = rng.below(pieces.len());
            pieces[a].merge(&b);
            merges += 1;
        }
        check(
            &format!("merge tree {round}"),
            &xs,
            pieces[0].value(),
            merges,
        );
    }
}

// ---- softmax and log_softmax ---------------------------------------------

/// Reference softmax in f64 with the limits of `docs/contract.md`.
fn ref_softmax(xs: &[f32]) -> Vec<f64> {
    if xs.iter().any(|x| x.is_nan()) {
        return vec![f64::NAN; xs.len()];
    }
    let k = xs.iter().filter(|&&x| x == f32::INFINITY).count();
    if k > 0 {
        return xs
            .iter()
            .map(|&x| {
                if x == f32::INFINITY {
                    1.0 / k as f64
                } else {
                    0.0
                }
            })
            .collect();
    }
    if xs.iter().all(|&x| x == f32::NEG_INFINITY) {
        return vec![0.0; xs.len()];
    }
    let (m, s) = ref_stats(xs);
    xs.iter()
        .map(|&x| (x as f64 - m).exp() / (1.0 + s))
        .collect()
}

/// Checks softmax of one row element by element against the documented
/// bound, and Σp against the sum of those bounds (what the per-element bound
/// implies); returns the largest error as a fraction of its bound and in
/// ULPs.
fn check_softmax(name: &str, xs: &[f32]) -> [f64; 2] {
    let want = ref_softmax(xs);
    let mut got = vec![0.0; xs.len()];
    softmax(xs, &mut got).unwrap();
    let mut in_place = xs.to_vec();
    softmax_in_place(&mut in_place);
    let (mut worst, mut total, mut allowed_total) = ([0.0f64; 2], 0.0f64, 0.0f64);
    for i in 0..xs.len() {
        assert_eq!(
            got[i].to_bits(),
            in_place[i].to_bits(),
            "{name}: in place differs at {i}"
        );
        let (g, w) = (got[i] as f64, want[i]);
        if w.is_nan() {
            assert!(g.is_nan(), "{name}");
            continue;
        }
        assert!((0.0..=1.0).contains(&g), "{name}: p[{i}] = {g}");
        let bound = softmax_allowed(w);
        let err = (g - w).abs();
        assert!(
            err <= bound,
            "{name}: p[{i}] = {g:e} want {w:e} ({:.3} ULP > {:.3})",
            err / ulp(w),
            bound / ulp(w)
        );
        worst[0] = worst[0].max(err / bound);
        worst[1] = worst[1].max(err / ulp(w));
        total += g;
        allowed_total += bound;
    }
    if !want.iter().any(|w| w.is_nan()) && want.iter().any(|&w| w > 0.0) {
        let exact: f64 = want.iter().sum();
        assert!(
            (total - exact).abs() <= allowed_total,
            "{name}: Σp = {total}, beyond Σ of the element bounds {allowed_total:e}"
        );
    }
    worst
}

#[test]
fn softmax_within_bound_and_normalized() {
    let worst = cases()
        .iter()
        .map(|(name, xs)| check_softmax(name, xs))
        .fold([0.0f64; 2], |a, b| [a[0].max(b[0]), a[1].max(b[1])]);
    println!(
        "softmax: max error {:.3} ULP per element, {:.3} of the documented bound",
        worst[1], worst[0]
    );
}

#[test]
fn log_softmax_within_bound() {
    let (mut worst, mut worst_ulp) = (0.0f64, 0.0f64);
    for (name, xs) in cases() {
        let want: Vec<f64> = ref_neg_log_softmax_all(&xs).iter().map(|v| -v).collect();
        let mut got = vec![0.0; xs.len()];
        log_softmax(&xs, &mut got).unwrap();
        let mut in_place = xs.clone();
        log_softmax_in_place(&mut in_place);
        for i in 0..xs.len() {
            assert_eq!(
                got[i].to_bits(),
                in_place[i].to_bits(),
                "{name}: in place differs at {i}"
            );
            let (g, w) = (got[i] as f64, want[i]);
            // Beyond f32's range the correctly rounded result is ±inf.
            if !(w as f32).is_finite() {
                assert!(
                    g == w as f32 as f64 || (g.is_nan() && w.is_nan()),
                    "{name}: {g} vs {w}"
                );
                continue;
            }
            assert!(g <= 0.0, "{name}");
            let (err, bound) = ((g - w).abs(), log_softmax_allowed(w));
            assert!(err <= bound, "{name}: lsm[{i}] = {g:e} want {w:e}");
            worst = worst.max(err / bound);
            worst_ulp = worst_ulp.max(err / ulp(w));
        }
    }
    println!(
        "log_softmax: max error {worst_ulp:.3} ULP per element, {worst:.3} of the documented bound"
    );
}

#[test]
fn softmax_special_values() {
    let inf = f32::INFINITY;
    let mut out = [9.0f32; 4];
    softmax(&[inf, 1.0, inf, -inf], &mut out).unwrap();
    assert_eq!(out, [0.5, 0.0, 0.5, 0.0]);
    softmax(&[-inf; 4], &mut out).unwrap();
    assert_eq!(out, [0.0; 4]);
    softmax(&[1.0, f32::NAN, 2.0, 3.0], &mut out).unwrap();
    assert!(out.iter().all(|p| p.is_nan()));
    log_softmax(&[inf, 1.0, inf, inf], &mut out).unwrap();
    assert_eq!(out[1], -inf);
    let want = -3f64.ln();
    let err = (out[0] as f64 - want).abs();
    assert!(err <= log_softmax_allowed(want), "−ln 3: {}", out[0]);
    log_softmax(&[-inf; 4], &mut out).unwrap();
    assert_eq!(out, [-inf; 4]);
    assert_eq!(
        softmax(&[1.0; 3], &mut out),
        Err(Error::LengthMismatch {
            argument: "out",
            expected: 3,
            found: 4,
            shape: None,
        })
    );
    softmax(&[], &mut []).unwrap();
}

/// −log_softmax(xs) in f64: (m − xᵢ) + ln_1p(s′), which keeps tiny values
/// exact (lse − xᵢ would round them away).
fn ref_neg_log_softmax_all(xs: &[f32]) -> Vec<f64> {
    let lse = ref_lse(xs);
    if lse.is_nan() {
        return vec![f64::NAN; xs.len()];
    }
    if !lse.is_finite() {
        return ref_softmax(xs).iter().map(|p| -p.ln()).collect();
    }
    let (m, s) = ref_stats(xs);
    xs.iter().map(|&x| (m - x as f64) + s.ln_1p()).collect()
}

// ---- class-target cross-entropy --------------------------------------------

/// f64 reference of the integer-target loss and gradient.
fn ref_ce(xs: &[f32], t: usize) -> (f64, Vec<f64>) {
    let p = ref_softmax(xs);
    let lse = ref_lse(xs);
    let loss = ref_neg_log_softmax_all(xs)[t];
    let (m, s) = if lse.is_finite() {
        ref_stats(xs)
    } else {
        (0.0, 0.0)
    };
    let ties = xs.iter().filter(|&&x| x as f64 == m).count();
    let grad = (0..xs.len())
        .map(|i| {
            if i != t {
                p[i]
            } else if lse.is_finite() && xs[t] as f64 == m && ties == 1 {
                -s / (1.0 + s) // p_t − 1 without cancellation
            } else {
                p[i] - 1.0
            }
        })
        .collect();
    (loss, grad)
}

fn targets_for(xs: &[f32]) -> Vec<usize> {
    let n = xs.len();
    let argmax = (0..n).fold(0, |a, i| if xs[i] > xs[a] { i } else { a });
    let argmin = (0..n).fold(0, |a, i| if xs[i] < xs[a] { i } else { a });
    vec![0, n - 1, argmax, argmin, n / 2]
}

/// Checks the class-target loss and gradient of one row against the
/// documented bounds, and Σg against the sum of the element bounds; returns
/// the largest loss and gradient errors as fractions of their bounds and in
/// ULPs.
fn check_ce(name: &str, xs: &[f32], t: usize) -> [f64; 4] {
    let n = xs.len();
    let (want, want_g) = ref_ce(xs, t);
    let mut g = vec![0.0; n];
    let loss = softmax_cross_entropy_with_grad(xs, t, &mut g).unwrap() as f64;
    let loss_only = softmax_cross_entropy(xs, t).unwrap() as f64;
    assert_eq!(
        loss.to_bits(),
        loss_only.to_bits(),
        "{name}: loss-only differs"
    );
    let mut worst = [0.0f64; 4];
    if !(want as f32).is_finite() {
        // Beyond f32's range the correctly rounded loss is +inf.
        assert!(
            loss == want as f32 as f64 || (loss.is_nan() && want.is_nan()),
            "{name} t={t}: {loss} vs {want}"
        );
    } else {
        assert!(loss >= 0.0, "{name}");
        let (err, bound) = ((loss - want).abs(), ce_loss_allowed(want, n));
        assert!(
            err <= bound,
            "{name} t={t}: loss {loss:e} want {want:e} ({:.3} ULP > {:.3})",
            err / ulp(want),
            bound / ulp(want)
        );
        worst[0] = err / bound;
        worst[1] = err / ulp(want);
    }
    let gmax = want_g.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    let (mut gsum, mut allowed_sum) = (0.0, 0.0);
    for i in 0..n {
        let (gi, wi) = (g[i] as f64, want_g[i]);
        if wi.is_nan() {
            assert!(gi.is_nan(), "{name}");
            continue;
        }
        let bound = ce_grad_allowed(wi, gmax, n, i == t);
        let err = (gi - wi).abs();
        let scale = wi.abs().max(2f64.powi(-24) * gmax);
        assert!(
            err <= bound,
            "{name} t={t}: g[{i}] = {gi:e} want {wi:e} ({:.3} ULP of max(|gᵢ|, 2⁻²⁴·max|g|) > {:.3})",
            err / ulp(scale),
            bound / ulp(scale)
        );
        worst[2] = worst[2].max(err / bound);
        worst[3] = worst[3].max(err / ulp(scale));
        gsum += gi - wi;
        allowed_sum += bound;
    }
    // Σg = 0 exactly; the computed gradient's sum within the sum of the
    // element bounds (what they imply), wherever the reference is a number.
    if !want_g.iter().any(|w| w.is_nan()) {
        let exact: f64 = want_g.iter().sum();
        let got: f64 = g.iter().map(|&v| v as f64).sum();
        assert!(
            (got - exact).abs() <= allowed_sum,
            "{name} t={t}: Σg = {got:e} (Σ(g − ref) = {gsum:e}), beyond Σ of the element bounds {allowed_sum:e}"
        );
    }
    worst
}

#[test]
fn cross_entropy_loss_and_grad_within_bound() {
    let mut worst = [0.0f64; 4];
    for (name, xs) in cases() {
        for t in targets_for(&xs) {
            let w = check_ce(&name, &xs, t);
            for k in 0..4 {
                worst[k] = worst[k].max(w[k]);
            }
        }
    }
    println!(
        "softmax_cross_entropy: max loss error {:.3} of the bound ({:.3} ULP), max gradient error {:.3} of the bound ({:.3} ULP of max(|gᵢ|, 2⁻²⁴·max|g|))",
        worst[0], worst[1], worst[2], worst[3]
    );
}

#[test]
fn cross_entropy_special_values() {
    let inf = f32::INFINITY;
    let ln2 = 2f64.ln();
    let mut g = [0.0f32; 3];
    // Target logit −inf: infinite loss, finite gradient.
    let loss = softmax_cross_entropy_with_grad(&[1.0, -inf, 2.0], 1, &mut g).unwrap();
    assert_eq!(loss, inf);
    assert!(g.iter().all(|v| v.is_finite()));
    assert_eq!(g[1], -1.0);
    // Fully masked row.
    let loss = softmax_cross_entropy_with_grad(&[-inf; 3], 2, &mut g).unwrap();
    assert_eq!((loss, g), (inf, [0.0, 0.0, -1.0]));
    // +inf entries take the limit.
    let loss = softmax_cross_entropy_with_grad(&[inf, 0.0, inf], 0, &mut g).unwrap();
    assert!((loss as f64 - ln2).abs() <= ce_loss_allowed(ln2, 3));
    assert_eq!(g, [-0.5, 0.0, 0.5]);
    assert_eq!(
        softmax_cross_entropy_with_grad(&[inf, 0.0, inf], 1, &mut g).unwrap(),
        inf
    );
    // NaN.
    assert!(
        softmax_cross_entropy_with_grad(&[f32::NAN, 0.0, 1.0], 1, &mut g)
            .unwrap()
            .is_nan()
    );
    assert!(g.iter().all(|v| v.is_nan()));
    // Extremes: no overflow.
    let loss = softmax_cross_entropy_with_grad(&[f32::MAX, f32::MAX, f32::MIN], 0, &mut g).unwrap();
    assert!((loss as f64 - ln2).abs() <= ce_loss_allowed(ln2, 3));
    // Errors.
    assert_eq!(
        softmax_cross_entropy_with_grad(&[1.0, 2.0, 3.0], 3, &mut g),
        Err(Error::ClassOutOfRange {
            class: 3,
            classes: 3
        })
    );
    assert_eq!(
        softmax_cross_entropy(&[], 0),
        Err(Error::ClassOutOfRange {
            class: 0,
            classes: 0
        })
    );
    assert_eq!(
        softmax_cross_entropy_with_grad(&[1.0, 2.0], 0, &mut g),
        Err(Error::LengthMismatch {
            argument: "grad",
            expected: 2,
            found: 3,
            shape: None,
        })
    );
}

/// f64 loss for central differences (a different formula from the kernel's
/// and from the references').
fn f64_loss(z: &[f64], t: usize) -> f64 {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln() - z[t]
}

/// The closed-form gradient the kernels are checked against is the
/// derivative of the loss: central differences of an f64 loss (with step h
/// their truncation error is about h²·|∂³L| ≤ h², their rounding about
/// 2⁻⁵²·L/h). The kernels themselves are held to their documented bounds
/// against the closed form, above.
#[test]
fn reference_gradient_matches_finite_differences() {
    let mut rng = Rng(99);
    for n in [2usize, 3, 5, 8, 13] {
        for _ in 0..20 {
            let xs: Vec<f32> = (0..n).map(|_| (rng.normal() * 3.0) as f32).collect();
            let t = rng.below(n);
            let (_, want_g) = ref_ce(&xs, t);
            let z: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
            for i in 0..n {
                let h = 1e-5;
                let (mut a, mut b) = (z.clone(), z.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (f64_loss(&a, t) - f64_loss(&b, t)) / (2.0 * h);
                assert!(
                    (fd - want_g[i]).abs() <= 1e-8,
                    "n={n} i={i}: fd {fd} vs {}",
                    want_g[i]
                );
            }
        }
    }
}

// ---- probability targets -----------------------------------------------------

/// Checks a probability target's loss and gradient against the documented
/// bounds; returns the largest loss and gradient errors as fractions of
/// their bounds and in ULPs.
fn check_probs(name: &str, xs: &[f32], q: &[f32]) -> [f64; 4] {
    let n = xs.len();
    let mut g = vec![0.0; n];
    let loss = softmax_cross_entropy_probs_with_grad(xs, q, &mut g).unwrap() as f64;
    let loss_only = softmax_cross_entropy_probs(xs, q).unwrap() as f64;
    assert_eq!(loss.to_bits(), loss_only.to_bits(), "{name}: loss-only");
    let p = ref_softmax(xs);
    let mass: f64 = q.iter().map(|&v| v as f64).sum();
    // −Σ q log p with 0·inf = 0.
    let want: f64 = if xs.iter().any(|x| x.is_nan()) {
        f64::NAN
    } else {
        let nls = ref_neg_log_softmax_all(xs);
        (0..n)
            .filter(|&i| q[i] > 0.0)
            .map(|i| q[i] as f64 * nls[i])
            .sum()
    };
    let mut worst = [0.0f64; 4];
    if !(want as f32).is_finite() {
        assert!(
            loss == want as f32 as f64 || (loss.is_nan() && want.is_nan()),
            "{name}: {loss} vs {want}"
        );
    } else {
        let (err, bound) = ((loss - want).abs(), probs_loss_allowed(want, n, mass));
        assert!(
            err <= bound,
            "{name}: loss {loss:e} vs {want:e} ({:.3} ULP > {:.3})",
            err / ulp(want),
            bound / ulp(want)
        );
        worst[0] = err / bound;
        worst[1] = err / ulp(want);
    }
    for i in 0..n {
        let (p_mass, qi) = (p[i] * mass, q[i] as f64);
        let w = p_mass - qi;
        if w.is_nan() {
            continue;
        }
        let bound = probs_grad_allowed(w, p_mass, qi, n, mass);
        let err = (g[i] as f64 - w).abs();
        let scale = w.abs().max(p_mass).max(qi);
        assert!(
            err <= bound,
            "{name}: g[{i}] {:e} vs {w:e} ({:.3} ULP of max(|gᵢ|, pᵢ·Σq, qᵢ) > {:.3})",
            g[i],
            err / ulp(scale),
            bound / ulp(scale)
        );
        worst[2] = worst[2].max(err / bound);
        worst[3] = worst[3].max(err / ulp(scale));
    }
    worst
}

#[test]
fn probability_target_within_bound() {
    let mut rng = Rng(3);
    let mut worst = [0.0f64; 4];
    let mut keep = |w: [f64; 4]| {
        for k in 0..4 {
            worst[k] = worst[k].max(w[k]);
        }
    };
    for (name, xs) in cases().into_iter().filter(|(_, x)| x.len() <= 4097) {
        let n = xs.len();
        // A random distribution, with zeros on some classes.
        let mut q: Vec<f32> = (0..n)
            .map(|_| {
                if rng.uniform() < 0.3 {
                    0.0
                } else {
                    rng.uniform() as f32
                }
            })
            .collect();
        let qs: f32 = q.iter().sum();
        if qs > 0.0 {
            q.iter_mut().for_each(|v| *v /= qs);
        }
        keep(check_probs(&name, &xs, &q));
    }
    for (name, xs, q) in lossy_targets() {
        keep(check_probs(&name, &xs, &q));
    }
    println!(
        "softmax_cross_entropy_probs: max loss error {:.3} of the bound ({:.3} ULP), max gradient error {:.3} of the bound ({:.3} ULP of max(|gᵢ|, pᵢ·Σq, qᵢ))",
        worst[0], worst[1], worst[2], worst[3]
    );
    // A zero weight on a −inf logit contributes nothing; a positive one is +inf.
    let mut g = [0.0f32; 3];
    let inf = f32::INFINITY;
    assert!(
        softmax_cross_entropy_probs_with_grad(&[0.0, -inf, 1.0], &[0.5, 0.0, 0.5], &mut g)
            .unwrap()
            .is_finite()
    );
    assert_eq!(
        softmax_cross_entropy_probs_with_grad(&[0.0, -inf, 1.0], &[0.5, 0.1, 0.4], &mut g).unwrap(),
        inf
    );
    assert_eq!(
        softmax_cross_entropy_probs(&[0.0, 1.0], &[-0.1, 1.1]),
        Err(Error::InvalidParameter { name: "probs" })
    );
}

// ---- backward products -------------------------------------------------------

/// Upstream gradients for the backward products: standard normal, constant
/// (g − ⟨g, p⟩ cancels), one-hot, large, and mixed magnitudes whose sums
/// cancel.
fn upstream(rng: &mut Rng, n: usize) -> Vec<(&'static str, Vec<f32>)> {
    let mut out = vec![
        ("N(0,1)", (0..n).map(|_| rng.normal() as f32).collect()),
        ("constant", vec![0.3f32; n]),
        (
            "one-hot",
            (0..n).map(|i| if i == n / 2 { 1.0 } else { 0.0 }).collect(),
        ),
        (
            "N(0,1e20)",
            (0..n).map(|_| (rng.normal() * 1e20) as f32).collect(),
        ),
    ];
    let cancelling: Vec<f32> = (0..n)
        .map(|i| {
            let v = (rng.normal() * 10f64.powi(rng.below(12) as i32 - 6)) as f32;
            if i % 2 == 0 { v } else { -v }
        })
        .collect();
    out.push(("cancelling", cancelling));
    out
}

#[test]
fn backward_products_within_bound() {
    let mut rng = Rng(11);
    let (mut worst_s, mut worst_l) = (0.0f64, 0.0f64);
    for (name, xs) in cases() {
        let n = xs.len();
        let mut p = vec![0.0; n];
        softmax(&xs, &mut p).unwrap();
        let mut lp = vec![0.0; n];
        log_softmax(&xs, &mut lp).unwrap();
        if p.iter().any(|v| v.is_nan()) {
            continue;
        }
        for (gname, g) in upstream(&mut rng, n) {
            let mut out = vec![0.0; n];
            softmax_backward(&p, &g, &mut out).unwrap();
            let dot: f64 = (0..n).map(|i| p[i] as f64 * g[i] as f64).sum();
            let dot_abs: f64 = (0..n).map(|i| (p[i] as f64 * g[i] as f64).abs()).sum();
            for i in 0..n {
                let want = p[i] as f64 * (g[i] as f64 - dot);
                let bound = softmax_backward_allowed(want, p[i] as f64, dot, dot_abs, n);
                let err = (out[i] as f64 - want).abs();
                assert!(
                    err <= bound,
                    "softmax_backward {name}, g {gname}, i={i}: {:e} want {want:e} (allowed {bound:e})",
                    out[i]
                );
                worst_s = worst_s.max(err / bound);
            }
            log_softmax_backward(&lp, &g, &mut out).unwrap();
            let total: f64 = g.iter().map(|&v| v as f64).sum();
            let total_abs: f64 = g.iter().map(|&v| (v as f64).abs()).sum();
            for i in 0..n {
                let pi = (lp[i] as f64).exp();
                let want = g[i] as f64 - pi * total;
                let bound = log_softmax_backward_allowed(want, pi, total, total_abs);
                let err = (out[i] as f64 - want).abs();
                assert!(
                    err <= bound,
                    "log_softmax_backward {name}, g {gname}, i={i}: {:e} want {want:e} (allowed {bound:e})",
                    out[i]
                );
                worst_l = worst_l.max(err / bound);
            }
        }
    }
    println!(
        "softmax_backward: max error {worst_s:.3} of the bound; log_softmax_backward: {worst_l:.3} of the bound"
    );
    let mut out = [0.0f32; 2];
    assert!(softmax_backward(&[0.5, 0.5], &[1.0], &mut out).is_err());
    assert!(log_softmax_backward(&[0.5, 0.5], &[1.0, 1.0], &mut out[..1]).is_err());
}

// ---- batches -------------------------------------------------------------------

/// One row of [`ref_batch`]: its target distribution q, Σq, loss
/// −Σ qᵢ·log_softmaxᵢ and unscaled gradient softmax·Σq − q.
struct RowRef {
    ignored: bool,
    q: Vec<f64>,
    mass: f64,
    loss: f64,
    p_mass: Vec<f64>,
    grad: Vec<f64>,
}

/// PyTorch's `cross_entropy` with class weights w, label smoothing ε and an
/// ignore index, written out in f64: row target distribution
/// qᵢ = (1 − ε)·w_t·[i = t] + (ε/C)·wᵢ, row loss −Σ qᵢ·log_softmaxᵢ (0·inf =
/// 0), gradient (softmax·Σq − q)·f with f = 1/Σ_{rows not ignored} w_t for
/// the mean (0 when that is 0) and 1 for the sum. Returns (reduced loss, f,
/// rows).
fn ref_batch(
    logits: &[f32],
    targets: &[usize],
    o: &CrossEntropyOptions,
) -> (f64, f64, Vec<RowRef>) {
    let c = logits.len() / targets.len();
    let w = |i: usize| o.class_weights.map_or(1.0, |w| w[i] as f64);
    let eps = o.label_smoothing as f64;
    let mut rows = Vec::new();
    let mut denom = 0.0;
    for (r, &t) in targets.iter().enumerate() {
        if o.ignore_index == Some(t as i64) {
            rows.push(RowRef {
                ignored: true,
                q: vec![0.0; c],
                mass: 0.0,
                loss: 0.0,
                p_mass: vec![0.0; c],
                grad: vec![0.0; c],
            });
            continue;
        }
        denom += w(t);
        let row = &logits[r * c..(r + 1) * c];
        let q: Vec<f64> = (0..c)
            .map(|i| (if i == t { (1.0 - eps) * w(t) } else { 0.0 }) + eps / c as f64 * w(i))
            .collect();
        let mass: f64 = q.iter().sum();
        let nls = ref_neg_log_softmax_all(row);
        let loss = (0..c).filter(|&i| q[i] > 0.0).map(|i| q[i] * nls[i]).sum();
        let p_mass: Vec<f64> = ref_softmax(row).iter().map(|p| p * mass).collect();
        let grad = p_mass.iter().zip(&q).map(|(a, b)| a - b).collect();
        rows.push(RowRef {
            ignored: false,
            q,
            mass,
            loss,
            p_mass,
            grad,
        });
    }
    let factor = match o.reduction {
        Reduction::Mean if denom == 0.0 => 0.0,
        Reduction::Mean => 1.0 / denom,
        _ => 1.0,
    };
    let total: f64 = rows.iter().map(|r| r.loss).sum();
    let loss = if factor == 0.0 { 0.0 } else { total * factor };
    (loss, factor, rows)
}

/// Every option against the f64 definition: the reduced loss, each row's
/// loss and each gradient element within their documented bounds.
fn check_batch(what: &str, logits: &[f32], targets: &[usize], o: &CrossEntropyOptions) -> [f64; 3] {
    let (rows, c) = (targets.len(), logits.len() / targets.len());
    let mut grad = vec![0.0; rows * c];
    let mut per_row = vec![0.0; rows];
    let loss =
        softmax_cross_entropy_batch_with_grad(logits, targets, o, &mut grad, Some(&mut per_row))
            .unwrap() as f64;
    let mut per_row_only = vec![0.0; rows];
    let only =
        softmax_cross_entropy_batch(logits, targets, o, Some(&mut per_row_only)).unwrap() as f64;
    assert_eq!(only.to_bits(), loss.to_bits(), "{what}: loss-only");
    assert_eq!(
        per_row, per_row_only,
        "{what}: per-row losses of the loss-only form"
    );
    let (want, factor, refs) = ref_batch(logits, targets, o);
    let mut worst = [0.0f64; 3];
    // The reduced loss.
    if !(want as f32).is_finite() {
        assert!(
            loss == want as f32 as f64 || (loss.is_nan() && want.is_nan()),
            "{what}: loss {loss} vs {want}"
        );
    } else {
        let underflow: f64 = refs
            .iter()
            .filter(|r| !r.ignored)
            .map(|r| 1.0 + r.mass)
            .sum::<f64>()
            * c as f64
            * common::precision::bound("cross_entropy_batch", "subnormal_log2")
            * factor;
        let (err, bound) = ((loss - want).abs(), batch_loss_allowed(want, underflow));
        assert!(
            err <= bound,
            "{what}: loss {loss:e} vs {want:e} ({:.3} ULP > {:.3})",
            err / ulp(want),
            bound / ulp(want)
        );
        worst[0] = err / bound;
    }
    for (r, row) in refs.iter().enumerate() {
        let g = &grad[r * c..(r + 1) * c];
        if row.ignored {
            assert!(
                per_row[r] == 0.0 && g.iter().all(|&v| v == 0.0),
                "{what}: ignored row {r}"
            );
            continue;
        }
        // Each row's loss within the probability-target bound.
        let got = per_row[r] as f64;
        if !(row.loss as f32).is_finite() {
            assert!(
                got == row.loss as f32 as f64 || (got.is_nan() && row.loss.is_nan()),
                "{what}: row {r} loss {got} vs {}",
                row.loss
            );
        } else {
            let (err, bound) = (
                (got - row.loss).abs(),
                probs_loss_allowed(row.loss, c, row.mass),
            );
            assert!(
                err <= bound,
                "{what}: row {r} loss {got:e} vs {:e} ({:.3} ULP > {:.3})",
                row.loss,
                err / ulp(row.loss),
                bound / ulp(row.loss)
            );
            worst[1] = worst[1].max(err / bound);
        }
        // Each gradient element within the probability-target bound × f.
        for (i, &gi) in g.iter().enumerate() {
            let w = row.grad[i] * factor;
            if w.is_nan() {
                assert!(gi.is_nan(), "{what}: row {r} g[{i}] = {gi}");
                continue;
            }
            let bound = batch_grad_allowed(
                row.grad[i],
                row.p_mass[i],
                row.q[i],
                c,
                row.mass,
                factor,
                "cross_entropy_batch",
            );
            let err = (gi as f64 - w).abs();
            assert!(
                err <= bound,
                "{what}: row {r} (target {}) g[{i}] = {gi:e} want {w:e} (allowed {bound:e})",
                targets[r]
            );
            worst[2] = worst[2].max(err / bound);
        }
    }
    worst
}

#[test]
fn batch_matches_pytorch_definition_within_bound() {
    let mut rng = Rng(5);
    let mut worst = [0.0f64; 3];
    for c in [
        1usize, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 65, 128, 256, 257, 1000,
    ] {
        let mut batch: Vec<Vec<f32>> = adversarial_rows(&mut rng, c)
            .into_iter()
            .map(|(_, row)| row)
            .collect();
        batch.extend(
            lossy_rows()
                .iter()
                .filter(|(_, row)| row.len() == c)
                .map(|(_, row)| row.clone()),
        );
        let logits: Vec<f32> = batch.concat();
        let rows = batch.len();
        let targets: Vec<usize> = batch
            .iter()
            .enumerate()
            .map(|(r, row)| match r % 4 {
                0 => (0..c).fold(0, |a, i| if row[i] > row[a] { i } else { a }),
                1 => 0,
                2 => c - 1,
                _ => rng.below(c),
            })
            .collect();
        // Class weights: none, moderate, and spread over the documented
        // domain (0 or within [2⁻⁶⁰, 2⁶⁰]).
        let moderate: Vec<f32> = (0..c).map(|_| 0.25 + 3.75 * rng.uniform() as f32).collect();
        let spread: Vec<f32> = (0..c)
            .map(|_| match rng.below(5) {
                0 => 0.0,
                _ => 2f32.powi(rng.below(121) as i32 - 60),
            })
            .collect();
        for smoothing in [0.0f32, 0.1, 1.0] {
            for weights in [None, Some(&moderate[..]), Some(&spread[..])] {
                for ignore in [None, Some(targets[0])] {
                    for reduction in [Reduction::Mean, Reduction::Sum] {
                        let o = CrossEntropyOptions {
                            label_smoothing: smoothing,
                            class_weights: weights,
                            ignore_index: ignore.map(|i| i as i64),
                            reduction,
                        };
                        let what = format!(
                            "{rows}×{c} ε={smoothing} {reduction:?} ignore {ignore:?} weights {}",
                            weights.is_some()
                        );
                        let w = check_batch(&what, &logits, &targets, &o);
                        for k in 0..3 {
                            worst[k] = worst[k].max(w[k]);
                        }
                    }
                }
            }
        }
    }
    println!(
        "softmax_cross_entropy_batch: max error of the bound: reduced loss {:.3}, row losses {:.3}, gradient {:.3}",
        worst[0], worst[1], worst[2]
    );
}

/// The f64 definition's closed-form gradient is the derivative of its loss
/// (central differences; the kernel is held to its bound against the
/// closed form in [`batch_matches_pytorch_definition_within_bound`]).
#[test]
fn batch_reference_gradient_matches_finite_differences() {
    let mut rng = Rng(55);
    let weights: Vec<f32> = (0..10).map(|i| 0.5 + i as f32 * 0.25).collect();
    for rows in [1usize, 3, 8] {
        let c = 10;
        let logits: Vec<f32> = (0..rows * c).map(|_| (rng.normal() * 3.0) as f32).collect();
        let targets: Vec<usize> = (0..rows).map(|_| rng.below(c)).collect();
        for smoothing in [0.0f32, 0.1, 1.0] {
            for weighted in [false, true] {
                for reduction in [Reduction::Mean, Reduction::Sum] {
                    let o = CrossEntropyOptions {
                        label_smoothing: smoothing,
                        class_weights: weighted.then_some(&weights[..]),
                        ignore_index: Some(targets[0] as i64).filter(|_| rows > 1),
                        reduction,
                    };
                    let (_, factor, refs) = ref_batch(&logits, &targets, &o);
                    for j in 0..rows * c {
                        let h = 1e-2f32;
                        let (mut a, mut b) = (logits.clone(), logits.clone());
                        a[j] += h;
                        b[j] -= h;
                        let fd = (ref_batch(&a, &targets, &o).0 - ref_batch(&b, &targets, &o).0)
                            / (a[j] as f64 - b[j] as f64);
                        let want = refs[j / c].grad[j % c] * factor;
                        assert!((fd - want).abs() <= 1e-4, "{o:?} j={j}: fd {fd} vs {want}");
                    }
                }
            }
        }
    }
}

#[test]
fn batch_edge_cases() {
    let o = CrossEntropyOptions {
        ignore_index: Some(7),
        ..Default::default()
    };
    let mut grad = [1.0f32; 6];
    // Every target ignored: loss 0, zero gradient.
    assert_eq!(
        softmax_cross_entropy_batch_with_grad(&[1.0; 6], &[7, 7], &o, &mut grad, None),
        Ok(0.0)
    );
    assert_eq!(grad, [0.0; 6]);
    // NaN stays in its row.
    let logits = [1.0, f32::NAN, 0.0, 1.0, 2.0, 3.0];
    let mut per_row = [0.0f32; 2];
    let loss = softmax_cross_entropy_batch_with_grad(
        &logits,
        &[0, 2],
        &Default::default(),
        &mut grad,
        Some(&mut per_row),
    )
    .unwrap();
    assert!(loss.is_nan() && per_row[0].is_nan() && per_row[1].is_finite());
    assert!(grad[..3].iter().all(|g| g.is_nan()) && grad[3..].iter().all(|g| g.is_finite()));
    // Shape and parameter errors, nothing written.
    let d = CrossEntropyOptions::default();
    assert_eq!(
        softmax_cross_entropy_batch_with_grad(&[1.0; 5], &[0, 1], &d, &mut grad[..5], None),
        Err(Error::NotWholeRows { rows: 2, found: 5 })
    );
    let short = softmax_cross_entropy_batch_with_grad(&[1.0; 6], &[0, 1], &d, &mut grad[..5], None);
    assert_eq!(
        short.map_err(|e| e.to_string()),
        Err("grad: expected 6 elements (2 rows × 3 classes), found 5".to_string())
    );
    // Signed targets: a negative target is an error unless it is the ignore
    // index, as PyTorch's −100.
    assert_eq!(
        softmax_cross_entropy_batch(&[0.0; 4], &[-1i64, 0], &d, None),
        Err(Error::InvalidParameter { name: "targets" })
    );
    let pytorch = CrossEntropyOptions {
        ignore_index: Some(-100),
        ..Default::default()
    };
    let signed = softmax_cross_entropy_batch(&[0.0, 1.0, 2.0, 0.0], &[-100i32, 0], &pytorch, None);
    let unsigned = softmax_cross_entropy_batch(&[2.0, 0.0], &[0u8], &d, None);
    assert_eq!(signed.map(f32::to_bits), unsigned.map(f32::to_bits));
    // An empty batch (a variable last batch) is valid with class weights.
    let weighted = CrossEntropyOptions {
        class_weights: Some(&[1.0, 2.0, 3.0]),
        ..Default::default()
    };
    assert_eq!(
        softmax_cross_entropy_batch_with_grad(&[], &[0usize; 0], &weighted, &mut [], None),
        Ok(0.0)
    );
    assert_eq!(
        softmax_cross_entropy_batch(&[], &[0u8; 0], &weighted, Some(&mut [])),
        Ok(0.0)
    );
    // The loss-only form takes no gradient; per-row losses are optional in both.
    assert_eq!(
        softmax_cross_entropy_batch(&[1.0; 6], &[0, 1], &d, Some(&mut [0.0; 3])),
        Err(Error::LengthMismatch {
            argument: "per_row",
            expected: 2,
            found: 3,
            shape: None,
        })
    );
    assert!(matches!(
        softmax_cross_entropy_batch_with_grad(&[1.0; 6], &[0, 3], &d, &mut grad, None),
        Err(Error::ClassOutOfRange {
            class: 3,
            classes: 3
        })
    ));
    let bad = CrossEntropyOptions {
        label_smoothing: 1.5,
        ..Default::default()
    };
    assert_eq!(
        softmax_cross_entropy_batch(&[1.0; 6], &[0, 1], &bad, None),
        Err(Error::InvalidParameter {
            name: "label_smoothing"
        })
    );
    let w = [1.0, -1.0, 1.0];
    let neg = CrossEntropyOptions {
        class_weights: Some(&w),
        ..Default::default()
    };
    assert_eq!(
        softmax_cross_entropy_batch(&[1.0; 6], &[0, 1], &neg, None),
        Err(Error::InvalidParameter {
            name: "class_weights"
        })
    );
    assert_eq!(
        softmax_cross_entropy_batch(&[], &[0usize; 0], &d, None),
        Ok(0.0)
    );
}

#[test]
fn fixed_size_rows_match_slices() {
    let a = [2.0f32, -1.0, 0.5, 8.0, f32::NEG_INFINITY, 3.0, 0.0];
    let v: heapless::Vec<f32, 16> = heapless::Vec::from_slice(&a).unwrap();
    let mut p = [0.0; 7];
    softmax(&a, &mut p).unwrap();
    assert_eq!(a.softmax(), p);
    assert_eq!(&v.softmax()[..], &p[..]);
    log_softmax(&a, &mut p).unwrap();
    assert_eq!(a.log_softmax(), p);
    assert_eq!(&v.log_softmax()[..], &p[..]);
    assert_eq!(a.log_sum_exp().to_bits(), log_sum_exp(&a).to_bits());
    let mut g = [0.0; 7];
    let l = softmax_cross_entropy_with_grad(&a, 3, &mut g).unwrap();
    assert_eq!(a.softmax_cross_entropy_with_grad(3).unwrap(), (l, g));
    let (lv, gv) = v.softmax_cross_entropy_with_grad(3).unwrap();
    assert_eq!((lv, &gv[..]), (l, &g[..]));
    assert_eq!(a.softmax_cross_entropy(3), Ok(l));
    assert!(a.softmax_cross_entropy_with_grad(7).is_err());
}

#[test]
fn random_rows_keep_the_invariants() {
    // Many random rows at random scales: softmax in [0, 1], log_softmax ≤ 0,
    // lse ≥ max, loss ≥ 0 exactly; lse ≤ max + ln n, each element and the
    // sums Σp = 1 and Σg = 0 within the documented bounds.
    let mut rng = Rng(2024);
    for run in 0..3000 {
        let n = 1 + rng.below(70);
        let scale = [1e-3, 1.0, 30.0, 1e4, 1e30][rng.below(5)];
        let xs: Vec<f32> = (0..n).map(|_| (rng.normal() * scale) as f32).collect();
        let name = format!("random row #{run} (n={n}, scale {scale:e})");
        let (m, s) = ref_stats(&xs);
        let lse = log_sum_exp(&xs) as f64;
        let bound = lse_allowed(m + s.ln_1p(), s, n);
        assert!(
            lse >= m && lse <= m + (n as f64).ln() + bound,
            "{name}: lse {lse}"
        );
        check_softmax(&name, &xs);
        let mut lp = vec![0.0; n];
        log_softmax(&xs, &mut lp).unwrap();
        assert!(lp.iter().all(|&v| v <= 0.0), "{name}");
        check_ce(&name, &xs, rng.below(n));
    }
}

/// Rows of `classes` with every kind of row: random spreads, ties, masked
/// entries, and (when `specials`) NaN, +inf and fully masked rows.
fn batch_of_rows(classes: usize, rows: usize, seed: u64, specials: bool) -> Vec<f32> {
    let mut rng = common::Rng(seed);
    let mut xs = Vec::with_capacity(rows * classes);
    for r in 0..rows {
        let spread = [0.5f32, 8.0, 60.0, 200.0][r % 4];
        let mut row: Vec<f32> = (0..classes)
            .map(|_| (rng.uniform() as f32 - 0.5) * spread)
            .collect();
        match (specials, r % 7) {
            (_, 1) if classes > 1 => row[classes - 1] = row[0],
            (_, 2) => row[r % classes] = f32::NEG_INFINITY,
            (true, 3) => row[r % classes] = f32::NAN,
            (true, 4) => row[(r / 2) % classes] = f32::INFINITY,
            (true, 5) => row.fill(f32::NEG_INFINITY),
            _ => {}
        }
        xs.extend(row);
    }
    xs
}

/// Rows of logits uniform in [−8, 8): no special value, every gap to the
/// row's maximum within exp's fast range.
fn ordinary_rows(classes: usize, rows: usize, seed: u64) -> Vec<f32> {
    let mut rng = common::Rng(seed);
    (0..rows * classes)
        .map(|_| (rng.uniform() as f32 - 0.5) * 16.0)
        .collect()
}

fn bits(xs: &[f32]) -> Vec<u32> {
    xs.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn rows_forms_give_the_single_row_bits() {
    for classes in 1..=40 {
        // Rows with special values and wide spreads, and ordinary rows
        // (every group's exponentials on exp's fast path).
        let shapes = [0usize, 1, 3, 8, 17, 33].map(|rows| (rows, false));
        for (rows, ordinary) in shapes.into_iter().chain([(17, true), (33, true)]) {
            let seed = (classes * 1000 + rows) as u64;
            let xs = if ordinary {
                ordinary_rows(classes, rows, seed)
            } else {
                batch_of_rows(classes, rows, seed, true)
            };
            let n = xs.len();
            let (mut out, mut lse) = (vec![0.0f32; n], vec![0.0f32; rows]);
            let mut want = vec![0.0f32; n];
            let what = format!("{rows}×{classes}, ordinary: {ordinary}");

            logitkit::softmax_rows(&xs, classes, &mut out).unwrap();
            for (row, w) in xs.chunks_exact(classes).zip(want.chunks_exact_mut(classes)) {
                logitkit::softmax(row, w).unwrap();
            }
            assert_eq!(bits(&out), bits(&want), "{what}: softmax_rows");
            let mut in_place = xs.clone();
            logitkit::softmax_rows_in_place(&mut in_place, classes).unwrap();
            assert_eq!(
                bits(&in_place),
                bits(&want),
                "{what}: softmax_rows_in_place"
            );

            logitkit::log_softmax_rows(&xs, classes, &mut out).unwrap();
            for (row, w) in xs.chunks_exact(classes).zip(want.chunks_exact_mut(classes)) {
                logitkit::log_softmax(row, w).unwrap();
            }
            assert_eq!(bits(&out), bits(&want), "{what}: log_softmax_rows");
            let mut in_place = xs.clone();
            logitkit::log_softmax_rows_in_place(&mut in_place, classes).unwrap();
            assert_eq!(
                bits(&in_place),
                bits(&want),
                "{what}: log_softmax_rows_in_place"
            );

            logitkit::log_sum_exp_rows(&xs, classes, &mut lse).unwrap();
            let want_lse: Vec<f32> = xs
                .chunks_exact(classes)
                .map(logitkit::log_sum_exp)
                .collect();
            assert_eq!(bits(&lse), bits(&want_lse), "{what}: log_sum_exp_rows");

            let grad_out = batch_of_rows(classes, rows, 7, false);
            let probs = want.iter().map(|&y| logitkit::exp(y)).collect::<Vec<_>>();
            logitkit::softmax_backward_rows(&probs, &grad_out, classes, &mut out).unwrap();
            let zipped = probs
                .chunks_exact(classes)
                .zip(grad_out.chunks_exact(classes));
            for ((p, g), w) in zipped.zip(want.chunks_exact_mut(classes)) {
                logitkit::softmax_backward(p, g, w).unwrap();
            }
            assert_eq!(bits(&out), bits(&want), "{what}: softmax_backward_rows");
        }
    }
}

#[test]
fn short_and_batched_rows_within_bound_against_f64() {
    // The rows forms are checked bit for bit against the single-row forms
    // above; here the short-row path itself against f64, every length.
    for classes in 1..=40 {
        let xs = batch_of_rows(classes, 24, classes as u64, false);
        let mut p = vec![0.0f32; xs.len()];
        let mut lp = vec![0.0f32; xs.len()];
        let mut lse = vec![0.0f32; 24];
        logitkit::softmax_rows(&xs, classes, &mut p).unwrap();
        logitkit::log_softmax_rows(&xs, classes, &mut lp).unwrap();
        logitkit::log_sum_exp_rows(&xs, classes, &mut lse).unwrap();
        for (r, row) in xs.chunks_exact(classes).enumerate() {
            let (m, excess) = ref_stats(row);
            if !m.is_finite() {
                continue; // a fully masked row: special values, tested apart
            }
            let s = 1.0 + excess;
            let want_lse = ref_lse(row);
            let allowed = lse_allowed(want_lse, excess, classes);
            let got = lse[r] as f64;
            assert!(
                (got - want_lse).abs() <= allowed,
                "{classes}: lse {got} vs {want_lse}"
            );
            for (i, &x) in row.iter().enumerate() {
                let want_p = (x as f64 - m).exp() / s;
                let got = p[r * classes + i] as f64;
                let allowed = softmax_allowed(want_p);
                assert!(
                    (got - want_p).abs() <= allowed,
                    "{classes}: p {got} vs {want_p}"
                );
                let want_lp = (x as f64 - m) - s.ln();
                let got = lp[r * classes + i] as f64;
                if want_lp.is_finite() {
                    let allowed = log_softmax_allowed(want_lp);
                    assert!(
                        (got - want_lp).abs() <= allowed,
                        "{classes}: lp {got} vs {want_lp}"
                    );
                }
            }
        }
    }
}

#[test]
fn rows_forms_check_their_shapes() {
    let xs = [0.0f32; 6];
    let mut out = [0.0f32; 6];
    assert_eq!(
        logitkit::softmax_rows(&xs, 4, &mut out),
        Err(Error::RaggedRows {
            classes: 4,
            found: 6
        })
    );
    assert_eq!(
        logitkit::log_sum_exp_rows(&xs, 3, &mut out[..3]),
        Err(Error::LengthMismatch {
            argument: "out",
            expected: 2,
            found: 3,
            shape: Some((2, 3))
        })
    );
    assert!(logitkit::softmax_rows_in_place(&mut out, 0).is_err());
    assert_eq!(logitkit::softmax_rows(&[], 0, &mut []), Ok(()));
    let mut idx = [9usize; 2];
    logitkit::argmax_rows(
        &[1.0, 3.0, 3.0, /* row 2 */ f32::NAN, 5.0, f32::NAN],
        3,
        &mut idx,
    )
    .unwrap();
    assert_eq!(idx, [1, 0]);
    assert_eq!(logitkit::argmax(&[f32::NEG_INFINITY; 3]), Some(0));
    assert!(logitkit::argmax_rows(&xs, 3, &mut idx[..1]).is_err());
}

// ---- probability-target batches ------------------------------------------------

/// PyTorch's `cross_entropy` with a float target, class weights w and label
/// smoothing ε, written out in f64: row target tᵢ = wᵢ·((1 − ε)·qᵢ + ε/C),
/// row loss −Σ tᵢ·log_softmaxᵢ (0·inf = 0; NaN if some tᵢ or logit is NaN),
/// gradient (softmax·Σt − t)·f with f = 1/rows for the mean (PyTorch's
/// mean for probability targets is over the rows, not a weight sum) and 1
/// for the sum. Returns (reduced loss, f, rows).
fn ref_probs_batch(
    logits: &[f32],
    probs: &[f32],
    c: usize,
    o: &CrossEntropyOptions,
) -> (f64, f64, Vec<RowRef>) {
    let rows = logits.len().checked_div(c).unwrap_or(0);
    let w = |i: usize| o.class_weights.map_or(1.0, |w| w[i] as f64);
    let eps = o.label_smoothing as f64;
    let mut out = Vec::new();
    for r in 0..rows {
        let row = &logits[r * c..(r + 1) * c];
        let t: Vec<f64> = (0..c)
            .map(|i| w(i) * ((1.0 - eps) * probs[r * c + i] as f64 + eps / c as f64))
            .collect();
        let mass: f64 = t.iter().sum();
        let nls = ref_neg_log_softmax_all(row);
        // A NaN logit makes the whole row NaN, even where tᵢ = 0 (0·NaN).
        let loss = if t.iter().any(|x| x.is_nan()) || row.iter().any(|x| x.is_nan()) {
            f64::NAN
        } else {
            (0..c).filter(|&i| t[i] > 0.0).map(|i| t[i] * nls[i]).sum()
        };
        let p_mass: Vec<f64> = ref_softmax(row).iter().map(|p| p * mass).collect();
        let grad = p_mass.iter().zip(&t).map(|(a, b)| a - b).collect();
        out.push(RowRef {
            ignored: false,
            q: t,
            mass,
            loss,
            p_mass,
            grad,
        });
    }
    let factor = match o.reduction {
        Reduction::Mean if rows == 0 => 0.0,
        Reduction::Mean => 1.0 / rows as f64,
        _ => 1.0,
    };
    let total: f64 = out.iter().map(|r| r.loss).sum();
    (total * factor, factor, out)
}

/// A loss against its f64 reference: the same special value, or within
/// `bound`; returns the error as a fraction of the bound.
#[track_caller]
fn check_loss_value(what: &str, got: f64, want: f64, bound: f64) -> f64 {
    if !(want as f32).is_finite() {
        assert!(
            got == want as f32 as f64 || (got.is_nan() && want.is_nan()),
            "{what}: loss {got:e} vs {want:e}"
        );
        return 0.0;
    }
    let err = (got - want).abs();
    assert!(
        err <= bound,
        "{what}: loss {got:e} vs {want:e} ({:.3} ULP > {:.3})",
        err / ulp(want),
        bound / ulp(want)
    );
    err / bound
}

/// Every option of the probability-target batch against the f64 definition:
/// the reduced loss, each row's loss and each gradient element within their
/// documented bounds ([cross_entropy_probs_batch]); the loss-only form's
/// bits; with neither weights nor smoothing, each row's bits against the
/// single-row call.
fn check_probs_batch(
    what: &str,
    logits: &[f32],
    probs: &[f32],
    c: usize,
    o: &CrossEntropyOptions,
) -> [f64; 3] {
    let rows = logits.len() / c;
    let mut grad = vec![0.0; rows * c];
    let mut per_row = vec![0.0; rows];
    let loss = softmax_cross_entropy_probs_batch_with_grad(
        logits,
        probs,
        c,
        o,
        &mut grad,
        Some(&mut per_row),
    )
    .unwrap() as f64;
    let mut per_row_only = vec![0.0; rows];
    let only = softmax_cross_entropy_probs_batch(logits, probs, c, o, Some(&mut per_row_only))
        .unwrap() as f64;
    assert_eq!(only.to_bits(), loss.to_bits(), "{what}: loss-only");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&per_row),
        bits(&per_row_only),
        "{what}: per-row losses of the loss-only form"
    );
    if o.class_weights.is_none() && o.label_smoothing == 0.0 {
        for (r, &row_loss) in per_row.iter().enumerate() {
            let span = r * c..(r + 1) * c;
            let mut own = vec![0.0; c];
            let single = softmax_cross_entropy_probs_with_grad(
                &logits[span.clone()],
                &probs[span.clone()],
                &mut own,
            )
            .unwrap();
            assert_eq!(
                row_loss.to_bits(),
                single.to_bits(),
                "{what}: row {r} loss bits"
            );
            if o.reduction == Reduction::Sum {
                assert_eq!(
                    bits(&grad[span]),
                    bits(&own),
                    "{what}: row {r} gradient bits"
                );
            }
        }
    }
    let (want, factor, refs) = ref_probs_batch(logits, probs, c, o);
    let subnormal = common::precision::bound("cross_entropy_probs_batch", "subnormal_log2");
    let mut worst = [0.0f64; 3];
    let underflow = refs.iter().map(|r| 1.0 + r.mass).sum::<f64>() * c as f64 * subnormal * factor;
    worst[0] = check_loss_value(what, loss, want, probs_batch_loss_allowed(want, underflow));
    let nan_free = !logits.iter().chain(probs).any(|x| x.is_nan());
    for (r, row) in refs.iter().enumerate() {
        let what = format!("{what}, row {r}");
        let bound = probs_batch_loss_allowed(row.loss, c as f64 * subnormal * (1.0 + row.mass));
        let err = check_loss_value(&what, per_row[r] as f64, row.loss, bound);
        worst[1] = worst[1].max(err);
        let g = &grad[r * c..(r + 1) * c];
        if nan_free {
            assert!(!g.iter().any(|x| x.is_nan()), "{what}: NaN gradient {g:?}");
        }
        // The documented domain: f·Σt within f32's range.
        let in_domain = factor * row.mass <= f32::MAX as f64;
        if !in_domain {
            continue;
        }
        for (i, &gi) in g.iter().enumerate() {
            let w = row.grad[i] * factor;
            if w.is_nan() {
                assert!(gi.is_nan(), "{what}: g[{i}] = {gi}, want NaN");
                continue;
            }
            let bound = batch_grad_allowed(
                row.grad[i],
                row.p_mass[i],
                row.q[i],
                c,
                row.mass,
                factor,
                "cross_entropy_probs_batch",
            );
            let err = (gi as f64 - w).abs();
            assert!(
                err <= bound,
                "{what}: g[{i}] = {gi:e} want {w:e} (allowed {bound:e}), logits {:?}, target {:?}",
                &logits[r * c..(r + 1) * c],
                row.q
            );
            worst[2] = worst[2].max(err / bound);
        }
    }
    worst
}

/// A probability target for a row, by kind: a random distribution with
/// zeros, one-hot at the argmax, uniform, unnormalized and large, tiny, a
/// weight on every −inf logit, or none there.
fn probs_for(rng: &mut Rng, row: &[f32], kind: usize) -> Vec<f32> {
    let c = row.len();
    let argmax = (0..c).fold(0, |a, i| if row[i] > row[a] { i } else { a });
    match kind % 7 {
        0 => {
            let q: Vec<f32> = (0..c)
                .map(|_| {
                    if rng.uniform() < 0.3 {
                        0.0
                    } else {
                        rng.uniform() as f32
                    }
                })
                .collect();
            let s: f32 = q.iter().sum();
            q.iter().map(|v| if s > 0.0 { v / s } else { *v }).collect()
        }
        1 => (0..c)
            .map(|i| if i == argmax { 1.0 } else { 0.0 })
            .collect(),
        2 => vec![1.0 / c as f32; c],
        3 => (0..c).map(|_| (rng.uniform() * 1e3) as f32).collect(),
        4 => (0..c).map(|_| (rng.uniform() * 1e-30) as f32).collect(),
        5 => row
            .iter()
            .map(|&z| {
                if z == f32::NEG_INFINITY {
                    0.25
                } else {
                    rng.uniform() as f32
                }
            })
            .collect(),
        _ => row
            .iter()
            .map(|&z| {
                if z == f32::NEG_INFINITY {
                    0.0
                } else {
                    rng.uniform() as f32
                }
            })
            .collect(),
    }
}

#[test]
fn probs_batch_matches_pytorch_definition_within_bound() {
    let mut rng = Rng(7);
    let mut worst = [0.0f64; 3];
    for c in [1usize, 2, 3, 7, 8, 15, 16, 17, 33, 64, 65, 257, 1000] {
        let mut batch: Vec<Vec<f32>> = adversarial_rows(&mut rng, c)
            .into_iter()
            .map(|(_, row)| row)
            .collect();
        // +inf logits, and a NaN that must stay in its row.
        let mut inf_row: Vec<f32> = (0..c).map(|_| rng.normal() as f32).collect();
        inf_row[c / 2] = f32::INFINITY;
        batch.push(inf_row);
        let mut nan_row: Vec<f32> = (0..c).map(|_| rng.normal() as f32).collect();
        nan_row[c - 1] = f32::NAN;
        batch.push(nan_row);
        let logits: Vec<f32> = batch.concat();
        let rows = batch.len();
        let probs: Vec<f32> = batch
            .iter()
            .enumerate()
            .flat_map(|(r, row)| probs_for(&mut rng, row, r + c))
            .collect();
        let finite = |r: &usize| batch[*r].iter().all(|x| x.is_finite());
        let finite_rows: Vec<usize> = (0..rows).filter(finite).collect();
        let finite_logits: Vec<f32> = finite_rows.iter().flat_map(|&r| batch[r].clone()).collect();
        let finite_probs: Vec<f32> = finite_rows
            .iter()
            .flat_map(|&r| probs[r * c..(r + 1) * c].to_vec())
            .collect();
        // Class weights: none, moderate, spread over 2^±60 with zeros, huge.
        let moderate: Vec<f32> = (0..c).map(|_| 0.25 + 3.75 * rng.uniform() as f32).collect();
        let spread: Vec<f32> = (0..c)
            .map(|_| match rng.below(5) {
                0 => 0.0,
                _ => 2f32.powi(rng.below(121) as i32 - 60),
            })
            .collect();
        let huge: Vec<f32> = (0..c).map(|_| (rng.uniform() * 1e30) as f32).collect();
        for smoothing in [0.0f32, 0.1, 1.0] {
            for weights in [
                None,
                Some(&moderate[..]),
                Some(&spread[..]),
                Some(&huge[..]),
            ] {
                for reduction in [Reduction::Mean, Reduction::Sum] {
                    let o = CrossEntropyOptions {
                        label_smoothing: smoothing,
                        class_weights: weights,
                        ignore_index: None,
                        reduction,
                    };
                    let what = format!(
                        "{rows}×{c} ε={smoothing} {reduction:?} weights {}",
                        weights.is_some()
                    );
                    let w = check_probs_batch(&what, &logits, &probs, c, &o);
                    // The rows with finite logits alone: a finite reduced loss.
                    let what = format!("{what}, finite rows");
                    let v = check_probs_batch(&what, &finite_logits, &finite_probs, c, &o);
                    for k in 0..3 {
                        worst[k] = worst[k].max(w[k]).max(v[k]);
                    }
                }
            }
        }
        // The NaN stays in its row: every other row's gradient is NaN-free.
        let mut grad = vec![0.0; logits.len()];
        let d = CrossEntropyOptions::default();
        let loss =
            softmax_cross_entropy_probs_batch_with_grad(&logits, &probs, c, &d, &mut grad, None)
                .unwrap();
        assert!(loss.is_nan());
        let nan_rows: Vec<usize> = (0..rows)
            .filter(|r| grad[r * c..(r + 1) * c].iter().any(|x| x.is_nan()))
            .collect();
        assert_eq!(nan_rows, [rows - 1], "c={c}: rows with a NaN gradient");
    }
    // Targets and weights whose products pass f32::MAX: the lanes hold them
    // scaled down, and a mean keeps f·Σt in range.
    for c in [2usize, 9, 40] {
        let rows = 8;
        let logits: Vec<f32> = (0..rows * c).map(|_| rng.normal() as f32).collect();
        let probs: Vec<f32> = (0..rows * c)
            .map(|_| f32::MAX / (2 * c) as f32 * rng.uniform() as f32)
            .collect();
        let weights = vec![8.0f32; c];
        let o = CrossEntropyOptions {
            class_weights: Some(&weights),
            ..Default::default()
        };
        let w = check_probs_batch(
            &format!("{rows}×{c} targets near MAX"),
            &logits,
            &probs,
            c,
            &o,
        );
        worst[2] = worst[2].max(w[2]);
    }
    println!(
        "softmax_cross_entropy_probs_batch: max error of the bound: reduced loss {:.3}, row losses {:.3}, gradient {:.3}",
        worst[0], worst[1], worst[2]
    );
}

/// The f64 definition's closed-form gradient is the derivative of its loss
/// (central differences).
#[test]
fn probs_batch_reference_gradient_matches_finite_differences() {
    let mut rng = Rng(77);
    let weights: Vec<f32> = (0..10).map(|i| 0.5 + i as f32 * 0.25).collect();
    for rows in [1usize, 3] {
        let c = 10;
        let logits: Vec<f32> = (0..rows * c).map(|_| (rng.normal() * 3.0) as f32).collect();
        let probs: Vec<f32> = (0..rows * c).map(|_| rng.uniform() as f32).collect();
        for smoothing in [0.0f32, 0.1, 1.0] {
            for weighted in [false, true] {
                for reduction in [Reduction::Mean, Reduction::Sum] {
                    let o = CrossEntropyOptions {
                        label_smoothing: smoothing,
                        class_weights: weighted.then_some(&weights[..]),
                        ignore_index: None,
                        reduction,
                    };
                    let (_, factor, refs) = ref_probs_batch(&logits, &probs, c, &o);
                    for j in 0..rows * c {
                        let h = 1e-2f32;
                        let (mut a, mut b) = (logits.clone(), logits.clone());
                        a[j] += h;
                        b[j] -= h;
                        let fd = (ref_probs_batch(&a, &probs, c, &o).0
                            - ref_probs_batch(&b, &probs, c, &o).0)
                            / (a[j] as f64 - b[j] as f64);
                        let want = refs[j / c].grad[j % c] * factor;
                        assert!((fd - want).abs() <= 1e-4, "{o:?} j={j}: fd {fd} vs {want}");
                    }
                }
            }
        }
    }
}

#[test]
fn probs_batch_edge_cases_and_errors() {
    let d = CrossEntropyOptions::default();
    let sum = CrossEntropyOptions {
        reduction: Reduction::Sum,
        ..d
    };
    const S: f32 = -12345.0;
    // Each error, and nothing written: (what, logits, probs, classes,
    // options, grad and per-row lengths, the error).
    type Case<'a> = (
        &'a str,
        Vec<f32>,
        Vec<f32>,
        usize,
        CrossEntropyOptions<'a>,
        usize,
        usize,
        Error,
    );
    let cases: Vec<Case> = vec![
        (
            "ragged",
            vec![0.0; 5],
            vec![0.5; 5],
            2,
            d,
            5,
            2,
            Error::RaggedRows {
                classes: 2,
                found: 5,
            },
        ),
        (
            "no classes",
            vec![0.0; 3],
            vec![0.5; 3],
            0,
            d,
            3,
            0,
            Error::RaggedRows {
                classes: 0,
                found: 3,
            },
        ),
        (
            "short probs",
            vec![0.0; 6],
            vec![0.5; 5],
            2,
            d,
            6,
            3,
            Error::LengthMismatch {
                argument: "probs",
                expected: 6,
                found: 5,
                shape: Some((3, 2)),
            },
        ),
        (
            "short grad",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            d,
            5,
            3,
            Error::LengthMismatch {
                argument: "grad",
                expected: 6,
                found: 5,
                shape: Some((3, 2)),
            },
        ),
        (
            "long per_row",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            d,
            6,
            4,
            Error::LengthMismatch {
                argument: "per_row",
                expected: 3,
                found: 4,
                shape: Some((3, 2)),
            },
        ),
        (
            "ignore index",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            CrossEntropyOptions {
                ignore_index: Some(-100),
                ..d
            },
            6,
            3,
            Error::InvalidParameter {
                name: "ignore_index",
            },
        ),
        (
            "negative target",
            vec![0.0; 6],
            vec![0.5, 0.5, 0.5, -1e-30, 0.5, 0.5],
            2,
            d,
            6,
            3,
            Error::InvalidParameter { name: "probs" },
        ),
        (
            "infinite target",
            vec![0.0; 6],
            vec![0.5, 0.5, 0.5, 0.5, 0.5, f32::INFINITY],
            2,
            d,
            6,
            3,
            Error::InvalidParameter { name: "probs" },
        ),
        (
            "smoothing",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            CrossEntropyOptions {
                label_smoothing: 1.5,
                ..d
            },
            6,
            3,
            Error::InvalidParameter {
                name: "label_smoothing",
            },
        ),
        (
            "NaN smoothing",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            CrossEntropyOptions {
                label_smoothing: f32::NAN,
                ..d
            },
            6,
            3,
            Error::InvalidParameter {
                name: "label_smoothing",
            },
        ),
        (
            "weights length",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            CrossEntropyOptions {
                class_weights: Some(&[1.0; 3]),
                ..d
            },
            6,
            3,
            Error::LengthMismatch {
                argument: "class_weights",
                expected: 2,
                found: 3,
                shape: None,
            },
        ),
        (
            "negative weight",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            CrossEntropyOptions {
                class_weights: Some(&[1.0, -1.0]),
                ..d
            },
            6,
            3,
            Error::InvalidParameter {
                name: "class_weights",
            },
        ),
        (
            "infinite weight",
            vec![0.0; 6],
            vec![0.5; 6],
            2,
            CrossEntropyOptions {
                class_weights: Some(&[1.0, f32::INFINITY]),
                ..d
            },
            6,
            3,
            Error::InvalidParameter {
                name: "class_weights",
            },
        ),
    ];
    for (what, z, q, c, o, glen, plen, want) in cases {
        let (mut grad, mut per_row) = (vec![S; glen], vec![S; plen]);
        let got = softmax_cross_entropy_probs_batch_with_grad(
            &z,
            &q,
            c,
            &o,
            &mut grad,
            Some(&mut per_row),
        );
        assert_eq!(got, Err(want), "{what}");
        assert!(
            grad.iter().chain(&per_row).all(|&v| v == S),
            "{what}: written on error"
        );
        if what != "short grad" {
            let only = softmax_cross_entropy_probs_batch(&z, &q, c, &o, Some(&mut per_row));
            assert_eq!(only, Err(want), "{what}: loss-only form");
            assert!(per_row.iter().all(|&v| v == S), "{what}: written on error");
        }
    }
    // Empty batches: loss 0, nothing written; weights are checked against
    // the class count even without rows.
    let weighted = CrossEntropyOptions {
        class_weights: Some(&[1.0, 2.0, 3.0]),
        ..d
    };
    for o in [d, sum, weighted] {
        assert_eq!(
            softmax_cross_entropy_probs_batch_with_grad(&[], &[], 3, &o, &mut [], Some(&mut [])),
            Ok(0.0)
        );
        assert_eq!(
            softmax_cross_entropy_probs_batch(&[], &[], 3, &o, None),
            Ok(0.0)
        );
    }
    assert_eq!(
        softmax_cross_entropy_probs_batch(&[], &[], 0, &d, None),
        Ok(0.0)
    );
    assert!(softmax_cross_entropy_probs_batch(&[], &[], 2, &weighted, None).is_err());
    // A NaN target is not an error: a NaN loss in its row.
    let mut per_row = [0.0; 2];
    let loss = softmax_cross_entropy_probs_batch(
        &[0.0; 4],
        &[0.5, f32::NAN, 0.5, 0.5],
        2,
        &sum,
        Some(&mut per_row),
    )
    .unwrap();
    assert!(loss.is_nan() && per_row[0].is_nan() && per_row[1] == core::f32::consts::LN_2);
    // Masked logits: a zero target there adds nothing; a positive one (or
    // any with ε > 0) makes the row's loss +inf; a fully masked row with a
    // zero target has loss 0 and gradient −t.
    let inf = f32::INFINITY;
    let z = [0.0, -inf, 1.0, /* row 2 */ -inf, -inf, -inf];
    let q = [0.5, 0.0, 0.5, /* row 2 */ 0.0, 0.0, 0.0];
    let mut grad = [0.0; 6];
    let loss =
        softmax_cross_entropy_probs_batch_with_grad(&z, &q, 3, &sum, &mut grad, Some(&mut per_row))
            .unwrap();
    assert!(loss.is_finite() && per_row[1] == 0.0 && grad[1] == 0.0 && grad[3..] == [0.0; 3]);
    let smooth = CrossEntropyOptions {
        label_smoothing: 0.1,
        ..sum
    };
    let loss = softmax_cross_entropy_probs_batch_with_grad(
        &z,
        &q,
        3,
        &smooth,
        &mut grad,
        Some(&mut per_row),
    )
    .unwrap();
    assert!(loss == inf && per_row == [inf, inf]);
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
    // Mean is over rows (PyTorch's probability targets), whatever the weights.
    let w2 = CrossEntropyOptions {
        class_weights: Some(&[2.0, 2.0]),
        ..d
    };
    let mean = softmax_cross_entropy_probs_batch(&[0.0; 6], &[0.5; 6], 2, &w2, None).unwrap();
    assert!(
        (mean - 2.0 * core::f32::consts::LN_2).abs() <= 1e-6,
        "{mean}"
    );
}

/// A masked (−inf) logit adds an exact 0 to every sum and takes nothing
/// from the others, so appending one leaves the other outputs' bits as
/// they were (lengths that fill whole 16-lane vectors, since a partial
/// last vector's lanes depend on the length, and on one side of 4096, where
/// the finishing changes).
/// For a long row it also moves the row from the pass without exp's range
/// test (every x − m above −87) to the pass that tests each vector: both
/// must give the same bits.
#[test]
fn a_masked_logit_changes_no_other_output() {
    let mut rng = common::Rng(0x3a5c);
    for n in [48, 96, 1024, 4080, 4112, 8192, 65_536] {
        for spread in [1.0f32, 20.0, 170.0] {
            let row: Vec<f32> = (0..n)
                .map(|_| (rng.uniform() as f32 - 0.5) * spread)
                .collect();
            let mut masked = row.clone();
            masked.push(f32::NEG_INFINITY);
            let name = format!("n={n} spread {spread}");
            assert_eq!(
                log_sum_exp(&row).to_bits(),
                log_sum_exp(&masked).to_bits(),
                "log_sum_exp {name}"
            );
            let (mut p, mut p_masked) = (vec![0.0; n], vec![0.0; n + 1]);
            softmax(&row, &mut p).unwrap();
            softmax(&masked, &mut p_masked).unwrap();
            assert_eq!(bits(&p), bits(&p_masked[..n]), "softmax {name}");
            assert_eq!(p_masked[n], 0.0);
            log_softmax(&row, &mut p).unwrap();
            log_softmax(&masked, &mut p_masked).unwrap();
            assert_eq!(bits(&p), bits(&p_masked[..n]), "log_softmax {name}");
            let target = n / 3;
            let loss = softmax_cross_entropy_with_grad(&row, target, &mut p).unwrap();
            let loss_masked =
                softmax_cross_entropy_with_grad(&masked, target, &mut p_masked).unwrap();
            assert_eq!(loss.to_bits(), loss_masked.to_bits(), "loss {name}");
            assert_eq!(bits(&p), bits(&p_masked[..n]), "gradient {name}");
        }
    }
}
