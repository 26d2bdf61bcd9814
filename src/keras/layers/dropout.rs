//! [`Dropout`]: randomly zeroes inputs during training.

use super::{CallContext, Layer, LayerOutput, Weight};
use crate::{jnp, random, Array, Error, Result};

/// Sets each input to 0 with probability `rate` during training and scales
/// the kept ones by `1 / (1 - rate)`, so the expected value is unchanged;
/// the identity in inference, or when the call has no key (Keras'
/// `layers.Dropout`).
///
/// # Example
/// ```
/// use rjax::keras::layers::{CallContext, Dropout, Layer};
/// use rjax::{jnp, random, DType};
/// let mut layer = Dropout::new(0.5);
/// layer.build(&[4], &random::key(0)).unwrap();
/// let x = jnp::ones(&[2, 4], DType::F32);
/// let key = random::key(1);
/// let train = CallContext { training: true, key: Some(&key) };
/// let y = layer.call(&[], &x, &train).output.to_vec::<f32>().unwrap();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// let infer = CallContext { training: false, key: Some(&key) };
/// assert_eq!(layer.call(&[], &x, &infer).output.to_vec::<f32>().unwrap(), vec![1.0; 8]);
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    rate: f64,
}

impl Dropout {
    /// Drops each input with probability `rate`, in `[0, 1)` (checked when
    /// the layer builds).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dropout;
    /// assert_eq!(Dropout::new(0.2).rate(), 0.2);
    /// ```
    pub fn new(rate: f64) -> Dropout {
        Dropout { rate }
    }

    /// The drop probability.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dropout;
    /// assert_eq!(Dropout::new(0.5).rate(), 0.5);
    /// ```
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

impl Layer for Dropout {
    fn class_name(&self) -> &'static str {
        "Dropout"
    }

    fn build(&mut self, _input_shape: &[usize], _key: &Array) -> Result<Vec<Weight>> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::op(
                "Dropout",
                format!("rate must be in [0, 1), got {}", self.rate),
            ));
        }
        Ok(Vec::new())
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }

    fn call(&self, _weights: &[Array], inputs: &Array, ctx: &CallContext) -> LayerOutput {
        let output = match ctx.key {
            Some(key) if ctx.training && self.rate > 0.0 => {
                let keep = random::bernoulli(key, 1.0 - self.rate, inputs.shape());
                let scaled = inputs / (1.0 - self.rate);
                jnp::where_(&keep, &scaled, &jnp::zeros_like(inputs))
            }
            _ => inputs.clone(),
        };
        LayerOutput {
            output,
            updated_state: Vec::new(),
        }
    }
}
