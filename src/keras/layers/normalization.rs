//! Normalization layers: [`LayerNormalization`] (per example, over the
//! feature axis) and [`BatchNormalization`] (per feature, over the batch,
//! with moving statistics as non-trainable state).
//!
//! Both compute, with `mean` and `var` the (population) moments and
//! `gamma`, `beta` the learned scale and offset,
//! `y = x * inv + (beta - mean * inv)` where `inv = gamma / sqrt(var + eps)`,
//! as Keras does. Batch normalization in training mode normalizes with the
//! batch's moments and returns updated moving statistics
//! `moving = moving * momentum + batch * (1 - momentum)` (population
//! variance); in inference it normalizes with the moving statistics.

use super::{CallContext, Layer, LayerOutput, Weight};
use crate::{jnp, stop_gradient, Array, DType, Error, Result};

/// `x * inv + (beta - mean * inv)` with `inv = gamma / sqrt(var + eps)`;
/// `mean` and `var` broadcast against `x`, `gamma` and `beta` are
/// reshaped to `param_shape` (absent ones are 1 and 0).
fn normalize(
    x: &Array,
    mean: &Array,
    var: &Array,
    gamma: Option<&Array>,
    beta: Option<&Array>,
    epsilon: f64,
    param_shape: &[usize],
) -> Array {
    let mut inv = jnp::rsqrt(&(var + epsilon));
    if let Some(gamma) = gamma {
        inv = inv * gamma.reshape(param_shape);
    }
    let mut offset = -(mean * &inv);
    if let Some(beta) = beta {
        offset = offset + beta.reshape(param_shape);
    }
    x * inv + offset
}

/// The feature axis of a batch of examples of shape `input_shape`
/// (`axis` counts the batch axis, negative counts from the end); errors if
/// it is out of range or the batch axis.
fn feature_axis(layer: &str, axis: isize, input_shape: &[usize]) -> Result<usize> {
    let rank = input_shape.len() + 1;
    let resolved = if axis < 0 { axis + rank as isize } else { axis };
    if resolved <= 0 || resolved >= rank as isize {
        let message = format!(
            "axis {axis} is not a feature axis of inputs of rank {rank} \
             (examples of shape {input_shape:?} plus the batch axis)"
        );
        return Err(Error::op(layer, message));
    }
    Ok(resolved as usize)
}

/// The shape `[1, .., features, .., 1]` of rank `rank` that broadcasts a
/// per-feature vector along `axis`.
fn param_shape(rank: usize, axis: usize, features: usize) -> Vec<usize> {
    let mut shape = vec![1; rank];
    shape[axis] = features;
    shape
}

/// A weight of shape `[features]` filled with `value`.
fn vector_weight(name: &str, value: f64, features: usize, trainable: bool) -> Weight {
    Weight {
        name: name.to_string(),
        value: jnp::full(&[features], value, DType::F32),
        trainable,
    }
}

/// The optional scale and offset weights, in Keras' order.
fn scale_and_offset(scale: bool, center: bool, features: usize) -> Vec<Weight> {
    let mut weights = Vec::new();
    if scale {
        weights.push(vector_weight("gamma", 1.0, features, true));
    }
    if center {
        weights.push(vector_weight("beta", 0.0, features, true));
    }
    weights
}

/// Settings shared by both layers, with builder methods.
macro_rules! normalization_settings {
    ($ty:ident) => {
        impl $ty {
            /// Sets the feature axis (counting the batch axis; negative
            /// counts from the end).
            ///
            /// # Example
            /// ```
            #[doc = concat!("let layer = rjax::keras::layers::", stringify!($ty), "::new().axis(1);")]
            /// assert_eq!(layer.axis, 1);
            /// ```
            pub fn axis(mut self, axis: isize) -> Self {
                self.axis = axis;
                self
            }

            /// Sets the epsilon added to the variance.
            ///
            /// # Example
            /// ```
            #[doc = concat!("let layer = rjax::keras::layers::", stringify!($ty), "::new().epsilon(1e-5);")]
            /// assert_eq!(layer.epsilon, 1e-5);
            /// ```
            pub fn epsilon(mut self, epsilon: f64) -> Self {
                self.epsilon = epsilon;
                self
            }

            /// Sets whether a learned offset `beta` is added.
            ///
            /// # Example
            /// ```
            #[doc = concat!("let layer = rjax::keras::layers::", stringify!($ty), "::new().center(false);")]
            /// assert!(!layer.center);
            /// ```
            pub fn center(mut self, center: bool) -> Self {
                self.center = center;
                self
            }

            /// Sets whether a learned scale `gamma` multiplies.
            ///
            /// # Example
            /// ```
            #[doc = concat!("let layer = rjax::keras::layers::", stringify!($ty), "::new().scale(false);")]
            /// assert!(!layer.scale);
            /// ```
            pub fn scale(mut self, scale: bool) -> Self {
                self.scale = scale;
                self
            }

            /// `(gamma, beta)` from the weights in `build`'s order.
            fn gamma_beta<'w>(&self, weights: &'w [Array]) -> (Option<&'w Array>, Option<&'w Array>) {
                let gamma = if self.scale { weights.first() } else { None };
                let beta = if self.center {
                    weights.get(usize::from(self.scale))
                } else {
                    None
                };
                (gamma, beta)
            }
        }
    };
}

/// Normalizes each example over its feature axis (Keras'
/// `layers.LayerNormalization`, `epsilon` 1e-3), then scales by `gamma`
/// and shifts by `beta`.
///
/// # Example
/// ```
/// use rjax::keras::layers::{CallContext, Layer, LayerNormalization};
/// use rjax::{random, Array};
/// let mut layer = LayerNormalization::new();
/// let w: Vec<Array> = layer.build(&[2], &random::key(0)).unwrap().into_iter().map(|w| w.value).collect();
/// let x = Array::from_vec(vec![1.0f32, 3.0], &[1, 2]).unwrap();
/// let y = layer.call(&w, &x, &CallContext { training: false, key: None }).output;
/// let expected = 1.0 / (1.0f32 + 1e-3).sqrt(); // (x - 2) / sqrt(1 + eps)
/// let y = y.to_vec::<f32>().unwrap();
/// assert!((y[0] + expected).abs() < 1e-6 && (y[1] - expected).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormalization {
    /// The feature axis, counting the batch axis (default -1).
    pub axis: isize,
    /// Added to the variance (default 1e-3).
    pub epsilon: f64,
    /// Add a learned offset `beta` (default true).
    pub center: bool,
    /// Multiply by a learned scale `gamma` (default true).
    pub scale: bool,
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization {
            axis: -1,
            epsilon: 1e-3,
            center: true,
            scale: true,
        }
    }
}

impl LayerNormalization {
    /// Keras' defaults: last axis, epsilon 1e-3, with `gamma` and `beta`.
    ///
    /// # Example
    /// ```
    /// let layer = rjax::keras::layers::LayerNormalization::new();
    /// assert_eq!((layer.axis, layer.epsilon), (-1, 1e-3));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

normalization_settings!(LayerNormalization);

impl Layer for LayerNormalization {
    fn class_name(&self) -> &'static str {
        "LayerNormalization"
    }

    fn build(&mut self, input_shape: &[usize], _key: &Array) -> Result<Vec<Weight>> {
        let axis = feature_axis("LayerNormalization", self.axis, input_shape)?;
        Ok(scale_and_offset(
            self.scale,
            self.center,
            input_shape[axis - 1],
        ))
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }

    fn call(&self, weights: &[Array], inputs: &Array, _ctx: &CallContext) -> LayerOutput {
        let axis = call_axis(self.axis, inputs);
        let mean = jnp::mean(inputs, axis as isize, true);
        let var = jnp::var(inputs, axis as isize, true);
        let (gamma, beta) = self.gamma_beta(weights);
        let shape = param_shape(inputs.ndim(), axis, inputs.shape()[axis]);
        LayerOutput {
            output: normalize(inputs, &mean, &var, gamma, beta, self.epsilon, &shape),
            updated_state: vec![],
        }
    }
}

/// Normalizes each feature with the batch's mean and variance in training
/// and with moving averages of them in inference (Keras'
/// `layers.BatchNormalization`: momentum 0.99, epsilon 1e-3). Weights, in
/// order: `gamma`, `beta` (trainable), `moving_mean`, `moving_variance`
/// (non-trainable; training calls return their new values in
/// [`LayerOutput::updated_state`]).
///
/// # Example
/// ```
/// use rjax::keras::layers::{BatchNormalization, CallContext, Layer};
/// use rjax::{random, Array};
/// let mut layer = BatchNormalization::new().momentum(0.5);
/// let weights = layer.build(&[1], &random::key(0)).unwrap();
/// assert!(!weights[2].trainable && weights[3].name == "moving_variance");
/// let w: Vec<Array> = weights.into_iter().map(|w| w.value).collect();
/// let x = Array::from_vec(vec![1.0f32, 3.0], &[2, 1]).unwrap();
/// let out = layer.call(&w, &x, &CallContext { training: true, key: None });
/// // Batch mean 2 and variance 1; moving stats move halfway from 0 and 1.
/// assert_eq!(out.updated_state[0].to_vec::<f32>().unwrap(), vec![1.0]);
/// assert_eq!(out.updated_state[1].to_vec::<f32>().unwrap(), vec![1.0]);
/// let y = out.output.to_vec::<f32>().unwrap();
/// assert!((y[1] - 1.0 / (1.0f32 + 1e-3).sqrt()).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormalization {
    /// The feature axis, counting the batch axis (default -1).
    pub axis: isize,
    /// Weight of the old value in the moving averages (default 0.99).
    pub momentum: f64,
    /// Added to the variance (default 1e-3).
    pub epsilon: f64,
    /// Add a learned offset `beta` (default true).
    pub center: bool,
    /// Multiply by a learned scale `gamma` (default true).
    pub scale: bool,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization {
            axis: -1,
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
        }
    }
}

impl BatchNormalization {
    /// Keras' defaults: last axis, momentum 0.99, epsilon 1e-3, with
    /// `gamma` and `beta`.
    ///
    /// # Example
    /// ```
    /// let layer = rjax::keras::layers::BatchNormalization::new();
    /// assert_eq!((layer.momentum, layer.epsilon), (0.99, 1e-3));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the momentum of the moving averages.
    ///
    /// # Example
    /// ```
    /// let layer = rjax::keras::layers::BatchNormalization::new().momentum(0.9);
    /// assert_eq!(layer.momentum, 0.9);
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
}

normalization_settings!(BatchNormalization);

impl Layer for BatchNormalization {
    fn class_name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn build(&mut self, input_shape: &[usize], _key: &Array) -> Result<Vec<Weight>> {
        let axis = feature_axis("BatchNormalization", self.axis, input_shape)?;
        let features = input_shape[axis - 1];
        let mut weights = scale_and_offset(self.scale, self.center, features);
        weights.push(vector_weight("moving_mean", 0.0, features, false));
        weights.push(vector_weight("moving_variance", 1.0, features, false));
        Ok(weights)
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }

    fn call(&self, weights: &[Array], inputs: &Array, ctx: &CallContext) -> LayerOutput {
        let axis = call_axis(self.axis, inputs);
        let shape = param_shape(inputs.ndim(), axis, inputs.shape()[axis]);
        let (gamma, beta) = self.gamma_beta(weights);
        let first_state = usize::from(self.scale) + usize::from(self.center);
        let (moving_mean, moving_var) = (&weights[first_state], &weights[first_state + 1]);
        if !ctx.training {
            let (mean, var) = (moving_mean.reshape(&shape), moving_var.reshape(&shape));
            return LayerOutput {
                output: normalize(inputs, &mean, &var, gamma, beta, self.epsilon, &shape),
                updated_state: vec![],
            };
        }
        let reduced: Vec<isize> = (0..inputs.ndim() as isize)
            .filter(|&a| a != axis as isize)
            .collect();
        let mean = jnp::mean(inputs, reduced.clone(), true);
        let var = jnp::var(inputs, reduced, true);
        let features = [inputs.shape()[axis]];
        let moving = |old: &Array, batch: &Array| {
            let batch = stop_gradient(&batch.reshape(&features)).astype(old.dtype());
            old * self.momentum + batch * (1.0 - self.momentum)
        };
        let updated_state = vec![moving(moving_mean, &mean), moving(moving_var, &var)];
        LayerOutput {
            output: normalize(inputs, &mean, &var, gamma, beta, self.epsilon, &shape),
            updated_state,
        }
    }
}

/// The feature axis of `inputs` for a layer's `axis` setting (validated by
/// `build`): negative axes count from the end.
fn call_axis(axis: isize, inputs: &Array) -> usize {
    let rank = inputs.ndim() as isize;
    let resolved = if axis < 0 { axis + rank } else { axis };
    assert!(
        (1..rank).contains(&resolved),
        "normalization: axis {axis} is not a feature axis of inputs of shape {:?}",
        inputs.shape()
    );
    resolved as usize
}
