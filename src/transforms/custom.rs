//! User-defined derivatives: `custom_jvp` and `custom_vjp`, and
//! `stop_gradient`.
//!
//! A function wrapped with [`custom_jvp`] or [`custom_vjp`] runs as itself
//! eagerly. Under a transformation it is traced into jaxprs and bound as a
//! `custom_jvp_call` / `custom_vjp_call` primitive, so every trace sees it:
//! staging records it, the jvp trace applies the user's rule instead of
//! differentiating the body.
//!
//! Values the functions capture (closures over arrays, or over tracers of
//! an enclosing transformation) are passed as explicit leading operands —
//! the jaxprs carry no constants. A `custom_vjp` function becomes, under
//! differentiation, its forward pass plus a `custom_lin` equation whose
//! transpose is the user's backward pass. Differentiating a custom
//! function with respect to a value it captures (rather than takes as an
//! argument) is an error: pass that value as an argument.

use crate::array::Array;
use crate::core::{bind, current_trace};
use crate::staging::trace_to_jaxpr;
use crate::transforms::eval_jaxpr;
use crate::transforms::jvp::{instantiate, Tangents};
use crate::transforms::transpose::LinArg;
use crate::tree::{tree_leaves, tree_unflatten, Tree};
use rjax_ir::{AVal, ClosedJaxpr, Error, Jaxpr, Primitive, Result, Var};
use std::cell::RefCell;
use std::sync::Arc;

/// Marks `x` as a constant for differentiation: its value passes through,
/// its derivative is zero (`jax.lax.stop_gradient`).
///
/// # Example
/// ```
/// use rjax::{grad, stop_gradient, Array};
/// let g = grad(|x: &Array| (x * stop_gradient(x)).sum())(&Array::scalar(3.0f32));
/// assert_eq!(g.item::<f32>().unwrap(), 3.0);
/// ```
#[track_caller]
pub fn stop_gradient(x: &Array) -> Array {
    crate::lax::stop_gradient(x)
}

/// `jaxpr` with `extra` fresh, unused inputs inserted at position `at` of
/// its inputs, and its constants turned into leading inputs.
fn with_inputs(
    jaxpr: &Jaxpr,
    leading_unused: &[AVal],
    trailing_unused_at: usize,
    trailing: &[AVal],
) -> Jaxpr {
    let mut j = jaxpr.clone();
    let fresh = |aval: &AVal, avals: &mut Vec<AVal>| {
        avals.push(aval.clone());
        Var((avals.len() - 1) as u32)
    };
    let lead: Vec<Var> = leading_unused
        .iter()
        .map(|a| fresh(a, &mut j.avals))
        .collect();
    let mid: Vec<Var> = trailing.iter().map(|a| fresh(a, &mut j.avals)).collect();
    let mut invars = lead;
    invars.append(&mut j.constvars);
    let rest = std::mem::take(&mut j.invars);
    invars.extend(rest[..trailing_unused_at].iter().copied());
    invars.extend(mid);
    invars.extend(rest[trailing_unused_at..].iter().copied());
    j.invars = invars;
    j
}

fn closed(jaxpr: Jaxpr) -> Arc<ClosedJaxpr> {
    Arc::new(ClosedJaxpr::new(jaxpr, vec![]))
}

fn avals(xs: &[Array]) -> Vec<AVal> {
    xs.iter().map(Array::aval).collect()
}

fn unflatten_output<B: Tree>(template: &RefCell<Option<B>>, leaves: Vec<Array>) -> Result<B> {
    let t = template.borrow();
    tree_unflatten(
        t.as_ref()
            .ok_or_else(|| Error::op("custom", "internal error: no output template"))?,
        leaves,
    )
}

/// Wraps `f` with a user-defined forward-mode rule `rule(primals, tangents)
/// -> (outputs, output tangents)`, like `jax.custom_jvp`. Reverse mode
/// works too: it transposes the (linear) tangent part of the rule.
///
/// # Example
/// ```
/// use rjax::{custom_jvp, grad, Array};
/// // log(1 + e^x) with a hand-written, overflow-free derivative.
/// let softplus = custom_jvp(
///     |x: &Array| rjax::nn::softplus(x),
///     |x: &Array, t: &Array| (rjax::nn::softplus(x), t * x.sigmoid()),
/// );
/// let g = grad(|x: &Array| softplus(x).sum())(&Array::scalar(0.0f32));
/// assert_eq!(g.item::<f32>().unwrap(), 0.5);
/// ```
///
/// # Panics
/// The returned function panics with the error of tracing `f` or `rule`.
pub fn custom_jvp<A: Tree, B: Tree>(
    f: impl Fn(&A) -> B,
    rule: impl Fn(&A, &A) -> (B, B),
) -> impl Fn(&A) -> B {
    move |x: &A| {
        if current_trace().tag().is_none() {
            return f(x);
        }
        crate::jnp::or_panic(bind_custom_jvp(&f, &rule, x))
    }
}

fn bind_custom_jvp<A: Tree, B: Tree>(
    f: &dyn Fn(&A) -> B,
    rule: &dyn Fn(&A, &A) -> (B, B),
    x: &A,
) -> Result<B> {
    let leaves = tree_leaves(x);
    let n = leaves.len();
    let in_avals = avals(&leaves);
    let template = RefCell::new(None);
    let (call, call_consts) = trace_to_jaxpr(&in_avals, |ins| {
        let out = f(&x.unflatten_from(&mut ins.iter().cloned())?);
        let out_leaves = tree_leaves(&out);
        *template.borrow_mut() = Some(out);
        Ok(out_leaves)
    })?;
    let doubled: Vec<AVal> = in_avals.iter().chain(&in_avals).cloned().collect();
    let (rule_j, rule_consts) = trace_to_jaxpr(&doubled, |ins| {
        let primals = x.unflatten_from(&mut ins[..n].iter().cloned())?;
        let tangents = x.unflatten_from(&mut ins[n..].iter().cloned())?;
        let (out, out_t) = rule(&primals, &tangents);
        Ok(tree_leaves(&out)
            .into_iter()
            .chain(tree_leaves(&out_t))
            .collect())
    })?;
    let (cc, rc) = (avals(&call_consts), avals(&rule_consts));
    // Operands: call consts, rule consts, inputs.
    let call = with_inputs(&call, &[], 0, &rc);
    let consts_avals: Vec<AVal> = cc.iter().chain(&rc).cloned().collect();
    // The rule takes (operands.., tangents of operands..); it ignores the
    // call's constants and every constant's tangent.
    let rule_j = with_inputs(&rule_j, &cc, n, &consts_avals);
    let operands: Vec<Array> = call_consts
        .into_iter()
        .chain(rule_consts)
        .chain(leaves)
        .collect();
    let prim = Primitive::CustomJvpCall {
        call: closed(call),
        jvp: closed(rule_j),
    };
    unflatten_output(&template, bind(prim, &operands)?)
}

/// Wraps `f` with a user-defined reverse-mode rule, like `jax.custom_vjp`:
/// `fwd(x) -> (outputs, residuals)` and `bwd(residuals, output cotangents)
/// -> input cotangents`. Forward mode (`jvp`, `jacfwd`) of the result is an
/// error, as in JAX.
///
/// # Example
/// ```
/// use rjax::{custom_vjp, grad, Array};
/// // Clip the gradient of the identity to [-1, 1].
/// let clip_grad = custom_vjp(
///     |x: &Array| x.clone(),
///     |x: &Array| (x.clone(), ()),
///     |_: &(), ct: &Array| ct.clip(-1.0, 1.0),
/// );
/// let g = grad(|x: &Array| (clip_grad(x) * 5.0).sum())(&Array::scalar(2.0f32));
/// assert_eq!(g.item::<f32>().unwrap(), 1.0);
/// ```
///
/// # Panics
/// The returned function panics with the error of tracing the functions.
pub fn custom_vjp<A: Tree, B: Tree, R: Tree>(
    f: impl Fn(&A) -> B,
    fwd: impl Fn(&A) -> (B, R),
    bwd: impl Fn(&R, &B) -> A,
) -> impl Fn(&A) -> B {
    move |x: &A| {
        if current_trace().tag().is_none() {
            return f(x);
        }
        crate::jnp::or_panic(bind_custom_vjp(&f, &fwd, &bwd, x))
    }
}

fn bind_custom_vjp<A: Tree, B: Tree, R: Tree>(
    f: &dyn Fn(&A) -> B,
    fwd: &dyn Fn(&A) -> (B, R),
    bwd: &dyn Fn(&R, &B) -> A,
    x: &A,
) -> Result<B> {
    let leaves = tree_leaves(x);
    let in_avals = avals(&leaves);
    let template = RefCell::new(None);
    let (call, cc) = trace_to_jaxpr(&in_avals, |ins| {
        let out = f(&x.unflatten_from(&mut ins.iter().cloned())?);
        let out_leaves = tree_leaves(&out);
        *template.borrow_mut() = Some(out);
        Ok(out_leaves)
    })?;
    let res_template: RefCell<Option<R>> = RefCell::new(None);
    let (fwd_j, fc) = trace_to_jaxpr(&in_avals, |ins| {
        let (out, res) = fwd(&x.unflatten_from(&mut ins.iter().cloned())?);
        let leaves: Vec<Array> = tree_leaves(&out)
            .into_iter()
            .chain(tree_leaves(&res))
            .collect();
        *res_template.borrow_mut() = Some(res);
        Ok(leaves)
    })?;
    let num_outputs = call.outvars.len();
    let res_avals: Vec<AVal> = fwd_j.out_avals()[num_outputs..].to_vec();
    let out_avals = call.out_avals();
    let bwd_in: Vec<AVal> = res_avals.iter().chain(&out_avals).cloned().collect();
    let (bwd_j, bc) = trace_to_jaxpr(&bwd_in, |ins| {
        let res_t = res_template.borrow();
        let res = res_t
            .as_ref()
            .expect("residual template")
            .unflatten_from(&mut ins[..res_avals.len()].iter().cloned())?;
        let out_t = template.borrow();
        let cts = out_t
            .as_ref()
            .expect("output template")
            .unflatten_from(&mut ins[res_avals.len()..].iter().cloned())?;
        Ok(tree_leaves(&bwd(&res, &cts)))
    })?;
    let (cc_a, fc_a, bc_a) = (avals(&cc), avals(&fc), avals(&bc));
    // Operands: call consts, fwd consts, bwd consts, inputs.
    let call = with_inputs(&call, &[], 0, &[fc_a.clone(), bc_a.clone()].concat());
    // fwd passes the bwd constants through as leading residuals.
    let mut fwd_j = with_inputs(&fwd_j, &cc_a, 0, &[]);
    let bc_vars: Vec<Var> = bc_a
        .iter()
        .map(|a| {
            fwd_j.avals.push(a.clone());
            Var((fwd_j.avals.len() - 1) as u32)
        })
        .collect();
    let insert_at = cc_a.len() + fc_a.len();
    for (k, v) in bc_vars.iter().enumerate() {
        fwd_j.invars.insert(insert_at + k, *v);
    }
    let residual_outs = fwd_j.outvars.split_off(num_outputs);
    fwd_j
        .outvars
        .extend(bc_vars.iter().map(|v| rjax_ir::Atom::Var(*v)));
    fwd_j.outvars.extend(residual_outs);
    let bwd_j = with_inputs(&bwd_j, &[], 0, &[]);
    let operands: Vec<Array> = cc.into_iter().chain(fc).chain(bc).chain(leaves).collect();
    let prim = Primitive::CustomVjpCall {
        call: closed(call),
        fwd: closed(fwd_j),
        bwd: closed(bwd_j),
        num_outputs,
    };
    unflatten_output(&template, bind(prim, &operands)?)
}

/// The jvp rule of `custom_vjp_call`: run `fwd`, and represent the tangent
/// map by a `custom_lin` equation over the residuals.
pub(crate) fn custom_vjp_jvp(
    fwd: &ClosedJaxpr,
    bwd: &Arc<ClosedJaxpr>,
    num_outputs: usize,
    primals: &[Array],
    tangents: &[Option<Array>],
) -> Result<(Vec<Array>, Tangents)> {
    let mut outs = eval_jaxpr(&fwd.jaxpr, &[], primals)?;
    let residuals = outs.split_off(num_outputs);
    let n_inputs = bwd.jaxpr.outvars.len();
    let n_consts = primals.len() - n_inputs;
    if tangents[..n_consts].iter().any(Option::is_some) {
        return Err(Error::op(
            "custom_vjp",
            "the function closes over a value that is being differentiated; pass it as an argument instead",
        ));
    }
    let mut args = residuals.clone();
    for (p, t) in primals[n_consts..].iter().zip(&tangents[n_consts..]) {
        args.push(instantiate(t, &p.aval())?);
    }
    let prim = Primitive::CustomLin {
        bwd: bwd.clone(),
        num_residuals: residuals.len(),
    };
    let out_tangents = bind(prim, &args)?;
    Ok((outs, out_tangents.into_iter().map(Some).collect()))
}

/// The transpose of `custom_lin`: the user's backward pass.
pub(crate) fn custom_lin_transpose(
    bwd: &ClosedJaxpr,
    num_residuals: usize,
    cts: &[Option<Array>],
    args: &[LinArg],
) -> Result<Vec<Option<Array>>> {
    let mut ins = Vec::with_capacity(num_residuals + cts.len());
    for a in &args[..num_residuals] {
        match a {
            LinArg::Const(r) => ins.push(r.clone()),
            LinArg::Linear(_) => {
                return Err(Error::op(
                    "custom_lin",
                    "internal error: a residual is linear",
                ))
            }
        }
    }
    let ct_avals = bwd.jaxpr.in_avals()[num_residuals..].to_vec();
    for (ct, aval) in cts.iter().zip(&ct_avals) {
        ins.push(instantiate(ct, aval)?);
    }
    let in_cts = eval_jaxpr(&bwd.jaxpr, &[], &ins)?;
    let mut out: Vec<Option<Array>> = vec![None; num_residuals];
    out.extend(in_cts.into_iter().map(Some));
    Ok(out)
}
