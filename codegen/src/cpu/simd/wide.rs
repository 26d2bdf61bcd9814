//! The AVX-512 form of a vectorised innermost loop (see `cpu::avx512`).
//!
//! When the CPU has AVX-512 and a loop's [`VectorPlan`] only needs what the
//! wide emitter lowers (32-bit lanes, contiguous loads and stores, no iota,
//! byte rotation, gather, scatter or store group, reductions of the
//! `op(acc, x)` form), the loop body is turned into an
//! [`avx512::WideLoop`], lowered to machine code, defined in the kernel's
//! JIT module and called from the Cranelift kernel:
//!
//! 1. the loop's invariant statements run first, in Cranelift, as for the
//!    128-bit path;
//! 2. an argument block on the stack receives the trip count, the address
//!    of each accessed element at the loop's first iteration, the invariant
//!    scalars (shift amounts reduced modulo 32, bools as lane masks) and
//!    the emitter's constants;
//! 3. one call runs every iteration, the tail masked (no scalar loop);
//! 4. each accumulator's 16 partial results are folded into the
//!    accumulator with the same combiner the 128-bit path uses.
//!
//! Loops of fewer than [`MIN_WIDE_TRIPS`] iterations keep the 128-bit
//! path: the call and the argument block cost more than they save.

use std::cell::Cell;
use std::collections::HashMap;

use cranelift_codegen::ir::{types, AbiParam, InstBuilder, StackSlotData, StackSlotKind, Value};
use cranelift_module::Module;
use rjax_ir::Result;

use super::VectorPlan;
use crate::cpu::avx512::{self, Op, Operand, WideLoop};
use crate::cpu::env::{clif_type, error, module_error};
use crate::cpu::translate::{mem_flags, without_term, Bound, KernelTranslator};
use crate::kernel::{BinaryOp, BufId, Const, Expr, Index, LoopId, ScalarType, Stmt, ValueId};
use rjax_ir::Scalar;

/// Loops of fewer iterations stay on the 128-bit path.
pub(crate) const MIN_WIDE_TRIPS: i64 = 32;

thread_local! {
    static NARROW_ONLY: Cell<bool> = const { Cell::new(false) };
    static WIDE_LOOPS: Cell<usize> = const { Cell::new(0) };
}

/// How many loops this thread has compiled to AVX-512 code so far (for
/// tests: to see that a kernel took the wide path).
pub fn wide_loops_compiled() -> usize {
    WIDE_LOOPS.with(Cell::get)
}

/// Whether this CPU runs the AVX-512 loops (and `RJAX_CPU_AVX512` is not
/// `0`).
pub fn avx512_available() -> bool {
    avx512::available()
}

/// Runs `f` with the AVX-512 loops turned off for kernels compiled on this
/// thread, so tests can compare the two paths on a machine that has both.
pub fn with_narrow_vectors<R>(f: impl FnOnce() -> R) -> R {
    let before = NARROW_ONLY.with(|n| n.replace(true));
    let r = f();
    NARROW_ONLY.with(|n| n.set(before));
    r
}

/// Whether kernels compiled now on this thread may use AVX-512 loops.
pub(crate) fn wide_enabled() -> bool {
    !NARROW_ONLY.with(Cell::get) && avx512::available()
}

/// A loop lowered for the wide emitter, with what the caller must pass.
struct Lowered {
    wl: WideLoop,
    /// Per pointer: the invariant address key (address at iteration 0).
    ptrs: Vec<(BufId, Index)>,
    /// Per scalar: the value and whether it is a shift amount.
    scalars: Vec<(ValueId, bool)>,
    /// Per accumulator: the kernel accumulator.
    accs: Vec<crate::kernel::AccId>,
}

/// Builds the wide loop for `body` under `plan`, or `None` when the plan
/// needs something the wide path does not do.
fn lower(
    id: LoopId,
    body: &[Stmt],
    plan: &VectorPlan,
    tys: &HashMap<ValueId, ScalarType>,
    kernel_body: &[Stmt],
) -> Option<Lowered> {
    if plan.bits != 32 || !plan.iotas.is_empty() || !plan.rotates.is_empty() {
        return None;
    }
    if !plan.groups.is_empty() {
        return None;
    }
    let mut args = Args {
        kernel_body,
        ptrs: Vec::new(),
        scalars: Vec::new(),
        known: Vec::new(),
    };
    // The reduction pattern `r = AccRead(a); s = op(r, x); AccSet(a, s)`:
    // by `s`, the accumulator index and `x`.
    let mut accs = Vec::new();
    let mut acc_types = Vec::new();
    let mut sets: HashMap<ValueId, (u32, ValueId)> = HashMap::new();
    let mut reads = Vec::new();
    for r in &plan.reductions {
        let set = body.iter().find_map(|s| match s {
            Stmt::AccSet { acc, value } if *acc == r.acc => Some(*value),
            _ => None,
        })?;
        let read = body.iter().find_map(|s| match s {
            Stmt::Let {
                value,
                expr: Expr::AccRead(a),
                ..
            } if *a == r.acc => Some(*value),
            _ => None,
        })?;
        let def = body.iter().find_map(|s| match s {
            Stmt::Let { value, expr, .. } if *value == set => Some(expr),
            _ => None,
        })?;
        let x = match def {
            Expr::Binary(_, a, b) if *a == read => *b,
            Expr::Binary(_, a, _) => *a,
            // `Fma(x, y, acc)` would need a fused multiply-add reduction.
            _ => return None,
        };
        sets.insert(set, (accs.len() as u32, x));
        reads.push(read);
        accs.push(r.acc);
        acc_types.push((r.op, r.ty));
    }
    let mut ops = Vec::new();
    let varying = |v: &ValueId| plan.varying.contains(v);
    for s in body {
        match s {
            Stmt::Let { value, expr, .. } if varying(value) => {
                if reads.contains(value) {
                    continue;
                }
                if let Some(&(acc, x)) = sets.get(value) {
                    let x = args.operand(plan, x);
                    ops.push(Op::Reduce { acc, x });
                    continue;
                }
                let dst = value.0;
                let ty_of = |v: &ValueId| tys.get(v).copied();
                let op = match expr {
                    Expr::Load { buf, index } => Op::Load {
                        dst,
                        ptr: args.ptr(id, *buf, index)?,
                    },
                    Expr::Unary(op, a) => Op::Unary {
                        dst,
                        op: *op,
                        ty: ty_of(a)?,
                        x: args.operand(plan, *a),
                    },
                    Expr::Binary(
                        op @ (BinaryOp::Shl | BinaryOp::ShrLogical | BinaryOp::ShrArith),
                        a,
                        b,
                    ) => Op::Binary {
                        dst,
                        op: *op,
                        ty: ty_of(a)?,
                        x: args.operand(plan, *a),
                        y: Operand::Scalar(args.scalar(*b, true)),
                    },
                    Expr::Binary(op, a, b) => Op::Binary {
                        dst,
                        op: *op,
                        ty: ty_of(a)?,
                        x: args.operand(plan, *a),
                        y: args.operand(plan, *b),
                    },
                    Expr::Fma(a, b, c) => Op::Fma {
                        dst,
                        ty: ty_of(a)?,
                        a: args.operand(plan, *a),
                        b: args.operand(plan, *b),
                        c: args.operand(plan, *c),
                    },
                    Expr::Select(c, a, b) => Op::Select {
                        dst,
                        cond: args.operand(plan, *c),
                        on_true: args.operand(plan, *a),
                        on_false: args.operand(plan, *b),
                    },
                    Expr::Convert(to, a) => Op::Convert {
                        dst,
                        from: ty_of(a)?,
                        to: *to,
                        x: args.operand(plan, *a),
                    },
                    Expr::Bitcast(_, a) => Op::Bitcast {
                        dst,
                        x: args.operand(plan, *a),
                    },
                    Expr::Const(_) | Expr::LoopVar(_) | Expr::AccRead(_) => return None,
                };
                ops.push(op);
            }
            Stmt::Let { .. } | Stmt::AccSet { .. } => {}
            Stmt::Store { buf, index, value } => {
                let ptr = args.ptr(id, *buf, index)?;
                let src = args.operand(plan, *value);
                ops.push(Op::Store { ptr, src });
            }
            Stmt::Loop { .. } | Stmt::AccInit { .. } => return None,
        }
    }
    Some(Lowered {
        wl: WideLoop {
            ptrs: args.ptrs.len() as u32,
            scalars: args.scalars.len() as u32,
            known: args.known,
            accs: acc_types,
            ops,
        },
        ptrs: args.ptrs,
        scalars: args.scalars,
        accs,
    })
}

/// The lane bits of `v` when `block` (or a block nested in it) defines it
/// as a 32-bit constant (a bool as a lane mask).
fn constant_bits(block: &[Stmt], v: ValueId) -> Option<u32> {
    block.iter().find_map(|s| match s {
        Stmt::Let {
            value,
            expr: Expr::Const(Const::Scalar(c)),
            ..
        } if *value == v => match *c {
            Scalar::F32(x) => Some(x.to_bits()),
            Scalar::I32(x) => Some(x as u32),
            Scalar::U32(x) => Some(x),
            Scalar::Bool(b) => Some(if b { u32::MAX } else { 0 }),
            Scalar::F64(_) => None,
        },
        Stmt::Loop { body, .. } => constant_bits(body, v),
        Stmt::Let { .. } | Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => None,
    })
}

/// The pointers and scalars a wide loop takes, numbered as first met;
/// scalars that are the same constant share one slot.
struct Args<'k> {
    /// The whole kernel, where constants are defined.
    kernel_body: &'k [Stmt],
    ptrs: Vec<(BufId, Index)>,
    scalars: Vec<(ValueId, bool)>,
    /// The lane bits of each scalar known when compiling.
    known: Vec<Option<u32>>,
}

impl Args<'_> {
    /// The pointer for a contiguous access of loop `id`, or `None` when the
    /// access is not contiguous.
    fn ptr(&mut self, id: LoopId, buf: BufId, index: &Index) -> Option<u32> {
        if index.coefficient(id) != 1 || index.dynamic.is_some() {
            return None;
        }
        let key = (buf, without_term(index, id));
        Some(position_or_push(&mut self.ptrs, key))
    }

    /// The scalar slot of invariant `v` (a shift amount when `shift`).
    fn scalar(&mut self, v: ValueId, shift: bool) -> u32 {
        let bits = constant_bits(self.kernel_body, v).map(|b| if shift { b & 31 } else { b });
        let same = |(k, &(w, sh)): (usize, &(ValueId, bool))| {
            let same_constant = bits.is_some() && self.known[k] == bits;
            ((w, sh) == (v, shift) || same_constant).then_some(k as u32)
        };
        if let Some(k) = self.scalars.iter().enumerate().find_map(same) {
            return k;
        }
        self.scalars.push((v, shift));
        self.known.push(bits);
        (self.scalars.len() - 1) as u32
    }

    /// `v` as an operand: a vector value when it varies, else a scalar.
    fn operand(&mut self, plan: &VectorPlan, v: ValueId) -> Operand {
        if plan.varying.contains(&v) {
            Operand::Value(v.0)
        } else {
            Operand::Scalar(self.scalar(v, false))
        }
    }
}

fn position_or_push<T: PartialEq>(items: &mut Vec<T>, item: T) -> u32 {
    let p = match items.iter().position(|k| *k == item) {
        Some(p) => p,
        None => {
            items.push(item);
            items.len() - 1
        }
    };
    p as u32
}

impl KernelTranslator<'_, '_> {
    /// Emits innermost loop `id` (of `extent` iterations, of which it runs
    /// `start..end`) as a call of AVX-512
    /// code, when the wide path applies (see the module docs); returns
    /// whether it did (nothing is emitted otherwise).
    pub(super) fn wide_loop(
        &mut self,
        id: LoopId,
        (start, end): (Bound, Bound),
        extent: usize,
        body: &[Stmt],
        plan: &VectorPlan,
    ) -> Result<bool> {
        if !wide_enabled() || (extent as i64) < MIN_WIDE_TRIPS {
            return Ok(false);
        }
        let Some(lowered) = lower(id, body, plan, &self.tys, &self.kernel.body) else {
            return Ok(false);
        };
        if lowered.ptrs.iter().any(|k| !self.pre.contains_key(k)) {
            return Ok(false);
        }
        let Some(code) = avx512::emit(&lowered.wl) else {
            return Ok(false);
        };
        // Invariant statements, once, before the call.
        for s in body {
            if let Stmt::Let { value, .. } = s {
                if !plan.varying.contains(value) {
                    self.block(std::slice::from_ref(s))?;
                }
            }
        }
        let callee = self.define_wide(&code.bytes)?;
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            8 * code.slots,
            6,
        ));
        let block = self.b.ins().stack_addr(types::I64, slot, 0);
        let put = |t: &mut Self, slot: u32, v: Value| {
            t.b.ins().store(mem_flags(), v, block, (8 * slot) as i32);
        };
        let s = self.bound(start);
        let e = self.bound(end);
        let n = self.b.ins().isub(e, s);
        let zero = self.b.ins().iconst(types::I64, 0);
        let n = self.b.ins().smax(n, zero);
        put(self, 0, n);
        for (p, key) in lowered.ptrs.iter().enumerate() {
            let base = self.pre[key];
            let size = self.elem_size(key.0)?;
            let off = self.b.ins().imul_imm_s(s, size);
            let at_start = self.b.ins().iadd(base, off);
            put(self, 1 + p as u32, at_start);
        }
        let first_scalar = 1 + lowered.wl.ptrs;
        for (k, &(v, shift)) in lowered.scalars.iter().enumerate() {
            let x = self.val(v)?;
            let x = match self.ty(v)? {
                ScalarType::Bool => {
                    let wide = self.b.ins().uextend(types::I32, x);
                    self.b.ins().ineg(wide)
                }
                _ if shift => self.b.ins().band_imm_s(x, 31),
                ScalarType::F32 | ScalarType::I32 | ScalarType::U32 => x,
                ScalarType::F64 | ScalarType::Index => {
                    return Err(error("internal error: 64-bit scalar in a wide loop"))
                }
            };
            put(self, first_scalar + k as u32, x);
        }
        for &(slot, bits) in &code.consts {
            let c = self.b.ins().iconst(types::I32, i64::from(bits));
            put(self, slot, c);
        }
        self.b.ins().call(callee, &[block]);
        WIDE_LOOPS.with(|c| c.set(c.get() + 1));
        for (k, acc) in lowered.accs.iter().enumerate() {
            let (op, ty) = plan
                .reductions
                .iter()
                .find(|r| r.acc == *acc)
                .map(|r| (r.op, r.ty))
                .ok_or_else(|| error("internal error: wide accumulator missing"))?;
            let base = 8 * code.acc_slots[k] as i32;
            let lane = |t: &mut Self, j: i32| {
                t.b.ins()
                    .load(clif_type(ty), mem_flags(), block, base + 4 * j)
            };
            let mut h = lane(self, 0);
            for j in 1..16 {
                let x = lane(self, j);
                h = self.red_op(op, ty, h, x);
            }
            let var = self.acc_var(*acc, ty);
            let a = self.b.use_var(var);
            let total = self.red_op(op, ty, a, h);
            self.b.def_var(var, total);
        }
        Ok(true)
    }

    /// Defines `bytes` as a function `fn(*mut u64)` in the kernel's module
    /// and returns a reference to it for calls from the current function.
    fn define_wide(&mut self, bytes: &[u8]) -> Result<cranelift_codegen::ir::FuncRef> {
        let mut sig = self.module.make_signature();
        sig.params.push(AbiParam::new(types::I64));
        let fid = self
            .module
            .declare_anonymous_function(&sig)
            .map_err(|e| module_error("declare wide loop", e))?;
        self.module
            .define_function_bytes(fid, 64, bytes, &[])
            .map_err(|e| module_error("define wide loop", e))?;
        Ok(self.module.declare_func_in_func(fid, self.b.func))
    }
}
