//! Vectorisation of innermost loops with 128-bit vectors (f32x4, i32x4,
//! f64x2: the widest Cranelift's x86-64 backend lowers, TECH-NOTES §1a).
//!
//! # When a loop is vectorised
//!
//! [`VectorPlan::analyze`] accepts an innermost loop `L` when:
//!
//! - its body holds only `Let`, `Store` and `AccSet` statements;
//! - every `Store` has a non-zero coefficient `c` on `L`, a dynamic term
//!   (if any) that does not vary with `L`, and a non-bool buffer; the
//!   stores of one buffer are independent across iterations: they share
//!   `c`, every other term and the dynamic term, and their offsets differ
//!   modulo `|c|` (identical indices count once), so no element is stored
//!   by two iterations (`access::independent_stores`);
//! - every `Load` has a dynamic term that does not vary with `L` (any
//!   coefficient: 0 is invariant, 1 a vector load, others a gather); a
//!   buffer stored in the loop is only loaded with the very index of one of
//!   its stores (so iterations stay independent), and bool buffers are not
//!   loaded with a non-zero coefficient;
//! - `LoopVar(L)` is used as a value only through `Convert(I32 | U32, _)`
//!   (a 32-bit iota: lane `j` holds `(i + j) mod 2^32`, exactly the scalar
//!   path's truncating conversion); `LoopVar` of an outer loop is
//!   invariant;
//! - every accumulator set in the loop is a *reduction*: one
//!   `r = AccRead(a)`, one `s = op(r, x)` (or `op(x, r)`) with `op` one of
//!   `Add`, `Mul`, `Max`, `Min`, or `s = Fma(x, y, r)`, one `AccSet(a, s)`,
//!   and neither `r` nor `s` used for anything else;
//! - every value that varies with `L` has one lane width: 32-bit
//!   (`F32`, `I32`, `U32`, four lanes) or 64-bit (`F64`, two lanes); bools
//!   that vary are lane masks of that width; `Index` values may not vary;
//! - every varying operation is in the supported table (`supported`):
//!   integer division, integer and float remainder, and shifts by amounts
//!   that vary stay scalar (a vector shift takes one scalar amount).
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
//! Memory accesses: a coefficient-1 access is one vector load or store; a
//! store with another coefficient stores lane by lane (a scatter, see
//! `access`) unless it belongs to a *store group* (`lanes` stores to a
//! buffer the loop does not load, at consecutive offsets, `|c| >= lanes`),
//! which is transposed and stored as `lanes` vectors (see `shuffle`); a
//! load with another coefficient loads lane by lane (a gather). An `Or` of
//! `Shl(x, p)` and `ShrLogical(x, 32 - p)` with `p` a constant multiple of
//! 8 is one byte shuffle (see `shuffle`). This is the `random_bits` kernel:
//! four ChaCha20 blocks per i32x4 vector, block counters from the iota.
//!
//! **Reassociation:** a vectorised float `Add`/`Mul`/`Fma` reduction sums in
//! a different order from the sequential loop, so its result may differ in
//! the last bits (as with any parallel reduction, JAX/XLA included). `Max`,
//! `Min` and integer reductions are exact. Everything else computes exactly
//! what the scalar loop computes, lane by lane.

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::{types, InstBuilder, Type, Value};
use cranelift_frontend::Variable;
use rjax_ir::{DType, Result};

mod access;
mod ops;
mod shuffle;
mod wide;

pub use wide::{avx512_available, wide_loops_compiled, with_narrow_vectors};

use super::env::error;
use super::translate::{mem_flags, Bound, KernelTranslator};
use crate::kernel::{
    AccId, BinaryOp, BufId, Expr, Index, Kernel, LoopId, ScalarType, Stmt, UnaryOp, ValueId,
};
use crate::lower::ReduceOp;
use ops::vop;

#[derive(Clone, Debug)]
struct Reduction {
    acc: AccId,
    ty: ScalarType,
    op: ReduceOp,
}

/// How an innermost loop is vectorised.
#[derive(Clone, Debug)]
pub(crate) struct VectorPlan {
    /// The loop.
    id: LoopId,
    lanes: i64,
    bits: u32,
    unroll: usize,
    varying: HashSet<ValueId>,
    reductions: Vec<Reduction>,
    /// Invariant values used by varying operations or stores.
    splats: Vec<ValueId>,
    /// `LoopVar(id)` values, only used through 32-bit conversions (iotas).
    iotas: HashSet<ValueId>,
    /// Varying `Or`s that may be byte rotations.
    rotates: HashMap<ValueId, shuffle::Rotate>,
    /// Transposed store groups: by the body position of their last store,
    /// the positions of their members in offset order.
    groups: HashMap<usize, Vec<usize>>,
}

/// What the analysis needs to know about the kernel.
pub(crate) struct KernelTypes<'k> {
    /// The kernel (for its buffer declarations).
    pub kernel: &'k Kernel,
    /// Every value's type.
    pub tys: &'k HashMap<ValueId, ScalarType>,
    /// Every accumulator's type.
    pub acc_tys: &'k HashMap<AccId, ScalarType>,
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
            UnaryOp::Sqrt
            | UnaryOp::Rsqrt
            | UnaryOp::Floor
            | UnaryOp::Ceil
            | UnaryOp::Trunc
            | UnaryOp::Round => float,
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
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min => {
                float || int32
            }
            BinaryOp::Div => float,
            // Shift amounts must not vary (checked in `analyze`): vector
            // shifts take one scalar amount.
            BinaryOp::Shl | BinaryOp::ShrLogical | BinaryOp::ShrArith => int32,
            BinaryOp::Rem | BinaryOp::Pow => false,
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => int32 || arg == S::Bool,
            BinaryOp::Eq | BinaryOp::Ne => float || int32 || arg == S::Bool,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => float || int32,
        },
        Expr::Fma(..) => float || int32,
        Expr::Select(..) => true,
        Expr::Convert(to, _) => match (arg, *to) {
            (a, t) if a == t => true,
            (S::F32, S::I32 | S::U32)
            | (S::I32 | S::U32, S::F32)
            | (S::I32, S::U32)
            | (S::U32, S::I32) => true,
            (S::F32 | S::F64 | S::I32 | S::U32, S::Bool)
            | (S::Bool, S::F32 | S::F64 | S::I32 | S::U32) => true,
            (
                S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index,
                S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index,
            ) => false,
        },
        Expr::Bitcast(to, _) => matches!(
            (arg, *to),
            (S::F32, S::I32 | S::U32) | (S::I32 | S::U32, S::F32)
        ),
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
    pub(crate) fn analyze(t: &KernelTypes<'_>, id: LoopId, body: &[Stmt]) -> Option<VectorPlan> {
        let mut stored: HashMap<BufId, Vec<&Index>> = HashMap::new();
        let mut sets: HashMap<AccId, ValueId> = HashMap::new();
        let mut uses: HashMap<ValueId, usize> = HashMap::new();
        let mut defs: HashMap<ValueId, (&Expr, ScalarType)> = HashMap::new();
        for s in body {
            match s {
                Stmt::Loop { .. } | Stmt::AccInit { .. } => return None,
                Stmt::Store { buf, index, value } => {
                    let dtype = t.kernel.buffers.get(buf.0 as usize)?.dtype;
                    if index.coefficient(id) == 0 || dtype == DType::Bool {
                        return None;
                    }
                    stored.entry(*buf).or_default().push(index);
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
        if !stored
            .values()
            .all(|ixs| access::independent_stores(id, ixs))
        {
            return None;
        }
        let mut varying = HashSet::new();
        let mut iotas = HashSet::new();
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
            let Stmt::Let { value, ty, expr } = s else {
                continue;
            };
            match expr {
                Expr::LoopVar(l) if *l == id => {
                    iotas.insert(*value);
                    continue;
                }
                Expr::Convert(ScalarType::I32 | ScalarType::U32, a) if iotas.contains(a) => {
                    if !need_bits(Some(32)) {
                        return None;
                    }
                    varying.insert(*value);
                    continue;
                }
                _ if operands(expr).iter().any(|o| iotas.contains(o)) => return None,
                _ => {}
            }
            let vary = |v: &ValueId| varying.contains(v);
            let is_varying = match expr {
                Expr::Const(_) | Expr::LoopVar(_) => false,
                Expr::Load { buf, index } => {
                    if index.dynamic.is_some_and(|d| vary(&d)) {
                        return None;
                    }
                    if stored.get(buf).is_some_and(|s| !s.contains(&index)) {
                        return None;
                    }
                    index.coefficient(id) != 0
                }
                Expr::AccRead(acc) => match sets.get(acc) {
                    None => false,
                    Some(set) => {
                        let red = reduction(
                            *acc,
                            *value,
                            *set,
                            &defs,
                            &uses,
                            t.acc_tys.get(acc).copied()?,
                        )?;
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
                _ => ops
                    .first()
                    .and_then(|o| t.tys.get(o).copied())
                    .unwrap_or(*ty),
            };
            if !supported(expr, *ty, arg)
                || (!matches!(expr, Expr::Load { .. }) && !need_bits(lane_bits(arg)))
            {
                return None;
            }
            if let Expr::Binary(
                BinaryOp::Shl | BinaryOp::ShrLogical | BinaryOp::ShrArith,
                x,
                amount,
            ) = expr
            {
                if varying.contains(amount) {
                    return None;
                }
                if !varying.contains(x) && !splats.contains(x) {
                    splats.push(*x);
                }
            } else if !matches!(expr, Expr::Load { .. }) {
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
                if index
                    .dynamic
                    .is_some_and(|d| varying.contains(&d) || iotas.contains(&d))
                    || iotas.contains(value)
                {
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
        let loaded: HashSet<BufId> = defs
            .values()
            .filter_map(|(e, _)| match e {
                Expr::Load { buf, .. } => Some(*buf),
                _ => None,
            })
            .collect();
        let mut rotates = shuffle::rotations(body);
        rotates.retain(|v, _| {
            varying.contains(v)
                && matches!(defs.get(v), Some((_, ScalarType::I32 | ScalarType::U32)))
        });
        let n_varying = body
            .iter()
            .filter(|s| matches!(s, Stmt::Let { value, .. } if varying.contains(value)))
            .count();
        Some(VectorPlan {
            id,
            lanes,
            bits,
            unroll: unroll_for(n_varying),
            varying,
            reductions,
            splats,
            iotas,
            rotates,
            groups: shuffle::store_groups(id, body, lanes, &loaded),
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
        Expr::Binary(op, a, b) if (*a == read) != (*b == read) => ReduceOp::of_combine(*op)?,
        Expr::Fma(a, b, c) if *c == read && *a != read && *b != read => ReduceOp::Sum,
        _ => return None,
    };
    Some(Reduction { acc, ty, op })
}

impl KernelTranslator<'_, '_> {
    /// Emits innermost loop `id` (of `extent` iterations, of which it runs
    /// `start..end`) following `plan`.
    pub(crate) fn vector_loop(
        &mut self,
        id: LoopId,
        (start, end): (Bound, Bound),
        extent: usize,
        body: &[Stmt],
        plan: &VectorPlan,
    ) -> Result<()> {
        if self.wide_loop(id, (start, end), extent, body, plan)? {
            return Ok(());
        }
        // Invariant statements, once, before the loop.
        for s in body {
            if let Stmt::Let { value, .. } = s {
                if !plan.varying.contains(value) && !plan.iotas.contains(value) {
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
                (
                    Bound::Static(s + n - n % step),
                    Bound::Static(s + n - n % w),
                )
            }
            _ => {
                let s = self.bound(start);
                let e = self.bound(end);
                let n = self.b.ins().isub(e, s);
                let nm = self.b.ins().band_imm_s(n, !(step - 1));
                let nv = self.b.ins().band_imm_s(n, !(w - 1));
                (
                    Bound::Dynamic(self.b.ins().iadd(s, nm)),
                    Bound::Dynamic(self.b.ins().iadd(s, nv)),
                )
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
        let grouped: HashSet<usize> = plan.groups.values().flatten().copied().collect();
        for (k, s) in body.iter().enumerate() {
            match s {
                Stmt::Let { value, ty, expr } if plan.varying.contains(value) => {
                    for (u, vals) in vv.iter_mut().enumerate() {
                        let rotated = match plan.rotates.get(value) {
                            Some(rot) => {
                                let x = vop(vals, splats, rot.x)?;
                                self.byte_rotate(rot, x)
                            }
                            None => None,
                        };
                        let v = match rotated {
                            Some(v) => v,
                            None => self.vexpr(plan, vals, splats, accs, u, *ty, expr)?,
                        };
                        vals.insert(*value, v);
                    }
                }
                Stmt::Let { .. } => {}
                Stmt::Store { .. } if grouped.contains(&k) => {
                    if let Some(members) = plan.groups.get(&k) {
                        self.group_store(id, body, members, plan, splats, &vv)?;
                    }
                }
                Stmt::Store { buf, index, value } => {
                    let (addr, stride) = self.strided_address(*buf, index, id)?;
                    let size = self.elem_size(*buf)?;
                    for (u, vals) in vv.iter().enumerate() {
                        let v = vop(vals, splats, *value)?;
                        if stride == size {
                            let off = (u as i64 * plan.lanes * size) as i32;
                            self.b.ins().store(mem_flags(), v, addr, off);
                        } else {
                            self.scatter_store(plan, v, addr, u, stride);
                        }
                    }
                }
                Stmt::AccSet { acc, value } => {
                    let vars = accs
                        .get(acc)
                        .ok_or_else(|| error("internal error: vector accumulator missing"))?;
                    for (u, vals) in vv.iter().enumerate() {
                        self.b.def_var(vars[u], vop(vals, splats, *value)?);
                    }
                }
                Stmt::Loop { .. } | Stmt::AccInit { .. } => {
                    return Err(error(
                        "internal error: vectorised loop body holds a loop or an AccInit",
                    ))
                }
            }
        }
        self.loop_latch(header, exit, iv, plan.lanes * unroll as i64, end);
        Ok(())
    }
}

impl KernelTranslator<'_, '_> {
    /// Emits the transposed stores of the group `members` (body positions,
    /// in offset order) for every unrolled copy.
    fn group_store(
        &mut self,
        id: LoopId,
        body: &[Stmt],
        members: &[usize],
        plan: &VectorPlan,
        splats: &HashMap<ValueId, Value>,
        vv: &[HashMap<ValueId, Value>],
    ) -> Result<()> {
        let mut first = None;
        let mut values = Vec::with_capacity(members.len());
        for &m in members {
            let Some(Stmt::Store { buf, index, value }) = body.get(m) else {
                return Err(error("internal error: store group member is not a store"));
            };
            first.get_or_insert((*buf, index));
            values.push(*value);
        }
        let (buf, index) = first.ok_or_else(|| error("internal error: empty store group"))?;
        let (addr, stride) = self.strided_address(buf, index, id)?;
        for (u, vals) in vv.iter().enumerate() {
            let vs = values
                .iter()
                .map(|v| vop(vals, splats, *v))
                .collect::<Result<Vec<_>>>()?;
            self.transposed_store(plan, &vs, addr, u, stride);
        }
        Ok(())
    }
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
