//! Callbacks: code that `fit` runs at the start and end of training and
//! after every epoch — [`History`] (what `fit` returns), [`EarlyStopping`],
//! and the [`Callback`] trait for your own.
//!
//! A callback sees the epoch's [`Logs`] (`loss`, the metrics, and `val_`
//! versions when there is validation data) and a [`CallbackContext`] through
//! which it can read or replace the model's weights and stop training.

use crate::keras::models::ModelWeights;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// One epoch's results, in display order: `loss`, the metrics, then
/// `val_loss` and the validation metrics.
///
/// # Example
/// ```
/// use rjax::keras::callbacks::Logs;
/// let mut logs = Logs::default();
/// logs.push("loss", 0.25);
/// assert_eq!(logs.get("loss"), Some(0.25));
/// assert_eq!(logs.get("val_loss"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs {
    entries: Vec<(String, f64)>,
}

impl Logs {
    /// Appends (or replaces) a value.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::Logs;
    /// let mut logs = Logs::default();
    /// logs.push("accuracy", 0.5);
    /// logs.push("accuracy", 0.75);
    /// assert_eq!(logs.get("accuracy"), Some(0.75));
    /// ```
    pub fn push(&mut self, name: &str, value: f64) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name.to_string(), value)),
        }
    }

    /// The value named `name`.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::Logs;
    /// assert_eq!(Logs::default().get("loss"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries.iter().find(|(n, _)| n == name).map(|e| e.1)
    }

    /// The entries in display order.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::Logs;
    /// let mut logs = Logs::default();
    /// logs.push("loss", 1.0);
    /// assert_eq!(logs.entries(), &[("loss".to_string(), 1.0)]);
    /// ```
    pub fn entries(&self) -> &[(String, f64)] {
        &self.entries
    }
}

/// What a callback may do to the training run: read or replace the model's
/// weights, and ask `fit` to stop after this epoch.
///
/// # Example
/// ```
/// use rjax::keras::callbacks::CallbackContext;
/// use rjax::keras::models::ModelWeights;
/// let mut weights = ModelWeights::default();
/// let mut ctx = CallbackContext::new(&mut weights);
/// ctx.stop_training();
/// assert!(ctx.stop_requested());
/// ```
#[derive(Debug)]
pub struct CallbackContext<'a> {
    weights: &'a mut ModelWeights,
    stop: bool,
}

impl<'a> CallbackContext<'a> {
    /// A context over `weights`, with no stop requested.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::CallbackContext;
    /// use rjax::keras::models::ModelWeights;
    /// let mut weights = ModelWeights::default();
    /// assert!(!CallbackContext::new(&mut weights).stop_requested());
    /// ```
    pub fn new(weights: &'a mut ModelWeights) -> CallbackContext<'a> {
        CallbackContext {
            weights,
            stop: false,
        }
    }

    /// The model's current weights.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::CallbackContext;
    /// use rjax::keras::models::ModelWeights;
    /// let mut weights = ModelWeights::default();
    /// assert!(CallbackContext::new(&mut weights).weights().trainable.is_empty());
    /// ```
    pub fn weights(&self) -> &ModelWeights {
        self.weights
    }

    /// Replaces the model's weights (same shapes and dtypes; `fit` checks
    /// them before continuing).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::CallbackContext;
    /// use rjax::keras::models::ModelWeights;
    /// let mut weights = ModelWeights::default();
    /// CallbackContext::new(&mut weights).set_weights(ModelWeights::default());
    /// ```
    pub fn set_weights(&mut self, weights: ModelWeights) {
        *self.weights = weights;
    }

    /// Asks `fit` to stop once the current epoch's callbacks have run.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::CallbackContext;
    /// use rjax::keras::models::ModelWeights;
    /// let mut weights = ModelWeights::default();
    /// let mut ctx = CallbackContext::new(&mut weights);
    /// ctx.stop_training();
    /// assert!(ctx.stop_requested());
    /// ```
    pub fn stop_training(&mut self) {
        self.stop = true;
    }

    /// Whether a callback asked to stop.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::CallbackContext;
    /// use rjax::keras::models::ModelWeights;
    /// let mut weights = ModelWeights::default();
    /// assert!(!CallbackContext::new(&mut weights).stop_requested());
    /// ```
    pub fn stop_requested(&self) -> bool {
        self.stop
    }
}

/// Code run by `fit` around training. Every method does nothing by default.
///
/// # Example
/// ```
/// use rjax::keras::callbacks::{Callback, CallbackContext, Logs};
/// use rjax::Result;
/// #[derive(Debug)]
/// struct StopWhenLossBelow(f64);
/// impl Callback for StopWhenLossBelow {
///     fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, ctx: &mut CallbackContext) -> Result<()> {
///         if logs.get("loss").is_some_and(|l| l < self.0) {
///             ctx.stop_training();
///         }
///         Ok(())
///     }
/// }
/// let _cb: Box<dyn Callback> = Box::new(StopWhenLossBelow(0.01));
/// ```
pub trait Callback: std::fmt::Debug {
    /// Before the first epoch.
    ///
    /// # Errors
    /// An error stops `fit`, which returns it.
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext) -> Result<()> {
        Ok(())
    }

    /// After epoch `epoch` (counted from 0) with its logs.
    ///
    /// # Errors
    /// An error stops `fit`, which returns it.
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &Logs,
        _ctx: &mut CallbackContext,
    ) -> Result<()> {
        Ok(())
    }

    /// After the last epoch.
    ///
    /// # Errors
    /// An error stops `fit`, which returns it.
    fn on_train_end(&mut self, _ctx: &mut CallbackContext) -> Result<()> {
        Ok(())
    }
}

/// The record of a `fit` run: every logged value per epoch (Keras'
/// `History`). `fit` returns it; it is also a [`Callback`].
///
/// # Example
/// ```
/// use rjax::keras::callbacks::{Callback, CallbackContext, History, Logs};
/// use rjax::keras::models::ModelWeights;
/// let mut history = History::default();
/// let mut weights = ModelWeights::default();
/// let mut logs = Logs::default();
/// logs.push("loss", 0.5);
/// history.on_epoch_end(0, &logs, &mut CallbackContext::new(&mut weights)).unwrap();
/// assert_eq!(history.loss(), &[0.5]);
/// assert_eq!(history.epochs, vec![0]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The epochs run, from 0.
    pub epochs: Vec<usize>,
    /// Each logged name (`loss`, `val_loss`, metric names) with its value
    /// per epoch.
    pub history: BTreeMap<String, Vec<f64>>,
}

impl History {
    /// The values logged as `name`, one per epoch.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::History;
    /// assert_eq!(History::default().get("val_loss"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.history.get(name).map(Vec::as_slice)
    }

    /// The training loss per epoch.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::History;
    /// assert!(History::default().loss().is_empty());
    /// ```
    pub fn loss(&self) -> &[f64] {
        self.get("loss").unwrap_or(&[])
    }
}

impl Callback for History {
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _ctx: &mut CallbackContext,
    ) -> Result<()> {
        self.epochs.push(epoch);
        for (name, value) in logs.entries() {
            self.history.entry(name.clone()).or_default().push(*value);
        }
        Ok(())
    }
}

/// Whether a monitored value should go down or up.
///
/// # Example
/// ```
/// use rjax::keras::callbacks::{EarlyStopping, Mode};
/// let stopper = EarlyStopping::new("val_auc").mode(Mode::Max);
/// assert_eq!(stopper.stopped_epoch(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Up for names containing `acc`, `auc` or `precision`/`recall`, down
    /// otherwise (Keras' `auto`).
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// Stops training when a monitored value has stopped improving (Keras'
/// `EarlyStopping`): after `patience` epochs without an improvement of more
/// than `min_delta`, it stops, and with `restore_best_weights` it first
/// puts back the weights of the best epoch.
///
/// # Example
/// ```
/// use rjax::keras::callbacks::{Callback, CallbackContext, EarlyStopping, Logs};
/// use rjax::keras::models::ModelWeights;
/// let mut stopper = EarlyStopping::new("loss").patience(1);
/// let mut weights = ModelWeights::default();
/// let mut ctx = CallbackContext::new(&mut weights);
/// stopper.on_train_begin(&mut ctx).unwrap();
/// for (epoch, loss) in [1.0, 0.5, 0.6, 0.7].into_iter().enumerate() {
///     let mut logs = Logs::default();
///     logs.push("loss", loss);
///     stopper.on_epoch_end(epoch, &logs, &mut ctx).unwrap();
///     if ctx.stop_requested() {
///         break;
///     }
/// }
/// assert!(ctx.stop_requested());
/// assert_eq!(stopper.stopped_epoch(), Some(2));
/// assert_eq!(stopper.best_epoch(), Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    mode: Mode,
    restore_best_weights: bool,
    wait: usize,
    best: Option<f64>,
    best_epoch: Option<usize>,
    best_weights: Option<ModelWeights>,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Watches the logged value `monitor` (Keras' default is `"val_loss"`),
    /// with patience 0, min_delta 0, mode `Auto`, and no weight restoring.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::EarlyStopping;
    /// let stopper = EarlyStopping::new("val_loss");
    /// assert_eq!(stopper.stopped_epoch(), None);
    /// ```
    pub fn new(monitor: &str) -> EarlyStopping {
        EarlyStopping {
            monitor: monitor.to_string(),
            min_delta: 0.0,
            patience: 0,
            mode: Mode::Auto,
            restore_best_weights: false,
            wait: 0,
            best: None,
            best_epoch: None,
            best_weights: None,
            stopped_epoch: None,
        }
    }

    /// Epochs without improvement to wait before stopping.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::EarlyStopping;
    /// let _ = EarlyStopping::new("val_loss").patience(5);
    /// ```
    pub fn patience(mut self, patience: usize) -> EarlyStopping {
        self.patience = patience;
        self
    }

    /// The smallest change that counts as an improvement.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::EarlyStopping;
    /// let _ = EarlyStopping::new("val_loss").min_delta(1e-4);
    /// ```
    pub fn min_delta(mut self, min_delta: f64) -> EarlyStopping {
        self.min_delta = min_delta.abs();
        self
    }

    /// Whether lower or higher is better.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::{EarlyStopping, Mode};
    /// let _ = EarlyStopping::new("val_accuracy").mode(Mode::Max);
    /// ```
    pub fn mode(mut self, mode: Mode) -> EarlyStopping {
        self.mode = mode;
        self
    }

    /// Whether to put back the best epoch's weights when stopping.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::EarlyStopping;
    /// let _ = EarlyStopping::new("val_loss").restore_best_weights(true);
    /// ```
    pub fn restore_best_weights(mut self, restore: bool) -> EarlyStopping {
        self.restore_best_weights = restore;
        self
    }

    /// The epoch at which training stopped, if it did.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::EarlyStopping;
    /// assert_eq!(EarlyStopping::new("loss").stopped_epoch(), None);
    /// ```
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }

    /// The epoch with the best monitored value so far.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::callbacks::EarlyStopping;
    /// assert_eq!(EarlyStopping::new("loss").best_epoch(), None);
    /// ```
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// True when higher values are better.
    fn maximizes(&self) -> bool {
        match self.mode {
            Mode::Min => false,
            Mode::Max => true,
            Mode::Auto => ["acc", "auc", "precision", "recall"]
                .iter()
                .any(|s| self.monitor.contains(s)),
        }
    }

    /// Keras' `_is_improvement`.
    fn improves(&self, value: f64) -> bool {
        match self.best {
            None => !value.is_nan(),
            Some(best) if self.maximizes() => value - self.min_delta > best,
            Some(best) => value + self.min_delta < best,
        }
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _ctx: &mut CallbackContext) -> Result<()> {
        self.wait = 0;
        self.best = None;
        self.best_epoch = None;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &Logs, ctx: &mut CallbackContext) -> Result<()> {
        let Some(value) = logs.get(&self.monitor) else {
            let known: Vec<&str> = logs.entries().iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::op(
                "EarlyStopping",
                format!(
                    "monitored value '{}' is not logged (logged: {}); validation values \
                     need validation_data or validation_split",
                    self.monitor,
                    known.join(", ")
                ),
            ));
        };
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(ctx.weights().clone());
        }
        self.wait += 1;
        if self.improves(value) {
            self.best = Some(value);
            self.best_epoch = Some(epoch);
            if self.restore_best_weights {
                self.best_weights = Some(ctx.weights().clone());
            }
            self.wait = 0;
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = Some(epoch);
            ctx.stop_training();
            if let Some(best) = self
                .best_weights
                .clone()
                .filter(|_| self.restore_best_weights)
            {
                ctx.set_weights(best);
            }
        }
        Ok(())
    }
}
