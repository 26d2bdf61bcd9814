//! Helpers for the Keras model and training tests: tiny optimizer, loss and
//! metric implementations written here (so the tests check the model side
//! on its own), data builders, and f64 reference computations.

#![allow(dead_code)]

use rjax::keras::callbacks::{Callback, CallbackContext, Logs};
use rjax::keras::losses::Loss;
use rjax::keras::metrics::Metric;
use rjax::keras::models::{Model, ModelWeights};
use rjax::keras::optimizers::Optimizer;
use rjax::{jnp, Array, DType, Error, Result};
use std::sync::{Arc, Mutex};

/// Plain gradient descent, `p - lr g`, with no state.
#[derive(Debug)]
pub struct PlainSgd(pub f64);

impl Optimizer for PlainSgd {
    fn init(&self, _params: &[Array]) -> Vec<Array> {
        Vec::new()
    }

    fn update(
        &self,
        params: &[Array],
        grads: &[Array],
        state: &[Array],
    ) -> (Vec<Array>, Vec<Array>) {
        let new = params
            .iter()
            .zip(grads)
            .map(|(p, g)| p - g * self.0)
            .collect();
        (new, state.to_vec())
    }
}

/// Mean squared error.
#[derive(Debug)]
pub struct Mse;

impl Loss for Mse {
    fn name(&self) -> &str {
        "mean_squared_error"
    }

    fn call(&self, y_true: &Array, y_pred: &Array) -> Array {
        (y_pred - y_true).square().mean()
    }

    fn check_targets(&self, _y_true: &Array, _output_shape: &[usize]) -> Result<()> {
        Ok(())
    }
}

/// A loss that only checks that integer labels are below the number of
/// outputs (the part of sparse cross-entropy `fit` must call before
/// training); its value is the mean output.
#[derive(Debug)]
pub struct LabelChecking;

impl Loss for LabelChecking {
    fn name(&self) -> &str {
        "label_checking"
    }

    fn call(&self, _y_true: &Array, y_pred: &Array) -> Array {
        y_pred.mean()
    }

    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()> {
        let classes = output_shape.last().copied().unwrap_or(1) as i32;
        match y_true
            .to_vec::<i32>()?
            .iter()
            .find(|&&l| l < 0 || l >= classes)
        {
            Some(bad) => Err(Error::op(
                "label_checking",
                format!("label {bad} out of range [0, {classes})"),
            )),
            None => Ok(()),
        }
    }
}

/// Mean absolute error as a metric: state `[sum of |diff|, count]`.
#[derive(Debug)]
pub struct MaeMetric;

impl Metric for MaeMetric {
    fn name(&self) -> &str {
        "mae"
    }

    fn init(&self) -> Vec<Array> {
        vec![jnp::zeros(&[], DType::F32), jnp::zeros(&[], DType::F32)]
    }

    fn update(&self, state: &[Array], y_true: &Array, y_pred: &Array) -> Vec<Array> {
        let diff = (y_pred - y_true).abs();
        vec![&state[0] + diff.sum(), &state[1] + diff.size() as f64]
    }

    fn result(&self, state: &[Array]) -> Array {
        &state[0] / &state[1]
    }
}

/// Records the model's weights after every epoch.
#[derive(Debug, Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<ModelWeights>>>);

impl Callback for Recorder {
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &Logs,
        ctx: &mut CallbackContext,
    ) -> Result<()> {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(ctx.weights().clone());
        }
        Ok(())
    }
}

/// The names of a built model's weights, in weight order.
pub fn weight_names(model: &Model) -> Vec<String> {
    model
        .weight_info()
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect()
}

/// Asserts that `text` contains each of `parts`, showing `text` when not.
pub fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from:\n{text}");
    }
}

/// An f32 array from f64 values.
pub fn arr(values: &[f64], shape: &[usize]) -> Array {
    Array::from_vec(
        values.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
        shape,
    )
    .unwrap()
}

/// The values of an array as f64.
pub fn vals(a: &Array) -> Vec<f64> {
    a.to_f64_vec().unwrap()
}

/// Deterministic pseudo-random values in [-1, 1) (a 64-bit LCG).
pub fn lcg_values(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// `x @ w + b` in f64 for row-major `x` (`n × k`), `w` (`k × m`), `b` (`m`).
pub fn affine(x: &[f64], w: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            let mut acc = b[j];
            for t in 0..k {
                acc += x[i * k + t] * w[t * m + j];
            }
            out[i * m + j] = acc;
        }
    }
    out
}

/// Asserts `|a - b| <= tol·max(1, |b|)` elementwise.
pub fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * y.abs().max(1.0),
            "{what}[{i}]: {x} vs {y} (tolerance {tol})"
        );
    }
}
