//! The densely connected layer, [`Dense`]: `activation(x @ kernel + bias)`.

use super::activation::{ActivationFn, IntoActivation};
use super::{CallContext, Layer, LayerOutput, Weight};
use crate::keras::initializers::Initializer;
use crate::{random, Array, DType, Error, Result};

/// A densely connected layer: `activation(inputs @ kernel + bias)`, with a
/// kernel of shape `[input_dim, units]` and a bias of shape `[units]`,
/// applied to the last axis of its input (Keras' `layers.Dense`).
///
/// # Example
/// ```
/// use rjax::keras::layers::{CallContext, Dense, Layer};
/// use rjax::keras::initializers::Initializer;
/// use rjax::{random, Array};
/// let mut dense = Dense::new(2)
///     .activation("relu")
///     .kernel_initializer(Initializer::Ones)
///     .bias_initializer(Initializer::Constant(-1.0));
/// let weights = dense.build(&[3], &random::key(0)).unwrap();
/// assert_eq!(weights[0].name, "kernel");
/// assert_eq!(weights[0].value.shape(), &[3, 2]);
/// let values: Vec<Array> = weights.into_iter().map(|w| w.value).collect();
/// let x = Array::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 3]).unwrap();
/// let ctx = CallContext { training: false, key: None };
/// let y = dense.call(&values, &x, &ctx).output;
/// assert_eq!(y.to_vec::<f32>().unwrap(), vec![5.0, 5.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Dense {
    units: usize,
    activation: Result<ActivationFn>,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
}

impl Dense {
    /// A layer with `units` outputs, no activation, a bias, a Glorot-uniform
    /// kernel and a zero bias (Keras' defaults).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// assert_eq!(Dense::new(64).units(), 64);
    /// ```
    pub fn new(units: usize) -> Dense {
        Dense {
            units,
            activation: Ok(ActivationFn::Linear),
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
        }
    }

    /// Sets the activation: an [`ActivationFn`] or a Keras name such as
    /// `"relu"` (an unknown name makes `build` fail).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{ActivationFn, Dense};
    /// let layer = Dense::new(10).activation("softmax");
    /// assert_eq!(layer.activation_fn().unwrap(), ActivationFn::Softmax);
    /// ```
    pub fn activation(mut self, activation: impl IntoActivation) -> Dense {
        self.activation = activation.into_activation();
        self
    }

    /// Whether the layer adds a bias (default true).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Dense, Layer};
    /// use rjax::random;
    /// let mut layer = Dense::new(4).use_bias(false);
    /// assert_eq!(layer.build(&[3], &random::key(0)).unwrap().len(), 1);
    /// ```
    pub fn use_bias(mut self, use_bias: bool) -> Dense {
        self.use_bias = use_bias;
        self
    }

    /// Sets how the kernel is initialized (default Glorot uniform).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::{initializers::Initializer, layers::Dense};
    /// let layer = Dense::new(4).kernel_initializer(Initializer::HeNormal);
    /// assert_eq!(layer.units(), 4);
    /// ```
    pub fn kernel_initializer(mut self, initializer: Initializer) -> Dense {
        self.kernel_initializer = initializer;
        self
    }

    /// Sets how the bias is initialized (default zeros).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::{initializers::Initializer, layers::Dense};
    /// let layer = Dense::new(4).bias_initializer(Initializer::Ones);
    /// assert_eq!(layer.units(), 4);
    /// ```
    pub fn bias_initializer(mut self, initializer: Initializer) -> Dense {
        self.bias_initializer = initializer;
        self
    }

    /// The number of outputs.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// assert_eq!(Dense::new(3).units(), 3);
    /// ```
    pub fn units(&self) -> usize {
        self.units
    }

    /// The activation, or the error for an unknown name.
    ///
    /// # Errors
    /// As [`ActivationFn::from_name`].
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{ActivationFn, Dense};
    /// assert_eq!(Dense::new(3).activation_fn().unwrap(), ActivationFn::Linear);
    /// ```
    pub fn activation_fn(&self) -> Result<ActivationFn> {
        self.activation.clone()
    }
}

impl Layer for Dense {
    fn class_name(&self) -> &'static str {
        "Dense"
    }

    fn build(&mut self, input_shape: &[usize], key: &Array) -> Result<Vec<Weight>> {
        self.activation_fn()?;
        let Some(&input_dim) = input_shape.last() else {
            return Err(Error::op(
                "Dense",
                "needs inputs with at least one feature axis, got examples of shape []",
            ));
        };
        if self.units == 0 {
            return Err(Error::op("Dense", "units must be at least 1"));
        }
        let (kernel_key, bias_key) = random::split2(key);
        let mut weights = vec![Weight {
            name: "kernel".to_string(),
            value: self
                .kernel_initializer
                .init(&kernel_key, &[input_dim, self.units], DType::F32),
            trainable: true,
        }];
        if self.use_bias {
            weights.push(Weight {
                name: "bias".to_string(),
                value: self
                    .bias_initializer
                    .init(&bias_key, &[self.units], DType::F32),
                trainable: true,
            });
        }
        Ok(weights)
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        match input_shape.split_last() {
            Some((_, lead)) => Ok(lead.iter().copied().chain([self.units]).collect()),
            None => Err(Error::op("Dense", "needs inputs with at least one axis")),
        }
    }

    fn call(&self, weights: &[Array], inputs: &Array, _ctx: &CallContext) -> LayerOutput {
        let mut y = inputs.matmul(&weights[0]);
        if self.use_bias {
            y = y + &weights[1];
        }
        let activation = self.activation.clone().unwrap_or(ActivationFn::Linear);
        LayerOutput {
            output: activation.apply(&y),
            updated_state: Vec::new(),
        }
    }
}
