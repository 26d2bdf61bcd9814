//! Block reductions: recognising a top-level reduction loop and emitting it
//! as a strided loop per thread, warp shuffles (`shfl.sync.bfly`) and
//! shared memory per block, in one block or in two passes through scratch
//! memory (see the `ptx` module docs).

use std::collections::HashMap;

use rjax_ir::{Result, Scalar};

use super::emit::{Class, Func, Reg};
use super::phase::{expr_operands, Built};
use super::scalar::float_imm;
use super::{Grid, Launch, BLOCK_THREADS, REDUCTION_BLOCKS, SINGLE_BLOCK_REDUCTION};
use crate::kernel::{
    AccId, BinaryOp, BufId, BufferKind, Const, Expr, Index, Kernel, LoopId, ScalarType, Stmt,
    ValueId,
};

/// Warps per block.
const WARPS: u32 = BLOCK_THREADS / 32;

/// One reduced accumulator.
#[derive(Clone, Copy, Debug)]
pub(super) struct RedAcc {
    acc: AccId,
    pub(super) ty: ScalarType,
    init: Const,
    op: BinaryOp,
}

/// A top-level reduction: accumulator initialisations, then a loop whose
/// only effect is `acc = acc ⊕ x` on them.
pub(super) struct Reduction<'k> {
    inits: Vec<&'k Stmt>,
    lp: &'k Stmt,
    pub(super) accs: Vec<RedAcc>,
    pub(super) id: LoopId,
    pub(super) extent: usize,
    pub(super) body: &'k [Stmt],
}

impl<'k> Reduction<'k> {
    /// Its statements (the initialisations and the loop).
    pub(super) fn stmts(&self) -> Vec<&'k Stmt> {
        let mut v = self.inits.clone();
        v.push(self.lp);
        v
    }
}

/// Whether `op` is an associative, commutative combination on `ty` that a
/// block reduction may reassociate.
fn reassociable(op: BinaryOp, ty: ScalarType) -> bool {
    use BinaryOp as B;
    match op {
        B::Add | B::Mul | B::Max | B::Min => ty != ScalarType::Bool,
        B::And | B::Or | B::Xor => !ty.is_float(),
        B::Sub
        | B::Div
        | B::Rem
        | B::Pow
        | B::Shl
        | B::ShrLogical
        | B::ShrArith
        | B::Eq
        | B::Ne
        | B::Lt
        | B::Le
        | B::Gt
        | B::Ge => false,
    }
}

/// Walks a loop body: definitions, use counts, stores, accumulator
/// statements.
#[derive(Default)]
struct BodyFacts<'k> {
    defs: HashMap<ValueId, &'k Expr>,
    uses: HashMap<ValueId, usize>,
    sets: Vec<(AccId, ValueId)>,
    inits: Vec<AccId>,
    /// Stores: buffer, index, and whether inside a nested loop.
    stores: Vec<(BufId, &'k Index, bool)>,
    /// Buffers loaded.
    loads: Vec<BufId>,
}

impl<'k> BodyFacts<'k> {
    fn walk(&mut self, body: &'k [Stmt], nested: bool) {
        for s in body {
            match s {
                Stmt::Loop { body, .. } => self.walk(body, true),
                Stmt::Let { value, expr, .. } => {
                    if let Expr::Load { buf, .. } = expr {
                        self.loads.push(*buf);
                    }
                    self.defs.insert(*value, expr);
                    let mut ops = Vec::new();
                    expr_operands(expr, &mut ops);
                    for v in ops {
                        *self.uses.entry(v).or_default() += 1;
                    }
                }
                Stmt::Store { buf, index, value } => {
                    *self.uses.entry(*value).or_default() += 1;
                    self.stores.push((*buf, index, nested));
                }
                Stmt::AccInit { acc, .. } => self.inits.push(*acc),
                Stmt::AccSet { acc, value } => {
                    *self.uses.entry(*value).or_default() += 1;
                    self.sets.push((*acc, *value));
                }
            }
        }
    }

    /// The combination `acc = read(acc) op x` that `value` computes, if it
    /// is one whose intermediate values nothing else uses.
    fn combine_of(&self, acc: AccId, value: ValueId) -> Option<BinaryOp> {
        let Some(Expr::Binary(op, a, b)) = self.defs.get(&value) else {
            return None;
        };
        let reads = |v: &ValueId| {
            matches!(self.defs.get(v), Some(Expr::AccRead(r)) if *r == acc)
                && self.uses.get(v) == Some(&1)
        };
        let once = self.uses.get(&value) == Some(&1);
        (once && (reads(a) || reads(b))).then_some(*op)
    }
}

/// Whether the loop's stores let its iterations run in any order and in
/// any thread: each at the body's top level, each buffer at one index with
/// no dynamic part and a nonzero coefficient on the loop (iterations write
/// distinct elements), and no loads of output buffers.
fn stores_independent(kernel: &Kernel, id: LoopId, facts: &BodyFacts<'_>) -> bool {
    let output = |b: &BufId| {
        kernel
            .buffers
            .get(b.0 as usize)
            .is_none_or(|d| d.kind == BufferKind::Output)
    };
    let first = |b: BufId| {
        facts
            .stores
            .iter()
            .find(|(s, _, _)| *s == b)
            .map(|(_, i, _)| *i)
    };
    facts.stores.iter().all(|(b, index, nested)| {
        !nested
            && index.dynamic.is_none()
            && index.coefficient(id) != 0
            && first(*b) == Some(*index)
    }) && !facts.loads.iter().any(output)
}

/// Recognises a reduction at the start of `stmts`: returns it and how many
/// statements it spans. The loop may also store elementwise results
/// ([`stores_independent`]): the elementwise work that feeds a reduction
/// shares its pass.
pub(super) fn recognise<'k>(kernel: &Kernel, stmts: &'k [Stmt]) -> Option<(Reduction<'k>, usize)> {
    let n = stmts
        .iter()
        .take_while(|s| matches!(s, Stmt::AccInit { .. }))
        .count();
    let lp = stmts.get(n)?;
    let Stmt::Loop {
        id,
        extent,
        parallel: false,
        body,
    } = lp
    else {
        return None;
    };
    if *extent == 0 {
        return None;
    }
    let mut facts = BodyFacts::default();
    facts.walk(body, false);
    if !stores_independent(kernel, *id, &facts) {
        return None;
    }
    let mut accs = Vec::with_capacity(n);
    for s in &stmts[..n] {
        let Stmt::AccInit { acc, ty, init } = s else {
            return None;
        };
        let mut op = None;
        for (a, v) in &facts.sets {
            if a == acc {
                let o = facts.combine_of(*acc, *v)?;
                if op.is_some_and(|p| p != o) || !reassociable(o, *ty) {
                    return None;
                }
                op = Some(o);
            }
        }
        if facts.inits.contains(acc) {
            return None;
        }
        accs.push(RedAcc {
            acc: *acc,
            ty: *ty,
            init: *init,
            op: op?,
        });
    }
    // every other read of a reduced accumulator is ruled out by the use
    // counts; every other accumulator must be local to the body
    let all_local = facts
        .sets
        .iter()
        .all(|(a, _)| accs.iter().any(|r| r.acc == *a) || facts.inits.contains(a))
        && facts.defs.values().all(|e| match e {
            Expr::AccRead(a) => accs.iter().any(|r| r.acc == *a) || facts.inits.contains(a),
            _ => true,
        });
    all_local.then(|| {
        (
            Reduction {
                inits: stmts[..n].iter().collect(),
                lp,
                accs,
                id: *id,
                extent: *extent,
                body,
            },
            n + 1,
        )
    })
}

/// The type a reduced value travels as between threads (bools as 0/1
/// words).
fn wire(ty: ScalarType) -> ScalarType {
    if ty == ScalarType::Bool {
        ScalarType::U32
    } else {
        ty
    }
}

/// The identity of `op` on `ty`, as an immediate of `wire(ty)`.
fn identity(op: BinaryOp, ty: ScalarType) -> String {
    use BinaryOp as B;
    use ScalarType as S;
    let float = |x: f64| float_imm(ty, x);
    match (op, ty) {
        (B::Add, S::F32 | S::F64) => float(-0.0),
        (B::Mul, S::F32 | S::F64) => float(1.0),
        (B::Max, S::F32 | S::F64) => float(f64::NEG_INFINITY),
        (B::Min, S::F32 | S::F64) => float(f64::INFINITY),
        (B::Mul, _) | (B::And, S::Bool) => "1".into(),
        (B::Max, S::I32) => format!("{}", i32::MIN),
        (B::Min, S::I32) => format!("{}", i32::MAX),
        (B::Max, S::Index) => format!("{}", i64::MIN),
        (B::Min, S::Index) => format!("{}", i64::MAX),
        (B::Min, S::U32) => "0xFFFFFFFF".into(),
        (B::And, _) => "-1".into(),
        _ => "0".into(),
    }
}

/// The `ld`/`st` type of a wire value.
fn wire_mem(ty: ScalarType) -> &'static str {
    match wire(ty) {
        ScalarType::F32 => "f32",
        ScalarType::F64 => "f64",
        ScalarType::I32 | ScalarType::U32 | ScalarType::Bool => "b32",
        ScalarType::Index => "b64",
    }
}

impl<'k> Reduction<'k> {
    /// Emits the reduction: one entry up to [`SINGLE_BLOCK_REDUCTION`]
    /// iterations, two beyond.
    pub(super) fn emit(
        &self,
        kernel: &'k Kernel,
        prefix: &[&'k Stmt],
        epilogue: &[&'k Stmt],
    ) -> Result<Built<'k>> {
        let single = self.extent <= SINGLE_BLOCK_REDUCTION;
        let mut first = Func::new(kernel, !single);
        first.block_refs(prefix)?;
        let tid = first.special("%tid.x");
        let ntid = first.special("%ntid.x");
        let (start, step) = if single {
            (tid.clone(), ntid)
        } else {
            let ctaid = first.special("%ctaid.x");
            let nctaid = first.special("%nctaid.x");
            let (s, st) = (first.reg(Class::B32), first.reg(Class::B32));
            first.ins(format!("mad.lo.u32 {s}, {ctaid}, {ntid}, {tid}"));
            first.ins(format!("mul.lo.u32 {st}, {nctaid}, {ntid}"));
            (s, st)
        };
        let locals = first.init_locals(&self.accs)?;
        first.strided_loop(self.id, self.extent, &start, &step, self.body)?;
        let totals = first.block_combine(&tid, &self.accs, &locals)?;
        let block = BLOCK_THREADS;
        if single {
            first.finish_reduction(&tid, &self.accs, &totals, epilogue)?;
            return Ok(Built {
                funcs: vec![(first, launch(Grid::Fixed(1)))],
                scratch_bytes: 0,
            });
        }
        // pass one: thread 0 of each block writes its partials
        let ctaid = first.special("%ctaid.x");
        let end = first.label();
        let p = first.reg(Class::Pred);
        first.ins(format!("setp.ne.u32 {p}, {tid}, 0"));
        first.ins(format!("@{p} bra {end}"));
        let scratch = first.scratch();
        for (k, (a, t)) in self.accs.iter().zip(&totals).enumerate() {
            let addr = first.slot_address(&scratch, k, &ctaid);
            first.ins(format!("st.global.{} [{addr}], {t}", wire_mem(a.ty)));
        }
        first.place(&end);
        // pass two: one block combines the partials and runs the epilogue
        let mut second = Func::new(kernel, true);
        second.block_refs(prefix)?;
        let tid2 = second.special("%tid.x");
        let scratch = second.scratch();
        let mut parts = Vec::with_capacity(self.accs.len());
        for (k, a) in self.accs.iter().enumerate() {
            let addr = second.slot_address(&scratch, k, &tid2);
            let r = second.reg(Class::of(wire(a.ty)));
            second.ins(format!("ld.global.{} {r}, [{addr}]", wire_mem(a.ty)));
            parts.push(r);
        }
        let totals = second.combine_wire(&tid2, &self.accs, &parts)?;
        second.finish_reduction(&tid2, &self.accs, &totals, epilogue)?;
        let _ = block;
        Ok(Built {
            funcs: vec![
                (first, launch(Grid::Fixed(REDUCTION_BLOCKS))),
                (second, launch(Grid::Fixed(1))),
            ],
            scratch_bytes: self.accs.len() * REDUCTION_BLOCKS as usize * 8,
        })
    }
}

/// A launch of `BLOCK_THREADS`-thread blocks.
fn launch(grid: Grid) -> Launch {
    Launch {
        block: BLOCK_THREADS,
        grid,
    }
}

impl Func<'_> {
    /// `for id in (start..extent).step_by(step)` with `body`, in 32-bit
    /// arithmetic when `extent` is below 2^31.
    pub(super) fn strided_loop(
        &mut self,
        id: LoopId,
        extent: usize,
        start: &str,
        step: &str,
        body: &[Stmt],
    ) -> Result<()> {
        let narrow = extent < (1 << 31);
        let (class, t) = if narrow {
            (Class::B32, "u32")
        } else {
            (Class::B64, "u64")
        };
        let (i, st) = (self.reg(class), self.reg(class));
        if narrow {
            self.ins(format!("mov.u32 {i}, {start}"));
            self.ins(format!("mov.u32 {st}, {step}"));
        } else {
            self.ins(format!("cvt.u64.u32 {i}, {start}"));
            self.ins(format!("cvt.u64.u32 {st}, {step}"));
        }
        let (top, end) = (self.label(), self.label());
        let p = self.reg(Class::Pred);
        self.ins(format!("setp.ge.{t} {p}, {i}, {extent}"));
        self.ins(format!("@{p} bra {end}"));
        self.place(&top);
        let (w64, w32) = (self.reg(Class::B64), self.reg(Class::B32));
        if narrow {
            self.ins(format!("cvt.u64.u32 {w64}, {i}"));
            self.ins(format!("mov.b32 {w32}, {i}"));
        } else {
            self.ins(format!("mov.b64 {w64}, {i}"));
            self.ins(format!("cvt.u32.u64 {w32}, {i}"));
        }
        self.loops.insert(id, (w64, w32));
        self.block(body)?;
        self.loops.remove(&id);
        self.ins(format!("add.{t} {i}, {i}, {st}"));
        self.ins(format!("setp.lt.{t} {p}, {i}, {extent}"));
        self.ins(format!("@{p} bra {top}"));
        self.place(&end);
        Ok(())
    }

    /// The address of scratch slot `k · REDUCTION_BLOCKS + at` (8 bytes
    /// each).
    fn slot_address(&mut self, scratch: &str, k: usize, at: &str) -> Reg {
        let idx = self.reg(Class::B32);
        let base = k as u32 * REDUCTION_BLOCKS;
        self.ins(format!("add.u32 {idx}, {at}, {base}"));
        let off = self.reg(Class::B64);
        self.ins(format!("mul.wide.u32 {off}, {idx}, 8"));
        let a = self.reg(Class::B64);
        self.ins(format!("add.s64 {a}, {scratch}, {off}"));
        a
    }

    /// Combines each thread's `locals` across the block; thread 0 gets the
    /// totals (as wire values).
    fn block_combine(&mut self, tid: &str, accs: &[RedAcc], locals: &[Reg]) -> Result<Vec<Reg>> {
        let wires: Vec<Reg> = accs
            .iter()
            .zip(locals)
            .map(|(a, v)| self.wire_value(a, v))
            .collect();
        self.combine_wire(tid, accs, &wires)
    }

    /// Combines wire values across the block: a butterfly within each warp,
    /// one value per warp through shared memory, a butterfly in every warp
    /// over those; thread 0 holds the totals.
    fn combine_wire(&mut self, tid: &str, accs: &[RedAcc], vals: &[Reg]) -> Result<Vec<Reg>> {
        let bytes = (accs.len() as u32 * WARPS * 8).max(8);
        self.shared_array("rjax_red", bytes);
        let sbase = self.reg(Class::B64);
        self.ins(format!("mov.u64 {sbase}, rjax_red"));
        let (lane, warp) = (self.reg(Class::B32), self.reg(Class::B32));
        self.ins(format!("and.b32 {lane}, {tid}, 31"));
        self.ins(format!("shr.u32 {warp}, {tid}, 5"));
        let (first, fits) = (self.reg(Class::Pred), self.reg(Class::Pred));
        self.ins(format!("setp.eq.u32 {first}, {lane}, 0"));
        self.ins(format!("setp.lt.u32 {fits}, {lane}, {WARPS}"));
        for (k, (a, v)) in accs.iter().zip(vals).enumerate() {
            let w = self.warp_reduce(a, v)?;
            let addr = self.shared_slot(&sbase, k, &warp);
            self.ins(format!(
                "@{first} st.shared.{} [{addr}], {w}",
                wire_mem(a.ty)
            ));
        }
        self.ins("bar.sync 0".to_string());
        let mut totals = Vec::with_capacity(accs.len());
        for (k, a) in accs.iter().enumerate() {
            let x = self.reg(Class::of(wire(a.ty)));
            self.mov(wire(a.ty), &x, &identity(a.op, a.ty));
            let addr = self.shared_slot(&sbase, k, &lane);
            self.ins(format!(
                "@{fits} ld.shared.{} {x}, [{addr}]",
                wire_mem(a.ty)
            ));
            totals.push(self.warp_reduce(a, &x)?);
        }
        Ok(totals)
    }

    /// The shared address of slot `k · WARPS + at`.
    fn shared_slot(&mut self, sbase: &str, k: usize, at: &str) -> Reg {
        let idx = self.reg(Class::B32);
        self.ins(format!("add.u32 {idx}, {at}, {}", k as u32 * WARPS));
        let off = self.reg(Class::B64);
        self.ins(format!("mul.wide.u32 {off}, {idx}, 8"));
        let a = self.reg(Class::B64);
        self.ins(format!("add.s64 {a}, {sbase}, {off}"));
        a
    }

    /// The combination of `v` over the 32 lanes of the warp (every lane
    /// gets it).
    pub(super) fn warp_reduce(&mut self, a: &RedAcc, v: &str) -> Result<Reg> {
        let ty = wire(a.ty);
        let mut acc = v.to_string();
        for off in [16, 8, 4, 2, 1] {
            let other = self.shuffle(ty, &acc, off);
            acc = self.binary(a.op, ty, &acc, &other)?;
        }
        Ok(acc)
    }

    /// `shfl.sync.bfly` of a 32- or 64-bit value.
    fn shuffle(&mut self, ty: ScalarType, v: &str, off: u32) -> Reg {
        let r = self.reg(Class::of(ty));
        if matches!(ty, ScalarType::F64 | ScalarType::Index) {
            let [lo, hi, slo, shi] = [(); 4].map(|_| self.reg(Class::B32));
            self.ins(format!("mov.b64 {{{lo}, {hi}}}, {v}"));
            for (d, s) in [(&slo, &lo), (&shi, &hi)] {
                self.ins(format!(
                    "shfl.sync.bfly.b32 {d}, {s}, {off}, 0x1f, 0xffffffff"
                ));
            }
            self.ins(format!("mov.b64 {r}, {{{slo}, {shi}}}"));
        } else {
            self.ins(format!(
                "shfl.sync.bfly.b32 {r}, {v}, {off}, 0x1f, 0xffffffff"
            ));
        }
        r
    }

    /// Thread 0 folds each total into its accumulator's starting value and
    /// runs the epilogue; the other threads are done.
    fn finish_reduction(
        &mut self,
        tid: &str,
        accs: &[RedAcc],
        totals: &[Reg],
        epilogue: &[&Stmt],
    ) -> Result<()> {
        let end = self.label();
        let p = self.reg(Class::Pred);
        self.ins(format!("setp.ne.u32 {p}, {tid}, 0"));
        self.ins(format!("@{p} bra {end}"));
        self.fold_totals(accs, totals)?;
        self.block_refs(epilogue)?;
        self.place(&end);
        Ok(())
    }

    /// Folds each (wire) total into its accumulator's starting value and
    /// makes that the accumulator's register.
    pub(super) fn fold_totals(&mut self, accs: &[RedAcc], totals: &[Reg]) -> Result<()> {
        for (a, t) in accs.iter().zip(totals) {
            let total = if a.ty == ScalarType::Bool {
                let q = self.reg(Class::Pred);
                self.ins(format!("setp.ne.u32 {q}, {t}, 0"));
                q
            } else {
                t.clone()
            };
            let init = self.constant(a.init)?;
            let init = if a.ty == ScalarType::Bool {
                init
            } else {
                self.imm(a.ty, &init)
            };
            let v = self.binary(a.op, a.ty, &init, &total)?;
            let r = self.reg(Class::of(a.ty));
            self.mov(a.ty, &r, &v);
            self.accs.insert(a.acc, (r, a.ty));
        }
        Ok(())
    }

    /// Per-thread accumulators starting at each operation's identity (made
    /// the accumulators' registers).
    pub(super) fn init_locals(&mut self, accs: &[RedAcc]) -> Result<Vec<Reg>> {
        let mut locals = Vec::with_capacity(accs.len());
        for a in accs {
            let r = self.reg(Class::of(a.ty));
            if a.ty == ScalarType::Bool {
                let c = self.constant(Const::Scalar(Scalar::Bool(a.op == BinaryOp::And)))?;
                self.mov(a.ty, &r, &c);
            } else {
                self.mov(a.ty, &r, &identity(a.op, a.ty));
            }
            self.accs.insert(a.acc, (r.clone(), a.ty));
            locals.push(r);
        }
        Ok(locals)
    }

    /// A value as it travels between lanes (bools as 0/1 words).
    pub(super) fn wire_value(&mut self, a: &RedAcc, v: &str) -> Reg {
        if a.ty == ScalarType::Bool {
            let r = self.reg(Class::B32);
            self.ins(format!("selp.u32 {r}, 1, 0, {v}"));
            r
        } else {
            v.to_string()
        }
    }
}
