//! The kernel emitter: blocks, placement of values, coordinates, loads and
//! stores.
//!
//! Code is emitted into a stack of open blocks (the kernel body, then one
//! block per open loop). Every pure value is placed in the outermost open
//! block where its operands are defined, so loop invariants end up outside
//! the loops that do not change them, and identical pure values are shared
//! (value numbering). A loop can be opened under any open block (to hoist a
//! reduction out of loops its result does not depend on): the blocks above
//! it are set aside meanwhile, and values defined in them are invisible.
//!
//! A [`Coord`] is one coordinate of a multi-index: an affine [`Index`] over
//! the loop variables (plus a computed term), or `(base / div) % size` of
//! one, which is what a loop over several collapsed dimensions gives. When
//! all the split coordinates of one base reach a buffer with matching
//! strides, they merge back into the affine base; otherwise they are
//! computed with division and remainder (and the kernel is re-emitted
//! without collapsed loops).

use super::prepare::Graph;
use crate::kernel::{
    AccId, BinaryOp, BufId, BufferDecl, BufferKind, Const, Expr, Index, Kernel, KernelBuilder,
    LoopId, ScalarType, Stmt, ValueId,
};
use crate::program::BufferRef;
use rjax_ir::{row_major_strides, DType, Scalar, Var};
use std::collections::{HashMap, HashSet};

/// What emission needs to know about the partition.
pub(super) struct Ctx<'a> {
    /// The program.
    pub g: &'a Graph,
    /// Whether each variable has a buffer.
    pub mat: &'a [bool],
    /// The buffer of each materialised variable.
    pub bufs: &'a HashMap<Var, BufferRef>,
}

impl Ctx<'_> {
    /// The buffer of a materialised variable.
    pub fn buf(&self, v: Var) -> BufferRef {
        *self
            .bufs
            .get(&v)
            .expect("internal error: materialised value without a buffer")
    }

    /// Whether `v` has a buffer.
    pub fn is_mat(&self, v: Var) -> bool {
        self.mat[v.index()]
    }
}

/// One coordinate of a multi-index (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Coord {
    /// An affine index.
    Lin(Index),
    /// `(base / div) % size`, where `0 <= base < total`.
    Split {
        /// The collapsed index.
        base: Index,
        /// Divisor.
        div: i64,
        /// Modulus (this dimension's size).
        size: i64,
        /// Exclusive bound of `base`.
        total: i64,
    },
}

impl Coord {
    /// The constant coordinate `c`.
    pub fn constant(c: i64) -> Coord {
        Coord::Lin(Index::constant(c))
    }

    /// A loop variable as a coordinate.
    pub fn of_loop(l: LoopId) -> Coord {
        Coord::Lin(Index {
            offset: 0,
            terms: vec![(l, 1)],
            dynamic: None,
        })
    }

    /// A computed `Index` value as a coordinate.
    pub fn of_value(v: ValueId) -> Coord {
        Coord::Lin(Index {
            offset: 0,
            terms: vec![],
            dynamic: Some(v),
        })
    }
}

/// An open block.
pub(super) struct Frame {
    id: u32,
    lp: Option<(LoopId, usize, bool)>,
    stmts: Vec<Stmt>,
}

/// What the emitter knows of a value.
struct ValInfo {
    frame: u32,
    ty: ScalarType,
    loops: Vec<LoopId>,
}

/// Writes one kernel.
pub(super) struct Emitter<'a> {
    /// The partition.
    pub cx: &'a Ctx<'a>,
    kb: KernelBuilder,
    frames: Vec<Frame>,
    next_frame: u32,
    vals: HashMap<ValueId, ValInfo>,
    loop_frame: HashMap<LoopId, u32>,
    memo: HashMap<(Var, Vec<Coord>), ValueId>,
    gvn: HashMap<String, ValueId>,
    decls: Vec<BufferDecl>,
    args: Vec<BufferRef>,
    buf_ids: HashMap<BufferRef, BufId>,
    /// Materialised values this kernel computes (read back only from the
    /// memo, never from their buffers).
    pub local: HashSet<Var>,
    /// The root being computed (for [`super::Retry::Separate`]).
    pub root: Option<Var>,
    /// Whether a split coordinate had to be computed.
    pub split_realised: bool,
}

impl<'a> Emitter<'a> {
    /// An emitter with an empty kernel body.
    pub fn new(cx: &'a Ctx<'a>) -> Emitter<'a> {
        Emitter {
            cx,
            kb: KernelBuilder::new(),
            frames: vec![Frame {
                id: 0,
                lp: None,
                stmts: Vec::new(),
            }],
            next_frame: 1,
            vals: HashMap::new(),
            loop_frame: HashMap::new(),
            memo: HashMap::new(),
            gvn: HashMap::new(),
            decls: Vec::new(),
            args: Vec::new(),
            buf_ids: HashMap::new(),
            local: HashSet::new(),
            root: None,
            split_realised: false,
        }
    }

    /// The finished kernel and the program buffers of its parameters.
    pub fn finish(mut self, name: String) -> (Kernel, Vec<BufferRef>) {
        assert_eq!(self.frames.len(), 1, "internal error: unclosed loop");
        let body = self.frames.pop().map(|f| f.stmts).unwrap_or_default();
        let kernel = Kernel {
            name,
            buffers: self.decls,
            body,
        };
        (kernel, self.args)
    }

    // ---- blocks ----------------------------------------------------------------

    /// Position of the innermost open block.
    pub fn top(&self) -> usize {
        self.frames.len() - 1
    }

    /// Position of the open block with id `id`.
    fn pos_of(&self, id: u32) -> Option<usize> {
        self.frames.iter().position(|f| f.id == id)
    }

    /// Position of the block defining `v` (it must be visible).
    fn value_pos(&self, v: ValueId) -> usize {
        let frame = self
            .vals
            .get(&v)
            .expect("internal error: unknown value")
            .frame;
        self.pos_of(frame)
            .expect("internal error: value used outside its block")
    }

    /// Whether `v` is visible from the innermost block.
    fn visible(&self, v: ValueId) -> bool {
        self.vals
            .get(&v)
            .is_some_and(|i| self.pos_of(i.frame).is_some())
    }

    /// Opens a loop in the innermost block.
    pub fn begin_loop(&mut self, extent: usize, parallel: bool) -> LoopId {
        let l = self.kb.lp();
        let id = self.next_frame;
        self.next_frame += 1;
        self.loop_frame.insert(l, id);
        self.frames.push(Frame {
            id,
            lp: Some((l, extent, parallel)),
            stmts: Vec::new(),
        });
        l
    }

    /// Closes the innermost loop.
    pub fn end_loop(&mut self) {
        let f = self.frames.pop().expect("internal error: no open loop");
        let (id, extent, parallel) = f.lp.expect("internal error: closing the kernel body");
        let stmt = Stmt::Loop {
            id,
            extent,
            parallel,
            body: f.stmts,
        };
        self.frames
            .last_mut()
            .expect("internal error: no enclosing block")
            .stmts
            .push(stmt);
    }

    /// Sets aside the blocks above position `pos`, so code goes to `pos`.
    pub fn suspend(&mut self, pos: usize) -> Vec<Frame> {
        self.frames.split_off(pos + 1)
    }

    /// Restores blocks set aside by [`Emitter::suspend`].
    pub fn resume(&mut self, saved: Vec<Frame>) {
        self.frames.extend(saved);
    }

    /// The loops enclosing block position `pos`.
    pub fn loops_to(&self, pos: usize) -> Vec<LoopId> {
        self.frames[..=pos]
            .iter()
            .filter_map(|f| f.lp.map(|l| l.0))
            .collect()
    }

    // ---- values ----------------------------------------------------------------

    /// Where `expr` can be placed (block position) and the loops it depends on.
    fn place(&self, expr: &Expr) -> (usize, Vec<LoopId>) {
        let mut pos = 0;
        let mut loops = Vec::new();
        let val = |v: &ValueId, pos: &mut usize, loops: &mut Vec<LoopId>| {
            *pos = (*pos).max(self.value_pos(*v));
            loops.extend(&self.vals[v].loops);
        };
        match expr {
            Expr::Const(_) => {}
            Expr::LoopVar(l) => {
                let frame = self.loop_frame[l];
                pos = self
                    .pos_of(frame)
                    .expect("internal error: loop variable out of scope");
                loops.push(*l);
            }
            Expr::Load { buf, index } => {
                if self.decls[buf.0 as usize].kind == BufferKind::Output {
                    return (self.top(), self.loops_to(self.top()));
                }
                let (p, ls) = self.index_place(index);
                (pos, loops) = (p, ls);
            }
            Expr::Unary(_, a) | Expr::Convert(_, a) | Expr::Bitcast(_, a) => {
                val(a, &mut pos, &mut loops)
            }
            Expr::Binary(_, a, b) => {
                val(a, &mut pos, &mut loops);
                val(b, &mut pos, &mut loops);
            }
            Expr::Fma(a, b, c) | Expr::Select(a, b, c) => {
                for v in [a, b, c] {
                    val(v, &mut pos, &mut loops);
                }
            }
            Expr::AccRead(_) => return (self.top(), self.loops_to(self.top())),
        }
        loops.sort_unstable();
        loops.dedup();
        (pos, loops)
    }

    /// Where an index can be computed and the loops it depends on.
    pub fn index_place(&self, index: &Index) -> (usize, Vec<LoopId>) {
        let mut pos = 0;
        let mut loops = Vec::new();
        for (l, _) in &index.terms {
            let p = self
                .pos_of(self.loop_frame[l])
                .expect("internal error: loop out of scope");
            pos = pos.max(p);
            loops.push(*l);
        }
        if let Some(d) = index.dynamic {
            pos = pos.max(self.value_pos(d));
            loops.extend(&self.vals[&d].loops);
        }
        (pos, loops)
    }

    /// Where a multi-index can be used and the loops it depends on.
    pub fn coords_place(&self, coords: &[Coord]) -> (usize, Vec<LoopId>) {
        let mut pos = 0;
        let mut loops = Vec::new();
        for c in coords {
            let ix = match c {
                Coord::Lin(ix) | Coord::Split { base: ix, .. } => ix,
            };
            let (p, ls) = self.index_place(ix);
            pos = pos.max(p);
            loops.extend(ls);
        }
        (pos, loops)
    }

    /// Defines `ty = expr`, placed as far out as its operands allow.
    pub fn let_(&mut self, ty: ScalarType, expr: Expr) -> ValueId {
        let pure = match &expr {
            Expr::AccRead(_) => false,
            Expr::Load { buf, .. } => self.decls[buf.0 as usize].kind == BufferKind::Input,
            Expr::Const(_)
            | Expr::LoopVar(_)
            | Expr::Unary(..)
            | Expr::Binary(..)
            | Expr::Fma(..)
            | Expr::Select(..)
            | Expr::Convert(..)
            | Expr::Bitcast(..) => true,
        };
        let key = pure.then(|| format!("{ty:?}|{expr:?}"));
        if let Some(v) = key.as_ref().and_then(|k| self.gvn.get(k)) {
            if self.visible(*v) {
                return *v;
            }
        }
        let (pos, loops) = self.place(&expr);
        let value = self.kb.value();
        self.frames[pos].stmts.push(Stmt::Let { value, ty, expr });
        let frame = self.frames[pos].id;
        self.vals.insert(value, ValInfo { frame, ty, loops });
        if let Some(k) = key {
            self.gvn.insert(k, value);
        }
        value
    }

    /// The type of a value.
    pub fn ty(&self, v: ValueId) -> ScalarType {
        self.vals[&v].ty
    }

    /// A constant of an array dtype.
    pub fn scalar(&mut self, s: Scalar) -> ValueId {
        self.let_(ScalarType::of(s.dtype()), Expr::Const(Const::Scalar(s)))
    }

    /// An index constant.
    pub fn index_const(&mut self, i: i64) -> ValueId {
        self.let_(ScalarType::Index, Expr::Const(Const::Index(i)))
    }

    /// `a op b` of type `ty`.
    pub fn bin(&mut self, ty: ScalarType, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        self.let_(ty, Expr::Binary(op, a, b))
    }

    /// `op` on two index values.
    pub fn ibin(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        self.bin(ScalarType::Index, op, a, b)
    }

    /// A comparison (bool result).
    pub fn cmp(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        self.bin(ScalarType::Bool, op, a, b)
    }

    /// `c ? t : f`.
    pub fn select(&mut self, c: ValueId, t: ValueId, f: ValueId) -> ValueId {
        let ty = self.ty(t);
        self.let_(ty, Expr::Select(c, t, f))
    }

    /// An integer value converted to `Index`.
    pub fn index_of(&mut self, v: ValueId) -> ValueId {
        if self.ty(v) == ScalarType::Index {
            return v;
        }
        self.let_(ScalarType::Index, Expr::Convert(ScalarType::Index, v))
    }

    /// An index value clamped into `[lo, hi]` (`i64::MIN` and `i64::MAX`
    /// mean no bound).
    pub fn clamp(&mut self, v: ValueId, lo: i64, hi: i64) -> ValueId {
        let mut v = v;
        if lo != i64::MIN {
            let l = self.index_const(lo);
            v = self.ibin(BinaryOp::Max, v, l);
        }
        if hi != i64::MAX {
            let h = self.index_const(hi);
            v = self.ibin(BinaryOp::Min, v, h);
        }
        v
    }

    // ---- statements --------------------------------------------------------------

    /// Appends a statement to the innermost block.
    fn push(&mut self, stmt: Stmt) {
        self.frames
            .last_mut()
            .expect("internal error: no open block")
            .stmts
            .push(stmt);
    }

    /// Declares an accumulator in the innermost block.
    pub fn acc_init(&mut self, ty: ScalarType, init: Const) -> AccId {
        let acc = self.kb.acc();
        self.push(Stmt::AccInit { acc, ty, init });
        acc
    }

    /// Reads an accumulator in the innermost block.
    pub fn acc_read(&mut self, acc: AccId, ty: ScalarType) -> ValueId {
        self.let_(ty, Expr::AccRead(acc))
    }

    /// Overwrites an accumulator.
    pub fn acc_set(&mut self, acc: AccId, value: ValueId) {
        self.push(Stmt::AccSet { acc, value });
    }

    /// Registers the buffer of materialised value `v` as a kernel parameter.
    fn param(&mut self, v: Var, kind: BufferKind) -> BufId {
        let r = self.cx.buf(v);
        if let Some(id) = self.buf_ids.get(&r) {
            // A kernel never reads a buffer it writes through a plain load
            // (values it computes are read back from the memo), so loads
            // of inputs can be shared and hoisted.
            assert!(
                self.decls[id.0 as usize].kind == kind,
                "internal error: a kernel both reads and writes a buffer"
            );
            return *id;
        }
        let aval = self.cx.g.aval(v);
        let id = BufId(
            u32::try_from(self.decls.len()).expect("internal error: too many kernel buffers"),
        );
        self.decls.push(BufferDecl {
            dtype: aval.dtype,
            len: aval.size(),
            kind,
        });
        self.args.push(r);
        self.buf_ids.insert(r, id);
        id
    }

    /// The kernel parameter reading materialised value `v`.
    pub fn input_of(&mut self, v: Var) -> BufId {
        self.param(v, BufferKind::Input)
    }

    /// The kernel parameter writing materialised value `v`.
    pub fn output_of(&mut self, v: Var) -> BufId {
        self.param(v, BufferKind::Output)
    }

    /// Loads `buf` (of `dtype` and `shape`) at `coords`.
    pub fn load(&mut self, buf: BufId, dtype: DType, shape: &[usize], coords: &[Coord]) -> ValueId {
        if shape.contains(&0) {
            // Never executed: an empty buffer has no element to read.
            return self.scalar(Scalar::zero(dtype));
        }
        let index = self.linearize(shape, coords);
        self.let_(ScalarType::of(dtype), Expr::Load { buf, index })
    }

    /// Stores `value` into `buf` (of `shape`) at `coords`.
    pub fn store(&mut self, buf: BufId, shape: &[usize], coords: &[Coord], value: ValueId) {
        let index = self.linearize(shape, coords);
        self.push(Stmt::Store { buf, index, value });
    }

    // ---- memo ------------------------------------------------------------------

    /// The value of `v` at `coords`, if computed and visible here.
    pub fn memo_get(&self, v: Var, coords: &[Coord]) -> Option<ValueId> {
        let x = *self.memo.get(&(v, coords.to_vec()))?;
        self.visible(x).then_some(x)
    }

    /// Records the value of `v` at `coords`.
    pub fn memo_put(&mut self, v: Var, coords: &[Coord], x: ValueId) {
        self.memo.insert((v, coords.to_vec()), x);
    }

    // ---- coordinates -------------------------------------------------------------

    /// Computes an index as a value.
    pub fn realise(&mut self, ix: &Index) -> ValueId {
        let mut acc = ix.dynamic;
        for &(l, c) in &ix.terms {
            let lv = self.let_(ScalarType::Index, Expr::LoopVar(l));
            let t = if c == 1 {
                lv
            } else {
                let k = self.index_const(c);
                self.ibin(BinaryOp::Mul, lv, k)
            };
            acc = Some(match acc {
                None => t,
                Some(a) => self.ibin(BinaryOp::Add, a, t),
            });
        }
        match acc {
            None => self.index_const(ix.offset),
            Some(a) if ix.offset == 0 => a,
            Some(a) => {
                let k = self.index_const(ix.offset);
                self.ibin(BinaryOp::Add, a, k)
            }
        }
    }

    /// A coordinate as an affine index (computing a split one).
    pub fn lin(&mut self, c: &Coord) -> Index {
        match c {
            Coord::Lin(ix) => ix.clone(),
            Coord::Split {
                base,
                div,
                size,
                total,
            } => {
                self.split_realised = true;
                let b = self.realise(base);
                let q = if *div == 1 {
                    b
                } else {
                    let d = self.index_const(*div);
                    self.ibin(BinaryOp::Div, b, d)
                };
                let r = if div.saturating_mul(*size) >= *total {
                    q
                } else {
                    let s = self.index_const(*size);
                    self.ibin(BinaryOp::Rem, q, s)
                };
                Index {
                    offset: 0,
                    terms: vec![],
                    dynamic: Some(r),
                }
            }
        }
    }

    /// A coordinate as an `Index` value.
    pub fn coord_value(&mut self, c: &Coord) -> ValueId {
        let ix = self.lin(c);
        self.realise(&ix)
    }

    /// `a + b`.
    pub fn add(&mut self, a: &Index, b: &Index) -> Index {
        let mut terms = a.terms.clone();
        for &(l, c) in &b.terms {
            match terms.iter_mut().find(|(m, _)| *m == l) {
                Some(t) => t.1 += c,
                None => terms.push((l, c)),
            }
        }
        terms.retain(|t| t.1 != 0);
        let dynamic = match (a.dynamic, b.dynamic) {
            (Some(x), Some(y)) => Some(self.ibin(BinaryOp::Add, x, y)),
            (x, y) => x.or(y),
        };
        Index {
            offset: a.offset + b.offset,
            terms,
            dynamic,
        }
    }

    /// `a * s`.
    pub fn scale(&mut self, a: &Index, s: i64) -> Index {
        if s == 0 {
            return Index::constant(0);
        }
        let dynamic = match a.dynamic {
            Some(d) if s != 1 => {
                let k = self.index_const(s);
                Some(self.ibin(BinaryOp::Mul, d, k))
            }
            d => d,
        };
        Index {
            offset: a.offset * s,
            terms: a.terms.iter().map(|&(l, c)| (l, c * s)).collect(),
            dynamic,
        }
    }

    /// The row-major flat position of `coords` in `shape`. Coordinates of
    /// unit dimensions are 0 and skipped; the split coordinates of one
    /// collapsed loop merge back into it when the strides match.
    pub fn linearize(&mut self, shape: &[usize], coords: &[Coord]) -> Index {
        let strides: Vec<i64> = row_major_strides(shape).iter().map(|&s| s as i64).collect();
        let mut done = vec![false; shape.len()];
        let mut result = Index::constant(0);
        let mut bases: Vec<&Index> = Vec::new();
        for c in coords {
            if let Coord::Split { base, .. } = c {
                if !bases.contains(&base) {
                    bases.push(base);
                }
            }
        }
        for base in bases {
            let mut parts: Vec<(usize, i64, i64, i64)> = Vec::new();
            for (d, c) in coords.iter().enumerate() {
                match c {
                    Coord::Split {
                        base: b,
                        div,
                        size,
                        total,
                    } if b == base && shape[d] != 1 => parts.push((d, *div, *size, *total)),
                    Coord::Split { .. } | Coord::Lin(_) => {}
                }
            }
            parts.sort_by_key(|p| std::cmp::Reverse(p.1));
            if let (Some(first), Some(last)) = (parts.first(), parts.last()) {
                let complete = first.1.saturating_mul(first.2) == first.3
                    && last.1 == 1
                    && parts.windows(2).all(|w| w[0].1 == w[1].1 * w[1].2)
                    && parts
                        .iter()
                        .all(|p| p.2 == shape[p.0] as i64 && strides[p.0] == p.1 * strides[last.0]);
                if complete {
                    let scaled = self.scale(base, strides[last.0]);
                    result = self.add(&result, &scaled);
                    parts.iter().for_each(|p| done[p.0] = true);
                }
            }
        }
        for (d, c) in coords.iter().enumerate() {
            if done[d] || shape[d] == 1 {
                continue;
            }
            let ix = self.lin(c);
            let scaled = self.scale(&ix, strides[d]);
            result = self.add(&result, &scaled);
        }
        result
    }

    /// The row-major flat position of `coords` in `shape` as a coordinate:
    /// when the non-unit coordinates are consecutive splits of one base
    /// (`(b / (q s')) % s, (b / q) % s'`), the split `(b / q) % (s s')`;
    /// otherwise [`Emitter::linearize`].
    pub fn linearize_coord(&mut self, shape: &[usize], coords: &[Coord]) -> Coord {
        let mut chain: Option<(Index, i64, i64, i64)> = None;
        let mut ok = true;
        for (d, c) in coords.iter().enumerate() {
            if shape[d] == 1 {
                continue;
            }
            let (base, div, size, total) = match c {
                Coord::Split {
                    base,
                    div,
                    size,
                    total,
                } if *size == shape[d] as i64 => (base, *div, *size, *total),
                Coord::Split { .. } | Coord::Lin(_) => {
                    ok = false;
                    break;
                }
            };
            chain = match chain {
                None => Some((base.clone(), div, size, total)),
                Some((b, q, s, t)) if b == *base && t == total && q == div * size => {
                    Some((b, div, s * size, t))
                }
                Some(_) => {
                    ok = false;
                    break;
                }
            };
        }
        match chain {
            Some((base, div, size, total)) if ok => {
                if div == 1 && size == total {
                    Coord::Lin(base)
                } else {
                    Coord::Split {
                        base,
                        div,
                        size,
                        total,
                    }
                }
            }
            Some(_) | None => Coord::Lin(self.linearize(shape, coords)),
        }
    }

    /// Opens one loop per non-unit dimension of `shape` (the outermost
    /// `parallel` if asked), returning the coordinates and the number of
    /// loops opened.
    pub fn nest(&mut self, shape: &[usize], parallel: bool) -> (Vec<Coord>, usize) {
        let mut coords = Vec::with_capacity(shape.len());
        let mut opened = 0;
        for &n in shape {
            if n == 1 {
                coords.push(Coord::constant(0));
            } else {
                let l = self.begin_loop(n, parallel && opened == 0);
                opened += 1;
                coords.push(Coord::of_loop(l));
            }
        }
        (coords, opened)
    }

    /// Closes `n` loops.
    pub fn end_nest(&mut self, n: usize) {
        for _ in 0..n {
            self.end_loop();
        }
    }
}
