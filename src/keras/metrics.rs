//! Metrics as pure state-update functions, updated inside the jitted step.
//!
//! A metric's state is a flat list of arrays: [`Metric::init`] gives the
//! empty state, [`Metric::update`] folds in one batch and
//! [`Metric::result`] reads the value, all traceable. As in Keras:
//!
//! - The accuracy metrics compute a value per example (1 for a hit, 0 for a
//!   miss, averaged over trailing axes) and keep `[total, count]`: the sum
//!   of those values and the number of examples, so the result over several
//!   batches is the mean over all their examples.
//!   [`Accuracy`]: `t == p`; [`BinaryAccuracy`]: `t == (p > threshold)`;
//!   [`CategoricalAccuracy`]: `argmax t == argmax p`;
//!   [`SparseCategoricalAccuracy`]: `t == argmax p`.
//! - [`Mean`] keeps a (weighted) running mean of values.
//! - [`AUC`] keeps the confusion counts `tp, fp, tn, fn` at `n` thresholds
//!   (`-eps, 1/(n-1), ..., (n-2)/(n-1), 1 + eps`, a prediction is positive
//!   when strictly greater) and returns the area under the ROC curve by the
//!   trapezoid rule: `sum_i (fpr_i - fpr_{i+1}) (tpr_i + tpr_{i+1}) / 2`.
//!
//! Keras' `"accuracy"` in `compile` means the accuracy that suits the loss
//! and the output shape: [`accuracy_for_loss`] and [`get_for_loss`] resolve
//! it.

use crate::keras::losses::{sparse_labels, squeeze_or_expand_to_same_rank, EPSILON};
use crate::{jnp, Array, DType};
use rjax_ir::{Error, Result};

/// A metric: a state (a flat list of arrays), a pure update from a batch,
/// and a result read from the state.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{BinaryAccuracy, Metric};
/// use rjax::Array;
///
/// let acc = BinaryAccuracy::default();
/// let y_true = Array::from_vec(vec![0.0f32, 1.0, 1.0, 0.0], &[4, 1]).unwrap();
/// let y_pred = Array::from_vec(vec![0.2f32, 0.9, 0.4, 0.1], &[4, 1]).unwrap();
/// let state = acc.update(&acc.init(), &y_true, &y_pred);
/// assert_eq!(acc.result(&state).item::<f32>().unwrap(), 0.75); // 3 of 4 right
/// ```
pub trait Metric: Send + Sync + std::fmt::Debug {
    /// The Keras name shown in logs, e.g. `"binary_accuracy"`.
    fn name(&self) -> &str;

    /// The empty state.
    fn init(&self) -> Vec<Array>;

    /// The state after one more batch. Traceable.
    fn update(&self, state: &[Array], y_true: &Array, y_pred: &Array) -> Vec<Array>;

    /// The metric's value for the batches seen so far, a rank-0 array.
    fn result(&self, state: &[Array]) -> Array;
}

/// `[total, count] = [0, 0]` in `f32`.
fn mean_init() -> Vec<Array> {
    vec![jnp::zeros(&[], DType::F32), jnp::zeros(&[], DType::F32)]
}

/// `numerator / denominator`, or 0 where the denominator is 0 (Keras'
/// `divide_no_nan`).
fn divide_no_nan(numerator: &Array, denominator: &Array) -> Array {
    let empty = jnp::equal(denominator, &Array::scalar_like(0.0, denominator));
    let safe = jnp::where_(&empty, &Array::scalar_like(1.0, denominator), denominator);
    jnp::where_(&empty, &jnp::zeros_like(numerator), &(numerator / safe))
}

/// Adds per-example `values` (examples on axis 0; trailing axes are
/// averaged) to a `[total, count]` state.
fn mean_accumulate(state: &[Array], values: &Array) -> Vec<Array> {
    let values = values.astype(DType::F32);
    let per_example = if values.ndim() > 1 {
        let trailing: Vec<isize> = (1..values.ndim() as isize).collect();
        jnp::mean(&values, trailing, false)
    } else {
        values
    };
    let count = per_example.shape().first().copied().unwrap_or(1) as f64;
    vec![&state[0] + per_example.sum(), &state[1] + count]
}

/// The mean of a `[total, count]` state (0 before any example).
fn mean_result(state: &[Array]) -> Array {
    divide_no_nan(&state[0], &state[1])
}

/// Hits (1.0) and misses (0.0) as `f32`.
fn hits(a: &Array, b: &Array) -> Array {
    jnp::equal(a, b).astype(DType::F32)
}

/// Implements [`Metric`] for a per-example metric whose values come from
/// the type's `values(&self, y_true, y_pred)` method.
macro_rules! mean_metric {
    ($ty:ty, $name:expr) => {
        impl Metric for $ty {
            fn name(&self) -> &str {
                $name
            }

            fn init(&self) -> Vec<Array> {
                mean_init()
            }

            fn update(&self, state: &[Array], y_true: &Array, y_pred: &Array) -> Vec<Array> {
                mean_accumulate(state, &self.values(y_true, y_pred))
            }

            fn result(&self, state: &[Array]) -> Array {
                mean_result(state)
            }
        }
    };
}

/// How often predictions equal targets exactly, as Keras' `Accuracy`.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{Accuracy, Metric};
/// use rjax::Array;
/// let t = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[4]).unwrap();
/// let p = Array::from_vec(vec![1.0f32, 2.0, 0.0, 4.0], &[4]).unwrap();
/// let state = Accuracy.update(&Accuracy.init(), &t, &p);
/// assert_eq!(Accuracy.result(&state).item::<f32>().unwrap(), 0.75);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accuracy;

impl Accuracy {
    fn values(&self, y_true: &Array, y_pred: &Array) -> Array {
        let (t, p) = squeeze_or_expand_to_same_rank(y_true, y_pred);
        hits(&t.astype(p.dtype()), &p)
    }
}

mean_metric!(Accuracy, "accuracy");

/// How often `y_pred > threshold` equals the 0/1 target, as Keras'
/// `BinaryAccuracy`.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{BinaryAccuracy, Metric};
/// use rjax::Array;
/// let m = BinaryAccuracy::default();
/// let t = Array::from_vec(vec![1.0f32, 0.0, 1.0, 0.0], &[4, 1]).unwrap();
/// let p = Array::from_vec(vec![0.9f32, 0.2, 0.4, 0.7], &[4, 1]).unwrap();
/// assert_eq!(m.result(&m.update(&m.init(), &t, &p)).item::<f32>().unwrap(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BinaryAccuracy {
    /// Predictions above this count as class 1 (Keras: 0.5).
    pub threshold: f64,
}

impl Default for BinaryAccuracy {
    fn default() -> Self {
        BinaryAccuracy { threshold: 0.5 }
    }
}

impl BinaryAccuracy {
    fn values(&self, y_true: &Array, y_pred: &Array) -> Array {
        let (t, p) = squeeze_or_expand_to_same_rank(y_true, y_pred);
        let threshold = Array::scalar_like(self.threshold, &p);
        let predicted = jnp::greater(&p, &threshold).astype(t.dtype());
        let matches = hits(&t, &predicted);
        if matches.ndim() == 0 {
            matches
        } else {
            jnp::mean(&matches, -1, false)
        }
    }
}

mean_metric!(BinaryAccuracy, "binary_accuracy");

/// How often the most likely class of the prediction is the target's
/// (one-hot targets), as Keras' `CategoricalAccuracy`.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{CategoricalAccuracy, Metric};
/// use rjax::Array;
/// let t = Array::from_vec(vec![0.0f32, 1.0, 1.0, 0.0], &[2, 2]).unwrap();
/// let p = Array::from_vec(vec![0.3f32, 0.7, 0.4, 0.6], &[2, 2]).unwrap();
/// let m = CategoricalAccuracy;
/// assert_eq!(m.result(&m.update(&m.init(), &t, &p)).item::<f32>().unwrap(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CategoricalAccuracy;

impl CategoricalAccuracy {
    fn values(&self, y_true: &Array, y_pred: &Array) -> Array {
        hits(&jnp::argmax(y_true, -1), &jnp::argmax(y_pred, -1))
    }
}

mean_metric!(CategoricalAccuracy, "categorical_accuracy");

/// How often the most likely class of the prediction is the integer
/// label, as Keras' `SparseCategoricalAccuracy`.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{Metric, SparseCategoricalAccuracy};
/// use rjax::Array;
/// let t = Array::from_vec(vec![1i32, 1, 0], &[3]).unwrap();
/// let p = Array::from_vec(vec![0.3f32, 0.7, 0.4, 0.6, 0.9, 0.1], &[3, 2]).unwrap();
/// let m = SparseCategoricalAccuracy;
/// assert_eq!(m.result(&m.update(&m.init(), &t, &p)).item::<f32>().unwrap(), 1.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SparseCategoricalAccuracy;

impl SparseCategoricalAccuracy {
    fn values(&self, y_true: &Array, y_pred: &Array) -> Array {
        hits(&sparse_labels(y_true, y_pred), &jnp::argmax(y_pred, -1))
    }
}

mean_metric!(SparseCategoricalAccuracy, "sparse_categorical_accuracy");

/// A running mean, as Keras' `Mean` (the training loop's loss tracker).
///
/// As a [`Metric`], `update` averages the values in `y_pred` (examples on
/// axis 0, trailing axes averaged; a scalar counts as one value) and ignores
/// `y_true`. [`Mean::update_weighted`] adds one value with a weight, as
/// Keras weights each batch's loss by its batch size.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{Mean, Metric};
/// use rjax::Array;
/// let m = Mean;
/// let state = m.update_weighted(&m.init(), &Array::scalar(1.0f32), 3.0);
/// let state = m.update_weighted(&state, &Array::scalar(5.0f32), 1.0);
/// assert_eq!(m.result(&state).item::<f32>().unwrap(), 2.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mean;

impl Mean {
    /// The state after adding `value` (a scalar array) with `weight`.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::metrics::{Mean, Metric};
    /// use rjax::Array;
    /// let state = Mean.update_weighted(&Mean.init(), &Array::scalar(4.0f32), 2.0);
    /// assert_eq!(Mean.result(&state).item::<f32>().unwrap(), 4.0);
    /// ```
    pub fn update_weighted(&self, state: &[Array], value: &Array, weight: f64) -> Vec<Array> {
        let value = value.astype(DType::F32);
        vec![&state[0] + value.sum() * weight, &state[1] + weight]
    }
}

impl Metric for Mean {
    fn name(&self) -> &str {
        "mean"
    }

    fn init(&self) -> Vec<Array> {
        mean_init()
    }

    fn update(&self, state: &[Array], _y_true: &Array, y_pred: &Array) -> Vec<Array> {
        mean_accumulate(state, y_pred)
    }

    fn result(&self, state: &[Array]) -> Array {
        mean_result(state)
    }
}

/// The area under the ROC curve from binned confusion counts, as Keras'
/// `AUC` with its defaults (200 thresholds, trapezoid rule). Targets are
/// 0/1 (nonzero counts as positive), predictions are probabilities; all
/// axes are flattened.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{Metric, AUC};
/// use rjax::Array;
/// let m = AUC::default();
/// let t = Array::from_vec(vec![0.0f32, 0.0, 1.0, 1.0], &[4]).unwrap();
/// let p = Array::from_vec(vec![0.1f32, 0.4, 0.35, 0.8], &[4]).unwrap();
/// let auc = m.result(&m.update(&m.init(), &t, &p)).item::<f32>().unwrap();
/// assert!((auc - 0.75).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AUC {
    /// The number of thresholds (Keras: 200); at least 3.
    pub num_thresholds: usize,
}

impl Default for AUC {
    fn default() -> Self {
        AUC {
            num_thresholds: 200,
        }
    }
}

impl AUC {
    /// Keras' thresholds: `-eps`, then `i / (n - 1)` for `i` in `1..n-1`,
    /// then `1 + eps`.
    ///
    /// # Example
    /// ```
    /// let t = rjax::keras::metrics::AUC { num_thresholds: 3 }.thresholds();
    /// assert_eq!(t, vec![-1e-7, 0.5, 1.0 + 1e-7]);
    /// ```
    pub fn thresholds(&self) -> Vec<f64> {
        let n = self.num_thresholds.max(3);
        let mut thresholds = vec![-EPSILON];
        thresholds.extend((1..n - 1).map(|i| i as f64 / (n - 1) as f64));
        thresholds.push(1.0 + EPSILON);
        thresholds
    }
}

impl Metric for AUC {
    fn name(&self) -> &str {
        "auc"
    }

    /// `[tp, fp, tn, fn]`, each of shape `[num_thresholds]`.
    fn init(&self) -> Vec<Array> {
        let n = self.thresholds().len();
        vec![jnp::zeros(&[n], DType::F32); 4]
    }

    fn update(&self, state: &[Array], y_true: &Array, y_pred: &Array) -> Vec<Array> {
        let thresholds: Vec<f32> = self.thresholds().iter().map(|&t| t as f32).collect();
        let n = thresholds.len();
        let thresholds = Array::from_vec(thresholds, &[1, n])
            .unwrap_or_else(|e| panic!("AUC: thresholds of length {n}: {e}"));
        let positive = jnp::not_equal(&y_true.flatten(), &Array::scalar_like(0.0, y_true))
            .astype(DType::F32)
            .reshape(&[y_true.size(), 1]);
        let negative = 1.0 - &positive;
        let above = jnp::greater(
            &y_pred.astype(DType::F32).reshape(&[y_pred.size(), 1]),
            &thresholds,
        )
        .astype(DType::F32);
        let below = 1.0 - &above;
        let count = |a: &Array, b: &Array| jnp::sum(&(a * b), 0, false);
        vec![
            &state[0] + count(&positive, &above),
            &state[1] + count(&negative, &above),
            &state[2] + count(&negative, &below),
            &state[3] + count(&positive, &below),
        ]
    }

    fn result(&self, state: &[Array]) -> Array {
        let (tp, fp, tn, fn_) = (&state[0], &state[1], &state[2], &state[3]);
        let tpr = divide_no_nan(tp, &(tp + fn_));
        let fpr = divide_no_nan(fp, &(fp + tn));
        let n = tp.shape()[0];
        let head = |x: &Array| jnp::slice(x, &[0], &[n - 1], None);
        let tail = |x: &Array| jnp::slice(x, &[1], &[n], None);
        let heights = (head(&tpr) + tail(&tpr)) / 2.0;
        ((head(&fpr) - tail(&fpr)) * heights).sum()
    }
}

/// A metric reported under another name (Keras logs `"accuracy"` under
/// the name the user gave, whichever accuracy it resolved to).
///
/// # Example
/// ```
/// use rjax::keras::metrics::{BinaryAccuracy, Metric, Renamed};
/// let m = Renamed::new("acc", BinaryAccuracy::default());
/// assert_eq!(m.name(), "acc");
/// ```
#[derive(Debug)]
pub struct Renamed {
    name: String,
    inner: Box<dyn Metric>,
}

impl Renamed {
    /// `inner`, logged as `name`.
    ///
    /// # Example
    /// ```
    /// use rjax::keras::metrics::{Mean, Metric, Renamed};
    /// assert_eq!(Renamed::new("loss", Mean).name(), "loss");
    /// ```
    pub fn new(name: impl Into<String>, inner: impl Metric + 'static) -> Self {
        Renamed {
            name: name.into(),
            inner: Box::new(inner),
        }
    }
}

impl Metric for Renamed {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&self) -> Vec<Array> {
        self.inner.init()
    }

    fn update(&self, state: &[Array], y_true: &Array, y_pred: &Array) -> Vec<Array> {
        self.inner.update(state, y_true, y_pred)
    }

    fn result(&self, state: &[Array]) -> Array {
        self.inner.result(state)
    }
}

/// The metric Keras names `name`: `"accuracy"`/`"acc"` (exact match, see
/// [`get_for_loss`] for the resolving kind), `"binary_accuracy"`,
/// `"categorical_accuracy"`, `"sparse_categorical_accuracy"`, `"mean"`,
/// `"auc"` (or the class names).
///
/// # Example
/// ```
/// use rjax::keras::metrics;
/// assert_eq!(metrics::get("binary_accuracy").unwrap().name(), "binary_accuracy");
/// assert!(metrics::get("f1").is_err());
/// ```
pub fn get(name: &str) -> Result<Box<dyn Metric>> {
    let metric: Box<dyn Metric> = match name {
        "accuracy" | "acc" | "Accuracy" => Box::new(Accuracy),
        "binary_accuracy" | "BinaryAccuracy" => Box::new(BinaryAccuracy::default()),
        "categorical_accuracy" | "CategoricalAccuracy" => Box::new(CategoricalAccuracy),
        "sparse_categorical_accuracy" | "SparseCategoricalAccuracy" => {
            Box::new(SparseCategoricalAccuracy)
        }
        "mean" | "Mean" => Box::new(Mean),
        "auc" | "AUC" => Box::new(AUC::default()),
        _ => {
            let message = format!(
                "unknown metric {name:?}; known: accuracy, binary_accuracy, \
                 categorical_accuracy, sparse_categorical_accuracy, mean, auc"
            );
            return Err(Error::op("metrics::get", message));
        }
    };
    Ok(metric)
}

/// The accuracy Keras means by `"accuracy"` for a model trained with the
/// loss named `loss_name` (a Keras loss name, e.g. from
/// [`Loss::name`](crate::keras::losses::Loss::name)) whose examples have
/// output shape `output_shape`: sparse categorical accuracy for sparse
/// categorical cross-entropy; binary accuracy for binary cross-entropy or a
/// single output; categorical accuracy otherwise.
///
/// # Example
/// ```
/// use rjax::keras::metrics::accuracy_for_loss;
/// assert_eq!(accuracy_for_loss("sparse_categorical_crossentropy", &[10]).name(), "sparse_categorical_accuracy");
/// assert_eq!(accuracy_for_loss("mean_squared_error", &[1]).name(), "binary_accuracy");
/// assert_eq!(accuracy_for_loss("categorical_crossentropy", &[10]).name(), "categorical_accuracy");
/// ```
pub fn accuracy_for_loss(loss_name: &str, output_shape: &[usize]) -> Box<dyn Metric> {
    let single_output = output_shape.last().is_none_or(|&d| d == 1);
    match loss_name {
        "sparse_categorical_crossentropy" => Box::new(SparseCategoricalAccuracy),
        "binary_crossentropy" => Box::new(BinaryAccuracy::default()),
        _ if single_output => Box::new(BinaryAccuracy::default()),
        _ => Box::new(CategoricalAccuracy),
    }
}

/// Like [`get`], but `"accuracy"` and `"acc"` resolve through
/// [`accuracy_for_loss`] (and keep the name the user gave), as Keras'
/// `compile(metrics=["accuracy"])` does.
///
/// # Example
/// ```
/// use rjax::keras::metrics::{get_for_loss, Metric};
/// use rjax::Array;
/// let m = get_for_loss("accuracy", "sparse_categorical_crossentropy", &[3]).unwrap();
/// assert_eq!(m.name(), "accuracy");
/// let t = Array::from_vec(vec![2i32], &[1]).unwrap();
/// let p = Array::from_vec(vec![0.1f32, 0.2, 0.7], &[1, 3]).unwrap();
/// assert_eq!(m.result(&m.update(&m.init(), &t, &p)).item::<f32>().unwrap(), 1.0);
/// ```
pub fn get_for_loss(
    name: &str,
    loss_name: &str,
    output_shape: &[usize],
) -> Result<Box<dyn Metric>> {
    match name {
        "accuracy" | "acc" => Ok(Box::new(Renamed {
            name: name.to_string(),
            inner: accuracy_for_loss(loss_name, output_shape),
        })),
        _ => get(name),
    }
}
