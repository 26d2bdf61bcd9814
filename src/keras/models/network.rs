//! The built form of a model: its layers, their names and shapes, where each
//! layer's weights sit in the model's flat weight lists, and the pure
//! forward pass over those lists ([`Network::stateless_call`]).
//!
//! A `Network` never changes once built, so jitted training steps share it
//! through an `Arc` while the model keeps the (changing) weight values.

use crate::keras::layers::{CallContext, Layer};
use crate::{random, Array, DType, Error, Result};

/// Where one of a layer's weights sits: in the trainable or the
/// non-trainable list, at `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub trainable: bool,
    pub index: usize,
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

/// A failed build: the layers, handed back so the model stays usable, and
/// the error.
pub(crate) type BuildFailure = (Vec<Box<dyn Layer>>, Error);

/// A built chain of layers; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Network {
    pub layers: Vec<Box<dyn Layer>>,
    pub names: Vec<String>,
    /// The shape of one input example.
    pub input_shape: Vec<usize>,
    /// The shape of one output example of each layer.
    pub output_shapes: Vec<Vec<usize>>,
    /// For each layer, its weights in build order.
    pub slots: Vec<Vec<Slot>>,
    pub trainable: Vec<WeightInfo>,
    pub non_trainable: Vec<WeightInfo>,
}

impl Network {
    /// Builds `layers` (in order) for examples of `input_shape`, drawing
    /// initial weights from `seed`; layer `i` gets the key `fold_in(key(seed), i)`.
    pub fn build(
        mut layers: Vec<Box<dyn Layer>>,
        names: Vec<String>,
        input_shape: &[usize],
        seed: u64,
    ) -> std::result::Result<(Network, ModelWeights), BuildFailure> {
        let root = random::key(seed);
        let mut shape = input_shape.to_vec();
        let mut net = Network {
            layers: Vec::new(),
            names,
            input_shape: input_shape.to_vec(),
            output_shapes: Vec::new(),
            slots: Vec::new(),
            trainable: Vec::new(),
            non_trainable: Vec::new(),
        };
        let mut weights = ModelWeights::default();
        for (i, layer) in layers.iter_mut().enumerate() {
            let built = layer
                .build(&shape, &random::fold_in(&root, i))
                .and_then(|w| Ok((w, layer.output_shape(&shape)?)));
            let (layer_weights, out_shape) = match built {
                Ok(built) => built,
                Err(e) => {
                    let e = Error::op(
                        "build",
                        format!(
                            "layer '{}' ({}) on examples of shape {shape:?}: {e}",
                            net.names[i],
                            layer.class_name()
                        ),
                    );
                    return Err((layers, e));
                }
            };
            let mut slots = Vec::new();
            for w in layer_weights {
                let info = WeightInfo {
                    name: format!("{}/{}", net.names[i], w.name),
                    shape: w.value.shape().to_vec(),
                    dtype: w.value.dtype(),
                };
                let (list, infos) = if w.trainable {
                    (&mut weights.trainable, &mut net.trainable)
                } else {
                    (&mut weights.non_trainable, &mut net.non_trainable)
                };
                slots.push(Slot {
                    trainable: w.trainable,
                    index: list.len(),
                });
                list.push(w.value);
                infos.push(info);
            }
            net.slots.push(slots);
            net.output_shapes.push(out_shape.clone());
            shape = out_shape;
        }
        net.layers = layers;
        Ok((net, weights))
    }

    /// The shape of one output example.
    pub fn output_shape(&self) -> &[usize] {
        self.output_shapes.last().map_or(&self.input_shape, |s| s)
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

    /// The pure forward pass: outputs for `inputs` (batch axis first) and the
    /// new non-trainable weights. Layer `i` gets the key `fold_in(key, i)`.
    pub fn stateless_call(
        &self,
        trainable: &[Array],
        non_trainable: &[Array],
        inputs: &Array,
        training: bool,
        key: Option<&Array>,
    ) -> (Array, Vec<Array>) {
        let mut new_state = non_trainable.to_vec();
        let mut x = inputs.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let weights: Vec<Array> = self.slots[i]
                .iter()
                .map(|s| {
                    if s.trainable {
                        trainable[s.index].clone()
                    } else {
                        non_trainable[s.index].clone()
                    }
                })
                .collect();
            let layer_key = key.map(|k| random::fold_in(k, i));
            let ctx = CallContext {
                training,
                key: layer_key.as_ref(),
            };
            let out = layer.call(&weights, &x, &ctx);
            let state_slots = self.slots[i].iter().filter(|s| !s.trainable);
            for (slot, value) in state_slots.zip(out.updated_state) {
                new_state[slot.index] = value;
            }
            x = out.output;
        }
        (x, new_state)
    }

    /// Checks that `weights` match this network's weight shapes and dtypes.
    pub fn check_weights(&self, op: &'static str, weights: &ModelWeights) -> Result<()> {
        let lists = [
            (&self.trainable, &weights.trainable, "trainable"),
            (&self.non_trainable, &weights.non_trainable, "non-trainable"),
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
