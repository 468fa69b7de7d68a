//! Training from logits, end to end: the classic lesson's network
//! Dense(25, ReLU) → Dense(15, ReLU) → Dense(10, linear) trained with Adam on
//! a built-in 10-class dataset, using the fused softmax cross-entropy through
//! the fixed-size API; then a linear binary classifier with the fused BCE.
//! No allocation in the training step: layers, activations and gradients are
//! fixed-size arrays.

use crate::common::Rng;
use logitkit::{BceOptions, FixedRow, bce_with_logits_with_grad};

pub const INPUT: usize = 64;
pub const CLASSES: usize = 10;

/// 8×8 "glyphs": one random binary prototype per class.
pub fn prototypes(rng: &mut Rng) -> [[f32; INPUT]; CLASSES] {
    let mut protos = [[0.0f32; INPUT]; CLASSES];
    for p in protos.iter_mut() {
        for v in p.iter_mut() {
            *v = if rng.uniform() < 0.5 { 1.0 } else { 0.0 };
        }
    }
    protos
}

/// Noisy samples of the prototypes: each pixel flipped with probability 0.2,
/// plus Gaussian noise.
pub fn dataset(
    protos: &[[f32; INPUT]; CLASSES],
    rng: &mut Rng,
    per_class: usize,
) -> Vec<([f32; INPUT], usize)> {
    let mut data = Vec::new();
    for _ in 0..per_class {
        for (c, p) in protos.iter().enumerate() {
            let mut x = *p;
            for v in x.iter_mut() {
                if rng.uniform() < 0.2 {
                    *v = 1.0 - *v;
                }
                *v += 0.3 * rng.normal() as f32;
            }
            data.push((x, c));
        }
    }
    // Deterministic shuffle.
    for i in (1..data.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        data.swap(i, j);
    }
    data
}

/// A dense layer with its Adam state.
pub struct Dense<const I: usize, const O: usize> {
    w: [[f32; I]; O],
    b: [f32; O],
    gw: [[f32; I]; O],
    gb: [f32; O],
    mw: [[f32; I]; O],
    vw: [[f32; I]; O],
    mb: [f32; O],
    vb: [f32; O],
}

impl<const I: usize, const O: usize> Dense<I, O> {
    pub fn new(rng: &mut Rng) -> Self {
        let scale = (2.0 / I as f32).sqrt();
        let mut w = [[0.0; I]; O];
        for row in w.iter_mut() {
            for v in row.iter_mut() {
                *v = scale * rng.normal() as f32;
            }
        }
        Self {
            w,
            b: [0.0; O],
            gw: [[0.0; I]; O],
            gb: [0.0; O],
            mw: [[0.0; I]; O],
            vw: [[0.0; I]; O],
            mb: [0.0; O],
            vb: [0.0; O],
        }
    }

    pub fn forward(&self, x: &[f32; I]) -> [f32; O] {
        core::array::from_fn(|o| {
            self.b[o] + self.w[o].iter().zip(x).map(|(w, x)| w * x).sum::<f32>()
        })
    }

    /// Accumulates the parameter gradients for upstream `g` and returns the
    /// gradient with respect to the input.
    pub fn backward(&mut self, x: &[f32; I], g: &[f32; O]) -> [f32; I] {
        let mut gx = [0.0; I];
        for (((go, gb), gw), w) in g.iter().zip(&mut self.gb).zip(&mut self.gw).zip(&self.w) {
            *gb += go;
            for (((gwi, xi), gxi), wi) in gw.iter_mut().zip(x).zip(gx.iter_mut()).zip(w) {
                *gwi += go * xi;
                *gxi += go * wi;
            }
        }
        gx
    }

    /// One Adam step (β₁ = 0.9, β₂ = 0.999) on the accumulated gradients,
    /// averaged over `batch`; then clears them.
    pub fn adam(&mut self, lr: f32, step: i32, batch: usize) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
        let update = |p: &mut f32, g: &mut f32, m: &mut f32, v: &mut f32| {
            let gi = *g / batch as f32;
            *m = b1 * *m + (1.0 - b1) * gi;
            *v = b2 * *v + (1.0 - b2) * gi * gi;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
            *g = 0.0;
        };
        for o in 0..O {
            update(
                &mut self.b[o],
                &mut self.gb[o],
                &mut self.mb[o],
                &mut self.vb[o],
            );
            for i in 0..I {
                update(
                    &mut self.w[o][i],
                    &mut self.gw[o][i],
                    &mut self.mw[o][i],
                    &mut self.vw[o][i],
                );
            }
        }
    }
}

fn relu<const N: usize>(x: [f32; N]) -> [f32; N] {
    x.map(|v| v.max(0.0))
}

fn relu_backward<const N: usize>(pre: &[f32; N], g: [f32; N]) -> [f32; N] {
    core::array::from_fn(|i| if pre[i] > 0.0 { g[i] } else { 0.0 })
}

/// Dense(25, ReLU) → Dense(15, ReLU) → Dense(10): the output layer emits
/// logits; the loss applies the softmax inside, fused.
pub struct Mlp {
    l1: Dense<INPUT, 25>,
    l2: Dense<25, 15>,
    l3: Dense<15, CLASSES>,
}

impl Mlp {
    pub fn new(rng: &mut Rng) -> Self {
        Self {
            l1: Dense::new(rng),
            l2: Dense::new(rng),
            l3: Dense::new(rng),
        }
    }

    pub fn logits(&self, x: &[f32; INPUT]) -> [f32; CLASSES] {
        let h1 = relu(self.l1.forward(x));
        let h2 = relu(self.l2.forward(&h1));
        self.l3.forward(&h2)
    }

    /// Forward, fused loss + gradient, backward; returns the loss.
    pub fn train_step(&mut self, x: &[f32; INPUT], label: usize) -> f32 {
        let a1 = self.l1.forward(x);
        let h1 = relu(a1);
        let a2 = self.l2.forward(&h1);
        let h2 = relu(a2);
        let logits = self.l3.forward(&h2);
        let (loss, grad) = logits
            .softmax_cross_entropy_with_grad(label)
            .expect("label < 10");
        let g2 = relu_backward(&a2, self.l3.backward(&h2, &grad));
        let g1 = relu_backward(&a1, self.l2.backward(&h1, &g2));
        self.l1.backward(x, &g1);
        loss
    }

    pub fn step(&mut self, lr: f32, step: i32, batch: usize) {
        self.l1.adam(lr, step, batch);
        self.l2.adam(lr, step, batch);
        self.l3.adam(lr, step, batch);
    }
}

fn argmax(z: &[f32]) -> usize {
    (0..z.len()).fold(0, |a, i| if z[i] > z[a] { i } else { a })
}

fn accuracy(net: &Mlp, data: &[([f32; INPUT], usize)]) -> f64 {
    let correct = data
        .iter()
        .filter(|(x, c)| argmax(&net.logits(x)) == *c)
        .count();
    correct as f64 / data.len() as f64
}

pub fn run_multiclass() {
    let mut rng = Rng(2026);
    let protos = prototypes(&mut rng);
    let train = dataset(&protos, &mut rng, 100);
    let test = dataset(&protos, &mut Rng(2027), 30);
    let mut net = Mlp::new(&mut rng);
    let batch = 32;
    let mut step = 0;
    println!("  epoch   mean loss   train acc   test acc");
    for epoch in 1..=8 {
        let mut total = 0.0;
        let mut correct = 0;
        for chunk in train.chunks(batch) {
            for (x, c) in chunk {
                total += net.train_step(x, *c) as f64;
                correct += (argmax(&net.logits(x)) == *c) as usize;
            }
            step += 1;
            net.step(3e-3, step, chunk.len());
        }
        let test_acc = accuracy(&net, &test);
        println!(
            "  {epoch:>5}   {:>9.4}   {:>8.1}%   {:>7.1}%",
            total / train.len() as f64,
            100.0 * correct as f64 / train.len() as f64,
            100.0 * test_acc
        );
    }
    let test_acc = accuracy(&net, &test);
    println!(
        "  final test accuracy: {:.1}% on {} held-out samples",
        100.0 * test_acc,
        test.len()
    );
    println!("\n  Inference: the output layer emits logits; apply softmax to read probabilities.");
    for (x, c) in test.iter().take(3) {
        let p = net.logits(x).softmax();
        let best = argmax(&p);
        println!(
            "  label {c}: predicted {best} with p = {:.4} (second best {:.2e})",
            p[best],
            {
                let mut q = p;
                q[best] = -1.0;
                q[argmax(&q)]
            }
        );
    }
}

pub fn run_binary() {
    // "Is the glyph from an even class?" with a linear model z = w·x + b,
    // trained by full-batch gradient descent on the fused BCE with logits.
    let mut rng = Rng(77);
    let protos = prototypes(&mut rng);
    let data = dataset(&protos, &mut rng, 60);
    let (xs, ys): (Vec<[f32; INPUT]>, Vec<f32>) = data
        .iter()
        .map(|(x, c)| (*x, (c % 2 == 0) as u8 as f32))
        .unzip();
    let mut w = [0.0f32; INPUT];
    let mut b = 0.0f32;
    let mut z = vec![0.0f32; xs.len()];
    let mut gz = vec![0.0f32; xs.len()];
    let opts = BceOptions::default();
    println!("  epoch   BCE loss   accuracy");
    for epoch in 1..=40 {
        for (zi, x) in z.iter_mut().zip(&xs) {
            *zi = b + w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
        }
        let loss = bce_with_logits_with_grad(&z, &ys, &opts, &mut gz, None).expect("same lengths");
        let mut gw = [0.0f32; INPUT];
        for (g, x) in gz.iter().zip(&xs) {
            for (gwi, xi) in gw.iter_mut().zip(x) {
                *gwi += g * xi;
            }
        }
        for (wi, gi) in w.iter_mut().zip(gw) {
            *wi -= 0.5 * gi;
        }
        b -= 0.5 * gz.iter().sum::<f32>();
        if epoch % 8 == 0 || epoch == 1 {
            let acc = z
                .iter()
                .zip(&ys)
                .filter(|(z, y)| ((**z > 0.0) as u8 as f32) == **y)
                .count() as f64
                / ys.len() as f64;
            println!("  {epoch:>5}   {loss:>8.4}   {:>7.1}%", 100.0 * acc);
        }
    }
}
