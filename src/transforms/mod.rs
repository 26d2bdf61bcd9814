//! Transformations of traced functions: forward- and reverse-mode
//! differentiation (and, in later stages, batching and compilation).
//!
//! - [`jvp`](jvp/index.html): the forward-mode trace and its rule table.
//! - `linearize` evaluates primals while staging the tangent program (a
//!   jvp trace over a partial-evaluation staging trace).
//! - [`transpose`](transpose/index.html): runs a linear jaxpr backwards;
//!   `vjp` = linearize + transpose.
//! - `autodiff`: the public API (`grad`, `value_and_grad`, `jvp`, `vjp`,
//!   `linearize`, `jacfwd`, `jacrev`, `hessian`).
//! - `custom`: `custom_jvp`, `custom_vjp`.
//! - `control_flow_jvp` and `control_flow_batching`: the forward-mode and
//!   batching rules of `cond`, `while` and `scan` (the user-facing
//!   functions are in `lax`).
//! - `control_flow_partial_eval` and `control_flow_transpose`: reverse mode
//!   through `cond` and `scan` (linearize by splitting their jaxprs, and
//!   their transpose rules).
//! - [`batching`](batching/index.html): the batching trace and its rule
//!   table; [`vmap`](vmap/index.html): the public `vmap` API.

pub mod autodiff;
pub mod batching;
pub(crate) mod batching_rules;
pub(crate) mod call;
pub(crate) mod control_flow_batching;
pub(crate) mod control_flow_jvp;
pub(crate) mod control_flow_partial_eval;
pub(crate) mod control_flow_transpose;
pub mod custom;
pub mod jvp;
pub(crate) mod transpose;
pub mod vmap;

use crate::array::Array;
use crate::core::bind;
use rjax_ir::{Atom, Error, Jaxpr, Result};

/// Evaluates a jaxpr by binding each equation on the current trace, so the
/// evaluation itself can be traced or differentiated.
///
/// # Errors
/// A primitive's error, or an argument count mismatch.
pub(crate) fn eval_jaxpr(jaxpr: &Jaxpr, consts: &[Array], args: &[Array]) -> Result<Vec<Array>> {
    if consts.len() != jaxpr.constvars.len() || args.len() != jaxpr.invars.len() {
        return Err(Error::op(
            "eval_jaxpr",
            format!(
                "expected {} constants and {} arguments, got {} and {}",
                jaxpr.constvars.len(),
                jaxpr.invars.len(),
                consts.len(),
                args.len()
            ),
        ));
    }
    let mut env: Vec<Option<Array>> = vec![None; jaxpr.avals.len()];
    for (v, a) in jaxpr
        .constvars
        .iter()
        .chain(&jaxpr.invars)
        .zip(consts.iter().chain(args))
    {
        env[v.index()] = Some(a.clone());
    }
    let read = |env: &[Option<Array>], atom: &Atom| -> Result<Array> {
        match atom {
            Atom::Lit(s) => Ok(Array::from_scalar(*s)),
            Atom::Var(v) => env[v.index()].clone().ok_or_else(|| {
                Error::op(
                    "eval_jaxpr",
                    "internal error: variable read before definition",
                )
            }),
        }
    };
    for eqn in &jaxpr.eqns {
        let ins = eqn
            .inputs
            .iter()
            .map(|a| read(&env, a))
            .collect::<Result<Vec<_>>>()?;
        let outs = bind(eqn.prim.clone(), &ins)?;
        for (v, o) in eqn.outputs.iter().zip(outs) {
            env[v.index()] = Some(o);
        }
    }
    jaxpr.outvars.iter().map(|a| read(&env, a)).collect()
}
