//! Forward-mode rules of the control-flow primitives (`cond`, `while`,
//! `scan`), and the jaxpr-level jvp they share ([`jvp_jaxpr`]).
//!
//! Each rule binds the same primitive again, over the primals and the
//! tangents that are not symbolically zero, with jvp'd sub-jaxprs; the
//! operand and result order of the new primitives is specified in the
//! docs of the `control_flow` module ("Operand order of the differentiated
//! primitives"). Loops find by fixpoint which carries have nonzero
//! tangents: a carry whose tangent starts at zero may become nonzero after
//! one step.

use crate::array::Array;
use crate::core::{bind, current_trace, with_trace};
use crate::staging::trace_to_jaxpr;
use crate::transforms::call::close;
use crate::transforms::eval_jaxpr;
use crate::transforms::jvp::{instantiate, JvpTrace, Tangents};
use rjax_ir::{AVal, ClosedJaxpr, Error, Primitive, Result, Var};
use std::cell::RefCell;
use std::sync::Arc;

/// The jvp of a closed jaxpr. `nonzero[i]` says whether input `i` has a
/// tangent; `instantiate[k]` forces a (zero if need be) tangent for output
/// `k`. The result takes `(inputs.., tangents of the nonzero inputs..)`
/// and returns `(outputs.., tangents of outputs k with out_nonzero[k]..)`,
/// where `out_nonzero` (returned) is true for outputs whose tangent is
/// nonzero or instantiated. Integer and bool inputs never carry tangents
/// (their tangent inputs, if requested, are ignored).
///
/// # Errors
/// A rule's error while differentiating the jaxpr.
pub(crate) fn jvp_jaxpr(
    jaxpr: &ClosedJaxpr,
    nonzero: &[bool],
    instantiate_out: &[bool],
) -> Result<(Arc<ClosedJaxpr>, Vec<bool>)> {
    let in_avals = jaxpr.jaxpr.in_avals();
    let tangent_avals = in_avals
        .iter()
        .zip(nonzero)
        .filter(|(_, nz)| **nz)
        .map(|(a, _)| a.clone());
    let all_avals: Vec<AVal> = in_avals.iter().cloned().chain(tangent_avals).collect();
    let n = in_avals.len();
    let out_nonzero = RefCell::new(Vec::new());
    let (jvp, consts) = trace_to_jaxpr(&all_avals, |ins| {
        let trace = JvpTrace::new(current_trace());
        let mut tangent_ins = ins[n..].iter();
        let inputs: Vec<Array> = ins[..n]
            .iter()
            .zip(nonzero)
            .map(|(p, nz)| {
                let t = if *nz {
                    tangent_ins.next().cloned()
                } else {
                    None
                };
                trace.lift(p.clone(), t)
            })
            .collect();
        let consts: Vec<Array> = jaxpr
            .consts
            .iter()
            .cloned()
            .map(Array::from_buffer)
            .collect();
        let outs = with_trace(trace.clone(), || eval_jaxpr(&jaxpr.jaxpr, &consts, &inputs))?;
        let (primals, tangents): (Vec<Array>, Tangents) =
            outs.iter().map(|o| trace.unpack(o)).unzip();
        let tangents = tangents
            .into_iter()
            .zip(&primals)
            .zip(instantiate_out)
            .map(|((t, p), inst)| match (t, inst) {
                (None, true) => instantiate(&None, &p.aval()).map(Some),
                (t, _) => Ok(t),
            })
            .collect::<Result<Tangents>>()?;
        *out_nonzero.borrow_mut() = tangents.iter().map(Option::is_some).collect();
        Ok(primals
            .into_iter()
            .chain(tangents.into_iter().flatten())
            .collect())
    })?;
    let (closed, lifted) = close(jvp, consts);
    if !lifted.is_empty() {
        return Err(Error::op(
            "jvp",
            "internal error: a differentiated sub-jaxpr captured a tracer",
        ));
    }
    Ok((closed, out_nonzero.into_inner()))
}

/// `jaxpr` with its inputs and outputs reordered: input `i` of the result
/// is input `inputs[i]` of `jaxpr`, output `k` is output `outputs[k]`.
pub(crate) fn permute(
    jaxpr: &ClosedJaxpr,
    inputs: &[usize],
    outputs: &[usize],
) -> Arc<ClosedJaxpr> {
    let mut j = jaxpr.clone();
    j.jaxpr.invars = inputs.iter().map(|&i| jaxpr.jaxpr.invars[i]).collect();
    j.jaxpr.outvars = outputs.iter().map(|&k| jaxpr.jaxpr.outvars[k]).collect();
    Arc::new(j)
}

/// `jaxpr` taking extra unused inputs of `avals` after its own.
pub(crate) fn with_unused_inputs(jaxpr: &ClosedJaxpr, avals: &[AVal]) -> Arc<ClosedJaxpr> {
    let mut j = jaxpr.clone();
    for aval in avals {
        j.jaxpr.avals.push(aval.clone());
        let var = Var(u32::try_from(j.jaxpr.avals.len() - 1).expect("internal error: variables"));
        j.jaxpr.invars.push(var);
    }
    Arc::new(j)
}

/// Which of `t` are nonzero tangents of float values.
fn nonzeros(x: &[Array], t: &[Option<Array>]) -> Vec<bool> {
    x.iter()
        .zip(t)
        .map(|(x, t)| t.is_some() && x.dtype().is_float())
        .collect()
}

/// The tangents of the entries of `x` selected by `mask`, instantiated.
fn selected_tangents(x: &[Array], t: &[Option<Array>], mask: &[bool]) -> Result<Vec<Array>> {
    x.iter()
        .zip(t)
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|((x, t), _)| instantiate(t, &x.aval()))
        .collect()
}

/// Splits `outs` (primals followed by the tangents flagged in `nonzero`)
/// into primals and per-primal optional tangents.
fn split_tangents(mut outs: Vec<Array>, nonzero: &[bool]) -> (Vec<Array>, Tangents) {
    let mut tangents = outs.split_off(nonzero.len()).into_iter();
    let t = nonzero
        .iter()
        .map(|nz| if *nz { tangents.next() } else { None })
        .collect();
    (outs, t)
}

/// Elementwise `a || b`.
fn or(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(x, y)| *x || *y).collect()
}

/// `cond(index, ops..)`: a `cond` of the jvp'd branches, whose tangent
/// outputs are the union over the branches of the nonzero ones.
pub(crate) fn cond(
    branches: &[Arc<ClosedJaxpr>],
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let (ops, op_t) = (&x[1..], &t[1..]);
    let nz = nonzeros(ops, op_t);
    let n_out = branches.first().map_or(0, |b| b.jaxpr.outvars.len());
    let mut out_nz = vec![false; n_out];
    for b in branches {
        let (_, nz_b) = jvp_jaxpr(b, &nz, &vec![false; n_out])?;
        out_nz = or(&out_nz, &nz_b);
    }
    let jvp_branches = branches
        .iter()
        .map(|b| jvp_jaxpr(b, &nz, &out_nz).map(|(j, _)| j))
        .collect::<Result<Vec<_>>>()?;
    let operands: Vec<Array> = x
        .iter()
        .cloned()
        .chain(selected_tangents(ops, op_t, &nz)?)
        .collect();
    let outs = bind(
        Primitive::Cond {
            branches: jvp_branches,
        },
        &operands,
    )?;
    Ok(split_tangents(outs, &out_nz))
}

/// The carries with nonzero tangents: starting from `start`, grown by the
/// carry outputs of `step`'s jvp until nothing changes. `nonzero_of`
/// maps the carry mask to the jvp's full input mask, and `carry_out`
/// picks the carry outputs from the jvp's output mask.
fn carry_fixpoint(
    body: &ClosedJaxpr,
    start: Vec<bool>,
    nonzero_of: impl Fn(&[bool]) -> Vec<bool>,
    carry_out: impl Fn(&[bool]) -> Vec<bool>,
) -> Result<Vec<bool>> {
    let n_out = body.jaxpr.outvars.len();
    let mut nz = start;
    loop {
        let (_, out) = jvp_jaxpr(body, &nonzero_of(&nz), &vec![false; n_out])?;
        let grown = or(&nz, &carry_out(&out));
        if grown == nz {
            return Ok(nz);
        }
        nz = grown;
    }
}

/// `while(carry..)`: a `while` over the carries and the tangents of the
/// carries in the fixpoint set; the condition ignores the tangents.
pub(crate) fn while_loop(
    cond_jaxpr: &ClosedJaxpr,
    body_jaxpr: &ClosedJaxpr,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let nz = carry_fixpoint(body_jaxpr, nonzeros(x, t), |m| m.to_vec(), |o| o.to_vec())?;
    let (body, _) = jvp_jaxpr(body_jaxpr, &nz, &nz)?;
    let tangent_avals: Vec<AVal> = x
        .iter()
        .zip(&nz)
        .filter(|(_, m)| **m)
        .map(|(x, _)| x.aval())
        .collect();
    let cond = with_unused_inputs(cond_jaxpr, &tangent_avals);
    let operands: Vec<Array> = x
        .iter()
        .cloned()
        .chain(selected_tangents(x, t, &nz)?)
        .collect();
    let outs = bind(
        Primitive::While {
            cond_jaxpr: cond,
            body_jaxpr: body,
        },
        &operands,
    )?;
    Ok(split_tangents(outs, &nz))
}

/// `scan(consts.., carry.., xs..)`: a `scan` of the jvp'd body, with the
/// tangents interleaved group by group (see the `control_flow` module docs).
pub(crate) fn scan(
    body: &ClosedJaxpr,
    [length, num_consts, num_carry]: [usize; 3],
    reverse: bool,
    x: &[Array],
    t: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let fixed = num_consts + num_carry;
    let nz_in = nonzeros(x, t);
    let (c_nz, x_nz) = (&nz_in[..num_consts], &nz_in[fixed..]);
    let with_carry = |carry: &[bool]| [c_nz, carry, x_nz].concat();
    let carry_nz = carry_fixpoint(body, nz_in[num_consts..fixed].to_vec(), with_carry, |o| {
        o[..num_carry].to_vec()
    })?;
    let n_out = body.jaxpr.outvars.len();
    let inst: Vec<bool> = carry_nz
        .iter()
        .copied()
        .chain(std::iter::repeat_n(false, n_out - num_carry))
        .collect();
    let full_nz = with_carry(&carry_nz);
    let (jvp, out_nz) = jvp_jaxpr(body, &full_nz, &inst)?;
    // Reorder the jvp's (primals.., tangents..) into groups.
    let n_in = x.len();
    let tangent_pos = positions(&full_nz, n_in);
    let groups = [0..num_consts, num_consts..fixed, fixed..n_in];
    let in_order: Vec<usize> = groups
        .iter()
        .flat_map(|g| g.clone().chain(g.clone().filter_map(|i| tangent_pos[i])))
        .collect();
    let out_pos = positions(&out_nz, n_out);
    let out_groups = [0..num_carry, num_carry..n_out];
    let out_order: Vec<usize> = out_groups
        .iter()
        .flat_map(|g| g.clone().chain(g.clone().filter_map(|k| out_pos[k])))
        .collect();
    let body = permute(&jvp, &in_order, &out_order);
    let mut operands = Vec::with_capacity(in_order.len());
    for g in &groups {
        operands.extend(x[g.clone()].iter().cloned());
        operands.extend(selected_tangents(
            &x[g.clone()],
            &t[g.clone()],
            &full_nz[g.clone()],
        )?);
    }
    let count = |g: std::ops::Range<usize>| full_nz[g].iter().filter(|b| **b).count();
    let prim = Primitive::Scan {
        body,
        length,
        reverse,
        num_consts: num_consts + count(0..num_consts),
        num_carry: num_carry + count(num_consts..fixed),
    };
    let outs = bind(prim, &operands)?;
    // Results come back grouped: (carry, carry tangents, ys, y tangents).
    let mut outs = outs.into_iter();
    let mut primals = Vec::with_capacity(n_out);
    let mut tangents = Vec::with_capacity(n_out);
    for g in out_groups {
        primals.extend(outs.by_ref().take(g.len()));
        let mut ts = outs
            .by_ref()
            .take(out_nz[g.clone()].iter().filter(|b| **b).count());
        tangents.extend(
            out_nz[g]
                .iter()
                .map(|nz| if *nz { ts.next() } else { None }),
        );
    }
    Ok((primals, tangents))
}

/// For a jvp'd jaxpr over `n` primals: the input index of each primal's
/// tangent (`None` where it has none).
fn positions(nonzero: &[bool], n: usize) -> Vec<Option<usize>> {
    let mut next = n;
    nonzero
        .iter()
        .map(|nz| {
            nz.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}
