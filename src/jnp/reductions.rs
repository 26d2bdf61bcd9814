//! Reductions: `sum`, `mean`, `max`, `min`, `prod`, `argmax`/`argmin`,
//! `cumsum`, `var`/`std` and the numerically stable `logsumexp`, plus the
//! `Array` methods for the common ones (`x.sum()`, `x.mean()`, ...).
//!
//! Axes follow NumPy: a list of possibly negative axes or [`Axes::All`];
//! `keepdims` keeps each reduced axis as a size-1 dimension (a `reshape`
//! after the reduction). Dtypes follow JAX: `sum`, `prod` and `cumsum` of
//! bool count in `i32`; `mean`, `var`, `std` and `logsumexp` of integers
//! give `f32`; `max`/`min` keep the dtype (bool included).
//!
//! Empty reductions give NumPy's answers: `sum` is 0, `prod` is 1, `mean`
//! is NaN, and `max`/`min`/`argmax`/`argmin` over an empty axis are errors,
//! since they have no identity.

use super::{convert, fallible, normalize_axes, normalize_axis, to_float, Axes};
use crate::array::Array;
use crate::core::bind1;
use rjax_ir::{DType, Error, Primitive, Result, Shape};
use std::slice::from_ref;

/// `x` reshaped (row-major) to `shape`; a no-op when the shape already matches.
#[track_caller]
pub(crate) fn bind_reshape(x: &Array, shape: &[usize]) -> Result<Array> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    bind1(
        Primitive::Reshape {
            new_sizes: Shape::from_slice(shape),
        },
        from_ref(x),
    )
}

/// `x` as a constant for differentiation (`lax.stop_gradient`).
#[track_caller]
pub(crate) fn bind_stop_gradient(x: &Array) -> Result<Array> {
    bind1(Primitive::StopGradient, from_ref(x))
}

/// `shape` with every axis in `axes` (normalised) set to 1.
fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

/// Applies the reduction primitive made by `make` over the normalised `axes`
/// of `x`, then restores the reduced axes as size 1 when `keepdims`.
#[track_caller]
fn reduce(
    op: &str,
    make: fn(Vec<usize>) -> Primitive,
    x: &Array,
    axes: &Axes,
    keepdims: bool,
) -> Result<Array> {
    let axes = normalize_axes(op, axes, x.ndim())?;
    let out = bind1(make(axes.clone()), from_ref(x))?;
    if keepdims {
        bind_reshape(&out, &kept_shape(x.shape(), &axes))
    } else {
        Ok(out)
    }
}

/// Bool counts in `i32` (NumPy's rule for `sum`, `prod` and `cumsum`).
#[track_caller]
fn bool_to_int(x: &Array) -> Result<Array> {
    if x.dtype().is_bool() {
        convert(x, DType::I32)
    } else {
        Ok(x.clone())
    }
}

/// `max`/`min`: errors over an empty axis (no identity); bool reduces as
/// `i32` and converts back.
#[track_caller]
fn reduce_extremum(
    op: &str,
    make: fn(Vec<usize>) -> Primitive,
    x: &Array,
    axes: &Axes,
    keepdims: bool,
) -> Result<Array> {
    let normalized = normalize_axes(op, axes, x.ndim())?;
    if normalized.iter().any(|&a| x.shape()[a] == 0) {
        return Err(Error::op(
            op,
            format!("zero-size array to reduction operation {op} which has no identity"),
        ));
    }
    let out = reduce(op, make, &bool_to_int(x)?, axes, keepdims)?;
    convert(&out, x.dtype())
}

/// Number of elements reduced over `axes` (normalised) of `shape`.
fn reduced_count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

fallible! {
    /// Sum over `axes` (`Axes::All`, an axis, or a list; negative axes count
    /// from the end), as `jnp.sum`. Bool sums count in `i32`; the sum of an
    /// empty selection is 0.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, jnp::Axes, Array};
    /// let x = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    /// assert_eq!(jnp::sum(&x, -1, false).to_vec::<f32>().unwrap(), vec![6.0, 15.0]);
    /// assert_eq!(jnp::sum(&x, 0, true).shape(), &[1, 3]);
    /// assert_eq!(jnp::sum(&x, Axes::All, false).item::<f32>().unwrap(), 21.0);
    /// ```
    pub fn sum / try_sum(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        let make = |axes| Primitive::ReduceSum { axes };
        reduce("sum", make, &bool_to_int(x)?, &axes.into(), keepdims)
    }
}

fallible! {
    /// Product over `axes`, as `jnp.prod`. Bool products count in `i32`;
    /// the product of an empty selection is 1.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1i32, 2, 3, 4], &[2, 2]).unwrap();
    /// assert_eq!(jnp::prod(&x, 1, false).to_vec::<i32>().unwrap(), vec![2, 12]);
    /// ```
    pub fn prod / try_prod(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        let make = |axes| Primitive::ReduceProd { axes };
        reduce("prod", make, &bool_to_int(x)?, &axes.into(), keepdims)
    }
}

fallible! {
    /// Maximum over `axes`, as `jnp.max`; NaN propagates. Reducing an empty
    /// axis is an error, as in NumPy: `max: zero-size array to reduction
    /// operation max which has no identity`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1.0f32, 5.0, 3.0, 2.0], &[2, 2]).unwrap();
    /// assert_eq!(jnp::max(&x, 1, false).to_vec::<f32>().unwrap(), vec![5.0, 3.0]);
    /// ```
    pub fn max / try_max(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        let make = |axes| Primitive::ReduceMax { axes };
        reduce_extremum("max", make, x, &axes.into(), keepdims)
    }
}

fallible! {
    /// Minimum over `axes`, as `jnp.min`; NaN propagates. Reducing an empty
    /// axis is an error, as for [`max`].
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1.0f32, 5.0, 3.0, 2.0], &[2, 2]).unwrap();
    /// assert_eq!(jnp::min(&x, 0, false).to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    /// ```
    pub fn min / try_min(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        let make = |axes| Primitive::ReduceMin { axes };
        reduce_extremum("min", make, x, &axes.into(), keepdims)
    }
}

fallible! {
    /// Arithmetic mean over `axes`, as `jnp.mean`: the sum divided by the
    /// number of elements reduced. Integers and bools give `f32`; the mean
    /// of an empty selection is NaN.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1i32, 2, 3, 4], &[2, 2]).unwrap();
    /// assert_eq!(jnp::mean(&x, 0, false).to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
    /// ```
    pub fn mean / try_mean(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        let x = to_float(x)?;
        let axes = axes.into();
        let count = reduced_count(x.shape(), &normalize_axes("mean", &axes, x.ndim())?);
        let total = reduce("mean", |axes| Primitive::ReduceSum { axes }, &x, &axes, keepdims)?;
        super::try_divide(&total, &Array::scalar_like(count as f64, &total))
    }
}

fallible! {
    /// Population variance (`ddof = 0`) over `axes`, as `jnp.var`: the mean
    /// of the squared deviations from the mean. Integers give `f32`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1.0f32, 3.0, 5.0, 7.0], &[4]).unwrap();
    /// assert_eq!(jnp::var(&x, 0, false).item::<f32>().unwrap(), 5.0);
    /// ```
    pub fn var / try_var(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        let x = to_float(x)?;
        let axes = axes.into();
        let centered = super::try_subtract(&x, &try_mean(&x, axes.clone(), true)?)?;
        let squared = super::try_multiply(&centered, &centered)?;
        try_mean(&squared, axes, keepdims)
    }
}

fallible! {
    /// Population standard deviation (`ddof = 0`) over `axes`, as `jnp.std`:
    /// the square root of [`var`].
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![2.0f32, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], &[8]).unwrap();
    /// assert_eq!(jnp::std(&x, 0, false).item::<f32>().unwrap(), 2.0);
    /// ```
    pub fn std / try_std(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        super::try_sqrt(&try_var(x, axes, keepdims)?)
    }
}

/// `argmax`/`argmin` along one axis, as `i32` indices of the first extremum.
#[track_caller]
fn arg_reduce(
    op: &str,
    make: fn(usize, DType) -> Primitive,
    x: &Array,
    axis: isize,
) -> Result<Array> {
    let axis = normalize_axis(op, axis, x.ndim())?;
    if x.shape()[axis] == 0 {
        return Err(Error::op(
            op,
            format!("attempt to get {op} of an empty sequence"),
        ));
    }
    bind1(make(axis, DType::I32), from_ref(&bool_to_int(x)?))
}

/// Makes an `ArgMax` primitive.
fn argmax_prim(axis: usize, index_dtype: DType) -> Primitive {
    Primitive::ArgMax { axis, index_dtype }
}

/// Makes an `ArgMin` primitive.
fn argmin_prim(axis: usize, index_dtype: DType) -> Primitive {
    Primitive::ArgMin { axis, index_dtype }
}

fallible! {
    /// Index (`i32`) of the first maximum along `axis`, as `jnp.argmax`; a
    /// NaN counts as the maximum. An empty axis is an error.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1.0f32, 7.0, 7.0, 9.0, 0.0, 2.0], &[2, 3]).unwrap();
    /// assert_eq!(jnp::argmax(&x, 1).to_vec::<i32>().unwrap(), vec![1, 0]);
    /// ```
    pub fn argmax / try_argmax(x: &Array, axis: isize) -> Array {
        arg_reduce("argmax", argmax_prim, x, axis)
    }
}

fallible! {
    /// Index (`i32`) of the first minimum along `axis`, as `jnp.argmin`; a
    /// NaN counts as the minimum. An empty axis is an error.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![3.0f32, 1.0, 1.0], &[3]).unwrap();
    /// assert_eq!(jnp::argmin(&x, 0).item::<i32>().unwrap(), 1);
    /// ```
    pub fn argmin / try_argmin(x: &Array, axis: isize) -> Array {
        arg_reduce("argmin", argmin_prim, x, axis)
    }
}

fallible! {
    /// Index (`i32`, rank 0) of the first maximum of the flattened array, as
    /// `jnp.argmax(x)` with no axis. An empty array is an error.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1.0f32, 7.0, 9.0, 2.0], &[2, 2]).unwrap();
    /// assert_eq!(jnp::argmax_flat(&x).item::<i32>().unwrap(), 2);
    /// ```
    pub fn argmax_flat / try_argmax_flat(x: &Array) -> Array {
        arg_reduce("argmax", argmax_prim, &bind_reshape(x, &[x.size()])?, 0)
    }
}

fallible! {
    /// Index (`i32`, rank 0) of the first minimum of the flattened array, as
    /// `jnp.argmin(x)` with no axis. An empty array is an error.
    pub fn argmin_flat / try_argmin_flat(x: &Array) -> Array {
        arg_reduce("argmin", argmin_prim, &bind_reshape(x, &[x.size()])?, 0)
    }
}

fallible! {
    /// Inclusive running sum along `axis`, as `jnp.cumsum`; bool counts in
    /// `i32`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1i32, 2, 3, 4], &[2, 2]).unwrap();
    /// assert_eq!(jnp::cumsum(&x, -1).to_vec::<i32>().unwrap(), vec![1, 3, 3, 7]);
    /// ```
    pub fn cumsum / try_cumsum(x: &Array, axis: isize) -> Array {
        let axis = normalize_axis("cumsum", axis, x.ndim())?;
        bind1(Primitive::Cumsum { axis, reverse: false }, from_ref(&bool_to_int(x)?))
    }
}

fallible! {
    /// `log(sum(exp(x)))` over `axes`, computed stably as
    /// `log(sum(exp(x - m))) + m` with `m` the (gradient-stopped) maximum, as
    /// `jax.nn.logsumexp`. A row of `-inf` gives `-inf`, a `+inf` gives
    /// `+inf`, NaN propagates and an empty selection gives `-inf`. Integers
    /// give `f32`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1e4f32, 1e4], &[2]).unwrap();
    /// let y = jnp::logsumexp(&x, 0, false).item::<f32>().unwrap();
    /// assert!((y - (1e4 + 2f32.ln())).abs() < 1e-2);
    /// ```
    pub fn logsumexp / try_logsumexp(x: &Array, axes: impl Into<Axes>, keepdims: bool) -> Array {
        let x = to_float(x)?;
        let axes = normalize_axes("logsumexp", &axes.into(), x.ndim())?;
        let kept = kept_shape(x.shape(), &axes);
        let max = bind1(Primitive::ReduceMax { axes: axes.clone() }, from_ref(&x))?;
        let max = bind_reshape(&max, &kept)?;
        let zero = Array::scalar_like(0.0, &x);
        let finite = super::try_isfinite(&max)?;
        let shift = bind_stop_gradient(&super::try_where_(&finite, &max, &zero)?)?;
        let exps = super::try_exp(&super::try_subtract(&x, &shift)?)?;
        let total = bind1(Primitive::ReduceSum { axes: axes.clone() }, from_ref(&exps))?;
        let out = super::try_add(&super::try_log(&bind_reshape(&total, &kept)?)?, &shift)?;
        if keepdims {
            Ok(out)
        } else {
            let reduced: Vec<usize> = x
                .shape()
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect();
            bind_reshape(&out, &reduced)
        }
    }
}

/// The common reductions as methods. They panic with the error of the
/// matching `jnp::try_*` function.
impl Array {
    /// The sum of all elements (rank 0), as `x.sum()` in NumPy.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    /// assert_eq!(x.sum().item::<f32>().unwrap(), 6.0);
    /// ```
    #[track_caller]
    pub fn sum(&self) -> Array {
        sum(self, Axes::All, false)
    }

    /// The mean of all elements (rank 0); integers give `f32`.
    ///
    /// # Example
    /// ```
    /// let x = rjax::Array::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    /// assert_eq!(x.mean().item::<f32>().unwrap(), 2.0);
    /// ```
    #[track_caller]
    pub fn mean(&self) -> Array {
        mean(self, Axes::All, false)
    }

    /// The maximum of all elements (rank 0).
    ///
    /// # Panics
    /// When the array is empty.
    #[track_caller]
    pub fn max(&self) -> Array {
        max(self, Axes::All, false)
    }

    /// The minimum of all elements (rank 0).
    ///
    /// # Panics
    /// When the array is empty.
    #[track_caller]
    pub fn min(&self) -> Array {
        min(self, Axes::All, false)
    }

    /// The product of all elements (rank 0).
    #[track_caller]
    pub fn prod(&self) -> Array {
        prod(self, Axes::All, false)
    }

    /// The sum over `axes`, as [`jnp::sum`](crate::jnp::sum).
    ///
    /// # Panics
    /// On an out-of-range or repeated axis.
    #[track_caller]
    pub fn sum_axes(&self, axes: impl Into<Axes>, keepdims: bool) -> Array {
        sum(self, axes, keepdims)
    }

    /// The mean over `axes`, as [`jnp::mean`](crate::jnp::mean).
    ///
    /// # Panics
    /// On an out-of-range or repeated axis.
    #[track_caller]
    pub fn mean_axes(&self, axes: impl Into<Axes>, keepdims: bool) -> Array {
        mean(self, axes, keepdims)
    }

    /// Index of the first maximum along `axis`, as [`jnp::argmax`](crate::jnp::argmax).
    ///
    /// # Panics
    /// On an out-of-range or empty axis.
    #[track_caller]
    pub fn argmax(&self, axis: isize) -> Array {
        argmax(self, axis)
    }

    /// Index of the first minimum along `axis`, as [`jnp::argmin`](crate::jnp::argmin).
    ///
    /// # Panics
    /// On an out-of-range or empty axis.
    #[track_caller]
    pub fn argmin(&self, axis: isize) -> Array {
        argmin(self, axis)
    }
}
