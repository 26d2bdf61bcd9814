//! Vectorisation of innermost loops with 128-bit vectors (f32x4, i32x4,
//! f64x2: the widest Cranelift's x86-64 backend lowers, TECH-NOTES §1a).
//!
//! # When a loop is vectorised
//!
//! [`VectorPlan::analyze`] accepts an innermost loop `L` when:
//!
//! - its body holds only `Let`, `Store` and `AccSet` statements;
//! - every `Store` has coefficient 1 on `L`, a dynamic term (if any) that
//!   does not vary with `L`, and a non-bool buffer;
//! - every `Load` has coefficient 0 or 1 on `L` and a dynamic term that does
//!   not vary with `L`; a buffer stored in the loop is only loaded with the
//!   very index it is stored with (so iterations stay independent), and
//!   bool buffers are not loaded with coefficient 1;
//! - `LoopVar(L)` is not used as a value;
//! - every accumulator set in the loop is a *reduction*: one
//!   `r = AccRead(a)`, one `s = op(r, x)` (or `op(x, r)`) with `op` one of
//!   `Add`, `Mul`, `Max`, `Min`, or `s = Fma(x, y, r)`, one `AccSet(a, s)`,
//!   and neither `r` nor `s` used for anything else;
//! - every value that varies with `L` has one lane width: 32-bit
//!   (`F32`, `I32`, `U32`, four lanes) or 64-bit (`F64`, two lanes); bools
//!   that vary are lane masks of that width; `Index` values may not vary;
//! - every varying operation is in the supported table (`supported`):
//!   integer division, remainder, shifts and float remainder stay scalar.
//!
//! Otherwise the loop stays scalar. Values that do not vary are computed
//! once, as scalars, before the loop and splatted where vectors need them.
//!
//! # Shape of the emitted code
//!
//! An unrolled loop (`U` vectors per iteration: 4 for small bodies, 2 for
//! medium, 1 for large; see [`unroll_for`]) with one accumulator vector per
//! unrolled copy and reduction (independent chains for instruction-level
//! parallelism), then a one-vector loop for the remaining whole vectors,
//! then the accumulators are combined (pairwise across copies, then across
//! lanes, then into the scalar accumulator), then the scalar loop runs the
//! last `n mod lanes` iterations.
//!
//! **Reassociation:** a vectorised float `Add`/`Mul`/`Fma` reduction sums in
//! a different order from the sequential loop, so its result may differ in
//! the last bits (as with any parallel reduction, JAX/XLA included). `Max`,
//! `Min` and integer reductions are exact. Everything else computes exactly
//! what the scalar loop computes, lane by lane.

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::Variable;
use rjax_ir::{DType, Result};

use super::env::{clif_type, error};
use super::translate::{mem_flags, Bound, KernelTranslator};
use crate::kernel::{AccId, BinaryOp, BufId, Expr, Index, LoopId, ScalarType, Stmt, UnaryOp, ValueId};

/// A reduction operator of a vectorised accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RedOp {
    Add,
    Mul,
    Max,
    Min,
}

#[derive(Clone, Debug)]
struct Reduction {
    acc: AccId,
    ty: ScalarType,
    op: RedOp,
}

/// How an innermost loop is vectorised.
#[derive(Clone, Debug)]
pub(crate) struct VectorPlan {
    lanes: i64,
    bits: u32,
    unroll: usize,
    varying: HashSet<ValueId>,
    reductions: Vec<Reduction>,
    /// Invariant values used by varying operations or stores.
    splats: Vec<ValueId>,
}

/// Vectors per iteration of the main loop, by the number of varying
/// values in the body: enough independent work to hide latencies without
/// running out of the 16 xmm registers.
pub(crate) fn unroll_for(varying_lets: usize) -> usize {
    match varying_lets {
        0..=8 => 4,
        9..=20 => 2,
        _ => 1,
    }
}

fn lane_bits(ty: ScalarType) -> Option<u32> {
    match ty {
        ScalarType::F32 | ScalarType::I32 | ScalarType::U32 => Some(32),
        ScalarType::F64 => Some(64),
        ScalarType::Bool | ScalarType::Index => None,
    }
}

fn dtype_bits(dtype: DType) -> Option<u32> {
    lane_bits(ScalarType::of(dtype))
}

/// Whether a varying operation producing `ty` from operands of type `arg`
/// has a vector lowering below.
fn supported(expr: &Expr, ty: ScalarType, arg: ScalarType) -> bool {
    use ScalarType as S;
    let float = arg.is_float();
    let int32 = matches!(arg, S::I32 | S::U32);
    match expr {
        Expr::Const(_) | Expr::LoopVar(_) | Expr::AccRead(_) => true,
        Expr::Load { .. } => ty != S::Bool && ty != S::Index,
        Expr::Unary(op, _) => match op {
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => float || int32,
            UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Trunc | UnaryOp::Round => float,
            UnaryOp::IsFinite => float,
            UnaryOp::Not => int32 || arg == S::Bool,
            UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Log1p
            | UnaryOp::Expm1
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tanh
            | UnaryOp::Logistic
            | UnaryOp::Erf => false,
        },
        Expr::Binary(op, _, _) => match op {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min => float || int32,
            BinaryOp::Div => float,
            BinaryOp::Rem | BinaryOp::Pow | BinaryOp::Shl | BinaryOp::ShrLogical | BinaryOp::ShrArith => false,
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => int32 || arg == S::Bool,
            BinaryOp::Eq | BinaryOp::Ne => float || int32 || arg == S::Bool,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => float || int32,
        },
        Expr::Fma(..) => float || int32,
        Expr::Select(..) => true,
        Expr::Convert(to, _) => match (arg, *to) {
            (a, t) if a == t => true,
            (S::F32, S::I32 | S::U32) | (S::I32 | S::U32, S::F32) | (S::I32, S::U32) | (S::U32, S::I32) => true,
            (S::F32 | S::F64 | S::I32 | S::U32, S::Bool) | (S::Bool, S::F32 | S::F64 | S::I32 | S::U32) => true,
            (S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index, S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index) => {
                false
            }
        },
        Expr::Bitcast(to, _) => matches!((arg, *to), (S::F32, S::I32 | S::U32) | (S::I32 | S::U32, S::F32)),
    }
}

fn operands(expr: &Expr) -> Vec<ValueId> {
    match expr {
        Expr::Const(_) | Expr::LoopVar(_) | Expr::AccRead(_) => vec![],
        Expr::Load { index, .. } => index.dynamic.into_iter().collect(),
        Expr::Unary(_, a) | Expr::Convert(_, a) | Expr::Bitcast(_, a) => vec![*a],
        Expr::Binary(_, a, b) => vec![*a, *b],
        Expr::Fma(a, b, c) | Expr::Select(a, b, c) => vec![*a, *b, *c],
    }
}

impl VectorPlan {
    /// The plan for innermost loop `id` with `body`, or `None` when it
    /// must stay scalar (rules in the module docs).
    pub(crate) fn analyze(t: &KernelTranslator<'_, '_>, id: LoopId, body: &[Stmt]) -> Option<VectorPlan> {
        let mut stored: HashMap<BufId, &Index> = HashMap::new();
        let mut sets: HashMap<AccId, ValueId> = HashMap::new();
        let mut uses: HashMap<ValueId, usize> = HashMap::new();
        let mut defs: HashMap<ValueId, (&Expr, ScalarType)> = HashMap::new();
        for s in body {
            match s {
                Stmt::Loop { .. } | Stmt::AccInit { .. } => return None,
                Stmt::Store { buf, index, value } => {
                    let dtype = t.kernel.buffers.get(buf.0 as usize)?.dtype;
                    if index.coefficient(id) != 1 || dtype == DType::Bool {
                        return None;
                    }
                    if stored.insert(*buf, index).is_some_and(|prev| prev != index) {
                        return None;
                    }
                    *uses.entry(*value).or_default() += 1;
                    if let Some(d) = index.dynamic {
                        *uses.entry(d).or_default() += 1;
                    }
                }
                Stmt::AccSet { acc, value } => {
                    if sets.insert(*acc, *value).is_some() {
                        return None;
                    }
                    *uses.entry(*value).or_default() += 1;
                }
                Stmt::Let { value, ty, expr } => {
                    defs.insert(*value, (expr, *ty));
                    for o in operands(expr) {
                        *uses.entry(o).or_default() += 1;
                    }
                }
            }
        }
        let mut varying = HashSet::new();
        let mut reductions: Vec<Reduction> = Vec::new();
        let mut bits: Option<u32> = None;
        let mut splats = Vec::new();
        let mut need_bits = |b: Option<u32>| match (bits, b) {
            (_, None) => true,
            (None, Some(x)) => {
                bits = Some(x);
                true
            }
            (Some(a), Some(x)) => a == x,
        };
        for s in body {
            let Stmt::Let { value, ty, expr } = s else { continue };
            let vary = |v: &ValueId| varying.contains(v);
            let is_varying = match expr {
                Expr::Const(_) => false,
                Expr::LoopVar(l) => {
                    if *l == id {
                        return None;
                    }
                    false
                }
                Expr::Load { buf, index } => {
                    if index.dynamic.is_some_and(|d| vary(&d)) {
                        return None;
                    }
                    if stored.get(buf).is_some_and(|s| *s != index) {
                        return None;
                    }
                    match index.coefficient(id) {
                        0 => false,
                        1 => true,
                        _ => return None,
                    }
                }
                Expr::AccRead(acc) => match sets.get(acc) {
                    None => false,
                    Some(set) => {
                        let red = reduction(*acc, *value, *set, &defs, &uses, t.acc_tys.get(acc).copied()?)?;
                        if reductions.iter().any(|r| r.acc == *acc) {
                            return None;
                        }
                        reductions.push(red);
                        true
                    }
                },
                other => operands(other).iter().any(vary),
            };
            if !is_varying {
                continue;
            }
            if *ty == ScalarType::Index || !need_bits(lane_bits(*ty)) {
                return None;
            }
            let ops = operands(expr);
            let arg = match expr {
                Expr::Select(_, a, _) => t.tys.get(a).copied()?,
                _ => ops.first().and_then(|o| t.tys.get(o).copied()).unwrap_or(*ty),
            };
            if !supported(expr, *ty, arg) || (!matches!(expr, Expr::Load { .. }) && !need_bits(lane_bits(arg))) {
                return None;
            }
            if !matches!(expr, Expr::Load { .. }) {
                for o in ops {
                    if !varying.contains(&o) && !splats.contains(&o) {
                        if t.tys.get(&o).copied()? == ScalarType::Index {
                            return None;
                        }
                        splats.push(o);
                    }
                }
            }
            varying.insert(*value);
        }
        // Every accumulator set here must be a recognised reduction.
        if sets.keys().any(|a| !reductions.iter().any(|r| r.acc == *a)) {
            return None;
        }
        for s in body {
            if let Stmt::Store { buf, index, value } = s {
                if index.dynamic.is_some_and(|d| varying.contains(&d)) {
                    return None;
                }
                let dtype = t.kernel.buffers.get(buf.0 as usize)?.dtype;
                if !need_bits(dtype_bits(dtype)) {
                    return None;
                }
                if !varying.contains(value) && !splats.contains(value) {
                    splats.push(*value);
                }
            }
        }
        for r in &reductions {
            if !need_bits(lane_bits(r.ty)) {
                return None;
            }
        }
        let bits = bits?;
        let lanes = if bits == 32 { 4 } else { 2 };
        let n_varying = body.iter().filter(|s| matches!(s, Stmt::Let { value, .. } if varying.contains(value))).count();
        Some(VectorPlan {
            lanes,
            bits,
            unroll: unroll_for(n_varying),
            varying,
            reductions,
            splats,
        })
    }

    fn vtype(&self, ty: ScalarType) -> Type {
        match ty {
            ScalarType::F32 => types::F32X4,
            ScalarType::F64 => types::F64X2,
            ScalarType::I32 | ScalarType::U32 => types::I32X4,
            ScalarType::Bool | ScalarType::Index => self.mask_type(),
        }
    }

    fn mask_type(&self) -> Type {
        if self.bits == 32 {
            types::I32X4
        } else {
            types::I64X2
        }
    }
}

/// Checks the reduction pattern for accumulator `acc` read into `read`
/// and set from `set`.
fn reduction(
    acc: AccId,
    read: ValueId,
    set: ValueId,
    defs: &HashMap<ValueId, (&Expr, ScalarType)>,
    uses: &HashMap<ValueId, usize>,
    ty: ScalarType,
) -> Option<Reduction> {
    if uses.get(&read) != Some(&1) || uses.get(&set) != Some(&1) || lane_bits(ty).is_none() {
        return None;
    }
    let (expr, _) = defs.get(&set)?;
    let op = match expr {
        Expr::Binary(op, a, b) if (*a == read) != (*b == read) => match op {
            BinaryOp::Add => RedOp::Add,
            BinaryOp::Mul => RedOp::Mul,
            BinaryOp::Max => RedOp::Max,
            BinaryOp::Min => RedOp::Min,
            _ => return None,
        },
        Expr::Fma(a, b, c) if *c == read && *a != read && *b != read => RedOp::Add,
        _ => return None,
    };
    Some(Reduction { acc, ty, op })
}

fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl KernelTranslator<'_, '_> {
    /// Emits innermost loop `id` over `start..end` following `plan`.
    pub(crate) fn vector_loop(&mut self, id: LoopId, start: Bound, end: Bound, body: &[Stmt], plan: &VectorPlan) -> Result<()> {
        // Invariant statements, once, before the loop.
        for s in body {
            if let Stmt::Let { value, .. } = s {
                if !plan.varying.contains(value) {
                    self.block(std::slice::from_ref(s))?;
                }
            }
        }
        let mut splats = HashMap::new();
        for v in &plan.splats {
            let x = self.val(*v)?;
            let ty = self.ty(*v)?;
            let sv = self.splat(plan, ty, x);
            splats.insert(*v, sv);
        }
        let w = plan.lanes;
        let step = w * plan.unroll as i64;
        let (main_end, vec_end) = match (start, end) {
            (Bound::Static(s), Bound::Static(e)) => {
                let n = e - s;
                (Bound::Static(s + n - n % step), Bound::Static(s + n - n % w))
            }
            _ => {
                let s = self.bound(start);
                let e = self.bound(end);
                let n = self.b.ins().isub(e, s);
                let nm = self.b.ins().band_imm_s(n, !(step - 1));
                let nv = self.b.ins().band_imm_s(n, !(w - 1));
                (Bound::Dynamic(self.b.ins().iadd(s, nm)), Bound::Dynamic(self.b.ins().iadd(s, nv)))
            }
        };
        let mut accs: HashMap<AccId, Vec<Variable>> = HashMap::new();
        for r in &plan.reductions {
            let vt = plan.vtype(r.ty);
            let id_val = self.identity(r.ty, r.op);
            let init = self.b.ins().splat(vt, id_val);
            let vars = (0..plan.unroll)
                .map(|_| {
                    let var = self.b.declare_var(vt);
                    self.b.def_var(var, init);
                    var
                })
                .collect();
            accs.insert(r.acc, vars);
        }
        self.vector_pass(id, start, main_end, body, plan, &splats, &accs, plan.unroll)?;
        self.vector_pass(id, main_end, vec_end, body, plan, &splats, &accs, 1)?;
        for r in &plan.reductions {
            let vars = &accs[&r.acc];
            let mut v = self.b.use_var(vars[0]);
            for var in &vars[1..] {
                let x = self.b.use_var(*var);
                v = self.red_op(r.op, r.ty, v, x);
            }
            let mut h = self.b.ins().extractlane(v, 0);
            for k in 1..w {
                let x = self.b.ins().extractlane(v, k as u8);
                h = self.red_op(r.op, r.ty, h, x);
            }
            let var = self.acc_var(r.acc, r.ty);
            let a = self.b.use_var(var);
            let total = self.red_op(r.op, r.ty, a, h);
            self.b.def_var(var, total);
        }
        self.counted_loop(id, vec_end, end, body)
    }

    /// One vector loop over `start..end` (a whole number of `lanes · unroll`
    /// iterations).
    #[allow(clippy::too_many_arguments)]
    fn vector_pass(
        &mut self,
        id: LoopId,
        start: Bound,
        end: Bound,
        body: &[Stmt],
        plan: &VectorPlan,
        splats: &HashMap<ValueId, Value>,
        accs: &HashMap<AccId, Vec<Variable>>,
        unroll: usize,
    ) -> Result<()> {
        if let (Bound::Static(s), Bound::Static(e)) = (start, end) {
            if s >= e {
                return Ok(());
            }
        }
        let (header, exit) = self.loop_entry(start, end);
        let iv = self.b.block_params(header)[0];
        self.loop_vals.insert(id, iv);
        let mut vv: Vec<HashMap<ValueId, Value>> = vec![HashMap::new(); unroll];
        for s in body {
            match s {
                Stmt::Let { value, ty, expr } if plan.varying.contains(value) => {
                    for (u, vals) in vv.iter_mut().enumerate() {
                        let v = self.vexpr(plan, vals, splats, accs, u, *ty, expr)?;
                        vals.insert(*value, v);
                    }
                }
                Stmt::Let { .. } => {}
                Stmt::Store { buf, index, value } => {
                    let addr = self.address(*buf, index)?;
                    let size = self.elem_size(*buf)?;
                    for (u, vals) in vv.iter().enumerate() {
                        let v = vop(vals, splats, *value)?;
                        self.b.ins().store(mem_flags(), v, addr, (u as i64 * plan.lanes * size) as i32);
                    }
                }
                Stmt::AccSet { acc, value } => {
                    let vars = accs.get(acc).ok_or_else(|| error("internal error: vector accumulator missing"))?;
                    for (u, vals) in vv.iter().enumerate() {
                        self.b.def_var(vars[u], vop(vals, splats, *value)?);
                    }
                }
                Stmt::Loop { .. } | Stmt::AccInit { .. } => {
                    return Err(error("internal error: vectorised loop body holds a loop or an AccInit"))
                }
            }
        }
        self.loop_latch(header, exit, iv, plan.lanes * unroll as i64, end);
        Ok(())
    }

    fn splat(&mut self, plan: &VectorPlan, ty: ScalarType, x: Value) -> Value {
        if ty == ScalarType::Bool {
            let lane = plan.mask_type().lane_type();
            let wide = self.b.ins().uextend(lane, x);
            let m = self.b.ins().ineg(wide);
            return self.b.ins().splat(plan.mask_type(), m);
        }
        self.b.ins().splat(plan.vtype(ty), x)
    }

    fn identity(&mut self, ty: ScalarType, op: RedOp) -> Value {
        let ins = self.b.ins();
        match (ty, op) {
            (ScalarType::F32, RedOp::Add) => ins.f32const(-0.0),
            (ScalarType::F32, RedOp::Mul) => ins.f32const(1.0),
            (ScalarType::F32, RedOp::Max) => ins.f32const(f32::NEG_INFINITY),
            (ScalarType::F32, RedOp::Min) => ins.f32const(f32::INFINITY),
            (ScalarType::F64, RedOp::Add) => ins.f64const(-0.0),
            (ScalarType::F64, RedOp::Mul) => ins.f64const(1.0),
            (ScalarType::F64, RedOp::Max) => ins.f64const(f64::NEG_INFINITY),
            (ScalarType::F64, RedOp::Min) => ins.f64const(f64::INFINITY),
            (_, RedOp::Add) => ins.iconst(types::I32, 0),
            (_, RedOp::Mul) => ins.iconst(types::I32, 1),
            (ScalarType::U32, RedOp::Max) => ins.iconst(types::I32, 0),
            (ScalarType::U32, RedOp::Min) => ins.iconst(types::I32, i64::from(u32::MAX)),
            (_, RedOp::Max) => ins.iconst(types::I32, i64::from(i32::MIN as u32)),
            (_, RedOp::Min) => ins.iconst(types::I32, i64::from(i32::MAX as u32)),
        }
    }

    /// Combines two partial results (scalars or vectors) of a reduction.
    fn red_op(&mut self, op: RedOp, ty: ScalarType, a: Value, b: Value) -> Value {
        let float = ty.is_float();
        let ins = self.b.ins();
        match op {
            RedOp::Add if float => ins.fadd(a, b),
            RedOp::Add => ins.iadd(a, b),
            RedOp::Mul if float => ins.fmul(a, b),
            RedOp::Mul => ins.imul(a, b),
            RedOp::Max if float => ins.fmax(a, b),
            RedOp::Max if ty == ScalarType::U32 => ins.umax(a, b),
            RedOp::Max => ins.smax(a, b),
            RedOp::Min if float => ins.fmin(a, b),
            RedOp::Min if ty == ScalarType::U32 => ins.umin(a, b),
            RedOp::Min => ins.smin(a, b),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn vexpr(
        &mut self,
        plan: &VectorPlan,
        vals: &HashMap<ValueId, Value>,
        splats: &HashMap<ValueId, Value>,
        accs: &HashMap<AccId, Vec<Variable>>,
        u: usize,
        ty: ScalarType,
        expr: &Expr,
    ) -> Result<Value> {
        let op = |v: &ValueId| vop(vals, splats, *v);
        match expr {
            Expr::Const(_) | Expr::LoopVar(_) => Err(error("internal error: invariant value in the vector body")),
            Expr::Load { buf, index } => {
                let addr = self.address(*buf, index)?;
                let size = self.elem_size(*buf)?;
                Ok(self.b.ins().load(plan.vtype(ty), mem_flags(), addr, (u as i64 * plan.lanes * size) as i32))
            }
            Expr::Unary(o, a) => {
                let (x, t) = (op(a)?, self.ty(*a)?);
                self.vunary(plan, *o, t, x)
            }
            Expr::Binary(o, a, b) => {
                let (x, y, t) = (op(a)?, op(b)?, self.ty(*a)?);
                self.vbinary(*o, t, x, y)
            }
            Expr::Fma(a, b, c) => {
                let (x, y, z) = (op(a)?, op(b)?, op(c)?);
                Ok(if ty.is_float() {
                    self.b.ins().fma(x, y, z)
                } else {
                    let p = self.b.ins().imul(x, y);
                    self.b.ins().iadd(p, z)
                })
            }
            Expr::Select(c, a, b) => {
                let (m, x, y) = (op(c)?, op(a)?, op(b)?);
                let vt = plan.vtype(ty);
                let m = if vt == plan.mask_type() { m } else { self.b.ins().bitcast(vt, vector_flags(), m) };
                Ok(self.b.ins().bitselect(m, x, y))
            }
            Expr::Convert(to, a) => {
                let (x, from) = (op(a)?, self.ty(*a)?);
                self.vconvert(plan, from, *to, x)
            }
            Expr::Bitcast(to, a) => {
                let x = op(a)?;
                Ok(self.b.ins().bitcast(plan.vtype(*to), vector_flags(), x))
            }
            Expr::AccRead(acc) => {
                let vars = accs.get(acc).ok_or_else(|| error("internal error: vector accumulator missing"))?;
                Ok(self.b.use_var(vars[u]))
            }
        }
    }

    fn vconst(&mut self, plan: &VectorPlan, ty: ScalarType, x: f64) -> Value {
        let s = match ty {
            ScalarType::F32 => self.b.ins().f32const(x as f32),
            ScalarType::F64 => self.b.ins().f64const(x),
            ScalarType::I32 | ScalarType::U32 => self.b.ins().iconst(types::I32, i64::from(x as i32 as u32)),
            ScalarType::Bool | ScalarType::Index => self.b.ins().iconst(plan.mask_type().lane_type(), x as i64),
        };
        self.b.ins().splat(plan.vtype(ty), s)
    }

    fn to_mask(&mut self, plan: &VectorPlan, m: Value) -> Value {
        let mt = plan.mask_type();
        if self.b.func.dfg.value_type(m) == mt {
            m
        } else {
            self.b.ins().bitcast(mt, vector_flags(), m)
        }
    }

    fn vunary(&mut self, plan: &VectorPlan, op: UnaryOp, t: ScalarType, x: Value) -> Result<Value> {
        use UnaryOp as U;
        let float = t.is_float();
        Ok(match op {
            U::Neg if float => self.b.ins().fneg(x),
            U::Neg => self.b.ins().ineg(x),
            U::Abs if float => self.b.ins().fabs(x),
            U::Abs if t == ScalarType::U32 => x,
            U::Abs => self.b.ins().iabs(x),
            U::Sign if float => {
                let zero = self.vconst(plan, t, 0.0);
                let one = self.vconst(plan, t, 1.0);
                let minus = self.vconst(plan, t, -1.0);
                let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let neg = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                let vt = plan.vtype(t);
                let neg = self.b.ins().bitcast(vt, vector_flags(), neg);
                let pos = self.b.ins().bitcast(vt, vector_flags(), pos);
                let r = self.b.ins().bitselect(neg, minus, x);
                self.b.ins().bitselect(pos, one, r)
            }
            U::Sign if t == ScalarType::U32 => {
                let one = self.vconst(plan, t, 1.0);
                self.b.ins().umin(x, one)
            }
            U::Sign => {
                let one = self.vconst(plan, t, 1.0);
                let minus = self.vconst(plan, t, -1.0);
                let lo = self.b.ins().smax(x, minus);
                self.b.ins().smin(lo, one)
            }
            U::Sqrt => self.b.ins().sqrt(x),
            U::Rsqrt => {
                let one = self.vconst(plan, t, 1.0);
                let s = self.b.ins().sqrt(x);
                self.b.ins().fdiv(one, s)
            }
            U::Floor => self.b.ins().floor(x),
            U::Ceil => self.b.ins().ceil(x),
            U::Trunc => self.b.ins().trunc(x),
            U::Round => {
                let t0 = self.b.ins().trunc(x);
                let d = self.b.ins().fsub(x, t0);
                let ad = self.b.ins().fabs(d);
                let half = self.vconst(plan, t, 0.5);
                let up = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, ad, half);
                let vt = plan.vtype(t);
                let up = self.b.ins().bitcast(vt, vector_flags(), up);
                let sign_bit = self.vconst(plan, t, -0.0);
                let one = self.vconst(plan, t, 1.0);
                let sx = self.b.ins().band(x, sign_bit);
                let sgn = self.b.ins().bor(sx, one);
                let adj = self.b.ins().band(up, sgn);
                self.b.ins().fadd(t0, adj)
            }
            U::Not => self.b.ins().bnot(x),
            U::IsFinite => {
                let ax = self.b.ins().fabs(x);
                let inf = self.vconst(plan, t, f64::INFINITY);
                let m = self.b.ins().fcmp(FloatCC::LessThan, ax, inf);
                self.to_mask(plan, m)
            }
            U::Exp | U::Log | U::Log1p | U::Expm1 | U::Sin | U::Cos | U::Tanh | U::Logistic | U::Erf => {
                return Err(error(format!("internal error: {op:?} in a vector loop")))
            }
        })
    }

    fn vbinary(&mut self, op: BinaryOp, t: ScalarType, x: Value, y: Value) -> Result<Value> {
        use BinaryOp as B;
        let float = t.is_float();
        let unsigned = t == ScalarType::U32;
        let icc = |s: IntCC, u: IntCC| if unsigned { u } else { s };
        let ins = self.b.ins();
        Ok(match op {
            B::Add if float => ins.fadd(x, y),
            B::Add => ins.iadd(x, y),
            B::Sub if float => ins.fsub(x, y),
            B::Sub => ins.isub(x, y),
            B::Mul if float => ins.fmul(x, y),
            B::Mul => ins.imul(x, y),
            B::Div => ins.fdiv(x, y),
            B::Max if float => ins.fmax(x, y),
            B::Max if unsigned => ins.umax(x, y),
            B::Max => ins.smax(x, y),
            B::Min if float => ins.fmin(x, y),
            B::Min if unsigned => ins.umin(x, y),
            B::Min => ins.smin(x, y),
            B::And => ins.band(x, y),
            B::Or => ins.bor(x, y),
            B::Xor => ins.bxor(x, y),
            B::Eq if float => ins.fcmp(FloatCC::Equal, x, y),
            B::Eq => ins.icmp(IntCC::Equal, x, y),
            B::Ne if float => ins.fcmp(FloatCC::NotEqual, x, y),
            B::Ne => ins.icmp(IntCC::NotEqual, x, y),
            B::Lt if float => ins.fcmp(FloatCC::LessThan, x, y),
            B::Lt => ins.icmp(icc(IntCC::SignedLessThan, IntCC::UnsignedLessThan), x, y),
            B::Le if float => ins.fcmp(FloatCC::LessThanOrEqual, x, y),
            B::Le => ins.icmp(icc(IntCC::SignedLessThanOrEqual, IntCC::UnsignedLessThanOrEqual), x, y),
            B::Gt if float => ins.fcmp(FloatCC::GreaterThan, x, y),
            B::Gt => ins.icmp(icc(IntCC::SignedGreaterThan, IntCC::UnsignedGreaterThan), x, y),
            B::Ge if float => ins.fcmp(FloatCC::GreaterThanOrEqual, x, y),
            B::Ge => ins.icmp(icc(IntCC::SignedGreaterThanOrEqual, IntCC::UnsignedGreaterThanOrEqual), x, y),
            B::Rem | B::Pow | B::Shl | B::ShrLogical | B::ShrArith => {
                return Err(error(format!("internal error: {op:?} in a vector loop")))
            }
        })
    }

    fn vconvert(&mut self, plan: &VectorPlan, from: ScalarType, to: ScalarType, x: Value) -> Result<Value> {
        use ScalarType as S;
        if from == to {
            return Ok(x);
        }
        let vt = plan.vtype(to);
        Ok(match (from, to) {
            (S::F32, S::I32) => self.b.ins().fcvt_to_sint_sat(vt, x),
            (S::F32, S::U32) => self.b.ins().fcvt_to_uint_sat(vt, x),
            (S::I32, S::F32) => self.b.ins().fcvt_from_sint(vt, x),
            (S::U32, S::F32) => self.b.ins().fcvt_from_uint(vt, x),
            (S::I32, S::U32) | (S::U32, S::I32) => x,
            (S::F32 | S::F64, S::Bool) => {
                let zero = self.vconst(plan, from, 0.0);
                let m = self.b.ins().fcmp(FloatCC::NotEqual, x, zero);
                self.to_mask(plan, m)
            }
            (S::I32 | S::U32, S::Bool) => {
                let zero = self.vconst(plan, from, 0.0);
                self.b.ins().icmp(IntCC::NotEqual, x, zero)
            }
            (S::Bool, S::F32 | S::F64) => {
                let one = self.vconst(plan, to, 1.0);
                let bits = self.b.ins().bitcast(plan.mask_type(), vector_flags(), one);
                let r = self.b.ins().band(x, bits);
                self.b.ins().bitcast(vt, vector_flags(), r)
            }
            (S::Bool, S::I32 | S::U32) => self.b.ins().ineg(x),
            (S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index, S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index) => {
                return Err(error(format!("internal error: vector convert {from:?} -> {to:?}")))
            }
        })
    }
}

/// The vector for `v`: computed in this copy of the body, or splatted.
fn vop(vals: &HashMap<ValueId, Value>, splats: &HashMap<ValueId, Value>, v: ValueId) -> Result<Value> {
    vals.get(&v)
        .or_else(|| splats.get(&v))
        .copied()
        .ok_or_else(|| error(format!("internal error: v{} missing in the vector body", v.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unroll_shrinks_with_body_size() {
        assert_eq!(unroll_for(1), 4);
        assert_eq!(unroll_for(12), 2);
        assert_eq!(unroll_for(40), 1);
    }

    #[test]
    fn unsupported_ops_stay_scalar() {
        let e = Expr::Binary(BinaryOp::Rem, ValueId(0), ValueId(1));
        assert!(!supported(&e, ScalarType::F32, ScalarType::F32));
        let e = Expr::Binary(BinaryOp::Div, ValueId(0), ValueId(1));
        assert!(!supported(&e, ScalarType::I32, ScalarType::I32));
        assert!(supported(&e, ScalarType::F64, ScalarType::F64));
    }
}
