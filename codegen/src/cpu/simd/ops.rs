//! Vector lowering of single operations for the vectorised loops of
//! [`super`]: splats, reduction identities and combiners, and one
//! exhaustive `match` per `Expr`, `UnaryOp` and `BinaryOp` over f32x4,
//! i32x4, f64x2 and lane masks (bools that vary are all-ones/all-zeros
//! lanes of the loop's lane width).

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, Endianness, InstBuilder, InstructionData, MemFlagsData, Opcode, Value, ValueDef,
};
use cranelift_frontend::Variable;
use rjax_ir::Result;

use super::{ReduceOp, VectorPlan};
use crate::cpu::env::error;
use crate::cpu::translate::{mem_flags, KernelTranslator};
use crate::kernel::{AccId, BinaryOp, Expr, ScalarType, UnaryOp, ValueId};

pub(super) fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl KernelTranslator<'_, '_> {
    pub(super) fn splat(&mut self, plan: &VectorPlan, ty: ScalarType, x: Value) -> Value {
        if ty == ScalarType::Bool {
            let lane = plan.mask_type().lane_type();
            let wide = self.b.ins().uextend(lane, x);
            let m = self.b.ins().ineg(wide);
            return self.b.ins().splat(plan.mask_type(), m);
        }
        self.b.ins().splat(plan.vtype(ty), x)
    }

    pub(super) fn identity(&mut self, ty: ScalarType, op: ReduceOp) -> Value {
        let ins = self.b.ins();
        match (ty, op) {
            (ScalarType::F32, ReduceOp::Sum) => ins.f32const(-0.0),
            (ScalarType::F32, ReduceOp::Prod) => ins.f32const(1.0),
            (ScalarType::F32, ReduceOp::Max) => ins.f32const(f32::NEG_INFINITY),
            (ScalarType::F32, ReduceOp::Min) => ins.f32const(f32::INFINITY),
            (ScalarType::F64, ReduceOp::Sum) => ins.f64const(-0.0),
            (ScalarType::F64, ReduceOp::Prod) => ins.f64const(1.0),
            (ScalarType::F64, ReduceOp::Max) => ins.f64const(f64::NEG_INFINITY),
            (ScalarType::F64, ReduceOp::Min) => ins.f64const(f64::INFINITY),
            (_, ReduceOp::Sum) => ins.iconst(types::I32, 0),
            (_, ReduceOp::Prod) => ins.iconst(types::I32, 1),
            (ScalarType::U32, ReduceOp::Max) => ins.iconst(types::I32, 0),
            (ScalarType::U32, ReduceOp::Min) => ins.iconst(types::I32, i64::from(u32::MAX)),
            (_, ReduceOp::Max) => ins.iconst(types::I32, i64::from(i32::MIN as u32)),
            (_, ReduceOp::Min) => ins.iconst(types::I32, i64::from(i32::MAX as u32)),
        }
    }

    /// Combines two partial results (scalars or vectors) of a reduction.
    pub(super) fn red_op(&mut self, op: ReduceOp, ty: ScalarType, a: Value, b: Value) -> Value {
        let float = ty.is_float();
        let ins = self.b.ins();
        match op {
            ReduceOp::Sum if float => ins.fadd(a, b),
            ReduceOp::Sum => ins.iadd(a, b),
            ReduceOp::Prod if float => ins.fmul(a, b),
            ReduceOp::Prod => ins.imul(a, b),
            ReduceOp::Max if float => ins.fmax(a, b),
            ReduceOp::Max if ty == ScalarType::U32 => ins.umax(a, b),
            ReduceOp::Max => ins.smax(a, b),
            ReduceOp::Min if float => ins.fmin(a, b),
            ReduceOp::Min if ty == ScalarType::U32 => ins.umin(a, b),
            ReduceOp::Min => ins.smin(a, b),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn vexpr(
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
            Expr::Const(_) | Expr::LoopVar(_) => {
                Err(error("internal error: invariant value in the vector body"))
            }
            Expr::Load { buf, index } => {
                let (addr, stride) = self.strided_address(*buf, index, plan.id)?;
                let size = self.elem_size(*buf)?;
                if stride != size {
                    return Ok(self.gather_load(plan, ty, addr, u, stride));
                }
                Ok(self.b.ins().load(
                    plan.vtype(ty),
                    mem_flags(),
                    addr,
                    (u as i64 * plan.lanes * size) as i32,
                ))
            }
            Expr::Unary(o, a) => {
                let (x, t) = (op(a)?, self.ty(*a)?);
                self.vunary(plan, *o, t, x)
            }
            Expr::Binary(o, a, b) => {
                // A shift amount is an invariant scalar (taken modulo 32,
                // as the scalar shifts do).
                let shift = matches!(o, BinaryOp::Shl | BinaryOp::ShrLogical | BinaryOp::ShrArith);
                let y = if shift { self.val(*b)? } else { op(b)? };
                let (x, t) = (op(a)?, self.ty(*a)?);
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
                let m = if vt == plan.mask_type() {
                    m
                } else {
                    self.b.ins().bitcast(vt, vector_flags(), m)
                };
                Ok(self.b.ins().bitselect(m, x, y))
            }
            Expr::Convert(_, a) if plan.iotas.contains(a) => self.iota(plan, plan.id, u),
            Expr::Convert(to, a) => {
                let (x, from) = (op(a)?, self.ty(*a)?);
                self.vconvert(plan, from, *to, x)
            }
            Expr::Bitcast(to, a) => {
                let x = op(a)?;
                Ok(self.b.ins().bitcast(plan.vtype(*to), vector_flags(), x))
            }
            Expr::AccRead(acc) => {
                let vars = accs
                    .get(acc)
                    .ok_or_else(|| error("internal error: vector accumulator missing"))?;
                Ok(self.b.use_var(vars[u]))
            }
        }
    }

    fn vconst(&mut self, plan: &VectorPlan, ty: ScalarType, x: f64) -> Value {
        let s = match ty {
            ScalarType::F32 => self.b.ins().f32const(x as f32),
            ScalarType::F64 => self.b.ins().f64const(x),
            ScalarType::I32 | ScalarType::U32 => {
                self.b.ins().iconst(types::I32, i64::from(x as i32 as u32))
            }
            ScalarType::Bool | ScalarType::Index => {
                self.b.ins().iconst(plan.mask_type().lane_type(), x as i64)
            }
        };
        self.b.ins().splat(plan.vtype(ty), s)
    }

    fn as_mask(&mut self, plan: &VectorPlan, m: Value) -> Value {
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
                let away = self.b.ins().fadd(t0, sgn);
                self.b.ins().bitselect(up, away, t0)
            }
            U::Not => self.b.ins().bnot(x),
            U::IsFinite => {
                let ax = self.b.ins().fabs(x);
                let inf = self.vconst(plan, t, f64::INFINITY);
                let m = self.b.ins().fcmp(FloatCC::LessThan, ax, inf);
                self.as_mask(plan, m)
            }
            U::Exp
            | U::Log
            | U::Log1p
            | U::Expm1
            | U::Sin
            | U::Cos
            | U::Tanh
            | U::Logistic
            | U::Erf => return Err(error(format!("internal error: {op:?} in a vector loop"))),
        })
    }

    /// The value of `v` when it is a splat of a float constant.
    fn splat_const(&self, v: Value) -> Option<f64> {
        let dfg = &self.b.func.dfg;
        let ValueDef::Result(inst, _) = dfg.value_def(v) else {
            return None;
        };
        let InstructionData::Unary {
            opcode: Opcode::Splat,
            arg,
        } = dfg.insts[inst]
        else {
            return None;
        };
        let ValueDef::Result(inst, _) = dfg.value_def(arg) else {
            return None;
        };
        match dfg.insts[inst] {
            InstructionData::UnaryIeee32 {
                opcode: Opcode::F32const,
                imm,
            } => Some(f64::from(f32::from_bits(imm.bits()))),
            InstructionData::UnaryIeee64 {
                opcode: Opcode::F64const,
                imm,
            } => Some(f64::from_bits(imm.bits())),
            _ => None,
        }
    }

    /// Float `min(x, y)` (or `max`) on vectors, NaN if either is NaN.
    ///
    /// Cranelift's `fmin`/`fmax` cost about seven instructions each on x86
    /// (NaN and signed-zero fix-ups). When one operand is a splat of a
    /// constant that is not NaN (the clamps of the expanded
    /// transcendentals), the select `c < v ? c : v` (`v < c ? c : v` for
    /// max) is exact: a NaN `v` fails the comparison and comes through, and
    /// `v == c` has a single bit pattern unless `c` is a zero, of which only
    /// `+0` for min and `-0` for max qualify. Cranelift matches that select
    /// to one `minps`/`maxps`.
    fn vminmax(&mut self, min: bool, x: Value, y: Value) -> Value {
        // A zero works where `v == c` returns the right zero: `+0` for min
        // (`v = -0` comes through), `-0` for max (`v = +0` comes through).
        let usable = |c: Option<f64>| {
            c.is_some_and(|c| !c.is_nan() && (c != 0.0 || c.is_sign_negative() != min))
        };
        let (c, v) = if usable(self.splat_const(y)) {
            (y, x)
        } else if usable(self.splat_const(x)) {
            (x, y)
        } else if min {
            return self.b.ins().fmin(x, y);
        } else {
            return self.b.ins().fmax(x, y);
        };
        let vt = self.b.func.dfg.value_type(v);
        let m = if min {
            self.b.ins().fcmp(FloatCC::LessThan, c, v)
        } else {
            self.b.ins().fcmp(FloatCC::LessThan, v, c)
        };
        let m = self.b.ins().bitcast(vt, vector_flags(), m);
        self.b.ins().bitselect(m, c, v)
    }

    /// `x op y` on vectors; for shifts `y` is the (invariant) scalar amount.
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
            B::Max | B::Min if float => return Ok(self.vminmax(op == B::Min, x, y)),
            B::Max if unsigned => ins.umax(x, y),
            B::Max => ins.smax(x, y),
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
            B::Le => ins.icmp(
                icc(IntCC::SignedLessThanOrEqual, IntCC::UnsignedLessThanOrEqual),
                x,
                y,
            ),
            B::Gt if float => ins.fcmp(FloatCC::GreaterThan, x, y),
            B::Gt => ins.icmp(
                icc(IntCC::SignedGreaterThan, IntCC::UnsignedGreaterThan),
                x,
                y,
            ),
            B::Ge if float => ins.fcmp(FloatCC::GreaterThanOrEqual, x, y),
            B::Ge => ins.icmp(
                icc(
                    IntCC::SignedGreaterThanOrEqual,
                    IntCC::UnsignedGreaterThanOrEqual,
                ),
                x,
                y,
            ),
            B::Shl => ins.ishl(x, y),
            B::ShrLogical => ins.ushr(x, y),
            B::ShrArith => ins.sshr(x, y),
            B::Rem | B::Pow => {
                return Err(error(format!("internal error: {op:?} in a vector loop")))
            }
        })
    }

    fn vconvert(
        &mut self,
        plan: &VectorPlan,
        from: ScalarType,
        to: ScalarType,
        x: Value,
    ) -> Result<Value> {
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
                self.as_mask(plan, m)
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
            (
                S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index,
                S::F32 | S::F64 | S::I32 | S::U32 | S::Bool | S::Index,
            ) => {
                return Err(error(format!(
                    "internal error: vector convert {from:?} -> {to:?}"
                )))
            }
        })
    }
}

/// The vector for `v`: computed in this copy of the body, or splatted.
pub(super) fn vop(
    vals: &HashMap<ValueId, Value>,
    splats: &HashMap<ValueId, Value>,
    v: ValueId,
) -> Result<Value> {
    vals.get(&v)
        .or_else(|| splats.get(&v))
        .copied()
        .ok_or_else(|| {
            error(format!(
                "internal error: v{} missing in the vector body",
                v.0
            ))
        })
}
