//! Planning float `dot_general`s as GEMM calls.
//!
//! A `dot_general` is reduced to `out[b] = lhs[b] @ rhs[b]` over
//! `(batch, m, n, k)`: batch dimensions, lhs free dimensions, rhs free
//! dimensions and contracted dimensions each collapse into one strided
//! dimension. An operand is read through the transposes and reshapes that
//! made it (a *view*: a base buffer and a stride per dimension), so `xᵀ @ y`
//! reads `x` with swapped strides instead of copying it. When a group of
//! dimensions cannot be one stride of the base buffer, a transposed copy
//! of the operand in `[batch, free, contract]` order is inserted.
//!
//! When the result's only use is a transpose, the call writes the
//! transpose's result directly: as is when the transpose keeps the memory
//! layout (it only moves unit dimensions), and with swapped operands
//! (`(AB)ᵀ = BᵀAᵀ`) when it swaps the lhs and rhs free dimensions.
//! `dot_general`s with an empty result or nothing to contract become a
//! broadcast of zero.

use super::prepare::def_use;
use crate::lower::{lowering, DotDims, Lowering};
use rjax_ir::{
    num_elements, row_major_strides, AVal, Atom, Eqn, Jaxpr, Primitive, Result, Scalar, Shape, Var,
};
use std::collections::{HashMap, HashSet};

/// A float `dot_general` as a GEMM call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GemmPlan {
    /// Batch count.
    pub batch: usize,
    /// Rows of the result.
    pub m: usize,
    /// Columns of the result.
    pub n: usize,
    /// Contracted size.
    pub k: usize,
    /// Left operand's base variable and (batch, row, column) strides.
    pub lhs: (Var, [isize; 3]),
    /// Right operand's base variable and strides.
    pub rhs: (Var, [isize; 3]),
}

/// A variable read as a strided view of a base variable's row-major buffer.
struct View {
    base: Var,
    strides: Vec<i64>,
}

/// Rewrites the float `dot_general`s of `jaxpr` (see the module docs) and
/// returns their plans by equation index.
pub(super) fn plan_gemms(jaxpr: &mut Jaxpr) -> Result<HashMap<usize, GemmPlan>> {
    let (_, uses) = def_use(jaxpr);
    let outputs: HashSet<Var> = jaxpr.outvars.iter().filter_map(var_of).collect();
    let old = std::mem::take(&mut jaxpr.eqns);
    let mut consumer: HashMap<Var, usize> = HashMap::new();
    for (i, e) in old.iter().enumerate() {
        for a in &e.inputs {
            if let Some(v) = var_of(a) {
                consumer.insert(v, i);
            }
        }
    }
    let mut plans = HashMap::new();
    let mut skip: HashSet<usize> = HashSet::new();
    let mut def: HashMap<Var, usize> = HashMap::new();
    for (i, eqn) in old.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        let Ok(Lowering::Dot(dims)) = lowering(&eqn.prim) else {
            def.insert(eqn.outputs[0], jaxpr.eqns.len());
            jaxpr.eqns.push(eqn.clone());
            continue;
        };
        let out = eqn.outputs[0];
        let out_aval = jaxpr.aval(out).clone();
        let lhs_aval = jaxpr.atom_aval(&eqn.inputs[0]);
        let k: usize = dims
            .lhs_contract
            .iter()
            .map(|&d| lhs_aval.shape[d])
            .product();
        if !out_aval.dtype.is_float() {
            def.insert(out, jaxpr.eqns.len());
            jaxpr.eqns.push(eqn.clone());
            continue;
        }
        if out_aval.size() == 0 || k == 0 {
            let zero = Atom::Lit(Scalar::zero(out_aval.dtype));
            let prim = Primitive::BroadcastInDim {
                shape: out_aval.shape.clone(),
                broadcast_dimensions: vec![],
            };
            def.insert(out, jaxpr.eqns.len());
            jaxpr.eqns.push(Eqn {
                prim,
                inputs: vec![zero],
                outputs: vec![out],
                loc: eqn.loc,
            });
            continue;
        }
        let mut inputs = eqn.inputs.clone();
        let lhs = operand(jaxpr, &mut def, &mut inputs[0], Side::Lhs, dims);
        let rhs = operand(jaxpr, &mut def, &mut inputs[1], Side::Rhs, dims);
        let sizes =
            |aval: &AVal, ds: &[usize]| ds.iter().map(|&d| aval.shape[d]).product::<usize>();
        let rhs_aval = jaxpr.atom_aval(&eqn.inputs[1]);
        let (lf, rf) = (
            free(&lhs_aval, dims, Side::Lhs),
            free(&rhs_aval, dims, Side::Rhs),
        );
        let mut plan = GemmPlan {
            batch: sizes(&lhs_aval, dims.lhs_batch),
            m: sizes(&lhs_aval, &lf),
            n: sizes(&rhs_aval, &rf),
            k,
            lhs,
            rhs,
        };
        let mut result = out;
        let folded = consumer
            .get(&out)
            .copied()
            .filter(|_| uses[out.index()] == 1 && !outputs.contains(&out));
        if let Some(j) = folded {
            let layout = if let Ok(Lowering::Transpose { perm }) = lowering(&old[j].prim) {
                out_layout(&out_aval.shape, perm, [dims.lhs_batch.len(), lf.len()])
            } else {
                None
            };
            if let Some(swap) = layout {
                if swap {
                    plan = swapped(plan);
                }
                result = old[j].outputs[0];
                skip.insert(j);
            }
        }
        def.insert(result, jaxpr.eqns.len());
        plans.insert(jaxpr.eqns.len(), plan);
        jaxpr.eqns.push(Eqn {
            prim: eqn.prim.clone(),
            inputs,
            outputs: vec![result],
            loc: eqn.loc,
        });
    }
    Ok(plans)
}

/// Which operand of a `dot_general`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Lhs,
    Rhs,
}

/// The variable of an operand, if it is one.
fn var_of(a: &Atom) -> Option<Var> {
    match a {
        Atom::Var(v) => Some(*v),
        Atom::Lit(_) => None,
    }
}

/// A new variable of `aval`.
fn fresh(jaxpr: &mut Jaxpr, aval: AVal) -> Var {
    let v = Var(u32::try_from(jaxpr.avals.len()).expect("internal error: too many variables"));
    jaxpr.avals.push(aval);
    v
}

/// The free dimensions of one side, ascending.
fn free(aval: &AVal, dims: DotDims<'_>, side: Side) -> Vec<usize> {
    let (b, c) = match side {
        Side::Lhs => (dims.lhs_batch, dims.lhs_contract),
        Side::Rhs => (dims.rhs_batch, dims.rhs_contract),
    };
    (0..aval.rank())
        .filter(|d| !b.contains(d) && !c.contains(d))
        .collect()
}

/// The base variable and (batch, row, column) strides of one operand,
/// inserting a copy (a literal operand, or a transposed copy when the view
/// cannot be strided) before the `dot_general` where needed; `atom` is
/// updated to the operand actually read.
fn operand(
    jaxpr: &mut Jaxpr,
    def: &mut HashMap<Var, usize>,
    atom: &mut Atom,
    side: Side,
    dims: DotDims<'_>,
) -> (Var, [isize; 3]) {
    let aval = jaxpr.atom_aval(atom);
    let fv = free(&aval, dims, side);
    let order: Vec<usize> = match side {
        Side::Lhs => [dims.lhs_batch, &fv, dims.lhs_contract].concat(),
        Side::Rhs => [dims.rhs_batch, dims.rhs_contract, &fv].concat(),
    };
    let groups = match side {
        Side::Lhs => [dims.lhs_batch, &fv[..], dims.lhs_contract],
        Side::Rhs => [dims.rhs_batch, dims.rhs_contract, &fv[..]],
    };
    if let Atom::Var(v) = atom {
        let view = view_of(jaxpr, def, *v);
        let strided: Option<Vec<isize>> = groups
            .iter()
            .map(|g| group_stride(&aval.shape, &view.strides, g))
            .collect();
        if let Some(s) = strided {
            return (view.base, [s[0], s[1], s[2]]);
        }
    }
    // A dense copy in [batch, free, contract] (lhs) or [batch, contract,
    // free] (rhs) order: every group is then contiguous.
    let shape: Shape = order.iter().map(|&d| aval.shape[d]).collect();
    let copy = fresh(
        jaxpr,
        AVal {
            dtype: aval.dtype,
            shape: shape.clone(),
        },
    );
    def.insert(copy, jaxpr.eqns.len());
    jaxpr.eqns.push(Eqn {
        prim: Primitive::Transpose { permutation: order },
        inputs: vec![*atom],
        outputs: vec![copy],
        loc: None,
    });
    *atom = Atom::Var(copy);
    let strides: Vec<i64> = row_major_strides(&shape)
        .iter()
        .map(|&s| s as i64)
        .collect();
    let (nb, n1) = (groups[0].len(), groups[1].len());
    let ranges = [0..nb, nb..nb + n1, nb + n1..shape.len()];
    let s: Vec<isize> = ranges
        .iter()
        .map(|r| {
            let g: Vec<usize> = r.clone().collect();
            group_stride(&shape, &strides, &g).expect("internal error: a dense group is strided")
        })
        .collect();
    (copy, [s[0], s[1], s[2]])
}

/// One stride for the dimensions `group` (in that order) of a view, if
/// they are contiguous in it: 0 for an empty (or all unit) group.
fn group_stride(shape: &[usize], strides: &[i64], group: &[usize]) -> Option<isize> {
    let live: Vec<usize> = group.iter().copied().filter(|&d| shape[d] != 1).collect();
    for w in live.windows(2) {
        if strides[w[0]] != strides[w[1]] * shape[w[1]] as i64 {
            return None;
        }
    }
    Some(live.last().map_or(0, |&d| strides[d] as isize))
}

/// `v` as a strided view of the buffer of the variable it is a chain of
/// transposes and reshapes of.
fn view_of(jaxpr: &Jaxpr, def: &HashMap<Var, usize>, v: Var) -> View {
    let shape = jaxpr.aval(v).shape.clone();
    let dense = || View {
        base: v,
        strides: row_major_strides(&shape)
            .iter()
            .map(|&s| s as i64)
            .collect(),
    };
    let Some(eqn) = def.get(&v).map(|&i| &jaxpr.eqns[i]) else {
        return dense();
    };
    let Atom::Var(x) = eqn.inputs[0] else {
        return dense();
    };
    let how = lowering(&eqn.prim);
    if let Ok(Lowering::Transpose { perm }) = how {
        let inner = view_of(jaxpr, def, x);
        let strides = perm.iter().map(|&p| inner.strides[p]).collect();
        return View {
            base: inner.base,
            strides,
        };
    }
    if let Ok(Lowering::Reshape) = how {
        let inner = view_of(jaxpr, def, x);
        if let Some(strides) = reshape_strides(&jaxpr.aval(x).shape, &inner.strides, &shape) {
            return View {
                base: inner.base,
                strides,
            };
        }
    }
    dense()
}

/// Strides of a reshape of a strided view, if each group of dimensions
/// that the reshape merges or splits is contiguous in the view.
fn reshape_strides(from: &[usize], strides: &[i64], to: &[usize]) -> Option<Vec<i64>> {
    if num_elements(from) == 0 {
        return None;
    }
    let mut out = vec![0i64; to.len()];
    for (gi, go) in reshape_groups(from, to) {
        let base_stride = strides[*gi.last().expect("internal error: empty reshape group")];
        for w in gi.windows(2) {
            if strides[w[0]] != strides[w[1]] * from[w[1]] as i64 {
                return None;
            }
        }
        let mut s = base_stride;
        for &o in go.iter().rev() {
            out[o] = s;
            s *= to[o] as i64;
        }
    }
    Some(out)
}

/// The groups of non-unit dimensions a reshape maps onto each other:
/// `(from dims, to dims)` with equal products. Both shapes must hold the
/// same, non-zero number of elements.
pub(super) fn reshape_groups(from: &[usize], to: &[usize]) -> Vec<(Vec<usize>, Vec<usize>)> {
    let ins: Vec<usize> = (0..from.len()).filter(|&d| from[d] != 1).collect();
    let outs: Vec<usize> = (0..to.len()).filter(|&d| to[d] != 1).collect();
    let (mut i, mut o) = (0, 0);
    let mut groups = Vec::new();
    while i < ins.len() && o < outs.len() {
        let (mut gi, mut go) = (vec![ins[i]], vec![outs[o]]);
        let (mut pi, mut po) = (from[ins[i]], to[outs[o]]);
        while pi != po {
            if pi < po {
                i += 1;
                gi.push(ins[i]);
                pi *= from[ins[i]];
            } else {
                o += 1;
                go.push(outs[o]);
                po *= to[outs[o]];
            }
        }
        groups.push((gi, go));
        i += 1;
        o += 1;
    }
    groups
}

/// Whether a transpose `perm` of a dot result with `[batch, lhs free]`
/// counts `nb`, `nl` keeps its memory layout (`Some(false)`) or swaps the
/// lhs and rhs free dimensions (`Some(true)`); `None` otherwise.
fn out_layout(shape: &[usize], perm: &[usize], [nb, nl]: [usize; 2]) -> Option<bool> {
    let live = |d: &usize| shape[*d] != 1;
    let seq: Vec<usize> = perm.iter().copied().filter(live).collect();
    let ident: Vec<usize> = (0..shape.len()).filter(live).collect();
    if seq == ident {
        return Some(false);
    }
    let r = shape.len();
    let swap: Vec<usize> = (0..nb)
        .chain(nb + nl..r)
        .chain(nb..nb + nl)
        .filter(live)
        .collect();
    (seq == swap).then_some(true)
}

/// The plan computing the transposed result: `(AB)ᵀ = BᵀAᵀ`.
fn swapped(p: GemmPlan) -> GemmPlan {
    let (l, r) = (p.lhs, p.rhs);
    GemmPlan {
        batch: p.batch,
        m: p.n,
        n: p.m,
        k: p.k,
        lhs: (r.0, [r.1[0], r.1[2], r.1[1]]),
        rhs: (l.0, [l.1[0], l.1[2], l.1[1]]),
    }
}
