//! Optimizers as pure `init`/`update` functions over the trainable weights.

use crate::Array;

/// An optimizer: pure functions from (weights, gradients, state) to new
/// weights and state, so a whole training step can be jitted.
pub trait Optimizer: Send + Sync + std::fmt::Debug {
    /// The optimizer state for `params` (for example momentum buffers and
    /// a step counter), as a flat list of arrays.
    fn init(&self, params: &[Array]) -> Vec<Array>;

    /// One update: returns the new parameters and the new state.
    /// Traceable (no concrete values are read), so it runs under `jit`.
    fn update(
        &self,
        params: &[Array],
        grads: &[Array],
        state: &[Array],
    ) -> (Vec<Array>, Vec<Array>);
}
