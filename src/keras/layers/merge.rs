//! Merge layers: layers of the functional API that combine several tensors
//! into one — [`Add`], [`Subtract`], [`Multiply`], [`Average`],
//! [`Maximum`] and [`Concatenate`].
//!
//! A merge layer has no weights and needs no build: it is the
//! [`MergeLayer`] trait, a shape rule over its input shapes (checked when
//! the model is built from the graph, so mismatched shapes are a typed
//! error before anything runs) and a pure call over its input arrays.
//! Apply one to symbolic tensors with
//! [`MergeApply::apply`](crate::keras::models::MergeApply::apply).

use crate::{jnp, Array, Error, Result};

/// A layer that combines several tensors into one (Keras' `Merge` layers).
///
/// Shapes exclude the batch axis, as for [`super::Layer`].
///
/// # Example
/// ```
/// use rjax::keras::layers::{Add, MergeLayer};
/// use rjax::{jnp, DType};
/// let add = Add::new();
/// assert_eq!(add.output_shape(&[vec![3], vec![3]]).unwrap(), vec![3]);
/// assert!(add.output_shape(&[vec![3], vec![4]]).is_err());
/// let one = jnp::ones(&[2, 3], DType::F32);
/// assert_eq!(add.call(&[one.clone(), one]).to_vec::<f32>().unwrap(), vec![2.0; 6]);
/// ```
pub trait MergeLayer: Send + Sync + std::fmt::Debug {
    /// The Keras class name, e.g. `"Add"`; models name the layer after it
    /// (`add`, `add_1`, ...).
    fn class_name(&self) -> &'static str;

    /// The shape of one output example for input examples of
    /// `input_shapes`, or an error naming the shapes when they cannot be
    /// merged.
    fn output_shape(&self, input_shapes: &[Vec<usize>]) -> Result<Vec<usize>>;

    /// The pure merge of a batch of each input (batch axis first), whose
    /// shapes `output_shape` accepted.
    fn call(&self, inputs: &[Array]) -> Array;
}

/// `[3]` and `[4]` as `[3], [4]`, for error messages.
fn shapes_text(shapes: &[Vec<usize>]) -> String {
    let parts: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
    parts.join(", ")
}

/// The shape rule of the elementwise merges: at least `min` inputs (exactly
/// `min` when `exact`), all of one shape.
fn same_shapes(op: &str, shapes: &[Vec<usize>], min: usize, exact: bool) -> Result<Vec<usize>> {
    let count_ok = if exact {
        shapes.len() == min
    } else {
        shapes.len() >= min
    };
    if !count_ok {
        let wanted = if exact {
            format!("exactly {min}")
        } else {
            format!("at least {min}")
        };
        return Err(Error::op(
            op,
            format!("takes {wanted} inputs, got {}", shapes.len()),
        ));
    }
    if shapes.iter().any(|s| s != &shapes[0]) {
        return Err(Error::op(
            op,
            format!(
                "inputs must all have the same shape, got {}",
                shapes_text(shapes)
            ),
        ));
    }
    Ok(shapes[0].clone())
}

/// Folds `inputs` with a binary operation, left to right; panics, naming
/// `op`, when there are none (the shape rule rejects that first).
fn fold(op: &str, inputs: &[Array], f: impl Fn(&Array, &Array) -> Array) -> Array {
    let Some((first, rest)) = inputs.split_first() else {
        panic!("{op}: called with no inputs");
    };
    rest.iter().fold(first.clone(), |acc, x| f(&acc, x))
}

/// Defines a unit merge layer with a `new` constructor and a `Default`.
macro_rules! unit_merge {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl $name {
            /// The layer.
            ///
            /// # Example
            /// ```
            /// use rjax::keras::layers::MergeLayer;
            #[doc = concat!("let layer = rjax::keras::layers::", stringify!($name), "::new();")]
            #[doc = concat!("assert_eq!(layer.class_name(), \"", stringify!($name), "\");")]
            /// ```
            pub fn new() -> $name {
                $name
            }
        }
    };
}

unit_merge!(
    /// Keras' `Add`: the elementwise sum of two or more inputs of one shape.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Add, Dense};
    /// use rjax::keras::models::{Input, LayerApply, MergeApply, Model};
    /// let x = Input::new(&[4]);
    /// let residual = Add::new().apply(&[x.clone(), Dense::new(4).apply(&x)]);
    /// let model = Model::new(&x, &residual).unwrap();
    /// assert_eq!(model.output_shape().unwrap(), vec![4]);
    /// ```
    Add
);

unit_merge!(
    /// Keras' `Subtract`: the first of exactly two inputs minus the second.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{MergeLayer, Subtract};
    /// use rjax::{jnp, DType};
    /// let (a, b) = (jnp::full(&[1, 2], 5.0, DType::F32), jnp::ones(&[1, 2], DType::F32));
    /// assert_eq!(Subtract::new().call(&[a, b]).to_vec::<f32>().unwrap(), vec![4.0, 4.0]);
    /// assert!(Subtract::new().output_shape(&[vec![2], vec![2], vec![2]]).is_err());
    /// ```
    Subtract
);

unit_merge!(
    /// Keras' `Multiply`: the elementwise product of two or more inputs.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{MergeLayer, Multiply};
    /// use rjax::{jnp, DType};
    /// let a = jnp::full(&[1, 2], 3.0, DType::F32);
    /// assert_eq!(Multiply::new().call(&[a.clone(), a]).to_vec::<f32>().unwrap(), vec![9.0, 9.0]);
    /// ```
    Multiply
);

unit_merge!(
    /// Keras' `Average`: the elementwise mean of two or more inputs.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Average, MergeLayer};
    /// use rjax::{jnp, DType};
    /// let (a, b) = (jnp::full(&[1, 2], 3.0, DType::F32), jnp::ones(&[1, 2], DType::F32));
    /// assert_eq!(Average::new().call(&[a, b]).to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
    /// ```
    Average
);

unit_merge!(
    /// Keras' `Maximum`: the elementwise maximum of two or more inputs.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::{Maximum, MergeLayer};
    /// use rjax::{jnp, Array};
    /// let a = Array::from_vec(vec![1.0f32, 5.0], &[1, 2]).unwrap();
    /// let b = Array::from_vec(vec![4.0f32, 2.0], &[1, 2]).unwrap();
    /// assert_eq!(Maximum::new().call(&[a, b]).to_vec::<f32>().unwrap(), vec![4.0, 5.0]);
    /// ```
    Maximum
);

impl MergeLayer for Add {
    fn class_name(&self) -> &'static str {
        "Add"
    }
    fn output_shape(&self, input_shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
        same_shapes("Add", input_shapes, 2, false)
    }
    fn call(&self, inputs: &[Array]) -> Array {
        fold("Add", inputs, |a, b| a + b)
    }
}

impl MergeLayer for Subtract {
    fn class_name(&self) -> &'static str {
        "Subtract"
    }
    fn output_shape(&self, input_shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
        same_shapes("Subtract", input_shapes, 2, true)
    }
    fn call(&self, inputs: &[Array]) -> Array {
        fold("Subtract", inputs, |a, b| a - b)
    }
}

impl MergeLayer for Multiply {
    fn class_name(&self) -> &'static str {
        "Multiply"
    }
    fn output_shape(&self, input_shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
        same_shapes("Multiply", input_shapes, 2, false)
    }
    fn call(&self, inputs: &[Array]) -> Array {
        fold("Multiply", inputs, |a, b| a * b)
    }
}

impl MergeLayer for Average {
    fn class_name(&self) -> &'static str {
        "Average"
    }
    fn output_shape(&self, input_shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
        same_shapes("Average", input_shapes, 2, false)
    }
    fn call(&self, inputs: &[Array]) -> Array {
        fold("Average", inputs, |a, b| a + b) / inputs.len() as f64
    }
}

impl MergeLayer for Maximum {
    fn class_name(&self) -> &'static str {
        "Maximum"
    }
    fn output_shape(&self, input_shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
        same_shapes("Maximum", input_shapes, 2, false)
    }
    fn call(&self, inputs: &[Array]) -> Array {
        fold("Maximum", inputs, jnp::maximum)
    }
}

/// Keras' `Concatenate`: joins two or more inputs along `axis`; the other
/// dimensions must agree. As in Keras, `axis` counts the batch axis (axis 0,
/// which cannot be joined), and a negative axis counts from the end.
///
/// # Example
/// ```
/// use rjax::keras::layers::{Concatenate, MergeLayer};
/// let concat = Concatenate::new(-1);
/// assert_eq!(concat.output_shape(&[vec![2, 3], vec![2, 5]]).unwrap(), vec![2, 8]);
/// assert!(concat.output_shape(&[vec![2, 3], vec![4, 5]]).is_err());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Concatenate {
    /// The axis to join along, counting the batch axis (default -1, the
    /// last).
    pub axis: isize,
}

impl Default for Concatenate {
    fn default() -> Concatenate {
        Concatenate { axis: -1 }
    }
}

impl Concatenate {
    /// Joins along `axis` (counting the batch axis; -1 is the last).
    ///
    /// # Example
    /// ```
    /// use rjax::keras::layers::Concatenate;
    /// assert_eq!(Concatenate::new(1).axis, 1);
    /// ```
    pub fn new(axis: isize) -> Concatenate {
        Concatenate { axis }
    }

    /// The axis of one example (without the batch axis) that examples of
    /// rank `rank` join along.
    fn example_axis(&self, rank: usize) -> Result<usize> {
        let full_rank = rank as isize + 1;
        let axis = if self.axis < 0 {
            self.axis + full_rank
        } else {
            self.axis
        };
        if axis < 1 || axis >= full_rank {
            return Err(Error::op(
                "Concatenate",
                format!(
                    "axis {} is out of range for inputs of rank {full_rank} (with the batch \
                     axis, which cannot be joined)",
                    self.axis
                ),
            ));
        }
        Ok(axis as usize - 1)
    }
}

impl MergeLayer for Concatenate {
    fn class_name(&self) -> &'static str {
        "Concatenate"
    }

    fn output_shape(&self, input_shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
        if input_shapes.len() < 2 {
            return Err(Error::op(
                "Concatenate",
                format!("takes at least 2 inputs, got {}", input_shapes.len()),
            ));
        }
        let first = &input_shapes[0];
        let axis = self.example_axis(first.len())?;
        let mismatch = input_shapes.iter().any(|s| {
            s.len() != first.len()
                || s.iter()
                    .zip(first)
                    .enumerate()
                    .any(|(i, (a, b))| i != axis && a != b)
        });
        if mismatch {
            return Err(Error::op(
                "Concatenate",
                format!(
                    "inputs must have the same rank and agree on every axis but the \
                     concatenation axis {}, got {}",
                    self.axis,
                    shapes_text(input_shapes)
                ),
            ));
        }
        let mut out = first.clone();
        out[axis] = input_shapes.iter().map(|s| s[axis]).sum();
        Ok(out)
    }

    fn call(&self, inputs: &[Array]) -> Array {
        let rank = inputs.first().map_or(1, |x| x.ndim());
        let axis = if self.axis < 0 {
            self.axis + rank as isize
        } else {
            self.axis
        };
        jnp::concatenate(inputs, axis)
    }
}
