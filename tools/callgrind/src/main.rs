//! One kernel, 100 calls over a batch of 256 rows of C logits (uniform in
//! [−8, 8) from a fixed LCG, or [−SPREAD/2, SPREAD/2)): `logitkit-callgrind KERNEL C [R]`
//! (R: time R rounds and print the fastest). Run under
//! `valgrind --tool=callgrind` by `tools/callgrind.sh`, which divides the
//! instruction count by 100·256·C. Setup costs about 0.2 instructions per
//! logit, the same for every kernel.

use std::hint::black_box;

const ROWS: usize = 256;
const CALLS: usize = 100;

fn logits(n: usize) -> Vec<f32> {
    // SPREAD=40 gives [−20, 20), the exp targets' inputs.
    let spread: f32 = std::env::var("SPREAD").map_or(16.0, |s| s.parse().expect("a width"));
    let mut s = 7u64;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * spread
        })
        .collect()
}

/// The stable loop a user would write with `f32::exp`.
fn stable_loop(z: &[f32], t: usize, grad: &mut [f32]) -> f32 {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut s = 0.0f32;
    for (g, &x) in grad.iter_mut().zip(z) {
        *g = (x - m).exp();
        s += *g;
    }
    let inv = 1.0 / s;
    for g in grad.iter_mut() {
        *g *= inv;
    }
    grad[t] -= 1.0;
    m + s.ln() - z[t]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kernel = args.get(1).map_or("batch", String::as_str);
    let classes: usize = args
        .get(2)
        .map_or(10, |s| s.parse().expect("a class count"));
    let z = logits(ROWS * classes);
    let targets: Vec<usize> = (0..ROWS).map(|r| (r * 7) % classes).collect();
    let mut grad = vec![0.0f32; ROWS * classes];
    let mut per_row = vec![0.0f32; ROWS];
    let plain = logitkit::CrossEntropyOptions::default();
    let smoothed = logitkit::CrossEntropyOptions {
        label_smoothing: 0.1,
        ..Default::default()
    };
    // Class weights 1, 1.5, 2, 1, ...: the weighted batch's per-group
    // lookups.
    let class_weights: Vec<f32> = (0..classes).map(|c| 1.0 + (c % 3) as f32 * 0.5).collect();
    let weighted = logitkit::CrossEntropyOptions {
        class_weights: Some(&class_weights),
        ..Default::default()
    };
    let labels: Vec<f32> = (0..z.len()).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let mask: Vec<f32> = (0..z.len()).map(|i| (i % 7 != 0) as u8 as f32).collect();
    // Soft labels (distillation targets): 0.05, 0.35, 0.65, 0.95, ...
    let soft_labels: Vec<f32> = (0..z.len()).map(|i| 0.05 + (i % 4) as f32 * 0.3).collect();
    let rows = || z.chunks(classes).zip(&targets);
    // Positive inputs for the logarithms: e^{x} of the logits.
    let positive: Vec<f32> = z.iter().map(|x| x.exp()).collect();
    // An optional third argument R times R rounds of the 100 calls and
    // prints the fastest round in ns per logit: on a shared machine the
    // minimum moves far less than a mean.
    let rounds: usize = args.get(3).map_or(1, |s| s.parse().expect("a round count"));
    let mut fastest = f64::INFINITY;
    let mut acc = 0.0f32;
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        for _ in 0..CALLS {
            match kernel {
                "batch" => {
                    acc += logitkit::softmax_cross_entropy_batch_with_grad(
                        black_box(&z),
                        &targets,
                        &plain,
                        &mut grad,
                        None,
                    )
                    .expect("valid batch")
                }
                "batch_weighted" => {
                    acc += logitkit::softmax_cross_entropy_batch_with_grad(
                        black_box(&z),
                        &targets,
                        &weighted,
                        &mut grad,
                        None,
                    )
                    .expect("valid batch")
                }
                "batch_smoothed" => {
                    acc += logitkit::softmax_cross_entropy_batch_with_grad(
                        black_box(&z),
                        &targets,
                        &smoothed,
                        &mut grad,
                        None,
                    )
                    .expect("valid batch")
                }
                "row_calls" => {
                    for ((row, &t), g) in rows().zip(grad.chunks_mut(classes)) {
                        acc += logitkit::softmax_cross_entropy_with_grad(black_box(row), t, g)
                            .expect("valid row")
                    }
                }
                "stable_loop" => {
                    for ((row, &t), g) in rows().zip(grad.chunks_mut(classes)) {
                        acc += stable_loop(black_box(row), t, g)
                    }
                }
                "softmax_calls" => {
                    for (row, g) in z.chunks(classes).zip(grad.chunks_mut(classes)) {
                        logitkit::softmax(black_box(row), g).expect("same length")
                    }
                }
                "softmax_rows" => {
                    logitkit::softmax_rows(black_box(&z), classes, &mut grad).expect("whole rows")
                }
                "log_softmax_rows" => logitkit::log_softmax_rows(black_box(&z), classes, &mut grad)
                    .expect("whole rows"),
                "log_sum_exp_rows" => {
                    logitkit::log_sum_exp_rows(black_box(&z), classes, &mut per_row)
                        .expect("whole rows");
                    acc += per_row[0];
                }
                "bce" | "bce_soft" => {
                    let y = if kernel == "bce" {
                        &labels
                    } else {
                        &soft_labels
                    };
                    acc += logitkit::bce_with_logits_with_grad(
                        black_box(&z),
                        y,
                        &Default::default(),
                        &mut grad,
                        None,
                    )
                    .expect("same length")
                }
                "bce_pos_weight" | "bce_pos_weight_classes" | "bce_masked" => {
                    // A pos_weight of 3; one pos_weight per class, broadcast
                    // over the rows (PyTorch's `pos_weight` of shape [C]);
                    // element weights as a mask of missing labels (every
                    // seventh weight 0, the others 1).
                    let options = match kernel {
                        "bce_pos_weight" => logitkit::BceOptions {
                            pos_weight: logitkit::PosWeight::All(3.0),
                            ..Default::default()
                        },
                        "bce_pos_weight_classes" => logitkit::BceOptions {
                            pos_weight: logitkit::PosWeight::PerOutput(&class_weights),
                            ..Default::default()
                        },
                        _ => logitkit::BceOptions {
                            weights: logitkit::ElementWeights::PerElement(&mask),
                            ..Default::default()
                        },
                    };
                    acc += logitkit::bce_with_logits_with_grad(
                        black_box(&z),
                        &labels,
                        &options,
                        &mut grad,
                        None,
                    )
                    .expect("same length")
                }
                "focal" => {
                    acc += logitkit::sigmoid_focal_loss_with_grad(
                        black_box(&z),
                        &labels,
                        &Default::default(),
                        &mut grad,
                        None,
                    )
                    .expect("same length")
                }
                "sigmoid" => logitkit::sigmoid_into(black_box(&z), &mut grad).expect("same length"),
                "softplus" => {
                    logitkit::softplus_into(black_box(&z), &mut grad).expect("same length")
                }
                "log_sigmoid" => {
                    logitkit::log_sigmoid_into(black_box(&z), &mut grad).expect("same length")
                }
                "sigmoid_backward" => logitkit::sigmoid_backward(black_box(&z), &labels, &mut grad)
                    .expect("same length"),
                "softplus_backward" => {
                    logitkit::softplus_backward(black_box(&z), &labels, &mut grad)
                        .expect("same length")
                }
                "exp_pass" => logitkit::exp_into(black_box(&z), &mut grad).expect("same length"),
                // The logarithms, over `positive`.
                "ln_pass" => {
                    logitkit::ln_into(black_box(&positive), &mut grad).expect("same length")
                }
                "ln_1p_pass" => {
                    logitkit::ln_1p_into(black_box(&positive), &mut grad).expect("same length")
                }
                "libm_ln" => {
                    for (g, &x) in grad.iter_mut().zip(black_box(&positive)) {
                        *g = libm::logf(x);
                    }
                }
                "libm_ln_1p" => {
                    for (g, &x) in grad.iter_mut().zip(black_box(&positive)) {
                        *g = libm::log1pf(x);
                    }
                }
                "softmax_whole" => {
                    logitkit::softmax(black_box(&z), &mut grad).expect("same length")
                }
                "log_softmax_whole" => {
                    logitkit::log_softmax(black_box(&z), &mut grad).expect("same length")
                }
                "ce_whole" => {
                    acc += logitkit::softmax_cross_entropy_with_grad(black_box(&z), 7, &mut grad)
                        .expect("a valid class")
                }
                "log_sum_exp_whole" => acc += logitkit::log_sum_exp(black_box(&z)),
                "lse_push" => {
                    let mut state = logitkit::LogSumExp::new();
                    black_box(&z).iter().for_each(|&x| state.push(x));
                    acc += state.value()
                }
                "lse_extend" => {
                    // One state extended row by row (chunks of C logits).
                    let mut state = logitkit::LogSumExp::new();
                    black_box(&z)
                        .chunks(classes)
                        .for_each(|row| state.extend(row));
                    acc += state.value()
                }
                "lse_merge" => {
                    // A state per row, built by pushes, merged into one.
                    let mut state = logitkit::LogSumExp::new();
                    for row in black_box(&z).chunks(classes) {
                        let mut part = logitkit::LogSumExp::new();
                        row.iter().for_each(|&x| part.push(x));
                        state.merge(&part);
                    }
                    acc += state.value()
                }
                "libm_exp" => {
                    for (g, &x) in grad.iter_mut().zip(black_box(&z)) {
                        *g = libm::expf(x);
                    }
                }
                "std_exp" => {
                    for (g, &x) in grad.iter_mut().zip(black_box(&z)) {
                        *g = x.exp();
                    }
                }
                other => panic!("unknown kernel {other}"),
            }
            black_box(&mut grad);
        }
        fastest = fastest.min(start.elapsed().as_secs_f64());
    }
    if args.len() > 3 {
        println!(
            "{kernel} {classes}: {:.3} ns/logit",
            fastest * 1e9 / (CALLS * ROWS * classes) as f64
        );
    }
    println!("{acc}");
}
