//! Tracing the closures of the control-flow functions into jaxprs, with
//! closure conversion: captured values become explicit leading inputs.

use crate::array::Array;
use crate::staging::{prune, trace_to_jaxpr};
use crate::tree::{tree_leaves, tree_structure, Tree};
use rjax_ir::{AVal, Atom, ClosedJaxpr, Error, Jaxpr, Result, Var};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// A closure traced on abstract inputs.
pub(crate) struct Traced<B> {
    /// The program; its `constvars` are the captured values.
    pub jaxpr: Jaxpr,
    /// The captured values (concrete arrays or tracers of enclosing
    /// transformations), one per `jaxpr.constvars`.
    pub captured: Vec<Array>,
    /// The closure's result, with tracers as leaves: the template that
    /// rebuilds results.
    pub out: B,
}

/// Traces `f` on fresh inputs of `in_avals`.
///
/// # Errors
/// Whatever `f` returns, and shape errors raised while tracing.
pub(crate) fn trace_fn<B: Tree>(
    in_avals: &[AVal],
    f: impl FnOnce(&[Array]) -> Result<B>,
) -> Result<Traced<B>> {
    let out = RefCell::new(None);
    let (jaxpr, captured) = trace_to_jaxpr(in_avals, |ins| {
        let result = f(ins)?;
        let leaves = tree_leaves(&result);
        *out.borrow_mut() = Some(result);
        Ok(leaves)
    })?;
    let (jaxpr, captured) = prune(&jaxpr, captured);
    let out = out
        .into_inner()
        .ok_or_else(|| Error::op("control flow", "internal error: no traced output"))?;
    Ok(Traced {
        jaxpr,
        captured,
        out,
    })
}

/// Unites the captured values of several traced jaxprs (each value once,
/// by identity, in order of first appearance) and rewrites every jaxpr to
/// take all of them as leading inputs, before its own inputs; a jaxpr
/// ignores the ones it did not capture. Returns the jaxprs (with no
/// `constvars`) and the united values.
pub(crate) fn share_captured(traced: Vec<(Jaxpr, Vec<Array>)>) -> (Vec<Jaxpr>, Vec<Array>) {
    let mut all: Vec<Array> = Vec::new();
    let mut position: HashMap<usize, usize> = HashMap::new();
    for (_, captured) in &traced {
        for c in captured {
            position.entry(c.ptr_id()).or_insert_with(|| {
                all.push(c.clone());
                all.len() - 1
            });
        }
    }
    let jaxprs = traced
        .into_iter()
        .map(|(mut jaxpr, captured)| {
            let mut own: Vec<Option<Var>> = vec![None; all.len()];
            for (v, c) in jaxpr.constvars.iter().zip(&captured) {
                own[position[&c.ptr_id()]] = Some(*v);
            }
            let mut invars: Vec<Var> = own
                .into_iter()
                .zip(&all)
                .map(|(v, c)| v.unwrap_or_else(|| fresh_var(&mut jaxpr, c.aval())))
                .collect();
            invars.append(&mut jaxpr.invars);
            jaxpr.invars = invars;
            jaxpr.constvars.clear();
            jaxpr
        })
        .collect();
    (jaxprs, all)
}

/// A new variable of `jaxpr` (for an unused input).
pub(crate) fn fresh_var(jaxpr: &mut Jaxpr, aval: AVal) -> Var {
    jaxpr.avals.push(aval);
    Var(u32::try_from(jaxpr.avals.len() - 1).expect("internal error: too many variables"))
}

/// A closed jaxpr with no constants.
pub(crate) fn closed(jaxpr: Jaxpr) -> Arc<ClosedJaxpr> {
    Arc::new(ClosedJaxpr::new(jaxpr, vec![]))
}

/// `jaxpr` returning its first `n` inputs unchanged before its results.
pub(crate) fn pass_through_leading(mut jaxpr: Jaxpr, n: usize) -> Jaxpr {
    let mut outvars: Vec<Atom> = jaxpr.invars[..n].iter().map(|v| Atom::Var(*v)).collect();
    outvars.append(&mut jaxpr.outvars);
    jaxpr.outvars = outvars;
    jaxpr
}

/// The abstract values of arrays.
pub(crate) fn avals(xs: &[Array]) -> Vec<AVal> {
    xs.iter().map(Array::aval).collect()
}

/// `[a,b]` printing of abstract values.
pub(crate) fn aval_list(avals: &[AVal]) -> String {
    let parts: Vec<String> = avals.iter().map(ToString::to_string).collect();
    format!("({})", parts.join(", "))
}

/// Checks that `got` (returned by `who`) has the structure and leaf types
/// of `want` (described as `what`); the error names both.
pub(crate) fn check_same_type<T: Tree>(
    op: &str,
    (who, got): (&str, &T),
    (what, want): (&str, &T),
) -> Result<()> {
    let (gs, ws) = (tree_structure(got), tree_structure(want));
    if gs != ws {
        return Err(Error::op(
            op,
            format!("{who} returns a tree of structure {gs}, but {what} has structure {ws}"),
        ));
    }
    let (ga, wa) = (avals(&tree_leaves(got)), avals(&tree_leaves(want)));
    if ga != wa {
        return Err(Error::op(
            op,
            format!(
                "{who} returns {}, but {what} is {} (shapes and dtypes must match)",
                aval_list(&ga),
                aval_list(&wa)
            ),
        ));
    }
    Ok(())
}

/// An owned copy of a tree (its leaves are shared handles).
pub(crate) fn tree_copy<T: Tree>(tree: &T) -> Result<T> {
    tree.unflatten_from(&mut tree_leaves(tree).into_iter())
}
