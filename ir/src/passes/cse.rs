//! Common-subexpression elimination.
//!
//! Two equations compute the same values when they apply the same
//! primitive with the same parameters to the same operands, because every
//! primitive is pure (`random_bits` included: the same key gives the same
//! bits). The later one is dropped and its outputs renamed to the earlier
//! one's.
//!
//! What "the same" means:
//!
//! - Operands: the same variable (after earlier renames), or literals of the
//!   same dtype with the same bits. Comparing bits rather than values keeps
//!   `-0.0` and `0.0` apart (`1/x` tells them apart) and lets two
//!   bit-identical NaN literals merge (they are the same value for every
//!   primitive), while NaNs with different payloads stay apart.
//! - First-order primitives: equal parameters (`PartialEq`; their
//!   parameters hold no floats).
//! - Higher-order primitives: the same sub-jaxprs *by address*
//!   (`Arc::ptr_eq`) and equal other parameters. Address equality is cheap
//!   and sound; structural equality would need bitwise comparison of every
//!   literal and constant inside (the derived `PartialEq` says
//!   `-0.0 == 0.0`), and tracing the same function twice (for example one
//!   `jit`ted function called twice) already shares the `Arc`. Equations
//!   with equal but separately built sub-jaxprs are therefore not merged.
//!   [`super::optimize`] keeps shared sub-jaxprs shared.

use super::{with_eqns, Renames};
use crate::buffer::Scalar;
use crate::dtype::DType;
use crate::jaxpr::{Atom, ClosedJaxpr, Eqn, Jaxpr};
use crate::primitive::Primitive;
use std::collections::HashMap;
use std::sync::Arc;

/// Merges equations that apply the same primitive (same parameters) to the
/// same operands; see the module docs for what counts as the same.
///
/// # Example
/// ```
/// use rjax_ir::{passes::cse, AVal, Atom, DType, JaxprBuilder, Primitive};
/// let mut b = JaxprBuilder::new();
/// let x = b.new_var(AVal::new(DType::F32, &[2]));
/// let e1 = b.add_eqn(Primitive::Exp, vec![Atom::Var(x)], None).unwrap()[0];
/// let e2 = b.add_eqn(Primitive::Exp, vec![Atom::Var(x)], None).unwrap()[0];
/// let s = b.add_eqn(Primitive::Add, vec![Atom::Var(e1), Atom::Var(e2)], None).unwrap()[0];
/// let jaxpr = b.build(vec![], vec![x], vec![Atom::Var(s)]).unwrap();
/// assert_eq!(
///     cse(&jaxpr).to_string(),
///     "{ lambda ; a:f32[2]. let\n    b:f32[2] = exp a\n    c:f32[2] = add b b\n  in (c,) }"
/// );
/// ```
pub fn cse(jaxpr: &Jaxpr) -> Jaxpr {
    cse_changed(jaxpr).0
}

/// An operand as a hashable key: a variable, or a literal's dtype and bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AtomKey {
    Var(u32),
    Lit(DType, u64),
}

impl AtomKey {
    fn of(atom: &Atom) -> AtomKey {
        match atom {
            Atom::Var(v) => AtomKey::Var(v.0),
            Atom::Lit(s) => AtomKey::Lit(s.dtype(), literal_bits(*s)),
        }
    }
}

/// The bits of a literal; with its dtype, this identifies it exactly.
pub(crate) fn literal_bits(s: Scalar) -> u64 {
    match s {
        Scalar::F32(x) => u64::from(x.to_bits()),
        Scalar::F64(x) => x.to_bits(),
        Scalar::I32(x) => u64::from(x as u32),
        Scalar::U32(x) => u64::from(x),
        Scalar::Bool(x) => u64::from(x),
    }
}

/// [`cse`], and whether it merged anything.
pub(crate) fn cse_changed(jaxpr: &Jaxpr) -> (Jaxpr, bool) {
    let mut renames = Renames::default();
    // (primitive name, operand keys) -> indices into `eqns` to compare with.
    let mut seen: HashMap<(&'static str, Vec<AtomKey>), Vec<usize>> = HashMap::new();
    let mut eqns: Vec<Eqn> = Vec::with_capacity(jaxpr.eqns.len());
    let mut changed = false;
    for eqn in &jaxpr.eqns {
        let inputs = renames.apply(&eqn.inputs);
        let key = (eqn.prim.name(), inputs.iter().map(AtomKey::of).collect());
        let candidates = seen.entry(key).or_default();
        let earlier = candidates
            .iter()
            .copied()
            .find(|&i| same_primitive(&eqns[i].prim, &eqn.prim));
        match earlier {
            Some(i) if eqns[i].outputs.len() == eqn.outputs.len() => {
                for (out, prev) in eqn.outputs.iter().zip(&eqns[i].outputs) {
                    renames.set(*out, Atom::Var(*prev));
                }
                changed = true;
            }
            _ => {
                candidates.push(eqns.len());
                eqns.push(Eqn {
                    inputs,
                    ..eqn.clone()
                });
            }
        }
    }
    let outvars = renames.apply(&jaxpr.outvars);
    (with_eqns(jaxpr, eqns, outvars), changed)
}

/// Whether two primitives are the same operation: equal parameters, with
/// sub-jaxprs compared by address (see the module docs).
fn same_primitive(a: &Primitive, b: &Primitive) -> bool {
    use Primitive as P;
    if !a.is_higher_order() {
        return a == b;
    }
    let same = |x: &Arc<ClosedJaxpr>, y: &Arc<ClosedJaxpr>| Arc::ptr_eq(x, y);
    match (a, b) {
        (P::Call { jaxpr: j, name: n }, P::Call { jaxpr: k, name: m }) => same(j, k) && n == m,
        (P::Cond { branches: x }, P::Cond { branches: y }) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (
            P::While {
                cond_jaxpr: c1,
                body_jaxpr: b1,
            },
            P::While {
                cond_jaxpr: c2,
                body_jaxpr: b2,
            },
        ) => same(c1, c2) && same(b1, b2),
        (
            P::Scan {
                body: b1,
                length: l1,
                reverse: r1,
                num_consts: c1,
                num_carry: k1,
            },
            P::Scan {
                body: b2,
                length: l2,
                reverse: r2,
                num_consts: c2,
                num_carry: k2,
            },
        ) => same(b1, b2) && (l1, r1, c1, k1) == (l2, r2, c2, k2),
        (P::CustomJvpCall { call: c1, jvp: j1 }, P::CustomJvpCall { call: c2, jvp: j2 }) => {
            same(c1, c2) && same(j1, j2)
        }
        (
            P::CustomVjpCall {
                call: c1,
                fwd: f1,
                bwd: b1,
                num_outputs: n1,
            },
            P::CustomVjpCall {
                call: c2,
                fwd: f2,
                bwd: b2,
                num_outputs: n2,
            },
        ) => same(c1, c2) && same(f1, f2) && same(b1, b2) && n1 == n2,
        (
            P::CustomLin {
                bwd: b1,
                num_residuals: n1,
            },
            P::CustomLin {
                bwd: b2,
                num_residuals: n2,
            },
        ) => same(b1, b2) && n1 == n2,
        // Different primitives, or a higher-order primitive added later and
        // not listed above: never merged, which is always sound.
        _ => false,
    }
}
