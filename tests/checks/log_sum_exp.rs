//! log-sum-exp in one pass, and the streaming state split at arbitrary
//! points, fed by `extend` or `push`, and merged in arbitrary order.

use super::common::{lse_allowed, ref_lse, ref_stats};
use super::input::Input;
use super::{has_nan, within};
use logitkit::{LogSumExp, log_sum_exp};

/// The documented bound of `log_sum_exp` (`[log_sum_exp]` of
/// `docs/precision.toml`, absolute): ½ ulp(lse) + 2⁻²¹·s′/(1+s′) + n·2⁻¹⁴⁹.
pub fn assert_lse(what: &str, xs: &[f32], got: f32) {
    let want = ref_lse(xs);
    if want.is_nan() || want.is_infinite() {
        assert!(
            got.to_bits() == (want as f32).to_bits() || (got.is_nan() && want.is_nan()),
            "{what}: special value {got:e}, want {want:e}"
        );
        return;
    }
    let (m, s) = ref_stats(xs);
    let allowed = lse_allowed(want, s, xs.len());
    let err = super::distance(got, want);
    assert!(
        within(got, want, allowed),
        "{what} of {} values: got {got:e}, want {want:e}, |Δ| {err:e} > {allowed:e}",
        xs.len()
    );
    // max ≤ lse exactly; lse ≤ max + ln n up to the bound.
    let n = xs.len() as f64;
    assert!(got as f64 >= m, "{what}: {got:e} below the max {m:e}");
    assert!(
        got as f64 <= m + n.ln() + allowed,
        "{what}: {got:e} above max + ln n = {:e}",
        m + n.ln()
    );
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let n = input.len();
    let xs = input.row(n);
    let one_pass = log_sum_exp(&xs);
    assert_eq!(one_pass.is_nan(), has_nan(&xs), "NaN contract");
    assert_lse("log_sum_exp", &xs, one_pass);

    // Split at arbitrary points; each piece by extend or one push per value.
    let mut pieces = Vec::new();
    let mut log = Vec::new();
    let mut rest = &xs[..];
    while !rest.is_empty() || pieces.is_empty() {
        let cut = input
            .below(rest.len() + 1)
            .min(if input.flag() { 9 } else { rest.len() });
        let (head, tail) = rest.split_at(cut);
        log.push(format!("piece {}: {head:?}", pieces.len()));
        let mut state = LogSumExp::new();
        if input.flag() {
            state.extend(head);
        } else {
            head.iter().for_each(|&x| state.push(x));
        }
        pieces.push(state);
        rest = tail;
        if pieces.len() > 64 {
            let mut last = LogSumExp::new();
            last.extend(rest);
            pieces.push(last);
            break;
        }
    }
    // Merge in an arbitrary order: repeatedly merge two random pieces.
    while pieces.len() > 1 {
        let i = input.below(pieces.len());
        let b = pieces.swap_remove(i);
        let j = input.below(pieces.len());
        log.push(format!("merge {:?} into {:?}", b, pieces[j]));
        pieces[j].merge(&b);
    }
    let streamed = pieces[0].value();
    assert_eq!(
        streamed.is_nan(),
        has_nan(&xs),
        "streaming NaN contract: {}",
        log.join("; ")
    );
    assert_lse("streaming LogSumExp", &xs, streamed);
    assert_eq!(LogSumExp::new().value(), f32::NEG_INFINITY, "empty state");
}
