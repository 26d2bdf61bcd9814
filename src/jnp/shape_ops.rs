//! Shape manipulation, joining, slicing, indexing along an axis, and matrix
//! products: `reshape`, `transpose`, `squeeze`, `concatenate`, `stack`,
//! `slice`, `pad`, `flip`, `take`, `matmul`, `dot`, ...
//!
//! Each function validates its arguments against the static shapes (so
//! errors name the NumPy operation and the shapes, e.g.
//! `reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)`) and then
//! binds the matching primitives; nothing reads array data, so every
//! function works eagerly and under tracing. Operations that leave an array
//! unchanged (a reshape to the same shape, an identity permutation) bind
//! nothing and return the input, as `jax.lax` does.

use super::{
    broadcast_shapes, broadcast_to_shape, convert, fallible, normalize_axes, normalize_axis,
    or_panic,
};
use super::{promote_types, try_add, try_less, try_logical_and, try_multiply, try_where_, Axes};
use crate::array::Array;
use crate::core::bind1;
use rjax_ir::{DType, Error, Primitive, Result, Scalar, Shape, ShapeDisplay};

/// An integer usable as a dimension in [`reshape`]: `usize`, `isize`, `i32`
/// or `i64`. Negative values are allowed so that one entry can be `-1`
/// (inferred), as in NumPy.
pub trait Dim: Copy {
    /// The value as an `isize` (saturating for values beyond `isize::MAX`,
    /// which then fail the element-count check).
    fn to_isize(self) -> isize;
}

macro_rules! dim_impl {
    ($($t:ty),*) => {$(
        impl Dim for $t {
            fn to_isize(self) -> isize {
                isize::try_from(self).unwrap_or(if self > 0 as $t { isize::MAX } else { isize::MIN })
            }
        }
    )*};
}
dim_impl!(usize, isize, i32, i64);

/// Formats a list of signed integers as `[-1,4]`, like [`ShapeDisplay`].
fn list_display(items: &[isize]) -> String {
    let parts: Vec<String> = items.iter().map(isize::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// `Primitive::Reshape`, skipped when the shape already matches.
#[track_caller]
fn reshape_to(x: &Array, shape: &[usize]) -> Result<Array> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    bind1(
        Primitive::Reshape {
            new_sizes: Shape::from_slice(shape),
        },
        std::slice::from_ref(x),
    )
}

/// `Primitive::Transpose`, skipped for the identity permutation.
#[track_caller]
fn permute(x: &Array, permutation: Vec<usize>) -> Result<Array> {
    if permutation.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(x.clone());
    }
    bind1(
        Primitive::Transpose { permutation },
        std::slice::from_ref(x),
    )
}

// ---- reshaping ---------------------------------------------------------------

/// Resolves a NumPy shape (at most one `-1`) for an array of shape `from`.
fn resolve_shape(from: &[usize], new_shape: &[isize]) -> Result<Shape> {
    let size: usize = from.iter().product();
    let wanted = list_display(new_shape);
    let mismatch = |known: Option<usize>| {
        let count = known.map_or(String::new(), |k| format!(" ({k} elements)"));
        Error::op(
            "reshape",
            format!(
                "cannot reshape {} ({size} elements) to {wanted}{count}",
                ShapeDisplay(from)
            ),
        )
    };
    if new_shape.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(Error::op(
            "reshape",
            format!("can only specify one unknown dimension (-1), got {wanted}"),
        ));
    }
    if let Some(&d) = new_shape.iter().find(|&&d| d < -1) {
        return Err(Error::op(
            "reshape",
            format!("negative dimension {d} in {wanted}"),
        ));
    }
    let mut known: Option<usize> = Some(1);
    for &d in new_shape.iter().filter(|&&d| d >= 0) {
        known = known.and_then(|k| k.checked_mul(d as usize));
    }
    let Some(known) = known else {
        return Err(mismatch(None));
    };
    let mut out = Shape::with_capacity(new_shape.len());
    for &d in new_shape {
        if d >= 0 {
            out.push(d as usize);
        } else if known == 0 || !size.is_multiple_of(known) {
            return Err(mismatch(None));
        } else {
            out.push(size / known);
        }
    }
    // With a `-1`, the product is `size` by construction.
    if !new_shape.contains(&-1) && known != size {
        return Err(mismatch(Some(known)));
    }
    Ok(out)
}

fallible! {
    /// Gives `x` a new shape with the same number of elements (row-major
    /// order). One entry of `new_shape` may be `-1`; it is inferred, as in
    /// NumPy.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec((0..6).collect::<Vec<i32>>(), &[2, 3]).unwrap();
    /// assert_eq!(jnp::reshape(&x, &[3, -1]).shape(), &[3, 2]);
    /// assert_eq!(
    ///     jnp::try_reshape(&x, &[4]).unwrap_err().to_string(),
    ///     "reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)"
    /// );
    /// ```
    pub fn reshape / try_reshape<D: Dim>(x: &Array, new_shape: &[D]) -> Array {
        let dims: Vec<isize> = new_shape.iter().map(|d| d.to_isize()).collect();
        let shape = resolve_shape(x.shape(), &dims)?;
        reshape_to(x, &shape)
    }
}

fallible! {
    /// `x` as a 1-D array (a rank-0 array becomes shape `[1]`).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// assert_eq!(jnp::ravel(&jnp::zeros(&[2, 3], DType::F32)).shape(), &[6]);
    /// ```
    pub fn ravel / try_ravel(x: &Array) -> Array {
        reshape_to(x, &[x.size()])
    }
}

fallible! {
    /// Same as [`ravel`] (NumPy's `ndarray.flatten`).
    pub fn flatten / try_flatten(x: &Array) -> Array {
        try_ravel(x)
    }
}

fallible! {
    /// Permutes the axes: output axis `i` is input axis `axes[i]` (negative
    /// axes count from the end); `None` reverses them, like `x.T`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// let x = jnp::zeros(&[2, 3, 4], DType::F32);
    /// assert_eq!(jnp::transpose(&x, None).shape(), &[4, 3, 2]);
    /// assert_eq!(jnp::transpose(&x, Some(&[0, -1, 1])).shape(), &[2, 4, 3]);
    /// ```
    pub fn transpose / try_transpose(x: &Array, axes: Option<&[isize]>) -> Array {
        let rank = x.ndim();
        let Some(axes) = axes else {
            return permute(x, (0..rank).rev().collect());
        };
        if axes.len() != rank {
            return Err(Error::op(
                "transpose",
                format!("axes {} do not match an array of shape {} (rank {rank})", list_display(axes), ShapeDisplay(x.shape())),
            ));
        }
        let perm = axes.iter().map(|&a| normalize_axis("transpose", a, rank)).collect::<Result<Vec<_>>>()?;
        if let Some((_, &p)) = perm.iter().enumerate().find(|&(i, p)| perm[..i].contains(p)) {
            return Err(Error::op("transpose", format!("repeated axis {p} in axes {}", list_display(axes))));
        }
        permute(x, perm)
    }
}

fallible! {
    /// Exchanges two axes.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// assert_eq!(jnp::swapaxes(&jnp::zeros(&[2, 3, 4], DType::F32), 0, -1).shape(), &[4, 3, 2]);
    /// ```
    pub fn swapaxes / try_swapaxes(x: &Array, axis1: isize, axis2: isize) -> Array {
        let a = normalize_axis("swapaxes", axis1, x.ndim())?;
        let b = normalize_axis("swapaxes", axis2, x.ndim())?;
        let mut perm: Vec<usize> = (0..x.ndim()).collect();
        perm.swap(a, b);
        permute(x, perm)
    }
}

fallible! {
    /// Moves axis `source` to position `destination`, keeping the order of
    /// the others.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// assert_eq!(jnp::moveaxis(&jnp::zeros(&[2, 3, 4], DType::F32), 0, -1).shape(), &[3, 4, 2]);
    /// ```
    pub fn moveaxis / try_moveaxis(x: &Array, source: isize, destination: isize) -> Array {
        let src = normalize_axis("moveaxis", source, x.ndim())?;
        let dst = normalize_axis("moveaxis", destination, x.ndim())?;
        let mut perm: Vec<usize> = (0..x.ndim()).filter(|&d| d != src).collect();
        perm.insert(dst, src);
        permute(x, perm)
    }
}

fallible! {
    /// Broadcasts `x` to `shape` with NumPy's rules.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    /// let y = jnp::broadcast_to(&x, &[2, 2]);
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 1.0, 2.0]);
    /// ```
    pub fn broadcast_to / try_broadcast_to(x: &Array, shape: &[usize]) -> Array {
        broadcast_to_shape("broadcast_to", x, shape)
    }
}

fallible! {
    /// Inserts a unit axis at position `axis` of the result (so `axis` may
    /// range over `-(rank+1)..=rank`).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// let x = jnp::zeros(&[2, 3], DType::F32);
    /// assert_eq!(jnp::expand_dims(&x, -1).shape(), &[2, 3, 1]);
    /// ```
    pub fn expand_dims / try_expand_dims(x: &Array, axis: isize) -> Array {
        let axis = normalize_axis("expand_dims", axis, x.ndim() + 1)?;
        let mut shape = Shape::from_slice(x.shape());
        shape.insert(axis, 1);
        reshape_to(x, &shape)
    }
}

fallible! {
    /// Removes unit axes: every one for [`Axes::All`], or the named ones,
    /// which must have size 1.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, jnp::Axes, DType};
    /// let x = jnp::zeros(&[1, 3, 1], DType::F32);
    /// assert_eq!(jnp::squeeze(&x, Axes::All).shape(), &[3]);
    /// assert_eq!(jnp::squeeze(&x, -1).shape(), &[1, 3]);
    /// ```
    pub fn squeeze / try_squeeze(x: &Array, axes: impl Into<Axes>) -> Array {
        let axes = match axes.into() {
            Axes::All => (0..x.ndim()).filter(|&d| x.shape()[d] == 1).collect(),
            some => normalize_axes("squeeze", &some, x.ndim())?,
        };
        if let Some(&d) = axes.iter().find(|&&d| x.shape()[d] != 1) {
            return Err(Error::op(
                "squeeze",
                format!("cannot squeeze axis {d} of {}: it has size {}, not 1", ShapeDisplay(x.shape()), x.shape()[d]),
            ));
        }
        let shape: Shape = x.shape().iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, &s)| s).collect();
        reshape_to(x, &shape)
    }
}

// ---- joining ---------------------------------------------------------------

fallible! {
    /// Joins arrays along an existing axis. Dtypes are promoted as in
    /// NumPy/JAX; shapes must agree except along `axis`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let a = Array::from_vec(vec![1i32, 2], &[1, 2]).unwrap();
    /// let b = Array::from_vec(vec![3.0f32, 4.0], &[1, 2]).unwrap();
    /// let c = jnp::concatenate(&[a, b], 0);
    /// assert_eq!(c.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    /// ```
    pub fn concatenate / try_concatenate(xs: &[Array], axis: isize) -> Array {
        let Some(first) = xs.first() else {
            return Err(Error::op("concatenate", "need at least one array to concatenate"));
        };
        if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| x.ndim() == 0) {
            return Err(Error::op(
                "concatenate",
                format!("zero-dimensional arrays cannot be concatenated (operand {i} has shape {})", ShapeDisplay(x.shape())),
            ));
        }
        let rank = first.ndim();
        let axis = normalize_axis("concatenate", axis, rank)?;
        for (i, x) in xs.iter().enumerate().skip(1) {
            let (fs, s) = (ShapeDisplay(first.shape()), ShapeDisplay(x.shape()));
            if x.ndim() != rank {
                return Err(Error::op(
                    "concatenate",
                    format!("all arrays must have the same rank: operand 0 has shape {fs}, operand {i} has shape {s}"),
                ));
            }
            if x.shape().iter().zip(first.shape()).enumerate().any(|(d, (a, b))| d != axis && a != b) {
                return Err(Error::op(
                    "concatenate",
                    format!("shapes must agree except along axis {axis}: operand 0 has shape {fs}, operand {i} has shape {s}"),
                ));
            }
        }
        let dtype = xs.iter().map(Array::dtype).reduce(promote_types).unwrap_or(DType::F32);
        let args = xs.iter().map(|x| convert(x, dtype)).collect::<Result<Vec<_>>>()?;
        if let [only] = &args[..] {
            return Ok(only.clone());
        }
        bind1(Primitive::Concatenate { axis }, &args)
    }
}

fallible! {
    /// Joins arrays of one shape along a new axis `axis` of the result.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let a = Array::from_vec(vec![1i32, 2], &[2]).unwrap();
    /// let b = Array::from_vec(vec![3i32, 4], &[2]).unwrap();
    /// let c = jnp::stack(&[a, b], 1);
    /// assert_eq!(c.shape(), &[2, 2]);
    /// assert_eq!(c.to_vec::<i32>().unwrap(), vec![1, 3, 2, 4]);
    /// ```
    pub fn stack / try_stack(xs: &[Array], axis: isize) -> Array {
        let Some(first) = xs.first() else {
            return Err(Error::op("stack", "need at least one array to stack"));
        };
        if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| x.shape() != first.shape()) {
            let (fs, s) = (ShapeDisplay(first.shape()), ShapeDisplay(x.shape()));
            return Err(Error::op(
                "stack",
                format!("all arrays must have the same shape: operand 0 has shape {fs}, operand {i} has shape {s}"),
            ));
        }
        let axis = normalize_axis("stack", axis, first.ndim() + 1)?;
        let expanded = xs.iter().map(|x| try_expand_dims(x, axis as isize)).collect::<Result<Vec<_>>>()?;
        try_concatenate(&expanded, axis as isize)
    }
}

// ---- slicing, padding, reversing, gathering ------------------------------------

fallible! {
    /// The static strided slice `lax.slice`: along dimension `d`, elements
    /// `start[d], start[d] + strides[d], ...` below `limit[d]`; strides
    /// default to 1.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec((0..10).collect::<Vec<i32>>(), &[10]).unwrap();
    /// let y = jnp::slice(&x, &[1], &[8], Some(&[3]));
    /// assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 4, 7]);
    /// ```
    pub fn slice / try_slice(x: &Array, start: &[usize], limit: &[usize], strides: Option<&[usize]>) -> Array {
        let rank = x.ndim();
        let ones = vec![1; rank];
        let strides = strides.unwrap_or(&ones);
        let xs = ShapeDisplay(x.shape());
        if start.len() != rank || limit.len() != rank || strides.len() != rank {
            let (a, b, c) = (start.len(), limit.len(), strides.len());
            return Err(Error::op(
                "slice",
                format!("start, limit and strides need one entry per dimension of {xs}, got lengths {a}, {b} and {c}"),
            ));
        }
        for (d, &size) in x.shape().iter().enumerate() {
            if strides[d] == 0 {
                return Err(Error::op("slice", format!("stride of dimension {d} must be >= 1, got 0")));
            }
            if start[d] > limit[d] || limit[d] > size {
                let (s, l) = (start[d], limit[d]);
                return Err(Error::op(
                    "slice",
                    format!("dimension {d} of {xs}: need start <= limit <= {size}, got start {s} and limit {l}"),
                ));
            }
        }
        let identity = (0..rank).all(|d| start[d] == 0 && limit[d] == x.shape()[d] && strides[d] == 1);
        if identity {
            return Ok(x.clone());
        }
        let prim = Primitive::Slice { start: start.to_vec(), limit: limit.to_vec(), strides: strides.to_vec() };
        bind1(prim, std::slice::from_ref(x))
    }
}

fallible! {
    /// Constant padding: `low[d]` copies of `value` before and `high[d]`
    /// after the elements along dimension `d`; negative amounts crop.
    /// `value` takes `x`'s dtype (it is weakly typed).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    /// assert_eq!(jnp::pad(&x, &[1], &[2], 0.0).to_vec::<f32>().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
    /// assert_eq!(jnp::pad(&x, &[-1], &[1], 9.0).to_vec::<f32>().unwrap(), vec![2.0, 3.0, 9.0]);
    /// ```
    pub fn pad / try_pad(x: &Array, low: &[i64], high: &[i64], value: f64) -> Array {
        let xs = ShapeDisplay(x.shape());
        if low.len() != x.ndim() || high.len() != x.ndim() {
            let (a, b) = (low.len(), high.len());
            return Err(Error::op(
                "pad",
                format!("low and high need one entry per dimension of {xs}, got lengths {a} and {b}"),
            ));
        }
        for (d, &size) in x.shape().iter().enumerate() {
            let total = i128::try_from(size).unwrap_or(i128::MAX) + i128::from(low[d]) + i128::from(high[d]);
            if total < 0 {
                let (l, h) = (low[d], high[d]);
                return Err(Error::op(
                    "pad",
                    format!("padding dimension {d} of {xs} with low {l} and high {h} gives a negative size"),
                ));
            }
        }
        if low.iter().chain(high).all(|&p| p == 0) {
            return Ok(x.clone());
        }
        let fill = Array::from_scalar(Scalar::from_f64(value, x.dtype()));
        let prim = Primitive::Pad { low: low.to_vec(), high: high.to_vec(), interior: vec![0; x.ndim()] };
        bind1(prim, &[x.clone(), fill])
    }
}

fallible! {
    /// Reverses the order of elements along `axes` ([`Axes::All`]: every
    /// axis).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![1i32, 2, 3, 4], &[2, 2]).unwrap();
    /// assert_eq!(jnp::flip(&x, -1).to_vec::<i32>().unwrap(), vec![2, 1, 4, 3]);
    /// ```
    pub fn flip / try_flip(x: &Array, axes: impl Into<Axes>) -> Array {
        let axes = normalize_axes("flip", &axes.into(), x.ndim())?;
        if axes.is_empty() {
            return Ok(x.clone());
        }
        bind1(Primitive::Rev { axes }, std::slice::from_ref(x))
    }
}

fallible! {
    /// Elements of `x` at integer `indices` along `axis`: the result has
    /// shape `x.shape[..axis] ++ indices.shape ++ x.shape[axis+1..]`.
    /// Negative indices count from the end; out-of-range ones are clamped.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let x = Array::from_vec(vec![10.0f32, 20.0, 30.0], &[3]).unwrap();
    /// let i = Array::from_vec(vec![2i32, -3], &[2]).unwrap();
    /// assert_eq!(jnp::take(&x, &i, 0).to_vec::<f32>().unwrap(), vec![30.0, 10.0]);
    /// ```
    pub fn take / try_take(x: &Array, indices: &Array, axis: isize) -> Array {
        if !indices.dtype().is_int() {
            return Err(Error::op("take", format!("indices must be integers (i32 or u32), got {}", indices.dtype())));
        }
        let axis = normalize_axis("take", axis, x.ndim())?;
        let n = x.shape()[axis];
        if n == 0 && indices.size() > 0 {
            let xs = ShapeDisplay(x.shape());
            return Err(Error::op("take", format!("cannot take from axis {axis} of {xs}, which is empty")));
        }
        let indices = if indices.dtype() == DType::I32 {
            let n = i32::try_from(n).unwrap_or(i32::MAX);
            let negative = try_less(indices, &Array::scalar(0i32))?;
            try_where_(&negative, &try_add(indices, &Array::scalar(n))?, indices)?
        } else {
            indices.clone()
        };
        bind1(Primitive::Gather { axis }, &[x.clone(), indices])
    }
}

// ---- products ----------------------------------------------------------------

/// Promotes two product operands to one dtype; bool products run in `i32`
/// (the caller converts back, so that a sum of products is a logical or).
#[track_caller]
fn promote_pair(a: &Array, b: &Array) -> Result<(Array, Array, DType)> {
    let dtype = promote_types(a.dtype(), b.dtype());
    let compute = if dtype == DType::Bool {
        DType::I32
    } else {
        dtype
    };
    Ok((convert(a, compute)?, convert(b, compute)?, dtype))
}

/// `Primitive::DotGeneral` without batch dimensions.
#[track_caller]
fn contract(a: &Array, b: &Array, lhs: Vec<usize>, rhs: Vec<usize>) -> Result<Array> {
    let prim = Primitive::DotGeneral {
        lhs_contract: lhs,
        rhs_contract: rhs,
        lhs_batch: vec![],
        rhs_batch: vec![],
    };
    bind1(prim, &[a.clone(), b.clone()])
}

/// The error for contracted sizes that differ.
fn contraction_mismatch(op: &str, a: &[usize], b: &[usize], k1: usize, k2: usize) -> Error {
    let (sa, sb) = (ShapeDisplay(a), ShapeDisplay(b));
    Error::op(
        op,
        format!("contraction dimension mismatch: {sa} @ {sb} ({k1} != {k2})"),
    )
}

fallible! {
    /// Matrix product with NumPy's `matmul` semantics: a 1-D operand is a
    /// row (left) or column (right) vector whose unit axis is removed from
    /// the result; leading (batch) dimensions broadcast; dtypes promote.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let a = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// let v = Array::from_vec(vec![1.0f32, 1.0], &[2]).unwrap();
    /// assert_eq!(jnp::matmul(&a, &v).to_vec::<f32>().unwrap(), vec![3.0, 7.0]);
    /// assert_eq!(jnp::matmul(&a, &a).shape(), &[2, 2]);
    /// ```
    pub fn matmul / try_matmul(a: &Array, b: &Array) -> Array {
        for (i, x) in [a, b].into_iter().enumerate() {
            if x.ndim() == 0 {
                return Err(Error::op("matmul", format!("operand {i} is rank 0; use multiply")));
            }
        }
        let (sa, sb) = (a.shape(), b.shape());
        let (ka, kb) = (sa[sa.len() - 1], sb[sb.len().saturating_sub(2)]);
        if ka != kb {
            return Err(contraction_mismatch("matmul", sa, sb, ka, kb));
        }
        let (pa, pb, dtype) = promote_pair(a, b)?;
        let pa = if pa.ndim() == 1 { reshape_to(&pa, &[1, ka])? } else { pa };
        let pb = if pb.ndim() == 1 { reshape_to(&pb, &[kb, 1])? } else { pb };
        let (ra, rb) = (pa.ndim(), pb.ndim());
        let (m, n) = (pa.shape()[ra - 2], pb.shape()[rb - 1]);
        let batch = broadcast_shapes("matmul", &pa.shape()[..ra - 2], &pb.shape()[..rb - 2]).map_err(|_| {
            let (ba, bb) = (ShapeDisplay(&pa.shape()[..ra - 2]), ShapeDisplay(&pb.shape()[..rb - 2]));
            let (sa, sb) = (ShapeDisplay(sa), ShapeDisplay(sb));
            Error::op("matmul", format!("batch dimensions of {sa} and {sb} do not broadcast ({ba} vs {bb})"))
        })?;
        let product = if rb == 2 {
            // No rhs batch: contract directly, the lhs batch dims lead the result.
            contract(&pa, &pb, vec![ra - 1], vec![0])?
        } else {
            let nb = batch.len();
            let mut lhs_shape = batch.clone();
            lhs_shape.extend_from_slice(&[m, ka]);
            let mut rhs_shape = batch.clone();
            rhs_shape.extend_from_slice(&[kb, n]);
            let pa = broadcast_to_shape("matmul", &pa, &lhs_shape)?;
            let pb = broadcast_to_shape("matmul", &pb, &rhs_shape)?;
            let prim = Primitive::DotGeneral {
                lhs_contract: vec![nb + 1],
                rhs_contract: vec![nb],
                lhs_batch: (0..nb).collect(),
                rhs_batch: (0..nb).collect(),
            };
            bind1(prim, &[pa, pb])?
        };
        let mut out = batch;
        if a.ndim() > 1 {
            out.push(m);
        }
        if b.ndim() > 1 {
            out.push(n);
        }
        convert(&reshape_to(&product, &out)?, dtype)
    }
}

fallible! {
    /// NumPy's `dot`: the product of scalars (rank 0) is elementwise
    /// multiplication; otherwise the last axis of `a` is contracted with the
    /// second-to-last axis of `b` (its only axis when `b` is 1-D), and the
    /// result has `a`'s remaining axes followed by `b`'s. For 1-D and 2-D
    /// operands this is the inner product, matrix-vector and matrix product.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let v = Array::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    /// assert_eq!(jnp::dot(&v, &v).item::<f32>().unwrap(), 14.0);
    /// ```
    pub fn dot / try_dot(a: &Array, b: &Array) -> Array {
        if a.ndim() == 0 || b.ndim() == 0 {
            let (pa, pb, dtype) = promote_pair(a, b)?;
            return convert(&try_multiply(&pa, &pb)?, dtype);
        }
        let (la, lb) = (a.ndim() - 1, b.ndim().saturating_sub(2));
        let (ka, kb) = (a.shape()[la], b.shape()[lb]);
        if ka != kb {
            return Err(contraction_mismatch("dot", a.shape(), b.shape(), ka, kb));
        }
        let (pa, pb, dtype) = promote_pair(a, b)?;
        convert(&contract(&pa, &pb, vec![la], vec![lb])?, dtype)
    }
}

fallible! {
    /// The outer product of the flattened operands: `out[i, j] = a[i] * b[j]`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, Array};
    /// let a = Array::from_vec(vec![1i32, 2], &[2]).unwrap();
    /// let b = Array::from_vec(vec![1i32, 10, 100], &[3]).unwrap();
    /// assert_eq!(jnp::outer(&a, &b).to_vec::<i32>().unwrap(), vec![1, 10, 100, 2, 20, 200]);
    /// ```
    pub fn outer / try_outer(a: &Array, b: &Array) -> Array {
        let col = reshape_to(a, &[a.size(), 1])?;
        let row = reshape_to(b, &[1, b.size()])?;
        if promote_types(a.dtype(), b.dtype()) == DType::Bool {
            try_logical_and(&col, &row)
        } else {
            try_multiply(&col, &row)
        }
    }
}

fallible! {
    /// Contracts `a_axes` of `a` with the paired `b_axes` of `b`; the result
    /// has `a`'s remaining axes followed by `b`'s (`np.tensordot` with
    /// explicit axis lists).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// let a = jnp::ones(&[2, 3, 4], DType::F32);
    /// let b = jnp::ones(&[4, 3, 5], DType::F32);
    /// let c = jnp::tensordot(&a, &b, &[1, 2], &[1, 0]);
    /// assert_eq!(c.shape(), &[2, 5]);
    /// assert_eq!(c.to_vec::<f32>().unwrap()[0], 12.0);
    /// ```
    pub fn tensordot / try_tensordot(a: &Array, b: &Array, a_axes: &[isize], b_axes: &[isize]) -> Array {
        if a_axes.len() != b_axes.len() {
            let (x, y) = (list_display(a_axes), list_display(b_axes));
            return Err(Error::op("tensordot", format!("axis lists {x} and {y} differ in length")));
        }
        let norm = |axes: &[isize], rank: usize| -> Result<Vec<usize>> {
            let list = axes.iter().map(|&d| normalize_axis("tensordot", d, rank)).collect::<Result<Vec<_>>>()?;
            normalize_axes("tensordot", &Axes::Some(axes.to_vec()), rank)?;
            Ok(list)
        };
        let (la, lb) = (norm(a_axes, a.ndim())?, norm(b_axes, b.ndim())?);
        for (&i, &j) in la.iter().zip(&lb) {
            if a.shape()[i] != b.shape()[j] {
                return Err(contraction_mismatch("tensordot", a.shape(), b.shape(), a.shape()[i], b.shape()[j]));
            }
        }
        let (pa, pb, dtype) = promote_pair(a, b)?;
        convert(&contract(&pa, &pb, la, lb)?, dtype)
    }
}

// ---- methods -------------------------------------------------------------------

impl Array {
    /// [`jnp::reshape`](reshape) as a method: one entry may be `-1`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// assert_eq!(jnp::zeros(&[6], DType::F32).reshape(&[-1, 2]).shape(), &[3, 2]);
    /// ```
    ///
    /// # Panics
    /// With the error of [`try_reshape`].
    #[track_caller]
    pub fn reshape<D: Dim>(&self, new_shape: &[D]) -> Array {
        reshape(self, new_shape)
    }

    /// The axes reversed, like NumPy's `x.T` ([`jnp::transpose`](transpose)
    /// with `None`).
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// assert_eq!(jnp::zeros(&[2, 3], DType::F32).transpose().shape(), &[3, 2]);
    /// ```
    #[track_caller]
    pub fn transpose(&self) -> Array {
        transpose(self, None)
    }

    /// Alias of [`Array::transpose`] (`x.T`).
    #[track_caller]
    pub fn t(&self) -> Array {
        self.transpose()
    }

    /// [`jnp::matmul`](matmul): `self @ other`.
    ///
    /// # Example
    /// ```
    /// use rjax::{jnp, DType};
    /// let x = jnp::ones(&[4, 2], DType::F32);
    /// let w = jnp::ones(&[2, 1], DType::F32);
    /// assert_eq!(x.matmul(&w).shape(), &[4, 1]);
    /// ```
    ///
    /// # Panics
    /// With the error of [`try_matmul`].
    #[track_caller]
    pub fn matmul(&self, other: &Array) -> Array {
        matmul(self, other)
    }

    /// [`jnp::dot`](dot).
    ///
    /// # Panics
    /// With the error of [`try_dot`].
    #[track_caller]
    pub fn dot(&self, other: &Array) -> Array {
        dot(self, other)
    }

    /// [`jnp::broadcast_to`](broadcast_to).
    ///
    /// # Panics
    /// With the error of [`try_broadcast_to`].
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Array {
        broadcast_to(self, shape)
    }

    /// [`jnp::expand_dims`](expand_dims).
    ///
    /// # Panics
    /// With the error of [`try_expand_dims`].
    #[track_caller]
    pub fn expand_dims(&self, axis: isize) -> Array {
        expand_dims(self, axis)
    }

    /// [`jnp::squeeze`](squeeze): [`Axes::All`] removes every unit axis.
    ///
    /// # Panics
    /// With the error of [`try_squeeze`].
    #[track_caller]
    pub fn squeeze(&self, axes: impl Into<Axes>) -> Array {
        squeeze(self, axes)
    }

    /// [`jnp::ravel`](ravel): the elements as a 1-D array.
    #[track_caller]
    pub fn flatten(&self) -> Array {
        ravel(self)
    }

    /// The array converted to `dtype` (no-op when it already has it).
    ///
    /// # Example
    /// ```
    /// use rjax::{Array, DType};
    /// let x = Array::from_vec(vec![1.7f32, -2.5], &[2]).unwrap();
    /// assert_eq!(x.astype(DType::I32).to_vec::<i32>().unwrap(), vec![1, -2]);
    /// ```
    #[track_caller]
    pub fn astype(&self, dtype: DType) -> Array {
        or_panic(convert(self, dtype))
    }

    /// [`jnp::take`](take) along `axis`.
    ///
    /// # Panics
    /// With the error of [`try_take`].
    #[track_caller]
    pub fn take(&self, indices: &Array, axis: isize) -> Array {
        take(self, indices, axis)
    }
}
