//! Activation functions ([`ActivationFn`]) and the [`Activation`] layer
//! that applies one.
//!
//! Layers that take an activation (`Dense::new(64).activation("relu")`)
//! accept either an [`ActivationFn`] or its Keras name; an unknown name is
//! reported as a typed error when the layer is built, so a builder chain
//! never panics.

use super::{CallContext, Layer, LayerOutput, Weight};
use crate::{nn, Array, Error, Result};

/// An elementwise (or, for the softmaxes, last-axis) activation function.
///
/// # Example
/// ```
/// use rjax::keras::layers::ActivationFn;
/// use rjax::Array;
/// let x = Array::from_vec(vec![-1.0f32, 2.0], &[2]).unwrap();
/// assert_eq!(ActivationFn::Relu.apply(&x).to_vec::<f32>().unwrap(), vec![0.0, 2.0]);
/// assert_eq!(ActivationFn::from_name("linear").unwrap(), ActivationFn::Linear);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationFn {
    /// The identity (Keras' `linear`, the default).
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Softmax over the last axis.
    Softmax,
    /// Log-softmax over the last axis.
    LogSoftmax,
    /// Exact GELU, `x·Φ(x)` (Keras' default `approximate=False`).
    Gelu,
    /// `x · sigmoid(x)` (also called swish).
    Silu,
    /// `log(1 + e^x)`.
    Softplus,
    /// `e^x`.
    Exponential,
}

impl ActivationFn {
    /// Every activation with its Keras name.
    const NAMED: [(&'static str, ActivationFn); 12] = [
        ("linear", ActivationFn::Linear),
        ("relu", ActivationFn::Relu),
        ("relu6", ActivationFn::Relu6),
        ("sigmoid", ActivationFn::Sigmoid),
        ("tanh", ActivationFn::Tanh),
        ("softmax", ActivationFn::Softmax),
        ("log_softmax", ActivationFn::LogSoftmax),
        ("gelu", ActivationFn::Gelu),
        ("silu", ActivationFn::Silu),
        ("swish", ActivationFn::Silu),
        ("softplus", ActivationFn::Softplus),
        ("exponential", ActivationFn::Exponential),
    ];

    /// The activation with Keras name `name` (`"relu"`, `"softmax"`, ...).
    ///
    /// # Errors
    /// `Error::Op` listing the known names when `name` is unknown.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::ActivationFn;
    /// assert_eq!(ActivationFn::from_name("tanh").unwrap(), ActivationFn::Tanh);
    /// let err = ActivationFn::from_name("rleu").unwrap_err().to_string();
    /// assert!(err.contains("unknown activation 'rleu'"), "{err}");
    /// ```
    pub fn from_name(name: &str) -> Result<ActivationFn> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::NAMED.iter().map(|(n, _)| *n).collect();
                Error::op(
                    "activation",
                    format!("unknown activation '{name}' (known: {})", known.join(", ")),
                )
            })
    }

    /// The Keras name.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::ActivationFn;
    /// assert_eq!(ActivationFn::Gelu.name(), "gelu");
    /// ```
    pub fn name(self) -> &'static str {
        Self::NAMED
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("linear", |(n, _)| *n)
    }

    /// Applies the activation (traceable).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::ActivationFn;
    /// use rjax::Array;
    /// let x = Array::from_vec(vec![0.0f32, 0.0], &[1, 2]).unwrap();
    /// assert_eq!(ActivationFn::Softmax.apply(&x).to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
    /// ```
    pub fn apply(self, x: &Array) -> Array {
        match self {
            ActivationFn::Linear => x.clone(),
            ActivationFn::Relu => nn::relu(x),
            ActivationFn::Relu6 => nn::relu6(x),
            ActivationFn::Sigmoid => nn::sigmoid(x),
            ActivationFn::Tanh => x.tanh(),
            ActivationFn::Softmax => nn::softmax(x, -1),
            ActivationFn::LogSoftmax => nn::log_softmax(x, -1),
            ActivationFn::Gelu => nn::gelu(x, false),
            ActivationFn::Silu => nn::silu(x),
            ActivationFn::Softplus => nn::softplus(x),
            ActivationFn::Exponential => x.exp(),
        }
    }
}

/// What a layer's `activation(..)` builder accepts: an [`ActivationFn`] or
/// a Keras name (resolved, and reported if unknown, when the layer builds).
///
/// # Example
/// ```
/// use rjax::keras::layers::{ActivationFn, IntoActivation};
/// assert_eq!("relu".into_activation().unwrap(), ActivationFn::Relu);
/// assert_eq!(ActivationFn::Tanh.into_activation().unwrap(), ActivationFn::Tanh);
/// ```
pub trait IntoActivation {
    /// The activation, or the error for an unknown name.
    ///
    /// # Errors
    /// As [`ActivationFn::from_name`].
    fn into_activation(self) -> Result<ActivationFn>;
}

impl IntoActivation for ActivationFn {
    fn into_activation(self) -> Result<ActivationFn> {
        Ok(self)
    }
}

impl IntoActivation for &str {
    fn into_activation(self) -> Result<ActivationFn> {
        ActivationFn::from_name(self)
    }
}

/// Applies an activation function to its input (Keras'
/// `layers.Activation`); it has no weights.
///
/// # Example
/// ```
/// use rjax::keras::layers::{Activation, CallContext, Layer};
/// use rjax::{random, Array};
/// let mut layer = Activation::new("relu");
/// assert!(layer.build(&[2], &random::key(0)).unwrap().is_empty());
/// let x = Array::from_vec(vec![-1.0f32, 3.0], &[1, 2]).unwrap();
/// let ctx = CallContext { training: false, key: None };
/// assert_eq!(layer.call(&[], &x, &ctx).output.to_vec::<f32>().unwrap(), vec![0.0, 3.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Activation {
    activation: Result<ActivationFn>,
}

impl Activation {
    /// The layer applying `activation` (an [`ActivationFn`] or a Keras name).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Activation, ActivationFn};
    /// let layer = Activation::new(ActivationFn::Sigmoid);
    /// assert_eq!(layer.function().unwrap(), ActivationFn::Sigmoid);
    /// ```
    pub fn new(activation: impl IntoActivation) -> Activation {
        Activation {
            activation: activation.into_activation(),
        }
    }

    /// The activation function, or the error for an unknown name.
    ///
    /// # Errors
    /// As [`ActivationFn::from_name`].
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Activation;
    /// assert!(Activation::new("nope").function().is_err());
    /// ```
    pub fn function(&self) -> Result<ActivationFn> {
        self.activation.clone()
    }
}

impl Layer for Activation {
    fn class_name(&self) -> &'static str {
        "Activation"
    }

    fn build(&mut self, _input_shape: &[usize], _key: &Array) -> Result<Vec<Weight>> {
        self.function().map(|_| Vec::new())
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }

    fn call(&self, _weights: &[Array], inputs: &Array, _ctx: &CallContext) -> LayerOutput {
        let f = self.activation.clone().unwrap_or(ActivationFn::Linear);
        LayerOutput {
            output: f.apply(inputs),
            updated_state: Vec::new(),
        }
    }
}
