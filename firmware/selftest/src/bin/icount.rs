//! Executed instructions of the fused softmax cross-entropy with gradient,
//! for `tools/icount.sh`: the row of 16, the row of 1040 logits and a batch
//! of 100 rows of 10 classes (default options, then label smoothing and
//! class weights) run between calls to `icount_mark`, whose
//! address the script finds in the ELF and uses to cut QEMU's
//! one-instruction-per-block execution trace.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use semihosting::{println, process};

const LONG: usize = 1040;
const SHORT: usize = 16;
/// The batch: rows of a 10-class head.
const CLASSES: usize = 10;
const ROWS: usize = 100;
/// The probability-target row's length.
const PROBS: usize = 256;

/// A boundary in the trace; never inlined, so it has one address.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn icount_mark(segment: u32) {
    black_box(segment);
}

#[entry]
fn main() -> ! {
    // Logits spread over [-8, 8) from a fixed integer sequence, built
    // before the first mark so their construction is not counted.
    let mut logits = [0.0f32; LONG];
    for (i, z) in logits.iter_mut().enumerate() {
        *z = (i.wrapping_mul(2_654_435_761) % 1024) as f32 / 64.0 - 8.0;
    }
    let mut grad = [0.0f32; LONG];
    let t = black_box(7);
    icount_mark(0);
    let short = logitkit::softmax_cross_entropy_with_grad(
        black_box(&logits[..SHORT]),
        t,
        &mut grad[..SHORT],
    );
    icount_mark(1);
    let long = logitkit::softmax_cross_entropy_with_grad(black_box(&logits), t, &mut grad);
    icount_mark(2);
    let mut targets = [0u8; ROWS];
    for (r, t) in targets.iter_mut().enumerate() {
        *t = (r * 7 % CLASSES) as u8;
    }
    let options = logitkit::CrossEntropyOptions::default();
    let logits = &logits[..ROWS * CLASSES];
    icount_mark(3);
    let batch = logitkit::softmax_cross_entropy_batch_with_grad(
        black_box(logits),
        black_box(&targets[..]),
        &options,
        &mut grad[..ROWS * CLASSES],
        None,
    );
    icount_mark(4);
    // The same batch with label smoothing and class weights: on one-lane
    // builds every row runs the kernel for targets other than a plain class.
    let weights = [0.5f32, 1.0, 2.0, 1.0, 0.25, 1.0, 3.0, 1.0, 1.0, 0.75];
    let smoothed = logitkit::CrossEntropyOptions {
        label_smoothing: 0.1,
        class_weights: Some(&weights),
        ..Default::default()
    };
    icount_mark(5);
    let smoothed_batch = logitkit::softmax_cross_entropy_batch_with_grad(
        black_box(logits),
        black_box(&targets[..]),
        &smoothed,
        &mut grad[..ROWS * CLASSES],
        None,
    );
    icount_mark(6);
    // A probability target over a row of PROBS logits: the logits'
    // neighbours' weights 1..=4, normalized.
    let mut probs = [0.0f32; PROBS];
    for (i, p) in probs.iter_mut().enumerate() {
        *p = (i % 4 + 1) as f32 / (2.5 * PROBS as f32);
    }
    icount_mark(7);
    let probs_row = logitkit::softmax_cross_entropy_probs_with_grad(
        black_box(&logits[..PROBS]),
        black_box(&probs[..]),
        &mut grad[..PROBS],
    );
    icount_mark(8);
    println!(
        "n={} loss={:?}; n={} loss={:?}; {}x{} batch loss={:?}, smoothed and weighted {:?}; probability row {:?}",
        SHORT, short, LONG, long, ROWS, CLASSES, batch, smoothed_batch, probs_row
    );
    let ok = short.is_ok()
        && long.is_ok()
        && batch.is_ok()
        && smoothed_batch.is_ok()
        && probs_row.is_ok();
    process::exit(if ok { 0 } else { 1 })
}
