//! A small recurrent network written with `lax::scan`, trained with
//! `jit(value_and_grad(loss))` on synthetic sequences.
//!
//! The task: read a sequence of scalars `x_t` and output, at every step,
//! the exponentially decaying sum `s_t = 0.8 * s_{t-1} + x_t`. The model is
//! an Elman cell `h_t = tanh(x_t w_x + h_{t-1} w_h + b)` with a linear
//! readout `y_t = h_t w_o`; the whole sequence is one `scan`, so the
//! program's size does not depend on the sequence length, and `grad`
//! differentiates through the loop.
//!
//! Run with `cargo run --release --example rnn_scan`.

use rjax::lax::{self, ScanOptions};
use rjax::prelude::*;
use rjax::tree_map2;

/// Sequence length, batch size and hidden size.
const T: usize = 16;
const B: usize = 32;
const H: usize = 8;

/// The cell's parameters.
#[derive(Clone, Tree)]
struct Rnn {
    w_x: Array,
    w_h: Array,
    b: Array,
    w_o: Array,
}

/// Mean squared error of the network's outputs over every step of `xs`
/// (`[T, B, 1]`) against `targets` (`[T, B, 1]`).
fn loss(p: &Rnn, xs: &Array, targets: &Array) -> Array {
    let h0 = jnp::zeros(&[B, H], DType::F32);
    let (_, ys) = lax::scan(
        |h: &Array, x: &Array| {
            let h = (x.matmul(&p.w_x) + h.matmul(&p.w_h) + &p.b).tanh();
            let y = h.matmul(&p.w_o);
            (h, y)
        },
        &h0,
        xs,
        ScanOptions::default(),
    );
    (ys - targets).square().mean()
}

/// Synthetic data: inputs drawn from a normal distribution and the decaying
/// sums computed with a plain loop.
fn data(key: &Array) -> rjax::Result<(Array, Array)> {
    let xs = random::normal(key, &[T, B, 1], DType::F32) * 0.5;
    let x: Vec<f32> = xs.to_vec()?;
    let mut targets = vec![0.0f32; T * B];
    for b in 0..B {
        let mut s = 0.0f32;
        for t in 0..T {
            s = 0.8 * s + x[t * B + b];
            targets[t * B + b] = s;
        }
    }
    Ok((xs, Array::from_vec(targets, &[T, B, 1])?))
}

fn init(key: &Array) -> Rnn {
    let k = random::split_vec(key, 3);
    let scaled =
        |k: &Array, shape: &[usize], scale: f64| random::normal(k, shape, DType::F32) * scale;
    Rnn {
        w_x: scaled(&k[0], &[1, H], 0.5),
        w_h: scaled(&k[1], &[H, H], 0.3),
        b: jnp::zeros(&[H], DType::F32),
        w_o: scaled(&k[2], &[H, 1], 0.5),
    }
}

fn main() -> rjax::Result<()> {
    let (data_key, init_key) = random::split2(&random::key(0));
    let (xs, targets) = data(&data_key)?;
    let mut params = init(&init_key);
    let step = jit(value_and_grad(|p: &Rnn| loss(p, &xs, &targets)));
    let (learning_rate, momentum) = (0.02, 0.9);
    let mut velocity = rjax::tree_map(&params, |p| p * 0.0);
    let mut first = None;
    let mut last = 0.0f32;
    for i in 0..400 {
        let (value, grads) = step(&params);
        last = value.item::<f32>()?;
        first.get_or_insert(last);
        if i % 50 == 0 {
            println!("step {i:3}: loss {last:.5}");
        }
        velocity = tree_map2(&velocity, &grads, |v, g| v * momentum + g);
        params = tree_map2(&params, &velocity, |p, v| p - v * learning_rate);
    }
    let first = first.unwrap_or(last);
    println!("initial loss {first:.5}, final loss {last:.5}");
    if last >= first * 0.5 {
        return Err(rjax::Error::op(
            "rnn_scan",
            format!("the loss did not fall enough: {first} -> {last}"),
        ));
    }
    Ok(())
}
