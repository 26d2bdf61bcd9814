//! Shape and dtype rules (abstract evaluation) for every primitive.
//!
//! [`abstract_eval`] maps a primitive and the abstract values ([`AVal`]s) of
//! its operands to the abstract values of its results, without touching any
//! data. It is what [`crate::JaxprBuilder`] runs for every equation it adds,
//! so a program that builds has well-typed equations, and it is the single
//! place where operands are checked: the interpreter and the backends may
//! assume the rules here hold.
//!
//! Every rejected input gives an [`Error::Op`] named after the primitive
//! whose message names the offending shapes (as `[3,4]`) and dtypes, e.g.
//! `add: operands must have equal shapes (or rank 0): [3,4] vs [5]`. The
//! rules never panic, whatever the input: element counts are computed with
//! checked arithmetic, and a result whose element count would not fit in a
//! `usize` is an error.
//!
//! The rule table is one `match` over [`Primitive`] without a wildcard arm,
//! in the enum's order; each arm delegates to a small helper below.

use crate::dtype::{AVal, DType, Shape, ShapeDisplay};
use crate::error::{Error, Result};
use crate::jaxpr::{ClosedJaxpr, Jaxpr};
use crate::primitive::{Primitive, ScatterKind};
use std::fmt::Display;
use std::sync::Arc;

/// The abstract values of the results of `prim` applied to operands with
/// abstract values `inputs`.
///
/// # Errors
/// [`Error::Op`], named after the primitive, when the operands (their
/// number, dtypes or shapes) or the primitive's parameters do not fit.
pub fn abstract_eval(prim: &Primitive, inputs: &[AVal]) -> Result<Vec<AVal>> {
    use Class::{Any, Bits, Float, Number};
    use Primitive as P;
    let n = prim.name();
    let outs = match prim {
        P::Neg => unary(n, inputs, Number),
        P::Exp
        | P::Log
        | P::Log1p
        | P::Expm1
        | P::Sin
        | P::Cos
        | P::Tanh
        | P::Logistic
        | P::Sqrt
        | P::Rsqrt => unary(n, inputs, Float),
        P::Abs | P::Sign => unary(n, inputs, Number),
        P::Floor | P::Ceil | P::Round | P::Erf => unary(n, inputs, Float),
        P::Not => unary(n, inputs, Bits),
        P::IsFinite => elementwise(n, inputs, 1, Float, Some(DType::Bool)),
        P::Add | P::Sub | P::Mul | P::Div | P::Rem => binary(n, inputs, Number),
        P::Pow => binary(n, inputs, Float),
        P::Max | P::Min => binary(n, inputs, Number),
        P::And | P::Or | P::Xor => binary(n, inputs, Bits),
        P::Eq | P::Ne => elementwise(n, inputs, 2, Any, Some(DType::Bool)),
        P::Lt | P::Le | P::Gt | P::Ge => elementwise(n, inputs, 2, Number, Some(DType::Bool)),
        P::Select => select(n, inputs),
        P::ConvertElementType { new_dtype } => convert(n, inputs, *new_dtype),
        P::BroadcastInDim {
            shape,
            broadcast_dimensions,
        } => broadcast_in_dim(n, inputs, shape, broadcast_dimensions),
        P::Reshape { new_sizes } => reshape(n, inputs, new_sizes),
        P::Transpose { permutation } => transpose(n, inputs, permutation),
        P::ReduceSum { axes }
        | P::ReduceMax { axes }
        | P::ReduceMin { axes }
        | P::ReduceProd { axes } => reduce(n, inputs, axes),
        P::ArgMax { axis, index_dtype } | P::ArgMin { axis, index_dtype } => {
            arg_reduce(n, inputs, *axis, *index_dtype)
        }
        P::Cumsum { axis, reverse: _ } => cumsum(n, inputs, *axis),
        P::DotGeneral {
            lhs_contract: lc,
            rhs_contract: rc,
            lhs_batch: lb,
            rhs_batch: rb,
        } => dot_general(n, inputs, [lc, rc], [lb, rb]),
        P::Slice {
            start,
            limit,
            strides,
        } => slice(n, inputs, start, limit, strides),
        P::Pad {
            low,
            high,
            interior,
        } => pad(n, inputs, low, high, interior),
        P::Concatenate { axis } => concatenate(n, inputs, *axis),
        P::Rev { axes } => rev(n, inputs, axes),
        P::DynamicSlice { slice_sizes } => dynamic_slice(n, inputs, slice_sizes),
        P::DynamicUpdateSlice => dynamic_update_slice(n, inputs),
        P::Gather { axis } => gather(n, inputs, *axis),
        P::Scatter { axis, kind } => scatter(n, inputs, *axis, *kind),
        P::Iota {
            dtype,
            shape,
            dimension,
        } => iota(n, inputs, *dtype, shape, *dimension),
        P::RandomBits { shape } => random_bits(n, inputs, shape),
        P::StopGradient => unary(n, inputs, Any),
        P::Call { jaxpr, name: _ } => call(n, inputs, "jaxpr", jaxpr),
        P::Cond { branches } => cond(n, inputs, branches),
        P::While {
            cond_jaxpr,
            body_jaxpr,
        } => while_loop(n, inputs, cond_jaxpr, body_jaxpr),
        P::Scan {
            body,
            length,
            reverse: _,
            num_consts,
            num_carry,
        } => scan(n, inputs, &body.jaxpr, *length, [*num_consts, *num_carry]),
        P::CustomJvpCall { call: f, jvp: _ } => call(n, inputs, "call", f),
        P::CustomVjpCall {
            call: f,
            fwd: _,
            bwd: _,
            num_outputs: _,
        } => call(n, inputs, "call", f),
        P::CustomLin { bwd, num_residuals } => custom_lin(n, inputs, bwd, *num_residuals),
    }?;
    for out in &outs {
        element_count(n, &out.shape)?;
    }
    Ok(outs)
}

// ---- shared helpers ---------------------------------------------------------

/// An [`Error::Op`] for primitive `n`.
fn op_err(n: &str, message: impl Into<String>) -> Error {
    Error::op(n, message)
}

/// `Err(op_err(..))` with a formatted message.
macro_rules! bail {
    ($n:expr, $($fmt:tt)+) => {
        return Err(op_err($n, format!($($fmt)+)))
    };
}

/// Formats a parameter list as `(0,1)`.
fn tuple<T: Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("({})", parts.join(","))
}

/// Formats abstract values as `(f32[3], i32[])`.
fn aval_list(avals: &[AVal]) -> String {
    let parts: Vec<String> = avals.iter().map(ToString::to_string).collect();
    format!("({})", parts.join(", "))
}

/// `"s"` unless `k == 1`.
fn plural(k: usize) -> &'static str {
    if k == 1 {
        ""
    } else {
        "s"
    }
}

/// Element count of a shape, or an error when it does not fit in a `usize`.
/// A shape with a zero dimension has zero elements whatever the others are.
fn element_count(n: &str, shape: &[usize]) -> Result<usize> {
    if shape.contains(&0) {
        return Ok(0);
    }
    let total = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    total.ok_or_else(|| {
        op_err(
            n,
            format!("shape {} has too many elements", ShapeDisplay(shape)),
        )
    })
}

/// A single result.
fn one(dtype: DType, shape: Shape) -> Result<Vec<AVal>> {
    Ok(vec![AVal { dtype, shape }])
}

/// Checks that there are exactly `k` operands.
fn count(n: &str, inputs: &[AVal], k: usize) -> Result<()> {
    if inputs.len() != k {
        bail!(n, "expected {k} operand{}, got {}", plural(k), inputs.len());
    }
    Ok(())
}

/// Exactly `N` operands, as an array to destructure.
fn operands<'a, const N: usize>(n: &str, inputs: &'a [AVal]) -> Result<&'a [AVal; N]> {
    count(n, inputs, N)?;
    inputs
        .try_into()
        .map_err(|_| op_err(n, "internal error: operand count"))
}

/// Checks that `axis` is a dimension of a rank-`rank` operand.
fn axis_in_range(n: &str, axis: usize, rank: usize) -> Result<()> {
    if axis >= rank {
        bail!(n, "axis {axis} out of range for rank {rank}");
    }
    Ok(())
}

/// Checks that `dtype` is `i32` or `u32` (an index operand); `what` names it.
fn index_dtype(n: &str, what: &str, aval: &AVal) -> Result<()> {
    if !aval.dtype.is_int() {
        bail!(n, "{what} must be integers (i32 or u32), got {aval}");
    }
    Ok(())
}

/// `shape` with dimension 0 of size `len` added in front.
fn prepend(len: usize, shape: &[usize]) -> Shape {
    std::iter::once(len).chain(shape.iter().copied()).collect()
}

/// `shape` without the dimensions in `axes`.
fn remove_axes(shape: &[usize], axes: &[usize]) -> Shape {
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect()
}

// ---- elementwise ------------------------------------------------------------

/// Which dtypes an elementwise primitive accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// `f32`, `f64`.
    Float,
    /// Every dtype but bool.
    Number,
    /// Bool and the integers (logical or bitwise operations).
    Bits,
    /// Every dtype.
    Any,
}

impl Class {
    /// Checks that `dtype` belongs to the class.
    fn check(self, n: &str, dtype: DType) -> Result<()> {
        let (ok, what) = match self {
            Class::Float => (dtype.is_float(), "a float"),
            Class::Number => (!dtype.is_bool(), "a numeric"),
            Class::Bits => (dtype.is_bool() || dtype.is_int(), "a bool or integer"),
            Class::Any => (true, "any"),
        };
        if !ok {
            bail!(n, "expected {what} operand, got {dtype}");
        }
        Ok(())
    }
}

/// The one dtype shared by all operands.
fn same_dtype(n: &str, inputs: &[AVal]) -> Result<DType> {
    let first = inputs.first().map_or(DType::F32, |a| a.dtype);
    if let Some(other) = inputs.iter().find(|a| a.dtype != first) {
        let other = other.dtype;
        bail!(n, "operands must have equal dtypes: {first} vs {other}");
    }
    Ok(first)
}

/// The elementwise result shape: all non-scalar shapes must be equal; rank-0
/// operands broadcast.
fn common_shape(n: &str, inputs: &[AVal]) -> Result<Shape> {
    let mut common: Option<&Shape> = None;
    for a in inputs.iter().filter(|a| a.rank() > 0) {
        match common {
            None => common = Some(&a.shape),
            Some(c) if *c == a.shape => {}
            Some(c) => {
                let (c, a) = (ShapeDisplay(c), ShapeDisplay(&a.shape));
                bail!(n, "operands must have equal shapes (or rank 0): {c} vs {a}")
            }
        }
    }
    Ok(common.cloned().unwrap_or_default())
}

/// An elementwise primitive of `arity` operands of one dtype of `class`;
/// the result has dtype `out` (or the operands').
fn elementwise(
    n: &str,
    inputs: &[AVal],
    arity: usize,
    class: Class,
    out: Option<DType>,
) -> Result<Vec<AVal>> {
    count(n, inputs, arity)?;
    let dtype = same_dtype(n, inputs)?;
    class.check(n, dtype)?;
    let shape = common_shape(n, inputs)?;
    one(out.unwrap_or(dtype), shape)
}

/// A unary elementwise primitive keeping the dtype.
fn unary(n: &str, inputs: &[AVal], class: Class) -> Result<Vec<AVal>> {
    elementwise(n, inputs, 1, class, None)
}

/// A binary elementwise primitive keeping the dtype.
fn binary(n: &str, inputs: &[AVal], class: Class) -> Result<Vec<AVal>> {
    elementwise(n, inputs, 2, class, None)
}

/// `select(pred, on_true, on_false)`.
fn select(n: &str, inputs: &[AVal]) -> Result<Vec<AVal>> {
    let [pred, _, _] = operands(n, inputs)?;
    if pred.dtype != DType::Bool {
        bail!(n, "predicate must be bool, got {}", pred.dtype);
    }
    let dtype = same_dtype(n, &inputs[1..])?;
    let shape = common_shape(n, inputs)?;
    one(dtype, shape)
}

/// `convert_element_type`: any dtype to any dtype.
fn convert(n: &str, inputs: &[AVal], new_dtype: DType) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    one(new_dtype, x.shape.clone())
}

// ---- shape ------------------------------------------------------------------

/// `broadcast_in_dim`.
fn broadcast_in_dim(n: &str, inputs: &[AVal], shape: &Shape, dims: &[usize]) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    let (xs, ds) = (ShapeDisplay(&x.shape), tuple(dims));
    if dims.len() != x.rank() {
        bail!(
            n,
            "broadcast_dimensions {ds} need one entry per dimension of operand {xs}"
        );
    }
    if dims.windows(2).any(|w| w[0] >= w[1]) {
        bail!(n, "broadcast_dimensions {ds} must be strictly increasing");
    }
    let out = ShapeDisplay(shape);
    for (i, (&d, &size)) in dims.iter().zip(&x.shape).enumerate() {
        match shape.get(d) {
            None => bail!(n, "broadcast dimension {d} out of range for shape {out}"),
            Some(&t) if size != t && size != 1 => bail!(
                n,
                "operand {xs} dimension {i} of size {size} cannot broadcast to size {t} of {out}"
            ),
            Some(_) => {}
        }
    }
    one(x.dtype, shape.clone())
}

/// `reshape`: same number of elements.
fn reshape(n: &str, inputs: &[AVal], new_sizes: &Shape) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    let (from, to) = (element_count(n, &x.shape)?, element_count(n, new_sizes)?);
    if from != to {
        let (xs, ns) = (ShapeDisplay(&x.shape), ShapeDisplay(new_sizes));
        bail!(
            n,
            "cannot reshape {xs} ({from} elements) to {ns} ({to} elements)"
        );
    }
    one(x.dtype, new_sizes.clone())
}

/// `transpose`: output dimension `i` is operand dimension `perm[i]`.
fn transpose(n: &str, inputs: &[AVal], perm: &[usize]) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    let mut seen = vec![false; x.rank()];
    let mut fresh = |p: usize| p < seen.len() && !std::mem::replace(&mut seen[p], true);
    if perm.len() != x.rank() || !perm.iter().all(|&p| fresh(p)) {
        let (ps, rank) = (tuple(perm), x.rank());
        bail!(n, "permutation {ps} is not a permutation of 0..{rank}");
    }
    let shape = perm.iter().map(|&p| x.shape[p]).collect();
    one(x.dtype, shape)
}

// ---- reductions -------------------------------------------------------------

/// `reduce_sum` / `reduce_max` / `reduce_min` / `reduce_prod`.
fn reduce(n: &str, inputs: &[AVal], axes: &[usize]) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    Class::Number.check(n, x.dtype)?;
    for &a in axes {
        axis_in_range(n, a, x.rank())?;
    }
    if axes.windows(2).any(|w| w[0] >= w[1]) {
        let axes = tuple(axes);
        bail!(n, "axes {axes} must be distinct and in ascending order");
    }
    one(x.dtype, remove_axes(&x.shape, axes))
}

/// `argmax` / `argmin`.
fn arg_reduce(n: &str, inputs: &[AVal], axis: usize, index: DType) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    Class::Number.check(n, x.dtype)?;
    axis_in_range(n, axis, x.rank())?;
    if x.shape[axis] == 0 {
        bail!(n, "axis {axis} of {} is empty", ShapeDisplay(&x.shape));
    }
    if !index.is_int() {
        bail!(n, "index_dtype must be i32 or u32, got {index}");
    }
    one(index, remove_axes(&x.shape, &[axis]))
}

/// `cumsum`: same abstract value out.
fn cumsum(n: &str, inputs: &[AVal], axis: usize) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    Class::Number.check(n, x.dtype)?;
    axis_in_range(n, axis, x.rank())?;
    Ok(vec![x.clone()])
}

// ---- contraction ------------------------------------------------------------

/// Checks one side of a `dot_general`: every batch and contracting dimension
/// in range and used once.
fn dot_side(n: &str, side: &str, x: &AVal, batch: &[usize], contract: &[usize]) -> Result<()> {
    let mut seen = vec![false; x.rank()];
    for &d in batch.iter().chain(contract) {
        if d >= x.rank() {
            let xs = ShapeDisplay(&x.shape);
            bail!(n, "{side} dimension {d} out of range for {side} {xs}");
        }
        if std::mem::replace(&mut seen[d], true) {
            bail!(
                n,
                "{side} dimension {d} repeated in {side}_batch/{side}_contract"
            );
        }
    }
    Ok(())
}

/// Checks that paired dimensions (`what` = `batch` or `contracting`) agree in size.
fn dot_pairs(n: &str, what: &str, lhs: &AVal, rhs: &AVal, pairs: [&[usize]; 2]) -> Result<()> {
    for (&l, &r) in pairs[0].iter().zip(pairs[1]) {
        if lhs.shape[l] != rhs.shape[r] {
            let (ls, rs) = (ShapeDisplay(&lhs.shape), ShapeDisplay(&rhs.shape));
            let (a, b) = (lhs.shape[l], rhs.shape[r]);
            bail!(
                n,
                "{what} dimension sizes differ: lhs {ls} dim {l} is {a}, rhs {rs} dim {r} is {b}"
            );
        }
    }
    Ok(())
}

/// `dot_general`: output is batch ++ lhs free ++ rhs free dimensions.
fn dot_general(
    n: &str,
    inputs: &[AVal],
    [lc, rc]: [&Vec<usize>; 2],
    [lb, rb]: [&Vec<usize>; 2],
) -> Result<Vec<AVal>> {
    let [lhs, rhs] = operands(n, inputs)?;
    let dtype = same_dtype(n, inputs)?;
    Class::Number.check(n, dtype)?;
    for (what, l, r) in [("contract", lc, rc), ("batch", lb, rb)] {
        if l.len() != r.len() {
            let (l, r) = (tuple(l), tuple(r));
            bail!(n, "lhs_{what} {l} and rhs_{what} {r} differ in length");
        }
    }
    dot_side(n, "lhs", lhs, lb, lc)?;
    dot_side(n, "rhs", rhs, rb, rc)?;
    dot_pairs(n, "batch", lhs, rhs, [lb, rb])?;
    dot_pairs(n, "contracting", lhs, rhs, [lc, rc])?;
    let mut shape: Shape = lb.iter().map(|&d| lhs.shape[d]).collect();
    shape.extend(remove_axes(&lhs.shape, &[&lb[..], lc].concat()));
    shape.extend(remove_axes(&rhs.shape, &[&rb[..], rc].concat()));
    one(dtype, shape)
}

// ---- slicing and joining ----------------------------------------------------

/// Checks that each named parameter list has one entry per dimension of `x`.
fn per_dim(n: &str, x: &AVal, lists: &[(&str, usize)]) -> Result<()> {
    if lists.iter().any(|&(_, len)| len != x.rank()) {
        let names: Vec<String> = lists
            .iter()
            .map(|(name, len)| format!("{name} {len}"))
            .collect();
        let (xs, got) = (ShapeDisplay(&x.shape), names.join(", "));
        bail!(
            n,
            "parameters need one entry per dimension of {xs}, got lengths {got}"
        );
    }
    Ok(())
}

/// Static strided `slice`.
fn slice(
    n: &str,
    inputs: &[AVal],
    start: &[usize],
    limit: &[usize],
    strides: &[usize],
) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    let lens = [start.len(), limit.len(), strides.len()];
    per_dim(
        n,
        x,
        &[("start", lens[0]), ("limit", lens[1]), ("strides", lens[2])],
    )?;
    let mut shape = Shape::new();
    for (d, &size) in x.shape.iter().enumerate() {
        let (s, l, st) = (start[d], limit[d], strides[d]);
        let xs = ShapeDisplay(&x.shape);
        if st == 0 {
            bail!(n, "stride of dimension {d} must be >= 1, got 0");
        }
        if s > l || l > size {
            bail!(
                n,
                "dimension {d} of {xs}: need start <= limit <= {size}, got start {s}, limit {l}"
            );
        }
        shape.push((l - s).div_ceil(st));
    }
    one(x.dtype, shape)
}

/// Size of one padded dimension, or `None` if it is negative or too large.
fn padded_size(size: usize, low: i64, high: i64, interior: usize) -> Option<usize> {
    let (size, interior) = (i128::try_from(size).ok()?, i128::try_from(interior).ok()?);
    let inner = if size == 0 {
        0
    } else {
        interior.checked_mul(size - 1)?.checked_add(size)?
    };
    let total = inner
        .checked_add(i128::from(low))?
        .checked_add(i128::from(high))?;
    usize::try_from(total).ok()
}

/// `pad(operand, padding_value)`.
fn pad(
    n: &str,
    inputs: &[AVal],
    low: &[i64],
    high: &[i64],
    interior: &[usize],
) -> Result<Vec<AVal>> {
    let [x, value] = operands(n, inputs)?;
    if value.rank() != 0 || value.dtype != x.dtype {
        bail!(n, "padding value must be a rank-0 {}, got {value}", x.dtype);
    }
    let lens = [low.len(), high.len(), interior.len()];
    per_dim(
        n,
        x,
        &[("low", lens[0]), ("high", lens[1]), ("interior", lens[2])],
    )?;
    let mut shape = Shape::new();
    for (d, &size) in x.shape.iter().enumerate() {
        let Some(out) = padded_size(size, low[d], high[d], interior[d]) else {
            let (xs, lo, hi, int) = (ShapeDisplay(&x.shape), low[d], high[d], interior[d]);
            bail!(
                n,
                "padding dimension {d} of {xs} with low {lo}, high {hi}, interior {int} \
                 gives a negative (or too large) size"
            );
        };
        shape.push(out);
    }
    one(x.dtype, shape)
}

/// `concatenate` along `axis`.
fn concatenate(n: &str, inputs: &[AVal], axis: usize) -> Result<Vec<AVal>> {
    let Some(first) = inputs.first() else {
        bail!(n, "expected at least 1 operand, got 0");
    };
    let dtype = same_dtype(n, inputs)?;
    axis_in_range(n, axis, first.rank())?;
    let mut shape = first.shape.clone();
    for x in &inputs[1..] {
        let mut pairs = x.shape.iter().zip(&first.shape).enumerate();
        if x.rank() != first.rank() || pairs.any(|(d, (a, b))| d != axis && a != b) {
            let (fs, xs) = (ShapeDisplay(&first.shape), ShapeDisplay(&x.shape));
            bail!(n, "operand shapes {fs} and {xs} differ outside axis {axis}");
        }
        shape[axis] = shape[axis]
            .checked_add(x.shape[axis])
            .ok_or_else(|| op_err(n, format!("concatenated size along axis {axis} overflows")))?;
    }
    one(dtype, shape)
}

/// `rev`: axes in range and distinct.
fn rev(n: &str, inputs: &[AVal], axes: &[usize]) -> Result<Vec<AVal>> {
    let [x] = operands(n, inputs)?;
    for (i, &a) in axes.iter().enumerate() {
        axis_in_range(n, a, x.rank())?;
        if axes[..i].contains(&a) {
            bail!(n, "axis {a} repeated in axes {}", tuple(axes));
        }
    }
    Ok(vec![x.clone()])
}

/// Checks that `indices` are `rank` rank-0 integer start indices.
fn start_indices(n: &str, operand: &AVal, indices: &[AVal]) -> Result<()> {
    if indices.len() != operand.rank() {
        let (xs, want, got) = (ShapeDisplay(&operand.shape), operand.rank(), indices.len());
        bail!(
            n,
            "expected {want} start indices (one per dimension of {xs}), got {got}"
        );
    }
    for (i, idx) in indices.iter().enumerate() {
        if idx.rank() != 0 || !idx.dtype.is_int() {
            bail!(n, "start index {i} must be a rank-0 i32 or u32, got {idx}");
        }
    }
    Ok(())
}

/// `dynamic_slice(operand, starts..)`.
fn dynamic_slice(n: &str, inputs: &[AVal], sizes: &[usize]) -> Result<Vec<AVal>> {
    let Some((x, indices)) = inputs.split_first() else {
        bail!(n, "expected at least 1 operand, got 0");
    };
    start_indices(n, x, indices)?;
    per_dim(n, x, &[("slice_sizes", sizes.len())])?;
    if sizes.iter().zip(&x.shape).any(|(s, d)| s > d) {
        let (ss, xs) = (tuple(sizes), ShapeDisplay(&x.shape));
        bail!(n, "slice_sizes {ss} do not fit in operand {xs}");
    }
    one(x.dtype, Shape::from_slice(sizes))
}

/// `dynamic_update_slice(operand, update, starts..)`.
fn dynamic_update_slice(n: &str, inputs: &[AVal]) -> Result<Vec<AVal>> {
    let [x, update, indices @ ..] = inputs else {
        bail!(n, "expected at least 2 operands, got {}", inputs.len());
    };
    start_indices(n, x, indices)?;
    if update.dtype != x.dtype {
        let (u, d) = (update.dtype, x.dtype);
        bail!(n, "update dtype {u} differs from operand dtype {d}");
    }
    let fits = update.rank() == x.rank() && update.shape.iter().zip(&x.shape).all(|(u, d)| u <= d);
    if !fits {
        let (us, xs) = (ShapeDisplay(&update.shape), ShapeDisplay(&x.shape));
        bail!(
            n,
            "update {us} does not fit in operand {xs} (ranks must match)"
        );
    }
    Ok(vec![x.clone()])
}

/// Result shape of `gather` along `axis`, after checking the operands.
fn gather_shape(n: &str, x: &AVal, indices: &AVal, axis: usize) -> Result<Shape> {
    index_dtype(n, "indices", indices)?;
    axis_in_range(n, axis, x.rank())?;
    let mut shape = Shape::from_slice(&x.shape[..axis]);
    shape.extend_from_slice(&indices.shape);
    shape.extend_from_slice(&x.shape[axis + 1..]);
    Ok(shape)
}

/// `gather(operand, indices)` along `axis`.
fn gather(n: &str, inputs: &[AVal], axis: usize) -> Result<Vec<AVal>> {
    let [x, indices] = operands(n, inputs)?;
    let shape = gather_shape(n, x, indices, axis)?;
    one(x.dtype, shape)
}

/// `scatter(operand, indices, updates)` along `axis`.
fn scatter(n: &str, inputs: &[AVal], axis: usize, kind: ScatterKind) -> Result<Vec<AVal>> {
    let [x, indices, updates] = operands(n, inputs)?;
    let expected = gather_shape(n, x, indices, axis)?;
    if updates.dtype != x.dtype {
        let (u, d) = (updates.dtype, x.dtype);
        bail!(n, "updates dtype {u} differs from operand dtype {d}");
    }
    if updates.shape != expected {
        let (us, es) = (ShapeDisplay(&updates.shape), ShapeDisplay(&expected));
        let (xs, is) = (ShapeDisplay(&x.shape), ShapeDisplay(&indices.shape));
        bail!(
            n,
            "updates shape {us} must be {es} (operand {xs}, indices {is}, axis {axis})"
        );
    }
    if kind != ScatterKind::Set && x.dtype.is_bool() {
        let (k, d) = (kind.name(), x.dtype);
        bail!(n, "kind {k} needs a numeric operand, got {d}");
    }
    Ok(vec![x.clone()])
}

// ---- creation and randomness ------------------------------------------------

/// `iota`: no operands.
fn iota(n: &str, inputs: &[AVal], dtype: DType, shape: &Shape, dim: usize) -> Result<Vec<AVal>> {
    count(n, inputs, 0)?;
    if dtype.is_bool() {
        bail!(n, "dtype must be numeric, got {dtype}");
    }
    if dim >= shape.len() {
        let s = ShapeDisplay(shape);
        bail!(n, "dimension {dim} out of range for shape {s}");
    }
    one(dtype, shape.clone())
}

/// `random_bits(key)`: the key is exactly `u32[8]`.
fn random_bits(n: &str, inputs: &[AVal], shape: &Shape) -> Result<Vec<AVal>> {
    let [key] = operands(n, inputs)?;
    if *key != AVal::new(DType::U32, &[8]) {
        bail!(n, "key must be u32[8], got {key}");
    }
    one(DType::U32, shape.clone())
}

// ---- higher order -----------------------------------------------------------

/// Checks that a jaxpr (`what`) takes exactly the abstract values `given`.
fn takes(n: &str, what: &str, jaxpr: &Jaxpr, given: &[AVal]) -> Result<()> {
    let expected = jaxpr.in_avals();
    if expected != given {
        let (want, got) = (aval_list(&expected), aval_list(given));
        bail!(n, "{what} takes {want}, but is given {got}");
    }
    Ok(())
}

/// `call` and the custom-derivative calls: operands are `f`'s inputs.
fn call(n: &str, inputs: &[AVal], what: &str, f: &ClosedJaxpr) -> Result<Vec<AVal>> {
    takes(n, what, &f.jaxpr, inputs)?;
    Ok(f.jaxpr.out_avals())
}

/// `cond(index, operands..)`: every branch takes the operands and all
/// return the same.
fn cond(n: &str, inputs: &[AVal], branches: &[Arc<ClosedJaxpr>]) -> Result<Vec<AVal>> {
    let Some((index, rest)) = inputs.split_first() else {
        bail!(n, "expected at least 1 operand (the branch index), got 0");
    };
    if *index != AVal::scalar(DType::I32) {
        bail!(n, "branch index must be i32[], got {index}");
    }
    let Some(first) = branches.first() else {
        bail!(n, "needs at least one branch");
    };
    let out = first.jaxpr.out_avals();
    for (i, b) in branches.iter().enumerate() {
        takes(n, &format!("branch {i}"), &b.jaxpr, rest)?;
        let other = b.jaxpr.out_avals();
        if other != out {
            let (got, want) = (aval_list(&other), aval_list(&out));
            bail!(n, "branch {i} returns {got}, but branch 0 returns {want}");
        }
    }
    Ok(out)
}

/// `while(carry..)`: cond maps the carry to `bool[]`, body the carry to itself.
fn while_loop(
    n: &str,
    inputs: &[AVal],
    cond_jaxpr: &ClosedJaxpr,
    body_jaxpr: &ClosedJaxpr,
) -> Result<Vec<AVal>> {
    let (c, b) = (&cond_jaxpr.jaxpr, &body_jaxpr.jaxpr);
    takes(n, "cond_jaxpr", c, inputs)?;
    if c.out_avals() != [AVal::scalar(DType::Bool)] {
        let got = aval_list(&c.out_avals());
        bail!(n, "cond_jaxpr must return (bool[]), but returns {got}");
    }
    takes(n, "body_jaxpr", b, inputs)?;
    if b.out_avals() != inputs {
        let (got, carry) = (aval_list(&b.out_avals()), aval_list(inputs));
        bail!(
            n,
            "body_jaxpr must return the carry {carry}, but returns {got}"
        );
    }
    Ok(inputs.to_vec())
}

/// `scan(consts.., carry.., xs..)`.
fn scan(
    n: &str,
    inputs: &[AVal],
    body: &Jaxpr,
    length: usize,
    [num_consts, num_carry]: [usize; 2],
) -> Result<Vec<AVal>> {
    let total = inputs.len();
    let fixed = num_consts.checked_add(num_carry).filter(|&k| k <= total);
    let Some(fixed) = fixed else {
        bail!(
            n,
            "num_consts {num_consts} + num_carry {num_carry} exceed the {total} operands"
        );
    };
    let mut slices = inputs[..fixed].to_vec();
    for (i, x) in inputs[fixed..].iter().enumerate() {
        if x.shape.first() != Some(&length) {
            let xs = ShapeDisplay(&x.shape);
            bail!(n, "xs operand {i} has shape {xs}, but length is {length}");
        }
        slices.push(AVal::new(x.dtype, &x.shape[1..]));
    }
    takes(n, "body", body, &slices)?;
    let out = body.out_avals();
    let carry = &inputs[num_consts..fixed];
    if out.get(..num_carry) != Some(carry) {
        let (got, carry) = (aval_list(&out), aval_list(carry));
        bail!(
            n,
            "body must return the carry {carry} followed by the ys, but returns {got}"
        );
    }
    let stack = |y: &AVal| AVal {
        dtype: y.dtype,
        shape: prepend(length, &y.shape),
    };
    let ys = out[num_carry..].iter().map(stack);
    Ok(carry.iter().cloned().chain(ys).collect())
}

/// `custom_lin`: operands are the residuals (`bwd`'s leading inputs) and
/// input tangents (`bwd`'s outputs); results are `bwd`'s cotangent inputs.
fn custom_lin(
    n: &str,
    inputs: &[AVal],
    bwd: &ClosedJaxpr,
    num_residuals: usize,
) -> Result<Vec<AVal>> {
    let bwd_in = bwd.jaxpr.in_avals();
    if num_residuals > bwd_in.len() {
        bail!(
            n,
            "{num_residuals} residuals, but bwd takes only {} inputs",
            bwd_in.len()
        );
    }
    let mut expected = bwd_in[..num_residuals].to_vec();
    expected.extend(bwd.jaxpr.out_avals());
    if inputs != expected.as_slice() {
        let (want, got) = (aval_list(&expected), aval_list(inputs));
        bail!(n, "takes residuals and tangents {want}, but is given {got}");
    }
    Ok(bwd_in[num_residuals..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaxpr::{Atom, JaxprBuilder, Var};
    use crate::primitive::ScatterKind as K;
    use crate::Scalar;
    use std::collections::BTreeSet;
    use DType::{Bool, F32, F64, I32, U32};
    use Primitive as P;

    const BIG: usize = usize::MAX;

    fn a(dtype: DType, shape: &[usize]) -> AVal {
        AVal::new(dtype, shape)
    }

    fn s(dtype: DType) -> AVal {
        AVal::scalar(dtype)
    }

    fn sh(dims: &[usize]) -> Shape {
        Shape::from_slice(dims)
    }

    /// One table row: primitive, operands, expected result or error text.
    type Case = (
        Primitive,
        Vec<AVal>,
        std::result::Result<Vec<AVal>, &'static str>,
    );

    fn check(cases: Vec<Case>) {
        for (prim, ins, expected) in cases {
            let got = abstract_eval(&prim, &ins).map_err(|e| e.to_string());
            let want = expected.map_err(String::from);
            assert_eq!(got, want, "{prim:?} on {}", aval_list(&ins));
        }
    }

    /// A closed jaxpr over inputs `ins` whose outputs `body` computes.
    fn jaxpr(
        ins: &[AVal],
        body: impl FnOnce(&mut JaxprBuilder, &[Var]) -> Vec<Atom>,
    ) -> Arc<ClosedJaxpr> {
        let mut b = JaxprBuilder::new();
        let vars: Vec<Var> = ins.iter().map(|x| b.new_var(x.clone())).collect();
        let outs = body(&mut b, &vars);
        Arc::new(ClosedJaxpr::new(
            b.build(vec![], vars, outs).unwrap(),
            vec![],
        ))
    }

    fn identity(ins: &[AVal]) -> Arc<ClosedJaxpr> {
        jaxpr(ins, |_, vs| vs.iter().map(|&v| v.into()).collect())
    }

    fn eqn(b: &mut JaxprBuilder, prim: Primitive, inputs: Vec<Atom>) -> Atom {
        b.add_eqn(prim, inputs, None).unwrap()[0].into()
    }

    /// `neg` of each input.
    fn negate(ins: &[AVal]) -> Arc<ClosedJaxpr> {
        jaxpr(ins, |b, vs| {
            vs.iter().map(|&v| eqn(b, P::Neg, vec![v.into()])).collect()
        })
    }

    fn reduce_sum(axes: &[usize]) -> Primitive {
        P::ReduceSum {
            axes: axes.to_vec(),
        }
    }

    fn dot(lc: &[usize], rc: &[usize], lb: &[usize], rb: &[usize]) -> Primitive {
        P::DotGeneral {
            lhs_contract: lc.to_vec(),
            rhs_contract: rc.to_vec(),
            lhs_batch: lb.to_vec(),
            rhs_batch: rb.to_vec(),
        }
    }

    fn slice(start: &[usize], limit: &[usize], strides: &[usize]) -> Primitive {
        P::Slice {
            start: start.to_vec(),
            limit: limit.to_vec(),
            strides: strides.to_vec(),
        }
    }

    fn pad(low: &[i64], high: &[i64], interior: &[usize]) -> Primitive {
        P::Pad {
            low: low.to_vec(),
            high: high.to_vec(),
            interior: interior.to_vec(),
        }
    }

    fn bcast(shape: &[usize], dims: &[usize]) -> Primitive {
        P::BroadcastInDim {
            shape: sh(shape),
            broadcast_dimensions: dims.to_vec(),
        }
    }

    fn scan(
        body: Arc<ClosedJaxpr>,
        length: usize,
        num_consts: usize,
        num_carry: usize,
    ) -> Primitive {
        P::Scan {
            body,
            length,
            reverse: false,
            num_consts,
            num_carry,
        }
    }

    /// `(consts c: f32[], carry acc: f32[3], xs x: f32[3]) -> (acc + c * x, sum(x))`.
    fn scan_body() -> Arc<ClosedJaxpr> {
        jaxpr(&[s(F32), a(F32, &[3]), a(F32, &[3])], |b, v| {
            let cx = eqn(b, P::Mul, vec![v[0].into(), v[2].into()]);
            let acc = eqn(b, P::Add, vec![v[1].into(), cx]);
            vec![acc, eqn(b, reduce_sum(&[0]), vec![v[2].into()])]
        })
    }

    /// `x < 10` on an `i32[]` carry.
    fn while_cond() -> Arc<ClosedJaxpr> {
        jaxpr(&[s(I32)], |b, v| {
            vec![eqn(b, P::Lt, vec![v[0].into(), Atom::Lit(Scalar::I32(10))])]
        })
    }

    /// `x + 1` on an `i32[]` carry.
    fn while_body() -> Arc<ClosedJaxpr> {
        jaxpr(&[s(I32)], |b, v| {
            vec![eqn(b, P::Add, vec![v[0].into(), Atom::Lit(Scalar::I32(1))])]
        })
    }

    /// A valid example of every primitive, with its result.
    fn examples() -> Vec<(Primitive, Vec<AVal>, Vec<AVal>)> {
        let f23 = a(F32, &[2, 3]);
        let f2 = a(F32, &[2]);
        let un = |p: Primitive| (p, vec![f23.clone()], vec![f23.clone()]);
        let bin = |p: Primitive| (p, vec![f23.clone(), s(F32)], vec![f23.clone()]);
        let bits = |p: Primitive| (p, vec![a(I32, &[4]), a(I32, &[4])], vec![a(I32, &[4])]);
        let cmp = |p: Primitive| (p, vec![f23.clone(), f23.clone()], vec![a(Bool, &[2, 3])]);
        let f = negate(&[a(F32, &[2])]);
        let mut v = vec![];
        for p in [
            P::Neg,
            P::Exp,
            P::Log,
            P::Log1p,
            P::Expm1,
            P::Sin,
            P::Cos,
            P::Tanh,
        ] {
            v.push(un(p));
        }
        for p in [
            P::Logistic,
            P::Sqrt,
            P::Rsqrt,
            P::Abs,
            P::Sign,
            P::Floor,
            P::Ceil,
            P::Round,
        ] {
            v.push(un(p));
        }
        v.push(un(P::Erf));
        v.push((P::Not, vec![a(Bool, &[2])], vec![a(Bool, &[2])]));
        v.push((P::IsFinite, vec![f23.clone()], vec![a(Bool, &[2, 3])]));
        for p in [
            P::Add,
            P::Sub,
            P::Mul,
            P::Div,
            P::Rem,
            P::Pow,
            P::Max,
            P::Min,
        ] {
            v.push(bin(p));
        }
        v.extend([bits(P::And), bits(P::Or), bits(P::Xor)]);
        for p in [P::Eq, P::Ne, P::Lt, P::Le, P::Gt, P::Ge] {
            v.push(cmp(p));
        }
        v.extend([
            (
                P::Select,
                vec![s(Bool), f23.clone(), f23.clone()],
                vec![f23.clone()],
            ),
            (
                P::ConvertElementType { new_dtype: I32 },
                vec![f23.clone()],
                vec![a(I32, &[2, 3])],
            ),
            (
                bcast(&[4, 2], &[1]),
                vec![f2.clone()],
                vec![a(F32, &[4, 2])],
            ),
            (
                P::Reshape {
                    new_sizes: sh(&[3, 2]),
                },
                vec![f23.clone()],
                vec![a(F32, &[3, 2])],
            ),
            (
                P::Transpose {
                    permutation: vec![1, 0],
                },
                vec![f23.clone()],
                vec![a(F32, &[3, 2])],
            ),
            (reduce_sum(&[1]), vec![f23.clone()], vec![f2.clone()]),
            (
                P::ReduceMax { axes: vec![0] },
                vec![f23.clone()],
                vec![a(F32, &[3])],
            ),
            (
                P::ReduceMin { axes: vec![0, 1] },
                vec![f23.clone()],
                vec![s(F32)],
            ),
            (
                P::ReduceProd { axes: vec![] },
                vec![f23.clone()],
                vec![f23.clone()],
            ),
            (
                P::ArgMax {
                    axis: 1,
                    index_dtype: I32,
                },
                vec![f23.clone()],
                vec![a(I32, &[2])],
            ),
            (
                P::ArgMin {
                    axis: 0,
                    index_dtype: U32,
                },
                vec![f23.clone()],
                vec![a(U32, &[3])],
            ),
            (
                P::Cumsum {
                    axis: 1,
                    reverse: true,
                },
                vec![f23.clone()],
                vec![f23.clone()],
            ),
            (
                dot(&[1], &[0], &[], &[]),
                vec![f23.clone(), a(F32, &[3, 4])],
                vec![a(F32, &[2, 4])],
            ),
            (
                slice(&[0, 1], &[2, 3], &[1, 2]),
                vec![f23.clone()],
                vec![a(F32, &[2, 1])],
            ),
            (
                pad(&[1, 0], &[0, -1], &[0, 1]),
                vec![f23.clone(), s(F32)],
                vec![a(F32, &[3, 4])],
            ),
            (
                P::Concatenate { axis: 0 },
                vec![f23.clone(), f23.clone()],
                vec![a(F32, &[4, 3])],
            ),
            (
                P::Rev { axes: vec![1] },
                vec![f23.clone()],
                vec![f23.clone()],
            ),
            (
                P::DynamicSlice {
                    slice_sizes: vec![1, 2],
                },
                vec![f23.clone(), s(I32), s(I32)],
                vec![a(F32, &[1, 2])],
            ),
            (
                P::DynamicUpdateSlice,
                vec![f23.clone(), a(F32, &[1, 3]), s(I32), s(U32)],
                vec![f23.clone()],
            ),
            (
                P::Gather { axis: 1 },
                vec![f23.clone(), a(I32, &[4])],
                vec![a(F32, &[2, 4])],
            ),
            (
                P::Scatter {
                    axis: 0,
                    kind: K::Add,
                },
                vec![f23.clone(), a(I32, &[5]), a(F32, &[5, 3])],
                vec![f23.clone()],
            ),
            (
                P::Iota {
                    dtype: I32,
                    shape: sh(&[2, 3]),
                    dimension: 1,
                },
                vec![],
                vec![a(I32, &[2, 3])],
            ),
            (
                P::RandomBits { shape: sh(&[2, 3]) },
                vec![a(U32, &[8])],
                vec![a(U32, &[2, 3])],
            ),
            (P::StopGradient, vec![f23.clone()], vec![f23.clone()]),
            (
                P::Call {
                    jaxpr: f.clone(),
                    name: "f".into(),
                },
                vec![f2.clone()],
                vec![f2.clone()],
            ),
            (
                P::Cond {
                    branches: vec![identity(&[a(F32, &[2])]), f.clone()],
                },
                vec![s(I32), f2.clone()],
                vec![f2.clone()],
            ),
            (
                P::While {
                    cond_jaxpr: while_cond(),
                    body_jaxpr: while_body(),
                },
                vec![s(I32)],
                vec![s(I32)],
            ),
            (
                scan(scan_body(), 5, 1, 1),
                vec![s(F32), a(F32, &[3]), a(F32, &[5, 3])],
                vec![a(F32, &[3]), a(F32, &[5])],
            ),
            (
                P::CustomJvpCall {
                    call: f.clone(),
                    jvp: identity(&[f2.clone(), f2.clone()]),
                },
                vec![f2.clone()],
                vec![f2.clone()],
            ),
            (
                P::CustomVjpCall {
                    call: f.clone(),
                    fwd: f.clone(),
                    bwd: f.clone(),
                    num_outputs: 1,
                },
                vec![f2.clone()],
                vec![f2.clone()],
            ),
            (
                P::CustomLin {
                    bwd: identity(&[s(F32), f2.clone()]),
                    num_residuals: 1,
                },
                vec![s(F32), s(F32), f2.clone()],
                vec![f2.clone()],
            ),
        ]);
        v
    }

    #[test]
    fn every_primitive_has_a_valid_example() {
        let examples = examples();
        let names: BTreeSet<&str> = examples.iter().map(|(p, _, _)| p.name()).collect();
        assert_eq!(names.len(), examples.len(), "an example is repeated");
        assert_eq!(
            names.len(),
            crate::primitive::PRIMITIVE_NAMES.len(),
            "a primitive has no example"
        );
        for (prim, ins, out) in examples {
            assert_eq!(
                crate::primitive::PRIMITIVE_NAMES[prim.ordinal()],
                prim.name()
            );
            assert_eq!(abstract_eval(&prim, &ins), Ok(out), "{}", prim.name());
        }
    }

    #[test]
    fn unary_rules() {
        check(vec![
            (P::Exp, vec![a(F32, &[3, 4])], Ok(vec![a(F32, &[3, 4])])),
            (P::Log, vec![s(F64)], Ok(vec![s(F64)])),
            (P::Sqrt, vec![a(F32, &[0, 2])], Ok(vec![a(F32, &[0, 2])])),
            (P::Neg, vec![a(U32, &[2])], Ok(vec![a(U32, &[2])])),
            (P::Sign, vec![s(I32)], Ok(vec![s(I32)])),
            (P::Not, vec![a(U32, &[2])], Ok(vec![a(U32, &[2])])),
            (P::IsFinite, vec![s(F64)], Ok(vec![s(Bool)])),
            (
                P::StopGradient,
                vec![a(Bool, &[0])],
                Ok(vec![a(Bool, &[0])]),
            ),
            (
                P::Exp,
                vec![a(I32, &[3])],
                Err("exp: expected a float operand, got i32"),
            ),
            (
                P::Floor,
                vec![s(Bool)],
                Err("floor: expected a float operand, got bool"),
            ),
            (
                P::Abs,
                vec![s(Bool)],
                Err("abs: expected a numeric operand, got bool"),
            ),
            (
                P::Not,
                vec![s(F32)],
                Err("not: expected a bool or integer operand, got f32"),
            ),
            (
                P::IsFinite,
                vec![s(I32)],
                Err("is_finite: expected a float operand, got i32"),
            ),
            (
                P::Exp,
                vec![s(F32), s(F32)],
                Err("exp: expected 1 operand, got 2"),
            ),
            (
                P::StopGradient,
                vec![],
                Err("stop_gradient: expected 1 operand, got 0"),
            ),
        ]);
    }

    #[test]
    fn binary_and_select() {
        let f34 = a(F32, &[3, 4]);
        check(vec![
            (P::Add, vec![f34.clone(), s(F32)], Ok(vec![f34.clone()])),
            (P::Mul, vec![s(F32), f34.clone()], Ok(vec![f34.clone()])),
            (P::Sub, vec![s(I32), s(I32)], Ok(vec![s(I32)])),
            (
                P::Div,
                vec![a(U32, &[0]), a(U32, &[0])],
                Ok(vec![a(U32, &[0])]),
            ),
            (P::Pow, vec![s(F64), a(F64, &[2])], Ok(vec![a(F64, &[2])])),
            (
                P::Xor,
                vec![s(Bool), a(Bool, &[2])],
                Ok(vec![a(Bool, &[2])]),
            ),
            (P::Eq, vec![a(Bool, &[2]), s(Bool)], Ok(vec![a(Bool, &[2])])),
            (P::Ge, vec![a(U32, &[2]), s(U32)], Ok(vec![a(Bool, &[2])])),
            (
                P::Add,
                vec![f34.clone(), a(F32, &[5])],
                Err("add: operands must have equal shapes (or rank 0): [3,4] vs [5]"),
            ),
            (
                P::Max,
                vec![a(F32, &[1]), a(F32, &[3])],
                Err("max: operands must have equal shapes (or rank 0): [1] vs [3]"),
            ),
            (
                P::Add,
                vec![s(F32), s(I32)],
                Err("add: operands must have equal dtypes: f32 vs i32"),
            ),
            (
                P::Rem,
                vec![s(Bool), s(Bool)],
                Err("rem: expected a numeric operand, got bool"),
            ),
            (
                P::Pow,
                vec![s(I32), s(I32)],
                Err("pow: expected a float operand, got i32"),
            ),
            (
                P::Min,
                vec![s(Bool), s(Bool)],
                Err("min: expected a numeric operand, got bool"),
            ),
            (
                P::Or,
                vec![s(F32), s(F32)],
                Err("or: expected a bool or integer operand, got f32"),
            ),
            (
                P::Lt,
                vec![s(Bool), s(Bool)],
                Err("lt: expected a numeric operand, got bool"),
            ),
            (P::Sub, vec![s(F32)], Err("sub: expected 2 operands, got 1")),
            (
                P::Select,
                vec![a(Bool, &[3]), a(F32, &[3]), s(F32)],
                Ok(vec![a(F32, &[3])]),
            ),
            (
                P::Select,
                vec![s(Bool), s(I32), a(I32, &[2])],
                Ok(vec![a(I32, &[2])]),
            ),
            (
                P::Select,
                vec![s(F32), s(F32), s(F32)],
                Err("select: predicate must be bool, got f32"),
            ),
            (
                P::Select,
                vec![s(Bool), s(F32), s(I32)],
                Err("select: operands must have equal dtypes: f32 vs i32"),
            ),
            (
                P::Select,
                vec![a(Bool, &[2]), a(F32, &[3]), a(F32, &[3])],
                Err("select: operands must have equal shapes (or rank 0): [2] vs [3]"),
            ),
            (
                P::Select,
                vec![s(Bool), s(F32)],
                Err("select: expected 3 operands, got 2"),
            ),
            (
                P::ConvertElementType { new_dtype: F64 },
                vec![a(Bool, &[0])],
                Ok(vec![a(F64, &[0])]),
            ),
            (
                P::ConvertElementType { new_dtype: F64 },
                vec![],
                Err("convert_element_type: expected 1 operand, got 0"),
            ),
        ]);
    }

    #[test]
    fn broadcast_reshape_transpose() {
        check(vec![
            (
                bcast(&[2, 3], &[1]),
                vec![a(F32, &[3])],
                Ok(vec![a(F32, &[2, 3])]),
            ),
            (bcast(&[2], &[]), vec![s(I32)], Ok(vec![a(I32, &[2])])),
            (
                bcast(&[4, 3], &[0, 1]),
                vec![a(F32, &[1, 3])],
                Ok(vec![a(F32, &[4, 3])]),
            ),
            (
                bcast(&[2, 0], &[1]),
                vec![a(F32, &[0])],
                Ok(vec![a(F32, &[2, 0])]),
            ),
            (
                bcast(&[2, 0], &[1]),
                vec![a(F32, &[1])],
                Ok(vec![a(F32, &[2, 0])]),
            ),
            (
                bcast(&[3], &[]),
                vec![a(F32, &[3])],
                Err(
                    "broadcast_in_dim: broadcast_dimensions () need one entry per dimension of \
                     operand [3]",
                ),
            ),
            (
                bcast(&[3, 3], &[1, 0]),
                vec![a(F32, &[3, 3])],
                Err("broadcast_in_dim: broadcast_dimensions (1,0) must be strictly increasing"),
            ),
            (
                bcast(&[3], &[1]),
                vec![a(F32, &[3])],
                Err("broadcast_in_dim: broadcast dimension 1 out of range for shape [3]"),
            ),
            (
                bcast(&[4], &[0]),
                vec![a(F32, &[3])],
                Err(
                    "broadcast_in_dim: operand [3] dimension 0 of size 3 cannot broadcast to \
                     size 4 of [4]",
                ),
            ),
            (
                bcast(&[BIG, 2], &[]),
                vec![s(F32)],
                Err("broadcast_in_dim: shape [18446744073709551615,2] has too many elements"),
            ),
            (
                P::Reshape {
                    new_sizes: sh(&[6]),
                },
                vec![a(F32, &[2, 3])],
                Ok(vec![a(F32, &[6])]),
            ),
            (
                P::Reshape {
                    new_sizes: sh(&[1, 1]),
                },
                vec![s(F32)],
                Ok(vec![a(F32, &[1, 1])]),
            ),
            (
                P::Reshape {
                    new_sizes: sh(&[5, 0]),
                },
                vec![a(F32, &[0, 3])],
                Ok(vec![a(F32, &[5, 0])]),
            ),
            (
                P::Reshape {
                    new_sizes: sh(&[BIG, 0]),
                },
                vec![a(F32, &[0])],
                Ok(vec![a(F32, &[BIG, 0])]),
            ),
            (
                P::Reshape {
                    new_sizes: sh(&[4]),
                },
                vec![a(F32, &[2, 3])],
                Err("reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)"),
            ),
            (
                P::Reshape {
                    new_sizes: sh(&[BIG, 2]),
                },
                vec![a(F32, &[2])],
                Err("reshape: shape [18446744073709551615,2] has too many elements"),
            ),
            (
                P::Transpose {
                    permutation: vec![2, 0, 1],
                },
                vec![a(F32, &[2, 3, 4])],
                Ok(vec![a(F32, &[4, 2, 3])]),
            ),
            (
                P::Transpose {
                    permutation: vec![],
                },
                vec![s(I32)],
                Ok(vec![s(I32)]),
            ),
            (
                P::Transpose {
                    permutation: vec![0, 0],
                },
                vec![a(F32, &[2, 3])],
                Err("transpose: permutation (0,0) is not a permutation of 0..2"),
            ),
            (
                P::Transpose {
                    permutation: vec![0, 1, 2],
                },
                vec![a(F32, &[2, 3])],
                Err("transpose: permutation (0,1,2) is not a permutation of 0..2"),
            ),
            (
                P::Transpose {
                    permutation: vec![0, BIG],
                },
                vec![a(F32, &[2, 3])],
                Err("transpose: permutation (0,18446744073709551615) is not a permutation of 0..2"),
            ),
        ]);
    }

    #[test]
    fn reductions_rules() {
        let argmax = |axis, index_dtype| P::ArgMax { axis, index_dtype };
        check(vec![
            (
                reduce_sum(&[0, 2]),
                vec![a(F32, &[2, 3, 4])],
                Ok(vec![a(F32, &[3])]),
            ),
            (
                P::ReduceMax { axes: vec![] },
                vec![a(I32, &[2])],
                Ok(vec![a(I32, &[2])]),
            ),
            (
                P::ReduceProd { axes: vec![] },
                vec![s(F64)],
                Ok(vec![s(F64)]),
            ),
            (
                P::ReduceMin { axes: vec![0] },
                vec![a(U32, &[0, 3])],
                Ok(vec![a(U32, &[3])]),
            ),
            (
                reduce_sum(&[3]),
                vec![a(F32, &[2, 3])],
                Err("reduce_sum: axis 3 out of range for rank 2"),
            ),
            (
                reduce_sum(&[1, 0]),
                vec![a(F32, &[2, 3])],
                Err("reduce_sum: axes (1,0) must be distinct and in ascending order"),
            ),
            (
                P::ReduceProd { axes: vec![0, 0] },
                vec![a(F32, &[2, 3])],
                Err("reduce_prod: axes (0,0) must be distinct and in ascending order"),
            ),
            (
                P::ReduceMax { axes: vec![0] },
                vec![a(Bool, &[2])],
                Err("reduce_max: expected a numeric operand, got bool"),
            ),
            (
                argmax(1, I32),
                vec![a(F32, &[2, 3])],
                Ok(vec![a(I32, &[2])]),
            ),
            (
                argmax(0, U32),
                vec![a(I32, &[3, 0])],
                Ok(vec![a(U32, &[0])]),
            ),
            (
                argmax(2, I32),
                vec![a(F32, &[2, 3])],
                Err("argmax: axis 2 out of range for rank 2"),
            ),
            (
                argmax(0, I32),
                vec![s(F32)],
                Err("argmax: axis 0 out of range for rank 0"),
            ),
            (
                argmax(0, I32),
                vec![a(F32, &[0, 3])],
                Err("argmax: axis 0 of [0,3] is empty"),
            ),
            (
                P::ArgMin {
                    axis: 0,
                    index_dtype: F32,
                },
                vec![a(F32, &[3])],
                Err("argmin: index_dtype must be i32 or u32, got f32"),
            ),
            (
                argmax(0, I32),
                vec![a(Bool, &[3])],
                Err("argmax: expected a numeric operand, got bool"),
            ),
            (
                P::Cumsum {
                    axis: 0,
                    reverse: false,
                },
                vec![a(U32, &[0])],
                Ok(vec![a(U32, &[0])]),
            ),
            (
                P::Cumsum {
                    axis: 1,
                    reverse: false,
                },
                vec![a(F32, &[4])],
                Err("cumsum: axis 1 out of range for rank 1"),
            ),
            (
                P::Cumsum {
                    axis: 0,
                    reverse: true,
                },
                vec![a(Bool, &[4])],
                Err("cumsum: expected a numeric operand, got bool"),
            ),
        ]);
    }

    #[test]
    fn dot_general_rules() {
        check(vec![
            (
                dot(&[1], &[0], &[], &[]),
                vec![a(F32, &[2, 3]), a(F32, &[3, 4])],
                Ok(vec![a(F32, &[2, 4])]),
            ),
            (
                dot(&[2], &[1], &[0], &[0]),
                vec![a(F64, &[5, 2, 3]), a(F64, &[5, 3, 4])],
                Ok(vec![a(F64, &[5, 2, 4])]),
            ),
            (
                dot(&[2], &[0], &[1], &[2]),
                vec![a(F32, &[2, 5, 3]), a(F32, &[3, 4, 5])],
                Ok(vec![a(F32, &[5, 2, 4])]),
            ),
            (
                dot(&[], &[], &[], &[]),
                vec![a(I32, &[2]), a(I32, &[3])],
                Ok(vec![a(I32, &[2, 3])]),
            ),
            (
                dot(&[0], &[0], &[], &[]),
                vec![a(U32, &[3]), a(U32, &[3])],
                Ok(vec![s(U32)]),
            ),
            (
                dot(&[1], &[0], &[], &[]),
                vec![a(F32, &[2, 0]), a(F32, &[0, 4])],
                Ok(vec![a(F32, &[2, 4])]),
            ),
            (
                dot(&[1], &[0], &[], &[]),
                vec![a(F32, &[2, 3]), a(F32, &[4, 5])],
                Err(
                    "dot_general: contracting dimension sizes differ: lhs [2,3] dim 1 is 3, \
                     rhs [4,5] dim 0 is 4",
                ),
            ),
            (
                dot(&[2], &[1], &[0], &[0]),
                vec![a(F32, &[5, 2, 3]), a(F32, &[6, 3, 4])],
                Err(
                    "dot_general: batch dimension sizes differ: lhs [5,2,3] dim 0 is 5, rhs \
                     [6,3,4] dim 0 is 6",
                ),
            ),
            (
                dot(&[1], &[], &[], &[]),
                vec![a(F32, &[2, 3]), a(F32, &[3])],
                Err("dot_general: lhs_contract (1) and rhs_contract () differ in length"),
            ),
            (
                dot(&[], &[], &[0], &[]),
                vec![a(F32, &[2, 3]), a(F32, &[3])],
                Err("dot_general: lhs_batch (0) and rhs_batch () differ in length"),
            ),
            (
                dot(&[2], &[0], &[], &[]),
                vec![a(F32, &[2, 3]), a(F32, &[3])],
                Err("dot_general: lhs dimension 2 out of range for lhs [2,3]"),
            ),
            (
                dot(&[1], &[0], &[0], &[0]),
                vec![a(F32, &[3, 3]), a(F32, &[3, 3])],
                Err("dot_general: rhs dimension 0 repeated in rhs_batch/rhs_contract"),
            ),
            (
                dot(&[0], &[0], &[], &[]),
                vec![a(F32, &[3]), a(F64, &[3])],
                Err("dot_general: operands must have equal dtypes: f32 vs f64"),
            ),
            (
                dot(&[0], &[0], &[], &[]),
                vec![a(Bool, &[3]), a(Bool, &[3])],
                Err("dot_general: expected a numeric operand, got bool"),
            ),
            (
                dot(&[0], &[0], &[], &[]),
                vec![a(F32, &[3])],
                Err("dot_general: expected 2 \
                 operands, got 1"),
            ),
        ]);
    }

    #[test]
    fn slice_and_pad() {
        check(vec![
            (
                slice(&[1], &[8], &[3]),
                vec![a(F32, &[10])],
                Ok(vec![a(F32, &[3])]),
            ),
            (
                slice(&[1], &[7], &[3]),
                vec![a(F32, &[10])],
                Ok(vec![a(F32, &[2])]),
            ),
            (
                slice(&[0, 1], &[5, 1], &[2, 1]),
                vec![a(F32, &[5, 4])],
                Ok(vec![a(F32, &[3, 0])]),
            ),
            (
                slice(&[0], &[0], &[BIG]),
                vec![a(I32, &[0])],
                Ok(vec![a(I32, &[0])]),
            ),
            (slice(&[], &[], &[]), vec![s(F32)], Ok(vec![s(F32)])),
            (
                slice(&[0], &[1, 2], &[1]),
                vec![a(F32, &[5])],
                Err(
                    "slice: parameters need one entry per dimension of [5], got lengths start \
                     1, limit 2, strides 1",
                ),
            ),
            (
                slice(&[0, 0], &[1, 1], &[1, 0]),
                vec![a(F32, &[2, 2])],
                Err("slice: stride of dimension 1 must be >= 1, got 0"),
            ),
            (
                slice(&[3], &[2], &[1]),
                vec![a(F32, &[4])],
                Err("slice: dimension 0 of [4]: need start <= limit <= 4, got start 3, limit 2"),
            ),
            (
                slice(&[0], &[5], &[1]),
                vec![a(F32, &[4])],
                Err("slice: dimension 0 of [4]: need start <= limit <= 4, got start 0, limit 5"),
            ),
            (
                pad(&[1], &[2], &[1]),
                vec![a(F32, &[3]), s(F32)],
                Ok(vec![a(F32, &[8])]),
            ),
            (
                pad(&[-1], &[-1], &[0]),
                vec![a(F32, &[3]), s(F32)],
                Ok(vec![a(F32, &[1])]),
            ),
            (
                pad(&[-3], &[0], &[0]),
                vec![a(F32, &[3]), s(F32)],
                Ok(vec![a(F32, &[0])]),
            ),
            (
                pad(&[-2], &[1], &[2]),
                vec![a(I32, &[3]), s(I32)],
                Ok(vec![a(I32, &[6])]),
            ),
            (
                pad(&[2], &[1], &[5]),
                vec![a(Bool, &[0]), s(Bool)],
                Ok(vec![a(Bool, &[3])]),
            ),
            (pad(&[], &[], &[]), vec![s(F32), s(F32)], Ok(vec![s(F32)])),
            (
                pad(&[-4], &[0], &[0]),
                vec![a(F32, &[3]), s(F32)],
                Err(
                    "pad: padding dimension 0 of [3] with low -4, high 0, interior 0 gives a \
                     negative (or too large) size",
                ),
            ),
            (
                pad(&[0], &[0], &[BIG]),
                vec![a(F32, &[3]), s(F32)],
                Err(
                    "pad: padding dimension 0 of [3] with low 0, high 0, interior \
                     18446744073709551615 gives a negative (or too large) size",
                ),
            ),
            (
                pad(&[0], &[0], &[0]),
                vec![a(F32, &[3]), a(F32, &[1])],
                Err("pad: padding value must be a rank-0 f32, got f32[1]"),
            ),
            (
                pad(&[0], &[0], &[0]),
                vec![a(F32, &[3]), s(F64)],
                Err("pad: padding value must be a rank-0 f32, got f64[]"),
            ),
            (
                pad(&[0], &[0], &[]),
                vec![a(F32, &[3]), s(F32)],
                Err(
                    "pad: parameters need one entry per dimension of [3], got lengths low 1, \
                     high 1, interior 0",
                ),
            ),
            (
                pad(&[0], &[0], &[0]),
                vec![a(F32, &[3])],
                Err("pad: expected 2 operands, got 1"),
            ),
        ]);
    }

    #[test]
    fn concatenate_and_rev() {
        let cat = |axis| P::Concatenate { axis };
        check(vec![
            (
                cat(0),
                vec![a(F32, &[2, 3]), a(F32, &[4, 3])],
                Ok(vec![a(F32, &[6, 3])]),
            ),
            (cat(1), vec![a(I32, &[2, 3])], Ok(vec![a(I32, &[2, 3])])),
            (
                cat(0),
                vec![a(F32, &[0, 3]), a(F32, &[0, 3])],
                Ok(vec![a(F32, &[0, 3])]),
            ),
            (
                cat(0),
                vec![],
                Err("concatenate: expected at least 1 operand, got 0"),
            ),
            (
                cat(0),
                vec![a(F32, &[2]), a(I32, &[2])],
                Err("concatenate: operands must have equal dtypes: f32 vs i32"),
            ),
            (
                cat(0),
                vec![a(F32, &[2, 3]), a(F32, &[2, 4])],
                Err("concatenate: operand shapes [2,3] and [2,4] differ outside axis 0"),
            ),
            (
                cat(0),
                vec![a(F32, &[2, 3]), a(F32, &[2])],
                Err("concatenate: operand shapes [2,3] and [2] differ outside axis 0"),
            ),
            (
                cat(2),
                vec![a(F32, &[2, 3])],
                Err("concatenate: axis 2 out of range for rank 2"),
            ),
            (
                cat(0),
                vec![s(F32), s(F32)],
                Err("concatenate: axis 0 out of range for rank 0"),
            ),
            (
                cat(0),
                vec![a(F32, &[BIG]), a(F32, &[1])],
                Err("concatenate: concatenated size along axis 0 overflows"),
            ),
            (
                P::Rev { axes: vec![1, 0] },
                vec![a(F32, &[2, 3])],
                Ok(vec![a(F32, &[2, 3])]),
            ),
            (P::Rev { axes: vec![] }, vec![s(Bool)], Ok(vec![s(Bool)])),
            (
                P::Rev { axes: vec![2] },
                vec![a(F32, &[2, 3])],
                Err("rev: axis 2 out of range for rank 2"),
            ),
            (
                P::Rev { axes: vec![0, 0] },
                vec![a(F32, &[2])],
                Err("rev: axis 0 repeated in axes (0,0)"),
            ),
        ]);
    }

    #[test]
    fn dynamic_slicing() {
        let ds = |sizes: &[usize]| P::DynamicSlice {
            slice_sizes: sizes.to_vec(),
        };
        let dus = P::DynamicUpdateSlice;
        let f54 = a(F32, &[5, 4]);
        check(vec![
            (
                ds(&[2, 4]),
                vec![f54.clone(), s(I32), s(U32)],
                Ok(vec![a(F32, &[2, 4])]),
            ),
            (
                ds(&[0, 0]),
                vec![f54.clone(), s(I32), s(I32)],
                Ok(vec![a(F32, &[0, 0])]),
            ),
            (ds(&[]), vec![s(F32)], Ok(vec![s(F32)])),
            (
                ds(&[]),
                vec![],
                Err("dynamic_slice: expected at least 1 operand, got 0"),
            ),
            (
                ds(&[2, 4]),
                vec![f54.clone(), s(I32)],
                Err("dynamic_slice: expected 2 start indices (one per dimension of [5,4]), got 1"),
            ),
            (
                ds(&[2, 4]),
                vec![f54.clone(), s(F32), s(I32)],
                Err("dynamic_slice: start index 0 must be a rank-0 i32 or u32, got f32[]"),
            ),
            (
                ds(&[2, 4]),
                vec![f54.clone(), s(I32), a(I32, &[1])],
                Err("dynamic_slice: start index 1 must be a rank-0 i32 or u32, got i32[1]"),
            ),
            (
                ds(&[6, 4]),
                vec![f54.clone(), s(I32), s(I32)],
                Err("dynamic_slice: slice_sizes (6,4) do not fit in operand [5,4]"),
            ),
            (
                ds(&[2]),
                vec![f54.clone(), s(I32), s(I32)],
                Err(
                    "dynamic_slice: parameters need one entry per dimension of [5,4], got \
                     lengths slice_sizes 1",
                ),
            ),
            (
                dus.clone(),
                vec![f54.clone(), a(F32, &[2, 4]), s(I32), s(I32)],
                Ok(vec![f54.clone()]),
            ),
            (
                dus.clone(),
                vec![f54.clone(), a(F32, &[0, 0]), s(U32), s(I32)],
                Ok(vec![f54.clone()]),
            ),
            (dus.clone(), vec![s(I32), s(I32)], Ok(vec![s(I32)])),
            (
                dus.clone(),
                vec![f54.clone()],
                Err("dynamic_update_slice: expected at least 2 \
                 operands, got 1"),
            ),
            (
                dus.clone(),
                vec![f54.clone(), a(I32, &[2, 4]), s(I32), s(I32)],
                Err("dynamic_update_slice: update dtype i32 differs from operand dtype f32"),
            ),
            (
                dus.clone(),
                vec![f54.clone(), a(F32, &[4]), s(I32), s(I32)],
                Err(
                    "dynamic_update_slice: update [4] does not fit in operand [5,4] (ranks \
                     must match)",
                ),
            ),
            (
                dus.clone(),
                vec![f54.clone(), a(F32, &[2, 5]), s(I32), s(I32)],
                Err(
                    "dynamic_update_slice: update [2,5] does not fit in operand [5,4] (ranks \
                     must match)",
                ),
            ),
            (
                dus,
                vec![f54.clone(), a(F32, &[2, 4]), s(I32)],
                Err(
                    "dynamic_update_slice: expected 2 start indices (one per dimension of \
                     [5,4]), got 1",
                ),
            ),
        ]);
    }

    #[test]
    fn gather_and_scatter() {
        let gather = |axis| P::Gather { axis };
        let scatter = |axis, kind| P::Scatter { axis, kind };
        let f53 = a(F32, &[5, 3]);
        check(vec![
            (
                gather(0),
                vec![f53.clone(), a(I32, &[2, 2])],
                Ok(vec![a(F32, &[2, 2, 3])]),
            ),
            (gather(1), vec![f53.clone(), s(U32)], Ok(vec![a(F32, &[5])])),
            (
                gather(0),
                vec![a(Bool, &[0]), a(I32, &[4])],
                Ok(vec![a(Bool, &[4])]),
            ),
            (
                gather(0),
                vec![f53.clone(), a(F32, &[2])],
                Err("gather: indices must be integers (i32 or u32), got f32[2]"),
            ),
            (
                gather(2),
                vec![f53.clone(), a(I32, &[2])],
                Err("gather: axis 2 out of range for rank 2"),
            ),
            (
                gather(0),
                vec![s(F32), s(I32)],
                Err("gather: axis 0 out of range for rank 0"),
            ),
            (
                gather(0),
                vec![a(F32, &[BIG]), a(I32, &[2])],
                Ok(vec![a(F32, &[2])]),
            ),
            (
                gather(0),
                vec![a(F32, &[2, BIG]), a(I32, &[3])],
                Err("gather: shape [3,18446744073709551615] has too many elements"),
            ),
            (
                scatter(0, K::Add),
                vec![f53.clone(), a(U32, &[2]), a(F32, &[2, 3])],
                Ok(vec![f53.clone()]),
            ),
            (
                scatter(1, K::Max),
                vec![f53.clone(), s(I32), a(F32, &[5])],
                Ok(vec![f53.clone()]),
            ),
            (
                scatter(0, K::Set),
                vec![a(Bool, &[4]), a(I32, &[0]), a(Bool, &[0])],
                Ok(vec![a(Bool, &[4])]),
            ),
            (
                scatter(0, K::Add),
                vec![f53.clone(), a(I32, &[2]), a(F32, &[3])],
                Err(
                    "scatter: updates shape [3] must be [2,3] (operand [5,3], indices [2], axis 0)",
                ),
            ),
            (
                scatter(0, K::Mul),
                vec![f53.clone(), a(I32, &[2]), a(I32, &[2, 3])],
                Err("scatter: updates dtype i32 differs from operand dtype f32"),
            ),
            (
                scatter(0, K::Add),
                vec![a(Bool, &[4]), a(I32, &[1]), a(Bool, &[1])],
                Err("scatter: kind add needs a numeric operand, got bool"),
            ),
            (
                scatter(0, K::Min),
                vec![f53.clone(), s(F32), a(F32, &[3])],
                Err("scatter: indices must be integers (i32 or u32), got f32[]"),
            ),
            (
                scatter(0, K::Set),
                vec![f53.clone()],
                Err("scatter: expected 3 operands, got 1"),
            ),
        ]);
    }

    #[test]
    fn creation_rules() {
        let iota = |dtype, shape: &[usize], dimension| P::Iota {
            dtype,
            shape: sh(shape),
            dimension,
        };
        let bits = |shape: &[usize]| P::RandomBits { shape: sh(shape) };
        check(vec![
            (iota(I32, &[2, 3], 1), vec![], Ok(vec![a(I32, &[2, 3])])),
            (iota(F32, &[0], 0), vec![], Ok(vec![a(F32, &[0])])),
            (iota(U32, &[BIG, 0], 0), vec![], Ok(vec![a(U32, &[BIG, 0])])),
            (
                iota(Bool, &[2], 0),
                vec![],
                Err("iota: dtype must be numeric, got bool"),
            ),
            (
                iota(I32, &[2, 3], 2),
                vec![],
                Err("iota: dimension 2 out of range for shape [2,3]"),
            ),
            (
                iota(I32, &[], 0),
                vec![],
                Err("iota: dimension 0 out of range for shape []"),
            ),
            (
                iota(I32, &[2], 0),
                vec![s(I32)],
                Err("iota: expected 0 operands, got 1"),
            ),
            (
                iota(I32, &[BIG, BIG], 0),
                vec![],
                Err(
                    "iota: shape [18446744073709551615,18446744073709551615] has too many elements",
                ),
            ),
            (bits(&[2, 3]), vec![a(U32, &[8])], Ok(vec![a(U32, &[2, 3])])),
            (bits(&[]), vec![a(U32, &[8])], Ok(vec![s(U32)])),
            (
                bits(&[2]),
                vec![a(U32, &[4])],
                Err("random_bits: key must be u32[8], got u32[4]"),
            ),
            (
                bits(&[2]),
                vec![a(I32, &[8])],
                Err("random_bits: key must be u32[8], got i32[8]"),
            ),
            (
                bits(&[2]),
                vec![],
                Err("random_bits: expected 1 operand, got 0"),
            ),
        ]);
    }

    #[test]
    fn call_and_custom_calls() {
        let (f2, f3) = (a(F32, &[2]), a(F32, &[3]));
        let f = negate(&[a(F32, &[2])]);
        let two = jaxpr(&[f2.clone(), s(I32)], |b, v| {
            vec![
                eqn(b, P::Exp, vec![v[0].into()]),
                v[1].into(),
                Atom::Lit(Scalar::Bool(true)),
            ]
        });
        let call = |jaxpr: &Arc<ClosedJaxpr>| P::Call {
            jaxpr: jaxpr.clone(),
            name: "f".into(),
        };
        let jvp = |call: &Arc<ClosedJaxpr>| P::CustomJvpCall {
            call: call.clone(),
            jvp: f.clone(),
        };
        let vjp = |call: &Arc<ClosedJaxpr>| P::CustomVjpCall {
            call: call.clone(),
            fwd: f.clone(),
            bwd: f.clone(),
            num_outputs: 1,
        };
        let outs = vec![f2.clone(), s(I32), s(Bool)];
        check(vec![
            (call(&two), vec![f2.clone(), s(I32)], Ok(outs.clone())),
            (jvp(&two), vec![f2.clone(), s(I32)], Ok(outs.clone())),
            (vjp(&two), vec![f2.clone(), s(I32)], Ok(outs)),
            (call(&identity(&[])), vec![], Ok(vec![])),
            (
                call(&f),
                vec![f3.clone()],
                Err("call: jaxpr takes (f32[2]), but is given (f32[3])"),
            ),
            (
                call(&f),
                vec![],
                Err("call: jaxpr takes (f32[2]), but is given ()"),
            ),
            (
                jvp(&f),
                vec![f2.clone(), f2.clone()],
                Err("custom_jvp_call: call takes (f32[2]), but is given (f32[2], f32[2])"),
            ),
            (
                vjp(&f),
                vec![a(F64, &[2])],
                Err("custom_vjp_call: call takes (f32[2]), but is given (f64[2])"),
            ),
        ]);
    }

    #[test]
    fn cond_rules() {
        let f2 = a(F32, &[2]);
        let (id, neg) = (identity(&[a(F32, &[2])]), negate(&[a(F32, &[2])]));
        let cond = |branches: Vec<Arc<ClosedJaxpr>>| P::Cond { branches };
        let to_i32 = jaxpr(&[a(F32, &[2])], |b, v| {
            vec![eqn(
                b,
                P::ConvertElementType { new_dtype: I32 },
                vec![v[0].into()],
            )]
        });
        check(vec![
            (
                cond(vec![id.clone(), neg.clone()]),
                vec![s(I32), f2.clone()],
                Ok(vec![f2.clone()]),
            ),
            (
                cond(vec![neg.clone()]),
                vec![s(I32), f2.clone()],
                Ok(vec![f2.clone()]),
            ),
            (cond(vec![identity(&[])]), vec![s(I32)], Ok(vec![])),
            (
                cond(vec![id.clone()]),
                vec![s(Bool), f2.clone()],
                Err("cond: branch index must be i32[], got bool[]"),
            ),
            (
                cond(vec![id.clone()]),
                vec![a(I32, &[1]), f2.clone()],
                Err("cond: branch index must be i32[], got i32[1]"),
            ),
            (
                cond(vec![]),
                vec![s(I32), f2.clone()],
                Err("cond: needs at least one branch"),
            ),
            (
                cond(vec![id.clone()]),
                vec![],
                Err("cond: expected at least 1 operand (the branch index), got 0"),
            ),
            (
                cond(vec![id.clone(), neg]),
                vec![s(I32), a(F32, &[3])],
                Err("cond: branch 0 takes (f32[2]), but is given (f32[3])"),
            ),
            (
                cond(vec![id.clone(), identity(&[s(F32)])]),
                vec![s(I32), f2.clone()],
                Err("cond: branch 1 takes (f32[]), but is given (f32[2])"),
            ),
            (
                cond(vec![id, to_i32]),
                vec![s(I32), f2.clone()],
                Err("cond: branch 1 returns (i32[2]), but branch 0 returns (f32[2])"),
            ),
        ]);
    }

    #[test]
    fn while_loop_rules() {
        let w = |c: &Arc<ClosedJaxpr>, b: &Arc<ClosedJaxpr>| P::While {
            cond_jaxpr: c.clone(),
            body_jaxpr: b.clone(),
        };
        let (cond, body) = (while_cond(), while_body());
        let not_bool = identity(&[s(I32)]);
        let two_carry = [s(I32), a(F32, &[2])];
        let cond2 = jaxpr(&two_carry, |b, v| {
            vec![eqn(b, P::Lt, vec![v[0].into(), Atom::Lit(Scalar::I32(3))])]
        });
        let body2 = jaxpr(&two_carry, |b, v| {
            vec![
                eqn(b, P::Add, vec![v[0].into(), Atom::Lit(Scalar::I32(1))]),
                eqn(b, P::Neg, vec![v[1].into()]),
            ]
        });
        let swap_types = jaxpr(&[s(I32)], |b, v| {
            vec![eqn(
                b,
                P::ConvertElementType { new_dtype: F32 },
                vec![v[0].into()],
            )]
        });
        check(vec![
            (w(&cond, &body), vec![s(I32)], Ok(vec![s(I32)])),
            (
                w(&cond2, &body2),
                two_carry.to_vec(),
                Ok(two_carry.to_vec()),
            ),
            (
                w(&cond, &body),
                vec![s(F32)],
                Err("while: cond_jaxpr takes (i32[]), but is given (f32[])"),
            ),
            (
                w(&not_bool, &body),
                vec![s(I32)],
                Err("while: cond_jaxpr must return (bool[]), but returns (i32[])"),
            ),
            (
                w(&cond2, &body),
                two_carry.to_vec(),
                Err("while: body_jaxpr takes (i32[]), but is given (i32[], f32[2])"),
            ),
            (
                w(&cond, &swap_types),
                vec![s(I32)],
                Err("while: body_jaxpr must return the carry (i32[]), but returns (f32[])"),
            ),
        ]);
    }

    #[test]
    fn scan_rules() {
        let body = scan_body();
        let (c, acc) = (s(F32), a(F32, &[3]));
        // No ys: a carry-only body over zero-length xs.
        let carry_only = identity(&[a(F32, &[3])]);
        // Body (carry, x) -> (carry, x) that stacks the xs back.
        let echo = identity(&[s(I32), a(F32, &[2])]);
        check(vec![
            (
                scan(body.clone(), 5, 1, 1),
                vec![c.clone(), acc.clone(), a(F32, &[5, 3])],
                Ok(vec![acc.clone(), a(F32, &[5])]),
            ),
            (
                scan(body.clone(), 0, 1, 1),
                vec![c.clone(), acc.clone(), a(F32, &[0, 3])],
                Ok(vec![acc.clone(), a(F32, &[0])]),
            ),
            (
                scan(carry_only.clone(), 7, 0, 1),
                vec![acc.clone()],
                Ok(vec![acc.clone()]),
            ),
            (
                scan(echo, 4, 0, 1),
                vec![s(I32), a(F32, &[4, 2])],
                Ok(vec![s(I32), a(F32, &[4, 2])]),
            ),
            (
                scan(body.clone(), 4, 1, 1),
                vec![c.clone(), acc.clone(), a(F32, &[5, 3])],
                Err("scan: xs operand 0 has shape [5,3], but length is 4"),
            ),
            (
                scan(body.clone(), 5, 1, 1),
                vec![c.clone(), acc.clone(), s(F32)],
                Err("scan: xs operand 0 has shape [], but length is 5"),
            ),
            (
                scan(body.clone(), 5, 1, 1),
                vec![c.clone(), acc.clone(), a(F32, &[5, 4])],
                Err(
                    "scan: body takes (f32[], f32[3], f32[3]), but is given (f32[], f32[3], \
                     f32[4])",
                ),
            ),
            (
                scan(body.clone(), 5, 2, 1),
                vec![c.clone(), acc.clone()],
                Err("scan: num_consts 2 + num_carry 1 exceed the 2 operands"),
            ),
            (
                scan(body.clone(), 5, BIG, 1),
                vec![c.clone()],
                Err("scan: num_consts 18446744073709551615 + num_carry 1 exceed the 1 operands"),
            ),
            (
                scan(body.clone(), 3, 2, 0),
                vec![c.clone(), acc.clone(), a(F32, &[3, 3])],
                Ok(vec![a(F32, &[3, 3]), a(F32, &[3])]),
            ),
            (
                scan(body, 3, 0, 2),
                vec![c, acc.clone(), a(F32, &[3, 3])],
                Err(
                    "scan: body must return the carry (f32[], f32[3]) followed by the ys, but \
                     returns (f32[3], f32[])",
                ),
            ),
            (
                scan(carry_only, BIG, 0, 0),
                vec![a(F32, &[BIG, 3])],
                Err("scan: shape [18446744073709551615,3] has too many elements"),
            ),
        ]);
    }

    /// No operand list and no parameters make a rule panic: every example
    /// primitive, plus some with extreme parameters, on every list of up to
    /// three operands drawn from a pool of odd abstract values.
    #[test]
    fn never_panics() {
        let pool = [
            s(F32),
            s(I32),
            s(Bool),
            a(U32, &[8]),
            a(F32, &[0, 3]),
            a(I32, &[2, 3, 4]),
            a(F32, &[BIG, 2]),
            a(F32, &[BIG, 0]),
        ];
        let mut prims: Vec<Primitive> = examples().into_iter().map(|(p, _, _)| p).collect();
        prims.extend([
            bcast(&[BIG, BIG], &[0, 1]),
            P::Transpose {
                permutation: vec![BIG, BIG, BIG],
            },
            reduce_sum(&[BIG]),
            P::ArgMax {
                axis: BIG,
                index_dtype: U32,
            },
            dot(&[BIG], &[0], &[1], &[BIG]),
            dot(&[0, 1], &[0, 1], &[2], &[2]),
            slice(&[BIG, 0], &[BIG, 3], &[BIG, 1]),
            pad(&[i64::MIN, i64::MAX], &[i64::MAX, i64::MIN], &[BIG, BIG]),
            P::Concatenate { axis: BIG },
            P::Rev { axes: vec![BIG] },
            P::DynamicSlice {
                slice_sizes: vec![BIG, BIG],
            },
            P::Gather { axis: BIG },
            P::Scatter {
                axis: 1,
                kind: K::Add,
            },
            P::Iota {
                dtype: F32,
                shape: sh(&[BIG, 2]),
                dimension: BIG,
            },
            P::RandomBits {
                shape: sh(&[BIG, BIG]),
            },
            scan(scan_body(), BIG, BIG, BIG),
            scan(identity(&[]), BIG, 0, 0),
        ]);
        let mut lists: Vec<Vec<AVal>> = vec![vec![]];
        for x in &pool {
            lists.push(vec![x.clone()]);
            for y in &pool {
                lists.push(vec![x.clone(), y.clone()]);
                for z in &pool {
                    lists.push(vec![x.clone(), y.clone(), z.clone()]);
                }
            }
        }
        for prim in &prims {
            for ins in &lists {
                if let Ok(outs) = abstract_eval(prim, ins) {
                    for out in outs {
                        assert!(element_count("test", &out.shape).is_ok(), "{prim:?}");
                    }
                }
            }
        }
    }
}
