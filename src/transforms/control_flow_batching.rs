//! Batching rules of the control-flow primitives (`cond`, `while`,
//! `scan`), called from the table in `batching.rs`.
//!
//! Sub-jaxprs are batched by tracing them under a nested [`BatchTrace`]
//! with every batched input batched along axis 0 ([`batch_jaxpr`]).
//!
//! - **cond** with an unbatched index stays a `cond` of the batched
//!   branches (an output batched in any branch is batched in all). With a
//!   batched index every branch runs on every example and the results are
//!   chosen per example with `select`s over the clamped index, as JAX does.
//! - **while**: the carries that become batched are found by fixpoint (a
//!   carry is batched if its initial value is, or if the body makes it so).
//!   With an unbatched condition it stays a `while` of the batched body.
//!   With a batched condition every carry is batched, the loop runs while
//!   the condition holds for *any* example, and each step keeps the old
//!   carry of the examples whose condition is already false.
//! - **scan**: batched constants and carries along axis 0, batched `xs`
//!   along axis 1 (axis 0 stays the scanned axis, so each slice is batched
//!   along axis 0); carries by fixpoint as for `while`; stacked outputs of
//!   a batched `y` are batched along axis 1.

use crate::array::Array;
use crate::core::{bind, current_trace, with_trace};
use crate::lax;
use crate::staging::trace_to_jaxpr;
use crate::transforms::batching::{moveaxis, prepend, scalar, to_front, BatchAxes, BatchTrace};
use crate::transforms::call::close;
use crate::transforms::eval_jaxpr;
use rjax_ir::{AVal, ClosedJaxpr, DType, Error, Primitive, Result};
use std::cell::RefCell;
use std::sync::Arc;

type Batched = Result<(Vec<Array>, BatchAxes)>;

/// Batches a closed jaxpr over `size` examples: input `i` is batched along
/// axis 0 when `in_batched[i]` (it takes the example's aval with a leading
/// `size`). Batched outputs come out batched along axis 0, and output `k`
/// is made batched (broadcast) when `force[k]`. Returns the batched jaxpr
/// and which outputs are batched.
///
/// # Errors
/// A batching rule's error inside the jaxpr.
pub(crate) fn batch_jaxpr(
    jaxpr: &ClosedJaxpr,
    in_batched: &[bool],
    size: usize,
    force: &[bool],
) -> Result<(Arc<ClosedJaxpr>, Vec<bool>)> {
    let in_avals: Vec<AVal> = jaxpr
        .jaxpr
        .in_avals()
        .into_iter()
        .zip(in_batched)
        .map(|(a, b)| {
            if *b {
                AVal::new(a.dtype, &prepend(size, &a.shape))
            } else {
                a
            }
        })
        .collect();
    let out_batched = RefCell::new(Vec::new());
    let (batched, consts) = trace_to_jaxpr(&in_avals, |ins| {
        let trace = BatchTrace::new(current_trace(), size);
        let inputs: Vec<Array> = ins
            .iter()
            .zip(in_batched)
            .map(|(v, b)| {
                if *b {
                    trace.lift(v.clone(), Some(0))
                } else {
                    v.clone()
                }
            })
            .collect();
        let outs = with_trace(trace.clone(), || {
            eval_jaxpr(&jaxpr.jaxpr, &const_arrays(jaxpr), &inputs)
        })?;
        let mut flags = Vec::with_capacity(outs.len());
        let results = outs
            .iter()
            .zip(force)
            .map(|(o, f)| {
                let (v, a) = trace.unpack(o);
                let batched = a.is_some() || *f;
                flags.push(batched);
                if batched {
                    to_front(&v, a, size)
                } else {
                    Ok(v)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        *out_batched.borrow_mut() = flags;
        Ok(results)
    })?;
    let (closed, lifted) = close(batched, consts);
    if !lifted.is_empty() {
        return Err(Error::op(
            "vmap",
            "internal error: a batched sub-jaxpr captured a tracer",
        ));
    }
    Ok((closed, out_batched.into_inner()))
}

fn const_arrays(jaxpr: &ClosedJaxpr) -> Vec<Array> {
    jaxpr
        .consts
        .iter()
        .cloned()
        .map(Array::from_buffer)
        .collect()
}

/// Elementwise `a || b`.
fn or(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(x, y)| *x || *y).collect()
}

/// Operand `v` batched along `axis` (or not), made batched along axis 0
/// when `batched` (broadcast if it was not), else left as is.
fn operand(v: &Array, axis: Option<usize>, batched: bool, size: usize) -> Result<Array> {
    if batched {
        to_front(v, axis, size)
    } else {
        Ok(v.clone())
    }
}

/// Batch axes of results: axis `at` where batched.
fn axes(batched: &[bool], at: usize) -> BatchAxes {
    batched.iter().map(|b| b.then_some(at)).collect()
}

/// `cond(index, ops..)`.
pub(crate) fn cond(
    branches: &[Arc<ClosedJaxpr>],
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let ops_b: Vec<bool> = d[1..].iter().map(Option::is_some).collect();
    let ops = x[1..]
        .iter()
        .zip(&d[1..])
        .map(|(v, a)| operand(v, *a, a.is_some(), size))
        .collect::<Result<Vec<_>>>()?;
    let n_out = branches.first().map_or(0, |b| b.jaxpr.outvars.len());
    let Some(index_axis) = d[0] else {
        let mut out_b = vec![false; n_out];
        for b in branches {
            out_b = or(&out_b, &batch_jaxpr(b, &ops_b, size, &out_b)?.1);
        }
        let batched = branches
            .iter()
            .map(|b| batch_jaxpr(b, &ops_b, size, &out_b).map(|(j, _)| j))
            .collect::<Result<Vec<_>>>()?;
        let operands: Vec<Array> = std::iter::once(x[0].clone()).chain(ops).collect();
        let outs = bind(Primitive::Cond { branches: batched }, &operands)?;
        return Ok((outs, axes(&out_b, 0)));
    };
    // A batched index: run every branch, then choose per example.
    let last = branches.len().saturating_sub(1);
    let index = moveaxis(&x[0], index_axis, 0)?;
    let index = lax::try_min(
        &lax::try_max(&index, &scalar(0.0, DType::I32))?,
        &scalar(last as f64, DType::I32),
    )?;
    let all = vec![true; n_out];
    let mut results: Vec<Array> = Vec::new();
    for (i, b) in branches.iter().enumerate() {
        let (j, _) = batch_jaxpr(b, &ops_b, size, &all)?;
        let outs = eval_jaxpr(&j.jaxpr, &const_arrays(&j), &ops)?;
        if i == 0 {
            results = outs;
            continue;
        }
        let chosen = lax::try_eq(&index, &scalar(i as f64, DType::I32))?;
        results = results
            .iter()
            .zip(&outs)
            .map(|(r, o)| {
                let pred = lax::try_broadcast_in_dim(&chosen, o.shape(), &[0])?;
                lax::try_select(&pred, o, r)
            })
            .collect::<Result<Vec<_>>>()?;
    }
    Ok((results, vec![Some(0); n_out]))
}

/// The carries that are batched: those batched initially, grown by the
/// carries the batched body makes batched. `full` maps the carry mask to
/// the body's input mask, `carry_out` picks the carry outputs.
fn carry_fixpoint(
    body: &ClosedJaxpr,
    start: Vec<bool>,
    size: usize,
    full: impl Fn(&[bool]) -> Vec<bool>,
    carry_out: impl Fn(&[bool]) -> Vec<bool>,
) -> Result<Vec<bool>> {
    let n_out = body.jaxpr.outvars.len();
    let mut batched = start;
    loop {
        let (_, out) = batch_jaxpr(body, &full(&batched), size, &vec![false; n_out])?;
        let grown = or(&batched, &carry_out(&out));
        if grown == batched {
            return Ok(batched);
        }
        batched = grown;
    }
}

/// `while(carry..)`.
pub(crate) fn while_loop(
    cond_jaxpr: &ClosedJaxpr,
    body_jaxpr: &ClosedJaxpr,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let start: Vec<bool> = d.iter().map(Option::is_some).collect();
    let carry_b = carry_fixpoint(body_jaxpr, start, size, <[bool]>::to_vec, <[bool]>::to_vec)?;
    let (cond_b, pred_b) = batch_jaxpr(cond_jaxpr, &carry_b, size, &[false])?;
    let carry_b = if pred_b[0] {
        vec![true; x.len()]
    } else {
        carry_b
    };
    let operands = x
        .iter()
        .zip(d)
        .zip(&carry_b)
        .map(|((v, a), b)| operand(v, *a, *b, size))
        .collect::<Result<Vec<_>>>()?;
    let (body_b, _) = batch_jaxpr(body_jaxpr, &carry_b, size, &carry_b)?;
    let prim = if pred_b[0] {
        masked_loop(cond_jaxpr, &body_b, &operands, size)?
    } else {
        Primitive::While {
            cond_jaxpr: cond_b,
            body_jaxpr: body_b,
        }
    };
    Ok((bind(prim, &operands)?, axes(&carry_b, 0)))
}

/// A `while` over carries all batched along axis 0 whose condition is
/// batched: it runs while any example's condition holds, and each step
/// keeps the carry of the examples whose condition is false.
fn masked_loop(
    cond_jaxpr: &ClosedJaxpr,
    body_b: &ClosedJaxpr,
    carry: &[Array],
    size: usize,
) -> Result<Primitive> {
    let all = vec![true; carry.len()];
    let (cond_b, _) = batch_jaxpr(cond_jaxpr, &all, size, &[true])?;
    let in_avals: Vec<AVal> = carry.iter().map(Array::aval).collect();
    let per_example = |ins: &[Array]| -> Result<Array> {
        let p = eval_jaxpr(&cond_b.jaxpr, &const_arrays(&cond_b), ins)?;
        Ok(p[0].clone())
    };
    let (any_cond, consts) = trace_to_jaxpr(&in_avals, |ins| {
        let p = lax::try_convert_element_type(&per_example(ins)?, DType::I32)?;
        let any = lax::try_reduce_max(&p, &[0])?;
        Ok(vec![lax::try_gt(&any, &scalar(0.0, DType::I32))?])
    })?;
    let cond_closed = closed_no_tracers(any_cond, consts)?;
    let (step, consts) = trace_to_jaxpr(&in_avals, |ins| {
        let p = per_example(ins)?;
        let new = eval_jaxpr(&body_b.jaxpr, &const_arrays(body_b), ins)?;
        new.iter()
            .zip(ins)
            .map(|(n, old)| {
                let pred = lax::try_broadcast_in_dim(&p, n.shape(), &[0])?;
                lax::try_select(&pred, n, old)
            })
            .collect()
    })?;
    Ok(Primitive::While {
        cond_jaxpr: cond_closed,
        body_jaxpr: closed_no_tracers(step, consts)?,
    })
}

fn closed_no_tracers(jaxpr: rjax_ir::Jaxpr, consts: Vec<Array>) -> Result<Arc<ClosedJaxpr>> {
    let (closed, lifted) = close(jaxpr, consts);
    if lifted.is_empty() {
        Ok(closed)
    } else {
        Err(Error::op(
            "vmap",
            "internal error: a batched loop captured a tracer",
        ))
    }
}

/// `scan(consts.., carry.., xs..)`.
pub(crate) fn scan(
    body: &ClosedJaxpr,
    [length, num_consts, num_carry]: [usize; 3],
    reverse: bool,
    x: &[Array],
    d: &[Option<usize>],
    size: usize,
) -> Batched {
    let fixed = num_consts + num_carry;
    let is_b: Vec<bool> = d.iter().map(Option::is_some).collect();
    let (c_b, x_b) = (&is_b[..num_consts], &is_b[fixed..]);
    let full = |carry: &[bool]| [c_b, carry, x_b].concat();
    let n_out = body.jaxpr.outvars.len();
    let carry_b = carry_fixpoint(body, is_b[num_consts..fixed].to_vec(), size, full, |o| {
        o[..num_carry].to_vec()
    })?;
    let force: Vec<bool> = carry_b
        .iter()
        .copied()
        .chain(std::iter::repeat_n(false, n_out - num_carry))
        .collect();
    let in_b = full(&carry_b);
    let (batched_body, out_b) = batch_jaxpr(body, &in_b, size, &force)?;
    let mut operands = Vec::with_capacity(x.len());
    for (i, (v, a)) in x.iter().zip(d).enumerate() {
        operands.push(match (i >= fixed, a) {
            (true, Some(a)) => moveaxis(v, *a, 1)?,
            (true, None) => v.clone(),
            (false, _) => operand(v, *a, in_b[i], size)?,
        });
    }
    let prim = Primitive::Scan {
        body: batched_body,
        length,
        reverse,
        num_consts,
        num_carry,
    };
    let outs = bind(prim, &operands)?;
    let mut out_axes = axes(&carry_b, 0);
    out_axes.extend(axes(&out_b[num_carry..], 1));
    Ok((outs, out_axes))
}
