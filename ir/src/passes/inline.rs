//! Inlining of `call`: a `call` equation is replaced by the equations of
//! the called jaxpr, with fresh variables, its inputs bound to the call's
//! operands and the call's results renamed to the body's outputs. Calls
//! inside the called jaxpr are inlined first (recursively). The called
//! jaxpr's constants become constants of the result, once per called jaxpr
//! however often it is called.
//!
//! Only `call` is inlined; the jaxprs of `cond`, `while`, `scan` and the
//! custom-derivative primitives stay where they are ([`super::optimize`]
//! inlines the calls inside them).

use super::{push_aval, with_eqns, Renames};
use crate::buffer::HostBuffer;
use crate::jaxpr::{Atom, ClosedJaxpr, Eqn, Jaxpr, Var};
use crate::primitive::Primitive;
use std::collections::HashMap;
use std::sync::Arc;

/// Inlines every `call` whose called jaxpr (after inlining its own calls)
/// has no constants; calls of jaxprs with constants stay, since a
/// [`Jaxpr`] cannot carry them (use [`inline_calls_closed`]).
///
/// # Example
/// ```
/// use rjax_ir::{passes::inline_calls, AVal, Atom, ClosedJaxpr, DType, JaxprBuilder, Primitive};
/// use std::sync::Arc;
/// let f32_2 = AVal::new(DType::F32, &[2]);
/// let mut inner = JaxprBuilder::new();
/// let a = inner.new_var(f32_2.clone());
/// let b = inner.add_eqn(Primitive::Sin, vec![Atom::Var(a)], None).unwrap()[0];
/// let body = inner.build(vec![], vec![a], vec![Atom::Var(b)]).unwrap();
/// let call = Primitive::Call { jaxpr: Arc::new(ClosedJaxpr::new(body, vec![])), name: "f".into() };
/// let mut outer = JaxprBuilder::new();
/// let x = outer.new_var(f32_2);
/// let y = outer.add_eqn(call, vec![Atom::Var(x)], None).unwrap()[0];
/// let jaxpr = outer.build(vec![], vec![x], vec![Atom::Var(y)]).unwrap();
/// assert_eq!(
///     inline_calls(&jaxpr).to_string(),
///     "{ lambda ; a:f32[2]. let\n    b:f32[2] = sin a\n  in (b,) }"
/// );
/// ```
pub fn inline_calls(jaxpr: &Jaxpr) -> Jaxpr {
    let mut memo = Memo::new();
    inline(jaxpr, None, &mut memo).0
}

/// Inlines every `call`; the called jaxprs' constants become constants of
/// the result (appended after the existing ones).
///
/// # Example
/// ```
/// use rjax_ir::{passes::inline_calls_closed, AVal, Atom, ClosedJaxpr, DType, HostBuffer,
///     JaxprBuilder, Primitive};
/// use std::sync::Arc;
/// let f32_2 = AVal::new(DType::F32, &[2]);
/// let mut inner = JaxprBuilder::new();
/// let c = inner.new_var(f32_2.clone());
/// let a = inner.new_var(f32_2.clone());
/// let b = inner.add_eqn(Primitive::Mul, vec![Atom::Var(a), Atom::Var(c)], None).unwrap()[0];
/// let body = inner.build(vec![c], vec![a], vec![Atom::Var(b)]).unwrap();
/// let k = HostBuffer::from_vec(vec![3.0f32, 4.0], &[2]).unwrap();
/// let call = Primitive::Call {
///     jaxpr: Arc::new(ClosedJaxpr::new(body, vec![k.clone()])),
///     name: "scale".into(),
/// };
/// let mut outer = JaxprBuilder::new();
/// let x = outer.new_var(f32_2);
/// let y = outer.add_eqn(call, vec![Atom::Var(x)], None).unwrap()[0];
/// let jaxpr = outer.build(vec![], vec![x], vec![Atom::Var(y)]).unwrap();
/// let inlined = inline_calls_closed(&ClosedJaxpr::new(jaxpr, vec![]));
/// assert_eq!(inlined.consts, vec![k]);
/// assert_eq!(
///     inlined.to_string(),
///     "{ lambda a:f32[2] ; b:f32[2]. let\n    c:f32[2] = mul b a\n  in (c,) }"
/// );
/// ```
pub fn inline_calls_closed(closed: &ClosedJaxpr) -> ClosedJaxpr {
    inline_closed_changed(closed).0
}

/// [`inline_calls_closed`], and whether it inlined anything.
pub(crate) fn inline_closed_changed(closed: &ClosedJaxpr) -> (ClosedJaxpr, bool) {
    let mut memo = Memo::new();
    let (jaxpr, consts, changed) = inline(&closed.jaxpr, Some(&closed.consts), &mut memo);
    (ClosedJaxpr::new(jaxpr, consts), changed)
}

/// Called jaxprs with their own calls inlined, keyed by address; each entry
/// keeps the original alive so that its address stays unique.
type Memo = HashMap<*const ClosedJaxpr, (Arc<ClosedJaxpr>, Arc<ClosedJaxpr>)>;

/// `callee` with its own calls inlined, computed once per callee.
fn inlined_body(callee: &Arc<ClosedJaxpr>, memo: &mut Memo) -> Arc<ClosedJaxpr> {
    let key = Arc::as_ptr(callee);
    if let Some((_, body)) = memo.get(&key) {
        return body.clone();
    }
    let (jaxpr, consts, changed) = inline(&callee.jaxpr, Some(&callee.consts), memo);
    let body = if changed {
        Arc::new(ClosedJaxpr::new(jaxpr, consts))
    } else {
        callee.clone()
    };
    memo.insert(key, (callee.clone(), body.clone()));
    body
}

/// Inlines the calls of `jaxpr`, whose constvars hold `consts` when given
/// (otherwise calls of jaxprs with constants stay). Returns the jaxpr, its
/// constants and whether anything was inlined.
fn inline(
    jaxpr: &Jaxpr,
    consts: Option<&[HostBuffer]>,
    memo: &mut Memo,
) -> (Jaxpr, Vec<HostBuffer>, bool) {
    let mut out = with_eqns(jaxpr, Vec::with_capacity(jaxpr.eqns.len()), Vec::new());
    let mut out_consts = consts.map(<[HostBuffer]>::to_vec).unwrap_or_default();
    let mut renames = Renames::default();
    // The outer constvars holding each inlined body's constants.
    let mut body_constvars: HashMap<*const ClosedJaxpr, Vec<Var>> = HashMap::new();
    let mut changed = false;
    for eqn in &jaxpr.eqns {
        let inputs = renames.apply(&eqn.inputs);
        let body = match &eqn.prim {
            Primitive::Call { jaxpr: callee, .. } => Some(inlined_body(callee, memo)),
            _ => None,
        };
        let body = body.filter(|b| consts.is_some() || b.consts.is_empty());
        let Some(body) = body else {
            out.eqns.push(Eqn {
                inputs,
                ..eqn.clone()
            });
            continue;
        };
        let constvars = body_constvars
            .entry(Arc::as_ptr(&body))
            .or_insert_with(|| {
                let vars: Vec<Var> = body
                    .consts
                    .iter()
                    .map(|c| push_aval(&mut out.avals, c.aval()))
                    .collect();
                out.constvars.extend(&vars);
                out_consts.extend(body.consts.iter().cloned());
                vars
            })
            .clone();
        let results = splice(&mut out, &body.jaxpr, &constvars, &inputs);
        for (v, r) in eqn.outputs.iter().zip(results) {
            renames.set(*v, r);
        }
        changed = true;
    }
    out.outvars = renames.apply(&jaxpr.outvars);
    (out, out_consts, changed)
}

/// Appends the equations of `body` to `out` with fresh variables, its
/// constvars bound to `constvars` and its invars to `inputs`; returns what
/// its outputs became.
///
/// # Panics
/// If `body` uses a variable it does not define (it must verify).
fn splice(out: &mut Jaxpr, body: &Jaxpr, constvars: &[Var], inputs: &[Atom]) -> Vec<Atom> {
    let mut local: Vec<Option<Atom>> = vec![None; body.avals.len()];
    for (v, c) in body.constvars.iter().zip(constvars) {
        local[v.index()] = Some(Atom::Var(*c));
    }
    for (v, a) in body.invars.iter().zip(inputs) {
        local[v.index()] = Some(*a);
    }
    let map = |local: &[Option<Atom>], a: &Atom| match a {
        Atom::Var(v) => local[v.index()]
            .unwrap_or_else(|| panic!("internal error: inlined jaxpr reads undefined {v:?}")),
        Atom::Lit(_) => *a,
    };
    for eqn in &body.eqns {
        let inputs = eqn.inputs.iter().map(|a| map(&local, a)).collect();
        let outputs = eqn
            .outputs
            .iter()
            .map(|v| {
                let fresh = push_aval(&mut out.avals, body.aval(*v).clone());
                local[v.index()] = Some(Atom::Var(fresh));
                fresh
            })
            .collect();
        out.eqns.push(Eqn {
            prim: eqn.prim.clone(),
            inputs,
            outputs,
            loc: eqn.loc,
        });
    }
    body.outvars.iter().map(|a| map(&local, a)).collect()
}
