//! Deciding which values get buffers and grouping the computations into
//! program steps, then building the [`Program`].

use super::emit::Ctx;
use super::prepare::Graph;
use super::{internal, reduce, special, Fail, Fallible, Retry};
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
    /// A control-flow step (`cond`, `while`, `scan`): every operand and
    /// result has a buffer.
    Control,
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
    /// The control-flow step of an equation.
    Control(usize),
}

/// The partition of a graph.
#[derive(Debug)]
pub(super) struct Parts {
    /// Whether each variable (by index) has a buffer.
    pub materialised: Vec<bool>,
    /// Steps in execution order.
    pub groups: Vec<Group>,
    /// The `reduce_*` results given a buffer only to share a pass.
    pub promoted: HashSet<Var>,
}

/// What earlier attempts at emitting taught the partitioner.
#[derive(Debug, Default)]
pub(super) struct Hints {
    /// Values to materialise.
    pub forced: HashSet<Var>,
    /// Pairs of roots that may not share a kernel.
    pub forbidden: HashSet<(Var, Var)>,
    /// Reductions not to promote.
    pub unpromoted: HashSet<Var>,
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
        L::Cumsum { .. } | L::DynamicUpdateSlice | L::Scatter { .. } | L::RandomBits => {
            Class::Special
        }
        L::Control => Class::Control,
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

/// True when every consumer of `v` is elementwise over `v`'s own shape:
/// they then land in one loop nest at the same coordinates, where the
/// emitter computes `v` once and reuses it (its memo), so sharing `v` needs
/// no buffer. (`log` feeding both a polynomial and a comparison, as in
/// `random::normal`, stays in registers instead of a round trip through
/// memory.)
fn shared_in_one_pass(g: &Graph, v: Var) -> bool {
    let shape = &g.aval(v).shape;
    g.consumers[v.index()].iter().all(|&i| {
        let elementwise = matches!(
            lowering(&g.jaxpr.eqns[i].prim),
            Ok(Lowering::Unary(_)
                | Lowering::Binary(_)
                | Lowering::Select
                | Lowering::Convert(_)
                | Lowering::Identity)
        );
        elementwise && &g.aval(g.out_var(i)).shape == shape
    })
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

/// Partitions `g` following `hints`.
pub(super) fn partition(g: &Graph, hints: &Hints) -> Result<Parts> {
    let j = &g.jaxpr;
    let forced = &hints.forced;
    let mut mat = vec![false; j.avals.len()];
    let mut set = |v: Var| mat[v.index()] = true;
    j.invars
        .iter()
        .chain(&j.constvars)
        .chain(forced)
        .for_each(|v| set(*v));
    j.outvars.iter().filter_map(atom_var).for_each(&mut set);
    for (i, plan) in &g.gemms {
        [g.out_var(*i), plan.lhs.0, plan.rhs.0]
            .into_iter()
            .for_each(&mut set);
    }
    let classes: Vec<Class> = (0..j.eqns.len())
        .map(|i| class(g, i))
        .collect::<Result<_>>()?;
    super::control::materialise(g, &classes, &mut mat);
    let mut costly = vec![false; j.avals.len()];
    let mut size = vec![0usize; j.avals.len()];
    for (i, eqn) in j.eqns.iter().enumerate() {
        let v = eqn.outputs[0];
        if matches!(classes[i], Class::Special | Class::Control) {
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
        if g.uses[v.index()] >= 2 && (c || s > MAX_SHARED_EXPR) && !shared_in_one_pass(g, v) {
            mat[v.index()] = true;
        }
    }
    let mut promoted = HashSet::new();
    let groups = group(g, &classes, &mut mat, hints, &mut promoted);
    Ok(Parts {
        materialised: mat,
        groups,
        promoted,
    })
}

/// Groups the materialised values into steps (see [`Group`]). A
/// `reduce_*` that would be fused into its consumer is materialised instead
/// when a kernel already loops over its operand's domain: it then
/// accumulates in that kernel's pass, and its consumers can be that
/// kernel's epilogue.
fn group(
    g: &Graph,
    classes: &[Class],
    mat: &mut [bool],
    hints: &Hints,
    promoted: &mut HashSet<Var>,
) -> Vec<Group> {
    let forbidden = &hints.forbidden;
    let mut groups: Vec<Group> = Vec::new();
    let mut producer: HashMap<Var, usize> = HashMap::new();
    for (i, class) in classes.iter().enumerate() {
        let v = g.out_var(i);
        let promotable = *class == Class::Reduction
            && !mat[v.index()]
            && reduce_axes(g, v).is_some()
            && !hints.unpromoted.contains(&v);
        let new = match class {
            Class::Gemm => Some(Group::Gemm(i)),
            Class::Special => Some(Group::Special(i)),
            Class::Control => {
                let outs = &g.jaxpr.eqns[i].outputs;
                outs.iter()
                    .for_each(|o| _ = producer.insert(*o, groups.len()));
                Some(Group::Control(i))
            }
            Class::Fused | Class::Reduction if mat[v.index()] || promotable => {
                let deps = deps_of(g, mat, v);
                let dom = domain(g, v);
                let mut chosen = None;
                for gi in (0..groups.len()).rev() {
                    if let Group::Fused { domain, roots } = &groups[gi] {
                        let apart = roots.iter().any(|r| forbidden.contains(&(v, *r)));
                        let same = *domain == dom;
                        let fits = same || (mat[v.index()] && epilogue(g, v, roots, &deps));
                        if !apart && fits && reads_in_place(g, mat, v, roots, &deps, same) {
                            chosen = Some(gi);
                            break;
                        }
                    }
                    if deps.iter().any(|d| producer.get(d) == Some(&gi)) {
                        break;
                    }
                }
                if promotable
                    && chosen.is_none()
                    && !(scalar_reduction(g, v) && feeds_epilogue(g, mat, v))
                {
                    continue;
                }
                if promotable {
                    promoted.insert(v);
                }
                mat[v.index()] = true;
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

/// Whether root `v` can be the epilogue of a kernel with `roots`: it uses
/// a `reduce_*` root of that kernel whose result has `v`'s shape and is
/// finished inside the loop nest ([`scalar_reduction`]).
fn epilogue(g: &Graph, v: Var, roots: &[Var], deps: &HashSet<Var>) -> bool {
    reduce_axes(g, v).is_none()
        && roots.iter().any(|r| {
            deps.contains(r) && g.aval(*r).shape == g.aval(v).shape && scalar_reduction(g, *r)
        })
}

/// Whether `reduce_*` result `r`, looping over its operand's dimensions in
/// order, reduces only dimensions after every kept one (unit dimensions
/// aside): it then accumulates in a scalar and is finished after its
/// reduced loops, in the loop nest.
pub(super) fn scalar_reduction(g: &Graph, r: Var) -> bool {
    let Some(axes) = reduce_axes(g, r) else {
        return false;
    };
    let dom = domain(g, r);
    let live = |d: &usize| dom[*d] != 1;
    let first_reduced = axes.iter().copied().filter(live).min();
    let last_kept = (0..dom.len())
        .filter(|d| !axes.contains(d))
        .filter(live)
        .max();
    match (first_reduced, last_kept) {
        (Some(f), Some(k)) => k < f,
        (None, _) | (_, None) => true,
    }
}

/// Whether root `v` reads the roots of a kernel that it depends on only
/// where and when the kernel has computed them: values finished at the
/// position `v` is computed at (full-domain values for a full-domain `v`;
/// scalar reductions of `v`'s shape and their epilogues for an epilogue),
/// reached only along elementwise operations of one shape. Emission
/// checks this exactly (and planning retries); this is the cheap
/// prediction that avoids most retries.
fn reads_in_place(
    g: &Graph,
    mat: &[bool],
    v: Var,
    roots: &[Var],
    deps: &HashSet<Var>,
    full: bool,
) -> bool {
    let locals: Vec<Var> = roots.iter().copied().filter(|r| deps.contains(r)).collect();
    if locals.is_empty() {
        return true;
    }
    let shape = &g.aval(v).shape;
    let ready = |r: &Var| match reduce_axes(g, *r) {
        Some(_) => !full && g.aval(*r).shape == *shape && scalar_reduction(g, *r),
        None => full || g.aval(*r).shape == *shape,
    };
    if !locals.iter().all(ready) {
        return false;
    }
    let (_, eqn) = g
        .def_eqn(v)
        .expect("internal error: a root without a definition");
    let here = match reduce_axes(g, v) {
        Some(_) => g.atom_aval(&eqn.inputs[0]).shape,
        None => shape.clone(),
    };
    let blocked = |w: Var| {
        locals.contains(&w)
            || (!mat[w.index()] && deps_of(g, mat, w).iter().any(|d| locals.contains(d)))
    };
    // Operands at `v`'s own position, then along elementwise operations.
    let in_place = |e: &rjax_ir::Eqn, a: &Atom| elementwise(e) && g.atom_aval(a).shape == here;
    let mut stack = Vec::new();
    for a in &eqn.inputs {
        let Some(u) = atom_var(a) else { continue };
        let at_here = reduce_axes(g, v).is_some() || in_place(eqn, a);
        if at_here {
            stack.push(u);
        } else if blocked(u) {
            return false;
        }
    }
    let mut seen = HashSet::new();
    while let Some(u) = stack.pop() {
        if locals.contains(&u) || mat[u.index()] || !seen.insert(u) {
            continue;
        }
        let (_, e) = g
            .def_eqn(u)
            .expect("internal error: a fused value without a definition");
        for a in &e.inputs {
            let Some(w) = atom_var(a) else { continue };
            if in_place(e, a) {
                stack.push(w);
            } else if blocked(w) {
                return false;
            }
        }
    }
    true
}

/// Whether an equation is elementwise (its operands are read at its
/// result's position).
fn elementwise(e: &rjax_ir::Eqn) -> bool {
    matches!(
        lowering(&e.prim),
        Ok(Lowering::Unary(_)
            | Lowering::Binary(_)
            | Lowering::Select
            | Lowering::Convert(_)
            | Lowering::Identity)
    )
}

/// Whether a materialised value of `r`'s shape is computed from `r`
/// through fused elementwise work of that shape (so it can be `r`'s
/// epilogue).
fn feeds_epilogue(g: &Graph, mat: &[bool], r: Var) -> bool {
    let shape = &g.aval(r).shape;
    let mut frontier = vec![r];
    let mut seen = HashSet::new();
    while let Some(x) = frontier.pop() {
        for &i in &g.consumers[x.index()] {
            let c = g.out_var(i);
            let elementwise = matches!(class(g, i), Ok(Class::Fused)) && g.aval(c).shape == *shape;
            if elementwise && seen.insert(c) {
                if mat[c.index()] {
                    return true;
                }
                frontier.push(c);
            }
        }
    }
    false
}

/// The materialised values that computing `v` from its fused operands
/// reads.
fn deps_of(g: &Graph, mat: &[bool], v: Var) -> HashSet<Var> {
    let mut deps = HashSet::new();
    let mut seen = HashSet::new();
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        let Some((_, eqn)) = g.def_eqn(x) else {
            continue;
        };
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

/// What building a partition's program gave.
pub(super) enum Built {
    /// The program.
    Program(Program),
    /// What to change before planning again (from every step that failed).
    Retry(Vec<Retry>),
}

/// Builds the program of a partition.
pub(super) fn build(g: &Graph, parts: &Parts) -> Result<Built> {
    let j = &g.jaxpr;
    let mut buffers = Vec::new();
    let mut refs: HashMap<Var, BufferRef> = HashMap::new();
    let mut add = |v: Var, source: BufferSource, buffers: &mut Vec<ProgramBuffer>| {
        let aval = g.aval(v);
        refs.insert(
            v,
            BufferRef(u32::try_from(buffers.len()).expect("internal error: too many buffers")),
        );
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
    for v in j.eqns.iter().flat_map(|e| &e.outputs) {
        if parts.materialised[v.index()] {
            add(*v, BufferSource::Temporary, &mut buffers);
        }
    }
    let ctx = Ctx {
        g,
        mat: &parts.materialised,
        bufs: &refs,
    };
    let mut steps = Vec::new();
    let mut retries = Vec::new();
    for (n, grp) in parts.groups.iter().enumerate() {
        let step: Fallible<Step> = match grp {
            Group::Gemm(i) => {
                let p = &g.gemms[i];
                Ok(Step::Gemm(Gemm {
                    dtype: g.aval(g.out_var(*i)).dtype,
                    batch: p.batch,
                    m: p.m,
                    n: p.n,
                    k: p.k,
                    lhs: (ctx.buf(p.lhs.0), p.lhs.1),
                    rhs: (ctx.buf(p.rhs.0), p.rhs.1),
                    out: ctx.buf(g.out_var(*i)),
                }))
            }
            Group::Special(i) => special::emit(&ctx, *i, n),
            Group::Control(i) => super::control::emit(&ctx, *i),
            Group::Fused { domain, roots } => reduce::emit_fused(&ctx, domain, roots, n),
        };
        match step {
            Ok(s) => steps.push(s),
            Err(Fail::Retry(r)) => retries.push(r),
            Err(Fail::Error(e)) => return Err(e),
        }
    }
    if !retries.is_empty() {
        return Ok(Built::Retry(retries));
    }
    let outputs = j
        .outvars
        .iter()
        .map(|a| atom_var(a).map(|v| ctx.buf(v)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal("a literal output survived preparation"))?;
    Ok(Built::Program(Program {
        buffers,
        steps,
        outputs,
    }))
}
