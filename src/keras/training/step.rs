//! The jitted step functions: one training step, one evaluation step and
//! one prediction step, each a pure function of its state and batch,
//! traced once per batch shape and reused.
//!
//! The training step does everything one batch needs in one compiled
//! program: the forward pass in training mode (dropout with the step's key,
//! batch statistics), the loss, its gradient, the optimizer update, the
//! metric updates, the new non-trainable state, the running loss total,
//! and the next key.

use crate::keras::layers::CallContext;
use crate::keras::losses::Loss;
use crate::keras::metrics::Metric;
use crate::keras::models::ModelWeights;
use crate::keras::models::{Network, INFERENCE};
use crate::keras::optimizers::Optimizer;
use crate::{random, value_and_grad_with_aux, Array, Jit};
use std::sync::Arc;

/// A list of arrays.
type Arrays = Vec<Array>;

/// A jitted function behind a box.
pub(crate) type StepFn<A, B> = Jit<A, B, Box<dyn Fn(&A) -> B>>;

/// Everything a step carries from batch to batch: weights, optimizer state,
/// metric states, and the running loss `[sum of loss × batch size, examples]`.
#[derive(Clone, Debug)]
pub(crate) struct StepState {
    pub weights: ModelWeights,
    pub optimizer: Arrays,
    pub metrics: Vec<Arrays>,
    pub loss: Arrays,
}

/// The training step's argument: (weights, optimizer state), (metric
/// states, loss totals), (x, y, key).
pub(crate) type TrainArgs = (
    (Arrays, Arrays, Arrays),
    (Vec<Arrays>, Arrays),
    (Array, Array, Array),
);
/// The training step's result: the new state and the next key.
pub(crate) type TrainOut = ((Arrays, Arrays, Arrays), (Vec<Arrays>, Arrays), Array);
/// The evaluation step's argument: weights, (metric states, loss totals),
/// (x, y).
pub(crate) type EvalArgs = ((Arrays, Arrays), (Vec<Arrays>, Arrays), (Array, Array));
/// The evaluation step's result: the new metric states and loss totals.
pub(crate) type EvalOut = (Vec<Arrays>, Arrays);
/// The prediction step's argument: weights and x.
pub(crate) type PredictArgs = ((Arrays, Arrays), Array);

/// What the steps compute with.
#[derive(Clone, Debug)]
pub(crate) struct StepParts {
    pub net: Arc<Network>,
    pub optimizer: Arc<dyn Optimizer>,
    pub loss: Arc<dyn Loss>,
    pub metrics: Vec<Arc<dyn Metric>>,
}

/// Adds a batch's mean loss, weighted by the batch size, to the totals.
fn track_loss(totals: &[Array], loss: &Array, batch: usize) -> Arrays {
    let n = batch as f64;
    vec![&totals[0] + loss * n, &totals[1] + n]
}

/// Updates every metric's state with a batch.
fn update_metrics(
    metrics: &[Arc<dyn Metric>],
    states: &[Arrays],
    y: &Array,
    pred: &Array,
) -> Vec<Arrays> {
    metrics
        .iter()
        .zip(states)
        .map(|(m, s)| m.update(s, y, pred))
        .collect()
}

impl StepParts {
    /// The jitted training step.
    pub fn train_fn(&self) -> StepFn<TrainArgs, TrainOut> {
        let parts = self.clone();
        let step = move |args: &TrainArgs| -> TrainOut {
            let ((trainable, non_trainable, opt_state), (metric_states, loss_totals), (x, y, key)) =
                args;
            let (step_key, next_key) = random::split2(key);
            let forward = |w: &Arrays| {
                let (pred, state) = parts.net.stateless_call(
                    w,
                    non_trainable,
                    x,
                    CallContext {
                        training: true,
                        key: Some(&step_key),
                    },
                );
                (parts.loss.call(y, &pred), (pred, state))
            };
            let ((loss, (pred, new_state)), grads) = value_and_grad_with_aux(forward)(trainable);
            let (new_trainable, new_opt) = parts.optimizer.update(trainable, &grads, opt_state);
            let metrics = update_metrics(&parts.metrics, metric_states, y, &pred);
            let totals = track_loss(loss_totals, &loss, x.shape()[0]);
            (
                (new_trainable, new_state, new_opt),
                (metrics, totals),
                next_key,
            )
        };
        Jit::new(Box::new(step) as Box<dyn Fn(&TrainArgs) -> TrainOut>)
    }

    /// The jitted evaluation step (inference mode).
    pub fn eval_fn(&self) -> StepFn<EvalArgs, EvalOut> {
        let parts = self.clone();
        let step = move |args: &EvalArgs| -> EvalOut {
            let ((trainable, non_trainable), (metric_states, loss_totals), (x, y)) = args;
            let (pred, _) = parts
                .net
                .stateless_call(trainable, non_trainable, x, INFERENCE);
            let loss = parts.loss.call(y, &pred);
            (
                update_metrics(&parts.metrics, metric_states, y, &pred),
                track_loss(loss_totals, &loss, x.shape()[0]),
            )
        };
        Jit::new(Box::new(step) as Box<dyn Fn(&EvalArgs) -> EvalOut>)
    }
}

/// The jitted prediction step (inference mode).
pub(crate) fn predict_fn(net: Arc<Network>) -> StepFn<PredictArgs, Array> {
    let step = move |((trainable, non_trainable), x): &PredictArgs| -> Array {
        net.stateless_call(trainable, non_trainable, x, INFERENCE).0
    };
    Jit::new(Box::new(step) as Box<dyn Fn(&PredictArgs) -> Array>)
}
