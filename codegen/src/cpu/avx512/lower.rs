//! AVX-512 instruction selection for each operation of the body: one
//! exhaustive `match` per operation kind over the 32-bit lane types, with
//! the semantics of `kernel_interp` (see `simd::ops` for the 128-bit
//! counterpart). Anything outside the table fails the lowering.
//!
//! Notable sequences:
//!
//! - float `Max`/`Min`: `vrangeps` (`max(-0, +0) = +0`,
//!   `min(-0, +0) = -0`, but not NaN for a NaN operand), then the
//!   lanes where either operand is NaN set to `x + y` (a NaN): the
//!   interpreter's `max_nan`/`min_nan`; with a constant that allows it
//!   (the clamps of the expanded transcendentals), one `vminps`/`vmaxps`
//!   with the constant first (see `Gen::clamp_constant`);
//! - `Round` (half away from zero): `trunc(x + copysign(0.5 - 2^-25, x))`
//!   (the sum is exact or rounds to the right side of every integer);
//! - float to `I32`: NaN lanes zeroed by a zero-masked `vcvttps2dq`, lanes
//!   `>= 2^31` set to `i32::MAX` (below `-2^31` the instruction's
//!   `0x8000_0000` is already the saturated value); float to `U32`: lanes
//!   not `>= 0` (negative or NaN) zeroed, `vcvttps2udq` saturates the rest;
//! - bools come out of compares in a mask register and are expanded to
//!   all-ones lanes (`vpmovm2d`) unless only nearby selects use them.

use iced_x86::code_asm::*;

use super::emit::{masked, no, rm, Gen, Src, CMP_UNORD_Q, K, R, RANGE_MAX, RANGE_MIN};
use super::{Op, Operand, Vreg};
use crate::kernel::{BinaryOp, ScalarType, UnaryOp};

/// The `f32` sign bit.
const SIGN: u32 = 0x8000_0000;
/// `1.0f32`.
const ONE: u32 = 0x3F80_0000;

/// `vcmpps` predicates (quiet).
mod cmp {
    pub const EQ_OQ: i32 = 0x00;
    pub const LT_OQ: i32 = 0x11;
    pub const LE_OQ: i32 = 0x12;
    pub const NEQ_UQ: i32 = 0x04;
    pub const ORD_Q: i32 = 0x07;
    pub const GE_OQ: i32 = 0x1D;
    pub const GT_OQ: i32 = 0x1E;
}

/// `vpcmpd`/`vpcmpud` predicates.
mod icmp {
    pub const EQ: i32 = 0;
    pub const LT: i32 = 1;
    pub const LE: i32 = 2;
    pub const NE: i32 = 4;
    pub const GE: i32 = 5;
    pub const GT: i32 = 6;
}

/// `vfpclassps` categories.
mod class {
    pub const QNAN: i32 = 0x01;
    pub const POS_ZERO: i32 = 0x02;
    pub const NEG_ZERO: i32 = 0x04;
    pub const POS_INF: i32 = 0x08;
    pub const NEG_INF: i32 = 0x10;
    pub const SNAN: i32 = 0x80;
}

/// The `vcmpps` and `vpcmpd`/`vpcmpud` predicates of a comparison, or
/// `None` for other operations.
fn predicates(op: BinaryOp) -> Option<(i32, i32)> {
    use BinaryOp as B;
    match op {
        B::Eq => Some((cmp::EQ_OQ, icmp::EQ)),
        B::Ne => Some((cmp::NEQ_UQ, icmp::NE)),
        B::Lt => Some((cmp::LT_OQ, icmp::LT)),
        B::Le => Some((cmp::LE_OQ, icmp::LE)),
        B::Gt => Some((cmp::GT_OQ, icmp::GT)),
        B::Ge => Some((cmp::GE_OQ, icmp::GE)),
        B::Add
        | B::Sub
        | B::Mul
        | B::Div
        | B::Rem
        | B::Pow
        | B::Max
        | B::Min
        | B::And
        | B::Or
        | B::Xor
        | B::Shl
        | B::ShrLogical
        | B::ShrArith => None,
    }
}

impl Gen<'_> {
    /// Emits one (live) operation.
    pub(super) fn op(&mut self, op: &Op) -> R<()> {
        match op {
            Op::Load { dst, ptr } => {
                let m = self.elems(*ptr)?;
                let d = self.dst(*dst)?;
                self.a.vmovups(d.k1().z(), m)?;
            }
            Op::Store { ptr, src } => {
                let r = self.reg(*src)?;
                let m = self.elems(*ptr)?;
                self.a.vmovups(m.k1(), r)?;
            }
            Op::Unary { dst, op, ty, x } => self.unary(*dst, *op, *ty, *x)?,
            Op::Binary { dst, op, ty, x, y } => self.binary(*dst, *op, *ty, *x, *y)?,
            Op::Fma { dst, ty, a, b, c } => self.fma(*dst, *ty, *a, *b, *c)?,
            Op::Select {
                dst,
                cond,
                on_true,
                on_false,
            } => {
                let k = self.cond_k(*cond)?;
                let f = self.reg(*on_false)?;
                let t = self.src(*on_true)?;
                let d = self.dst(*dst)?;
                let dk = masked(d, k);
                rm!(self.a, vpblendmd(dk, f; t))?;
            }
            Op::Convert { dst, from, to, x } => self.convert(*dst, *from, *to, *x)?,
            Op::Bitcast { dst, x } => self.copy(*dst, *x)?,
            Op::Reduce { acc, x } => self.reduce(*acc, *x)?,
        }
        Ok(())
    }

    /// `v = op x` for operand type `ty`.
    fn unary(&mut self, v: Vreg, op: UnaryOp, ty: ScalarType, x: Operand) -> R<()> {
        use ScalarType as S;
        use UnaryOp as U;
        let float = ty == S::F32;
        let int = matches!(ty, S::I32 | S::U32);
        match op {
            U::Neg | U::Abs if float => {
                let (bits, xr) = (if op == U::Neg { SIGN } else { !SIGN }, self.reg(x)?);
                let c = self.cst(bits)?;
                let d = self.dst(v)?;
                if op == U::Neg {
                    rm!(self.a, vpxord(d, xr; c))?;
                } else {
                    rm!(self.a, vpandd(d, xr; c))?;
                }
            }
            U::Neg if int => {
                let s = self.src(x)?;
                let d = self.dst(v)?;
                self.a.vpxord(d, d, d)?;
                rm!(self.a, vpsubd(d, d; s))?;
            }
            U::Abs if ty == S::I32 => {
                let s = self.src(x)?;
                let d = self.dst(v)?;
                rm!(self.a, vpabsd(d; s))?;
            }
            U::Abs if ty == S::U32 => self.copy(v, x)?,
            U::Sign if float => {
                // (x & sign) | 1.0, except ±0 and NaN, which stay x.
                let xr = self.reg(x)?;
                let (sign, one) = (self.cst(SIGN)?, self.cst(ONE)?);
                let d = self.dst(v)?;
                rm!(self.a, vpandd(d, xr; sign))?;
                rm!(self.a, vpord(d, d; one))?;
                let keep = class::QNAN | class::SNAN | class::POS_ZERO | class::NEG_ZERO;
                self.a.vfpclassps(k2, xr, keep)?;
                self.a.vmovaps(d.k2(), xr)?;
            }
            U::Sign if ty == S::I32 => {
                let xr = self.reg(x)?;
                let (m1, p1) = (self.cst(u32::MAX)?, self.cst(1)?);
                let d = self.dst(v)?;
                rm!(self.a, vpmaxsd(d, xr; m1))?;
                rm!(self.a, vpminsd(d, d; p1))?;
            }
            U::Sign if ty == S::U32 => {
                let xr = self.reg(x)?;
                let p1 = self.cst(1)?;
                let d = self.dst(v)?;
                rm!(self.a, vpminud(d, xr; p1))?;
            }
            U::Sqrt if float => {
                let s = self.src(x)?;
                let d = self.dst(v)?;
                rm!(self.a, vsqrtps(d; s))?;
            }
            U::Rsqrt if float => {
                let s = self.src(x)?;
                let one = self.cst_reg(ONE)?;
                let d = self.dst(v)?;
                rm!(self.a, vsqrtps(d; s))?;
                self.a.vdivps(d, one, d)?;
            }
            // Rounding mode from the immediate, precision exception
            // suppressed (bit 3).
            U::Floor if float => self.rndscale(v, x, 0x09)?,
            U::Ceil if float => self.rndscale(v, x, 0x0A)?,
            U::Trunc if float => self.rndscale(v, x, 0x0B)?,
            U::Round if float => {
                let xr = self.reg(x)?;
                let (sign, half) = (self.cst(SIGN)?, self.cst(0x3EFF_FFFF)?);
                let d = self.dst(v)?;
                rm!(self.a, vpandd(d, xr; sign))?;
                rm!(self.a, vpord(d, d; half))?;
                self.a.vaddps(d, d, xr)?;
                self.a.vrndscaleps(d, d, 0x0B)?;
            }
            U::IsFinite if float => {
                let s = self.src(x)?;
                let k = self.bool_k(v);
                let bad = class::QNAN | class::SNAN | class::POS_INF | class::NEG_INF;
                rm!(self.a, vfpclassps(K[k as usize]; s; bad))?;
                self.a.knotw(K[k as usize], K[k as usize])?;
                self.bool_done(v, k)?;
            }
            U::Not if int || ty == S::Bool => {
                let xr = self.reg(x)?;
                let d = self.dst(v)?;
                // ternary logic: result = !B.
                self.a.vpternlogd(d, xr, xr, 0x33)?;
            }
            U::Neg
            | U::Abs
            | U::Sign
            | U::Sqrt
            | U::Rsqrt
            | U::Floor
            | U::Ceil
            | U::Trunc
            | U::Round
            | U::IsFinite
            | U::Not
            | U::Exp
            | U::Log
            | U::Log1p
            | U::Expm1
            | U::Sin
            | U::Cos
            | U::Tanh
            | U::Logistic
            | U::Erf => return no(),
        }
        Ok(())
    }

    /// The two sources of a binary instruction: the first in a register,
    /// the second a register or a broadcast; swapped when only the first
    /// is a scalar and the operation commutes.
    fn pair(&mut self, x: Operand, y: Operand, commutes: bool) -> R<(AsmRegisterZmm, Src)> {
        let (x, y) = match (x, y) {
            (Operand::Scalar(_), Operand::Value(_)) if commutes => (y, x),
            _ => (x, y),
        };
        let xr = self.reg(x)?;
        let ys = self.src(y)?;
        Ok((xr, ys))
    }

    /// For a float `min` (or `max`) with a constant `c` known when
    /// compiling: `(c, other operand)` when `vminps d, c, v` (`c < v ? c :
    /// v`; `vmaxps`: `c > v ? c : v`) is exact: `c` is not NaN, so a NaN `v`
    /// comes through, and `v == c` has one bit pattern unless `c` is a
    /// zero, of which only `+0` for min and `-0` for max give the right
    /// zero back (`min(-0, +0) = -0`, `max(+0, -0) = +0`).
    fn clamp_constant(&self, min: bool, x: Operand, y: Operand) -> Option<(Operand, Operand)> {
        let usable = |o: Operand| match o {
            Operand::Scalar(s) => self.known_scalar(s).is_some_and(|bits| {
                let c = f32::from_bits(bits);
                !c.is_nan() && (c != 0.0 || c.is_sign_negative() != min)
            }),
            Operand::Value(_) => false,
        };
        if usable(y) {
            Some((y, x))
        } else if usable(x) {
            Some((x, y))
        } else {
            None
        }
    }

    /// `v = x op y` for operand type `ty` (comparisons give bools).
    fn binary(&mut self, v: Vreg, op: BinaryOp, ty: ScalarType, x: Operand, y: Operand) -> R<()> {
        use BinaryOp as B;
        use ScalarType as S;
        let float = ty == S::F32;
        let int = matches!(ty, S::I32 | S::U32);
        let unsigned = ty == S::U32;
        let commutes = matches!(
            op,
            B::Add | B::Mul | B::Max | B::Min | B::And | B::Or | B::Xor
        );
        let cmp = predicates(op).is_some();
        let valid = match op {
            B::Add | B::Sub | B::Mul | B::Max | B::Min => float || int,
            B::Div => float,
            B::And | B::Or | B::Xor | B::Eq | B::Ne => int || ty == S::Bool || (float && cmp),
            B::Lt | B::Le | B::Gt | B::Ge => float || int,
            B::Shl | B::ShrLogical | B::ShrArith => int,
            B::Rem | B::Pow => false,
        };
        if !valid {
            return no();
        }
        if matches!(op, B::Shl | B::ShrLogical | B::ShrArith) {
            return self.shift(v, op, x, y);
        }
        if float && matches!(op, B::Max | B::Min) {
            if let Some((c, other)) = self.clamp_constant(op == B::Min, x, y) {
                let cr = self.reg(c)?;
                let os = self.src(other)?;
                let d = self.dst(v)?;
                let a = &mut self.a;
                if op == B::Min {
                    rm!(a, vminps(d, cr; os))?;
                } else {
                    rm!(a, vmaxps(d, cr; os))?;
                }
                return Ok(());
            }
        }
        let (xr, ys) = self.pair(x, y, commutes)?;
        if let Some((fp, ip)) = predicates(op) {
            let k = self.bool_k(v);
            let kr = K[k as usize];
            let a = &mut self.a;
            if float {
                rm!(a, vcmpps(kr, xr; ys; fp))?;
            } else if unsigned {
                rm!(a, vpcmpud(kr, xr; ys; ip))?;
            } else {
                rm!(a, vpcmpd(kr, xr; ys; ip))?;
            }
            return self.bool_done(v, k);
        }
        let d = self.dst(v)?;
        let a = &mut self.a;
        match op {
            B::Add if float => rm!(a, vaddps(d, xr; ys))?,
            B::Sub if float => rm!(a, vsubps(d, xr; ys))?,
            B::Mul if float => rm!(a, vmulps(d, xr; ys))?,
            B::Div => rm!(a, vdivps(d, xr; ys))?,
            B::Max | B::Min if float => {
                let imm = if op == B::Max { RANGE_MAX } else { RANGE_MIN };
                rm!(a, vrangeps(d, xr; ys; imm))?;
                rm!(a, vcmpps(k2, xr; ys; CMP_UNORD_Q))?;
                rm!(a, vaddps(d.k2(), xr; ys))?;
            }
            B::Add => rm!(a, vpaddd(d, xr; ys))?,
            B::Sub => rm!(a, vpsubd(d, xr; ys))?,
            B::Mul => rm!(a, vpmulld(d, xr; ys))?,
            B::Max if unsigned => rm!(a, vpmaxud(d, xr; ys))?,
            B::Max => rm!(a, vpmaxsd(d, xr; ys))?,
            B::Min if unsigned => rm!(a, vpminud(d, xr; ys))?,
            B::Min => rm!(a, vpminsd(d, xr; ys))?,
            B::And => rm!(a, vpandd(d, xr; ys))?,
            B::Or => rm!(a, vpord(d, xr; ys))?,
            B::Xor => rm!(a, vpxord(d, xr; ys))?,
            B::Eq
            | B::Ne
            | B::Lt
            | B::Le
            | B::Gt
            | B::Ge
            | B::Shl
            | B::ShrLogical
            | B::ShrArith
            | B::Rem
            | B::Pow => return no(),
        }
        Ok(())
    }

    /// A shift by a per-lane amount (a broadcast scalar, already reduced
    /// modulo 32 by the caller; a vector amount is reduced here).
    fn shift(&mut self, v: Vreg, op: BinaryOp, x: Operand, y: Operand) -> R<()> {
        let xr = self.reg(x)?;
        let ys = match y {
            Operand::Scalar(_) => self.src(y)?,
            Operand::Value(_) => {
                let yr = self.reg(y)?;
                let m = self.cst(31)?;
                let s = self.scratch()?;
                rm!(self.a, vpandd(s, yr; m))?;
                Src::R(s)
            }
        };
        let d = self.dst(v)?;
        let a = &mut self.a;
        match op {
            BinaryOp::Shl => rm!(a, vpsllvd(d, xr; ys))?,
            BinaryOp::ShrLogical => rm!(a, vpsrlvd(d, xr; ys))?,
            BinaryOp::ShrArith => rm!(a, vpsravd(d, xr; ys))?,
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Rem
            | BinaryOp::Pow
            | BinaryOp::Max
            | BinaryOp::Min
            | BinaryOp::And
            | BinaryOp::Or
            | BinaryOp::Xor
            | BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => return no(),
        }
        Ok(())
    }

    /// `vrndscaleps` with immediate `imm`.
    fn rndscale(&mut self, v: Vreg, x: Operand, imm: i32) -> R<()> {
        let s = self.src(x)?;
        let d = self.dst(v)?;
        rm!(self.a, vrndscaleps(d; s; imm))?;
        Ok(())
    }

    /// `v = a * b + c` (one rounding for `F32`, wrapping for integers).
    fn fma(&mut self, v: Vreg, ty: ScalarType, a: Operand, b: Operand, c: Operand) -> R<()> {
        match ty {
            ScalarType::F32 => self.fma_f32(v, a, b, c),
            ScalarType::I32 | ScalarType::U32 => {
                let (ar, bs) = self.pair(a, b, true)?;
                let csrc = self.src(c)?;
                let d = self.dst(v)?;
                rm!(self.a, vpmulld(d, ar; bs))?;
                rm!(self.a, vpaddd(d, d; csrc))?;
                Ok(())
            }
            ScalarType::F64 | ScalarType::Bool | ScalarType::Index => no(),
        }
    }

    /// `a * b + c` in one instruction, overwriting a dying operand where
    /// possible: `vfmadd213ps d=a, b, c` or `vfmadd231ps d=c, a, b`.
    fn fma_f32(&mut self, v: Vreg, a: Operand, b: Operand, c: Operand) -> R<()> {
        let (a, b) = match (a, b) {
            (Operand::Scalar(_), Operand::Value(_)) => (b, a),
            _ => (a, b),
        };
        if matches!(c, Operand::Scalar(_)) {
            // d = a (or b) in place, times the other, plus c from memory.
            // Sources are resolved first: `a` and `b` may be one value.
            let (sa, sb) = (self.src(a)?, self.src(b)?);
            let (d, other) = if let Some(d) = self.steal(v, a) {
                (d, sb)
            } else if let Some(d) = self.steal(v, b) {
                (d, sa)
            } else {
                // Copy a scalar factor into d (a load), the other stays.
                let (first, other) = match b {
                    Operand::Scalar(_) => (sb, sa),
                    Operand::Value(_) => (sa, sb),
                };
                let d = self.dst(v)?;
                match first {
                    Src::R(r) => self.a.vmovaps(d, r)?,
                    Src::M(m) => self.a.vbroadcastss(d, dword_ptr(rdi + m))?,
                }
                (d, other)
            };
            let o = self.broadcast(other)?;
            let csrc = self.src(c)?;
            rm!(self.a, vfmadd213ps(d, o; csrc))?;
            return Ok(());
        }
        let ar = self.reg(a)?;
        let bs = self.src(b)?;
        let d = match self.steal(v, c) {
            Some(d) => d,
            None => {
                let cr = self.reg(c)?;
                let d = self.dst(v)?;
                self.a.vmovaps(d, cr)?;
                d
            }
        };
        rm!(self.a, vfmadd231ps(d, ar; bs))?;
        Ok(())
    }

    /// `v = x as to` (`convert_element_type` semantics).
    fn convert(&mut self, v: Vreg, from: ScalarType, to: ScalarType, x: Operand) -> R<()> {
        use ScalarType as S;
        match (from, to) {
            (S::F32, S::F32)
            | (S::I32, S::I32)
            | (S::U32, S::U32)
            | (S::Bool, S::Bool)
            | (S::I32, S::U32)
            | (S::U32, S::I32) => self.copy(v, x)?,
            (S::F32, S::I32) => {
                let xr = self.reg(x)?;
                let (lim, max) = (self.cst(0x4F00_0000)?, self.cst(i32::MAX as u32)?);
                let d = self.dst(v)?;
                self.a.vcmpps(k2, xr, xr, cmp::ORD_Q)?;
                self.a.vcvttps2dq(d.k2().z(), xr)?;
                rm!(self.a, vcmpps(k3, xr; lim; cmp::GE_OQ))?;
                rm!(self.a, vpblendmd(d.k3(), d; max))?;
            }
            (S::F32, S::U32) => {
                let xr = self.reg(x)?;
                let zero = self.cst(0)?;
                let d = self.dst(v)?;
                rm!(self.a, vcmpps(k2, xr; zero; cmp::GE_OQ))?;
                self.a.vcvttps2udq(d.k2().z(), xr)?;
            }
            (S::I32, S::F32) => {
                let s = self.src(x)?;
                let d = self.dst(v)?;
                rm!(self.a, vcvtdq2ps(d; s))?;
            }
            (S::U32, S::F32) => {
                let s = self.src(x)?;
                let d = self.dst(v)?;
                rm!(self.a, vcvtudq2ps(d; s))?;
            }
            (S::F32, S::Bool) => {
                let xr = self.reg(x)?;
                let zero = self.cst(0)?;
                let k = self.bool_k(v);
                rm!(self.a, vcmpps(K[k as usize], xr; zero; cmp::NEQ_UQ))?;
                self.bool_done(v, k)?;
            }
            (S::I32 | S::U32, S::Bool) => {
                let xr = self.reg(x)?;
                let k = self.bool_k(v);
                self.a.vptestmd(K[k as usize], xr, xr)?;
                self.bool_done(v, k)?;
            }
            (S::Bool, S::F32) => {
                let xr = self.reg(x)?;
                let one = self.cst(ONE)?;
                let d = self.dst(v)?;
                rm!(self.a, vpandd(d, xr; one))?;
            }
            (S::Bool, S::I32 | S::U32) => {
                let xr = self.reg(x)?;
                let d = self.dst(v)?;
                self.a.vpsrld(d, xr, 31)?;
            }
            (S::F64 | S::Index, _) | (_, S::F64 | S::Index) => return no(),
        }
        Ok(())
    }
}
