//! Scalar operations of the kernel IR in PTX: one arm per operation in
//! exhaustive `match`es, with the kernel interpreter's semantics (see the
//! module docs of `ptx`).

use rjax_ir::{Result, Scalar};

use super::emit::{Class, Func, Reg};
use crate::kernel::{BinaryOp, Const, Expr, ScalarType, UnaryOp};

/// The PTX type suffix for arithmetic on `ty` (`s32`, `u32`, `f64`, ...).
pub(super) fn arith(ty: ScalarType) -> &'static str {
    match ty {
        ScalarType::F32 => "f32",
        ScalarType::F64 => "f64",
        ScalarType::I32 => "s32",
        ScalarType::U32 => "u32",
        ScalarType::Bool => "pred",
        ScalarType::Index => "s64",
    }
}

/// The bit-type suffix of a type's register (`b32`, `b64`).
fn bits(ty: ScalarType) -> &'static str {
    match ty {
        ScalarType::F32 | ScalarType::I32 | ScalarType::U32 => "b32",
        ScalarType::F64 | ScalarType::Index => "b64",
        ScalarType::Bool => "pred",
    }
}

/// A PTX immediate for a float of type `ty` with value `x`.
pub(super) fn float_imm(ty: ScalarType, x: f64) -> String {
    match ty {
        ScalarType::F32 => format!("0f{:08X}", (x as f32).to_bits()),
        _ => format!("0d{:016X}", x.to_bits()),
    }
}

impl Func<'_> {
    /// The immediate text of a constant, or a predicate register for a
    /// bool.
    pub(super) fn constant(&mut self, c: Const) -> Result<Reg> {
        Ok(match c {
            Const::Scalar(Scalar::F32(x)) => format!("0f{:08X}", x.to_bits()),
            Const::Scalar(Scalar::F64(x)) => format!("0d{:016X}", x.to_bits()),
            Const::Scalar(Scalar::I32(x)) => format!("{x}"),
            Const::Scalar(Scalar::U32(x)) => format!("0x{x:08X}"),
            Const::Index(x) => format!("{x}"),
            Const::Scalar(Scalar::Bool(b)) => {
                let p = self.reg(Class::Pred);
                self.ins(format!("setp.ne.u32 {p}, {}, 0", u32::from(b)));
                p
            }
        })
    }

    /// A fresh register holding `expr` (of type `ty`).
    pub(super) fn expr(&mut self, ty: ScalarType, expr: &Expr) -> Result<Reg> {
        match expr {
            Expr::Const(c) => {
                let imm = self.constant(*c)?;
                if ty == ScalarType::Bool {
                    return Ok(imm);
                }
                let r = self.reg(Class::of(ty));
                self.mov(ty, &r, &imm);
                Ok(r)
            }
            Expr::LoopVar(l) => match self.loops.get(l) {
                Some((r, _)) => Ok(r.clone()),
                None => Err(self.error(format!("loop i{} is not enclosing", l.0))),
            },
            Expr::Load { buf, index } => self.load(*buf, index),
            Expr::Unary(op, a) => {
                let t = self.ty(*a)?;
                let a = self.val(*a)?;
                self.unary(*op, t, &a)
            }
            Expr::Binary(op, a, b) => {
                let t = self.ty(*a)?;
                let (a, b) = (self.val(*a)?, self.val(*b)?);
                self.binary(*op, t, &a, &b)
            }
            Expr::Fma(a, b, c) => {
                let (a, b, c) = (self.val(*a)?, self.val(*b)?, self.val(*c)?);
                let r = self.reg(Class::of(ty));
                let op = if ty.is_float() { "fma.rn" } else { "mad.lo" };
                self.ins(format!("{op}.{} {r}, {a}, {b}, {c}", arith(ty)));
                Ok(r)
            }
            Expr::Select(c, a, b) => {
                let (c, a, b) = (self.val(*c)?, self.val(*a)?, self.val(*b)?);
                Ok(self.select(ty, &c, &a, &b))
            }
            Expr::Convert(to, a) => {
                let from = self.ty(*a)?;
                let a = self.val(*a)?;
                Ok(self.convert(from, *to, &a))
            }
            Expr::Bitcast(to, a) => {
                let a = self.val(*a)?;
                let r = self.reg(Class::of(*to));
                self.ins(format!("mov.{} {r}, {a}", bits(*to)));
                Ok(r)
            }
            Expr::AccRead(acc) => {
                let (src, t) = self.acc(*acc)?;
                let r = self.reg(Class::of(t));
                self.mov(t, &r, &src);
                Ok(r)
            }
        }
    }

    /// `c ? a : b`.
    pub(super) fn select(&mut self, ty: ScalarType, c: &str, a: &str, b: &str) -> Reg {
        let r = self.reg(Class::of(ty));
        if ty == ScalarType::Bool {
            self.ins(format!("mov.pred {r}, {b}"));
            self.ins(format!("@{c} mov.pred {r}, {a}"));
        } else {
            self.ins(format!("selp.{} {r}, {a}, {b}, {c}", bits(ty)));
        }
        r
    }

    /// A register of type `ty` holding the immediate `imm`.
    pub(super) fn imm(&mut self, ty: ScalarType, imm: &str) -> Reg {
        let r = self.reg(Class::of(ty));
        self.mov(ty, &r, imm);
        r
    }

    /// `op a` on an operand of type `ty`.
    fn unary(&mut self, op: UnaryOp, ty: ScalarType, a: &str) -> Result<Reg> {
        use UnaryOp as U;
        let t = arith(ty);
        let simple = |f: &mut Self, text: &str| {
            let r = f.reg(Class::of(ty));
            f.ins(format!("{text} {r}, {a}"));
            r
        };
        Ok(match op {
            U::Neg => match ty {
                ScalarType::Bool => return Err(self.bad("neg", ty)),
                ScalarType::U32 => simple(self, "neg.s32"),
                _ => simple(self, &format!("neg.{t}")),
            },
            U::Abs => match ty {
                ScalarType::F32 | ScalarType::F64 => simple(self, &format!("abs.{t}")),
                ScalarType::U32 => simple(self, "mov.b32"),
                ScalarType::I32 | ScalarType::Index => {
                    // wrapping |a|: (a ^ m) - m with m = a >> (width - 1)
                    let w = if ty == ScalarType::I32 { 31 } else { 63 };
                    let b = bits(ty);
                    let m = self.reg(Class::of(ty));
                    let x = self.reg(Class::of(ty));
                    self.ins(format!("shr.{t} {m}, {a}, {w}"));
                    self.ins(format!("xor.{b} {x}, {a}, {m}"));
                    let r = self.reg(Class::of(ty));
                    self.ins(format!("sub.{t} {r}, {x}, {m}"));
                    r
                }
                ScalarType::Bool => return Err(self.bad("abs", ty)),
            },
            U::Sign => self.sign(ty, a)?,
            U::Sqrt => self.float_op(ty, "sqrt.rn", a, "sqrt")?,
            U::Floor => self.float_op(ty, "cvt.rmi", a, "floor")?,
            U::Ceil => self.float_op(ty, "cvt.rpi", a, "ceil")?,
            U::Trunc => self.float_op(ty, "cvt.rzi", a, "trunc")?,
            U::Round => self.round(ty, a)?,
            U::Not => match ty {
                ScalarType::Bool => simple(self, "not.pred"),
                ScalarType::F32 | ScalarType::F64 => return Err(self.bad("not", ty)),
                ScalarType::I32 | ScalarType::U32 | ScalarType::Index => {
                    simple(self, &format!("not.{}", bits(ty)))
                }
            },
            U::IsFinite => {
                if !ty.is_float() {
                    return Err(self.bad("is_finite", ty));
                }
                let m = simple(self, &format!("abs.{t}"));
                let p = self.reg(Class::Pred);
                let inf = float_imm(ty, f64::INFINITY);
                self.ins(format!("setp.lt.{t} {p}, {m}, {inf}"));
                p
            }
            U::Rsqrt => {
                let s = self.float_op(ty, "sqrt.rn", a, "rsqrt")?;
                let r = self.reg(Class::of(ty));
                let one = float_imm(ty, 1.0);
                self.ins(format!("div.rn.{t} {r}, {one}, {s}"));
                r
            }
            U::Exp
            | U::Log
            | U::Log1p
            | U::Expm1
            | U::Sin
            | U::Cos
            | U::Tanh
            | U::Logistic
            | U::Erf => {
                return Err(self.error(format!(
                    "{op:?} on {ty:?} reached the PTX backend unexpanded"
                )))
            }
        })
    }

    /// An error for an operation applied to a type it does not accept.
    fn bad(&self, op: &str, ty: ScalarType) -> rjax_ir::Error {
        self.error(format!("{op} does not apply to {ty:?}"))
    }

    /// `op.ty r, a` for a float type (`op` may carry a rounding mode).
    fn float_op(&mut self, ty: ScalarType, op: &str, a: &str, name: &str) -> Result<Reg> {
        if !ty.is_float() {
            return Err(self.bad(name, ty));
        }
        let t = arith(ty);
        let r = self.reg(Class::of(ty));
        if op.starts_with("cvt") {
            self.ins(format!("{op}.{t}.{t} {r}, {a}"));
        } else {
            self.ins(format!("{op}.{t} {r}, {a}"));
        }
        Ok(r)
    }

    /// -1, 0 or 1 (floats keep ±0 and NaN; unsigned: 0 or 1).
    fn sign(&mut self, ty: ScalarType, a: &str) -> Result<Reg> {
        let t = arith(ty);
        let (gt, lt) = (self.reg(Class::Pred), self.reg(Class::Pred));
        let (zero, one, minus) = match ty {
            ScalarType::F32 | ScalarType::F64 => {
                (float_imm(ty, 0.0), float_imm(ty, 1.0), float_imm(ty, -1.0))
            }
            ScalarType::I32 | ScalarType::Index => ("0".into(), "1".into(), "-1".into()),
            ScalarType::U32 => ("0".into(), "1".into(), "0".into()),
            ScalarType::Bool => return Err(self.bad("sign", ty)),
        };
        self.ins(format!("setp.gt.{t} {gt}, {a}, {zero}"));
        self.ins(format!("setp.lt.{t} {lt}, {a}, {zero}"));
        let base = if ty.is_float() {
            a.to_string()
        } else {
            self.imm(ty, &zero)
        };
        let one = self.imm(ty, &one);
        let minus = self.imm(ty, &minus);
        let r = self.select(ty, &gt, &one, &base);
        Ok(self.select(ty, &lt, &minus, &r))
    }

    /// Round half away from zero: `trunc(a) + copysign(1, a)` where
    /// `|a - trunc(a)| ≥ 0.5` (the difference is exact).
    fn round(&mut self, ty: ScalarType, a: &str) -> Result<Reg> {
        let t = arith(ty);
        let tr = self.float_op(ty, "cvt.rzi", a, "round")?;
        let (d, m) = (self.reg(Class::of(ty)), self.reg(Class::of(ty)));
        self.ins(format!("sub.rn.{t} {d}, {a}, {tr}"));
        self.ins(format!("abs.{t} {m}, {d}"));
        let p = self.reg(Class::Pred);
        self.ins(format!("setp.ge.{t} {p}, {m}, {}", float_imm(ty, 0.5)));
        let one = self.imm(ty, &float_imm(ty, 1.0));
        let s = self.reg(Class::of(ty));
        self.ins(format!("copysign.{t} {s}, {a}, {one}"));
        let up = self.reg(Class::of(ty));
        self.ins(format!("add.rn.{t} {up}, {tr}, {s}"));
        Ok(self.select(ty, &p, &up, &tr))
    }

    /// `a op b` on operands of type `ty`.
    pub(super) fn binary(&mut self, op: BinaryOp, ty: ScalarType, a: &str, b: &str) -> Result<Reg> {
        use BinaryOp as B;
        let t = arith(ty);
        let float = ty.is_float();
        let out = |f: &mut Self, class: Class, text: String| {
            let r = f.reg(class);
            f.ins(format!("{text} {r}, {a}, {b}"));
            r
        };
        let c = Class::of(ty);
        if ty == ScalarType::Bool {
            return self.bool_binary(op, a, b);
        }
        Ok(match op {
            B::Add | B::Sub | B::Mul => {
                let name = match op {
                    B::Add => "add",
                    B::Sub => "sub",
                    _ => "mul",
                };
                let m = match (float, op) {
                    (true, _) => ".rn",
                    (false, B::Mul) => ".lo",
                    (false, _) => "",
                };
                out(self, c, format!("{name}{m}.{t}"))
            }
            B::Div if float => out(self, c, format!("div.rn.{t}")),
            B::Rem if float => self.fmod(ty, a, b)?,
            B::Div | B::Rem => self.int_div(op == B::Div, ty, a, b),
            B::Pow => {
                return Err(self.error(format!("pow on {ty:?} reached the PTX backend unexpanded")))
            }
            B::Max | B::Min if float => self.float_minmax(op == B::Max, ty, a, b),
            B::Max => out(self, c, format!("max.{t}")),
            B::Min => out(self, c, format!("min.{t}")),
            B::And | B::Or | B::Xor if float => return Err(self.bad("bitwise op", ty)),
            B::And => out(self, c, format!("and.{}", bits(ty))),
            B::Or => out(self, c, format!("or.{}", bits(ty))),
            B::Xor => out(self, c, format!("xor.{}", bits(ty))),
            B::Shl | B::ShrLogical | B::ShrArith => {
                if float {
                    return Err(self.bad("shift", ty));
                }
                let wide = ty == ScalarType::Index;
                let n = self.reg(Class::B32);
                if wide {
                    self.ins(format!("cvt.u32.u64 {n}, {b}"));
                    self.ins(format!("and.b32 {n}, {n}, 63"));
                } else {
                    self.ins(format!("and.b32 {n}, {b}, 31"));
                }
                let name = match (op, wide) {
                    (B::Shl, false) => "shl.b32",
                    (B::Shl, true) => "shl.b64",
                    (B::ShrLogical, false) => "shr.u32",
                    (B::ShrLogical, true) => "shr.u64",
                    (_, false) => "shr.s32",
                    (_, true) => "shr.s64",
                };
                let r = self.reg(c);
                self.ins(format!("{name} {r}, {a}, {n}"));
                r
            }
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => {
                let cmp = match op {
                    B::Eq => "eq",
                    B::Ne if float => "neu",
                    B::Ne => "ne",
                    B::Lt => "lt",
                    B::Le => "le",
                    B::Gt => "gt",
                    _ => "ge",
                };
                out(self, Class::Pred, format!("setp.{cmp}.{t}"))
            }
        })
    }

    /// Binary operations on bools.
    fn bool_binary(&mut self, op: BinaryOp, a: &str, b: &str) -> Result<Reg> {
        use BinaryOp as B;
        let name = match op {
            B::And => "and.pred",
            B::Or => "or.pred",
            B::Xor | B::Ne => "xor.pred",
            B::Eq => {
                let x = self.reg(Class::Pred);
                self.ins(format!("xor.pred {x}, {a}, {b}"));
                let r = self.reg(Class::Pred);
                self.ins(format!("not.pred {r}, {x}"));
                return Ok(r);
            }
            B::Add
            | B::Sub
            | B::Mul
            | B::Div
            | B::Rem
            | B::Pow
            | B::Max
            | B::Min
            | B::Shl
            | B::ShrLogical
            | B::ShrArith
            | B::Lt
            | B::Le
            | B::Gt
            | B::Ge => return Err(self.bad(&format!("{op:?}"), ScalarType::Bool)),
        };
        let r = self.reg(Class::Pred);
        self.ins(format!("{name} {r}, {a}, {b}"));
        Ok(r)
    }

    /// Integer division or remainder: by zero gives 0, and by -1 (signed)
    /// gives the wrapping negation (division) or 0 (remainder), never the
    /// hardware's undefined result.
    fn int_div(&mut self, div: bool, ty: ScalarType, a: &str, b: &str) -> Reg {
        let t = arith(ty);
        let c = Class::of(ty);
        let z = self.reg(Class::Pred);
        self.ins(format!("setp.eq.{t} {z}, {b}, 0"));
        let one = self.imm(ty, "1");
        let safe = self.select(ty, &z, &one, b);
        let q = self.reg(c);
        let name = if div { "div" } else { "rem" };
        if ty == ScalarType::U32 {
            self.ins(format!("{name}.{t} {q}, {a}, {safe}"));
            let zero = self.imm(ty, "0");
            return self.select(ty, &z, &zero, &q);
        }
        // a / -1 is computed as a / 1 and negated (wrapping)
        let m1 = self.reg(Class::Pred);
        self.ins(format!("setp.eq.{t} {m1}, {b}, -1"));
        let safe = self.select(ty, &m1, &one, &safe);
        self.ins(format!("{name}.{t} {q}, {a}, {safe}"));
        let fixed = if div {
            let n = self.reg(c);
            self.ins(format!("neg.{t} {n}, {q}"));
            self.select(ty, &m1, &n, &q)
        } else {
            let zero = self.imm(ty, "0");
            self.select(ty, &m1, &zero, &q)
        };
        let zero = self.imm(ty, "0");
        self.select(ty, &z, &zero, &fixed)
    }

    /// Float max/min propagating NaN, with -0 < +0: `a` or `b` where they
    /// differ, the bitwise and (max) or or (min) where they are equal, and
    /// `a + b` (a NaN) where either is NaN.
    fn float_minmax(&mut self, max: bool, ty: ScalarType, a: &str, b: &str) -> Reg {
        let t = arith(ty);
        let c = Class::of(ty);
        let (gt, lt, nan) = (
            self.reg(Class::Pred),
            self.reg(Class::Pred),
            self.reg(Class::Pred),
        );
        self.ins(format!("setp.gt.{t} {gt}, {a}, {b}"));
        self.ins(format!("setp.lt.{t} {lt}, {a}, {b}"));
        self.ins(format!("setp.nan.{t} {nan}, {a}, {b}"));
        let eq = self.reg(c);
        let bit = if max { "and" } else { "or" };
        self.ins(format!("{bit}.{} {eq}, {a}, {b}", bits(ty)));
        let (first, second) = if max { (a, b) } else { (b, a) };
        let r = self.select(ty, &gt, first, &eq);
        let r = self.select(ty, &lt, second, &r);
        let sum = self.reg(c);
        self.ins(format!("add.rn.{t} {sum}, {a}, {b}"));
        self.select(ty, &nan, &sum, &r)
    }

    /// Value conversion with `convert_element_type` semantics.
    pub(super) fn convert(&mut self, from: ScalarType, to: ScalarType, a: &str) -> Reg {
        use ScalarType as S;
        if from == to {
            let r = self.reg(Class::of(to));
            self.mov(to, &r, a);
            return r;
        }
        let r = self.reg(Class::of(to));
        let cvt = |f: &mut Self, mode: &str, d: &str, s: &str| {
            f.ins(format!("cvt{mode}.{d}.{s} {r}, {a}"));
        };
        let ft = arith(from);
        match (from, to) {
            (S::Bool, _) => {
                let (one, zero) = if to.is_float() {
                    (float_imm(to, 1.0), float_imm(to, 0.0))
                } else {
                    ("1".to_string(), "0".to_string())
                };
                self.ins(format!("selp.{} {r}, {one}, {zero}, {a}", bits(to)));
            }
            (_, S::Bool) => {
                let (cmp, zero) = if from.is_float() {
                    ("neu", float_imm(from, 0.0))
                } else {
                    ("ne", "0".to_string())
                };
                self.ins(format!("setp.{cmp}.{ft} {r}, {a}, {zero}"));
            }
            (S::F32, S::F64) => cvt(self, "", "f64", "f32"),
            (S::F64, S::F32) => cvt(self, ".rn", "f32", "f64"),
            (S::F32 | S::F64, S::I32) => cvt(self, ".rzi", "s32", ft),
            (S::F32 | S::F64, S::U32) => cvt(self, ".rzi", "u32", ft),
            (S::F32 | S::F64, S::Index) => cvt(self, ".rzi", "s64", ft),
            (S::I32 | S::U32 | S::Index, S::F32 | S::F64) => {
                let src = if from == S::U32 { "u32" } else { ft };
                cvt(self, ".rn", arith(to), src)
            }
            (S::I32 | S::U32, S::I32 | S::U32) => self.ins(format!("mov.b32 {r}, {a}")),
            (S::I32, S::Index) => cvt(self, "", "s64", "s32"),
            (S::U32, S::Index) => cvt(self, "", "u64", "u32"),
            (S::Index, S::I32 | S::U32) => cvt(self, "", "u32", "u64"),
            (S::F32, S::F32) | (S::F64, S::F64) | (S::Index, S::Index) => self.mov(to, &r, a),
        }
        r
    }
}
