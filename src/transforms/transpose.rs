//! Transposition of linear jaxprs: the reverse half of reverse-mode
//! differentiation.
//!
//! `linearize` produces a jaxpr that is linear in its inputs (the tangents);
//! [`backward_pass`] walks it backwards, turning output cotangents into input
//! cotangents with [`transpose_rule`], one arm per primitive with no
//! wildcard. Operands of an equation are either *linear* (they depend on
//! the jaxpr's inputs) or *constants* (residuals from the primal
//! computation, literals). Rules are written with traceable operations, so
//! a backward pass can itself be differentiated or staged.

use crate::array::Array;
use crate::lax;
use crate::transforms::jvp::{lit, unreduce, zeros};
use crate::transforms::{control_flow_partial_eval, control_flow_transpose};
use rjax_ir::{AVal, Atom, DType, Error, Jaxpr, Primitive, Result, ScatterKind};

/// An operand of a linear equation, as its transpose rule sees it.
#[derive(Clone)]
pub(crate) enum LinArg {
    /// Depends linearly on the inputs; only its abstract value is known.
    Linear(AVal),
    /// A known value.
    Const(Array),
}

impl LinArg {
    fn aval(&self) -> AVal {
        match self {
            LinArg::Linear(aval) => aval.clone(),
            LinArg::Const(a) => a.aval(),
        }
    }

    fn is_linear(&self) -> bool {
        matches!(self, LinArg::Linear(_))
    }

    fn value(&self, prim: &Primitive) -> Result<&Array> {
        match self {
            LinArg::Const(a) => Ok(a),
            LinArg::Linear(_) => Err(Error::op(
                prim.name(),
                "internal error: transpose needs this operand to be a constant, but it is linear",
            )),
        }
    }
}

/// Runs a linear jaxpr backwards: given cotangents of its outputs (`None`
/// = zero), returns cotangents of the invars marked linear (`None` = zero,
/// and always `None` for constant invars).
///
/// # Errors
/// A rule's error (for example a non-linear primitive in the jaxpr).
pub(crate) fn backward_pass(
    jaxpr: &Jaxpr,
    consts: &[Array],
    args: &[LinArg],
    cts_out: &[Option<Array>],
) -> Result<Vec<Option<Array>>> {
    let n = jaxpr.avals.len();
    let mut known: Vec<Option<Array>> = vec![None; n];
    let mut linear = vec![false; n];
    for (v, c) in jaxpr.constvars.iter().zip(consts) {
        known[v.index()] = Some(c.clone());
    }
    for (v, a) in jaxpr.invars.iter().zip(args) {
        match a {
            LinArg::Const(c) => known[v.index()] = Some(c.clone()),
            LinArg::Linear(_) => linear[v.index()] = true,
        }
    }
    // Forward sweep: which equations are linear; evaluate the others.
    let mut linear_eqns = vec![false; jaxpr.eqns.len()];
    for (i, eqn) in jaxpr.eqns.iter().enumerate() {
        let is_linear = eqn
            .inputs
            .iter()
            .any(|a| matches!(a, Atom::Var(v) if linear[v.index()]));
        if is_linear {
            linear_eqns[i] = true;
            eqn.outputs.iter().for_each(|v| linear[v.index()] = true);
        } else {
            let ins = eqn
                .inputs
                .iter()
                .map(|a| atom_value(a, &known))
                .collect::<Result<Vec<_>>>()?;
            let outs = crate::core::bind(eqn.prim.clone(), &ins)?;
            for (v, o) in eqn.outputs.iter().zip(outs) {
                known[v.index()] = Some(o);
            }
        }
    }
    let mut cts: Vec<Option<Array>> = vec![None; n];
    for (atom, ct) in jaxpr.outvars.iter().zip(cts_out) {
        if let (Atom::Var(v), Some(ct)) = (atom, ct) {
            if linear[v.index()] {
                accumulate(&mut cts[v.index()], ct.clone())?;
            }
        }
    }
    for (i, eqn) in jaxpr.eqns.iter().enumerate().rev() {
        if !linear_eqns[i] {
            continue;
        }
        let eqn_cts: Vec<Option<Array>> =
            eqn.outputs.iter().map(|v| cts[v.index()].take()).collect();
        if eqn_cts.iter().all(Option::is_none) {
            continue;
        }
        let lin_args = eqn
            .inputs
            .iter()
            .map(|a| match a {
                Atom::Var(v) if linear[v.index()] => Ok(LinArg::Linear(jaxpr.aval(*v).clone())),
                _ => Ok(LinArg::Const(atom_value(a, &known)?)),
            })
            .collect::<Result<Vec<_>>>()?;
        let in_cts = transpose_rule(&eqn.prim, &eqn_cts, &lin_args)?;
        for (atom, ct) in eqn.inputs.iter().zip(in_cts) {
            if let (Atom::Var(v), Some(ct)) = (atom, ct) {
                if linear[v.index()] {
                    accumulate(&mut cts[v.index()], ct)?;
                }
            }
        }
    }
    Ok(jaxpr
        .invars
        .iter()
        .zip(args)
        .map(|(v, a)| {
            if a.is_linear() {
                cts[v.index()].take()
            } else {
                None
            }
        })
        .collect())
}

fn atom_value(atom: &Atom, known: &[Option<Array>]) -> Result<Array> {
    match atom {
        Atom::Lit(s) => Ok(Array::from_scalar(*s)),
        Atom::Var(v) => known[v.index()].clone().ok_or_else(|| {
            Error::op(
                "transpose",
                "internal error: a constant operand has no value",
            )
        }),
    }
}

fn accumulate(slot: &mut Option<Array>, ct: Array) -> Result<()> {
    *slot = Some(match slot.take() {
        None => ct,
        Some(prev) => lax::try_add(&prev, &ct)?,
    });
    Ok(())
}

/// Cotangents of a linear equation's operands from its outputs'
/// cotangents (`None` for constant operands and zero cotangents).
///
/// # Errors
/// For primitives that are not linear, and for `while` (no reverse mode).
pub(crate) fn transpose_rule(
    prim: &Primitive,
    cts: &[Option<Array>],
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    use Primitive as P;
    let ct = || {
        cts[0]
            .clone()
            .ok_or_else(|| Error::op(prim.name(), "internal error: zero cotangent"))
    };
    match prim {
        P::Neg => Ok(vec![Some(lax::try_neg(&ct()?)?)]),
        P::Exp | P::Log | P::Log1p | P::Expm1 | P::Sin | P::Cos | P::Tanh | P::Logistic => {
            not_linear(prim)
        }
        P::Sqrt | P::Rsqrt | P::Abs | P::Sign | P::Floor | P::Ceil | P::Round | P::Erf => {
            not_linear(prim)
        }
        P::Not | P::IsFinite => not_linear(prim),
        P::Add => add_sub(&ct()?, args, false),
        P::Sub => add_sub(&ct()?, args, true),
        P::Mul => mul(prim, &ct()?, args),
        P::Div => div(prim, &ct()?, args),
        P::Rem | P::Pow | P::Max | P::Min | P::And | P::Or | P::Xor => not_linear(prim),
        P::Eq | P::Ne | P::Lt | P::Le | P::Gt | P::Ge => not_linear(prim),
        P::Select => select(prim, &ct()?, args),
        P::ConvertElementType { .. } => Ok(vec![Some(lax::try_convert_element_type(
            &ct()?,
            args[0].aval().dtype,
        )?)]),
        P::BroadcastInDim {
            shape,
            broadcast_dimensions,
        } => unbroadcast_in_dim(&ct()?, shape, broadcast_dimensions, &args[0].aval()),
        P::Reshape { .. } => Ok(vec![Some(reshape(ct()?, &args[0].aval().shape)?)]),
        P::Transpose { permutation } => Ok(vec![Some(transpose(ct()?, &inverse(permutation))?)]),
        P::ReduceSum { axes } => Ok(vec![Some(unreduce(&ct()?, axes, &args[0].aval().shape)?)]),
        P::ReduceMax { .. } | P::ReduceMin { .. } | P::ReduceProd { .. } => not_linear(prim),
        P::ArgMax { .. } | P::ArgMin { .. } => not_linear(prim),
        P::Cumsum { axis, reverse } => Ok(vec![Some(lax::try_cumsum(&ct()?, *axis, !reverse)?)]),
        P::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
        } => {
            let dims = DotDims {
                lc: lhs_contract,
                rc: rhs_contract,
                lb: lhs_batch,
                rb: rhs_batch,
            };
            dot_general(prim, &ct()?, args, &dims)
        }
        P::Slice {
            start,
            limit,
            strides,
        } => slice(&ct()?, start, limit, strides, &args[0].aval()),
        P::Pad {
            low,
            high,
            interior,
        } => pad(&ct()?, low, high, interior, args),
        P::Concatenate { axis } => concatenate(&ct()?, *axis, args),
        P::Rev { axes } => Ok(vec![Some(lax::try_rev(&ct()?, axes)?)]),
        P::DynamicSlice { .. } => dynamic_slice(prim, &ct()?, args),
        P::DynamicUpdateSlice => dynamic_update_slice(prim, &ct()?, args),
        P::Gather { axis } => gather(prim, &ct()?, *axis, args),
        P::Scatter { axis, kind } => scatter(prim, &ct()?, *axis, *kind, args),
        P::Iota { .. } | P::RandomBits { .. } | P::StopGradient => not_linear(prim),
        P::Call { jaxpr, name } => crate::transforms::call::transpose_call(jaxpr, name, cts, args),
        P::Cond { branches } => control_flow_transpose::transpose_cond(branches, cts, args),
        P::While { .. } => Err(control_flow_partial_eval::while_reverse_mode_error()),
        P::Scan { .. } => control_flow_transpose::transpose_scan(prim, cts, args),
        P::CustomJvpCall { .. } | P::CustomVjpCall { .. } => not_linear(prim),
        P::CustomLin { bwd, num_residuals } => {
            crate::transforms::custom::custom_lin_transpose(bwd, *num_residuals, cts, args)
        }
    }
}

fn not_linear(prim: &Primitive) -> Result<Vec<Option<Array>>> {
    Err(Error::op(
        prim.name(),
        "internal error: transpose of a primitive that is not linear",
    ))
}

/// Sums a cotangent of an elementwise result down to a rank-0 operand.
fn unbroadcast(ct: Array, aval: &AVal) -> Result<Array> {
    if ct.shape() == aval.shape.as_slice() {
        return Ok(ct);
    }
    let axes: Vec<usize> = (0..ct.ndim()).collect();
    lax::try_reduce_sum(&ct, &axes)
}

fn add_sub(ct: &Array, args: &[LinArg], negate_second: bool) -> Result<Vec<Option<Array>>> {
    let mut out = Vec::with_capacity(2);
    for (i, a) in args.iter().enumerate() {
        out.push(if a.is_linear() {
            let c = if i == 1 && negate_second {
                lax::try_neg(ct)?
            } else {
                ct.clone()
            };
            Some(unbroadcast(c, &a.aval())?)
        } else {
            None
        });
    }
    Ok(out)
}

fn mul(prim: &Primitive, ct: &Array, args: &[LinArg]) -> Result<Vec<Option<Array>>> {
    let (lin, other) = if args[0].is_linear() { (0, 1) } else { (1, 0) };
    let scaled = lax::try_mul(ct, args[other].value(prim)?)?;
    let mut out = vec![None, None];
    out[lin] = Some(unbroadcast(scaled, &args[lin].aval())?);
    Ok(out)
}

fn div(prim: &Primitive, ct: &Array, args: &[LinArg]) -> Result<Vec<Option<Array>>> {
    let scaled = lax::try_div(ct, args[1].value(prim)?)?;
    Ok(vec![Some(unbroadcast(scaled, &args[0].aval())?), None])
}

fn select(prim: &Primitive, ct: &Array, args: &[LinArg]) -> Result<Vec<Option<Array>>> {
    let pred = args[0].value(prim)?;
    let zero = zeros(&ct.aval())?;
    let mut out = vec![None];
    for (i, a) in args[1..].iter().enumerate() {
        out.push(if a.is_linear() {
            let (t, f) = if i == 0 { (ct, &zero) } else { (&zero, ct) };
            Some(unbroadcast(lax::try_select(pred, t, f)?, &a.aval())?)
        } else {
            None
        });
    }
    Ok(out)
}

/// `reshape`, skipped when the shape already matches.
fn reshape(x: Array, shape: &[usize]) -> Result<Array> {
    if x.shape() == shape {
        Ok(x)
    } else {
        lax::try_reshape(&x, shape)
    }
}

/// `transpose`, skipped for the identity permutation.
fn transpose(x: Array, perm: &[usize]) -> Result<Array> {
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        Ok(x)
    } else {
        lax::try_transpose(&x, perm)
    }
}

fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

fn unbroadcast_in_dim(
    ct: &Array,
    shape: &[usize],
    dims: &[usize],
    operand: &AVal,
) -> Result<Vec<Option<Array>>> {
    let summed: Vec<usize> = (0..shape.len())
        .filter(|d| match dims.iter().position(|x| x == d) {
            None => true,
            Some(i) => operand.shape[i] == 1 && shape[*d] != 1,
        })
        .collect();
    let reduced = if summed.is_empty() {
        ct.clone()
    } else {
        lax::try_reduce_sum(ct, &summed)?
    };
    Ok(vec![Some(reshape(reduced, &operand.shape)?)])
}

/// Dimension numbers of a `dot_general`.
struct DotDims<'a> {
    lc: &'a [usize],
    rc: &'a [usize],
    lb: &'a [usize],
    rb: &'a [usize],
}

fn free_dims(rank: usize, contract: &[usize], batch: &[usize]) -> Vec<usize> {
    (0..rank)
        .filter(|d| !contract.contains(d) && !batch.contains(d))
        .collect()
}

/// The permutation putting dimension `i` of the result where `src`
/// lists it.
fn perm_from_source(src: &[usize]) -> Vec<usize> {
    (0..src.len())
        .map(|i| {
            src.iter()
                .position(|&s| s == i)
                .expect("internal error: dot_general transpose")
        })
        .collect()
}

/// `dot_general` transposed with respect to its linear operand.
fn dot_general(
    prim: &Primitive,
    ct: &Array,
    args: &[LinArg],
    d: &DotDims,
) -> Result<Vec<Option<Array>>> {
    let (lhs, rhs) = (args[0].aval(), args[1].aval());
    let nb = d.lb.len();
    let x_free = free_dims(lhs.rank(), d.lc, d.lb);
    let y_free = free_dims(rhs.rank(), d.rc, d.rb);
    let ct_batch: Vec<usize> = (0..nb).collect();
    let ct_x_free: Vec<usize> = (nb..nb + x_free.len()).collect();
    let ct_y_free: Vec<usize> = (nb + x_free.len()..ct.ndim()).collect();
    if args[0].is_linear() {
        let y = args[1].value(prim)?;
        let r = lax::try_dot_general(ct, y, &ct_y_free, &y_free, &ct_batch, d.rb)?;
        let mut order: Vec<usize> = (0..d.rc.len()).collect();
        order.sort_by_key(|&k| d.rc[k]);
        let src: Vec<usize> =
            d.lb.iter()
                .chain(&x_free)
                .copied()
                .chain(order.iter().map(|&k| d.lc[k]))
                .collect();
        Ok(vec![Some(transpose(r, &perm_from_source(&src))?), None])
    } else {
        let x = args[0].value(prim)?;
        let r = lax::try_dot_general(x, ct, &x_free, &ct_x_free, d.lb, &ct_batch)?;
        let mut order: Vec<usize> = (0..d.lc.len()).collect();
        order.sort_by_key(|&k| d.lc[k]);
        let src: Vec<usize> =
            d.rb.iter()
                .copied()
                .chain(order.iter().map(|&k| d.rc[k]))
                .chain(y_free)
                .collect();
        Ok(vec![None, Some(transpose(r, &perm_from_source(&src))?)])
    }
}

fn slice(
    ct: &Array,
    start: &[usize],
    limit: &[usize],
    strides: &[usize],
    operand: &AVal,
) -> Result<Vec<Option<Array>>> {
    if ct.size() == 0 {
        return Ok(vec![Some(zeros(operand)?)]);
    }
    let mut low = Vec::new();
    let mut high = Vec::new();
    let mut interior = Vec::new();
    for d in 0..operand.rank() {
        let n_out = ct.shape()[d];
        let last = start[d] + (n_out - 1) * strides[d];
        low.push(start[d] as i64);
        high.push((operand.shape[d] - last - 1) as i64);
        interior.push(strides[d] - 1);
        let _ = limit;
    }
    Ok(vec![Some(lax::try_pad(
        ct,
        &lit(0.0, ct),
        &low,
        &high,
        &interior,
    )?)])
}

fn pad(
    ct: &Array,
    low: &[i64],
    high: &[i64],
    interior: &[usize],
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let operand = args[0].aval();
    // Undo cropping: pad the cotangent back out where low/high were negative.
    let uncrop_low: Vec<i64> = low.iter().map(|&l| (-l).max(0)).collect();
    let uncrop_high: Vec<i64> = high.iter().map(|&h| (-h).max(0)).collect();
    let zero_interior = vec![0; low.len()];
    let full = lax::try_pad(ct, &lit(0.0, ct), &uncrop_low, &uncrop_high, &zero_interior)?;
    let t_operand = if operand.size() == 0 {
        zeros(&operand)?
    } else {
        let start: Vec<usize> = low.iter().map(|&l| l.max(0) as usize).collect();
        let strides: Vec<usize> = interior.iter().map(|i| i + 1).collect();
        let limit: Vec<usize> = (0..operand.rank())
            .map(|d| start[d] + (operand.shape[d] - 1) * strides[d] + 1)
            .collect();
        lax::try_slice(&full, &start, &limit, &strides)?
    };
    let t_value = if args[1].is_linear() {
        let all: Vec<usize> = (0..ct.ndim()).collect();
        let total = lax::try_reduce_sum(ct, &all)?;
        let inner: Vec<usize> = (0..t_operand.ndim()).collect();
        Some(lax::try_sub(
            &total,
            &lax::try_reduce_sum(&t_operand, &inner)?,
        )?)
    } else {
        None
    };
    Ok(vec![args[0].is_linear().then_some(t_operand), t_value])
}

fn concatenate(ct: &Array, axis: usize, args: &[LinArg]) -> Result<Vec<Option<Array>>> {
    let mut offset = 0;
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let aval = a.aval();
        let size = aval.shape[axis];
        if a.is_linear() {
            let mut start = vec![0; aval.rank()];
            let mut limit: Vec<usize> = ct.shape().to_vec();
            start[axis] = offset;
            limit[axis] = offset + size;
            out.push(Some(lax::try_slice(
                ct,
                &start,
                &limit,
                &vec![1; aval.rank()],
            )?));
        } else {
            out.push(None);
        }
        offset += size;
    }
    Ok(out)
}

fn indices(prim: &Primitive, args: &[LinArg]) -> Result<Vec<Array>> {
    args.iter().map(|a| a.value(prim).cloned()).collect()
}

fn dynamic_slice(prim: &Primitive, ct: &Array, args: &[LinArg]) -> Result<Vec<Option<Array>>> {
    let starts = indices(prim, &args[1..])?;
    let t = lax::try_dynamic_update_slice(&zeros(&args[0].aval())?, ct, &starts)?;
    let mut out = vec![Some(t)];
    out.extend(starts.iter().map(|_| None));
    Ok(out)
}

fn dynamic_update_slice(
    prim: &Primitive,
    ct: &Array,
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let starts = indices(prim, &args[2..])?;
    let update = args[1].aval();
    let t_operand = if args[0].is_linear() {
        Some(lax::try_dynamic_update_slice(
            ct,
            &zeros(&update)?,
            &starts,
        )?)
    } else {
        None
    };
    let t_update = if args[1].is_linear() {
        Some(lax::try_dynamic_slice(ct, &starts, &update.shape)?)
    } else {
        None
    };
    let mut out = vec![t_operand, t_update];
    out.extend(starts.iter().map(|_| None));
    Ok(out)
}

fn gather(
    prim: &Primitive,
    ct: &Array,
    axis: usize,
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let idx = args[1].value(prim)?;
    let operand = args[0].aval();
    // `gather` clamps out-of-range indices but `scatter` drops them: clamp
    // first, so each cotangent goes back to the element it was read from.
    let last = lit(operand.shape[axis].saturating_sub(1) as f64, idx);
    let clamped = lax::try_min(&lax::try_max(idx, &lit(0.0, idx))?, &last)?;
    let t = lax::try_scatter_add(&zeros(&operand)?, &clamped, ct, axis)?;
    Ok(vec![Some(t), None])
}

fn scatter(
    prim: &Primitive,
    ct: &Array,
    axis: usize,
    kind: ScatterKind,
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let idx = args[1].value(prim)?;
    let updates = args[2].aval();
    let (t_operand, t_updates) = match kind {
        ScatterKind::Add => (ct.clone(), landed_only(ct, idx, axis, kind, &updates)?),
        ScatterKind::Set => {
            let cleared = lax::try_scatter(ct, idx, &zeros(&updates)?, axis, ScatterKind::Set)?;
            (cleared, landed_only(ct, idx, axis, kind, &updates)?)
        }
        ScatterKind::Mul => {
            let factors = args[2].value(prim)?;
            (
                lax::try_scatter(ct, idx, factors, axis, ScatterKind::Mul)?,
                zeros(&updates)?,
            )
        }
        ScatterKind::Min | ScatterKind::Max => return not_linear(prim),
    };
    Ok(vec![
        args[0].is_linear().then_some(t_operand),
        None,
        args[2].is_linear().then_some(t_updates),
    ])
}

/// `gather(ct, idx)` for the updates that reached the result, zero for the
/// others: `scatter` drops out-of-range indices, and with `Set` only the
/// last of several updates to one index survives.
fn landed_only(
    ct: &Array,
    idx: &Array,
    axis: usize,
    kind: ScatterKind,
    updates: &AVal,
) -> Result<Array> {
    let size = ct.shape()[axis];
    let landed = if kind == ScatterKind::Set && size > 0 {
        // Scatter each update's position; an update landed if its own
        // position is what its index holds afterwards.
        let position =
            lax::try_reshape(&lax::try_iota(DType::I32, &[idx.size()], 0)?, idx.shape())?;
        let unwritten = crate::jnp::full(&[size], -1.0, DType::I32);
        let writer = lax::try_scatter(&unwritten, idx, &position, 0, ScatterKind::Set)?;
        lax::try_eq(&lax::try_gather(&writer, idx, 0)?, &position)?
    } else {
        let below = lax::try_lt(idx, &lit(size as f64, idx))?;
        lax::try_bitwise_and(&lax::try_ge(idx, &lit(0.0, idx))?, &below)?
    };
    let dims: Vec<usize> = (axis..axis + idx.ndim()).collect();
    let landed = lax::try_broadcast_in_dim(&landed, &updates.shape, &dims)?;
    lax::try_select(&landed, &lax::try_gather(ct, idx, axis)?, &zeros(updates)?)
}
