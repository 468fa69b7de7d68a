//! One check function per kernel family, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`) and the stable replay of their corpora and
//! regressions (`tests/fuzz_replay.rs`) and the property tests
//! (`tests/properties.rs`). Each takes the fuzzer's bytes,
//! decodes inputs biased toward the values that break numerics
//! ([`input::Input`]), runs the kernels and panics on any violation of the
//! contract: an unexpected `Err` or a missing one, NaN where no input is
//! NaN, a special value other than `docs/contract.md`'s, a broken bound, disagreement
//! with an f64 reference beyond the documented error, or different bits
//! between two paths that must agree.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;

pub mod bce;
pub mod cross_entropy;
pub mod fixed;
pub mod input;
pub mod lane_math;
pub mod log_sum_exp;
pub mod softmax;

/// A family's check of one fuzz input.
pub type Check = fn(&[u8]);

/// The check of each fuzz target, by target name.
pub const TARGETS: [(&str, Check); 6] = [
    ("lane_math", lane_math::check),
    ("log_sum_exp", log_sum_exp::check),
    ("softmax", softmax::check),
    ("cross_entropy", cross_entropy::check),
    ("bce", bce::check),
    ("fixed", fixed::check),
];

/// Panics unless `got` is within `ulps` ULP of the reference `want`, or
/// within `abs` of it (for bounds with an absolute part).
#[track_caller]
pub fn assert_near(what: core::fmt::Arguments, got: f32, want: f64, ulps: f64, abs: f64) {
    let err = common::ulp_error(got, want);
    let close = err <= ulps || (got as f64 - want).abs() <= abs;
    assert!(
        close,
        "{what}: got {got:e} ({:#010x}), want {want:e}: {err:.3} ULP > {ulps} and |Δ| > {abs:e}",
        got.to_bits()
    );
}

/// Panics unless the two slices hold identical bits.
#[track_caller]
pub fn assert_same_bits(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(
            x.to_bits(),
            y.to_bits(),
            "{what}: element {i} differs: {x:e} vs {y:e}"
        );
    }
}

/// An optional output of a loss: an empty buffer stands for `None` (not
/// requested), so the decoded inputs of the committed corpora keep their
/// meaning.
pub fn requested(buf: &mut [f32]) -> Option<&mut [f32]> {
    if buf.is_empty() { None } else { Some(buf) }
}

/// The loss-only form of a kernel returns the same bits as the
/// with-gradient form.
#[track_caller]
pub fn assert_same_loss(with_grad: f32, loss_only: Result<f32, logitkit::Error>) {
    let loss_only = loss_only.expect("the loss-only form accepts a valid call");
    assert!(
        same_loss(with_grad, loss_only),
        "loss-only form differs: {with_grad:e} ({:#x}) vs {loss_only:e} ({:#x})",
        with_grad.to_bits(),
        loss_only.to_bits()
    );
}

/// Losses of a loss-only form and its `_with_grad` form, element by element
/// ([`same_loss`]).
pub fn assert_same_losses(what: &str, with_grad: &[f32], loss_only: &[f32]) {
    assert_eq!(with_grad.len(), loss_only.len(), "{what}: lengths");
    for (i, (&x, &y)) in with_grad.iter().zip(loss_only).enumerate() {
        assert!(
            same_loss(x, y),
            "{what}: element {i} differs: {x:e} vs {y:e}"
        );
    }
}

/// The same bits, or both NaN: the contract (docs/contract.md, "loss-only
/// forms") leaves the payload of a computed NaN loss unspecified (a wasm
/// engine gave 0xffc00000 in one form and 0xffc00001 in the other).
fn same_loss(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

pub fn has_nan(xs: &[f32]) -> bool {
    xs.iter().any(|x| x.is_nan())
}

/// |got − want| on the extended grid of `common::ulp_error` (±inf and
/// values beyond it read as ±2¹²⁸, one ULP past f32::MAX, so a result that
/// rounds to infinity is measured like any other rounding); 0 when both are
/// NaN or the same infinity. The ULP distance times the (power-of-two) ULP,
/// so exact.
pub fn distance(got: f32, want: f64) -> f64 {
    let ulps = common::ulp_error(got, want);
    if ulps == 0.0 || ulps.is_infinite() {
        ulps
    } else {
        ulps * common::ulp(want)
    }
}

/// `got` equals `want` (same infinity, both NaN) or is within `allowed` of
/// it on the extended grid of [`distance`].
pub fn within(got: f32, want: f64, allowed: f64) -> bool {
    let d = distance(got, want);
    d == 0.0 || d <= allowed
}
