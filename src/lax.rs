//! `lax`: the primitives themselves, for users who want them (JAX's
//! `jax.lax`).
//!
//! Each function here binds exactly one [`Primitive`] and nothing else: no
//! NumPy broadcasting, no dtype promotion, no negative axes. Operands must
//! already agree as the primitive's documentation in
//! [`rjax_ir::Primitive`] requires (elementwise operands share a dtype and
//! a shape, or are rank 0), and the shape rule's error, named after the
//! primitive, is what a mismatch produces:
//!
//! ```
//! use rjax::{lax, Array};
//! let x = Array::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
//! let y = Array::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
//! assert!(lax::try_add(&x, &y).is_err()); // lax is strict: f32 + f64 is an error
//! assert_eq!(rjax::jnp::add(&x, &y).dtype(), rjax::DType::F64); // jnp promotes
//! ```
//!
//! Like everything in rjax, these work eagerly and under every
//! transformation. Structured control flow ([`cond`], [`switch`],
//! [`while_loop`], [`fori_loop`], [`scan`]) takes the branches and loop
//! bodies as closures, traced once each into the jaxprs of one `cond`,
//! `while` or `scan` primitive.

use crate::array::Array;
use crate::core::bind1;
use crate::jnp::fallible;
use rjax_ir::{DType, Primitive, Result, Shape};

pub use rjax_ir::ScatterKind;

pub use crate::control_flow::{
    cond, fori_loop, fori_loop_dynamic, scan, switch, try_cond, try_fori_loop,
    try_fori_loop_dynamic, try_scan, try_switch, try_while_loop, while_loop, ScanOptions,
};

/// Binds a one-operand primitive.
#[track_caller]
fn un(prim: Primitive, x: &Array) -> Result<Array> {
    bind1(prim, std::slice::from_ref(x))
}

macro_rules! lax_unary {
    ($($(#[$meta:meta])* $name:ident / $try_name:ident => $prim:ident;)*) => {$(
        fallible! {
            $(#[$meta])*
            pub fn $name / $try_name(x: &Array) -> Array { un(Primitive::$prim, x) }
        }
    )*};
}

macro_rules! lax_binary {
    ($($(#[$meta:meta])* $name:ident / $try_name:ident => $prim:ident;)*) => {$(
        fallible! {
            $(#[$meta])*
            pub fn $name / $try_name(x: &Array, y: &Array) -> Array {
                bind1(Primitive::$prim, &[x.clone(), y.clone()])
            }
        }
    )*};
}

lax_unary! {
    /// `-x` (primitive `neg`). Numbers; wraps for `u32`.
    neg / try_neg => Neg;
    /// `e^x` (primitive `exp`). Floats.
    exp / try_exp => Exp;
    /// Natural logarithm (primitive `log`). Floats.
    log / try_log => Log;
    /// `log(1 + x)`, accurate near 0 (primitive `log1p`). Floats.
    log1p / try_log1p => Log1p;
    /// `e^x - 1`, accurate near 0 (primitive `expm1`). Floats.
    expm1 / try_expm1 => Expm1;
    /// Sine (primitive `sin`). Floats.
    sin / try_sin => Sin;
    /// Cosine (primitive `cos`). Floats.
    cos / try_cos => Cos;
    /// Hyperbolic tangent (primitive `tanh`). Floats.
    tanh / try_tanh => Tanh;
    /// The logistic sigmoid `1 / (1 + e^-x)` (primitive `logistic`). Floats.
    logistic / try_logistic => Logistic;
    /// Square root (primitive `sqrt`). Floats.
    sqrt / try_sqrt => Sqrt;
    /// `1 / sqrt(x)` (primitive `rsqrt`). Floats.
    rsqrt / try_rsqrt => Rsqrt;
    /// Absolute value (primitive `abs`). Numbers.
    abs / try_abs => Abs;
    /// `-1`, `0` or `1` by sign (primitive `sign`). Numbers.
    sign / try_sign => Sign;
    /// Round toward negative infinity (primitive `floor`). Floats.
    floor / try_floor => Floor;
    /// Round toward positive infinity (primitive `ceil`). Floats.
    ceil / try_ceil => Ceil;
    /// Round to nearest, ties away from zero (primitive `round`, `lax.round`'s
    /// default; `jnp::round` rounds ties to even). Floats.
    round / try_round => Round;
    /// The error function (primitive `erf`). Floats.
    erf / try_erf => Erf;
    /// Logical not for bool, bitwise not for integers (primitive `not`).
    bitwise_not / try_bitwise_not => Not;
    /// True where `x` is neither infinite nor NaN (primitive `is_finite`).
    /// Floats in, bool out.
    is_finite / try_is_finite => IsFinite;
    /// Identity on values; differentiation treats the result as a constant
    /// (primitive `stop_gradient`). Any dtype.
    stop_gradient / try_stop_gradient => StopGradient;
}

lax_binary! {
    /// `x + y` (primitive `add`). Numbers; integers wrap.
    add / try_add => Add;
    /// `x - y` (primitive `sub`). Numbers; integers wrap.
    sub / try_sub => Sub;
    /// `x * y` (primitive `mul`). Numbers; integers wrap.
    mul / try_mul => Mul;
    /// `x / y` (primitive `div`); integer division truncates toward zero and
    /// gives 0 when dividing by zero. Numbers.
    div / try_div => Div;
    /// Remainder with the sign of the dividend (primitive `rem`, C `fmod`).
    /// Numbers.
    rem / try_rem => Rem;
    /// `x ^ y` (primitive `pow`). Floats.
    pow / try_pow => Pow;
    /// Elementwise maximum, NaN if either is NaN (primitive `max`). Numbers.
    max / try_max => Max;
    /// Elementwise minimum, NaN if either is NaN (primitive `min`). Numbers.
    min / try_min => Min;
    /// Logical (bool) or bitwise (integer) and (primitive `and`).
    bitwise_and / try_bitwise_and => And;
    /// Logical (bool) or bitwise (integer) or (primitive `or`).
    bitwise_or / try_bitwise_or => Or;
    /// Logical (bool) or bitwise (integer) exclusive or (primitive `xor`).
    bitwise_xor / try_bitwise_xor => Xor;
    /// `x == y`, bool result (primitive `eq`).
    eq / try_eq => Eq;
    /// `x != y`, bool result (primitive `ne`).
    ne / try_ne => Ne;
    /// `x < y`, bool result (primitive `lt`).
    lt / try_lt => Lt;
    /// `x <= y`, bool result (primitive `le`).
    le / try_le => Le;
    /// `x > y`, bool result (primitive `gt`).
    gt / try_gt => Gt;
    /// `x >= y`, bool result (primitive `ge`).
    ge / try_ge => Ge;
}

fallible! {
    /// `on_true` where `pred` is true, else `on_false` (primitive `select`).
    /// `pred` is bool; the cases share a dtype; shapes are equal or `[]`.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let p = Array::from_vec(vec![true, false], &[2]).unwrap();
    /// let a = Array::from_vec(vec![1i32, 2], &[2]).unwrap();
    /// let r = lax::select(&p, &a, &Array::scalar(0i32));
    /// assert_eq!(r.to_vec::<i32>().unwrap(), vec![1, 0]);
    /// ```
    pub fn select / try_select(pred: &Array, on_true: &Array, on_false: &Array) -> Array {
        bind1(Primitive::Select, &[pred.clone(), on_true.clone(), on_false.clone()])
    }
}

fallible! {
    /// Converts every element to `dtype` (primitive `convert_element_type`):
    /// float to integer truncates toward zero (saturating, NaN to 0),
    /// anything to bool is `x != 0`, bool to a number is 0 or 1.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array, DType};
    /// let x = Array::from_vec(vec![-1.7f32, 2.9], &[2]).unwrap();
    /// let y = lax::convert_element_type(&x, DType::I32);
    /// assert_eq!(y.to_vec::<i32>().unwrap(), vec![-1, 2]);
    /// ```
    pub fn convert_element_type / try_convert_element_type(x: &Array, dtype: DType) -> Array {
        un(Primitive::ConvertElementType { new_dtype: dtype }, x)
    }
}

fallible! {
    /// Broadcasts `x` to `shape` (primitive `broadcast_in_dim`): dimension `i`
    /// of `x` becomes dimension `dims[i]` of the result (strictly
    /// increasing), and must have the same size there or size 1.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![1i32, 2], &[2]).unwrap();
    /// let y = lax::broadcast_in_dim(&x, &[2, 3], &[0]); // x as a column, repeated
    /// assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 1, 1, 2, 2, 2]);
    /// ```
    pub fn broadcast_in_dim / try_broadcast_in_dim(x: &Array, shape: &[usize], dims: &[usize]) -> Array {
        let prim = Primitive::BroadcastInDim {
            shape: Shape::from_slice(shape),
            broadcast_dimensions: dims.to_vec(),
        };
        un(prim, x)
    }
}

fallible! {
    /// Row-major reshape to `new_sizes`, which must hold as many elements
    /// (primitive `reshape`; no `-1` placeholder here, see `jnp::reshape`).
    pub fn reshape / try_reshape(x: &Array, new_sizes: &[usize]) -> Array {
        un(Primitive::Reshape { new_sizes: Shape::from_slice(new_sizes) }, x)
    }
}

fallible! {
    /// Permutes dimensions: result dimension `i` is dimension `perm[i]` of
    /// `x` (primitive `transpose`).
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    /// let t = lax::transpose(&x, &[1, 0]);
    /// assert_eq!(t.shape(), &[3, 2]);
    /// assert_eq!(t.to_vec::<i32>().unwrap(), vec![1, 4, 2, 5, 3, 6]);
    /// ```
    pub fn transpose / try_transpose(x: &Array, perm: &[usize]) -> Array {
        un(Primitive::Transpose { permutation: perm.to_vec() }, x)
    }
}

fallible! {
    /// Sum over `axes` (distinct, ascending), which are removed (primitive
    /// `reduce_sum`).
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![1i32, 2, 3, 4, 5, 6], &[2, 3]).unwrap();
    /// assert_eq!(lax::reduce_sum(&x, &[1]).to_vec::<i32>().unwrap(), vec![6, 15]);
    /// ```
    pub fn reduce_sum / try_reduce_sum(x: &Array, axes: &[usize]) -> Array {
        un(Primitive::ReduceSum { axes: axes.to_vec() }, x)
    }
}

fallible! {
    /// Maximum over `axes` (distinct, ascending), which are removed
    /// (primitive `reduce_max`); `-inf` or the type's minimum when empty.
    pub fn reduce_max / try_reduce_max(x: &Array, axes: &[usize]) -> Array {
        un(Primitive::ReduceMax { axes: axes.to_vec() }, x)
    }
}

fallible! {
    /// Minimum over `axes` (distinct, ascending), which are removed
    /// (primitive `reduce_min`); `+inf` or the type's maximum when empty.
    pub fn reduce_min / try_reduce_min(x: &Array, axes: &[usize]) -> Array {
        un(Primitive::ReduceMin { axes: axes.to_vec() }, x)
    }
}

fallible! {
    /// Product over `axes` (distinct, ascending), which are removed
    /// (primitive `reduce_prod`).
    pub fn reduce_prod / try_reduce_prod(x: &Array, axes: &[usize]) -> Array {
        un(Primitive::ReduceProd { axes: axes.to_vec() }, x)
    }
}

fallible! {
    /// Index of the first maximum along `axis` (removed), as `index_dtype`
    /// (primitive `argmax`; NaN counts as the maximum).
    pub fn argmax / try_argmax(x: &Array, axis: usize, index_dtype: DType) -> Array {
        un(Primitive::ArgMax { axis, index_dtype }, x)
    }
}

fallible! {
    /// Index of the first minimum along `axis` (removed), as `index_dtype`
    /// (primitive `argmin`; NaN counts as the minimum).
    pub fn argmin / try_argmin(x: &Array, axis: usize, index_dtype: DType) -> Array {
        un(Primitive::ArgMin { axis, index_dtype }, x)
    }
}

fallible! {
    /// Running (inclusive) sum along `axis`, from the end when `reverse`
    /// (primitive `cumsum`).
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
    /// assert_eq!(lax::cumsum(&x, 0, false).to_vec::<i32>().unwrap(), vec![1, 3, 6]);
    /// assert_eq!(lax::cumsum(&x, 0, true).to_vec::<i32>().unwrap(), vec![6, 5, 3]);
    /// ```
    pub fn cumsum / try_cumsum(x: &Array, axis: usize, reverse: bool) -> Array {
        un(Primitive::Cumsum { axis, reverse }, x)
    }
}

fallible! {
    /// General tensor contraction (primitive `dot_general`, `lax.dot_general`):
    /// contracts `lhs_contract` of `lhs` with `rhs_contract` of `rhs`
    /// pairwise, and maps `lhs_batch` with `rhs_batch` pairwise. The result
    /// holds the batch dimensions (in `lhs_batch` order), then the free
    /// dimensions of `lhs`, then those of `rhs`. Both operands share a
    /// numeric dtype.
    ///
    /// # Example
    /// A batched matrix product `[b,m,k] x [b,k,n] -> [b,m,n]`:
    /// ```
    /// use rjax::{lax, Array};
    /// let a = Array::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 1, 2]).unwrap();
    /// let b = Array::from_vec(vec![1.0f32, 1.0, 2.0, 0.0], &[2, 2, 1]).unwrap();
    /// let c = lax::dot_general(&a, &b, &[2], &[1], &[0], &[0]);
    /// assert_eq!(c.shape(), &[2, 1, 1]);
    /// assert_eq!(c.to_vec::<f32>().unwrap(), vec![3.0, 6.0]);
    /// ```
    pub fn dot_general / try_dot_general(
        lhs: &Array,
        rhs: &Array,
        lhs_contract: &[usize],
        rhs_contract: &[usize],
        lhs_batch: &[usize],
        rhs_batch: &[usize],
    ) -> Array {
        let prim = Primitive::DotGeneral {
            lhs_contract: lhs_contract.to_vec(),
            rhs_contract: rhs_contract.to_vec(),
            lhs_batch: lhs_batch.to_vec(),
            rhs_batch: rhs_batch.to_vec(),
        };
        bind1(prim, &[lhs.clone(), rhs.clone()])
    }
}

fallible! {
    /// Static strided slice (primitive `slice`): along dimension `d`, the
    /// elements `start[d], start[d] + strides[d], ..` below `limit[d]`, with
    /// `0 <= start <= limit <= size` and `strides >= 1`. An empty `strides`
    /// means 1 everywhere.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec((0..6).collect::<Vec<i32>>(), &[6]).unwrap();
    /// assert_eq!(lax::slice(&x, &[1], &[6], &[2]).to_vec::<i32>().unwrap(), vec![1, 3, 5]);
    /// assert_eq!(lax::slice(&x, &[2], &[4], &[]).to_vec::<i32>().unwrap(), vec![2, 3]);
    /// ```
    pub fn slice / try_slice(x: &Array, start: &[usize], limit: &[usize], strides: &[usize]) -> Array {
        let strides = if strides.is_empty() { vec![1; start.len()] } else { strides.to_vec() };
        un(Primitive::Slice { start: start.to_vec(), limit: limit.to_vec(), strides }, x)
    }
}

fallible! {
    /// Pads `x` with the rank-0 `padding_value` (same dtype) (primitive
    /// `pad`): `low[d]` elements before, `high[d]` after and `interior[d]`
    /// between neighbours along dimension `d`; negative `low`/`high` crop.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![1i32, 2], &[2]).unwrap();
    /// let y = lax::pad(&x, &Array::scalar(0i32), &[1], &[2], &[1]);
    /// assert_eq!(y.to_vec::<i32>().unwrap(), vec![0, 1, 0, 2, 0, 0]);
    /// ```
    pub fn pad / try_pad(x: &Array, padding_value: &Array, low: &[i64], high: &[i64], interior: &[usize]) -> Array {
        let prim = Primitive::Pad { low: low.to_vec(), high: high.to_vec(), interior: interior.to_vec() };
        bind1(prim, &[x.clone(), padding_value.clone()])
    }
}

fallible! {
    /// Joins `xs` (same dtype and rank, equal sizes except along `axis`)
    /// along `axis` (primitive `concatenate`).
    pub fn concatenate / try_concatenate(xs: &[Array], axis: usize) -> Array {
        bind1(Primitive::Concatenate { axis }, xs)
    }
}

fallible! {
    /// Reverses the order of elements along each of `axes` (primitive `rev`).
    pub fn rev / try_rev(x: &Array, axes: &[usize]) -> Array {
        un(Primitive::Rev { axes: axes.to_vec() }, x)
    }
}

fallible! {
    /// The block of `slice_sizes` starting at run-time `start_indices` (one
    /// rank-0 integer array per dimension) (primitive `dynamic_slice`). Each
    /// start is clamped into `[0, size - slice_size]`, as `lax.dynamic_slice`
    /// does, so the block always lies inside `x`.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![0i32, 1, 2, 3, 4], &[5]).unwrap();
    /// let y = lax::dynamic_slice(&x, &[Array::scalar(1i32)], &[2]);
    /// assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 2]);
    /// let z = lax::dynamic_slice(&x, &[Array::scalar(4i32)], &[2]); // clamped to start 3
    /// assert_eq!(z.to_vec::<i32>().unwrap(), vec![3, 4]);
    /// ```
    pub fn dynamic_slice / try_dynamic_slice(x: &Array, start_indices: &[Array], slice_sizes: &[usize]) -> Array {
        let mut args = Vec::with_capacity(start_indices.len() + 1);
        args.push(x.clone());
        args.extend_from_slice(start_indices);
        bind1(Primitive::DynamicSlice { slice_sizes: slice_sizes.to_vec() }, &args)
    }
}

fallible! {
    /// `x` with the block at run-time `start_indices` (one rank-0 integer
    /// array per dimension, clamped like [`dynamic_slice`]'s) replaced by
    /// `update`, of the same dtype and rank (primitive
    /// `dynamic_update_slice`).
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![0i32; 4], &[4]).unwrap();
    /// let u = Array::from_vec(vec![7i32, 8], &[2]).unwrap();
    /// let y = lax::dynamic_update_slice(&x, &u, &[Array::scalar(1i32)]);
    /// assert_eq!(y.to_vec::<i32>().unwrap(), vec![0, 7, 8, 0]);
    /// ```
    pub fn dynamic_update_slice / try_dynamic_update_slice(x: &Array, update: &Array, start_indices: &[Array]) -> Array {
        let mut args = Vec::with_capacity(start_indices.len() + 2);
        args.push(x.clone());
        args.push(update.clone());
        args.extend_from_slice(start_indices);
        bind1(Primitive::DynamicUpdateSlice, &args)
    }
}

fallible! {
    /// The slices of `x` at integer `indices` along `axis` (primitive
    /// `gather`, `jnp.take` without its conveniences): the result has shape
    /// `x.shape[..axis] ++ indices.shape ++ x.shape[axis+1..]`.
    /// Out-of-range indices, negative ones included, are clamped into range
    /// (`jnp::take` and indexing wrap negative indices first).
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![10i32, 20, 30], &[3]).unwrap();
    /// let i = Array::from_vec(vec![2i32, 0, 5], &[3]).unwrap();
    /// assert_eq!(lax::gather(&x, &i, 0).to_vec::<i32>().unwrap(), vec![30, 10, 30]);
    /// ```
    pub fn gather / try_gather(x: &Array, indices: &Array, axis: usize) -> Array {
        bind1(Primitive::Gather { axis }, &[x.clone(), indices.clone()])
    }
}

fallible! {
    /// Combines `updates` into `x` at integer `indices` along `axis` with
    /// `kind` (primitive `scatter`, the transpose of [`gather`] for
    /// [`ScatterKind::Add`]). `updates` has the shape [`gather`] would
    /// return. With duplicate indices, `Add`/`Mul`/`Min`/`Max` accumulate
    /// and for `Set` the last update in index order wins. Out-of-range
    /// indices, negative ones included, are dropped (JAX's default).
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array, lax::ScatterKind};
    /// let x = Array::from_vec(vec![0i32; 3], &[3]).unwrap();
    /// let i = Array::from_vec(vec![2i32, 0, 2, 7], &[4]).unwrap();
    /// let u = Array::from_vec(vec![1i32, 2, 3, 4], &[4]).unwrap();
    /// let set = lax::scatter(&x, &i, &u, 0, ScatterKind::Set);
    /// assert_eq!(set.to_vec::<i32>().unwrap(), vec![2, 0, 3]); // index 7 dropped
    /// ```
    pub fn scatter / try_scatter(x: &Array, indices: &Array, updates: &Array, axis: usize, kind: ScatterKind) -> Array {
        bind1(Primitive::Scatter { axis, kind }, &[x.clone(), indices.clone(), updates.clone()])
    }
}

fallible! {
    /// [`scatter`] with [`ScatterKind::Add`]: duplicate indices accumulate.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, Array};
    /// let x = Array::from_vec(vec![0.0f32; 3], &[3]).unwrap();
    /// let i = Array::from_vec(vec![1i32, 1, 2], &[3]).unwrap();
    /// let u = Array::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    /// let y = lax::scatter_add(&x, &i, &u, 0);
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 3.0, 3.0]);
    /// ```
    pub fn scatter_add / try_scatter_add(x: &Array, indices: &Array, updates: &Array, axis: usize) -> Array {
        try_scatter(x, indices, updates, axis, ScatterKind::Add)
    }
}

fallible! {
    /// An array of `shape` whose elements count along `dimension` (primitive
    /// `iota`). `dtype` is numeric.
    ///
    /// # Example
    /// ```
    /// use rjax::{lax, DType};
    /// let x = lax::iota(DType::I32, &[2, 3], 1);
    /// assert_eq!(x.to_vec::<i32>().unwrap(), vec![0, 1, 2, 0, 1, 2]);
    /// ```
    pub fn iota / try_iota(dtype: DType, shape: &[usize], dimension: usize) -> Array {
        bind1(Primitive::Iota { dtype, shape: Shape::from_slice(shape), dimension }, &[])
    }
}
