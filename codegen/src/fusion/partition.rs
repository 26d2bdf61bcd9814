//! Deciding which values get buffers and grouping the computations into
//! program steps, then building the [`Program`].

use super::emit::Ctx;
use super::prepare::Graph;
use super::{internal, reduce, special, Fallible, Retry};
use crate::lower::{lowering, Lowering};
use crate::program::{BufferRef, BufferSource, Gemm, Program, ProgramBuffer, Step};
use rjax_ir::{Atom, Result, Var};
use std::collections::{HashMap, HashSet};

/// A value with more than one consumer is materialised when its fused
/// expression has more operations than this (even if they are cheap).
pub(super) const MAX_SHARED_EXPR: usize = 48;

/// How an equation's result is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// Index arithmetic and elementwise work: fuses into consumers.
    Fused,
    /// An accumulator loop (`reduce_*`, `argmax`/`argmin`, integer
    /// `dot_general`): fuses into consumers or roots a kernel.
    Reduction,
    /// A GEMM call.
    Gemm,
    /// A kernel of its own (`cumsum`, `scatter`, `dynamic_update_slice`,
    /// `random_bits`).
    Special,
}

/// One program step in the making.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Group {
    /// A fused kernel over `domain` computing the materialised `roots`
    /// (in equation order).
    Fused {
        /// The loop nest's shape.
        domain: Vec<usize>,
        /// The values it stores.
        roots: Vec<Var>,
    },
    /// The GEMM of an equation.
    Gemm(usize),
    /// The special kernel of an equation.
    Special(usize),
}

/// The partition of a graph.
#[derive(Debug)]
pub(super) struct Parts {
    /// Whether each variable (by index) has a buffer.
    pub materialised: Vec<bool>,
    /// Steps in execution order.
    pub groups: Vec<Group>,
}

/// The class of equation `i`.
pub(super) fn class(g: &Graph, i: usize) -> Result<Class> {
    use Lowering as L;
    Ok(match lowering(&g.jaxpr.eqns[i].prim)? {
        L::Unary(_) | L::Binary(_) | L::Select | L::Convert(_) | L::Identity => Class::Fused,
        L::Broadcast { .. } | L::Reshape | L::Transpose { .. } => Class::Fused,
        L::Slice { .. } | L::Pad { .. } | L::Concatenate { .. } | L::Rev { .. } => Class::Fused,
        L::DynamicSlice | L::Gather { .. } | L::Iota { .. } => Class::Fused,
        L::Reduce { .. } | L::ArgReduce { .. } => Class::Reduction,
        L::Dot(_) if g.gemms.contains_key(&i) => Class::Gemm,
        L::Dot(_) => Class::Reduction,
        L::Cumsum { .. } | L::DynamicUpdateSlice | L::Scatter { .. } | L::RandomBits => Class::Special,
        L::Inline(_) => return Err(internal("a call survived inlining")),
    })
}

/// True when equation `i` alone is worth not recomputing: a reduction, a
/// transcendental function or `pow`.
fn expensive(g: &Graph, i: usize, class: Class) -> bool {
    let costly_op = match lowering(&g.jaxpr.eqns[i].prim) {
        Ok(Lowering::Unary(op)) => op.is_transcendental(),
        Ok(Lowering::Binary(op)) => op == crate::kernel::BinaryOp::Pow,
        Ok(_) | Err(_) => false,
    };
    class == Class::Reduction || costly_op
}

/// The domain (loop nest shape) of the kernel computing root `v`: the
/// operand's shape for `reduce_*`, the value's shape otherwise.
pub(super) fn domain(g: &Graph, v: Var) -> Vec<usize> {
    if let Some((_, eqn)) = g.def_eqn(v) {
        if let Ok(Lowering::Reduce { .. }) = lowering(&eqn.prim) {
            return g.atom_aval(&eqn.inputs[0]).shape.to_vec();
        }
    }
    g.aval(v).shape.to_vec()
}

/// The reduced axes of `v` if it is a `reduce_*` result.
pub(super) fn reduce_axes(g: &Graph, v: Var) -> Option<&[usize]> {
    let (_, eqn) = g.def_eqn(v)?;
    match lowering(&eqn.prim) {
        Ok(Lowering::Reduce { axes, .. }) => Some(axes),
        Ok(_) | Err(_) => None,
    }
}

/// Partitions `g`: `forced` values are materialised, and no kernel holds
/// both roots of a `forbidden` pair.
pub(super) fn partition(g: &Graph, forced: &HashSet<Var>, forbidden: &HashSet<(Var, Var)>) -> Result<Parts> {
    let j = &g.jaxpr;
    let mut mat = vec![false; j.avals.len()];
    let mut set = |v: Var| mat[v.index()] = true;
    j.invars.iter().chain(&j.constvars).chain(forced).for_each(|v| set(*v));
    j.outvars.iter().filter_map(atom_var).for_each(&mut set);
    for (i, plan) in &g.gemms {
        [g.out_var(*i), plan.lhs.0, plan.rhs.0].into_iter().for_each(&mut set);
    }
    let classes: Vec<Class> = (0..j.eqns.len()).map(|i| class(g, i)).collect::<Result<_>>()?;
    let mut costly = vec![false; j.avals.len()];
    let mut size = vec![0usize; j.avals.len()];
    for (i, eqn) in j.eqns.iter().enumerate() {
        let v = eqn.outputs[0];
        if classes[i] == Class::Special {
            mat[v.index()] = true;
            continue;
        }
        let (mut c, mut s) = (expensive(g, i, classes[i]), 1usize);
        for u in eqn.inputs.iter().filter_map(atom_var) {
            if !mat[u.index()] {
                c |= costly[u.index()];
                s = s.saturating_add(size[u.index()]);
            }
        }
        (costly[v.index()], size[v.index()]) = (c, s);
        if g.uses[v.index()] >= 2 && (c || s > MAX_SHARED_EXPR) {
            mat[v.index()] = true;
        }
    }
    let groups = group(g, &classes, &mat, forbidden);
    Ok(Parts {
        materialised: mat,
        groups,
    })
}

/// Groups the materialised values into steps (see [`Group`]).
fn group(g: &Graph, classes: &[Class], mat: &[bool], forbidden: &HashSet<(Var, Var)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut producer: HashMap<Var, usize> = HashMap::new();
    for (i, class) in classes.iter().enumerate() {
        let v = g.out_var(i);
        let new = match class {
            Class::Gemm => Some(Group::Gemm(i)),
            Class::Special => Some(Group::Special(i)),
            Class::Fused | Class::Reduction if mat[v.index()] => {
                let deps = deps_of(g, mat, v);
                let dom = domain(g, v);
                let mut chosen = None;
                for gi in (0..groups.len()).rev() {
                    if let Group::Fused { domain, roots } = &groups[gi] {
                        let apart = roots.iter().any(|r| forbidden.contains(&(v, *r)));
                        if !apart && (*domain == dom || epilogue(g, v, domain, roots, &deps)) {
                            chosen = Some(gi);
                            break;
                        }
                    }
                    if deps.iter().any(|d| producer.get(d) == Some(&gi)) {
                        break;
                    }
                }
                match chosen {
                    Some(gi) => {
                        if let Group::Fused { roots, .. } = &mut groups[gi] {
                            roots.push(v);
                        }
                        producer.insert(v, gi);
                        None
                    }
                    None => Some(Group::Fused {
                        domain: dom,
                        roots: vec![v],
                    }),
                }
            }
            Class::Fused | Class::Reduction => None,
        };
        if let Some(grp) = new {
            producer.insert(v, groups.len());
            groups.push(grp);
        }
    }
    groups
}

/// Whether root `v` can be the epilogue of a kernel over `domain`: its
/// shape is a proper prefix of the domain and it uses a `reduce_*` root of
/// that kernel that reduces exactly the remaining dimensions.
fn epilogue(g: &Graph, v: Var, domain: &[usize], roots: &[Var], deps: &HashSet<Var>) -> bool {
    let shape = &g.aval(v).shape;
    let q = shape.len();
    if reduce_axes(g, v).is_some() || q >= domain.len() || shape[..] != domain[..q] {
        return false;
    }
    let tail: Vec<usize> = (q..domain.len()).collect();
    roots
        .iter()
        .any(|r| deps.contains(r) && reduce_axes(g, *r) == Some(&tail[..]))
}

/// The materialised values that computing `v` from its fused operands
/// reads.
fn deps_of(g: &Graph, mat: &[bool], v: Var) -> HashSet<Var> {
    let mut deps = HashSet::new();
    let mut seen = HashSet::new();
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        let Some((_, eqn)) = g.def_eqn(x) else { continue };
        for u in eqn.inputs.iter().filter_map(atom_var) {
            if mat[u.index()] {
                deps.insert(u);
            } else if seen.insert(u) {
                stack.push(u);
            }
        }
    }
    deps
}

/// The variable of an operand, if it is one.
pub(super) fn atom_var(a: &Atom) -> Option<Var> {
    match a {
        Atom::Var(v) => Some(*v),
        Atom::Lit(_) => None,
    }
}

/// Builds the program of a partition.
pub(super) fn build(g: &Graph, parts: &Parts) -> Fallible<Program> {
    let j = &g.jaxpr;
    let mut buffers = Vec::new();
    let mut refs: HashMap<Var, BufferRef> = HashMap::new();
    let mut add = |v: Var, source: BufferSource, buffers: &mut Vec<ProgramBuffer>| {
        let aval = g.aval(v);
        refs.insert(v, BufferRef(u32::try_from(buffers.len()).expect("internal error: too many buffers")));
        buffers.push(ProgramBuffer {
            dtype: aval.dtype,
            shape: aval.shape.to_vec(),
            source,
        });
    };
    for (i, v) in j.invars.iter().enumerate() {
        add(*v, BufferSource::Argument(i), &mut buffers);
    }
    for (v, c) in j.constvars.iter().zip(&g.consts) {
        add(*v, BufferSource::Constant(c.clone()), &mut buffers);
    }
    for eqn in &j.eqns {
        let v = eqn.outputs[0];
        if parts.materialised[v.index()] {
            add(v, BufferSource::Temporary, &mut buffers);
        }
    }
    let ctx = Ctx {
        g,
        mat: &parts.materialised,
        bufs: &refs,
    };
    let mut steps = Vec::new();
    for (n, grp) in parts.groups.iter().enumerate() {
        steps.push(match grp {
            Group::Gemm(i) => {
                let p = &g.gemms[i];
                Step::Gemm(Gemm {
                    dtype: g.aval(g.out_var(*i)).dtype,
                    batch: p.batch,
                    m: p.m,
                    n: p.n,
                    k: p.k,
                    lhs: (ctx.buf(p.lhs.0), p.lhs.1),
                    rhs: (ctx.buf(p.rhs.0), p.rhs.1),
                    out: ctx.buf(g.out_var(*i)),
                })
            }
            Group::Special(i) => special::emit(&ctx, *i, n)?,
            Group::Fused { domain, roots } => reduce::emit_fused(&ctx, domain, roots, n)?,
        });
    }
    let outputs = j
        .outvars
        .iter()
        .map(|a| atom_var(a).map(|v| ctx.buf(v)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal("a literal output survived preparation"))?;
    let _ = Retry::Materialise;
    Ok(Program {
        buffers,
        steps,
        outputs,
    })
}
