//! Losses: pure functions from targets and predictions to a scalar.
//!
//! Each loss computes a per-example value (reducing the last axis) and
//! returns its mean over the batch, as Keras' default
//! `sum_over_batch_size` reduction does. Before that, targets are cast to
//! the predictions' dtype and the two are brought to the same rank the Keras
//! way ([`squeeze_or_expand_to_same_rank`]: a trailing axis of size 1 is
//! dropped or added). With `t` the target, `p` a probability clipped into
//! `[eps, 1 - eps]` (`eps = 1e-7`, Keras' `epsilon()`) and `x` a logit:
//!
//! - [`MeanSquaredError`]: `mean((p - t)^2)`; [`MeanAbsoluteError`]:
//!   `mean(|p - t|)`.
//! - [`BinaryCrossentropy`]: `-(t log p + (1 - t) log(1 - p))`; from logits
//!   `t softplus(-x) + (1 - t) softplus(x)`, which is finite for any `x`.
//!   Label smoothing `s` first maps `t` to `t (1 - s) + s / 2`.
//! - [`CategoricalCrossentropy`]: `-sum_c t_c log p_c` with `p` first
//!   normalized to sum 1; from logits `-sum_c t_c log_softmax(x)_c`
//!   (log-sum-exp on logits shifted by their maximum). Label smoothing maps
//!   `t` to `t (1 - s) + s / classes`.
//! - [`SparseCategoricalCrossentropy`]: the categorical loss against the
//!   one-hot encoding of integer labels.
//!
//! [`Loss::check_targets`] validates concrete targets before training
//! (shapes, label ranges, finiteness) and returns typed errors.

mod check;

use crate::{jnp, nn, Array, DType};
use rjax_ir::{Error, Result};

/// Keras' fuzz factor `epsilon()`, used to clip probabilities.
///
/// # Example
/// ```
/// use rjax::keras::losses::{BinaryCrossentropy, Loss, EPSILON};
/// use rjax::Array;
/// // A certain, wrong prediction costs -log(EPSILON), not infinity.
/// let t = Array::from_vec(vec![1.0f64], &[1, 1]).unwrap();
/// let p = Array::from_vec(vec![0.0f64], &[1, 1]).unwrap();
/// let loss = BinaryCrossentropy::new().call(&t, &p).item::<f64>().unwrap();
/// assert!((loss + EPSILON.ln()).abs() < 1e-9);
/// ```
pub const EPSILON: f64 = 1e-7;

/// A loss function, averaged over the batch.
///
/// # Example
/// ```
/// use rjax::keras::losses::{Loss, MeanSquaredError};
/// use rjax::Array;
///
/// let y_true = Array::from_vec(vec![0.0f32, 1.0], &[2, 1]).unwrap();
/// let y_pred = Array::from_vec(vec![0.5f32, 1.0], &[2, 1]).unwrap();
/// let loss = MeanSquaredError.call(&y_true, &y_pred).item::<f32>().unwrap();
/// assert!((loss - 0.125).abs() < 1e-7); // (0.25 + 0) / 2
/// assert!(MeanSquaredError.check_targets(&y_true, &[1]).is_ok());
/// ```
pub trait Loss: Send + Sync + std::fmt::Debug {
    /// The Keras name, e.g. `"mean_squared_error"`.
    fn name(&self) -> &str;

    /// The mean loss over the batch, a rank-0 array. Traceable.
    fn call(&self, y_true: &Array, y_pred: &Array) -> Array;

    /// Checks concrete targets before training starts (for example labels
    /// out of range for sparse categorical cross-entropy), given the shape of
    /// the model's output for one example.
    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()>;
}

/// The shapes Keras' `squeeze_or_expand_to_same_rank` gives two arrays of
/// shapes `a` and `b`: when their ranks differ by one and the longer one
/// ends in an axis of size 1, that axis is dropped, or, when the shorter
/// one has rank 1, an axis of size 1 is added to the shorter one instead.
fn same_rank_shapes(a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    if a.len() == b.len() + 1 && a.last() == Some(&1) {
        if b.len() == 1 {
            b.push(1);
        } else {
            a.pop();
        }
    } else if b.len() == a.len() + 1 && b.last() == Some(&1) {
        if a.len() == 1 {
            a.push(1);
        } else {
            b.pop();
        }
    }
    (a, b)
}

/// Brings `a` and `b` to the same rank as Keras'
/// `squeeze_or_expand_to_same_rank` does: if their ranks differ by one and
/// the longer ends in a unit axis, it is squeezed away (or a unit axis is
/// added to the shorter when that has rank 1). Other pairs are returned
/// unchanged.
///
/// # Example
/// ```
/// use rjax::keras::losses::squeeze_or_expand_to_same_rank;
/// use rjax::jnp;
/// use rjax::DType;
/// let (t, p) = squeeze_or_expand_to_same_rank(&jnp::zeros(&[4], DType::F32), &jnp::zeros(&[4, 1], DType::F32));
/// assert_eq!((t.shape(), p.shape()), (&[4, 1][..], &[4, 1][..]));
/// ```
pub fn squeeze_or_expand_to_same_rank(a: &Array, b: &Array) -> (Array, Array) {
    let (sa, sb) = same_rank_shapes(a.shape(), b.shape());
    let fit = |x: &Array, shape: Vec<usize>| {
        if x.shape() == shape.as_slice() {
            x.clone()
        } else {
            x.reshape(&shape)
        }
    };
    (fit(a, sa), fit(b, sb))
}

/// Targets cast to the predictions' (float) dtype and both at one rank.
fn aligned(y_true: &Array, y_pred: &Array) -> (Array, Array) {
    let dtype = if y_pred.dtype().is_float() {
        y_pred.dtype()
    } else {
        DType::F32
    };
    squeeze_or_expand_to_same_rank(&y_true.astype(dtype), &y_pred.astype(dtype))
}

/// The batch mean of per-element values reduced over the last axis (Keras'
/// per-example `mean(.., axis=-1)` followed by `sum_over_batch_size`).
fn batch_mean_of_last_axis_mean(values: &Array) -> Array {
    if values.ndim() == 0 {
        return values.clone();
    }
    jnp::mean(values, -1, false).mean()
}

/// Probabilities clipped into `[EPSILON, 1 - EPSILON]`.
fn clip_probabilities(p: &Array) -> Array {
    p.clip(EPSILON, 1.0 - EPSILON)
}

/// The per-example categorical cross-entropy `-sum(t * log p, -1)` of
/// one-hot or soft targets `t` against probabilities or logits.
fn categorical_terms(t: &Array, y_pred: &Array, from_logits: bool) -> Array {
    let log_prob = if from_logits {
        nn::log_softmax(y_pred, -1)
    } else {
        let p = y_pred / jnp::sum(y_pred, -1, true);
        clip_probabilities(&p).log()
    };
    -jnp::sum(&(t * log_prob), -1, false)
}

/// The mean squared error, `mean((y_pred - y_true)^2)`.
///
/// # Example
/// ```
/// use rjax::keras::losses::{Loss, MeanSquaredError};
/// use rjax::Array;
/// let t = Array::from_vec(vec![0.0f32, 1.0], &[2, 1]).unwrap();
/// let p = Array::from_vec(vec![0.5f32, 0.0], &[2, 1]).unwrap();
/// assert_eq!(MeanSquaredError.call(&t, &p).item::<f32>().unwrap(), 0.625);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeanSquaredError;

impl Loss for MeanSquaredError {
    fn name(&self) -> &str {
        "mean_squared_error"
    }

    fn call(&self, y_true: &Array, y_pred: &Array) -> Array {
        let (t, p) = aligned(y_true, y_pred);
        batch_mean_of_last_axis_mean(&(p - t).square())
    }

    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()> {
        check::dense_targets(self.name(), y_true, output_shape, None)
    }
}

/// The mean absolute error, `mean(|y_pred - y_true|)`.
///
/// # Example
/// ```
/// use rjax::keras::losses::{Loss, MeanAbsoluteError};
/// use rjax::Array;
/// let t = Array::from_vec(vec![0.0f32, 1.0], &[2]).unwrap();
/// let p = Array::from_vec(vec![0.5f32, -1.0], &[2]).unwrap();
/// assert_eq!(MeanAbsoluteError.call(&t, &p).item::<f32>().unwrap(), 1.25);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeanAbsoluteError;

impl Loss for MeanAbsoluteError {
    fn name(&self) -> &str {
        "mean_absolute_error"
    }

    fn call(&self, y_true: &Array, y_pred: &Array) -> Array {
        let (t, p) = aligned(y_true, y_pred);
        batch_mean_of_last_axis_mean(&(p - t).abs())
    }

    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()> {
        check::dense_targets(self.name(), y_true, output_shape, None)
    }
}

/// The builder methods shared by the cross-entropies with label smoothing:
/// `new`, `from_logits` and `label_smoothing`, with their docs.
macro_rules! smoothed_cross_entropy_builders {
    ($loss:ident) => {
        impl $loss {
            /// On probabilities, without label smoothing.
            ///
            /// # Example
            /// ```
            #[doc = concat!("assert!(!rjax::keras::losses::", stringify!($loss), "::new().from_logits);")]
            /// ```
            pub fn new() -> Self {
                Self::default()
            }

            /// Sets whether predictions are logits.
            ///
            /// # Example
            /// ```
            #[doc = concat!("let loss = rjax::keras::losses::", stringify!($loss), "::new().from_logits(true);")]
            /// assert!(loss.from_logits);
            /// ```
            pub fn from_logits(mut self, from_logits: bool) -> Self {
                self.from_logits = from_logits;
                self
            }

            /// Sets the label smoothing fraction.
            ///
            /// # Example
            /// ```
            #[doc = concat!("let loss = rjax::keras::losses::", stringify!($loss), "::new().label_smoothing(0.1);")]
            /// assert_eq!(loss.label_smoothing, 0.1);
            /// ```
            pub fn label_smoothing(mut self, label_smoothing: f64) -> Self {
                self.label_smoothing = label_smoothing;
                self
            }
        }
    };
}

/// Binary cross-entropy of targets in `[0, 1]` against probabilities, or
/// against logits with `from_logits`.
///
/// # Example
/// ```
/// use rjax::keras::losses::{BinaryCrossentropy, Loss};
/// use rjax::Array;
/// let t = Array::from_vec(vec![1.0f32, 0.0], &[2, 1]).unwrap();
/// let logits = Array::from_vec(vec![0.0f32, -1e4], &[2, 1]).unwrap();
/// let loss = BinaryCrossentropy::new().from_logits(true).call(&t, &logits);
/// // (log 2 + 0) / 2
/// assert!((loss.item::<f32>().unwrap() - 2f32.ln() / 2.0).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BinaryCrossentropy {
    /// Predictions are logits rather than probabilities.
    pub from_logits: bool,
    /// Targets are smoothed towards 1/2 by this fraction.
    pub label_smoothing: f64,
}

smoothed_cross_entropy_builders!(BinaryCrossentropy);

impl Loss for BinaryCrossentropy {
    fn name(&self) -> &str {
        "binary_crossentropy"
    }

    fn call(&self, y_true: &Array, y_pred: &Array) -> Array {
        let (mut t, x) = aligned(y_true, y_pred);
        if self.label_smoothing != 0.0 {
            t = t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing;
        }
        let terms = if self.from_logits {
            &t * nn::softplus(&-&x) + (1.0 - &t) * nn::softplus(&x)
        } else {
            let p = clip_probabilities(&x);
            -(&t * p.log() + (1.0 - &t) * (1.0 - &p).log())
        };
        batch_mean_of_last_axis_mean(&terms)
    }

    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()> {
        check::dense_targets(self.name(), y_true, output_shape, Some((0.0, 1.0)))
    }
}

/// Categorical cross-entropy of one-hot (or soft) targets against class
/// probabilities, or against logits with `from_logits`; classes on the last
/// axis.
///
/// # Example
/// ```
/// use rjax::keras::losses::{CategoricalCrossentropy, Loss};
/// use rjax::Array;
/// let t = Array::from_vec(vec![0.0f32, 1.0], &[1, 2]).unwrap();
/// let p = Array::from_vec(vec![0.75f32, 0.25], &[1, 2]).unwrap();
/// let loss = CategoricalCrossentropy::new().call(&t, &p);
/// assert!((loss.item::<f32>().unwrap() - 4f32.ln()).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CategoricalCrossentropy {
    /// Predictions are logits rather than probabilities.
    pub from_logits: bool,
    /// Targets are smoothed towards uniform by this fraction.
    pub label_smoothing: f64,
}

smoothed_cross_entropy_builders!(CategoricalCrossentropy);

impl Loss for CategoricalCrossentropy {
    fn name(&self) -> &str {
        "categorical_crossentropy"
    }

    fn call(&self, y_true: &Array, y_pred: &Array) -> Array {
        let (mut t, x) = aligned(y_true, y_pred);
        if self.label_smoothing != 0.0 {
            let classes = x.shape().last().copied().unwrap_or(1) as f64;
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / classes;
        }
        categorical_terms(&t, &x, self.from_logits).mean()
    }

    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()> {
        check::dense_targets(self.name(), y_true, output_shape, Some((0.0, 1.0)))
    }
}

/// Categorical cross-entropy of integer class labels (any integer or
/// integer-valued float dtype, shape `[batch]` or `[batch, 1]`) against
/// class probabilities, or against logits with `from_logits`.
///
/// # Example
/// ```
/// use rjax::keras::losses::{Loss, SparseCategoricalCrossentropy};
/// use rjax::Array;
/// let labels = Array::from_vec(vec![1i32], &[1]).unwrap();
/// let logits = Array::from_vec(vec![0.0f32, 0.0], &[1, 2]).unwrap();
/// let loss = SparseCategoricalCrossentropy::new().from_logits(true).call(&labels, &logits);
/// assert!((loss.item::<f32>().unwrap() - 2f32.ln()).abs() < 1e-6);
/// let bad = Array::from_vec(vec![2i32], &[1]).unwrap();
/// assert!(SparseCategoricalCrossentropy::new().check_targets(&bad, &[2]).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SparseCategoricalCrossentropy {
    /// Predictions are logits rather than probabilities.
    pub from_logits: bool,
}

impl SparseCategoricalCrossentropy {
    /// On probabilities.
    ///
    /// # Example
    /// ```
    /// assert!(!rjax::keras::losses::SparseCategoricalCrossentropy::new().from_logits);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether predictions are logits.
    ///
    /// # Example
    /// ```
    /// let loss = rjax::keras::losses::SparseCategoricalCrossentropy::new().from_logits(true);
    /// assert!(loss.from_logits);
    /// ```
    pub fn from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }
}

/// Integer labels for sparse targets: a trailing unit axis matching the
/// predictions' rank is dropped, and the labels are cast to `i32`.
pub(crate) fn sparse_labels(y_true: &Array, y_pred: &Array) -> Array {
    let labels = if y_true.ndim() == y_pred.ndim() && y_true.shape().last() == Some(&1) {
        y_true.squeeze(-1)
    } else {
        y_true.clone()
    };
    labels.astype(DType::I32)
}

impl Loss for SparseCategoricalCrossentropy {
    fn name(&self) -> &str {
        "sparse_categorical_crossentropy"
    }

    fn call(&self, y_true: &Array, y_pred: &Array) -> Array {
        let x = if y_pred.dtype().is_float() {
            y_pred.clone()
        } else {
            y_pred.astype(DType::F32)
        };
        let classes = x.shape().last().copied().unwrap_or(1);
        let hot = nn::one_hot(&sparse_labels(y_true, &x), classes, x.dtype());
        categorical_terms(&hot, &x, self.from_logits).mean()
    }

    fn check_targets(&self, y_true: &Array, output_shape: &[usize]) -> Result<()> {
        check::sparse_targets(self.name(), y_true, output_shape)
    }
}

/// The loss Keras names `name`: `"mse"`/`"mean_squared_error"`,
/// `"mae"`/`"mean_absolute_error"`, `"binary_crossentropy"`,
/// `"categorical_crossentropy"`, `"sparse_categorical_crossentropy"` (or
/// the class names, e.g. `"MeanSquaredError"`), on probabilities.
///
/// # Example
/// ```
/// use rjax::keras::losses;
/// assert_eq!(losses::get("mse").unwrap().name(), "mean_squared_error");
/// assert!(losses::get("hinge").is_err());
/// ```
pub fn get(name: &str) -> Result<Box<dyn Loss>> {
    let loss: Box<dyn Loss> = match name {
        "mse" | "MSE" | "mean_squared_error" | "MeanSquaredError" => Box::new(MeanSquaredError),
        "mae" | "MAE" | "mean_absolute_error" | "MeanAbsoluteError" => Box::new(MeanAbsoluteError),
        "binary_crossentropy" | "BinaryCrossentropy" => Box::new(BinaryCrossentropy::new()),
        "categorical_crossentropy" | "CategoricalCrossentropy" => {
            Box::new(CategoricalCrossentropy::new())
        }
        "sparse_categorical_crossentropy" | "SparseCategoricalCrossentropy" => {
            Box::new(SparseCategoricalCrossentropy::new())
        }
        _ => {
            let message = format!(
                "unknown loss {name:?}; known: mse, mae, binary_crossentropy, \
                 categorical_crossentropy, sparse_categorical_crossentropy"
            );
            return Err(Error::op("losses::get", message));
        }
    };
    Ok(loss)
}
