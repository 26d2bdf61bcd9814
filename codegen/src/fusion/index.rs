//! Index functions: the value of a jaxpr variable at a multi-index of its
//! shape, as kernel-IR code.
//!
//! A materialised value is a load from its buffer; a fused one is computed
//! from its operands at the multi-indices its primitive maps the output
//! multi-index to (the table in [`Emitter::eval_eqn`], one arm per
//! [`Lowering`]). Results are memoised per (variable, multi-index), so a
//! value used twice at the same position is computed once.

use super::emit::{Coord, Emitter};
use super::gemm::reshape_groups;
use super::{internal, Fail, Fallible, Retry};
use crate::kernel::{BinaryOp, Expr, Index, ScalarType, ValueId};
use crate::lower::{lowering, Lowering};
use rjax_ir::{Atom, Error, Scalar, Var};

impl Emitter<'_> {
    /// The value of an operand at `coords`.
    pub fn eval_atom(&mut self, a: &Atom, coords: &[Coord]) -> Fallible<ValueId> {
        match a {
            Atom::Lit(s) => Ok(self.scalar(*s)),
            Atom::Var(v) => self.eval(*v, coords),
        }
    }

    /// An elementwise operand at `coords` (a rank-0 operand at `[]`).
    fn elem(&mut self, a: &Atom, coords: &[Coord]) -> Fallible<ValueId> {
        if self.cx.g.atom_aval(a).rank() == 0 {
            self.eval_atom(a, &[])
        } else {
            self.eval_atom(a, coords)
        }
    }

    /// The value of `v` at `coords`: loaded if it has a buffer, computed
    /// otherwise.
    pub fn eval(&mut self, v: Var, coords: &[Coord]) -> Fallible<ValueId> {
        if let Some(x) = self.memo_get(v, coords) {
            return Ok(x);
        }
        let x = if self.cx.is_mat(v) {
            if self.local.contains(&v) {
                let root = self
                    .root
                    .ok_or_else(|| internal("no root while reading a local value"))?;
                return Err(Fail::Retry(Retry::Separate(root, v)));
            }
            let aval = self.cx.g.aval(v).clone();
            let buf = self.input_of(v);
            self.load(buf, aval.dtype, &aval.shape, coords)
        } else {
            self.eval_eqn(v, coords)?
        };
        self.memo_put(v, coords, x);
        Ok(x)
    }

    /// Computes `v` from its defining equation at `coords` (a root being
    /// stored).
    pub fn eval_def(&mut self, v: Var, coords: &[Coord]) -> Fallible<ValueId> {
        let x = self.eval_eqn(v, coords)?;
        self.memo_put(v, coords, x);
        Ok(x)
    }

    /// The index-function table.
    fn eval_eqn(&mut self, v: Var, coords: &[Coord]) -> Fallible<ValueId> {
        use Lowering as L;
        let g = self.cx.g;
        let (_, eqn) = g
            .def_eqn(v)
            .ok_or_else(|| internal("evaluating an input"))?;
        let ins = &eqn.inputs;
        let ty = ScalarType::of(g.aval(v).dtype);
        match lowering(&eqn.prim)? {
            L::Unary(op) => {
                let a = self.elem(&ins[0], coords)?;
                Ok(self.let_(ty, Expr::Unary(op, a)))
            }
            L::Binary(op) => {
                if let Some((cheap, k)) = unsigned_power_of_two(op, ty, &ins[1]) {
                    let a = self.elem(&ins[0], coords)?;
                    let k = self.scalar(Scalar::U32(k));
                    return Ok(self.bin(ty, cheap, a, k));
                }
                let (a, b) = (self.elem(&ins[0], coords)?, self.elem(&ins[1], coords)?);
                Ok(self.bin(ty, op, a, b))
            }
            L::Select => {
                let p = self.elem(&ins[0], coords)?;
                let (t, f) = (self.elem(&ins[1], coords)?, self.elem(&ins[2], coords)?);
                Ok(self.select(p, t, f))
            }
            L::Convert(_) => {
                let a = self.elem(&ins[0], coords)?;
                Ok(if self.ty(a) == ty {
                    a
                } else {
                    self.let_(ty, Expr::Convert(ty, a))
                })
            }
            L::Identity => self.eval_atom(&ins[0], coords),
            L::Broadcast { dims } => {
                let xs = g.atom_aval(&ins[0]).shape;
                let c: Vec<Coord> = dims
                    .iter()
                    .enumerate()
                    .map(|(k, &d)| {
                        if xs[k] == 1 {
                            Coord::constant(0)
                        } else {
                            coords[d].clone()
                        }
                    })
                    .collect();
                self.eval_atom(&ins[0], &c)
            }
            L::Reshape => {
                let c = self.reshape_coords(&g.atom_aval(&ins[0]).shape, &g.aval(v).shape, coords);
                self.eval_atom(&ins[0], &c)
            }
            L::Transpose { perm } => {
                let mut c = vec![Coord::constant(0); perm.len()];
                for (k, &p) in perm.iter().enumerate() {
                    c[p] = coords[k].clone();
                }
                self.eval_atom(&ins[0], &c)
            }
            L::Reduce { op, axes } => self.inline_reduce(v, &ins[0], op, axes, coords),
            L::ArgReduce {
                axis,
                index_dtype,
                max,
            } => self.inline_arg(v, &ins[0], [axis], index_dtype, max, coords),
            L::Dot(dims) => self.inline_dot(v, ins, dims, coords),
            L::Slice { start, strides } => {
                let mut c = Vec::with_capacity(coords.len());
                for (d, coord) in coords.iter().enumerate() {
                    c.push(self.affine(coord, strides[d] as i64, start[d] as i64));
                }
                self.eval_atom(&ins[0], &c)
            }
            L::Pad { low, interior } => self.pad(v, ins, low, interior, coords),
            L::Concatenate { axis } => self.concatenate(v, ins, axis, coords),
            L::Rev { axes } => {
                let xs = g.aval(v).shape.clone();
                let mut c = coords.to_vec();
                for &d in axes {
                    c[d] = self.affine(&coords[d], -1, xs[d] as i64 - 1);
                }
                self.eval_atom(&ins[0], &c)
            }
            L::DynamicSlice => {
                let xs = g.atom_aval(&ins[0]).shape;
                let sizes = g.aval(v).shape.clone();
                let mut c = coords.to_vec();
                for d in 0..xs.len() {
                    let room = (xs[d] - sizes[d]) as i64;
                    if room > 0 {
                        let s = self.eval_atom(&ins[1 + d], &[])?;
                        let s = self.index_of(s);
                        let s = self.clamp(s, 0, room);
                        let at = self.lin(&coords[d]);
                        let shift = Index {
                            offset: 0,
                            terms: vec![],
                            dynamic: Some(s),
                        };
                        c[d] = Coord::Lin(self.add(&at, &shift));
                    }
                }
                self.eval_atom(&ins[0], &c)
            }
            L::Gather { axis } => self.gather(v, ins, axis, coords),
            L::Iota { dimension } => {
                let i = self.coord_value(&coords[dimension]);
                Ok(self.let_(ty, Expr::Convert(ty, i)))
            }
            L::Cumsum { .. }
            | L::DynamicUpdateSlice
            | L::Scatter { .. }
            | L::RandomBits
            | L::Inline(_)
            | L::Control => Err(internal("a kernel-rooted value was not materialised").into()),
        }
    }

    /// `scale * c + offset`, keeping `c` as is when that is the identity.
    fn affine(&mut self, c: &Coord, scale: i64, offset: i64) -> Coord {
        if scale == 1 && offset == 0 {
            return c.clone();
        }
        let ix = self.lin(c);
        let scaled = self.scale(&ix, scale);
        Coord::Lin(self.add(&scaled, &Index::constant(offset)))
    }

    /// Operand coordinates of a reshape from `from` to `to`.
    fn reshape_coords(&mut self, from: &[usize], to: &[usize], coords: &[Coord]) -> Vec<Coord> {
        let mut c = vec![Coord::constant(0); from.len()];
        if to.contains(&0) {
            return c;
        }
        for (gi, go) in reshape_groups(from, to) {
            let sub: Vec<usize> = go.iter().map(|&o| to[o]).collect();
            let sub_coords: Vec<Coord> = go.iter().map(|&o| coords[o].clone()).collect();
            let flat = if go.len() == 1 {
                coords[go[0]].clone()
            } else {
                self.linearize_coord(&sub, &sub_coords)
            };
            if gi.len() == 1 {
                c[gi[0]] = flat;
                continue;
            }
            // Split the group's flat index; a split of a split is a split
            // of the same base: ((b / q) % s) / d % t = (b / (q d)) % t.
            let (base, outer, total) = match flat {
                Coord::Split {
                    base, div, total, ..
                } => (base, div, total),
                Coord::Lin(ix) => {
                    let total: usize = gi.iter().map(|&d| from[d]).product();
                    (ix, 1, total as i64)
                }
            };
            let mut div = outer;
            for &d in gi.iter().rev() {
                c[d] = Coord::Split {
                    base: base.clone(),
                    div,
                    size: from[d] as i64,
                    total,
                };
                div *= from[d] as i64;
            }
        }
        c
    }

    /// `pad`: the operand where the position maps onto it, else the
    /// padding value.
    fn pad(
        &mut self,
        v: Var,
        ins: &[Atom],
        low: &[i64],
        interior: &[usize],
        coords: &[Coord],
    ) -> Fallible<ValueId> {
        let xs = self.cx.g.atom_aval(&ins[0]).shape;
        let out = self.cx.g.aval(v).shape.clone();
        if xs.contains(&0) {
            return self.eval_atom(&ins[1], &[]);
        }
        let mut conds = Vec::new();
        let mut c = Vec::with_capacity(xs.len());
        for d in 0..xs.len() {
            let (size, lo, step) = (xs[d] as i64, low[d], interior[d] as i64 + 1);
            let rel = self.affine(&coords[d], 1, -lo);
            let high = out[d] as i64 - lo - (size - 1) * step - 1;
            if step == 1 && lo <= 0 && high <= 0 {
                c.push(rel);
                continue;
            }
            // Tests only where the position can fall outside the operand:
            // before it (low padding), after it (high padding) or between
            // its elements (interior padding).
            let r = self.coord_value(&rel);
            let zero = self.index_const(0);
            let (before, after) = (lo > 0 || step > 1, high > 0 || step > 1);
            if before {
                conds.push(self.cmp(BinaryOp::Ge, r, zero));
            }
            let q = if step == 1 {
                r
            } else {
                let s = self.index_const(step);
                let m = self.ibin(BinaryOp::Rem, r, s);
                conds.push(self.cmp(BinaryOp::Eq, m, zero));
                self.ibin(BinaryOp::Div, r, s)
            };
            if after {
                let n = self.index_const(size);
                conds.push(self.cmp(BinaryOp::Lt, q, n));
            }
            let q = self.clamp(
                q,
                if before { 0 } else { i64::MIN },
                if after { size - 1 } else { i64::MAX },
            );
            c.push(Coord::of_value(q));
        }
        let x = self.eval_atom(&ins[0], &c)?;
        let Some(first) = conds.first().copied() else {
            return Ok(x);
        };
        let inside = conds[1..].iter().fold(first, |a, &b| {
            self.bin(ScalarType::Bool, BinaryOp::And, a, b)
        });
        let p = self.eval_atom(&ins[1], &[])?;
        Ok(self.select(inside, x, p))
    }

    /// `concatenate`: a select chain over the non-empty operands.
    fn concatenate(
        &mut self,
        v: Var,
        ins: &[Atom],
        axis: usize,
        coords: &[Coord],
    ) -> Fallible<ValueId> {
        let out = self.cx.g.aval(v).clone();
        if out.size() == 0 {
            return Ok(self.scalar(Scalar::zero(out.dtype)));
        }
        let mut pieces = Vec::new();
        let mut off = 0i64;
        for a in ins {
            let n = self.cx.g.atom_aval(a).shape[axis] as i64;
            if n > 0 {
                pieces.push((a, off, n));
            }
            off += n;
        }
        if let [(a, off, _)] = pieces[..] {
            let mut c = coords.to_vec();
            c[axis] = self.affine(&coords[axis], 1, -off);
            return self.eval_atom(a, &c);
        }
        let pos = self.coord_value(&coords[axis]);
        let last = pieces.len() - 1;
        let mut acc: Option<ValueId> = None;
        for (k, &(a, off, n)) in pieces.iter().enumerate().rev() {
            let shift = self.index_const(-off);
            let rel = self.ibin(BinaryOp::Add, pos, shift);
            let (lo, hi) = (
                if k > 0 { 0 } else { i64::MIN },
                if k < last { n - 1 } else { i64::MAX },
            );
            let rel = self.clamp(rel, lo, hi);
            let mut c = coords.to_vec();
            c[axis] = Coord::of_value(rel);
            let x = self.eval_atom(a, &c)?;
            acc = Some(match acc {
                None => x,
                Some(later) => {
                    let end = self.index_const(off + n);
                    let here = self.cmp(BinaryOp::Lt, pos, end);
                    self.select(here, x, later)
                }
            });
        }
        acc.ok_or_else(|| internal("concatenate without operands").into())
    }

    /// `gather` along `axis`: the operand at the (clamped) index read from
    /// the indices operand.
    fn gather(&mut self, v: Var, ins: &[Atom], axis: usize, coords: &[Coord]) -> Fallible<ValueId> {
        let g = self.cx.g;
        let (xs, ri) = (g.atom_aval(&ins[0]).shape, g.atom_aval(&ins[1]).rank());
        let out = g.aval(v);
        if out.size() == 0 {
            return Ok(self.scalar(Scalar::zero(out.dtype)));
        }
        let size = xs[axis] as i64;
        if size == 0 {
            let msg = format!("cannot gather from empty axis {axis} of {:?}", &xs[..]);
            return Err(Fail::Error(Error::op("gather", msg)));
        }
        let k = if size == 1 {
            Coord::constant(0)
        } else {
            let i = self.eval_atom(&ins[1], &coords[axis..axis + ri])?;
            let i = self.index_of(i);
            Coord::of_value(self.clamp(i, 0, size - 1))
        };
        let mut c: Vec<Coord> = coords[..axis].to_vec();
        c.push(k);
        c.extend_from_slice(&coords[axis + ri..]);
        self.eval_atom(&ins[0], &c)
    }
}

/// `x / 2^k` and `x % 2^k` on `u32` as a shift and a mask (exact for
/// unsigned values, and vectorisable where integer division is not): the
/// cheaper operation and its constant operand, for a literal power-of-two
/// divisor.
fn unsigned_power_of_two(op: BinaryOp, ty: ScalarType, divisor: &Atom) -> Option<(BinaryOp, u32)> {
    let Atom::Lit(Scalar::U32(d)) = divisor else {
        return None;
    };
    if ty != ScalarType::U32 || !d.is_power_of_two() {
        return None;
    }
    match op {
        BinaryOp::Div => Some((BinaryOp::ShrLogical, d.trailing_zeros())),
        BinaryOp::Rem => Some((BinaryOp::And, d - 1)),
        _ => None,
    }
}
