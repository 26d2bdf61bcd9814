//! [`Model`]: layers, their weights, and the pure forward pass over them.
//!
//! A model is created unbuilt (its layers know their configuration but not
//! their input shape) and builds itself on first use from the data's shape,
//! or when given an input shape. Building creates the weights, drawn from
//! the model's seed, and freezes the layers into a shared, immutable
//! network; the model then owns the weight values, which training replaces
//! step by step.

use super::network::{ModelWeights, Network, WeightInfo, INFERENCE};
use crate::keras::layers::{CallContext, Layer};
use crate::keras::training::TrainingState;
use crate::{Array, DType, Error, Result};
use std::sync::Arc;

/// What a model is before and after it is built.
#[derive(Debug)]
pub(crate) enum Stage {
    /// Layers waiting for an input shape.
    Unbuilt(Vec<Box<dyn Layer>>),
    /// The built network.
    Built(Arc<Network>),
}

/// A Keras model: a chain of layers with weights, built on first use.
///
/// Created by [`super::Sequential`] or from a graph of symbolic tensors
/// ([`Model::new`]); both give this type, with `summary`, `compile`, `fit`,
/// `evaluate`, `predict`, `save_weights` and `load_weights`.
///
/// # Example
/// ```
/// use rjax::keras::layers::Dense;
/// use rjax::keras::models::{Input, LayerApply, Model};
/// use rjax::{jnp, DType};
/// let inputs = Input::new(&[4]);
/// let hidden = Dense::new(8).activation("relu").apply(&inputs);
/// let outputs = Dense::new(1).apply(&hidden);
/// let mut model = Model::new(&inputs, &outputs).unwrap();
/// let y = model.predict(&jnp::ones(&[3, 4], DType::F32), 32).unwrap();
/// assert_eq!(y.shape(), &[3, 1]);
/// ```
#[derive(Debug)]
pub struct Model {
    pub(crate) name: String,
    pub(crate) class_name: &'static str,
    pub(crate) names: Vec<String>,
    pub(crate) stage: Stage,
    pub(crate) input_shape: Option<Vec<usize>>,
    pub(crate) seed: u64,
    pub(crate) weights: ModelWeights,
    pub(crate) training: TrainingState,
}

/// Keras' default layer name for a class: `Dense` gives `dense`,
/// `BatchNormalization` gives `batch_normalization`.
pub(crate) fn snake_case(class_name: &str) -> String {
    let mut out = String::new();
    for (i, c) in class_name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Unique names for `layers` as Keras gives them: `dense`, `dense_1`, ...
pub(crate) fn layer_names(layers: &[Box<dyn Layer>]) -> Vec<String> {
    unique_names(layers.iter().map(|layer| layer.class_name()))
}

/// Unique names for layers of the given classes: `dense`, `dense_1`, ...
pub(crate) fn unique_names<'a>(class_names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    class_names
        .map(|class_name| {
            let base = snake_case(class_name);
            let n = counts.entry(base.clone()).or_insert(0);
            let name = if *n == 0 { base } else { format!("{base}_{n}") };
            *n += 1;
            name
        })
        .collect()
}

impl Model {
    /// An unbuilt model of `layers` (in order).
    pub(crate) fn from_layers(
        name: &str,
        class_name: &'static str,
        layers: Vec<Box<dyn Layer>>,
        input_shape: Option<Vec<usize>>,
    ) -> Model {
        Model {
            name: name.to_string(),
            class_name,
            names: layer_names(&layers),
            stage: Stage::Unbuilt(layers),
            input_shape,
            seed: 0,
            weights: ModelWeights::default(),
            training: TrainingState::default(),
        }
    }

    /// Sets the seed the initial weights are drawn from (default 0); takes
    /// effect when the model builds.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut a = Sequential::new(vec![Box::new(Dense::new(2))]).with_seed(1);
    /// let mut b = Sequential::new(vec![Box::new(Dense::new(2))]).with_seed(2);
    /// a.build(&[3]).unwrap();
    /// b.build(&[3]).unwrap();
    /// let (wa, wb) = (&a.weights().trainable[0], &b.weights().trainable[0]);
    /// assert_ne!(wa.to_vec::<f32>().unwrap(), wb.to_vec::<f32>().unwrap());
    /// ```
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// The model's name (`sequential`, `functional`).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::models::Sequential;
    /// assert_eq!(Sequential::new(vec![]).name(), "sequential");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layers' names, in order (`dense`, `dense_1`, ...).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Dense, Dropout};
    /// use rjax::keras::models::Sequential;
    /// let model = Sequential::new(vec![
    ///     Box::new(Dense::new(4)),
    ///     Box::new(Dropout::new(0.1)),
    ///     Box::new(Dense::new(1)),
    /// ]);
    /// assert_eq!(model.layer_names(), ["dense", "dropout", "dense_1"]);
    /// ```
    pub fn layer_names(&self) -> &[String] {
        &self.names
    }

    /// True once the model has built its weights.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// assert!(!model.built());
    /// model.build(&[2]).unwrap();
    /// assert!(model.built());
    /// ```
    pub fn built(&self) -> bool {
        matches!(self.stage, Stage::Built(_))
    }

    /// Builds the model for examples of shape `input_shape` (without the
    /// batch axis), creating its weights. Building an already built model
    /// checks that the shape is the one it was built for.
    ///
    /// # Errors
    /// `Error::Op` when a layer rejects the shape (the message names the
    /// layer), or when a built model was built for another shape.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// model.build(&[2]).unwrap();
    /// assert!(model.build(&[3]).is_err());
    /// ```
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        let layers = match std::mem::replace(&mut self.stage, Stage::Unbuilt(Vec::new())) {
            Stage::Built(net) => {
                let expected = net.input_shape.clone();
                self.stage = Stage::Built(net);
                if expected != input_shape {
                    return Err(Error::op(
                        "build",
                        format!(
                            "model '{}' expects examples of shape {expected:?}, got {input_shape:?}",
                            self.name
                        ),
                    ));
                }
                return Ok(());
            }
            Stage::Unbuilt(layers) => layers,
        };
        match Network::build(layers, self.names.clone(), input_shape, self.seed) {
            Ok((net, weights)) => {
                self.stage = Stage::Built(Arc::new(net));
                self.weights = weights;
                self.input_shape = Some(input_shape.to_vec());
                Ok(())
            }
            Err((layers, e)) => {
                self.stage = Stage::Unbuilt(layers);
                Err(e)
            }
        }
    }

    /// Builds from the model's declared input shape, if it has one and is
    /// not built yet.
    pub(crate) fn build_if_shape_known(&mut self) -> Result<()> {
        match (&self.stage, self.input_shape.clone()) {
            (Stage::Unbuilt(_), Some(shape)) => self.build(&shape),
            _ => Ok(()),
        }
    }

    /// The built network, or an error saying how to build it.
    pub(crate) fn network(&self, op: &str) -> Result<Arc<Network>> {
        match &self.stage {
            Stage::Built(net) => Ok(net.clone()),
            Stage::Unbuilt(_) => Err(Error::op(
                op,
                format!(
                    "model '{}' is not built yet: give it an input shape, call build, \
                     or call fit or predict on data first",
                    self.name
                ),
            )),
        }
    }

    /// Builds for `x` (examples along axis 0) if needed and checks that its
    /// examples have the model's input shape.
    pub(crate) fn ensure_built_for(&mut self, op: &str, x: &Array) -> Result<Arc<Network>> {
        let Some((_, example)) = x.shape().split_first() else {
            return Err(Error::op(
                op,
                "x must have a batch axis, got a rank-0 array",
            ));
        };
        self.build_if_shape_known()?;
        if !self.built() {
            self.build(example)?;
        }
        let net = self.network(op)?;
        net.check_single_io(op)?;
        if net.input_shape != example {
            return Err(Error::op(
                op,
                format!(
                    "model '{}' expects examples of shape {:?}, got x of shape {:?} \
                     (examples of shape {example:?})",
                    self.name,
                    net.input_shape,
                    x.shape()
                ),
            ));
        }
        Ok(net)
    }

    /// The current weight values.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(3))]);
    /// model.build(&[2]).unwrap();
    /// assert_eq!(model.weights().trainable[0].shape(), &[2, 3]);
    /// ```
    pub fn weights(&self) -> &ModelWeights {
        &self.weights
    }

    /// Replaces the weight values.
    ///
    /// # Errors
    /// `Error::WeightsMismatch` when the count, a shape or a dtype differs
    /// from the model's; `Error::Op` if the model is not built.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// use rjax::{jnp, DType};
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// model.build(&[2]).unwrap();
    /// let mut w = model.weights().clone();
    /// w.trainable[0] = jnp::ones(&[2, 1], DType::F32);
    /// model.set_weights(w).unwrap();
    /// let mut bad = model.weights().clone();
    /// bad.trainable[0] = jnp::ones(&[3, 1], DType::F32);
    /// assert!(model.set_weights(bad).is_err());
    /// ```
    pub fn set_weights(&mut self, weights: ModelWeights) -> Result<()> {
        self.network("set_weights")?
            .check_weights("set_weights", &weights)?;
        self.weights = weights;
        Ok(())
    }

    /// Names, shapes and dtypes of the trainable weights, then of the
    /// non-trainable ones, in the model's order (`dense/kernel`, ...).
    ///
    /// # Errors
    /// `Error::Op` if the model is not built.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(3))]);
    /// model.build(&[2]).unwrap();
    /// let info = model.weight_info().unwrap();
    /// assert_eq!(info[0].name, "dense/kernel");
    /// assert_eq!(info[1].shape, vec![3]);
    /// ```
    pub fn weight_info(&self) -> Result<Vec<WeightInfo>> {
        let net = self.network("weight_info")?;
        Ok(net
            .trainable
            .iter()
            .chain(&net.non_trainable)
            .cloned()
            .collect())
    }

    /// The shape of one output example (valid once built).
    ///
    /// # Errors
    /// `Error::Op` if the model is not built.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(3))]);
    /// model.build(&[2]).unwrap();
    /// assert_eq!(model.output_shape().unwrap(), vec![3]);
    /// ```
    pub fn output_shape(&self) -> Result<Vec<usize>> {
        Ok(self.network("output_shape")?.output_shape().to_vec())
    }

    /// Keras 3's `stateless_call`: the model's outputs for `inputs` (batch
    /// axis first) under the given weights, and the new non-trainable
    /// weights. A pure function of its arguments, so `jit`, `grad` and
    /// `vmap` see through it; `key` drives stochastic layers in training
    /// (with `None` they act as in inference).
    ///
    /// # Errors
    /// `Error::Op` if the model is not built; `Error::WeightsMismatch` if the
    /// weights do not fit it.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// use rjax::{grad, jnp, DType};
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(1))]);
    /// model.build(&[2]).unwrap();
    /// let x = jnp::ones(&[4, 2], DType::F32);
    /// let nt = model.weights().non_trainable.clone();
    /// let loss = |w: &Vec<rjax::Array>| {
    ///     let (y, _) = model.stateless_call(w, &nt, &x, true, None).unwrap();
    ///     y.square().mean()
    /// };
    /// let g = grad(loss)(&model.weights().trainable);
    /// assert_eq!(g[0].shape(), &[2, 1]);
    /// ```
    pub fn stateless_call(
        &self,
        trainable: &[Array],
        non_trainable: &[Array],
        inputs: &Array,
        training: bool,
        key: Option<&Array>,
    ) -> Result<(Array, Vec<Array>)> {
        let net = self.network("stateless_call")?;
        net.check_single_io("stateless_call")?;
        net.check_weight_lists("stateless_call", trainable, non_trainable)?;
        Ok(net.stateless_call(
            trainable,
            non_trainable,
            inputs,
            CallContext { training, key },
        ))
    }

    /// The model applied to `inputs` with its current weights, in inference
    /// mode, unbatched (building the model from `inputs` if needed). For
    /// large inputs prefer [`Model::predict`].
    ///
    /// # Errors
    /// As [`Model::build`], or when `inputs` has the wrong example shape.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// use rjax::{jnp, DType};
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(5))]);
    /// assert_eq!(model.call(&jnp::ones(&[2, 3], DType::F32)).unwrap().shape(), &[2, 5]);
    /// ```
    pub fn call(&mut self, inputs: &Array) -> Result<Array> {
        let net = self.ensure_built_for("call", inputs)?;
        let w = &self.weights;
        Ok(net
            .stateless_call(&w.trainable, &w.non_trainable, inputs, INFERENCE)
            .0)
    }

    /// The number of weight elements: (trainable, non-trainable).
    ///
    /// # Errors
    /// `Error::Op` if the model is not built.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::Sequential;
    /// let mut model = Sequential::new(vec![Box::new(Dense::new(3))]);
    /// model.build(&[2]).unwrap();
    /// assert_eq!(model.count_params().unwrap(), (9, 0));
    /// ```
    pub fn count_params(&self) -> Result<(usize, usize)> {
        let net = self.network("count_params")?;
        let count = |infos: &[WeightInfo]| -> usize {
            infos
                .iter()
                .map(|w| w.shape.iter().product::<usize>())
                .sum()
        };
        Ok((count(&net.trainable), count(&net.non_trainable)))
    }
}

/// Bytes per element of `dtype`, for the summary's memory sizes.
pub(crate) fn dtype_bytes(dtype: DType) -> usize {
    match dtype {
        DType::F32 | DType::I32 | DType::U32 => 4,
        DType::F64 => 8,
        DType::Bool => 1,
    }
}
