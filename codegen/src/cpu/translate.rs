//! Kernel IR → Cranelift IR: the [`KernelTranslator`].
//!
//! A kernel becomes one function with the ABI of `env`. The translator
//! walks the (hoisted, see `hoist`) statements once:
//!
//! - loops are emitted rotated: the body block is its own header and the
//!   test sits at the bottom, because Cranelift's e-graph only hoists out of
//!   that shape; static extents need no entry test, since zero-extent loops
//!   are gone;
//! - innermost loops that `simd` accepts get an unrolled f32x4/f64x2 loop,
//!   a one-vector loop, and the scalar loop as the tail;
//! - the address of every load and store of an innermost loop is split into
//!   an invariant part computed in the loop's preheader and `i · stride`;
//! - accumulators are Cranelift variables, so the frontend builds the SSA
//!   (block parameters) for them.
//!
//! Each scalar operation has one arm in one exhaustive `match` below
//! (`expr`, `unary`, `binary`); semantics follow the kernel IR docs, which
//! the kernel interpreter executes: integer division and remainder by zero
//! give 0 and never trap, float max/min propagate NaN and order -0 < +0,
//! `Round` rounds half away from zero, conversions to integers saturate.

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Block, FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_jit::JITModule;
use rjax_ir::{Result, Scalar};

use super::env::{clif_type, elem_size, error};
use super::simd::{KernelTypes, VectorPlan};
use crate::kernel::{
    AccId, BinaryOp, BufId, Const, Expr, Index, Kernel, LoopId, ScalarType, Stmt, UnaryOp, ValueId,
};

/// Kernels that execute at least this many statements in all (an estimate
/// of their work: 64K elements of a four-statement elementwise kernel,
/// load-load-op-store) are split across threads: about 30–60 µs of work
/// on one core, against a few µs to hand ranges to the pool.
pub(crate) const PARALLEL_WORK_THRESHOLD: u64 = 1 << 18;

/// What the runtime needs to know about a translated kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KernelInfo {
    /// The extent of the split loop, when the kernel has one: the function
    /// runs its iterations `begin..end` only.
    pub split_extent: Option<usize>,
    /// Statements executed by one whole run (an estimate of the work).
    pub work: u64,
}

/// Memory flags for buffer accesses: in bounds (the kernel IR contract), not
/// necessarily aligned.
pub(crate) fn mem_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// The loop whose iterations the runtime splits across threads: the
/// outermost parallel loop of the chain `[pure lets.., parallel loop]`
/// descending from the top, preferring the first one with at least 8
/// iterations (else the longest of the chain).
pub(crate) fn choose_split(body: &[Stmt]) -> Option<(LoopId, usize)> {
    let mut chain = Vec::new();
    let mut block = body;
    while let Some((last, lets)) = block.split_last() {
        if !lets.iter().all(|s| matches!(s, Stmt::Let { .. })) {
            break;
        }
        match last {
            Stmt::Loop {
                id,
                extent,
                parallel: true,
                body,
            } => {
                chain.push((*id, *extent));
                block = body;
            }
            _ => break,
        }
    }
    chain
        .iter()
        .find(|(_, e)| *e >= 8)
        .or_else(|| chain.iter().max_by_key(|(_, e)| *e))
        .copied()
}

/// Statements executed by one run of `body`.
pub(crate) fn work(body: &[Stmt]) -> u64 {
    body.iter()
        .map(|s| match s {
            Stmt::Loop { extent, body, .. } => (*extent as u64).saturating_mul(work(body)),
            Stmt::Let { .. } | Stmt::Store { .. } | Stmt::AccInit { .. } | Stmt::AccSet { .. } => 1,
        })
        .fold(0u64, u64::saturating_add)
}

/// Every value's and accumulator's type, by walking all `Let`s and
/// `AccInit`s.
pub(crate) fn collect_types(
    body: &[Stmt],
    tys: &mut HashMap<ValueId, ScalarType>,
    accs: &mut HashMap<AccId, ScalarType>,
) {
    for s in body {
        match s {
            Stmt::Loop { body, .. } => collect_types(body, tys, accs),
            Stmt::Let { value, ty, .. } => {
                tys.insert(*value, *ty);
            }
            Stmt::AccInit { acc, ty, .. } => {
                accs.insert(*acc, *ty);
            }
            Stmt::Store { .. } | Stmt::AccSet { .. } => {}
        }
    }
}

/// The lower and upper bound of a loop being emitted.
#[derive(Clone, Copy)]
pub(crate) enum Bound {
    /// Known when compiling.
    Static(i64),
    /// Only known at run time.
    Dynamic(Value),
}

/// Translates one kernel into the function being built.
pub(crate) struct KernelTranslator<'a, 'b> {
    pub(super) b: &'a mut FunctionBuilder<'b>,
    pub(super) kernel: &'a Kernel,
    /// Base address of each kernel buffer.
    pub(super) bases: Vec<Value>,
    pub(super) vals: HashMap<ValueId, Value>,
    pub(super) tys: HashMap<ValueId, ScalarType>,
    pub(super) acc_tys: HashMap<AccId, ScalarType>,
    pub(super) acc_vars: HashMap<AccId, Variable>,
    /// Induction variable of each enclosing loop.
    pub(super) loop_vals: HashMap<LoopId, Value>,
    /// The split loop and the function's `begin`/`end` parameters.
    pub(super) split: Option<(LoopId, Value, Value)>,
    /// Invariant part of each access of the innermost loop being emitted:
    /// `(buffer, index without the loop's term) → address`.
    pub(super) pre: HashMap<(BufId, Index), Value>,
    /// The innermost loop whose accesses `pre` holds.
    pub(super) pre_loop: Option<LoopId>,
    pub(super) fmod: [FuncRef; 2],
    /// The module the kernel goes into (the AVX-512 loops are defined in it).
    pub(super) module: &'a mut JITModule,
}

impl<'a, 'b> KernelTranslator<'a, 'b> {
    /// A translator for `kernel` (already hoisted) into `b`, whose entry
    /// block must be current and have the ABI's three parameters.
    pub(crate) fn new(
        b: &'a mut FunctionBuilder<'b>,
        kernel: &'a Kernel,
        entry: Block,
        split: Option<LoopId>,
        fmod: [FuncRef; 2],
        module: &'a mut JITModule,
    ) -> Self {
        let params = b.block_params(entry).to_vec();
        let table = params[0];
        let bases = (0..kernel.buffers.len())
            .map(|i| {
                let flags = MemFlagsData::trusted().with_readonly();
                b.ins().load(types::I64, flags, table, (8 * i) as i32)
            })
            .collect();
        let mut tys = HashMap::new();
        let mut acc_tys = HashMap::new();
        collect_types(&kernel.body, &mut tys, &mut acc_tys);
        KernelTranslator {
            b,
            kernel,
            bases,
            vals: HashMap::new(),
            tys,
            acc_tys,
            acc_vars: HashMap::new(),
            loop_vals: HashMap::new(),
            split: split.map(|l| (l, params[1], params[2])),
            pre: HashMap::new(),
            pre_loop: None,
            fmod,
            module,
        }
    }

    /// Emits the statements of a block.
    pub(crate) fn block(&mut self, stmts: &[Stmt]) -> Result<()> {
        for stmt in stmts {
            match stmt {
                Stmt::Loop {
                    id,
                    extent,
                    parallel: _,
                    body,
                } => self.lp(*id, *extent, body)?,
                Stmt::Let { value, ty, expr } => {
                    let v = self.expr(*ty, expr)?;
                    self.vals.insert(*value, v);
                }
                Stmt::Store { buf, index, value } => {
                    let addr = self.address(*buf, index)?;
                    let v = self.val(*value)?;
                    self.b.ins().store(mem_flags(), v, addr, 0);
                }
                Stmt::AccInit { acc, ty, init } => {
                    let var = self.acc_var(*acc, *ty);
                    let c = self.constant(*init);
                    self.b.def_var(var, c);
                }
                Stmt::AccSet { acc, value } => {
                    let ty = self.acc_ty(*acc)?;
                    let var = self.acc_var(*acc, ty);
                    let v = self.val(*value)?;
                    self.b.def_var(var, v);
                }
            }
        }
        Ok(())
    }

    pub(super) fn val(&self, v: ValueId) -> Result<Value> {
        self.vals.get(&v).copied().ok_or_else(|| {
            error(format!(
                "kernel {}: value v{} used before its definition",
                self.kernel.name, v.0
            ))
        })
    }

    pub(super) fn ty(&self, v: ValueId) -> Result<ScalarType> {
        self.tys.get(&v).copied().ok_or_else(|| {
            error(format!(
                "kernel {}: value v{} has no definition",
                self.kernel.name, v.0
            ))
        })
    }

    fn acc_ty(&self, acc: AccId) -> Result<ScalarType> {
        self.acc_tys.get(&acc).copied().ok_or_else(|| {
            error(format!(
                "kernel {}: accumulator acc{} is never initialised",
                self.kernel.name, acc.0
            ))
        })
    }

    pub(super) fn acc_var(&mut self, acc: AccId, ty: ScalarType) -> Variable {
        if let Some(v) = self.acc_vars.get(&acc) {
            return *v;
        }
        let var = self.b.declare_var(clif_type(ty));
        self.acc_vars.insert(acc, var);
        var
    }

    // ---- loops ------------------------------------------------------------

    fn lp(&mut self, id: LoopId, extent: usize, body: &[Stmt]) -> Result<()> {
        let (start, end) = match self.split {
            Some((l, begin, end)) if l == id => (Bound::Dynamic(begin), Bound::Dynamic(end)),
            _ => (Bound::Static(0), Bound::Static(extent as i64)),
        };
        let innermost = !body.iter().any(|s| matches!(s, Stmt::Loop { .. }));
        if !innermost {
            return self.counted_loop(id, start, end, body);
        }
        let saved = (std::mem::take(&mut self.pre), self.pre_loop.replace(id));
        self.precompute_addresses(id, body)?;
        let types = KernelTypes {
            kernel: self.kernel,
            tys: &self.tys,
            acc_tys: &self.acc_tys,
        };
        let result = match VectorPlan::analyze(&types, id, body) {
            Some(plan) => self.vector_loop(id, (start, end), extent, body, &plan),
            None => self.counted_loop(id, start, end, body),
        };
        (self.pre, self.pre_loop) = saved;
        result
    }

    pub(super) fn bound(&mut self, b: Bound) -> Value {
        match b {
            Bound::Static(n) => self.b.ins().iconst(types::I64, n),
            Bound::Dynamic(v) => v,
        }
    }

    /// `for id in start..end { body }`, rotated, step 1.
    pub(super) fn counted_loop(
        &mut self,
        id: LoopId,
        start: Bound,
        end: Bound,
        body: &[Stmt],
    ) -> Result<()> {
        if let (Bound::Static(s), Bound::Static(e)) = (start, end) {
            if s >= e {
                return Ok(());
            }
        }
        let (header, exit) = self.loop_entry(start, end);
        let iv = self.b.block_params(header)[0];
        self.loop_vals.insert(id, iv);
        self.block(body)?;
        self.loop_latch(header, exit, iv, 1, end);
        Ok(())
    }

    /// Starts a rotated loop: tests `start < end` when not statically
    /// known, jumps to the body block (whose parameter is the induction
    /// variable) and switches to it. Returns (body block, exit block).
    pub(super) fn loop_entry(&mut self, start: Bound, end: Bound) -> (Block, Block) {
        let header = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, types::I64);
        let s = self.bound(start);
        match (start, end) {
            (Bound::Static(_), Bound::Static(_)) => {
                self.b.ins().jump(header, &[s.into()]);
            }
            _ => {
                let e = self.bound(end);
                let c = self.b.ins().icmp(IntCC::SignedLessThan, s, e);
                self.b.ins().brif(c, header, &[s.into()], exit, &[]);
            }
        }
        self.b.switch_to_block(header);
        (header, exit)
    }

    /// Closes a rotated loop: `iv += step; if iv < end goto header`.
    pub(super) fn loop_latch(
        &mut self,
        header: Block,
        exit: Block,
        iv: Value,
        step: i64,
        end: Bound,
    ) {
        let next = self.b.ins().iadd_imm_s(iv, step);
        let e = self.bound(end);
        let c = self.b.ins().icmp(IntCC::SignedLessThan, next, e);
        self.b.ins().brif(c, header, &[next.into()], exit, &[]);
        self.b.seal_block(header);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
    }

    // ---- addresses --------------------------------------------------------

    /// For each load and store directly in the innermost loop `id` whose
    /// index does not depend on values computed inside the loop, computes
    /// the invariant part of its address here, in the preheader.
    fn precompute_addresses(&mut self, id: LoopId, body: &[Stmt]) -> Result<()> {
        let defined: HashSet<ValueId> = body
            .iter()
            .filter_map(|s| match s {
                Stmt::Let { value, .. } => Some(*value),
                _ => None,
            })
            .collect();
        for s in body {
            let (buf, index) = match s {
                Stmt::Let {
                    expr: Expr::Load { buf, index },
                    ..
                }
                | Stmt::Store { buf, index, .. } => (*buf, index),
                _ => continue,
            };
            if index.dynamic.is_some_and(|d| defined.contains(&d)) {
                continue;
            }
            let key = (buf, without_term(index, id));
            if !self.pre.contains_key(&key) {
                let addr = self.full_address(buf, &key.1)?;
                self.pre.insert(key, addr);
            }
        }
        Ok(())
    }

    /// The address of `buf[index]` at the current point.
    pub(super) fn address(&mut self, buf: BufId, index: &Index) -> Result<Value> {
        if let Some(l) = self.pre_loop {
            let key = (buf, without_term(index, l));
            if let Some(&pre) = self.pre.get(&key) {
                let coef = index.coefficient(l);
                if coef == 0 {
                    return Ok(pre);
                }
                let iv = self.loop_val(l)?;
                let size = self.elem_size(buf)?;
                let off = self.b.ins().imul_imm_s(iv, coef * size);
                return Ok(self.b.ins().iadd(pre, off));
            }
        }
        self.full_address(buf, index)
    }

    pub(super) fn loop_val(&self, l: LoopId) -> Result<Value> {
        self.loop_vals.get(&l).copied().ok_or_else(|| {
            error(format!(
                "kernel {}: index uses loop i{} outside it",
                self.kernel.name, l.0
            ))
        })
    }

    pub(super) fn elem_size(&self, buf: BufId) -> Result<i64> {
        let decl =
            self.kernel.buffers.get(buf.0 as usize).ok_or_else(|| {
                error(format!("kernel {}: no buffer b{}", self.kernel.name, buf.0))
            })?;
        Ok(elem_size(decl.dtype))
    }

    fn full_address(&mut self, buf: BufId, index: &Index) -> Result<Value> {
        let size = self.elem_size(buf)?;
        let base = self.bases[buf.0 as usize];
        let mut addr = base;
        if index.offset != 0 {
            addr = self.b.ins().iadd_imm_s(addr, index.offset * size);
        }
        for (l, c) in &index.terms {
            if *c == 0 {
                continue;
            }
            let iv = self.loop_val(*l)?;
            let off = self.b.ins().imul_imm_s(iv, c * size);
            addr = self.b.ins().iadd(addr, off);
        }
        if let Some(d) = index.dynamic {
            let dv = self.val(d)?;
            let off = self.b.ins().imul_imm_s(dv, size);
            addr = self.b.ins().iadd(addr, off);
        }
        Ok(addr)
    }

    // ---- scalar expressions -----------------------------------------------

    pub(super) fn constant(&mut self, c: Const) -> Value {
        let ins = self.b.ins();
        match c {
            Const::Scalar(Scalar::F32(x)) => ins.f32const(x),
            Const::Scalar(Scalar::F64(x)) => ins.f64const(x),
            Const::Scalar(Scalar::I32(x)) => ins.iconst(types::I32, i64::from(x as u32)),
            Const::Scalar(Scalar::U32(x)) => ins.iconst(types::I32, i64::from(x)),
            Const::Scalar(Scalar::Bool(x)) => ins.iconst(types::I8, i64::from(x)),
            Const::Index(x) => ins.iconst(types::I64, x),
        }
    }

    fn expr(&mut self, ty: ScalarType, expr: &Expr) -> Result<Value> {
        match expr {
            Expr::Const(c) => Ok(self.constant(*c)),
            Expr::LoopVar(l) => self.loop_val(*l),
            Expr::Load { buf, index } => {
                let addr = self.address(*buf, index)?;
                Ok(self.b.ins().load(clif_type(ty), mem_flags(), addr, 0))
            }
            Expr::Unary(op, a) => {
                let (x, t) = (self.val(*a)?, self.ty(*a)?);
                self.unary(*op, t, x)
            }
            Expr::Binary(op, a, c) => {
                let (x, y, t) = (self.val(*a)?, self.val(*c)?, self.ty(*a)?);
                self.binary(*op, t, x, y)
            }
            Expr::Fma(a, c, d) => {
                let (x, y, z) = (self.val(*a)?, self.val(*c)?, self.val(*d)?);
                Ok(if ty.is_float() {
                    self.b.ins().fma(x, y, z)
                } else {
                    let p = self.b.ins().imul(x, y);
                    self.b.ins().iadd(p, z)
                })
            }
            Expr::Select(c, a, d) => {
                let (c, x, y) = (self.val(*c)?, self.val(*a)?, self.val(*d)?);
                Ok(self.b.ins().select(c, x, y))
            }
            Expr::Convert(to, a) => {
                let (x, from) = (self.val(*a)?, self.ty(*a)?);
                Ok(self.convert(from, *to, x))
            }
            Expr::Bitcast(to, a) => {
                let (x, from) = (self.val(*a)?, self.ty(*a)?);
                if clif_type(from).bits() != clif_type(*to).bits() || from == ScalarType::Bool {
                    return Err(error(format!(
                        "kernel {}: cannot bitcast {from:?} to {to:?}",
                        self.kernel.name
                    )));
                }
                Ok(if clif_type(from) == clif_type(*to) {
                    x
                } else {
                    self.b.ins().bitcast(clif_type(*to), MemFlagsData::new(), x)
                })
            }
            Expr::AccRead(acc) => {
                let t = self.acc_ty(*acc)?;
                let var = self.acc_var(*acc, t);
                Ok(self.b.use_var(var))
            }
        }
    }

    fn float_const(&mut self, t: Type, x: f64) -> Value {
        if t == types::F32 {
            self.b.ins().f32const(x as f32)
        } else {
            self.b.ins().f64const(x)
        }
    }

    fn unary(&mut self, op: UnaryOp, t: ScalarType, x: Value) -> Result<Value> {
        use UnaryOp as U;
        let ct = clif_type(t);
        let float = t.is_float();
        let unsupported = |what: &str| {
            error(format!(
                "kernel {}: {what} {op:?} on {t:?}",
                self.kernel.name
            ))
        };
        Ok(match op {
            U::Neg if float => self.b.ins().fneg(x),
            U::Neg => self.b.ins().ineg(x),
            U::Abs if float => self.b.ins().fabs(x),
            U::Abs if t == ScalarType::U32 || t == ScalarType::Bool => x,
            U::Abs => self.b.ins().iabs(x),
            U::Sign if float => {
                let zero = self.float_const(ct, 0.0);
                let one = self.float_const(ct, 1.0);
                let minus = self.float_const(ct, -1.0);
                let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let neg = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                let r = self.b.ins().select(neg, minus, x);
                self.b.ins().select(pos, one, r)
            }
            U::Sign if t == ScalarType::Bool => x,
            U::Sign if t == ScalarType::U32 => {
                let one = self.b.ins().iconst(ct, 1);
                self.b.ins().umin(x, one)
            }
            U::Sign => {
                let minus = self.b.ins().iconst(
                    ct,
                    if ct == types::I64 {
                        -1
                    } else {
                        i64::from(u32::MAX)
                    },
                );
                let one = self.b.ins().iconst(ct, 1);
                let lo = self.b.ins().smax(x, minus);
                self.b.ins().smin(lo, one)
            }
            U::Sqrt if float => self.b.ins().sqrt(x),
            U::Rsqrt if float => {
                let one = self.float_const(ct, 1.0);
                let s = self.b.ins().sqrt(x);
                self.b.ins().fdiv(one, s)
            }
            U::Floor if float => self.b.ins().floor(x),
            U::Ceil if float => self.b.ins().ceil(x),
            U::Trunc if float => self.b.ins().trunc(x),
            U::Round if float => {
                // |x - trunc(x)| >= 0.5 ? trunc(x) + copysign(1, x) : trunc(x);
                // x - trunc(x) is exact, so this rounds half away from zero
                // (and keeps the sign of -0.4 -> -0).
                let t0 = self.b.ins().trunc(x);
                let d = self.b.ins().fsub(x, t0);
                let ad = self.b.ins().fabs(d);
                let half = self.float_const(ct, 0.5);
                let up = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, ad, half);
                let one = self.float_const(ct, 1.0);
                let sgn = self.b.ins().fcopysign(one, x);
                let away = self.b.ins().fadd(t0, sgn);
                self.b.ins().select(up, away, t0)
            }
            U::Floor | U::Ceil | U::Trunc | U::Round => x,
            U::Not if t == ScalarType::Bool => self.b.ins().bxor_imm_u(x, 1),
            U::Not if !float => self.b.ins().bnot(x),
            U::IsFinite if float => {
                let ax = self.b.ins().fabs(x);
                let inf = self.float_const(ct, f64::INFINITY);
                self.b.ins().fcmp(FloatCC::LessThan, ax, inf)
            }
            U::Sqrt | U::Rsqrt | U::Not | U::IsFinite => return Err(unsupported("cannot apply")),
            U::Exp
            | U::Log
            | U::Log1p
            | U::Expm1
            | U::Sin
            | U::Cos
            | U::Tanh
            | U::Logistic
            | U::Erf => {
                return Err(unsupported(
                    "transcendental operation reached the backend (math::expand must rewrite it):",
                ))
            }
        })
    }

    fn binary(&mut self, op: BinaryOp, t: ScalarType, x: Value, y: Value) -> Result<Value> {
        use BinaryOp as B;
        let float = t.is_float();
        let unsigned = matches!(t, ScalarType::U32 | ScalarType::Bool);
        let cmp_i = |signed: IntCC, uns: IntCC| if unsigned { uns } else { signed };
        Ok(match op {
            B::Add if float => self.b.ins().fadd(x, y),
            B::Add => self.b.ins().iadd(x, y),
            B::Sub if float => self.b.ins().fsub(x, y),
            B::Sub => self.b.ins().isub(x, y),
            B::Mul if float => self.b.ins().fmul(x, y),
            B::Mul => self.b.ins().imul(x, y),
            B::Div if float => self.b.ins().fdiv(x, y),
            B::Div => self.int_div_rem(t, x, y, false),
            B::Rem if float => {
                let f = self.fmod[usize::from(t == ScalarType::F64)];
                let call = self.b.ins().call(f, &[x, y]);
                self.b.inst_results(call)[0]
            }
            B::Rem => self.int_div_rem(t, x, y, true),
            B::Pow => {
                return Err(error(format!(
                    "kernel {}: pow reached the backend (math::expand must rewrite it)",
                    self.kernel.name
                )))
            }
            B::Max if float => self.b.ins().fmax(x, y),
            B::Max if unsigned => self.b.ins().umax(x, y),
            B::Max => self.b.ins().smax(x, y),
            B::Min if float => self.b.ins().fmin(x, y),
            B::Min if unsigned => self.b.ins().umin(x, y),
            B::Min => self.b.ins().smin(x, y),
            B::And => self.b.ins().band(x, y),
            B::Or => self.b.ins().bor(x, y),
            B::Xor => self.b.ins().bxor(x, y),
            B::Shl => self.b.ins().ishl(x, y),
            B::ShrLogical => self.b.ins().ushr(x, y),
            B::ShrArith => self.b.ins().sshr(x, y),
            B::Eq if float => self.b.ins().fcmp(FloatCC::Equal, x, y),
            B::Eq => self.b.ins().icmp(IntCC::Equal, x, y),
            B::Ne if float => self.b.ins().fcmp(FloatCC::NotEqual, x, y),
            B::Ne => self.b.ins().icmp(IntCC::NotEqual, x, y),
            B::Lt if float => self.b.ins().fcmp(FloatCC::LessThan, x, y),
            B::Lt => self
                .b
                .ins()
                .icmp(cmp_i(IntCC::SignedLessThan, IntCC::UnsignedLessThan), x, y),
            B::Le if float => self.b.ins().fcmp(FloatCC::LessThanOrEqual, x, y),
            B::Le => self.b.ins().icmp(
                cmp_i(IntCC::SignedLessThanOrEqual, IntCC::UnsignedLessThanOrEqual),
                x,
                y,
            ),
            B::Gt if float => self.b.ins().fcmp(FloatCC::GreaterThan, x, y),
            B::Gt => self.b.ins().icmp(
                cmp_i(IntCC::SignedGreaterThan, IntCC::UnsignedGreaterThan),
                x,
                y,
            ),
            B::Ge if float => self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, y),
            B::Ge => self.b.ins().icmp(
                cmp_i(
                    IntCC::SignedGreaterThanOrEqual,
                    IntCC::UnsignedGreaterThanOrEqual,
                ),
                x,
                y,
            ),
        })
    }

    /// Integer `x / y` or `x % y` that never traps: by zero gives 0, and
    /// the signed `MIN / -1` wraps (its remainder is 0).
    fn int_div_rem(&mut self, t: ScalarType, x: Value, y: Value, rem: bool) -> Value {
        let ct = clif_type(t);
        let zero = self.b.ins().iconst(ct, 0);
        let one = self.b.ins().iconst(ct, 1);
        let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        if matches!(t, ScalarType::U32 | ScalarType::Bool) {
            let safe = self.b.ins().select(is_zero, one, y);
            let r = if rem {
                self.b.ins().urem(x, safe)
            } else {
                self.b.ins().udiv(x, safe)
            };
            return self.b.ins().select(is_zero, zero, r);
        }
        let is_m1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
        let bad = self.b.ins().bor(is_zero, is_m1);
        let safe = self.b.ins().select(bad, one, y);
        if rem {
            // x % 1 == 0, x % -1 == 0 and x % 0 is defined as 0.
            return self.b.ins().srem(x, safe);
        }
        let q = self.b.ins().sdiv(x, safe);
        let neg = self.b.ins().ineg(x);
        let q = self.b.ins().select(is_m1, neg, q);
        self.b.ins().select(is_zero, zero, q)
    }

    /// `convert_element_type` semantics: float → integer truncates and
    /// saturates (NaN gives 0), anything → bool is `!= 0`, bool → number is
    /// 0 or 1, `Index` converts like a 64-bit signed integer.
    pub(super) fn convert(&mut self, from: ScalarType, to: ScalarType, x: Value) -> Value {
        use ScalarType as S;
        let (cf, ct) = (clif_type(from), clif_type(to));
        if from == to {
            return x;
        }
        let ins = self.b.ins();
        match (from, to) {
            (S::F32 | S::F64, S::F32 | S::F64) => {
                if ct.bits() > cf.bits() {
                    ins.fpromote(ct, x)
                } else {
                    ins.fdemote(ct, x)
                }
            }
            (S::F32 | S::F64, S::I32 | S::Index) => ins.fcvt_to_sint_sat(ct, x),
            (S::F32 | S::F64, S::U32) => ins.fcvt_to_uint_sat(ct, x),
            (S::F32 | S::F64, S::Bool) => {
                let zero = if cf == types::F32 {
                    ins.f32const(0.0)
                } else {
                    self.b.ins().f64const(0.0)
                };
                self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
            }
            (S::I32 | S::Index, S::F32 | S::F64) => ins.fcvt_from_sint(ct, x),
            (S::U32, S::F32 | S::F64) => ins.fcvt_from_uint(ct, x),
            (S::Bool, S::F32 | S::F64) => {
                let w = ins.uextend(types::I32, x);
                self.b.ins().fcvt_from_sint(ct, w)
            }
            (S::I32 | S::U32 | S::Index, S::Bool) => ins.icmp_imm_s(IntCC::NotEqual, x, 0),
            (S::I32, S::Index) => ins.sextend(ct, x),
            (S::U32 | S::Bool, S::Index) | (S::Bool, S::I32 | S::U32) => ins.uextend(ct, x),
            (S::Index, S::I32 | S::U32) => ins.ireduce(ct, x),
            (S::I32 | S::U32 | S::Bool | S::Index, S::I32 | S::U32 | S::Bool | S::Index) => x,
        }
    }
}

/// `index` without its term for loop `l`.
pub(super) fn without_term(index: &Index, l: LoopId) -> Index {
    Index {
        offset: index.offset,
        terms: index
            .terms
            .iter()
            .filter(|(lp, c)| *lp != l && *c != 0)
            .copied()
            .collect(),
        dynamic: index.dynamic,
    }
}
