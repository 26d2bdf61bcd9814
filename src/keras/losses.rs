//! Losses: pure functions from targets and predictions to a scalar.

use crate::Array;
use rjax_ir::Result;

/// A loss function, averaged over the batch.
pub trait Loss: Send + Sync + std::fmt::Debug {
    /// The Keras name, e.g. `"mean_squared_error"`.
    fn name(&self) -> &str;

    /// The mean loss over the batch, a rank-0 array. Traceable.
    fn call(&self, y_true: &Array, y_pred: &Array) -> Array;

    /// Checks concrete targets before training starts (for example labels
    /// out of range for sparse categorical cross-entropy), given the shape of
    /// the model's output for one example.
    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()>;
}
