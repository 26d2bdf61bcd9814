//! `rjax::nn`: neural-network activation functions and friends, the
//! counterpart of `jax.nn`.
//!
//! Every function is a composition of primitives (through [`jnp`]), so it
//! works eagerly and under every transformation. The numerically delicate
//! ones follow JAX's formulations: `softplus` never overflows, and
//! `softmax`, `log_softmax` and [`logsumexp`] subtract the maximum (with its
//! gradient stopped) before exponentiating, so they stay finite and exact at
//! `|x|` in the thousands.
//!
//! Integer inputs to the float-valued functions become `f32`, as in JAX.
//! `relu` and `relu6` are written as selects on `x <= 0` (rather than
//! `where(x > 0, x, 0)`) so that, as in JAX, their derivative at 0 is 0 and
//! a NaN input stays NaN.

use crate::array::Array;
use crate::core::bind1;
use crate::jnp::{self, bind_reshape, bind_stop_gradient, fallible, normalize_axis, to_float};
use rjax_ir::{DType, Primitive, Result, Shape};
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
    /// `log(1 + e^x)`, computed without overflow as
    /// `max(x, 0) + log1p(exp(-|x|))`, as `jax.nn.softplus`.
    ///
    /// # Example
    /// ```
    /// use rjax::{nn, Array};
    /// let x = Array::from_vec(vec![0.0f32, 1e4], &[2]).unwrap();
    /// let y = nn::softplus(&x).to_vec::<f32>().unwrap();
    /// assert!((y[0] - 2f32.ln()).abs() < 1e-6 && y[1] == 1e4);
    /// ```
    pub fn softplus / try_softplus(x: &Array) -> Array {
        let x = to_float(x)?;
        let positive = jnp::try_maximum(&x, &weak(0.0, &x))?;
        let tail = jnp::try_log1p(&jnp::try_exp(&jnp::try_negative(&jnp::try_abs(&x)?)?)?)?;
        jnp::try_add(&positive, &tail)
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
