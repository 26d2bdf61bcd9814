//! The [`Embedding`] layer: a trainable lookup table from integer indices
//! to dense vectors, `outputs[..., :] = embeddings[inputs[...], :]`.
//!
//! Its gradient with respect to the table is a scatter-add: each row
//! receives the sum of the output gradients at the positions that looked
//! it up.

use super::{CallContext, Layer, LayerOutput, Weight};
use crate::keras::initializers::Initializer;
use crate::{jnp, Array, DType, Error, Result};

/// Maps integer indices in `[0, input_dim)` to rows of a trainable
/// `[input_dim, output_dim]` table (Keras' `layers.Embedding`); the output
/// has the input's shape plus a last axis of `output_dim`. Float inputs are
/// truncated to integers, as Keras casts them.
///
/// # Example
/// ```
/// use rjax::keras::layers::{CallContext, Embedding, Layer};
/// use rjax::{random, Array};
/// let mut layer = Embedding::new(10, 4);
/// let weights = layer.build(&[3], &random::key(0)).unwrap();
/// assert_eq!(weights[0].name, "embeddings");
/// assert_eq!(layer.output_shape(&[3]).unwrap(), vec![3, 4]);
/// let table = weights[0].value.clone();
/// let ids = Array::from_vec(vec![7i32, 0, 7, 1, 2, 3], &[2, 3]).unwrap();
/// let ctx = CallContext { training: false, key: None };
/// let y = layer.call(&[table.clone()], &ids, &ctx).output;
/// assert_eq!(y.shape(), &[2, 3, 4]);
/// assert_eq!(y.get(0).get(2).to_vec::<f32>().unwrap(), table.get(7).to_vec::<f32>().unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    embeddings_initializer: Initializer,
}

impl Embedding {
    /// A table for `input_dim` indices of `output_dim` values each,
    /// initialized uniformly in `±0.05` (Keras' default).
    ///
    /// # Example
    /// ```
    /// let layer = rjax::keras::layers::Embedding::new(1000, 64);
    /// assert_eq!((layer.input_dim(), layer.output_dim()), (1000, 64));
    /// ```
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Embedding {
            input_dim,
            output_dim,
            embeddings_initializer: Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
            },
        }
    }

    /// Sets how the table is initialized.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::{initializers::Initializer, layers::{Embedding, Layer}};
    /// use rjax::random;
    /// let mut layer = Embedding::new(3, 2).embeddings_initializer(Initializer::Ones);
    /// let w = layer.build(&[5], &random::key(0)).unwrap();
    /// assert_eq!(w[0].value.to_vec::<f32>().unwrap(), vec![1.0; 6]);
    /// ```
    pub fn embeddings_initializer(mut self, initializer: Initializer) -> Self {
        self.embeddings_initializer = initializer;
        self
    }

    /// The number of distinct indices.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::layers::Embedding::new(5, 2).input_dim(), 5);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// The length of each embedding vector.
    ///
    /// # Example
    /// ```
    /// assert_eq!(rjax::keras::layers::Embedding::new(5, 2).output_dim(), 2);
    /// ```
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }
}

impl Layer for Embedding {
    fn class_name(&self) -> &'static str {
        "Embedding"
    }

    fn build(&mut self, _input_shape: &[usize], key: &Array) -> Result<Vec<Weight>> {
        if self.input_dim == 0 || self.output_dim == 0 {
            let message = format!(
                "input_dim and output_dim must be positive, got {} and {}",
                self.input_dim, self.output_dim
            );
            return Err(Error::op("Embedding", message));
        }
        let shape = [self.input_dim, self.output_dim];
        Ok(vec![Weight {
            name: "embeddings".to_string(),
            value: self.embeddings_initializer.init(key, &shape, DType::F32),
            trainable: true,
        }])
    }

    fn output_shape(&self, input_shape: &[usize]) -> Result<Vec<usize>> {
        let mut shape = input_shape.to_vec();
        shape.push(self.output_dim);
        Ok(shape)
    }

    fn call(&self, weights: &[Array], inputs: &Array, _ctx: &CallContext) -> LayerOutput {
        let indices = if inputs.dtype().is_int() {
            inputs.clone()
        } else {
            inputs.astype(DType::I32)
        };
        LayerOutput {
            output: jnp::take(&weights[0], &indices, 0),
            updated_state: vec![],
        }
    }
}
