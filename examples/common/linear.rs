//! The chapter-3 linear classifier, shared by `examples/linear_classifier.rs`
//! and `tests/linear_classifier.rs`: loading points from CSV, the model
//! `prediction = x @ W + b` with mean squared error, and the three ways of
//! training it (eager `grad` steps, a jitted `value_and_grad` step, and
//! Keras `fit`).

use rjax::keras::callbacks::History;
use rjax::keras::layers::Dense;
use rjax::keras::losses::MeanSquaredError;
use rjax::keras::metrics::BinaryAccuracy;
use rjax::keras::models::{ModelWeights, Sequential};
use rjax::keras::optimizers::SGD;
use rjax::keras::training::FitConfig;
use rjax::prelude::*;
use rjax::{Error, Result};
use std::path::Path;

/// The learning rate of the chapter's gradient descent.
pub const LEARNING_RATE: f32 = 0.1;

/// Points in the plane and their 0/1 targets.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The points, `f32[n, 2]`.
    pub x: Array,
    /// The targets, `f32[n, 1]`, 0 or 1.
    pub y: Array,
}

/// The model's parameters: `W` (`f32[2, 1]`) and `b` (`f32[1]`).
pub type Params = (Array, Array);

/// The outcome of one way of training.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The training loss before each step.
    pub losses: Vec<f32>,
    /// The parameters after the last step.
    pub params: Params,
}

/// Reads a CSV file with the header `x0,x1,target` and one point per line.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Op`] naming the line
/// if the header is not `x0,x1,target` or a line does not hold three
/// numbers with a target of 0 or 1.
pub fn load_points(path: &Path) -> Result<Dataset> {
    const OP: &str = "load_points";
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        op: OP,
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header.trim() != "x0,x1,target" {
        return Err(Error::op(
            OP,
            format!(
                "{}: expected the header `x0,x1,target`, found `{header}`",
                path.display()
            ),
        ));
    }
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| Error::op(OP, format!("{}: line {}: {what}", path.display(), i + 2));
        let fields = line
            .split(',')
            .map(|f| f.trim().parse::<f32>())
            .collect::<std::result::Result<Vec<f32>, _>>()
            .map_err(|e| bad(&e.to_string()))?;
        let [x0, x1, target] = fields[..] else {
            return Err(bad(&format!("expected 3 fields, found {}", fields.len())));
        };
        if target != 0.0 && target != 1.0 {
            return Err(bad(&format!("target {target} is neither 0 nor 1")));
        }
        xs.extend([x0, x1]);
        ys.push(target);
    }
    let n = ys.len();
    Ok(Dataset {
        x: Array::from_vec(xs, &[n, 2])?,
        y: Array::from_vec(ys, &[n, 1])?,
    })
}

/// The mean squared error of `x @ W + b` against `y`.
pub fn loss(params: &Params, x: &Array, y: &Array) -> Array {
    (x.matmul(&params.0) + &params.1 - y).square().mean()
}

/// One step of gradient descent.
fn descend(params: &Params, grads: &Params) -> Params {
    tree_map2(params, grads, |p, g| p - g * f64::from(LEARNING_RATE))
}

/// Way 1: eager steps, each taking the gradient with `grad`.
///
/// # Errors
/// A loss that cannot be read back (it always can for valid data).
pub fn train_eager(data: &Dataset, init: &Params, steps: usize) -> Result<Trained> {
    let (x, y) = (&data.x, &data.y);
    let gradient = grad(|p: &Params| loss(p, x, y));
    let mut params = init.clone();
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        losses.push(loss(&params, x, y).item::<f32>()?);
        params = descend(&params, &gradient(&params));
    }
    Ok(Trained { losses, params })
}

/// Way 2: one jitted function computes the loss and the gradient with
/// `value_and_grad` and applies the update; it compiles once.
///
/// # Errors
/// A loss that cannot be read back (it always can for valid data).
pub fn train_jit(data: &Dataset, init: &Params, steps: usize) -> Result<Trained> {
    let step = jit(|(p, x, y): &(Params, Array, Array)| {
        let (l, g) = value_and_grad(|p: &Params| loss(p, x, y))(p);
        (l, descend(p, &g))
    });
    let mut params = init.clone();
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (l, next) = step(&(params, data.x.clone(), data.y.clone()));
        losses.push(l.item::<f32>()?);
        params = next;
    }
    Ok(Trained { losses, params })
}

/// Way 3: Keras. `Sequential([Dense(1)])` set to the starting weights,
/// `compile(SGD(0.1), mse, binary_accuracy)`, then `fit` for `steps` epochs
/// of one batch of 2000 points (the whole data set), holding out the last
/// `validation_split` of the points (shuffle them first if the classes are
/// in order) and printing Keras' progress lines if `verbose` is not 0.
/// The losses are Keras' per-epoch training losses, which with one batch
/// per epoch are the losses before each step.
///
/// # Errors
/// Data that `fit` rejects (see [`rjax::keras::training`]).
pub fn train_keras(
    data: &Dataset,
    init: &Params,
    steps: usize,
    validation_split: f64,
    verbose: u8,
) -> Result<(Trained, History)> {
    let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    model.build(&[2])?;
    model.set_weights(ModelWeights {
        trainable: vec![init.0.clone(), init.1.clone()],
        non_trainable: Vec::new(),
    })?;
    model.compile(
        SGD::new(f64::from(LEARNING_RATE)),
        MeanSquaredError,
        vec![BinaryAccuracy::default().into()],
    )?;
    let history = model.fit(
        &data.x,
        &data.y,
        FitConfig {
            epochs: steps,
            batch_size: 2000,
            validation_split,
            shuffle: false,
            verbose,
            ..Default::default()
        },
    )?;
    let losses = history.loss().iter().map(|l| *l as f32).collect();
    let trained = match &model.weights().trainable[..] {
        [w, b] => Trained {
            losses,
            params: (w.clone(), b.clone()),
        },
        other => {
            return Err(Error::op(
                "train_keras",
                format!("Dense(1) has {} trainable weights, expected 2", other.len()),
            ))
        }
    };
    Ok((trained, history))
}

/// The predictions `x @ W + b`, `f32[n, 1]`.
pub fn predict(params: &Params, x: &Array) -> Array {
    x.matmul(&params.0) + &params.1
}

/// The fraction of points whose prediction falls on the side of 0.5 of
/// their target, counted on the host.
///
/// # Errors
/// Predictions and targets that are not `f32` arrays of one length.
pub fn accuracy(predictions: &Array, targets: &Array) -> Result<f32> {
    let (p, t) = (predictions.to_vec::<f32>()?, targets.to_vec::<f32>()?);
    if p.len() != t.len() || t.is_empty() {
        return Err(Error::op(
            "accuracy",
            format!("{} predictions for {} targets", p.len(), t.len()),
        ));
    }
    let right = p
        .iter()
        .zip(&t)
        .filter(|(p, t)| (**p > 0.5) == (**t > 0.5))
        .count();
    Ok(right as f32 / t.len() as f32)
}
