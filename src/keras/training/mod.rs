//! Training: `compile`, `fit`, `evaluate` and `predict` on a
//! [`Model`].
//!
//! `compile` fixes the optimizer, the loss and the metrics (objects, or
//! Keras names such as `"adam"`, `"mse"`, `"accuracy"`). `fit` checks the
//! data before anything runs (typed errors for mismatched lengths, a wrong
//! example shape, NaN, labels out of range, a zero batch size, ...), splits
//! off validation data, and runs epochs of jitted training steps: the whole
//! step — forward pass, loss, gradient, optimizer update, metric update,
//! non-trainable state, key split — is one compiled function, traced once
//! per batch shape (so an epoch compiles at most twice: full batches and a
//! smaller last one) and reused across epochs and `fit` calls.
//!
//! Shuffling draws one permutation per epoch from `FitConfig::seed`, and
//! dropout keys come from the same seed, so a run is reproducible.
//! `validation_split` takes the last fraction of the data before shuffling,
//! as Keras does.

mod data;
mod fit;
mod progress;
mod step;

use crate::keras::callbacks::Callback;
use crate::keras::losses::{self, Loss};
use crate::keras::metrics::{self, Metric};
use crate::keras::models::Model;
use crate::keras::optimizers::{self, Optimizer};
use crate::{Array, JitStats, Result};
use std::sync::Arc;
use step::{EvalArgs, EvalOut, PredictArgs, StepFn, TrainArgs, TrainOut};

/// Settings of [`Model::fit`]; start from `FitConfig::default()` and set
/// what you need.
///
/// # Example
/// ```
/// use rjax::keras::training::FitConfig;
/// let config = FitConfig { epochs: 40, batch_size: 128, validation_split: 0.2, ..Default::default() };
/// assert!(config.shuffle);
/// ```
#[derive(Debug)]
pub struct FitConfig {
    /// Passes over the training data (default 1).
    pub epochs: usize,
    /// Examples per step (default 32); the last batch of an epoch may be
    /// smaller.
    pub batch_size: usize,
    /// Data to evaluate on after each epoch, logged as `val_loss` and
    /// `val_<metric>`; takes precedence over `validation_split`.
    pub validation_data: Option<(Array, Array)>,
    /// The fraction of the data, taken from its end before shuffling, to
    /// hold out for validation (default 0).
    pub validation_split: f64,
    /// Whether to shuffle the training data before each epoch (default true).
    pub shuffle: bool,
    /// Callbacks run around training and after each epoch.
    pub callbacks: Vec<Box<dyn Callback>>,
    /// 0: silent; 1: a progress bar (one plain line per epoch when standard
    /// error is not a terminal); 2: one plain line per epoch (default 1).
    pub verbose: u8,
    /// The seed of the shuffling and dropout keys (default 0). The `k`-th
    /// `fit` call since `compile` uses `fold_in(key(seed), k)`, so repeated
    /// calls draw fresh keys and a run is reproducible.
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> FitConfig {
        FitConfig {
            epochs: 1,
            batch_size: 32,
            validation_data: None,
            validation_split: 0.0,
            shuffle: true,
            callbacks: Vec::new(),
            verbose: 1,
            seed: 0,
        }
    }
}

/// An optimizer for `compile`: an [`Optimizer`] or a Keras name
/// (`"sgd"`, `"rmsprop"`, `"adam"`, `"adamw"`).
///
/// # Example
/// ```
/// use rjax::keras::training::IntoOptimizer;
/// assert!("adam".into_optimizer().is_ok());
/// assert!("adamm".into_optimizer().is_err());
/// ```
pub trait IntoOptimizer {
    /// The optimizer.
    ///
    /// # Errors
    /// An unknown name.
    fn into_optimizer(self) -> Result<Arc<dyn Optimizer>>;
}

impl<O: Optimizer + 'static> IntoOptimizer for O {
    fn into_optimizer(self) -> Result<Arc<dyn Optimizer>> {
        Ok(Arc::new(self))
    }
}

impl IntoOptimizer for &str {
    fn into_optimizer(self) -> Result<Arc<dyn Optimizer>> {
        optimizers::get(self).map(Arc::from)
    }
}

/// A loss for `compile`: a [`Loss`] or a Keras name (`"mse"`,
/// `"binary_crossentropy"`, `"sparse_categorical_crossentropy"`, ...).
///
/// # Example
/// ```
/// use rjax::keras::training::IntoLoss;
/// assert_eq!("mse".into_loss().unwrap().name(), "mean_squared_error");
/// assert!("msee".into_loss().is_err());
/// ```
pub trait IntoLoss {
    /// The loss.
    ///
    /// # Errors
    /// An unknown name.
    fn into_loss(self) -> Result<Arc<dyn Loss>>;
}

impl<L: Loss + 'static> IntoLoss for L {
    fn into_loss(self) -> Result<Arc<dyn Loss>> {
        Ok(Arc::new(self))
    }
}

impl IntoLoss for &str {
    fn into_loss(self) -> Result<Arc<dyn Loss>> {
        losses::get(self).map(Arc::from)
    }
}

/// A metric for `compile`: a [`Metric`] object or a Keras name. The name
/// `"accuracy"` resolves, once the model is built, to the accuracy that
/// fits the loss and the output shape (as Keras does).
///
/// # Example
/// ```
/// use rjax::keras::training::MetricSpec;
/// let by_name: MetricSpec = "accuracy".into();
/// assert!(matches!(by_name, MetricSpec::Name(_)));
/// ```
#[derive(Debug)]
pub enum MetricSpec {
    /// A Keras metric name.
    Name(String),
    /// A metric object.
    Metric(Arc<dyn Metric>),
}

impl From<&str> for MetricSpec {
    fn from(name: &str) -> MetricSpec {
        MetricSpec::Name(name.to_string())
    }
}

impl<M: Metric + 'static> From<M> for MetricSpec {
    fn from(metric: M) -> MetricSpec {
        MetricSpec::Metric(Arc::new(metric))
    }
}

impl From<Box<dyn Metric>> for MetricSpec {
    fn from(metric: Box<dyn Metric>) -> MetricSpec {
        MetricSpec::Metric(Arc::from(metric))
    }
}

/// What `compile` fixed, and the jitted functions made from it.
pub(crate) struct Compiled {
    optimizer: Arc<dyn Optimizer>,
    loss: Arc<dyn Loss>,
    metric_specs: Vec<MetricSpec>,
    /// The metrics resolved for the built model.
    metrics: Option<Vec<Arc<dyn Metric>>>,
    /// The optimizer state, kept across `fit` calls.
    optimizer_state: Option<Vec<Array>>,
    /// How many `fit` calls ran since `compile`.
    fit_calls: usize,
    train_fn: Option<StepFn<TrainArgs, TrainOut>>,
    eval_fn: Option<StepFn<EvalArgs, EvalOut>>,
}

/// The training side of a model: its compile settings and jitted functions.
#[derive(Default)]
pub(crate) struct TrainingState {
    compiled: Option<Compiled>,
    predict_fn: Option<StepFn<PredictArgs, Array>>,
}

impl std::fmt::Debug for TrainingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingState")
            .field("compiled", &self.compiled.is_some())
            .finish()
    }
}

impl TrainingState {
    /// Forgets everything tied to the built network (jitted functions,
    /// resolved metrics, optimizer state), keeping the compile settings.
    pub(crate) fn reset(&mut self) {
        self.predict_fn = None;
        if let Some(c) = &mut self.compiled {
            c.metrics = None;
            c.optimizer_state = None;
            c.train_fn = None;
            c.eval_fn = None;
        }
    }
}

impl Model {
    /// Fixes the optimizer, the loss and the metrics for `fit` and
    /// `evaluate` (Keras' `compile`). Each may be an object or a Keras name.
    /// Compiling again starts a fresh optimizer state.
    ///
    /// # Errors
    /// `Error::Op` for an unknown optimizer, loss or metric name.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// model.compile("sgd", "mse", vec!["mean".into()]).unwrap();
    /// assert!(model.compile("sgd", "mse", vec!["f1_score".into()]).is_err());
    /// ```
    pub fn compile(
        &mut self,
        optimizer: impl IntoOptimizer,
        loss: impl IntoLoss,
        metrics: Vec<MetricSpec>,
    ) -> Result<()> {
        let optimizer = optimizer.into_optimizer()?;
        let loss = loss.into_loss()?;
        for spec in &metrics {
            if let MetricSpec::Name(name) = spec {
                metrics::get(name)?;
            }
        }
        self.training.reset();
        self.training.compiled = Some(Compiled {
            optimizer,
            loss,
            metric_specs: metrics,
            metrics: None,
            optimizer_state: None,
            fit_calls: 0,
            train_fn: None,
            eval_fn: None,
        });
        Ok(())
    }

    /// Tracing counters of the jitted training step (`None` before the
    /// first `fit`): `traces` counts compilations, one per batch shape.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// assert!(model.train_step_stats().is_none());
    /// ```
    pub fn train_step_stats(&self) -> Option<JitStats> {
        let compiled = self.training.compiled.as_ref()?;
        compiled.train_fn.as_ref().map(|f| f.stats())
    }

    /// Tracing counters of the jitted prediction step (`None` before the
    /// first `predict`).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// use rjax::{jnp, DType};
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// model.predict(&jnp::ones(&[10, 2], DType::F32), 4).unwrap();
    /// assert_eq!(model.predict_step_stats().unwrap().traces, 2);
    /// ```
    pub fn predict_step_stats(&self) -> Option<JitStats> {
        self.training.predict_fn.as_ref().map(|f| f.stats())
    }
}
