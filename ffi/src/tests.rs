//! The wrappers' `unsafe` paths, called as C calls them (raw pointers), for
//! Miri: `cargo +nightly miri test` in ffi/ (.ci/steps/ffi.sh runs it under
//! Stacked Borrows and Tree Borrows). The numbers are checked by the C tests
//! (tests/host.c); these check that no call creates overlapping `&`/`&mut`,
//! reads uninitialised memory or writes out of bounds: the in-place case of
//! the `_into` forms, rejected overlaps, `*loss` inside `grad`, the opaque
//! state written into uninitialised memory, copied as bytes and merged with
//! itself.

use core::mem::MaybeUninit;
use core::ptr::{null, null_mut};
use std::vec::Vec;

use crate::*;

const OK: lk_status = lk_status::LK_OK;

#[test]
fn into_forms_in_place_and_overlap() {
    let mut buf: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
    let p = buf.as_mut_ptr();
    // SAFETY: every pointer is into `buf` (12 floats) with the length given,
    // or NULL with length 0, or a rejected NULL / misaligned pointer.
    unsafe {
        // xs == out: the in-place form, one &mut slice.
        assert_eq!(lk_exp_into(p, p, 4), OK);
        assert_eq!(lk_softmax(p, p, 4), OK);
        assert_eq!(lk_log_softmax_rows(p, p, 2, 3), OK);
        // Partial overlaps are refused before any slice exists.
        assert_eq!(lk_ln_into(p, p.add(1), 4), lk_status::LK_OVERLAP);
        assert_eq!(lk_sigmoid_into(p.add(2), p, 4), lk_status::LK_OVERLAP);
        assert_eq!(lk_softmax_rows(p, p.add(3), 2, 3), lk_status::LK_OVERLAP);
        assert_eq!(
            lk_softmax_backward(p, p.add(4), p.add(4), 4),
            lk_status::LK_OVERLAP
        );
        // Adjacent buffers are fine.
        assert_eq!(lk_softplus_into(p, p.add(4), 4), OK);
        assert_eq!(lk_log_sigmoid_backward(p, p.add(4), p.add(8), 4), OK);
        // NULL with length 0, NULL with a length, misaligned.
        assert_eq!(lk_exp_in_place(null_mut(), 0), OK);
        assert_eq!(lk_exp_into(null(), null_mut(), 0), OK);
        assert_eq!(lk_exp_into(null(), p, 3), lk_status::LK_NULL_POINTER);
        let odd = p.cast::<u8>().add(1).cast::<f32>();
        assert_eq!(lk_exp_into(p, odd, 2), lk_status::LK_INVALID_PARAMETER);
    }
}

#[test]
fn streaming_state_in_uninitialised_and_copied_memory() {
    let xs = [1.0f32, -3.0, 7.5, 2.0, 0.25];
    let mut value = 0.0f32;
    let mut a = MaybeUninit::<lk_log_sum_exp_state>::uninit();
    let mut b = MaybeUninit::<lk_log_sum_exp_state>::uninit();
    let (pa, pb) = (a.as_mut_ptr(), b.as_mut_ptr());
    // SAFETY: `pa`, `pb` and `c` are writable, aligned state buffers, read
    // only after lk_lse_init; `xs` has the lengths given.
    unsafe {
        assert_eq!(lk_lse_init(pa), OK);
        assert_eq!(lk_lse_extend(pa, xs.as_ptr(), 2), OK);
        assert_eq!(lk_lse_init(pb), OK);
        for &x in &xs[2..] {
            assert_eq!(lk_lse_push(pb, x), OK);
        }
        assert_eq!(lk_lse_merge(pa, pb), OK);
        // A byte copy, as C's `=` or memcpy makes, is a valid state.
        let mut c = MaybeUninit::<lk_log_sum_exp_state>::uninit();
        core::ptr::copy_nonoverlapping(pa, c.as_mut_ptr(), 1);
        assert_eq!(lk_lse_value(c.as_ptr(), &mut value), OK);
        let mut want = 0.0f32;
        assert_eq!(lk_log_sum_exp(xs.as_ptr(), xs.len(), &mut want), OK);
        assert!((value - want).abs() <= 1e-6);
        // Merging a state with itself: `other == state`.
        assert_eq!(lk_lse_merge(pa, pa), OK);
        assert_eq!(lk_lse_value(pa, &mut value), OK);
        assert!((value - (want + core::f32::consts::LN_2)).abs() <= 1e-5);
        assert_eq!(lk_lse_value(pa, null_mut()), lk_status::LK_NULL_POINTER);
        assert_eq!(lk_lse_push(null_mut(), 1.0), lk_status::LK_NULL_POINTER);
    }
}

#[test]
fn losses_with_optional_outputs_options_and_loss_inside_grad() {
    let logits = [2.0f32, 1.0, 0.1, 0.0, 5.0, 0.0];
    let labels = [1.0f32, 0.0, 1.0, 0.5, 0.0, 1.0];
    let targets = [0usize, 1];
    let weights = [1.0f32, 2.0, 0.5];
    let mut grad = [0.0f32; 6];
    let mut per = [0.0f32; 6];
    let mut loss = 0.0f32;
    let g = grad.as_mut_ptr();
    // SAFETY: every buffer has the length given (6 elements, rows of 3,
    // 3 classes), options point to live structs or are NULL.
    unsafe {
        // *loss inside grad: written after the gradient slice is dead.
        let s = lk_softmax_cross_entropy_with_grad(logits.as_ptr(), 3, 0, g, g.add(1));
        assert_eq!(s, OK);
        let s = lk_softmax_cross_entropy_probs_with_grad(
            logits.as_ptr(),
            labels.as_ptr(),
            3,
            g,
            &mut loss,
        );
        assert_eq!(s, OK);
        let options = lk_cross_entropy_options {
            label_smoothing: 0.1,
            class_weights: weights.as_ptr(),
            ignore_index: 1,
            reduction: LK_REDUCTION_SUM,
        };
        let s = lk_softmax_cross_entropy_batch_with_grad(
            logits.as_ptr(),
            6,
            targets.as_ptr(),
            2,
            &options,
            g,
            per.as_mut_ptr(),
            &mut loss,
        );
        assert_eq!(s, OK);
        // grad overlapping the class weights, per_row inside grad: refused.
        let bad = lk_cross_entropy_options {
            class_weights: g.add(1),
            ..options
        };
        let s = lk_softmax_cross_entropy_batch_with_grad(
            logits.as_ptr(),
            6,
            targets.as_ptr(),
            2,
            &bad,
            g,
            null_mut(),
            &mut loss,
        );
        assert_eq!(s, lk_status::LK_OVERLAP);
        let s = lk_softmax_cross_entropy_batch(
            logits.as_ptr(),
            6,
            targets.as_ptr(),
            2,
            null(),
            g.add(1),
            &mut loss,
        );
        assert_eq!(s, OK);
        let bce = lk_bce_options {
            pos_weight_kind: LK_POS_WEIGHT_PER_OUTPUT,
            pos_weight: 1.0,
            pos_weights: weights.as_ptr(),
            num_pos_weights: 3,
            weights: labels.as_ptr(),
            label_smoothing: 0.25,
            reduction: LK_REDUCTION_MEAN,
        };
        let s = lk_bce_with_logits_with_grad(
            logits.as_ptr(),
            labels.as_ptr(),
            6,
            &bce,
            g,
            per.as_mut_ptr(),
            &mut loss,
        );
        assert_eq!(s, OK);
        let s = lk_bce_with_logits(logits.as_ptr(), labels.as_ptr(), 6, null(), g, g);
        assert_eq!(s, OK); // per_element = grad, *loss = grad[0]: allowed
        let focal = lk_focal_options {
            gamma: 2.0,
            has_alpha: true,
            alpha: 0.25,
            reduction: LK_REDUCTION_SUM,
        };
        let s = lk_sigmoid_focal_loss_with_grad(
            logits.as_ptr(),
            labels.as_ptr(),
            6,
            &focal,
            g,
            g.add(2),
            &mut loss,
        );
        assert_eq!(s, lk_status::LK_OVERLAP);
        let s = lk_sigmoid_focal_loss(
            logits.as_ptr(),
            labels.as_ptr(),
            6,
            &focal,
            null_mut(),
            &mut loss,
        );
        assert_eq!(s, OK);
        assert_eq!(
            lk_softmax_cross_entropy(null(), 0, 0, &mut loss),
            lk_status::LK_CLASS_OUT_OF_RANGE
        );
    }
}
