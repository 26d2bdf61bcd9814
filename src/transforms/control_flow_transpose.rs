//! Transpose rules of control flow: the backward pass through `cond` and
//! `scan` equations of a linear jaxpr.
//!
//! Both build new jaxprs by tracing [`backward_pass`] over the primitive's
//! own jaxprs, so the result is again a `cond` or `scan` (differentiable,
//! stageable, compiled with real branches and loops):
//!
//! - [`transpose_jaxpr`]: a closed jaxpr and which of its inputs are linear
//!   -> the jaxpr from (non-linear inputs, output cotangents) to the
//!   cotangents of the linear inputs (zeros where none flows).
//! - `cond`: a `cond` over (index, residuals, output cotangents) whose
//!   branches are the transposed branches.
//! - `scan`: a `scan` in the opposite direction. Residual constants stay
//!   constants; cotangents of linear constants accumulate in carries;
//!   carry cotangents are carries; output `ys` cotangents and residual `xs`
//!   are its `xs`; the cotangents of linear `xs` are its stacked outputs.
//!
//! `while` has no transpose: reverse mode stops at partial evaluation with
//! the error of `control_flow_partial_eval`.

use crate::array::Array;
use crate::core::bind;
use crate::lax;
use crate::transforms::call::const_arrays;
use crate::transforms::control_flow_partial_eval::{pick, trace_closed, ScanParams};
use crate::transforms::jvp::{instantiate, zeros};
use crate::transforms::transpose::{backward_pass, LinArg};
use rjax_ir::{AVal, ClosedJaxpr, Error, Primitive, Result};
use std::sync::Arc;

/// The cotangents of a jaxpr's linear inputs, instantiated, given values
/// for its non-linear inputs (`residuals`, in order) and output cotangents.
fn backward_closed(
    jaxpr: &ClosedJaxpr,
    linear: &[bool],
    residuals: &[Array],
    cts: &[Array],
) -> Result<Vec<Array>> {
    let in_avals = jaxpr.jaxpr.in_avals();
    let mut res = residuals.iter();
    let args = in_avals
        .iter()
        .zip(linear)
        .map(|(aval, &lin)| {
            if lin {
                Ok(LinArg::Linear(aval.clone()))
            } else {
                res.next()
                    .map(|r| LinArg::Const(r.clone()))
                    .ok_or_else(|| Error::op("transpose", "internal error: residual count"))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let cts: Vec<Option<Array>> = cts.iter().cloned().map(Some).collect();
    let in_cts = backward_pass(&jaxpr.jaxpr, &const_arrays(jaxpr), &args, &cts)?;
    in_cts
        .iter()
        .zip(&in_avals)
        .zip(linear)
        .filter(|(_, &lin)| lin)
        .map(|((ct, aval), _)| instantiate(ct, aval))
        .collect()
}

/// Transposes `jaxpr` with respect to the inputs flagged `linear`: the
/// result maps (non-linear inputs.., output cotangents..) to the
/// cotangents of the linear inputs.
///
/// # Errors
/// A transpose rule's error (a non-linear primitive applied to a linear
/// input).
pub(crate) fn transpose_jaxpr(jaxpr: &ClosedJaxpr, linear: &[bool]) -> Result<Arc<ClosedJaxpr>> {
    let res_avals = pick(&jaxpr.jaxpr.in_avals(), linear, false);
    let n_res = res_avals.len();
    let in_avals: Vec<AVal> = res_avals
        .into_iter()
        .chain(jaxpr.jaxpr.out_avals())
        .collect();
    trace_closed(&in_avals, |ins| {
        backward_closed(jaxpr, linear, &ins[..n_res], &ins[n_res..])
    })
}

fn is_linear(a: &LinArg) -> bool {
    matches!(a, LinArg::Linear(_))
}

fn aval_of(a: &LinArg) -> AVal {
    match a {
        LinArg::Linear(aval) => aval.clone(),
        LinArg::Const(c) => c.aval(),
    }
}

/// The values of the constant (non-linear) operands, in order.
fn const_values(args: &[LinArg]) -> Vec<Array> {
    args.iter()
        .filter_map(|a| match a {
            LinArg::Const(c) => Some(c.clone()),
            LinArg::Linear(_) => None,
        })
        .collect()
}

/// Output cotangents made concrete (zeros for symbolic zeros).
fn instantiate_all(cts: &[Option<Array>], avals: &[AVal]) -> Result<Vec<Array>> {
    cts.iter()
        .zip(avals)
        .map(|(c, aval)| instantiate(c, aval))
        .collect()
}

/// Spreads the cotangents of the linear operands back over all operands
/// (`None` for constant ones).
fn spread(linear: &[bool], cts: Vec<Array>) -> Vec<Option<Array>> {
    let mut cts = cts.into_iter();
    linear
        .iter()
        .map(|&lin| if lin { cts.next() } else { None })
        .collect()
}

/// The transpose rule of `cond`: operands are (index, operands..); the
/// index and residual operands are constants.
///
/// # Errors
/// An internal error if the index is linear; a branch's transpose error.
pub(crate) fn transpose_cond(
    branches: &[Arc<ClosedJaxpr>],
    cts: &[Option<Array>],
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let LinArg::Const(index) = &args[0] else {
        return Err(Error::op(
            "cond",
            "internal error: transpose of a cond with a linear index",
        ));
    };
    let ops = &args[1..];
    let linear: Vec<bool> = ops.iter().map(is_linear).collect();
    let transposed = branches
        .iter()
        .map(|b| transpose_jaxpr(b, &linear))
        .collect::<Result<Vec<_>>>()?;
    let out_avals = branches
        .first()
        .map(|b| b.jaxpr.out_avals())
        .unwrap_or_default();
    let operands: Vec<Array> = std::iter::once(index.clone())
        .chain(const_values(ops))
        .chain(instantiate_all(cts, &out_avals)?)
        .collect();
    let outs = bind(
        Primitive::Cond {
            branches: transposed,
        },
        &operands,
    )?;
    let mut result = vec![None];
    result.extend(spread(&linear, outs));
    Ok(result)
}

/// The transpose rule of `scan` (`prim`), whose operands are (consts..,
/// carry.., xs..). Carries are always treated as linear (the loop carries
/// cotangents back); constants and `xs` are linear exactly when they are.
///
/// # Errors
/// A transpose error of the body.
pub(crate) fn transpose_scan(
    prim: &Primitive,
    cts: &[Option<Array>],
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let (body, p) =
        ScanParams::of(prim).ok_or_else(|| Error::op(prim.name(), "internal error: not a scan"))?;
    let (nc, nk) = (p.num_consts, p.num_carry);
    let (consts, rest) = args.split_at(nc);
    let (carry, xs) = rest.split_at(nk);
    let const_lin: Vec<bool> = consts.iter().map(is_linear).collect();
    let xs_lin: Vec<bool> = xs.iter().map(is_linear).collect();
    let body_in = body.jaxpr.in_avals();
    let body_out = body.jaxpr.out_avals();
    // Linearity of the body's inputs: carries always linear.
    let body_linear: Vec<bool> = const_lin
        .iter()
        .copied()
        .chain(std::iter::repeat_n(true, nk))
        .chain(xs_lin.iter().copied())
        .collect();
    let lin_const_avals = pick(&body_in[..nc], &const_lin, true);
    let res_const_avals = pick(&body_in[..nc], &const_lin, false);
    let res_x_avals = pick(&body_in[nc + nk..], &xs_lin, false);
    let (n_rc, n_lc) = (res_const_avals.len(), lin_const_avals.len());
    let n_out = body_out.len();
    // Transposed body: (residual consts; const-cotangent accumulators,
    // carry cotangents; y cotangents, residual x slices)
    //   -> (accumulators, carry-in cotangents; x cotangents).
    let t_in: Vec<AVal> = [
        res_const_avals.as_slice(),
        &lin_const_avals,
        &body_out[..nk],
        &body_out[nk..],
        &res_x_avals,
    ]
    .concat();
    let t_body = trace_closed(&t_in, |ins| {
        let (res_consts, rest) = ins.split_at(n_rc);
        let (acc, rest) = rest.split_at(n_lc);
        let (out_cts, res_xs) = rest.split_at(n_out);
        let residuals: Vec<Array> = res_consts.iter().chain(res_xs).cloned().collect();
        let in_cts = backward_closed(body, &body_linear, &residuals, out_cts)?;
        let (const_cts, rest) = in_cts.split_at(n_lc);
        let (carry_cts, x_cts) = rest.split_at(nk);
        let mut outs = acc
            .iter()
            .zip(const_cts)
            .map(|(a, c)| lax::try_add(a, c))
            .collect::<Result<Vec<_>>>()?;
        outs.extend(carry_cts.iter().chain(x_cts).cloned());
        Ok(outs)
    })?;
    let out_avals: Vec<AVal> = carry
        .iter()
        .map(aval_of)
        .chain(body_out[nk..].iter().map(|a| stacked(a, p.length)))
        .collect();
    let cts = instantiate_all(cts, &out_avals)?;
    let (carry_cts, ys_cts) = cts.split_at(nk);
    let acc_init = lin_const_avals
        .iter()
        .map(zeros)
        .collect::<Result<Vec<_>>>()?;
    let operands: Vec<Array> = const_values(consts)
        .into_iter()
        .chain(acc_init)
        .chain(carry_cts.iter().cloned())
        .chain(ys_cts.iter().cloned())
        .chain(const_values(xs))
        .collect();
    let t_prim = ScanParams {
        reverse: !p.reverse,
        num_consts: n_rc,
        num_carry: n_lc + nk,
        ..p
    }
    .prim(t_body);
    let outs = bind(t_prim, &operands)?;
    let (const_cts, rest) = outs.split_at(n_lc);
    let (carry_cts, x_cts) = rest.split_at(nk);
    let mut result = spread(&const_lin, const_cts.to_vec());
    result.extend(
        carry
            .iter()
            .zip(carry_cts)
            .map(|(a, ct)| is_linear(a).then(|| ct.clone())),
    );
    result.extend(spread(&xs_lin, x_cts.to_vec()));
    Ok(result)
}

/// `aval` with a new leading axis of `length`.
fn stacked(aval: &AVal, length: usize) -> AVal {
    let mut shape = vec![length];
    shape.extend(aval.shape.iter().copied());
    AVal::new(aval.dtype, &shape)
}
