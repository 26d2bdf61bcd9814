//! Preparing a closed jaxpr for partitioning: one flat jaxpr of
//! single-result equations, with nested calls (`call`, `custom_jvp_call`,
//! `custom_vjp_call`) inlined and `stop_gradient` dropped, then optimised
//! by [`rjax_ir::passes::optimize`] (constant folding, simplification,
//! common subexpressions, dead code), with distinct computed outputs and
//! every float `dot_general` planned as a GEMM.

use super::gemm::{self, GemmPlan};
use crate::lower::{lowering, Lowering};
use rjax_ir::{
    passes::optimize, AVal, Atom, ClosedJaxpr, Eqn, HostBuffer, Jaxpr, Primitive, Result, Var,
};
use std::collections::{HashMap, HashSet};

/// The program fusion works on.
#[derive(Debug)]
pub(super) struct Graph {
    /// Flat jaxpr: no calls, one result per equation.
    pub jaxpr: Jaxpr,
    /// Values of `jaxpr.constvars`.
    pub consts: Vec<HostBuffer>,
    /// The equation defining each variable (by variable index).
    pub def: Vec<Option<usize>>,
    /// Number of distinct equations reading each variable.
    pub uses: Vec<usize>,
    /// The equations reading each variable, ascending.
    pub consumers: Vec<Vec<usize>>,
    /// GEMM plans of float `dot_general` equations, by equation index.
    pub gemms: HashMap<usize, GemmPlan>,
}

impl Graph {
    /// The abstract value of a variable.
    pub fn aval(&self, v: Var) -> &AVal {
        self.jaxpr.aval(v)
    }

    /// The abstract value of an operand.
    pub fn atom_aval(&self, a: &Atom) -> AVal {
        self.jaxpr.atom_aval(a)
    }

    /// The equation defining `v`, if an equation does.
    pub fn def_eqn(&self, v: Var) -> Option<(usize, &Eqn)> {
        let i = self.def.get(v.index()).copied().flatten()?;
        Some((i, &self.jaxpr.eqns[i]))
    }

    /// The single result of equation `i`.
    pub fn out_var(&self, i: usize) -> Var {
        self.jaxpr.eqns[i].outputs[0]
    }
}

/// Flattens, prunes and plans `closed` (see the module docs).
pub(super) fn prepare(closed: &ClosedJaxpr) -> Result<Graph> {
    let mut inl = Inliner::default();
    let invars: Vec<Var> = closed
        .jaxpr
        .invars
        .iter()
        .map(|v| inl.fresh(closed.jaxpr.aval(*v).clone()))
        .collect();
    let args = invars.iter().map(|v| Atom::Var(*v)).collect();
    let outvars = inl.body(&closed.jaxpr, &closed.consts, args)?;
    let flat = Jaxpr {
        avals: inl.avals,
        constvars: inl.constvars,
        invars,
        eqns: inl.eqns,
        outvars,
    };
    let ClosedJaxpr {
        mut jaxpr,
        mut consts,
    } = optimize(&ClosedJaxpr::new(flat, inl.consts));
    super::control::lift_literals(&mut jaxpr, &mut consts);
    for eqn in &jaxpr.eqns {
        lowering(&eqn.prim)?;
    }
    distinct_outputs(&mut jaxpr);
    let gemms = gemm::plan_gemms(&mut jaxpr)?;
    let (def, uses) = def_use(&jaxpr);
    let mut consumers = vec![Vec::new(); jaxpr.avals.len()];
    for (i, eqn) in jaxpr.eqns.iter().enumerate() {
        for a in &eqn.inputs {
            if let Atom::Var(v) = a {
                if consumers[v.index()].last() != Some(&i) {
                    consumers[v.index()].push(i);
                }
            }
        }
    }
    Ok(Graph {
        jaxpr,
        consts,
        def,
        uses,
        consumers,
        gemms,
    })
}

/// Builds the flat jaxpr, equation by equation.
#[derive(Default)]
struct Inliner {
    avals: Vec<AVal>,
    eqns: Vec<Eqn>,
    constvars: Vec<Var>,
    consts: Vec<HostBuffer>,
}

impl Inliner {
    /// A new variable.
    fn fresh(&mut self, aval: AVal) -> Var {
        let v = Var(u32::try_from(self.avals.len()).expect("internal error: too many variables"));
        self.avals.push(aval);
        v
    }

    /// Appends the equations of `j` applied to `args`, returning its results.
    fn body(&mut self, j: &Jaxpr, consts: &[HostBuffer], args: Vec<Atom>) -> Result<Vec<Atom>> {
        let mut env: HashMap<Var, Atom> = HashMap::new();
        for (cv, c) in j.constvars.iter().zip(consts) {
            let v = self.fresh(j.aval(*cv).clone());
            self.constvars.push(v);
            self.consts.push(c.clone());
            env.insert(*cv, Atom::Var(v));
        }
        env.extend(j.invars.iter().copied().zip(args));
        let get = |env: &HashMap<Var, Atom>, a: &Atom| match a {
            Atom::Lit(_) => *a,
            Atom::Var(v) => *env
                .get(v)
                .expect("internal error: unbound variable while inlining"),
        };
        for eqn in &j.eqns {
            let inputs: Vec<Atom> = eqn.inputs.iter().map(|a| get(&env, a)).collect();
            let how = lowering(&eqn.prim);
            if let Ok(Lowering::Inline(sub)) = how {
                let outs = self.body(&sub.jaxpr, &sub.consts, inputs)?;
                env.extend(eqn.outputs.iter().copied().zip(outs));
            } else if let Ok(Lowering::Identity) = how {
                env.insert(eqn.outputs[0], inputs[0]);
            } else {
                // Unsupported primitives are kept: they fail after dead-code
                // elimination, only if they are live.
                let outputs: Vec<Var> = eqn
                    .outputs
                    .iter()
                    .map(|v| self.fresh(j.aval(*v).clone()))
                    .collect();
                for (old, new) in eqn.outputs.iter().zip(&outputs) {
                    env.insert(*old, Atom::Var(*new));
                }
                self.eqns.push(Eqn {
                    prim: eqn.prim.clone(),
                    inputs,
                    outputs,
                    loc: eqn.loc,
                });
            }
        }
        Ok(j.outvars.iter().map(|a| get(&env, a)).collect())
    }
}

/// Replaces every output that is a literal, an input, a constant or a
/// repeat of an earlier output by a copy (`stop_gradient`, lowered as the
/// identity), so every output is a distinct buffer that a step writes.
fn distinct_outputs(jaxpr: &mut Jaxpr) {
    let mut defined: HashSet<Var> = jaxpr
        .eqns
        .iter()
        .flat_map(|e| &e.outputs)
        .copied()
        .collect();
    for i in 0..jaxpr.outvars.len() {
        let atom = jaxpr.outvars[i];
        let fresh_ok = matches!(atom, Atom::Var(v) if defined.remove(&v));
        if !fresh_ok {
            let aval = jaxpr.atom_aval(&atom);
            let v =
                Var(u32::try_from(jaxpr.avals.len()).expect("internal error: too many variables"));
            jaxpr.avals.push(aval);
            jaxpr.eqns.push(Eqn {
                prim: Primitive::StopGradient,
                inputs: vec![atom],
                outputs: vec![v],
                loc: None,
            });
            jaxpr.outvars[i] = Atom::Var(v);
        }
    }
}

/// The defining equation and the number of distinct reading equations of
/// every variable.
pub(super) fn def_use(jaxpr: &Jaxpr) -> (Vec<Option<usize>>, Vec<usize>) {
    let mut def = vec![None; jaxpr.avals.len()];
    let mut uses = vec![0; jaxpr.avals.len()];
    for (i, eqn) in jaxpr.eqns.iter().enumerate() {
        let mut seen: Vec<Var> = Vec::new();
        for a in &eqn.inputs {
            if let Atom::Var(v) = a {
                if !seen.contains(v) {
                    seen.push(*v);
                    uses[v.index()] += 1;
                }
            }
        }
        for v in &eqn.outputs {
            def[v.index()] = Some(i);
        }
    }
    (def, uses)
}
