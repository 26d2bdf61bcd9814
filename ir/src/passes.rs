//! IR passes over jaxprs. Each pass maps a jaxpr to an equivalent one.
//!
//! - [`dce`]: dead-code elimination. Every primitive is pure, so an
//!   equation none of whose outputs reaches a result can be dropped.

use crate::jaxpr::{Atom, Jaxpr};

/// Removes equations whose outputs are not used by any later equation or
/// by the results. Unused inputs and constants stay (the signature does not
/// change).
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
    let eqns = jaxpr
        .eqns
        .iter()
        .zip(&keep)
        .filter(|(_, &k)| k)
        .map(|(e, _)| e.clone())
        .collect();
    Jaxpr {
        eqns,
        ..jaxpr.clone()
    }
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
