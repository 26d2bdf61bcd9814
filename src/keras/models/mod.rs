//! Models: [`Sequential`] stacks and functional [`Model`]s built from
//! symbolic tensors, their weights, the pure forward pass
//! ([`Model::stateless_call`]) and `summary()`.
//!
//! Both kinds of model are the same [`Model`] once built: a graph of layers
//! (a chain for `Sequential`; merges, several inputs and outputs and shared
//! layers for functional models) frozen into a shared network, plus the
//! current weight values. Layers
//! get Keras' default names (`dense`, `dense_1`, ...), which also name the
//! saved weights (`dense/kernel`). Training (`compile`, `fit`, `evaluate`,
//! `predict`) is in [`crate::keras::training`]; saving in
//! [`crate::keras::saving`].

mod functional;
mod model;
mod network;
mod sequential;
mod summary;

pub use functional::{Input, LayerApply, MergeApply, SharedLayer, SymbolicTensor, SymbolicTensors};
pub use model::Model;
pub(crate) use network::{check_weight, Network, INFERENCE};
pub use network::{ModelWeights, WeightInfo};
pub use sequential::Sequential;
