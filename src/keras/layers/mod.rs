//! Layers: the [`Layer`] trait and the built-in layers, and the merge
//! layers of the functional API ([`MergeLayer`]: `Add`, `Concatenate`, ...).
//!
//! A layer is configuration (units, activation, rates, ...) plus the shapes
//! it learned when it was built; its weights live outside it, in the model,
//! so that calling a layer is a pure function that transformations can trace.

use crate::Array;
use rjax_ir::Result;

mod activation;
mod dense;
mod dropout;
mod embedding;
mod merge;
mod normalization;
mod reshape;

pub use activation::{Activation, ActivationFn, IntoActivation};
pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use merge::{Add, Average, Concatenate, Maximum, MergeLayer, Multiply, Subtract};
pub use normalization::{BatchNormalization, LayerNormalization};
pub use reshape::{Flatten, Reshape};

/// One weight a layer creates in [`Layer::build`].
///
/// # Example
/// ```
/// use rjax::keras::layers::{Dense, Layer};
/// let weights = Dense::new(3).build(&[2], &rjax::random::key(0)).unwrap();
/// assert_eq!(weights[0].name, "kernel");
/// assert_eq!(weights[0].value.shape(), &[2, 3]);
/// assert!(weights[0].trainable);
/// ```
#[derive(Clone, Debug)]
pub struct Weight {
    /// Its name inside the layer, as Keras names it (`kernel`, `bias`,
    /// `gamma`, `moving_mean`, ...).
    pub name: String,
    /// Its initial value.
    pub value: Array,
    /// False for state that the optimizer does not update (batch
    /// normalization's moving statistics).
    pub trainable: bool,
}

/// What a layer call needs besides its weights and inputs.
///
/// # Example
/// ```
/// use rjax::keras::layers::CallContext;
/// let key = rjax::random::key(0);
/// let training = CallContext { training: true, key: Some(&key) };
/// let inference = CallContext { training: false, key: None };
/// assert!(training.training && inference.key.is_none());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CallContext<'a> {
    /// Training mode (dropout active, batch statistics used and updated).
    pub training: bool,
    /// A PRNG key for stochastic layers; `None` when the caller has none
    /// (inference), in which case stochastic layers act as in inference.
    pub key: Option<&'a Array>,
}

/// The result of a layer call.
///
/// # Example
/// ```
/// use rjax::keras::layers::{CallContext, Dropout, Layer};
/// use rjax::jnp;
/// let mut dropout = Dropout::new(0.5);
/// dropout.build(&[4], &rjax::random::key(0)).unwrap();
/// let x = jnp::ones(&[2, 4], rjax::DType::F32);
/// let out = dropout.call(&[], &x, &CallContext { training: false, key: None });
/// assert_eq!(out.output.to_vec::<f32>().unwrap(), vec![1.0; 8]); // identity in inference
/// assert!(out.updated_state.is_empty()); // no state to update
/// ```
#[derive(Clone, Debug)]
pub struct LayerOutput {
    /// The layer's output.
    pub output: Array,
    /// New values of the layer's non-trainable weights, in the order of
    /// [`Layer::build`]'s non-trainable weights (empty for layers without
    /// state, or when nothing changes).
    pub updated_state: Vec<Array>,
}

/// A Keras layer.
///
/// Shapes passed to and returned by a layer exclude the batch axis: they are
/// the shape of one example.
///
/// # Example
///
/// Building a `Dense` layer by hand and calling it as the pure function
/// models use:
/// ```
/// use rjax::keras::layers::{CallContext, Dense, Layer};
/// use rjax::{random, Array};
///
/// let mut dense = Dense::new(3);
/// let weights = dense.build(&[2], &random::key(0)).unwrap();
/// assert_eq!(weights.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["kernel", "bias"]);
/// assert!(weights.iter().all(|w| w.trainable));
/// assert_eq!(dense.output_shape(&[2]).unwrap(), vec![3]);
///
/// let values: Vec<Array> = weights.into_iter().map(|w| w.value).collect();
/// let x = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
/// let ctx = CallContext { training: false, key: None };
/// let out = dense.call(&values, &x, &ctx);
/// assert_eq!(out.output.shape(), &[2, 3]);
/// assert!(out.updated_state.is_empty());
/// ```
pub trait Layer: Send + Sync + std::fmt::Debug {
    /// The Keras class name, e.g. `"Dense"`; models derive default layer
    /// names from it (`dense`, `dense_1`, ...).
    fn class_name(&self) -> &'static str;

    /// Creates the layer's weights for examples of shape `input_shape`,
    /// drawing random initial values from `key`, and records what the layer
    /// needs to know about its input. Errors if the shape is unsuitable.
    fn build(&mut self, input_shape: &[usize], key: &Array) -> Result<Vec<Weight>>;

    /// The shape of one output example for one input example of
    /// `input_shape` (valid after `build`).
    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>>;

    /// The pure forward pass on a batch `inputs` (batch axis first), given
    /// the layer's weights in the order `build` created them.
    fn call(&self, weights: &[Array], inputs: &Array, ctx: &CallContext) -> LayerOutput;
}
