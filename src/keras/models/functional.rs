//! The functional API: symbolic tensors from [`Input`], layers applied to
//! them with [`LayerApply::apply`] (or [`SharedLayer::apply`] for a layer
//! used at several places), merge layers applied to several of them with
//! [`MergeApply::apply`], and [`Model::new`] from the inputs and outputs of
//! that graph.
//!
//! A [`SymbolicTensor`] is a node of the graph: an input, a layer applied to
//! one node, or a merge layer applied to several. Nodes only point at nodes
//! that existed before them, so a graph cannot have a cycle. Nothing is
//! computed when layers are applied; [`Model::new`] walks the graph back
//! from the outputs to the inputs, orders its nodes topologically, takes
//! the layers out of their nodes and builds each for the shape it is first
//! applied to, so a shape mismatch (an `Add` of `[3]` and `[4]`) is a typed
//! error from `Model::new`. Each layer belongs to one model: building a
//! second model that reuses an applied layer is an error.
//!
//! Multi-input and multi-output models run with
//! [`Model::stateless_call_multi`] and [`Model::predict_multi`]; `fit`,
//! `evaluate`, `predict` and `stateless_call` take models with one input
//! and one output.

use super::model::{unique_names, Model, Stage};
use super::network::{Entry, GraphSpec, Network, Op, INFERENCE};
use crate::keras::layers::{CallContext, Layer, MergeLayer};
use crate::keras::training::TrainingState;
use crate::{jnp, Array, Error, Jit, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A layer waiting in the graph until a model takes it.
type LayerCell = Mutex<Option<Box<dyn Layer>>>;

/// What a node of the graph is.
#[derive(Debug)]
enum Node {
    /// A model input with the shape of one example.
    Input { shape: Vec<usize> },
    /// A layer applied to another node. Nodes of a shared layer hold the
    /// same cell; the layer is taken out when a model is built.
    Applied {
        layer: Arc<LayerCell>,
        input: SymbolicTensor,
    },
    /// A merge layer applied to several nodes.
    Merged {
        merge: Arc<dyn MergeLayer>,
        inputs: Vec<SymbolicTensor>,
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
            Node::Applied { .. } | Node::Merged { .. } => None,
        }
    }

    /// The node's identity, for maps over the graph.
    fn id(&self) -> *const Node {
        Arc::as_ptr(&self.0)
    }

    /// The nodes this node reads.
    fn parents(&self) -> Vec<SymbolicTensor> {
        match &*self.0 {
            Node::Input { .. } => Vec::new(),
            Node::Applied { input, .. } => vec![input.clone()],
            Node::Merged { inputs, .. } => inputs.clone(),
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
/// every [`Layer`]. The layer is used once; to apply one layer at several
/// places with the same weights, wrap it in a [`SharedLayer`].
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
        SharedLayer::new(self).apply(input)
    }
}

/// A layer applied at several places of a graph with one set of weights
/// (Keras' calling the same layer object twice). Cheap to clone; all
/// clones are the same layer. It is built for the shape of its first
/// application and must be applied to examples of that shape everywhere.
///
/// # Example
/// ```
/// use rjax::keras::layers::{Add, Dense};
/// use rjax::keras::models::{Input, MergeApply, Model, SharedLayer};
/// let (a, b) = (Input::new(&[3]), Input::new(&[3]));
/// let shared = SharedLayer::new(Dense::new(2));
/// let sum = Add::new().apply(&[shared.apply(&a), shared.apply(&b)]);
/// let model = Model::new(&[a, b], &sum).unwrap();
/// assert_eq!(model.count_params().unwrap(), (8, 0));
/// ```
#[derive(Clone, Debug)]
pub struct SharedLayer(Arc<LayerCell>);

impl SharedLayer {
    /// Wraps `layer` for use at several places.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::{Input, SharedLayer};
    /// let shared = SharedLayer::new(Dense::new(4));
    /// let y = shared.apply(&Input::new(&[2]));
    /// assert_eq!(y.input_shape(), None);
    /// ```
    pub fn new(layer: impl Layer + 'static) -> SharedLayer {
        SharedLayer(Arc::new(Mutex::new(Some(Box::new(layer)))))
    }

    /// The symbolic output of the layer applied to `input`; every
    /// application uses the same weights.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::{Input, Model, SharedLayer};
    /// let x = Input::new(&[3]);
    /// let shared = SharedLayer::new(Dense::new(3));
    /// let y = shared.apply(&shared.apply(&x));
    /// let model = Model::new(&x, &y).unwrap();
    /// assert_eq!(model.layer_names(), ["dense"]);
    /// ```
    pub fn apply(&self, input: &SymbolicTensor) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Node::Applied {
            layer: self.0.clone(),
            input: input.clone(),
        }))
    }
}

/// Applying a merge layer to several symbolic tensors (Keras'
/// `Add()([a, b])`), for every [`MergeLayer`].
///
/// # Example
/// ```
/// use rjax::keras::layers::{Concatenate, Dense};
/// use rjax::keras::models::{Input, LayerApply, MergeApply, Model};
/// let x = Input::new(&[4]);
/// let both = Concatenate::new(-1).apply(&[Dense::new(2).apply(&x), Dense::new(3).apply(&x)]);
/// let model = Model::new(&x, &both).unwrap();
/// assert_eq!(model.output_shape().unwrap(), vec![5]);
/// ```
pub trait MergeApply {
    /// The symbolic output of this merge layer applied to `inputs`.
    fn apply(self, inputs: &[SymbolicTensor]) -> SymbolicTensor;
}

impl<M: MergeLayer + 'static> MergeApply for M {
    fn apply(self, inputs: &[SymbolicTensor]) -> SymbolicTensor {
        SymbolicTensor(Arc::new(Node::Merged {
            merge: Arc::new(self),
            inputs: inputs.to_vec(),
        }))
    }
}

/// One symbolic tensor or a list of them, for [`Model::new`]'s inputs and
/// outputs: `&x`, `&[a, b]` or `&vec`.
///
/// # Example
/// ```
/// use rjax::keras::models::{Input, SymbolicTensors};
/// let (a, b) = (Input::new(&[1]), Input::new(&[2]));
/// assert_eq!((&a).tensors().len(), 1);
/// assert_eq!((&[a, b]).tensors().len(), 2);
/// ```
pub trait SymbolicTensors {
    /// The tensors, in order.
    fn tensors(self) -> Vec<SymbolicTensor>;
}

impl SymbolicTensors for &SymbolicTensor {
    fn tensors(self) -> Vec<SymbolicTensor> {
        vec![self.clone()]
    }
}

impl SymbolicTensors for &[SymbolicTensor] {
    fn tensors(self) -> Vec<SymbolicTensor> {
        self.to_vec()
    }
}

impl<const N: usize> SymbolicTensors for &[SymbolicTensor; N] {
    fn tensors(self) -> Vec<SymbolicTensor> {
        self.to_vec()
    }
}

impl SymbolicTensors for &Vec<SymbolicTensor> {
    fn tensors(self) -> Vec<SymbolicTensor> {
        self.clone()
    }
}

/// An `Error::Op` of `Model::new`.
fn model_error(message: impl Into<String>) -> Error {
    Error::op("Model", message)
}

/// The graph between `inputs` and `outputs`, ordered: the inputs, then every
/// other node after the nodes it reads (depth-first, without recursion so
/// that deep graphs cannot overflow the stack).
fn topological_order(
    inputs: &[SymbolicTensor],
    outputs: &[SymbolicTensor],
) -> Result<Vec<SymbolicTensor>> {
    let mut order: Vec<SymbolicTensor> = inputs.to_vec();
    let mut seen: HashMap<*const Node, usize> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id(), i))
        .collect();
    let mut stack: Vec<(SymbolicTensor, bool)> =
        outputs.iter().rev().map(|t| (t.clone(), false)).collect();
    while let Some((node, expanded)) = stack.pop() {
        if seen.contains_key(&node.id()) {
            continue;
        }
        if expanded {
            seen.insert(node.id(), order.len());
            order.push(node);
            continue;
        }
        if node.input_shape().is_some() {
            return Err(model_error(
                "the outputs do not come from the given inputs (they read an Input \
                 that is not among the model's inputs)",
            ));
        }
        let parents = node.parents();
        stack.push((node, true));
        stack.extend(parents.into_iter().rev().map(|p| (p, false)));
    }
    Ok(order)
}

/// Takes the layers out of their cells, or errors if any is gone (used by
/// another model) — taking none in that case.
fn take_layers(cells: &[Arc<LayerCell>]) -> Result<Vec<Box<dyn Layer>>> {
    let available = |cell: &Arc<LayerCell>| cell.lock().map(|l| l.is_some()).unwrap_or(false);
    let taken: Option<Vec<Box<dyn Layer>>> = if cells.iter().all(available) {
        cells
            .iter()
            .map(|cell| cell.lock().ok().and_then(|mut l| l.take()))
            .collect()
    } else {
        None
    };
    taken.ok_or_else(|| model_error("a layer of this graph already belongs to another model"))
}

/// Puts layers back into their cells after a failed build, so that the
/// graph can be fixed and used again.
fn restore_layers(cells: &[Arc<LayerCell>], layers: Vec<Box<dyn Layer>>) {
    for (cell, layer) in cells.iter().zip(layers) {
        if let Ok(mut slot) = cell.lock() {
            *slot = Some(layer);
        }
    }
}

/// The graph of `order` (from [`topological_order`], `n_inputs` inputs
/// first) as a spec to build — layers numbered by first application, merges
/// and names in node order — and the cells its layers came from.
fn graph_spec(
    order: &[SymbolicTensor],
    n_inputs: usize,
    outputs: &[SymbolicTensor],
) -> Result<(GraphSpec, Vec<Arc<LayerCell>>)> {
    let index: HashMap<*const Node, usize> =
        order.iter().enumerate().map(|(i, t)| (t.id(), i)).collect();
    let mut cells: Vec<Arc<LayerCell>> = Vec::new();
    let mut cell_index: HashMap<*const LayerCell, usize> = HashMap::new();
    let mut merges: Vec<Arc<dyn MergeLayer>> = Vec::new();
    let mut entries = Vec::new();
    let mut ops = Vec::new();
    let mut input_shapes = Vec::new();
    for (k, node) in order.iter().enumerate() {
        let op = match &*node.0 {
            Node::Input { shape } => {
                input_shapes.push(shape.clone());
                Op::Input(k)
            }
            Node::Applied { layer, input } => {
                let next = cells.len();
                let number = *cell_index.entry(Arc::as_ptr(layer)).or_insert(next);
                if number == next {
                    cells.push(layer.clone());
                    entries.push(Entry::Layer(number));
                }
                Op::Layer {
                    layer: number,
                    input: index[&input.id()],
                }
            }
            Node::Merged { merge, inputs } => {
                entries.push(Entry::Merge(merges.len()));
                merges.push(merge.clone());
                Op::Merge {
                    merge: merges.len() - 1,
                    inputs: inputs.iter().map(|t| index[&t.id()]).collect(),
                }
            }
        };
        ops.push(op);
    }
    debug_assert_eq!(input_shapes.len(), n_inputs);
    let layers = take_layers(&cells)?;
    let names = unique_names(entries.iter().map(|e| match e {
        Entry::Layer(i) => layers[*i].class_name(),
        Entry::Merge(i) => merges[*i].class_name(),
    }));
    let spec = GraphSpec {
        input_names: unique_names((0..n_inputs).map(|_| "InputLayer")),
        layers,
        merges,
        entries,
        names,
        input_shapes,
        ops,
        outputs: outputs.iter().map(|t| index[&t.id()]).collect(),
    };
    Ok((spec, cells))
}

impl Model {
    /// A functional model from `inputs` to `outputs` — each one symbolic
    /// tensor (`&x`) or a list (`&[a, b]`) — built at once for the inputs'
    /// shapes (Keras' `Model(inputs, outputs)`). Layers are named and their
    /// weights ordered by first use in a topological order of the graph; a
    /// [`SharedLayer`] has one set of weights however often it is applied.
    ///
    /// # Errors
    /// `Error::Op` when an input is not made by [`Input::new`] or is given
    /// twice, when there is no input or output, when the outputs read an
    /// input not in `inputs`, when a layer of the graph already belongs to
    /// another model, or when a layer rejects its input shapes (a merge of
    /// mismatched shapes, a shared layer applied to two shapes); the message
    /// names the layer and the shapes.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Add, Dense};
    /// use rjax::keras::models::{Input, LayerApply, MergeApply, Model};
    /// let x = Input::new(&[3]);
    /// let model = Model::new(&x, &Dense::new(2).apply(&x)).unwrap();
    /// assert_eq!(model.output_shape().unwrap(), vec![2]);
    /// let other = Input::new(&[3]);
    /// assert!(Model::new(&other, &Dense::new(2).apply(&x)).is_err());
    /// let bad = Add::new().apply(&[x.clone(), Dense::new(4).apply(&x)]);
    /// let err = Model::new(&x, &bad).unwrap_err().to_string();
    /// assert!(err.contains("layer 'add' (Add) on examples of shapes [3], [4]"), "{err}");
    /// ```
    pub fn new(inputs: impl SymbolicTensors, outputs: impl SymbolicTensors) -> Result<Model> {
        let (inputs, outputs) = (inputs.tensors(), outputs.tensors());
        if inputs.is_empty() || outputs.is_empty() {
            return Err(model_error(
                "a model needs at least one input and one output",
            ));
        }
        if inputs.iter().any(|t| t.input_shape().is_none()) {
            return Err(model_error("inputs must be tensors made by Input::new"));
        }
        for (i, t) in inputs.iter().enumerate() {
            if inputs[..i].iter().any(|u| u.id() == t.id()) {
                return Err(model_error(format!("input {i} is given twice")));
            }
        }
        let order = topological_order(&inputs, &outputs)?;
        let (spec, cells) = graph_spec(&order, inputs.len(), &outputs)?;
        let names: Vec<String> = spec.names.clone();
        let input_shape = spec.input_shapes.first().cloned();
        let (net, weights) = Network::build_graph(spec, 0).map_err(|(layers, e)| {
            restore_layers(&cells, layers);
            e
        })?;
        Ok(Model {
            name: "functional".to_string(),
            class_name: "Functional",
            names,
            stage: Stage::Built(Arc::new(net)),
            input_shape,
            seed: 0,
            weights,
            training: TrainingState::default(),
        })
    }
}

/// The prediction step of a multi-input model: weights and one batch of
/// each input to one batch of each output.
type MultiArgs = ((Vec<Array>, Vec<Array>), Vec<Array>);

impl Model {
    /// The example shape of each input (one for a model with one input).
    ///
    /// # Errors
    /// `Error::Op` if the model is not built.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Concatenate;
    /// use rjax::keras::models::{Input, MergeApply, Model};
    /// let (a, b) = (Input::new(&[2]), Input::new(&[3]));
    /// let model = Model::new(&[a.clone(), b.clone()], &Concatenate::new(-1).apply(&[a, b])).unwrap();
    /// assert_eq!(model.input_shapes().unwrap(), vec![vec![2], vec![3]]);
    /// ```
    pub fn input_shapes(&self) -> Result<Vec<Vec<usize>>> {
        Ok(self.network("input_shapes")?.graph.input_shapes.clone())
    }

    /// The example shape of each output (one for a model with one output).
    ///
    /// # Errors
    /// `Error::Op` if the model is not built.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Dense;
    /// use rjax::keras::models::{Input, LayerApply, Model};
    /// let x = Input::new(&[4]);
    /// let model = Model::new(&x, &[Dense::new(1).apply(&x), Dense::new(3).apply(&x)]).unwrap();
    /// assert_eq!(model.output_shapes().unwrap(), vec![vec![1], vec![3]]);
    /// ```
    pub fn output_shapes(&self) -> Result<Vec<Vec<usize>>> {
        let net = self.network("output_shapes")?;
        Ok(net
            .graph
            .outputs
            .iter()
            .map(|o| net.node_shapes[*o].clone())
            .collect())
    }

    /// [`Model::stateless_call`] for any number of inputs and outputs: the
    /// outputs for `inputs` (one array per model input, batch axis first,
    /// all with the same batch size) under the given weights, and the new
    /// non-trainable weights. Pure, so `jit`, `grad` and `vmap` see through
    /// it.
    ///
    /// # Errors
    /// `Error::Op` if the model is not built, or for the wrong number of
    /// inputs, an input of the wrong example shape or differing batch
    /// sizes; `Error::WeightsMismatch` if the weights do not fit the model.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Subtract;
    /// use rjax::keras::models::{Input, MergeApply, Model};
    /// use rjax::{jnp, DType};
    /// let (a, b) = (Input::new(&[2]), Input::new(&[2]));
    /// let model = Model::new(&[a.clone(), b.clone()], &Subtract::new().apply(&[a, b])).unwrap();
    /// let (x, y) = (jnp::full(&[1, 2], 5.0, DType::F32), jnp::ones(&[1, 2], DType::F32));
    /// let (out, _) = model.stateless_call_multi(&[], &[], &[x, y], false, None).unwrap();
    /// assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![4.0, 4.0]);
    /// ```
    pub fn stateless_call_multi(
        &self,
        trainable: &[Array],
        non_trainable: &[Array],
        inputs: &[Array],
        training: bool,
        key: Option<&Array>,
    ) -> Result<(Vec<Array>, Vec<Array>)> {
        let op = "stateless_call_multi";
        let net = self.network(op)?;
        net.check_weight_lists(op, trainable, non_trainable)?;
        check_inputs(op, &net, inputs)?;
        Ok(net.stateless_call_graph(
            trainable,
            non_trainable,
            inputs,
            CallContext { training, key },
        ))
    }

    /// [`Model::predict`] for any number of inputs and outputs: the outputs
    /// for `inputs` (one array per model input, examples along axis 0),
    /// computed with the current weights in inference mode, in batches of
    /// `batch_size` (the last may be smaller) by one jitted function that
    /// compiles once per batch shape within the call.
    ///
    /// # Errors
    /// `Error::Op` for a zero batch size, no examples, or inputs that do not
    /// fit the model (as [`Model::stateless_call_multi`]).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Add, Dense};
    /// use rjax::keras::models::{Input, LayerApply, MergeApply, Model};
    /// use rjax::{jnp, DType};
    /// let (a, b) = (Input::new(&[3]), Input::new(&[2]));
    /// let sum = Add::new().apply(&[Dense::new(4).apply(&a), Dense::new(4).apply(&b)]);
    /// let model = Model::new(&[a, b], &[sum.clone(), Dense::new(1).apply(&sum)]).unwrap();
    /// let x = [jnp::ones(&[5, 3], DType::F32), jnp::ones(&[5, 2], DType::F32)];
    /// let out = model.predict_multi(&x, 2).unwrap();
    /// assert_eq!((out[0].shape(), out[1].shape()), (&[5, 4][..], &[5, 1][..]));
    /// ```
    pub fn predict_multi(&self, inputs: &[Array], batch_size: usize) -> Result<Vec<Array>> {
        let op = "predict_multi";
        let net = self.network(op)?;
        let n = check_inputs(op, &net, inputs)?;
        if batch_size == 0 {
            return Err(Error::op(op, "batch_size must be at least 1"));
        }
        if n == 0 {
            return Err(Error::op(op, "the inputs hold no examples"));
        }
        let step_net = net.clone();
        let step = Jit::new(move |((trainable, non_trainable), xs): &MultiArgs| {
            step_net
                .stateless_call_graph(trainable, non_trainable, xs, INFERENCE)
                .0
        });
        let weights = (
            self.weights.trainable.clone(),
            self.weights.non_trainable.clone(),
        );
        let mut batches: Vec<Vec<Array>> = Vec::new();
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            let xs = inputs
                .iter()
                .map(|x| rows(op, x, start, end))
                .collect::<Result<Vec<Array>>>()?;
            batches.push(step.try_call(&(weights.clone(), xs))?);
        }
        (0..net.graph.outputs.len())
            .map(|o| {
                let parts: Vec<Array> = batches.iter().map(|b| b[o].clone()).collect();
                jnp::try_concatenate(&parts, 0)
            })
            .collect()
    }
}

/// Rows `start..end` of `x` along axis 0.
fn rows(op: &str, x: &Array, start: usize, end: usize) -> Result<Array> {
    let mut lo = vec![0; x.ndim()];
    let mut hi = x.shape().to_vec();
    lo[0] = start;
    hi[0] = end;
    jnp::try_slice(x, &lo, &hi, None).map_err(|e| Error::op(op, e.to_string()))
}

/// Checks `inputs` against the model's inputs (count, example shapes, one
/// batch size) and returns the batch size.
fn check_inputs(op: &str, net: &Network, inputs: &[Array]) -> Result<usize> {
    if inputs.len() != net.graph.input_shapes.len() {
        return Err(Error::op(
            op,
            format!(
                "the model has {} inputs, got {} arrays",
                net.graph.input_shapes.len(),
                inputs.len()
            ),
        ));
    }
    let mut batch = None;
    for (i, (x, expected)) in inputs.iter().zip(&net.graph.input_shapes).enumerate() {
        let Some((n, example)) = x.shape().split_first() else {
            return Err(Error::op(
                op,
                format!("input {i} must have a batch axis, got a rank-0 array"),
            ));
        };
        if example != &expected[..] {
            return Err(Error::op(
                op,
                format!(
                    "input {i} ('{}') expects examples of shape {expected:?}, got an array of \
                     shape {:?}",
                    net.graph.input_names[i],
                    x.shape()
                ),
            ));
        }
        if batch.is_some_and(|b| b != *n) {
            return Err(Error::op(
                op,
                format!("the inputs have different batch sizes: input {i} has {n} examples"),
            ));
        }
        batch = Some(*n);
    }
    Ok(batch.unwrap_or(0))
}
