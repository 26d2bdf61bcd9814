//! Dead-code elimination. Every primitive is pure, so an equation none of
//! whose outputs reaches a result can be dropped.

use super::with_eqns;
use crate::jaxpr::{Atom, ClosedJaxpr, Jaxpr};

/// Removes equations whose outputs are not used by any later equation or
/// by the results. Unused inputs and constants stay (the signature does not
/// change); [`dce_closed`] also drops unused constants.
///
/// # Example
/// ```
/// use rjax_ir::{passes::dce, AVal, Atom, DType, JaxprBuilder, Primitive};
/// let mut b = JaxprBuilder::new();
/// let x = b.new_var(AVal::new(DType::F32, &[2]));
/// let dead = b.add_eqn(Primitive::Exp, vec![Atom::Var(x)], None).unwrap()[0];
/// let live = b.add_eqn(Primitive::Neg, vec![Atom::Var(x)], None).unwrap()[0];
/// let jaxpr = b.build(vec![], vec![x], vec![Atom::Var(live)]).unwrap();
/// let _ = dead;
/// assert_eq!(dce(&jaxpr).eqns.len(), 1);
/// ```
pub fn dce(jaxpr: &Jaxpr) -> Jaxpr {
    dce_changed(jaxpr).0
}

/// [`dce`], then drops the constvars (and their constants) that nothing
/// reads. Invars stay, used or not.
///
/// # Example
/// ```
/// use rjax_ir::{passes::dce_closed, AVal, Atom, ClosedJaxpr, DType, HostBuffer, JaxprBuilder, Primitive};
/// let mut b = JaxprBuilder::new();
/// let c = b.new_var(AVal::new(DType::F32, &[2]));
/// let x = b.new_var(AVal::new(DType::F32, &[2]));
/// let y = b.add_eqn(Primitive::Neg, vec![Atom::Var(x)], None).unwrap()[0];
/// let jaxpr = b.build(vec![c], vec![x], vec![Atom::Var(y)]).unwrap();
/// let consts = vec![HostBuffer::from_vec(vec![1.0f32, 2.0], &[2]).unwrap()];
/// let pruned = dce_closed(&ClosedJaxpr::new(jaxpr, consts));
/// assert!(pruned.consts.is_empty() && pruned.jaxpr.constvars.is_empty());
/// ```
pub fn dce_closed(closed: &ClosedJaxpr) -> ClosedJaxpr {
    dce_closed_changed(closed).0
}

/// [`dce`], and whether it removed anything.
pub(crate) fn dce_changed(jaxpr: &Jaxpr) -> (Jaxpr, bool) {
    let mut live = vec![false; jaxpr.avals.len()];
    let mark = |live: &mut Vec<bool>, atom: &Atom| {
        if let Atom::Var(v) = atom {
            if let Some(slot) = live.get_mut(v.index()) {
                *slot = true;
            }
        }
    };
    for out in &jaxpr.outvars {
        mark(&mut live, out);
    }
    let mut keep = vec![false; jaxpr.eqns.len()];
    for (i, eqn) in jaxpr.eqns.iter().enumerate().rev() {
        if eqn
            .outputs
            .iter()
            .any(|v| live.get(v.index()).copied().unwrap_or(false))
        {
            keep[i] = true;
            for input in &eqn.inputs {
                mark(&mut live, input);
            }
        }
    }
    let changed = keep.iter().any(|k| !k);
    let eqns = jaxpr
        .eqns
        .iter()
        .zip(&keep)
        .filter(|(_, &k)| k)
        .map(|(e, _)| e.clone())
        .collect();
    (with_eqns(jaxpr, eqns, jaxpr.outvars.clone()), changed)
}

/// [`dce_closed`], and whether it removed anything.
pub(crate) fn dce_closed_changed(closed: &ClosedJaxpr) -> (ClosedJaxpr, bool) {
    let (mut jaxpr, mut changed) = dce_changed(&closed.jaxpr);
    let mut used = vec![false; jaxpr.avals.len()];
    let atoms = jaxpr
        .eqns
        .iter()
        .flat_map(|e| e.inputs.iter())
        .chain(jaxpr.outvars.iter());
    for atom in atoms {
        if let Atom::Var(v) = atom {
            if let Some(slot) = used.get_mut(v.index()) {
                *slot = true;
            }
        }
    }
    let mut constvars = Vec::new();
    let mut consts = Vec::new();
    for (v, c) in jaxpr.constvars.iter().zip(&closed.consts) {
        if used.get(v.index()).copied().unwrap_or(false) {
            constvars.push(*v);
            consts.push(c.clone());
        } else {
            changed = true;
        }
    }
    jaxpr.constvars = constvars;
    (ClosedJaxpr::new(jaxpr, consts), changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AVal, DType, JaxprBuilder, Primitive};

    #[test]
    fn keeps_only_what_reaches_the_results() {
        let mut b = JaxprBuilder::new();
        let x = b.new_var(AVal::new(DType::F32, &[3]));
        let a = b.add_eqn(Primitive::Exp, vec![Atom::Var(x)], None).unwrap()[0];
        let dead = b.add_eqn(Primitive::Sin, vec![Atom::Var(a)], None).unwrap()[0];
        let _dead2 = b
            .add_eqn(Primitive::Cos, vec![Atom::Var(dead)], None)
            .unwrap()[0];
        let out = b.add_eqn(Primitive::Neg, vec![Atom::Var(a)], None).unwrap()[0];
        let jaxpr = b
            .build(vec![], vec![x], vec![Atom::Var(out), Atom::Var(x)])
            .unwrap();
        let pruned = dce(&jaxpr);
        let names: Vec<&str> = pruned.eqns.iter().map(|e| e.prim.name()).collect();
        assert_eq!(names, vec!["exp", "neg"]);
        crate::verify::verify(&pruned).unwrap();
    }
}
