//! The built form of a model: a graph of layer applications over the
//! model's inputs, its layers' names and shapes, where each layer's weights
//! sit in the model's flat weight lists, and the pure forward pass over
//! those lists ([`Network::stateless_call_graph`]).
//!
//! The graph is a list of nodes in topological order: the model's inputs,
//! then each layer or merge application after the nodes it reads, so the
//! forward pass is one walk down the list. A layer applied at several nodes
//! (a shared layer) has one set of weights. A [`super::Sequential`] model is
//! the chain `input -> layer 0 -> layer 1 -> ...`.
//!
//! A `Network` never changes once built, so jitted training steps share it
//! through an `Arc` while the model keeps the (changing) weight values.

use crate::keras::layers::{CallContext, Layer, MergeLayer};
use crate::{random, Array, DType, Error, Result};
use std::sync::Arc;

/// Where one of a layer's weights sits: in the trainable or the
/// non-trainable list, at `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub trainable: bool,
    pub index: usize,
}

/// What a node of the built graph computes; node ids index
/// [`Network::ops`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// The model's input number `.0`.
    Input(usize),
    /// Layer number `layer` applied to node `input`.
    Layer { layer: usize, input: usize },
    /// Merge layer number `merge` applied to the nodes `inputs`.
    Merge { merge: usize, inputs: Vec<usize> },
}

/// A named layer of the model (a row of `summary`, an entry of
/// `layer_names`): a layer with weights or a merge layer, by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Layer(usize),
    Merge(usize),
}

/// A graph of layers: its layers (unbuilt until [`Network::build_graph`]),
/// merges, names and nodes.
#[derive(Debug)]
pub(crate) struct GraphSpec {
    pub layers: Vec<Box<dyn Layer>>,
    pub merges: Vec<Arc<dyn MergeLayer>>,
    /// The model's layers in order, each named by `names`.
    pub entries: Vec<Entry>,
    pub names: Vec<String>,
    /// The inputs' names (`input_layer`, ...) and example shapes.
    pub input_names: Vec<String>,
    pub input_shapes: Vec<Vec<usize>>,
    /// The nodes, in topological order.
    pub ops: Vec<Op>,
    /// The nodes the model returns.
    pub outputs: Vec<usize>,
}

/// The name, shape and dtype of one weight of a built model.
///
/// # Example
/// ```
/// use rjax::keras::layers::Dense;
/// use rjax::keras::models::Sequential;
/// use rjax::DType;
/// let mut model = Sequential::new(vec![Box::new(Dense::new(4))]);
/// model.build(&[3]).unwrap();
/// let kernel = &model.weight_info().unwrap()[0];
/// assert_eq!((kernel.name.as_str(), &kernel.shape[..], kernel.dtype), ("dense/kernel", &[3, 4][..], DType::F32));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightInfo {
    /// `layer/weight`, for example `dense_1/kernel`.
    pub name: String,
    /// The weight's shape.
    pub shape: Vec<usize>,
    /// The weight's dtype.
    pub dtype: DType,
}

/// The current values of a model's weights: the trainable ones (updated by
/// the optimizer) and the non-trainable ones (state such as batch
/// normalization's moving statistics), each in the model's weight order.
///
/// # Example
/// ```
/// use rjax::keras::layers::Dense;
/// use rjax::keras::models::Sequential;
/// let mut model = Sequential::new(vec![Box::new(Dense::new(3))]);
/// model.build(&[2]).unwrap();
/// let weights = model.weights().clone();
/// assert_eq!(weights.trainable.len(), 2);
/// assert!(weights.non_trainable.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ModelWeights {
    /// Trainable weights.
    pub trainable: Vec<Array>,
    /// Non-trainable weights.
    pub non_trainable: Vec<Array>,
}

/// The context of an inference call: not training, no key.
pub(crate) const INFERENCE: CallContext<'static> = CallContext {
    training: false,
    key: None,
};

/// A failed build: the layers, handed back so the model stays usable, and
/// the error.
pub(crate) type BuildFailure = (Vec<Box<dyn Layer>>, Error);

/// A built graph of layers; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Network {
    /// The graph, its layers built (each once).
    pub graph: GraphSpec,
    /// The shape of one example of the first input (the only one for
    /// models that `fit` can train).
    pub input_shape: Vec<usize>,
    /// The shape of one example of each node.
    pub node_shapes: Vec<Vec<usize>>,
    /// For each layer, its weights in build order.
    pub slots: Vec<Vec<Slot>>,
    pub trainable: Vec<WeightInfo>,
    pub non_trainable: Vec<WeightInfo>,
}

impl Network {
    /// Builds the chain `layers[0] -> layers[1] -> ...` for examples of
    /// `input_shape`, drawing initial weights from `seed`; layer `i` gets
    /// the key `fold_in(key(seed), i)`.
    pub fn build(
        layers: Vec<Box<dyn Layer>>,
        names: Vec<String>,
        input_shape: &[usize],
        seed: u64,
    ) -> std::result::Result<(Network, ModelWeights), BuildFailure> {
        let n = layers.len();
        let spec = GraphSpec {
            layers,
            merges: Vec::new(),
            entries: (0..n).map(Entry::Layer).collect(),
            names,
            input_names: vec!["input_layer".to_string()],
            input_shapes: vec![input_shape.to_vec()],
            ops: std::iter::once(Op::Input(0))
                .chain((0..n).map(|i| Op::Layer { layer: i, input: i }))
                .collect(),
            outputs: vec![n],
        };
        Network::build_graph(spec, seed)
    }

    /// Builds a graph: walks its nodes in order, building each layer at its
    /// first application (layer `i` gets the key `fold_in(key(seed), i)`),
    /// checking that a shared layer is applied to examples of the shape it
    /// was built for, and computing each node's shape.
    pub fn build_graph(
        mut spec: GraphSpec,
        seed: u64,
    ) -> std::result::Result<(Network, ModelWeights), BuildFailure> {
        // The layers and nodes are taken out while the layers are built, and
        // put back at the end.
        let mut layers = std::mem::take(&mut spec.layers);
        let ops = std::mem::take(&mut spec.ops);
        let mut net = Network {
            input_shape: spec.input_shapes.first().cloned().unwrap_or_default(),
            slots: vec![Vec::new(); layers.len()],
            graph: spec,
            node_shapes: Vec::new(),
            trainable: Vec::new(),
            non_trainable: Vec::new(),
        };
        let root = random::key(seed);
        let mut built_for: Vec<Option<Vec<usize>>> = vec![None; layers.len()];
        let mut weights = ModelWeights::default();
        for op in &ops {
            let shape = match op {
                Op::Input(i) => Ok(net.graph.input_shapes[*i].clone()),
                Op::Layer { layer, input } => {
                    let shape = net.node_shapes[*input].clone();
                    let first = built_for[*layer].is_none();
                    let result = net.apply_shape(&mut layers, *layer, &shape, &built_for, &root);
                    if first && result.is_ok() {
                        built_for[*layer] = Some(shape);
                    }
                    result.map(|(out, new_weights)| {
                        net.add_weights(*layer, new_weights, &mut weights);
                        out
                    })
                }
                Op::Merge { merge, inputs } => net.merge_shape(*merge, inputs),
            };
            match shape {
                Ok(shape) => net.node_shapes.push(shape),
                Err(e) => return Err((layers, e)),
            }
        }
        net.graph.ops = ops;
        net.graph.layers = layers;
        Ok((net, weights))
    }

    /// The name of entry `entry` (`dense_1`).
    fn entry_name(&self, entry: Entry) -> &str {
        self.graph
            .entries
            .iter()
            .position(|e| *e == entry)
            .map_or("?", |i| &self.graph.names[i])
    }

    /// The output shape of layer `layer` applied to examples of `shape`, and
    /// the weights it created if this is its first application.
    fn apply_shape(
        &self,
        layers: &mut [Box<dyn Layer>],
        layer: usize,
        shape: &[usize],
        built_for: &[Option<Vec<usize>>],
        root: &Array,
    ) -> Result<(Vec<usize>, Vec<crate::keras::layers::Weight>)> {
        let name = self.entry_name(Entry::Layer(layer));
        let l = &mut layers[layer];
        let class = l.class_name();
        let fail = |message: String| {
            Error::op(
                "build",
                format!("layer '{name}' ({class}) on examples of shape {shape:?}: {message}"),
            )
        };
        match &built_for[layer] {
            Some(built) if built[..] != *shape => Err(fail(format!(
                "the layer is shared and was built for examples of shape {built:?}; \
                 a shared layer must be applied to examples of one shape"
            ))),
            Some(_) => l
                .output_shape(shape)
                .map(|out| (out, Vec::new()))
                .map_err(|e| fail(e.to_string())),
            None => {
                let key = random::fold_in(root, layer);
                let built = l
                    .build(shape, &key)
                    .and_then(|w| Ok((l.output_shape(shape)?, w)));
                built.map_err(|e| fail(e.to_string()))
            }
        }
    }

    /// Records layer `layer`'s new weights in the model's lists.
    fn add_weights(
        &mut self,
        layer: usize,
        new_weights: Vec<crate::keras::layers::Weight>,
        weights: &mut ModelWeights,
    ) {
        let name = self.entry_name(Entry::Layer(layer)).to_string();
        for w in new_weights {
            let info = WeightInfo {
                name: format!("{name}/{}", w.name),
                shape: w.value.shape().to_vec(),
                dtype: w.value.dtype(),
            };
            let (list, infos) = if w.trainable {
                (&mut weights.trainable, &mut self.trainable)
            } else {
                (&mut weights.non_trainable, &mut self.non_trainable)
            };
            self.slots[layer].push(Slot {
                trainable: w.trainable,
                index: list.len(),
            });
            list.push(w.value);
            infos.push(info);
        }
    }

    /// The output shape of merge `merge` applied to the nodes `inputs`.
    fn merge_shape(&self, merge: usize, inputs: &[usize]) -> Result<Vec<usize>> {
        let shapes: Vec<Vec<usize>> = inputs
            .iter()
            .map(|i| self.node_shapes[*i].clone())
            .collect();
        let m = &self.graph.merges[merge];
        m.output_shape(&shapes).map_err(|e| {
            let shapes: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
            Error::op(
                "build",
                format!(
                    "layer '{}' ({}) on examples of shapes {}: {e}",
                    self.entry_name(Entry::Merge(merge)),
                    m.class_name(),
                    shapes.join(", ")
                ),
            )
        })
    }

    /// The shape of one example of the first output.
    pub fn output_shape(&self) -> &[usize] {
        self.graph
            .outputs
            .first()
            .map_or(&self.input_shape, |o| &self.node_shapes[*o])
    }

    /// The number of elements of each layer's weights.
    pub fn param_counts(&self) -> Vec<usize> {
        self.slots
            .iter()
            .map(|slots| {
                slots
                    .iter()
                    .map(|s| self.info(*s).shape.iter().product::<usize>())
                    .sum()
            })
            .collect()
    }

    /// The description of the weight in `slot`.
    pub fn info(&self, slot: Slot) -> &WeightInfo {
        if slot.trainable {
            &self.trainable[slot.index]
        } else {
            &self.non_trainable[slot.index]
        }
    }

    /// True for a model with one input and one output, which `fit`,
    /// `evaluate`, `predict` and [`Network::stateless_call`] handle.
    pub fn single_io(&self) -> bool {
        self.graph.input_shapes.len() == 1 && self.graph.outputs.len() == 1
    }

    /// An error for `op` unless the model has one input and one output.
    pub fn check_single_io(&self, op: &str) -> Result<()> {
        if self.single_io() {
            return Ok(());
        }
        Err(Error::op(
            op,
            format!(
                "the model has {} inputs and {} outputs; {op} takes a model with one \
                 input and one output (use predict_multi or stateless_call_multi for \
                 several)",
                self.graph.input_shapes.len(),
                self.graph.outputs.len()
            ),
        ))
    }

    /// True when the graph is a plain chain (one input, one output, each
    /// layer applied once to the previous node, no merges), which `summary`
    /// prints without the "Connected to" column, as Keras does.
    pub fn sequential_like(&self) -> bool {
        self.single_io()
            && self.graph.merges.is_empty()
            && self.graph.outputs[0] + 1 == self.graph.ops.len()
            && self.graph.ops.iter().enumerate().all(|(k, op)| match op {
                Op::Input(i) => k == 0 && *i == 0,
                Op::Merge { .. } => false,
                Op::Layer { layer, input } => *layer + 1 == k && *input + 1 == k,
            })
    }

    /// The nodes where `entry` is applied, in node order.
    pub fn applications(&self, entry: Entry) -> Vec<usize> {
        let applies = |op: &Op| match (op, entry) {
            (Op::Layer { layer, .. }, Entry::Layer(l)) => *layer == l,
            (Op::Merge { merge, .. }, Entry::Merge(m)) => *merge == m,
            _ => false,
        };
        (0..self.graph.ops.len())
            .filter(|k| applies(&self.graph.ops[*k]))
            .collect()
    }

    /// The nodes that node `node` reads.
    pub fn node_inputs(&self, node: usize) -> Vec<usize> {
        match &self.graph.ops[node] {
            Op::Input(_) => Vec::new(),
            Op::Layer { input, .. } => vec![*input],
            Op::Merge { inputs, .. } => inputs.clone(),
        }
    }

    /// Keras' name for the tensor of node `node`: `dense[1][0]` for the
    /// output of `dense`'s second application, `input_layer[0][0]` for an
    /// input.
    pub fn node_label(&self, node: usize) -> String {
        let entry = match &self.graph.ops[node] {
            Op::Input(i) => return format!("{}[0][0]", self.graph.input_names[*i]),
            Op::Layer { layer, .. } => Entry::Layer(*layer),
            Op::Merge { merge, .. } => Entry::Merge(*merge),
        };
        let call = self
            .applications(entry)
            .iter()
            .position(|k| *k == node)
            .unwrap_or(0);
        format!("{}[{call}][0]", self.entry_name(entry))
    }

    /// The pure forward pass of a one-input, one-output model: its output
    /// for `inputs` (batch axis first) and the new non-trainable weights;
    /// see [`Network::stateless_call_graph`]. Callers check
    /// [`Network::check_single_io`] first.
    pub fn stateless_call(
        &self,
        trainable: &[Array],
        non_trainable: &[Array],
        inputs: &Array,
        ctx: CallContext<'_>,
    ) -> (Array, Vec<Array>) {
        let (mut outputs, state) =
            self.stateless_call_graph(trainable, non_trainable, std::slice::from_ref(inputs), ctx);
        (outputs.swap_remove(0), state)
    }

    /// The pure forward pass: the outputs for `inputs` (one array per model
    /// input, batch axis first) and the new non-trainable weights, in the
    /// training mode of `ctx`. The `k`-th layer application in node order
    /// gets the key `fold_in(ctx.key, k)`; a layer applied twice reads the state its first application
    /// left.
    pub fn stateless_call_graph(
        &self,
        trainable: &[Array],
        non_trainable: &[Array],
        inputs: &[Array],
        ctx: CallContext<'_>,
    ) -> (Vec<Array>, Vec<Array>) {
        let mut new_state = non_trainable.to_vec();
        let mut values: Vec<Array> = Vec::with_capacity(self.graph.ops.len());
        let mut application = 0;
        for op in &self.graph.ops {
            let value = match op {
                Op::Input(i) => inputs[*i].clone(),
                Op::Merge { merge, inputs } => {
                    let args: Vec<Array> = inputs.iter().map(|i| values[*i].clone()).collect();
                    self.graph.merges[*merge].call(&args)
                }
                Op::Layer { layer, input } => {
                    let slots = &self.slots[*layer];
                    let weights: Vec<Array> = slots
                        .iter()
                        .map(|s| {
                            if s.trainable {
                                trainable[s.index].clone()
                            } else {
                                new_state[s.index].clone()
                            }
                        })
                        .collect();
                    let layer_key = ctx.key.map(|k| random::fold_in(k, application));
                    application += 1;
                    let layer_ctx = CallContext {
                        training: ctx.training,
                        key: layer_key.as_ref(),
                    };
                    let out = self.graph.layers[*layer].call(&weights, &values[*input], &layer_ctx);
                    let state_slots = slots.iter().filter(|s| !s.trainable);
                    for (slot, value) in state_slots.zip(out.updated_state) {
                        new_state[slot.index] = value;
                    }
                    out.output
                }
            };
            values.push(value);
        }
        let outputs = self
            .graph
            .outputs
            .iter()
            .map(|o| values[*o].clone())
            .collect();
        (outputs, new_state)
    }

    /// Checks that `weights` match this network's weight shapes and dtypes.
    pub fn check_weights(&self, op: &'static str, weights: &ModelWeights) -> Result<()> {
        self.check_weight_lists(op, &weights.trainable, &weights.non_trainable)
    }

    /// Checks that the `trainable` and `non_trainable` weights match this
    /// network's weight shapes and dtypes.
    pub fn check_weight_lists(
        &self,
        op: &'static str,
        trainable: &[Array],
        non_trainable: &[Array],
    ) -> Result<()> {
        let lists = [
            (&self.trainable, trainable, "trainable"),
            (&self.non_trainable, non_trainable, "non-trainable"),
        ];
        for (infos, values, what) in lists {
            if infos.len() != values.len() {
                return Err(Error::WeightsMismatch {
                    op,
                    message: format!(
                        "the model has {} {what} weights, got {}",
                        infos.len(),
                        values.len()
                    ),
                });
            }
            for (info, value) in infos.iter().zip(values) {
                check_weight(op, info, value.shape(), value.dtype())?;
            }
        }
        Ok(())
    }
}

/// Checks one weight's shape and dtype against the model's.
pub(crate) fn check_weight(
    op: &'static str,
    info: &WeightInfo,
    shape: &[usize],
    dtype: DType,
) -> Result<()> {
    if info.shape != shape || info.dtype != dtype {
        return Err(Error::WeightsMismatch {
            op,
            message: format!(
                "weight '{}' is {}{:?} in the model, got {}{:?}",
                info.name, info.dtype, info.shape, dtype, shape
            ),
        });
    }
    Ok(())
}
