//! The functional API: symbolic tensors from [`Input`], layers applied to
//! them with [`LayerApply::apply`], and [`Model::new`] from the inputs and
//! outputs of that graph.
//!
//! A [`SymbolicTensor`] is a node of the graph: an input, or a layer applied
//! to another node. Nothing is computed when layers are applied; the model
//! walks the graph from its output back to its input, takes the layers out
//! of their nodes and builds them for the input's shape. Each layer belongs
//! to one model: building a second model that reuses an applied layer is
//! an error.

use super::model::Model;
use crate::keras::layers::Layer;
use crate::{Error, Result};
use std::sync::{Arc, Mutex};

/// What a node of the graph is.
#[derive(Debug)]
enum Node {
    /// A model input with the shape of one example.
    Input { shape: Vec<usize> },
    /// A layer applied to another node; the layer is taken out when a model
    /// is built from the graph.
    Applied {
        layer: Mutex<Option<Box<dyn Layer>>>,
        input: SymbolicTensor,
    },
}

/// A symbolic tensor: a placeholder for a value flowing through the layer
/// graph of a functional model (cheap to clone).
///
/// # Example
/// ```
/// use rjax::keras::models::Input;
/// let x = Input::new(&[8, 8]);
/// assert_eq!(x.clone().input_shape(), Some(vec![8, 8]));
/// ```
#[derive(Clone, Debug)]
pub struct SymbolicTensor(Arc<Node>);

impl SymbolicTensor {
    /// The example shape, if this is an input (`None` for a layer output,
    /// whose shape is known once a model is built).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::{Input, LayerApply};
    /// let x = Input::new(&[3]);
    /// assert_eq!(x.input_shape(), Some(vec![3]));
    /// assert_eq!(Dense::new(2).apply(&x).input_shape(), None);
    /// ```
    pub fn input_shape(&self) -> Option<Vec<usize>> {
        match &*self.0 {
            Node::Input { shape } => Some(shape.clone()),
            Node::Applied { .. } => None,
        }
    }
}

/// Keras' `Input`: the symbolic input of a functional model.
///
/// # Example
/// ```
/// use rjax::keras::models::Input;
/// let x = Input::new(&[64]);
/// assert_eq!(x.input_shape(), Some(vec![64]));
/// ```
#[derive(Debug)]
pub struct Input;

impl Input {
    /// A symbolic input whose examples have shape `shape` (no batch axis).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::models::Input;
    /// assert_eq!(Input::new(&[2, 3]).input_shape(), Some(vec![2, 3]));
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new(shape: &[usize]) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Node::Input {
            shape: shape.to_vec(),
        }))
    }
}

/// Applying a layer to a symbolic tensor (Keras' `Dense(32)(x)`), for
/// every [`Layer`].
///
/// # Example
/// ```
/// use rjax::keras::layers::{Dense, Dropout};
/// use rjax::keras::models::{Input, LayerApply, Model};
/// let x = Input::new(&[10]);
/// let h = Dense::new(16).activation("relu").apply(&x);
/// let y = Dense::new(1).apply(&Dropout::new(0.5).apply(&h));
/// let model = Model::new(&x, &y).unwrap();
/// assert_eq!(model.layer_names(), ["dense", "dropout", "dense_1"]);
/// ```
pub trait LayerApply {
    /// The symbolic output of this layer applied to `input`.
    fn apply(self, input: &SymbolicTensor) -> SymbolicTensor;
}

impl<L: Layer + 'static> LayerApply for L {
    fn apply(self, input: &SymbolicTensor) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Node::Applied {
            layer: Mutex::new(Some(Box::new(self))),
            input: input.clone(),
        }))
    }
}

impl Model {
    /// A functional model from `inputs` to `outputs`, built at once for the
    /// input's shape (Keras' `Model(inputs, outputs)`).
    ///
    /// # Errors
    /// `Error::Op` when `outputs` does not come from `inputs`, when a layer
    /// of the graph already belongs to another model, or when a layer
    /// rejects its input shape.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::{Input, LayerApply, Model};
    /// let x = Input::new(&[3]);
    /// let model = Model::new(&x, &Dense::new(2).apply(&x)).unwrap();
    /// assert_eq!(model.output_shape().unwrap(), vec![2]);
    /// let other = Input::new(&[3]);
    /// assert!(Model::new(&other, &Dense::new(2).apply(&x)).is_err());
    /// ```
    pub fn new(inputs: &SymbolicTensor, outputs: &SymbolicTensor) -> Result<Model> {
        let Node::Input { shape } = &*inputs.0 else {
            return Err(Error::op(
                "Model",
                "inputs must be a tensor made by Input::new",
            ));
        };
        let mut chain = Vec::new();
        let mut node = outputs.clone();
        while !Arc::ptr_eq(&node.0, &inputs.0) {
            let next = match &*node.0 {
                Node::Input { .. } => {
                    return Err(Error::op(
                        "Model",
                        "the outputs do not come from the given inputs",
                    ))
                }
                Node::Applied { input, .. } => input.clone(),
            };
            chain.push(node);
            node = next;
        }
        chain.reverse();
        if chain.iter().any(|n| layer_available(n) != Some(true)) {
            return Err(Error::op(
                "Model",
                "a layer of this graph already belongs to another model",
            ));
        }
        let layers: Vec<Box<dyn Layer>> = chain.iter().filter_map(take_layer).collect();
        let mut model = Model::from_layers("functional", "Functional", layers, None);
        model.build(shape)?;
        Ok(model)
    }
}

/// For an applied node, whether its layer is still there to take.
fn layer_available(node: &SymbolicTensor) -> Option<bool> {
    match &*node.0 {
        Node::Applied { layer, .. } => layer.lock().ok().map(|l| l.is_some()),
        Node::Input { .. } => None,
    }
}

/// Takes the layer out of an applied node.
fn take_layer(node: &SymbolicTensor) -> Option<Box<dyn Layer>> {
    match &*node.0 {
        Node::Applied { layer, .. } => layer.lock().ok().and_then(|mut l| l.take()),
        Node::Input { .. } => None,
    }
}
