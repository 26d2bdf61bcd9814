//! `rjax::nn`: neural-network activation functions and friends, the
//! counterpart of `jax.nn`.
//!
//! Every function is a composition of primitives (through [`jnp`]), so it
//! works eagerly and under every transformation. The numerically delicate
//! ones follow JAX's formulations, so that values *and derivatives* (first
//! and higher order, forward and reverse) stay finite and exact at `|x|` in
//! the thousands:
//!
//! - [`softplus`] computes `max(x, 0) + log1p(exp(-|x|))` and carries a
//!   custom jvp rule, `t * sigmoid(x)`, which is exact everywhere, the kink
//!   at 0 of the formula included.
//! - [`softmax`], [`log_softmax`], [`logsumexp`] and the cross-entropies
//!   ([`softmax_cross_entropy`], [`sparse_softmax_cross_entropy`], which
//!   return per-example losses as optax does) subtract the maximum, with its
//!   gradient stopped, before exponentiating: the maximum's tie rule then
//!   plays no part in the derivative, and equal logits share it equally.
//!
//! Integer inputs to the float-valued functions become `f32`, as in JAX.
//! `relu` and `relu6` are written as selects on `x <= 0` (rather than
//! `where(x > 0, x, 0)`) so that, as in JAX, their derivative at 0 is 0 and
//! a NaN input stays NaN.

use crate::array::Array;
use crate::core::bind1;
use crate::jnp::{self, bind_reshape, bind_stop_gradient, fallible, normalize_axis, to_float};
use rjax_ir::{DType, Error, Primitive, Result, Shape, ShapeDisplay};
use std::slice::from_ref;

pub use crate::jnp::{logsumexp, try_logsumexp};

/// A weakly typed scalar next to `x` (keeps `x`'s float dtype).
fn weak(value: f64, x: &Array) -> Array {
    Array::scalar_like(value, x)
}

fallible! {
    /// Rectified linear unit, `max(x, 0)`, as `jax.nn.relu`; its derivative
    /// at 0 is 0, and NaN stays NaN.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let x = Array::from_vec(vec![-2.0f32, 0.0, 3.0], &[3]).unwrap();
    /// assert_eq!(nn::relu(&x).to_vec::<f32>().unwrap(), vec![0.0, 0.0, 3.0]);
    /// ```
    pub fn relu / try_relu(x: &Array) -> Array {
        let zero = weak(0.0, x);
        jnp::try_where_(&jnp::try_less_equal(x, &zero)?, &zero, x)
    }
}

fallible! {
    /// `min(max(x, 0), 6)`, as `jax.nn.relu6`; its derivative is 1 strictly
    /// between 0 and 6 and 0 elsewhere.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let x = Array::from_vec(vec![-1.0f32, 2.0, 9.0], &[3]).unwrap();
    /// assert_eq!(nn::relu6(&x).to_vec::<f32>().unwrap(), vec![0.0, 2.0, 6.0]);
    /// ```
    pub fn relu6 / try_relu6(x: &Array) -> Array {
        let (zero, six) = (weak(0.0, x), weak(6.0, x));
        let capped = jnp::try_where_(&jnp::try_greater_equal(x, &six)?, &six, x)?;
        jnp::try_where_(&jnp::try_less_equal(x, &zero)?, &zero, &capped)
    }
}

fallible! {
    /// The logistic sigmoid `1 / (1 + e^-x)`, as `jax.nn.sigmoid`.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// assert_eq!(nn::sigmoid(&Array::scalar(0.0f32)).item::<f32>().unwrap(), 0.5);
    /// ```
    pub fn sigmoid / try_sigmoid(x: &Array) -> Array {
        jnp::try_sigmoid(x)
    }
}

fallible! {
    /// `log(1 + e^x)`, as `jax.nn.softplus`: the value is computed without
    /// overflow as `max(x, 0) + log1p(exp(-|x|))`, and the derivative is
    /// defined by a custom jvp rule, `t * sigmoid(x)` (JAX gets the same
    /// from `logaddexp`'s custom jvp). The rule matters at `x = 0`, where
    /// differentiating the formula would give `1/2` (the tie rule of `max`)
    /// `- 1/2` (`abs'(0) = 1` in the `log1p` term) `= 0` instead of
    /// `sigmoid(0) = 1/2`; everywhere else it is cheaper and exactly as
    /// accurate. Value and derivatives stay finite and exact at `|x| = 1e4`.
    ///
    /// # Example
    /// ```
    /// use rjax::{grad, nn, Array};
    /// let x = Array::from_vec(vec![0.0f32, 1e4], &[2]).unwrap();
    /// let y = nn::softplus(&x).to_vec::<f32>().unwrap();
    /// assert!((y[0] - 2f32.ln()).abs() < 1e-6 && y[1] == 1e4);
    /// let dy = grad(|x: &Array| nn::softplus(x).sum())(&x);
    /// assert_eq!(dy.to_vec::<f32>().unwrap(), vec![0.5, 1.0]);
    /// ```
    pub fn softplus / try_softplus(x: &Array) -> Array {
        let x = to_float(x)?;
        let with_rule = crate::transforms::custom::custom_jvp(
            |x: &Array| infallible(softplus_value(x)),
            |x: &Array, t: &Array| {
                let y = infallible(softplus_value(x));
                let dy = infallible(jnp::try_sigmoid(x).and_then(|s| jnp::try_multiply(t, &s)));
                (y, dy)
            },
        );
        Ok(with_rule(&x))
    }
}

/// `max(x, 0) + log1p(exp(-|x|))` for a float `x`: the overflow-free value
/// of softplus (its derivative comes from [`softplus`]'s rule).
#[track_caller]
fn softplus_value(x: &Array) -> Result<Array> {
    let positive = jnp::try_maximum(x, &weak(0.0, x))?;
    let tail = jnp::try_log1p(&jnp::try_exp(&jnp::try_negative(&jnp::try_abs(x)?)?)?)?;
    jnp::try_add(&positive, &tail)
}

/// Unwraps a result that cannot be an error: elementwise operations on one
/// float array and weakly typed scalars have no failing shape or dtype
/// rule. Used inside `custom_jvp` closures, which return plain arrays.
#[track_caller]
fn infallible(result: Result<Array>) -> Array {
    match result {
        Ok(y) => y,
        Err(e) => panic!("internal error: {e}"),
    }
}

fallible! {
    /// The sigmoid linear unit `x * sigmoid(x)`, as `jax.nn.silu`.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// assert_eq!(nn::silu(&Array::scalar(0.0f32)).item::<f32>().unwrap(), 0.0);
    /// ```
    pub fn silu / try_silu(x: &Array) -> Array {
        let x = to_float(x)?;
        jnp::try_multiply(&x, &jnp::try_sigmoid(&x)?)
    }
}

fallible! {
    /// Another name for [`silu`], as `jax.nn.swish`.
    pub fn swish / try_swish(x: &Array) -> Array {
        try_silu(x)
    }
}

fallible! {
    /// The Gaussian error linear unit, as `jax.nn.gelu`: with `approximate`,
    /// `x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))` (JAX's default);
    /// otherwise the exact `x/2 * (1 + erf(x / sqrt(2)))`.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let x = Array::scalar(1.0f32);
    /// assert!((nn::gelu(&x, false).item::<f32>().unwrap() - 0.841_344_7).abs() < 1e-6);
    /// assert!((nn::gelu(&x, true).item::<f32>().unwrap() - 0.841_192).abs() < 1e-6);
    /// ```
    pub fn gelu / try_gelu(x: &Array, approximate: bool) -> Array {
        let x = to_float(x)?;
        let inner = if approximate {
            let cube = jnp::try_multiply(&jnp::try_multiply(&x, &x)?, &x)?;
            let arg = jnp::try_add(&x, &jnp::try_multiply(&cube, &weak(0.044715, &x))?)?;
            let scale = weak((2.0 / std::f64::consts::PI).sqrt(), &x);
            jnp::try_tanh(&jnp::try_multiply(&arg, &scale)?)?
        } else {
            jnp::try_erf(&jnp::try_multiply(&x, &weak(std::f64::consts::FRAC_1_SQRT_2, &x))?)?
        };
        let half_x = jnp::try_multiply(&x, &weak(0.5, &x))?;
        jnp::try_multiply(&half_x, &jnp::try_add(&inner, &weak(1.0, &x))?)
    }
}

/// `x - stop_gradient(max(x, axis, keepdims))` and the normalised axis.
/// As in JAX, a non-finite maximum is not replaced here (unlike in
/// `logsumexp`), so a slice of all `-inf` gives NaN.
#[track_caller]
fn shift_by_max(op: &str, x: &Array, axis: isize) -> Result<(Array, usize)> {
    let axis = normalize_axis(op, axis, x.ndim())?;
    let max = bind1(Primitive::ReduceMax { axes: vec![axis] }, from_ref(x))?;
    let mut kept = x.shape().to_vec();
    kept[axis] = 1;
    let max = bind_reshape(&max, &kept)?;
    Ok((jnp::try_subtract(x, &bind_stop_gradient(&max)?)?, axis))
}

/// Sum over `axis`, keeping it as size 1 (no axis checks: `axis` is
/// already normalised).
#[track_caller]
fn sum_keep(x: &Array, axis: usize) -> Result<Array> {
    let total = bind1(Primitive::ReduceSum { axes: vec![axis] }, from_ref(x))?;
    let mut kept = x.shape().to_vec();
    kept[axis] = 1;
    bind_reshape(&total, &kept)
}

fallible! {
    /// `exp(x) / sum(exp(x), axis)`, computed on `x` minus its maximum, as
    /// `jax.nn.softmax`; each slice along `axis` sums to 1.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let x = Array::from_vec(vec![1e4f32, 1e4], &[2]).unwrap();
    /// assert_eq!(nn::softmax(&x, -1).to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
    /// ```
    pub fn softmax / try_softmax(x: &Array, axis: isize) -> Array {
        let x = to_float(x)?;
        let (shifted, axis) = shift_by_max("softmax", &x, axis)?;
        let unnormalized = jnp::try_exp(&shifted)?;
        jnp::try_divide(&unnormalized, &sum_keep(&unnormalized, axis)?)
    }
}

fallible! {
    /// `x - logsumexp(x, axis)`, computed on `x` minus its maximum, as
    /// `jax.nn.log_softmax`.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let x = Array::from_vec(vec![0.0f32, 0.0], &[2]).unwrap();
    /// let y = nn::log_softmax(&x, 0).to_vec::<f32>().unwrap();
    /// assert_eq!(y, vec![-(2f32.ln()); 2]);
    /// ```
    pub fn log_softmax / try_log_softmax(x: &Array, axis: isize) -> Array {
        let x = to_float(x)?;
        let (shifted, axis) = shift_by_max("log_softmax", &x, axis)?;
        let total = sum_keep(&jnp::try_exp(&shifted)?, axis)?;
        jnp::try_subtract(&shifted, &jnp::try_log(&total)?)
    }
}

fallible! {
    /// Softmax cross-entropy of `logits` against target probabilities
    /// `labels` (one-hot or soft labels, same shape as `logits`) along the
    /// class axis `axis`, as `optax.softmax_cross_entropy`: the
    /// **per-example** losses `-sum(labels * log_softmax(logits, axis),
    /// axis)`, of `logits`' shape without `axis`. Take their mean for a
    /// batch loss. Terms whose label is 0 count as 0 even where the logit is
    /// `-inf` (a masked class), rather than `0 * -inf = NaN`.
    ///
    /// It is computed on logits minus their (gradient-stopped) maximum, so
    /// the value and the gradient, `softmax(logits) * sum(labels) - labels`,
    /// stay finite and exact for logits in the thousands.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let logits = Array::from_vec(vec![1e4f32, 0.0, 0.0, 0.0], &[2, 2]).unwrap();
    /// let labels = Array::from_vec(vec![0.0f32, 1.0, 0.5, 0.5], &[2, 2]).unwrap();
    /// let loss = nn::softmax_cross_entropy(&logits, &labels, -1);
    /// let loss = loss.to_vec::<f32>().unwrap();
    /// assert_eq!(loss[0], 1e4);
    /// assert!((loss[1] - 2f32.ln()).abs() < 1e-6);
    /// ```
    pub fn softmax_cross_entropy / try_softmax_cross_entropy(
        logits: &Array,
        labels: &Array,
        axis: isize,
    ) -> Array {
        const OP: &str = "softmax_cross_entropy";
        if logits.shape() != labels.shape() {
            let (l, t) = (ShapeDisplay(logits.shape()), ShapeDisplay(labels.shape()));
            let message = format!("logits {l} and labels {t} must have the same shape");
            return Err(Error::op(OP, message));
        }
        let logits = to_float(logits)?;
        let (shifted, axis) = shift_by_max(OP, &logits, axis)?;
        let log_norm = jnp::try_log(&sum_keep(&jnp::try_exp(&shifted)?, axis)?)?;
        let log_probs = jnp::try_subtract(&shifted, &log_norm)?;
        let terms = jnp::try_multiply(labels, &log_probs)?;
        let unlabelled = jnp::try_equal(labels, &weak(0.0, labels))?;
        let terms = jnp::try_where_(&unlabelled, &weak(0.0, &terms), &terms)?;
        let total = bind1(Primitive::ReduceSum { axes: vec![axis] }, from_ref(&terms))?;
        jnp::try_negative(&total)
    }
}

fallible! {
    /// Softmax cross-entropy of `logits` (classes on the last axis) against
    /// integer class `labels` of shape `logits.shape[..-1]`, as
    /// `optax.softmax_cross_entropy_with_integer_labels`: the
    /// **per-example** losses `logsumexp(logits) - logits[label]`, of
    /// `labels`' shape. Take their mean for a batch loss. A label outside
    /// `0..num_classes` gives a NaN loss (JAX's out-of-bounds `fill`), so a
    /// bad label cannot go unnoticed; its gradient is 0.
    ///
    /// Like [`softmax_cross_entropy`] it works on logits minus their
    /// (gradient-stopped) maximum: the value and the gradient,
    /// `softmax(logits) - one_hot(labels)`, are finite and exact for logits
    /// in the thousands.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let logits = Array::from_vec(vec![1e4f32, 0.0, 0.0, 0.0], &[2, 2]).unwrap();
    /// let labels = Array::from_vec(vec![1i32, 0], &[2]).unwrap();
    /// let loss = nn::sparse_softmax_cross_entropy(&logits, &labels);
    /// let loss = loss.to_vec::<f32>().unwrap();
    /// assert_eq!(loss[0], 1e4);
    /// assert!((loss[1] - 2f32.ln()).abs() < 1e-6);
    /// ```
    pub fn sparse_softmax_cross_entropy / try_sparse_softmax_cross_entropy(
        logits: &Array,
        labels: &Array,
    ) -> Array {
        const OP: &str = "sparse_softmax_cross_entropy";
        if !labels.dtype().is_int() {
            let message = format!("labels must be integers (i32 or u32), got {}", labels.dtype());
            return Err(Error::op(OP, message));
        }
        let (l, t) = (ShapeDisplay(logits.shape()), ShapeDisplay(labels.shape()));
        let Some((&classes, batch)) = logits.shape().split_last() else {
            return Err(Error::op(OP, format!("logits {l} need a class axis")));
        };
        if batch != labels.shape() {
            let message =
                format!("labels {t} must have the shape of logits {l} without its last axis");
            return Err(Error::op(OP, message));
        }
        if classes == 0 {
            return Err(Error::op(OP, format!("logits {l} have no classes")));
        }
        let logits = to_float(logits)?;
        let (shifted, axis) = shift_by_max(OP, &logits, -1)?;
        let hit = try_one_hot(labels, classes, DType::Bool)?;
        let picked = jnp::try_where_(&hit, &shifted, &weak(0.0, &shifted))?;
        let sum = |x: &Array| bind1(Primitive::ReduceSum { axes: vec![axis] }, from_ref(x));
        let label_logit = sum(&picked)?;
        let total = sum(&jnp::try_exp(&shifted)?)?;
        let loss = jnp::try_subtract(&jnp::try_log(&total)?, &label_logit)?;
        let below = jnp::try_less(labels, &weak(classes as f64, labels))?;
        let not_negative = jnp::try_greater_equal(labels, &weak(0.0, labels))?;
        let in_range = jnp::try_logical_and(&not_negative, &below)?;
        jnp::try_where_(&in_range, &loss, &weak(f64::NAN, &loss))
    }
}

fallible! {
    /// One-hot encoding, as `jax.nn.one_hot`: for `indices` of shape `s`, an
    /// array of shape `s ++ [num_classes]` and dtype `dtype` that is 1 where
    /// the last index equals the index value and 0 elsewhere. Out-of-range
    /// (and negative) indices give all-zero rows.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array, DType};
    /// let labels = Array::from_vec(vec![2i32, 0, 5], &[3]).unwrap();
    /// let y = nn::one_hot(&labels, 3, DType::F32);
    /// assert_eq!(y.shape(), &[3, 3]);
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0., 0., 1., 1., 0., 0., 0., 0., 0.]);
    /// ```
    pub fn one_hot / try_one_hot(indices: &Array, num_classes: usize, dtype: DType) -> Array {
        let indices = if indices.dtype().is_bool() {
            jnp::convert(indices, DType::I32)?
        } else {
            indices.clone()
        };
        let rank = indices.ndim();
        let mut expanded = indices.shape().to_vec();
        expanded.push(1);
        let mut shape = Shape::from_slice(indices.shape());
        shape.push(num_classes);
        let iota = Primitive::Iota { dtype: indices.dtype(), shape, dimension: rank };
        let classes = bind1(iota, &[])?;
        let hits = jnp::try_equal(&bind_reshape(&indices, &expanded)?, &classes)?;
        jnp::convert(&hits, dtype)
    }
}
