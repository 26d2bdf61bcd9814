//! [`Sequential`]: a plain stack of layers, each feeding the next.

use super::model::{layer_names, Model, Stage};
use crate::keras::layers::Layer;
use std::ops::{Deref, DerefMut};

/// A stack of layers (Keras' `Sequential`). It is a [`Model`] (through
/// `Deref`), so `summary`, `compile`, `fit`, `evaluate`, `predict` and the
/// weight functions apply; it builds itself on first use from the data's
/// shape, or from [`Sequential::with_input_shape`].
///
/// # Example
/// ```
/// use rjax::keras::layers::Dense;
/// use rjax::keras::models::Sequential;
/// use rjax::{jnp, DType};
/// let mut model = Sequential::new(vec![
///     Box::new(Dense::new(16).activation("relu")),
///     Box::new(Dense::new(1).activation("sigmoid")),
/// ]);
/// let y = model.predict(&jnp::zeros(&[5, 3], DType::F32), 32).unwrap();
/// assert_eq!(y.shape(), &[5, 1]);
/// ```
#[derive(Debug)]
pub struct Sequential {
    model: Model,
}

impl Sequential {
    /// A model applying `layers` in order.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Dense, Flatten};
    /// use rjax::keras::models::Sequential;
    /// let model = Sequential::new(vec![Box::new(Flatten::new()), Box::new(Dense::new(10))]);
    /// assert_eq!(model.layer_names(), ["flatten", "dense"]);
    /// ```
    pub fn new(layers: Vec<Box<dyn Layer>>) -> Sequential {
        Sequential {
            model: Model::from_layers("sequential", "Sequential", layers, None),
        }
    }

    /// Declares the shape of one input example (Keras' `Input(shape)` as
    /// the first element), so the model builds without seeing data, for
    /// example for `summary`.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(4))]).with_input_shape(&[3]);
    /// assert!(model.summary().unwrap().contains("Total params: 16"));
    /// ```
    pub fn with_input_shape(mut self, shape: &[usize]) -> Sequential {
        self.model.input_shape = Some(shape.to_vec());
        self
    }

    /// Sets the seed the initial weights are drawn from (default 0).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut a = Sequential::new(vec![Box::new(Dense::new(2))]).with_seed(7);
    /// let mut b = Sequential::new(vec![Box::new(Dense::new(2))]).with_seed(7);
    /// a.build(&[2]).unwrap();
    /// b.build(&[2]).unwrap();
    /// let (wa, wb) = (&a.weights().trainable[0], &b.weights().trainable[0]);
    /// assert_eq!(wa.to_vec::<f32>().unwrap(), wb.to_vec::<f32>().unwrap());
    /// ```
    pub fn with_seed(mut self, seed: u64) -> Sequential {
        self.model.seed = seed;
        self
    }

    /// Appends a layer. Adding to a built model un-builds it: its weights
    /// are drawn again (from the same seed) on next use, and compiled
    /// training functions are rebuilt.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![]);
    /// model.add(Dense::new(8).activation("relu"));
    /// model.add(Dense::new(1));
    /// assert_eq!(model.layer_names(), ["dense", "dense_1"]);
    /// ```
    pub fn add(&mut self, layer: impl Layer + 'static) {
        let model = &mut self.model;
        // The compiled functions share the built network: drop them first.
        model.training.reset();
        let mut layers = match std::mem::replace(&mut model.stage, Stage::Unbuilt(Vec::new())) {
            Stage::Unbuilt(layers) => layers,
            Stage::Built(net) => std::sync::Arc::try_unwrap(net)
                .map(|net| net.graph.layers)
                .unwrap_or_default(),
        };
        layers.push(Box::new(layer));
        model.names = layer_names(&layers);
        model.stage = Stage::Unbuilt(layers);
        model.weights = Default::default();
    }

    /// The model, by value.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::{Model, Sequential};
    /// let model: Model = Sequential::new(vec![Box::new(Dense::new(1))]).into_model();
    /// assert_eq!(model.name(), "sequential");
    /// ```
    pub fn into_model(self) -> Model {
        self.model
    }
}

impl Deref for Sequential {
    type Target = Model;
    fn deref(&self) -> &Model {
        &self.model
    }
}

impl DerefMut for Sequential {
    fn deref_mut(&mut self) -> &mut Model {
        &mut self.model
    }
}
