//! The `call` primitive under transformations.
//!
//! A jitted function used inside another transformation is bound as a
//! `call` of its jaxpr, and every transformation keeps it a call, so the
//! compiled inner function is reused rather than inlined:
//!
//! - jvp: a call of the jvp'd jaxpr ([`jvp_call`]);
//! - linearize (partial evaluation): a call of the known part, run at once,
//!   and a staged call of the unknown part taking residuals
//!   ([`partial_eval_call`]);
//! - transpose: a call of the transposed jaxpr ([`transpose_call`]).
//!
//! Each new jaxpr is built by tracing, with the existing machinery.

use crate::array::Array;
use crate::core::{bind, current_trace, with_trace, Trace};
use crate::staging::{trace_to_jaxpr, StagingTrace};
use crate::transforms::eval_jaxpr;
use crate::transforms::jvp::{instantiate, JvpTrace, Tangents};
use crate::transforms::transpose::{backward_pass, LinArg};
use rjax_ir::{AVal, ClosedJaxpr, Jaxpr, Primitive, Result, Var};
use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;

/// Closes a traced jaxpr: concrete constants stay inside it, constants
/// that are tracers of an enclosing transformation become leading inputs,
/// returned to be passed as leading operands.
pub(crate) fn close(mut jaxpr: Jaxpr, consts: Vec<Array>) -> (Arc<ClosedJaxpr>, Vec<Array>) {
    let mut kept_vars = Vec::new();
    let mut kept = Vec::new();
    let mut lifted_vars: Vec<Var> = Vec::new();
    let mut lifted = Vec::new();
    for (v, c) in jaxpr.constvars.iter().zip(consts) {
        match c.try_buffer("close") {
            Ok(b) => {
                kept_vars.push(*v);
                kept.push(b.clone());
            }
            Err(_) => {
                lifted_vars.push(*v);
                lifted.push(c);
            }
        }
    }
    jaxpr.constvars = kept_vars;
    lifted_vars.extend(jaxpr.invars.iter().copied());
    jaxpr.invars = lifted_vars;
    (Arc::new(ClosedJaxpr::new(jaxpr, kept)), lifted)
}

/// A closed jaxpr's constants as arrays.
pub(crate) fn const_arrays(jaxpr: &ClosedJaxpr) -> Vec<Array> {
    jaxpr
        .consts
        .iter()
        .cloned()
        .map(Array::from_buffer)
        .collect()
}

fn bind_call(
    jaxpr: Jaxpr,
    consts: Vec<Array>,
    name: String,
    args: Vec<Array>,
) -> Result<Vec<Array>> {
    let (closed, lifted) = close(jaxpr, consts);
    let operands: Vec<Array> = lifted.into_iter().chain(args).collect();
    bind(
        Primitive::Call {
            jaxpr: closed,
            name,
        },
        &operands,
    )
}

/// The jvp rule of `call`: a call of the jvp of its jaxpr, taking the
/// primals and the tangents that are not symbolically zero.
pub(crate) fn jvp_call(
    jaxpr: &ClosedJaxpr,
    name: &str,
    primals: &[Array],
    tangents: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let n = primals.len();
    let nonzero: Vec<usize> = (0..n).filter(|&i| tangents[i].is_some()).collect();
    let in_avals: Vec<AVal> = primals
        .iter()
        .map(Array::aval)
        .chain(nonzero.iter().map(|&i| primals[i].aval()))
        .collect();
    let out_nonzero = RefCell::new(Vec::new());
    let (jvp_jaxpr, consts) = trace_to_jaxpr(&in_avals, |ins| {
        let trace = JvpTrace::new(current_trace());
        let mut tangent_ins = ins[n..].iter();
        let inputs: Vec<Array> = ins[..n]
            .iter()
            .zip(tangents)
            .map(|(p, t)| {
                trace.lift(
                    p.clone(),
                    t.as_ref().and_then(|_| tangent_ins.next().cloned()),
                )
            })
            .collect();
        let outs = with_trace(trace.clone(), || {
            eval_jaxpr(&jaxpr.jaxpr, &const_arrays(jaxpr), &inputs)
        })?;
        let (primal_outs, tangent_outs): (Vec<Array>, Tangents) =
            outs.iter().map(|o| trace.unpack(o)).unzip();
        *out_nonzero.borrow_mut() = tangent_outs.iter().map(Option::is_some).collect();
        Ok(primal_outs
            .into_iter()
            .chain(tangent_outs.into_iter().flatten())
            .collect())
    })?;
    let args: Vec<Array> = primals
        .iter()
        .cloned()
        .chain(nonzero.iter().filter_map(|&i| tangents[i].clone()))
        .collect();
    let mut outs = bind_call(jvp_jaxpr, consts, format!("jvp({name})"), args)?;
    let mut tangent_outs = outs.split_off(jaxpr.jaxpr.outvars.len()).into_iter();
    let tangents = out_nonzero
        .into_inner()
        .into_iter()
        .map(|nz| if nz { tangent_outs.next() } else { None })
        .collect();
    Ok((outs, tangents))
}

/// Partial evaluation of a `call` with some operands known: the known part
/// of the jaxpr runs on `parent` now (as a call), producing the known
/// outputs and the residuals that the unknown part needs; the unknown part
/// is staged into `trace` as a call taking residuals and unknown operands.
pub(crate) fn partial_eval_call(
    trace: &StagingTrace,
    parent: &Rc<dyn Trace>,
    jaxpr: &ClosedJaxpr,
    name: &str,
    args: &[Array],
    loc: &'static Location<'static>,
) -> Result<Vec<Array>> {
    let known_trace = StagingTrace::new();
    let unknown_trace = StagingTrace::new_partial(known_trace.clone());
    let (mut known_vars, mut unknown_vars) = (Vec::new(), Vec::new());
    let inputs: Vec<Array> = args
        .iter()
        .map(|a| {
            let (tracer, var) = if trace.owns(a) {
                let (t, v) = unknown_trace.new_input(a.aval());
                unknown_vars.push(v);
                (t, v)
            } else {
                let (t, v) = known_trace.new_input(a.aval());
                known_vars.push(v);
                (t, v)
            };
            let _ = var;
            tracer
        })
        .collect();
    let outs = with_trace(unknown_trace.clone(), || {
        eval_jaxpr(&jaxpr.jaxpr, &const_arrays(jaxpr), &inputs)
    })?;
    let out_unknown: Vec<bool> = outs.iter().map(|o| unknown_trace.owns(o)).collect();
    let unknown_outs: Vec<Array> = outs
        .iter()
        .zip(&out_unknown)
        .filter(|(_, u)| **u)
        .map(|(o, _)| o.clone())
        .collect();
    let (unknown_jaxpr, residuals) = unknown_trace.finish(unknown_vars, &unknown_outs)?;
    let known_outs: Vec<Array> = outs
        .iter()
        .zip(&out_unknown)
        .filter(|(_, u)| !**u)
        .map(|(o, _)| o.clone())
        .chain(residuals.iter().cloned())
        .collect();
    let (known_jaxpr, known_consts) = known_trace.finish(known_vars, &known_outs)?;
    // Run the known part on the parent.
    let (known_closed, lifted) = close(known_jaxpr, known_consts);
    let known_args: Vec<Array> = lifted
        .into_iter()
        .chain(args.iter().filter(|a| !trace.owns(a)).cloned())
        .collect();
    let known_call = Primitive::Call {
        jaxpr: known_closed,
        name: format!("known({name})"),
    };
    let mut known_values = parent.process_primitive(&known_call, &known_args, loc)?;
    let residual_values = known_values.split_off(known_values.len() - residuals.len());
    // Stage the unknown part, its residual constants turned into operands.
    let mut unknown_jaxpr = unknown_jaxpr;
    let mut invars = std::mem::take(&mut unknown_jaxpr.constvars);
    invars.append(&mut unknown_jaxpr.invars);
    unknown_jaxpr.invars = invars;
    let unknown_args: Vec<Array> = residual_values
        .into_iter()
        .chain(args.iter().filter(|a| trace.owns(a)).cloned())
        .collect();
    let unknown_call = Primitive::Call {
        jaxpr: Arc::new(ClosedJaxpr::new(unknown_jaxpr, vec![])),
        name: format!("unknown({name})"),
    };
    let mut staged = trace.stage(&unknown_call, &unknown_args, loc)?.into_iter();
    let mut known = known_values.into_iter();
    Ok(out_unknown
        .iter()
        .map(|&u| if u { staged.next() } else { known.next() })
        .map(|o| o.expect("internal error: call outputs"))
        .collect())
}

/// The transpose rule of `call`: a call of the transposed jaxpr, taking the
/// constant operands and the output cotangents.
pub(crate) fn transpose_call(
    jaxpr: &ClosedJaxpr,
    name: &str,
    cts: &[Option<Array>],
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let const_values: Vec<Array> = args
        .iter()
        .filter_map(|a| match a {
            LinArg::Const(c) => Some(c.clone()),
            LinArg::Linear(_) => None,
        })
        .collect();
    let out_avals = jaxpr.jaxpr.out_avals();
    let in_avals: Vec<AVal> = const_values
        .iter()
        .map(Array::aval)
        .chain(out_avals.iter().cloned())
        .collect();
    let n_const = const_values.len();
    let (transposed, consts) = trace_to_jaxpr(&in_avals, |ins| {
        let mut const_ins = ins[..n_const].iter();
        let lin_args: Vec<LinArg> = args
            .iter()
            .map(|a| match a {
                LinArg::Const(_) => LinArg::Const(const_ins.next().expect("const operand").clone()),
                LinArg::Linear(aval) => LinArg::Linear(aval.clone()),
            })
            .collect();
        let cts: Vec<Option<Array>> = ins[n_const..].iter().cloned().map(Some).collect();
        let in_cts = backward_pass(&jaxpr.jaxpr, &const_arrays(jaxpr), &lin_args, &cts)?;
        args.iter()
            .zip(in_cts)
            .filter_map(|(a, ct)| match a {
                LinArg::Linear(aval) => Some(instantiate(&ct, aval)),
                LinArg::Const(_) => None,
            })
            .collect()
    })?;
    let cts: Vec<Array> = cts
        .iter()
        .zip(&out_avals)
        .map(|(c, aval)| instantiate(c, aval))
        .collect::<Result<_>>()?;
    let outs = bind_call(
        transposed,
        consts,
        format!("transpose({name})"),
        const_values.into_iter().chain(cts).collect(),
    )?;
    let mut outs = outs.into_iter();
    Ok(args
        .iter()
        .map(|a| {
            if matches!(a, LinArg::Linear(_)) {
                outs.next()
            } else {
                None
            }
        })
        .collect())
}
