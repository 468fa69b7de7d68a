//! Stack use of each kernel family, measured by painting: fill free RAM
//! below the stack pointer with a pattern, call the kernel, and find the
//! lowest word that no longer holds the pattern.

use core::hint::black_box;
use logitkit::{
    BceOptions, CrossEntropyOptions, FixedRow, FocalOptions, LogSumExp, PosWeight, Reduction,
};
use semihosting::println;

const PATTERN: u32 = 0xC0DE_5A17;
/// Painted depth: far more than any kernel needs, and it fits between the
/// statics and the stack of the 16 KiB micro:bit.
const PAINT: usize = 4096;
/// Words just below the stack pointer that `measure` itself may use.
const GUARD: usize = 64;

unsafe extern "C" {
    /// cortex-m-rt's linker script: the first free RAM address after .bss
    /// and .uninit (the heap start; this crate has no heap).
    static __sheap: u32;
}

fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the SP register into a general register; no memory is
    // touched and no flags change.
    unsafe {
        core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// Bytes of stack `f` uses below the caller's stack pointer (including the
/// call into the closure itself).
#[inline(never)]
fn measure(f: &mut dyn FnMut()) -> usize {
    let sp = stack_pointer() & !3;
    let free_start = (&raw const __sheap) as usize;
    let top = sp - GUARD;
    let bottom = top.saturating_sub(PAINT).max((free_start + 3) & !3);
    // SAFETY: [bottom, top) lies between the end of the statics (__sheap)
    // and GUARD bytes below the current stack pointer: memory no live object
    // occupies (the stack grows down into it only during the call below, and
    // there are no interrupts), so writing and then reading it as plain
    // words cannot alias anything. Volatile so the paint is not optimised out.
    unsafe {
        let mut a = bottom;
        while a < top {
            core::ptr::write_volatile(a as *mut u32, PATTERN);
            a += 4;
        }
    }
    f();
    let mut lowest = top;
    // SAFETY: the same region as above, read back after the call.
    unsafe {
        let mut a = bottom;
        while a < top {
            if core::ptr::read_volatile(a as *const u32) != PATTERN {
                lowest = a;
                break;
            }
            a += 4;
        }
    }
    if lowest == bottom {
        println!("stack: the painted {} bytes were all used", top - bottom);
    }
    sp - lowest
}

/// Measures each kernel family on rows of 64 logits and prints a table.
pub fn report() {
    const N: usize = 64;
    let z: [f32; N] = core::array::from_fn(|i| ((i * 37) % 23) as f32 * 0.7 - 8.0);
    let y: [f32; N] = core::array::from_fn(|i| (i % 3 == 0) as u8 as f32);
    let mut out = [0.0f32; N];
    let mut grad = [0.0f32; N];
    let mut per = [0.0f32; N];
    let baseline = measure(&mut || {
        black_box(&z);
    });
    println!("| kernel family (n = {}) | stack bytes |", N);
    println!("|---|---|");
    let row = |name: &str, f: &mut dyn FnMut()| {
        let used = measure(f);
        println!("| {} | {} |", name, used.saturating_sub(baseline));
    };
    row("exp_in_place", &mut || {
        out = z;
        logitkit::exp_in_place(black_box(&mut out));
    });
    row("ln_into", &mut || {
        black_box(logitkit::ln_into(black_box(&z), &mut out)).ok();
    });
    row("ln_1p_into", &mut || {
        black_box(logitkit::ln_1p_into(black_box(&z), &mut out)).ok();
    });
    row("sigmoid_into", &mut || {
        black_box(logitkit::sigmoid_into(black_box(&z), &mut out)).ok();
    });
    row("softplus_into", &mut || {
        black_box(logitkit::softplus_into(black_box(&z), &mut out)).ok();
    });
    row("log_sum_exp", &mut || {
        black_box(logitkit::log_sum_exp(black_box(&z)));
    });
    row("LogSumExp extend + push + merge", &mut || {
        let mut s = LogSumExp::new();
        s.extend(black_box(&z[..40]));
        let mut t = LogSumExp::new();
        t.push(black_box(z[41]));
        s.merge(&t);
        black_box(s.value());
    });
    row("softmax", &mut || {
        black_box(logitkit::softmax(black_box(&z), &mut out)).ok();
    });
    row("log_softmax", &mut || {
        black_box(logitkit::log_softmax(black_box(&z), &mut out)).ok();
    });
    row("softmax_cross_entropy_with_grad", &mut || {
        black_box(logitkit::softmax_cross_entropy_with_grad(
            black_box(&z),
            black_box(7),
            &mut grad,
        ))
        .ok();
    });
    // The target row lives outside the measured closure, as z does: its
    // 256 bytes are the caller's, not the kernel's.
    let q: [f32; N] = [1.0 / N as f32; N];
    row("softmax_cross_entropy_probs_with_grad", &mut || {
        black_box(logitkit::softmax_cross_entropy_probs_with_grad(
            black_box(&z),
            &q,
            &mut grad,
        ))
        .ok();
    });
    row(
        "softmax_cross_entropy_batch_with_grad (8×8, ε, weights)",
        &mut || {
            let w = [1.0f32, 2.0, 0.5, 1.0, 1.0, 1.0, 3.0, 1.0];
            let opts = CrossEntropyOptions {
                label_smoothing: 0.1,
                class_weights: Some(&w),
                ignore_index: Some(3),
                reduction: Reduction::Mean,
            };
            let targets = [0, 1, 2, 3, 4, 5, 6, 7];
            black_box(logitkit::softmax_cross_entropy_batch_with_grad(
                black_box(&z),
                &targets,
                &opts,
                &mut grad,
                Some(&mut per[..8]),
            ))
            .ok();
        },
    );
    row("bce_with_logits_with_grad", &mut || {
        let opts = BceOptions {
            pos_weight: PosWeight::All(3.5),
            ..Default::default()
        };
        black_box(logitkit::bce_with_logits_with_grad(
            black_box(&z),
            &y,
            &opts,
            &mut grad,
            Some(&mut per),
        ))
        .ok();
    });
    row("sigmoid_focal_loss_with_grad", &mut || {
        black_box(logitkit::sigmoid_focal_loss_with_grad(
            black_box(&z),
            &y,
            &FocalOptions::default(),
            &mut grad,
            Some(&mut per),
        ))
        .ok();
    });
    row(
        "FixedRow [f32; 64]::softmax_cross_entropy_with_grad",
        &mut || {
            black_box(black_box(&z).softmax_cross_entropy_with_grad(black_box(7))).ok();
        },
    );
    println!(
        "(bytes below the caller's frame, minus {} bytes for calling an empty closure)",
        baseline
    );
}
