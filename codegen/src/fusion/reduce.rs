//! Reductions: accumulator loops inlined where a reduction's result is
//! used, and the fused kernels that compute materialised values over one
//! loop nest (elementwise results, reductions accumulating in the same
//! pass, and their epilogues).
//!
//! Every loop visits its elements in row-major order and folds them in
//! that order, exactly as the reference interpreter does.

use super::emit::{Coord, Ctx, Emitter};
use super::partition::reduce_axes;
use super::{Fail, Fallible, Retry};
use crate::kernel::{AccId, BinaryOp, Const, Expr, Index, ScalarType, UnaryOp, ValueId};
use crate::lower::{lowering, DotDims, Lowering, ReduceOp};
use crate::program::Step;
use rjax_ir::{Atom, DType, Scalar, Var};
use std::collections::HashMap;

impl Emitter<'_> {
    /// The block position where a reduction with result index `coords` is
    /// computed: the innermost block defining them. A reduction that would
    /// be recomputed for iterations of an enclosing loop its index does not
    /// depend on is materialised instead.
    fn hoist_pos(&self, v: Var, coords: &[Coord]) -> Fallible<usize> {
        let (pos, used) = self.coords_place(coords);
        if self.loops_to(pos).iter().any(|l| !used.contains(l)) {
            return Err(Fail::Retry(Retry::Materialise(v)));
        }
        Ok(pos)
    }

    /// Opens loops over the `axes` of `shape` (skipping unit ones) and
    /// returns the operand coordinates: loop variables on `axes`, `kept`
    /// (in order) elsewhere.
    fn reduction_loops(
        &mut self,
        shape: &[usize],
        axes: &[usize],
        kept: &[Coord],
    ) -> (Vec<Coord>, usize) {
        let mut kept = kept.iter();
        let mut coords = Vec::with_capacity(shape.len());
        let mut opened = 0;
        for (d, &n) in shape.iter().enumerate() {
            if !axes.contains(&d) {
                coords.push(kept.next().cloned().unwrap_or_else(|| Coord::constant(0)));
            } else if n == 1 {
                coords.push(Coord::constant(0));
            } else {
                let l = self.begin_loop(n, false);
                opened += 1;
                coords.push(Coord::of_loop(l));
            }
        }
        (coords, opened)
    }

    /// `reduce_*` of `x` over `axes`, at result index `coords`.
    pub fn inline_reduce(
        &mut self,
        v: Var,
        x: &Atom,
        op: ReduceOp,
        axes: &[usize],
        coords: &[Coord],
    ) -> Fallible<ValueId> {
        let xs = self.cx.g.atom_aval(x).shape;
        let dtype = self.cx.g.aval(v).dtype;
        let ty = ScalarType::of(dtype);
        let pos = self.hoist_pos(v, coords)?;
        let saved = self.suspend(pos);
        let acc = self.acc_init(ty, Const::Scalar(op.identity(dtype)));
        let (c, opened) = self.reduction_loops(&xs, axes, coords);
        let e = self.eval_atom(x, &c)?;
        self.accumulate(acc, ty, op.combine(), e);
        self.end_nest(opened);
        let r = self.acc_read(acc, ty);
        self.resume(saved);
        Ok(r)
    }

    /// `acc = acc op e`.
    fn accumulate(&mut self, acc: AccId, ty: ScalarType, op: BinaryOp, e: ValueId) {
        let cur = self.acc_read(acc, ty);
        let next = self.bin(ty, op, cur, e);
        self.acc_set(acc, next);
    }

    /// `argmax` (`max`) or `argmin` of `x` along `axis`, at result index
    /// `coords`: the first best index; the first NaN wins.
    pub fn inline_arg(
        &mut self,
        v: Var,
        x: &Atom,
        [axis]: [usize; 1],
        index_dtype: DType,
        max: bool,
        coords: &[Coord],
    ) -> Fallible<ValueId> {
        let xa = self.cx.g.atom_aval(x);
        let out_ty = ScalarType::of(index_dtype);
        if xa.shape[axis] == 1 {
            return Ok(self.scalar(Scalar::zero(index_dtype)));
        }
        let xty = ScalarType::of(xa.dtype);
        let pos = self.hoist_pos(v, coords)?;
        let saved = self.suspend(pos);
        let best = self.acc_init(xty, Const::Scalar(Scalar::zero(xa.dtype)));
        let at = self.acc_init(ScalarType::Index, Const::Index(0));
        let (c, opened) = self.reduction_loops(&xa.shape, &[axis], coords);
        let e = self.eval_atom(x, &c)?;
        let k = self.coord_value(&c[axis]);
        let cur = self.acc_read(best, xty);
        let zero = self.index_const(0);
        let first = self.cmp(BinaryOp::Eq, k, zero);
        let better = self.cmp(if max { BinaryOp::Gt } else { BinaryOp::Lt }, e, cur);
        let later = if xty.is_float() {
            let cur_nan = self.cmp(BinaryOp::Ne, cur, cur);
            let e_nan = self.cmp(BinaryOp::Ne, e, e);
            let wins = self.bin(ScalarType::Bool, BinaryOp::Or, e_nan, better);
            let open = self.let_(ScalarType::Bool, Expr::Unary(UnaryOp::Not, cur_nan));
            self.bin(ScalarType::Bool, BinaryOp::And, open, wins)
        } else {
            better
        };
        let take = self.bin(ScalarType::Bool, BinaryOp::Or, first, later);
        let cur_at = self.acc_read(at, ScalarType::Index);
        let (nb, na) = (self.select(take, e, cur), self.select(take, k, cur_at));
        self.acc_set(best, nb);
        self.acc_set(at, na);
        self.end_nest(opened);
        let r = self.acc_read(at, ScalarType::Index);
        self.resume(saved);
        Ok(self.let_(out_ty, Expr::Convert(out_ty, r)))
    }

    /// Integer `dot_general` at result index `coords`: a sum of products
    /// over the contracted dimensions in row-major order.
    pub fn inline_dot(
        &mut self,
        v: Var,
        ins: &[Atom],
        d: DotDims<'_>,
        coords: &[Coord],
    ) -> Fallible<ValueId> {
        let g = self.cx.g;
        let (ls, rs) = (g.atom_aval(&ins[0]).shape, g.atom_aval(&ins[1]).shape);
        let dtype = g.aval(v).dtype;
        let ty = ScalarType::of(dtype);
        let free = |rank: usize, b: &[usize], c: &[usize]| -> Vec<usize> {
            (0..rank)
                .filter(|x| !b.contains(x) && !c.contains(x))
                .collect()
        };
        let lf = free(ls.len(), d.lhs_batch, d.lhs_contract);
        let rf = free(rs.len(), d.rhs_batch, d.rhs_contract);
        let (nb, nl) = (d.lhs_batch.len(), lf.len());
        let pos = self.hoist_pos(v, coords)?;
        let saved = self.suspend(pos);
        let acc = self.acc_init(ty, Const::Scalar(Scalar::zero(dtype)));
        let mut lc = vec![Coord::constant(0); ls.len()];
        let mut rc = vec![Coord::constant(0); rs.len()];
        for (i, (&a, &b)) in d.lhs_batch.iter().zip(d.rhs_batch).enumerate() {
            (lc[a], rc[b]) = (coords[i].clone(), coords[i].clone());
        }
        for (j, &a) in lf.iter().enumerate() {
            lc[a] = coords[nb + j].clone();
        }
        for (j, &b) in rf.iter().enumerate() {
            rc[b] = coords[nb + nl + j].clone();
        }
        let mut opened = 0;
        for (&a, &b) in d.lhs_contract.iter().zip(d.rhs_contract) {
            if ls[a] != 1 {
                let l = self.begin_loop(ls[a], false);
                opened += 1;
                (lc[a], rc[b]) = (Coord::of_loop(l), Coord::of_loop(l));
            }
        }
        let (x, y) = (self.eval_atom(&ins[0], &lc)?, self.eval_atom(&ins[1], &rc)?);
        let p = self.bin(ty, BinaryOp::Mul, x, y);
        self.accumulate(acc, ty, BinaryOp::Add, p);
        self.end_nest(opened);
        let r = self.acc_read(acc, ty);
        self.resume(saved);
        Ok(r)
    }
}

// ---- fused kernels ------------------------------------------------------------

/// How a root of a fused kernel is computed.
#[derive(Clone, Debug)]
enum Root<'g> {
    /// Computed in the innermost loop from its definition.
    Value,
    /// Computed from its definition where the scalar `reduce_*` root at
    /// this position of the root list is finished, at its result index.
    Epilogue(usize),
    /// A `reduce_*` folding its operand, evaluated in the innermost loop.
    Reduce {
        op: ReduceOp,
        axes: &'g [usize],
        operand: Atom,
        /// `Some(level)`: a scalar accumulator declared at that level (the
        /// reduced loops are all inner to it); `None`: accumulated in the
        /// output buffer.
        level: Option<usize>,
    },
}

/// The loop structure of a fused kernel.
struct Nest<'g> {
    domain: Vec<usize>,
    /// Domain dimensions of each loop, outermost first.
    loops: Vec<Vec<usize>>,
    roots: Vec<(Var, Root<'g>)>,
    parallel: bool,
}

/// Emits the fused kernel computing `roots` over `domain` as program step
/// `step`: with collapsed loops if every index stays affine, else with one
/// loop per non-unit dimension.
pub(super) fn emit_fused(
    cx: &Ctx<'_>,
    domain: &[usize],
    roots: &[Var],
    step: usize,
) -> Fallible<Step> {
    let mut names: Vec<&str> = Vec::new();
    for r in roots {
        if let Some((_, e)) = cx.g.def_eqn(*r) {
            if !names.contains(&e.prim.name()) && names.len() < 3 {
                names.push(e.prim.name());
            }
        }
    }
    let name = format!("k{step}_{}", names.join("_"));
    let mut em = attempt(cx, domain, roots, true)?;
    if em.split_realised {
        em = attempt(cx, domain, roots, false)?;
    }
    let (kernel, args) = em.finish(name);
    Ok(Step::Kernel { kernel, args })
}

/// One emission of a fused kernel.
fn attempt<'a>(
    cx: &'a Ctx<'a>,
    domain: &[usize],
    roots: &[Var],
    collapse: bool,
) -> Fallible<Emitter<'a>> {
    let nest = Nest::new(cx, domain, roots, collapse);
    let mut em = Emitter::new(cx);
    em.local = roots.iter().copied().collect();
    for (v, root) in &nest.roots {
        if let Root::Reduce {
            op, level: None, ..
        } = root
        {
            let aval = cx.g.aval(*v).clone();
            let buf = em.output_of(*v);
            let (c, opened) = em.nest(&aval.shape, true);
            let init = em.scalar(op.identity(aval.dtype));
            em.store(buf, &aval.shape, &c, init);
            em.end_nest(opened);
        }
    }
    let mut coords = vec![Coord::constant(0); domain.len()];
    nest.level(&mut em, 0, &mut coords, &mut HashMap::new())?;
    em.root = None;
    Ok(em)
}

impl<'g> Nest<'g> {
    /// The loops and root kinds of a kernel.
    fn new(cx: &Ctx<'g>, domain: &[usize], vars: &[Var], collapse: bool) -> Nest<'g> {
        let g = cx.g;
        let rank = domain.len();
        let reduced = |v: Var, d: usize| reduce_axes(g, v).is_some_and(|axes| axes.contains(&d));
        let sig = |d: usize| -> Vec<bool> { vars.iter().map(|v| reduced(*v, d)).collect() };
        let mut loops: Vec<Vec<usize>> = Vec::new();
        for d in (0..rank).filter(|&d| domain[d] != 1) {
            match loops.last_mut() {
                Some(last) if collapse && sig(last[0]) == sig(d) => last.push(d),
                Some(_) | None => loops.push(vec![d]),
            }
        }
        let nloops = loops.len();
        let mut roots: Vec<(Var, Root<'g>)> = Vec::new();
        for &v in vars {
            let (_, eqn) = g
                .def_eqn(v)
                .expect("internal error: a root without a definition");
            let root = match lowering(&eqn.prim) {
                Ok(Lowering::Reduce { op, axes }) => {
                    let red: Vec<bool> = loops.iter().map(|l| axes.contains(&l[0])).collect();
                    let first = red.iter().position(|&r| r).unwrap_or(nloops);
                    let scalar = red[first..].iter().all(|&r| r);
                    Root::Reduce {
                        op,
                        axes,
                        operand: eqn.inputs[0],
                        level: scalar.then_some(first),
                    }
                }
                Ok(_) | Err(_) if g.aval(v).shape[..] == domain[..] => Root::Value,
                Ok(_) | Err(_) => {
                    let shape = &g.aval(v).shape;
                    let of = roots.iter().position(|(r, k)| {
                        matches!(k, Root::Reduce { level: Some(_), .. })
                            && g.aval(*r).shape == *shape
                    });
                    Root::Epilogue(of.expect("internal error: an epilogue without its reduction"))
                }
            };
            roots.push((v, root));
        }
        let parallel = !roots.iter().any(|(_, r)| match r {
            Root::Reduce { axes, .. } => loops.first().is_some_and(|l| axes.contains(&l[0])),
            Root::Value | Root::Epilogue(_) => false,
        });
        Nest {
            domain: domain.to_vec(),
            loops,
            roots,
            parallel,
        }
    }

    /// Emits loop level `p` and everything inside it.
    fn level(
        &self,
        em: &mut Emitter<'_>,
        p: usize,
        coords: &mut Vec<Coord>,
        accs: &mut HashMap<usize, AccId>,
    ) -> Fallible<()> {
        let g = em.cx.g;
        for (i, (v, root)) in self.roots.iter().enumerate() {
            if let Root::Reduce {
                op, level: Some(l), ..
            } = root
            {
                if *l == p {
                    let dtype = g.aval(*v).dtype;
                    accs.insert(
                        i,
                        em.acc_init(ScalarType::of(dtype), Const::Scalar(op.identity(dtype))),
                    );
                }
            }
        }
        if p < self.loops.len() {
            let dims = &self.loops[p];
            let extent: usize = dims.iter().map(|&d| self.domain[d]).product();
            let l = em.begin_loop(extent, p == 0 && self.parallel);
            if let [d] = dims[..] {
                coords[d] = Coord::of_loop(l);
            } else {
                let base = Index {
                    offset: 0,
                    terms: vec![(l, 1)],
                    dynamic: None,
                };
                let mut div = 1i64;
                for &d in dims.iter().rev() {
                    let size = self.domain[d] as i64;
                    coords[d] = Coord::Split {
                        base: base.clone(),
                        div,
                        size,
                        total: extent as i64,
                    };
                    div *= size;
                }
            }
            self.level(em, p + 1, coords, accs)?;
            em.end_loop();
        } else {
            self.innermost(em, coords, accs)?;
        }
        self.after(em, p, coords, accs)
    }

    /// The work of the innermost loop: full-rank values and reduction
    /// updates.
    fn innermost(
        &self,
        em: &mut Emitter<'_>,
        coords: &[Coord],
        accs: &HashMap<usize, AccId>,
    ) -> Fallible<()> {
        let g = em.cx.g;
        for (i, (v, root)) in self.roots.iter().enumerate() {
            em.root = Some(*v);
            let aval = g.aval(*v).clone();
            let ty = ScalarType::of(aval.dtype);
            match root {
                Root::Value => {
                    let x = em.eval_def(*v, coords)?;
                    let buf = em.output_of(*v);
                    em.store(buf, &aval.shape, coords, x);
                }
                Root::Epilogue(_) => {}
                Root::Reduce {
                    op,
                    axes,
                    operand,
                    level,
                } => {
                    let e = em.eval_atom(operand, coords)?;
                    match level {
                        Some(_) => em.accumulate(accs[&i], ty, op.combine(), e),
                        None => {
                            let kept = kept_coords(coords, axes);
                            let buf = em.output_of(*v);
                            let old = em.load(buf, aval.dtype, &aval.shape, &kept);
                            let new = em.bin(ty, op.combine(), old, e);
                            em.store(buf, &aval.shape, &kept, new);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The work after loop level `p` closes: the scalar reductions
    /// finished there, then their epilogues.
    fn after(
        &self,
        em: &mut Emitter<'_>,
        p: usize,
        coords: &[Coord],
        accs: &HashMap<usize, AccId>,
    ) -> Fallible<()> {
        let g = em.cx.g;
        let mut done: HashMap<usize, Vec<Coord>> = HashMap::new();
        for (i, (v, root)) in self.roots.iter().enumerate() {
            if let Root::Reduce {
                axes,
                level: Some(l),
                ..
            } = root
            {
                if *l == p {
                    let aval = g.aval(*v).clone();
                    let r = em.acc_read(accs[&i], ScalarType::of(aval.dtype));
                    let kept = kept_coords(coords, axes);
                    em.memo_put(*v, &kept, r);
                    let buf = em.output_of(*v);
                    em.store(buf, &aval.shape, &kept, r);
                    done.insert(i, kept);
                }
            }
        }
        for (v, root) in &self.roots {
            if let Some(c) = match root {
                Root::Epilogue(of) => done.get(of),
                Root::Value | Root::Reduce { .. } => None,
            } {
                em.root = Some(*v);
                let aval = g.aval(*v).clone();
                let x = em.eval_def(*v, c)?;
                let buf = em.output_of(*v);
                em.store(buf, &aval.shape, c, x);
            }
        }
        Ok(())
    }
}

/// The coordinates of the dimensions not in `axes`.
fn kept_coords(coords: &[Coord], axes: &[usize]) -> Vec<Coord> {
    coords
        .iter()
        .enumerate()
        .filter(|(d, _)| !axes.contains(d))
        .map(|(_, c)| c.clone())
        .collect()
}
