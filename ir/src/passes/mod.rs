//! IR passes over jaxprs. Each pass maps a jaxpr to an equivalent one: the
//! same inputs and outputs (number, order and abstract values) and the same
//! results on every input, as the reference interpreter
//! ([`crate::interp`]) computes them.
//!
//! The passes, in the order [`optimize`] runs them:
//!
//! 1. [`inline_calls`] / [`inline_calls_closed`]: replaces `call`
//!    equations by the bodies of the called jaxprs.
//! 2. [`fold_constants`] / [`fold_constants_closed`]: evaluates equations
//!    whose operands are all known at compile time.
//! 3. [`simplify`]: algebraic identities (`x*1`, `neg(neg x)`,
//!    transpose∘transpose, reshape chains, broadcast∘broadcast, ...).
//! 4. [`cse`]: merges equations that compute the same thing.
//! 5. [`dce`] / [`dce_closed`]: drops equations (and constants) that no
//!    result depends on.
//!
//! [`optimize`] iterates them to a fixed point and also optimizes the
//! jaxprs inside higher-order primitives; [`compact`] renumbers variables.
//!
//! # Exactness
//!
//! Every rewrite is exact with respect to the reference interpreter: results
//! are bit-for-bit identical, except that a NaN may come out with a
//! different payload (for example `x * 1.0` quiets a signalling NaN). In
//! particular no rewrite assumes that `-0.0 == 0.0`, that `x * 0 == 0` or that
//! floating-point arithmetic is associative. Constant folding uses the
//! reference interpreter itself, so a folded transcendental is correctly
//! rounded even where a backend's expansion would be off by an ulp.
//!
//! # How the passes rewrite
//!
//! A pass walks the equations in order and emits a new equation list. When
//! it drops an equation whose result equals an existing value (`x * 1` is
//! `x`), it records the substitution in a rename map ([`Renames`]) that is
//! applied to every later operand and to the outputs. Variables keep their
//! indices; new ones are appended to the arena, and variables that are no
//! longer defined stay in the arena unused until [`compact`] renumbers them.
//! Printed names do not depend on the arena, only on the order of
//! definition.
//!
//! The passes expect well-formed jaxprs (ones that pass
//! [`crate::verify::verify`], as every [`crate::JaxprBuilder`] result does);
//! on a malformed one they may panic with an internal error.

mod cse;
mod dce;
mod fold;
mod inline;
mod simplify;

#[cfg(test)]
mod tests;

pub use cse::cse;
pub use dce::{dce, dce_closed};
pub use fold::{fold_constants, fold_constants_closed, FOLD_LIMIT};
pub use inline::{inline_calls, inline_calls_closed};
pub use simplify::simplify;

use crate::dtype::AVal;
use crate::jaxpr::{Atom, ClosedJaxpr, Eqn, Jaxpr, Var};
use crate::primitive::Primitive;
use std::collections::HashMap;
use std::sync::Arc;

/// How many rounds of the pass pipeline [`optimize`] runs at most.
pub const MAX_ROUNDS: usize = 10;

/// The full pipeline: inline → fold → simplify → cse → dce, repeated until
/// a round changes nothing (at most [`MAX_ROUNDS`] rounds), then
/// [`compact`]. The jaxprs inside higher-order primitives (`cond`
/// branches, `while` and `scan` bodies, custom-derivative rules) are
/// optimized first, each once even when shared; `call`s are inlined.
///
/// # Example
/// ```
/// use rjax_ir::{passes::optimize, AVal, Atom, ClosedJaxpr, DType, JaxprBuilder, Primitive, Scalar};
/// let mut b = JaxprBuilder::new();
/// let x = b.new_var(AVal::new(DType::F32, &[3]));
/// let lit = |v: f32| Atom::Lit(Scalar::F32(v));
/// let half = b.add_eqn(Primitive::Div, vec![lit(1.0), lit(2.0)], None).unwrap()[0];
/// let y = b.add_eqn(Primitive::Mul, vec![Atom::Var(x), Atom::Var(half)], None).unwrap()[0];
/// let z = b.add_eqn(Primitive::Neg, vec![Atom::Var(y)], None).unwrap()[0];
/// let w = b.add_eqn(Primitive::Neg, vec![Atom::Var(z)], None).unwrap()[0];
/// let jaxpr = b.build(vec![], vec![x], vec![Atom::Var(w)]).unwrap();
/// let opt = optimize(&ClosedJaxpr::new(jaxpr, vec![]));
/// assert_eq!(
///     opt.to_string(),
///     "{ lambda ; a:f32[3]. let\n    b:f32[3] = mul a 0.5:f32[]\n  in (b,) }"
/// );
/// ```
pub fn optimize(closed: &ClosedJaxpr) -> ClosedJaxpr {
    let mut memo = HashMap::new();
    optimize_memo(closed, &mut memo)
}

/// Sub-jaxprs already optimized, keyed by address: each entry holds the
/// original (so that its address cannot be reused while it is a key) and the
/// result. Results are entered under their own address too, so a second
/// visit does not optimize them again. Shared sub-jaxprs thus stay shared,
/// which [`cse`] relies on (it compares sub-jaxprs by address).
type Memo = HashMap<*const ClosedJaxpr, (Arc<ClosedJaxpr>, Arc<ClosedJaxpr>)>;

/// [`optimize`] sharing a [`Memo`] with the enclosing jaxprs.
fn optimize_memo(closed: &ClosedJaxpr, memo: &mut Memo) -> ClosedJaxpr {
    let mut current = optimize_sub_jaxprs(closed, memo);
    for _ in 0..MAX_ROUNDS {
        let (next, inlined) = inline::inline_closed_changed(&current);
        let (next, folded) = fold::fold_changed(&next.jaxpr, Some(&next.consts));
        let (jaxpr, simplified) = simplify::simplify_changed(&next.jaxpr);
        let (jaxpr, merged) = cse::cse_changed(&jaxpr);
        let next = ClosedJaxpr::new(jaxpr, next.consts);
        let (next, pruned) = dce::dce_closed_changed(&next);
        current = next;
        if inlined {
            // Inlined bodies may carry higher-order equations of their own.
            current = optimize_sub_jaxprs(&current, memo);
        }
        if !(inlined || folded || simplified || merged || pruned) {
            break;
        }
    }
    let consts = current.consts;
    ClosedJaxpr::new(compact(&current.jaxpr), consts)
}

/// Optimizes the sub-jaxprs of every higher-order equation but `call`
/// (which [`inline_calls_closed`] removes).
fn optimize_sub_jaxprs(closed: &ClosedJaxpr, memo: &mut Memo) -> ClosedJaxpr {
    let mut jaxpr = closed.jaxpr.clone();
    for eqn in &mut jaxpr.eqns {
        if !eqn.prim.is_higher_order() || matches!(eqn.prim, Primitive::Call { .. }) {
            continue;
        }
        let subs: Vec<Arc<ClosedJaxpr>> = eqn
            .prim
            .sub_jaxprs()
            .into_iter()
            .map(|sub| {
                if let Some((_, done)) = memo.get(&Arc::as_ptr(sub)) {
                    return done.clone();
                }
                let done = Arc::new(optimize_memo(sub, memo));
                memo.insert(Arc::as_ptr(sub), (sub.clone(), done.clone()));
                memo.insert(Arc::as_ptr(&done), (done.clone(), done.clone()));
                done
            })
            .collect();
        eqn.prim = with_sub_jaxprs(&eqn.prim, subs);
    }
    ClosedJaxpr::new(jaxpr, closed.consts.clone())
}

/// `prim` with its sub-jaxprs replaced, in [`Primitive::sub_jaxprs`] order.
///
/// # Panics
/// If `subs` does not hold one jaxpr per sub-jaxpr (an internal error).
fn with_sub_jaxprs(prim: &Primitive, subs: Vec<Arc<ClosedJaxpr>>) -> Primitive {
    let mut prim = prim.clone();
    let slots = prim.sub_jaxprs_mut();
    assert_eq!(
        slots.len(),
        subs.len(),
        "internal error: with_sub_jaxprs needs one jaxpr per sub-jaxpr"
    );
    for (slot, sub) in slots.into_iter().zip(subs) {
        *slot = sub;
    }
    prim
}

/// Renumbers the variables of a jaxpr in order of definition (constvars,
/// invars, then equation outputs) and drops the abstract values of
/// variables that are no longer defined. The printed form is unchanged.
/// Sub-jaxprs are not touched (each has its own arena).
///
/// # Panics
/// If a variable is outside the jaxpr's `avals` (it does not verify).
///
/// # Example
/// ```
/// use rjax_ir::{passes::{compact, dce}, AVal, Atom, DType, JaxprBuilder, Primitive};
/// let mut b = JaxprBuilder::new();
/// let x = b.new_var(AVal::new(DType::F32, &[2]));
/// let _dead = b.add_eqn(Primitive::Exp, vec![Atom::Var(x)], None).unwrap();
/// let y = b.add_eqn(Primitive::Neg, vec![Atom::Var(x)], None).unwrap()[0];
/// let jaxpr = dce(&b.build(vec![], vec![x], vec![Atom::Var(y)]).unwrap());
/// assert_eq!(jaxpr.avals.len(), 3);
/// let small = compact(&jaxpr);
/// assert_eq!(small.avals.len(), 2);
/// assert_eq!(small.to_string(), jaxpr.to_string());
/// ```
pub fn compact(jaxpr: &Jaxpr) -> Jaxpr {
    let mut map: Vec<Option<Var>> = vec![None; jaxpr.avals.len()];
    let mut avals = Vec::with_capacity(jaxpr.avals.len());
    let defined = jaxpr
        .constvars
        .iter()
        .chain(&jaxpr.invars)
        .chain(jaxpr.eqns.iter().flat_map(|e| &e.outputs));
    // Variables used but never defined (a malformed jaxpr) get an index
    // too, after the defined ones, so that the result is as malformed as
    // the input and no worse.
    let used = jaxpr
        .eqns
        .iter()
        .flat_map(|e| &e.inputs)
        .chain(&jaxpr.outvars)
        .filter_map(|a| match a {
            Atom::Var(v) => Some(v),
            Atom::Lit(_) => None,
        });
    for v in defined.chain(used) {
        let slot = &mut map[v.index()];
        if slot.is_none() {
            *slot = Some(push_aval(&mut avals, jaxpr.aval(*v).clone()));
        }
    }
    let var = |v: &Var| map[v.index()].expect("internal error: every variable was numbered");
    let atom = |a: &Atom| match a {
        Atom::Var(v) => Atom::Var(var(v)),
        Atom::Lit(_) => *a,
    };
    Jaxpr {
        avals,
        constvars: jaxpr.constvars.iter().map(var).collect(),
        invars: jaxpr.invars.iter().map(var).collect(),
        eqns: jaxpr
            .eqns
            .iter()
            .map(|e| Eqn {
                prim: e.prim.clone(),
                inputs: e.inputs.iter().map(atom).collect(),
                outputs: e.outputs.iter().map(var).collect(),
                loc: e.loc,
            })
            .collect(),
        outvars: jaxpr.outvars.iter().map(atom).collect(),
    }
}

/// `jaxpr`'s arena and binders with new equations and outputs.
pub(crate) fn with_eqns(jaxpr: &Jaxpr, eqns: Vec<Eqn>, outvars: Vec<Atom>) -> Jaxpr {
    Jaxpr {
        avals: jaxpr.avals.clone(),
        constvars: jaxpr.constvars.clone(),
        invars: jaxpr.invars.clone(),
        eqns,
        outvars,
    }
}

/// Appends an abstract value to an arena, returning its variable.
pub(crate) fn push_aval(avals: &mut Vec<AVal>, aval: AVal) -> Var {
    let index = u32::try_from(avals.len()).expect("internal error: too many variables");
    avals.push(aval);
    Var(index)
}

/// A substitution of variables by atoms, applied to every operand and
/// output after the equation that made it. Targets are stored resolved, so
/// one lookup suffices.
#[derive(Clone, Debug, Default)]
pub(crate) struct Renames(Vec<Option<Atom>>);

impl Renames {
    /// The atom that replaces `atom` (itself when there is none).
    pub(crate) fn get(&self, atom: &Atom) -> Atom {
        match atom {
            Atom::Var(v) => self.0.get(v.index()).copied().flatten().unwrap_or(*atom),
            Atom::Lit(_) => *atom,
        }
    }

    /// Every atom of `atoms` renamed.
    pub(crate) fn apply(&self, atoms: &[Atom]) -> Vec<Atom> {
        atoms.iter().map(|a| self.get(a)).collect()
    }

    /// From now on, `var` means `to`.
    pub(crate) fn set(&mut self, var: Var, to: Atom) {
        let to = self.get(&to);
        if self.0.len() <= var.index() {
            self.0.resize(var.index() + 1, None);
        }
        self.0[var.index()] = Some(to);
    }
}
