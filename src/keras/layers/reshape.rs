//! Shape layers without weights: [`Flatten`] and [`Reshape`].

use super::{CallContext, Layer, LayerOutput, Weight};
use crate::{Array, Error, Result};

/// Flattens each example to one axis: `[batch, d1, d2, ..]` becomes
/// `[batch, d1·d2·..]` (Keras' `layers.Flatten`).
///
/// # Example
/// ```
/// use rjax::keras::layers::{CallContext, Flatten, Layer};
/// use rjax::{jnp, DType};
/// let layer = Flatten::new();
/// assert_eq!(layer.output_shape(&[8, 8]).unwrap(), vec![64]);
/// let ctx = CallContext { training: false, key: None };
/// let y = layer.call(&[], &jnp::zeros(&[5, 8, 8], DType::F32), &ctx).output;
/// assert_eq!(y.shape(), &[5, 64]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Flatten;

impl Flatten {
    /// The layer.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Flatten, Layer};
    /// assert_eq!(Flatten::new().class_name(), "Flatten");
    /// ```
    pub fn new() -> Flatten {
        Flatten
    }
}

impl Layer for Flatten {
    fn class_name(&self) -> &'static str {
        "Flatten"
    }

    fn build(&mut self, _input_shape: &[usize], _key: &Array) -> Result<Vec<Weight>> {
        Ok(Vec::new())
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(vec![input_shape.iter().product()])
    }

    fn call(&self, _weights: &[Array], inputs: &Array, _ctx: &CallContext) -> LayerOutput {
        let batch = inputs.shape().first().copied().unwrap_or(1);
        let per_example: usize = inputs.shape().iter().skip(1).product();
        LayerOutput {
            output: inputs.reshape(&[batch, per_example]),
            updated_state: Vec::new(),
        }
    }
}

/// Reshapes each example to `target_shape`, in which one entry may be `-1`
/// (inferred), keeping the batch axis (Keras' `layers.Reshape`).
///
/// # Example
/// ```
/// use rjax::keras::layers::{CallContext, Layer, Reshape};
/// use rjax::{jnp, random, DType};
/// let mut layer = Reshape::new(&[4, -1]);
/// layer.build(&[12], &random::key(0)).unwrap();
/// assert_eq!(layer.output_shape(&[12]).unwrap(), vec![4, 3]);
/// let ctx = CallContext { training: false, key: None };
/// let y = layer.call(&[], &jnp::zeros(&[2, 12], DType::F32), &ctx).output;
/// assert_eq!(y.shape(), &[2, 4, 3]);
/// ```
#[derive(Clone, Debug)]
pub struct Reshape {
    target: Vec<i64>,
    resolved: Option<Vec<usize>>,
}

impl Reshape {
    /// Reshapes examples to `target_shape` (one entry may be `-1`).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Layer, Reshape};
    /// assert_eq!(Reshape::new(&[2, 3]).output_shape(&[6]).unwrap(), vec![2, 3]);
    /// ```
    pub fn new(target_shape: &[i64]) -> Reshape {
        Reshape {
            target: target_shape.to_vec(),
            resolved: None,
        }
    }

    /// The target shape with `-1` resolved for examples of `input_shape`.
    fn resolve(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        let size: usize = input_shape.iter().product();
        let unknown: Vec<usize> = (0..self.target.len())
            .filter(|&i| self.target[i] == -1)
            .collect();
        let bad = |why: &str| {
            Error::op(
                "Reshape",
                format!(
                    "cannot reshape examples of shape {input_shape:?} ({size} elements) \
                     to {:?}: {why}",
                    self.target
                ),
            )
        };
        if unknown.len() > 1 || self.target.iter().any(|&d| d < -1) {
            return Err(bad(
                "at most one entry may be -1 and the others must be >= 0",
            ));
        }
        let known: usize = self
            .target
            .iter()
            .filter(|&&d| d >= 0)
            .map(|&d| d as usize)
            .product();
        let mut shape: Vec<usize> = self.target.iter().map(|&d| d.max(0) as usize).collect();
        if let Some(&i) = unknown.first() {
            if known == 0 || !size.is_multiple_of(known) {
                return Err(bad("the element counts do not divide"));
            }
            shape[i] = size / known;
        } else if known != size {
            return Err(bad("the element counts differ"));
        }
        Ok(shape)
    }
}

impl Layer for Reshape {
    fn class_name(&self) -> &'static str {
        "Reshape"
    }

    fn build(&mut self, input_shape: &[usize], _key: &Array) -> Result<Vec<Weight>> {
        self.resolved = Some(self.resolve(input_shape)?);
        Ok(Vec::new())
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        self.resolve(input_shape)
    }

    fn call(&self, _weights: &[Array], inputs: &Array, _ctx: &CallContext) -> LayerOutput {
        let batch = inputs.shape().first().copied().unwrap_or(1);
        let per_example: Vec<usize> = inputs.shape().iter().skip(1).copied().collect();
        let target = match &self.resolved {
            Some(shape) => shape.clone(),
            None => crate::jnp::or_panic(self.resolve(&per_example)),
        };
        let shape: Vec<usize> = std::iter::once(batch).chain(target).collect();
        LayerOutput {
            output: inputs.reshape(&shape),
            updated_state: Vec::new(),
        }
    }
}
