//! Metrics as pure state-update functions, updated inside the jitted step.

use crate::Array;

/// A metric: a state (a flat list of arrays), a pure update from a batch,
/// and a result read from the state.
pub trait Metric: Send + Sync + std::fmt::Debug {
    /// The Keras name shown in logs, e.g. `"binary_accuracy"`.
    fn name(&self) -> &str;

    /// The empty state.
    fn init(&self) -> Vec<Array>;

    /// The state after one more batch. Traceable.
    fn update(&self, state: &[Array], y_true: &Array, y_pred: &Array) -> Vec<Array>;

    /// The metric's value for the batches seen so far, a rank-0 array.
    fn result(&self, state: &[Array]) -> Array;
}
