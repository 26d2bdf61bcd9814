//! The loops of `fit`, `evaluate` and `predict` around the jitted steps.

use super::data::{self, batches, check_pair, permutation, slice_rows, take_rows};
use super::progress::EpochProgress;
use super::step::{predict_fn, StepParts, StepState};
use super::{Compiled, FitConfig, MetricSpec};
use crate::keras::callbacks::{Callback, CallbackContext, History, Logs};
use crate::keras::metrics;
use crate::keras::models::{Model, ModelWeights, Network};
use crate::{jnp, random, Array, DType, Error, Result};
use std::sync::Arc;

/// The value of a rank-0 (or one-element) array as `f64`.
fn scalar_value(a: &Array) -> Result<f64> {
    a.to_f64_vec()?
        .first()
        .copied()
        .ok_or_else(|| Error::op("fit", "a metric or loss result is empty"))
}

/// Zero running-loss totals.
fn zero_totals() -> Vec<Array> {
    vec![jnp::zeros(&[], DType::F32), jnp::zeros(&[], DType::F32)]
}

/// Logs from the running totals and metric states; validation values get
/// the `val_` prefix.
fn logs_from(parts: &StepParts, state: &StepState, prefix: &str, logs: &mut Logs) -> Result<()> {
    let total = scalar_value(&state.loss[0])?;
    let count = scalar_value(&state.loss[1])?;
    logs.push(&format!("{prefix}loss"), total / count.max(1.0));
    for (m, s) in parts.metrics.iter().zip(&state.metrics) {
        logs.push(
            &format!("{prefix}{}", m.name()),
            scalar_value(&m.result(s))?,
        );
    }
    Ok(())
}

impl Compiled {
    /// The step parts for `net`, resolving metric names on first use.
    fn parts(&mut self, net: &Arc<Network>) -> Result<StepParts> {
        if self.metrics.is_none() {
            let mut resolved = Vec::new();
            for spec in &self.metric_specs {
                resolved.push(match spec {
                    MetricSpec::Metric(m) => m.clone(),
                    MetricSpec::Name(name) => Arc::from(metrics::get_for_loss(
                        name,
                        self.loss.name(),
                        net.output_shape(),
                    )?),
                });
            }
            self.metrics = Some(resolved);
        }
        Ok(StepParts {
            net: net.clone(),
            optimizer: self.optimizer.clone(),
            loss: self.loss.clone(),
            metrics: self.metrics.clone().unwrap_or_default(),
        })
    }

    /// Runs inference-mode evaluation of `weights` on `(x, y)` in batches.
    fn evaluate(
        &mut self,
        parts: &StepParts,
        weights: &ModelWeights,
        (x, y): (&Array, &Array),
        batch_size: usize,
        prefix: &str,
        logs: &mut Logs,
    ) -> Result<()> {
        let eval_fn = self.eval_fn.get_or_insert_with(|| parts.eval_fn());
        let n = data::num_examples("evaluate", "x", x)?;
        let mut metric_states: Vec<Vec<Array>> = parts.metrics.iter().map(|m| m.init()).collect();
        let mut totals = zero_totals();
        for rows in batches(None, n, batch_size) {
            let (start, end) = (rows[0], rows[rows.len() - 1] + 1);
            let xb = slice_rows("evaluate", x, start, end)?;
            let yb = slice_rows("evaluate", y, start, end)?;
            let args = (
                (weights.trainable.clone(), weights.non_trainable.clone()),
                (metric_states, totals),
                (xb, yb),
            );
            (metric_states, totals) = eval_fn.try_call_donated(args)?;
        }
        let state = StepState {
            weights: weights.clone(),
            optimizer: Vec::new(),
            metrics: metric_states,
            loss: totals,
        };
        logs_from(parts, &state, prefix, logs)
    }
}

/// Checks a batch size.
fn check_batch_size(op: &str, batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::op(op, "batch_size must be at least 1, got 0"));
    }
    Ok(())
}

impl Model {
    /// Takes the compile settings out for a loop (they go back afterwards,
    /// also on error).
    fn with_compiled<T>(
        &mut self,
        op: &str,
        body: impl FnOnce(&mut Model, &mut Compiled) -> Result<T>,
    ) -> Result<T> {
        let mut compiled = self.training.compiled.take().ok_or_else(|| {
            Error::op(
                op,
                "the model is not compiled: call compile(optimizer, loss, metrics) first",
            )
        })?;
        let result = body(self, &mut compiled);
        self.training.compiled = Some(compiled);
        result
    }

    /// Checks a data set against the built model and the loss: example
    /// shape and targets.
    fn check_data(
        &self,
        op: &str,
        what: &str,
        net: &Network,
        compiled: &Compiled,
        (x, y): (&Array, &Array),
    ) -> Result<usize> {
        let n = check_pair(op, what, x, y)?;
        if x.shape()[1..] != net.input_shape[..] {
            return Err(Error::op(
                op,
                format!(
                    "model '{}' expects examples of shape {:?}, got {what}x of shape {:?}",
                    self.name,
                    net.input_shape,
                    x.shape()
                ),
            ));
        }
        compiled
            .loss
            .check_targets(y, net.output_shape())
            .map_err(|e| Error::op(op, format!("{what}y: {e}")))?;
        Ok(n)
    }

    /// Trains the model (Keras' `fit`); see the [module docs](super) for
    /// what is checked and how a step runs. Returns the per-epoch logs.
    ///
    /// # Errors
    /// `Error::Op` for an uncompiled model, bad data or settings (before
    /// any training), a callback's error; execution errors.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// use rjax::keras::training::FitConfig;
    /// use rjax::Array;
    /// let x = Array::from_vec((0..8).map(|i| i as f32 / 8.0).collect::<Vec<_>>(), &[8, 1]).unwrap();
    /// let y = &x * 2.0 + 1.0;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// model.compile("sgd", "mse", vec![]).unwrap();
    /// let config = FitConfig { epochs: 5, batch_size: 4, verbose: 0, ..Default::default() };
    /// let history = model.fit(&x, &y, config).unwrap();
    /// assert_eq!(history.loss().len(), 5);
    /// assert!(history.loss()[4] < history.loss()[0]);
    /// ```
    pub fn fit(&mut self, x: &Array, y: &Array, config: FitConfig) -> Result<History> {
        check_batch_size("fit", config.batch_size)?;
        if !(0.0..1.0).contains(&config.validation_split) {
            return Err(Error::op(
                "fit",
                format!(
                    "validation_split must be in [0, 1), got {}",
                    config.validation_split
                ),
            ));
        }
        check_pair("fit", "", x, y)?;
        let net = self.ensure_built_for("fit", x)?;
        self.with_compiled("fit", |model, compiled| {
            model.fit_compiled(compiled, &net, (x, y), config)
        })
    }

    /// `fit` once the model is built and compiled.
    fn fit_compiled(
        &mut self,
        compiled: &mut Compiled,
        net: &Arc<Network>,
        (x, y): (&Array, &Array),
        config: FitConfig,
    ) -> Result<History> {
        let FitConfig {
            epochs,
            batch_size,
            validation_data,
            validation_split,
            shuffle,
            mut callbacks,
            verbose,
            seed,
        } = config;
        let n_all = self.check_data("fit", "", net, compiled, (x, y))?;
        let (train, validation) = match validation_data {
            Some((vx, vy)) => {
                self.check_data("fit", "validation_data ", net, compiled, (&vx, &vy))?;
                ((x.clone(), y.clone()), Some((vx, vy)))
            }
            None if validation_split > 0.0 => {
                let split = (n_all as f64 * (1.0 - validation_split)) as usize;
                if split == 0 || split == n_all {
                    return Err(Error::op(
                        "fit",
                        format!(
                            "validation_split {validation_split} of {n_all} examples leaves \
                             {split} for training and {} for validation; both need at least one",
                            n_all - split
                        ),
                    ));
                }
                let part = |a: &Array, s, e| slice_rows("fit", a, s, e);
                (
                    (part(x, 0, split)?, part(y, 0, split)?),
                    Some((part(x, split, n_all)?, part(y, split, n_all)?)),
                )
            }
            None => ((x.clone(), y.clone()), None),
        };
        let n = data::num_examples("fit", "x", &train.0)?;
        let parts = compiled.parts(net)?;
        compiled.train_fn.get_or_insert_with(|| parts.train_fn());
        let optimizer_state = match compiled.optimizer_state.take() {
            Some(state) => state,
            None => parts.optimizer.init(&self.weights.trainable),
        };
        let run_key = random::fold_in(&random::key(seed), compiled.fit_calls);
        compiled.fit_calls += 1;
        let (shuffle_root, mut key) = random::split2(&run_key);
        let mut state = StepState {
            weights: self.weights.clone(),
            optimizer: optimizer_state,
            metrics: Vec::new(),
            loss: Vec::new(),
        };
        let mut history = History::default();
        {
            let mut ctx = CallbackContext::new(&mut self.weights);
            for cb in callbacks.iter_mut() {
                cb.on_train_begin(&mut ctx)?;
            }
        }
        for epoch in 0..epochs {
            let order = match shuffle {
                true => Some(permutation(&random::fold_in(&shuffle_root, epoch), n)?),
                false => None,
            };
            let epoch_batches = batches(order.as_deref(), n, batch_size);
            let progress = EpochProgress::start(verbose, epoch, epochs, epoch_batches.len());
            state.metrics = parts.metrics.iter().map(|m| m.init()).collect();
            state.loss = zero_totals();
            for (i, rows) in epoch_batches.iter().enumerate() {
                let xb = take_rows("fit", &train.0, rows)?;
                let yb = take_rows("fit", &train.1, rows)?;
                key = self.train_batch(compiled, &mut state, xb, yb, key)?;
                progress.step(i + 1, || {
                    let mut logs = Logs::default();
                    logs_from(&parts, &state, "", &mut logs).ok().map(|_| logs)
                });
            }
            let mut logs = Logs::default();
            logs_from(&parts, &state, "", &mut logs)?;
            if let Some((vx, vy)) = &validation {
                compiled.evaluate(
                    &parts,
                    &state.weights,
                    (vx, vy),
                    batch_size,
                    "val_",
                    &mut logs,
                )?;
            }
            progress.finish(&logs);
            self.weights = state.weights.clone();
            let mut ctx = CallbackContext::new(&mut self.weights);
            history.on_epoch_end(epoch, &logs, &mut ctx)?;
            for cb in callbacks.iter_mut() {
                cb.on_epoch_end(epoch, &logs, &mut ctx)?;
            }
            let stop = ctx.stop_requested();
            net.check_weights("fit", &self.weights)?;
            state.weights = self.weights.clone();
            if stop {
                break;
            }
        }
        let mut ctx = CallbackContext::new(&mut self.weights);
        for cb in callbacks.iter_mut() {
            cb.on_train_end(&mut ctx)?;
        }
        net.check_weights("fit", &self.weights)?;
        compiled.optimizer_state = Some(state.optimizer);
        Ok(history)
    }

    /// One jitted training step on a batch; returns the next key.
    fn train_batch(
        &self,
        compiled: &Compiled,
        state: &mut StepState,
        xb: Array,
        yb: Array,
        key: Array,
    ) -> Result<Array> {
        let train_fn = compiled
            .train_fn
            .as_ref()
            .ok_or_else(|| Error::op("fit", "internal error: no training step"))?;
        let args = (
            (
                std::mem::take(&mut state.weights.trainable),
                std::mem::take(&mut state.weights.non_trainable),
                std::mem::take(&mut state.optimizer),
            ),
            (
                std::mem::take(&mut state.metrics),
                std::mem::take(&mut state.loss),
            ),
            (xb, yb, key),
        );
        let ((trainable, non_trainable, optimizer), (metrics, loss), next_key) =
            train_fn.try_call_donated(args)?;
        *state = StepState {
            weights: ModelWeights {
                trainable,
                non_trainable,
            },
            optimizer,
            metrics,
            loss,
        };
        Ok(next_key)
    }

    /// The loss and metrics of the model on `(x, y)`, computed in batches in
    /// inference mode (Keras' `evaluate`).
    ///
    /// # Errors
    /// As `fit`'s data checks; an uncompiled or unbuilt model.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::initializers::Initializer;
    /// use rjax::keras::models::Sequential;
    /// use rjax::{jnp, DType};
    /// let mut model = Sequential::new(vec![Box::new(
    ///     Dense::new(1).kernel_initializer(Initializer::Zeros),
    /// )]);
    /// model.compile("sgd", "mse", vec![]).unwrap();
    /// let x = jnp::ones(&[6, 2], DType::F32);
    /// let logs = model.evaluate(&x, &jnp::full(&[6, 1], 3.0, DType::F32), 4).unwrap();
    /// assert_eq!(logs.get("loss"), Some(9.0));
    /// ```
    pub fn evaluate(&mut self, x: &Array, y: &Array, batch_size: usize) -> Result<Logs> {
        check_batch_size("evaluate", batch_size)?;
        check_pair("evaluate", "", x, y)?;
        let net = self.ensure_built_for("evaluate", x)?;
        self.with_compiled("evaluate", |model, compiled| {
            model.check_data("evaluate", "", &net, compiled, (x, y))?;
            let parts = compiled.parts(&net)?;
            let mut logs = Logs::default();
            compiled.evaluate(&parts, &model.weights, (x, y), batch_size, "", &mut logs)?;
            Ok(logs)
        })
    }

    /// The model's outputs for `x`, computed in batches of `batch_size` in
    /// inference mode (the last batch may be smaller), building the model
    /// from `x` if needed (Keras' `predict`).
    ///
    /// # Errors
    /// `Error::Op` for a zero batch size, an empty or non-concrete `x`, or
    /// examples of the wrong shape.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// use rjax::{jnp, DType};
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(3))]);
    /// let y = model.predict(&jnp::ones(&[10, 2], DType::F32), 4).unwrap();
    /// assert_eq!(y.shape(), &[10, 3]);
    /// ```
    pub fn predict(&mut self, x: &Array, batch_size: usize) -> Result<Array> {
        check_batch_size("predict", batch_size)?;
        let n = data::num_examples("predict", "x", x)?;
        if n == 0 {
            return Err(Error::op("predict", "x holds no examples"));
        }
        x.try_buffer("predict")?;
        let net = self.ensure_built_for("predict", x)?;
        let step = self
            .training
            .predict_fn
            .get_or_insert_with(|| predict_fn(net));
        let weights = (
            self.weights.trainable.clone(),
            self.weights.non_trainable.clone(),
        );
        let mut outputs = Vec::new();
        for rows in batches(None, n, batch_size) {
            let xb = slice_rows("predict", x, rows[0], rows[rows.len() - 1] + 1)?;
            outputs.push(step.try_call(&(weights.clone(), xb))?);
        }
        if outputs.len() == 1 {
            return Ok(outputs.remove(0));
        }
        jnp::try_concatenate(&outputs, 0)
    }
}
