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
#[path = "shape_tests.rs"]
mod tests;
